/**
 * Quick start: an order workflow with a flaky payment gateway, run by the durable runtime on SQLite.
 *
 *   npm start            run it (Ctrl-C mid-run, then `npm start` again: it resumes where it stopped)
 *
 * There is no recovery code here: the runtime (createRuntime) finds the unfinished run in its run table
 * and resumes it.
 *
 * FetchOrder -> Reserve -> Charge (fails twice, retried with exponential backoff) -> Notify -> Done.
 * Every event is printed the moment it happens, then the final state. Every state entry is
 * checkpointed to `.cano/checkpoints.db` before its task runs, so a run that is interrupted (Ctrl-C
 * or a killed process) is resumed at the state it was in: that state's task runs again, the ones
 * before it do not (tasks must be idempotent).
 */
import {
  createRuntime,
  describeCanoError,
  isCanoFailure,
  Resources,
  RetryMode,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'
import { sqliteCheckpoints } from '../roots/sqlite.js'

type Step = 'FetchOrder' | 'Reserve' | 'Charge' | 'Notify' | 'Done' | 'Rejected'

const DB = process.env['CANO_QUICKSTART_DB'] ?? '.cano/checkpoints.db'
const RUN_ID = 'order-42'
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      reject(new Error('interrupted'))
    })
  })

/** A payment gateway that answers 503 twice before it accepts. */
const gateway = {
  calls: 0,
  async charge(amountCents: number, signal: AbortSignal): Promise<string> {
    await pause(150, signal)
    this.calls += 1
    if (this.calls <= 2) throw new Error(`gateway answered 503 (call ${this.calls})`)
    return `ch_${amountCents}_${this.calls}`
  },
}

const order = { id: RUN_ID, items: 3, amountCents: 12_900 }
const checkpoints = sqliteCheckpoints(DB)

const flow = workflow<Step>()({
  resources: Resources.of({ gateway, order }),
  checkpoints,
  exits: ['Done', 'Rejected'],
  states: ({ task }) => ({
    FetchOrder: task(async ({ res, signal }) => {
      await pause(400, signal)
      return res.get('order').items > 0 ? ('Reserve' as const) : ('Rejected' as const)
    }),
    Reserve: task(async ({ signal }) => {
      await pause(400, signal)
      return 'Charge' as const
    }),
    Charge: task(
      async ({ res, signal, progress }) => {
        const chargeId = await res.get('gateway').charge(res.get('order').amountCents, signal)
        progress({ chargeId })
        return 'Notify' as const
      },
      {
        retry: RetryMode.exponentialCustom({
          maxRetries: 4,
          baseDelayMs: 200,
          multiplier: 2,
          maxDelayMs: 2_000,
          jitter: 0.1,
        }),
        attemptTimeoutMs: 2_000,
      },
    ),
    Notify: task(async ({ signal }) => {
      await pause(400, signal)
      return 'Done' as const
    }),
  }),
  totalTimeoutMs: 60_000,
})

const started = Date.now()
const show = (e: WorkflowEvent<Step>): string => {
  const t = `+${String(Date.now() - started).padStart(5)} ms  ${e._tag.padEnd(18)}`
  switch (e._tag) {
    case 'RunStarted':
      return `${t} run ${e.workflowId} at ${e.initial}`
    case 'RunResumed':
      return `${t} after checkpoint row ${e.fromSeq}`
    case 'StateEntered':
      return `${t} ${e.state}`
    case 'CheckpointAppended':
      return `${t} row ${e.seq} (${e.kind} ${e.state})`
    case 'TaskStarted':
      return `${t} ${e.taskId}`
    case 'TaskSucceeded':
      return `${t} ${e.taskId} -> ${e.next} (${e.attempts} attempt(s))`
    case 'AttemptFailed':
      return `${t} ${e.taskId} attempt ${e.attempt}: ${describeCanoError(e.error)}`
    case 'RetryScheduled':
      return `${t} ${e.taskId} retry in ${e.delayMs} ms`
    case 'Progress':
      return `${t} ${e.taskId} ${JSON.stringify(e.data)}`
    case 'RunCompleted':
      return `${t} final state ${e.state} after ${e.transitions} transitions`
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      return `${t} ${describeCanoError(e.error)}`
    default:
      return t
  }
}

/**
 * The runtime does the recovery: it claims the unfinished run (released by a Ctrl-C at once, or after
 * its lease of LEASE_MS when the process was killed) and resumes it from its checkpoint log.
 */
const LEASE_MS = 3_000
const runtime = createRuntime({
  store: checkpoints,
  workflows: { orders: { workflow: flow, initial: 'FetchOrder' } },
  leaseMs: LEASE_MS,
  pollMs: 200,
})

const main = async (): Promise<void> => {
  const interrupted = new Promise<'interrupted'>((resolve) => process.once('SIGINT', () => resolve('interrupted')))
  const unfinished = await runtime.list({ workflow: 'orders', status: ['pending', 'running', 'parked'] })
  const ended = await runtime.list({ workflow: 'orders' })
  const resumed = unfinished[0]
  if (resumed !== undefined) {
    const waits = resumed.leaseUntil !== null && resumed.leaseUntil > Date.now()
    console.log(
      `resuming run ${resumed.workflowId}${waits ? ` once the lease of the killed process ends (${LEASE_MS} ms at most)` : ''}`,
    )
  }
  const id = resumed?.workflowId ?? `order-${String(42 + ended.length)}`
  if (resumed === undefined)
    console.log(`starting run ${id}; press Ctrl-C to interrupt it, then run \`npm start\` again to resume`)
  const sub = runtime.events$.subscribe((e) => {
    if (e._tag === 'Run' && e.event.workflowId === id) console.log(show(e.event as WorkflowEvent<Step>))
  })
  await runtime.start('orders', null, { id })
  const outcome = await Promise.race([runtime.result(id), interrupted])
  sub.unsubscribe()
  if (outcome === 'interrupted') {
    // abandons the run in flight (no rollback) and releases it: the next `npm start` resumes it at once
    await runtime.stop({ graceMs: 0 })
    console.log('interrupted: run `npm start` again to resume')
  } else {
    console.log(`run ${id} ${outcome.status}`)
    await runtime.stop()
  }
  await checkpoints.close()
}

main().catch(async (e: unknown) => {
  console.error(isCanoFailure(e) ? describeCanoError(e.error) : e)
  await runtime.stop({ graceMs: 0 })
  await checkpoints.close()
  process.exitCode = 1
})
