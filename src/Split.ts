/**
 * `split`: a fan-out state. Its branches run concurrently (at most `bulkhead` at a time), each
 * through its own retry loop, and a {@link JoinStrategy} decides when the state is done: it proceeds
 * to the `join` state as soon as the strategy is satisfied, and fails as soon as it can no longer be
 * satisfied. Either way the branches still running are cancelled (their signals abort). An optional
 * deadline (`timeoutMs`) starts once every branch has been handed to the bulkhead; at the deadline a
 * strategy that is not satisfied fails (`PartialTimeout` proceeds if at least one branch completed).
 * The join state reads what happened from `ctx.split` (a {@link SplitResult}).
 *
 * This module is the pure half: the model, the constructors and the definition-time checks
 * ({@link validateSplit}); the join arithmetic (`decideJoin`, `joinFailure`) is in `src/JoinStrategy.ts`.
 * `streams/runSplitState.ts` runs it.
 *
 * @since 0.1.0
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { Observable } from 'rxjs'

import type { Configuration } from '../codecs/CanoError.js'
import { integerIn, optional, Percentage, PositiveInteger, TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import type { HandlerBase } from './HandlerBase.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeValue } from './internal/describeValue.js'
import type { JoinStrategy } from './JoinStrategy.js'
import type { TaskConfig } from './TaskConfig.js'
import { validateTaskConfig } from './TaskConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

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
 * A branch with its own retry loop policy, built by {@link branch}.
 *
 * @example
 * import { branch, RetryMode, type SplitBranch } from 'cano-rx'
 * const b: SplitBranch<Record<never, never>> = branch(async () => 1, { retry: RetryMode.fixed(2, 50) })
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
 * One entry of a split's branch list: a bare function (default config) or {@link branch}`(fn, config)`.
 *
 * @example
 * import { branch, RetryMode, type Branch } from 'cano-rx'
 * const branches: ReadonlyArray<Branch<Record<never, never>>> = [async () => 'a', branch(async () => 'b', { retry: RetryMode.none() })]
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

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

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
 * import { branch, RetryMode } from 'cano-rx'
 * const flaky = branch(async () => 'rows', { retry: RetryMode.fixed(3, 100), attemptTimeoutMs: 2_000 })
 * @category constructors
 * @since 0.1.0
 */
export const branch = <R extends ResourceRecord = NoResources>(
  run: BranchFn<R>,
  config: TaskConfig = DEFAULT_BRANCH_CONFIG,
): SplitBranch<R> => ({ _tag: 'Branch', run, config })

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
 * @see {@link JoinStrategy}, {@link branch}
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
 * `branch(fn, config)` with a valid config; `quorum(n)` needs an integer `n` in [1, branches];
 * `percentage(p)` needs `p` in (0, 1]; `partialResults(min)` needs an integer `min` in [0, branches];
 * `partialTimeout()` needs `timeoutMs`; `any()` and `partialTimeout()` need a branch; `timeoutMs` is
 * in (0, 2^31-1]; `bulkhead` is a positive integer; `join` is a known state.
 *
 * @param h - the handler (may come from untyped code)
 * @param where - prefixes the message (e.g. `state "FanOut"`)
 * @param isKnownState - is this a state or an exit of the workflow?
 * @returns the `Configuration` error, or `undefined` when the split is valid
 * @example
 * import { JoinStrategy, split, validateSplit } from 'cano-rx'
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
    return configurationError(`${where}: branches must be a list of functions or branch(fn, config)`)
  const count = branches.length
  for (let i = 0; i < count; i++) {
    const b = branches[i] as Partial<SplitBranch<ResourceRecord>> | null | undefined
    if (typeof b !== 'object' || b === null || b._tag !== 'Branch' || typeof b.run !== 'function')
      return configurationError(
        `${where}: branch ${i} must be a function or branch(fn, config), got ${describeValue(b)}`,
      )
    const configError = validateTaskConfig(b.config, `${where}: branch ${i}`)
    if (configError !== undefined) return configError
  }
  const s = h.strategy as Partial<Record<string, unknown>> | null | undefined
  if (typeof s !== 'object' || s === null || typeof s['_tag'] !== 'string' || !STRATEGY_TAGS.has(s['_tag']))
    return configurationError(`${where}: strategy must be a JoinStrategy (JoinStrategy.all(), any(), quorum(n), …)`)
  const strategy = h.strategy
  switch (strategy._tag) {
    case 'Quorum': {
      const quorum = checkConfig(
        integerIn(1, count),
        strategy.n,
        (n) => `${where}: quorum(n) needs an integer n in [1, ${count}] (the branch count), got ${String(n)}`,
      )
      if (quorum !== undefined) return quorum
      break
    }
    case 'Percentage': {
      const percentage = checkConfig(
        Percentage,
        strategy.p,
        (p) => `${where}: percentage(p) needs p in (0, 1], got ${String(p)}`,
      )
      if (percentage !== undefined) return percentage
      break
    }
    case 'PartialResults': {
      const partial = checkConfig(
        integerIn(0, count),
        strategy.min,
        (min) =>
          `${where}: partialResults(min) needs an integer min in [0, ${count}] (the branch count), got ${String(min)}`,
      )
      if (partial !== undefined) return partial
      break
    }
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
  const limits =
    checkConfig(optional(TimerDuration), h.timeoutMs, `${where}: timeoutMs`) ??
    checkConfig(optional(PositiveInteger), h.bulkhead, `${where}: bulkhead`)
  if (limits !== undefined) return limits
  const join: unknown = h.join
  if (typeof join !== 'string' || !isKnownState(join))
    return configurationError(`${where}: join state ${describeValue(join)} is neither a state nor an exit`)
  return undefined
}

/** `NaN` and `Infinity` as they are (JSON would say `null`). */
