/**
 * The cost of `cano-rx/otel` (issue 15): the engine's per-transition time with `otelObserver()` in the
 * workflow's observers against the same workflow without it, in the same process, interleaved.
 *
 * - **No SDK registered** (the API's no-op tracer and meter): the adapter's `forRun` declines each run, so
 *   the engine builds no events for it. Target: at most 10 % over no adapter. Shown beside it: an observer
 *   that does take every event (a no-op `onEvent`), which is what the adapter would cost if it could not
 *   decline; and runs of 5 transitions, where the adapter's per-run cost (one no-op span) shows.
 * - **With the SDK** (a `BasicTracerProvider` into an `InMemorySpanExporter`, through a
 *   `SimpleSpanProcessor` as the tests use it and through a `BatchSpanProcessor` as services do; a
 *   `MeterProvider` with a reader; the AsyncLocalStorage context manager): reported. Runs of 20
 *   transitions, each timed alone, the event loop turning between them (the SDK exports there: one long
 *   run that never yields would pile up a timer and a Promise per span). Measured after the no-SDK
 *   figures, against a baseline taken in the same phase, because enabling the context manager
 *   (AsyncLocalStorage) slows every Promise in the process, the baseline's too.
 *
 *   npm run bench -- otel
 */
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'

import { otelObserver } from '../roots/otel.js'
import { workflow } from '../roots/Workflow.js'
import { task } from '../src/StateHandler.js'
import type { WorkflowObserver } from '../src/WorkflowObserver.js'
import { type BenchResult, formatTable, isMain, median } from './lib.js'

type Cycle = 'A' | 'B' | 'C' | 'D' | 'E' | 'Done'
const NEXT: Readonly<Record<Exclude<Cycle, 'Done'>, Cycle>> = { A: 'B', B: 'C', C: 'D', D: 'E', E: 'A' }

const REPEATS = 9
const TRANSITIONS = 50_000
const SHORT_RUNS = 10_000

const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - t0)
}

/** The engine bench's 5-state cycle of async tasks, with `observers`; `left` transitions per run. */
const cycle = (observers: ReadonlyArray<WorkflowObserver<Cycle>>) => {
  let left = 0
  const step = (s: Exclude<Cycle, 'Done'>): Cycle => (--left <= 0 ? 'Done' : NEXT[s])
  const flow = workflow<Cycle>()({
    name: 'cycle',
    exits: ['Done'],
    states: {
      A: task(async () => step('A')),
      B: task(async () => step('B')),
      C: task(async () => step('C')),
      D: task(async () => step('D')),
      E: task(async () => step('E')),
    },
    observers,
  })
  /** One run of `n` transitions. */
  return async (n: number): Promise<void> => {
    left = n
    await flow.orchestrate('A')
  }
}

/** ns per transition of one long run, and of many runs of 5 transitions. */
const perTransition = (run: (n: number) => Promise<void>) => ({
  long: async () => (await time(() => run(TRANSITIONS))) / TRANSITIONS,
  short: async () =>
    (await time(async () => {
      for (let i = 0; i < SHORT_RUNS; i++) await run(5)
    })) /
    (SHORT_RUNS * 5),
})

const noSdk = async (): Promise<BenchResult[]> => {
  const bare = perTransition(cycle([]))
  const adapter = perTransition(cycle([otelObserver()]))
  const listening = perTransition(cycle([{ onEvent: () => undefined }]))
  const ns = { bare: [] as number[], adapter: [] as number[], listening: [] as number[], shortBare: [] as number[] }
  const ratio = { adapter: [] as number[], listening: [] as number[], short: [] as number[] }
  const shortAdapter: number[] = []
  for (let r = 0; r < REPEATS + 1; r++) {
    const b = await bare.long()
    const a = await adapter.long()
    const l = await listening.long()
    const sb = await bare.short()
    const sa = await adapter.short()
    if (r === 0) continue // warm-up
    ns.bare.push(b)
    ns.adapter.push(a)
    ns.listening.push(l)
    ns.shortBare.push(sb)
    shortAdapter.push(sa)
    ratio.adapter.push(a / b)
    ratio.listening.push(l / b)
    ratio.short.push(sa / sb)
  }
  return [
    { name: 'engine, no observer, per transition (5-state cycle)', value: median(ns.bare), unit: 'ns' },
    {
      name: 'otelObserver, no SDK registered, per transition',
      value: median(ns.adapter),
      unit: 'ns',
      baseline: 'no observer',
      ratio: median(ratio.adapter),
      note: `target <= 1.10x; ratios ${ratio.adapter.map((x) => x.toFixed(3)).join(' ')}`,
    },
    {
      name: 'for reference: an observer taking every event',
      value: median(ns.listening),
      unit: 'ns',
      baseline: 'no observer',
      ratio: median(ratio.listening),
      note: 'what the adapter would cost if it could not decline the run',
    },
    {
      name: 'otelObserver, no SDK, runs of 5 transitions',
      value: median(shortAdapter),
      unit: 'ns/transition',
      baseline: 'no observer',
      ratio: median(ratio.short),
      note: `${SHORT_RUNS} runs; the bare runs: ${median(ns.shortBare).toFixed(0)} ns/transition; per run one no-op span`,
    },
  ]
}

/** Runs of this many transitions, in the SDK figures; the event loop turns between runs (untimed). */
const SDK_RUN = 20
const SDK_RUNS = 1_000

/**
 * ns per transition over `SDK_RUNS` runs of `SDK_RUN` transitions, timing each run alone and letting the
 * event loop turn between runs (untimed), as a service's runs would: the SDK's exports and timers run there.
 */
const runsOf = async (run: (n: number) => Promise<void>): Promise<number> => {
  let total = 0
  for (let i = 0; i < SDK_RUNS; i++) {
    total += await time(() => run(SDK_RUN))
    await new Promise((resolve) => setImmediate(resolve))
  }
  return total / (SDK_RUNS * SDK_RUN)
}

const withSdk = async (): Promise<BenchResult[]> => {
  const manager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(manager)
  const simpleSpans = new InMemorySpanExporter()
  const batchSpans = new InMemorySpanExporter()
  const simple = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(simpleSpans)] })
  const batched = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(batchSpans)] })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const meter = meterProvider.getMeter('bench')
  const bare = cycle([])
  const viaSimple = cycle([otelObserver({ tracer: simple.getTracer('bench'), meter })])
  const viaBatch = cycle([otelObserver({ tracer: batched.getTracer('bench'), meter })])
  /** The SDK alone: a child span started and ended, as the adapter makes two per transition. */
  const sdkTracer = batched.getTracer('bench')
  const parent = trace.setSpan(ROOT_CONTEXT, sdkTracer.startSpan('parent'))
  const oneSpan = async (): Promise<number> => {
    let total = 0
    for (let i = 0; i < SDK_RUNS; i++) {
      total += await time(async () => {
        for (let j = 0; j < SDK_RUN; j++)
          sdkTracer.startSpan('state A', { attributes: { 'cano.state': 'A' } }, parent).end()
      })
      await new Promise((resolve) => setImmediate(resolve))
    }
    return total / (SDK_RUNS * SDK_RUN)
  }
  const ns = { bare: [] as number[], simple: [] as number[], batch: [] as number[], span: [] as number[] }
  const ratio = { simple: [] as number[], batch: [] as number[] }
  let exported = 0
  try {
    for (let r = 0; r < REPEATS + 1; r++) {
      const b = await runsOf(bare)
      const s = await runsOf(viaSimple)
      const t = await runsOf(viaBatch)
      const o = await oneSpan()
      await batched.forceFlush()
      exported = simpleSpans.getFinishedSpans().length
      simpleSpans.reset()
      batchSpans.reset()
      if (r === 0) continue
      ns.bare.push(b)
      ns.simple.push(s)
      ns.batch.push(t)
      ns.span.push(o)
      ratio.simple.push(s / b)
      ratio.batch.push(t / b)
    }
    await reader.forceFlush()
  } finally {
    await meterProvider.shutdown()
    await simple.shutdown()
    await batched.shutdown()
    context.disable()
  }
  const runs = `${SDK_RUNS} runs of ${SDK_RUN} transitions, the event loop turning between runs`
  return [
    {
      name: 'engine, no observer, AsyncLocalStorage context manager on',
      value: median(ns.bare),
      unit: 'ns',
      note: `the baseline of the next two lines; ${runs}`,
    },
    {
      name: 'otelObserver + SDK, SimpleSpanProcessor, in-memory exporter',
      value: median(ns.simple),
      unit: 'ns',
      baseline: 'no observer',
      ratio: median(ratio.simple),
      note: `reported, no target; spans and metrics; ${exported} spans exported per repeat (a state and an attempt per transition, a run span per run)`,
    },
    {
      name: 'otelObserver + SDK, BatchSpanProcessor, in-memory exporter',
      value: median(ns.batch),
      unit: 'ns',
      baseline: 'no observer',
      ratio: median(ratio.batch),
      note: 'reported, no target; the processor production setups use',
    },
    {
      name: 'for reference: the SDK alone, one child span started and ended',
      value: median(ns.span),
      unit: 'ns',
      note: 'BatchSpanProcessor, measured beside the lines above; the adapter makes two per transition',
    },
  ]
}

/** Runs the OpenTelemetry adapter's benchmarks. */
export const run = async (): Promise<BenchResult[]> => [...(await noSdk()), ...(await withSdk())]

if (isMain(import.meta.url)) console.log(formatTable(await run()))
