/**
 * `RetryMode`: how often a task is retried and how long to wait before each retry. Pure data and
 * pure maths (no timers): `maxAttempts(mode)` and `retryDelayMs(mode, retryIndex, random)` are what
 * the `retryWithBackoff` operator schedules.
 *
 * Formulas follow cano 0.12 (reference 2.3) with one deliberate difference: jitter is applied
 * **before** the cap, so a delay never exceeds `maxDelayMs`.
 *
 * @since 0.1.0
 */
import type { Configuration } from '../codecs/CanoError.js'
import { configurationError } from './CanoError.js'
import { MAX_TIMER_MS } from './internal/timers.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One attempt, no retry: a failure is reported as it is, without `RetryExhausted` wrapping.
 *
 * @example
 * import { RetryMode, type RetryNone } from 'cano-rx'
 * const once: RetryNone = { _tag: 'None' }
 * const same: RetryMode = RetryMode.none()
 * @see {@link RetryMode}
 * @category model
 * @since 0.1.0
 */
export interface RetryNone {
  readonly _tag: 'None'
}
/**
 * `retries` retries, each after `delayMs` (truncated to whole milliseconds).
 *
 * @example
 * import type { RetryFixed } from 'cano-rx'
 * const thrice: RetryFixed = { _tag: 'Fixed', retries: 3, delayMs: 250 } // RetryMode.fixed(3, 250)
 * @see {@link RetryMode}
 * @category model
 * @since 0.1.0
 */
export interface RetryFixed {
  readonly _tag: 'Fixed'
  readonly retries: number
  readonly delayMs: number
}
/**
 * `maxRetries` retries; retry `i` (0-based) waits `baseDelayMs * multiplier^i * (1 + jitter * U[-1, 1])`,
 * capped at `maxDelayMs` (the cap comes after the jitter, unlike cano).
 *
 * @example
 * import type { RetryExponential } from 'cano-rx'
 * const backoff: RetryExponential = { _tag: 'Exponential', maxRetries: 5, baseDelayMs: 100, multiplier: 2, maxDelayMs: 5_000, jitter: 0.1 }
 * @see {@link retryDelayMs} for the formula
 * @category model
 * @since 0.1.0
 */
export interface RetryExponential {
  readonly _tag: 'Exponential'
  readonly maxRetries: number
  readonly baseDelayMs: number
  readonly multiplier: number
  readonly maxDelayMs: number
  readonly jitter: number
}

/**
 * A retry policy. Build one with {@link RetryMode}'s constructors.
 *
 * @example
 * import { RetryMode } from 'cano-rx'
 * const policy: RetryMode = RetryMode.exponential(5)
 * @see {@link retryDelayMs}, {@link maxAttempts}
 * @category model
 * @since 0.1.0
 */
export type RetryMode = RetryNone | RetryFixed | RetryExponential

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** cano's exponential defaults: base 100 ms, x2, cap 30 s, 10 % jitter. */
const EXPONENTIAL_DEFAULTS = { baseDelayMs: 100, multiplier: 2, maxDelayMs: 30_000, jitter: 0.1 } as const

/**
 * Constructors for {@link RetryMode}, with cano's defaults.
 *
 * - `none()`: one attempt.
 * - `fixed(retries, delayMs)`: `retries + 1` attempts, `delayMs` between them.
 * - `exponential(maxRetries)`: base 100 ms, x2, cap 30 000 ms, jitter 0.1.
 * - `exponentialCustom({ maxRetries, baseDelayMs, multiplier, maxDelayMs, jitter })`: every field explicit.
 * - `default()`: `exponential(3)`, cano's `TaskConfig::default()` (4 attempts).
 *
 * Values are checked by {@link validateRetryMode} when a workflow is defined.
 *
 * @example
 * import { RetryMode } from 'cano-rx'
 * const quick = RetryMode.fixed(2, 50)
 * const patient = RetryMode.exponentialCustom({ maxRetries: 6, baseDelayMs: 200, multiplier: 3, maxDelayMs: 10_000, jitter: 0.2 })
 * @see {@link validateRetryMode}
 * @category constructors
 * @since 0.1.0
 */
export const RetryMode = {
  none: (): RetryMode => ({ _tag: 'None' }),
  fixed: (retries: number, delayMs: number): RetryMode => ({ _tag: 'Fixed', retries, delayMs }),
  exponential: (maxRetries: number): RetryMode => ({ _tag: 'Exponential', maxRetries, ...EXPONENTIAL_DEFAULTS }),
  exponentialCustom: (p: Omit<RetryExponential, '_tag'>): RetryMode => ({ _tag: 'Exponential', ...p }),
  default: (): RetryMode => ({ _tag: 'Exponential', maxRetries: 3, ...EXPONENTIAL_DEFAULTS }),
} as const

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Attempts allowed in total: 1 for `None`, `retries + 1` otherwise.
 *
 * @param mode - the retry policy
 * @returns the first attempt plus the retries
 * @example
 * import { RetryMode } from 'cano-rx'
 * import { maxAttempts } from './RetryMode.js'
 * maxAttempts(RetryMode.default()) // 4
 * @see {@link retryDelayMs}
 * @category destructors
 * @since 0.1.0
 */
export const maxAttempts = (mode: RetryMode): number => {
  switch (mode._tag) {
    case 'None':
      return 1
    case 'Fixed':
      return mode.retries + 1
    case 'Exponential':
      return mode.maxRetries + 1
  }
}

/**
 * The delay before retry `retryIndex` (0-based: 0 is the wait after the first failed attempt), in
 * whole milliseconds, or `undefined` when no retry is left. `random` returns a number in [0, 1).
 * Exponential: `min(maxDelayMs, baseDelayMs * multiplier^i * (1 + jitter * (2 * random() - 1)))`,
 * floored at 0 and truncated to an integer. Never exceeds `maxDelayMs`, never `NaN`.
 *
 * @param mode - the retry policy
 * @param retryIndex - 0-based index of the retry (0 = after the first failure)
 * @param random - jitter source in [0, 1); default `Math.random`
 * @returns whole milliseconds to wait, or `undefined` when no retry is left
 * @example
 * import { RetryMode } from 'cano-rx'
 * import { retryDelayMs } from './RetryMode.js'
 * const noJitter = RetryMode.exponentialCustom({ maxRetries: 3, baseDelayMs: 100, multiplier: 2, maxDelayMs: 250, jitter: 0 })
 * ;[0, 1, 2, 3].map((i) => retryDelayMs(noJitter, i)) // [100, 200, 250, undefined]
 * @see {@link retryWithBackoff}, which schedules these delays
 * @category destructors
 * @since 0.1.0
 */
export const retryDelayMs = (
  mode: RetryMode,
  retryIndex: number,
  random: () => number = Math.random,
): number | undefined => {
  switch (mode._tag) {
    case 'None':
      return undefined
    case 'Fixed':
      return retryIndex < mode.retries ? Math.trunc(mode.delayMs) : undefined
    case 'Exponential': {
      if (retryIndex >= mode.maxRetries) return undefined
      const raw = mode.baseDelayMs * Math.pow(mode.multiplier, retryIndex)
      const factor = mode.jitter === 0 ? 1 : 1 + mode.jitter * (2 * random() - 1)
      // a 0 ms base or a 0 jitter factor waits 0 ms even once multiplier^i overflows (0 * Infinity is NaN)
      const jittered = mode.baseDelayMs === 0 || factor === 0 ? 0 : raw * factor
      const capped = Math.min(mode.maxDelayMs, Number.isNaN(jittered) ? mode.maxDelayMs : jittered)
      return Math.max(0, Math.trunc(capped))
    }
  }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0
const isDelay = (n: number): boolean => Number.isFinite(n) && n >= 0 && n <= MAX_TIMER_MS

/**
 * Checks a {@link RetryMode}: counts are non-negative safe integers, delays finite, non-negative and
 * at most 2^31-1 ms, `multiplier` finite and ≥ 1, `jitter` in [0, 1]. Returns the `Configuration`
 * error (its message names `where` and the field) or `undefined`.
 *
 * @param mode - the retry policy to check (may come from untyped code)
 * @param where - prefixes the message (e.g. `state "Fetch"`)
 * @returns the `Configuration` error, or `undefined` when the mode is valid
 * @example
 * import { RetryMode } from 'cano-rx'
 * import { validateRetryMode } from './RetryMode.js'
 * validateRetryMode(RetryMode.fixed(-1, 10), 'state "Fetch"')?.message
 * // 'state "Fetch": retry.retries must be a non-negative integer, got -1'
 * @see {@link validateTaskConfig}, which calls it
 * @category validation
 * @since 0.1.0
 */
export const validateRetryMode = (mode: RetryMode, where: string): Configuration | undefined => {
  const bad = (field: string, rule: string, value: unknown): Configuration =>
    configurationError(`${where}: retry.${field} must be ${rule}, got ${String(value)}`)
  switch (mode._tag) {
    case 'None':
      return undefined
    case 'Fixed':
      if (!isCount(mode.retries)) return bad('retries', 'a non-negative integer', mode.retries)
      if (!isDelay(mode.delayMs)) return bad('delayMs', `a finite number in [0, ${MAX_TIMER_MS}]`, mode.delayMs)
      return undefined
    case 'Exponential':
      if (!isCount(mode.maxRetries)) return bad('maxRetries', 'a non-negative integer', mode.maxRetries)
      if (!isDelay(mode.baseDelayMs))
        return bad('baseDelayMs', `a finite number in [0, ${MAX_TIMER_MS}]`, mode.baseDelayMs)
      if (!isDelay(mode.maxDelayMs))
        return bad('maxDelayMs', `a finite number in [0, ${MAX_TIMER_MS}]`, mode.maxDelayMs)
      if (!Number.isFinite(mode.multiplier) || mode.multiplier < 1)
        return bad('multiplier', 'a finite number >= 1', mode.multiplier)
      if (!Number.isFinite(mode.jitter) || mode.jitter < 0 || mode.jitter > 1)
        return bad('jitter', 'a number in [0, 1]', mode.jitter)
      return undefined
    default:
      return configurationError(`${where}: retry is not a RetryMode (use RetryMode.none/fixed/exponential)`)
  }
}
