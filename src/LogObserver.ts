/**
 * `logObserver`: one structured log line per {@link WorkflowEvent}, through any logger shaped like
 * pino's or `console` (`logger.info(fields, message)`). Every line carries the event's tag (`event`), the
 * run's id (`workflowId`) and the event's own fields (an error as `{ tag, message }`); with a `traceOf`
 * (such as `otelObserver().traceOf` from `cano-rx/otel`), the run's OpenTelemetry trace and span ids too,
 * as `trace_id` and `span_id` (the names OpenTelemetry's log instrumentations use).
 *
 * The values user code chose (a `Progress` event's `data`, a run's `output`, a cursor) go
 * through a projection that never throws, so a logger's serializer never sees what it cannot write: a
 * value whose JSON is at most 4096 characters is passed as it is; a longer one becomes its JSON cut to
 * 4096 characters with `…` appended; one that does not serialise (a cycle, a bigint) becomes a short
 * description (`10n`, `[object Object]`). A failed batch item's error in its progress is `{ tag, message }`.
 *
 * Levels follow cano's `TracingObserver` where cano has the event: state entries, task starts and
 * checkpoints at `debug`; successes and resumes at `info`; retries and breaker rejections at `warn`; task
 * failures at `error`. A logger without `debug` drops the debug lines.
 *
 * @since 0.3.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import { isBatchProgress } from './Batch.js'
import { CanoFailure, configurationError, isCanoError } from './CanoError.js'
import { cutString } from './internal/cutString.js'
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
  /**
   * Whether lines of `level` are written (pino's `isLevelEnabled`): when it answers `false`, the line is
   * not built at all. Absent: every level is. @since 0.3.0
   */
  readonly isLevelEnabled?: (level: 'debug' | 'info' | 'warn' | 'error') => boolean
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
 * An observer that writes one structured line per event to `logger`; see the module comment. `Progress`
 * data and stepped cursors are logged as they are when their JSON is at most 4096 characters, else as a
 * string (the JSON cut to 4096 characters with `…`, or a description of a value that does not serialise,
 * such as a cyclic object or a bigint), so that neither can make a line fail or grow without bound.
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
  // the line is built only when it is written: a level that is off, a missing `debug`, or a level the
  // logger says it drops (pino's `isLevelEnabled`) cost no fields
  const write = (
    level: LogLevel,
    fieldsOf: () => Record<string, unknown>,
    message: string,
    workflowId: string,
  ): void => {
    if (level === 'off') return
    const method = level === 'debug' ? logger.debug : logger[level]
    if (method === undefined || logger.isLevelEnabled?.(level) === false) return
    const fields = fieldsOf()
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
      write(level, () => fieldsOf(e), MESSAGES[e._tag], e.workflowId)
    },
    onAbandon: (workflowId) =>
      write(
        levels.RunAbandoned,
        () => ({ event: 'RunAbandoned', workflowId, at: Date.now() }),
        'run abandoned',
        workflowId,
      ),
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
  if (sink['isLevelEnabled'] !== undefined && typeof sink['isLevelEnabled'] !== 'function')
    return `logger.isLevelEnabled must be a function when present, got ${describeValue(sink['isLevelEnabled'])}`
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

/** The longest error message a line carries whole; a longer one is cut (an error can hold megabytes). */
const MAX_MESSAGE = 4096

const errorFields = (error: CanoError): { readonly tag: string; readonly message: string } => ({
  tag: error._tag,
  message: cutString(error.message, MAX_MESSAGE),
})

/** The longest JSON of a user value (`Progress` data, a stepped cursor) that a line carries as it is. */
const MAX_VALUE_JSON = 4096

/**
 * A user value as a line carries it, never throwing: as it is when it serialises to JSON of at most
 * {@link MAX_VALUE_JSON} characters; otherwise a string: its JSON cut to that length with `…` appended, or
 * {@link describeValue}'s rendering when it does not serialise (a cycle, a bigint, a throwing `toJSON`).
 */
const loggable = (u: unknown): unknown => {
  if (u === undefined || u === null || typeof u === 'boolean' || typeof u === 'number') return u
  let json: string | undefined
  try {
    json = JSON.stringify(u)
  } catch {
    json = undefined
  }
  if (json === undefined) {
    try {
      return describeValue(u)
    } catch {
      // a value even `Object.prototype.toString` throws on (a revoked Proxy)
      return '[unserialisable value]'
    }
  }
  if (json.length <= MAX_VALUE_JSON) return u
  // not between the halves of a surrogate pair
  const end = isHighSurrogate(json.charCodeAt(MAX_VALUE_JSON - 1)) ? MAX_VALUE_JSON - 1 : MAX_VALUE_JSON
  return `${json.slice(0, end)}…`
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff

/** A `Progress` event's data: a failed batch item's error as `{ tag, message }`, then {@link loggable}. */
const progressData = (data: unknown): unknown =>
  isBatchProgress(data) && isCanoError(data.error)
    ? loggable({ ...data, error: errorFields(data.error) })
    : loggable(data)

/**
 * The line of `e`: its tag as `event`, its fields as they are, an error as `{ tag, message }` (the message
 * cut at {@link MAX_MESSAGE} characters), what user code produced (a `Progress` event's `data`, a run's
 * `output`, a cursor) through {@link loggable}.
 */
const fieldsOf = (e: WorkflowEvent): Record<string, unknown> => {
  const { _tag, ...rest } = e
  const fields: Record<string, unknown> = { event: _tag, ...rest }
  if ('error' in e) fields['error'] = errorFields(e.error)
  switch (e._tag) {
    case 'SplitBranchSettled': {
      const outcome = e.outcome
      fields['outcome'] = outcome._tag
      if (outcome._tag === 'Failed') fields['error'] = errorFields(outcome.error)
      break
    }
    case 'Progress':
      fields['data'] = progressData(e.data)
      break
    case 'CursorAdvanced':
      fields['cursor'] = loggable(e.cursor)
      break
    case 'RunCompleted':
      if (e.output !== undefined) fields['output'] = loggable(e.output)
      break
    case 'WindowFlushed':
    case 'RunResumed':
      if (e.cursor !== undefined) fields['cursor'] = loggable(e.cursor)
      break
    default:
      break
  }
  return fields
}
