/**
 * Shared benchmark plumbing. Every `bench/*.bench.ts` exports `run(): Promise<BenchResult[]>` and compares
 * against baselines measured in the same process, in the same run, so the ratios are meaningful on any
 * machine. Timings use `process.hrtime.bigint()`; a measurement is the median of several repeats after a
 * warm-up, in nanoseconds per operation.
 */
import { pathToFileURL } from 'node:url'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One line of a benchmark report. */
export interface BenchResult {
  readonly name: string
  readonly value: number
  /** `ns/op`, `ops/s`, `x` (a ratio), … */
  readonly unit: string
  /** The name of the result this one is compared with. */
  readonly baseline?: string
  /** `value / baseline.value`, or another ratio the note explains. */
  readonly ratio?: number
  readonly note?: string
}

/** How long to measure. */
export interface MeasureOptions {
  /** Calls per repeat. */
  readonly iterations: number
  /** Timed repeats (at least 5); the median is reported. Default 7. */
  readonly repeats?: number
  /** Untimed calls before the first repeat, to let the JIT settle. Default `iterations`. */
  readonly warmup?: number
}

// -------------------------------------------------------------------------------------
// measuring
// -------------------------------------------------------------------------------------

/** The median of `xs` (the mean of the two middle values for an even count). */
export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'

/**
 * Median ns per call of `fn` over `repeats` (≥ 5) timed loops of `iterations` calls, after a warm-up.
 * When `fn` returns a Promise, each call is awaited before the next one starts.
 */
export const measure = async (fn: () => unknown, options: MeasureOptions): Promise<number> => {
  const { iterations } = options
  const repeats = Math.max(5, options.repeats ?? 7)
  const warmup = options.warmup ?? iterations
  const isAsync = isThenable(fn())
  const loop = isAsync
    ? async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) await fn()
      }
    : (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) fn()
        return Promise.resolve()
      }
  await loop(warmup)
  const samples: number[] = []
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint()
    await loop(iterations)
    samples.push(Number(process.hrtime.bigint() - start) / iterations)
  }
  return median(samples)
}

// -------------------------------------------------------------------------------------
// reporting
// -------------------------------------------------------------------------------------

const format = (n: number): string => {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 100) return n.toFixed(0)
  if (Math.abs(n) >= 10) return n.toFixed(1)
  return n.toFixed(3)
}

/** The results as an aligned text table. */
export const formatTable = (title: string, results: ReadonlyArray<BenchResult>): string => {
  const header = ['name', 'value', 'unit', 'baseline', 'ratio', 'note']
  const rows = results.map((r) => [
    r.name,
    format(r.value),
    r.unit,
    r.baseline ?? '',
    r.ratio === undefined ? '' : format(r.ratio),
    r.note ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: ReadonlyArray<string>): string =>
    cells
      .map((c, i) => (i === 1 || i === 4 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** Is the module at `importMetaUrl` the script node was started with (`npx tsx bench/x.bench.ts`)? */
export const isMain = (importMetaUrl: string): boolean => {
  const script = process.argv[1]
  return script !== undefined && importMetaUrl === pathToFileURL(script).href
}
