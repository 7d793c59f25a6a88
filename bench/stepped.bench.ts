/**
 * Issue 16 items 2 and 4: the `stepped` loop per synchronous step against a bare RxJS `expand` loop
 * (1 000 000 steps, heap before and after), `retryAsync` on its success path against a direct call, and
 * the `retryWithBackoff` operator against the same source without it.
 *
 * Every case gets an untimed warm-up and a gc before each timed repetition, and the cases of a group
 * run in a rotating order, so that no case is measured right after another's garbage. Ratios are the
 * medians of the per-round ratios (a slow moment of the machine hits both sides of a round).
 *
 *   npm run bench -- stepped
 */
import * as t from 'io-ts'
import { defer, EMPTY, expand, firstValueFrom, last, type Observable, of, queueScheduler, subscribeOn } from 'rxjs'

import { workflow } from '../roots/Workflow.js'
import { RetryMode } from '../src/RetryMode.js'
import { StepOutcome, stepped } from '../src/Stepped.js'
import { retryAsync } from '../streams/retryAsync.js'
import { retryWithBackoff } from '../streams/retryWithBackoff.js'
import { runStepped } from '../streams/runStepped.js'
import { type BenchResult, formatTable, isMain, median } from './lib.js'

const gcNow = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run node with --expose-gc')
  gc()
  gc()
}

/** A benchmark case: runs `n` units (steps, calls) and resolves when they are done. */
interface Case {
  readonly name: string
  readonly run: (n: number) => Promise<void>
}

/** Per case, per round: wall-clock ns per unit, and the process's CPU ns (user + system) per unit. */
interface Samples {
  readonly wall: number[][]
  readonly cpu: number[][]
}

/**
 * Times each case over `rounds` rounds; round `r` starts at case `r % cases.length`. Each case gets an
 * untimed warm-up of `warmup` units before every timed run, then a gc, then the timed run of `units`.
 * CPU time is kept beside wall time: on a shared machine another process's load stretches wall time
 * more than this process's own CPU time.
 */
const rotate = async (cases: ReadonlyArray<Case>, units: number, warmup: number, rounds: number): Promise<Samples> => {
  const wall: number[][] = cases.map(() => [])
  const cpu: number[][] = cases.map(() => [])
  for (let r = 0; r < rounds; r++)
    for (let k = 0; k < cases.length; k++) {
      const i = (r + k) % cases.length
      const c = cases[i]!
      await c.run(warmup)
      gcNow()
      const cpu0 = process.cpuUsage()
      const start = process.hrtime.bigint()
      await c.run(units)
      wall[i]!.push(Number(process.hrtime.bigint() - start) / units)
      const used = process.cpuUsage(cpu0)
      cpu[i]!.push(((used.user + used.system) * 1000) / units)
    }
  return { wall, cpu }
}

/** The median over rounds of `a[r] / b[r]`. */
const ratioOf = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => median(a.map((x, r) => x / b[r]!))

/** `<i> vs <j>` as a result row: wall-clock median and ratio, the CPU-time ratio in the note. */
const versus = (
  s: Samples,
  i: number,
  j: number,
  name: string,
  unit: string,
  baseline: string,
  note?: string,
): BenchResult => ({
  name,
  value: median(s.wall[i]!),
  unit,
  baseline,
  ratio: ratioOf(s.wall[i]!, s.wall[j]!),
  note: [`CPU time ${ratioOf(s.cpu[i]!, s.cpu[j]!).toFixed(2)}x`, note].filter((x) => x !== undefined).join('; '),
})

// -------------------------------------------------------------------------------------
// stepped
// -------------------------------------------------------------------------------------

const STEPS = 1_000_000

/** A bare RxJS `expand` loop of `n` steps, flat through `queueScheduler` as the stepped loop is. */
const bareExpand = (n: number): Promise<void> =>
  new Promise((resolve, reject) => {
    of(0)
      .pipe(
        expand((i: number): Observable<number> => (i < n ? of(i + 1).pipe(subscribeOn(queueScheduler)) : EMPTY)),
        last(),
      )
      .subscribe({ complete: resolve, error: reject })
  })

const countTo = (n: number) =>
  workflow<'Scan' | 'Done'>()({
    exits: ['Done'],
    states: {
      Scan: stepped({
        cursor: t.number,
        step: (_ctx, c) => ((c ?? 0) >= n ? StepOutcome.done('Done' as const) : StepOutcome.more((c ?? 0) + 1)),
      }),
    },
  })

const Cursor = t.type({ n: t.number })
const countObjects = (n: number) =>
  workflow<'Scan' | 'Done'>()({
    exits: ['Done'],
    states: {
      Scan: stepped({
        cursor: Cursor,
        step: (_ctx, c) => {
          const i = c?.n ?? 0
          return i >= n ? StepOutcome.done('Done' as const) : StepOutcome.more({ n: i + 1 })
        },
      }),
    },
  })

const flows = new Map<number, { readonly orchestrate: (s: 'Scan') => Promise<unknown> }>()
const objectFlows = new Map<number, { readonly orchestrate: (s: 'Scan') => Promise<unknown> }>()
const cached = <F>(m: Map<number, F>, n: number, make: (n: number) => F): F => {
  const f = m.get(n) ?? make(n)
  m.set(n, f)
  return f
}

const workflowSteps = async (n: number): Promise<void> => {
  await cached(flows, n, countTo).orchestrate('Scan')
}
const workflowObjectSteps = async (n: number): Promise<void> => {
  await cached(objectFlows, n, countObjects).orchestrate('Scan')
}
const standaloneSteps = async (n: number): Promise<void> => {
  await runStepped({
    cursor: t.number,
    step: (_ctx, c) => ((c ?? 0) >= n ? StepOutcome.done(c) : StepOutcome.more((c ?? 0) + 1)),
  })
}

/** Heap after gc at step 1 and at the last step of a workflow's stepped loop of `n` steps. */
const heapOver = async (n: number): Promise<readonly [number, number]> => {
  const at: number[] = []
  const flow = workflow<'Scan' | 'Done'>()({
    exits: ['Done'],
    states: {
      Scan: stepped({
        cursor: t.number,
        step: (_ctx, c) => {
          const i = c ?? 0
          if (i === 1 || i === n) {
            gcNow()
            at.push(process.memoryUsage().heapUsed)
          }
          return i >= n ? StepOutcome.done('Done' as const) : StepOutcome.more(i + 1)
        },
      }),
    },
  })
  await flow.orchestrate('Scan')
  return [at[0] ?? Number.NaN, at[1] ?? Number.NaN]
}

const steppedCases = async (rounds: number): Promise<BenchResult[]> => {
  const cases: Case[] = [
    { name: 'expand', run: bareExpand },
    { name: 'workflow', run: workflowSteps },
    { name: 'standalone', run: standaloneSteps },
    { name: 'object cursor', run: workflowObjectSteps },
  ]
  const samples = await rotate(cases, STEPS, 100_000, rounds)
  const [before, after] = await heapOver(STEPS)
  return [
    {
      name: 'bare RxJS expand loop (queueScheduler), 1 000 000 steps',
      value: median(samples.wall[0]!),
      unit: 'ns/step',
    },
    versus(samples, 1, 0, 'stepped state in a workflow, t.number cursor', 'ns/step', 'expand loop', 'target <= 1.5x'),
    versus(samples, 2, 0, 'runStepped (standalone), t.number cursor', 'ns/step', 'expand loop', 'target <= 1.5x'),
    versus(samples, 3, 0, 'stepped state, t.type({ n }) cursor (JSON round trip kept)', 'ns/step', 'expand loop'),
    {
      name: 'stepped: heap after gc, step 1 -> step 1 000 000',
      value: (after - before) / STEPS,
      unit: 'B/step',
      note: `${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB`,
    },
  ]
}

// -------------------------------------------------------------------------------------
// retry
// -------------------------------------------------------------------------------------

const CALLS = 200_000

const retryCases = async (rounds: number): Promise<BenchResult[]> => {
  const call = async (): Promise<number> => Promise.resolve(1)
  const mode = RetryMode.default()
  const times =
    (f: () => Promise<unknown>) =>
    async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await f()
    }
  const plain$ = defer(() => call())
  const retried$ = plain$.pipe(retryWithBackoff({ mode }))
  const sync$ = of(1)
  const syncRetried$ = sync$.pipe(retryWithBackoff({ mode }))
  const options = { mode }
  const cases: Case[] = [
    { name: 'direct', run: times(() => call()) },
    { name: 'retryAsync', run: times(() => retryAsync(call, options)) },
    { name: 'source', run: times(() => firstValueFrom(plain$)) },
    { name: 'operator', run: times(() => firstValueFrom(retried$)) },
    { name: 'sync source', run: times(() => firstValueFrom(sync$)) },
    { name: 'sync operator', run: times(() => firstValueFrom(syncRetried$)) },
  ]
  const samples = await rotate(cases, CALLS, 50_000, rounds)
  return [
    { name: 'direct call of an async function', value: median(samples.wall[0]!), unit: 'ns/call' },
    versus(
      samples,
      1,
      0,
      'retryAsync(fn, { mode: RetryMode.default() }), success',
      'ns/call',
      'direct call',
      'target <= 2.5x',
    ),
    versus(samples, 2, 0, 'firstValueFrom(defer(() => fn()))', 'ns/call', 'direct call'),
    versus(samples, 3, 2, 'the same .pipe(retryWithBackoff), success', 'ns/call', 'same source', 'target <= 1.3x'),
    { name: 'firstValueFrom(of(1))', value: median(samples.wall[4]!), unit: 'ns/call' },
    versus(
      samples,
      5,
      4,
      'firstValueFrom(of(1).pipe(retryWithBackoff))',
      'ns/call',
      'same source',
      'a synchronous source: the operator alone',
    ),
  ]
}

/** Runs the stepped and retry benchmarks. */
export const run = async (): Promise<BenchResult[]> => {
  // BENCH_ONLY=stepped|retry runs one group (while developing)
  const only = process.env.BENCH_ONLY
  return [...(only === 'retry' ? [] : await steppedCases(5)), ...(only === 'stepped' ? [] : await retryCases(7))]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
