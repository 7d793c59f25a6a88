/**
 * `RunState`: a frozen snapshot of one run, folded from its {@link WorkflowEvent}s by the pure
 * reducer {@link reduceRunState} (an immer producer). `flow.snapshot$(…)` is
 * `flow.run$(…).pipe(scan(reduceRunState, initialRunState(id)))`. Terminal statuses absorb every
 * later event; attempt counters never decrease.
 *
 * Beyond the state and its attempts, a snapshot shows the progress of the current state: the branches of
 * a `split` (each one's status, attempts and error, by index), the items of a `batch` (done, failed,
 * total) and the cursor and step count of a `stepped` state. A resumed run (`flow.resume$(…)`) folds the
 * same way: its `RunResumed` event names the state it continues and what it continues from (a stepped
 * cursor, a timer's wake-up, a rollback), so the snapshot starts there; its `history` starts at the
 * resumed state (the states before the crash are in the checkpoint log, not in the run's events).
 *
 * @since 0.1.0
 */
import { type Draft, Immer } from 'immer'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { isBatchProgress } from './Batch.js'
import { terminalStatus } from './RunMachine.js'
import type { WorkflowEvent } from './WorkflowEvent.js'

/**
 * Our own immer instance, freezing what it produces: immer's `setAutoFreeze` and `setUseStrictShallowCopy`
 * configure its shared default instance, so an application calling `setAutoFreeze(false)` for its own
 * state must not unfreeze our snapshots.
 */
const immer = /*#__PURE__*/ new Immer({ autoFreeze: true })

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where a run is: `pending` before its first event, `running` until its terminal event, then the status
 * of its outcome (the run machine's own mapping, src/RunMachine.ts `TERMINALS`).
 *
 * @example
 * import type { RunStatus } from 'cano-rx'
 * const finished = (s: RunStatus) => s !== 'pending' && s !== 'running'
 * @see {@link RunState}
 * @category model
 * @since 0.1.0
 */
export type RunStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timedOut'

/**
 * Where one branch of a `split` state is: `pending` until it starts (a `bulkhead` holds it back),
 * `running` from its `TaskStarted` (retries included), then how it settled (`SplitBranchSettled`).
 *
 * @example
 * import type { BranchStatus } from 'cano-rx'
 * const settled = (s: BranchStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled'
 * @see {@link BranchProgress}
 * @category model
 * @since 0.2.0
 */
export type BranchStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled'

/**
 * One branch of the current `split` state, as {@link RunState}'s `branches` holds it.
 *
 * @example
 * import type { BranchProgress } from 'cano-rx'
 * const line = (b: BranchProgress) => `#${b.index} ${b.status} (attempt ${b.attempts})${b.error ? `: ${b.error.message}` : ''}`
 * @see {@link RunState}
 * @category model
 * @since 0.2.0
 */
export interface BranchProgress {
  /** The branch's index in the split's branch list. */
  readonly index: number
  readonly status: BranchStatus
  /** Attempts started (0 while pending); a retry counts when it is scheduled, as for `RunState.attempt`. */
  readonly attempts: number
  /**
   * The last attempt failure, or the error the branch failed with; `undefined` while nothing failed and
   * once the branch succeeded.
   */
  readonly error: CanoError | undefined
  /** The branch's last `ctx.progress(data)`. */
  readonly progress: unknown
}

/**
 * The items of the current `batch` state, from its latest {@link BatchProgress} report (after each item
 * settles).
 *
 * @example
 * import type { BatchItems } from 'cano-rx'
 * const bar = (b: BatchItems) => `${b.done}/${b.total} (${b.failed} failed)`
 * @see {@link RunState}
 * @category model
 * @since 0.2.0
 */
export interface BatchItems {
  /** Items settled so far (succeeded or failed). */
  readonly done: number
  /** Items among `done` that failed. */
  readonly failed: number
  /** Items `load` returned. */
  readonly total: number
}

/**
 * A frozen snapshot of a run. `O` is the type of its output (the workflow's output declaration).
 *
 * @example
 * import { initialRunState, type RunState } from 'cano-rx'
 * const s: RunState<'A' | 'Done'> = initialRunState('run-1')
 * @see {@link reduceRunState}, which builds it from the events
 * @category model
 * @since 0.1.0
 */
export interface RunState<S extends string = string, O = unknown> {
  readonly workflowId: string
  readonly status: RunStatus
  /** The state being run, or the final state. */
  readonly current: S | undefined
  /** Every state entered by this run, in order (a resumed run's starts at the state it resumed). */
  readonly history: ReadonlyArray<S>
  /** Attempt number of the current task (1-based; 0 before any task). */
  readonly attempt: number
  /**
   * Attempts over the whole run. A retry counts from its `RetryScheduled` (the wait before it included);
   * one that a circuit breaker then rejects never ran and is taken back, here, in `attempt` and in
   * `totalRetries`, as the engine's `TaskFailed` and `RunFailed` count it.
   */
  readonly totalAttempts: number
  /** Retries over the whole run (scheduled, and not rejected by a circuit breaker). */
  readonly totalRetries: number
  /**
   * The last error seen (an attempt failure, a branch's, or the run's failure); cleared when the run
   * completes.
   */
  readonly lastError: CanoError | undefined
  /** The last `ctx.progress(data)` of the current state (a split branch's included). */
  readonly progress: unknown
  /** Steps finished by the current `stepped` state (0 elsewhere). */
  readonly step: number
  /**
   * The encoded cursor of the current `stepped` state after its last finished step (`undefined` before the
   * first, and elsewhere). A resumed stepped state starts from the cursor its `RunResumed` carries. @since 0.2.0
   */
  readonly cursor: unknown
  /**
   * The branches of the current `split` state, by index, from its first branch's start (`[]` elsewhere).
   * Branch attempts count in `totalAttempts` and `totalRetries`, not in `attempt`. @since 0.2.0
   */
  readonly branches: ReadonlyArray<BranchProgress>
  /** The items of the current `batch` state, once its first item settled (`undefined` elsewhere). @since 0.2.0 */
  readonly batch: BatchItems | undefined
  /** Wake-up instant of the current `sleep` state, if any. */
  readonly wakeAt: number | undefined
  /** `seq` of the last checkpoint row appended by this run. */
  readonly lastSeq: number | undefined
  /** Set when the run was resumed: the `seq` of the last row before the resume. */
  readonly resumedFromSeq: number | undefined
  /** `true` once a rollback has started compensating saga entries. */
  readonly rollingBack: boolean
  /** Saga entries compensated by this run's rollback. */
  readonly compensated: number
  /** Saga entries whose compensation failed in this run's rollback. */
  readonly compensationFailures: number
  readonly startedAt: number | undefined
  readonly updatedAt: number | undefined
  readonly finishedAt: number | undefined
  /**
   * The output of a completed run of a workflow with an output declaration; `undefined` otherwise.
   * `flow.snapshot$` holds it decoded (typed `O`); {@link reduceRunState} alone keeps what
   * `RunCompleted` carries, the encoded JSON value. @since 0.2.0
   */
  readonly output: O | undefined
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The snapshot before the first event.
 *
 * @param workflowId - the id of the run
 * @returns a frozen `pending` snapshot
 * @example
 * import { initialRunState } from 'cano-rx'
 * initialRunState('order-42').status // 'pending'
 * @see {@link reduceRunState}
 * @category constructors
 * @since 0.1.0
 */
export const initialRunState = <S extends string = string, O = unknown>(workflowId: string): RunState<S, O> =>
  Object.freeze({
    workflowId,
    status: 'pending',
    current: undefined,
    history: Object.freeze([]),
    attempt: 0,
    totalAttempts: 0,
    totalRetries: 0,
    lastError: undefined,
    progress: undefined,
    step: 0,
    cursor: undefined,
    branches: Object.freeze([]),
    batch: undefined,
    wakeAt: undefined,
    lastSeq: undefined,
    resumedFromSeq: undefined,
    rollingBack: false,
    compensated: 0,
    compensationFailures: 0,
    startedAt: undefined,
    updatedAt: undefined,
    finishedAt: undefined,
    output: undefined,
  })

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

const isFinished = (s: RunStatus): boolean => s !== 'pending' && s !== 'running'

const finish = (draft: Draft<RunState>, status: RunStatus, at: number, error: CanoError | undefined): void => {
  draft.status = status
  draft.finishedAt = at
  if (error !== undefined) draft.lastError = error as Draft<CanoError>
}

/** The entry of branch `index`, created (with the pending ones before it, up to `count`) if missing. */
const branchAt = (draft: Draft<RunState>, index: number, count = 0): Draft<BranchProgress> => {
  const branches = draft.branches
  for (let i = branches.length; i < Math.max(count, index + 1); i++)
    branches.push({ index: i, status: 'pending', attempts: 0, error: undefined, progress: undefined })
  return branches[index] as Draft<BranchProgress>
}

/** The first `StateEntered` of a resumed run, into the state its `RunResumed` named. */
const continuesResumed = (draft: Draft<RunState>, state: string): boolean =>
  draft.resumedFromSeq !== undefined && draft.history.length === 0 && draft.current === state

const recipe = (draft: Draft<RunState>, event: WorkflowEvent): void => {
  if (isFinished(draft.status)) return // terminal statuses absorb every event
  draft.updatedAt = event.at
  switch (event._tag) {
    case 'RunStarted':
      draft.status = 'running'
      draft.startedAt = event.at
      return
    case 'StateEntered':
      draft.status = 'running'
      // a resumed state keeps what its RunResumed said it continues from (a cursor, a wake-up)
      if (!continuesResumed(draft, event.state)) {
        draft.step = 0
        draft.cursor = undefined
        draft.wakeAt = undefined
      }
      draft.current = event.state
      draft.history.push(event.state)
      draft.attempt = 0
      draft.progress = undefined
      if (draft.branches.length > 0) draft.branches = []
      draft.batch = undefined
      return
    case 'TaskStarted': {
      draft.totalAttempts += 1
      if (event.branch === undefined) {
        draft.attempt = 1
        return
      }
      const branch = branchAt(draft, event.branch, event.branches)
      branch.status = 'running'
      branch.attempts = 1
      return
    }
    case 'RetryScheduled':
      draft.totalAttempts += 1
      draft.totalRetries += 1
      if (event.branch === undefined) draft.attempt += 1
      else branchAt(draft, event.branch).attempts += 1
      return
    case 'CircuitRejected':
      // a retry the breaker rejects never ran: the attempt its `RetryScheduled` counted is taken back
      // (as the engine's `TaskFailed` / `RunFailed` count it); a rejected first attempt stays attempt 1
      if (event.branch === undefined) {
        if (draft.attempt > 1) {
          draft.attempt -= 1
          draft.totalAttempts -= 1
          draft.totalRetries -= 1
        }
      } else {
        const branch = branchAt(draft, event.branch)
        if (branch.attempts > 1) {
          branch.attempts -= 1
          draft.totalAttempts -= 1
          draft.totalRetries -= 1
        }
      }
      draft.lastError = event.error as Draft<CanoError>
      if (event.branch !== undefined) branchAt(draft, event.branch).error = event.error as Draft<CanoError>
      return
    case 'AttemptFailed':
      draft.lastError = event.error as Draft<CanoError>
      if (event.branch !== undefined) branchAt(draft, event.branch).error = event.error as Draft<CanoError>
      return
    case 'TaskFailed':
      draft.lastError = event.error as Draft<CanoError>
      return
    case 'Progress':
      draft.progress = event.data
      if (event.branch !== undefined) branchAt(draft, event.branch).progress = event.data
      else if (isBatchProgress(event.data)) {
        const { done, failed, total } = event.data
        draft.batch = { done, failed, total }
      }
      return
    case 'SplitBranchSettled': {
      const branch = branchAt(draft, event.index)
      const { outcome } = event
      branch.status = outcome._tag === 'Succeeded' ? 'succeeded' : outcome._tag === 'Failed' ? 'failed' : 'cancelled'
      if (outcome._tag === 'Failed') {
        branch.error = outcome.error as Draft<CanoError>
        draft.lastError = outcome.error as Draft<CanoError>
      } else if (outcome._tag === 'Succeeded') branch.error = undefined
      return
    }
    case 'RunResumed':
      draft.status = 'running'
      draft.resumedFromSeq = event.fromSeq
      draft.current = event.state
      if (event.step !== undefined) draft.step = event.step
      if (event.cursor !== undefined) draft.cursor = event.cursor
      if (event.wakeAt !== undefined) draft.wakeAt = event.wakeAt
      if (event.rollingBack === true) draft.rollingBack = true
      return
    case 'CheckpointAppended':
      draft.lastSeq = event.seq
      return
    case 'CursorAdvanced':
      draft.step = event.step
      draft.cursor = event.cursor
      return
    case 'TimerArmed':
      draft.wakeAt = event.wakeAt
      return
    case 'CompensationStarted':
      draft.rollingBack = true
      return
    case 'Compensated':
      draft.compensated += 1
      return
    case 'CompensationFailed':
      draft.compensationFailures += 1
      draft.lastError = event.error as Draft<CanoError>
      return
    case 'TaskSucceeded':
    case 'ObserverFailed':
    case 'CheckpointClearFailed':
    case 'WindowFlushed':
      return
    case 'RunCompleted':
      draft.current = event.state
      if (event.output !== undefined) draft.output = event.output
      draft.lastError = undefined
      finish(draft, terminalStatus[event._tag], event.at, undefined)
      return
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      finish(draft, terminalStatus[event._tag], event.at, event.error)
      return
    default:
      return absurd(event)
  }
}

const absurd = (x: never): never => {
  throw new Error(`unhandled event ${JSON.stringify(x)}`)
}

/**
 * The pure reducer: `reduceRunState(state, event)` returns the next frozen snapshot (structurally
 * shared with the previous one). Made for `scan`.
 *
 * @param state - the previous snapshot
 * @param event - the next event of the run
 * @returns the next frozen snapshot (`state` itself once the run has finished)
 * @example
 * import { scan } from 'rxjs'
 * import { initialRunState, reduceRunState, task, workflow } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * flow.run$('Go', { workflowId: 'w1' }).pipe(scan(reduceRunState<'Go' | 'Done'>, initialRunState<'Go' | 'Done'>('w1')))
 * @see {@link initialRunState} for the seed
 * @category combinators
 * @since 0.1.0
 */
export const reduceRunState: <S extends string>(state: RunState<S>, event: WorkflowEvent<S>) => RunState<S> =
  /*#__PURE__*/ immer.produce(recipe) as <S extends string>(state: RunState<S>, event: WorkflowEvent<S>) => RunState<S>

/**
 * @internal {@link reduceRunState} for a workflow with an output declaration: the snapshot of a completed
 * run holds its output decoded with `decodeOutput` (what `flow.snapshot$` folds with). The decoding is a
 * step of its own, not an extra argument of the producer: `scan` and `Array.prototype.reduce` pass an
 * index there.
 */
export const reduceRunStateDecoding =
  <S extends string, O>(decodeOutput: (encoded: JsonValue) => O) =>
  (state: RunState<S, O>, event: WorkflowEvent<S>): RunState<S, O> => {
    const next = reduceRunState<S>(state, event) as RunState<S, O>
    if (next === state || event._tag !== 'RunCompleted' || event.output === undefined) return next
    const decoded: unknown = decodeOutput(event.output)
    return immer.produce(next as RunState, (draft: Draft<RunState>) => {
      draft.output = decoded
    }) as RunState<S, O>
  }
