/**
 * `cano-rx/otel`: OpenTelemetry traces and metrics for cano-rx runs, written against
 * `@opentelemetry/api` only (an optional peer dependency: install it, and an SDK of your choice, to use
 * this entry). `otelObserver()` is a {@link WorkflowObserver}: put it in a workflow's `observers` (or a
 * run's) and every run of that workflow is traced and measured.
 *
 * Traces (one trace per run, or the caller's when a span is active as the run starts):
 *
 * ```text
 * run orders                         the run (cano.workflow.id, cano.run.outcome, …)
 * ├─ state Fetch                     each state visit, from StateEntered to its task's end
 * │  ├─ attempt Fetch                each attempt; the task function runs inside it (context.with)
 * │  │     (retry event on the state span: cano.attempt, cano.retry.delay_ms)
 * │  └─ attempt Fetch
 * ├─ state FanOut
 * │  ├─ branch FanOut[0]             each split branch …
 * │  │  └─ attempt FanOut[0]         … and its attempts
 * │  └─ branch FanOut[1] …
 * ├─ state Load
 * │  └─ attempt Load
 * │     ├─ item Load                 each batch item (cano.batch.item)
 * │     └─ item Load …
 * ├─ state Done                      the exit state
 * └─ compensate Charge               each compensation of a rollback (cano.compensation.attempts)
 * ```
 *
 * An item's and a compensation's retries are `retry` events on their span (cano.attempt, the attempt
 * that failed, as on a state's retry events; cano.retry.delay_ms; cano.error.message, its error). A failed item,
 * like every failed span, has status ERROR with its error's message, `cano.error.tag` and an `exception`
 * event.
 *
 * The run's trace context is kept with a durable run (a note in its first checkpoint row, see
 * `WorkflowObserver.note`): a resumed run (by hand, or by a runtime after a crash or a parked sleep)
 * starts a span of its own that links to the first one. Spans take their times from the SDK's clock;
 * metrics from the run's clock (the events' `at`, milliseconds).
 *
 * Metrics use cano's names where cano has them (`cano_workflow_runs_total`, `cano_task_retries_total`, …;
 * docs/observability.md lists them with their attributes). When no SDK is registered (the API's no-op
 * tracer and meter), `forRun` declines the run and the engine builds no events for it: the adapter then
 * costs one no-op span per run and nothing per transition.
 *
 * @since 0.3.0
 */
import {
  type Attributes,
  type Context,
  context,
  type Counter,
  createNoopMeter,
  type Histogram,
  isSpanContextValid,
  type Link,
  type Meter,
  metrics,
  type Span,
  type SpanContext,
  SpanStatusCode,
  trace,
  type Tracer,
  type UpDownCounter,
} from '@opentelemetry/api'
import type { Subscribable, Unsubscribable } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { isBatchProgress } from '../src/Batch.js'
import { CanoFailure, configurationError, isCanoError } from '../src/CanoError.js'
import type { CircuitState, CircuitTransition } from '../src/CircuitBreaker.js'
import { cutString } from '../src/internal/cutString.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { TraceIds } from '../src/LogObserver.js'
import type { TerminalEvent, WorkflowEvent } from '../src/WorkflowEvent.js'
import type { AttemptScope, RunInfo, WorkflowObserver } from '../src/WorkflowObserver.js'
import type { RuntimeEvent } from './Runtime.js'

/** `u` can be subscribed to (an Observable, a Subject, any `Subscribable`). */
const isSubscribable = (u: unknown): boolean =>
  typeof u === 'object' && u !== null && typeof (u as { readonly subscribe?: unknown }).subscribe === 'function'

/** What is wrong with `otelObserver`'s options, if anything. */
const checkOtelOptions = (options: unknown): string | undefined => {
  if (typeof options !== 'object' || options === null) return `options must be an object, got ${describeValue(options)}`
  const { tracer, meter } = options as Record<string, unknown>
  if (
    tracer !== undefined &&
    (typeof tracer !== 'object' ||
      tracer === null ||
      typeof (tracer as { readonly startSpan?: unknown }).startSpan !== 'function')
  )
    return `tracer must be an OpenTelemetry Tracer (with startSpan), got ${describeValue(tracer)}`
  if (
    meter !== undefined &&
    (typeof meter !== 'object' ||
      meter === null ||
      typeof (meter as { readonly createCounter?: unknown }).createCounter !== 'function' ||
      typeof (meter as { readonly createHistogram?: unknown }).createHistogram !== 'function')
  )
    return `meter must be an OpenTelemetry Meter (with createCounter and createHistogram), got ${describeValue(meter)}`
  return undefined
}

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link otelObserver}.
 *
 * @example
 * import { trace, metrics } from '@opentelemetry/api'
 * import type { OtelOptions } from 'cano-rx/otel'
 * const options: OtelOptions = { tracer: trace.getTracer('orders'), meter: metrics.getMeter('orders') }
 * @category model
 * @since 0.3.0
 */
export interface OtelOptions {
  /** The tracer of the spans. Default `trace.getTracer('cano-rx')` (the global provider, resolved at each span). */
  readonly tracer?: Tracer
  /**
   * The meter of the metrics. Default: `metrics.getMeter('cano-rx')` looked up as each run starts, so a
   * meter provider registered after the observer was made is used from the next run on.
   */
  readonly meter?: Meter
}

/**
 * The observer {@link otelObserver} makes: a {@link WorkflowObserver} (its `forRun` makes one observer per
 * run) plus what the event stream cannot show: breaker states and a runtime's parked runs.
 *
 * @example
 * import { createCircuitBreaker } from 'cano-rx'
 * import { otelObserver, type OtelObserver } from 'cano-rx/otel'
 * const telemetry: OtelObserver = otelObserver()
 * const subscription = telemetry.watchBreaker('payments', createCircuitBreaker({ failureThreshold: 5 }))
 * @category model
 * @since 0.3.0
 */
export interface OtelObserver extends WorkflowObserver {
  readonly forRun: (run: RunInfo) => WorkflowObserver | undefined
  /**
   * The trace and span ids of run `workflowId`'s span while the run executes in this process with a
   * recording tracer (for log correlation: pass it to `logObserver`'s `traceOf`); `undefined` otherwise.
   */
  readonly traceOf: (workflowId: string) => TraceIds | undefined
  /**
   * Reports `breaker`'s state as the gauge `cano_circuit_state{breaker}` (0 closed, 1 half-open, 2 open) and
   * counts its transitions in `cano_circuit_transitions_total{breaker, transition}` (`closed_to_open`,
   * `open_to_halfopen`, `halfopen_to_closed`, `halfopen_to_open`), until unsubscribed.
   */
  readonly watchBreaker: (name: string, breaker: { readonly state$: Subscribable<CircuitTransition> }) => Unsubscribable
  /** Counts the runs a runtime parks (`cano_runs_parked_total`) from its `events$`, until unsubscribed. */
  readonly watchRuntime: (events: Subscribable<RuntimeEvent>) => Unsubscribable
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Traces and measures runs with OpenTelemetry; see the module comment for the span tree and
 * docs/observability.md for the metrics.
 *
 * @param options - the tracer and meter (defaults: the global providers')
 * @returns an observer to put in a workflow's or a run's `observers`
 * @example
 * import { task, workflow } from 'cano-rx'
 * import { otelObserver } from 'cano-rx/otel'
 * const telemetry = otelObserver()
 * const flow = workflow<'Fetch' | 'Done'>()({
 *   name: 'fetch',
 *   exits: ['Done'],
 *   states: { Fetch: task(async () => 'Done' as const) },
 *   observers: [telemetry],
 * })
 * await flow.orchestrate('Fetch')
 * @category constructors
 * @since 0.3.0
 */
export const otelObserver = (options: OtelOptions = {}): OtelObserver => {
  const bad = checkOtelOptions(options)
  if (bad !== undefined) throw new CanoFailure(configurationError(`otelObserver: ${bad}`))
  const tracer = options.tracer ?? trace.getTracer(SCOPE)
  const meterOf = (): Meter => options.meter ?? metrics.getMeter(SCOPE)
  /** The span of each run executing here with a recording tracer (for `traceOf`). */
  const running = new Map<string, Span>()
  const forRun = (run: RunInfo): WorkflowObserver | undefined => {
    const meter = meterOf()
    const instruments = meter === NOOP_METER ? undefined : instrumentsOf(meter)
    const parent = context.active()
    const resumedFrom = run.resumed ? fromNote(run.notes[NOTE_KEY]) : undefined
    const attributes: Attributes = {
      'cano.workflow.id': run.workflowId,
      'cano.workflow.version': run.version,
      'cano.run.resumed': run.resumed,
    }
    if (run.workflow !== undefined) attributes['cano.workflow.name'] = run.workflow
    const links: Link[] =
      resumedFrom === undefined ? [] : [{ context: resumedFrom, attributes: { 'cano.link': 'resumed_from' } }]
    const span = tracer.startSpan(
      run.workflow === undefined ? 'run' : `run ${run.workflow}`,
      { attributes, links },
      parent,
    )
    // no recording tracer (the API's no-op, or a sampler that dropped the run) and no meter: nothing to do
    if (!span.isRecording()) {
      if (instruments === undefined) return undefined
      return new RunTelemetry(run, tracer, undefined, parent, instruments, running).observer()
    }
    // `traceOf` answers for the run once it starts (see RunTelemetry): a second run under the same id that
    // is refused (its resume answered `RunOwned`) must not take the live run's ids away
    return new RunTelemetry(run, tracer, span, parent, instruments, running).observer()
  }
  const traceOf = (workflowId: string): TraceIds | undefined => {
    const span = running.get(workflowId)
    if (span === undefined) return undefined
    const { traceId, spanId } = span.spanContext()
    return { traceId, spanId }
  }
  const watchBreaker = (
    name: string,
    breaker: { readonly state$: Subscribable<CircuitTransition> },
  ): Unsubscribable => {
    if (typeof name !== 'string' || name === '')
      throw new CanoFailure(
        configurationError(`otelObserver.watchBreaker: name must be a non-empty string, got ${describeValue(name)}`),
      )
    if (!isSubscribable((breaker as { readonly state$?: unknown } | null | undefined)?.state$))
      throw new CanoFailure(
        configurationError(
          `otelObserver.watchBreaker: breaker must be a circuit breaker (with state$), got ${describeValue(breaker)}`,
        ),
      )
    const meter = meterOf()
    if (meter === NOOP_METER) return { unsubscribe: () => undefined }
    const { circuitTransitions, breakers } = instrumentsOf(meter)
    let previous: CircuitState['_tag'] | undefined
    const subscription = breaker.state$.subscribe({
      next: (t) => {
        const tag = t.state._tag
        breakers.set(name, tag)
        if (previous !== undefined && previous !== tag)
          circuitTransitions.add(1, { breaker: name, transition: `${CIRCUIT_NAME[previous]}_to_${CIRCUIT_NAME[tag]}` })
        previous = tag
      },
    })
    return {
      unsubscribe: () => {
        subscription.unsubscribe()
        breakers.delete(name)
      },
    }
  }
  const watchRuntime = (events: Subscribable<RuntimeEvent>): Unsubscribable => {
    if (!isSubscribable(events))
      throw new CanoFailure(
        configurationError(
          `otelObserver.watchRuntime: events must be a runtime's events$ (subscribable), got ${describeValue(events)}`,
        ),
      )
    const meter = meterOf()
    if (meter === NOOP_METER) return { unsubscribe: () => undefined }
    const { parked } = instrumentsOf(meter)
    return events.subscribe({
      next: (e) => {
        if (e._tag === 'Parked') parked.add(1)
      },
    })
  }
  return { forRun, traceOf, watchBreaker, watchRuntime }
}

// -------------------------------------------------------------------------------------
// internals
// -------------------------------------------------------------------------------------

const SCOPE = 'cano-rx'
const NOTE_KEY = 'otel'
const NOOP_METER = createNoopMeter()

const CIRCUIT_LEVEL: { readonly [K in CircuitState['_tag']]: number } = { Closed: 0, HalfOpen: 1, Open: 2 }
const CIRCUIT_NAME: { readonly [K in CircuitState['_tag']]: string } = {
  Closed: 'closed',
  HalfOpen: 'halfopen',
  Open: 'open',
}

/** W3C `traceparent` of a span context: what a durable run keeps (`{ traceparent }` under the note `otel`). */
const traceparent = (c: SpanContext): string =>
  `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** The span context a resumed run's note names, if it is a valid one. */
const fromNote = (note: JsonValue | undefined): SpanContext | undefined => {
  if (typeof note !== 'object' || note === null || Array.isArray(note)) return undefined
  const value = (note as { readonly [k: string]: JsonValue }).traceparent
  const m = typeof value === 'string' ? TRACEPARENT.exec(value) : null
  if (m === null) return undefined
  const found: SpanContext = {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: parseInt(m[3] as string, 16),
    isRemote: true,
  }
  return isSpanContextValid(found) ? found : undefined
}

/** Histogram buckets for durations in seconds (the SDK's default buckets are for milliseconds). */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

/** The instruments of one meter, and the attribute objects they are recorded with (one per value). */
interface Instruments {
  readonly runsStarted: Counter
  readonly runs: Counter
  readonly runDuration: Histogram
  readonly active: UpDownCounter
  readonly resumes: Counter
  readonly stateEnters: Counter
  readonly taskDuration: Histogram
  readonly attempts: Counter
  readonly attemptDuration: Histogram
  readonly retries: Counter
  readonly rejections: Counter
  readonly circuitTransitions: Counter
  readonly throttled: Counter
  readonly limiterWait: Histogram
  readonly appends: Counter
  readonly appendDuration: Histogram
  readonly branches: Counter
  readonly items: Counter
  readonly compensations: Counter
  readonly drains: Counter
  readonly parked: Counter
  /** The state of each breaker watched on this meter, read by the gauge `cano_circuit_state`. */
  readonly breakers: Map<string, CircuitState['_tag']>
  /** One attribute object per value of a label (bounded: states, task ids, kinds are the workflow's). */
  readonly attrs: (label: string, value: string) => Attributes
  readonly stateOutcome: (state: string, outcome: string) => Attributes
}

const instrumentSets = new WeakMap<Meter, Instruments>()

const instrumentsOf = (meter: Meter): Instruments => {
  const known = instrumentSets.get(meter)
  if (known !== undefined) return known
  const counter = (name: string, description: string, unit: string): Counter =>
    meter.createCounter(name, { description, unit })
  const seconds = (name: string, description: string): Histogram =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: SECONDS } })
  const breakers = new Map<string, CircuitState['_tag']>()
  meter
    .createObservableGauge('cano_circuit_state', {
      description: 'The state of each watched circuit breaker: 0 closed, 1 half-open, 2 open',
      unit: '{state}',
    })
    .addCallback((result) => {
      for (const [name, tag] of breakers) result.observe(CIRCUIT_LEVEL[tag], { breaker: name })
    })
  // label -> value -> attributes: a metric is recorded with a shared frozen object, no key built per call
  const byLabel = new Map<string, Map<string, Attributes>>()
  const attrs = (label: string, value: string): Attributes => {
    let values = byLabel.get(label)
    if (values === undefined) byLabel.set(label, (values = new Map<string, Attributes>()))
    let a = values.get(value)
    if (a === undefined) values.set(value, (a = Object.freeze({ [label]: value })))
    return a
  }
  const byOutcome = new Map<string, Map<string, Attributes>>()
  const stateOutcome = (state: string, outcome: string): Attributes => {
    let states = byOutcome.get(outcome)
    if (states === undefined) byOutcome.set(outcome, (states = new Map<string, Attributes>()))
    let a = states.get(state)
    if (a === undefined) states.set(state, (a = Object.freeze({ state, outcome })))
    return a
  }
  const made: Instruments = {
    runsStarted: counter(
      'cano_workflow_runs_started_total',
      'Runs started (resumed: a run continued from its log)',
      '{run}',
    ),
    runs: counter('cano_workflow_runs_total', 'Runs ended, by outcome', '{run}'),
    runDuration: seconds(
      'cano_workflow_duration_seconds',
      'Duration of a run (of one execution, for a resumed run), by outcome',
    ),
    active: meter.createUpDownCounter('cano_workflow_active', { description: 'Runs executing now', unit: '{run}' }),
    resumes: counter('cano_resumes_total', 'Runs resumed from their checkpoint log', '{run}'),
    stateEnters: counter('cano_state_enters_total', 'State entries, by state', '{entry}'),
    taskDuration: seconds(
      'cano_task_duration_seconds',
      "Duration of a state's task, retries included, by state and outcome",
    ),
    attempts: counter('cano_task_attempts_total', 'Attempts of tasks and split branches, by outcome', '{attempt}'),
    attemptDuration: seconds('cano_task_attempt_duration_seconds', 'Duration of one attempt, by outcome'),
    retries: counter('cano_task_retries_total', 'Retries scheduled, by task', '{retry}'),
    rejections: counter('cano_circuit_rejections_total', 'Attempts a circuit breaker rejected, by task', '{attempt}'),
    circuitTransitions: counter(
      'cano_circuit_transitions_total',
      'Transitions of watched circuit breakers',
      '{transition}',
    ),
    throttled: counter(
      'cano_rate_limiter_throttled_total',
      'Attempts a rate limiter delayed (waited) or refused (rejected)',
      '{attempt}',
    ),
    limiterWait: seconds('cano_rate_limiter_wait_seconds', 'Time an attempt waited for a token of its rate limiter'),
    appends: counter('cano_checkpoint_appends_total', 'Checkpoint rows made durable', '{row}'),
    appendDuration: seconds(
      'cano_checkpoint_append_duration_seconds',
      'Time a store took to make a checkpoint row durable, by row kind',
    ),
    branches: counter('cano_split_branch_results_total', 'Split branches settled, by result', '{branch}'),
    items: counter('cano_batch_items_total', 'Batch items settled, by result', '{item}'),
    compensations: counter(
      'cano_compensations_run_total',
      'Compensations run during rollbacks, by result',
      '{compensation}',
    ),
    drains: counter(
      'cano_compensation_drains_total',
      'Rollbacks finished: clean (every compensation ran) or partial',
      '{rollback}',
    ),
    breakers,
    parked: counter('cano_runs_parked_total', 'Runs a runtime parked until their timer (watchRuntime)', '{run}'),
    attrs,
    stateOutcome,
  }
  instrumentSets.set(meter, made)
  return made
}

const OUTCOME: { readonly [K in TerminalEvent['_tag']]: string } = {
  RunCompleted: 'completed',
  RunFailed: 'failed',
  RunCancelled: 'cancelled',
  RunTimedOut: 'timeout',
}

const BRANCH_RESULT = { Succeeded: 'success', Failed: 'failure', Cancelled: 'cancelled' } as const

/** An open span (absent without a recording tracer) and when it began on the run's clock. */
interface Opened {
  readonly span: Span | undefined
  /** The run's clock when it began (ms). */
  readonly at: number
}

/** An attempt in flight. */
interface AttemptRecord extends Opened {
  readonly n: number
}

/** A state visit or a split branch: its span, and its attempt in flight. */
interface Holder {
  readonly span: Span | undefined
  attempt: AttemptRecord | undefined
}

interface Visit extends Holder {
  readonly state: string
  /** The state's task id, once `TaskStarted` named it. */
  taskId: string | undefined
  /** When the task started (the run's clock), once it did. */
  taskAt: number | undefined
}

/**
 * The telemetry of one run: its spans (when `runSpan` is recording) and its metrics (when `m` is given).
 * Fed by the run's events and by `aroundAttempt`.
 */
class RunTelemetry {
  private started: number | undefined
  private ended = false
  private visit: Visit | undefined
  private branches: Map<string, Holder> | undefined
  private items: Map<number, Opened> | undefined
  /** The failed count of the last batch progress (to tell an item that failed from one that succeeded). */
  private batchFailed = 0
  private compensation: Opened | undefined
  private compensationsRun = 0
  private compensationsFailed = 0

  constructor(
    private readonly run: RunInfo,
    private readonly tracer: Tracer,
    private readonly runSpan: Span | undefined,
    /** The context active when the run started: spans of the run's attempts are made active on top of it. */
    private readonly base: Context,
    private readonly m: Instruments | undefined,
    private readonly running: Map<string, Span>,
  ) {}

  /** The observer of the run (only the hooks this run needs). */
  observer(): WorkflowObserver {
    const span = this.runSpan
    const observer: WorkflowObserver = {
      onEvent: (e) => this.onEvent(e),
      aroundAttempt: (scope, start) => this.around(scope, start),
      onAbandon: () => this.abandon(),
    }
    if (span === undefined || !isSpanContextValid(span.spanContext())) return observer
    const note = { traceparent: traceparent(span.spanContext()) }
    return { ...observer, note: { key: NOTE_KEY, value: () => note } }
  }

  // -- events -------------------------------------------------------------------------

  private onEvent(e: WorkflowEvent): void {
    if (this.ended) return
    const m = this.m
    switch (e._tag) {
      case 'RunStarted':
        this.started = e.at
        if (this.runSpan !== undefined) {
          this.runSpan.setAttribute('cano.run.initial', e.initial)
          this.running.set(this.run.workflowId, this.runSpan)
        }
        if (m !== undefined) {
          m.runsStarted.add(1, m.attrs('resumed', String(this.run.resumed)))
          m.active.add(1)
        }
        return
      case 'RunResumed':
        this.runSpan?.addEvent('resumed', { 'cano.state': e.state, 'cano.checkpoint.seq': e.fromSeq })
        m?.resumes.add(1)
        return
      case 'StateEntered': {
        this.closeVisit(undefined)
        const span = this.child(`state ${e.state}`, this.runSpan, {
          'cano.state': e.state,
          'cano.transition': e.transition,
        })
        this.visit = { span, state: e.state, taskId: undefined, taskAt: undefined, attempt: undefined }
        m?.stateEnters.add(1, m.attrs('state', e.state))
        return
      }
      case 'TaskStarted': {
        const visit = this.visit
        if (visit === undefined) return
        if (visit.taskId === undefined) {
          visit.taskId = e.taskId
          visit.taskAt = e.at
          visit.span?.setAttribute('cano.task.id', e.taskId)
          return
        }
        // a split branch: its task id is the split's with the branch's index
        const index = branchIndex(visit.taskId, e.taskId)
        const span = this.child(`branch ${e.taskId}`, visit.span, {
          'cano.task.id': e.taskId,
          ...(index === undefined ? {} : { 'cano.split.branch': index }),
        })
        ;(this.branches ??= new Map()).set(e.taskId, { span, attempt: undefined })
        return
      }
      case 'AttemptFailed': {
        const holder = this.holderOf(e.taskId)
        if (holder?.attempt === undefined) {
          // an attempt that never started (its rate limiter refused it) still counts as a failed attempt
          m?.attempts.add(1, m.attrs('outcome', 'failed'))
        } else this.endAttempt(holder, e.at, e.error)
        if (e.error._tag === 'RateLimited') m?.throttled.add(1, m.attrs('result', 'rejected'))
        return
      }
      case 'RetryScheduled':
        this.holderOf(e.taskId)?.span?.addEvent('retry', {
          'cano.attempt': e.attempt,
          'cano.retry.delay_ms': e.delayMs,
        })
        m?.retries.add(1, m.attrs('task', e.taskId))
        return
      case 'CircuitRejected':
        this.holderOf(e.taskId)?.span?.addEvent('circuit_rejected', { 'cano.error.message': messageOf(e.error) })
        m?.rejections.add(1, m.attrs('task', e.taskId))
        return
      case 'TaskSucceeded': {
        const visit = this.visit
        if (visit === undefined || visit.taskId !== e.taskId) return
        this.endAttempt(visit, e.at, undefined)
        visit.span?.setAttributes({ 'cano.state.next': e.next, 'cano.task.attempts': e.attempts })
        this.closeVisit(e.at, 'completed')
        return
      }
      case 'TaskFailed': {
        const visit = this.visit
        if (visit === undefined || visit.taskId !== e.taskId) return
        this.endAttempt(visit, e.at, e.error)
        this.closeBranches(e.error)
        fail(visit.span, e.error)
        this.closeVisit(e.at, 'failed')
        return
      }
      case 'SplitBranchSettled': {
        const branch = this.branches?.get(e.taskId)
        const outcome = e.outcome
        if (branch !== undefined) {
          this.branches?.delete(e.taskId)
          if (outcome._tag === 'Succeeded') this.endAttempt(branch, e.at, undefined)
          else if (outcome._tag === 'Failed') this.endAttempt(branch, e.at, outcome.error)
          else this.endAttempt(branch, e.at, 'cancelled')
          branch.span?.setAttribute('cano.split.outcome', outcome._tag)
          if (outcome._tag === 'Failed') fail(branch.span, outcome.error)
          branch.span?.end()
        }
        m?.branches.add(1, m.attrs('result', BRANCH_RESULT[outcome._tag]))
        return
      }
      case 'Progress': {
        const data = e.data
        if (!isBatchProgress(data)) return
        const failed = data.failed > this.batchFailed
        this.batchFailed = data.failed
        const item = this.items?.get(data.index)
        if (item !== undefined) {
          this.items?.delete(data.index)
          if (failed) {
            // the error of the item (since 0.3.0); progress data without one still marks the span failed
            const error = data.error
            if (isCanoError(error)) fail(item.span, error)
            else item.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'item failed' })
          }
          item.span?.end()
        }
        m?.items.add(1, m.attrs('result', failed ? 'err' : 'ok'))
        return
      }
      case 'CursorAdvanced': {
        // a stepped state's step succeeded: its attempt ends here; the next step is a new one
        const visit = this.visit
        if (visit !== undefined) this.endAttempt(visit, e.at, undefined)
        visit?.span?.addEvent('cursor_advanced', { 'cano.step': e.step })
        return
      }
      case 'WindowFlushed':
        this.visit?.span?.addEvent('window_flushed', { 'cano.stream.window': e.window, 'cano.stream.items': e.items })
        return
      case 'TimerArmed':
        this.visit?.span?.addEvent('timer_armed', { 'cano.timer.wake_at': e.wakeAt })
        return
      case 'CheckpointAppended': {
        ;(this.visit?.span ?? this.runSpan)?.addEvent('checkpoint', {
          'cano.checkpoint.seq': e.seq,
          'cano.checkpoint.kind': e.kind,
        })
        if (m === undefined) return
        m.appends.add(1, m.attrs('result', 'ok'))
        if (e.latencyMs !== undefined) m.appendDuration.record(e.latencyMs / 1000, m.attrs('kind', e.kind))
        return
      }
      case 'CompensationStarted':
        this.closeVisit(undefined)
        this.compensation = {
          span: this.child(`compensate ${e.state}`, this.runSpan, {
            'cano.state': e.state,
            'cano.task.id': e.taskId,
            ...(e.seq === undefined ? {} : { 'cano.checkpoint.seq': e.seq }),
          }),
          at: e.at,
        }
        return
      case 'Compensated':
        this.compensationsRun += 1
        this.compensation?.span?.setAttribute('cano.compensation.attempts', e.attempts)
        this.compensation?.span?.end()
        this.compensation = undefined
        m?.compensations.add(1, m.attrs('result', 'ok'))
        return
      case 'CompensationFailed':
        this.compensationsRun += 1
        this.compensationsFailed += 1
        if (e.attempts !== undefined) this.compensation?.span?.setAttribute('cano.compensation.attempts', e.attempts)
        fail(this.compensation?.span, e.error)
        this.compensation?.span?.end()
        this.compensation = undefined
        m?.compensations.add(1, m.attrs('result', 'err'))
        return
      case 'RunCompleted':
      case 'RunFailed':
      case 'RunCancelled':
      case 'RunTimedOut':
        return this.end(e)
      case 'ObserverFailed':
        return
    }
  }

  /** The run ended with `e`: every open span ends, the run's metrics are recorded. */
  private end(e: TerminalEvent): void {
    this.ended = true
    const outcome = OUTCOME[e._tag]
    const error = e._tag === 'RunCompleted' ? undefined : e.error
    this.closeAll(e.at, error)
    const span = this.runSpan
    if (span !== undefined) {
      span.setAttribute('cano.run.outcome', outcome)
      // a run that never started (a resume refused, options rejected): its span says so, and it is not
      // counted among the runs that ended (they stay the runs started)
      if (this.started === undefined) span.setAttribute('cano.run.started', false)
      if (e._tag === 'RunCompleted')
        span.setAttributes({ 'cano.run.exit': e.state, 'cano.run.transitions': e.transitions })
      else fail(span, e.error)
      span.end()
    }
    const m = this.m
    if (m !== undefined && this.started !== undefined) {
      const byOutcome = m.attrs('outcome', outcome)
      m.runs.add(1, byOutcome)
      m.runDuration.record((e.at - this.started) / 1000, byOutcome)
      m.active.add(-1)
      if (this.compensationsRun > 0)
        m.drains.add(1, m.attrs('outcome', this.compensationsFailed > 0 ? 'partial' : 'clean'))
    }
    this.forget()
  }

  /** The run was abandoned (its subscriber left): its spans end, marked so; it counts as no longer active. */
  private abandon(): void {
    if (this.ended) return
    this.ended = true
    this.closeAll(undefined, undefined)
    this.runSpan?.setAttribute('cano.run.abandoned', true)
    this.runSpan?.end()
    if (this.m !== undefined && this.started !== undefined) this.m.active.add(-1)
    this.forget()
  }

  /** Leaves `traceOf` after the observers after this one have seen the run's last event. */
  private forget(): void {
    const span = this.runSpan
    if (span === undefined) return
    queueMicrotask(() => {
      if (this.running.get(this.run.workflowId) === span) this.running.delete(this.run.workflowId)
    })
  }

  // -- attempts -----------------------------------------------------------------------

  private around(scope: AttemptScope, start: () => void): void {
    if (this.ended) return start()
    const m = this.m
    if (m !== undefined && scope.waitedMs !== undefined) {
      m.limiterWait.record(scope.waitedMs / 1000)
      if (scope.waitedMs > 0) m.throttled.add(1, m.attrs('result', 'waited'))
    }
    let span: Span | undefined
    switch (scope.kind) {
      case 'Task':
      case 'Branch': {
        const holder = scope.kind === 'Task' ? this.visit : this.branches?.get(scope.taskId)
        if (holder === undefined) return start()
        // every attempt ends with an event before the next starts; one still open (it should not be) is closed uncounted
        this.endAttempt(holder, scope.at, 'cancelled')
        if (scope.kind === 'Task') this.closeItems()
        const attributes: Attributes = { 'cano.task.id': scope.taskId, 'cano.attempt': scope.attempt }
        if (scope.waitedMs !== undefined) attributes['cano.rate_limiter.wait_ms'] = scope.waitedMs
        span = this.child(`attempt ${scope.taskId}`, holder.span, attributes)
        holder.attempt = { span, at: scope.at, n: scope.attempt }
        break
      }
      case 'Item': {
        const index = scope.index ?? -1
        const items = (this.items ??= new Map<number, Opened>())
        const known = items.get(index)
        if (known !== undefined) {
          known.span?.addEvent('retry', retryAttributes(scope))
          span = known.span
        } else {
          const parent = this.visit?.attempt?.span ?? this.visit?.span
          span = this.child(`item ${scope.state}`, parent, { 'cano.batch.item': index })
          items.set(index, { span, at: scope.at })
        }
        break
      }
      case 'Compensation': {
        span = this.compensation?.span
        if (scope.attempt > 1) span?.addEvent('retry', retryAttributes(scope))
        break
      }
    }
    if (span === undefined) return start()
    context.with(trace.setSpan(this.base, span), start)
  }

  /** Ends `holder`'s attempt in flight, if any: completed (`undefined`), failed (an error) or `cancelled`. */
  private endAttempt(holder: Holder | undefined, at: number, error: CanoError | 'cancelled' | undefined): void {
    const attempt = holder?.attempt
    if (holder === undefined || attempt === undefined) return
    holder.attempt = undefined
    const span = attempt.span
    if (error === 'cancelled') span?.setAttribute('cano.cancelled', true)
    else if (error !== undefined) fail(span, error)
    span?.end()
    const m = this.m
    if (m === undefined || error === 'cancelled') return
    const outcome = m.attrs('outcome', error === undefined ? 'completed' : 'failed')
    m.attempts.add(1, outcome)
    m.attemptDuration.record((at - attempt.at) / 1000, outcome)
  }

  // -- spans --------------------------------------------------------------------------

  /** A child span of `parent` (the run's span when `parent` is absent); `undefined` without a recording tracer. */
  private child(name: string, parent: Span | undefined, attributes: Attributes): Span | undefined {
    const runSpan = this.runSpan
    if (runSpan === undefined) return undefined
    return this.tracer.startSpan(name, { attributes }, trace.setSpan(this.base, parent ?? runSpan))
  }

  /** The state visit or branch that `taskId` belongs to. */
  private holderOf(taskId: string): Holder | undefined {
    const visit = this.visit
    if (visit !== undefined && visit.taskId === taskId) return visit
    return this.branches?.get(taskId) ?? visit
  }

  /** Ends the current visit's span (its task settled with `outcome` at `at`, or a new state came: `undefined`). */
  private closeVisit(at: number | undefined, outcome?: 'completed' | 'failed'): void {
    const visit = this.visit
    if (visit === undefined) return
    this.visit = undefined
    this.closeItems()
    if (visit.attempt !== undefined) this.endAttempt(visit, at ?? visit.attempt.at, 'cancelled')
    visit.span?.end()
    const m = this.m
    if (m !== undefined && at !== undefined && outcome !== undefined && visit.taskAt !== undefined)
      m.taskDuration.record((at - visit.taskAt) / 1000, m.stateOutcome(visit.state, outcome))
  }

  private closeBranches(error: CanoError | undefined): void {
    const branches = this.branches
    if (branches === undefined) return
    this.branches = undefined
    for (const b of branches.values()) {
      if (b.attempt !== undefined) this.endAttempt(b, b.attempt.at, 'cancelled')
      // a branch still open when its split ends (the run stopped, cancelled or timed out) did not settle:
      // it was cut off, as a branch settled `Cancelled` is
      b.span?.setAttribute('cano.split.outcome', 'Cancelled')
      if (error !== undefined) fail(b.span, error)
      b.span?.end()
    }
  }

  private closeItems(): void {
    const items = this.items
    if (items === undefined) return
    this.items = undefined
    this.batchFailed = 0
    for (const item of items.values()) {
      item.span?.setAttribute('cano.cancelled', true)
      item.span?.end()
    }
  }

  /** Ends every open span below the run's (the run ended with `error`, or was abandoned: both `undefined`). */
  private closeAll(at: number | undefined, error: CanoError | undefined): void {
    const visit = this.visit
    if (visit?.attempt !== undefined) {
      if (error !== undefined) fail(visit.attempt.span, error)
      this.endAttempt(visit, at ?? visit.attempt.at, 'cancelled')
    }
    this.closeBranches(error)
    if (visit !== undefined && error !== undefined && visit.taskId !== undefined) fail(visit.span, error)
    this.closeVisit(undefined)
    const compensation = this.compensation
    this.compensation = undefined
    compensation?.span?.setAttribute('cano.cancelled', true)
    compensation?.span?.end()
  }
}

/**
 * The attributes of the `retry` event of an item's or a compensation's span: the attempt that failed (as
 * on a state's `retry` events: 1 before the first retry) and, from the scope's `retry`, the delay waited
 * and that attempt's error.
 */
const retryAttributes = (scope: AttemptScope): Attributes => {
  const retry = scope.retry
  return retry === undefined
    ? { 'cano.attempt': scope.attempt - 1 }
    : {
        'cano.attempt': scope.attempt - 1,
        'cano.retry.delay_ms': retry.delayMs,
        'cano.error.message': messageOf(retry.error),
      }
}

/**
 * The longest error message a span carries whole: an error can hold megabytes, copied onto each failed
 * attempt's, the state's and the run's span (an exporter then drops the whole batch).
 */
const MAX_MESSAGE = 4096

/** `error`'s message, cut to {@link MAX_MESSAGE} characters with its length noted. */
const messageOf = (error: CanoError): string => cutString(error.message, MAX_MESSAGE)

/** Marks `span` failed with `error` (status and an exception event). */
const fail = (span: Span | undefined, error: CanoError): void => {
  if (span === undefined) return
  const message = messageOf(error)
  span.setStatus({ code: SpanStatusCode.ERROR, message })
  span.setAttribute('cano.error.tag', error._tag)
  span.recordException({ name: error._tag, message })
}

/** The index of branch `taskId` of the split whose task id is `splitTaskId` (`Split[3]` → 3). */
const branchIndex = (splitTaskId: string, taskId: string): number | undefined => {
  if (!taskId.startsWith(`${splitTaskId}[`) || !taskId.endsWith(']')) return undefined
  const n = Number(taskId.slice(splitTaskId.length + 1, -1))
  return Number.isSafeInteger(n) ? n : undefined
}
