/**
 * `createCircuitBreaker`: the stateful circuit breaker (cano 0.12 `circuit.rs`). The model, the state
 * machine {@link circuitTransition}, the snapshot conversions and the policy validation are pure and live
 * in src/CircuitBreaker.ts (read its module comment for the states and the rules); this module holds one
 * state per breaker, reads time from an injected RxJS scheduler (default `asyncScheduler`, whose clock is
 * `Date.now()`) and publishes transitions on `state$`. The breaker sets no timer: it only reads the clock.
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
import type { CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
import { CanoFailure } from '../src/CanoError.js'
import {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  type CircuitPolicy,
  type CircuitState,
  type CircuitTransition,
  circuitTransition,
  initialCircuitState,
  isCircuitRejection,
  resolveCircuitPolicy,
  toCircuitSnapshot,
} from '../src/CircuitBreaker.js'

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
 *   (0, negative, NaN, non-integer counts, values above 2^31-1), or with a `DecodeFailed` error when
 *   `options.snapshot` is not a valid {@link CircuitSnapshot}
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
  const resolved = resolveCircuitPolicy(policy)
  const initial = initialCircuitState(options.snapshot)
  return new Breaker(resolved, options.scheduler ?? asyncScheduler, initial)
}

// -------------------------------------------------------------------------------------
// internal
// -------------------------------------------------------------------------------------

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

/** @internal */
class Breaker implements CircuitBreaker, Settle {
  readonly policy: CircuitPolicy
  readonly state$: Observable<CircuitTransition>
  readonly #scheduler: SchedulerLike
  readonly #transitions: BehaviorSubject<CircuitTransition>
  #state: CircuitState
  /** Promise handlers for `withPermit`, shared by every call of one epoch. */
  #handlersEpoch = -1
  #onFulfilled: <T>(value: T) => T = (value) => value
  #onRejected: (error: unknown) => never = (error) => {
    throw error
  }

  constructor(policy: CircuitPolicy, scheduler: SchedulerLike, initial: CircuitState) {
    this.policy = policy
    this.#scheduler = scheduler
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
    // Fast path of `circuitTransition` for the common case: a closed breaker with no failures to reset.
    if (ok && state._tag === 'Closed' && state.consecutiveFailures === 0) return
    const atMs = this.#scheduler.now()
    this.#apply(
      circuitTransition(this.policy, state, { _tag: ok ? 'PermitSucceeded' : 'PermitFailed', epoch, atMs }),
      atMs,
    )
  }

  /** The rejection, or `undefined` when a permit was granted (in the epoch of the new state). */
  #admit(): CircuitOpen | undefined {
    const state = this.#state
    // Fast path of `circuitTransition`: a closed breaker admits without reading the clock.
    if (state._tag === 'Closed') return undefined
    const atMs = this.#scheduler.now()
    const next = circuitTransition(this.policy, state, { _tag: 'PermitRequested', atMs })
    if (isCircuitRejection(next)) return next
    this.#apply(next, atMs)
    return undefined
  }

  #apply(next: CircuitState, atMs: number): void {
    const previous = this.#state
    if (next === previous) return
    this.#state = next
    if (next.epoch !== previous.epoch) this.#transitions.next({ state: next, epoch: next.epoch, at: atMs })
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

/** @internal A Promise rejected with a caught value as it is (`Promise.reject` wants an `Error`). */
const rejectedWith = (error: unknown): Promise<never> =>
  new Promise<never>(() => {
    throw error
  })

const isPromiseLike = <A>(u: A | PromiseLike<A>): u is PromiseLike<A> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'
