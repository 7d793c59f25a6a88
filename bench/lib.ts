/**
 * Shared helpers of the benchmarks under `bench/`: the result shape every `run()` returns, a timer that
 * reports the median ns per call over repeats, medians, and a plain-text table. Benchmarks report ratios
 * against a baseline measured in the same process, in the same run, never absolute
 * timings as pass/fail.
 *
 * @since 0.1.0
 */
import { pathToFileURL } from 'node:url'

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
 * untimed warm-up. When `fn` returns a Promise, each call is awaited before the next one starts.
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
