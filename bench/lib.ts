/**
 * Shared helpers of the benchmarks under `bench/`: the result shape every `run()` returns, a timer that
 * reports the median ns per call over repeats, medians, and a plain-text table. Benchmarks report ratios
 * against a baseline measured in the same process, in the same run, never absolute
 * timings as pass/fail.
 *
 * @since 0.1.0
 */
import { pathToFileURL } from 'node:url'

import { workflow } from '../roots/Workflow.js'
import { task } from '../src/StateHandler.js'
import type { TaskConfig } from '../src/TaskConfig.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One measured figure: `value` in `unit`, optionally compared with a `baseline` as `ratio = value / baseline`. */
export interface BenchResult {
  name: string
  value: number
  unit: string
  baseline?: string
  ratio?: number
  note?: string
  /**
   * The per-repeat figures the reported one is the median of (ratios when `ratio` is set, values
   * otherwise): `--compare` reads the noise from their spread. Optional.
   */
  samples?: number[]
}

/** How long {@link measure} measures. */
export interface MeasureOptions {
  /** Calls per timed repeat. */
  readonly iterations: number
  /** Timed repeats (at least 5); the median is reported. Default 7. */
  readonly repeats?: number
  /** Untimed calls before the first repeat, to let the JIT settle. Default `iterations`. */
  readonly warmup?: number
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The median of `xs` (the mean of the two middle values for an even count); `NaN` for no values. */
export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'

/**
 * The median ns per call of `fn` over `repeats` (at least 5) timed loops of `iterations` calls, after an
 * untimed warm-up and a young-generation gc (with `--expose-gc`; see {@link compareCases}). When `fn` returns a Promise, each call is awaited before the next one starts.
 */
export const measure = async (fn: () => unknown, options: MeasureOptions): Promise<number> => {
  const { iterations } = options
  const repeats = Math.max(5, options.repeats ?? 7)
  const loop = isThenable(fn())
    ? async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await fn()
      }
    : (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) fn()
        return Promise.resolve()
      }
  await loop(options.warmup ?? iterations)
  gcYoung() // the warm-up's (and any earlier case's) young garbage goes; see compareCases
  const samples: number[] = []
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint()
    await loop(iterations)
    samples.push(Number(process.hrtime.bigint() - start) / iterations)
  }
  return median(samples)
}

/** Formats results as an aligned plain-text table, under `title` when one is given. */
export const formatTable = (results: ReadonlyArray<BenchResult>, title?: string): string => {
  const rows = [
    ['benchmark', 'value', 'unit', 'baseline', 'ratio', 'note'],
    ...results.map((r) => [
      r.name,
      Number.isFinite(r.value) ? r.value.toFixed(r.value >= 100 ? 0 : 2) : String(r.value),
      r.unit,
      r.baseline ?? '',
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
      r.note ?? '',
    ]),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const table = rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  )
  return (title === undefined ? table : [title, ...table]).join('\n')
}

/** Is the module at `importMetaUrl` the script node was started with (`npx tsx bench/x.bench.ts`)? */
export const isMain = (importMetaUrl: string): boolean => {
  const script = process.argv[1]
  return script !== undefined && importMetaUrl === pathToFileURL(script).href
}

// -------------------------------------------------------------------------------------
// honest comparisons (issue 16)
// -------------------------------------------------------------------------------------

/** Forces a full collection when node runs with `--expose-gc` (`npm run bench` does); a no-op otherwise. */
export const gcNow = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
}

/**
 * Collects the young generation only (with `--expose-gc`; a no-op otherwise): drops a warm-up's short-lived
 * garbage without the full collection that would shrink the young generation (see {@link compareCases}).
 */
export const gcYoung = (): void => {
  const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc
  if (gc !== undefined) gc({ type: 'minor' })
}

/** The lower quartile, median and upper quartile of `xs` (linear interpolation between ranks); `NaN`s for no values. */
export const quartiles = (xs: ReadonlyArray<number>): { q1: number; median: number; q3: number } => {
  if (xs.length === 0) return { q1: Number.NaN, median: Number.NaN, q3: Number.NaN }
  const sorted = [...xs].sort((a, b) => a - b)
  const at = (p: number): number => {
    const pos = (sorted.length - 1) * p
    const lo = Math.floor(pos)
    const hi = Math.ceil(pos)
    return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
  }
  return { q1: at(0.25), median: median(sorted), q3: at(0.75) }
}

/** One case of {@link compareCases}: `run` performs one timed sample covering `ops` operations (default 1). */
export interface BenchCase {
  readonly name: string
  readonly run: () => unknown
  /** Operations one call of `run` covers: the reported figure is ns per operation. Default 1. */
  readonly ops?: number
}

/** Options of {@link compareCases}. */
export interface CompareOptions {
  readonly baseline: BenchCase
  readonly cases: ReadonlyArray<BenchCase>
  /** Timed repetitions of every case (at least 3). Default 7. */
  readonly repeats?: number
  /** Untimed calls of a case's `run` right before each of its timed samples. Default 1. */
  readonly warmup?: number
  /** The collection before each timed sample (after the warm-up, a young one either way). Default `'young'`. */
  readonly gc?: 'young' | 'full'
}

/** What {@link compareCases} measured of one case: ns per operation per repeat, and ratios to the baseline per repeat. */
export interface CaseFigures {
  readonly name: string
  /** ns per operation, one per repeat. */
  readonly samples: ReadonlyArray<number>
  /** median of `samples`. */
  readonly ns: number
  /** `samples[r] / baseline.samples[r]`, one per repeat (all 1 for the baseline). */
  readonly ratios: ReadonlyArray<number>
  /** median of `ratios`: the figure to read. */
  readonly ratio: number
}

/** The result of {@link compareCases}: the baseline's figures and every case's, in the order given. */
export interface Comparison {
  readonly baseline: CaseFigures
  readonly cases: ReadonlyArray<CaseFigures>
}

const timeOnce = async (c: BenchCase): Promise<number> => {
  const start = process.hrtime.bigint()
  const r = c.run()
  if (isThenable(r)) await r
  return Number(process.hrtime.bigint() - start) / (c.ops ?? 1)
}

/** The order in which repeat `r` visits `n` cases: a rotation by `r`, so no case always follows the same one. */
export const rotation = (n: number, r: number): number[] => Array.from({ length: n }, (_, i) => (i + r) % n)

/**
 * Times `baseline` and every case, `repeats` times each, in rotating order. Before each timed sample the case
 * runs `warmup` untimed times and the young generation is collected (with `--expose-gc`): its warm-up's
 * garbage and what the previous case left there go, so no case is timed cold or on another's short-lived
 * garbage. With `gc: 'full'` a full collection comes first (the previous case's old-generation garbage
 * goes too), at a price: after a forced full gc, `orchestrate` ran ~10x slower for thousands of runs
 * (measured 2026-12-04: 13-50 µs per run against 1.4-1.6 µs with a young gc or none), so the default is
 * `'young'`. Ratios are taken per repeat (case / baseline of the same repeat) and reported as medians.
 */
export const compareCases = async (options: CompareOptions): Promise<Comparison> => {
  const all = [options.baseline, ...options.cases]
  const repeats = Math.max(3, options.repeats ?? 7)
  const warmup = options.warmup ?? 1
  const samples: number[][] = all.map(() => [])
  for (let r = 0; r < repeats; r++) {
    for (const i of rotation(all.length, r)) {
      const c = all[i]!
      if (options.gc === 'full') gcNow()
      for (let w = 0; w < warmup; w++) {
        const u = c.run()
        if (isThenable(u)) await u
      }
      gcYoung()
      samples[i]!.push(await timeOnce(c))
    }
  }
  const base = samples[0]!
  const figures = all.map((c, i): CaseFigures => {
    const s = samples[i]!
    const ratios = s.map((x, r) => x / base[r]!)
    return { name: c.name, samples: s, ns: median(s), ratios, ratio: median(ratios) }
  })
  return { baseline: figures[0]!, cases: figures.slice(1) }
}

/** A result row of `figures` against `baseline`: value in ns per operation (or `scale`d), the median ratio, and its per-repeat ratios as `samples`. */
export const caseRow = (
  figures: CaseFigures,
  baseline: string,
  extra: { readonly unit?: string; readonly scale?: number; readonly note?: string; readonly name?: string } = {},
): BenchResult => ({
  name: extra.name ?? figures.name,
  value: figures.ns * (extra.scale ?? 1),
  unit: extra.unit ?? 'ns',
  baseline,
  ratio: figures.ratio,
  samples: [...figures.ratios],
  ...(extra.note === undefined ? {} : { note: extra.note }),
})

/** A result row of a baseline's own figures (no ratio), its per-repeat values as `samples`. */
export const baselineRow = (
  figures: CaseFigures,
  extra: { readonly unit?: string; readonly scale?: number; readonly note?: string; readonly name?: string } = {},
): BenchResult => ({
  name: extra.name ?? figures.name,
  value: figures.ns * (extra.scale ?? 1),
  unit: extra.unit ?? 'ns',
  samples: figures.samples.map((x) => x * (extra.scale ?? 1)),
  ...(extra.note === undefined ? {} : { note: extra.note }),
})

/** `f(a.samples[r], b.samples[r])` for every repeat `r`: a figure derived per repeat (take its {@link median}). */
export const perRepeat = (
  a: CaseFigures,
  b: CaseFigures,
  f: (x: number, y: number) => number = (x, y) => x / y,
): number[] => a.samples.map((x, r) => f(x, b.samples[r]!))

/** The states of the 5-state cycle the engine benches run (`A` → `B` → … → `E` → `A`, until `Done`). */
export type Cycle = 'A' | 'B' | 'C' | 'D' | 'E' | 'Done'
/** The state after each state of the cycle. */
export const NEXT: Readonly<Record<Exclude<Cycle, 'Done'>, Cycle>> = { A: 'B', B: 'C', C: 'D', D: 'E', E: 'A' }

/**
 * A 5-state cycle of async tasks, all under `config`: `run(n)` makes `n` transitions through
 * `orchestrate` and resolves when the run reaches `Done`.
 */
export const taskCycle = (config: TaskConfig | undefined): ((n: number) => Promise<Cycle>) => {
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
  return (n) => {
    left = n
    return flow.orchestrate('A')
  }
}
