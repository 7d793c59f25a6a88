/**
 * `split`: a fan-out state. Its branches run concurrently (at most `bulkhead` at a time), each
 * through its own retry loop, and a {@link JoinStrategy} decides when the state is done: it proceeds
 * to the `join` state as soon as the strategy is satisfied, and fails as soon as it can no longer be
 * satisfied. Either way the branches still running are cancelled (their signals abort). An optional
 * deadline (`timeoutMs`) starts once every branch has been handed to the bulkhead; at the deadline a
 * strategy that is not satisfied fails (`PartialTimeout` proceeds if at least one branch completed).
 * The join state reads what happened from `ctx.split` (a {@link SplitResult}).
 *
 * This module is the pure half: the model, the constructors, the join decision ({@link decideJoin}),
 * the failure it reports ({@link joinFailure}) and the definition-time checks ({@link validateSplit}).
 * `streams/runSplitState.ts` runs it.
 *
 * @since 0.1.0
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { Observable } from 'rxjs'

import type { CanoError, Configuration, Workflow } from '../codecs/CanoError.js'
import { configurationError, describeCanoError, workflowError } from './CanoError.js'
import type { HandlerBase } from './HandlerBase.js'
import { describeValue } from './internal/describeValue.js'
import { MAX_TIMER_MS } from './internal/timers.js'
import type { TaskConfig } from './TaskConfig.js'
import { validateTaskConfig } from './TaskConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'

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
 * What a branch function may return: its value as it is, a Promise, an Observable (first value
 * taken) or an fp-ts `TaskEither` (a `Left` fails the attempt). Like a task's output, a function is
 * taken for a `TaskEither` and called, and an `Either` is unwrapped.
 *
 * @example
 * import type { BranchOutput } from 'cano-rx'
 * const rows: BranchOutput<number> = Promise.resolve(42)
 * @category model
 * @since 0.1.0
 */
export type BranchOutput<A> = A | PromiseLike<A> | Observable<A> | TaskEither<unknown, A>

/**
 * A branch's function: it receives the usual {@link TaskContext} (its `signal` is the branch's own:
 * it aborts when the join is decided without it) and returns the branch's value.
 *
 * @example
 * import type { BranchFn } from 'cano-rx'
 * const fetchUsers: BranchFn<Record<never, never>> = async ({ signal }) => (await fetch('https://example.org/users', { signal })).json()
 * @category model
 * @since 0.1.0
 */
export type BranchFn<R extends ResourceRecord = NoResources> = (ctx: TaskContext<R>) => BranchOutput<unknown>

/**
 * A branch with its own retry loop policy, built by {@link Branch.of}.
 *
 * @example
 * import { Branch, RetryMode, type SplitBranch } from 'cano-rx'
 * const b: SplitBranch<Record<never, never>> = Branch.of(async () => 1, { retry: RetryMode.fixed(2, 50) })
 * @category model
 * @since 0.1.0
 */
export interface SplitBranch<R extends ResourceRecord = NoResources> {
  readonly _tag: 'Branch'
  readonly run: BranchFn<R>
  /** Default `{}`: cano's `TaskConfig::default()`, i.e. `RetryMode.default()` and no timeout. */
  readonly config: TaskConfig
}

/**
 * One entry of a split's branch list: a bare function (default config) or {@link Branch.of}`(fn, config)`.
 *
 * @example
 * import { Branch, RetryMode } from 'cano-rx'
 * const branches: ReadonlyArray<Branch<Record<never, never>>> = [async () => 'a', Branch.of(async () => 'b', { retry: RetryMode.none() })]
 * @category model
 * @since 0.1.0
 */
export type Branch<R extends ResourceRecord = NoResources> = BranchFn<R> | SplitBranch<R>

/**
 * A `split` state. Its only target is `join` (`to` is `[join]`).
 *
 * @example
 * import { JoinStrategy, split, type SplitHandler } from 'cano-rx'
 * const h: SplitHandler<'Merge'> = split([async () => 1, async () => 2], { strategy: JoinStrategy.all(), join: 'Merge' })
 * @category model
 * @since 0.1.0
 */
export interface SplitHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Split'
  /** In input order; a bare function is stored as `branch(fn)`. */
  readonly branches: ReadonlyArray<SplitBranch<R>>
  readonly strategy: JoinStrategy
  /** The state the split moves to when the strategy is satisfied. */
  readonly join: S
  /** Deadline of the join, from the moment every branch has been handed to the bulkhead. */
  readonly timeoutMs: number | undefined
  /** At most this many branches run at once. Default: no limit. */
  readonly bulkhead: number | undefined
}

/**
 * Options of {@link split}.
 *
 * @example
 * import { JoinStrategy, type SplitOptions } from 'cano-rx'
 * const o: SplitOptions<'Merge'> = { strategy: JoinStrategy.quorum(2), join: 'Merge', timeoutMs: 5_000, bulkhead: 2 }
 * @category model
 * @since 0.1.0
 */
export interface SplitOptions<S extends string> {
  readonly strategy: JoinStrategy
  /** The state to move to; it can read the {@link SplitResult} from `ctx.split`. */
  readonly join: S
  /** Join deadline in ms, in (0, 2^31-1]. Required by `partialTimeout()`. Default: none. */
  readonly timeoutMs?: number
  /** Concurrency limit, a positive integer. Default: every branch at once. */
  readonly bulkhead?: number
  /** Task id in events and checkpoint rows; defaults to the state's name. Branch `i` is `${name}[${i}]`. */
  readonly name?: string
}

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

/** The config of a branch given as a bare function. */
const DEFAULT_BRANCH_CONFIG: TaskConfig = Object.freeze({})

/**
 * A branch with its own {@link TaskConfig}: retries, attempt timeout, breaker and limiter apply to
 * this branch alone.
 *
 * @param run - the branch's function
 * @param config - its retry loop policy; default `{}` (`RetryMode.default()`, no timeout)
 * @returns the branch, to put in a {@link split}'s list
 * @example
 * import { Branch, RetryMode } from 'cano-rx'
 * const flaky = Branch.of(async () => 'rows', { retry: RetryMode.fixed(3, 100), attemptTimeoutMs: 2_000 })
 * @category constructors
 * @since 0.1.0
 */
const branch = <R extends ResourceRecord = NoResources>(
  run: BranchFn<R>,
  config: TaskConfig = DEFAULT_BRANCH_CONFIG,
): SplitBranch<R> => ({ _tag: 'Branch', run, config })

/**
 * Builds a split {@link Branch} with its own retry and timeout: `Branch.of(run, config)` (a bare function
 * in a split's list gets the default config).
 *
 * @example
 * import { Branch, RetryMode } from 'cano-rx'
 * const flaky = Branch.of(async () => 'rows', { retry: RetryMode.fixed(3, 100), attemptTimeoutMs: 2_000 })
 * @category constructors
 * @since 0.1.0
 */
export const Branch = { of: branch } as const

/**
 * A fan-out state: runs `branches` concurrently and joins them under `options.strategy`, then moves
 * to `options.join` (or fails). Bare functions get the default config (`RetryMode.default()`).
 *
 * @param branches - the branches, in the order their results are indexed
 * @param options - strategy, join state, deadline, bulkhead and task id
 * @returns the `split` handler
 * @example
 * import { JoinStrategy, split } from 'cano-rx'
 * const fanOut = split([async () => 'eu', async () => 'us', async () => 'ap'], {
 *   strategy: JoinStrategy.quorum(2),
 *   join: 'Aggregate',
 *   timeoutMs: 5_000,
 *   bulkhead: 2,
 * })
 * @see {@link JoinStrategy}, {@link Branch.of}
 * @category constructors
 * @since 0.1.0
 */
export const split = <S extends string, R extends ResourceRecord = NoResources>(
  branches: ReadonlyArray<Branch<R>>,
  options: SplitOptions<S>,
): SplitHandler<S, R> => ({
  _tag: 'Split',
  config: DEFAULT_BRANCH_CONFIG,
  to: [options.join],
  name: options.name,
  branches: Array.isArray(branches) ? branches.map(toBranch) : (branches as ReadonlyArray<SplitBranch<R>>),
  strategy: options.strategy,
  join: options.join,
  timeoutMs: options.timeoutMs,
  bulkhead: options.bulkhead,
})

const toBranch = <R extends ResourceRecord>(b: Branch<R>): SplitBranch<R> => (typeof b === 'function' ? branch(b) : b) // anything else is kept for validateSplit to report

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The join decision, a pure function of where the split stands (cano-rx semantics, reference 2.12
 * counting rules):
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
 * import { JoinStrategy } from 'cano-rx'
 * import { requiredSuccesses } from './Split.js'
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
 * The `Workflow` error of a split that failed (messages of cano 0.12, reference 2.11 step 5):
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
 * import { JoinStrategy, taskExecutionError } from 'cano-rx'
 * import { joinFailure } from './Split.js'
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

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const STRATEGY_TAGS: ReadonlySet<string> = new Set([
  'All',
  'Any',
  'Quorum',
  'Percentage',
  'PartialResults',
  'PartialTimeout',
])

/**
 * Checks a split handler's own options; the error names `where`. Rules: branches are functions or
 * `Branch.of(fn, config)` with a valid config; `quorum(n)` needs an integer `n` in [1, branches];
 * `percentage(p)` needs `p` in (0, 1]; `partialResults(min)` needs an integer `min` in [0, branches];
 * `partialTimeout()` needs `timeoutMs`; `any()` and `partialTimeout()` need a branch; `timeoutMs` is
 * in (0, 2^31-1]; `bulkhead` is a positive integer; `join` is a known state.
 *
 * @param h - the handler (may come from untyped code)
 * @param where - prefixes the message (e.g. `state "FanOut"`)
 * @param isKnownState - is this a state or an exit of the workflow?
 * @returns the `Configuration` error, or `undefined` when the split is valid
 * @example
 * import { JoinStrategy, split } from 'cano-rx'
 * import { validateSplit } from './Split.js'
 * validateSplit(split([async () => 1], { strategy: JoinStrategy.quorum(0), join: 'Merge' }), 'state "FanOut"', () => true)?.message
 * // 'state "FanOut": quorum(n) needs an integer n in [1, 1] (the branch count), got 0'
 * @category validation
 * @since 0.1.0
 */
export const validateSplit = (
  h: SplitHandler<string, ResourceRecord>,
  where: string,
  isKnownState: (state: string) => boolean,
): Configuration | undefined => {
  const branches: unknown = h.branches
  if (!Array.isArray(branches))
    return configurationError(`${where}: branches must be a list of functions or Branch.of(fn, config)`)
  const count = branches.length
  for (let i = 0; i < count; i++) {
    const b = branches[i] as Partial<SplitBranch<ResourceRecord>> | null | undefined
    if (typeof b !== 'object' || b === null || b._tag !== 'Branch' || typeof b.run !== 'function')
      return configurationError(
        `${where}: branch ${i} must be a function or Branch.of(fn, config), got ${describeValue(b)}`,
      )
    const configError = validateTaskConfig(b.config, `${where}: branch ${i}`)
    if (configError !== undefined) return configError
  }
  const s = h.strategy as Partial<Record<string, unknown>> | null | undefined
  if (typeof s !== 'object' || s === null || typeof s['_tag'] !== 'string' || !STRATEGY_TAGS.has(s['_tag']))
    return configurationError(`${where}: strategy must be a JoinStrategy (JoinStrategy.all(), any(), quorum(n), …)`)
  const strategy = h.strategy
  switch (strategy._tag) {
    case 'Quorum':
      if (!Number.isSafeInteger(strategy.n) || strategy.n < 1 || strategy.n > count)
        return configurationError(
          `${where}: quorum(n) needs an integer n in [1, ${count}] (the branch count), got ${String(strategy.n)}`,
        )
      break
    case 'Percentage':
      if (typeof strategy.p !== 'number' || !(strategy.p > 0 && strategy.p <= 1))
        return configurationError(`${where}: percentage(p) needs p in (0, 1], got ${String(strategy.p)}`)
      break
    case 'PartialResults':
      if (!Number.isSafeInteger(strategy.min) || strategy.min < 0 || strategy.min > count)
        return configurationError(
          `${where}: partialResults(min) needs an integer min in [0, ${count}] (the branch count), got ${String(strategy.min)}`,
        )
      break
    case 'PartialTimeout':
      if (h.timeoutMs === undefined)
        return configurationError(`${where}: partialTimeout() needs timeoutMs (it proceeds at the deadline)`)
      if (count === 0) return configurationError(`${where}: partialTimeout() needs at least one branch`)
      break
    case 'Any':
      if (count === 0) return configurationError(`${where}: any() needs at least one branch`)
      break
    case 'All':
      break
  }
  const t: unknown = h.timeoutMs
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > MAX_TIMER_MS))
    return configurationError(
      `${where}: timeoutMs must be a finite number in (0, ${MAX_TIMER_MS}], got ${describeValue(t)}`,
    )
  const b: unknown = h.bulkhead
  if (b !== undefined && (typeof b !== 'number' || !Number.isSafeInteger(b) || b < 1))
    return configurationError(`${where}: bulkhead must be a positive integer, got ${describeValue(b)}`)
  const join: unknown = h.join
  if (typeof join !== 'string' || !isKnownState(join))
    return configurationError(`${where}: join state ${describeValue(join)} is neither a state nor an exit`)
  return undefined
}

/** `NaN` and `Infinity` as they are (JSON would say `null`). */
