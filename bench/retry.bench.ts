/**
 * Issue 16 item 4, focused: `retryAsync` on its success path against a direct call of the same async
 * function, and the `retryWithBackoff` operator against the same source without it (the operator built
 * once, and built per call as `engine.bench.ts` does; an async source and a synchronous one). The same
 * ratios as `stepped.bench.ts` and `engine.bench.ts`, alone in their process, through `compareCases`:
 * an untimed warm-up and a young gc before every timed sample, cases in rotating order, medians of
 * per-repeat ratios.
 *
 *   npm run bench -- retry
 */
import { defer, firstValueFrom, lastValueFrom, of } from 'rxjs'

import { RetryMode } from '../src/RetryMode.js'
import { retryAsync } from '../streams/retryAsync.js'
import { retryWithBackoff } from '../streams/retryWithBackoff.js'
import { type BenchResult, type CaseFigures, compareCases, formatTable, isMain } from './lib.js'

const CALLS = 20_000
const REPEATS = 21

/** `n` awaited calls of `f`, as one timed sample. */
const times = (f: () => Promise<unknown>, n: number) => async (): Promise<void> => {
  for (let i = 0; i < n; i++) await f()
}

/** ratios of `a` to `b`, repeat by repeat, as a row (`compareCases` gives ratios to its baseline only). */
const versus = (a: CaseFigures, b: CaseFigures, name: string, baseline: string, note?: string): BenchResult => {
  const ratios = a.samples.map((x, r) => x / b.samples[r]!)
  const sorted = [...ratios].sort((x, y) => x - y)
  return {
    name,
    value: a.ns,
    unit: 'ns/call',
    baseline,
    ratio: sorted[Math.floor(sorted.length / 2)]!,
    samples: ratios,
    note: `max ${sorted[sorted.length - 1]!.toFixed(2)}x${note === undefined ? '' : `; ${note}`}`,
  }
}

/** `case_` against `baseline` alone, sample next to sample: the ratio of each repeat compares moments of the same load. */
const pair = async (
  baseline: { readonly name: string; readonly f: () => Promise<unknown> },
  case_: { readonly name: string; readonly f: () => Promise<unknown> },
): Promise<[CaseFigures, CaseFigures]> => {
  const c = await compareCases({
    baseline: { name: baseline.name, run: times(baseline.f, CALLS), ops: CALLS },
    cases: [{ name: case_.name, run: times(case_.f, CALLS), ops: CALLS }],
    repeats: REPEATS,
  })
  return [c.baseline, c.cases[0]!]
}

/** Runs the focused retry benchmarks. */
export const run = async (): Promise<BenchResult[]> => {
  const call = async (): Promise<number> => Promise.resolve(1)
  const mode = RetryMode.default()
  const options = { mode }
  const controller = new AbortController()
  const withSignal = { mode, signal: controller.signal }
  const plain$ = defer(() => call())
  const retried$ = plain$.pipe(retryWithBackoff({ mode }))
  const sync$ = of(1)
  const syncRetried$ = sync$.pipe(retryWithBackoff({ mode }))
  const direct = { name: 'direct', f: () => call() }
  const [d1, ra] = await pair(direct, { name: 'retryAsync', f: () => retryAsync(call, options) })
  const [src, op] = await pair(
    { name: 'source', f: () => firstValueFrom(plain$) },
    { name: 'operator', f: () => firstValueFrom(retried$) },
  )
  const [d2, ras] = await pair(direct, { name: 'retryAsync + signal', f: () => retryAsync(call, withSignal) })
  const [srcPer, opPer] = await pair(
    { name: 'source built per call', f: () => lastValueFrom(defer(call)) },
    { name: 'operator built per call', f: () => lastValueFrom(defer(call).pipe(retryWithBackoff({ mode }))) },
  )
  const [ssrc, sop] = await pair(
    { name: 'sync source', f: () => firstValueFrom(sync$) },
    { name: 'sync operator', f: () => firstValueFrom(syncRetried$) },
  )
  return [
    { name: 'direct call of an async function', value: d1.ns, unit: 'ns/call' },
    versus(ra, d1, 'retryAsync(fn, { mode: RetryMode.default() }), success', 'direct call', 'target <= 2.5x'),
    { name: 'firstValueFrom(defer(() => fn()))', value: src.ns, unit: 'ns/call' },
    versus(op, src, 'the same .pipe(retryWithBackoff), success', 'same source', 'target <= 1.3x'),
    versus(ras, d2, 'retryAsync(fn, { mode, signal }), success', 'direct call'),
    versus(opPer, srcPer, 'defer(fn).pipe(retryWithBackoff({ mode })) built per call', 'same, no operator'),
    { name: 'firstValueFrom(of(1))', value: ssrc.ns, unit: 'ns/call' },
    versus(sop, ssrc, 'firstValueFrom(of(1).pipe(retryWithBackoff))', 'same source', 'synchronous: the operator alone'),
  ]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
