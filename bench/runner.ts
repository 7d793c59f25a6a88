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
 *
 * @since 0.1.0
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
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
}

/** Parses `argv` (after the script): words, `--compare FILE`, `--to FILE`, `--readme [FILE...]`, `--no-save`. */
export const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const words: string[] = []
  let compare: string | undefined
  let to: string | undefined
  let readme: string[] | undefined
  let save = true
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--compare' || a === '--to') {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a file`)
      if (a === '--compare') compare = v
      else to = v
    } else if (a === '--readme' || a === '--write-readme') readme = []
    else if (a === '--no-save') save = false
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else if (readme !== undefined) readme.push(a)
    else words.push(a)
  }
  return {
    words,
    save,
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

/** Runs the command line over `all` (name, run) pairs. */
export const main = async (
  all: ReadonlyArray<readonly [string, () => Promise<BenchResult[]>]>,
  argv: ReadonlyArray<string> = process.argv.slice(2),
): Promise<void> => {
  const args = parseArgs(argv)
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
  for (const [name, run] of chosen) {
    console.log(`\n## ${name}`)
    const rows = await run()
    benches[name] = rows
    console.log(formatTable(rows))
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
