/**
 * `SplitResult`: what a split state's branches did, per branch index. The state a split joins into
 * reads it from its context (`ctx.split`): values of the branches that succeeded, errors of those
 * that failed, and which were cancelled because the join was already decided.
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'

/**
 * One branch's outcome.
 *
 * @example
 * import type { BranchOutcome } from 'cano-rx'
 * const o: BranchOutcome = { _tag: 'Succeeded', index: 0, value: { rows: 12 } }
 * @category model
 * @since 0.1.0
 */
export type BranchOutcome =
  | { readonly _tag: 'Succeeded'; readonly index: number; readonly value: unknown }
  | { readonly _tag: 'Failed'; readonly index: number; readonly error: CanoError }
  | { readonly _tag: 'Cancelled'; readonly index: number }

/**
 * The outcome of a split: `branches[i]` is branch `i`'s outcome (input order).
 *
 * @example
 * import type { SplitResult } from 'cano-rx'
 * const total = (r: SplitResult) => r.branches.filter((b) => b._tag === 'Succeeded').length
 * @category model
 * @since 0.1.0
 */
export interface SplitResult {
  /** The split state that produced it. */
  readonly state: string
  readonly branches: ReadonlyArray<BranchOutcome>
  readonly successes: number
  readonly failures: number
  /** Indices of the branches cancelled (still running when the join was decided, or never started). */
  readonly cancelled: ReadonlyArray<number>
}
