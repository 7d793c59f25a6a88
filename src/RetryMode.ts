/**
 * `RetryMode`: how often a task is retried and how long to wait before each retry. Pure data and
 * pure maths (no timers): `maxAttempts(mode)` and `retryDelayMs(mode, retryIndex, random)` are what
 * the `retryWithBackoff` operator schedules.
 *
 * Formulas follow cano 0.12 with one deliberate difference: jitter is applied **before** the cap, so a
 * delay never exceeds `maxDelayMs`. The exponential formula is shared with `backoffDelayMs`
 * (`src/internal/exponentialDelayMs.ts`).
 *
 * @since 0.1.0
 */
import type * as t from 'io-ts'

import type { Configuration } from '../codecs/CanoError.js'
import { Jitter, MAX_TIMER_MS, Multiplier, NonNegativeInteger, TimerDelay } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { exponentialDelayMs } from './internal/exponentialDelayMs.js'

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
      return exponentialDelayMs(mode.baseDelayMs, mode.multiplier, retryIndex, mode.maxDelayMs, mode.jitter, random)
    }
  }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

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
  const field = <A>(codec: t.Type<A, unknown>, name: string, value: unknown): Configuration | undefined =>
    checkConfig(codec, value, `${where}: retry.${name}`, String)
  switch (mode._tag) {
    case 'None':
      return undefined
    case 'Fixed':
      return field(NonNegativeInteger, 'retries', mode.retries) ?? field(TimerDelay, 'delayMs', mode.delayMs)
    case 'Exponential':
      return (
        field(NonNegativeInteger, 'maxRetries', mode.maxRetries) ??
        field(TimerDelay, 'baseDelayMs', mode.baseDelayMs) ??
        field(TimerDelay, 'maxDelayMs', mode.maxDelayMs) ??
        field(Multiplier, 'multiplier', mode.multiplier) ??
        field(Jitter, 'jitter', mode.jitter)
      )
    default:
      return configurationError(`${where}: retry is not a RetryMode (use RetryMode.none/fixed/exponential)`)
  }
}

/**
 * @internal `validateRetryMode`'s rules (the codecs of codecs/Config.ts), written out so the success path pays no
 * call per field: `true` only for a valid mode. A `false` goes to `validateRetryMode`, which has the last
 * word (and the message).
 */
export const isValidRetryMode = (u: unknown): boolean => {
  if (typeof u !== 'object' || u === null) return false
  const m = u as Partial<Record<string, unknown>>
  switch (m._tag) {
    case 'None':
      return true
    case 'Fixed':
      return isCount(m.retries) && isDelay(m.delayMs)
    case 'Exponential': {
      const { multiplier, jitter } = m
      return (
        isCount(m.maxRetries) &&
        isDelay(m.baseDelayMs) &&
        isDelay(m.maxDelayMs) &&
        typeof multiplier === 'number' &&
        Number.isFinite(multiplier) &&
        multiplier >= 1 &&
        typeof jitter === 'number' &&
        jitter >= 0 &&
        jitter <= 1
      )
    }
    default:
      return false
  }
}
const isCount = (u: unknown): boolean => Number.isSafeInteger(u) && (u as number) >= 0
const isDelay = (u: unknown): boolean => typeof u === 'number' && u >= 0 && u <= MAX_TIMER_MS

/**
 * @internal The first of a retry loop's optional callbacks (`random`, `shouldRetry`, `delayFor`,
 * `onRetry`) given and not a function, by name; `undefined` when they are all fine. Written out: a
 * retry operator is often built per call.
 */
export const badRetryCallback = (o: {
  readonly random?: unknown
  readonly shouldRetry?: unknown
  readonly delayFor?: unknown
  readonly onRetry?: unknown
}): 'random' | 'shouldRetry' | 'delayFor' | 'onRetry' | undefined => {
  if (o.random !== undefined && typeof o.random !== 'function') return 'random'
  if (o.shouldRetry !== undefined && typeof o.shouldRetry !== 'function') return 'shouldRetry'
  if (o.delayFor !== undefined && typeof o.delayFor !== 'function') return 'delayFor'
  if (o.onRetry !== undefined && typeof o.onRetry !== 'function') return 'onRetry'
  return undefined
}
