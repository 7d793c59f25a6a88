/**
 * `createCircuitBreaker`: the stateful circuit breaker (cano 0.12 `circuit.rs`), and
 * `createSamplingCircuitBreaker`, the same breaker under a failure-rate policy (cockatiel's
 * `SamplingBreaker`). The model, the state
 * machine {@link circuitTransition}, the snapshot conversions and the policy validation are pure and live
 * in src/CircuitBreaker.ts (read its module comment for the states and the rules); this module holds one
 * state per breaker, reads time from an injected RxJS scheduler (default `asyncScheduler`, whose clock is
 * `Date.now()`) and publishes transitions on `state$`. The breaker sets no timer: it only reads the clock.
 *
 * A sampling breaker is the same object with a window: a ring of `buckets` counters, each the successes
 * and failures of one slice of `windowMs / buckets` on the clock. A closed-state outcome is counted in the
 * slice of its clock reading (reusing the slot of a slice that fell out of the window); a failure then
 * sums the slices still in the window and opens the breaker when {@link samplingTrips} says so. Open and
 * half-open run the consecutive breaker's transitions; the window is emptied whenever the breaker leaves
 * the closed state, so each closed period starts afresh.
 *
 * JavaScript has no destructors, so a permit cannot settle itself when it goes out of scope the way
 * cano's RAII permit does. Use `CircuitBreaker.withPermit`, which settles on return and on throw.
 * With the explicit API, settle every permit with `success()` or `failure()` (in a `finally` if need be);
 * as a safety net, a half-open trial permit that is garbage-collected unsettled is counted as a failure
 * (a `FinalizationRegistry`), so a lost trial cannot hold a slot forever. Closed-state permits are not
 * tracked that way (it would cost more than the call it guards): a lost one is simply not counted.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike } from 'rxjs'

import type { CircuitOpen } from '../codecs/CanoError.js'
import type { CircuitSample, CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
import { CanoFailure, configurationError } from '../src/CanoError.js'
import {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitPolicy,
  type CircuitState,
  type CircuitTransition,
  circuitTransition,
  type CircuitWindowStats,
  decodeCircuitSnapshot,
  fromCircuitSnapshot,
  initialCircuitState,
  isCircuitRejection,
  resolveCircuitPolicy,
  resolveSamplingCircuitPolicy,
  sampleBucketOf,
  sampleBucketStart,
  type SamplingCircuitBreaker,
  type SamplingCircuitPolicy,
  samplingTransitionPolicy,
  samplingTrips,
  toCircuitSnapshot,
  tripped,
} from '../src/CircuitBreaker.js'
import { describeValue } from '../src/internal/describeValue.js'
import { isScheduler, SCHEDULER_RULE } from './internal/isScheduler.js'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Creates a circuit breaker (the state machine is {@link circuitTransition}). `policy` fields default to {@link defaultCircuitPolicy} (5 / 30 000 ms / 1).
 *
 * @param policy the policy; missing fields take their defaults
 * @param options the `scheduler` whose clock the breaker reads (default `asyncScheduler`: `Date.now()`) and
 *   an optional snapshot to start from
 * @returns a breaker, closed at epoch 0 unless a snapshot says otherwise
 * @throws `CanoFailure` with a `Configuration` error naming the field and value when the policy is invalid
 *   (not an object, 0, negative, NaN, non-integer counts, values above 2^31-1) or `options.scheduler` is
 *   not an RxJS scheduler, or with a `DecodeFailed` error when `options.snapshot` is not a valid
 *   {@link CircuitSnapshot}
 * @example
 * import { createCircuitBreaker, isCanoFailure } from 'cano-rx'
 * declare const charge: (cents: number) => Promise<string>
 * declare const saved: string | undefined // JSON.stringify(breaker) from the last run
 * const breaker = createCircuitBreaker(
 *   { failureThreshold: 3, resetTimeoutMs: 10_000 },
 *   saved === undefined ? {} : { snapshot: JSON.parse(saved) },
 * )
 * try {
 *   const id = await breaker.withPermit(() => charge(1_000))
 * } catch (e) {
 *   if (isCanoFailure(e) && e.error._tag === 'CircuitOpen') console.log('failing fast:', e.error.message)
 * }
 * @category constructors
 * @since 0.1.0
 */
export const createCircuitBreaker = (
  policy: Partial<CircuitPolicy> = {},
  options: CircuitBreakerOptions = {},
): CircuitBreaker => {
  const resolved: CircuitPolicy = resolveCircuitPolicy(policy)
  const scheduler = schedulerOf('circuit breaker', options)
  const initial = initialCircuitState(options.snapshot)
  return new Breaker(resolved, resolved, scheduler, initial)
}

/**
 * Creates a sampling circuit breaker: it opens when at least `failureRate` of the calls in the last
 * `windowMs` failed, once the window holds `minimumCalls` calls (cockatiel's `SamplingBreaker`); open and
 * half-open behave as under {@link createCircuitBreaker}, with the same `state$`, epochs and snapshots.
 * `policy` fields default to {@link defaultSamplingCircuitPolicy} (0.5 / 10 000 ms / 20 calls / 10 buckets
 * / 30 000 ms / 1).
 *
 * ```text
 * window 1 000 ms in 4 buckets of 250 ms, failureRate 0.5, minimumCalls 4
 * t:      0    100   200   300   1 150  1 200
 * call:   ok   ok    ok    fail  fail   fail
 * window: 1/0  2/0   3/0   3/1   1/2    1/3 -> 3 of 4 failed: Open (the calls of 0-250 ms dropped out at 1 000)
 * ```
 *
 * @param policy the policy; missing fields take their defaults
 * @param options the `scheduler` whose clock the breaker reads (default `asyncScheduler`: `Date.now()`) and
 *   an optional snapshot to start from (any {@link CircuitSnapshot}: one without `samples` starts with an
 *   empty window)
 * @returns a breaker, closed at epoch 0 with an empty window unless a snapshot says otherwise
 * @throws `CanoFailure` with a `Configuration` error naming the field and value when the policy is invalid
 *   (a `failureRate` outside (0, 1], `buckets` outside [1, 1000], 0, negative, NaN or non-integer counts,
 *   durations outside (0, 2^31-1]), or with a `DecodeFailed` error when `options.snapshot` is invalid
 * @example
 * import { createSamplingCircuitBreaker, isCanoFailure } from 'cano-rx'
 * declare const search: (q: string) => Promise<string[]>
 * const breaker = createSamplingCircuitBreaker({ failureRate: 0.25, windowMs: 30_000, minimumCalls: 40 })
 * try {
 *   const hits = await breaker.withPermit(() => search('cano'))
 * } catch (e) {
 *   if (isCanoFailure(e) && e.error._tag === 'CircuitOpen') console.log('search is failing:', breaker.windowStats())
 * }
 * @category constructors
 * @since 0.1.0
 */
export const createSamplingCircuitBreaker = (
  policy: Partial<SamplingCircuitPolicy> = {},
  options: CircuitBreakerOptions = {},
): SamplingCircuitBreaker => {
  const resolved = resolveSamplingCircuitPolicy(policy)
  const scheduler = schedulerOf('sampling circuit breaker', options)
  const snapshot = decodeCircuitSnapshot(options.snapshot)
  const initial = snapshot === undefined ? initialCircuitState(undefined) : fromCircuitSnapshot(snapshot)
  const window = new SampleWindow(resolved)
  if (snapshot?._tag === 'Closed' && snapshot.samples !== undefined) window.load(snapshot.samples, scheduler.now())
  return new SamplingBreaker(resolved, scheduler, initial, window)
}

// -------------------------------------------------------------------------------------
// internal
// -------------------------------------------------------------------------------------

/**
 * @internal The scheduler of a breaker's `options` (default `asyncScheduler`); throws a
 * `CanoFailure(Configuration)` naming `options` or `scheduler` (JavaScript callers) when they are invalid.
 */
const schedulerOf = (where: string, options: CircuitBreakerOptions): SchedulerLike => {
  const given: unknown = options
  if (typeof given !== 'object' || given === null)
    throw invalidBreakerOption(where, 'options', 'an object { scheduler?, snapshot? }', given)
  const scheduler: unknown = options.scheduler
  if (scheduler === undefined) return asyncScheduler
  if (!isScheduler(scheduler)) throw invalidBreakerOption(where, 'scheduler', SCHEDULER_RULE, scheduler)
  return scheduler
}

const invalidBreakerOption = (where: string, field: string, rule: string, value: unknown): CanoFailure =>
  new CanoFailure(configurationError(`${where}: ${field} must be ${rule}, got ${describeValue(value)}`))

/**
 * @internal The engine's permit-free path through a breaker made by this module (issue 16): a closed
 * breaker admits an attempt by its epoch, and the attempt's outcome is settled on that epoch, as a
 * permit would settle it, without allocating the permit and its `Either`. Any other state (a half-open
 * trial, a rejection) goes through `tryAcquire`.
 */
export interface InlinePermits {
  /** The epoch of the admitted attempt when the breaker is closed; `undefined`: ask `tryAcquire`. */
  admitClosed(): number | undefined
  /** Settles an attempt admitted in `epoch`, like `success()` / `failure()` of its permit. */
  settle(epoch: number, ok: boolean): void
}

/** @internal The permit-free path of `breaker`, when it was made by this module. */
export const inlinePermitsOf = (breaker: unknown): InlinePermits | undefined =>
  breaker instanceof Breaker ? breaker : undefined

/** @internal Settles a permit's outcome on its breaker. */
interface Settle {
  settle(epoch: number, ok: boolean): void
}

/** @internal The permit handed out by `tryAcquire`. */
class Permit implements CircuitPermit {
  #breaker: Settle | undefined
  constructor(
    breaker: Settle,
    readonly epoch: number,
    private readonly tracked: boolean,
  ) {
    this.#breaker = breaker
  }
  success(): void {
    this.#settle(true)
  }
  failure(): void {
    this.#settle(false)
  }
  #settle(ok: boolean): void {
    const breaker = this.#breaker
    if (breaker === undefined) return
    this.#breaker = undefined
    if (this.tracked) leakedTrials.unregister(this)
    breaker.settle(this.epoch, ok)
  }
}

/** @internal Half-open trial permits collected unsettled count as failures. */
interface LeakedTrial {
  readonly breaker: Settle
  readonly epoch: number
}
const leakedTrials = /*#__PURE__*/ new FinalizationRegistry<LeakedTrial>((t) => {
  t.breaker.settle(t.epoch, false)
})

/**
 * @internal The breaker. `policy` is what it reports; `rules` is the consecutive policy its transitions run
 * under (the same object for a consecutive breaker; see `samplingTransitionPolicy` for a sampling one).
 */
class Breaker<P> implements Settle, InlinePermits {
  readonly policy: P
  readonly state$: Observable<CircuitTransition>
  protected readonly rules: CircuitPolicy
  protected readonly scheduler: SchedulerLike
  readonly #transitions: BehaviorSubject<CircuitTransition>
  #state: CircuitState
  /** Promise handlers for `withPermit`, shared by every call of one epoch. */
  #handlersEpoch = -1
  #onFulfilled: <T>(value: T) => T = (value) => value
  #onRejected: (error: unknown) => never = (error) => {
    throw error
  }

  constructor(policy: P, rules: CircuitPolicy, scheduler: SchedulerLike, initial: CircuitState) {
    this.policy = policy
    this.rules = rules
    this.scheduler = scheduler
    this.#state = initial
    this.#transitions = new BehaviorSubject<CircuitTransition>({
      state: initial,
      epoch: initial.epoch,
      at: scheduler.now(),
    })
    this.state$ = this.#transitions.asObservable()
  }

  get state(): CircuitState {
    return this.#state
  }

  /** @internal */
  admitClosed(): number | undefined {
    const state = this.#state
    return state._tag === 'Closed' ? state.epoch : undefined
  }

  tryAcquire(): E.Either<CircuitOpen, CircuitPermit> {
    const rejection = this.#admit()
    if (rejection !== undefined) return E.left(rejection)
    const state = this.#state
    const tracked = state._tag === 'HalfOpen'
    const permit = new Permit(this, state.epoch, tracked)
    if (tracked) leakedTrials.register(permit, { breaker: this, epoch: state.epoch }, permit)
    return E.right(permit)
  }

  withPermit<A>(fn: () => A | PromiseLike<A>): Promise<A> {
    // JavaScript callers: a call that cannot be made is a mistake to report, not a failure of the dependency
    const given: unknown = fn
    if (typeof given !== 'function')
      return rejectedWith(
        new CanoFailure(
          configurationError(`circuit breaker: withPermit: fn must be a function, got ${describeValue(given)}`),
        ),
      )
    const rejection = this.#admit()
    if (rejection !== undefined) return Promise.reject(new CanoFailure(rejection))
    const epoch = this.#state.epoch
    let out: A | PromiseLike<A>
    try {
      out = fn()
    } catch (error: unknown) {
      this.settle(epoch, false)
      return rejectedWith(error)
    }
    if (isPromiseLike(out)) {
      if (this.#handlersEpoch !== epoch) this.#makeHandlers(epoch)
      return Promise.resolve(out).then(this.#onFulfilled, this.#onRejected)
    }
    this.settle(epoch, true)
    return Promise.resolve(out)
  }

  toJSON(): CircuitSnapshot {
    return toCircuitSnapshot(this.#state)
  }

  /** @internal */
  settle(epoch: number, ok: boolean): void {
    const state = this.#state
    if (epoch !== state.epoch) return
    if (state._tag === 'Closed' && this.settleClosed(state, ok)) return
    // Fast path of `circuitTransition` for the common case: a closed breaker with no failures to reset.
    if (ok && state._tag === 'Closed' && state.consecutiveFailures === 0) return
    const atMs = this.scheduler.now()
    this.apply(
      circuitTransition(this.rules, state, { _tag: ok ? 'PermitSucceeded' : 'PermitFailed', epoch, atMs }),
      atMs,
    )
  }

  /**
   * A closed-state outcome of the current epoch, before the consecutive rule sees it: `true` when it was
   * fully handled here. The consecutive breaker leaves it all to `circuitTransition`.
   */
  protected settleClosed(_state: CircuitState, _ok: boolean): boolean {
    return false
  }

  /** The current state (a subclass reads it without the public getter's indirection). */
  protected get current(): CircuitState {
    return this.#state
  }

  /** The rejection, or `undefined` when a permit was granted (in the epoch of the new state). */
  #admit(): CircuitOpen | undefined {
    const state = this.#state
    // Fast path of `circuitTransition`: a closed breaker admits without reading the clock.
    if (state._tag === 'Closed') return undefined
    const atMs = this.scheduler.now()
    const next = circuitTransition(this.rules, state, { _tag: 'PermitRequested', atMs })
    if (isCircuitRejection(next)) return next
    this.apply(next, atMs)
    return undefined
  }

  protected apply(next: CircuitState, atMs: number): void {
    const previous = this.#state
    if (next === previous) return
    this.#state = next
    if (next.epoch !== previous.epoch) {
      this.transitioned(next)
      this.#transitions.next({ state: next, epoch: next.epoch, at: atMs })
    }
  }

  /** Called on each transition, before it is published. */
  protected transitioned(_next: CircuitState): void {
    // nothing to do for a consecutive breaker
  }

  #makeHandlers(epoch: number): void {
    this.#handlersEpoch = epoch
    this.#onFulfilled = <T>(value: T): T => {
      this.settle(epoch, true)
      return value
    }
    this.#onRejected = (error: unknown): never => {
      this.settle(epoch, false)
      throw error
    }
  }
}

/** @internal The breaker of `createSamplingCircuitBreaker`: a {@link Breaker} whose closed state samples. */
class SamplingBreaker extends Breaker<SamplingCircuitPolicy> implements SamplingCircuitBreaker {
  readonly #window: SampleWindow
  constructor(policy: SamplingCircuitPolicy, scheduler: SchedulerLike, initial: CircuitState, window: SampleWindow) {
    super(policy, samplingTransitionPolicy(policy), scheduler, initial)
    this.#window = window
  }

  windowStats(): CircuitWindowStats {
    const { calls, failures } = this.#window.stats(this.scheduler.now())
    return { calls, failures, failureRate: calls === 0 ? 0 : failures / calls }
  }

  override toJSON(): CircuitSnapshot {
    const snapshot = super.toJSON()
    if (snapshot._tag !== 'Closed') return snapshot
    return { ...snapshot, samples: this.#window.samples(this.scheduler.now()) }
  }

  protected override settleClosed(state: CircuitState, ok: boolean): boolean {
    const atMs = this.scheduler.now()
    const window = this.#window
    window.record(atMs, ok)
    if (ok || !samplingTrips(this.policy, window.stats(atMs))) return false
    this.apply(tripped(this.rules, state, atMs), atMs)
    return true
  }

  protected override transitioned(next: CircuitState): void {
    if (next._tag !== 'Closed') this.#window.clear()
  }
}

/**
 * @internal The sliding window of a sampling breaker: `buckets` slots, slot `b % buckets` holding bucket `b`
 * (its successes and failures) until a newer bucket takes the slot over. Bucket numbers are whole numbers
 * of `windowMs / buckets` on the clock ({@link sampleBucketOf}).
 */
class SampleWindow {
  readonly #policy: SamplingCircuitPolicy
  /** Per slot: the bucket it holds (`NaN`: none), its successes and its failures. */
  readonly #bucket: Float64Array
  readonly #ok: Float64Array
  readonly #failed: Float64Array
  /** The counts of `stats`, reused (the window is read on each failure). */
  readonly #stats = { calls: 0, failures: 0 }
  /** The slot of the last reading, and the clock readings its bucket covers: `[start, end)`. */
  #lastSlot = 0
  #lastStart = Number.NaN
  #lastEnd = Number.NaN

  constructor(policy: SamplingCircuitPolicy) {
    this.#policy = policy
    this.#bucket = new Float64Array(policy.buckets).fill(Number.NaN)
    this.#ok = new Float64Array(policy.buckets)
    this.#failed = new Float64Array(policy.buckets)
  }

  record(atMs: number, ok: boolean): void {
    // the hot path: most readings fall in the bucket of the previous one
    let slot = this.#lastSlot
    if (!(atMs >= this.#lastStart && atMs < this.#lastEnd)) {
      const bucket = sampleBucketOf(this.#policy, atMs)
      slot = this.#slotFor(bucket)
      this.#lastSlot = slot
      this.#lastStart = sampleBucketStart(this.#policy, bucket)
      this.#lastEnd = sampleBucketStart(this.#policy, bucket + 1)
    }
    if (ok) this.#ok[slot] = (this.#ok[slot] ?? 0) + 1
    else this.#failed[slot] = (this.#failed[slot] ?? 0) + 1
  }

  /** The calls and failures of the buckets in the window at `atMs` (the object is reused: read it at once). */
  stats(atMs: number): { readonly calls: number; readonly failures: number } {
    const newest = sampleBucketOf(this.#policy, atMs)
    const oldest = newest - this.#policy.buckets
    let calls = 0
    let failures = 0
    for (let slot = 0; slot < this.#bucket.length; slot++) {
      const b = this.#bucket[slot] ?? Number.NaN
      if (b > oldest && b <= newest) {
        const f = this.#failed[slot] ?? 0
        calls += (this.#ok[slot] ?? 0) + f
        failures += f
      }
    }
    const stats = this.#stats
    stats.calls = calls
    stats.failures = failures
    return stats
  }

  /** The non-empty buckets in the window at `atMs`, oldest first. */
  samples(atMs: number): ReadonlyArray<CircuitSample> {
    const newest = sampleBucketOf(this.#policy, atMs)
    const out: CircuitSample[] = []
    for (let slot = 0; slot < this.#bucket.length; slot++) {
      const b = this.#bucket[slot] ?? Number.NaN
      const successes = this.#ok[slot] ?? 0
      const failures = this.#failed[slot] ?? 0
      if (b > newest - this.#policy.buckets && b <= newest && successes + failures > 0)
        out.push({ startMs: sampleBucketStart(this.#policy, b), successes, failures })
    }
    return out.sort((x, y) => x.startMs - y.startMs)
  }

  /**
   * Adds persisted samples (from a snapshot), each to the bucket its `startMs` falls in; those outside the
   * window at `atMs` (too old, or ahead of the clock) are dropped.
   */
  load(samples: ReadonlyArray<CircuitSample>, atMs: number): void {
    const newest = sampleBucketOf(this.#policy, atMs)
    for (const s of samples) {
      const bucket = sampleBucketOf(this.#policy, s.startMs)
      if (bucket <= newest - this.#policy.buckets || bucket > newest) continue
      const slot = this.#slotFor(bucket)
      this.#ok[slot] = (this.#ok[slot] ?? 0) + s.successes
      this.#failed[slot] = (this.#failed[slot] ?? 0) + s.failures
    }
  }

  clear(): void {
    this.#lastStart = Number.NaN
    this.#lastEnd = Number.NaN
    this.#bucket.fill(Number.NaN)
    this.#ok.fill(0)
    this.#failed.fill(0)
  }

  /**
   * The slot of `bucket`, taken over (emptied) when it held another bucket: an older one that left the
   * window, or, after the clock went backwards, a newer one (its counts are dropped).
   */
  #slotFor(bucket: number): number {
    const n = this.#bucket.length
    const slot = ((bucket % n) + n) % n
    if (this.#bucket[slot] === bucket) return slot
    this.#bucket[slot] = bucket
    this.#ok[slot] = 0
    this.#failed[slot] = 0
    return slot
  }
}

/** @internal A Promise rejected with a caught value as it is (`Promise.reject` wants an `Error`). */
const rejectedWith = (error: unknown): Promise<never> =>
  new Promise<never>(() => {
    throw error
  })

const isPromiseLike = <A>(u: A | PromiseLike<A>): u is PromiseLike<A> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'
