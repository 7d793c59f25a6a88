/**
 * Rate limiters (cano 0.14 `rate_limit.rs`), the pure part: the model, the token-bucket and fixed-window
 * arithmetic and the validation of the options. The limiters themselves, a token bucket
 * (`createRateLimiter`), a fixed window (`createWindowedRateLimiter`) and a multi-tier limiter that
 * enforces several limits at once (`createMultiRateLimiter`), live in streams/createRateLimiter.ts. All
 * three implement {@link RateLimiterLike}, which is what the engine calls before each attempt of a task
 * whose config has a `rateLimiter`.
 *
 * - Token bucket: holds at most `capacity = tokens + burst` tokens (with `ratePerSec`, `tokens` is
 *   `ratePerSec`), starts full and refills continuously at `tokens / perMs` per ms. Refill is lazy:
 *   computed from the clock on each call, never by a timer.
 * - Fixed window: at most `limit` per window; windows are aligned on multiples of `windowMs` of the
 *   clock (`[k * windowMs, (k + 1) * windowMs)`), and the count resets when a new window starts.
 * - Tiers: every call costs `cost * weight` in each tier it uses, and is taken from all of them or from
 *   none. A call uses every tier unless it names a subset (`{ tiers: ['per-model'] }`, cano's
 *   `try_acquire_for`); a tier it does not name is neither checked nor charged.
 *
 * `tryAcquire` answers at once: `Right` when the tokens were taken, `Left(RateLimited)` naming the tier
 * that is short and the ms until it can serve the call. `acquire` waits for the tokens: callers are
 * served first come, first served among the callers that share a tier (a `tryAcquire` does not overtake
 * a waiting caller on one of its tiers, and a caller waiting on one tier does not hold up a caller that
 * uses only other tiers), and a waiting caller leaves the queue with a `Cancelled` failure when its
 * signal aborts.
 *
 * Reservations (cano 0.15 `try_reserve_n`): `reserve` / `tryReserve` take the tokens like `acquire` /
 * `tryAcquire` and hand back a {@link RateReservation}: `commit()` keeps the debit, `refund()` gives the
 * tokens back (a bucket takes them back up to its capacity; a fixed window only while the window they
 * were taken from is still the current one). Settle a reservation once: a second `commit` or `refund`
 * throws a `CanoFailure(Configuration)`.
 *
 * Inspection: `timeUntil(request)` is the ms until a call could be admitted (0: now), `status()` and
 * `tier(name)` give each tier's `used`, `remaining` and, for a fixed window, `resetsAt` (the clock reading
 * at which the current window ends). Every cost is weighted and checked: a cost that is not a positive
 * finite number, exceeds a used tier's capacity, or names an unknown tier is a `CanoFailure(Configuration)`.
 *
 * Time is injected: one RxJS `scheduler` (default `asyncScheduler`, whose clock is `Date.now()`) is both
 * the clock (`scheduler.now()`) and what `acquire` waits on (a wake-up scheduled on it, cancelled when
 * the waiter's signal aborts). Given the scheduler of a run, a limiter keeps the same time as the run's
 * timers and retries, virtual in tests.
 *
 * @since 0.1.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type { SchedulerLike } from 'rxjs'

import type { RateLimited } from '../codecs/CanoError.js'
import { Count, NonNegativeFinite, PositiveFinite, TimerDuration } from '../codecs/Config.js'
import { CanoFailure, configurationError } from './CanoError.js'
import { describeValue } from './internal/describeValue.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link RateLimiterLike.acquire}.
 *
 * @example
 * import { createRateLimiter, type AcquireOptions } from 'cano-rx'
 * const limiter = createRateLimiter({ ratePerSec: 10 })
 * const options: AcquireOptions = { signal: AbortSignal.timeout(5_000), cost: 2 }
 * await limiter.acquire(options)
 * @category model
 * @since 0.1.0
 */
export interface AcquireOptions extends RateRequest {
  /** Aborting it while waiting rejects with a `CanoFailure(Cancelled)`; nothing is taken. */
  readonly signal?: AbortSignal | undefined
}

/**
 * What one call asks of a limiter: its `cost` and the `tiers` it uses. `tryAcquire`, `tryReserve` and
 * `timeUntil` take one (or a bare cost); `acquire` and `reserve` take it inside {@link AcquireOptions}.
 *
 * @example
 * import { createMultiRateLimiter, type RateRequest } from 'cano-rx'
 * const limiter = createMultiRateLimiter([
 *   { name: 'requests', limit: 50, perMs: 1_000 },
 *   { name: 'llm-tokens', limit: 40_000, perMs: 60_000 },
 * ])
 * const summarise: RateRequest = { cost: 1_200, tiers: ['llm-tokens'] } // 1 200 tokens, not a request slot
 * limiter.tryAcquire(summarise)
 * @category model
 * @since 0.1.0
 */
export interface RateRequest {
  /**
   * Tokens (or window slots) the call takes from each tier it uses, times the tier's weight: a positive
   * finite number, at most the capacity (divided by the weight) of every tier it uses. Default 1.
   */
  readonly cost?: number | undefined
  /**
   * The names of the tiers the call uses (cano's `acquire_for`); the other tiers are neither checked nor
   * charged. A non-empty array of the limiter's tier names, without duplicates. Default: every tier.
   */
  readonly tiers?: ReadonlyArray<string> | undefined
}

/**
 * Where a {@link RateReservation} stands: `'Reserved'` (tokens taken, not settled), `'Committed'` or
 * `'Refunded'`.
 *
 * @example
 * import type { RateReservationStatus } from 'cano-rx'
 * const open: RateReservationStatus = 'Reserved'
 * @category model
 * @since 0.1.0
 */
export type RateReservationStatus = 'Reserved' | 'Committed' | 'Refunded'

/**
 * Tokens taken by `reserve` / `tryReserve`, pending a decision: `commit()` keeps them spent, `refund()`
 * gives them back to every tier the call used (a bucket up to its capacity; a fixed window only while the
 * window they were taken from is still the current one, as cano does), and serves any caller waiting for
 * them. Settle it exactly once: a second `commit()` or `refund()` throws a `CanoFailure(Configuration)`.
 * An unsettled reservation keeps its tokens spent (JavaScript has no destructor to refund it).
 *
 * @example
 * import { createRateLimiter } from 'cano-rx'
 * declare const callApi: () => Promise<Response>
 * const limiter = createRateLimiter({ ratePerSec: 10 })
 * const reservation = await limiter.reserve({ cost: 2 })
 * const response = await callApi()
 * if (response.status === 429) reservation.refund() // the upstream refused: the call did not count
 * else reservation.commit()
 * @category model
 * @since 0.1.0
 */
export interface RateReservation {
  /** The cost taken (before each tier's weight). */
  readonly cost: number
  /** The names of the tiers the tokens were taken from. */
  readonly tiers: ReadonlyArray<string>
  /** `'Reserved'` until `commit()` or `refund()`. */
  readonly status: RateReservationStatus
  /** Keeps the tokens spent. Throws a `CanoFailure(Configuration)` when already committed or refunded. */
  commit(): void
  /** Gives the tokens back. Throws a `CanoFailure(Configuration)` when already committed or refunded. */
  refund(): void
}

/**
 * What the engine needs from a rate limiter (`TaskConfig.rateLimiter`). Every limiter of this module
 * implements it, and so can any object.
 *
 * @example
 * import { createRateLimiter, type RateLimiterLike } from 'cano-rx'
 * import { isLeft } from 'fp-ts/lib/Either.js'
 * const limiter: RateLimiterLike = createRateLimiter({ ratePerSec: 5, waits: false })
 * const r = limiter.tryAcquire()
 * if (isLeft(r)) console.log(`tier ${r.left.tier}: retry in ${r.left.retryAfterMs} ms`)
 * @category model
 * @since 0.1.0
 */
export interface RateLimiterLike {
  /**
   * Immediate: `Right(undefined)` when `cost` was taken from every tier, `Left(RateLimited { tier,
   * retryAfterMs })` otherwise (nothing taken). Throws a `CanoFailure(Configuration)` for a cost that is
   * not a positive finite number or exceeds a tier's capacity.
   */
  tryAcquire(cost?: number): E.Either<RateLimited, void>
  /**
   * Waits until it can take the tokens, first come first served. Rejects with `CanoFailure(Cancelled)`
   * if `signal` aborts while waiting (or before), and with `CanoFailure(Configuration)` for an invalid cost.
   */
  acquire(options?: AcquireOptions): Promise<void>
  /**
   * `true`: the engine awaits `acquire()` before each attempt (a first attempt whose token is there now
   * takes it with `tryAcquire()` instead, without waiting); `false`: it calls `tryAcquire()` and fails
   * the attempt with `RateLimited`, whose `retryAfterMs` the retry loop uses as the next delay.
   */
  readonly waits: boolean
}

/**
 * One tier of a limiter, as seen now. Amounts are in the tier's own units (a call takes `cost * weight`)
 * and may be fractional for a bucket, which refills continuously.
 *
 * @example
 * import { createRateLimiter, type RateTierStatus } from 'cano-rx'
 * const [tier]: ReadonlyArray<RateTierStatus> = createRateLimiter({ ratePerSec: 10, burst: 5 }).status()
 * // tier: { name: 'default', kind: 'tokenBucket', available: 15, capacity: 15, used: 0, remaining: 15, resetsAt: undefined }
 * @category model
 * @since 0.1.0
 */
export interface RateTierStatus {
  readonly name: string
  readonly kind: 'tokenBucket' | 'fixedWindow'
  /** Tokens (or window slots) that can be taken now (the same as `remaining`). */
  readonly available: number
  /** The most the tier can hold: `tokens + burst` for a bucket, `limit` for a window. */
  readonly capacity: number
  /** `capacity - remaining`: taken and not yet refilled (a bucket) or taken in the current window. */
  readonly used: number
  /** What can be taken now. */
  readonly remaining: number
  /**
   * A fixed window: the clock reading (ms) at which the current window ends and the tier is full again.
   * A bucket has no reset boundary, only a continuous refill: `undefined` (as cano's `resets_at: None`).
   */
  readonly resetsAt: number | undefined
}

/**
 * Options of {@link RateLimiter.scoped}: the request every call through the view makes by default, and
 * whether the engine waits on it.
 *
 * @example
 * import { createMultiRateLimiter, type ScopedLimiterOptions } from 'cano-rx'
 * const limiter = createMultiRateLimiter([
 *   { name: 'shared', limit: 100, perMs: 1_000 },
 *   { name: 'model-a', limit: 10, perMs: 1_000 },
 *   { name: 'model-b', limit: 20, perMs: 1_000 },
 * ])
 * const forModelA: ScopedLimiterOptions = { tiers: ['shared', 'model-a'], cost: 2 }
 * const modelA = limiter.scoped(forModelA)
 * @category model
 * @since 0.1.0
 */
export interface ScopedLimiterOptions extends RateRequest {
  /** The view's {@link RateLimiterLike.waits}. Default: the limiter's. */
  readonly waits?: boolean
}

/**
 * A limiter made by this module: {@link RateLimiterLike} plus inspection.
 *
 * @example
 * import { createRateLimiter, type RateLimiter } from 'cano-rx'
 * const limiter: RateLimiter = createRateLimiter({ ratePerSec: 10 })
 * console.log(limiter.status(), limiter.waiting)
 * @category model
 * @since 0.1.0
 */
export interface RateLimiter extends RateLimiterLike {
  /**
   * Immediate: `Right(undefined)` when the call's weighted cost was taken from every tier it uses,
   * `Left(RateLimited { tier, retryAfterMs })` otherwise (nothing taken). `request` is a cost or a
   * {@link RateRequest}. Throws a `CanoFailure(Configuration)` for an invalid request.
   */
  tryAcquire(request?: number | RateRequest): E.Either<RateLimited, void>
  /**
   * Immediate, like `tryAcquire`, but the tokens come as a {@link RateReservation} to commit or refund.
   * Throws a `CanoFailure(Configuration)` for an invalid request.
   */
  tryReserve(request?: number | RateRequest): E.Either<RateLimited, RateReservation>
  /**
   * Waits like `acquire`, in the same queue, and resolves with a {@link RateReservation} to commit or
   * refund. Rejects with `CanoFailure(Cancelled)` when `signal` aborts, `CanoFailure(Configuration)` for
   * an invalid request.
   */
  reserve(options?: AcquireOptions): Promise<RateReservation>
  /**
   * The ms until a call of `request` could be admitted, counting the callers already waiting on the
   * tiers it uses: 0 when `tryAcquire(request)` would succeed now, otherwise the `retryAfterMs` its
   * `RateLimited` would carry (whole ms, at least 1). Throws a `CanoFailure(Configuration)` for an
   * invalid request.
   */
  timeUntil(request?: number | RateRequest): number
  /** Each tier's availability at the current clock reading. */
  status(): ReadonlyArray<RateTierStatus>
  /**
   * One tier's availability at the current clock reading. `name` may be left out when the limiter has
   * one tier; an unknown name (or none, with several tiers) throws a `CanoFailure(Configuration)`.
   */
  tier(name?: string): RateTierStatus
  /**
   * A view of this limiter (the same tokens and queue) whose calls default to `options`' cost and tiers:
   * give it to a task (`TaskConfig.rateLimiter`) to charge a weighted cost or a subset of the tiers on
   * each attempt. A request passed to the view's methods overrides the defaults field by field. Throws a
   * `CanoFailure(Configuration)` for invalid options.
   */
  scoped(options: ScopedLimiterOptions): RateLimiter
  /** Callers waiting in `acquire()` or `reserve()`. */
  readonly waiting: number
}

/**
 * Time and waiting behaviour, shared by every limiter factory.
 *
 * @example
 * import { createWindowedRateLimiter, type LimiterRuntimeOptions } from 'cano-rx'
 * import { VirtualTimeScheduler } from 'rxjs'
 * const scheduler = new VirtualTimeScheduler() // virtual time: the same scheduler can drive a whole run
 * const virtual: LimiterRuntimeOptions = { scheduler, waits: false }
 * const limiter = createWindowedRateLimiter({ limit: 100, windowMs: 60_000, ...virtual })
 * @category model
 * @since 0.1.0
 */
export interface LimiterRuntimeOptions {
  /**
   * The clock (`scheduler.now()`, in ms) and what `acquire` waits on. Default `asyncScheduler`: the clock
   * is `Date.now()` and a wait is a timer, cleared when the waiter's signal aborts.
   */
  readonly scheduler?: SchedulerLike
  /** Whether the engine should wait for tokens (see {@link RateLimiterLike.waits}). Default `true`. */
  readonly waits?: boolean
}

/**
 * The refill rate of a token bucket: `ratePerSec`, or `tokens` per `perMs`.
 *
 * @example
 * import type { TokenBucketRate } from 'cano-rx'
 * const tenPerSecond: TokenBucketRate = { ratePerSec: 10 }
 * const onePerTwoSeconds: TokenBucketRate = { tokens: 1, perMs: 2_000 }
 * @category model
 * @since 0.1.0
 */
export type TokenBucketRate =
  | { readonly ratePerSec: number; readonly tokens?: never; readonly perMs?: never }
  | { readonly tokens: number; readonly perMs: number; readonly ratePerSec?: never }

/**
 * Options of `createRateLimiter`.
 *
 * @example
 * import { createRateLimiter, type RateLimiterOptions } from 'cano-rx'
 * const options: RateLimiterOptions = { ratePerSec: 10, burst: 5, name: 'api' }
 * const limiter = createRateLimiter(options)
 * @category model
 * @since 0.1.0
 */
export type RateLimiterOptions = TokenBucketRate &
  LimiterRuntimeOptions & {
    /**
     * Extra tokens the bucket holds above one period's worth: `capacity = tokens + burst`. A non-negative
     * finite number. Default 0.
     */
    readonly burst?: number
    /** The tier name reported in `RateLimited` errors. Default `'default'`. */
    readonly name?: string
  }

/**
 * Options of `createWindowedRateLimiter`.
 *
 * @example
 * import { createWindowedRateLimiter, type WindowedRateLimiterOptions } from 'cano-rx'
 * const options: WindowedRateLimiterOptions = { limit: 500, windowMs: 60_000, name: 'per-minute' }
 * const limiter = createWindowedRateLimiter(options)
 * @category model
 * @since 0.1.0
 */
export interface WindowedRateLimiterOptions extends LimiterRuntimeOptions {
  /** Calls (cost units) per window: an integer in [1, 2^31-1]. */
  readonly limit: number
  /** The window length in ms: a finite number in (0, 2^31-1]. */
  readonly windowMs: number
  /** The tier name reported in `RateLimited` errors. Default `'default'`. */
  readonly name?: string
}

/**
 * One tier of `createMultiRateLimiter`: `limit` per `perMs`, as a token bucket (default, capacity
 * `limit + burst`, continuous refill) or a fixed window (`kind: 'fixedWindow'`, `burst` not allowed).
 * Each call costs `cost * weight` in this tier.
 *
 * @example
 * import type { RateTier } from 'cano-rx'
 * const perSecond: RateTier = { name: 'per-second', limit: 10, perMs: 1_000 }
 * const perMinute: RateTier = { name: 'per-minute', limit: 500, perMs: 60_000, kind: 'fixedWindow' }
 * @category model
 * @since 0.1.0
 */
export interface RateTier {
  /** Unique within the limiter; reported in `RateLimited` errors. */
  readonly name: string
  /** Tokens per `perMs` (bucket: a positive finite number; window: an integer in [1, 2^31-1]). */
  readonly limit: number
  /** The period in ms: a finite number in (0, 2^31-1]. */
  readonly perMs: number
  /** Bucket only: extra capacity above `limit`. Default 0. */
  readonly burst?: number
  /** What one unit of cost takes from this tier: a positive finite number. Default 1. */
  readonly weight?: number
  /** Default `'tokenBucket'`. */
  readonly kind?: 'tokenBucket' | 'fixedWindow'
}

// -------------------------------------------------------------------------------------
// internal: tiers
// -------------------------------------------------------------------------------------

/** @internal A validated tier. */
export interface TierSpec {
  readonly name: string
  readonly kind: 'tokenBucket' | 'fixedWindow'
  readonly capacity: number
  readonly perMs: number
  /** Bucket: tokens added per ms. */
  readonly refillPerMs: number
  readonly weight: number
}

/** @internal `available` tokens at `atMs` (bucket), or left in the window starting at `atMs` (window). */
export interface TierState {
  readonly available: number
  readonly atMs: number
}

/** @internal Float slack: refill arithmetic may land a hair below a whole token. */
export const EPSILON = 1e-9

/** @internal Slack on a computed wait: 333.00000000000006 ms is 333 ms, not 334. */
const WAIT_SLACK_MS = 1e-6

/** @internal A wait in whole ms, at least 1 (like a timer), forgiving float noise. */
export const wholeMs = (ms: number): number => Math.max(1, Math.ceil(ms - WAIT_SLACK_MS))

const windowStart = (spec: TierSpec, nowMs: number): number => Math.floor(nowMs / spec.perMs) * spec.perMs

/** @internal A full tier at `nowMs`. */
export const tierStart = (spec: TierSpec, nowMs: number): TierState => ({
  available: spec.capacity,
  atMs: spec.kind === 'tokenBucket' ? nowMs : windowStart(spec, nowMs),
})

/** @internal The tier brought forward to `nowMs`: refilled, or rolled into the current window. */
export const tierAt = (spec: TierSpec, s: TierState, nowMs: number): TierState => {
  if (spec.kind === 'fixedWindow') {
    const start = windowStart(spec, nowMs)
    return start === s.atMs ? s : { available: spec.capacity, atMs: start }
  }
  if (nowMs === s.atMs) return s
  // A clock that went backwards restarts the refill from the new reading, adding nothing.
  if (nowMs < s.atMs || s.available >= spec.capacity) return { available: s.available, atMs: nowMs }
  return { available: Math.min(spec.capacity, s.available + (nowMs - s.atMs) * spec.refillPerMs), atMs: nowMs }
}

/** @internal ms until `amount` can be taken from a tier brought forward to `nowMs` (0: now). */
export const tierWaitMs = (spec: TierSpec, s: TierState, amount: number, nowMs: number): number => {
  const missing = amount - s.available
  if (missing <= EPSILON) return 0
  if (spec.kind === 'tokenBucket') return missing / spec.refillPerMs
  return s.atMs + Math.ceil(missing / spec.capacity - EPSILON) * spec.perMs - nowMs
}

/**
 * @internal `amount` given back to a tier brought forward to now (a refunded reservation): a bucket takes
 * it back up to its capacity; a window only when it is still the window the amount was taken from
 * (`takenAtMs`, the tier's `atMs` then), since a new window starts full.
 */
export const tierGiveBack = (spec: TierSpec, s: TierState, amount: number, takenAtMs: number): TierState => {
  if (spec.kind === 'fixedWindow' && s.atMs !== takenAtMs) return s
  const available = Math.min(spec.capacity, s.available + amount)
  return available === s.available ? s : { available, atMs: s.atMs }
}

/** @internal `amount` taken (the caller checked that it is available). */
export const tierTake = (s: TierState, amount: number): TierState => ({
  available: Math.max(0, s.available - amount),
  atMs: s.atMs,
})

// -------------------------------------------------------------------------------------
// internal: validation
// -------------------------------------------------------------------------------------

/** @internal `CanoFailure(Configuration)` with `where: field must be rule, got value`. */
export const invalidFailure = (where: string, field: string, rule: string, value: unknown): CanoFailure =>
  new CanoFailure(configurationError(`${where}: ${field} must be ${rule}, got ${describeValue(value)}`))

/** @internal Throws {@link invalidFailure}. */
const invalid = (where: string, field: string, rule: string, value: unknown): never => {
  throw invalidFailure(where, field, rule, value)
}

/** @internal `value` when `codec` accepts it; otherwise throws {@link invalidFailure} with the codec's rule. */
const checked = <A>(codec: t.Type<A, unknown>, where: string, field: string, value: unknown): A =>
  codec.is(value) ? value : invalid(where, field, codec.name, value)

/** JavaScript callers: a factory's options that are not an object are refused before any field is read. */
const checkOptionsObject = (where: string, options: unknown): void => {
  if (typeof options !== 'object' || options === null) invalid(where, 'options', 'an object', options)
}

const checkName = (where: string, name: unknown): string =>
  typeof name === 'string' && name.length > 0 ? name : invalid(where, 'name', 'a non-empty string', name)

/** @internal A tier whose capacity cannot serve one call at its weight could never admit anything. */
const checkCapacity = (where: string, spec: TierSpec): TierSpec =>
  spec.capacity + EPSILON >= spec.weight
    ? spec
    : invalid(
        where,
        spec.kind === 'tokenBucket' ? 'capacity (tokens + burst)' : 'limit',
        `at least the cost of one call (${describeValue(spec.weight)})`,
        spec.capacity,
      )

const bucketSpec = (
  where: string,
  name: string,
  tokens: unknown,
  tokensField: string,
  perMs: unknown,
  burst: unknown,
  weight: unknown,
): TierSpec => {
  const perPeriod = checked(PositiveFinite, where, tokensField, tokens)
  const period = checked(TimerDuration, where, 'perMs', perMs)
  const b = burst === undefined ? 0 : checked(NonNegativeFinite, where, 'burst', burst)
  const w = weight === undefined ? 1 : checked(PositiveFinite, where, 'weight', weight)
  // each value finite, their sum or quotient need not be: a bucket of infinite capacity, or one that never
  // refills, has no meaning (and its waits none either)
  const capacity = perPeriod + b
  if (!Number.isFinite(capacity)) invalid(where, `capacity (${tokensField} + burst)`, 'a finite number', capacity)
  const refillPerMs = perPeriod / period
  if (!(Number.isFinite(refillPerMs) && refillPerMs > 0))
    invalid(
      where,
      `refill rate (${tokensField === 'ratePerSec' ? 'ratePerSec / 1000' : `${tokensField} / perMs`})`,
      'a positive finite number of tokens per ms',
      refillPerMs,
    )
  return checkCapacity(where, { name, kind: 'tokenBucket', capacity, perMs: period, refillPerMs, weight: w })
}

const windowSpec = (
  where: string,
  name: string,
  limit: unknown,
  perMs: unknown,
  perMsField: string,
  weight: unknown,
): TierSpec => {
  const l = checked(Count, where, 'limit', limit)
  const period = checked(TimerDuration, where, perMsField, perMs)
  const w = weight === undefined ? 1 : checked(PositiveFinite, where, 'weight', weight)
  return checkCapacity(where, { name, kind: 'fixedWindow', capacity: l, perMs: period, refillPerMs: 0, weight: w })
}

/** @internal A limiter's validated tiers, and the name its `Configuration` errors start with. */
export interface LimiterSpec {
  readonly where: string
  readonly specs: ReadonlyArray<TierSpec>
  /** Tier name to its position in `specs`. */
  readonly index: ReadonlyMap<string, number>
  /** Every position (the tiers of a call that names none). */
  readonly all: ReadonlyArray<number>
}

const limiterSpec = (where: string, specs: ReadonlyArray<TierSpec>): LimiterSpec => ({
  where,
  specs,
  index: new Map(specs.map((spec, i) => [spec.name, i])),
  // not frozen: a frozen array's elements kind slows the loops of the hot path
  all: specs.map((_, i) => i),
})

/** @internal The tier of `createRateLimiter`; throws a `CanoFailure(Configuration)` naming the field and value. */
export const rateLimiterSpec = (options: RateLimiterOptions): LimiterSpec => {
  const where = 'rate limiter'
  checkOptionsObject(where, options)
  const name = checkName(where, options.name ?? 'default')
  if (options.ratePerSec !== undefined) {
    const untyped: { readonly tokens?: unknown; readonly perMs?: unknown } = options // JavaScript callers
    if (untyped.tokens !== undefined || untyped.perMs !== undefined) {
      invalid(where, 'ratePerSec', 'given alone (not with tokens / perMs)', options.ratePerSec)
    }
    return limiterSpec(where, [bucketSpec(where, name, options.ratePerSec, 'ratePerSec', 1_000, options.burst, 1)])
  }
  return limiterSpec(where, [bucketSpec(where, name, options.tokens, 'tokens', options.perMs, options.burst, 1)])
}

/** @internal The tier of `createWindowedRateLimiter`; throws a `CanoFailure(Configuration)`. */
export const windowedRateLimiterSpec = (options: WindowedRateLimiterOptions): LimiterSpec => {
  const where = 'windowed rate limiter'
  checkOptionsObject(where, options)
  const name = checkName(where, options.name ?? 'default')
  return limiterSpec(where, [windowSpec(where, name, options.limit, options.windowMs, 'windowMs', 1)])
}

/** @internal The tiers of `createMultiRateLimiter`; throws a `CanoFailure(Configuration)` naming the tier. */
export const multiRateLimiterSpec = (tiers: ReadonlyArray<RateTier>): LimiterSpec => {
  const where = 'multi rate limiter'
  if (!Array.isArray(tiers) || tiers.length === 0) {
    return invalid(where, 'tiers', 'a non-empty array of tiers', tiers)
  }
  const seen = new Set<string>()
  const specs = tiers.map((tier: RateTier, i): TierSpec => {
    const name = checkName(`${where}: tiers[${i}]`, tier.name)
    if (seen.has(name)) invalid(where, `tiers[${i}].name`, 'unique', name)
    seen.add(name)
    const at = `${where}: tier ${JSON.stringify(name)}`
    const kind: unknown = tier.kind ?? 'tokenBucket'
    if (kind === 'tokenBucket') return bucketSpec(at, name, tier.limit, 'limit', tier.perMs, tier.burst, tier.weight)
    if (kind !== 'fixedWindow') return invalid(at, 'kind', "'tokenBucket' or 'fixedWindow'", kind)
    if (tier.burst !== undefined) invalid(at, 'burst', 'absent for a fixed window', tier.burst)
    return windowSpec(at, name, tier.limit, tier.perMs, 'perMs', tier.weight)
  })
  return limiterSpec(where, specs)
}

// -------------------------------------------------------------------------------------
// internal: requests
// -------------------------------------------------------------------------------------

/** @internal A checked request: the cost and the positions of the tiers it uses. */
export interface ResolvedRequest {
  readonly cost: number
  readonly tiers: ReadonlyArray<number>
}

/**
 * @internal The `Configuration` failure for a cost that is not a positive finite number or exceeds the
 * capacity of one of `tiers` (default: every tier), `undefined` for a valid cost.
 */
export const costError = (
  limiter: LimiterSpec,
  cost: unknown,
  tiers: ReadonlyArray<number> = limiter.all,
): CanoFailure | undefined => {
  if (!PositiveFinite.is(cost)) return invalidFailure(limiter.where, 'cost', PositiveFinite.name, cost)
  for (const i of tiers) {
    const spec = limiter.specs[i]
    if (spec !== undefined && cost * spec.weight > spec.capacity + EPSILON) {
      const weighted = spec.weight === 1 ? '' : ` divided by its weight ${describeValue(spec.weight)}`
      const rule = `at most the capacity of tier ${JSON.stringify(spec.name)} (${describeValue(spec.capacity)}${weighted})`
      return invalidFailure(limiter.where, 'cost', rule, cost)
    }
  }
  return undefined
}

/** @internal The positions of the tiers `names` (checked: a non-empty array of known, distinct names). */
const tierPositions = (limiter: LimiterSpec, names: unknown): ReadonlyArray<number> | CanoFailure => {
  const known = (): string => [...limiter.index.keys()].map((n) => JSON.stringify(n)).join(', ')
  if (!Array.isArray(names) || names.length === 0)
    return invalidFailure(limiter.where, 'tiers', `a non-empty array of tier names (${known()})`, names)
  const positions: number[] = []
  for (const name of names as ReadonlyArray<unknown>) {
    const i = typeof name === 'string' ? limiter.index.get(name) : undefined
    if (i === undefined)
      return invalidFailure(limiter.where, 'tiers', `names of the limiter's tiers (${known()})`, names)
    if (positions.includes(i)) return invalidFailure(limiter.where, 'tiers', 'distinct tier names', names)
    positions.push(i)
  }
  return positions.length === limiter.all.length ? limiter.all : positions.sort((a, b) => a - b)
}

/**
 * @internal Checks `request` (a cost, a {@link RateRequest} or `undefined`) against the limiter, filling
 * what it leaves out from `defaults`; the `Configuration` failure when it is invalid.
 */
export const resolveRequest = (
  limiter: LimiterSpec,
  request: unknown,
  defaults: ResolvedRequest,
): ResolvedRequest | CanoFailure => {
  if (request === undefined) return defaults
  let cost: unknown = defaults.cost
  let tiers = defaults.tiers
  if (typeof request === 'object' && request !== null) {
    const r = request as { readonly cost?: unknown; readonly tiers?: unknown }
    if (r.cost === undefined && r.tiers === undefined) return defaults
    if (r.cost !== undefined) cost = r.cost
    if (r.tiers !== undefined) {
      const positions = tierPositions(limiter, r.tiers)
      if (positions instanceof CanoFailure) return positions
      tiers = positions
    }
  } else cost = request
  const bad = costError(limiter, cost, tiers)
  if (bad !== undefined) return bad
  return cost === defaults.cost && tiers === defaults.tiers ? defaults : { cost: cost as number, tiers }
}
