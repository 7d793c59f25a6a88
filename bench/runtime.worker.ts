/**
 * One runtime worker process of `runtime.bench.ts`, forked with an IPC channel and `--expose-gc`:
 *
 *   node --expose-gc .bench-dist/bench/runtime.worker.js <table> <owner> <concurrency> <leaseMs> <pollMs> <parkAfterMs>
 *
 * It runs `createRuntime` over `postgresCheckpoints` (the table given) with three workflows:
 *
 * - `io`: three tasks, each awaiting 20 ms (an I/O-bound run: 4 checkpoint rows, a claim and a finish);
 * - `hold`: one task that awaits an hour (a run a worker is executing when it is SIGKILLed);
 * - `nap`: a `sleep` (longer than `parkAfterMs`: the run parks) and a task that reports when it starts; the
 *   sleep lasts the number of ms after the last `:` of the run's id.
 *
 * Messages to the parent: `{ type: 'ready' }` once the store answers and the runtime runs,
 * `{ type: 'parked', id, wakeAt }` when a run parks here, `{ type: 'woke', id, at }` when a `nap` run's
 * second state starts here (`at`: `Date.now()`, the clock of the run table). Messages from the parent:
 * `heap` (answered with `{ type: 'heap', bytes }`, the heap used after a full gc), `cpu` (answered with
 * `{ type: 'cpu', micros }`, this process's user + system CPU time), `stop` (stops the runtime, closes the
 * store and exits).
 */
import { createRuntime } from '../roots/Runtime.js'
import { postgresCheckpoints } from '../roots/stores/postgresCheckpoints.js'
import { workflow } from '../roots/Workflow.js'
import { sleep } from '../src/Sleep.js'
import { task } from '../src/StateHandler.js'

/** What each task of an `io` run awaits, in ms. */
const IO_TASK_MS = 20

const PG_URL = process.env['CANO_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A message of the worker to its parent. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'parked'; readonly id: string; readonly wakeAt: number }
  | { readonly type: 'woke'; readonly id: string; readonly at: number }
  | { readonly type: 'heap'; readonly bytes: number }
  | { readonly type: 'cpu'; readonly micros: number }

/** A message of the parent to the worker. */
export type ParentMessage = 'heap' | 'cpu' | 'stop'

const send = (m: WorkerMessage): void => {
  process.send?.(m)
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const main = async (): Promise<void> => {
  const [table, owner, concurrency, leaseMs, pollMs, parkAfterMs] = process.argv.slice(2)
  if (table === undefined || owner === undefined || parkAfterMs === undefined)
    throw new Error('usage: runtime.worker.js <table> <owner> <concurrency> <leaseMs> <pollMs> <parkAfterMs>')

  const io = workflow<'A' | 'B' | 'C' | 'Done'>()({
    exits: ['Done'],
    states: {
      A: task(async () => (await wait(IO_TASK_MS), 'B' as const)),
      B: task(async () => (await wait(IO_TASK_MS), 'C' as const)),
      C: task(async () => (await wait(IO_TASK_MS), 'Done' as const)),
    },
  })
  const hold = workflow<'Hold' | 'Done'>()({
    exits: ['Done'],
    states: { Hold: task(async () => (await wait(3_600_000), 'Done' as const)) },
  })
  const nap = workflow<'Nap' | 'Woke' | 'Done'>()({
    exits: ['Done'],
    states: {
      Nap: sleep({ wait: ({ workflowId }) => Number(workflowId.slice(workflowId.lastIndexOf(':') + 1)), then: 'Woke' }),
      Woke: task(({ workflowId }) => {
        send({ type: 'woke', id: workflowId, at: Date.now() })
        return 'Done' as const
      }),
    },
  })

  const store = postgresCheckpoints({ connectionString: PG_URL, table })
  await store.runs.list({ limit: 1 }) // connected, the tables in place: what follows is the runtime's own work
  const runtime = createRuntime({
    store,
    workflows: {
      io: { workflow: io, initial: 'A' },
      hold: { workflow: hold, initial: 'Hold' },
      nap: { workflow: nap, initial: 'Nap' },
    },
    owner,
    concurrency: Number(concurrency),
    leaseMs: Number(leaseMs),
    pollMs: Number(pollMs),
    parkAfterMs: Number(parkAfterMs),
  })
  const parked = runtime.events$.subscribe((e) => {
    if (e._tag === 'Parked') send({ type: 'parked', id: e.workflowId, wakeAt: e.wakeAt })
  })

  process.on('message', (m: ParentMessage) => {
    if (m === 'heap') {
      const gc = (globalThis as { gc?: () => void }).gc
      if (gc === undefined) throw new Error('run node with --expose-gc')
      gc()
      gc()
      send({ type: 'heap', bytes: process.memoryUsage().heapUsed })
    } else if (m === 'cpu') {
      const { user, system } = process.cpuUsage()
      send({ type: 'cpu', micros: user + system })
    } else {
      parked.unsubscribe()
      void runtime
        .stop({ graceMs: 0 })
        .then(() => store.close())
        .finally(() => process.exit(0))
    }
  })
  send({ type: 'ready' })
}

await main()
