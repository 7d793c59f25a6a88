import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError, CircuitOpen } from '../../codecs/CanoError.js'
import { CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import {
  type CircuitPermit,
  type CircuitPolicy,
  type CircuitState,
  circuitTransition,
  type CircuitWindowStats,
  defaultCircuitPolicy,
  defaultSamplingCircuitPolicy,
  fromCircuitSnapshot,
  isCircuitRejection,
  type SamplingCircuitPolicy,
  samplingTrips,
  toCircuitSnapshot,
} from '../../src/CircuitBreaker.js'
import { createCircuitBreaker, createSamplingCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { createVirtualClock, flushMicrotasks } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

const OPEN_MESSAGE = 'circuit breaker open: rejecting call'
const EXHAUSTED_MESSAGE = 'circuit breaker half-open: trial slot exhausted'

/** A breaker on the virtual clock. */
const manual = (policy: Partial<CircuitPolicy> = {}, startMs = 0) => {
  const clock = createVirtualClock(startMs)
  const breaker = createCircuitBreaker(policy, { scheduler: clock })
  return {
    breaker,
    clock,
    advance: (ms: number): void => {
      clock.advanceSync(ms)
    },
  }
}

const permitOf = (r: E.Either<CircuitOpen, CircuitPermit>): CircuitPermit => {
  if (E.isLeft(r)) throw new Error(`expected a permit, got ${r.left.message}`)
  return r.right
}

const rejectionOf = (r: E.Either<CircuitOpen, CircuitPermit>): CircuitOpen => {
  if (E.isRight(r)) throw new Error(`expected a rejection, got a permit of epoch ${r.right.epoch}`)
  return r.left
}

/** Fails `n` calls in a row through explicit permits. */
const failTimes = (b: { tryAcquire: () => E.Either<CircuitOpen, CircuitPermit> }, n: number): void => {
  for (let i = 0; i < n; i++) permitOf(b.tryAcquire()).failure()
}

const configurationMessage = (f: () => unknown): string => {
  try {
    f()
  } catch (e: unknown) {
    if (isCanoFailure(e) && e.error._tag === 'Configuration') return e.error.message
    throw e
  }
  throw new Error('expected a Configuration failure')
}

/** A Promise with its settle functions, to hold a call in flight. */
const deferred = <A>() => {
  let resolve: (a: A) => void = () => undefined
  let reject: (e: unknown) => void = () => undefined
  const promise = new Promise<A>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const rejectionReason = async (p: Promise<unknown>): Promise<unknown> => {
  try {
    await p
  } catch (e: unknown) {
    return e
  }
  throw new Error('expected a rejection')
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('createCircuitBreaker', () => {
  it('defaults to cano 0.12: 5 failures, 30 s open, 1 half-open trial, closed at epoch 0', () => {
    const b = createCircuitBreaker()
    deepStrictEqual(b.policy, { failureThreshold: 5, resetTimeoutMs: 30_000, halfOpenMaxCalls: 1 })
    deepStrictEqual(b.policy, defaultCircuitPolicy)
    deepStrictEqual(b.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
  })

  it('merges a partial policy with the defaults', () => {
    deepStrictEqual(createCircuitBreaker({ halfOpenMaxCalls: 3 }).policy, {
      failureThreshold: 5,
      resetTimeoutMs: 30_000,
      halfOpenMaxCalls: 3,
    })
  })

  it('accepts the boundary values', () => {
    const b = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 2 ** 31 - 1, halfOpenMaxCalls: 2 ** 31 - 1 })
    expect(b.policy.halfOpenMaxCalls).to.equal(2_147_483_647)
    expect(createCircuitBreaker({ resetTimeoutMs: 0.5 }).policy.resetTimeoutMs).to.equal(0.5)
  })

  const invalid: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ['failureThreshold', { failureThreshold: 0 }, 'an integer in [1, 2147483647], got 0'],
    ['failureThreshold', { failureThreshold: -3 }, 'an integer in [1, 2147483647], got -3'],
    ['failureThreshold', { failureThreshold: Number.NaN }, 'an integer in [1, 2147483647], got NaN'],
    ['failureThreshold', { failureThreshold: 2.5 }, 'an integer in [1, 2147483647], got 2.5'],
    ['failureThreshold', { failureThreshold: 2 ** 31 }, 'an integer in [1, 2147483647], got 2147483648'],
    ['failureThreshold', { failureThreshold: '5' }, 'an integer in [1, 2147483647], got "5"'],
    ['resetTimeoutMs', { resetTimeoutMs: 0 }, 'a finite number in (0, 2147483647], got 0'],
    ['resetTimeoutMs', { resetTimeoutMs: -1 }, 'a finite number in (0, 2147483647], got -1'],
    ['resetTimeoutMs', { resetTimeoutMs: Number.NaN }, 'a finite number in (0, 2147483647], got NaN'],
    ['resetTimeoutMs', { resetTimeoutMs: Infinity }, 'a finite number in (0, 2147483647], got Infinity'],
    ['resetTimeoutMs', { resetTimeoutMs: 2 ** 31 }, 'a finite number in (0, 2147483647], got 2147483648'],
    ['halfOpenMaxCalls', { halfOpenMaxCalls: 0 }, 'an integer in [1, 2147483647], got 0'],
    ['halfOpenMaxCalls', { halfOpenMaxCalls: 1.5 }, 'an integer in [1, 2147483647], got 1.5'],
    ['halfOpenMaxCalls', { halfOpenMaxCalls: 2 ** 32 }, 'an integer in [1, 2147483647], got 4294967296'],
    ['halfOpenMaxCalls', { halfOpenMaxCalls: undefined }, 'an integer in [1, 2147483647], got undefined'],
  ]
  for (const [field, policy, rule] of invalid) {
    const value = policy[field]
    it(`rejects ${field} ${typeof value === 'string' ? JSON.stringify(value) : String(value)} naming the field and value`, () => {
      expect(configurationMessage(() => createCircuitBreaker(policy))).to.equal(
        `circuit breaker: ${field} must be ${rule}`,
      )
    })
  }

  it('takes the defaults for a missing policy only: a policy or options that are not objects are refused (adv16c b4)', () => {
    expect(createCircuitBreaker(undefined).policy).to.deep.equal({
      failureThreshold: 5,
      resetTimeoutMs: 30_000,
      halfOpenMaxCalls: 1,
    })
    for (const policy of [null, 3, [], 'x'] as const)
      expect(configurationMessage(() => createCircuitBreaker(policy as never))).to.match(
        /^circuit breaker: policy must be an object of policy fields \(missing fields take their defaults\), got /,
      )
    expect(configurationMessage(() => createSamplingCircuitBreaker(null as never))).to.equal(
      'sampling circuit breaker: policy must be an object of policy fields (missing fields take their defaults), got null',
    )
    expect(configurationMessage(() => createCircuitBreaker({}, null as never))).to.equal(
      'circuit breaker: options must be an object { scheduler?, snapshot? }, got null',
    )
  })

  it('refuses a scheduler that is not one, naming scheduler, instead of failing on its clock (adv16c r2)', () => {
    expect(configurationMessage(() => createCircuitBreaker({}, { scheduler: {} as never }))).to.equal(
      'circuit breaker: scheduler must be an RxJS scheduler (now, schedule), got {}',
    )
    expect(configurationMessage(() => createSamplingCircuitBreaker({}, { scheduler: { now: 1 } as never }))).to.equal(
      'sampling circuit breaker: scheduler must be an RxJS scheduler (now, schedule), got {"now":1}',
    )
  })

  it('throws a CanoFailure (an Error) so a bad policy fails at definition time', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).to.throw(CanoFailure, /failureThreshold/)
  })

  it('reads the default scheduler, asyncScheduler, whose clock is Date.now(): a deadline is wall-clock time', () => {
    const before = Date.now()
    const b = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 })
    failTimes(b, 1)
    const after = Date.now()
    const state = b.state
    if (state._tag !== 'Open') throw new Error(`expected Open, got ${state._tag}`)
    expect(state.untilMs).to.be.within(before + 1_000, after + 1_000)
  })

  it('starts from a snapshot: an open breaker stays open until its deadline', () => {
    const clock = createVirtualClock(1_000)
    const b = createCircuitBreaker({}, { scheduler: clock, snapshot: { _tag: 'Open', epoch: 7, untilMs: 5_000 } })
    deepStrictEqual(b.state, { _tag: 'Open', epoch: 7, untilMs: 5_000 })
    expect(rejectionOf(b.tryAcquire()).message).to.equal(OPEN_MESSAGE)
    clock.advanceSync(4_000)
    expect(permitOf(b.tryAcquire()).epoch).to.equal(8)
    deepStrictEqual(b.state, { _tag: 'HalfOpen', epoch: 8, successes: 0, inFlight: 1 })
  })

  it('starts from a closed snapshot with its failure count', () => {
    const b = createCircuitBreaker(
      { failureThreshold: 3 },
      { snapshot: { _tag: 'Closed', epoch: 2, consecutiveFailures: 2 } },
    )
    failTimes(b, 1)
    expect(b.state._tag).to.equal('Open')
    expect(b.state.epoch).to.equal(3)
  })

  it('starts from a half-open snapshot with every trial slot free', () => {
    const b = createCircuitBreaker({ halfOpenMaxCalls: 2 }, { snapshot: { _tag: 'HalfOpen', epoch: 4, successes: 1 } })
    deepStrictEqual(b.state, { _tag: 'HalfOpen', epoch: 4, successes: 1, inFlight: 0 })
    permitOf(b.tryAcquire()).success()
    deepStrictEqual(b.state, { _tag: 'Closed', epoch: 5, consecutiveFailures: 0 })
  })

  it('round-trips through JSON: toJSON, JSON.parse, restore', () => {
    const { breaker, advance, clock } = manual({ failureThreshold: 2, resetTimeoutMs: 100 }, 50)
    failTimes(breaker, 2)
    const saved = JSON.stringify(breaker)
    deepStrictEqual(JSON.parse(saved), { _tag: 'Open', epoch: 1, untilMs: 150 })
    advance(10)
    const restored = createCircuitBreaker(breaker.policy, { scheduler: clock, snapshot: JSON.parse(saved) })
    deepStrictEqual(restored.state, breaker.state)
  })

  it('rejects an invalid snapshot with a DecodeFailed error naming the codec', () => {
    const bad: ReadonlyArray<unknown> = [
      null,
      'Closed',
      { _tag: 'Closed', epoch: 0 },
      { _tag: 'Closed', epoch: -1, consecutiveFailures: 0 },
      { _tag: 'Closed', epoch: 0.5, consecutiveFailures: 0 },
      { _tag: 'Open', epoch: 1, untilMs: Number.NaN },
      { _tag: 'Open', epoch: 1, untilMs: '2024-01-01' },
      { _tag: 'HalfOpen', epoch: 1, successes: -1 },
      { _tag: 'Broken', epoch: 1 },
    ]
    for (const snapshot of bad) {
      let caught: unknown
      try {
        createCircuitBreaker({}, { snapshot })
      } catch (e: unknown) {
        caught = e
      }
      expect(isCanoFailure(caught), JSON.stringify(snapshot)).to.equal(true)
      const error = (caught as CanoFailure).error
      expect(error._tag).to.equal('DecodeFailed')
      if (error._tag === 'DecodeFailed') {
        expect(error.codec).to.equal('CircuitSnapshot')
        expect(error.errors).to.not.be.empty
        expect(error.message).to.match(/^circuit breaker snapshot: CircuitSnapshot rejected the value/)
      }
    }
  })

  it('validates the policy before the snapshot', () => {
    expect(configurationMessage(() => createCircuitBreaker({ failureThreshold: 0 }, { snapshot: null }))).to.match(
      /failureThreshold/,
    )
  })
})

describe('circuitTransition', () => {
  const policy: CircuitPolicy = { failureThreshold: 2, resetTimeoutMs: 100, halfOpenMaxCalls: 2 }
  const closed0: CircuitState = { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }
  const closed1: CircuitState = { _tag: 'Closed', epoch: 0, consecutiveFailures: 1 }
  const open: CircuitState = { _tag: 'Open', epoch: 1, untilMs: 110 }
  const halfOpen: CircuitState = { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 }
  const rejectedOpen: CanoError = { _tag: 'CircuitOpen', message: OPEN_MESSAGE }
  const rejectedFull: CanoError = { _tag: 'CircuitOpen', message: EXHAUSTED_MESSAGE }

  const table: ReadonlyArray<
    readonly [string, CircuitState, Parameters<typeof circuitTransition>[2], CircuitState | CanoError]
  > = [
    ['closed admits', closed1, { _tag: 'PermitRequested', atMs: 0 }, closed1],
    ['closed success resets the failures', closed1, { _tag: 'PermitSucceeded', epoch: 0, atMs: 1 }, closed0],
    ['closed failure counts', closed0, { _tag: 'PermitFailed', epoch: 0, atMs: 5 }, closed1],
    ['closed failure at the threshold opens', closed1, { _tag: 'PermitFailed', epoch: 0, atMs: 10 }, open],
    ['open rejects before the deadline', open, { _tag: 'PermitRequested', atMs: 109 }, rejectedOpen],
    [
      'open admits a trial at the deadline',
      open,
      { _tag: 'PermitRequested', atMs: 110 },
      { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 },
    ],
    ['open ignores outcomes', open, { _tag: 'PermitFailed', epoch: 1, atMs: 120 }, open],
    [
      'half-open admits below halfOpenMaxCalls',
      halfOpen,
      { _tag: 'PermitRequested', atMs: 120 },
      { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 2 },
    ],
    [
      'half-open rejects at halfOpenMaxCalls',
      { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 2 },
      { _tag: 'PermitRequested', atMs: 120 },
      rejectedFull,
    ],
    [
      'half-open success counts',
      halfOpen,
      { _tag: 'PermitSucceeded', epoch: 2, atMs: 130 },
      { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 0 },
    ],
    [
      'half-open closes after halfOpenMaxCalls successes',
      { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 1 },
      { _tag: 'PermitSucceeded', epoch: 2, atMs: 130 },
      { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 },
    ],
    [
      'half-open failure reopens with a fresh deadline',
      { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 2 },
      { _tag: 'PermitFailed', epoch: 2, atMs: 500 },
      { _tag: 'Open', epoch: 3, untilMs: 600 },
    ],
    [
      'an outcome of an older epoch is ignored (success)',
      halfOpen,
      { _tag: 'PermitSucceeded', epoch: 0, atMs: 1 },
      halfOpen,
    ],
    [
      'an outcome of an older epoch is ignored (failure)',
      halfOpen,
      { _tag: 'PermitFailed', epoch: 1, atMs: 1 },
      halfOpen,
    ],
  ]

  for (const [title, state, event, expected] of table) {
    it(title, () => {
      deepStrictEqual<CircuitState | CanoError>(circuitTransition(policy, state, event), expected)
    })
  }

  it('returns the same object when nothing changes, and frozen states otherwise', () => {
    expect(circuitTransition(policy, closed0, { _tag: 'PermitSucceeded', epoch: 0, atMs: 0 })).to.equal(closed0)
    expect(circuitTransition(policy, halfOpen, { _tag: 'PermitFailed', epoch: 9, atMs: 0 })).to.equal(halfOpen)
    expect(Object.isFrozen(circuitTransition(policy, closed0, { _tag: 'PermitFailed', epoch: 0, atMs: 0 }))).to.equal(
      true,
    )
  })

  it('bumps the epoch on every transition and only then', () => {
    let state: CircuitState = closed0
    const tags: string[] = []
    const events: Parameters<typeof circuitTransition>[2][] = [
      { _tag: 'PermitFailed', epoch: 0, atMs: 0 },
      { _tag: 'PermitFailed', epoch: 0, atMs: 0 },
      { _tag: 'PermitRequested', atMs: 100 },
      { _tag: 'PermitFailed', epoch: 2, atMs: 100 },
      { _tag: 'PermitRequested', atMs: 200 },
      { _tag: 'PermitSucceeded', epoch: 4, atMs: 200 },
      { _tag: 'PermitRequested', atMs: 200 },
      { _tag: 'PermitSucceeded', epoch: 4, atMs: 200 },
    ]
    for (const e of events) {
      const next: CircuitState | CircuitOpen = circuitTransition(policy, state, e)
      if (isCircuitRejection(next)) throw new Error('unexpected rejection')
      tags.push(`${next._tag}@${next.epoch}`)
      state = next
    }
    deepStrictEqual(tags, [
      'Closed@0',
      'Open@1',
      'HalfOpen@2',
      'Open@3',
      'HalfOpen@4',
      'HalfOpen@4',
      'HalfOpen@4',
      'Closed@5',
    ])
  })

  it('never lets the epoch decrease over any event sequence (exhaustive over short sequences)', () => {
    const atoms: Parameters<typeof circuitTransition>[2][] = [
      { _tag: 'PermitRequested', atMs: 0 },
      { _tag: 'PermitRequested', atMs: 1_000 },
      { _tag: 'PermitSucceeded', epoch: 0, atMs: 0 },
      { _tag: 'PermitFailed', epoch: 0, atMs: 0 },
    ]
    const walk = (state: CircuitState, depth: number): void => {
      if (depth === 0) return
      for (const atom of atoms) {
        // outcomes are reported for the current epoch as well as the given one
        const events = atom._tag === 'PermitRequested' ? [atom] : [atom, { ...atom, epoch: state.epoch }]
        for (const e of events) {
          const next = circuitTransition(policy, state, e)
          if (isCircuitRejection(next)) continue
          expect(next.epoch).to.be.at.least(state.epoch)
          if (next._tag === 'HalfOpen') expect(next.inFlight).to.be.at.most(policy.halfOpenMaxCalls)
          walk(next, depth - 1)
        }
      }
    }
    walk(closed0, 5)
  })
})

describe('snapshots', () => {
  it('toCircuitSnapshot drops the trials in flight; fromCircuitSnapshot starts with none', () => {
    const s: CircuitState = { _tag: 'HalfOpen', epoch: 3, successes: 1, inFlight: 1 }
    deepStrictEqual(toCircuitSnapshot(s), { _tag: 'HalfOpen', epoch: 3, successes: 1 })
    deepStrictEqual(fromCircuitSnapshot(toCircuitSnapshot(s)), { ...s, inFlight: 0 })
  })
})

describe('tryAcquire', () => {
  it('admits every call while closed and trips after failureThreshold consecutive failures', () => {
    const { breaker } = manual({ failureThreshold: 3, resetTimeoutMs: 1_000 }, 10)
    failTimes(breaker, 2)
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 2 })
    failTimes(breaker, 1)
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 1, untilMs: 1_010 })
  })

  it('counts failures consecutively: a success resets the count', () => {
    const { breaker } = manual({ failureThreshold: 3 })
    failTimes(breaker, 2)
    permitOf(breaker.tryAcquire()).success()
    failTimes(breaker, 2)
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 2 })
  })

  it('rejects with CircuitOpen while open, then admits one trial lazily at the deadline', () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100 })
    failTimes(breaker, 1)
    deepStrictEqual(rejectionOf(breaker.tryAcquire()), { _tag: 'CircuitOpen', message: OPEN_MESSAGE })
    advance(99)
    expect(rejectionOf(breaker.tryAcquire()).message).to.equal(OPEN_MESSAGE)
    advance(1)
    // no call yet: the breaker still reads Open (there is no timer)
    expect(breaker.state._tag).to.equal('Open')
    const trial = permitOf(breaker.tryAcquire())
    expect(trial.epoch).to.equal(2)
    deepStrictEqual(breaker.state, { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 })
    deepStrictEqual(rejectionOf(breaker.tryAcquire()), { _tag: 'CircuitOpen', message: EXHAUSTED_MESSAGE })
    trial.success()
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
  })

  it('admits halfOpenMaxCalls concurrent trials, rejects the next, and closes when they all succeed', () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    failTimes(breaker, 1)
    advance(100)
    const a = permitOf(breaker.tryAcquire())
    const b = permitOf(breaker.tryAcquire())
    expect(rejectionOf(breaker.tryAcquire()).message).to.equal(EXHAUSTED_MESSAGE)
    a.success()
    deepStrictEqual(breaker.state, { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 1 })
    b.success()
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
  })

  it('reopens with a fresh deadline when one of the concurrent trials fails; the other is then ignored', () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    failTimes(breaker, 1)
    advance(100)
    const a = permitOf(breaker.tryAcquire())
    const b = permitOf(breaker.tryAcquire())
    advance(30)
    a.failure()
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 3, untilMs: 230 })
    b.success()
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 3, untilMs: 230 })
  })

  it('counts half-open successes cumulatively: sequential trials are not capped', () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 3 })
    failTimes(breaker, 1)
    advance(100)
    permitOf(breaker.tryAcquire()).success()
    permitOf(breaker.tryAcquire()).success()
    deepStrictEqual(breaker.state, { _tag: 'HalfOpen', epoch: 2, successes: 2, inFlight: 0 })
    permitOf(breaker.tryAcquire()).success()
    expect(breaker.state._tag).to.equal('Closed')
  })

  it('ignores a slow Closed-era success that settles after the breaker went Open -> HalfOpen', () => {
    const { breaker, advance } = manual({ failureThreshold: 2, resetTimeoutMs: 100 })
    const slow = permitOf(breaker.tryAcquire()) // epoch 0
    failTimes(breaker, 2) // Open at epoch 1
    advance(100)
    const trial = permitOf(breaker.tryAcquire()) // HalfOpen at epoch 2
    slow.success()
    deepStrictEqual(breaker.state, { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 })
    slow.failure() // already settled, and stale anyway
    trial.failure()
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 3, untilMs: 200 })
  })

  it('ignores a stale failure too: it cannot reopen a later session', () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100 })
    const slow = permitOf(breaker.tryAcquire())
    failTimes(breaker, 1)
    advance(100)
    permitOf(breaker.tryAcquire()).success() // closed again at epoch 3
    slow.failure()
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
  })

  it('settles a permit once: a second success() or failure() is a no-op', () => {
    const { breaker } = manual({ failureThreshold: 2 })
    const p = permitOf(breaker.tryAcquire())
    p.failure()
    p.failure()
    p.success()
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 1 })
  })

  it('lets failures of concurrent closed-era permits beyond the threshold fall on the floor', () => {
    const { breaker } = manual({ failureThreshold: 2 })
    const permits = [1, 2, 3, 4].map(() => permitOf(breaker.tryAcquire()))
    for (const p of permits) p.failure()
    expect(breaker.state.epoch).to.equal(1)
    expect(breaker.state._tag).to.equal('Open')
  })

  it('never throws: rejections are values', () => {
    const { breaker } = manual({ failureThreshold: 1 })
    failTimes(breaker, 1)
    expect(() => breaker.tryAcquire()).to.not.throw()
    expect(E.isLeft(breaker.tryAcquire())).to.equal(true)
  })
})

describe('withPermit', () => {
  it('returns the value of a sync or async function and records a success', async () => {
    const { breaker } = manual({ failureThreshold: 3 })
    failTimes(breaker, 2)
    expect(await breaker.withPermit(() => 42)).to.equal(42)
    expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
    failTimes(breaker, 2)
    expect(await breaker.withPermit(() => Promise.resolve('ok'))).to.equal('ok')
    expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
  })

  it('passes on a thrown error unchanged and records a failure', async () => {
    const { breaker } = manual({ failureThreshold: 2 })
    const boom = new Error('boom')
    expect(
      await rejectionReason(
        breaker.withPermit(() => {
          throw boom
        }),
      ),
    ).to.equal(boom)
    expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 0, consecutiveFailures: 1 })
    const thrownValue = { not: 'an Error' }
    expect(await rejectionReason(breaker.withPermit(() => Promise.reject(thrownValue as unknown as Error)))).to.equal(
      thrownValue,
    )
    expect(breaker.state._tag).to.equal('Open')
  })

  it('accepts any thenable', async () => {
    const { breaker } = manual()
    const thenable: PromiseLike<number> = {
      then: (onFulfilled) => Promise.resolve(7).then(onFulfilled),
    }
    expect(await breaker.withPermit(() => thenable)).to.equal(7)
  })

  it('rejects a non-function with a Configuration error, in any state, without counting it (adv16c b4)', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1 })
    const reason = await rejectionReason(breaker.withPermit(42 as never))
    expect(isCanoFailure(reason) && reason.error).to.deep.equal({
      _tag: 'Configuration',
      message: 'circuit breaker: withPermit: fn must be a function, got 42',
    })
    // a threshold of 1: a counted failure would have opened it
    expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
    await rejectionReason(breaker.withPermit(() => Promise.reject(new Error('down'))))
    expect(breaker.state._tag).to.equal('Open')
    const whileOpen = await rejectionReason(breaker.withPermit(null as never))
    expect(isCanoFailure(whileOpen) && whileOpen.error._tag).to.equal('Configuration')
  })

  it('rejects with CanoFailure(CircuitOpen) without running the function while open', async () => {
    const { breaker } = manual({ failureThreshold: 1 })
    failTimes(breaker, 1)
    let ran = false
    const reason = await rejectionReason(
      breaker.withPermit(() => {
        ran = true
      }),
    )
    expect(ran).to.equal(false)
    expect(isCanoFailure(reason)).to.equal(true)
    deepStrictEqual((reason as CanoFailure).error, { _tag: 'CircuitOpen', message: OPEN_MESSAGE })
    expect((reason as CanoFailure).message).to.equal(`Circuit open: ${OPEN_MESSAGE}`)
  })

  it('runs two interleaved half-open trials, rejects a third, and reopens when one fails', async () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    failTimes(breaker, 1)
    advance(100)
    const first = deferred<string>()
    const second = deferred<string>()
    const a = breaker.withPermit(() => first.promise)
    const b = breaker.withPermit(() => second.promise)
    const c = breaker.withPermit(() => 'third')
    const cReason = await rejectionReason(c)
    deepStrictEqual((cReason as CanoFailure).error, { _tag: 'CircuitOpen', message: EXHAUSTED_MESSAGE })
    expect(breaker.state).to.deep.equal({ _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 2 })
    advance(5)
    second.reject(new Error('still down'))
    await rejectionReason(b)
    expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 3, untilMs: 205 })
    first.resolve('late')
    expect(await a).to.equal('late')
    expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 3, untilMs: 205 })
  })

  it('closes after two interleaved half-open trials both succeed', async () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    failTimes(breaker, 1)
    advance(100)
    const first = deferred<number>()
    const second = deferred<number>()
    const both = Promise.all([breaker.withPermit(() => first.promise), breaker.withPermit(() => second.promise)])
    second.resolve(2)
    first.resolve(1)
    deepStrictEqual(await both, [1, 2])
    expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
  })

  it('ignores a slow Closed-era call that succeeds after the breaker went Open -> HalfOpen', async () => {
    const { breaker, advance } = manual({ failureThreshold: 2, resetTimeoutMs: 100 })
    const slow = deferred<string>()
    const slowCall = breaker.withPermit(() => slow.promise)
    await rejectionReason(breaker.withPermit(() => Promise.reject(new Error('1'))))
    await rejectionReason(breaker.withPermit(() => Promise.reject(new Error('2'))))
    expect(breaker.state._tag).to.equal('Open')
    advance(100)
    const trial = deferred<string>()
    const trialCall = breaker.withPermit(() => trial.promise)
    slow.resolve('slow')
    expect(await slowCall).to.equal('slow')
    expect(breaker.state).to.deep.equal({ _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 })
    trial.resolve('probe')
    await trialCall
    expect(breaker.state._tag).to.equal('Closed')
  })
})

describe('state$', () => {
  it('publishes each transition with its epoch and time, in virtual time', () => {
    const scheduler = testScheduler()
    scheduler.run(({ expectObservable }) => {
      const breaker = createCircuitBreaker(
        { failureThreshold: 2, resetTimeoutMs: 10, halfOpenMaxCalls: 1 },
        { scheduler },
      )
      const at = (frame: number, work: () => void): void => {
        scheduler.schedule(work, frame)
      }
      let trial: CircuitPermit | undefined
      at(3, () => failTimes(breaker, 1)) // a counter change, not a transition
      at(5, () => failTimes(breaker, 1)) // Open until 15
      at(8, () => void breaker.tryAcquire()) // rejected, no transition
      at(15, () => {
        trial = permitOf(breaker.tryAcquire()) // HalfOpen
      })
      at(20, () => trial?.failure()) // Open until 30
      at(30, () => void breaker.withPermit(() => 'ok')) // HalfOpen, then Closed at once
      expectObservable(breaker.state$, '^ 40ms !').toBe('c 4ms o 9ms h 4ms p 9ms (tz)', {
        c: { state: { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }, epoch: 0, at: 0 },
        o: { state: { _tag: 'Open', epoch: 1, untilMs: 15 }, epoch: 1, at: 5 },
        h: { state: { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 }, epoch: 2, at: 15 },
        p: { state: { _tag: 'Open', epoch: 3, untilMs: 30 }, epoch: 3, at: 20 },
        t: { state: { _tag: 'HalfOpen', epoch: 4, successes: 0, inFlight: 1 }, epoch: 4, at: 30 },
        z: { state: { _tag: 'Closed', epoch: 5, consecutiveFailures: 0 }, epoch: 5, at: 30 },
      })
    })
  })

  it('replays the current state to a late subscriber, then follows the transitions', () => {
    const scheduler = testScheduler()
    scheduler.run(({ expectObservable }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 10 }, { scheduler })
      scheduler.schedule(() => failTimes(breaker, 1), 2)
      scheduler.schedule(() => void breaker.withPermit(() => 'ok'), 12)
      expectObservable(breaker.state$, '---^ 20ms !').toBe('---o 8ms (hc)', {
        o: { state: { _tag: 'Open', epoch: 1, untilMs: 12 }, epoch: 1, at: 2 },
        h: { state: { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 }, epoch: 2, at: 12 },
        c: { state: { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 }, epoch: 3, at: 12 },
      })
    })
  })

  it('cannot be completed or errored by a subscriber', () => {
    const b = createCircuitBreaker()
    expect('next' in b.state$).to.equal(false)
  })
})

describe('leaked permits', () => {
  // Counting an unsettled permit as a failure relies on garbage collection; expose `gc` for this test.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void

  it('counts a half-open trial permit that is collected unsettled as a failure', async () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100 })
    failTimes(breaker, 1)
    advance(100)
    const leak = (): void => {
      permitOf(breaker.tryAcquire()) // dropped without success() or failure()
    }
    leak()
    expect(breaker.state._tag).to.equal('HalfOpen')
    for (let i = 0; i < 50 && breaker.state._tag === 'HalfOpen'; i++) {
      gc()
      await flushMicrotasks()
    }
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 3, untilMs: 200 })
  })

  it('does not count a settled permit again when it is collected', async () => {
    const { breaker, advance } = manual({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    failTimes(breaker, 1)
    advance(100)
    const settle = (): void => {
      permitOf(breaker.tryAcquire()).success()
    }
    settle()
    for (let i = 0; i < 5; i++) {
      gc()
      await flushMicrotasks()
    }
    deepStrictEqual(breaker.state, { _tag: 'HalfOpen', epoch: 2, successes: 1, inFlight: 0 })
  })
})

// -------------------------------------------------------------------------------------
// issue 14: the sampling policy
// -------------------------------------------------------------------------------------

/** A sampling breaker on the virtual clock. */
const sampling = (policy: Partial<SamplingCircuitPolicy> = {}, startMs = 0) => {
  const clock = createVirtualClock(startMs)
  const breaker = createSamplingCircuitBreaker(policy, { scheduler: clock })
  return { breaker, clock }
}

/** Settles one call through an explicit permit: `true` a success, `false` a failure. */
const call = (b: { tryAcquire: () => E.Either<CircuitOpen, CircuitPermit> }, ok: boolean): void => {
  const permit = permitOf(b.tryAcquire())
  if (ok) permit.success()
  else permit.failure()
}

describe('samplingTrips', () => {
  const policy = { failureRate: 0.3, minimumCalls: 10 }
  const table: ReadonlyArray<readonly [number, number, boolean]> = [
    [10, 3, true], // exactly the rate: 3 / 10 === 0.3
    [10, 2, false],
    [9, 9, false], // below the minimum, whatever the rate
    [100, 30, true],
    [100, 29, false],
    [0, 0, false],
  ]
  for (const [calls, failures, trips] of table) {
    it(`${trips ? 'opens' : 'stays closed'} at ${failures} failures of ${calls} calls (rate 0.3, minimum 10)`, () => {
      expect(samplingTrips(policy, { calls, failures })).to.equal(trips)
    })
  }
  it('opens at failureRate 1 only when every call failed', () => {
    expect(samplingTrips({ failureRate: 1, minimumCalls: 2 }, { calls: 2, failures: 2 })).to.equal(true)
    expect(samplingTrips({ failureRate: 1, minimumCalls: 2 }, { calls: 3, failures: 2 })).to.equal(false)
  })
})

describe('createSamplingCircuitBreaker', () => {
  it('defaults to a rate of 0.5 over 10 s in 10 buckets, 20 calls at least, 30 s open, 1 trial', () => {
    const b = createSamplingCircuitBreaker()
    deepStrictEqual(b.policy, {
      failureRate: 0.5,
      windowMs: 10_000,
      minimumCalls: 20,
      buckets: 10,
      resetTimeoutMs: 30_000,
      halfOpenMaxCalls: 1,
    })
    deepStrictEqual(b.policy, defaultSamplingCircuitPolicy)
    deepStrictEqual(b.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
    deepStrictEqual(b.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
  })

  const invalid: ReadonlyArray<readonly [keyof SamplingCircuitPolicy, unknown, string]> = [
    ['failureRate', 0, 'a number in (0, 1], got 0'],
    ['failureRate', 1.5, 'a number in (0, 1], got 1.5'],
    ['failureRate', Number.NaN, 'a number in (0, 1], got NaN'],
    ['failureRate', '0.5', 'a number in (0, 1], got "0.5"'],
    ['windowMs', 0, 'a finite number in (0, 2147483647], got 0'],
    ['windowMs', Infinity, 'a finite number in (0, 2147483647], got Infinity'],
    ['minimumCalls', 0, 'an integer in [1, 2147483647], got 0'],
    ['minimumCalls', 2.5, 'an integer in [1, 2147483647], got 2.5'],
    ['buckets', 0, 'an integer in [1, 1000], got 0'],
    ['buckets', 1_001, 'an integer in [1, 1000], got 1001'],
    ['buckets', 1.5, 'an integer in [1, 1000], got 1.5'],
    ['resetTimeoutMs', -1, 'a finite number in (0, 2147483647], got -1'],
    ['halfOpenMaxCalls', 0, 'an integer in [1, 2147483647], got 0'],
  ]
  for (const [field, value, rule] of invalid) {
    it(`rejects ${field} ${typeof value === 'string' ? JSON.stringify(value) : String(value)} naming the field and value`, () => {
      expect(configurationMessage(() => createSamplingCircuitBreaker({ [field]: value }))).to.equal(
        `sampling circuit breaker: ${field} must be ${rule}`,
      )
    })
  }

  it('stays closed below minimumCalls even when every call fails, then opens at the minimum', () => {
    const { breaker } = sampling({ minimumCalls: 5, failureRate: 0.5 })
    for (let i = 0; i < 4; i++) call(breaker, false)
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 0, consecutiveFailures: 4 })
    deepStrictEqual(breaker.windowStats(), { calls: 4, failures: 4, failureRate: 1 })
    call(breaker, false)
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 1, untilMs: 30_000 })
  })

  it('opens on the failure that brings the rate to failureRate, not on a success', () => {
    const { breaker } = sampling({ minimumCalls: 4, failureRate: 0.5 })
    call(breaker, true)
    call(breaker, false)
    call(breaker, true)
    call(breaker, true) // 4 calls, 1 failure
    call(breaker, false) // 5 calls, 2 failures: 40 %
    expect(breaker.state._tag).to.equal('Closed')
    call(breaker, false) // 6 calls, 3 failures: 50 %
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 1, untilMs: 30_000 })
  })

  it('slides: the calls of a bucket leave the window once it is windowMs old', () => {
    // window 1 000 ms in 4 buckets of 250 ms, rate 0.5, minimum 4 (the marble of the constructor's doc)
    const { breaker, clock } = sampling({ windowMs: 1_000, buckets: 4, failureRate: 0.5, minimumCalls: 4 })
    const at = (ms: number, ok: boolean): CircuitWindowStats => {
      clock.advanceSync(ms - clock.now())
      call(breaker, ok)
      return breaker.windowStats()
    }
    const seen = [at(0, true), at(0, true), at(0, true), at(300, false), at(600, false)]
    deepStrictEqual(
      seen.map((s) => [s.calls, s.failures]),
      [
        [1, 0],
        [2, 0],
        [3, 0],
        [4, 1],
        [5, 2],
      ],
    )
    // at 1 000 the bucket [0, 250) leaves: 3 failures of 3 calls, below the minimum (with it: 3 of 6, open)
    deepStrictEqual(at(1_000, false), { calls: 3, failures: 3, failureRate: 1 })
    expect(breaker.state._tag).to.equal('Closed')
    deepStrictEqual(at(1_100, true), { calls: 4, failures: 3, failureRate: 0.75 })
    at(1_200, false) // 4 failures of 5 calls
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 1, untilMs: 31_200 })
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
  })

  it('forgets every call once the whole window has passed', () => {
    const { breaker, clock } = sampling({ windowMs: 1_000, buckets: 10, minimumCalls: 2, failureRate: 0.5 })
    call(breaker, false)
    clock.advanceSync(1_000)
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
    call(breaker, false)
    expect(breaker.state._tag).to.equal('Closed')
  })

  it('runs open and half-open like the consecutive breaker, with epochs, and restarts with an empty window', () => {
    const { breaker, clock } = sampling({ minimumCalls: 2, failureRate: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 })
    call(breaker, false)
    call(breaker, false)
    expect(rejectionOf(breaker.tryAcquire()).message).to.equal(OPEN_MESSAGE)
    clock.advanceSync(100)
    const a = permitOf(breaker.tryAcquire())
    const b = permitOf(breaker.tryAcquire())
    expect(rejectionOf(breaker.tryAcquire()).message).to.equal(EXHAUSTED_MESSAGE)
    deepStrictEqual([a.epoch, b.epoch], [2, 2])
    a.failure() // reopens at once
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 3, untilMs: 200 })
    b.success() // a stale trial: ignored
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
    clock.advanceSync(100)
    call(breaker, true)
    call(breaker, true)
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 5, consecutiveFailures: 0 })
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
    call(breaker, false) // one failure in a fresh window: below the minimum
    expect(breaker.state._tag).to.equal('Closed')
  })

  it('ignores a slow closed-era outcome that settles after the breaker opened', () => {
    const { breaker, clock } = sampling({ minimumCalls: 1, failureRate: 1, resetTimeoutMs: 10 })
    const slow = permitOf(breaker.tryAcquire())
    call(breaker, false) // Open (epoch 1)
    clock.advanceSync(10)
    call(breaker, true) // trial: Closed (epoch 3)
    slow.failure() // epoch 0: not counted, does not reopen
    deepStrictEqual(breaker.state, { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
  })

  it('publishes the same state$ as the consecutive breaker', () => {
    const scheduler = testScheduler()
    scheduler.run(({ expectObservable }) => {
      const breaker = createSamplingCircuitBreaker(
        { minimumCalls: 2, failureRate: 0.5, resetTimeoutMs: 10, windowMs: 100 },
        { scheduler },
      )
      scheduler.schedule(() => call(breaker, true), 1)
      scheduler.schedule(() => call(breaker, false), 3) // 1 of 2: Open until 13
      scheduler.schedule(() => void breaker.withPermit(() => 'ok'), 13) // HalfOpen, then Closed
      expectObservable(breaker.state$, '^ 20ms !').toBe('c 2ms o 9ms (hz)', {
        c: { state: { _tag: 'Closed', epoch: 0, consecutiveFailures: 0 }, epoch: 0, at: 0 },
        o: { state: { _tag: 'Open', epoch: 1, untilMs: 13 }, epoch: 1, at: 3 },
        h: { state: { _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 1 }, epoch: 2, at: 13 },
        z: { state: { _tag: 'Closed', epoch: 3, consecutiveFailures: 0 }, epoch: 3, at: 13 },
      })
    })
  })

  it('counts withPermit outcomes, a rejection and a synchronous throw as failures', async () => {
    const { breaker } = sampling({ minimumCalls: 3, failureRate: 0.6 })
    await breaker.withPermit(() => 1)
    await breaker.withPermit(() => Promise.reject(new Error('503'))).catch(() => undefined)
    deepStrictEqual(breaker.windowStats(), { calls: 2, failures: 1, failureRate: 0.5 })
    const thrown = await breaker.withPermit(() => JSON.parse('{') as unknown).catch((e: unknown) => e)
    expect(thrown).to.be.instanceOf(SyntaxError)
    deepStrictEqual(breaker.state, { _tag: 'Open', epoch: 1, untilMs: 30_000 }) // 2 of 3 failed
  })

  it('survives a clock that goes backwards: the readings ahead of the clock are dropped', () => {
    const { breaker, clock } = sampling({ windowMs: 1_000, buckets: 4, minimumCalls: 3 }, 5_000)
    call(breaker, false)
    clock.frame = 4_000
    deepStrictEqual(breaker.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
    call(breaker, false)
    call(breaker, true)
    deepStrictEqual(breaker.windowStats(), { calls: 2, failures: 1, failureRate: 0.5 })
  })
})

describe('sampling breaker snapshots', () => {
  it('writes the non-empty buckets of its window, oldest first, and restores them', () => {
    const { breaker, clock } = sampling({ windowMs: 1_000, buckets: 4, minimumCalls: 4, failureRate: 0.5 }, 10_000)
    call(breaker, true)
    clock.advanceSync(600)
    call(breaker, false)
    call(breaker, true)
    const saved: unknown = JSON.parse(JSON.stringify(breaker))
    deepStrictEqual(saved, {
      _tag: 'Closed',
      epoch: 0,
      consecutiveFailures: 0,
      samples: [
        { startMs: 10_000, successes: 1, failures: 0 },
        { startMs: 10_500, successes: 1, failures: 1 },
      ],
    })
    const restored = createSamplingCircuitBreaker(breaker.policy, { scheduler: clock, snapshot: saved })
    deepStrictEqual(restored.windowStats(), breaker.windowStats())
    call(restored, false) // 2 failures of 4
    deepStrictEqual(restored.state, { _tag: 'Open', epoch: 1, untilMs: 40_600 })
  })

  it('drops restored samples outside the window at the restoring clock', () => {
    const clock = createVirtualClock(20_000)
    const snapshot = {
      _tag: 'Closed',
      epoch: 3,
      consecutiveFailures: 1,
      samples: [
        { startMs: 18_000, successes: 0, failures: 9 }, // 2 s old: out of a 1 s window
        { startMs: 19_500, successes: 2, failures: 1 },
        { startMs: 25_000, successes: 0, failures: 9 }, // ahead of the clock
      ],
    }
    const b = createSamplingCircuitBreaker({ windowMs: 1_000, buckets: 4 }, { scheduler: clock, snapshot })
    deepStrictEqual(b.state, { _tag: 'Closed', epoch: 3, consecutiveFailures: 1 })
    deepStrictEqual(b.windowStats(), { calls: 3, failures: 1, failureRate: 1 / 3 })
  })

  it('starts with an empty window from a snapshot written before samples existed, and keeps open ones open', () => {
    const clock = createVirtualClock(1_000)
    const closed = createSamplingCircuitBreaker(
      {},
      { scheduler: clock, snapshot: { _tag: 'Closed', epoch: 2, consecutiveFailures: 4 } },
    )
    deepStrictEqual(closed.state, { _tag: 'Closed', epoch: 2, consecutiveFailures: 4 })
    deepStrictEqual(closed.windowStats(), { calls: 0, failures: 0, failureRate: 0 })
    const open = createSamplingCircuitBreaker(
      {},
      { scheduler: clock, snapshot: { _tag: 'Open', epoch: 5, untilMs: 3_000 } },
    )
    expect(rejectionOf(open.tryAcquire()).message).to.equal(OPEN_MESSAGE)
    deepStrictEqual(open.toJSON(), { _tag: 'Open', epoch: 5, untilMs: 3_000 })
  })

  it('is read by a consecutive breaker as a closed snapshot (samples ignored), and the other way round', () => {
    const { breaker } = sampling({ minimumCalls: 10 })
    call(breaker, false)
    call(breaker, false)
    const consecutive = createCircuitBreaker({ failureThreshold: 3 }, { snapshot: breaker.toJSON() })
    deepStrictEqual(consecutive.toJSON(), { _tag: 'Closed', epoch: 0, consecutiveFailures: 2 })
    failTimes(consecutive, 1)
    expect(consecutive.state._tag).to.equal('Open')
    const back = createSamplingCircuitBreaker({}, { snapshot: consecutive.toJSON() })
    deepStrictEqual(back.state, consecutive.state)
  })

  it('rejects invalid samples with a DecodeFailed error', () => {
    const bad = [
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: [{ startMs: 0, successes: -1, failures: 0 }] },
      {
        _tag: 'Closed',
        epoch: 0,
        consecutiveFailures: 0,
        samples: [{ startMs: Number.NaN, successes: 0, failures: 0 }],
      },
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: {} },
    ]
    for (const snapshot of bad) {
      let caught: unknown
      try {
        createSamplingCircuitBreaker({}, { snapshot })
      } catch (e: unknown) {
        caught = e
      }
      expect(isCanoFailure(caught) && caught.error._tag, JSON.stringify(snapshot)).to.equal('DecodeFailed')
    }
  })

  it('validates the policy before the snapshot', () => {
    expect(configurationMessage(() => createSamplingCircuitBreaker({ buckets: 0 }, { snapshot: null }))).to.match(
      /buckets/,
    )
  })
})
