/**
 * The wire shape of a {@link CanoError}: every error category of cano plus the ones cano-rx adds, as
 * plain readonly data tagged with `_tag`, and the io-ts codec that persists it (checkpoint rows,
 * scheduler status, logs). The type is written by hand because the union is recursive
 * (`RetryExhausted.last`, `CompensationFailed.errors`); `test/types/CanoError.ts` checks that the
 * codec and the type agree.
 *
 * Constructors, guards and `matchCanoError` live in `src/CanoError.ts`.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A task (or a compensation, a cursor encoder, a split branch) failed; `cause` is what was thrown.
 *
 * @example
 * import { type CanoError, taskExecutionError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'TaskExecution' }> = taskExecutionError('upstream answered 503', new Error('503'))
 * @see {@link toCanoError}, which builds one from anything a task throws
 * @category model
 * @since 0.1.0
 */
export interface TaskExecution {
  readonly _tag: 'TaskExecution'
  readonly message: string
  readonly cause?: unknown
}

/**
 * A {@link MemoryStore} (or user store) operation failed; `reason` names cano's `StoreError` kind.
 *
 * @example
 * import { type CanoError, storeError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Store' }> = storeError('KeyNotFound', "Key 'user' not found in store")
 * @see {@link storeError}
 * @category model
 * @since 0.1.0
 */
export interface Store {
  readonly _tag: 'Store'
  readonly reason: 'KeyNotFound' | 'TypeMismatch' | 'LockError' | 'AppendTypeMismatch' | 'Generic'
  readonly message: string
}

/**
 * The state machine itself went wrong: missing handler, undeclared target, unsatisfied join, split timeout.
 *
 * @example
 * import { type CanoError, workflowError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Workflow' }> = workflowError('No task registered for state: "Ship"', 'Ship')
 * @see {@link workflowError}
 * @category model
 * @since 0.1.0
 */
export interface Workflow {
  readonly _tag: 'Workflow'
  readonly message: string
  readonly state?: string
}

/**
 * Invalid configuration, detected at definition or start time.
 *
 * @example
 * import { type CanoError, configurationError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Configuration' }> = configurationError('state "Fetch": retry.jitter must be a number in [0, 1], got 2')
 * @see {@link isRetryable}, which never retries it
 * @category model
 * @since 0.1.0
 */
export interface Configuration {
  readonly _tag: 'Configuration'
  readonly message: string
}

/**
 * The retry loop gave up after more than one allowed attempt; `last` is the final attempt's error.
 *
 * @example
 * import { type CanoError, retryExhaustedError, timeoutError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'RetryExhausted' }> = retryExhaustedError(4, timeoutError(2_000))
 * @see {@link retryWithBackoff}, which produces it
 * @category model
 * @since 0.1.0
 */
export interface RetryExhausted {
  readonly _tag: 'RetryExhausted'
  readonly attempts: number
  readonly last: CanoError
  readonly message: string
}

/**
 * An attempt (or a compensation) exceeded its time budget.
 *
 * @example
 * import { type CanoError, timeoutError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Timeout' }> = timeoutError(2_000)
 * @see {@link timeoutAttempt}, which produces it
 * @category model
 * @since 0.1.0
 */
export interface Timeout {
  readonly _tag: 'Timeout'
  readonly timeoutMs: number
  readonly message: string
}

/**
 * A circuit breaker rejected the call before it ran.
 *
 * @example
 * import { type CanoError, circuitOpenError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'CircuitOpen' }> = circuitOpenError('circuit breaker open: rejecting call')
 * @see {@link circuitOpenError}
 * @category model
 * @since 0.1.0
 */
export interface CircuitOpen {
  readonly _tag: 'CircuitOpen'
  readonly message: string
}

/**
 * A checkpoint store failed (append, load, clear, duplicate sequence, missing rows).
 *
 * @example
 * import { type CanoError, checkpointStoreError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'CheckpointStore' }> = checkpointStoreError('no checkpoint rows for workflow id "order-42"')
 * @see {@link checkpointStoreError}
 * @category model
 * @since 0.1.0
 */
export interface CheckpointStore {
  readonly _tag: 'CheckpointStore'
  readonly message: string
  readonly cause?: unknown
}

/**
 * A rollback was dirty: `errors[0]` is the original failure, then each compensation error in drain order.
 *
 * @example
 * import { type CanoError, compensationFailedError, taskExecutionError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'CompensationFailed' }> = compensationFailedError([taskExecutionError('ship failed'), taskExecutionError('refund failed')])
 * @see {@link describeCanoError}, for cano's `Compensation failed (n error(s)); original: …` form
 * @category model
 * @since 0.1.0
 */
export interface CompensationFailed {
  readonly _tag: 'CompensationFailed'
  readonly errors: ReadonlyArray<CanoError>
  readonly message: string
}

/**
 * Anything else.
 *
 * @example
 * import { type CanoError, genericError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Generic' }> = genericError('IO error: disk full')
 * @see {@link genericError}
 * @category model
 * @since 0.1.0
 */
export interface Generic {
  readonly _tag: 'Generic'
  readonly message: string
  readonly cause?: unknown
}

/**
 * `Resources.get` found no resource under `key`.
 *
 * @example
 * import { type CanoError, resourceNotFoundError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'ResourceNotFound' }> = resourceNotFoundError('db')
 * @see {@link resourceNotFoundError}
 * @category model
 * @since 0.1.0
 */
export interface ResourceNotFound {
  readonly _tag: 'ResourceNotFound'
  readonly key: string
  readonly message: string
}

/**
 * `Resources.get` found a resource under `key` that failed the requested guard.
 *
 * @example
 * import { type CanoError, resourceTypeMismatchError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'ResourceTypeMismatch' }> = resourceTypeMismatchError('db', 'Pool')
 * @see {@link resourceTypeMismatchError}
 * @category model
 * @since 0.1.0
 */
export interface ResourceTypeMismatch {
  readonly _tag: 'ResourceTypeMismatch'
  readonly key: string
  readonly message: string
}

/**
 * A resource key was inserted twice.
 *
 * @example
 * import { type CanoError, resourceDuplicateKeyError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'ResourceDuplicateKey' }> = resourceDuplicateKeyError('db')
 * @see {@link resourceDuplicateKeyError}
 * @category model
 * @since 0.1.0
 */
export interface ResourceDuplicateKey {
  readonly _tag: 'ResourceDuplicateKey'
  readonly key: string
  readonly message: string
}

/**
 * The run (or a flow, or a wait) was cancelled through its `AbortSignal`.
 *
 * @example
 * import { type CanoError, cancelledError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'Cancelled' }> = cancelledError()
 * @see {@link cancelledError}
 * @category model
 * @since 0.1.0
 */
export interface Cancelled {
  readonly _tag: 'Cancelled'
  readonly message: string
}

/**
 * The workflow-wide `totalTimeoutMs` expired.
 *
 * @example
 * import { type CanoError, workflowTimeoutError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'WorkflowTimeout' }> = workflowTimeoutError(61_000, 60_000)
 * @see {@link workflowTimeoutError}
 * @category model
 * @since 0.1.0
 */
export interface WorkflowTimeout {
  readonly _tag: 'WorkflowTimeout'
  readonly elapsedMs: number
  readonly limitMs: number
  readonly message: string
}

/**
 * A run recorded under one workflow version was resumed by a definition with another.
 *
 * @example
 * import { type CanoError, workflowVersionMismatchError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'WorkflowVersionMismatch' }> = workflowVersionMismatchError(2, 3)
 * @see {@link workflowVersionMismatchError}
 * @category model
 * @since 0.1.0
 */
export interface WorkflowVersionMismatch {
  readonly _tag: 'WorkflowVersionMismatch'
  readonly stored: number
  readonly expected: number
  readonly message: string
}

/**
 * A rate limiter refused the call; `retryAfterMs` is when a token will be available.
 *
 * @example
 * import { type CanoError, rateLimitedError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'RateLimited' }> = rateLimitedError('per-second', 120)
 * @see {@link rateLimitedError}
 * @category model
 * @since 0.1.0
 */
export interface RateLimited {
  readonly _tag: 'RateLimited'
  readonly tier: string
  readonly retryAfterMs: number
  readonly message: string
}

/**
 * A saga entry has no compensator (the definition changed); its stored output is kept.
 *
 * @example
 * import { type CanoError, orphanedCompensationError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'OrphanedCompensation' }> = orphanedCompensationError('Charge', { chargeId: 'ch_1' })
 * @see {@link orphanedCompensationError}
 * @category model
 * @since 0.1.0
 */
export interface OrphanedCompensation {
  readonly _tag: 'OrphanedCompensation'
  readonly state: string
  readonly output: unknown
  readonly message: string
}

/**
 * A value crossing a boundary (cursor, row, saga output) did not encode or decode.
 *
 * @example
 * import { type CanoError, decodeFailedError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'DecodeFailed' }> = decodeFailedError('PageCursor', ['Invalid value "x" supplied to : PageCursor/page: number'])
 * @see {@link decodeFailedError}
 * @category model
 * @since 0.1.0
 */
export interface DecodeFailed {
  readonly _tag: 'DecodeFailed'
  readonly codec: string
  readonly errors: ReadonlyArray<string>
  readonly message: string
}

/**
 * A fenced write (a checkpoint append or clear, a lease renewal, a release, a finish) was refused: the
 * run's fencing token is no longer `fence` (another owner claimed the run) or the run is no longer held
 * under it. Nothing was written; the writer must abandon the run. `owner` is who holds it now (`null`:
 * nobody).
 *
 * @example
 * import { type CanoError, leaseLostError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'LeaseLost' }> = leaseLostError('order-42', 3, 'worker-b')
 * @see {@link leaseLostError}
 * @category model
 * @since 0.2.0
 */
export interface LeaseLost {
  readonly _tag: 'LeaseLost'
  readonly workflowId: string
  /** The writer's (stale) fencing token. */
  readonly fence: number
  /** Who holds the run now; `null` when nobody does. */
  readonly owner: string | null
  readonly message: string
}

/**
 * A run could not be claimed (resumed) because another owner holds it under a live lease until
 * `leaseUntil` (epoch milliseconds).
 *
 * @example
 * import { type CanoError, runOwnedError } from 'cano-rx'
 * const e: Extract<CanoError, { _tag: 'RunOwned' }> = runOwnedError('order-42', 'worker-a', Date.now() + 30_000)
 * @see {@link runOwnedError}
 * @category model
 * @since 0.2.0
 */
export interface RunOwned {
  readonly _tag: 'RunOwned'
  readonly workflowId: string
  readonly owner: string
  readonly leaseUntil: number
  readonly message: string
}

/**
 * Every failure cano-rx reports, as plain data.
 *
 * @example
 * import type { CanoError } from 'cano-rx'
 * const e: CanoError = { _tag: 'Configuration', message: 'bulkhead must be positive' }
 * @see {@link matchCanoError} to handle every variant
 * @category model
 * @since 0.1.0
 */
export type CanoError =
  | TaskExecution
  | Store
  | Workflow
  | Configuration
  | RetryExhausted
  | Timeout
  | CircuitOpen
  | CheckpointStore
  | CompensationFailed
  | Generic
  | ResourceNotFound
  | ResourceTypeMismatch
  | ResourceDuplicateKey
  | Cancelled
  | WorkflowTimeout
  | WorkflowVersionMismatch
  | RateLimited
  | OrphanedCompensation
  | DecodeFailed
  | LeaseLost
  | RunOwned

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/**
 * @internal A JSON-safe image of an arbitrary thrown value; a value that cannot be read (a revoked
 * `Proxy`, a throwing getter) is `'[Uninspectable]'`, so that encoding never throws.
 */
const serialiseCause = (u: unknown, seen: ReadonlySet<unknown> = new Set()): unknown => {
  try {
    return serialiseReadable(u, seen)
  } catch {
    return '[Uninspectable]'
  }
}

const serialiseReadable = (u: unknown, seen: ReadonlySet<unknown>): unknown => {
  if (u === null || typeof u === 'string' || typeof u === 'boolean') return u
  if (typeof u === 'number') return Number.isFinite(u) ? u : String(u)
  if (typeof u === 'bigint' || typeof u === 'symbol' || typeof u === 'function') return String(u)
  if (u === undefined) return null
  if (seen.has(u)) return '[Circular]'
  const next = new Set(seen).add(u)
  if (u instanceof Error) return { name: u.name, message: u.message }
  if (Array.isArray(u)) return u.map((x) => serialiseCause(x, next))
  // `fromEntries` defines own data properties: an own `__proto__` key stays data instead of setting the prototype
  return Object.fromEntries(Object.entries(u as Record<string, unknown>).map(([k, v]) => [k, serialiseCause(v, next)]))
}

/**
 * The `cause` of an error: any value in memory, its JSON-safe image on the wire (an `Error` becomes
 * `{ name, message }`, non-finite numbers, bigints and symbols become strings, `undefined` becomes
 * `null`, cycles are cut). Decoding accepts any value.
 *
 * @example
 * import { Cause } from 'cano-rx'
 * Cause.encode(new TypeError('not a number')) // { name: 'TypeError', message: 'not a number' }
 * @see {@link CanoErrorCodec}, which encodes `cause` fields with it
 * @category codecs
 * @since 0.1.0
 */
export const Cause: t.Type<unknown, unknown> = new t.Type<unknown, unknown>(
  'Cause',
  (_u): _u is unknown => true,
  (u) => t.success(u),
  (u) => serialiseCause(u),
)

const NonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegativeFinite')

const withOptionalCause = <P extends t.Props>(props: P, name: string) =>
  t.intersection([t.strict(props), t.exact(t.partial({ cause: Cause }))], name)

/**
 * io-ts codec for {@link CanoError}. Decoding never throws; unknown fields are stripped.
 *
 * @example
 * import { CanoErrorCodec } from 'cano-rx'
 * const wire = CanoErrorCodec.encode({ _tag: 'CircuitOpen', message: 'circuit breaker open: rejecting call' })
 * const back = CanoErrorCodec.decode(JSON.parse(JSON.stringify(wire)))
 * @see {@link Cause} for how `cause` fields are encoded
 * @category codecs
 * @since 0.1.0
 */
export const CanoErrorCodec: t.Type<CanoError, unknown> = t.recursion<CanoError, unknown>('CanoError', () =>
  t.union([
    withOptionalCause({ _tag: t.literal('TaskExecution'), message: t.string }, 'TaskExecution'),
    t.strict(
      {
        _tag: t.literal('Store'),
        reason: t.keyof({
          KeyNotFound: null,
          TypeMismatch: null,
          LockError: null,
          AppendTypeMismatch: null,
          Generic: null,
        }),
        message: t.string,
      },
      'Store',
    ),
    t.intersection(
      [t.strict({ _tag: t.literal('Workflow'), message: t.string }), t.exact(t.partial({ state: t.string }))],
      'Workflow',
    ),
    t.strict({ _tag: t.literal('Configuration'), message: t.string }, 'Configuration'),
    t.strict(
      { _tag: t.literal('RetryExhausted'), attempts: NonNegative, last: CanoErrorCodec, message: t.string },
      'RetryExhausted',
    ),
    t.strict({ _tag: t.literal('Timeout'), timeoutMs: NonNegative, message: t.string }, 'Timeout'),
    t.strict({ _tag: t.literal('CircuitOpen'), message: t.string }, 'CircuitOpen'),
    withOptionalCause({ _tag: t.literal('CheckpointStore'), message: t.string }, 'CheckpointStore'),
    t.strict(
      { _tag: t.literal('CompensationFailed'), errors: t.readonlyArray(CanoErrorCodec), message: t.string },
      'CompensationFailed',
    ),
    withOptionalCause({ _tag: t.literal('Generic'), message: t.string }, 'Generic'),
    t.strict({ _tag: t.literal('ResourceNotFound'), key: t.string, message: t.string }, 'ResourceNotFound'),
    t.strict({ _tag: t.literal('ResourceTypeMismatch'), key: t.string, message: t.string }, 'ResourceTypeMismatch'),
    t.strict({ _tag: t.literal('ResourceDuplicateKey'), key: t.string, message: t.string }, 'ResourceDuplicateKey'),
    t.strict({ _tag: t.literal('Cancelled'), message: t.string }, 'Cancelled'),
    t.strict(
      { _tag: t.literal('WorkflowTimeout'), elapsedMs: NonNegative, limitMs: NonNegative, message: t.string },
      'WorkflowTimeout',
    ),
    t.strict(
      { _tag: t.literal('WorkflowVersionMismatch'), stored: t.number, expected: t.number, message: t.string },
      'WorkflowVersionMismatch',
    ),
    t.strict(
      { _tag: t.literal('RateLimited'), tier: t.string, retryAfterMs: NonNegative, message: t.string },
      'RateLimited',
    ),
    t.strict(
      { _tag: t.literal('OrphanedCompensation'), state: t.string, output: t.unknown, message: t.string },
      'OrphanedCompensation',
    ),
    t.strict(
      { _tag: t.literal('DecodeFailed'), codec: t.string, errors: t.readonlyArray(t.string), message: t.string },
      'DecodeFailed',
    ),
    t.strict(
      {
        _tag: t.literal('LeaseLost'),
        workflowId: t.string,
        fence: t.number,
        owner: t.union([t.string, t.null]),
        message: t.string,
      },
      'LeaseLost',
    ),
    t.strict(
      { _tag: t.literal('RunOwned'), workflowId: t.string, owner: t.string, leaseUntil: t.number, message: t.string },
      'RunOwned',
    ),
  ]),
)
