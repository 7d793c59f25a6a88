/**
 * `WorkflowEvent`: the one typed stream every run produces. Observers, metrics, tracing and progress
 * UIs all read it; `snapshot$` folds it into a frozen {@link RunState}. Events are named in the past
 * tense and carry the run id and a timestamp (`at`, milliseconds from the run's scheduler clock).
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** Fields every event carries. @category model @since 0.1.0 */
export interface EventBase {
  readonly workflowId: string
  /** Milliseconds, from the run's scheduler clock (`Date.now()` by default, virtual in tests). */
  readonly at: number
}

/** A run began at `initial` (after validation, before resource setup). @category model @since 0.1.0 */
export interface RunStarted<S extends string> extends EventBase {
  readonly _tag: 'RunStarted'
  readonly initial: S
}
/** The run entered `state`; `transition` counts entries from 0. @category model @since 0.1.0 */
export interface StateEntered<S extends string> extends EventBase {
  readonly _tag: 'StateEntered'
  readonly state: S
  readonly transition: number
}
/** A state's task started its retry loop. @category model @since 0.1.0 */
export interface TaskStarted<S extends string> extends EventBase {
  readonly _tag: 'TaskStarted'
  readonly state: S
  readonly taskId: string
}
/** Attempt `attempt` (1-based) failed with `error`. @category model @since 0.1.0 */
export interface AttemptFailed<S extends string> extends EventBase {
  readonly _tag: 'AttemptFailed'
  readonly state: S
  readonly taskId: string
  readonly attempt: number
  readonly error: CanoError
}
/** After `attempt` failed attempts, the next one runs in `delayMs`. @category model @since 0.1.0 */
export interface RetryScheduled<S extends string> extends EventBase {
  readonly _tag: 'RetryScheduled'
  readonly state: S
  readonly taskId: string
  readonly attempt: number
  readonly delayMs: number
}
/** The task finished after `attempts` attempts and chose `next`. @category model @since 0.1.0 */
export interface TaskSucceeded<S extends string> extends EventBase {
  readonly _tag: 'TaskSucceeded'
  readonly state: S
  readonly taskId: string
  readonly attempts: number
  readonly next: S
}
/** The task failed for good. @category model @since 0.1.0 */
export interface TaskFailed<S extends string> extends EventBase {
  readonly _tag: 'TaskFailed'
  readonly state: S
  readonly taskId: string
  readonly error: CanoError
}
/** A circuit breaker rejected the task before an attempt. @category model @since 0.1.0 */
export interface CircuitRejected<S extends string> extends EventBase {
  readonly _tag: 'CircuitRejected'
  readonly state: S
  readonly taskId: string
  readonly error: CanoError
}
/** A task reported progress through `ctx.progress(data)`. @category model @since 0.1.0 */
export interface Progress<S extends string> extends EventBase {
  readonly _tag: 'Progress'
  readonly state: S
  readonly taskId: string
  readonly data: unknown
}
/** An observer threw; the run went on. @category model @since 0.1.0 */
export interface ObserverFailed extends EventBase {
  readonly _tag: 'ObserverFailed'
  readonly observer: number
  readonly error: CanoError
}
/** The run reached the exit state `state`. @category model @since 0.1.0 */
export interface RunCompleted<S extends string> extends EventBase {
  readonly _tag: 'RunCompleted'
  readonly state: S
  readonly transitions: number
}
/** The run failed in `state` (absent when it failed before any state). @category model @since 0.1.0 */
export interface RunFailed<S extends string> extends EventBase {
  readonly _tag: 'RunFailed'
  readonly state: S | undefined
  readonly error: CanoError
}
/** The run was cancelled through its signal. @category model @since 0.1.0 */
export interface RunCancelled<S extends string> extends EventBase {
  readonly _tag: 'RunCancelled'
  readonly state: S | undefined
  readonly error: CanoError
}
/** The run hit `totalTimeoutMs`. @category model @since 0.1.0 */
export interface RunTimedOut<S extends string> extends EventBase {
  readonly _tag: 'RunTimedOut'
  readonly state: S | undefined
  readonly error: CanoError
}

/**
 * Every event of a run. Filter by `_tag`.
 *
 * @example
 * import { filter } from 'rxjs'
 * import { task, workflow, type WorkflowEvent } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * flow.run$('Go').pipe(filter((e: WorkflowEvent<'Go' | 'Done'>) => e._tag === 'StateEntered')).subscribe(console.log)
 * @category model
 * @since 0.1.0
 */
export type WorkflowEvent<S extends string = string> =
  | RunStarted<S>
  | StateEntered<S>
  | TaskStarted<S>
  | AttemptFailed<S>
  | RetryScheduled<S>
  | TaskSucceeded<S>
  | TaskFailed<S>
  | CircuitRejected<S>
  | Progress<S>
  | ObserverFailed
  | RunCompleted<S>
  | RunFailed<S>
  | RunCancelled<S>
  | RunTimedOut<S>

/**
 * The events that end a run: exactly one of them is the last event of every run.
 *
 * @example
 * import type { TerminalEvent } from 'cano-rx'
 * const done = (e: TerminalEvent<'Done'>) => e._tag === 'RunCompleted'
 * @category model
 * @since 0.1.0
 */
export type TerminalEvent<S extends string = string> = RunCompleted<S> | RunFailed<S> | RunCancelled<S> | RunTimedOut<S>

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Is this the last event of a run?
 *
 * @example
 * import { isTerminalEvent } from 'cano-rx'
 * isTerminalEvent({ _tag: 'RunCompleted', workflowId: 'w', at: 0, state: 'Done', transitions: 3 }) // true
 * @category guards
 * @since 0.1.0
 */
export const isTerminalEvent = <S extends string>(e: WorkflowEvent<S>): e is TerminalEvent<S> =>
  e._tag === 'RunCompleted' || e._tag === 'RunFailed' || e._tag === 'RunCancelled' || e._tag === 'RunTimedOut'
