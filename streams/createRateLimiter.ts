/**
 * The rate limiters (cano 0.14 `rate_limit.rs`): a token bucket ({@link createRateLimiter}), a fixed window
 * ({@link createWindowedRateLimiter}) and a multi-tier limiter ({@link createMultiRateLimiter}). The model,
 * the bucket and window arithmetic and the validation are pure and live in src/RateLimiter.ts (read its
 * module comment for the rules); this module holds the state of each limiter and its queue of waiters.
 *
 * One injected RxJS scheduler (default `asyncScheduler`, whose clock is `Date.now()`) is the clock and
 * what `acquire` waits on: while callers wait, one wake-up for the head of the queue is scheduled on it,
 * and it is cancelled when the head's signal aborts. There is no other timer.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs'

import type { RateLimited } from '../codecs/CanoError.js'
import { cancelledError, CanoFailure, rateLimitedError } from '../src/CanoError.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import {
  type AcquireOptions,
  costError,
  type LimiterRuntimeOptions,
  type LimiterSpec,
  multiRateLimiterSpec,
  type RateLimiter,
  type RateLimiterOptions,
  rateLimiterSpec,
  type RateTier,
  type RateTierStatus,
  tierAt,
  tierStart,
  type TierState,
  tierTake,
  tierWaitMs,
  wholeMs,
  type WindowedRateLimiterOptions,
  windowedRateLimiterSpec,
} from '../src/RateLimiter.js'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A token bucket: `capacity = tokens + burst` tokens (with `ratePerSec`, `tokens = ratePerSec` and
 * `perMs = 1000`), full at creation, refilled lazily at `tokens / perMs` per ms. Over a long run it
 * admits `capacity + rate * elapsed` calls of cost 1.
 *
 * @param options the rate (`ratePerSec`, or `tokens` per `perMs`), `burst` (default 0), the tier `name`
 *   (default `'default'`), the `scheduler` (the clock, and what `acquire` waits on; default
 *   `asyncScheduler`), and `waits` (default `true`)
 * @returns a limiter
 * @throws `CanoFailure(Configuration)` naming the field and value: a rate that is not a positive finite
 *   number, a period outside (0, 2^31-1], a negative or non-finite burst, both `ratePerSec` and
 *   `tokens`/`perMs`, or a capacity below 1 (for 0.5 calls per second write `{ tokens: 1, perMs: 2_000 }`)
 * @example
 * import { createRateLimiter } from 'cano-rx'
 * declare const callApi: () => Promise<void>
 * const limiter = createRateLimiter({ ratePerSec: 10, burst: 5 }) // 15 at once, then 10 per second
 * for (let i = 0; i < 100; i++) {
 *   await limiter.acquire()
 *   await callApi()
 * }
 * @category constructors
 * @since 0.1.0
 */
export const createRateLimiter = (options: RateLimiterOptions): RateLimiter =>
  new TieredLimiter(rateLimiterSpec(options), options)

/**
 * A fixed-window limiter: at most `limit` per window of `windowMs`, windows aligned on multiples of
 * `windowMs` of the clock. Simpler than a bucket, but a burst can straddle a boundary (up to `2 * limit`
 * within `windowMs`).
 *
 * @param options `limit`, `windowMs`, the tier `name` (default `'default'`), `scheduler`, `waits`
 * @returns a limiter
 * @throws `CanoFailure(Configuration)` naming the field and value: a `limit` that is not an integer in
 *   [1, 2^31-1], a `windowMs` outside (0, 2^31-1]
 * @example
 * import { createWindowedRateLimiter } from 'cano-rx'
 * const limiter = createWindowedRateLimiter({ limit: 100, windowMs: 60_000, waits: false })
 * const admitted = limiter.tryAcquire()
 * @category constructors
 * @since 0.1.0
 */
export const createWindowedRateLimiter = (options: WindowedRateLimiterOptions): RateLimiter =>
  new TieredLimiter(windowedRateLimiterSpec(options), options)

/**
 * A limiter that enforces several tiers at once (for example 10 per second and 500 per minute): a call
 * is admitted only when every tier can serve it, and then takes `cost * weight` from each (all or none).
 * A `RateLimited` rejection names the tier with the longest wait.
 *
 * @param tiers one or more tiers with unique names
 * @param options `scheduler`, `waits`
 * @returns a limiter
 * @throws `CanoFailure(Configuration)` for an empty list, duplicate names, or an invalid tier (naming the
 *   tier, the field and the value)
 * @example
 * import { createMultiRateLimiter } from 'cano-rx'
 * const limiter = createMultiRateLimiter([
 *   { name: 'per-second', limit: 10, perMs: 1_000 },
 *   { name: 'per-minute', limit: 500, perMs: 60_000 },
 *   { name: 'per-day', limit: 10_000, perMs: 86_400_000, kind: 'fixedWindow' },
 * ])
 * await limiter.acquire({ cost: 2 })
 * @category constructors
 * @since 0.1.0
 */
export const createMultiRateLimiter = (
  tiers: ReadonlyArray<RateTier>,
  options: LimiterRuntimeOptions = {},
): RateLimiter => new TieredLimiter(multiRateLimiterSpec(tiers), options)

// -------------------------------------------------------------------------------------
// internal
// -------------------------------------------------------------------------------------

/** @internal A caller waiting in `acquire`. */
interface Waiter {
  readonly cost: number
  readonly signal: AbortSignal | undefined
  readonly resolve: () => void
  readonly onAbort: () => void
}

const RIGHT_VOID: E.Either<never, void> = /*#__PURE__*/ Object.freeze(E.right(undefined))
const RESOLVED: Promise<void> = /*#__PURE__*/ Promise.resolve()

/** @internal One implementation for the three factories: a list of tiers and a FIFO queue of waiters. */
class TieredLimiter implements RateLimiter {
  readonly waits: boolean
  readonly #limiter: LimiterSpec
  readonly #specs: LimiterSpec['specs']
  readonly #states: TierState[]
  readonly #scheduler: SchedulerLike
  readonly #queue: Waiter[] = []
  #queuedCost = 0
  /** The wake-up scheduled for the queue head, if any. */
  #wake: Subscription | undefined

  /** The scheduled work of a wake-up (one function for every limiter: the limiter is the action's state). */
  static #wakeUp(this: SchedulerAction<TieredLimiter>, limiter: TieredLimiter | undefined): void {
    if (limiter !== undefined) limiter.#pump()
  }

  constructor(limiter: LimiterSpec, runtime: LimiterRuntimeOptions) {
    this.#limiter = limiter
    this.#specs = limiter.specs
    this.#scheduler = runtime.scheduler ?? asyncScheduler
    this.waits = runtime.waits ?? true
    const now = this.#scheduler.now()
    this.#states = limiter.specs.map((spec) => tierStart(spec, now))
  }

  get waiting(): number {
    return this.#queue.length
  }

  status(): ReadonlyArray<RateTierStatus> {
    this.#refresh(this.#scheduler.now())
    return this.#specs.map((spec, i) => ({
      name: spec.name,
      available: this.#states[i]?.available ?? 0,
      capacity: spec.capacity,
    }))
  }

  tryAcquire(cost: number = 1): E.Either<RateLimited, void> {
    const bad = costError(this.#limiter, cost)
    if (bad !== undefined) throw bad
    const now = this.#scheduler.now()
    this.#refresh(now)
    if (this.#queue.length === 0 && this.#waitMs(cost, now) === 0) {
      this.#take(cost)
      return RIGHT_VOID
    }
    return E.left(this.#limited(this.#queuedCost + cost, now))
  }

  acquire(options: AcquireOptions = {}): Promise<void> {
    const { signal, cost = 1 } = options
    const bad = costError(this.#limiter, cost)
    if (bad !== undefined) return Promise.reject(bad)
    if (signal?.aborted === true) return Promise.reject(new CanoFailure(cancelledError()))
    if (this.#queue.length === 0) {
      const now = this.#scheduler.now()
      this.#refresh(now)
      if (this.#waitMs(cost, now) === 0) {
        this.#take(cost)
        return RESOLVED
      }
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        cost,
        signal,
        resolve,
        onAbort: () => {
          const i = this.#queue.indexOf(waiter)
          if (i < 0) return
          this.#queue.splice(i, 1)
          this.#queuedCost = this.#queue.length === 0 ? 0 : this.#queuedCost - cost
          reject(new CanoFailure(cancelledError()))
          if (i === 0) {
            // the wake-up was the head's: the new head may be served now, or needs its own
            this.#wake?.unsubscribe()
            this.#wake = undefined
            this.#pump()
          }
        },
      }
      this.#queue.push(waiter)
      this.#queuedCost += cost
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      if (this.#wake === undefined) this.#pump()
    })
  }

  /** Serves the queue in order while the head's tokens are there, then schedules one wake-up for the head. */
  #pump(): void {
    this.#wake = undefined
    for (;;) {
      const head = this.#queue[0]
      if (head === undefined) return
      const now = this.#scheduler.now()
      this.#refresh(now)
      const wait = this.#waitMs(head.cost, now)
      if (wait > 0) {
        // Whole ms, like a timer; the refill is continuous, so rounding up loses no throughput.
        this.#wake = this.#scheduler.schedule(TieredLimiter.#wakeUp, Math.min(wholeMs(wait), MAX_TIMER_MS), this)
        return
      }
      this.#take(head.cost)
      this.#queue.shift()
      this.#queuedCost = this.#queue.length === 0 ? 0 : this.#queuedCost - head.cost
      head.signal?.removeEventListener('abort', head.onAbort)
      head.resolve()
    }
  }

  #refresh(now: number): void {
    const specs = this.#specs
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) this.#states[i] = tierAt(spec, state, now)
    }
  }

  /** The longest wait over the tiers for `cost` (0 when every tier can serve it now). */
  #waitMs(cost: number, now: number): number {
    let wait = 0
    const specs = this.#specs
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) {
        wait = Math.max(wait, tierWaitMs(spec, state, cost * spec.weight, now))
      }
    }
    return wait
  }

  #take(cost: number): void {
    const specs = this.#specs
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) this.#states[i] = tierTake(state, cost * spec.weight)
    }
  }

  /** The `RateLimited` error for `amount` (queued callers included): the tier with the longest wait. */
  #limited(amount: number, now: number): RateLimited {
    const specs = this.#specs
    let worst = specs[0]
    let wait = 0
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]
      const state = this.#states[i]
      if (spec === undefined || state === undefined) continue
      const w = tierWaitMs(spec, state, amount * spec.weight, now)
      if (w > wait) {
        wait = w
        worst = spec
      }
    }
    return rateLimitedError(worst?.name ?? 'default', wholeMs(wait))
  }
}
