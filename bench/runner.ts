/**
 * The command line of `npm run bench` (issue 16), called by `run.ts` with the list of benchmarks:
 *
 *   npm run bench                                   all of them; writes bench/results/latest.json and a timestamped copy
 *   npm run bench -- engine split                   only those whose name starts with one of the words
 *   npm run bench -- engine --compare FILE          runs, then prints what moved beyond the noise since FILE
 *   npm run bench -- --compare OLD --to NEW         compares two result files, runs nothing
 *   npm run bench -- --readme [FILE...]             rewrites the generated section of bench/README.md from
 *                                                   FILEs (default: every bench/results/*.json but latest.json)
 *   --no-save                                       runs without writing a result file
 *   --in-process                                    runs the chosen benchmarks in this process, one after another
 *
 * Each benchmark runs in a process of its own (this script again, `--child NAME FILE`, with the same node
 * flags), one after another: a benchmark never sees what an earlier one left in the process (its
 * garbage, its global providers, the inline caches and optimized code its workflows shaped). Measured
 * 2026-12-04: `policies` read 577 B allocated per engine transition after the other fifteen in one
 * process, 352 B on its own.
 *
 * @since 0.1.0
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { type BenchResult, formatTable } from './lib.js'
import { compareRuns, formatComparison, renderReadmeSection, replaceGenerated, type RunFile } from './report.js'

const RESULTS = path.resolve('bench', 'results')
const README = path.resolve('bench', 'README.md')

const readRun = (file: string): RunFile => JSON.parse(readFileSync(file, 'utf8')) as RunFile

const gitCommit = (): string | undefined => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return undefined
  }
}

interface Args {
  readonly words: string[]
  readonly compare?: string
  readonly to?: string
  readonly readme?: string[]
  readonly save: boolean
  readonly inProcess: boolean
  /** `--child NAME FILE`: run benchmark NAME only and write its rows to FILE (the parent reads them). */
  readonly child?: { readonly name: string; readonly file: string }
}

/** Parses `argv` (after the script): words, `--compare FILE`, `--to FILE`, `--readme [FILE...]`, `--no-save`. */
export const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const words: string[] = []
  let compare: string | undefined
  let to: string | undefined
  let readme: string[] | undefined
  let save = true
  let inProcess = false
  let child: { readonly name: string; readonly file: string } | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--child') {
      const name = argv[++i]
      const file = argv[++i]
      if (name === undefined || file === undefined) throw new Error('--child needs a benchmark and a file')
      child = { name, file }
    } else if (a === '--compare' || a === '--to') {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a file`)
      if (a === '--compare') compare = v
      else to = v
    } else if (a === '--readme' || a === '--write-readme') readme = []
    else if (a === '--no-save') save = false
    else if (a === '--in-process') inProcess = true
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else if (readme !== undefined) readme.push(a)
    else words.push(a)
  }
  return {
    words,
    save,
    inProcess,
    ...(child === undefined ? {} : { child }),
    ...(compare === undefined ? {} : { compare }),
    ...(to === undefined ? {} : { to }),
    ...(readme === undefined ? {} : { readme }),
  }
}

const writeReadme = (files: ReadonlyArray<string>): void => {
  const chosen =
    files.length > 0
      ? files
      : readdirSync(RESULTS)
          .filter((f) => f.endsWith('.json') && f !== 'latest.json')
          .map((f) => path.join(RESULTS, f))
  const section = renderReadmeSection(chosen.map(readRun))
  writeFileSync(README, replaceGenerated(readFileSync(README, 'utf8'), section))
  console.log(`bench/README.md: generated section rewritten from ${String(chosen.length)} result file(s)`)
}

/** Runs benchmark `name` in a fresh process (this script, the same node flags) and reads its rows from `file`. */
const runInChild = (name: string, file: string): BenchResult[] => {
  const script = process.argv[1]
  if (script === undefined) throw new Error('cannot tell which script to run again')
  const child = spawnSync(process.execPath, [...process.execArgv, script, '--child', name, file], {
    stdio: 'inherit',
  })
  if (child.status !== 0) throw new Error(`benchmark ${name} failed (exit ${String(child.status ?? child.signal)})`)
  return JSON.parse(readFileSync(file, 'utf8')) as BenchResult[]
}

/** Runs the command line over `all` (name, run) pairs. */
export const main = async (
  all: ReadonlyArray<readonly [string, () => Promise<BenchResult[]>]>,
  argv: ReadonlyArray<string> = process.argv.slice(2),
): Promise<void> => {
  const args = parseArgs(argv)
  if (args.child !== undefined) {
    const name = args.child.name
    const entry = all.find(([n]) => n === name)
    if (entry === undefined) throw new Error(`no benchmark ${name}`)
    writeFileSync(args.child.file, JSON.stringify(await entry[1]()))
    return
  }
  if (args.readme !== undefined) return writeReadme(args.readme)
  if (args.compare !== undefined && args.to !== undefined) {
    console.log(formatComparison(compareRuns(readRun(args.compare), readRun(args.to)), args.compare, args.to))
    return
  }
  const chosen = args.words.length === 0 ? all : all.filter(([name]) => args.words.some((w) => name.startsWith(w)))
  const startedAt = new Date().toISOString()
  const loadStart = os.loadavg()
  console.log(
    `node ${process.version}, ${String(os.cpus().length)} cores, ${startedAt}, load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`,
  )
  const benches: Record<string, BenchResult[]> = {}
  const isolated = !args.inProcess && chosen.length > 1
  const scratch = isolated ? mkdtempSync(path.join(os.tmpdir(), 'cano-bench-')) : undefined
  try {
    for (const [name, run] of chosen) {
      console.log(`\n## ${name}`)
      const rows = scratch === undefined ? await run() : runInChild(name, path.join(scratch, `${name}.json`))
      benches[name] = rows
      console.log(formatTable(rows))
    }
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
  }
  const cpus = os.cpus()
  const commit = gitCommit()
  const file: RunFile = {
    version: 1,
    startedAt,
    endedAt: new Date().toISOString(),
    ...(commit === undefined ? {} : { commit }),
    machine: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      totalMemGiB: Math.round(os.totalmem() / 2 ** 30),
      loadStart,
      loadEnd: os.loadavg(),
    },
    benches,
  }
  console.log(`\nload average at the end: ${file.machine.loadEnd.map((x) => x.toFixed(2)).join(' ')}`)
  if (args.save) {
    mkdirSync(RESULTS, { recursive: true })
    const json = `${JSON.stringify(file, null, 1)}\n`
    const stamped = path.join(RESULTS, `${startedAt.replace(/[:.]/g, '-')}.json`)
    writeFileSync(stamped, json)
    writeFileSync(path.join(RESULTS, 'latest.json'), json)
    console.log(`results: ${path.relative(process.cwd(), stamped)} (and latest.json)`)
  }
  if (args.compare !== undefined)
    console.log(`\n${formatComparison(compareRuns(readRun(args.compare), file), args.compare, 'this run')}`)
}
