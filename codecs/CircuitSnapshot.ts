/**
 * `CircuitSnapshot`: the persisted form of a circuit breaker's state, and the io-ts codec that owns its
 * shape. `breaker.toJSON()` produces one; `createCircuitBreaker(policy, { snapshot })` decodes one, so a
 * process can start with the state its predecessor had (still open until the same deadline, or counting
 * the same consecutive failures).
 *
 * A snapshot is one of:
 *
 * - `{ _tag: 'Closed', epoch, consecutiveFailures, samples? }`: `samples`, written by a sampling breaker
 *   (`createSamplingCircuitBreaker`), are the non-empty buckets of its sliding window, each
 *   `{ startMs, successes, failures }` with `startMs` on the breaker's clock. A snapshot without them (every
 *   snapshot written before the sampling breaker existed, and every consecutive breaker's) decodes as
 *   before: a sampling breaker restored from it starts with an empty window, and a consecutive breaker
 *   ignores samples.
 * - `{ _tag: 'Open', epoch, untilMs }`: `untilMs` is read on the breaker's clock (`Date.now()` by default,
 *   so epoch milliseconds)
 * - `{ _tag: 'HalfOpen', epoch, successes }`: trials in flight are not persisted (their permits die
 *   with the process), so a restored half-open breaker has every trial slot free
 *
 * `epoch` counts the breaker's transitions. Numbers are finite; counters and epochs are non-negative
 * safe integers. Unknown fields are stripped.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

import { refinedNumber } from './Config.js'

// -------------------------------------------------------------------------------------
// internal refinements
// -------------------------------------------------------------------------------------

const NonNegativeSafeInteger = /*#__PURE__*/ refinedNumber(
  'NonNegativeSafeInteger',
  (n) => Number.isSafeInteger(n) && n >= 0,
)
const FiniteNumber = /*#__PURE__*/ refinedNumber('FiniteNumber', (n) => Number.isFinite(n))

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/**
 * One bucket of a sampling breaker's window: the calls that succeeded and failed from `startMs` on (for
 * the bucket's length, the policy's `windowMs / buckets`).
 *
 * @example
 * import { CircuitSample } from 'cano-rx'
 * import { isRight } from 'fp-ts/lib/Either.js'
 * isRight(CircuitSample.decode({ startMs: 1_700_000_000_000, successes: 40, failures: 3 })) // true
 * @category codecs
 * @since 0.1.0
 */
export const CircuitSample = /*#__PURE__*/ t.readonly(
  t.strict({ startMs: FiniteNumber, successes: NonNegativeSafeInteger, failures: NonNegativeSafeInteger }),
  'CircuitSample',
)

/**
 * A bucket of a sampling breaker's window (see {@link CircuitSample}).
 *
 * @example
 * import type { CircuitSample } from 'cano-rx'
 * const s: CircuitSample = { startMs: 0, successes: 9, failures: 1 }
 * @category model
 * @since 0.1.0
 */
export type CircuitSample = t.TypeOf<typeof CircuitSample>

/**
 * A closed breaker: calls pass; `consecutiveFailures` failures in a row have been recorded since the last
 * success; a sampling breaker adds the buckets of its window (`samples`).
 *
 * @internal
 */
const ClosedCircuitSnapshot = /*#__PURE__*/ t.readonly(
  t.exact(
    t.intersection([
      t.type({ _tag: t.literal('Closed'), epoch: NonNegativeSafeInteger, consecutiveFailures: NonNegativeSafeInteger }),
      t.partial({ samples: t.readonlyArray(CircuitSample) }),
    ]),
  ),
  'ClosedCircuitSnapshot',
)

/**
 * An open breaker: calls are rejected until `untilMs` (on the breaker's clock).
 *
 * @internal
 */
const OpenCircuitSnapshot = /*#__PURE__*/ t.readonly(
  t.strict({ _tag: t.literal('Open'), epoch: NonNegativeSafeInteger, untilMs: FiniteNumber }),
  'OpenCircuitSnapshot',
)

/**
 * A half-open breaker: `successes` trial calls have succeeded in this half-open session.
 *
 * @internal
 */
const HalfOpenCircuitSnapshot = /*#__PURE__*/ t.readonly(
  t.strict({ _tag: t.literal('HalfOpen'), epoch: NonNegativeSafeInteger, successes: NonNegativeSafeInteger }),
  'HalfOpenCircuitSnapshot',
)

/**
 * io-ts codec for a circuit breaker snapshot. Decoding never throws; unknown fields are stripped.
 *
 * @example
 * import { CircuitSnapshot } from 'cano-rx'
 * import { isRight } from 'fp-ts/lib/Either.js'
 * const saved = JSON.stringify({ _tag: 'Open', epoch: 3, untilMs: 1_700_000_030_000 })
 * const decoded = CircuitSnapshot.decode(JSON.parse(saved))
 * if (isRight(decoded)) console.log(decoded.right._tag) // 'Open'
 * @category codecs
 * @since 0.1.0
 */
export const CircuitSnapshot = /*#__PURE__*/ t.union(
  [ClosedCircuitSnapshot, OpenCircuitSnapshot, HalfOpenCircuitSnapshot],
  'CircuitSnapshot',
)

/**
 * A circuit breaker snapshot (see the module comment): plain JSON-safe data.
 *
 * @example
 * import type { CircuitSnapshot } from 'cano-rx'
 * const s: CircuitSnapshot = { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }
 * @category model
 * @since 0.1.0
 */
export type CircuitSnapshot = t.TypeOf<typeof CircuitSnapshot>
