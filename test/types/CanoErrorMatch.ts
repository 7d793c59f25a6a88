/**
 * Compile-only type tests of the error helpers of issue 13: `hasTag` data-first and data-last,
 * `matchCanoErrorW` (exhaustive, _widened result) and `matchCanoErrorOrElse` (_partial, with a fallback
 * typed as the variants left).
 */
import type { CanoError } from '../../codecs/CanoError.js'
import { hasTag, matchCanoError, matchCanoErrorOrElse, matchCanoErrorW } from '../../src/CanoError.js'
import { assertType, type Equals } from './helpers.js'

declare const e: CanoError
declare const errors: ReadonlyArray<CanoError>

// -- hasTag: data-first narrows the value, data-last is a guard ---------------------------------
if (hasTag(e, 'RateLimited')) assertType<Equals<typeof e.retryAfterMs, number>>()
const _timeouts = errors.filter(hasTag('Timeout'))
assertType<Equals<typeof _timeouts, Extract<CanoError, { _tag: 'Timeout' }>[]>>()
const _late = errors.filter(hasTag('Timeout', 'WorkflowTimeout'))
assertType<Equals<typeof _late, Extract<CanoError, { _tag: 'Timeout' | 'WorkflowTimeout' }>[]>>()
// @ts-expect-error 'Timout' is not a tag
hasTag('Timout')
// @ts-expect-error 'Timout' is not a tag
hasTag(e, 'Timout')
// @ts-expect-error at least one tag
hasTag()

// -- matchCanoErrorW: every case, each its own result type ---------------------------------------
const _widened = matchCanoErrorW({
  TaskExecution: () => 1,
  Store: () => 1,
  Workflow: () => 'workflow',
  Configuration: () => null,
  RetryExhausted: (x) => x.attempts,
  Timeout: (x) => x.timeoutMs,
  CircuitOpen: () => true,
  CheckpointStore: () => 1,
  CompensationFailed: (x) => x.errors.length,
  Generic: () => 1,
  ResourceNotFound: (x) => x.key,
  ResourceTypeMismatch: () => 1,
  ResourceDuplicateKey: () => 1,
  Cancelled: () => 1,
  WorkflowTimeout: (x) => x.limitMs,
  WorkflowVersionMismatch: () => 1,
  RateLimited: (x) => x.retryAfterMs,
  OrphanedCompensation: () => 1,
  DecodeFailed: () => 1,
  LeaseLost: () => 1,
  RunOwned: () => 1,
})
assertType<Equals<ReturnType<typeof _widened>, number | string | boolean | null>>()
// @ts-expect-error every tag needs a case (RunOwned is missing)
matchCanoErrorW({
  TaskExecution: () => 1,
  Store: () => 1,
  Workflow: () => 1,
  Configuration: () => 1,
  RetryExhausted: () => 1,
  Timeout: () => 1,
  CircuitOpen: () => 1,
  CheckpointStore: () => 1,
  CompensationFailed: () => 1,
  Generic: () => 1,
  ResourceNotFound: () => 1,
  ResourceTypeMismatch: () => 1,
  ResourceDuplicateKey: () => 1,
  Cancelled: () => 1,
  WorkflowTimeout: () => 1,
  WorkflowVersionMismatch: () => 1,
  RateLimited: () => 1,
  OrphanedCompensation: () => 1,
  DecodeFailed: () => 1,
  LeaseLost: () => 1,
})
// matchCanoError itself still demands one result type
// @ts-expect-error string is not number
matchCanoError<number>({ ...({} as Parameters<typeof matchCanoError<number>>[0]), Timeout: () => '_late' })

// -- matchCanoErrorOrElse: some cases, the fallback gets the rest ------------------------------
const _partial = matchCanoErrorOrElse(
  {
    Timeout: (x) => x.timeoutMs,
    RateLimited: (x) => `${x.retryAfterMs}`,
  },
  (_rest) => {
    assertType<Equals<typeof _rest, Exclude<CanoError, { _tag: 'Timeout' | 'RateLimited' }>>>()
    return false
  },
)
assertType<Equals<ReturnType<typeof _partial>, number | string | boolean>>()
matchCanoErrorOrElse({}, (_rest) => {
  assertType<Equals<typeof _rest, CanoError>>()
  return 0
})
// @ts-expect-error a key that is not a tag
matchCanoErrorOrElse({ Timout: () => 1 }, () => 0)
matchCanoErrorOrElse(
  {
    Timeout: (x) => {
      // @ts-expect-error a case gets its own variant (a Timeout has no retryAfterMs)
      const _ms: unknown = x.retryAfterMs
      return 1
    },
  },
  () => 0,
)
