/**
 * Scheduler: a cron report, an interval health check and a manual flow, with a live status table.
 *
 *   npx tsx examples/scheduler.ts                    # runs until Ctrl-C, then stops gracefully
 *   npx tsx examples/scheduler.ts --duration-ms 3000 # stops by itself after 3 s (CI)
 *   npx tsx examples/scheduler.ts --once             # stops once every flow has run once
 *   SCHEDULER_DURATION_MS=3000 npx tsx examples/scheduler.ts
 *
 * - `report` (cron, every 2 seconds, in the time zone of `TZ_NAME`, default UTC): Gather -> Render -> Done.
 * - `health` (every 700 ms, fixed delay): pings a fake service that answers 503 on every third call,
 *   so the table shows a backoff window now and then; five failures in a row would trip it.
 * - `reindex` (manual): triggered once, one second after start; it takes 1.5 s.
 */
import { auditTime, filter, type Subscription } from 'rxjs'

import { describeCanoError, Resources, RetryMode, task, workflow } from '../roots/index.js'
import { createScheduler, type StopResult } from '../roots/Scheduler.js'
import type { FlowInfo } from '../src/FlowInfo.js'
import { cron, every, manual } from '../src/Schedule.js'

// -------------------------------------------------------------------------------------
// arguments
// -------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const durationArg = argValue('--duration-ms') ?? process.env['SCHEDULER_DURATION_MS']
const durationMs = durationArg === undefined ? undefined : Number(durationArg)
if (durationMs !== undefined && !(durationMs >= 0)) {
  console.error(`--duration-ms must be a non-negative number of milliseconds, got ${String(durationArg)}`)
  process.exit(2)
}
const once = args.includes('--once')
const timezone = process.env['TZ_NAME'] ?? 'UTC'

// -------------------------------------------------------------------------------------
// workflows
// -------------------------------------------------------------------------------------

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(new Error('aborted'))
      },
      { once: true },
    )
  })

/** A fake downstream service: connected at start, disconnected at stop, 503 on every third ping. */
const service = {
  connected: false,
  pings: 0,
  setup(): void {
    this.connected = true
  },
  teardown(): void {
    this.connected = false
  },
  async ping(): Promise<number> {
    this.pings += 1
    if (!this.connected) throw new Error('not connected')
    if (this.pings % 3 === 0) throw new Error(`service answered 503 (ping ${this.pings})`)
    return 200
  },
}

type ReportStep = 'Gather' | 'Render' | 'Done'
const report = workflow<ReportStep>()({
  exits: ['Done'],
  states: {
    Gather: task(async ({ signal }) => {
      await sleep(200, signal)
      return 'Render' as const
    }),
    Render: task(async ({ signal }) => {
      await sleep(100, signal)
      return 'Done' as const
    }),
  },
})

type HealthStep = 'Ping' | 'Healthy'
const health = workflow<HealthStep>()({
  resources: Resources.of({ service }),
  exits: ['Healthy'],
  states: ({ task: t }) => ({
    Ping: t(
      async ({ res }) => {
        await res.get('service').ping()
        return 'Healthy' as const
      },
      { retry: RetryMode.none() },
    ),
  }),
  totalTimeoutMs: 2_000,
})

type ReindexStep = 'Scan' | 'Write' | 'Done'
const reindex = workflow<ReindexStep>()({
  exits: ['Done'],
  states: {
    Scan: task(async ({ signal }) => {
      await sleep(1_000, signal)
      return 'Write' as const
    }),
    Write: task(async ({ signal }) => {
      await sleep(500, signal)
      return 'Done' as const
    }),
  },
})

// -------------------------------------------------------------------------------------
// status table
// -------------------------------------------------------------------------------------

const started = Date.now()
const clock = (ms: number | undefined): string => (ms === undefined ? '-' : `+${((ms - started) / 1_000).toFixed(1)}s`)

const statusText = (i: FlowInfo): string => {
  switch (i.status._tag) {
    case 'Backoff':
      return `Backoff until ${clock(i.status.until)}`
    case 'Tripped':
      return `Tripped (${i.status.streak})`
    default:
      return i.status._tag
  }
}

const table = (infos: ReadonlyArray<FlowInfo>): string => {
  const rows = [
    ['flow', 'status', 'runs', 'streak', 'last run', 'skipped', 'last error'],
    ...infos.map((i) => [
      i.id,
      statusText(i),
      String(i.runCount),
      String(i.failureStreak),
      clock(i.lastRun),
      String(i.skippedTicks),
      i.lastError === undefined ? '' : describeCanoError(i.lastError),
    ]),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

const tty = process.stdout.isTTY
const render = (infos: ReadonlyArray<FlowInfo>): void => {
  const header = `cano-rx scheduler, ${clock(Date.now())}${tty ? ' (Ctrl-C to stop)' : ''}`
  if (tty) process.stdout.write(`\x1b[2J\x1b[H${header}\n${table(infos)}\n`)
  else console.log(`${header}\n${table(infos)}\n`)
}

// -------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  const running = await createScheduler({
    flows: [
      { id: 'report', workflow: report, initial: 'Gather', schedule: cron('*/2 * * * * *', { timezone }) },
      {
        id: 'health',
        workflow: health,
        initial: 'Ping',
        schedule: every(700),
        backoff: { initialMs: 500, maxDelayMs: 5_000, streakLimit: 5 },
      },
      { id: 'reindex', workflow: reindex, initial: 'Scan', schedule: manual() },
    ],
  }).start()

  const subs: Subscription[] = [running.status$.pipe(auditTime(250)).subscribe(render)]

  let requestStop: (why: string) => void = () => undefined
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve))

  const triggerLater = setTimeout(() => {
    running.trigger('reindex').catch((e: unknown) => console.error('trigger failed:', e))
  }, 1_000)
  process.once('SIGINT', () => requestStop('Ctrl-C'))
  const deadline =
    durationMs === undefined ? undefined : setTimeout(() => requestStop(`${durationMs} ms elapsed`), durationMs)
  if (once) {
    subs.push(
      running.status$
        .pipe(filter((infos) => infos.every((i) => i.runCount > 0 && i.status._tag !== 'Running')))
        .subscribe(() => requestStop('every flow ran once')),
    )
  }

  const why = await stopRequested
  console.log(`\nstopping (${why})…`)
  clearTimeout(triggerLater)
  if (deadline !== undefined) clearTimeout(deadline)
  const result: StopResult = await running.stop({ graceMs: 2_000 })
  for (const s of subs) s.unsubscribe()
  render(running.list())
  console.log(
    `stopped: aborted [${result.aborted.join(', ')}], ${result.teardownFailures.length} teardown failure(s)` +
      `${result.teardownTimedOut ? ', teardown timed out' : ''}; service connected: ${service.connected}`,
  )
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
