/**
 * @internal `Config`: the refinements of configuration values (durations, delays, counts, factors,
 * shares) as io-ts codecs, one place for each rule the validators of `src/` check. Each codec's `name`
 * is the rule as error messages state it ("a positive integer", "a finite number in (0, 2147483647]"),
 * so `checkConfig` (`src/internal/checkConfig.ts`) can say what a rejected value should have been.
 *
 * Every duration that becomes a timer is bounded by {@link MAX_TIMER_MS}.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * @internal The largest delay a JS timer can hold (2^31 - 1 ms, about 24.8 days): the upper bound of
 * every duration option (timeouts, delays, intervals, reset timeouts) that becomes a timer.
 */
export const MAX_TIMER_MS = 2_147_483_647

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal A number codec named `rule` that accepts only the numbers passing `ok`. */
export const refinedNumber = (rule: string, ok: (n: number) => boolean): t.Type<number, number> =>
  new t.Type<number, number, unknown>(
    rule,
    (u): u is number => typeof u === 'number' && ok(u),
    (u, c) => (typeof u === 'number' && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )

/** @internal A safe integer in [`min`, `max`] (bounds that depend on the value checked, e.g. a branch count). */
export const integerIn = (min: number, max: number): t.Type<number, number> =>
  refinedNumber(`an integer in [${min}, ${max}]`, (n) => Number.isSafeInteger(n) && n >= min && n <= max)

/** @internal `codec` or `undefined` (an option left out), under the same name: the rule of a given value. */
export const optional = <A, O>(codec: t.Type<A, O>): t.Type<A | undefined, O | undefined> =>
  t.union([codec, t.undefined], codec.name)

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/** @internal A duration that becomes a timer and must elapse: finite, in (0, 2^31-1] ms. */
export const TimerDuration = /*#__PURE__*/ refinedNumber(
  `a finite number in (0, ${MAX_TIMER_MS}]`,
  (n) => n > 0 && n <= MAX_TIMER_MS,
)

/** @internal A delay that becomes a timer and may be 0: finite, in [0, 2^31-1] ms. */
export const TimerDelay = /*#__PURE__*/ refinedNumber(
  `a finite number in [0, ${MAX_TIMER_MS}]`,
  (n) => n >= 0 && n <= MAX_TIMER_MS,
)

/** @internal A count of at least 1 (concurrency, window size, bulkhead, polls): a safe integer >= 1. */
export const PositiveInteger = /*#__PURE__*/ refinedNumber(
  'a positive integer',
  (n) => Number.isSafeInteger(n) && n >= 1,
)

/** @internal A count that may be 0 (retries, tolerated errors): a safe integer >= 0. */
export const NonNegativeInteger = /*#__PURE__*/ refinedNumber(
  'a non-negative integer',
  (n) => Number.isSafeInteger(n) && n >= 0,
)

/** @internal A growth factor of a backoff: finite and >= 1. */
export const Multiplier = /*#__PURE__*/ refinedNumber('a finite number >= 1', (n) => Number.isFinite(n) && n >= 1)

/** @internal A relative jitter: a number in [0, 1]. */
export const Jitter = /*#__PURE__*/ refinedNumber('a number in [0, 1]', (n) => n >= 0 && n <= 1)

/** @internal A share of a whole that is not empty: a number in (0, 1]. */
export const Percentage = /*#__PURE__*/ refinedNumber('a number in (0, 1]', (n) => n > 0 && n <= 1)

/** @internal An amount that must be there (limiter tokens, call weights and costs): finite and > 0. */
export const PositiveFinite = /*#__PURE__*/ refinedNumber(
  'a positive finite number',
  (n) => Number.isFinite(n) && n > 0,
)

/** @internal An amount that may be 0 (a limiter's burst): finite and >= 0. */
export const NonNegativeFinite = /*#__PURE__*/ refinedNumber(
  'a non-negative finite number',
  (n) => Number.isFinite(n) && n >= 0,
)

/**
 * @internal A bounded count (breaker thresholds, limiter permits): an integer in [1, 2^31-1], named
 * `an integer in [1, 2147483647]`.
 */
export const Count = /*#__PURE__*/ integerIn(1, MAX_TIMER_MS)
