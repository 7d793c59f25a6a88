/**
 * Engine benchmarks (issue 2): per-transition overhead against a hand-written `await` loop and
 * XState v5, the retry wrapper and the attempt timeout on the success path against direct calls and
 * cockatiel, and heap/stack behaviour over 100 000 transitions. Every figure is a median over
 * repeats of a ratio measured against its baseline in the same repeat (interleaved), so machine
 * noise hits both sides alike.
 *
 *   npm run bench            (all benchmarks, compiled; run with --expose-gc)
 */
import {
  ExponentialBackoff,
  handleAll,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  TimeoutStrategy,
} from 'cockatiel'
import { defer, lastValueFrom } from 'rxjs'
import { createActor, createMachine } from 'xstate'

import { workflow } from '../roots/Workflow.js'
import { RetryMode } from '../src/RetryMode.js'
import { task } from '../src/StateHandler.js'
import type { TaskConfig } from '../src/TaskConfig.js'
import { fromTaskOutput } from '../streams/fromTaskOutput.js'
import { retryWithBackoff } from '../streams/retryWithBackoff.js'
import { timeoutAttempt } from '../streams/timeoutAttempt.js'
import { type BenchResult, formatTable, median } from './lib.js'

type Cycle = 'A' | 'B' | 'C' | 'D' | 'E' | 'Done'
const NEXT: Readonly<Record<Exclude<Cycle, 'Done'>, Cycle>> = { A: 'B', B: 'C', C: 'D', D: 'E', E: 'A' }

const REPEATS = 7
const TRANSITIONS = 50_000

const nsPer = (ms: number, n: number): number => (ms * 1e6) / n

const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now()
  await f()
  return performance.now() - t0
}

// -------------------------------------------------------------------------------------
// 1. per-transition overhead
// -------------------------------------------------------------------------------------

const transitionOverhead = async (): Promise<BenchResult[]> => {
  let left = 0
  const step = (s: Exclude<Cycle, 'Done'>): Cycle => (--left <= 0 ? 'Done' : NEXT[s])
  const fns = new Map<Cycle, () => Promise<Cycle>>([
    ['A', async () => step('A')],
    ['B', async () => step('B')],
    ['C', async () => step('C')],
    ['D', async () => step('D')],
    ['E', async () => step('E')],
  ])
  const floor = async (): Promise<Cycle> => {
    let s: Cycle = 'A'
    for (;;) {
      switch (s) {
        case 'Done':
          return s
        default: {
          const f = fns.get(s)
          if (f === undefined) throw new Error(`no ${s}`)
          s = await f()
        }
      }
    }
  }
  const flow = workflow<Cycle>()({
    exits: ['Done'],
    states: {
      A: task(async () => step('A')),
      B: task(async () => step('B')),
      C: task(async () => step('C')),
      D: task(async () => step('D')),
      E: task(async () => step('E')),
    },
  })
  const machine = createMachine({
    initial: 'A',
    states: {
      A: { on: { NEXT: 'B' } },
      B: { on: { NEXT: 'C' } },
      C: { on: { NEXT: 'D' } },
      D: { on: { NEXT: 'E' } },
      E: { on: { NEXT: 'A' } },
    },
  })
  const xstate = (): Promise<void> => {
    const actor = createActor(machine).start()
    for (let i = 0; i < TRANSITIONS; i++) actor.send({ type: 'NEXT' })
    actor.stop()
    return Promise.resolve()
  }
  const loopNs: number[] = []
  const oursNs: number[] = []
  const xNs: number[] = []
  const vsLoop: number[] = []
  const vsX: number[] = []
  for (let r = 0; r < REPEATS + 1; r++) {
    left = TRANSITIONS
    const base = nsPer(await time(floor), TRANSITIONS)
    left = TRANSITIONS
    const ours = nsPer(await time(() => flow.orchestrate('A')), TRANSITIONS)
    const x = nsPer(await time(xstate), TRANSITIONS)
    if (r === 0) continue // warm-up
    loopNs.push(base)
    oursNs.push(ours)
    xNs.push(x)
    vsLoop.push(ours / base)
    vsX.push(x / ours)
  }
  return [
    { name: 'await loop (floor), per transition', value: median(loopNs), unit: 'ns' },
    { name: 'XState v5 send, per event', value: median(xNs), unit: 'ns' },
    {
      name: 'engine, per transition (5-state cycle)',
      value: median(oursNs),
      unit: 'ns',
      baseline: 'await loop',
      ratio: median(vsLoop),
      note: 'target <= 8x',
    },
    {
      name: 'XState v5 / engine',
      value: median(vsX),
      unit: 'x faster',
      baseline: 'XState v5',
      ratio: median(vsX),
      note: 'target >= 5x faster',
    },
  ]
}

// -------------------------------------------------------------------------------------
// 2. retry wrapper and 3. attempt timeout on the success path
// -------------------------------------------------------------------------------------

const CALLS = 50_000

const successPath = async (): Promise<BenchResult[]> => {
  const fn = async (): Promise<number> => 1
  const mode = RetryMode.exponential(3)
  const direct = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await fn()
  }
  const ours = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await lastValueFrom(defer(fn).pipe(retryWithBackoff({ mode })))
  }
  const asObservable = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await lastValueFrom(defer(fn))
  }
  const oursTimeout = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++)
      await lastValueFrom(fromTaskOutput<number>(fn).pipe(timeoutAttempt({ timeoutMs: 10_000 })))
  }
  const retryPolicy = cockatielRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() })
  const cockatiel = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await retryPolicy.execute(fn)
  }
  const timeoutPolicy = cockatielTimeout(10_000, TimeoutStrategy.Cooperative)
  const cockatielT = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await timeoutPolicy.execute(fn)
  }
  const rRetry: number[] = []
  const rRetryVsObservable: number[] = []
  const rCockatiel: number[] = []
  const rTimeoutVsCockatiel: number[] = []
  const nsRetry: number[] = []
  const nsDirect: number[] = []
  const nsTimeout: number[] = []
  const nsCockTimeout: number[] = []
  for (let r = 0; r < REPEATS + 1; r++) {
    const d = nsPer(await time(direct), CALLS)
    const o = nsPer(await time(ours), CALLS)
    const obs = nsPer(await time(asObservable), CALLS)
    const c = nsPer(await time(cockatiel), CALLS)
    const t = nsPer(await time(oursTimeout), CALLS)
    const ct = nsPer(await time(cockatielT), CALLS)
    if (r === 0) continue
    nsDirect.push(d)
    nsRetry.push(o)
    nsTimeout.push(t)
    nsCockTimeout.push(ct)
    rRetry.push(o / d)
    rRetryVsObservable.push(o / obs)
    rCockatiel.push(c / d)
    rTimeoutVsCockatiel.push(ct / t)
  }
  return [
    { name: 'direct await fn(), per call', value: median(nsDirect), unit: 'ns' },
    {
      name: 'retryWithBackoff success path, per call',
      value: median(nsRetry),
      unit: 'ns',
      baseline: 'direct call',
      ratio: median(rRetry),
      note: 'target <= 3x',
    },
    {
      name: 'retryWithBackoff vs the same call as a bare Observable',
      value: median(rRetryVsObservable),
      unit: 'x',
      baseline: 'lastValueFrom(defer(fn))',
      ratio: median(rRetryVsObservable),
      note: 'the operator itself; the rest is Promise <-> Observable conversion',
    },
    {
      name: 'cockatiel retry success path',
      value: median(rCockatiel),
      unit: 'x direct',
      baseline: 'direct call',
      ratio: median(rCockatiel),
    },
    { name: 'cockatiel timeout (Cooperative), per call', value: median(nsCockTimeout), unit: 'ns' },
    {
      name: 'timeoutAttempt success path, per call',
      value: median(nsTimeout),
      unit: 'ns',
      baseline: 'cockatiel timeout',
      ratio: median(rTimeoutVsCockatiel),
      note: 'ratio = times cheaper; target >= 10x',
    },
  ]
}

// -------------------------------------------------------------------------------------
// 2b/3b. the same policies as the engine runs them
// -------------------------------------------------------------------------------------

/** ns per transition of a 5-state cycle whose tasks all carry `config`. */
const cycleWith = (config: TaskConfig): ((n: number) => Promise<number>) => {
  let left = 0
  const step = (s: Exclude<Cycle, 'Done'>) => async (): Promise<Cycle> => (--left <= 0 ? 'Done' : NEXT[s])
  const flow = workflow<Cycle>()({
    exits: ['Done'],
    states: {
      A: task(step('A'), config),
      B: task(step('B'), config),
      C: task(step('C'), config),
      D: task(step('D'), config),
      E: task(step('E'), config),
    },
  })
  return async (n) => {
    left = n
    return nsPer(await time(() => flow.orchestrate('A')), n)
  }
}

const inEngine = async (): Promise<BenchResult[]> => {
  const none = cycleWith({ retry: RetryMode.none() })
  const retrying = cycleWith({ retry: RetryMode.exponential(3) })
  const timed = cycleWith({ retry: RetryMode.none(), attemptTimeoutMs: 10_000 })
  const timeoutPolicy = cockatielTimeout(10_000, TimeoutStrategy.Cooperative)
  const fn = async (): Promise<number> => 1
  const cockatielT = async (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) await timeoutPolicy.execute(fn)
  }
  const retryRatio: number[] = []
  const timeoutOverhead: number[] = []
  const vsCockatiel: number[] = []
  for (let r = 0; r < REPEATS + 1; r++) {
    const n = await none(TRANSITIONS)
    const rt = await retrying(TRANSITIONS)
    const t = await timed(TRANSITIONS)
    const c = nsPer(await time(cockatielT), CALLS)
    if (r === 0) continue
    retryRatio.push(rt / n)
    timeoutOverhead.push(t - n)
    vsCockatiel.push(c / Math.max(1, t - n))
  }
  return [
    {
      name: 'engine: task with RetryMode.exponential(3) vs RetryMode.none(), success path',
      value: median(retryRatio),
      unit: 'x',
      baseline: 'no retry policy',
      ratio: median(retryRatio),
      note: 'the engine runs attempt 1 inline; the retry operator only joins after a failure',
    },
    {
      name: 'engine: attemptTimeoutMs overhead per transition',
      value: median(timeoutOverhead),
      unit: 'ns',
      baseline: 'cockatiel timeout',
      ratio: median(vsCockatiel),
      note: 'ratio = times cheaper than cockatiel; target >= 10x',
    },
  ]
}

// -------------------------------------------------------------------------------------
// 4. heap and stack over 100 000 transitions
// -------------------------------------------------------------------------------------

const LONG_RUN = 100_000

const heapAndStack = async (): Promise<BenchResult[]> => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined)
    return [{ name: 'heap per transition', value: Number.NaN, unit: 'B', note: 'run node with --expose-gc' }]
  let left = LONG_RUN
  const heap: number[] = []
  const depths: number[] = []
  const depth = (): number => (new Error().stack ?? '').split('\n').length
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = Infinity
  const sample = (): void => {
    if (left % 20_000 === 0 && left < LONG_RUN) {
      gc()
      heap.push(process.memoryUsage().heapUsed)
      depths.push(depth())
    }
  }
  const flow = workflow<'A' | 'B' | 'Done'>()({
    exits: ['Done'],
    states: {
      A: task(() => {
        sample()
        return --left <= 0 ? 'Done' : 'B'
      }),
      B: task(() => (--left <= 0 ? 'Done' : 'A')),
    },
  })
  gc()
  const before = process.memoryUsage().heapUsed
  await flow.orchestrate('A')
  gc()
  const after = process.memoryUsage().heapUsed
  Error.stackTraceLimit = limit
  const first = heap[0] ?? Number.NaN
  const lastH = heap.at(-1) ?? Number.NaN
  const spanTransitions = (heap.length - 1) * 20_000
  return [
    {
      name: 'heap growth during a 100k-transition run',
      value: (lastH - first) / spanTransitions,
      unit: 'B/transition',
      note: `sampled every 20k transitions after gc: ${heap.map((h) => (h / 1e6).toFixed(2)).join(', ')} MB`,
    },
    { name: 'heap retained after the run', value: (after - before) / LONG_RUN, unit: 'B/transition' },
    {
      name: 'stack depth during the run (min..max)',
      value: Math.max(...depths) - Math.min(...depths),
      unit: 'frames of growth',
      note: `depths ${depths.join(', ')}`,
    },
  ]
}

/** Runs every engine benchmark. */
export const run = async (): Promise<BenchResult[]> => [
  ...(await transitionOverhead()),
  ...(await successPath()),
  ...(await inEngine()),
  ...(await heapAndStack()),
]

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  console.log(formatTable(await run()))
}
