/**
 * `CircuitBreaker`: a guard shared by every caller of a failing dependency (cano 0.12 `circuit.rs`).
 *
 * ```text
 *            failureThreshold consecutive failures          any trial fails (fresh deadline)
 *   Closed ─────────────────────────────────────► Open ◄──────────────────────────── HalfOpen
 *     ▲                                            │  first acquire at or after untilMs   │
 *     │                                            └─────────────────────────────────────►│
 *     └───────────────── halfOpenMaxCalls trial successes (cumulative) ───────────────────┘
 * ```
 *
 * - Closed: every call is admitted. A failure increments a consecutive-failure counter, a success resets
 *   it; at `failureThreshold` the breaker opens until `now + resetTimeoutMs`.
 * - Open: every call is rejected with `CircuitOpen` (`circuit breaker open: rejecting call`). There is no
 *   timer: the first acquire at or after the deadline moves the breaker to half-open and is admitted.
 * - HalfOpen: at most `halfOpenMaxCalls` trials run at once (more are rejected with
 *   `circuit breaker half-open: trial slot exhausted`). It closes once `halfOpenMaxCalls` trials have
 *   succeeded in this half-open session; any trial failure reopens it with a fresh deadline.
 * - Epochs: every transition increments `epoch`. A permit remembers the epoch it was granted in, and an
 *   outcome reported under an older epoch is ignored, so a slow Closed-era call cannot close (or reopen)
 *   a later half-open session.
 *
 * The state machine is the pure {@link circuitTransition}; {@link createCircuitBreaker} holds one state,
 * reads the injected clock and publishes transitions on `state$`.
 *
 * JavaScript has no destructors, so a permit cannot settle itself when it goes out of scope the way
 * cano's RAII permit does. Use {@link CircuitBreaker.withPermit}, which settles on return and on throw.
 * With the explicit API, settle every permit with `success()` or `failure()` (in a `finally` if need be);
 * as a safety net, a half-open trial permit that is garbage-collected unsettled is counted as a failure
 * (a `FinalizationRegistry`), so a lost trial cannot hold a slot forever. Closed-state permits are not
 * tracked that way (it would cost more than the call it guards): a lost one is simply not counted.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import { BehaviorSubject, type Observable } from 'rxjs'

import type { CircuitOpen } from '../codecs/CanoError.js'
import { CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
import { CanoFailure, circuitOpenError, configurationError, decodeFailedError } from './CanoError.js'
import { describeValue } from './internal/describeValue.js'
import { MAX_TIMER_MS } from './internal/timers.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * When a breaker trips and how it recovers. Every field is validated by {@link createCircuitBreaker}.
 *
 * @example
 * import { createCircuitBreaker, type CircuitPolicy } from 'cano-rx'
 * const policy: CircuitPolicy = { failureThreshold: 3, resetTimeoutMs: 10_000, halfOpenMaxCalls: 2 }
 * const breaker = createCircuitBreaker(policy)
 * @category model
 * @since 0.1.0
 */
export interface CircuitPolicy {
  /** Consecutive closed-state failures that open the breaker: an integer in [1, 2^31-1]. Default 5. */
  readonly failureThreshold: number
  /** How long the breaker stays open, in ms: a finite number in (0, 2^31-1]. Default 30 000. */
  readonly resetTimeoutMs: number
  /**
   * Concurrent trials admitted while half-open, and the trial successes that close the breaker: an integer
   * in [1, 2^31-1]. Default 1.
   */
  readonly halfOpenMaxCalls: number
}

/**
 * The breaker admits every call; `consecutiveFailures` failures in a row since the last success.
 *
 * @example
 * import type { ClosedCircuit } from 'cano-rx'
 * const s: ClosedCircuit = { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }
 * @category model
 * @since 0.1.0
 */
export interface ClosedCircuit {
  readonly _tag: 'Closed'
  readonly epoch: number
  readonly consecutiveFailures: number
}

/**
 * The breaker rejects every call until `untilMs` (read on the breaker's clock).
 *
 * @example
 * import type { OpenCircuit } from 'cano-rx'
 * const s: OpenCircuit = { _tag: 'Open', epoch: 1, untilMs: 30_000 }
 * @category model
 * @since 0.1.0
 */
export interface OpenCircuit {
  readonly _tag: 'Open'
  readonly epoch: number
  readonly untilMs: number
}

/**
 * The breaker admits up to `halfOpenMaxCalls` concurrent trials: `inFlight` are running, `successes`
 * have succeeded in this half-open session.
 *
 * @example
 * import type { HalfOpenCircuit } from 'cano-rx'
 * const s: HalfOpenCircuit = { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 }
 * @category model
 * @since 0.1.0
 */
export interface HalfOpenCircuit {
  readonly _tag: 'HalfOpen'
  readonly epoch: number
  readonly successes: number
  readonly inFlight: number
}

/**
 * The state of a breaker: closed, open until a deadline, or half-open. `epoch` counts transitions.
 *
 * @example
 * import { createCircuitBreaker, type CircuitState } from 'cano-rx'
 * const describe = (s: CircuitState): string => (s._tag === 'Open' ? `open until ${s.untilMs}` : s._tag)
 * describe(createCircuitBreaker().state) // 'Closed'
 * @category model
 * @since 0.1.0
 */
export type CircuitState = ClosedCircuit | OpenCircuit | HalfOpenCircuit

/**
 * The right to make one call through a breaker. Report its outcome exactly once: `success()` or
 * `failure()`; later calls are no-ops, and so is an outcome whose `epoch` is no longer the breaker's.
 *
 * @example
 * import { createCircuitBreaker } from 'cano-rx'
 * import { isRight } from 'fp-ts/lib/Either.js'
 * declare const callUpstream: () => Promise<void>
 * const breaker = createCircuitBreaker()
 * const acquired = breaker.tryAcquire()
 * if (isRight(acquired)) {
 *   const permit = acquired.right
 *   try {
 *     await callUpstream()
 *     permit.success()
 *   } finally {
 *     permit.failure() // a no-op after success(): the permit is already settled
 *   }
 * }
 * @category model
 * @since 0.1.0
 */
export interface CircuitPermit {
  /** The breaker epoch the permit was granted in. */
  readonly epoch: number
  /** Records a successful call. */
  success(): void
  /** Records a failed call (an error, a timeout, an abandoned call). */
  failure(): void
}

/**
 * One transition of a breaker, as published on `state$`: the new `state`, its `epoch` and the clock
 * reading `at` which it happened (the breaker's creation time for the first value).
 *
 * @example
 * import { createCircuitBreaker, type CircuitTransition } from 'cano-rx'
 * const log = (t: CircuitTransition) => console.log(`${t.at}: ${t.state._tag} (epoch ${t.epoch})`)
 * const subscription = createCircuitBreaker().state$.subscribe(log)
 * @category model
 * @since 0.1.0
 */
export interface CircuitTransition {
  readonly state: CircuitState
  readonly epoch: number
  readonly at: number
}

/**
 * A call asks for a permit at clock reading `atMs`.
 *
 * @example
 * import type { PermitRequested } from 'cano-rx'
 * const e: PermitRequested = { _tag: 'PermitRequested', atMs: 1_000 }
 * @category model
 * @since 0.1.0
 */
export interface PermitRequested {
  readonly _tag: 'PermitRequested'
  readonly atMs: number
}

/**
 * A call holding a permit of `epoch` succeeded.
 *
 * @example
 * import type { PermitSucceeded } from 'cano-rx'
 * const e: PermitSucceeded = { _tag: 'PermitSucceeded', epoch: 0, atMs: 1_000 }
 * @category model
 * @since 0.1.0
 */
export interface PermitSucceeded {
  readonly _tag: 'PermitSucceeded'
  readonly epoch: number
  readonly atMs: number
}

/**
 * A call holding a permit of `epoch` failed.
 *
 * @example
 * import type { PermitFailed } from 'cano-rx'
 * const e: PermitFailed = { _tag: 'PermitFailed', epoch: 0, atMs: 1_000 }
 * @category model
 * @since 0.1.0
 */
export interface PermitFailed {
  readonly _tag: 'PermitFailed'
  readonly epoch: number
  readonly atMs: number
}

/**
 * What {@link circuitTransition} reacts to.
 *
 * @example
 * import type { CircuitEvent } from 'cano-rx'
 * const events: CircuitEvent[] = [
 *   { _tag: 'PermitRequested', atMs: 0 },
 *   { _tag: 'PermitFailed', epoch: 0, atMs: 5 },
 * ]
 * @category model
 * @since 0.1.0
 */
export type CircuitEvent = PermitRequested | PermitSucceeded | PermitFailed

/**
 * What the engine needs from a breaker (`TaskConfig.circuitBreaker`): a permit before each attempt, or the
 * `CircuitOpen` rejection. Any object with this method can stand in for {@link createCircuitBreaker}.
 *
 * @example
 * import { createCircuitBreaker, type CircuitBreakerLike } from 'cano-rx'
 * const shared: CircuitBreakerLike = createCircuitBreaker({ failureThreshold: 3 })
 * @category model
 * @since 0.1.0
 */
export interface CircuitBreakerLike {
  /** A permit, or `Left(CircuitOpen)` when the breaker rejects the call now. Never throws. */
  tryAcquire(): E.Either<CircuitOpen, CircuitPermit>
}

/**
 * A circuit breaker made by {@link createCircuitBreaker}. It is a plain object: share it between tasks,
 * workflows and any other caller of the same dependency.
 *
 * @example
 * import { createCircuitBreaker, type CircuitBreaker } from 'cano-rx'
 * declare const fetchQuote: (symbol: string) => Promise<number>
 * const breaker: CircuitBreaker = createCircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000 })
 * const price = await breaker.withPermit(() => fetchQuote('ACME'))
 * @category model
 * @since 0.1.0
 */
export interface CircuitBreaker extends CircuitBreakerLike {
  /** The validated policy, defaults merged. */
  readonly policy: CircuitPolicy
  /**
   * The current state (a frozen snapshot). An open breaker whose deadline has passed still reads `Open`
   * until the next acquire moves it to half-open.
   */
  readonly state: CircuitState
  /**
   * Every transition, hot: a new subscriber first receives the current state, then each transition as it
   * happens. Counter changes (a closed-state failure below the threshold, a trial in flight) are not
   * transitions. Never errors or completes.
   */
  readonly state$: Observable<CircuitTransition>
  /**
   * Runs `fn` under a permit: settles `success` when it returns or resolves, `failure` when it throws or
   * rejects (and passes the error on). When the breaker rejects, `fn` does not run and the Promise rejects
   * with a `CanoFailure` carrying the `CircuitOpen` error.
   */
  withPermit<A>(fn: () => A | PromiseLike<A>): Promise<A>
  /** The persistable snapshot of the current state (trials in flight are not included). */
  toJSON(): CircuitSnapshot
}

/**
 * Options of {@link createCircuitBreaker}.
 *
 * @example
 * import { createCircuitBreaker, type CircuitBreakerOptions } from 'cano-rx'
 * let t = 0
 * const options: CircuitBreakerOptions = { now: () => t }
 * const breaker = createCircuitBreaker({}, options)
 * t += 1_000 // virtual time
 * @category model
 * @since 0.1.0
 */
export interface CircuitBreakerOptions {
  /**
   * The clock, in ms: deadlines and `at` stamps are read from it. Default `Date.now`, so a snapshot's
   * `untilMs` is wall-clock time and stays meaningful in another process.
   */
  readonly now?: () => number
  /**
   * Start from this snapshot (a value from `toJSON()`, for instance parsed back from JSON) instead of a
   * fresh closed breaker. It is decoded with the {@link CircuitSnapshot} codec; an invalid one throws a
   * `CanoFailure` with a `DecodeFailed` error.
   */
  readonly snapshot?: unknown
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * cano's default policy: 5 consecutive failures, 30 s open, 1 half-open trial.
 *
 * @example
 * import { createCircuitBreaker, defaultCircuitPolicy } from 'cano-rx'
 * const patient = createCircuitBreaker({ ...defaultCircuitPolicy, resetTimeoutMs: 60_000 })
 * @category constants
 * @since 0.1.0
 */
export const defaultCircuitPolicy: CircuitPolicy = /*#__PURE__*/ Object.freeze({
  failureThreshold: 5,
  resetTimeoutMs: 30_000,
  halfOpenMaxCalls: 1,
})

/** @internal The two rejections, built once (cano uses static strings too). */
const REJECTED_OPEN: CircuitOpen = /*#__PURE__*/ Object.freeze(circuitOpenError('circuit breaker open: rejecting call'))
/** @internal */
const REJECTED_TRIALS_EXHAUSTED: CircuitOpen = /*#__PURE__*/ Object.freeze(
  circuitOpenError('circuit breaker half-open: trial slot exhausted'),
)

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Creates a circuit breaker. `policy` fields default to {@link defaultCircuitPolicy} (5 / 30 000 ms / 1).
 *
 * @param policy the policy; missing fields take their defaults
 * @param options the clock (`now`, default `Date.now`) and an optional snapshot to start from
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
  const resolved = resolvePolicy(policy)
  const now = options.now ?? Date.now
  const initial = options.snapshot === undefined ? closed(0, 0) : decodeSnapshot(options.snapshot)
  return new Breaker(resolved, now, initial)
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Did {@link circuitTransition} reject the request (rather than return the next state)?
 *
 * @example
 * import { circuitTransition, defaultCircuitPolicy, isCircuitRejection } from 'cano-rx'
 * const open = { _tag: 'Open', epoch: 1, untilMs: 30_000 } as const
 * isCircuitRejection(circuitTransition(defaultCircuitPolicy, open, { _tag: 'PermitRequested', atMs: 10 })) // true
 * @category guards
 * @since 0.1.0
 */
export const isCircuitRejection = (r: CircuitState | CircuitOpen): r is CircuitOpen => r._tag === 'CircuitOpen'

// -------------------------------------------------------------------------------------
// transition
// -------------------------------------------------------------------------------------

const closed = (epoch: number, consecutiveFailures: number): ClosedCircuit =>
  Object.freeze({ _tag: 'Closed', epoch, consecutiveFailures })
const open = (epoch: number, untilMs: number): OpenCircuit => Object.freeze({ _tag: 'Open', epoch, untilMs })
const halfOpen = (epoch: number, successes: number, inFlight: number): HalfOpenCircuit =>
  Object.freeze({ _tag: 'HalfOpen', epoch, successes, inFlight })

/** @internal `PermitRequested`: the next state (the permit's epoch is its `epoch`) or the rejection. */
const admit = (policy: CircuitPolicy, state: CircuitState, atMs: number): CircuitState | CircuitOpen => {
  switch (state._tag) {
    case 'Closed':
      return state
    case 'Open':
      return atMs >= state.untilMs ? halfOpen(state.epoch + 1, 0, 1) : REJECTED_OPEN
    case 'HalfOpen':
      return state.inFlight < policy.halfOpenMaxCalls
        ? halfOpen(state.epoch, state.successes, state.inFlight + 1)
        : REJECTED_TRIALS_EXHAUSTED
  }
}

/** @internal `PermitSucceeded` of the current epoch. */
const succeed = (policy: CircuitPolicy, state: CircuitState): CircuitState => {
  switch (state._tag) {
    case 'Closed':
      return state.consecutiveFailures === 0 ? state : closed(state.epoch, 0)
    case 'Open':
      return state
    case 'HalfOpen':
      return state.successes + 1 >= policy.halfOpenMaxCalls
        ? closed(state.epoch + 1, 0)
        : halfOpen(state.epoch, state.successes + 1, Math.max(0, state.inFlight - 1))
  }
}

/** @internal `PermitFailed` of the current epoch. */
const fail = (policy: CircuitPolicy, state: CircuitState, atMs: number): CircuitState => {
  switch (state._tag) {
    case 'Closed':
      return state.consecutiveFailures + 1 >= policy.failureThreshold
        ? open(state.epoch + 1, atMs + policy.resetTimeoutMs)
        : closed(state.epoch, state.consecutiveFailures + 1)
    case 'Open':
      return state
    case 'HalfOpen':
      return open(state.epoch + 1, atMs + policy.resetTimeoutMs)
  }
}

/**
 * The breaker's state machine, pure and total: the state after `event`, or, for a `PermitRequested`
 * that is refused, the `CircuitOpen` rejection (the state is then unchanged). A granted permit belongs to
 * the returned state's `epoch`. An outcome whose `epoch` is not the state's is ignored (the same state is
 * returned). Time comes only from the events' `atMs`. Unchanged states are returned as the same object.
 *
 * | state | `PermitRequested` | `PermitSucceeded` | `PermitFailed` |
 * | --- | --- | --- | --- |
 * | Closed | admitted | failures reset | failures + 1; at the threshold: Open until `atMs + resetTimeoutMs` (epoch + 1) |
 * | Open | rejected before `untilMs`; else HalfOpen with this trial in flight (epoch + 1) | ignored | ignored |
 * | HalfOpen | admitted while `inFlight < halfOpenMaxCalls`, else rejected | successes + 1; at `halfOpenMaxCalls`: Closed (epoch + 1) | Open until `atMs + resetTimeoutMs` (epoch + 1) |
 *
 * @param policy a validated policy (see {@link createCircuitBreaker})
 * @param state the current state
 * @param event what happened
 * @returns the next state, or the rejection of a `PermitRequested`
 * @example
 * import { circuitTransition, defaultCircuitPolicy, type CircuitState } from 'cano-rx'
 * const policy = { ...defaultCircuitPolicy, failureThreshold: 1 }
 * const s0: CircuitState = { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }
 * const s1 = circuitTransition(policy, s0, { _tag: 'PermitFailed', epoch: 0, atMs: 100 })
 * // s1: { _tag: 'Open', epoch: 1, untilMs: 30_100 }
 * @category transition
 * @since 0.1.0
 */
export function circuitTransition(
  policy: CircuitPolicy,
  state: CircuitState,
  event: PermitSucceeded | PermitFailed,
): CircuitState
export function circuitTransition(
  policy: CircuitPolicy,
  state: CircuitState,
  event: CircuitEvent,
): CircuitState | CircuitOpen
export function circuitTransition(
  policy: CircuitPolicy,
  state: CircuitState,
  event: CircuitEvent,
): CircuitState | CircuitOpen {
  switch (event._tag) {
    case 'PermitRequested':
      return admit(policy, state, event.atMs)
    case 'PermitSucceeded':
      return event.epoch === state.epoch ? succeed(policy, state) : state
    case 'PermitFailed':
      return event.epoch === state.epoch ? fail(policy, state, event.atMs) : state
  }
}

// -------------------------------------------------------------------------------------
// snapshots
// -------------------------------------------------------------------------------------

/**
 * The persistable part of a state: a half-open state loses its trials in flight.
 *
 * @example
 * import { toCircuitSnapshot } from 'cano-rx'
 * toCircuitSnapshot({ _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 1 }) // { _tag: 'HalfOpen', epoch: 2, successes: 1 }
 * @category snapshots
 * @since 0.1.0
 */
export const toCircuitSnapshot = (state: CircuitState): CircuitSnapshot => {
  switch (state._tag) {
    case 'Closed':
      return { _tag: 'Closed', epoch: state.epoch, consecutiveFailures: state.consecutiveFailures }
    case 'Open':
      return { _tag: 'Open', epoch: state.epoch, untilMs: state.untilMs }
    case 'HalfOpen':
      return { _tag: 'HalfOpen', epoch: state.epoch, successes: state.successes }
  }
}

/**
 * The state a breaker restored from `snapshot` starts in: a half-open snapshot starts with no trial in
 * flight.
 *
 * @example
 * import { fromCircuitSnapshot } from 'cano-rx'
 * fromCircuitSnapshot({ _tag: 'HalfOpen', epoch: 2, successes: 1 }) // { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 0 }
 * @category snapshots
 * @since 0.1.0
 */
export const fromCircuitSnapshot = (snapshot: CircuitSnapshot): CircuitState => {
  switch (snapshot._tag) {
    case 'Closed':
      return closed(snapshot.epoch, snapshot.consecutiveFailures)
    case 'Open':
      return open(snapshot.epoch, snapshot.untilMs)
    case 'HalfOpen':
      return halfOpen(snapshot.epoch, snapshot.successes, 0)
  }
}

// -------------------------------------------------------------------------------------
// internal
// -------------------------------------------------------------------------------------

const isCount = (u: unknown): u is number => Number.isInteger(u) && (u as number) >= 1 && (u as number) <= MAX_TIMER_MS
const isTimeout = (u: unknown): u is number => typeof u === 'number' && Number.isFinite(u) && u > 0 && u <= MAX_TIMER_MS

/** @internal Merges the defaults and validates; throws a `CanoFailure(Configuration)` naming the field and value. */
const resolvePolicy = (overrides: Partial<CircuitPolicy>): CircuitPolicy => {
  const merged: Record<keyof CircuitPolicy, unknown> = { ...defaultCircuitPolicy, ...overrides }
  const bad = (field: keyof CircuitPolicy, rule: string): CanoFailure =>
    new CanoFailure(
      configurationError(`circuit breaker: ${field} must be ${rule}, got ${describeValue(merged[field])}`),
    )
  const { failureThreshold, resetTimeoutMs, halfOpenMaxCalls } = merged
  if (!isCount(failureThreshold)) throw bad('failureThreshold', `an integer in [1, ${MAX_TIMER_MS}]`)
  if (!isTimeout(resetTimeoutMs)) throw bad('resetTimeoutMs', `a finite number in (0, ${MAX_TIMER_MS}]`)
  if (!isCount(halfOpenMaxCalls)) throw bad('halfOpenMaxCalls', `an integer in [1, ${MAX_TIMER_MS}]`)
  return Object.freeze({ failureThreshold, resetTimeoutMs, halfOpenMaxCalls })
}

/** @internal Decodes an `options.snapshot`; throws a `CanoFailure(DecodeFailed)`. */
const decodeSnapshot = (u: unknown): CircuitState => {
  const decoded = CircuitSnapshot.decode(u)
  if (E.isLeft(decoded)) {
    throw new CanoFailure(
      decodeFailedError('CircuitSnapshot', PathReporter.report(decoded), 'circuit breaker snapshot'),
    )
  }
  return fromCircuitSnapshot(decoded.right)
}

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
  readonly #now: () => number
  readonly #transitions: BehaviorSubject<CircuitTransition>
  #state: CircuitState
  /** Promise handlers for `withPermit`, shared by every call of one epoch. */
  #handlersEpoch = -1
  #onFulfilled: <T>(value: T) => T = (value) => value
  #onRejected: (error: unknown) => never = (error) => {
    throw error
  }

  constructor(policy: CircuitPolicy, now: () => number, initial: CircuitState) {
    this.policy = policy
    this.#now = now
    this.#state = initial
    this.#transitions = new BehaviorSubject<CircuitTransition>({ state: initial, epoch: initial.epoch, at: now() })
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
    const atMs = this.#now()
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
    const atMs = this.#now()
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
