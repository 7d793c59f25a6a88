/**
 * One heap measurement of parked waiters, in a process of its own (spawned by
 * `processing.bench.ts`): parks a warm-up batch, then `n` more, and prints the heap growth per parked
 * waiter after a full gc. Nothing is released: the process exits, so no measurement sees another's
 * leftovers (timer lists, aborted signals, collected actors).
 *
 *   node --expose-gc .bench-dist/bench/parked.child.js <variant> <n>
 *
 * Variants: `bare` (an async function awaiting a sleep), `bare-signal` (the same, also listening to an
 * AbortSignal), `xstate` (an XState v5 actor on an `after` delay), `timer` (a cano-rx run parked in a
 * `timer` state through `orchestrate`), `timer-run$` (the same through a `run$` subscription, every event
 * delivered), `timer-signal` (`orchestrate` with a `signal`); issue 16: `poll` (a run in a `poll` state's
 * delay after a `pending` answer), `poll-breaker`, `poll-limiter`, `poll-timeout` (2 h), `poll-around` (the
 * same poll with a circuit breaker, a rate limiter, an attempt timeout or an observer's `aroundAttempt`), `slow-task` (a task awaiting a sleep), `split` (a split of two
 * branches, each awaiting a sleep), `saga` (a saga's forward step awaiting a sleep); `slow-task-gate`, `split-gate`, `saga-gate` (the same, the user's code
 * returning one never-settling Promise shared by every run: the engine's memory alone). Callers' AbortControllers are created
 * before the baseline: they are the caller's memory, not the waiter's; listening to them is counted.
 */
import * as t from 'io-ts'
import { createActor, createMachine } from 'xstate'

import { workflow } from '../roots/Workflow.js'
import { JoinStrategy } from '../src/JoinStrategy.js'
import { poll, PollOutcome } from '../src/Poll.js'
import { saga } from '../src/Saga.js'
import { sleep as sleepState } from '../src/Sleep.js'
import { split } from '../src/Split.js'
import { task } from '../src/StateHandler.js'
import { createCircuitBreaker } from '../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../streams/createRateLimiter.js'

const HOUR = 3_600_000
type Park = (n: number, signals: ReadonlyArray<AbortSignal> | undefined) => unknown[]

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const sleepOrAbort = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const h = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(h)
      resolve()
    })
  })

const flow = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: sleepState({ wait: HOUR, then: 'Done' }) },
})
const polling = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: poll(() => PollOutcome.pending(HOUR)) },
})
/** A poll state with `options` (a breaker, a limiter, an attempt timeout) parked in its 1 h delay. */
const pollingWith = (options: Parameters<typeof poll<'Done'>>[1]) =>
  workflow<'Wait' | 'Done'>()({
    exits: ['Done'],
    states: { Wait: poll(() => PollOutcome.pending(HOUR), options) },
  })
// one breaker and one limiter shared by every run, as a service's would be; the limiter never runs dry here
const pollingBreaker = pollingWith({ circuitBreaker: createCircuitBreaker() })
const pollingLimiter = pollingWith({ rateLimiter: createRateLimiter({ ratePerSec: 1_000_000, burst: 1_000_000 }) })
const pollingTimeout = pollingWith({ attemptTimeoutMs: 2 * HOUR })
const pollingAround = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: poll(() => PollOutcome.pending(HOUR)) },
  observers: [{ aroundAttempt: (_scope, start) => start() }],
})
const slowTask = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: {
    Wait: task(async () => {
      await sleep(HOUR)
      return 'Done' as const
    }),
  },
})
const slowBranch = async (): Promise<number> => {
  await sleep(HOUR)
  return 1
}
const splitting = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: split([slowBranch, slowBranch], { strategy: JoinStrategy.all(), join: 'Done' }) },
})
const sagaStep = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: {
    Wait: saga({
      output: t.number,
      run: async () => {
        await sleep(HOUR)
        return ['Done' as const, 1]
      },
      compensate: () => undefined,
    }),
  },
})
/**
 * The `-gate` variants: the user's code returns one Promise shared by every run, which never settles, so
 * the user's code holds no memory of its own per run and the figure is the engine's alone (a sleeping
 * async function is ~700 B of the user's: its generator, its Promise, the sleep's Promise and timer).
 */
const gate = new Promise<never>(() => undefined)
const gateTask = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: task((): Promise<'Done'> => gate) },
})
const gateBranch = (): Promise<number> => gate
const gateSplit = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: { Wait: split([gateBranch, gateBranch], { strategy: JoinStrategy.all(), join: 'Done' }) },
})
const gateSaga = workflow<'Wait' | 'Done'>()({
  exits: ['Done'],
  states: {
    Wait: saga({ output: t.number, run: (): Promise<['Done', number]> => gate, compensate: () => undefined }),
  },
})
const machine = createMachine({
  initial: 'wait',
  states: { wait: { after: { [HOUR]: 'done' } }, done: { type: 'final' } },
})

let id = 0
/** Runs of `flow` parked in its `Wait` state, each under a new id. */
const parkedIn = (flow: {
  readonly orchestrate: (initial: 'Wait', options: { readonly workflowId: string }) => Promise<unknown>
}): { readonly signal: boolean; readonly park: Park } => ({
  signal: false,
  park: (n) => Array.from({ length: n }, () => flow.orchestrate('Wait', { workflowId: `w${id++}` })),
})
const variants: Record<string, { readonly signal: boolean; readonly park: Park }> = {
  bare: {
    signal: false,
    park: (n) =>
      Array.from({ length: n }, async () => {
        await sleep(HOUR)
      }),
  },
  'bare-signal': {
    signal: true,
    park: (n, signals) =>
      Array.from({ length: n }, async (_, i) => {
        await sleepOrAbort(HOUR, signals?.[i] as AbortSignal)
      }),
  },
  xstate: { signal: false, park: (n) => Array.from({ length: n }, () => createActor(machine).start()) },
  timer: {
    signal: false,
    park: (n) => Array.from({ length: n }, () => flow.orchestrate('Wait', { workflowId: `w${id++}` })),
  },
  'timer-run$': {
    signal: false,
    park: (n) => Array.from({ length: n }, () => flow.run$('Wait', { workflowId: `w${id++}` }).subscribe()),
  },
  'timer-signal': {
    signal: true,
    park: (n, signals) =>
      Array.from({ length: n }, (_, i) =>
        flow.orchestrate('Wait', { workflowId: `w${id++}`, signal: signals?.[i] as AbortSignal }),
      ),
  },
  poll: parkedIn(polling),
  'poll-breaker': parkedIn(pollingBreaker),
  'poll-limiter': parkedIn(pollingLimiter),
  'poll-timeout': parkedIn(pollingTimeout),
  'poll-around': parkedIn(pollingAround),
  'slow-task': parkedIn(slowTask),
  split: parkedIn(splitting),
  saga: parkedIn(sagaStep),
  'slow-task-gate': parkedIn(gateTask),
  'split-gate': parkedIn(gateSplit),
  'saga-gate': parkedIn(gateSaga),
}

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run node with --expose-gc')
const [name = '', count = '10000'] = process.argv.slice(2)
const variant = variants[name]
if (variant === undefined) throw new Error(`unknown variant ${JSON.stringify(name)}`)
const n = Number(count)
const settle = async (): Promise<number> => {
  await new Promise((r) => setImmediate(r))
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const controllers = (k: number): AbortSignal[] | undefined =>
  variant.signal ? Array.from({ length: k }, () => new AbortController().signal) : undefined

// warm-up: the same code paths, compiled and their shapes settled, before the baseline
const warm = variant.park(2000, controllers(2000))
const signals = controllers(n)
const before = await settle()
const parked = variant.park(n, signals)
const during = await settle()
console.log(JSON.stringify({ bytesPerWaiter: (during - before) / n, kept: warm.length + parked.length }))
process.exit(0)
