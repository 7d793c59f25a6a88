/**
 * `HealthStatus`: what a resource's `health()` hook reports, as plain tagged data. `Healthy`, then
 * `Degraded(reason)` (working, but impaired), then `Unhealthy(reason)` (not working), in increasing
 * severity, as cano's `HealthStatus` enum. {@link Resources} collects these with `checkAllHealth()` and
 * folds them with `aggregateHealth()`; the engine never calls a health check on its own.
 *
 * @since 0.1.0
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The resource works.
 *
 * @example
 * import type { Healthy } from 'cano-rx'
 * const ok: Healthy = { _tag: 'Healthy' }
 * @category model
 * @since 0.1.0
 */
export interface Healthy {
  readonly _tag: 'Healthy'
}

/**
 * The resource works but is impaired (slow, a replica down, a cache cold); `reason` says how.
 *
 * @example
 * import type { Degraded } from 'cano-rx'
 * const slow: Degraded = { _tag: 'Degraded', reason: 'p99 latency 2.3 s' }
 * @category model
 * @since 0.1.0
 */
export interface Degraded {
  readonly _tag: 'Degraded'
  readonly reason: string
}

/**
 * The resource does not work; `reason` says why.
 *
 * @example
 * import type { Unhealthy } from 'cano-rx'
 * const down: Unhealthy = { _tag: 'Unhealthy', reason: 'connection refused' }
 * @category model
 * @since 0.1.0
 */
export interface Unhealthy {
  readonly _tag: 'Unhealthy'
  readonly reason: string
}

/**
 * The result of a health check: `Healthy`, `Degraded` or `Unhealthy`, in increasing severity.
 *
 * @example
 * import { HealthStatus } from 'cano-rx'
 * const statusOf = (lagMs: number): HealthStatus => (lagMs < 1_000 ? HealthStatus.healthy : HealthStatus.degraded(`replication lag ${lagMs} ms`))
 * @see {@link severityOf}
 * @category model
 * @since 0.1.0
 */
export type HealthStatus = Healthy | Degraded | Unhealthy

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The `Healthy` status (a frozen constant: it carries no data).
 *
 * @example
 * import { HealthStatus } from 'cano-rx'
 * const cache = { health: () => HealthStatus.healthy }
 * @category constructors
 * @since 0.1.0
 */
const healthy: Healthy = /*#__PURE__*/ Object.freeze({ _tag: 'Healthy' })

/**
 * A `Degraded` status with its reason.
 *
 * @param reason - how the resource is impaired
 * @returns `{ _tag: 'Degraded', reason }`
 * @example
 * import { HealthStatus } from 'cano-rx'
 * const s = HealthStatus.degraded('1 of 3 replicas down')
 * @category constructors
 * @since 0.1.0
 */
const degraded = (reason: string): Degraded => ({ _tag: 'Degraded', reason })

/**
 * An `Unhealthy` status with its reason.
 *
 * @param reason - why the resource does not work
 * @returns `{ _tag: 'Unhealthy', reason }`
 * @example
 * import { HealthStatus } from 'cano-rx'
 * const s = HealthStatus.unhealthy('connection refused')
 * @category constructors
 * @since 0.1.0
 */
const unhealthy = (reason: string): Unhealthy => ({ _tag: 'Unhealthy', reason })

/**
 * Builds a {@link HealthStatus}: `HealthStatus.healthy`, `HealthStatus.degraded(reason)` or
 * `HealthStatus.unhealthy(reason)`.
 *
 * @example
 * import { HealthStatus } from 'cano-rx'
 * const status = (lagMs: number) =>
 *   lagMs < 1_000 ? HealthStatus.healthy : lagMs < 10_000 ? HealthStatus.degraded('lagging') : HealthStatus.unhealthy('stalled')
 * @category constructors
 * @since 0.1.0
 */
export const HealthStatus = { healthy, degraded, unhealthy } as const

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Is `u` a {@link HealthStatus}? Used on values returned by `health()` hooks, which JavaScript callers
 * can get wrong.
 *
 * @param u - any value
 * @returns `true` for `{ _tag: 'Healthy' }` and for `Degraded` / `Unhealthy` objects with a string `reason`
 * @example
 * import { isHealthStatus } from 'cano-rx'
 * isHealthStatus({ _tag: 'Degraded', reason: 'slow' }) // true
 * isHealthStatus('ok') // false
 * @category guards
 * @since 0.1.0
 */
export const isHealthStatus = (u: unknown): u is HealthStatus => {
  if (typeof u !== 'object' || u === null) return false
  const tag = (u as { readonly _tag?: unknown })._tag
  if (tag === 'Healthy') return true
  return (tag === 'Degraded' || tag === 'Unhealthy') && typeof (u as { readonly reason?: unknown }).reason === 'string'
}

/**
 * Is the status `Healthy`? `Degraded` is not healthy (cano's `is_healthy`).
 *
 * @param status - a health status
 * @returns `true` only for `Healthy`
 * @example
 * import { HealthStatus, isHealthy } from 'cano-rx'
 * isHealthy(HealthStatus.healthy) // true
 * isHealthy(HealthStatus.degraded('slow')) // false
 * @category guards
 * @since 0.1.0
 */
export const isHealthy = (status: HealthStatus): status is Healthy => status._tag === 'Healthy'

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Exhaustive pattern match over a {@link HealthStatus}.
 *
 * @param cases - one function per `_tag`; `Degraded` and `Unhealthy` receive the reason
 * @returns a function from status to the case's result
 * @example
 * import { matchHealthStatus } from 'cano-rx'
 * const httpStatus = matchHealthStatus({ Healthy: () => 200, Degraded: () => 200, Unhealthy: () => 503 })
 * @category destructors
 * @since 0.1.0
 */
export const matchHealthStatus =
  <B>(cases: {
    readonly Healthy: () => B
    readonly Degraded: (reason: string) => B
    readonly Unhealthy: (reason: string) => B
  }) =>
  (status: HealthStatus): B => {
    switch (status._tag) {
      case 'Healthy':
        return cases.Healthy()
      case 'Degraded':
        return cases.Degraded(status.reason)
      case 'Unhealthy':
        return cases.Unhealthy(status.reason)
    }
  }

/**
 * The severity of a status: `Healthy` 0, `Degraded` 1, `Unhealthy` 2 (cano's order).
 *
 * @param status - a health status
 * @returns 0, 1 or 2
 * @example
 * import { HealthStatus, severityOf } from 'cano-rx'
 * severityOf(HealthStatus.unhealthy('down')) // 2
 * @category destructors
 * @since 0.1.0
 */
export const severityOf: (status: HealthStatus) => 0 | 1 | 2 = matchHealthStatus<0 | 1 | 2>({
  Healthy: () => 0,
  Degraded: () => 1,
  Unhealthy: () => 2,
})

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * The worst of several statuses. On a tie the first one wins (so its reason is the one reported);
 * no statuses at all is `Healthy`. This is the fold behind `Resources.aggregateHealth()`.
 *
 * @param statuses - any iterable of statuses, e.g. `checkAllHealth()`'s `.values()`
 * @returns the first status of the highest severity, or `healthy`
 * @example
 * import { HealthStatus, worstHealth } from 'cano-rx'
 * worstHealth([HealthStatus.healthy, HealthStatus.degraded('a'), HealthStatus.degraded('b')]) // { _tag: 'Degraded', reason: 'a' }
 * worstHealth([]) // { _tag: 'Healthy' }
 * @see {@link severityOf}
 * @category combinators
 * @since 0.1.0
 */
export const worstHealth = (statuses: Iterable<HealthStatus>): HealthStatus => {
  let worst: HealthStatus = healthy
  for (const s of statuses) if (severityOf(s) > severityOf(worst)) worst = s
  return worst
}
