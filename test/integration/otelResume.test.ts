/**
 * A run traced with `cano-rx/otel` on a real SQLite file, left mid-run and resumed through a new store
 * opened on the same file (as a new process would): the first row keeps the run's trace context, the
 * resumed run's span links to the first run's, and the spans of both executions form the expected trees.
 * Spans go to the OpenTelemetry SDK's in-memory exporter.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { expect } from 'chai'
import { Subject } from 'rxjs'

import { otelObserver } from '../../roots/otel.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { workflow } from '../../roots/Workflow.js'
import type { CheckpointStore } from '../../src/CheckpointStore.js'
import { RetryMode } from '../../src/RetryMode.js'
import { task } from '../../src/StateHandler.js'
import type { TaskOutput } from '../../src/TaskOutput.js'

type Step = 'Fetch' | 'Store' | 'Done'

/** `name parent-name` of each span, in the order they ended. */
const shape = (spans: ReadonlyArray<ReadableSpan>): string[] => {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
  return spans.map((s) => {
    const parent = s.parentSpanContext === undefined ? undefined : byId.get(s.parentSpanContext.spanId)
    return `${s.name} <- ${parent?.name ?? '(root)'}`
  })
}

describe('cano-rx/otel: a run resumed from a real SQLite file links to its first trace', function () {
  this.timeout(30_000)
  let dir = ''
  const stores: CheckpointStore[] = []
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-otel-'))
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  })
  after(async () => {
    context.disable()
    for (const s of stores) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps the trace context in the first row and links the resumed run to it', async () => {
    const exporter = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
    const tracer = provider.getTracer('test')
    const file = join(dir, 'runs.db')
    const define = (store: CheckpointStore, storeTask: () => TaskOutput<Step>) =>
      workflow<Step>()({
        name: 'ingest',
        exits: ['Done'],
        states: {
          Fetch: task(async () => {
            tracer.startSpan('GET /feed').end()
            return 'Store' as const
          }),
          Store: task(
            () => {
              tracer.startSpan('INSERT rows').end()
              return storeTask()
            },
            { retry: RetryMode.none() },
          ),
        },
        checkpoints: store,
        observers: [otelObserver({ tracer })],
      })

    // the first execution: Store never answers; its subscriber leaves (a crash, as far as the log goes)
    const first = sqliteCheckpoints(file)
    stores.push(first)
    const hang = new Subject<'Done'>()
    // the Store task is reached once the real file is open, its schema made and Fetch's rows written:
    // awaited as an event, not counted in turns of the event loop (how long the open takes varies)
    let storeReached = (): void => undefined
    const reached = new Promise<void>((resolve) => {
      storeReached = resolve
    })
    const flow1 = define(first, () => {
      storeReached()
      return hang
    })
    const sub = flow1.run$('Fetch', { workflowId: 'ingest-7' }).subscribe()
    await reached
    // leaving the run cancels it (its log is kept, the cancellation recorded): wait for its span to end
    sub.unsubscribe()
    const runSpan = () => exporter.getFinishedSpans().find((s) => s.name === 'run ingest')
    // the run span ends once the cancellation is recorded in the file: polled on the span itself
    while (runSpan() === undefined) await new Promise((r) => setTimeout(r, 5))
    const firstRun = runSpan()
    expect(firstRun?.attributes['cano.run.outcome']).to.equal('cancelled')
    const original = firstRun?.spanContext()

    // the log on disk: its first row holds the run's W3C traceparent
    const reopened = sqliteCheckpoints(file)
    stores.push(reopened)
    const rows = await reopened.loadRun('ingest-7')
    expect(rows.map((r) => [r.seq, r.kind, r.state, r.payload])).to.deep.equal([
      [
        0,
        'StateEntry',
        'Fetch',
        { notes: { otel: { traceparent: `00-${original?.traceId}-${original?.spanId}-01` } } },
      ],
      [1, 'StateEntry', 'Store', null],
    ])

    // the second execution, from a store opened anew on the file
    exporter.reset()
    const flow2 = define(reopened, () => 'Done' as const)
    expect(await flow2.resume('ingest-7')).to.equal('Done')
    const spans = exporter.getFinishedSpans()
    const resumed = spans.find((s) => s.name === 'run ingest')
    expect(resumed?.attributes).to.deep.include({ 'cano.workflow.id': 'ingest-7', 'cano.run.resumed': true })
    expect(resumed?.parentSpanContext).to.equal(undefined)
    expect(resumed?.spanContext().traceId).to.not.equal(original?.traceId)
    expect(resumed?.links.map((l) => ({ ...l.context, attributes: l.attributes }))).to.deep.equal([
      {
        traceId: original?.traceId,
        spanId: original?.spanId,
        traceFlags: 1,
        isRemote: true,
        attributes: { 'cano.link': 'resumed_from' },
      },
    ])
    expect(resumed?.events.map((e) => [e.name, e.attributes])).to.deep.equal([
      ['resumed', { 'cano.state': 'Store', 'cano.checkpoint.seq': 1 }],
    ])
    expect(shape(spans)).to.deep.equal([
      'INSERT rows <- attempt Store',
      'attempt Store <- state Store',
      'state Store <- run ingest',
      'state Done <- run ingest',
      'run ingest <- (root)',
    ])
    // a completed run's log is cleared with its outcome
    expect(await reopened.loadRun('ingest-7')).to.deep.equal([])
  })
})
