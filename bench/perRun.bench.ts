/**
 * Per-run cost (issue 16, cano's `orchestrate_overhead`): `orchestrate` of a 1-state and a 5-state
 * workflow (validation done once at definition; per run: setup, the run, teardown) against a bare async
 * function doing the same awaits and XState v5's `createActor(machine).start()` run to its final state
 * (each state invokes a promise actor, like a task). Every case gets a warm-up and a young gc before each
 * timed sample, in rotating order (`compareCases`), after 20 000 untimed runs of each workflow. Target: the 5-state `orchestrate` at least 5x faster than
 * XState's actor for the same machine.
 *
 *   npm run bench -- perRun
 */
import { createActor, createMachine, fromPromise, toPromise } from 'xstate'

import { workflow } from '../roots/Workflow.js'
import { task } from '../src/StateHandler.js'
import { baselineRow, type BenchResult, caseRow, compareCases, formatTable, isMain } from './lib.js'

const RUNS = 2_000
const XSTATE_RUNS = 200
const REPEATS = 7
/** Untimed runs of each workflow before the comparison: `orchestrate` reaches its steady cost after ~15 000 runs. */
const PREWARM = 20_000

type Five = 'A' | 'B' | 'C' | 'D' | 'E' | 'Done'

const one = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(async () => 'Done' as const) } })
const five = workflow<Five>()({
  exits: ['Done'],
  states: {
    A: task(async () => 'B' as const),
    B: task(async () => 'C' as const),
    C: task(async () => 'D' as const),
    D: task(async () => 'E' as const),
    E: task(async () => 'Done' as const),
  },
})

const work = fromPromise(async () => 1)
const stateInvoking = (next: string) => ({ invoke: { src: 'work', onDone: next } }) as const
const machine1 = createMachine({
  initial: 'A',
  states: { A: stateInvoking('Done'), Done: { type: 'final' } },
}).provide({ actors: { work } })
const machine5 = createMachine({
  initial: 'A',
  states: {
    A: stateInvoking('B'),
    B: stateInvoking('C'),
    C: stateInvoking('D'),
    D: stateInvoking('E'),
    E: stateInvoking('Done'),
    Done: { type: 'final' },
  },
}).provide({ actors: { work } })

const times = (n: number, f: () => Promise<unknown>) => async (): Promise<void> => {
  for (let i = 0; i < n; i++) await f()
}

const step = async (): Promise<number> => 1
const bare1 = async (): Promise<void> => {
  await step()
}
const bare5 = async (): Promise<void> => {
  await step()
  await step()
  await step()
  await step()
  await step()
}

/** Runs the per-run benchmarks. */
export const run = async (): Promise<BenchResult[]> => {
  await times(PREWARM, () => one.orchestrate('A'))()
  await times(PREWARM, () => five.orchestrate('A'))()
  const c = await compareCases({
    baseline: { name: 'bare async function, 5 awaits', run: times(RUNS, bare5), ops: RUNS },
    cases: [
      { name: 'bare async function, 1 await', run: times(RUNS, bare1), ops: RUNS },
      { name: 'orchestrate, 1-state workflow', run: times(RUNS, () => one.orchestrate('A')), ops: RUNS },
      { name: 'orchestrate, 5-state workflow', run: times(RUNS, () => five.orchestrate('A')), ops: RUNS },
      {
        name: 'XState v5 actor to done, 1 state',
        run: times(XSTATE_RUNS, () => toPromise(createActor(machine1).start())),
        ops: XSTATE_RUNS,
      },
      {
        name: 'XState v5 actor to done, 5 states',
        run: times(XSTATE_RUNS, () => toPromise(createActor(machine5).start())),
        ops: XSTATE_RUNS,
      },
    ],
    repeats: REPEATS,
  })
  const [bare1F, o1, o5, x1, x5] = c.cases as [
    typeof c.baseline,
    typeof c.baseline,
    typeof c.baseline,
    typeof c.baseline,
    typeof c.baseline,
  ]
  const perRepeat = (a: typeof c.baseline, b: typeof c.baseline): number[] => a.samples.map((x, i) => x / b.samples[i]!)
  const med = (xs: number[]): number => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!
  const faster5 = perRepeat(x5, o5)
  const faster1 = perRepeat(x1, o1)
  const vsBare1 = perRepeat(o1, bare1F)
  return [
    baselineRow(c.baseline, { unit: 'ns/run' }),
    baselineRow(bare1F, { unit: 'ns/run' }),
    {
      ...caseRow(o1, 'bare 1 await', { unit: 'ns/run' }),
      ratio: med(vsBare1),
      samples: vsBare1,
      note: 'setup, one task, teardown',
    },
    caseRow(o5, 'bare 5 awaits', { unit: 'ns/run', note: 'setup, five tasks, teardown' }),
    baselineRow(x1, { unit: 'ns/run' }),
    baselineRow(x5, { unit: 'ns/run' }),
    {
      name: 'XState actor / orchestrate, 1 state',
      value: med(faster1),
      unit: 'x faster',
      baseline: 'XState actor',
      ratio: med(faster1),
      samples: faster1,
    },
    {
      name: 'XState actor / orchestrate, 5 states',
      value: med(faster5),
      unit: 'x faster',
      baseline: 'XState actor',
      ratio: med(faster5),
      samples: faster5,
      note: `target >= 5x; median of ${String(REPEATS)} per-repeat ratios`,
    },
  ]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
