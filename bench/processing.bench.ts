/**
 * Processing-model benchmarks (issue 3): heap cost of runs parked in a `timer` state against an
 * XState actor parked on an `after` delay and a bare async function awaiting a sleep, each measured in
 * a fresh child process (`parked.child.ts`) so that no measurement sees another's leftovers; and a
 * million synchronous `stepped` steps (time per step, heap growth, stack depth).
 *
 *   npx tsc -p tsconfig.bench.json && node --expose-gc .bench-dist/bench/processing.bench.js
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import * as t from 'io-ts'

import { workflow } from '../roots/Workflow.js'
import { StepOutcome, stepped } from '../src/Stepped.js'
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

/** Bytes per waiter of one `variant`, measured in a fresh process (see `parked.child.ts`). */
const parkedBytes = (variant: string): number => {
  const child = fileURLToPath(new URL('./parked.child.js', import.meta.url))
  const out = execFileSync(process.execPath, ['--expose-gc', child, variant, String(PARKED)], { encoding: 'utf8' })
  const { bytesPerWaiter } = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { bytesPerWaiter: number }
  return bytesPerWaiter
}

const VARIANTS = [
  'bare',
  'xstate',
  'timer',
  'timer-run$',
  'bare-signal',
  'timer-signal',
  'poll',
  'poll-breaker',
  'poll-limiter',
  'poll-timeout',
  'poll-around',
  'slow-task',
  'split',
  'saga',
  'slow-task-gate',
  'split-gate',
  'saga-gate',
] as const

const parked = (): BenchResult[] => {
  const samples = new Map<string, number[]>(VARIANTS.map((v) => [v, []]))
  // interleaved, so a noisy moment hits every variant alike
  for (let r = 0; r < REPEATS; r++) for (const v of VARIANTS) samples.get(v)?.push(parkedBytes(v))
  const m = (v: (typeof VARIANTS)[number]): number => median(samples.get(v) ?? [])
  return [
    { name: 'bare async function awaiting a sleep', value: m('bare'), unit: 'B/waiter' },
    { name: 'XState v5 actor parked on `after`', value: m('xstate'), unit: 'B/waiter' },
    {
      name: 'run parked in a timer state',
      value: m('timer'),
      unit: 'B/run',
      baseline: 'XState actor',
      ratio: m('timer') / m('xstate'),
      note: `target <= 1536 B/run; ${(m('timer') / m('bare')).toFixed(2)}x the bare async function`,
    },
    {
      name: 'run parked in a timer state, through run$',
      value: m('timer-run$'),
      unit: 'B/run',
      baseline: 'XState actor',
      ratio: m('timer-run$') / m('xstate'),
      note: 'a live subscription: every event built and delivered',
    },
    { name: 'bare async sleep that also listens to an AbortSignal', value: m('bare-signal'), unit: 'B/waiter' },
    {
      name: 'run parked in a timer state, with a signal',
      value: m('timer-signal'),
      unit: 'B/run',
      baseline: 'bare + signal',
      ratio: m('timer-signal') / m('bare-signal'),
      note: "the caller's AbortControllers are not counted; listening to them is",
    },
    ...(
      [
        ['poll', 'run parked in a poll delay (pending 1 h)', 1],
        ['poll-breaker', 'run parked in a poll delay, with a circuit breaker', 1],
        ['poll-limiter', 'run parked in a poll delay, with a rate limiter', 1],
        ['poll-timeout', 'run parked in a poll delay, with an attempt timeout', 1],
        ['poll-around', "run parked in a poll delay, under an observer's aroundAttempt", 1],
        ['slow-task', 'run parked in a slow task (awaiting a 1 h sleep)', 1],
        ['split', 'run parked in a split, 2 branches awaiting 1 h sleeps', 2],
        ['saga', "run parked in a saga's forward step (awaiting a 1 h sleep)", 1],
        // the same runs with the user's code holding no memory of its own (one never-settling Promise
        // shared by every run): what the engine holds per parked run, which is what the target is about
        ['slow-task-gate', "run parked in a slow task, the engine's own (the task awaits a shared Promise)", 0],
        ['split-gate', "run parked in a split of 2 branches, the engine's own (each awaits a shared Promise)", 0],
        ['saga-gate', "run parked in a saga's forward step, the engine's own (it awaits a shared Promise)", 0],
      ] as const
    ).map(([v, name, sleeps]): BenchResult => ({
      name,
      value: m(v),
      unit: 'B/run',
      baseline: 'XState actor',
      ratio: m(v) / m('xstate'),
      samples: (samples.get(v) ?? []).map((x) => x / m('xstate')),
      note:
        sleeps === 0
          ? 'target <= 1536 B/run'
          : `target <= 1536 B/run; ${(m(v) - sleeps * m('bare')).toFixed(0)} B beside ${String(sleeps)} bare sleeping function(s)`,
    })),
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
          return n >= STEPS ? StepOutcome.done('Done' as const) : StepOutcome.more(n + 1)
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
export const run = async (): Promise<BenchResult[]> => [...parked(), ...(await millionSteps())]

if (isMain(import.meta.url)) console.log(formatTable(await run()))
