/**
 * `RunState`: a frozen snapshot of one run, folded from its {@link WorkflowEvent}s by the pure
 * reducer {@link reduceRunState} (an immer producer). `flow.snapshot$(…)` is
 * `flow.run$(…).pipe(scan(reduceRunState, initialRunState(id)))`. Terminal statuses absorb every
 * later event; attempt counters never decrease.
 *
 * @since 0.1.0
 */
import { type Draft, Immer } from 'immer'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
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
  /** Every state entered, in order. */
  readonly history: ReadonlyArray<S>
  /** Attempt number of the current task (1-based; 0 before any task). */
  readonly attempt: number
  /** Attempts started over the whole run; never decreases. */
  readonly totalAttempts: number
  /** Retries scheduled over the whole run. */
  readonly totalRetries: number
  /** The last error seen (an attempt failure or the run's failure). */
  readonly lastError: CanoError | undefined
  /** The last `ctx.progress(data)` of the current state. */
  readonly progress: unknown
  /** Steps finished by the current `stepped` state (0 elsewhere). */
  readonly step: number
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
      draft.current = event.state
      draft.history.push(event.state)
      draft.attempt = 0
      draft.progress = undefined
      draft.step = 0
      draft.wakeAt = undefined
      return
    case 'TaskStarted':
      draft.attempt = 1
      draft.totalAttempts += 1
      return
    case 'RetryScheduled':
      draft.attempt += 1
      draft.totalAttempts += 1
      draft.totalRetries += 1
      return
    case 'AttemptFailed':
    case 'TaskFailed':
    case 'CircuitRejected':
      draft.lastError = event.error as Draft<CanoError>
      return
    case 'Progress':
      draft.progress = event.data
      return
    case 'RunResumed':
      draft.status = 'running'
      draft.resumedFromSeq = event.fromSeq
      return
    case 'CheckpointAppended':
      draft.lastSeq = event.seq
      return
    case 'CursorAdvanced':
      draft.step = event.step
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
    case 'WindowFlushed':
    case 'SplitBranchSettled':
      return
    case 'RunCompleted':
      draft.current = event.state
      if (event.output !== undefined) draft.output = event.output
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
