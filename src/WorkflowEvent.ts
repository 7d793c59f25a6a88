/**
 * `WorkflowEvent`: the one typed stream every run produces. Observers, metrics, tracing and progress
 * UIs all read it; `snapshot$` folds it into a frozen {@link RunState}. Events are named in the past
 * tense and carry the run id and a timestamp (`at`, milliseconds from the run's scheduler clock).
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { CheckpointKind, JsonValue } from '../codecs/CheckpointRow.js'
import type { BranchOutcome } from './SplitResult.js'
import type { StreamPosition } from './Stream.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Fields every event carries.
 *
 * @example
 * import type { EventBase } from 'cano-rx'
 * const base: EventBase = { workflowId: 'order-42', at: 1_700_000_000_000 }
 * @see {@link WorkflowEvent}
 * @category model
 * @since 0.1.0
 */
export interface EventBase {
  readonly workflowId: string
  /** Milliseconds, from the run's scheduler clock (`Date.now()` by default, virtual in tests). */
  readonly at: number
}

/**
 * A run began at `initial` (after validation, before resource setup).
 *
 * @example
 * import type { RunStarted } from 'cano-rx'
 * const e: RunStarted<'Fetch' | 'Done'> = { _tag: 'RunStarted', workflowId: 'order-42', at: 0, initial: 'Fetch' }
 * @see {@link RunCompleted}, {@link RunFailed}
 * @category model
 * @since 0.1.0
 */
export interface RunStarted<S extends string> extends EventBase {
  readonly _tag: 'RunStarted'
  readonly initial: S
}

/**
 * The run entered `state`; `transition` counts entries from 0.
 *
 * @example
 * import type { StateEntered } from 'cano-rx'
 * const e: StateEntered<'Fetch' | 'Done'> = { _tag: 'StateEntered', workflowId: 'order-42', at: 0, state: 'Fetch', transition: 0 }
 * @see {@link WorkflowObserver}'s `onStateEnter`
 * @category model
 * @since 0.1.0
 */
export interface StateEntered<S extends string> extends EventBase {
  readonly _tag: 'StateEntered'
  readonly state: S
  readonly transition: number
}

/**
 * A state's task started its retry loop. A branch of a `split` state emits one too when it really starts
 * (after its bulkhead slot), with `branch` (its index) and `branches` (the split's branch count).
 *
 * @example
 * import type { TaskStarted } from 'cano-rx'
 * const e: TaskStarted<'Fetch' | 'Done'> = { _tag: 'TaskStarted', workflowId: 'order-42', at: 1, state: 'Fetch', taskId: 'Fetch' }
 * const b: TaskStarted<'FanOut'> = { _tag: 'TaskStarted', workflowId: 'etl-1', at: 1, state: 'FanOut', taskId: 'FanOut[2]', branch: 2, branches: 3 }
 * @see {@link WorkflowObserver}'s `onTaskStart`
 * @category model
 * @since 0.1.0
 */
export interface TaskStarted<S extends string> extends EventBase {
  readonly _tag: 'TaskStarted'
  readonly state: S
  readonly taskId: string
  /** Set on the events of a `split` branch: the branch's index (its task id is `${splitTaskId}[${branch}]`). @since 0.2.0 */
  readonly branch?: number
  /** Set with `branch`: how many branches the split has (started or not). @since 0.2.0 */
  readonly branches?: number
}

/**
 * Attempt `attempt` (1-based) failed with `error`.
 *
 * @example
 * import { type AttemptFailed, timeoutError } from 'cano-rx'
 * const e: AttemptFailed<'Fetch' | 'Done'> = { _tag: 'AttemptFailed', workflowId: 'order-42', at: 2_001, state: 'Fetch', taskId: 'Fetch', attempt: 1, error: timeoutError(2_000) }
 * @see {@link RetryScheduled}, which follows it when a retry is left
 * @category model
 * @since 0.1.0
 */
export interface AttemptFailed<S extends string> extends EventBase {
  readonly _tag: 'AttemptFailed'
  readonly state: S
  readonly taskId: string
  readonly attempt: number
  readonly error: CanoError
  /** Set on the events of a `split` branch: the branch's index (its task id is `${splitTaskId}[${branch}]`). @since 0.2.0 */
  readonly branch?: number
}

/**
 * After `attempt` failed attempts, the next one runs in `delayMs`.
 *
 * @example
 * import type { RetryScheduled } from 'cano-rx'
 * const e: RetryScheduled<'Fetch' | 'Done'> = { _tag: 'RetryScheduled', workflowId: 'order-42', at: 2_001, state: 'Fetch', taskId: 'Fetch', attempt: 1, delayMs: 100 }
 * @see {@link WorkflowObserver}'s `onRetry`
 * @category model
 * @since 0.1.0
 */
export interface RetryScheduled<S extends string> extends EventBase {
  readonly _tag: 'RetryScheduled'
  readonly state: S
  readonly taskId: string
  readonly attempt: number
  readonly delayMs: number
  /** Set on the events of a `split` branch: the branch's index (its task id is `${splitTaskId}[${branch}]`). @since 0.2.0 */
  readonly branch?: number
}

/**
 * The task finished after `attempts` attempts and chose `next`.
 *
 * @example
 * import type { TaskSucceeded } from 'cano-rx'
 * const e: TaskSucceeded<'Fetch' | 'Done'> = { _tag: 'TaskSucceeded', workflowId: 'order-42', at: 2_150, state: 'Fetch', taskId: 'Fetch', attempts: 2, next: 'Done' }
 * @see {@link WorkflowObserver}'s `onTaskSuccess`
 * @category model
 * @since 0.1.0
 */
export interface TaskSucceeded<S extends string> extends EventBase {
  readonly _tag: 'TaskSucceeded'
  readonly state: S
  readonly taskId: string
  readonly attempts: number
  readonly next: S
}

/**
 * The task failed for good.
 *
 * @example
 * import { type TaskFailed, retryExhaustedError, timeoutError } from 'cano-rx'
 * const e: TaskFailed<'Fetch' | 'Done'> = { _tag: 'TaskFailed', workflowId: 'order-42', at: 9_000, state: 'Fetch', taskId: 'Fetch', error: retryExhaustedError(4, timeoutError(2_000)) }
 * @see {@link WorkflowObserver}'s `onTaskFailure`
 * @category model
 * @since 0.1.0
 */
export interface TaskFailed<S extends string> extends EventBase {
  readonly _tag: 'TaskFailed'
  readonly state: S
  readonly taskId: string
  readonly error: CanoError
}

/**
 * A circuit breaker rejected the task before an attempt.
 *
 * @example
 * import { type CircuitRejected, circuitOpenError } from 'cano-rx'
 * const e: CircuitRejected<'Fetch' | 'Done'> = { _tag: 'CircuitRejected', workflowId: 'order-42', at: 5, state: 'Fetch', taskId: 'Fetch', error: circuitOpenError('circuit breaker open: rejecting call') }
 * @see {@link WorkflowObserver}'s `onCircuitOpen`
 * @category model
 * @since 0.1.0
 */
export interface CircuitRejected<S extends string> extends EventBase {
  readonly _tag: 'CircuitRejected'
  readonly state: S
  readonly taskId: string
  readonly error: CanoError
  /** Set on the events of a `split` branch: the branch's index (its task id is `${splitTaskId}[${branch}]`). @since 0.2.0 */
  readonly branch?: number
}

/**
 * A task reported progress through `ctx.progress(data)`.
 *
 * @example
 * import type { Progress } from 'cano-rx'
 * const e: Progress<'Fetch' | 'Done'> = { _tag: 'Progress', workflowId: 'order-42', at: 40, state: 'Fetch', taskId: 'Fetch', data: { done: 3, total: 10 } }
 * @see {@link RunState}'s `progress`
 * @category model
 * @since 0.1.0
 */
export interface Progress<S extends string> extends EventBase {
  readonly _tag: 'Progress'
  readonly state: S
  readonly taskId: string
  readonly data: unknown
  /** Set on the events of a `split` branch: the branch's index (its task id is `${splitTaskId}[${branch}]`). @since 0.2.0 */
  readonly branch?: number
}

/**
 * An observer threw; the run went on.
 *
 * @example
 * import { type ObserverFailed, taskExecutionError } from 'cano-rx'
 * const e: ObserverFailed = { _tag: 'ObserverFailed', workflowId: 'order-42', at: 0, observer: 0, error: taskExecutionError('log sink closed') }
 * @see {@link WorkflowObserver}
 * @category model
 * @since 0.1.0
 */
export interface ObserverFailed extends EventBase {
  readonly _tag: 'ObserverFailed'
  readonly observer: number
  readonly error: CanoError
}

/**
 * The run reached the exit state `state` (and, for a workflow with an output declaration, produced its
 * output: `output` is its encoded JSON value).
 *
 * @example
 * import type { RunCompleted } from 'cano-rx'
 * const e: RunCompleted<'Fetch' | 'Done'> = { _tag: 'RunCompleted', workflowId: 'order-42', at: 2_200, state: 'Done', transitions: 2 }
 * const typed: RunCompleted<'Done'> = { ...e, state: 'Done', output: { receipt: 'r-1' } }
 * @see {@link TerminalEvent}
 * @category model
 * @since 0.1.0
 */
export interface RunCompleted<S extends string> extends EventBase {
  readonly _tag: 'RunCompleted'
  readonly state: S
  readonly transitions: number
  /** The encoded output (the workflow's output codec); absent for a workflow without an output declaration. @since 0.2.0 */
  readonly output?: JsonValue
}

/**
 * The run failed in `state` (absent when it failed before any state).
 *
 * @example
 * import { type RunFailed, taskExecutionError } from 'cano-rx'
 * const e: RunFailed<'Fetch' | 'Done'> = { _tag: 'RunFailed', workflowId: 'order-42', at: 9_000, state: 'Fetch', error: taskExecutionError('upstream answered 503') }
 * @see {@link TerminalEvent}
 * @category model
 * @since 0.1.0
 */
export interface RunFailed<S extends string> extends EventBase {
  readonly _tag: 'RunFailed'
  readonly state: S | undefined
  readonly error: CanoError
  /** States entered before the run ended, the failed one included (absent on a run refused before it began). @since 0.3.0 */
  readonly transitions?: number
  /** The attempt (1-based) the failed state's task failed at, when a task failed (absent otherwise). @since 0.3.0 */
  readonly attempt?: number
}

/**
 * The run was cancelled: through its signal, or because its subscriber left (`error` is then
 * `Cancelled: run unsubscribed (the subscriber left)`).
 *
 * @example
 * import { type RunCancelled, cancelledError } from 'cano-rx'
 * const e: RunCancelled<'Fetch' | 'Done'> = { _tag: 'RunCancelled', workflowId: 'order-42', at: 300, state: 'Fetch', error: cancelledError() }
 * @see {@link TerminalEvent}
 * @category model
 * @since 0.1.0
 */
export interface RunCancelled<S extends string> extends EventBase {
  readonly _tag: 'RunCancelled'
  readonly state: S | undefined
  readonly error: CanoError
  /** States entered before the run ended. @since 0.3.0 */
  readonly transitions?: number
}

/**
 * The run hit `totalTimeoutMs`.
 *
 * @example
 * import { type RunTimedOut, workflowTimeoutError } from 'cano-rx'
 * const e: RunTimedOut<'Fetch' | 'Done'> = { _tag: 'RunTimedOut', workflowId: 'order-42', at: 60_000, state: 'Fetch', error: workflowTimeoutError(60_000, 60_000) }
 * @see {@link TerminalEvent}
 * @category model
 * @since 0.1.0
 */
export interface RunTimedOut<S extends string> extends EventBase {
  readonly _tag: 'RunTimedOut'
  readonly state: S | undefined
  readonly error: CanoError
  /** States entered before the run ended. @since 0.3.0 */
  readonly transitions?: number
}

/**
 * A `stepped` state finished step `step` (1-based) with `StepOutcome.more(cursor)`; `cursor` is the encoded
 * cursor (what a checkpoint stores).
 *
 * @example
 * import type { CursorAdvanced } from 'cano-rx'
 * const log = (e: CursorAdvanced<'Scan'>) => console.log(`${e.state} step ${e.step}: ${JSON.stringify(e.cursor)}`)
 * @category model
 * @since 0.1.0
 */
export interface CursorAdvanced<S extends string> extends EventBase {
  readonly _tag: 'CursorAdvanced'
  readonly state: S
  readonly taskId: string
  readonly step: number
  readonly cursor: unknown
}

/**
 * A `sleep` state armed its wake-up at `wakeAt` (epoch ms from the run's clock); or, in a run a runtime
 * owns, a `poll` state made a delay longer than the runtime's `parkAfterMs` durable (its next poll at
 * `wakeAt`).
 *
 * @example
 * import type { TimerArmed } from 'cano-rx'
 * const left = (e: TimerArmed<'Wait'>, now: number) => Math.max(0, e.wakeAt - now)
 * @category model
 * @since 0.1.0
 */
export interface TimerArmed<S extends string> extends EventBase {
  readonly _tag: 'TimerArmed'
  readonly state: S
  readonly taskId: string
  readonly wakeAt: number
}

/**
 * A `stream` state handled window `window` (1-based within the attempt) of `items` items: the window
 * position a checkpoint can persist. Emitted after `onWindow` answered (or the window was skipped
 * under `StreamErrorPolicy.skip()`), before the state moves on.
 *
 * @example
 * import type { WindowFlushed } from 'cano-rx'
 * const e: WindowFlushed<'Ingest' | 'Done'> = { _tag: 'WindowFlushed', workflowId: 'w', at: 50, state: 'Ingest', taskId: 'Ingest', window: 3, items: 10 }
 * @see {@link stream}
 * @category model
 * @since 0.1.0
 */
export interface WindowFlushed<S extends string> extends EventBase {
  readonly _tag: 'WindowFlushed'
  readonly state: S
  readonly taskId: string
  readonly window: number
  readonly items: number
  /** A per-item stream's (`streamItems`) committed cursor after this window, as its codec encodes it. @since 0.4.0 */
  readonly cursor?: JsonValue
  /** Items of a per-item stream dropped under `ItemErrorPolicy.skip` since the previous window. @since 0.4.0 */
  readonly skipped?: number
}

/**
 * Branch `index` of a `split` state settled: it succeeded, failed for good (after its retries), or
 * was cancelled because the join was decided without it. Emitted the moment it happens; by the time
 * the split state succeeds or fails, every branch has had exactly one. `taskId` is the branch's
 * (`${splitTaskId}[${index}]`); the branch's other events (`TaskStarted`, `AttemptFailed`,
 * `RetryScheduled`, `CircuitRejected`, `Progress`) carry the same number as `branch`.
 *
 * @example
 * import type { SplitBranchSettled } from 'cano-rx'
 * const e: SplitBranchSettled<'FanOut'> = { _tag: 'SplitBranchSettled', workflowId: 'etl-1', at: 120, state: 'FanOut', taskId: 'FanOut[1]', index: 1, outcome: { _tag: 'Succeeded', index: 1, value: 42 } }
 * @see {@link SplitResult}, which the join state reads
 * @category model
 * @since 0.1.0
 */
export interface SplitBranchSettled<S extends string> extends EventBase {
  readonly _tag: 'SplitBranchSettled'
  readonly state: S
  readonly taskId: string
  readonly index: number
  readonly outcome: BranchOutcome
}

/**
 * A checkpoint row was durably appended.
 *
 * @example
 * import type { CheckpointAppended } from 'cano-rx'
 * const log = (e: CheckpointAppended<'A'>) => console.log(`row ${e.seq} (${e.kind}) for ${e.state}`)
 * @category model
 * @since 0.1.0
 */
export interface CheckpointAppended<S extends string> extends EventBase {
  readonly _tag: 'CheckpointAppended'
  readonly seq: number
  readonly kind: CheckpointKind
  readonly state: S
  /** How long the store took to make the row durable, in ms of the run's clock (the engine always sets it). @since 0.3.0 */
  readonly latencyMs?: number
}

/**
 * The checkpoint log of a run that is ending could not be cleared (after its exit state, or after a
 * clean rollback): the store's `clear` rejected or threw. The run's outcome does not change (a completed
 * run still completes), but the log is left behind: a new run under the same id then conflicts with it,
 * and `resume` would replay it. `error` is a `CheckpointStore` error wrapping the store's. Emitted just
 * before the terminal event. cano 0.14's `on_checkpoint_clear_failed`.
 *
 * @example
 * import { type CheckpointClearFailed, checkpointStoreError } from 'cano-rx'
 * const e: CheckpointClearFailed = { _tag: 'CheckpointClearFailed', workflowId: 'order-42', at: 2_200, error: checkpointStoreError('clear the checkpoint log of run "order-42": disk I/O error') }
 * @see {@link WorkflowObserver}'s `onCheckpointClearFailed`
 * @category model
 * @since 0.3.0
 */
export interface CheckpointClearFailed extends EventBase {
  readonly _tag: 'CheckpointClearFailed'
  readonly error: CanoError
}

/**
 * A crashed run was resumed from its checkpoint log at `state` (its last row was `fromSeq`).
 *
 * @example
 * import type { RunResumed } from 'cano-rx'
 * const log = (e: RunResumed<'A'>) => console.log(`resuming ${e.workflowId} at ${e.state} after row ${e.fromSeq}`)
 * @category model
 * @since 0.1.0
 */
export interface RunResumed<S extends string> extends EventBase {
  readonly _tag: 'RunResumed'
  readonly state: S
  readonly fromSeq: number
  readonly version: number
  /**
   * A `stepped` state continues: the encoded cursor it continues from; a per-item `stream` state: the
   * encoded application cursor of its last committed window. @since 0.2.0
   */
  readonly cursor?: JsonValue
  /** A `stepped` state continues: the steps it had finished. @since 0.2.0 */
  readonly step?: number
  /** A `sleep` state continues: its persisted wake-up (epoch ms). @since 0.2.0 */
  readonly wakeAt?: number
  /**
   * A `stream` state continues after its last committed window: the windows and items committed, and
   * for per-item streams (`streamItems`) the encoded application cursor (also in `cursor`).
   * @since 0.3.0
   */
  readonly stream?: StreamPosition
  /** `true` when the run crashed while rolling back: it continues its rollback, no state runs. @since 0.2.0 */
  readonly rollingBack?: boolean
}

/**
 * A rollback began compensating one saga entry: the forward step of `state`, recorded by the
 * `CompensationCompletion` row `seq` (`undefined` without a store). Entries are compensated last-in
 * first-out; each is followed by exactly one {@link Compensated} or {@link CompensationFailed}. An
 * entry the rollback's budget (`compensationTimeoutMs`) never reached has a `CompensationFailed`
 * (`OrphanedCompensation`) and no start.
 *
 * @example
 * import type { CompensationStarted } from 'cano-rx'
 * const e: CompensationStarted<'Charge' | 'Ship'> = { _tag: 'CompensationStarted', workflowId: 'order-42', at: 9_000, state: 'Charge', taskId: 'Charge', seq: 3 }
 * @see {@link saga}
 * @category model
 * @since 0.1.0
 */
export interface CompensationStarted<S extends string> extends EventBase {
  readonly _tag: 'CompensationStarted'
  readonly state: S
  readonly taskId: string
  readonly seq: number | undefined
}

/**
 * The saga entry of `state` was compensated (after `attempts` attempts).
 *
 * @example
 * import type { Compensated } from 'cano-rx'
 * const e: Compensated<'Charge' | 'Ship'> = { _tag: 'Compensated', workflowId: 'order-42', at: 9_040, state: 'Charge', taskId: 'Charge', seq: 3, attempts: 1 }
 * @see {@link CompensationStarted}
 * @category model
 * @since 0.1.0
 */
export interface Compensated<S extends string> extends EventBase {
  readonly _tag: 'Compensated'
  readonly state: S
  readonly taskId: string
  readonly seq: number | undefined
  readonly attempts: number
}

/**
 * Compensating the saga entry of `state` failed for good (after its retries, on its timeout, because
 * the state has no compensator any more: `OrphanedCompensation`, or because the rollback's budget ran
 * out: a `Timeout` for the compensation it cut short, `OrphanedCompensation` for each entry not reached). The rollback goes on with
 * the next entry and the run ends with a `CompensationFailed` error.
 *
 * @example
 * import { type CompensationFailed, timeoutError } from 'cano-rx'
 * const e: CompensationFailed<'Charge' | 'Ship'> = { _tag: 'CompensationFailed', workflowId: 'order-42', at: 9_050, state: 'Charge', taskId: 'Charge', seq: 3, error: timeoutError(50), attempts: 1 }
 * @see {@link CompensationStarted}
 * @category model
 * @since 0.1.0
 */
export interface CompensationFailed<S extends string> extends EventBase {
  readonly _tag: 'CompensationFailed'
  readonly state: S
  readonly taskId: string
  readonly seq: number | undefined
  readonly error: CanoError
  /**
   * The attempts made at the compensation (the one the rollback's budget cut short included); 0 when it
   * never started (the state has no compensator any more, its stored output did not decode, or the budget
   * ran out before the entry was reached). The engine always sets it; it is optional so that events built
   * by hand before 0.3.0 still type-check.
   *
   * @since 0.3.0
   */
  readonly attempts?: number
}

/**
 * Every event of a run. Filter by `_tag`.
 *
 * @example
 * import { filter } from 'rxjs'
 * import { task, workflow, type WorkflowEvent } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * flow.run$('Go').pipe(filter((e: WorkflowEvent<'Go' | 'Done'>) => e._tag === 'StateEntered')).subscribe(console.log)
 * @see {@link notifyObserver} to feed cano-style observer hooks, {@link reduceRunState} to fold the stream
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
  | SplitBranchSettled<S>
  | WindowFlushed<S>
  | CursorAdvanced<S>
  | CheckpointAppended<S>
  | CheckpointClearFailed
  | RunResumed<S>
  | TimerArmed<S>
  | CompensationStarted<S>
  | Compensated<S>
  | CompensationFailed<S>
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
 * @see {@link isTerminalEvent}
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
 * @param e - any event of a run
 * @returns `true` for `RunCompleted`, `RunFailed`, `RunCancelled` and `RunTimedOut`
 * @example
 * import { isTerminalEvent } from 'cano-rx'
 * isTerminalEvent({ _tag: 'RunCompleted', workflowId: 'w', at: 0, state: 'Done', transitions: 3 }) // true
 * @see {@link TerminalEvent}
 * @category guards
 * @since 0.1.0
 */
export const isTerminalEvent = <S extends string>(e: WorkflowEvent<S>): e is TerminalEvent<S> =>
  e._tag === 'RunCompleted' || e._tag === 'RunFailed' || e._tag === 'RunCancelled' || e._tag === 'RunTimedOut'
