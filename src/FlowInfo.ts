/**
 * `FlowInfo`: where a scheduled flow stands. The scheduler folds what happens to a flow (a
 * {@link FlowUpdate}) into a {@link FlowInfo} with the pure reducer built by {@link flowInfoReducer}.
 *
 * @since 0.1.0
 */
import { backoffDelayMs, type BackoffPolicy, isTripped } from './BackoffPolicy.js'
import type { CanoError } from './CanoError.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The flow waits for its next tick (never run, reset, or its last run was cancelled).
 *
 * @example
 * import type { FlowIdle } from 'cano-rx'
 * const s: FlowIdle = { _tag: 'Idle' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowIdle {
  readonly _tag: 'Idle'
}

/**
 * A run of the flow is in flight; ticks that come now are skipped.
 *
 * @example
 * import type { FlowRunning } from 'cano-rx'
 * const s: FlowRunning = { _tag: 'Running' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowRunning {
  readonly _tag: 'Running'
}

/**
 * The last run reached an exit state.
 *
 * @example
 * import type { FlowCompleted } from 'cano-rx'
 * const s: FlowCompleted = { _tag: 'Completed' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowCompleted {
  readonly _tag: 'Completed'
}

/**
 * The last `streak` runs failed; scheduled ticks before `until` (epoch ms) are skipped. A manual
 * trigger still runs the flow.
 *
 * @example
 * import { type FlowBackoff, taskExecutionError } from 'cano-rx'
 * const s: FlowBackoff = { _tag: 'Backoff', until: 1_767_225_602_000, streak: 2, lastError: taskExecutionError('upstream answered 503') }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowBackoff {
  readonly _tag: 'Backoff'
  readonly until: number
  readonly streak: number
  readonly lastError: CanoError
}

/**
 * The failure streak reached the policy's `streakLimit`: no tick or trigger runs the flow until `reset`.
 *
 * @example
 * import { type FlowTripped, taskExecutionError } from 'cano-rx'
 * const s: FlowTripped = { _tag: 'Tripped', streak: 5, lastError: taskExecutionError('upstream answered 503') }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowTripped {
  readonly _tag: 'Tripped'
  readonly streak: number
  readonly lastError: CanoError
}

/**
 * Where a scheduled flow stands.
 *
 * @example
 * import type { FlowStatus } from 'cano-rx'
 * const label = (s: FlowStatus): string => (s._tag === 'Backoff' ? `backoff until ${new Date(s.until).toISOString()}` : s._tag)
 * @see {@link FlowInfo}
 * @category model
 * @since 0.1.0
 */
export type FlowStatus = FlowIdle | FlowRunning | FlowCompleted | FlowBackoff | FlowTripped

/**
 * A snapshot of one scheduled flow. Times are epoch milliseconds from the scheduler's clock.
 *
 * @example
 * import { initialFlowInfo, type FlowInfo } from 'cano-rx'
 * const info: FlowInfo = initialFlowInfo('nightly-report')
 * // { id: 'nightly-report', status: { _tag: 'Idle' }, runCount: 0, lastRun: undefined, failureStreak: 0,
 * //   nextEligible: undefined, lastError: undefined, skippedTicks: 0 }
 * @see {@link flowInfoReducer}, which updates it
 * @category model
 * @since 0.1.0
 */
export interface FlowInfo {
  readonly id: string
  readonly status: FlowStatus
  /** Runs started so far (scheduled and manual). */
  readonly runCount: number
  /** When the last run started. */
  readonly lastRun: number | undefined
  /** Consecutive failed runs; 0 after a success or a reset. */
  readonly failureStreak: number
  /** While backing off: the earliest time a scheduled tick may run the flow again. */
  readonly nextEligible: number | undefined
  /** The error of the most recent failed run; kept after a later success, cleared by a reset. */
  readonly lastError: CanoError | undefined
  /** Scheduled ticks dropped because the flow was still running (overlap prevention). */
  readonly skippedTicks: number
}

/**
 * What can happen to a flow; {@link flowInfoReducer} folds these into a {@link FlowInfo}.
 *
 * - `Dispatched`: a run started at `at`.
 * - `Succeeded`: the run reached an exit state.
 * - `Failed`: the run failed (or timed out) at `at` with `error`.
 * - `Cancelled`: the run was cancelled (`cancel(id)` or `stop`); not a failure.
 * - `TickSkipped`: a scheduled tick came while the flow was running.
 * - `Reset`: `reset(id)`.
 *
 * @example
 * import { type FlowUpdate, taskExecutionError } from 'cano-rx'
 * const updates: ReadonlyArray<FlowUpdate> = [{ _tag: 'Dispatched', at: 0 }, { _tag: 'Failed', at: 40, error: taskExecutionError('boom') }]
 * @see {@link flowInfoReducer}
 * @category model
 * @since 0.1.0
 */
export type FlowUpdate =
  | { readonly _tag: 'Dispatched'; readonly at: number }
  | { readonly _tag: 'Succeeded' }
  | { readonly _tag: 'Failed'; readonly at: number; readonly error: CanoError }
  | { readonly _tag: 'Cancelled' }
  | { readonly _tag: 'TickSkipped' }
  | { readonly _tag: 'Reset' }

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The info of a flow that has never run.
 *
 * @param id - the flow's id
 * @returns an `Idle` {@link FlowInfo} with every counter at 0
 * @example
 * import { initialFlowInfo } from 'cano-rx'
 * initialFlowInfo('health').status // { _tag: 'Idle' }
 * @see {@link flowInfoReducer}
 * @category constructors
 * @since 0.1.0
 */
export const initialFlowInfo = (id: string): FlowInfo => ({
  id,
  status: { _tag: 'Idle' },
  runCount: 0,
  lastRun: undefined,
  failureStreak: 0,
  nextEligible: undefined,
  lastError: undefined,
  skippedTicks: 0,
})

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Builds the pure reducer of a flow's {@link FlowInfo} under `policy`:
 *
 * - `Dispatched`: `Running`, `runCount + 1`, `lastRun = at`.
 * - `Succeeded`: `Completed`, streak 0, `nextEligible` cleared.
 * - `Failed`: streak + 1; `Tripped` when {@link isTripped}, otherwise `Backoff` until
 *   `at + backoffDelayMs(policy, streak, random)` (also stored in `nextEligible`); `lastError = error`.
 * - `Cancelled`: `Idle`; streak and `nextEligible` unchanged (a cancellation is not a failure).
 * - `TickSkipped`: `skippedTicks + 1`.
 * - `Reset`: `Idle`, streak 0, `nextEligible` and `lastError` cleared.
 *
 * @param policy - the flow's backoff policy
 * @param random - jitter source in [0, 1); default `Math.random`
 * @returns `(info, update) => info`, usable with `scan`
 * @example
 * import { backoffPolicy, flowInfoReducer, initialFlowInfo, taskExecutionError } from 'cano-rx'
 * const reduce = flowInfoReducer(backoffPolicy({ jitter: 0 }))
 * const info = [{ _tag: 'Dispatched', at: 0 } as const, { _tag: 'Failed', at: 50, error: taskExecutionError('boom') } as const]
 *   .reduce(reduce, initialFlowInfo('etl'))
 * info.status // { _tag: 'Backoff', until: 1050, streak: 1, lastError: { _tag: 'TaskExecution', message: 'boom' } }
 * @see {@link FlowUpdate}
 * @category combinators
 * @since 0.1.0
 */
export const flowInfoReducer =
  (policy: BackoffPolicy, random: () => number = Math.random) =>
  (info: FlowInfo, update: FlowUpdate): FlowInfo => {
    switch (update._tag) {
      case 'Dispatched':
        return { ...info, status: { _tag: 'Running' }, runCount: info.runCount + 1, lastRun: update.at }
      case 'Succeeded':
        return { ...info, status: { _tag: 'Completed' }, failureStreak: 0, nextEligible: undefined }
      case 'Failed': {
        const streak = info.failureStreak + 1
        if (isTripped(policy, streak)) {
          return {
            ...info,
            status: { _tag: 'Tripped', streak, lastError: update.error },
            failureStreak: streak,
            nextEligible: undefined,
            lastError: update.error,
          }
        }
        const until = update.at + backoffDelayMs(policy, streak, random)
        return {
          ...info,
          status: { _tag: 'Backoff', until, streak, lastError: update.error },
          failureStreak: streak,
          nextEligible: until,
          lastError: update.error,
        }
      }
      case 'Cancelled':
        return { ...info, status: { _tag: 'Idle' } }
      case 'TickSkipped':
        return { ...info, skippedTicks: info.skippedTicks + 1 }
      case 'Reset':
        return { ...info, status: { _tag: 'Idle' }, failureStreak: 0, nextEligible: undefined, lastError: undefined }
    }
  }
