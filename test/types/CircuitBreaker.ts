/**
 * Type tests for the circuit breaker and rate limiters: compiled by `tsc --noEmit`, never run.
 */
import type { Either } from 'fp-ts/lib/Either.js'
import { asyncScheduler, type Observable, queueScheduler } from 'rxjs'

import type { CircuitOpen, RateLimited } from '../../codecs/CanoError.js'
import type { CircuitSnapshot } from '../../codecs/CircuitSnapshot.js'
import {
  type CircuitBreaker,
  type CircuitBreakerLike,
  type CircuitPermit,
  type CircuitState,
  type CircuitTransition,
  circuitTransition,
  defaultCircuitPolicy,
  toCircuitSnapshot,
} from '../../src/CircuitBreaker.js'
import type { RateLimiterLike } from '../../src/RateLimiter.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import {
  createMultiRateLimiter,
  createRateLimiter,
  createWindowedRateLimiter,
} from '../../streams/createRateLimiter.js'
import { assertType, type Equals } from './helpers.js'

declare const breaker: CircuitBreaker

// the engine's view
assertType<Equals<ReturnType<CircuitBreakerLike['tryAcquire']>, Either<CircuitOpen, CircuitPermit>>>()
export const _like: CircuitBreakerLike = breaker
assertType<Equals<typeof breaker.state$, Observable<CircuitTransition>>>()
assertType<Equals<ReturnType<typeof breaker.toJSON>, CircuitSnapshot>>()

// withPermit keeps the value type of sync and async functions
assertType<Equals<ReturnType<typeof breaker.withPermit<number>>, Promise<number>>>()
export const _fromSync: Promise<string> = breaker.withPermit(() => 'a')
export const _fromAsync: Promise<string> = breaker.withPermit(async () => Promise.resolve('a'))

// a snapshot is the in-memory state without the trials in flight
export const _snapshot: CircuitSnapshot = toCircuitSnapshot(breaker.state)
type WithoutInFlight<S> = S extends { readonly inFlight: number } ? Omit<S, 'inFlight'> : S
assertType<Equals<WithoutInFlight<CircuitState>['_tag'], CircuitSnapshot['_tag']>>()
export const _asSnapshot = (s: WithoutInFlight<CircuitState>): CircuitSnapshot => s

// outcomes never produce a rejection; a request may
export const _afterOutcome: CircuitState = circuitTransition(defaultCircuitPolicy, breaker.state, {
  _tag: 'PermitFailed',
  epoch: 0,
  atMs: 0,
})
// @ts-expect-error a PermitRequested may be rejected: the result is not just a state
export const _afterRequest: CircuitState = circuitTransition(defaultCircuitPolicy, breaker.state, {
  _tag: 'PermitRequested',
  atMs: 0,
})

// policies are partial, options are named
createCircuitBreaker({ failureThreshold: 3 }, { scheduler: asyncScheduler })
// @ts-expect-error the clock is a scheduler: the now option is gone
createCircuitBreaker({ failureThreshold: 3 }, { now: () => 0 })
// @ts-expect-error unknown policy field
createCircuitBreaker({ threshold: 3 })
// @ts-expect-error the policy is readonly
breaker.policy.failureThreshold = 1

// every limiter is what the engine takes
export const _limiters: ReadonlyArray<RateLimiterLike> = [
  createRateLimiter({ ratePerSec: 10 }),
  createRateLimiter({ tokens: 100, perMs: 60_000, burst: 10 }),
  createWindowedRateLimiter({ limit: 100, windowMs: 60_000 }),
  createMultiRateLimiter([{ name: 'a', limit: 1, perMs: 1_000 }]),
]
assertType<Equals<ReturnType<RateLimiterLike['tryAcquire']>, Either<RateLimited, void>>>()
// @ts-expect-error a rate is either ratePerSec or tokens per perMs, not both
createRateLimiter({ ratePerSec: 10, tokens: 1, perMs: 1 })
// time is one RxJS scheduler: no separate clock or sleep
createRateLimiter({ ratePerSec: 10, scheduler: queueScheduler })
createMultiRateLimiter([{ name: 'a', limit: 1, perMs: 1_000 }], { scheduler: asyncScheduler })
// @ts-expect-error the sleep option is gone
createRateLimiter({ ratePerSec: 10, sleep: () => Promise.resolve() })
// @ts-expect-error tokens needs perMs
createRateLimiter({ tokens: 10 })
// @ts-expect-error tier kinds are a closed set
createMultiRateLimiter([{ name: 'a', limit: 1, perMs: 1, kind: 'slidingWindow' }])
