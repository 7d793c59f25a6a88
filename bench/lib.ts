/**
 * Shared helpers of the benchmarks under `bench/`: the result shape every `run()` returns, medians over
 * repeats, and a plain-text table. Benchmarks report ratios against a baseline measured in the same
 * process (DESIGN.md section 6), never absolute timings as pass/fail.
 *
 * @since 0.1.0
 */

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

/** Runs `once` `repeats` times, one after the other, and returns the median of what it returned. */
export const measure = async (repeats: number, once: (repeat: number) => Promise<number>): Promise<number> => {
  const samples: Array<number> = []
  for (let i = 0; i < repeats; i++) samples.push(await once(i))
  return median(samples)
}

/** Formats results as an aligned plain-text table. */
export const formatTable = (results: ReadonlyArray<BenchResult>): string => {
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
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
