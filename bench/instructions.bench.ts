/**
 * Deterministic per-transition costs (issue 16, the breaker target): machine instructions and bytes
 * allocated per transition of the engine's 5-state task cycle, with and without a circuit breaker on each
 * task, and per call of a direct `await fn()` and of cockatiel's breaker `execute(fn)`. The timed figures
 * of `policies.bench.ts` are differences of two ~0.3-0.5 µs figures on a shared machine; instruction
 * counts do not depend on the load.
 *
 * Each variant runs in a process of its own (`instructions.child.ts`) under `valgrind --tool=callgrind`,
 * with V8 in predictable mode (single-threaded, fixed seeds: the counts repeat within ~10 instructions per transition): an
 * untimed warm-up, then `n` transitions. The per-transition figure is the median of the slopes between
 * every two of four run lengths (Theil-Sen): start-up, module loading and warm-up cancel out, and one
 * run that is off does not move it. An overhead is taken the same way from the per-length differences
 * of two variants. Measured 2026-12-04 on six run lengths: the engine's instructions are linear in the
 * transitions within ~3%, but about one run in six of a variant is off by ~40M instructions (where the
 * scavenges and the compiler's work fall), hence the median. About 3-4 minutes (16 processes under
 * valgrind, two at a time). Without valgrind
 * the instruction rows say so and only the allocation rows are measured (nothing fails).
 *
 *   npm run bench -- instructions
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *     node --expose-gc --predictable --hash-seed=1 --random-seed=1 .bench-dist/bench/instructions.child.js engine+breaker 20000
 */
import { execFile, execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { type BenchResult, formatTable, isMain, median } from './lib.js'

/** The run lengths (transitions after the warm-up): the figure is the median slope over their pairs. */
const NS = [10_000, 40_000, 70_000, 100_000] as const
const VARIANTS = ['engine', 'engine+breaker', 'direct', 'cockatiel'] as const
type Variant = (typeof VARIANTS)[number]

const CHILD = fileURLToPath(new URL('./instructions.child.js', import.meta.url))
// --predictable: single-threaded V8 (no concurrent compiler or gc racing the measured code); fixed seeds
// a 1 MB young generation: frequent small scavenges, so where the last one falls moves a figure little
const NODE_FLAGS = [
  '--expose-gc',
  '--predictable',
  '--hash-seed=1',
  '--random-seed=1',
  '--min-semi-space-size=1',
  '--max-semi-space-size=1',
]

const hasValgrind = (): boolean => {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

interface Sample {
  readonly instructions: number | undefined
  readonly bytes: number
}

const parseBytes = (stdout: string): number =>
  (JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { bytes: number }).bytes

/** One child run of `variant` making `n` transitions: callgrind's total instructions and the bytes allocated. */
const sample = async (variant: Variant, n: number, valgrind: boolean): Promise<Sample> => {
  const args = [...NODE_FLAGS, CHILD, variant, String(n)]
  if (!valgrind) {
    const { stdout } = await promisify(execFile)(process.execPath, args, { encoding: 'utf8' })
    return { instructions: undefined, bytes: parseBytes(stdout) }
  }
  const { stdout, stderr } = await promisify(execFile)(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, ...args],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  )
  const collected = /Collected\s*:\s*(\d+)/.exec(stderr)?.[1]
  if (collected === undefined) throw new Error(`no instruction count from callgrind for ${variant} ${n}: ${stderr}`)
  return { instructions: Number(collected), bytes: parseBytes(stdout) }
}

export async function run(): Promise<BenchResult[]> {
  const valgrind = hasValgrind()
  const jobs = VARIANTS.flatMap((v) => NS.map((n) => ({ v, n })))
  const results = new Map<string, Sample>()
  // two at a time (the machine has 2 cores; the counts do not depend on the load anyway)
  for (let i = 0; i < jobs.length; i += 2) {
    const batch = jobs.slice(i, i + 2)
    const out = await Promise.all(batch.map(({ v, n }) => sample(v, n, valgrind)))
    batch.forEach(({ v, n }, k) => results.set(`${v}:${n}`, out[k] as Sample))
  }
  const at = (v: Variant, key: keyof Sample): number[] => NS.map((n) => results.get(`${v}:${n}`)?.[key] ?? Number.NaN)
  /** The median slope of `ys` (one per run length) over every pair of run lengths: per transition (or call). */
  const slope = (ys: ReadonlyArray<number>): number => {
    const slopes: number[] = []
    for (let i = 0; i < NS.length; i++)
      for (let j = i + 1; j < NS.length; j++)
        slopes.push(((ys[j] ?? Number.NaN) - (ys[i] ?? Number.NaN)) / ((NS[j] ?? Number.NaN) - (NS[i] ?? Number.NaN)))
    return median(slopes)
  }
  const per = (v: Variant, key: keyof Sample): number => slope(at(v, key))
  /** What `v` costs over `base`, per transition: the median slope of the per-length differences. */
  const over = (v: Variant, base: Variant, key: keyof Sample): number => {
    const b = at(base, key)
    return slope(at(v, key).map((y, i) => y - (b[i] ?? Number.NaN)))
  }
  const bytesRow = (v: Variant, what: string): BenchResult => ({
    name: `allocated per ${what}: ${v}`,
    value: per(v, 'bytes'),
    unit: 'B',
  })
  const allocations = [
    bytesRow('engine', 'transition'),
    bytesRow('engine+breaker', 'transition'),
    bytesRow('direct', 'call'),
    bytesRow('cockatiel', 'call'),
    {
      name: 'allocated: engine breaker overhead per transition',
      value: per('engine+breaker', 'bytes') - per('engine', 'bytes'),
      unit: 'B',
      baseline: 'cockatiel breaker overhead',
      ratio:
        (per('engine+breaker', 'bytes') - per('engine', 'bytes')) /
        (per('cockatiel', 'bytes') - per('direct', 'bytes')),
    },
  ]
  if (!valgrind)
    return [
      {
        name: 'instructions per transition: skipped',
        value: 0,
        unit: 'skipped',
        note: 'valgrind is not installed: no instruction counts (apt-get install valgrind)',
      },
      ...allocations,
    ]
  const engineOver = over('engine+breaker', 'engine', 'instructions')
  const cockatielOver = over('cockatiel', 'direct', 'instructions')
  const row = (v: Variant, what: string): BenchResult => ({
    name: `instructions per ${what}: ${v}`,
    value: per(v, 'instructions'),
    unit: 'instr',
  })
  return [
    row('engine', 'transition'),
    row('engine+breaker', 'transition'),
    row('direct', 'call'),
    row('cockatiel', 'call'),
    {
      name: 'instructions: cockatiel breaker overhead (execute(fn) - await fn())',
      value: cockatielOver,
      unit: 'instr',
    },
    {
      name: 'instructions: engine breaker overhead per transition',
      value: engineOver,
      unit: 'instr',
      baseline: 'cockatiel breaker overhead',
      ratio: engineOver / cockatielOver,
      note: `target <= 0.5x; callgrind, median slope over ${NS.join(', ')} transitions, node --predictable`,
    },
    ...allocations,
  ]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
