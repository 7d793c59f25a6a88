/**
 * `TaskConfig`: the per-state policy of the retry loop (retry mode, attempt timeout, circuit breaker,
 * rate limiter), with cano's defaults merged in one place.
 *
 * @since 0.1.0
 */
import type { Configuration } from '../codecs/CanoError.js'
import { optional, TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import type { CircuitBreakerLike } from './CircuitBreaker.js'
import { checkConfig, showNumberOrType } from './internal/checkConfig.js'
import type { RateLimiterLike } from './RateLimiter.js'
import { RetryMode, validateRetryMode } from './RetryMode.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How a state's task is attempted.
 *
 * @example
 * import { RetryMode, type TaskConfig } from 'cano-rx'
 * const config: TaskConfig = { retry: RetryMode.fixed(2, 100), attemptTimeoutMs: 2_000 }
 * @see {@link resolveTaskConfig} for the defaults, {@link validateTaskConfig} for the checks
 * @category model
 * @since 0.1.0
 */
export interface TaskConfig {
  /** Retry policy. Default: `RetryMode.default()` (exponential, 3 retries, 100 ms base, x2, 30 s cap, 10 % jitter). */
  readonly retry?: RetryMode
  /**
   * Bounds each attempt separately, from just before the call: on expiry the attempt fails with a `Timeout`
   * error (an output delivered at that very instant is late), then its `signal` aborts with it. Default: none.
   */
  readonly attemptTimeoutMs?: number
  /**
   * Consulted before every attempt, once the `rateLimiter` has admitted it; a rejection is a raw `CircuitOpen`
   * that consumes no attempt. Default: none.
   */
  readonly circuitBreaker?: CircuitBreakerLike
  /** Acquired before every attempt; a limiter that does not wait fails the attempt with `RateLimited`. Default: none. */
  readonly rateLimiter?: RateLimiterLike
}

/**
 * A {@link TaskConfig} with its defaults merged: every field present, `retry` always set. What the
 * retry loop reads.
 *
 * @example
 * import { type ResolvedTaskConfig, resolveTaskConfig } from './TaskConfig.js'
 * const resolved: ResolvedTaskConfig = resolveTaskConfig({ attemptTimeoutMs: 500 })
 * resolved.retry // RetryMode.default()
 * @see {@link resolveTaskConfig}
 * @category model
 * @since 0.1.0
 */
export interface ResolvedTaskConfig {
  readonly retry: RetryMode
  readonly attemptTimeoutMs: number | undefined
  readonly circuitBreaker: CircuitBreakerLike | undefined
  readonly rateLimiter: RateLimiterLike | undefined
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Merges a {@link TaskConfig} with the defaults: `retry` falls back to `fallbackRetry`
 * (`RetryMode.default()` for tasks, `RetryMode.none()` for polls, as in cano).
 *
 * @param config - the options of the state; default `{}`
 * @param fallbackRetry - the retry mode when `config.retry` is absent; default `RetryMode.default()`
 * @returns the config with every default filled in
 * @example
 * import { RetryMode } from 'cano-rx'
 * import { resolveTaskConfig } from './TaskConfig.js'
 * resolveTaskConfig({ attemptTimeoutMs: 500 }).retry // RetryMode.default()
 * resolveTaskConfig({}, RetryMode.none()).retry // { _tag: 'None' }
 * @see {@link ResolvedTaskConfig}
 * @category constructors
 * @since 0.1.0
 */
export const resolveTaskConfig = (
  config: TaskConfig = {},
  fallbackRetry: RetryMode = RetryMode.default(),
): ResolvedTaskConfig => ({
  retry: config.retry ?? fallbackRetry,
  attemptTimeoutMs: config.attemptTimeoutMs,
  circuitBreaker: config.circuitBreaker,
  rateLimiter: config.rateLimiter,
})

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a {@link TaskConfig}; the error names `where` and the field.
 *
 * @param config - the value to check (may come from untyped code); `undefined` is valid
 * @param where - prefixes the message (e.g. `state "Fetch"`)
 * @returns the `Configuration` error, or `undefined` when the config is valid
 * @example
 * import { validateTaskConfig } from './TaskConfig.js'
 * validateTaskConfig({ attemptTimeoutMs: 0 }, 'state "Fetch"')?.message
 * // 'state "Fetch": attemptTimeoutMs must be a finite number in (0, 2147483647], got 0'
 * @see {@link validateRetryMode}
 * @category validation
 * @since 0.1.0
 */
export const validateTaskConfig = (config: unknown, where: string): Configuration | undefined => {
  if (config === undefined) return undefined
  if (typeof config !== 'object' || config === null) return configurationError(`${where}: config must be an object`)
  const c = config as Record<string, unknown>
  if (c['retry'] !== undefined) {
    if (typeof c['retry'] !== 'object' || c['retry'] === null)
      return configurationError(`${where}: retry must be a RetryMode (use RetryMode.none/fixed/exponential)`)
    const e = validateRetryMode(c['retry'] as RetryMode, where)
    if (e !== undefined) return e
  }
  const timeout = checkConfig(
    optional(TimerDuration),
    c['attemptTimeoutMs'],
    `${where}: attemptTimeoutMs`,
    showNumberOrType,
  )
  if (timeout !== undefined) return timeout
  const cb = c['circuitBreaker']
  if (cb !== undefined) {
    const why = breakerProblem(cb)
    if (why !== undefined)
      return configurationError(`${where}: circuitBreaker must be a circuit breaker (createCircuitBreaker())${why}`)
  }
  const rl = c['rateLimiter']
  if (rl !== undefined) {
    const why = limiterProblem(rl)
    if (why !== undefined)
      return configurationError(`${where}: rateLimiter must be a rate limiter (createRateLimiter())${why}`)
  }
  return undefined
}

/** @internal What keeps `u` from being a {@link CircuitBreakerLike} (the message's tail), if anything. */
const breakerProblem = (u: unknown): string | undefined => {
  if (typeof u !== 'object' || u === null) return `, got ${u === null ? 'null' : typeof u}`
  const b = u as Record<string, unknown>
  if (typeof b['tryAcquire'] !== 'function') return ': tryAcquire is not a function'
  // a limiter has a tryAcquire too (returning Either<RateLimited, void>), but it hands out no permits
  if (typeof b['acquire'] === 'function' && typeof b['waits'] === 'boolean') return ', got a rate limiter'
  return undefined
}

/** @internal What keeps `u` from being a {@link RateLimiterLike} (the message's tail), if anything. */
const limiterProblem = (u: unknown): string | undefined => {
  if (typeof u !== 'object' || u === null) return `, got ${u === null ? 'null' : typeof u}`
  const l = u as Record<string, unknown>
  if (typeof l['tryAcquire'] !== 'function') return ': tryAcquire is not a function'
  if (typeof l['acquire'] !== 'function') return ': acquire is not a function'
  if (typeof l['waits'] !== 'boolean') return ': waits is not a boolean'
  return undefined
}

/**
 * @internal Whether attempt 1 of work under `config` runs inline, on the engine's fast path
 * (streams/attemptWork.ts). Since issue 16 it always does: a circuit breaker's permit and a rate
 * limiter's token that is there now are taken inline too (only a wait for a token takes the retry
 * loop's path). The `fast` flag of a compiled state and of a split branch.
 */
export const runsInline = (_config: ResolvedTaskConfig): boolean => true
