/**
 * Processing-model benchmarks (issue 3): heap cost of runs parked in a `timer` state against an
 * XState actor parked on an `after` delay and a bare async function awaiting a sleep, all measured in
 * this process; and a million synchronous `stepped` steps (time per step, heap growth, stack depth).
 *
 *   npx tsc -p tsconfig.bench.json && node --expose-gc .bench-dist/bench/processing.bench.js
 */
import * as t from 'io-ts'
import { createActor, createMachine } from 'xstate'

import { done, more, stepped } from '../src/Stepped.js'
import { timer } from '../src/Timer.js'
import { workflow } from '../src/Workflow.js'
import { type BenchResult, formatTable, isMain, median } from './lib.js'

const PARKED = 10_000
const REPEATS = 5

const gcNow = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run node with --expose-gc')
  gc()
  gc()
}
const heap = (): number => {
  gcNow()
  return process.memoryUsage().heapUsed
}

/** Bytes per parked unit: heap with `n` parked, minus the heap before, over `n`; then releases them. */
const parkedBytes = async (park: (n: number) => () => Promise<void>): Promise<number> => {
  const before = heap()
  const release = park(PARKED)
  await new Promise((r) => setImmediate(r))
  const during = heap()
  await release()
  return (during - before) / PARKED
}

const timerRuns = (n: number): (() => Promise<void>) => {
  const flow = workflow<'Wait' | 'Done'>()({
    exits: ['Done'],
    states: { Wait: timer({ wait: 3_600_000, then: 'Done' }) },
  })
  const controllers = Array.from({ length: n }, () => new AbortController())
  const runs = controllers.map((ac, i) =>
    flow.orchestrate('Wait', { workflowId: `w${i}`, signal: ac.signal }).catch(() => 'x'),
  )
  return async () => {
    for (const ac of controllers) ac.abort()
    await Promise.all(runs)
  }
}

const xstateActors = (n: number): (() => Promise<void>) => {
  const machine = createMachine({
    initial: 'wait',
    states: { wait: { after: { 3600000: 'done' } }, done: { type: 'final' } },
  })
  const actors = Array.from({ length: n }, () => createActor(machine).start())
  return () => {
    for (const a of actors) a.stop()
    return Promise.resolve()
  }
}

const sleepers = (n: number): (() => Promise<void>) => {
  const controllers = Array.from({ length: n }, () => new AbortController())
  const sleep = (signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      const h = setTimeout(resolve, 3_600_000)
      signal.addEventListener('abort', () => {
        clearTimeout(h)
        resolve()
      })
    })
  const all = controllers.map(async (ac) => {
    await sleep(ac.signal)
  })
  return async () => {
    for (const ac of controllers) ac.abort()
    await Promise.all(all)
  }
}

const parked = async (): Promise<BenchResult[]> => {
  const ours: number[] = []
  const xs: number[] = []
  const bare: number[] = []
  for (let r = 0; r < REPEATS; r++) {
    ours.push(await parkedBytes(timerRuns))
    xs.push(await parkedBytes(xstateActors))
    bare.push(await parkedBytes(sleepers))
  }
  const o = median(ours)
  return [
    { name: 'bare async function awaiting a sleep, parked', value: median(bare), unit: 'B/run' },
    { name: 'XState v5 actor parked on `after`', value: median(xs), unit: 'B/run' },
    {
      name: 'run parked in a timer state (10 000 runs)',
      value: o,
      unit: 'B/run',
      baseline: 'XState actor',
      ratio: o / median(xs),
      note: 'target <= 1536 B/run',
    },
  ]
}

const STEPS = 1_000_000

const millionSteps = async (): Promise<BenchResult[]> => {
  const depths: number[] = []
  const heaps: number[] = []
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = Infinity
  const flow = workflow<'Scan' | 'Done'>()({
    exits: ['Done'],
    states: {
      Scan: stepped({
        cursor: t.number,
        step: (_ctx, c) => {
          const n = c ?? 0
          if (n % 250_000 === 1) {
            depths.push((new Error().stack ?? '').split('\n').length)
            heaps.push(heap())
          }
          return n >= STEPS ? done('Done' as const) : more(n + 1)
        },
      }),
    },
  })
  const t0 = performance.now()
  await flow.orchestrate('Scan')
  const ms = performance.now() - t0
  Error.stackTraceLimit = limit
  const steady = depths.slice(1)
  return [
    {
      name: 'stepped: 1 000 000 synchronous steps',
      value: (ms * 1e6) / STEPS,
      unit: 'ns/step',
      note: `${(ms / 1000).toFixed(2)} s in all`,
    },
    {
      name: 'stepped: heap growth over the loop',
      value: ((heaps.at(-1) ?? 0) - (heaps[0] ?? 0)) / (STEPS * 0.75),
      unit: 'B/step',
      note: `after gc at steps 1, 250k, 500k, 750k: ${heaps.map((h) => (h / 1e6).toFixed(1)).join(', ')} MB`,
    },
    {
      name: 'stepped: stack growth over the loop',
      value: Math.max(...steady) - Math.min(...steady),
      unit: 'frames',
      note: `depths ${depths.join(', ')}`,
    },
  ]
}

/** Runs the processing-model benchmarks. */
export const run = async (): Promise<BenchResult[]> => [...(await parked()), ...(await millionSteps())]

if (isMain(import.meta.url)) console.log(formatTable(await run()))
