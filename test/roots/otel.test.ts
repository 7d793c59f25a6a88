/**
 * `cano-rx/otel` against the real OpenTelemetry SDK: spans go to the SDK's in-memory span exporter,
 * metrics through its in-memory metric exporter, and the active context is the SDK's AsyncLocalStorage
 * context manager (registered for this file only). Span trees are compared whole, rendered one span per
 * line (name, key attributes, events, status), children in start order.
 */
import { context, type Span, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { expect } from 'chai'
import * as t from 'io-ts'
import { filter, lastValueFrom, map, Subject, take, timer } from 'rxjs'

import { otelObserver } from '../../roots/otel.js'
import { createRuntime } from '../../roots/Runtime.js'
import { workflow } from '../../roots/Workflow.js'
import { batch } from '../../src/Batch.js'
import { CanoFailure, nonRetryable, retryExhaustedError, taskExecutionError } from '../../src/CanoError.js'
import { memoryCheckpoints } from '../../src/CheckpointStore.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { type LogFields, logObserver } from '../../src/LogObserver.js'
import { RetryMode } from '../../src/RetryMode.js'
import { saga } from '../../src/Saga.js'
import { sleep } from '../../src/Sleep.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { createVirtualClock } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// the SDK
// -------------------------------------------------------------------------------------

interface Sdk {
  readonly tracer: Tracer
  readonly spans: () => ReadonlyArray<ReadableSpan>
  readonly provider: BasicTracerProvider
}

const tracing = (): Sdk => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  return { tracer: provider.getTracer('test'), spans: () => exporter.getFinishedSpans(), provider }
}

interface Metrics {
  readonly provider: MeterProvider
  /** Collects now: each metric's data points by name. */
  readonly collect: () => Promise<ReadonlyMap<string, ReadonlyArray<DataPoint<unknown>>>>
}

const metering = (): Metrics => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  return {
    provider,
    collect: async () => {
      await reader.forceFlush()
      const found = new Map<string, ReadonlyArray<DataPoint<unknown>>>()
      const last = exporter.getMetrics().at(-1)
      for (const scope of last?.scopeMetrics ?? [])
        for (const metric of scope.metrics) found.set(metric.descriptor.name, metric.dataPoints)
      return found
    },
  }
}

/** `value` of each data point of `name`, keyed by its attributes (`k=v,k=v`, sorted; `''` for none). */
const pointsOf = (
  found: ReadonlyMap<string, ReadonlyArray<DataPoint<unknown>>>,
  name: string,
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const p of found.get(name) ?? []) {
    const key = Object.entries(p.attributes)
      .map(([k, v]) => `${k}=${String(v)}`)
      .sort()
      .join(',')
    out[key] = p.value
  }
  return out
}

/** A histogram point as `[count, sum]`. */
const countSum = (v: unknown): [number, number | undefined] => {
  const h = v as Histogram
  return [h.count, h.sum === undefined ? undefined : Math.round(h.sum * 1e6) / 1e6]
}

// -------------------------------------------------------------------------------------
// span trees
// -------------------------------------------------------------------------------------

const KEY_ATTRIBUTES = [
  'cano.task.id',
  'cano.attempt',
  'cano.split.branch',
  'cano.split.outcome',
  'cano.batch.item',
  'cano.state.next',
  'cano.task.attempts',
  'cano.checkpoint.seq',
  'cano.compensation.attempts',
  'cano.run.resumed',
  'cano.run.outcome',
  'cano.run.abandoned',
  'cano.cancelled',
  'cano.error.tag',
]

const EVENT_ATTRIBUTES = ['cano.attempt', 'cano.retry.delay_ms', 'cano.step', 'cano.checkpoint.kind']

const hrMs = (s: ReadableSpan): number => s.startTime[0] * 1e3 + s.startTime[1] / 1e6

/** One line per span: indented by depth, `name [key=value …] (event …) !ERROR`; children in start order. */
const render = (spans: ReadonlyArray<ReadableSpan>): string[] => {
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  // spans started within the clock's resolution keep the order they ended in (the exporter's)
  const ended = new Map(spans.map((s, i) => [s, i]))
  const childrenOf = (parent: string | undefined): ReadableSpan[] =>
    spans
      .filter((s) => {
        const p = s.parentSpanContext?.spanId
        return parent === undefined ? p === undefined || !ids.has(p) : p === parent
      })
      .sort((a, b) => hrMs(a) - hrMs(b) || (ended.get(a) ?? 0) - (ended.get(b) ?? 0))
  const lines: string[] = []
  const visit = (s: ReadableSpan, depth: number): void => {
    const attrs = KEY_ATTRIBUTES.filter((k) => s.attributes[k] !== undefined).map(
      (k) => `${k.replace(/^cano\./, '')}=${String(s.attributes[k])}`,
    )
    const events = s.events
      .filter((e) => e.name !== 'checkpoint')
      .map((e) => {
        const a = EVENT_ATTRIBUTES.filter((k) => e.attributes?.[k] !== undefined).map(
          (k) => `${k.replace(/^cano\./, '')}=${String(e.attributes?.[k])}`,
        )
        return `(${[e.name, ...a].join(' ')})`
      })
    const status = s.status.code === SpanStatusCode.ERROR ? ['!ERROR'] : []
    const head = [s.name, ...(attrs.length > 0 ? [`[${attrs.join(' ')}]`] : []), ...events, ...status].join(' ')
    lines.push(`${'  '.repeat(depth)}${head}`)
    for (const c of childrenOf(s.spanContext().spanId)) visit(c, depth + 1)
  }
  for (const root of childrenOf(undefined)) visit(root, 0)
  return lines
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('otelObserver (cano-rx/otel)', () => {
  let manager: AsyncLocalStorageContextManager
  before(() => {
    manager = new AsyncLocalStorageContextManager().enable()
    context.setGlobalContextManager(manager)
  })
  after(() => {
    context.disable()
  })

  describe('traces', () => {
    it('a task: run → state → attempt, the task’s own span under its attempt', async () => {
      const sdk = tracing()
      const flow = workflow<'Fetch' | 'Done'>()({
        name: 'fetch',
        exits: ['Done'],
        states: {
          Fetch: task(async () => {
            sdk.tracer.startSpan('http GET').end()
            return 'Done' as const
          }),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      expect(await flow.orchestrate('Fetch', { workflowId: 'f-1' })).to.equal('Done')
      expect(render(sdk.spans())).to.deep.equal([
        'run fetch [run.resumed=false run.outcome=completed]',
        '  state Fetch [task.id=Fetch state.next=Done task.attempts=1]',
        '    attempt Fetch [task.id=Fetch attempt=1]',
        '      http GET',
        '  state Done',
      ])
      const run = sdk.spans().find((s) => s.name === 'run fetch')
      expect(run?.attributes).to.deep.include({
        'cano.workflow.id': 'f-1',
        'cano.workflow.name': 'fetch',
        'cano.workflow.version': 0,
        'cano.run.initial': 'Fetch',
        'cano.run.exit': 'Done',
        'cano.run.transitions': 2,
      })
      // one trace
      expect(new Set(sdk.spans().map((s) => s.spanContext().traceId)).size).to.equal(1)
    })

    it('an error of megabytes is cut to 4096 characters on each span it fails (status and exception event)', async () => {
      const sdk = tracing()
      const huge = 'e'.repeat(1_000_000)
      const flow = workflow<'Fetch' | 'Done'>()({
        exits: ['Done'],
        states: { Fetch: task(() => Promise.reject(nonRetryable(new Error(huge)))) },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Fetch', { workflowId: 'big-error' }).catch(() => undefined)
      const failed = sdk.spans().filter((x) => x.status.code === SpanStatusCode.ERROR)
      expect(failed.length).to.be.at.least(3)
      for (const span of failed) {
        expect(span.status.message?.length ?? 0, span.name).to.be.at.most(4096 + 30)
        expect(span.status.message).to.match(/… \(\d+ characters\)$/)
        for (const event of span.events)
          expect(String(event.attributes?.['exception.message'] ?? '').length).to.be.at.most(4096 + 30)
      }
    })

    it('a retried task: each attempt a span (the failed one an error), the delay an event of the state', async () => {
      const sdk = tracing()
      let calls = 0
      const flow = workflow<'Charge' | 'Done'>()({
        exits: ['Done'],
        states: {
          Charge: task(
            async () => {
              calls += 1
              sdk.tracer.startSpan(`charge call ${calls}`).end()
              if (calls < 3) throw new Error('gateway 503')
              return 'Done' as const
            },
            { retry: RetryMode.fixed(3, 2) },
          ),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Charge')
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=completed]',
        '  state Charge [task.id=Charge state.next=Done task.attempts=3] (retry attempt=1 retry.delay_ms=2) (retry attempt=2 retry.delay_ms=2)',
        '    attempt Charge [task.id=Charge attempt=1 error.tag=TaskExecution] (exception) !ERROR',
        '      charge call 1',
        '    attempt Charge [task.id=Charge attempt=2 error.tag=TaskExecution] (exception) !ERROR',
        '      charge call 2',
        '    attempt Charge [task.id=Charge attempt=3]',
        '      charge call 3',
        '  state Done',
      ])
      const failed = sdk.spans().find((s) => s.name === 'attempt Charge' && s.attributes['cano.attempt'] === 1)
      expect(failed?.status.message).to.equal('gateway 503')
    })

    it('a split: each branch a span under the state, its attempts under it, its own spans inside', async () => {
      const sdk = tracing()
      let second = 0
      const flow = workflow<'FanOut' | 'Join' | 'Done'>()({
        exits: ['Done'],
        states: {
          FanOut: split(
            [
              async () => {
                sdk.tracer.startSpan('a').end()
                return 1
              },
              Branch.of(
                async () => {
                  second += 1
                  sdk.tracer.startSpan(`b ${second}`).end()
                  if (second === 1) throw new Error('flaky')
                  return 2
                },
                { retry: RetryMode.fixed(1, 1) },
              ),
            ],
            { strategy: JoinStrategy.all(), join: 'Join' },
          ),
          Join: task(() => 'Done' as const),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('FanOut')
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=completed]',
        '  state FanOut [task.id=FanOut state.next=Join task.attempts=1]',
        '    branch FanOut[0] [task.id=FanOut[0] split.branch=0 split.outcome=Succeeded]',
        '      attempt FanOut[0] [task.id=FanOut[0] attempt=1]',
        '        a',
        '    branch FanOut[1] [task.id=FanOut[1] split.branch=1 split.outcome=Succeeded] (retry attempt=1 retry.delay_ms=1)',
        '      attempt FanOut[1] [task.id=FanOut[1] attempt=1 error.tag=TaskExecution] (exception) !ERROR',
        '        b 1',
        '      attempt FanOut[1] [task.id=FanOut[1] attempt=2]',
        '        b 2',
        '  state Join [task.id=Join state.next=Done task.attempts=1]',
        '    attempt Join [task.id=Join attempt=1]',
        '  state Done',
      ])
    })

    it('a split cut off by cancelling the run: a branch still running ends Cancelled, like one settled Cancelled', async () => {
      const sdk = tracing()
      const ac = new AbortController()
      let running = (): void => undefined
      const bothStarted = new Promise<void>((resolve) => (running = resolve))
      let started = 0
      const waitForAbort = (signal: AbortSignal): Promise<never> =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)))
      const flow = workflow<'FanOut' | 'Done'>()({
        exits: ['Done'],
        states: {
          FanOut: split(
            [0, 1].map(() => ({ signal }: { readonly signal: AbortSignal }) => {
              if (++started === 2) running()
              return waitForAbort(signal)
            }),
            { strategy: JoinStrategy.all(), join: 'Done' },
          ),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      const ended = flow.orchestrate('FanOut', { signal: ac.signal }).catch((e: unknown) => e)
      await bothStarted
      ac.abort()
      await ended
      const branches = sdk.spans().filter((x) => x.name.startsWith('branch '))
      expect(branches).to.have.length(2)
      for (const b of branches) expect(b.attributes['cano.split.outcome'], b.name).to.equal('Cancelled')
    })

    it('a saga rollback: the failed state an error, each compensation a span with the compensator’s own spans', async () => {
      const sdk = tracing()
      const flow = workflow<'Reserve' | 'Charge' | 'Ship' | 'Done'>()({
        exits: ['Done'],
        states: {
          Reserve: saga({
            output: t.string,
            run: () => ['Charge' as const, 'r-1'],
            compensate: async () => sdk.tracer.startSpan('release r-1').end(),
          }),
          Charge: saga({
            output: t.string,
            run: () => ['Ship' as const, 'c-1'],
            compensate: async () => sdk.tracer.startSpan('refund c-1').end(),
          }),
          Ship: task(
            () => {
              throw new Error('no courier')
            },
            { retry: RetryMode.none() },
          ),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      const ended = await flow.orchestrate('Reserve').then(
        () => 'completed',
        (e: unknown) => String(e),
      )
      expect(ended).to.contain('no courier')
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=failed error.tag=TaskExecution] (exception) !ERROR',
        '  state Reserve [task.id=Reserve state.next=Charge task.attempts=1]',
        '    attempt Reserve [task.id=Reserve attempt=1]',
        '  state Charge [task.id=Charge state.next=Ship task.attempts=1]',
        '    attempt Charge [task.id=Charge attempt=1]',
        '  state Ship [task.id=Ship error.tag=TaskExecution] (exception) !ERROR',
        '    attempt Ship [task.id=Ship attempt=1 error.tag=TaskExecution] (exception) !ERROR',
        '  compensate Charge [task.id=Charge compensation.attempts=1]',
        '    refund c-1',
        '  compensate Reserve [task.id=Reserve compensation.attempts=1]',
        '    release r-1',
      ])
    })

    it('a failed compensation: its attempts, its error, and its retries as events with the delay and the error before', async () => {
      const sdk = tracing()
      let refunds = 0
      const flow = workflow<'Reserve' | 'Charge' | 'Ship' | 'Done'>()({
        exits: ['Done'],
        states: {
          Reserve: saga({
            output: t.string,
            run: () => ['Charge' as const, 'r-1'],
            compensate: () => {
              throw new Error('stock service down')
            },
            compensateRetry: RetryMode.fixed(2, 4),
          }),
          Charge: saga({
            output: t.string,
            run: () => ['Ship' as const, 'c-1'],
            compensate: () => {
              if (++refunds === 1) throw new Error('refund timed out')
            },
            compensateRetry: RetryMode.fixed(1, 2),
          }),
          Ship: task(
            () => {
              throw new Error('no courier')
            },
            { retry: RetryMode.none() },
          ),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Reserve').catch(() => undefined)
      const compensations = sdk
        .spans()
        .filter((s) => s.name.startsWith('compensate '))
        .map((s) => ({
          name: s.name,
          attributes: s.attributes,
          status: s.status,
          events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
        }))
      const exhausted = retryExhaustedError(3, taskExecutionError('stock service down'))
      expect(compensations).to.deep.equal([
        {
          name: 'compensate Charge',
          attributes: { 'cano.state': 'Charge', 'cano.task.id': 'Charge', 'cano.compensation.attempts': 2 },
          status: { code: SpanStatusCode.UNSET },
          events: [
            {
              name: 'retry',
              attributes: { 'cano.attempt': 1, 'cano.retry.delay_ms': 2, 'cano.error.message': 'refund timed out' },
            },
          ],
        },
        {
          name: 'compensate Reserve',
          attributes: {
            'cano.state': 'Reserve',
            'cano.task.id': 'Reserve',
            'cano.compensation.attempts': 3,
            'cano.error.tag': 'RetryExhausted',
          },
          status: { code: SpanStatusCode.ERROR, message: exhausted.message },
          events: [
            {
              name: 'retry',
              attributes: { 'cano.attempt': 1, 'cano.retry.delay_ms': 4, 'cano.error.message': 'stock service down' },
            },
            {
              name: 'retry',
              attributes: { 'cano.attempt': 2, 'cano.retry.delay_ms': 4, 'cano.error.message': 'stock service down' },
            },
            {
              name: 'exception',
              attributes: { 'exception.type': 'RetryExhausted', 'exception.message': exhausted.message },
            },
          ],
        },
      ])
    })

    it('a batch: each item a span under the attempt of its cycle, its retries as events', async () => {
      const sdk = tracing()
      const tries = new Map<number, number>()
      const flow = workflow<'Load' | 'Done'>()({
        exits: ['Done'],
        states: {
          Load: batch({
            load: () => [10, 20],
            processItem: async (n: number, ictx) => {
              tries.set(n, (tries.get(n) ?? 0) + 1)
              sdk.tracer.startSpan(`process ${n} #${ictx.attempt}`).end()
              if (n === 20 && ictx.attempt === 1) throw new Error('again')
              return n * 2
            },
            itemRetry: RetryMode.fixed(1, 1),
            concurrency: 1,
            finish: () => 'Done' as const,
          }),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Load')
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=completed]',
        '  state Load [task.id=Load state.next=Done task.attempts=1]',
        '    attempt Load [task.id=Load attempt=1]',
        '      item Load [batch.item=0]',
        '        process 10 #1',
        '      item Load [batch.item=1] (retry attempt=1 retry.delay_ms=1)',
        '        process 20 #1',
        '        process 20 #2',
        '  state Done',
      ])
    })

    it('a batch: a failed item’s span has its error as every failed span; a retry event the delay and the error before', async () => {
      const sdk = tracing()
      const flow = workflow<'Load' | 'Done'>()({
        exits: ['Done'],
        states: {
          Load: batch({
            load: () => [10, 20, 30],
            processItem: async (n: number, ictx) => {
              if (n === 20 && ictx.attempt === 1) throw new Error('again')
              if (n === 30) throw new Error(`gone #${ictx.attempt}`)
              return n * 2
            },
            itemRetry: RetryMode.fixed(1, 3),
            finish: () => 'Done' as const,
          }),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Load')
      const items = sdk
        .spans()
        .filter((s) => s.name === 'item Load')
        .sort((a, b) => Number(a.attributes['cano.batch.item']) - Number(b.attributes['cano.batch.item']))
      const seen = items.map((s) => ({
        attributes: s.attributes,
        status: s.status,
        events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
      }))
      const exhausted = retryExhaustedError(2, taskExecutionError('gone #2'))
      expect(seen).to.deep.equal([
        { attributes: { 'cano.batch.item': 0 }, status: { code: SpanStatusCode.UNSET }, events: [] },
        {
          attributes: { 'cano.batch.item': 1 },
          status: { code: SpanStatusCode.UNSET },
          events: [
            {
              name: 'retry',
              attributes: { 'cano.attempt': 1, 'cano.retry.delay_ms': 3, 'cano.error.message': 'again' },
            },
          ],
        },
        {
          attributes: { 'cano.batch.item': 2, 'cano.error.tag': 'RetryExhausted' },
          status: { code: SpanStatusCode.ERROR, message: exhausted.message },
          events: [
            {
              name: 'retry',
              attributes: { 'cano.attempt': 1, 'cano.retry.delay_ms': 3, 'cano.error.message': 'gone #1' },
            },
            {
              name: 'exception',
              attributes: { 'exception.type': 'RetryExhausted', 'exception.message': exhausted.message },
            },
          ],
        },
      ])
    })

    it('a stepped state: one attempt span per step, the cursor as events', async () => {
      const sdk = tracing()
      const flow = workflow<'Scan' | 'Done'>()({
        exits: ['Done'],
        states: {
          Scan: stepped({
            cursor: t.number,
            step: (_ctx, c: number | undefined) =>
              (c ?? 0) >= 2 ? StepOutcome.done('Done' as const) : StepOutcome.more((c ?? 0) + 1),
          }),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await flow.orchestrate('Scan')
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=completed]',
        '  state Scan [task.id=Scan state.next=Done task.attempts=3] (cursor_advanced step=1) (cursor_advanced step=2)',
        '    attempt Scan [task.id=Scan attempt=1]',
        '    attempt Scan [task.id=Scan attempt=1]',
        '    attempt Scan [task.id=Scan attempt=1]',
        '  state Done',
      ])
    })

    it('a resumed run: a new span linked to the first run’s, whose context the log kept', async () => {
      const sdk = tracing()
      const store = memoryCheckpoints()
      const gate = new Subject<'Done'>()
      let firstCall = true
      const flow = workflow<'A' | 'B' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: task(() => {
            if (!firstCall) return 'Done' as const
            firstCall = false
            return gate // never answers: the first run is left here
          }),
        },
        checkpoints: store,
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      const seen: string[] = []
      const sub = flow.run$('A', { workflowId: 'res-1' }).subscribe((e) => seen.push(e._tag))
      await new Promise<void>((resolve) => {
        const poll = (): void =>
          seen.includes('TaskStarted') && seen.filter((x) => x === 'TaskStarted').length === 2
            ? resolve()
            : void setImmediate(poll)
        poll()
      })
      // leaving the run cancels it; its log is kept, and a later resume continues it
      sub.unsubscribe()
      const firstRun = sdk.spans().find((s) => s.name === 'run')
      expect(firstRun?.attributes['cano.run.outcome']).to.equal('cancelled')
      // the first row kept the run's trace context
      const rows = await store.loadRun('res-1')
      const first = firstRun?.spanContext()
      expect(rows[0]?.payload).to.deep.equal({
        notes: { otel: { traceparent: `00-${first?.traceId ?? ''}-${first?.spanId ?? ''}-01` } },
      })
      expect(await flow.resume('res-1')).to.equal('Done')
      const runs = sdk.spans().filter((s) => s.name === 'run')
      expect(runs).to.have.length(2)
      const resumed = runs[1] as ReadableSpan
      expect(resumed.spanContext().traceId).to.not.equal(first?.traceId)
      expect(resumed.links.map((l) => [l.context.traceId, l.context.spanId, l.attributes])).to.deep.equal([
        [first?.traceId, first?.spanId, { 'cano.link': 'resumed_from' }],
      ])
      expect(render(sdk.spans())).to.deep.equal([
        'run [run.resumed=false run.outcome=cancelled error.tag=Cancelled] (exception) !ERROR',
        '  state A [task.id=A state.next=B task.attempts=1]',
        '    attempt A [task.id=A attempt=1]',
        '  state B [task.id=B error.tag=Cancelled] (exception) !ERROR',
        '    attempt B [task.id=B attempt=1 cancelled=true error.tag=Cancelled] (exception) !ERROR',
        'run [run.resumed=true run.outcome=completed] (resumed)',
        '  state B [task.id=B state.next=Done task.attempts=1]',
        '    attempt B [task.id=B attempt=1]',
        '  state Done',
      ])
    })

    it('nests the run under the span active when it starts', async () => {
      const sdk = tracing()
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      await sdk.tracer.startActiveSpan('POST /orders', async (span: Span) => {
        await flow.orchestrate('A')
        span.end()
      })
      expect(render(sdk.spans())).to.deep.equal([
        'POST /orders',
        '  run [run.resumed=false run.outcome=completed]',
        '    state A [task.id=A state.next=Done task.attempts=1]',
        '      attempt A [task.id=A attempt=1]',
        '    state Done',
      ])
    })

    it('a run handed over by a stopping runtime: its open spans end, the run span marked abandoned', async () => {
      const sdk = tracing()
      const started = new Subject<void>()
      const flow = workflow<'Slow' | 'Done'>()({
        name: 'slow',
        exits: ['Done'],
        states: {
          Slow: task(async () => {
            started.next()
            await new Promise<never>(() => undefined)
            return 'Done' as const
          }),
        },
        observers: [otelObserver({ tracer: sdk.tracer })],
      })
      const runtime = createRuntime({
        store: memoryCheckpoints(),
        workflows: { slow: { workflow: flow, initial: 'Slow' } },
        pollMs: 10,
      })
      const inFlight = lastValueFrom(started.pipe(take(1)))
      await runtime.start('slow', null, { id: 'slow-1' })
      await inFlight
      await runtime.stop({ graceMs: 0 })
      expect(render(sdk.spans())).to.deep.equal([
        'run slow [run.resumed=false run.abandoned=true]',
        '  state Slow [task.id=Slow]',
        '    attempt Slow [task.id=Slow attempt=1 cancelled=true]',
      ])
      // handed back to the fleet, not ended
      expect((await runtime.get('slow-1'))?.status).to.equal('pending')
    })

    it('traceOf gives the run’s trace and span ids while it runs', async () => {
      const sdk = tracing()
      const telemetry = otelObserver({ tracer: sdk.tracer })
      let during: unknown
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task((ctx) => {
            during = telemetry.traceOf(ctx.workflowId)
            return 'Done' as const
          }),
        },
        observers: [telemetry],
      })
      await flow.orchestrate('A', { workflowId: 'ids-1' })
      const run = sdk
        .spans()
        .find((s) => s.name === 'run')
        ?.spanContext()
      expect(during).to.deep.equal({ traceId: run?.traceId, spanId: run?.spanId })
      await Promise.resolve()
      expect(telemetry.traceOf('ids-1')).to.equal(undefined)
    })
  })

  describe('with logObserver', () => {
    it('gives every line of a run, its last included, the run’s trace and span ids', async () => {
      const sdk = tracing()
      const telemetry = otelObserver({ tracer: sdk.tracer })
      const lines: Array<Readonly<Record<string, unknown>>> = []
      const sink = { info: (f: LogFields) => void lines.push(f), warn: () => undefined, error: () => undefined }
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        observers: [telemetry, logObserver(sink, { traceOf: telemetry.traceOf })],
      })
      await flow.orchestrate('A', { workflowId: 'logged-1' })
      const run = sdk
        .spans()
        .find((s) => s.name === 'run')
        ?.spanContext()
      expect(lines.map((l) => [l['event'], l['trace_id'], l['span_id']])).to.deep.equal([
        ['RunStarted', run?.traceId, run?.spanId],
        ['TaskSucceeded', run?.traceId, run?.spanId],
        ['RunCompleted', run?.traceId, run?.spanId],
      ])
    })
  })

  describe('arguments', () => {
    it('a Configuration CanoFailure naming what is wrong, for the observer and its watchers', () => {
      const fails = (f: () => unknown, message: RegExp): void => {
        let thrown: unknown
        try {
          f()
        } catch (e: unknown) {
          thrown = e
        }
        expect(thrown, String(message)).to.be.instanceOf(CanoFailure)
        expect((thrown as CanoFailure).error._tag).to.equal('Configuration')
        expect((thrown as CanoFailure).error.message).to.match(message)
      }
      const bad = otelObserver as (options: unknown) => unknown
      fails(() => bad(null), /^otelObserver: options must be an object, got null/)
      fails(() => bad({ tracer: {} }), /^otelObserver: tracer must be an OpenTelemetry Tracer \(with startSpan\)/)
      fails(() => bad({ meter: 'm' }), /^otelObserver: meter must be an OpenTelemetry Meter/)
      const telemetry = otelObserver({ meter: metering().provider.getMeter('test') })
      const watchBreaker = telemetry.watchBreaker as (name: unknown, breaker: unknown) => unknown
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 })
      fails(() => watchBreaker(42, breaker), /^otelObserver\.watchBreaker: name must be a non-empty string, got 42/)
      fails(() => watchBreaker('', breaker), /name must be a non-empty string/)
      fails(() => watchBreaker('b', {}), /^otelObserver\.watchBreaker: breaker must be a circuit breaker/)
      const watchRuntime = telemetry.watchRuntime as (events: unknown) => unknown
      fails(() => watchRuntime(null), /^otelObserver\.watchRuntime: events must be a runtime's events\$/)
      const watched = telemetry.watchBreaker('b', breaker)
      watched.unsubscribe()
    })
  })

  describe('without an SDK', () => {
    it('declines every run: the engine then builds no events for it, calls no hook and writes no note', async () => {
      // the global API with no provider registered: the no-op tracer and the no-op meter
      const telemetry = otelObserver()
      expect(
        telemetry.forRun({ workflowId: 'x', workflow: undefined, version: 0, resumed: false, notes: {} }),
      ).to.equal(undefined)
      const store = memoryCheckpoints()
      const payloads: unknown[] = []
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        checkpoints: { ...store, append: (row, fence) => (payloads.push(row.payload), store.append(row, fence)) },
        observers: [telemetry],
      })
      expect(await flow.orchestrate('A', { workflowId: 'plain-1' })).to.equal('Done')
      // the entry rows of A and Done: no note in the first
      expect(payloads).to.deep.equal([null, null])
      expect(trace.getActiveSpan()).to.equal(undefined)
    })
  })

  describe('metrics', () => {
    /** Runs `flow` to its end on the virtual clock; resolves with its outcome. */
    const settle = async (p: Promise<unknown>, clock: ReturnType<typeof createVirtualClock>): Promise<string> => {
      let outcome: string | undefined
      p.then(
        () => (outcome = 'completed'),
        () => (outcome = 'failed'),
      )
      while (outcome === undefined) await clock.runUntilIdle(10_000)
      return outcome
    }

    it('runs, states, attempts, retries, checkpoints and compensations, durations on the run’s clock', async () => {
      const m = metering()
      const clock = createVirtualClock(1_000)
      let calls = 0
      let failFetch = false
      const flow = workflow<'Reserve' | 'Fetch' | 'Done'>()({
        exits: ['Done'],
        states: {
          Reserve: saga({
            output: t.number,
            run: () => timer(5, clock).pipe(map(() => ['Fetch' as const, 1] as const)),
            compensate: () => undefined,
          }),
          Fetch: task(
            () => {
              calls += 1
              return timer(20, clock).pipe(
                map(() => {
                  if (failFetch || calls < 3) throw new Error('flaky')
                  return 'Done' as const
                }),
              )
            },
            { retry: RetryMode.fixed(2, 100) },
          ),
        },
        checkpoints: memoryCheckpoints(),
        observers: [otelObserver({ meter: m.provider.getMeter('test') })],
      })
      expect(await settle(flow.orchestrate('Reserve', { workflowId: 'm-1', scheduler: clock }), clock)).to.equal(
        'completed',
      )
      failFetch = true
      expect(await settle(flow.orchestrate('Reserve', { workflowId: 'm-2', scheduler: clock }), clock)).to.equal(
        'failed',
      )
      const found = await m.collect()
      expect(pointsOf(found, 'cano_workflow_runs_started_total')).to.deep.equal({ 'resumed=false': 2 })
      expect(pointsOf(found, 'cano_workflow_runs_total')).to.deep.equal({ 'outcome=completed': 1, 'outcome=failed': 1 })
      expect(pointsOf(found, 'cano_workflow_active')).to.deep.equal({ '': 0 })
      // m-1: 5 (Reserve) + 20 + 100 + 20 + 100 + 20 (Fetch) ms; m-2: 5 + 3 x 20 + 2 x 100
      expect(mapValues(pointsOf(found, 'cano_workflow_duration_seconds'), countSum)).to.deep.equal({
        'outcome=completed': [1, 0.265],
        'outcome=failed': [1, 0.265],
      })
      expect(pointsOf(found, 'cano_state_enters_total')).to.deep.equal({
        'state=Reserve': 2,
        'state=Fetch': 2,
        'state=Done': 1,
      })
      expect(mapValues(pointsOf(found, 'cano_task_duration_seconds'), countSum)).to.deep.equal({
        'outcome=completed,state=Reserve': [2, 0.01],
        'outcome=completed,state=Fetch': [1, 0.26],
        'outcome=failed,state=Fetch': [1, 0.26],
      })
      expect(pointsOf(found, 'cano_task_attempts_total')).to.deep.equal({ 'outcome=completed': 3, 'outcome=failed': 5 })
      expect(mapValues(pointsOf(found, 'cano_task_attempt_duration_seconds'), countSum)).to.deep.equal({
        'outcome=completed': [3, 0.03],
        'outcome=failed': [5, 0.1],
      })
      expect(pointsOf(found, 'cano_task_retries_total')).to.deep.equal({ 'task=Fetch': 4 })
      // rows: m-1 Reserve entry, its completion, Fetch entry, Done entry; m-2 the first three, then the rollback's
      // marker and the compensation's done row (the memory store is durable at once on the virtual clock)
      expect(pointsOf(found, 'cano_checkpoint_appends_total')).to.deep.equal({ 'result=ok': 9 })
      expect(mapValues(pointsOf(found, 'cano_checkpoint_append_duration_seconds'), countSum)).to.deep.equal({
        'kind=StateEntry': [5, 0],
        'kind=CompensationCompletion': [2, 0],
        'kind=RollbackStarted': [1, 0],
        'kind=CompensationDone': [1, 0],
      })
      expect(pointsOf(found, 'cano_compensations_run_total')).to.deep.equal({ 'result=ok': 1 })
      expect(pointsOf(found, 'cano_compensation_drains_total')).to.deep.equal({ 'outcome=clean': 1 })
      await m.provider.shutdown()
    })

    it('breaker states and rejections, limiter waits, split branches, batch items, resumes and parked runs', async () => {
      const m = metering()
      const meter = m.provider.getMeter('test')
      const telemetry = otelObserver({ meter })
      const clock = createVirtualClock(0)
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 }, { scheduler: clock })
      const watching = telemetry.watchBreaker('payments', breaker)
      const limiter = createRateLimiter({ tokens: 1, perMs: 50, scheduler: clock })
      const flow = workflow<'Limited' | 'Again' | 'Guarded' | 'FanOut' | 'Items' | 'Done'>()({
        exits: ['Done'],
        states: {
          Limited: task(() => 'Again' as const, { rateLimiter: limiter }),
          Again: task(() => 'Guarded' as const, { rateLimiter: limiter }),
          Guarded: task(
            () => {
              throw new Error('down')
            },
            { circuitBreaker: breaker, retry: RetryMode.none() },
          ),
          FanOut: split([() => 1, () => 2], { strategy: JoinStrategy.all(), join: 'Items' }),
          Items: batch({
            load: () => [1, 2, 3],
            processItem: (n: number) => {
              if (n === 2) throw new Error('bad item')
              return n
            },
            itemRetry: RetryMode.none(),
            finish: () => 'Done' as const,
          }),
        },
        observers: [telemetry],
      })
      // the breaker trips on the first run's Guarded and rejects the second's
      expect(await settle(flow.orchestrate('Limited', { scheduler: clock }), clock)).to.equal('failed')
      expect(await settle(flow.orchestrate('Guarded', { scheduler: clock }), clock)).to.equal('failed')
      expect(await settle(flow.orchestrate('FanOut', { scheduler: clock }), clock)).to.equal('completed')
      const found = await m.collect()
      expect(pointsOf(found, 'cano_circuit_state')).to.deep.equal({ 'breaker=payments': 2 })
      expect(pointsOf(found, 'cano_circuit_transitions_total')).to.deep.equal({
        'breaker=payments,transition=closed_to_open': 1,
      })
      expect(pointsOf(found, 'cano_circuit_rejections_total')).to.deep.equal({ 'task=Guarded': 1 })
      // Again waited 50 ms for the token Limited took
      expect(mapValues(pointsOf(found, 'cano_rate_limiter_wait_seconds'), countSum)).to.deep.equal({ '': [2, 0.05] })
      expect(pointsOf(found, 'cano_rate_limiter_throttled_total')).to.deep.equal({ 'result=waited': 1 })
      expect(pointsOf(found, 'cano_split_branch_results_total')).to.deep.equal({ 'result=success': 2 })
      expect(pointsOf(found, 'cano_batch_items_total')).to.deep.equal({ 'result=ok': 2, 'result=err': 1 })
      watching.unsubscribe()
      await m.provider.shutdown()
    })

    it('counts resumed runs', async () => {
      const m = metering()
      const store = memoryCheckpoints()
      let first = true
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            if (!first) return 'Done' as const
            first = false
            return new Subject<'Done'>() // never answers: the first run is left here
          }),
        },
        checkpoints: store,
        observers: [otelObserver({ meter: m.provider.getMeter('test') })],
      })
      const left = flow.run$('A', { workflowId: 'again-1' }).subscribe()
      await new Promise<void>((resolve) => {
        const poll = (): void =>
          void store.loadRun('again-1').then((rows) => (rows.length > 0 ? resolve() : setImmediate(poll)))
        poll()
      })
      left.unsubscribe()
      expect(await flow.resume('again-1')).to.equal('Done')
      const found = await m.collect()
      expect(pointsOf(found, 'cano_workflow_runs_started_total')).to.deep.equal({
        'resumed=false': 1,
        'resumed=true': 1,
      })
      expect(pointsOf(found, 'cano_resumes_total')).to.deep.equal({ '': 1 })
      // the first execution ended cancelled when its subscriber left, the resumed one completed
      expect(pointsOf(found, 'cano_workflow_runs_total')).to.deep.equal({
        'outcome=cancelled': 1,
        'outcome=completed': 1,
      })
      expect(pointsOf(found, 'cano_workflow_active')).to.deep.equal({ '': 0 })
      await m.provider.shutdown()
    })

    it('a resume refused while the run executes: traceOf still answers for the live run, the refused one counts as no run', async () => {
      const sdk = tracing()
      const m = metering()
      const store = memoryCheckpoints()
      const telemetry = otelObserver({ tracer: sdk.tracer, meter: m.provider.getMeter('test') })
      const gate = new Subject<'Done'>()
      let running = (): void => undefined
      const started = new Promise<void>((resolve) => (running = resolve))
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            running()
            return gate
          }),
        },
        checkpoints: store,
        observers: [telemetry],
      })
      const live = flow.orchestrate('A', { workflowId: 'held-1' })
      await started
      const before = telemetry.traceOf('held-1')
      expect(before).to.not.equal(undefined)
      let refused: unknown
      let after: unknown
      try {
        await flow.resume('held-1').catch((e: unknown) => (refused = e))
        await Promise.resolve()
        // the live run still waits at its gate: its ids must still be there
        after = telemetry.traceOf('held-1')
      } finally {
        gate.next('Done')
        gate.complete()
      }
      expect(refused).to.have.nested.property('error._tag', 'RunOwned')
      expect(after).to.deep.equal(before)
      expect(await live).to.equal('Done')
      const runs = sdk.spans().filter((x) => x.name === 'run')
      expect(
        runs.map((x) => [x.attributes['cano.run.outcome'], x.attributes['cano.run.started']]),
      ).to.have.deep.members([
        ['failed', false],
        ['completed', undefined],
      ])
      const found = await m.collect()
      expect(pointsOf(found, 'cano_workflow_runs_started_total')).to.deep.equal({ 'resumed=false': 1 })
      expect(pointsOf(found, 'cano_workflow_runs_total')).to.deep.equal({ 'outcome=completed': 1 })
      expect(pointsOf(found, 'cano_workflow_active')).to.deep.equal({ '': 0 })
      await m.provider.shutdown()
    })

    it('counts the runs a runtime parks (they end no run here)', async () => {
      const m = metering()
      const telemetry = otelObserver({ meter: m.provider.getMeter('test') })
      const store = memoryCheckpoints()
      const nap = workflow<'Nap' | 'Done'>()({
        name: 'nap',
        exits: ['Done'],
        states: { Nap: sleep({ wait: 3_600_000, then: 'Done' as const }) },
        observers: [telemetry],
      })
      const runtime = createRuntime({
        store,
        workflows: { nap: { workflow: nap, initial: 'Nap' } },
        parkAfterMs: 1_000,
        pollMs: 10,
      })
      const watching = telemetry.watchRuntime(runtime.events$)
      const parked = lastValueFrom(
        runtime.events$.pipe(
          filter((e) => e._tag === 'Parked'),
          take(1),
        ),
      )
      await runtime.start('nap', null, { id: 'nap-1' })
      await parked
      await runtime.stop({ graceMs: 0 })
      watching.unsubscribe()
      const found = await m.collect()
      expect(pointsOf(found, 'cano_runs_parked_total')).to.deep.equal({ '': 1 })
      // the parked run was abandoned here: no longer active, not ended
      expect(pointsOf(found, 'cano_workflow_active')).to.deep.equal({ '': 0 })
      expect(pointsOf(found, 'cano_workflow_runs_total')).to.deep.equal({})
      await m.provider.shutdown()
    })
  })
})

const mapValues = <A, B>(o: Record<string, A>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]))
