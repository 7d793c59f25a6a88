/**
 * `BackoffPolicy`: how a scheduled flow backs off after failed runs, and when it trips. Pure maths, no
 * timers: the scheduler reads {@link backoffDelayMs} and {@link isTripped} to react to failures.
 *
 * Backoff follows cano 0.12 with one deliberate difference: jitter is applied **before** the cap, so a
 * delay never exceeds `maxDelayMs`. The formula is shared with `retryDelayMs` (`src/internal/exponentialDelayMs.ts`).
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

import type { Configuration } from '../codecs/CanoError.js'
import { Jitter, Multiplier, NonNegativeInteger, TimerDelay } from '../codecs/Config.js'
import { checkConfig } from './internal/checkConfig.js'
import { exponentialDelayMs } from './internal/exponentialDelayMs.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How a flow backs off after failed runs. After the `streak`-th consecutive failure the flow waits
 * {@link backoffDelayMs} before a scheduled tick may run it again; once the streak reaches
 * `streakLimit` the flow is `Tripped` and only `reset` brings it back. cano's defaults: 1 000 ms, x2,
 * 300 000 ms cap, 10 % jitter, never trips.
 *
 * @example
 * import type { BackoffPolicy } from 'cano-rx'
 * const policy: BackoffPolicy = { initialMs: 1_000, multiplier: 2, maxDelayMs: 300_000, jitter: 0.1, streakLimit: 5 }
 * @see {@link backoffPolicy} to build one from defaults
 * @category model
 * @since 0.1.0
 */
export interface BackoffPolicy {
  /** Delay after the first failure, in ms. Default 1 000. */
  readonly initialMs: number
  /** Factor applied per further failure. Default 2. */
  readonly multiplier: number
  /** Upper bound of any delay, jitter included, in ms. Default 300 000 (5 min). */
  readonly maxDelayMs: number
  /** Relative jitter in [0, 1]: the delay is scaled by `1 + jitter * U[-1, 1)`. Default 0.1. */
  readonly jitter: number
  /** Consecutive failures that trip the flow; `undefined` (default) never trips, `0` trips on the first failure. */
  readonly streakLimit: number | undefined
}

/**
 * The fields of a {@link BackoffPolicy} to override; the others keep cano's defaults.
 *
 * @example
 * import type { BackoffOptions } from 'cano-rx'
 * const tripAfterThree: BackoffOptions = { streakLimit: 3 }
 * @see {@link backoffPolicy}
 * @category model
 * @since 0.1.0
 */
export interface BackoffOptions {
  readonly initialMs?: number
  readonly multiplier?: number
  readonly maxDelayMs?: number
  readonly jitter?: number
  readonly streakLimit?: number | undefined
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** cano's `BackoffPolicy::default()`. */
const BACKOFF_DEFAULTS: BackoffPolicy = {
  initialMs: 1_000,
  multiplier: 2,
  maxDelayMs: 300_000,
  jitter: 0.1,
  streakLimit: undefined,
}

/**
 * A {@link BackoffPolicy}: cano's defaults (1 000 ms, x2, 300 000 ms cap, 0.1 jitter, never trips)
 * with `options` merged over them. `backoffPolicy({ streakLimit: n })` is cano's `with_trip(n)`.
 *
 * @param options - the fields to override
 * @returns the complete policy (checked by {@link validateBackoffPolicy} when the scheduler is created)
 * @example
 * import { backoffPolicy } from 'cano-rx'
 * const policy = backoffPolicy({ streakLimit: 5 })
 * // { initialMs: 1000, multiplier: 2, maxDelayMs: 300000, jitter: 0.1, streakLimit: 5 }
 * @see {@link backoffDelayMs}
 * @category constructors
 * @since 0.1.0
 */
export const backoffPolicy = (options: BackoffOptions = {}): BackoffPolicy => ({
  initialMs: options.initialMs ?? BACKOFF_DEFAULTS.initialMs,
  multiplier: options.multiplier ?? BACKOFF_DEFAULTS.multiplier,
  maxDelayMs: options.maxDelayMs ?? BACKOFF_DEFAULTS.maxDelayMs,
  jitter: options.jitter ?? BACKOFF_DEFAULTS.jitter,
  streakLimit: options.streakLimit ?? BACKOFF_DEFAULTS.streakLimit,
})

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Has a failure streak reached the policy's trip limit? `streak >= streakLimit`; never when
 * `streakLimit` is `undefined`.
 *
 * @param policy - the backoff policy
 * @param streak - consecutive failures so far
 * @returns `true` when the flow must trip
 * @example
 * import { backoffPolicy, isTripped } from 'cano-rx'
 * isTripped(backoffPolicy({ streakLimit: 3 }), 3) // true
 * isTripped(backoffPolicy(), 1_000) // false: the default never trips
 * @see {@link FlowTripped}
 * @category guards
 * @since 0.1.0
 */
export const isTripped = (policy: BackoffPolicy, streak: number): boolean =>
  policy.streakLimit !== undefined && streak >= policy.streakLimit
// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The wait after the `streak`-th consecutive failure, in whole milliseconds:
 * `min(maxDelayMs, initialMs * multiplier^(streak-1) * (1 + jitter * (2 * random() - 1)))`, floored
 * at 0, with `streak` 0 treated as 1 (cano's `compute_delay`). The jitter is applied before the cap,
 * so the result never exceeds `maxDelayMs` (cano caps, jitters, then caps again). Never `NaN`.
 *
 * @param policy - the backoff policy
 * @param streak - consecutive failures, 1 after the first one
 * @param random - jitter source in [0, 1); default `Math.random`
 * @returns whole milliseconds to wait
 * @example
 * import { backoffDelayMs, backoffPolicy } from 'cano-rx'
 * const policy = backoffPolicy({ jitter: 0 })
 * ;[1, 2, 3, 10].map((n) => backoffDelayMs(policy, n)) // [1000, 2000, 4000, 300000]
 * @see {@link isTripped}
 * @category destructors
 * @since 0.1.0
 */
export const backoffDelayMs = (policy: BackoffPolicy, streak: number, random: () => number = Math.random): number => {
  const n = Math.max(1, Number.isFinite(streak) ? Math.trunc(streak) : 1)
  const j = Math.min(1, Math.max(0, policy.jitter))
  return exponentialDelayMs(policy.initialMs, policy.multiplier, n - 1, policy.maxDelayMs, j, random)
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** `undefined` (never trips) or a count. */
const STREAK_LIMIT = t.union([t.undefined, NonNegativeInteger], 'undefined or a non-negative integer')

/**
 * Checks a {@link BackoffPolicy}: `initialMs` and `maxDelayMs` finite in [0, 2^31-1], `multiplier`
 * finite and ≥ 1, `jitter` in [0, 1], `streakLimit` `undefined` or a non-negative integer. Returns the
 * `Configuration` error (its message starts with `where` and names the field) or `undefined`.
 *
 * @param policy - the policy to check (may come from untyped code)
 * @param where - prefixes the message (e.g. `flow "report"`)
 * @returns the `Configuration` error, or `undefined` when the policy is valid
 * @example
 * import { backoffPolicy, validateBackoffPolicy } from 'cano-rx'
 * validateBackoffPolicy(backoffPolicy({ jitter: 2 }), 'flow "etl"')?.message
 * // 'flow "etl": backoff.jitter must be a number in [0, 1], got 2'
 * @see {@link backoffPolicy}
 * @category validation
 * @since 0.1.0
 */
export const validateBackoffPolicy = (policy: BackoffPolicy, where: string): Configuration | undefined => {
  const field = <A>(codec: t.Type<A, unknown>, name: string, value: unknown): Configuration | undefined =>
    checkConfig(codec, value, `${where}: backoff.${name}`)
  return (
    field(TimerDelay, 'initialMs', policy.initialMs) ??
    field(Multiplier, 'multiplier', policy.multiplier) ??
    field(TimerDelay, 'maxDelayMs', policy.maxDelayMs) ??
    field(Jitter, 'jitter', policy.jitter) ??
    field(STREAK_LIMIT, 'streakLimit', policy.streakLimit)
  )
}
