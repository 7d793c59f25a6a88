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

/** A task (or a compensation, a cursor encoder, a split branch) failed; `cause` is what was thrown. @category model @since 0.1.0 */
export interface TaskExecution {
  readonly _tag: 'TaskExecution'
  readonly message: string
  readonly cause?: unknown
}
/** A {@link MemoryStore} (or user store) operation failed; `reason` names cano's `StoreError` kind. @category model @since 0.1.0 */
export interface Store {
  readonly _tag: 'Store'
  readonly reason: 'KeyNotFound' | 'TypeMismatch' | 'LockError' | 'AppendTypeMismatch' | 'Generic'
  readonly message: string
}
/** The state machine itself went wrong: missing handler, undeclared target, unsatisfied join, split timeout. @category model @since 0.1.0 */
export interface Workflow {
  readonly _tag: 'Workflow'
  readonly message: string
  readonly state?: string
}
/** Invalid configuration, detected at definition or start time. @category model @since 0.1.0 */
export interface Configuration {
  readonly _tag: 'Configuration'
  readonly message: string
}
/** The retry loop gave up after more than one allowed attempt; `last` is the final attempt's error. @category model @since 0.1.0 */
export interface RetryExhausted {
  readonly _tag: 'RetryExhausted'
  readonly attempts: number
  readonly last: CanoError
  readonly message: string
}
/** An attempt (or a compensation) exceeded its time budget. @category model @since 0.1.0 */
export interface Timeout {
  readonly _tag: 'Timeout'
  readonly timeoutMs: number
  readonly message: string
}
/** A circuit breaker rejected the call before it ran. @category model @since 0.1.0 */
export interface CircuitOpen {
  readonly _tag: 'CircuitOpen'
  readonly message: string
}
/** A checkpoint store failed (append, load, clear, duplicate sequence, missing rows). @category model @since 0.1.0 */
export interface CheckpointStore {
  readonly _tag: 'CheckpointStore'
  readonly message: string
  readonly cause?: unknown
}
/** A rollback was dirty: `errors[0]` is the original failure, then each compensation error in drain order. @category model @since 0.1.0 */
export interface CompensationFailed {
  readonly _tag: 'CompensationFailed'
  readonly errors: ReadonlyArray<CanoError>
  readonly message: string
}
/** Anything else. @category model @since 0.1.0 */
export interface Generic {
  readonly _tag: 'Generic'
  readonly message: string
  readonly cause?: unknown
}
/** `Resources.get` found no resource under `key`. @category model @since 0.1.0 */
export interface ResourceNotFound {
  readonly _tag: 'ResourceNotFound'
  readonly key: string
  readonly message: string
}
/** `Resources.get` found a resource under `key` that failed the requested guard. @category model @since 0.1.0 */
export interface ResourceTypeMismatch {
  readonly _tag: 'ResourceTypeMismatch'
  readonly key: string
  readonly message: string
}
/** A resource key was inserted twice. @category model @since 0.1.0 */
export interface ResourceDuplicateKey {
  readonly _tag: 'ResourceDuplicateKey'
  readonly key: string
  readonly message: string
}
/** The run (or a flow, or a wait) was cancelled through its `AbortSignal`. @category model @since 0.1.0 */
export interface Cancelled {
  readonly _tag: 'Cancelled'
  readonly message: string
}
/** The workflow-wide `totalTimeoutMs` expired. @category model @since 0.1.0 */
export interface WorkflowTimeout {
  readonly _tag: 'WorkflowTimeout'
  readonly elapsedMs: number
  readonly limitMs: number
  readonly message: string
}
/** A run recorded under one workflow version was resumed by a definition with another. @category model @since 0.1.0 */
export interface WorkflowVersionMismatch {
  readonly _tag: 'WorkflowVersionMismatch'
  readonly stored: number
  readonly expected: number
  readonly message: string
}
/** A rate limiter refused the call; `retryAfterMs` is when a token will be available. @category model @since 0.1.0 */
export interface RateLimited {
  readonly _tag: 'RateLimited'
  readonly tier: string
  readonly retryAfterMs: number
  readonly message: string
}
/** A saga entry has no compensator (the definition changed); its stored output is kept. @category model @since 0.1.0 */
export interface OrphanedCompensation {
  readonly _tag: 'OrphanedCompensation'
  readonly state: string
  readonly output: unknown
  readonly message: string
}
/** A value crossing a boundary (cursor, row, saga output) did not encode or decode. @category model @since 0.1.0 */
export interface DecodeFailed {
  readonly _tag: 'DecodeFailed'
  readonly codec: string
  readonly errors: ReadonlyArray<string>
  readonly message: string
}

/**
 * Every failure cano-rx reports, as plain data.
 *
 * @example
 * import type { CanoError } from 'cano-rx'
 * const e: CanoError = { _tag: 'Configuration', message: 'bulkhead must be positive' }
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

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/** @internal A JSON-safe image of an arbitrary thrown value. */
const serialiseCause = (u: unknown, seen: ReadonlySet<unknown> = new Set()): unknown => {
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
 * `{ name, message }`, non-finite numbers and symbols become strings, cycles are cut).
 *
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
  ]),
)
