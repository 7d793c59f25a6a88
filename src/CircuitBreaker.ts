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
 * Two policies decide when a closed breaker opens. The consecutive one above (cano's) counts failures in
 * a row. The sampling one (`createSamplingCircuitBreaker`, like cockatiel's `SamplingBreaker`) opens when
 * at least `failureRate` of the calls in a sliding window of `windowMs` failed, once the window holds at
 * least `minimumCalls` calls; the window is `buckets` slices of `windowMs / buckets`, aligned on the clock,
 * and the oldest slice drops out as a new one starts. Open and half-open behave the same under both
 * policies, with the same epochs, `state$` and snapshots; a sampling breaker starts every closed period
 * with an empty window.
 *
 * This module is the pure part: the model, the state machine {@link circuitTransition}, the sampling rule
 * {@link samplingTrips}, the snapshot conversions and the policy validation. The stateful breaker, `createCircuitBreaker`
 * (streams/createCircuitBreaker.ts), holds one state, reads time from its injected RxJS scheduler and
 * publishes transitions on `state$`.
 *
 * Settle every permit exactly once ({@link CircuitBreaker.withPermit} does it on return and on throw);
 * streams/createCircuitBreaker.ts says what happens to a permit that is lost unsettled.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import type { Observable, SchedulerLike } from 'rxjs'

import type { CircuitOpen } from '../codecs/CanoError.js'
import { CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
import { Count, integerIn, Percentage, TimerDuration } from '../codecs/Config.js'
import { CanoFailure, circuitOpenError, configurationError, decodeFailedError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeValue } from './internal/describeValue.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * When a breaker trips and how it recovers. Every field is validated by `createCircuitBreaker`.
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
 * The breaker rejects every call until `untilMs` (read on the breaker's scheduler clock).
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
 * One transition of a breaker, as published on `state$`: the new `state`, its `epoch` and the scheduler
 * clock reading `at` which it happened (the breaker's creation time for the first value).
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
 * `CircuitOpen` rejection. Any object with this method can stand in for `createCircuitBreaker()`.
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
 * A circuit breaker made by `createCircuitBreaker`. It is a plain object: share it between tasks,
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
 * Options of `createCircuitBreaker`.
 *
 * @example
 * import { createCircuitBreaker, type CircuitBreakerOptions } from 'cano-rx'
 * import { VirtualTimeScheduler } from 'rxjs'
 * const scheduler = new VirtualTimeScheduler() // virtual time: the same scheduler can drive a whole run
 * const options: CircuitBreakerOptions = { scheduler }
 * const breaker = createCircuitBreaker({}, options)
 * @category model
 * @since 0.1.0
 */
export interface CircuitBreakerOptions {
  /**
   * The clock: deadlines and `at` stamps are read from `scheduler.now()` (ms). Default `asyncScheduler`,
   * whose clock is `Date.now()`, so a snapshot's `untilMs` is wall-clock time and stays meaningful in
   * another process. Pass the scheduler a run uses (a `TestScheduler` or `VirtualTimeScheduler` in tests)
   * so the breaker, the limiters, timers and retries all read one clock.
   */
  readonly scheduler?: SchedulerLike
  /**
   * Start from this snapshot (a value from `toJSON()`, for instance parsed back from JSON) instead of a
   * fresh closed breaker. It is decoded with the {@link CircuitSnapshot} codec; an invalid one throws a
   * `CanoFailure` with a `DecodeFailed` error.
   */
  readonly snapshot?: unknown
}

/**
 * When a sampling breaker trips and how it recovers (see {@link defaultSamplingCircuitPolicy} for the
 * defaults). Every field is validated by `createSamplingCircuitBreaker`.
 *
 * cockatiel's `SamplingBreaker({ threshold, duration, minimumRps })` is `{ failureRate: threshold,
 * windowMs: duration, minimumCalls: minimumRps * duration / 1000 }`, except that cockatiel opens at a
 * rate strictly above its threshold and this breaker at a rate of at least `failureRate` (so that
 * `failureRate: 1`, every call failing, can be said).
 *
 * @example
 * import { createSamplingCircuitBreaker, type SamplingCircuitPolicy } from 'cano-rx'
 * // open when at least 20 % of the calls of the last 30 s failed, once there were at least 50
 * const policy: SamplingCircuitPolicy = {
 *   failureRate: 0.2,
 *   windowMs: 30_000,
 *   minimumCalls: 50,
 *   buckets: 10,
 *   resetTimeoutMs: 10_000,
 *   halfOpenMaxCalls: 1,
 * }
 * const breaker = createSamplingCircuitBreaker(policy)
 * @category model
 * @since 0.1.0
 */
export interface SamplingCircuitPolicy {
  /** The share of failed calls in the window that opens the breaker: a number in (0, 1]. Default 0.5. */
  readonly failureRate: number
  /** The length of the sliding window in ms: a finite number in (0, 2^31-1]. Default 10 000. */
  readonly windowMs: number
  /**
   * Calls (successes and failures) the window must hold before its rate can open the breaker, so that one
   * failure out of one call does not: an integer in [1, 2^31-1]. Default 20.
   */
  readonly minimumCalls: number
  /**
   * Slices of the window: the window slides by `windowMs / buckets`. An integer in [1, 1000]. Default 10.
   */
  readonly buckets: number
  /** How long the breaker stays open, in ms: a finite number in (0, 2^31-1]. Default 30 000. */
  readonly resetTimeoutMs: number
  /**
   * Concurrent trials admitted while half-open, and the trial successes that close the breaker: an integer
   * in [1, 2^31-1]. Default 1.
   */
  readonly halfOpenMaxCalls: number
}

/**
 * What a sampling breaker's window holds now: `calls` recorded in it, of which `failures` failed, and
 * their `failureRate` (0 for an empty window). Always empty while the breaker is open or half-open.
 *
 * @example
 * import { createSamplingCircuitBreaker, type CircuitWindowStats } from 'cano-rx'
 * const stats: CircuitWindowStats = createSamplingCircuitBreaker().windowStats()
 * // { calls: 0, failures: 0, failureRate: 0 }
 * @category model
 * @since 0.1.0
 */
export interface CircuitWindowStats {
  readonly calls: number
  readonly failures: number
  readonly failureRate: number
}

/**
 * A circuit breaker made by `createSamplingCircuitBreaker`: the same object as a {@link CircuitBreaker}
 * (`tryAcquire`, `withPermit`, `state`, `state$`, `toJSON`, epochs), with a {@link SamplingCircuitPolicy}
 * and a view of its window.
 *
 * @example
 * import { createSamplingCircuitBreaker, type SamplingCircuitBreaker } from 'cano-rx'
 * declare const fetchQuote: (symbol: string) => Promise<number>
 * const breaker: SamplingCircuitBreaker = createSamplingCircuitBreaker({ failureRate: 0.5, windowMs: 10_000 })
 * const price = await breaker.withPermit(() => fetchQuote('ACME'))
 * console.log(breaker.windowStats().failureRate)
 * @category model
 * @since 0.1.0
 */
export interface SamplingCircuitBreaker extends Omit<CircuitBreaker, 'policy'> {
  /** The validated policy, defaults merged. */
  readonly policy: SamplingCircuitPolicy
  /** The window at the current clock reading (the closed state's calls; empty otherwise). */
  windowStats(): CircuitWindowStats
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

/**
 * The defaults of a sampling breaker: open when at least half of the calls of the last 10 s failed, once
 * there were at least 20 of them (10 buckets of 1 s), then 30 s open and 1 half-open trial, as the
 * consecutive breaker. cockatiel has no defaults for its rate and window; these are the common choice of
 * failure-rate breakers (a rate of one half, a window of seconds, a minimum of tens of calls).
 *
 * @example
 * import { createSamplingCircuitBreaker, defaultSamplingCircuitPolicy } from 'cano-rx'
 * const strict = createSamplingCircuitBreaker({ ...defaultSamplingCircuitPolicy, failureRate: 0.1 })
 * @category constants
 * @since 0.1.0
 */
export const defaultSamplingCircuitPolicy: SamplingCircuitPolicy = /*#__PURE__*/ Object.freeze({
  failureRate: 0.5,
  windowMs: 10_000,
  minimumCalls: 20,
  buckets: 10,
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
 * @param policy a validated policy (see {@link resolveCircuitPolicy})
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
// sampling
// -------------------------------------------------------------------------------------

/**
 * The sampling rule: does a window of `calls` calls, `failures` of them failed, open a closed breaker?
 * Yes once `calls >= minimumCalls` and `failures / calls >= failureRate`.
 *
 * @param policy a validated sampling policy
 * @param stats the window's counts
 * @returns `true` when the breaker opens
 * @example
 * import { defaultSamplingCircuitPolicy, samplingTrips } from 'cano-rx'
 * samplingTrips(defaultSamplingCircuitPolicy, { calls: 20, failures: 10 }) // true: 50 % of 20 calls
 * samplingTrips(defaultSamplingCircuitPolicy, { calls: 19, failures: 19 }) // false: fewer than 20 calls
 * @category sampling
 * @since 0.1.0
 */
export const samplingTrips = (
  policy: Pick<SamplingCircuitPolicy, 'failureRate' | 'minimumCalls'>,
  stats: Pick<CircuitWindowStats, 'calls' | 'failures'>,
): boolean => stats.calls >= policy.minimumCalls && stats.failures / stats.calls >= policy.failureRate

/**
 * @internal The bucket (a whole number of `windowMs / buckets` since the clock's 0) that `atMs` falls in.
 * A bucket's start, `bucket * windowMs / buckets`, lands back in the same bucket (float slack forgiven).
 */
export const sampleBucketOf = (policy: SamplingCircuitPolicy, atMs: number): number =>
  Math.floor((atMs * policy.buckets) / policy.windowMs + 1e-9)

/** @internal The clock reading at which `bucket` starts. */
export const sampleBucketStart = (policy: SamplingCircuitPolicy, bucket: number): number =>
  (bucket * policy.windowMs) / policy.buckets

/**
 * @internal The consecutive-breaker policy the shared transitions of a sampling breaker run under: the
 * same open and half-open behaviour, and a failure count that never trips by itself.
 */
export const samplingTransitionPolicy = (policy: SamplingCircuitPolicy): CircuitPolicy =>
  Object.freeze({
    failureThreshold: Number.POSITIVE_INFINITY,
    resetTimeoutMs: policy.resetTimeoutMs,
    halfOpenMaxCalls: policy.halfOpenMaxCalls,
  })

/** @internal A closed state opened by the sampling rule: Open until `atMs + resetTimeoutMs`, epoch + 1. */
export const tripped = (
  policy: Pick<CircuitPolicy, 'resetTimeoutMs'>,
  state: CircuitState,
  atMs: number,
): CircuitState => open(state.epoch + 1, atMs + policy.resetTimeoutMs)

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

/**
 * @internal Merges the defaults into `overrides` and validates; throws a `CanoFailure(Configuration)` naming
 * the field and value. Used by `createCircuitBreaker` (streams/createCircuitBreaker.ts).
 */
export const resolveCircuitPolicy = (overrides: Partial<CircuitPolicy>): CircuitPolicy => {
  checkPolicyObject('circuit breaker', overrides)
  const merged: Record<keyof CircuitPolicy, unknown> = { ...defaultCircuitPolicy, ...overrides }
  const check = <A>(codec: t.Type<A, unknown>, field: keyof CircuitPolicy): A => {
    const value = merged[field]
    const error = checkConfig(codec, value, `circuit breaker: ${field}`)
    if (error !== undefined) throw new CanoFailure(error)
    return value as A
  }
  const failureThreshold = check(Count, 'failureThreshold')
  const resetTimeoutMs = check(TimerDuration, 'resetTimeoutMs')
  const halfOpenMaxCalls = check(Count, 'halfOpenMaxCalls')
  return Object.freeze({ failureThreshold, resetTimeoutMs, halfOpenMaxCalls })
}

/**
 * JavaScript callers: only a missing policy (`undefined`) takes every default; anything else that is not a
 * policy object (`null`, a number, an array) is a mistake to report, not a request for the defaults.
 */
const checkPolicyObject = (where: string, policy: unknown): void => {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy))
    throw new CanoFailure(
      configurationError(
        `${where}: policy must be an object of policy fields (missing fields take their defaults), got ${describeValue(policy)}`,
      ),
    )
}

/** @internal The number of buckets of a sampling window: an integer in [1, 1000]. */
const SampleBuckets = /*#__PURE__*/ integerIn(1, 1_000)

/**
 * @internal Merges the defaults into `overrides` and validates; throws a `CanoFailure(Configuration)` naming
 * the field and value. Used by `createSamplingCircuitBreaker` (streams/createCircuitBreaker.ts).
 */
export const resolveSamplingCircuitPolicy = (overrides: Partial<SamplingCircuitPolicy>): SamplingCircuitPolicy => {
  checkPolicyObject('sampling circuit breaker', overrides)
  const merged: Record<keyof SamplingCircuitPolicy, unknown> = { ...defaultSamplingCircuitPolicy, ...overrides }
  const check = <A>(codec: t.Type<A, unknown>, field: keyof SamplingCircuitPolicy): A => {
    const value = merged[field]
    const error = checkConfig(codec, value, `sampling circuit breaker: ${field}`)
    if (error !== undefined) throw new CanoFailure(error)
    return value as A
  }
  return Object.freeze({
    failureRate: check(Percentage, 'failureRate'),
    windowMs: check(TimerDuration, 'windowMs'),
    minimumCalls: check(Count, 'minimumCalls'),
    buckets: check(SampleBuckets, 'buckets'),
    resetTimeoutMs: check(TimerDuration, 'resetTimeoutMs'),
    halfOpenMaxCalls: check(Count, 'halfOpenMaxCalls'),
  })
}

/**
 * @internal The snapshot a new breaker starts from (see {@link CircuitBreakerOptions.snapshot}): `undefined`
 * for a fresh one; throws a `CanoFailure(DecodeFailed)` for an invalid one.
 */
export const decodeCircuitSnapshot = (u: unknown): CircuitSnapshot | undefined => {
  if (u === undefined) return undefined
  const decoded = CircuitSnapshot.decode(u)
  if (E.isLeft(decoded)) {
    throw new CanoFailure(
      decodeFailedError('CircuitSnapshot', PathReporter.report(decoded), 'circuit breaker snapshot'),
    )
  }
  return decoded.right
}

/**
 * @internal The state a new breaker starts in: closed at epoch 0, or the decoded `snapshot` (see
 * {@link CircuitBreakerOptions.snapshot}); throws a `CanoFailure(DecodeFailed)` for an invalid one.
 */
export const initialCircuitState = (u: unknown): CircuitState => {
  const snapshot = decodeCircuitSnapshot(u)
  return snapshot === undefined ? closed(0, 0) : fromCircuitSnapshot(snapshot)
}
