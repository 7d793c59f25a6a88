/**
 * One deterministic measurement of a per-transition (or per-call) cost, in a process of its own (spawned
 * by `instructions.bench.ts`, usually under `valgrind --tool=callgrind`): warms `variant` up with
 * `WARMUP` transitions, then makes `n` more, and prints the bytes allocated during those `n` (V8's
 * `GCProfiler`: what the heap grew by plus what each collection freed). The instruction count is
 * callgrind's total for the process; the caller takes the difference of two `n` to cancel the
 * start-up, the module loading and the warm-up.
 *
 *   node --expose-gc --predictable --hash-seed=1 --random-seed=1 .bench-dist/bench/instructions.child.js <variant> <n>
 *
 * Variants: `engine` (a 5-state task cycle, `RetryMode.none()`), `engine+breaker` (the same cycle, every
 * task under one closed `createCircuitBreaker`), `direct` (`await fn()`), `cockatiel` (cockatiel's
 * breaker `execute(fn)`, closed).
 */
import { GCProfiler } from 'node:v8'

import { circuitBreaker as cockatielBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel'

import { RetryMode } from '../src/RetryMode.js'
import { createCircuitBreaker } from '../streams/createCircuitBreaker.js'
import { taskCycle } from './lib.js'

const WARMUP = 20_000
/** Transitions per workflow run: many short runs, so the live heap stays the same whatever `n`. */
const RUN = 1_000

const fn = async (): Promise<number> => Promise.resolve(1)

const calls =
  (call: () => Promise<unknown>) =>
  async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await call()
  }

const variants: Readonly<Record<string, () => (n: number) => Promise<unknown>>> = {
  engine: () => taskCycle({ retry: RetryMode.none() }),
  'engine+breaker': () =>
    taskCycle({
      retry: RetryMode.none(),
      circuitBreaker: createCircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000 }),
    }),
  direct: () => calls(fn),
  cockatiel: () => {
    const policy = cockatielBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })
    return calls(() => policy.execute(fn))
  },
}

const [variant = '', count = '0'] = process.argv.slice(2)
const make = variants[variant]
if (make === undefined)
  throw new Error(`unknown variant ${JSON.stringify(variant)}: ${Object.keys(variants).join(', ')}`)
const n = Number(count)
const once = make()
const run = async (total: number): Promise<void> => {
  for (let done = 0; done < total; done += RUN) await once(Math.min(RUN, total - done))
}
await run(WARMUP)
// a full gc drops the optimized code of the engine's hot path (see `timed` in policies.bench.ts): the
// second warm-up re-optimizes it before the measured run
;(globalThis as { gc?: () => void }).gc?.()
await run(WARMUP)
const profiler = new GCProfiler()
const before = process.memoryUsage().heapUsed
profiler.start()
await run(n)
const after = process.memoryUsage().heapUsed
let freed = 0
for (const s of profiler.stop().statistics)
  freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize
console.log(JSON.stringify({ variant, n, bytes: after - before + freed }))
