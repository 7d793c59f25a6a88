/**
 * `CanoError`: every failure of cano-rx as a value. One `_tag` per cano error category plus the
 * categories cano-rx adds (`Cancelled`, `WorkflowTimeout`, `WorkflowVersionMismatch`, `RateLimited`,
 * `OrphanedCompensation`, `DecodeFailed`, `LeaseLost`, `RunOwned`). Errors are plain readonly data so they persist in
 * checkpoint rows, compare with `deep.equal` and freeze inside immer snapshots. Promise APIs reject,
 * and Observables and iterables error, with the single boundary class {@link CanoFailure}, an `Error`
 * that carries the `CanoError` (and, for a run, where it failed).
 *
 * @since 0.1.0
 */
import type {
  Cancelled,
  CanoError,
  CheckpointStore,
  CircuitOpen,
  CompensationFailed,
  Configuration,
  DecodeFailed,
  Generic,
  LeaseLost,
  OrphanedCompensation,
  RateLimited,
  ResourceDuplicateKey,
  ResourceNotFound,
  ResourceTypeMismatch,
  RetryExhausted,
  RunOwned,
  Store,
  TaskExecution,
  Timeout,
  Workflow,
  WorkflowTimeout,
  WorkflowVersionMismatch,
} from '../codecs/CanoError.js'
import { describeValue } from './internal/describeValue.js'

export type { CanoError } from '../codecs/CanoError.js'

/**
 * The `_tag` of every {@link CanoError} variant: the keys of {@link matchCanoError}'s cases.
 *
 * @example
 * import type { CanoErrorTag } from 'cano-rx'
 * const transient: ReadonlyArray<CanoErrorTag> = ['TaskExecution', 'Timeout', 'RateLimited']
 * @see {@link hasTag} to narrow an error by its tag
 * @category model
 * @since 0.1.0
 */
export type CanoErrorTag = CanoError['_tag']

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A task failed. `cause` keeps whatever was thrown.
 *
 * @param message - what went wrong; `describeCanoError` prefixes it with `Task execution error: `
 * @param cause - the thrown value; left out of the data when `undefined`
 * @returns a `TaskExecution` error
 * @example
 * import { taskExecutionError } from 'cano-rx'
 * const e = taskExecutionError('upstream answered 503', new Error('503'))
 * @see {@link toCanoError}, which builds one from anything a task throws
 * @category constructors
 * @since 0.1.0
 */
export const taskExecutionError = (message: string, cause?: unknown): TaskExecution =>
  cause === undefined ? { _tag: 'TaskExecution', message } : { _tag: 'TaskExecution', message, cause }

/**
 * A store operation failed.
 *
 * @param reason - cano's `StoreError` kind
 * @param message - what went wrong
 * @returns a `Store` error
 * @example
 * import { storeError } from 'cano-rx'
 * const e = storeError('KeyNotFound', "Key 'user' not found in store")
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const storeError = (reason: Store['reason'], message: string): Store => ({ _tag: 'Store', reason, message })

/**
 * The state machine went wrong (missing handler, undeclared target, unsatisfied join).
 *
 * @param message - what went wrong
 * @param state - the state it happened in; left out when `undefined`
 * @returns a `Workflow` error
 * @example
 * import { workflowError } from 'cano-rx'
 * const e = workflowError('No task registered for state: "Ship"', 'Ship')
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const workflowError = (message: string, state?: string): Workflow =>
  state === undefined ? { _tag: 'Workflow', message } : { _tag: 'Workflow', message, state }

/**
 * Invalid configuration.
 *
 * @param message - what is wrong; name the state and the field
 * @returns a `Configuration` error (never retried)
 * @example
 * import { configurationError } from 'cano-rx'
 * const e = configurationError('state "Fetch": attemptTimeoutMs must be a finite number in (0, 2147483647], got -1')
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const configurationError = (message: string): Configuration => ({ _tag: 'Configuration', message })

/**
 * The retry loop gave up after `attempts` attempts; the message follows cano:
 * `Task failed after {n} attempt(s): {last}`.
 *
 * @param attempts - the attempts made
 * @param last - the error of the final attempt
 * @returns a `RetryExhausted` error: `Task failed after 4 attempt(s): Timeout error: task attempt exceeded attempt_timeout`
 * @example
 * import { retryExhaustedError, timeoutError } from 'cano-rx'
 * const e = retryExhaustedError(4, timeoutError(2_000))
 * @see {@link retryWithBackoff}, which produces it
 * @category constructors
 * @since 0.1.0
 */
export const retryExhaustedError = (attempts: number, last: CanoError): RetryExhausted => ({
  _tag: 'RetryExhausted',
  attempts,
  last,
  message: `Task failed after ${attempts} attempt(s): ${describeCanoError(last)}`,
})

/**
 * An attempt exceeded `timeoutMs`.
 *
 * @param timeoutMs - the time budget that was exceeded
 * @param message - default cano's `task attempt exceeded attempt_timeout`
 * @returns a `Timeout` error
 * @example
 * import { timeoutError } from 'cano-rx'
 * const e = timeoutError(2_000)
 * @see {@link timeoutAttempt}, which produces it
 * @category constructors
 * @since 0.1.0
 */
export const timeoutError = (timeoutMs: number, message = 'task attempt exceeded attempt_timeout'): Timeout => ({
  _tag: 'Timeout',
  timeoutMs,
  message,
})

/**
 * A circuit breaker rejected the call.
 *
 * @param message - why the breaker rejected the call
 * @returns a `CircuitOpen` error
 * @example
 * import { circuitOpenError } from 'cano-rx'
 * const e = circuitOpenError('circuit breaker open: rejecting call')
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const circuitOpenError = (message: string): CircuitOpen => ({ _tag: 'CircuitOpen', message })

/**
 * A checkpoint store failed.
 *
 * @param message - what went wrong
 * @param cause - the store's own error; left out when `undefined`
 * @returns a `CheckpointStore` error
 * @example
 * import { checkpointStoreError } from 'cano-rx'
 * const e = checkpointStoreError('no checkpoint rows for workflow id "order-42"')
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const checkpointStoreError = (message: string, cause?: unknown): CheckpointStore =>
  cause === undefined ? { _tag: 'CheckpointStore', message } : { _tag: 'CheckpointStore', message, cause }

/**
 * A dirty rollback: `errors[0]` is the original failure, then each compensation error in drain order.
 *
 * @param errors - the original failure first, then each compensation error in drain order
 * @returns a `CompensationFailed` error whose `message` is `errors[0]`'s (`compensation failed` when empty)
 * @example
 * import { compensationFailedError, taskExecutionError } from 'cano-rx'
 * const e = compensationFailedError([taskExecutionError('ship failed'), taskExecutionError('refund failed')])
 * @see {@link describeCanoError} for cano's `Compensation failed (n error(s)); original: …` form
 * @category constructors
 * @since 0.1.0
 */
export const compensationFailedError = (errors: ReadonlyArray<CanoError>): CompensationFailed => ({
  _tag: 'CompensationFailed',
  errors,
  message: errors[0]?.message ?? 'compensation failed',
})

/**
 * Any other failure.
 *
 * @param message - what went wrong
 * @param cause - the underlying value; left out when `undefined`
 * @returns a `Generic` error
 * @example
 * import { genericError } from 'cano-rx'
 * const e = genericError('IO error: disk full')
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const genericError = (message: string, cause?: unknown): Generic =>
  cause === undefined ? { _tag: 'Generic', message } : { _tag: 'Generic', message, cause }

/**
 * No resource under `key`.
 *
 * @param key - the key that was looked up
 * @returns a `ResourceNotFound` error (never retried)
 * @example
 * import { resourceNotFoundError } from 'cano-rx'
 * const e = resourceNotFoundError('db')
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const resourceNotFoundError = (key: string): ResourceNotFound => ({
  _tag: 'ResourceNotFound',
  key,
  message: `no resource found for the given key ${JSON.stringify(key)}`,
})

/**
 * The resource under `key` failed the requested type guard `expected`.
 *
 * @param key - the key that was looked up
 * @param expected - the name of the requested type
 * @returns a `ResourceTypeMismatch` error (never retried)
 * @example
 * import { resourceTypeMismatchError } from 'cano-rx'
 * const e = resourceTypeMismatchError('db', 'Pool')
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const resourceTypeMismatchError = (key: string, expected: string): ResourceTypeMismatch => ({
  _tag: 'ResourceTypeMismatch',
  key,
  message: `resource ${JSON.stringify(key)} found but the requested type ${expected} does not match the stored value`,
})

/**
 * `key` was inserted twice.
 *
 * @param key - the key inserted twice
 * @returns a `ResourceDuplicateKey` error (never retried)
 * @example
 * import { resourceDuplicateKeyError } from 'cano-rx'
 * const e = resourceDuplicateKeyError('db')
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const resourceDuplicateKeyError = (key: string): ResourceDuplicateKey => ({
  _tag: 'ResourceDuplicateKey',
  key,
  message: `duplicate resource key ${JSON.stringify(key)} inserted into Resources`,
})

/**
 * The run was cancelled.
 *
 * @param message - default `workflow cancelled`
 * @returns a `Cancelled` error (never retried)
 * @example
 * import { cancelledError } from 'cano-rx'
 * const e = cancelledError()
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const cancelledError = (message = 'workflow cancelled'): Cancelled => ({ _tag: 'Cancelled', message })

/**
 * `totalTimeoutMs` expired after `elapsedMs`.
 *
 * @param elapsedMs - how long the run took
 * @param limitMs - its `totalTimeoutMs`
 * @returns a `WorkflowTimeout` error (never retried)
 * @example
 * import { workflowTimeoutError } from 'cano-rx'
 * const e = workflowTimeoutError(60_000, 60_000)
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const workflowTimeoutError = (elapsedMs: number, limitMs: number): WorkflowTimeout => ({
  _tag: 'WorkflowTimeout',
  elapsedMs,
  limitMs,
  message: `Workflow timeout exceeded: ${elapsedMs} ms elapsed, limit ${limitMs} ms`,
})

/**
 * A run stored under version `stored` was resumed by a definition of version `expected`.
 *
 * @param stored - the version that recorded the run
 * @param expected - the version of the resuming definition
 * @returns a `WorkflowVersionMismatch` error (never retried)
 * @example
 * import { workflowVersionMismatchError } from 'cano-rx'
 * const e = workflowVersionMismatchError(2, 3)
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const workflowVersionMismatchError = (stored: number, expected: number): WorkflowVersionMismatch => ({
  _tag: 'WorkflowVersionMismatch',
  stored,
  expected,
  message: `workflow version mismatch: the run was recorded by version ${stored}, this definition is version ${expected}`,
})

/**
 * A rate limiter tier refused the call; a token is available in `retryAfterMs`.
 *
 * @param tier - the name of the refusing tier
 * @param retryAfterMs - when a token is available
 * @returns a `RateLimited` error
 * @example
 * import { rateLimitedError } from 'cano-rx'
 * const e = rateLimitedError('per-second', 120)
 * @see {@link retryWithBackoff}'s `delayFor`, which can wait `retryAfterMs`
 * @category constructors
 * @since 0.1.0
 */
export const rateLimitedError = (tier: string, retryAfterMs: number): RateLimited => ({
  _tag: 'RateLimited',
  tier,
  retryAfterMs,
  message: `rate limited by tier ${JSON.stringify(tier)}: retry after ${retryAfterMs} ms`,
})

/**
 * A saga entry of `state` was not rolled back (it has no compensator, or the rollback budget ran out
 * before it was reached); `output` is kept.
 *
 * @param state - the state whose entry cannot be rolled back
 * @param output - its stored output, kept for a human
 * @param message - why; default: the state has no compensator
 * @returns an `OrphanedCompensation` error
 * @example
 * import { orphanedCompensationError } from 'cano-rx'
 * const e = orphanedCompensationError('Charge', { chargeId: 'ch_1' })
 * @see {@link describeCanoError}
 * @category constructors
 * @since 0.1.0
 */
export const orphanedCompensationError = (
  state: string,
  output: unknown,
  message = `no compensator registered for state ${JSON.stringify(state)}: cannot roll it back (output kept)`,
): OrphanedCompensation => ({
  _tag: 'OrphanedCompensation',
  state,
  output,
  message,
})

/**
 * `codec` rejected a value; `errors` are io-ts path reports; `where` says which value.
 *
 * @param codec - the name of the codec
 * @param errors - the io-ts path reports
 * @param where - which value (prefixes the message); optional
 * @returns a `DecodeFailed` error (never retried)
 * @example
 * import { decodeFailedError } from 'cano-rx'
 * const e = decodeFailedError('PageCursor', ['Invalid value "x" supplied to : PageCursor/page: number'], 'state "Scan", step 3')
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.1.0
 */
export const decodeFailedError = (codec: string, errors: ReadonlyArray<string>, where?: string): DecodeFailed => ({
  _tag: 'DecodeFailed',
  codec,
  errors,
  message: `${where === undefined ? '' : `${where}: `}${codec} rejected the value: ${errors.join('; ')}`,
})

/**
 * A fenced write was refused because the run's fencing token moved on from `fence` (another owner
 * claimed it) or the run is no longer held under it; nothing was written.
 *
 * @param workflowId - the run
 * @param fence - the writer's stale token
 * @param owner - who holds the run now (`null`: nobody)
 * @returns a `LeaseLost` error (never retried: the writer abandons the run)
 * @example
 * import { leaseLostError } from 'cano-rx'
 * leaseLostError('order-42', 3, 'worker-b').message
 * // 'run "order-42" is no longer held under fence 3 (now held by "worker-b"); nothing was written, abandon the run'
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.2.0
 */
export const leaseLostError = (workflowId: string, fence: number, owner: string | null): LeaseLost => ({
  _tag: 'LeaseLost',
  workflowId,
  fence,
  owner,
  message: `run ${JSON.stringify(workflowId)} is no longer held under fence ${fence} (${
    owner === null ? 'nobody holds it now' : `now held by ${JSON.stringify(owner)}`
  }); nothing was written, abandon the run`,
})

/**
 * A run could not be claimed because `owner` holds it under a live lease until `leaseUntil`.
 *
 * @param workflowId - the run
 * @param owner - who holds it
 * @param leaseUntil - when that lease ends (epoch milliseconds)
 * @returns a `RunOwned` error (never retried)
 * @example
 * import { runOwnedError } from 'cano-rx'
 * runOwnedError('order-42', 'worker-a', 0).message
 * // 'run "order-42" is owned by "worker-a" until 1970-01-01T00:00:00.000Z (its lease); it cannot be resumed or claimed before the lease ends'
 * @see {@link isRetryable}
 * @category constructors
 * @since 0.2.0
 */
export const runOwnedError = (workflowId: string, owner: string, leaseUntil: number): RunOwned => ({
  _tag: 'RunOwned',
  workflowId,
  owner,
  leaseUntil,
  message: `run ${JSON.stringify(workflowId)} is owned by ${JSON.stringify(owner)} until ${showInstant(
    leaseUntil,
  )} (its lease); it cannot be resumed or claimed before the lease ends`,
})

const showInstant = (ms: number): string => {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString()
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

const TAGS: ReadonlySet<string> = new Set<CanoErrorTag>([
  'TaskExecution',
  'Store',
  'Workflow',
  'Configuration',
  'RetryExhausted',
  'Timeout',
  'CircuitOpen',
  'CheckpointStore',
  'CompensationFailed',
  'Generic',
  'ResourceNotFound',
  'ResourceTypeMismatch',
  'ResourceDuplicateKey',
  'Cancelled',
  'WorkflowTimeout',
  'WorkflowVersionMismatch',
  'RateLimited',
  'OrphanedCompensation',
  'DecodeFailed',
  'LeaseLost',
  'RunOwned',
])

/**
 * Is `u` a {@link CanoError} (a plain object with a known `_tag` and a string `message`)?
 *
 * @param u - any value
 * @returns `true` for a non-`Error` object with a known `_tag` and a string `message`
 * @example
 * import { isCanoError } from 'cano-rx'
 * isCanoError({ _tag: 'Cancelled', message: 'stop' }) // true
 * @see {@link isCanoFailure} for the `Error` wrapper
 * @category guards
 * @since 0.1.0
 */
export const isCanoError = (u: unknown): u is CanoError => {
  if (typeof u !== 'object' || u === null) return false
  // a thrown value may be a revoked Proxy or have throwing getters: a guard answers, it never throws
  try {
    return (
      !(u instanceof Error) &&
      TAGS.has((u as { _tag?: unknown })._tag as string) &&
      typeof (u as { message?: unknown }).message === 'string'
    )
  } catch {
    return false
  }
}

/**
 * Narrows a {@link CanoError} to one variant: data-first `hasTag(e, 'Timeout')`, or data-last
 * `hasTag('Timeout')` (a guard for `filter`, `Array.prototype.filter` or `pipe`, with one or more tags).
 *
 * @param args - `(e, tag)`: the error and the variant to test for; or `(...tags)`: the variants a guard accepts
 * @returns data-first: `true` when `e._tag === tag`, narrowing `e`; data-last: that guard
 * @example
 * import { hasTag, type CanoError } from 'cano-rx'
 * const retryAfter = (e: CanoError) => (hasTag(e, 'RateLimited') ? e.retryAfterMs : 0)
 * const timeouts = (errors: ReadonlyArray<CanoError>) => errors.filter(hasTag('Timeout', 'WorkflowTimeout'))
 * @see {@link matchCanoError} to handle every variant
 * @category guards
 * @since 0.1.0
 */
export function hasTag<K extends CanoErrorTag>(
  ...tags: readonly [K, ...K[]]
): (e: CanoError) => e is Extract<CanoError, { _tag: K }>
export function hasTag<K extends CanoErrorTag>(e: CanoError, tag: K): e is Extract<CanoError, { _tag: K }>
export function hasTag(
  ...args: readonly [CanoError, CanoErrorTag] | readonly CanoErrorTag[]
): boolean | ((e: CanoError) => boolean) {
  const [first, second] = args
  if (typeof first !== 'string') return first._tag === second
  const tags: ReadonlyArray<string> = args as readonly CanoErrorTag[]
  return tags.length === 1 ? (e: CanoError) => e._tag === first : (e: CanoError) => tags.includes(e._tag)
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Exhaustive pattern match: a case per `_tag`, checked by the compiler.
 *
 * @param cases - one function per `_tag`; a missing tag is a compile error
 * @returns a function from a `CanoError` to the result of its case
 * @example
 * import { matchCanoError } from 'cano-rx'
 * const retryable = matchCanoError({
 *   TaskExecution: () => true, Store: () => true, Workflow: () => false, Configuration: () => false,
 *   RetryExhausted: () => false, Timeout: () => true, CircuitOpen: () => false, CheckpointStore: () => true,
 *   CompensationFailed: () => false, Generic: () => true, ResourceNotFound: () => false,
 *   ResourceTypeMismatch: () => false, ResourceDuplicateKey: () => false, Cancelled: () => false,
 *   WorkflowTimeout: () => false, WorkflowVersionMismatch: () => false, RateLimited: () => true,
 *   OrphanedCompensation: () => false, DecodeFailed: () => false, LeaseLost: () => false, RunOwned: () => false,
 * })
 * @see {@link hasTag} to test a single variant, {@link matchCanoErrorOrElse} to handle a few, {@link matchCanoErrorW} for cases of different result types
 * @category destructors
 * @since 0.1.0
 */
export const matchCanoError =
  <R>(cases: { readonly [K in CanoErrorTag]: (e: Extract<CanoError, { _tag: K }>) => R }) =>
  (e: CanoError): R =>
    (cases[e._tag] as (e: CanoError) => R)(e)

/**
 * The cases of a {@link CanoError} match: a function per `_tag`, each given its variant.
 *
 * @example
 * import type { CanoErrorCases } from 'cano-rx'
 * const some: Partial<CanoErrorCases<string>> = { Timeout: (e) => `after ${e.timeoutMs} ms` }
 * @see {@link matchCanoError}, {@link matchCanoErrorOrElse}
 * @category model
 * @since 0.3.0
 */
export type CanoErrorCases<R> = { readonly [K in CanoErrorTag]: (e: Extract<CanoError, { _tag: K }>) => R }

/** What the cases of a match return, as one union. */
type CasesResult<C> = { [K in keyof C]: C[K] extends (e: never) => infer R ? R : never }[keyof C]

/**
 * {@link matchCanoError} whose cases may return different types (fp-ts's `W`, "widen"): the result is
 * the union of what the cases return. Still exhaustive: a missing tag is a compile error.
 *
 * @param cases - one function per `_tag`; a missing tag is a compile error
 * @returns a function from a `CanoError` to the union of what its cases return
 * @example
 * import { matchCanoErrorW } from 'cano-rx'
 * const retryIn = matchCanoErrorW({
 *   TaskExecution: () => 100, Store: () => 100, Workflow: () => null, Configuration: () => null,
 *   RetryExhausted: () => null, Timeout: (e) => e.timeoutMs, CircuitOpen: () => 'later', CheckpointStore: () => 100,
 *   CompensationFailed: () => null, Generic: () => 100, ResourceNotFound: () => null,
 *   ResourceTypeMismatch: () => null, ResourceDuplicateKey: () => null, Cancelled: () => null,
 *   WorkflowTimeout: () => null, WorkflowVersionMismatch: () => null, RateLimited: (e) => e.retryAfterMs,
 *   OrphanedCompensation: () => null, DecodeFailed: () => null, LeaseLost: () => null, RunOwned: (e) => e.leaseUntil,
 * }) // (e: CanoError) => number | string | null
 * @see {@link matchCanoErrorOrElse} to handle some variants and the rest at once
 * @category destructors
 * @since 0.3.0
 */
export const matchCanoErrorW =
  <C extends CanoErrorCases<unknown>>(cases: C) =>
  (e: CanoError): CasesResult<C> =>
    (cases[e._tag] as (e: CanoError) => CasesResult<C>)(e)

/**
 * A partial match with a fallback: the cases given handle their variants, `orElse` every other one
 * (typed as the variants left). The result is the union of what the cases and `orElse` return.
 *
 * @param cases - a function for some `_tag`s (a key that is not a tag is a compile error)
 * @param orElse - the fallback, given the variants without a case
 * @returns a function from a `CanoError` to what its case (or `orElse`) returns
 * @example
 * import { describeCanoError, matchCanoErrorOrElse } from 'cano-rx'
 * const advice = matchCanoErrorOrElse(
 *   {
 *     RateLimited: (e) => `slow down: retry in ${e.retryAfterMs} ms`,
 *     Timeout: (e) => `took longer than ${e.timeoutMs} ms`,
 *   },
 *   (other) => describeCanoError(other),
 * )
 * @see {@link matchCanoError} for an exhaustive match
 * @category destructors
 * @since 0.3.0
 */
export const matchCanoErrorOrElse =
  <C extends Partial<CanoErrorCases<unknown>>, B>(
    cases: C & { readonly [K in Exclude<keyof C, CanoErrorTag>]: never },
    orElse: (e: Exclude<CanoError, { _tag: keyof C }>) => B,
  ) =>
  (e: CanoError): CasesResult<Required<C>> | B => {
    const handle = (cases as Partial<Record<CanoErrorTag, (e: CanoError) => CasesResult<Required<C>>>>)[e._tag]
    return handle === undefined ? orElse(e as Exclude<CanoError, { _tag: keyof C }>) : handle(e)
  }

/**
 * cano's `category()` string for an error (`task_execution`, `retry_exhausted`, …).
 *
 * @param e - the error
 * @returns cano's snake_case category of its variant
 * @example
 * import { categoryOf, timeoutError } from 'cano-rx'
 * categoryOf(timeoutError(10)) // 'timeout'
 * @see {@link describeCanoError}
 * @category destructors
 * @since 0.1.0
 */
export const categoryOf: (e: CanoError) => string = matchCanoError({
  TaskExecution: () => 'task_execution',
  Store: () => 'store',
  Workflow: () => 'workflow',
  Configuration: () => 'configuration',
  RetryExhausted: () => 'retry_exhausted',
  Timeout: () => 'timeout',
  CircuitOpen: () => 'circuit_open',
  CheckpointStore: () => 'checkpoint_store',
  CompensationFailed: () => 'compensation_failed',
  Generic: () => 'generic',
  ResourceNotFound: () => 'resource_not_found',
  ResourceTypeMismatch: () => 'resource_type_mismatch',
  ResourceDuplicateKey: () => 'resource_duplicate_key',
  Cancelled: () => 'cancelled',
  WorkflowTimeout: () => 'workflow_timeout',
  WorkflowVersionMismatch: () => 'workflow_version_mismatch',
  RateLimited: () => 'rate_limited',
  OrphanedCompensation: () => 'orphaned_compensation',
  DecodeFailed: () => 'decode_failed',
  LeaseLost: () => 'lease_lost',
  RunOwned: () => 'run_owned',
})

const DISPLAY_PREFIX: { readonly [K in CanoErrorTag]: string } = {
  TaskExecution: 'Task execution error: ',
  Store: 'Store error: ',
  Workflow: 'Workflow error: ',
  Configuration: 'Configuration error: ',
  RetryExhausted: 'Retry exhausted: ',
  Timeout: 'Timeout error: ',
  CircuitOpen: 'Circuit open: ',
  CheckpointStore: 'Checkpoint store error: ',
  CompensationFailed: '',
  Generic: 'Error: ',
  ResourceNotFound: 'Resource not found: ',
  ResourceTypeMismatch: 'Resource type mismatch: ',
  ResourceDuplicateKey: 'Resource duplicate key: ',
  Cancelled: 'Cancelled: ',
  WorkflowTimeout: 'Workflow timeout: ',
  WorkflowVersionMismatch: 'Workflow version mismatch: ',
  RateLimited: 'Rate limited: ',
  OrphanedCompensation: 'Orphaned compensation: ',
  DecodeFailed: 'Decode failed: ',
  LeaseLost: 'Lease lost: ',
  RunOwned: 'Run owned: ',
}

/**
 * The readable form of an error, with cano's `Display` prefix (`Task execution error: …`,
 * `Compensation failed (2 error(s)); original: …; compensation #1: …`).
 *
 * @param e - the error
 * @returns cano's `Display` form of it
 * @example
 * import { describeCanoError, timeoutError } from 'cano-rx'
 * describeCanoError(timeoutError(10)) // 'Timeout error: task attempt exceeded attempt_timeout'
 * @see {@link categoryOf}
 * @category destructors
 * @since 0.1.0
 */
export const describeCanoError = (e: CanoError): string => {
  if (e._tag !== 'CompensationFailed') return DISPLAY_PREFIX[e._tag] + e.message
  const [original, ...rest] = e.errors
  const parts = [`Compensation failed (${e.errors.length} error(s))`]
  if (original !== undefined) parts.push(`original: ${describeCanoError(original)}`)
  rest.forEach((c, i) => parts.push(`compensation #${i + 1}: ${describeCanoError(c)}`))
  return parts.join('; ')
}

// -------------------------------------------------------------------------------------
// boundary
// -------------------------------------------------------------------------------------

/**
 * Where a run failed, as a {@link CanoFailure} carries it (cano 0.14's state context).
 *
 * @example
 * import type { CanoFailureContext } from 'cano-rx'
 * const where = (c: CanoFailureContext) => `${c.workflowId} in ${c.state ?? 'no state'} (attempt ${c.attempt ?? '-'})`
 * @see {@link CanoFailure}
 * @category model
 * @since 0.3.0
 */
export interface CanoFailureContext {
  /** The run. */
  readonly workflowId: string
  /** The state the run ended in (`undefined`: it ended before its first state). */
  readonly state: string | undefined
  /** The attempt (1-based) the failed state's task failed at (`undefined` when no task failed: a cancellation, a time-out, a join). */
  readonly attempt: number | undefined
  /** States entered before the run ended, the last one included (`undefined` when unknown). */
  readonly transitions: number | undefined
}

/**
 * The one `Error` subclass of cano-rx: everything the library's Promises reject with (`orchestrate`,
 * `resume`, scheduler and runtime calls) and everything its Observables and iterables error with
 * (`result$`, `retryWithBackoff`, `timeoutAttempt`, …). `error` is the {@link CanoError} (`cause` too);
 * `context` says where a run failed (run, state, attempt, transitions so far) and is appended to the
 * message: `Task execution error: boom (run "order-42", state "Charge", attempt 3, 2 transitions)`.
 *
 * @example
 * import { CanoFailure, cancelledError, isCanoFailure } from 'cano-rx'
 * const failure: unknown = new CanoFailure(cancelledError(), { workflowId: 'order-42', state: 'Charge', attempt: undefined, transitions: 2 })
 * if (isCanoFailure(failure)) console.log(failure.error._tag, failure.context?.state) // 'Cancelled' 'Charge'
 * @see {@link isCanoFailure} to recognise one, {@link toCanoError} to unwrap one
 * @category boundary
 * @since 0.1.0
 */
export class CanoFailure extends Error {
  override readonly name = 'CanoFailure'
  /** Where the run failed; `undefined` for a failure outside a run (a bad definition, a store call). @since 0.3.0 */
  readonly context: CanoFailureContext | undefined
  constructor(
    readonly error: CanoError,
    context?: CanoFailureContext,
  ) {
    super(
      context === undefined ? describeCanoError(error) : `${describeCanoError(error)} (${describeContext(context)})`,
      {
        cause: error,
      },
    )
    this.context = context
  }
}

const describeContext = (c: CanoFailureContext): string => {
  const parts = [`run ${JSON.stringify(c.workflowId)}`]
  if (c.state !== undefined) parts.push(`state ${JSON.stringify(c.state)}`)
  if (c.attempt !== undefined) parts.push(`attempt ${c.attempt}`)
  if (c.transitions !== undefined) parts.push(`${c.transitions} transition${c.transitions === 1 ? '' : 's'}`)
  return parts.join(', ')
}

/**
 * `u` as a {@link CanoFailure}: a `CanoFailure` as it is, anything else through {@link toCanoError}.
 * What the library's streams error with.
 *
 * @param u - anything thrown, rejected or errored with
 * @returns a `CanoFailure` (an `Error` with a stack) carrying the `CanoError`
 * @example
 * import { toCanoFailure } from 'cano-rx'
 * toCanoFailure(new Error('boom')).error._tag // 'TaskExecution'
 * @see {@link toCanoError}
 * @category boundary
 * @since 0.3.0
 */
export const toCanoFailure = (u: unknown): CanoFailure => (isCanoFailure(u) ? u : new CanoFailure(toCanoError(u)))

/**
 * Is `u` a {@link CanoFailure}? Checks `name`, not `instanceof`, so it works across duplicated package copies.
 *
 * @param u - any value, typically a rejection reason
 * @returns `true` for an `Error` named `CanoFailure` carrying a `CanoError`
 * @example
 * import { isCanoFailure } from 'cano-rx'
 * const onError = (u: unknown) => (isCanoFailure(u) ? u.error._tag : 'not ours')
 * @see {@link CanoFailure}
 * @category boundary
 * @since 0.1.0
 */
export const isCanoFailure = (u: unknown): u is CanoFailure => {
  if (typeof u !== 'object' || u === null) return false
  try {
    return u instanceof Error && u.name === 'CanoFailure' && isCanoError((u as { error?: unknown }).error)
  } catch {
    return false
  }
}

/** @internal brand of {@link NonRetryable} */
const NON_RETRYABLE = 'NonRetryableError'

/** The message of a {@link NonRetryable}: the inner value's, never throwing (a revoked Proxy has none). */
const nonRetryableMessage = (cause: unknown): string => {
  if (isCanoError(cause)) return cause.message
  try {
    return cause instanceof Error ? cause.message : String(cause)
  } catch {
    return describeValue(cause)
  }
}

/**
 * A thrown value wrapped by {@link nonRetryable}: the retry loop stops at once and reports the inner
 * error. Recognised by its `name` (`NonRetryableError`), not by `instanceof`.
 *
 * @example
 * import { isNonRetryable, type NonRetryable, nonRetryable } from 'cano-rx'
 * const wrapped: NonRetryable = nonRetryable(new Error('input is not an object'))
 * isNonRetryable(wrapped) // true; wrapped.cause is the inner Error
 * @see {@link isNonRetryable}
 * @category boundary
 * @since 0.1.0
 */
export class NonRetryable extends Error {
  override readonly name = NON_RETRYABLE
  constructor(override readonly cause: unknown) {
    super(nonRetryableMessage(cause), { cause })
  }
}

/**
 * Marks an error as not worth retrying. Throw (or reject with, or `Left`) the result from a task:
 * the retry loop gives up at once and the run sees the inner error, unwrapped.
 *
 * @param err - the value to throw
 * @returns a {@link NonRetryable} wrapping `err`
 * @example
 * import { nonRetryable, task } from 'cano-rx'
 * const validate = task<'Next' | 'Done'>(async () => {
 *   const input: unknown = JSON.parse('{}')
 *   if (typeof input !== 'object') throw nonRetryable(new Error('input is not an object'))
 *   return 'Next' as const // an async function widens a bare 'Next' to string
 * })
 * @see {@link isRetryable}
 * @category boundary
 * @since 0.1.0
 */
export const nonRetryable = (err: unknown): NonRetryable => new NonRetryable(err)

/**
 * Was `u` wrapped by {@link nonRetryable}?
 *
 * @param u - any value
 * @returns `true` for an `Error` named `NonRetryableError` (works across package copies)
 * @example
 * import { isNonRetryable, nonRetryable } from 'cano-rx'
 * isNonRetryable(nonRetryable('bad input')) // true
 * @see {@link nonRetryable}
 * @category boundary
 * @since 0.1.0
 */
export const isNonRetryable = (u: unknown): u is NonRetryable => {
  if (typeof u !== 'object' || u === null) return false
  try {
    return u instanceof Error && u.name === NON_RETRYABLE
  } catch {
    return false
  }
}

/**
 * Turns anything thrown, rejected or returned as a `Left` into a {@link CanoError}: a `CanoError` or a
 * {@link CanoFailure} keeps its error, a {@link NonRetryable} is unwrapped, anything else becomes
 * `TaskExecution` with the value kept as `cause`.
 *
 * @param u - anything thrown, rejected or returned as a `Left`
 * @returns the `CanoError` the run reports
 * @example
 * import { toCanoError } from 'cano-rx'
 * toCanoError(new Error('boom')) // { _tag: 'TaskExecution', message: 'boom', cause: Error('boom') }
 * @see {@link isRetryable}
 * @category boundary
 * @since 0.1.0
 */
export const toCanoError = (u: unknown): CanoError => {
  if (isNonRetryable(u)) return toCanoError(causeOf(u))
  if (isCanoError(u)) return u
  if (isCanoFailure(u)) return u.error
  if (typeof u !== 'object' || u === null) return taskExecutionError(typeof u === 'string' ? u : describeValue(u), u)
  // an object may be a revoked Proxy, or have throwing getters: nothing here may throw
  try {
    if (u instanceof Error) {
      const message: unknown = u.message
      const name: unknown = u.name
      if (typeof message === 'string' && typeof name === 'string')
        return taskExecutionError(message === '' ? name : message, u)
    } else return taskExecutionError(describeValue(u), u)
  } catch {
    // left to the uninspectable case below
  }
  // not kept as the cause: whoever reads it (a logger, a store's codec, the caller) would throw in turn
  return taskExecutionError(`task failed with a value that cannot be inspected: ${describeValue(u)}`)
}

/** The inner value of a {@link NonRetryable} (a look-alike's throwing `cause` getter reads as `undefined`). */
const causeOf = (u: NonRetryable): unknown => {
  try {
    return u.cause
  } catch {
    return undefined
  }
}

/**
 * May the retry loop try again after this failure? `false` for {@link nonRetryable} values and for
 * `Configuration`, `ResourceNotFound`, `ResourceTypeMismatch`, `ResourceDuplicateKey`, `Cancelled`,
 * `WorkflowTimeout`, `WorkflowVersionMismatch`, `DecodeFailed`, `LeaseLost` and `RunOwned` errors (cano
 * retries the ones cano has).
 *
 * @param thrown - what the failed attempt threw
 * @returns `false` when retrying cannot help
 * @example
 * import { configurationError, isRetryable } from 'cano-rx'
 * isRetryable(configurationError('bad')) // false
 * @see {@link retryWithBackoff}, whose default `shouldRetry` it is
 * @category boundary
 * @since 0.1.0
 */
export const isRetryable = (thrown: unknown): boolean => {
  if (isNonRetryable(thrown)) return false
  const e = toCanoError(thrown)
  switch (e._tag) {
    case 'Configuration':
    case 'ResourceNotFound':
    case 'ResourceTypeMismatch':
    case 'ResourceDuplicateKey':
    case 'Cancelled':
    case 'WorkflowTimeout':
    case 'WorkflowVersionMismatch':
    case 'DecodeFailed':
    case 'LeaseLost':
    case 'RunOwned':
      return false
    default:
      return true
  }
}
