/**
 * Split benchmark (issue 3): a split of 1 000 branches, each an immediately resolving async function,
 * run through `runSplitState` (strategy `all`, default branch config, nobody listening to events)
 * against `Promise.all` over the same functions. Each repeat times both sides over the same number of
 * splits (`compareCases`: a warm-up and a gc before each sample, rotating order) and records their
 * ratio; the figure is the median ratio over the repeats. Target: at most 5x `Promise.all`. Two variants are reported beside it: events on
 * (every event built and collected), and a bulkhead of 64.
 *
 *   npx tsc -p tsconfig.bench.json && node .bench-dist/bench/split.bench.js
 *
 * (compiled: tsx adds a per-closure `__name` helper that distorts timings)
 */
import { pathToFileURL } from 'node:url'

import { asyncScheduler, firstValueFrom } from 'rxjs'

import { JoinStrategy } from '../src/JoinStrategy.js'
import { Resources } from '../src/Resources.js'
import { split, type SplitHandler } from '../src/Split.js'
import { resolveTaskConfig } from '../src/TaskConfig.js'
import type { NoResources } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { runSplitState } from '../streams/runSplitState.js'
import type { StateEnv } from '../streams/stateRunner.js'
import { type BenchCase, type BenchResult, compareCases, formatTable } from './lib.js'

type St = 'FanOut' | 'Join'

const BRANCHES = 1_000
const SPLITS_PER_SAMPLE = 20
const REPEATS = 9
const WARMUP_SPLITS = 100
const TARGET_RATIO = 5

const fns: ReadonlyArray<() => Promise<number>> = Array.from({ length: BRANCHES }, (_, i) => async () => i)

const envWith = (emit: ((e: WorkflowEvent<St>) => void) | undefined): StateEnv<St, NoResources> => ({
  workflowId: 'bench',
  state: 'FanOut',
  taskId: 'FanOut',
  res: Resources.empty(),
  runSignal: new AbortController().signal,
  scheduler: asyncScheduler,
  random: Math.random,
  now: () => asyncScheduler.now(),
  emit,
  split: undefined,
  input: undefined,
  config: resolveTaskConfig({}),
  to: new Set(['Join']),
  fast: true,
  publishSplit: () => undefined,
  // as the engine's envs (RunEnv) do: the run's abort is watched without building the run's signal
  watchRunAbort: () => undefined,
  runAbortReason: undefined,
})

interface Side {
  readonly name: string
  readonly once: () => Promise<unknown>
}

/** Median over repeats of `split / Promise.all` (each warmed up and collected before its sample, rotating), plus each side's median µs per split. */
const compare = async (
  subject: Side,
  baseline: Side,
): Promise<{ ratio: number; subjectUs: number; baselineUs: number; ratios: number[] }> => {
  const asCase = (side: Side): BenchCase => ({
    name: side.name,
    run: async () => {
      for (let i = 0; i < SPLITS_PER_SAMPLE; i++) await side.once()
    },
    ops: SPLITS_PER_SAMPLE,
  })
  const c = await compareCases({
    baseline: asCase(baseline),
    cases: [asCase(subject)],
    repeats: REPEATS,
    warmup: WARMUP_SPLITS / SPLITS_PER_SAMPLE,
  })
  const s = c.cases[0]!
  return { ratio: s.ratio, subjectUs: s.ns / 1_000, baselineUs: c.baseline.ns / 1_000, ratios: [...s.ratios] }
}

const splitSide = (name: string, handler: SplitHandler<St>, env: StateEnv<St, NoResources>): Side => ({
  name,
  once: () => firstValueFrom(runSplitState(handler, env)),
})

/** Runs the split benchmarks. */
export async function run(): Promise<BenchResult[]> {
  const promiseAll: Side = { name: 'Promise.all', once: () => Promise.all(fns.map((f) => f())) }
  const plain = split<St>(fns, { strategy: JoinStrategy.all(), join: 'Join' })
  const bulkheaded = split<St>(fns, { strategy: JoinStrategy.all(), join: 'Join', bulkhead: 64 })
  let sink: WorkflowEvent<St>[] = []
  const listening = envWith((e) => sink.push(e))
  const variants: ReadonlyArray<readonly [Side, string]> = [
    [splitSide(`split of ${BRANCHES} branches (all)`, plain, envWith(undefined)), `target <= ${TARGET_RATIO}x`],
    [
      {
        name: `split of ${BRANCHES} branches, events on`,
        once: async () => {
          sink = []
          return firstValueFrom(runSplitState(plain, listening))
        },
      },
      `${2 * BRANCHES + 2} events per split`,
    ],
    [
      splitSide(`split of ${BRANCHES} branches, bulkhead 64`, bulkheaded, envWith(undefined)),
      'slot counter, 64 in flight',
    ],
  ]
  const results: BenchResult[] = []
  for (const [side, note] of variants) {
    const { ratio, subjectUs, baselineUs, ratios } = await compare(side, promiseAll)
    results.push(
      { name: `${promiseAll.name} over the same ${BRANCHES} functions`, value: baselineUs, unit: 'µs/split' },
      {
        name: side.name,
        value: subjectUs,
        unit: 'µs/split',
        baseline: promiseAll.name,
        ratio,
        samples: ratios,
        note: `median of ${REPEATS} per-repeat ratios; ${note}`,
      },
    )
  }
  return results
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatTable(await run()))
}
