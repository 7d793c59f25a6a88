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
import { cancelledError, CanoFailure, configurationError, rateLimitedError } from '../src/CanoError.js'
import { follow, unfollow } from '../src/internal/abortFollowers.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import {
  type AcquireOptions,
  invalidFailure,
  type LimiterRuntimeOptions,
  type LimiterSpec,
  multiRateLimiterSpec,
  type RateLimiter,
  type RateLimiterOptions,
  rateLimiterSpec,
  type RateRequest,
  type RateReservation,
  type RateReservationStatus,
  type RateTier,
  type RateTierStatus,
  type ResolvedRequest,
  resolveRequest,
  type ScopedLimiterOptions,
  tierAt,
  tierGiveBack,
  type TierSpec,
  tierStart,
  type TierState,
  tierTake,
  tierWaitMs,
  wholeMs,
  type WindowedRateLimiterOptions,
  windowedRateLimiterSpec,
} from '../src/RateLimiter.js'
import { isScheduler, SCHEDULER_RULE } from './internal/isScheduler.js'

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
 *   `tokens`/`perMs`, a capacity below 1 (for 0.5 calls per second write `{ tokens: 1, perMs: 2_000 }`)
 *   or not finite, a refill rate per ms that is not a positive finite number, a `scheduler` that is not
 *   an RxJS scheduler, or a `waits` that is not a boolean
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
  limiterOf(rateLimiterSpec(options), options)

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
  limiterOf(windowedRateLimiterSpec(options), options)

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
): RateLimiter => limiterOf(multiRateLimiterSpec(tiers), options)

// -------------------------------------------------------------------------------------
// internal
// -------------------------------------------------------------------------------------

/** @internal A caller waiting in `acquire` or `reserve`. */
interface Waiter {
  readonly request: ResolvedRequest
  readonly signal: AbortSignal | undefined
  /** Called once the tokens were taken for it. */
  readonly grant: () => void
  /** Its signal aborted (it follows the signal: one listener however many callers share it). */
  readonly handleEvent: () => void
}

const RIGHT_VOID: E.Either<never, void> = /*#__PURE__*/ Object.freeze(E.right(undefined))
const RESOLVED: Promise<void> = /*#__PURE__*/ Promise.resolve()
const noop = (): void => undefined
const NO_WINDOWS: ReadonlyArray<number> = []

/** @internal A Promise rejected with a caught value as it is (`Promise.reject` wants an `Error`). */
const rejectedWith = (error: unknown): Promise<never> =>
  new Promise<never>(() => {
    throw error
  })

/**
 * @internal A limiter over `spec`: its calls default to cost 1 on every tier. Throws a
 * `CanoFailure(Configuration)` naming `options`, `scheduler` or `waits` when the runtime options are invalid.
 */
const limiterOf = (spec: LimiterSpec, runtime: LimiterRuntimeOptions): RateLimiter => {
  // JavaScript callers: checked here rather than failing later (a scheduler without `now`), or in workflow()
  const given: unknown = runtime
  if (typeof given !== 'object' || given === null)
    throw invalidFailure(spec.where, 'options', 'an object { scheduler?, waits? }', given)
  const scheduler: unknown = runtime.scheduler
  if (scheduler !== undefined && !isScheduler(scheduler))
    throw invalidFailure(spec.where, 'scheduler', SCHEDULER_RULE, scheduler)
  const waits: unknown = runtime.waits ?? true
  if (typeof waits !== 'boolean') throw invalidFailure(spec.where, 'waits', 'a boolean', waits)
  const core = new TieredLimiter(spec, runtime)
  return new Limiter(core, core.defaults, waits)
}

/** @internal `CanoFailure(Configuration)` for a reservation settled twice. */
const settledTwice = (action: string, status: RateReservationStatus): CanoFailure =>
  new CanoFailure(
    configurationError(
      `rate limiter reservation: ${action} called on a reservation already ${status === 'Committed' ? 'committed' : 'refunded'} (settle a reservation once)`,
    ),
  )

/** @internal The reservation handed out by `tryReserve` / `reserve`. */
class Reservation implements RateReservation {
  #status: RateReservationStatus = 'Reserved'
  constructor(
    private readonly limiter: TieredLimiter,
    private readonly request: ResolvedRequest,
    /**
     * Each used tier's `atMs` when the tokens were taken (a window refunds only into the same window);
     * empty when the limiter has no window.
     */
    private readonly takenAt: ReadonlyArray<number>,
  ) {}
  get cost(): number {
    return this.request.cost
  }
  get tiers(): ReadonlyArray<string> {
    return this.limiter.tierNames(this.request.tiers)
  }
  get status(): RateReservationStatus {
    return this.#status
  }
  commit(): void {
    if (this.#status !== 'Reserved') throw settledTwice('commit()', this.#status)
    this.#status = 'Committed'
  }
  refund(): void {
    if (this.#status !== 'Reserved') throw settledTwice('refund()', this.#status)
    this.#status = 'Refunded'
    this.limiter.refund(this.request, this.takenAt)
  }
}

/**
 * @internal One implementation for the three factories: a list of tiers and a queue of waiters, served
 * in order among the waiters that share a tier.
 */
class TieredLimiter {
  readonly #limiter: LimiterSpec
  readonly #specs: LimiterSpec['specs']
  readonly #states: TierState[]
  readonly #scheduler: SchedulerLike
  /** A call of cost 1 on every tier (valid by construction: a tier's capacity is at least its weight). */
  readonly defaults: ResolvedRequest
  readonly #queue: Waiter[] = []
  /** Per tier: waiters that use it, and the weighted amount they wait for. */
  readonly #queuedCount: number[]
  readonly #queuedAmount: number[]
  /** Per tier: scratch flags of `#pump` (a tier held by an earlier waiter). */
  readonly #blocked: boolean[]
  /** The wake-up scheduled for the earliest waiter that can be served, if any. */
  #wake: Subscription | undefined
  /** Has a fixed-window tier (whose refunds depend on the window a reservation was taken in). */
  readonly #windowed: boolean

  /** The scheduled work of a wake-up (one function for every limiter: the limiter is the action's state). */
  static #wakeUp(this: SchedulerAction<TieredLimiter>, limiter: TieredLimiter | undefined): void {
    if (limiter !== undefined) limiter.#pump()
  }

  constructor(limiter: LimiterSpec, runtime: LimiterRuntimeOptions) {
    this.#limiter = limiter
    this.#specs = limiter.specs
    this.#scheduler = runtime.scheduler ?? asyncScheduler
    this.defaults = { cost: 1, tiers: limiter.all }
    const now = this.#scheduler.now()
    this.#states = limiter.specs.map((spec) => tierStart(spec, now))
    this.#queuedCount = limiter.specs.map(() => 0)
    this.#queuedAmount = limiter.specs.map(() => 0)
    this.#blocked = limiter.specs.map(() => false)
    this.#windowed = limiter.specs.some((spec) => spec.kind === 'fixedWindow')
  }

  get waiting(): number {
    return this.#queue.length
  }

  /** `CanoFailure(Configuration)` naming this limiter, the field, the rule and the value. */
  invalid(field: string, rule: string, value: unknown): CanoFailure {
    return invalidFailure(this.#limiter.where, field, rule, value)
  }

  /** `request` checked and completed from `defaults`; throws the `Configuration` failure. */
  resolve(request: unknown, defaults: ResolvedRequest): ResolvedRequest {
    const r = resolveRequest(this.#limiter, request, defaults)
    if (r instanceof CanoFailure) throw r
    return r
  }

  tierNames(tiers: ReadonlyArray<number>): ReadonlyArray<string> {
    return Object.freeze(tiers.map((i) => this.#specs[i]?.name ?? ''))
  }

  status(): ReadonlyArray<RateTierStatus> {
    this.#refresh(this.#scheduler.now(), this.#limiter.all)
    return this.#specs.map((spec, i) => this.#statusOf(spec, i))
  }

  tier(name: unknown): RateTierStatus {
    const names = (): string => this.#specs.map((s) => JSON.stringify(s.name)).join(', ')
    let i: number | undefined
    if (name === undefined) {
      if (this.#specs.length !== 1)
        throw invalidFailure(this.#limiter.where, 'tier', `one of the tier names (${names()})`, name)
      i = 0
    } else i = typeof name === 'string' ? this.#limiter.index.get(name) : undefined
    const spec = i === undefined ? undefined : this.#specs[i]
    if (i === undefined || spec === undefined)
      throw invalidFailure(this.#limiter.where, 'tier', `one of the tier names (${names()})`, name)
    this.#refresh(this.#scheduler.now(), [i])
    return this.#statusOf(spec, i)
  }

  /**
   * `true` when the tokens were taken: no waiter uses any of the request's tiers, and each can serve it
   * now (each tier brought forward to the clock on the way). One pass to check, one to take: the hot path.
   */
  take(request: ResolvedRequest): boolean {
    const now = this.#scheduler.now()
    const { tiers, cost } = request
    const specs = this.#specs
    const states = this.#states
    const queued = this.#queuedCount
    for (let k = 0; k < tiers.length; k++) {
      const i = tiers[k] ?? 0
      const spec = specs[i]
      const state = states[i]
      if (spec === undefined || state === undefined) continue
      if (queued[i] !== 0) return false
      const current = tierAt(spec, state, now)
      if (current !== state) states[i] = current
      if (tierWaitMs(spec, current, cost * spec.weight, now) > 0) return false
    }
    for (let k = 0; k < tiers.length; k++) {
      const i = tiers[k] ?? 0
      const spec = specs[i]
      const state = states[i]
      if (spec !== undefined && state !== undefined) states[i] = tierTake(state, cost * spec.weight)
    }
    return true
  }

  /** The `RateLimited` error of a call that could not take its tokens now. */
  limited(request: ResolvedRequest): RateLimited {
    const now = this.#scheduler.now()
    this.#refresh(now, request.tiers)
    const { tier, waitMs } = this.#longestWait(request, now)
    return rateLimitedError(tier, wholeMs(waitMs))
  }

  timeUntil(request: ResolvedRequest): number {
    const now = this.#scheduler.now()
    this.#refresh(now, request.tiers)
    if (this.#free(request.tiers) && this.#waitMs(request, now) === 0) return 0
    return wholeMs(this.#longestWait(request, now).waitMs)
  }

  /** A reservation of tokens just taken for `request`. */
  reservation(request: ResolvedRequest): RateReservation {
    const takenAt = this.#windowed ? request.tiers.map((i) => this.#states[i]?.atMs ?? 0) : NO_WINDOWS
    return new Reservation(this, request, takenAt)
  }

  /** Gives a reservation's tokens back, then serves whoever they let through. */
  refund(request: ResolvedRequest, takenAt: ReadonlyArray<number>): void {
    const now = this.#scheduler.now()
    this.#refresh(now, request.tiers)
    request.tiers.forEach((i, k) => {
      const spec = this.#specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) {
        const back = tierGiveBack(spec, state, request.cost * spec.weight, takenAt[k] ?? Number.NaN)
        if (back !== state) this.#states[i] = back
      }
    })
    if (this.#queue.length > 0) {
      this.#wake?.unsubscribe()
      this.#pump()
    }
  }

  /** Queues a caller (the tokens were not there, or earlier callers wait on its tiers). */
  enqueue<A>(request: ResolvedRequest, signal: AbortSignal | undefined, granted: () => A): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      const waiter: Waiter = {
        request,
        signal,
        grant: () => resolve(granted()),
        handleEvent: () => {
          const i = this.#queue.indexOf(waiter)
          if (i < 0) return
          this.#queue.splice(i, 1)
          this.#unqueue(request)
          reject(new CanoFailure(cancelledError()))
          // the wake-up may have been this waiter's: whoever it held up may be served now, or needs its own
          this.#wake?.unsubscribe()
          this.#pump()
        },
      }
      // at the head of each of its tiers, it may need a wake-up sooner than the one scheduled
      const head = this.#free(request.tiers)
      this.#queue.push(waiter)
      for (const t of request.tiers) {
        const spec = this.#specs[t]
        this.#queuedCount[t] = (this.#queuedCount[t] ?? 0) + 1
        this.#queuedAmount[t] = (this.#queuedAmount[t] ?? 0) + request.cost * (spec?.weight ?? 1)
      }
      if (signal !== undefined) follow(signal, waiter)
      if (head || this.#wake === undefined) {
        this.#wake?.unsubscribe()
        this.#pump()
      }
    })
  }

  /**
   * Serves every waiter whose tokens are there and that no earlier waiter on one of its tiers holds up,
   * then schedules one wake-up for the soonest of the waiters left at the head of their tiers.
   */
  #pump(): void {
    this.#wake = undefined
    const queue = this.#queue
    if (queue.length === 0) return
    const blocked = this.#blocked
    blocked.fill(false)
    const now = this.#scheduler.now()
    this.#refresh(now, this.#limiter.all)
    let soonest = Number.POSITIVE_INFINITY
    for (let k = 0; k < queue.length;) {
      const waiter = queue[k]
      if (waiter === undefined) break
      const { request } = waiter
      let held = false
      for (const t of request.tiers) if (blocked[t] === true) held = true
      const wait = held ? 0 : this.#waitMs(request, now)
      if (held || wait > 0) {
        if (!held) soonest = Math.min(soonest, wait)
        for (const t of request.tiers) blocked[t] = true
        k++
        continue
      }
      this.#take(request)
      queue.splice(k, 1)
      this.#unqueue(request)
      if (waiter.signal !== undefined) unfollow(waiter.signal, waiter)
      waiter.grant()
    }
    // Whole ms, like a timer; the refill is continuous, so rounding up loses no throughput.
    if (soonest !== Number.POSITIVE_INFINITY)
      this.#wake = this.#scheduler.schedule(TieredLimiter.#wakeUp, Math.min(wholeMs(soonest), MAX_TIMER_MS), this)
  }

  #unqueue(request: ResolvedRequest): void {
    for (const t of request.tiers) {
      const count = (this.#queuedCount[t] ?? 1) - 1
      this.#queuedCount[t] = count
      // back to exactly 0 when nobody waits on the tier (no float residue)
      const spec = this.#specs[t]
      this.#queuedAmount[t] = count === 0 ? 0 : (this.#queuedAmount[t] ?? 0) - request.cost * (spec?.weight ?? 1)
    }
  }

  /** No waiter uses any of `tiers`. */
  #free(tiers: ReadonlyArray<number>): boolean {
    for (let k = 0; k < tiers.length; k++) if (this.#queuedCount[tiers[k] ?? 0] !== 0) return false
    return true
  }

  #statusOf(spec: TierSpec, i: number): RateTierStatus {
    const state = this.#states[i]
    const remaining = state?.available ?? 0
    return {
      name: spec.name,
      kind: spec.kind,
      available: remaining,
      capacity: spec.capacity,
      used: Math.max(0, spec.capacity - remaining),
      remaining,
      resetsAt: spec.kind === 'fixedWindow' && state !== undefined ? state.atMs + spec.perMs : undefined,
    }
  }

  #refresh(now: number, tiers: ReadonlyArray<number>): void {
    const specs = this.#specs
    for (let k = 0; k < tiers.length; k++) {
      const i = tiers[k] ?? 0
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) this.#states[i] = tierAt(spec, state, now)
    }
  }

  /** The longest wait over the request's tiers (0 when every one can serve it now). */
  #waitMs(request: ResolvedRequest, now: number): number {
    let wait = 0
    const specs = this.#specs
    const { tiers } = request
    for (let k = 0; k < tiers.length; k++) {
      const i = tiers[k] ?? 0
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) {
        wait = Math.max(wait, tierWaitMs(spec, state, request.cost * spec.weight, now))
      }
    }
    return wait
  }

  #take(request: ResolvedRequest): void {
    const specs = this.#specs
    const { tiers } = request
    for (let k = 0; k < tiers.length; k++) {
      const i = tiers[k] ?? 0
      const spec = specs[i]
      const state = this.#states[i]
      if (spec !== undefined && state !== undefined) this.#states[i] = tierTake(state, request.cost * spec.weight)
    }
  }

  /** The tier with the longest wait for the request behind the callers already waiting on it. */
  #longestWait(request: ResolvedRequest, now: number): { readonly tier: string; readonly waitMs: number } {
    const specs = this.#specs
    let worst = specs[request.tiers[0] ?? 0]
    let wait = 0
    for (const i of request.tiers) {
      const spec = specs[i]
      const state = this.#states[i]
      if (spec === undefined || state === undefined) continue
      const w = tierWaitMs(spec, state, (this.#queuedAmount[i] ?? 0) + request.cost * spec.weight, now)
      if (w > wait) {
        wait = w
        worst = spec
      }
    }
    return { tier: worst?.name ?? 'default', waitMs: wait }
  }
}

/**
 * @internal What every limiter of this module is: a {@link TieredLimiter} and the request its calls
 * default to (cost 1 on every tier, or a scoped view's).
 */
class Limiter implements RateLimiter {
  readonly waits: boolean
  constructor(
    private readonly core: TieredLimiter,
    private readonly defaults: ResolvedRequest,
    waits: boolean,
  ) {
    this.waits = waits
  }

  get waiting(): number {
    return this.core.waiting
  }

  status(): ReadonlyArray<RateTierStatus> {
    return this.core.status()
  }

  tier(name?: string): RateTierStatus {
    return this.core.tier(name)
  }

  tryAcquire(request?: number | RateRequest): E.Either<RateLimited, void> {
    const r = this.core.resolve(request, this.defaults)
    return this.core.take(r) ? RIGHT_VOID : E.left(this.core.limited(r))
  }

  tryReserve(request?: number | RateRequest): E.Either<RateLimited, RateReservation> {
    const r = this.core.resolve(request, this.defaults)
    return this.core.take(r) ? E.right(this.core.reservation(r)) : E.left(this.core.limited(r))
  }

  acquire(options: AcquireOptions = {}): Promise<void> {
    const r = this.#check(options)
    if (r instanceof Promise) return r
    if (this.core.take(r)) return RESOLVED
    return this.core.enqueue(r, options.signal, noop)
  }

  reserve(options: AcquireOptions = {}): Promise<RateReservation> {
    const r = this.#check(options)
    if (r instanceof Promise) return r
    if (this.core.take(r)) return Promise.resolve(this.core.reservation(r))
    return this.core.enqueue(r, options.signal, () => this.core.reservation(r))
  }

  timeUntil(request?: number | RateRequest): number {
    return this.core.timeUntil(this.core.resolve(request, this.defaults))
  }

  scoped(options: ScopedLimiterOptions): RateLimiter {
    if (typeof options !== 'object' || (options as unknown) === null)
      throw this.core.invalid('scoped options', 'an object { cost?, tiers?, waits? }', options)
    const waits: unknown = options.waits ?? this.waits
    if (typeof waits !== 'boolean') throw this.core.invalid('scoped waits', 'a boolean', waits)
    return new Limiter(this.core, this.core.resolve({ cost: options.cost, tiers: options.tiers }, this.defaults), waits)
  }

  /** The request of `acquire` / `reserve`, or the Promise it rejects with (invalid, or already aborted). */
  #check(options: AcquireOptions): ResolvedRequest | Promise<never> {
    let r: ResolvedRequest
    try {
      r = this.core.resolve(options, this.defaults)
    } catch (e: unknown) {
      return rejectedWith(e)
    }
    if (options.signal?.aborted === true) return Promise.reject(new CanoFailure(cancelledError()))
    return r
  }
}
