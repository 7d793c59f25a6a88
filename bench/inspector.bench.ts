/**
 * The web inspector's live feed (issue 15): 1 000 runs in flight at once on one runtime (in-memory store,
 * concurrency 1 000, ten states each, every task yielding to the event loop so that the runs interleave),
 * measured four ways, interleaved in each repeat (in rotating order, each after a young-generation gc):
 *
 * - `none`: no inspector;
 * - `again`: no inspector either, a control: its ratio to `none` is the noise of the run;
 * - `served`: `serveInspector` running, no page connected (it follows the runtime's events);
 * - `page`: a page connected, in another process (`inspector.client.ts`: a browser is one, forked once and
 *   kept open across repeats, as a page stays open), with the runs list's feed and one run's feed open.
 *
 * Reported: the engine's throughput (state transitions/s) of each, as ratios to `none` of the same repeat
 * (target: `page` within 10 %), and the delivery latency of the feeds to the page, p50 / p99 / max over
 * every message of every repeat (target: p99 <= 250 ms). The list feed coalesces per run (one entry per
 * run per write); its latency is taken from the oldest change folded into each entry, so it is the worst
 * case of the changes that entry carries. Also reported, less noisy than the throughput ratios: the
 * tracker's own work per event (what `serveInspector` does on the engine's thread for every event), timed
 * on recorded bursts replayed through it, and what that is per transition as a share of the engine's time.
 *
 *   npm run bench -- inspector
 *
 * To look into one case (not for reported figures): `CASES=none,page` runs those only, `REPEATS=4` fewer
 * repeats, and `FEEDS=list` or `FEEDS=run` has the page open that feed only (`inspector.client.ts`).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { createRuntime, memoryCheckpoints, type Runtime, task, workflow } from '../roots/index.js'
import { serveInspector } from '../roots/inspector.js'
import { RunTracker } from '../roots/internal/inspector/tracker.js'
import { type RuntimeEvent, tapperOf, type TapSlot } from '../roots/Runtime.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import type { ClientMessage, ClientRequest } from './inspector.client.js'
import { type BenchResult, formatTable, gcYoung, isMain, median, quartiles, rotation } from './lib.js'

const RUNS = 1_000
/** Runs per burst: `RUNS` in flight at once, a new one started as each completes. */
/**
 * Long bursts and 16 repeats: with bursts of 4 000 runs (~0.5 s), two identical no-inspector cases read
 * 0.67x to 1.65x of each other repeat to repeat on the 2-core bench machine (scavenges are a quarter of
 * the engine's time here, and vary with what is alive when they hit), so the median of 12 ratios moved by
 * several percent from run to run; 12 000 runs per burst (~1.5 s) narrow that. The `again` case (a second
 * `none`) shows the noise of each run.
 */
const TOTAL = 12_000
const REPEATS = Number(process.env['REPEATS'] ?? 16)
if (!Number.isInteger(REPEATS) || REPEATS < 1)
  throw new Error(`REPEATS must be a positive integer, got ${String(process.env['REPEATS'])}`)
const CLIENT = fileURLToPath(new URL('./inspector.client.js', import.meta.url))

type S = 'S0' | 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'S8' | 'S9' | 'Done'
/** Transitions of one run: ten states, then the exit. */
const TRANSITIONS = 10

const yieldOnce = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const step = (next: S) => async (): Promise<S> => {
  await yieldOnce()
  return next
}
const flow = workflow<S>()({
  exits: ['Done'],
  states: {
    S0: task(step('S1')),
    S1: task(step('S2')),
    S2: task(step('S3')),
    S3: task(step('S4')),
    S4: task(step('S5')),
    S5: task(step('S6')),
    S6: task(step('S7')),
    S7: task(step('S8')),
    S8: task(step('S9')),
    S9: task(step('Done')),
  },
})

const makeRuntime = (): Runtime =>
  createRuntime({
    store: memoryCheckpoints(),
    workflows: { bench: { workflow: flow, initial: 'S0' } },
    concurrency: RUNS,
    pollMs: 1_000,
  })

/**
 * Starts `RUNS` runs at once, then a new one each time one completes, until `TOTAL` have run (so `RUNS`
 * stay in flight), and resolves with the transitions/s from the first start to the last end. Completions
 * are counted through the runtime's internal tap (what the inspector itself uses), not `events$`: a
 * subscriber to `events$` would make every case pay for a wrapper per event and flatter the ratios.
 */
const burst = (runtime: Runtime, prefix: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const tapper = tapperOf(runtime)
    if (tapper === undefined) return reject(new Error('the bench needs a runtime made by createRuntime'))
    let started = 0
    let completed = 0
    const t0 = process.hrtime.bigint()
    const startOne = (): void => {
      const id = `${prefix}-${String(started++)}`
      runtime.start('bench', null, { id }).catch(reject)
    }
    const untap = tapper({
      run: (_, e) => {
        if (e._tag !== 'RunCompleted') return
        completed += 1
        if (started < TOTAL) startOne()
        else if (completed === TOTAL) {
          untap()
          resolve((TOTAL * TRANSITIONS) / (Number(process.hrtime.bigint() - t0) / 1e9))
        }
      },
      notice: () => undefined,
    })
    for (let i = 0; i < RUNS; i++) startOne()
  })

/** The page's process: forked once, kept open for every repeat; `ask` sends a request and resolves with its answer. */
interface Page {
  readonly child: ChildProcess
  readonly ask: (m: ClientRequest) => Promise<ClientMessage>
}

const startPage = (): Promise<Page> =>
  new Promise((resolve, reject) => {
    const child = fork(CLIENT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    // every request gets one answer, in order; the first message is the process's own `ready`
    const waiting: Array<(m: ClientMessage) => void> = [() => resolve({ child, ask })]
    child.on('message', (m: ClientMessage) => waiting.shift()?.(m))
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`inspector client exited with ${String(code)}`))
    })
    const ask = (m: ClientRequest): Promise<ClientMessage> =>
      new Promise((done) => {
        waiting.push(done)
        child.send(m)
      })
  })

/** The quartiles and extremes of per-repeat ratios. */
const spreadOf = (xs: ReadonlyArray<number>): string => {
  const q = quartiles(xs)
  return `per-repeat ratios q1..q3 ${q.q1.toFixed(2)}..${q.q3.toFixed(2)}, min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)}`
}

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

type Case = 'none' | 'again' | 'served' | 'page'
const ALL_CASES: ReadonlyArray<Case> = ['none', 'again', 'served', 'page']
const isCase = (c: string): c is Case => (ALL_CASES as ReadonlyArray<string>).includes(c)
/** The cases to run: all, or (to look into one) `CASES=none,page`; `none` is every ratio's baseline. */
const asked = (process.env['CASES'] ?? ALL_CASES.join(',')).split(',')
if (!asked.every(isCase) || !asked.includes('none'))
  throw new Error(
    `CASES must list cases of ${ALL_CASES.join(', ')}, none among them, got ${String(process.env['CASES'])}`,
  )
const CASES: ReadonlyArray<Case> = asked

interface Sample {
  readonly throughput: number
  readonly stats?: ClientMessage
}

/** One burst of `which`, on a runtime of its own (and its inspector; for `page`, the page connected to it). */
const measureCase = async (which: Case, r: number, page: Page): Promise<Sample> => {
  const prefix = `${which}-${String(r)}`
  const runtime = makeRuntime()
  if (which === 'none' || which === 'again') {
    gcYoung()
    const throughput = await burst(runtime, prefix)
    await runtime.stop({ graceMs: 0 })
    return { throughput }
  }
  const inspector = await serveInspector({ runtime, port: 0 })
  if (which === 'served') {
    gcYoung()
    const throughput = await burst(runtime, prefix)
    await inspector.close()
    await runtime.stop({ graceMs: 0 })
    return { throughput }
  }
  await page.ask({ type: 'open', url: inspector.url, watched: `${prefix}-0` })
  gcYoung()
  const throughput = await burst(runtime, prefix)
  // the last writes are at most one flush away
  await new Promise((resolve) => setTimeout(resolve, 200))
  const stats = await page.ask({ type: 'stats' })
  await page.ask({ type: 'close' })
  await inspector.close()
  await runtime.stop({ graceMs: 0 })
  return { throughput, stats }
}

/** What a runtime's tap saw, in order: each run's events (with its workflow's name) and the runtime's notices. */
type Seen =
  | { readonly workflow: string; readonly event: WorkflowEvent; readonly slot: TapSlot }
  | Exclude<RuntimeEvent, { _tag: 'Run' }>

/** Every event and notice of one burst, as the inspector's tracker is given them. */
const recordBurst = async (prefix: string): Promise<{ seen: Seen[]; transitions: number }> => {
  const runtime = makeRuntime()
  const tapper = tapperOf(runtime)
  if (tapper === undefined) throw new Error('the bench needs a runtime made by createRuntime')
  const seen: Seen[] = []
  const untap = tapper({
    // each event with the slot the runtime gave it (one per execution), emptied before each replay
    run: (workflow, event, slot) => seen.push({ workflow, event, slot }),
    notice: (e) => seen.push(e),
  })
  await burst(runtime, prefix)
  untap()
  await runtime.stop({ graceMs: 0 })
  return { seen, transitions: TOTAL * TRANSITIONS }
}

/**
 * The tracker's own cost, without the engine's noise around it: the events and notices of recorded
 * bursts replayed through a new `RunTracker` (what `serveInspector` runs per event), in ns per event,
 * median of `REPEATS` replays, each after a young gc.
 */
const trackerPerEvent = async (): Promise<{ ns: number; perTransition: number }> => {
  const bursts = [await recordBurst('rec-0'), await recordBurst('rec-1'), await recordBurst('rec-2')]
  const events = bursts.reduce((n, b) => n + b.seen.length, 0)
  const transitions = bursts.reduce((n, b) => n + b.transitions, 0)
  const samples: number[] = []
  for (let r = -1; r < REPEATS; r++) {
    for (const b of bursts) for (const x of b.seen) if ('event' in x) x.slot.held = undefined
    gcYoung()
    const t0 = process.hrtime.bigint()
    const tracker = new RunTracker(
      () => () => undefined,
      Date.now,
      () => undefined,
    )
    for (const b of bursts)
      for (const x of b.seen) {
        if ('event' in x) tracker.run(x.workflow, x.event, x.slot)
        else tracker.notice(x)
      }
    tracker.close()
    if (r >= 0) samples.push(Number(process.hrtime.bigint() - t0) / events)
  }
  return { ns: median(samples), perTransition: events / transitions }
}

export const run = async (): Promise<BenchResult[]> => {
  const served: number[] = []
  const page: number[] = []
  const none: number[] = []
  const again: number[] = []
  const listLatency: number[] = []
  const runLatency: number[] = []
  let bytes = 0
  const client = await startPage()
  for (let r = -1; r < REPEATS; r++) {
    // repeat -1 warms every case up and is not counted; the order of the cases rotates, so that no case
    // always comes right after another's garbage
    const samples = new Map<Case, Sample>()
    for (const i of rotation(CASES.length, r + 1)) {
      const which = CASES[i] as Case
      samples.set(which, await measureCase(which, r, client))
    }
    if (r < 0) continue
    const a = samples.get('none')?.throughput ?? Number.NaN
    none.push(a)
    again.push((samples.get('again')?.throughput ?? Number.NaN) / a)
    served.push((samples.get('served')?.throughput ?? Number.NaN) / a)
    page.push((samples.get('page')?.throughput ?? Number.NaN) / a)
    const stats = samples.get('page')?.stats
    if (stats?.type === 'stats') {
      for (const x of stats.list) listLatency.push(x)
      for (const x of stats.run) runLatency.push(x)
      bytes += stats.bytes
    }
  }
  const note = `${String(RUNS)} runs in flight (${String(TOTAL)} per burst) x ${String(TRANSITIONS)} transitions; median of ${String(REPEATS)} per-repeat ratios`
  client.child.disconnect()
  const tracker = await trackerPerEvent()
  // the engine's time per transition with no inspector, and the share of it the tracker's work adds
  const share = (tracker.ns * tracker.perTransition) / (1e9 / median(none))
  const lat = (xs: ReadonlyArray<number>): string =>
    `p50 ${String(percentile(xs, 50))} ms, p99 ${String(percentile(xs, 99))} ms, max ${String(xs.reduce((m, x) => Math.max(m, x), -Infinity))} ms over ${String(xs.length)} messages`
  return [
    { name: 'engine throughput, no inspector', value: median(none), unit: 'transitions/s', note },
    {
      name: 'engine throughput, no inspector again (control)',
      value: median(again) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(again),
      note: `the same case as none, measured as the others are: how far from 1.00x this run's noise goes; ${spreadOf(again)}`,
    },
    {
      name: 'engine throughput, inspector served, no page',
      value: median(served) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(served),
      note: `${note}; ${spreadOf(served)}`,
    },
    {
      name: 'engine throughput, page connected (list + run feed)',
      value: median(page) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(page),
      note: `target >= 0.90x; ${spreadOf(page)}`,
    },
    {
      name: 'tracker work per event (recorded bursts replayed)',
      value: tracker.ns,
      unit: 'ns/event',
      note: `${tracker.perTransition.toFixed(1)} events per transition: ${(100 * share).toFixed(1)} % of the engine's time per transition with no inspector; median of ${String(REPEATS)} replays of 3 bursts`,
    },
    {
      name: 'list feed delivery to the page, p99',
      value: percentile(listLatency, 99),
      unit: 'ms',
      note: `target <= 250 ms; ${lat(listLatency)}; ${(bytes / REPEATS / 1024).toFixed(0)} KiB per burst`,
    },
    {
      name: 'run feed delivery to the page, p99',
      value: percentile(runLatency, 99),
      unit: 'ms',
      note: `target <= 250 ms; ${lat(runLatency)}`,
    },
  ]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
