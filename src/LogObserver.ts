/**
 * `logObserver`: one structured log line per {@link WorkflowEvent}, through any logger shaped like
 * pino's or `console` (`logger.info(fields, message)`). Every line carries the event's tag (`event`), the
 * run's id (`workflowId`) and the event's own fields (an error as `{ tag, message }`); with a `traceOf`
 * (such as `otelObserver().traceOf` from `cano-rx/otel`), the run's OpenTelemetry trace and span ids too,
 * as `trace_id` and `span_id` (the names OpenTelemetry's log instrumentations use).
 *
 * Levels follow cano's `TracingObserver` where cano has the event: state entries, task starts and
 * checkpoints at `debug`; successes and resumes at `info`; retries and breaker rejections at `warn`; task
 * failures at `error`. A logger without `debug` drops the debug lines.
 *
 * @since 0.3.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import { CanoFailure, configurationError } from './CanoError.js'
import { describeValue } from './internal/describeValue.js'
import type { WorkflowEvent } from './WorkflowEvent.js'
import type { WorkflowObserver } from './WorkflowObserver.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The fields of one log line.
 *
 * @example
 * import type { LogFields } from 'cano-rx'
 * const line: LogFields = { event: 'TaskFailed', workflowId: 'order-42', state: 'Charge', error: { tag: 'Timeout', message: 'attempt timed out' } }
 * @category model
 * @since 0.3.0
 */
export interface LogFields {
  /** The event's tag (`RunAbandoned` for a run whose subscriber left before its end). */
  readonly event: string
  readonly workflowId: string
  readonly [field: string]: unknown
}

/**
 * One level of a {@link LogSink}: pino's `logger.info(obj, msg)` and `console.info(obj, msg)` both fit.
 *
 * @example
 * import type { LogMethod } from 'cano-rx'
 * const lines: unknown[] = []
 * const record: LogMethod = (fields, message) => void lines.push({ ...fields, message })
 * @category model
 * @since 0.3.0
 */
export type LogMethod = (fields: LogFields, message: string) => void

/**
 * Where {@link logObserver} writes: a pino logger, `console`, or any object with these methods.
 *
 * @example
 * import type { LogSink } from 'cano-rx'
 * const sink: LogSink = console
 * @category model
 * @since 0.3.0
 */
export interface LogSink {
  readonly debug?: LogMethod
  readonly info: LogMethod
  readonly warn: LogMethod
  readonly error: LogMethod
}

/**
 * A log level of {@link logObserver}, or `'off'` to drop an event's lines.
 *
 * @example
 * import type { LogLevel } from 'cano-rx'
 * const quiet: LogLevel = 'off'
 * @category model
 * @since 0.3.0
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off'

/**
 * The OpenTelemetry ids of a run (hex strings, as `SpanContext` has them).
 *
 * @example
 * import type { TraceIds } from 'cano-rx'
 * const ids: TraceIds = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' }
 * @category model
 * @since 0.3.0
 */
export interface TraceIds {
  readonly traceId: string
  readonly spanId: string
}

/**
 * Options of {@link logObserver}.
 *
 * @example
 * import type { LogObserverOptions } from 'cano-rx'
 * const options: LogObserverOptions = { levels: { StateEntered: 'info', Progress: 'off' } }
 * @category model
 * @since 0.3.0
 */
export interface LogObserverOptions {
  /** Levels by event tag (and `RunAbandoned`), over the defaults. */
  readonly levels?: { readonly [K in WorkflowEvent['_tag'] | 'RunAbandoned']?: LogLevel }
  /** The run's trace and span ids, added as `trace_id` and `span_id` when it answers. */
  readonly traceOf?: (workflowId: string) => TraceIds | undefined
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * An observer that writes one structured line per event to `logger`; see the module comment.
 *
 * @param logger - a pino logger, `console`, or any {@link LogSink}
 * @param options - levels by event, and where the trace ids come from
 * @returns the observer, for a workflow's or a run's `observers`
 * @throws CanoFailure with a `Configuration` error naming the argument: a logger without `info`, `warn`
 *   and `error` methods, an unknown event or level in `levels`, a `traceOf` that is not a function
 * @example
 * import { logObserver, task, workflow } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({
 *   exits: ['Done'],
 *   states: { Go: task(() => 'Done' as const) },
 *   observers: [logObserver(console, { levels: { StateEntered: 'info' } })],
 * })
 * @example With pino and OpenTelemetry: each line carries the run's trace id
 * import { logObserver, type LogSink } from 'cano-rx'
 * import { otelObserver } from 'cano-rx/otel'
 * declare const pinoLogger: LogSink // pino()
 * const telemetry = otelObserver()
 * const observers = [telemetry, logObserver(pinoLogger, { traceOf: telemetry.traceOf })]
 * @category constructors
 * @since 0.3.0
 */
export const logObserver = (logger: LogSink, options: LogObserverOptions = {}): WorkflowObserver => {
  const bad = checkLogOptions(logger, options)
  if (bad !== undefined) throw new CanoFailure(configurationError(`logObserver: ${bad}`))
  const levels = { ...DEFAULT_LEVELS, ...options.levels }
  const traceOf = options.traceOf
  const write = (level: LogLevel, fields: Record<string, unknown>, message: string, workflowId: string): void => {
    if (level === 'off') return
    const method = level === 'debug' ? logger.debug : logger[level]
    if (method === undefined) return
    if (traceOf !== undefined) {
      const ids = traceOf(workflowId)
      if (ids !== undefined) {
        fields['trace_id'] = ids.traceId
        fields['span_id'] = ids.spanId
      }
    }
    // called on the logger (pino's methods read `this`)
    method.call(logger, fields as LogFields, message)
  }
  return {
    onEvent: (e) => {
      const level = levels[e._tag]
      if (level === 'off') return
      write(level, fieldsOf(e), MESSAGES[e._tag], e.workflowId)
    },
    onAbandon: (workflowId) =>
      write(levels.RunAbandoned, { event: 'RunAbandoned', workflowId, at: Date.now() }, 'run abandoned', workflowId),
  }
}

// -------------------------------------------------------------------------------------
// internals
// -------------------------------------------------------------------------------------

const LEVELS: ReadonlyArray<unknown> = ['debug', 'info', 'warn', 'error', 'off']

/** What is wrong with `logObserver`'s arguments, if anything. */
const checkLogOptions = (logger: unknown, options: unknown): string | undefined => {
  if ((typeof logger !== 'object' && typeof logger !== 'function') || logger === null)
    return `logger must be a logger (pino, console, or a LogSink), got ${describeValue(logger)}`
  const sink = logger as Record<string, unknown>
  for (const method of ['info', 'warn', 'error'])
    if (typeof sink[method] !== 'function')
      return `logger must have ${method}(fields, message), got ${describeValue(sink[method])} for ${method}`
  if (sink['debug'] !== undefined && typeof sink['debug'] !== 'function')
    return `logger.debug must be a function when present, got ${describeValue(sink['debug'])}`
  if (typeof options !== 'object' || options === null) return `options must be an object, got ${describeValue(options)}`
  const { levels, traceOf } = options as Record<string, unknown>
  if (traceOf !== undefined && typeof traceOf !== 'function')
    return `traceOf must be a function, got ${describeValue(traceOf)}`
  if (levels === undefined) return undefined
  if (typeof levels !== 'object' || levels === null) return `levels must be an object, got ${describeValue(levels)}`
  for (const [tag, level] of Object.entries(levels)) {
    if (!Object.hasOwn(DEFAULT_LEVELS, tag)) return `levels: no event is called ${JSON.stringify(tag)}`
    if (!LEVELS.includes(level))
      return `levels.${tag} must be one of debug, info, warn, error, off, got ${describeValue(level)}`
  }
  return undefined
}

const DEFAULT_LEVELS: { readonly [K in WorkflowEvent['_tag'] | 'RunAbandoned']: LogLevel } = {
  RunStarted: 'info',
  RunResumed: 'info',
  StateEntered: 'debug',
  TaskStarted: 'debug',
  AttemptFailed: 'warn',
  RetryScheduled: 'warn',
  TaskSucceeded: 'info',
  TaskFailed: 'error',
  CircuitRejected: 'warn',
  Progress: 'debug',
  SplitBranchSettled: 'debug',
  WindowFlushed: 'debug',
  CursorAdvanced: 'debug',
  CheckpointAppended: 'debug',
  CheckpointClearFailed: 'error',
  TimerArmed: 'debug',
  CompensationStarted: 'info',
  Compensated: 'info',
  CompensationFailed: 'error',
  ObserverFailed: 'warn',
  RunCompleted: 'info',
  RunFailed: 'error',
  RunCancelled: 'warn',
  RunTimedOut: 'error',
  RunAbandoned: 'info',
}

const MESSAGES: { readonly [K in WorkflowEvent['_tag']]: string } = {
  RunStarted: 'run started',
  RunResumed: 'workflow resumed from checkpoint',
  StateEntered: 'workflow entered state',
  TaskStarted: 'task started',
  AttemptFailed: 'task attempt failed',
  RetryScheduled: 'task retry',
  TaskSucceeded: 'task succeeded',
  TaskFailed: 'task failed',
  CircuitRejected: 'circuit breaker rejected task',
  Progress: 'task progress',
  SplitBranchSettled: 'split branch settled',
  WindowFlushed: 'stream window flushed',
  CursorAdvanced: 'stepped cursor advanced',
  CheckpointAppended: 'checkpoint appended',
  CheckpointClearFailed: 'checkpoint log clear failed',
  TimerArmed: 'timer armed',
  CompensationStarted: 'compensation started',
  Compensated: 'compensated',
  CompensationFailed: 'compensation failed',
  ObserverFailed: 'observer failed',
  RunCompleted: 'run completed',
  RunFailed: 'run failed',
  RunCancelled: 'run cancelled',
  RunTimedOut: 'run timed out',
}

const errorFields = (error: CanoError): { readonly tag: string; readonly message: string } => ({
  tag: error._tag,
  message: error.message,
})

/** The line of `e`: its tag as `event`, its fields as they are, an error as `{ tag, message }`. */
const fieldsOf = (e: WorkflowEvent): Record<string, unknown> => {
  const { _tag, ...rest } = e
  const fields: Record<string, unknown> = { event: _tag, ...rest }
  if ('error' in e) fields['error'] = errorFields(e.error)
  if (e._tag === 'SplitBranchSettled') {
    const outcome = e.outcome
    fields['outcome'] = outcome._tag
    if (outcome._tag === 'Failed') fields['error'] = errorFields(outcome.error)
  }
  return fields
}
