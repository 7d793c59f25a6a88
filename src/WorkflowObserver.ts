/**
 * `WorkflowObserver`: cano's observer hooks as an adapter over the {@link WorkflowEvent} stream.
 * Each hook is optional; `onEvent` sees every event. Observers are called synchronously in
 * registration order; one that throws is reported as an `ObserverFailed` event and never breaks
 * the run.
 *
 * Split branches are tasks to the hooks, as in cano: each has the id `name[i]` (the split's task id,
 * then the branch index), `onTaskStart` when it starts, then `onTaskSuccess` or `onTaskFailure` when
 * it settles (from its `SplitBranchSettled` event); a branch cancelled because the join was decided
 * without it reports neither.
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { WorkflowEvent } from './WorkflowEvent.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * cano's `WorkflowObserver` hooks (plus `onEvent` for everything else).
 *
 * @example
 * import type { WorkflowObserver } from 'cano-rx'
 * const log: WorkflowObserver = {
 *   onStateEnter: (state) => console.log('enter', state),
 *   onRetry: (taskId, attempt) => console.warn('retry', taskId, attempt),
 *   onTaskFailure: (taskId, error) => console.error(taskId, error.message),
 * }
 * @see {@link notifyObserver}, which calls the hooks for one event
 * @category model
 * @since 0.1.0
 */
export interface WorkflowObserver<S extends string = string> {
  /** Every event, before the specific hook. */
  readonly onEvent?: (event: WorkflowEvent<S>) => void
  readonly onStateEnter?: (state: S) => void
  /** A state's task started, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskStart?: (taskId: string, state: S) => void
  /** A state's task succeeded, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskSuccess?: (taskId: string, state: S) => void
  /** A state's task failed for good, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskFailure?: (taskId: string, error: CanoError, state: S) => void
  /** `attempt` is the number of failed attempts so far (1 before the first retry). */
  readonly onRetry?: (taskId: string, attempt: number, state: S) => void
  readonly onCircuitOpen?: (taskId: string, state: S) => void
  /** After every durable checkpoint append (entry, cursor, timer, compensation rows). */
  readonly onCheckpoint?: (workflowId: string, seq: number) => void
  /**
   * The log of a run that is ending could not be cleared; the run's outcome stands (cano 0.14's
   * `on_checkpoint_clear_failed`). See {@link CheckpointClearFailed}.
   */
  readonly onCheckpointClearFailed?: (workflowId: string, error: CanoError) => void
  /** Once when a run is resumed, before its first state. */
  readonly onResume?: (workflowId: string, lastSeq: number) => void
  /** A rollback starts compensating the saga entry of `state` (not a cano hook). */
  readonly onCompensationStart?: (taskId: string, state: S) => void
  /** The saga entry of `state` was compensated (not a cano hook). */
  readonly onCompensated?: (taskId: string, state: S) => void
  /** Compensating the saga entry of `state` failed for good (not a cano hook). */
  readonly onCompensationFailure?: (taskId: string, error: CanoError, state: S) => void
  readonly onRunEnd?: (
    event: Extract<WorkflowEvent<S>, { _tag: 'RunCompleted' | 'RunFailed' | 'RunCancelled' | 'RunTimedOut' }>,
  ) => void
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Delivers one event to one observer's hooks. Throws whatever a hook throws (the engine catches it).
 *
 * @param o - the observer
 * @param e - the event to deliver: `onEvent` first, then the matching hook
 * @example
 * import { notifyObserver } from './WorkflowObserver.js'
 * notifyObserver({ onStateEnter: (s) => console.log(s) }, { _tag: 'StateEntered', workflowId: 'w', at: 0, state: 'A', transition: 0 })
 * @see {@link WorkflowObserver}
 * @category destructors
 * @since 0.1.0
 */
export const notifyObserver = <S extends string>(o: WorkflowObserver<S>, e: WorkflowEvent<S>): void => {
  o.onEvent?.(e)
  switch (e._tag) {
    case 'StateEntered':
      o.onStateEnter?.(e.state)
      return
    case 'TaskStarted':
      o.onTaskStart?.(e.taskId, e.state)
      return
    case 'TaskSucceeded':
      o.onTaskSuccess?.(e.taskId, e.state)
      return
    case 'TaskFailed':
      o.onTaskFailure?.(e.taskId, e.error, e.state)
      return
    case 'RetryScheduled':
      o.onRetry?.(e.taskId, e.attempt, e.state)
      return
    case 'CircuitRejected':
      o.onCircuitOpen?.(e.taskId, e.state)
      return
    case 'CheckpointAppended':
      o.onCheckpoint?.(e.workflowId, e.seq)
      return
    case 'CheckpointClearFailed':
      o.onCheckpointClearFailed?.(e.workflowId, e.error)
      return
    case 'SplitBranchSettled':
      // a branch is a task to the hooks; one the join cancelled reports neither
      if (e.outcome._tag === 'Succeeded') o.onTaskSuccess?.(e.taskId, e.state)
      else if (e.outcome._tag === 'Failed') o.onTaskFailure?.(e.taskId, e.outcome.error, e.state)
      return
    case 'RunResumed':
      o.onResume?.(e.workflowId, e.fromSeq)
      return
    case 'CompensationStarted':
      o.onCompensationStart?.(e.taskId, e.state)
      return
    case 'Compensated':
      o.onCompensated?.(e.taskId, e.state)
      return
    case 'CompensationFailed':
      o.onCompensationFailure?.(e.taskId, e.error, e.state)
      return
    case 'RunCompleted':
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      o.onRunEnd?.(e)
      return
    default:
      return
  }
}
