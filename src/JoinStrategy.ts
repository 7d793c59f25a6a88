/**
 * `JoinStrategy`: the join arithmetic of a split state. A {@link JoinStrategy} says when a split may
 * move on to its join state; {@link decideJoin} decides it from the split's {@link JoinProgress}, and
 * {@link joinFailure} is the error of a split that failed. Pure: `streams/runSplitState.ts` counts the
 * branches and asks; `src/Split.ts` holds the split state itself.
 *
 * @since 0.1.0
 */
import type { CanoError, Workflow } from '../codecs/CanoError.js'
import { describeCanoError, workflowError } from './CanoError.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * When a split may move on to its join state. Build one with {@link JoinStrategy}'s constructors.
 *
 * | `_tag` | proceeds when | counts |
 * | --- | --- | --- |
 * | `All` | every branch succeeded | successes |
 * | `Any` | one branch succeeded | successes |
 * | `Quorum` | `n` branches succeeded | successes |
 * | `Percentage` | `ceil(total * p)` branches succeeded | successes |
 * | `PartialResults` | `min` branches succeeded | successes |
 * | `PartialTimeout` | every branch settled, or the deadline passed with at least one settled | successes + failures |
 *
 * @example
 * import { JoinStrategy } from 'cano-rx'
 * const twoOfThree: JoinStrategy = JoinStrategy.quorum(2)
 * const literal: JoinStrategy = { _tag: 'Quorum', n: 2 }
 * @see {@link decideJoin} for the decision rules
 * @category model
 * @since 0.1.0
 */
export type JoinStrategy =
  | { readonly _tag: 'All' }
  | { readonly _tag: 'Any' }
  | { readonly _tag: 'Quorum'; readonly n: number }
  | { readonly _tag: 'Percentage'; readonly p: number }
  | { readonly _tag: 'PartialResults'; readonly min: number }
  | { readonly _tag: 'PartialTimeout' }

/**
 * Where a split stands, as {@link decideJoin} sees it.
 *
 * @example
 * import type { JoinProgress } from 'cano-rx'
 * const p: JoinProgress = { total: 3, succeeded: 2, failed: 0, settled: 2, deadlineReached: false }
 * @category model
 * @since 0.1.0
 */
export interface JoinProgress {
  /** Branches in the split. */
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  /** Branches that finished: `succeeded + failed`. */
  readonly settled: number
  /** The split's `timeoutMs` has passed. */
  readonly deadlineReached: boolean
}

/**
 * What {@link decideJoin} answers: move on to the join state, fail the split, or keep waiting.
 *
 * @example
 * import type { JoinDecision } from 'cano-rx'
 * const d: JoinDecision = 'wait'
 * @category model
 * @since 0.1.0
 */
export type JoinDecision = 'proceed' | 'fail' | 'wait'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Constructors for {@link JoinStrategy}.
 *
 * - `all()`: every branch must succeed; fails at the first failure.
 * - `any()`: proceeds at the first success; fails when every branch failed.
 * - `quorum(n)`: proceeds at the `n`-th success; fails once more than `total - n` branches failed.
 * - `percentage(p)`: like `quorum(ceil(total * p))`, `p` in (0, 1].
 * - `partialResults(min)`: like `quorum(min)`, but `min` may be 0 (proceed at once).
 * - `partialTimeout()`: waits for every branch or the deadline (`timeoutMs` is required), then
 *   proceeds if at least one branch settled, successes and failures alike.
 *
 * Values are checked by {@link validateSplit} when a workflow is defined.
 *
 * @example
 * import { JoinStrategy } from 'cano-rx'
 * const strict = JoinStrategy.all()
 * const mostly = JoinStrategy.percentage(0.8)
 * @see {@link decideJoin}
 * @category constructors
 * @since 0.1.0
 */
export const JoinStrategy = {
  all: (): JoinStrategy => ({ _tag: 'All' }),
  any: (): JoinStrategy => ({ _tag: 'Any' }),
  quorum: (n: number): JoinStrategy => ({ _tag: 'Quorum', n }),
  percentage: (p: number): JoinStrategy => ({ _tag: 'Percentage', p }),
  partialResults: (min: number): JoinStrategy => ({ _tag: 'PartialResults', min }),
  partialTimeout: (): JoinStrategy => ({ _tag: 'PartialTimeout' }),
} as const

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The join decision, a pure function of where the split stands (cano-rx's counting rules):
 *
 * - `proceed` as soon as the strategy is satisfied, deadline or not;
 * - `fail` as soon as it can no longer be satisfied (a success-counting strategy that needs `k`
 *   successes fails once `succeeded + (total - settled) < k`), or at the deadline when it is not
 *   satisfied;
 * - `wait` otherwise. Once every branch has settled the answer is never `wait`.
 *
 * `PartialTimeout` counts successes and failures: it proceeds when every branch has settled, or at the
 * deadline if at least one has; it fails at the deadline with none, and at once on an empty list.
 * On an empty list `All`, `Percentage` and `PartialResults(0)` proceed; `Any`, `PartialTimeout` and
 * `Quorum(n > 0)` fail.
 *
 * @param strategy - the split's strategy
 * @param progress - counts so far and whether the deadline passed
 * @returns `'proceed'`, `'fail'` or `'wait'`
 * @example
 * import { decideJoin, JoinStrategy } from 'cano-rx'
 * decideJoin(JoinStrategy.quorum(2), { total: 3, succeeded: 2, failed: 0, settled: 2, deadlineReached: false }) // 'proceed'
 * decideJoin(JoinStrategy.all(), { total: 3, succeeded: 1, failed: 1, settled: 2, deadlineReached: false }) // 'fail'
 * @see {@link joinFailure} for the error of a `fail`
 * @category destructors
 * @since 0.1.0
 */
export const decideJoin = (strategy: JoinStrategy, progress: JoinProgress): JoinDecision => {
  const { total, succeeded, settled, deadlineReached } = progress
  if (strategy._tag === 'PartialTimeout') {
    if (total === 0) return 'fail'
    if (settled >= total) return 'proceed'
    if (deadlineReached) return settled >= 1 ? 'proceed' : 'fail'
    return 'wait'
  }
  const needed = requiredSuccesses(strategy, total)
  if (succeeded >= needed) return 'proceed'
  if (succeeded + (total - settled) < needed) return 'fail'
  return deadlineReached ? 'fail' : 'wait'
}

/**
 * Successes a success-counting strategy needs out of `total` branches. `Percentage` is
 * `ceil(total * p)`, computed so that a product a rounding error above an integer (`10 * 0.3`)
 * counts as that integer.
 *
 * @param strategy - any strategy but `PartialTimeout` (which counts settled branches; 1 is returned)
 * @param total - branches in the split
 * @returns the number of successes that satisfies the strategy
 * @example
 * import { JoinStrategy, requiredSuccesses } from 'cano-rx'
 * requiredSuccesses(JoinStrategy.percentage(0.3), 10) // 3
 * requiredSuccesses(JoinStrategy.all(), 4) // 4
 * @category destructors
 * @since 0.1.0
 */
export const requiredSuccesses = (strategy: JoinStrategy, total: number): number => {
  switch (strategy._tag) {
    case 'All':
      return total
    case 'Any':
    case 'PartialTimeout':
      return 1
    case 'Quorum':
      return strategy.n
    case 'Percentage':
      return ceilShare(total * strategy.p)
    case 'PartialResults':
      return strategy.min
  }
}

const ceilShare = (x: number): number => {
  const nearest = Math.round(x)
  return Math.abs(x - nearest) <= 1e-9 * Math.max(1, Math.abs(x)) ? nearest : Math.ceil(x)
}

/**
 * The `Workflow` error of a split that failed (the messages of cano 0.12):
 *
 * - deadline passed (not `PartialTimeout`): `Split task timeout exceeded`;
 * - `PartialTimeout`: `PartialTimeout: No tasks completed before timeout`;
 * - `PartialResults(min)`: `Partial results condition not met: {s} completed successfully, {min} required[; errors: …]`;
 * - others: `Join condition not met: {s} of {n} tasks completed successfully, strategy: {Debug}[; errors: …]`.
 *
 * The error summary lists the first 3 failures in the order they happened, as `task {i}: {error}`
 * joined by `; `, then `... and {k} more error(s)`.
 *
 * @param strategy - the split's strategy
 * @param state - the split state (named in the error)
 * @param progress - where the split stood when it failed
 * @param errors - the failed branches, in the order they failed
 * @returns a `Workflow` error naming `state`
 * @example
 * import { joinFailure, JoinStrategy, taskExecutionError } from 'cano-rx'
 * joinFailure(JoinStrategy.all(), 'FanOut', { total: 2, succeeded: 0, failed: 1, settled: 1, deadlineReached: false }, [
 *   { index: 1, error: taskExecutionError('boom') },
 * ]).message
 * // 'Join condition not met: 0 of 2 tasks completed successfully, strategy: All; errors: task 1: Task execution error: boom'
 * @see {@link decideJoin}
 * @category destructors
 * @since 0.1.0
 */
export const joinFailure = (
  strategy: JoinStrategy,
  state: string,
  progress: JoinProgress,
  errors: ReadonlyArray<{ readonly index: number; readonly error: CanoError }>,
): Workflow => {
  if (strategy._tag === 'PartialTimeout')
    return workflowError('PartialTimeout: No tasks completed before timeout', state)
  if (progress.deadlineReached) return workflowError('Split task timeout exceeded', state)
  const summary = errorSummary(errors)
  if (strategy._tag === 'PartialResults')
    return workflowError(
      `Partial results condition not met: ${progress.succeeded} completed successfully, ${strategy.min} required${summary}`,
      state,
    )
  return workflowError(
    `Join condition not met: ${progress.succeeded} of ${progress.total} tasks completed successfully, strategy: ${debugStrategy(strategy)}${summary}`,
    state,
  )
}

const errorSummary = (errors: ReadonlyArray<{ readonly index: number; readonly error: CanoError }>): string => {
  if (errors.length === 0) return ''
  const shown = errors.slice(0, 3).map((e) => `task ${e.index}: ${describeCanoError(e.error)}`)
  if (errors.length > 3) shown.push(`... and ${errors.length - 3} more error(s)`)
  return `; errors: ${shown.join('; ')}`
}

/** cano's `{:?}` of a strategy: `All`, `Quorum(2)`, `Percentage(0.5)`, `Percentage(1.0)`. */
const debugStrategy = (s: JoinStrategy): string => {
  switch (s._tag) {
    case 'Quorum':
      return `Quorum(${s.n})`
    case 'Percentage':
      return `Percentage(${Number.isInteger(s.p) ? s.p.toFixed(1) : String(s.p)})`
    case 'PartialResults':
      return `PartialResults(${s.min})`
    default:
      return s._tag
  }
}
