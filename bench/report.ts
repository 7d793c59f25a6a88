/**
 * What `npm run bench` keeps of a run and does with it (issue 16): the JSON file each run writes
 * (`bench/results/latest.json` and a timestamped copy), the comparison of two such files that reports only
 * what moved beyond the noise, and the generated section of `bench/README.md`. Everything here is pure
 * (no clock, no file system) so that it is unit-tested; `run.ts` does the I/O.
 *
 * @since 0.1.0
 */
import { type BenchResult, formatTable, quartiles } from './lib.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** The machine a run was measured on. */
export interface MachineInfo {
  readonly node: string
  readonly platform: string
  readonly arch: string
  readonly cpus: number
  readonly cpuModel: string
  readonly totalMemGiB: number
  /** `os.loadavg()` when the run started and when it ended. */
  readonly loadStart: ReadonlyArray<number>
  readonly loadEnd: ReadonlyArray<number>
}

/** One `npm run bench` run as written to `bench/results/*.json`. */
export interface RunFile {
  readonly version: 1
  /** ISO time the run started. */
  readonly startedAt: string
  readonly endedAt: string
  /** `git rev-parse --short HEAD` when known. */
  readonly commit?: string
  readonly machine: MachineInfo
  /** The benchmark files run, by name, with their rows. */
  readonly benches: Readonly<Record<string, ReadonlyArray<BenchResult>>>
}

// -------------------------------------------------------------------------------------
// noise
// -------------------------------------------------------------------------------------

/** The figure a row is read by: its ratio when it has one, its value otherwise. */
export const figureOf = (r: BenchResult): number => r.ratio ?? r.value

/**
 * The noise band of a row: the interquartile range of its per-repeat samples, relative to its figure
 * (`undefined` when it has fewer than 3 samples).
 */
export const relativeSpread = (r: BenchResult): number | undefined => {
  const s = r.samples
  if (s === undefined || s.length < 3) return undefined
  const { q1, q3 } = quartiles(s)
  const f = Math.abs(figureOf(r))
  return f === 0 ? undefined : (q3 - q1) / f
}

/** When a row has no samples, a move counts only beyond this relative change. */
export const NO_SAMPLES_THRESHOLD = 0.1
/** Moves smaller than this are never reported, however tight the samples. */
export const MIN_THRESHOLD = 0.02

/**
 * The relative change a move of the figure must exceed to be reported: the larger of the two rows' IQR
 * (relative to their figures), at least {@link MIN_THRESHOLD}; {@link NO_SAMPLES_THRESHOLD} when neither
 * row has samples.
 */
export const noiseBand = (before: BenchResult, after: BenchResult): number => {
  const spreads = [relativeSpread(before), relativeSpread(after)].filter((x): x is number => x !== undefined)
  if (spreads.length === 0) return NO_SAMPLES_THRESHOLD
  return Math.max(MIN_THRESHOLD, ...spreads)
}

/** One row present in both runs. */
export interface Move {
  readonly bench: string
  readonly name: string
  readonly before: number
  readonly after: number
  /** `after / before - 1`. */
  readonly change: number
  /** The relative band the change is judged against (see {@link noiseBand}). */
  readonly band: number
  readonly moved: boolean
  readonly unit: string
}

/** What two runs have in common, row by row (matched by bench and row name), and what only one has. */
export interface RunComparison {
  readonly moves: ReadonlyArray<Move>
  readonly onlyBefore: ReadonlyArray<string>
  readonly onlyAfter: ReadonlyArray<string>
}

/** Compares the rows of two runs (see {@link noiseBand} for when a row moved). */
export const compareRuns = (before: RunFile, after: RunFile): RunComparison => {
  const key = (bench: string, name: string): string => `${bench} / ${name}`
  const index = (f: RunFile): Map<string, readonly [string, BenchResult]> => {
    const m = new Map<string, readonly [string, BenchResult]>()
    for (const [bench, rows] of Object.entries(f.benches)) for (const r of rows) m.set(key(bench, r.name), [bench, r])
    return m
  }
  const b = index(before)
  const a = index(after)
  const moves: Move[] = []
  for (const [k, [bench, ra]] of a) {
    const hit = b.get(k)
    if (hit === undefined) continue
    const rb = hit[1]
    const fb = figureOf(rb)
    const fa = figureOf(ra)
    if (!Number.isFinite(fb) || !Number.isFinite(fa)) continue
    const change = fb === 0 ? (fa === 0 ? 0 : Number.POSITIVE_INFINITY) : fa / fb - 1
    const band = noiseBand(rb, ra)
    moves.push({
      bench,
      name: ra.name,
      before: fb,
      after: fa,
      change,
      band,
      moved: Math.abs(change) > band,
      unit: ra.ratio === undefined ? ra.unit : `x ${ra.baseline ?? 'baseline'}`,
    })
  }
  return {
    moves,
    onlyBefore: [...b.keys()].filter((k) => !a.has(k)),
    onlyAfter: [...a.keys()].filter((k) => !b.has(k)),
  }
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2))
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`

/** The report `--compare` prints: the rows that moved beyond their band, then a count of those that did not. */
export const formatComparison = (c: RunComparison, beforeLabel: string, afterLabel: string): string => {
  const moved = c.moves.filter((m) => m.moved)
  const lines = [
    `compared ${beforeLabel} -> ${afterLabel}: ${moved.length} of ${c.moves.length} rows moved beyond the noise`,
  ]
  if (moved.length > 0) {
    const header = ['bench', 'row', 'before', 'after', 'change', 'band', 'unit']
    const rows = moved.map((m) => [
      m.bench,
      m.name,
      fmt(m.before),
      fmt(m.after),
      pct(m.change),
      `±${(m.band * 100).toFixed(1)} %`,
      m.unit,
    ])
    const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)))
    for (const r of [header, ...rows])
      lines.push(
        r
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
  }
  lines.push(`${c.moves.length - moved.length} rows within the noise`)
  if (c.onlyBefore.length > 0) lines.push(`only in ${beforeLabel}: ${c.onlyBefore.join('; ')}`)
  if (c.onlyAfter.length > 0) lines.push(`only in ${afterLabel}: ${c.onlyAfter.join('; ')}`)
  return lines.join('\n')
}

// -------------------------------------------------------------------------------------
// README
// -------------------------------------------------------------------------------------

/** The markers around the generated section of `bench/README.md`. */
export const README_START = '<!-- bench:generated:start (npm run bench -- --readme; edits inside are overwritten) -->'
export const README_END = '<!-- bench:generated:end -->'

const loadText = (l: ReadonlyArray<number>): string => l.map((x) => x.toFixed(2)).join(' ')

/**
 * The generated section: for every bench, the newest run among `runs` that has it, as a table under
 * the run's time, machine and load.
 */
export const renderReadmeSection = (runs: ReadonlyArray<RunFile>): string => {
  const newest = new Map<string, RunFile>()
  for (const f of [...runs].sort((x, y) => x.startedAt.localeCompare(y.startedAt)))
    for (const bench of Object.keys(f.benches)) newest.set(bench, f)
  const out: string[] = [
    'Generated from `bench/results/*.json` (the newest run of each benchmark). Ratios are medians of',
    'per-repeat ratios against a baseline measured in the same run; absolute figures move with the load.',
  ]
  for (const bench of [...newest.keys()].sort()) {
    const f = newest.get(bench)!
    const m = f.machine
    out.push(
      '',
      `### ${bench}`,
      '',
      `${f.startedAt.slice(0, 16).replace('T', ' ')} UTC${f.commit === undefined ? '' : `, commit \`${f.commit}\``}; node ${m.node}, ${String(m.cpus)} cores (${m.cpuModel}); load average ${loadText(m.loadStart)} at the start, ${loadText(m.loadEnd)} at the end.`,
      '',
      '```text',
      formatTable(f.benches[bench] ?? []),
      '```',
    )
  }
  return out.join('\n')
}

/**
 * `readme` with the text between {@link README_START} and {@link README_END} replaced by `section`;
 * when the markers are missing, the section is appended at the end under them. Text outside the markers is kept as is.
 */
export const replaceGenerated = (readme: string, section: string): string => {
  const start = readme.indexOf(README_START)
  const end = readme.indexOf(README_END)
  if (start === -1 || end === -1 || end < start)
    return `${readme.replace(/\n*$/, '')}\n\n${README_START}\n\n${section}\n\n${README_END}\n`
  return `${readme.slice(0, start + README_START.length)}\n\n${section}\n\n${readme.slice(end)}`
}
