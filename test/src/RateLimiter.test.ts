import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError, RateLimited } from '../../codecs/CanoError.js'
import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure } from '../../src/CanoError.js'
import type {
  AcquireOptions,
  RateLimiter,
  RateRequest,
  RateReservation,
  RateTier,
  ScopedLimiterOptions,
} from '../../src/RateLimiter.js'
import { RetryMode } from '../../src/RetryMode.js'
import { task } from '../../src/StateHandler.js'
import {
  createMultiRateLimiter,
  createRateLimiter,
  createWindowedRateLimiter,
} from '../../streams/createRateLimiter.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { createVirtualClock, flushMicrotasks, type VirtualClock } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

const limitedOf = (r: E.Either<RateLimited, void>): RateLimited => {
  if (E.isRight(r)) throw new Error('expected RateLimited, got a token')
  return r.left
}

/** Takes tokens until refused; returns how many were taken. */
const drain = (limiter: RateLimiter): number => {
  let n = 0
  while (E.isRight(limiter.tryAcquire())) n++
  return n
}

const failureOf = (f: () => unknown): CanoError => {
  try {
    f()
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw e
  }
  throw new Error('expected a CanoFailure')
}

const configurationMessage = (f: () => unknown): string => {
  const e = failureOf(f)
  if (e._tag !== 'Configuration') throw new Error(`expected Configuration, got ${e._tag}`)
  return e.message
}

/** Where a Promise stands after the pending continuations ran. */
const settled = async (p: Promise<unknown>): Promise<'pending' | 'resolved' | CanoError | 'rejected'> => {
  let state: 'pending' | 'resolved' | CanoError | 'rejected' = 'pending'
  p.then(
    () => {
      state = 'resolved'
    },
    (e: unknown) => {
      state = isCanoFailure(e) ? e.error : 'rejected'
    },
  )
  await flushMicrotasks()
  return state
}

/** Records the virtual time at which each acquire resolves. */
const track = (clock: VirtualClock, p: Promise<void>, log: string[], name: string): void => {
  p.then(
    () => log.push(`${name}@${clock.now()}`),
    (e: unknown) => log.push(`${name}!${isCanoFailure(e) ? e.error._tag : 'error'}@${clock.now()}`),
  )
}

const cancelled: CanoError = { _tag: 'Cancelled', message: 'workflow cancelled' }

// -------------------------------------------------------------------------------------
// token bucket
// -------------------------------------------------------------------------------------

describe('createRateLimiter', () => {
  it('starts full with capacity = rate + burst and reports the tier and the wait when empty', () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, burst: 5, scheduler: clock })
    deepStrictEqual(limiter.status(), [
      {
        name: 'default',
        kind: 'tokenBucket',
        available: 15,
        capacity: 15,
        used: 0,
        remaining: 15,
        resetsAt: undefined,
      },
    ])
    expect(drain(limiter)).to.equal(15)
    deepStrictEqual(limitedOf(limiter.tryAcquire()), {
      _tag: 'RateLimited',
      tier: 'default',
      retryAfterMs: 100,
      message: 'rate limited by tier "default": retry after 100 ms',
    })
  })

  it('refills lazily and continuously from the clock, never above capacity', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    await clock.advance(250)
    expect(drain(limiter)).to.equal(2)
    expect(limiter.status()[0]?.available).to.be.closeTo(0.5, 1e-9)
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(50)
    await clock.advance(60_000)
    expect(limiter.status()[0]?.available).to.equal(10)
    expect(drain(limiter)).to.equal(10)
  })

  it('takes tokens per perMs with the { tokens, perMs } form', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ tokens: 1, perMs: 2_000, scheduler: clock, name: 'slow' })
    expect(drain(limiter)).to.equal(1)
    deepStrictEqual(limitedOf(limiter.tryAcquire()).tier, 'slow')
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(2_000)
    await clock.advance(2_000)
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
  })

  it('rounds retryAfterMs up to a whole ms', () => {
    const limiter = createRateLimiter({ ratePerSec: 3, scheduler: createVirtualClock() })
    drain(limiter)
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(334)
  })

  it('takes `cost` tokens at once, or none', () => {
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: createVirtualClock() })
    expect(E.isRight(limiter.tryAcquire(7))).to.equal(true)
    expect(limitedOf(limiter.tryAcquire(4)).retryAfterMs).to.equal(100)
    expect(limiter.status()[0]?.available).to.equal(3)
    expect(E.isRight(limiter.tryAcquire(3))).to.equal(true)
  })

  it('survives a clock that goes backwards: no refill, no error', () => {
    const clock = createVirtualClock(1_000)
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    clock.frame = 500 // set back by hand: a scheduler's clock (Date.now()) can jump backwards
    expect(E.isLeft(limiter.tryAcquire())).to.equal(true)
    clock.frame = 600
    expect(drain(limiter)).to.equal(1)
  })

  it('waits by default; waits: false is passed through for the engine', () => {
    expect(createRateLimiter({ ratePerSec: 1 }).waits).to.equal(true)
    expect(createRateLimiter({ ratePerSec: 1, waits: false }).waits).to.equal(false)
  })

  const invalid: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ['ratePerSec 0', { ratePerSec: 0 }, 'ratePerSec must be a positive finite number, got 0'],
    ['ratePerSec -1', { ratePerSec: -1 }, 'ratePerSec must be a positive finite number, got -1'],
    ['ratePerSec NaN', { ratePerSec: Number.NaN }, 'ratePerSec must be a positive finite number, got NaN'],
    ['ratePerSec Infinity', { ratePerSec: Infinity }, 'ratePerSec must be a positive finite number, got Infinity'],
    ['burst -1', { ratePerSec: 1, burst: -1 }, 'burst must be a non-negative finite number, got -1'],
    ['burst NaN', { ratePerSec: 1, burst: Number.NaN }, 'burst must be a non-negative finite number, got NaN'],
    ['tokens 0', { tokens: 0, perMs: 1_000 }, 'tokens must be a positive finite number, got 0'],
    ['no rate at all', {}, 'tokens must be a positive finite number, got undefined'],
    ['perMs 0', { tokens: 1, perMs: 0 }, 'perMs must be a finite number in (0, 2147483647], got 0'],
    ['perMs 2^31', { tokens: 1, perMs: 2 ** 31 }, 'perMs must be a finite number in (0, 2147483647], got 2147483648'],
    [
      'both rate forms',
      { ratePerSec: 1, tokens: 1, perMs: 1_000 },
      'ratePerSec must be given alone (not with tokens / perMs), got 1',
    ],
    [
      'a capacity below one call',
      { ratePerSec: 0.5 },
      'capacity (tokens + burst) must be at least the cost of one call (1), got 0.5',
    ],
    ['an empty name', { ratePerSec: 1, name: '' }, 'name must be a non-empty string, got ""'],
    // adv16c r1/r2: values each finite whose sum or quotient is not
    [
      'an infinite capacity',
      { ratePerSec: 1e308, burst: 1e308 },
      'capacity (ratePerSec + burst) must be a finite number, got Infinity',
    ],
    [
      'an infinite refill rate',
      { tokens: 1e308, perMs: 1e-10 },
      'refill rate (tokens / perMs) must be a positive finite number of tokens per ms, got Infinity',
    ],
    [
      'a refill rate that underflows to 0',
      { tokens: 5e-324, perMs: 2, burst: 1 },
      'refill rate (tokens / perMs) must be a positive finite number of tokens per ms, got 0',
    ],
    // adv16c r2: refused when the limiter is made, not later by workflow() or by a clock read
    ['waits "yes"', { ratePerSec: 1, waits: 'yes' }, 'waits must be a boolean, got "yes"'],
    [
      'a scheduler without now',
      { ratePerSec: 1, scheduler: {} },
      'scheduler must be an RxJS scheduler (now, schedule), got {}',
    ],
  ]
  for (const [title, options, message] of invalid) {
    it(`rejects ${title} with a Configuration error naming the field and value`, () => {
      expect(configurationMessage(() => createRateLimiter(options as never))).to.equal(`rate limiter: ${message}`)
    })
  }

  it('refuses options that are not an object, and runtime options of the other factories alike (adv16c r2)', () => {
    expect(configurationMessage(() => createRateLimiter(null as never))).to.equal(
      'rate limiter: options must be an object, got null',
    )
    expect(
      configurationMessage(() => createWindowedRateLimiter({ limit: 1, windowMs: 10, waits: 1 as never })),
    ).to.equal('windowed rate limiter: waits must be a boolean, got 1')
    expect(
      configurationMessage(() => createMultiRateLimiter([{ name: 'a', limit: 1, perMs: 10 }], null as never)),
    ).to.equal('multi rate limiter: options must be an object { scheduler?, waits? }, got null')
    expect(
      configurationMessage(() =>
        createMultiRateLimiter([{ name: 'a', limit: 1e308, perMs: 10, burst: 1e308 }], { scheduler: {} as never }),
      ),
    ).to.equal('multi rate limiter: tier "a": capacity (limit + burst) must be a finite number, got Infinity')
  })

  it('accepts a fractional rate when burst makes room for one call', () => {
    expect(createRateLimiter({ ratePerSec: 0.5, burst: 0.5 }).status()[0]?.capacity).to.equal(1)
  })

  it('throws Configuration from tryAcquire and rejects from acquire for an invalid cost', async () => {
    const limiter = createRateLimiter({ ratePerSec: 10, burst: 2, scheduler: createVirtualClock() })
    expect(configurationMessage(() => limiter.tryAcquire(13))).to.equal(
      'rate limiter: cost must be at most the capacity of tier "default" (12), got 13',
    )
    expect(configurationMessage(() => limiter.tryAcquire(0))).to.equal(
      'rate limiter: cost must be a positive finite number, got 0',
    )
    expect(configurationMessage(() => limiter.tryAcquire(Number.NaN))).to.match(/got NaN$/)
    const r = await settled(limiter.acquire({ cost: -1 }))
    deepStrictEqual(r, {
      _tag: 'Configuration',
      message: 'rate limiter: cost must be a positive finite number, got -1',
    })
    expect(limiter.status()[0]?.available).to.equal(12)
  })
})

describe('acquire', () => {
  it('resolves at once when a token is there, without sleeping', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    expect(await settled(limiter.acquire())).to.equal('resolved')
    expect(clock.pending()).to.equal(0)
  })

  it('waits for the refill and serves waiters first come, first served', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    const log: string[] = []
    track(clock, limiter.acquire(), log, 'a')
    track(clock, limiter.acquire({ cost: 2 }), log, 'b')
    track(clock, limiter.acquire(), log, 'c')
    expect(limiter.waiting).to.equal(3)
    await clock.runUntilIdle()
    deepStrictEqual(log, ['a@100', 'b@300', 'c@400'])
    expect(limiter.waiting).to.equal(0)
  })

  it('does not let tryAcquire overtake waiting callers, and counts them in retryAfterMs', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, burst: 5, scheduler: clock })
    drain(limiter)
    const first = limiter.acquire({ cost: 5 }) // needs 500 ms
    await clock.advance(100)
    // one token is there, but it belongs to the waiter; behind it this call needs 6 tokens: 500 ms more
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(500)
    await clock.advance(400)
    expect(await settled(first)).to.equal('resolved')
    expect(E.isLeft(limiter.tryAcquire())).to.equal(true)
  })

  it('rejects with Cancelled when the signal aborts while waiting, and takes nothing', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    const ac = new AbortController()
    const p = limiter.acquire({ signal: ac.signal })
    await clock.advance(50)
    ac.abort()
    deepStrictEqual(await settled(p), cancelled)
    expect(clock.pending()).to.equal(0)
    expect(limiter.waiting).to.equal(0)
    await clock.advance(50)
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
  })

  it('rejects at once with Cancelled for an already-aborted signal, even when a token is there', async () => {
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: createVirtualClock() })
    deepStrictEqual(await settled(limiter.acquire({ signal: AbortSignal.abort() })), cancelled)
    expect(limiter.status()[0]?.available).to.equal(10)
  })

  it('serves the next waiter on time when the head or a middle waiter gives up', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    const head = new AbortController()
    const middle = new AbortController()
    const log: string[] = []
    track(clock, limiter.acquire({ signal: head.signal, cost: 3 }), log, 'head')
    track(clock, limiter.acquire({ signal: middle.signal }), log, 'middle')
    track(clock, limiter.acquire(), log, 'tail')
    await clock.advance(20)
    middle.abort()
    await clock.advance(10)
    head.abort()
    await clock.runUntilIdle()
    deepStrictEqual(log, ['middle!Cancelled@20', 'head!Cancelled@30', 'tail@100'])
  })

  it('by default waits on asyncScheduler (a real timer) and clears the timer when the signal aborts', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const limiter = createRateLimiter({ tokens: 1, perMs: 1_000_000 }) // the default scheduler
    drain(limiter)
    await flushMicrotasks() // mocha arms its own timeout timer once the test has started
    const before = timers()
    const ac = new AbortController()
    const p = limiter.acquire({ signal: ac.signal })
    await flushMicrotasks()
    expect(timers()).to.equal(before + 1)
    ac.abort()
    deepStrictEqual(await settled(p), cancelled)
    expect(timers()).to.equal(before)
  })

  it('holds the configured rate over 10 s of virtual time with concurrent callers', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 7, burst: 3, scheduler: clock })
    drain(limiter) // the initial 10 tokens
    let served = 0
    const stop = new AbortController()
    const worker = async (): Promise<void> => {
      for (;;) {
        await limiter.acquire({ signal: stop.signal })
        served++
      }
    }
    const workers = [worker(), worker(), worker()].map((w) => w.catch(() => undefined))
    await clock.advance(10_000)
    stop.abort()
    await Promise.all(workers)
    expect(served).to.equal(70)
  })
})

// -------------------------------------------------------------------------------------
// fixed window
// -------------------------------------------------------------------------------------

describe('createWindowedRateLimiter', () => {
  it('admits `limit` calls per window and reports the time to the next window', async () => {
    const clock = createVirtualClock()
    const limiter = createWindowedRateLimiter({ limit: 3, windowMs: 1_000, scheduler: clock, name: 'per-second' })
    expect(drain(limiter)).to.equal(3)
    await clock.advance(999)
    deepStrictEqual(limitedOf(limiter.tryAcquire()), {
      _tag: 'RateLimited',
      tier: 'per-second',
      retryAfterMs: 1,
      message: 'rate limited by tier "per-second": retry after 1 ms',
    })
    await clock.advance(1)
    expect(drain(limiter)).to.equal(3)
  })

  it('aligns windows on multiples of windowMs of the clock', () => {
    const limiter = createWindowedRateLimiter({ limit: 1, windowMs: 1_000, scheduler: createVirtualClock(1_500) })
    drain(limiter)
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(500)
  })

  it('counts waiting callers in the wait: two windows ahead when the next one is spoken for', async () => {
    const clock = createVirtualClock()
    const limiter = createWindowedRateLimiter({ limit: 2, windowMs: 1_000, scheduler: clock })
    drain(limiter)
    const log: string[] = []
    track(clock, limiter.acquire({ cost: 2 }), log, 'a')
    await clock.advance(100)
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(1_900)
    track(clock, limiter.acquire(), log, 'b')
    await clock.runUntilIdle()
    deepStrictEqual(log, ['a@1000', 'b@2000'])
  })

  it('rejects an invalid limit or windowMs, naming the field and value', () => {
    expect(configurationMessage(() => createWindowedRateLimiter({ limit: 0, windowMs: 1_000 }))).to.equal(
      'windowed rate limiter: limit must be an integer in [1, 2147483647], got 0',
    )
    expect(configurationMessage(() => createWindowedRateLimiter({ limit: 1.5, windowMs: 1_000 }))).to.match(
      /limit must be an integer .* got 1\.5$/,
    )
    expect(configurationMessage(() => createWindowedRateLimiter({ limit: 1, windowMs: Number.NaN }))).to.equal(
      'windowed rate limiter: windowMs must be a finite number in (0, 2147483647], got NaN',
    )
    expect(configurationMessage(() => createWindowedRateLimiter({ limit: 2, windowMs: 10 }).tryAcquire(3))).to.equal(
      'windowed rate limiter: cost must be at most the capacity of tier "default" (2), got 3',
    )
  })
})

// -------------------------------------------------------------------------------------
// tiers
// -------------------------------------------------------------------------------------

describe('createMultiRateLimiter', () => {
  const tiers: ReadonlyArray<RateTier> = [
    { name: 'per-second', limit: 2, perMs: 1_000 },
    { name: 'per-10s', limit: 3, perMs: 10_000 },
  ]

  it('admits a call only when every tier can serve it, and then takes from all of them', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(tiers, { scheduler: clock })
    expect(drain(limiter)).to.equal(2)
    deepStrictEqual(
      limiter.status().map((s) => s.available),
      [0, 1],
    )
    // per-second is empty: refused, and per-10s keeps its token (all or none)
    deepStrictEqual(limitedOf(limiter.tryAcquire()).tier, 'per-second')
    expect(limiter.status()[1]?.available).to.equal(1)
    await clock.advance(1_000)
    expect(drain(limiter)).to.equal(1) // per-10s has (1 + 0.3) tokens
    // now per-10s is the tier with the longest wait
    deepStrictEqual(limitedOf(limiter.tryAcquire()), {
      _tag: 'RateLimited',
      tier: 'per-10s',
      retryAfterMs: 2_334,
      message: 'rate limited by tier "per-10s": retry after 2334 ms',
    })
  })

  it('takes cost * weight from each tier', () => {
    const limiter = createMultiRateLimiter(
      [
        { name: 'calls', limit: 10, perMs: 1_000 },
        { name: 'units', limit: 10, perMs: 1_000, weight: 4 },
      ],
      { scheduler: createVirtualClock() },
    )
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
    deepStrictEqual(
      limiter.status().map((s) => s.available),
      [9, 6],
    )
    expect(configurationMessage(() => limiter.tryAcquire(3))).to.equal(
      'multi rate limiter: cost must be at most the capacity of tier "units" (10 divided by its weight 4), got 3',
    )
  })

  it('mixes a bucket and a fixed window', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(
      [
        { name: 'per-second', limit: 10, perMs: 1_000 },
        { name: 'per-minute', limit: 12, perMs: 60_000, kind: 'fixedWindow' },
      ],
      { scheduler: clock },
    )
    expect(drain(limiter)).to.equal(10)
    await clock.advance(1_000)
    expect(drain(limiter)).to.equal(2)
    deepStrictEqual(limitedOf(limiter.tryAcquire()), {
      _tag: 'RateLimited',
      tier: 'per-minute',
      retryAfterMs: 59_000,
      message: 'rate limited by tier "per-minute": retry after 59000 ms',
    })
    const log: string[] = []
    track(clock, limiter.acquire({ cost: 3 }), log, 'a')
    await clock.runUntilIdle()
    deepStrictEqual(log, ['a@60000'])
  })

  it('waits for the slowest tier in acquire', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(tiers, { scheduler: clock })
    drain(limiter)
    const log: string[] = []
    for (const name of ['a', 'b', 'c']) track(clock, limiter.acquire(), log, name)
    await clock.runUntilIdle()
    // per-second refills every 500 ms, per-10s every 3334 ms: the second tier paces the calls
    deepStrictEqual(log, ['a@500', 'b@3334', 'c@6667'])
  })

  const invalid: ReadonlyArray<readonly [string, unknown, string]> = [
    ['an empty list', [], 'multi rate limiter: tiers must be a non-empty array of tiers, got []'],
    [
      'duplicate names',
      [
        { name: 'a', limit: 1, perMs: 1 },
        { name: 'a', limit: 2, perMs: 1 },
      ],
      'multi rate limiter: tiers[1].name must be unique, got "a"',
    ],
    [
      'a missing name',
      [{ limit: 1, perMs: 1 }],
      'multi rate limiter: tiers[0]: name must be a non-empty string, got undefined',
    ],
    [
      'limit 0',
      [{ name: 'x', limit: 0, perMs: 1 }],
      'multi rate limiter: tier "x": limit must be a positive finite number, got 0',
    ],
    [
      'perMs Infinity',
      [{ name: 'x', limit: 1, perMs: Infinity }],
      'multi rate limiter: tier "x": perMs must be a finite number in (0, 2147483647], got Infinity',
    ],
    [
      'weight 0',
      [{ name: 'x', limit: 1, perMs: 1, weight: 0 }],
      'multi rate limiter: tier "x": weight must be a positive finite number, got 0',
    ],
    [
      'a weight above the capacity',
      [{ name: 'x', limit: 2, perMs: 1, weight: 3 }],
      'multi rate limiter: tier "x": capacity (tokens + burst) must be at least the cost of one call (3), got 2',
    ],
    [
      'burst on a fixed window',
      [{ name: 'x', limit: 2, perMs: 1, burst: 1, kind: 'fixedWindow' }],
      'multi rate limiter: tier "x": burst must be absent for a fixed window, got 1',
    ],
    [
      'an unknown kind',
      [{ name: 'x', limit: 2, perMs: 1, kind: 'leaky' }],
      `multi rate limiter: tier "x": kind must be 'tokenBucket' or 'fixedWindow', got "leaky"`,
    ],
  ]
  for (const [title, value, message] of invalid) {
    it(`rejects ${title} with a Configuration error`, () => {
      expect(configurationMessage(() => createMultiRateLimiter(value as never))).to.equal(message)
    })
  }
})

// -------------------------------------------------------------------------------------
// issue 14: reservations, tier subsets, timeUntil, used / remaining / resetsAt, weighted cost
// -------------------------------------------------------------------------------------

/** The reservation of a `tryReserve` that must succeed. */
const reservationOf = (r: E.Either<RateLimited, RateReservation>): RateReservation => {
  if (E.isLeft(r)) throw new Error(`expected a reservation, got RateLimited by ${r.left.tier}`)
  return r.right
}

const remainingOf = (limiter: RateLimiter): number[] => limiter.status().map((s) => s.remaining)

describe('tryReserve / reserve (issue 14)', () => {
  it('takes the tokens at once; commit keeps them spent, refund gives them back', () => {
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: createVirtualClock() })
    const kept = reservationOf(limiter.tryReserve(4))
    deepStrictEqual([kept.cost, kept.tiers, kept.status], [4, ['default'], 'Reserved'])
    expect(limiter.tier().remaining).to.equal(6)
    kept.commit()
    expect(kept.status).to.equal('Committed')
    expect(limiter.tier().remaining).to.equal(6)
    const back = reservationOf(limiter.tryReserve({ cost: 5 }))
    expect(limiter.tier().remaining).to.equal(1)
    back.refund()
    expect(back.status).to.equal('Refunded')
    expect(limiter.tier().remaining).to.equal(6)
  })

  it('refunds a bucket up to its capacity, never above', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    const r = reservationOf(limiter.tryReserve(8))
    await clock.advance(1_000) // the bucket refilled meanwhile
    expect(limiter.tier().remaining).to.equal(10)
    r.refund()
    expect(limiter.tier().remaining).to.equal(10)
  })

  it('refunds a fixed window only while the window the tokens came from is still current', async () => {
    const clock = createVirtualClock()
    const limiter = createWindowedRateLimiter({ limit: 5, windowMs: 1_000, scheduler: clock })
    const same = reservationOf(limiter.tryReserve(3))
    await clock.advance(400)
    same.refund()
    expect(limiter.tier().used).to.equal(0)
    const stale = reservationOf(limiter.tryReserve(3))
    await clock.advance(700) // t = 1100: a new window
    expect(E.isRight(limiter.tryAcquire(2))).to.equal(true)
    stale.refund() // its window is gone: the new window's usage stays
    deepStrictEqual([limiter.tier().used, limiter.tier().remaining], [2, 3])
  })

  it('rejects a second commit or refund with a Configuration error, and keeps the first decision', () => {
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: createVirtualClock() })
    const committed = reservationOf(limiter.tryReserve())
    committed.commit()
    expect(configurationMessage(() => committed.commit())).to.equal(
      'rate limiter reservation: commit() called on a reservation already committed (settle a reservation once)',
    )
    expect(configurationMessage(() => committed.refund())).to.equal(
      'rate limiter reservation: refund() called on a reservation already committed (settle a reservation once)',
    )
    const refunded = reservationOf(limiter.tryReserve())
    refunded.refund()
    expect(configurationMessage(() => refunded.refund())).to.equal(
      'rate limiter reservation: refund() called on a reservation already refunded (settle a reservation once)',
    )
    expect(configurationMessage(() => refunded.commit())).to.match(
      /commit\(\) called on a reservation already refunded/,
    )
    deepStrictEqual([committed.status, refunded.status], ['Committed', 'Refunded'])
    expect(limiter.tier().remaining).to.equal(9) // the refund gave its token back exactly once
  })

  it('reserve waits in the same queue as acquire, and a refund serves the next waiter at once', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 1, burst: 1, scheduler: clock }) // capacity 2
    const first = await limiter.reserve({ cost: 2 })
    const log: string[] = []
    let second: RateReservation | undefined
    limiter.reserve({ cost: 2 }).then(
      (r) => {
        second = r
        log.push(`reserve@${clock.now()}`)
      },
      () => log.push('reserve failed'),
    )
    track(clock, limiter.acquire(), log, 'acquire')
    await clock.advance(500)
    deepStrictEqual(log, [])
    expect(limiter.waiting).to.equal(2)
    first.refund() // 2.5 tokens back at t = 500 (capped at 2): the reserve waiter is served now
    await flushMicrotasks()
    deepStrictEqual(log, ['reserve@500'])
    expect(second?.status).to.equal('Reserved')
    await clock.runUntilIdle()
    deepStrictEqual(log, ['reserve@500', 'acquire@1500'])
  })

  it('rejects reserve with Cancelled when the signal aborts, and takes nothing', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 1, scheduler: clock })
    drain(limiter)
    const abort = new AbortController()
    const p = limiter.reserve({ signal: abort.signal })
    await clock.advance(300)
    abort.abort()
    deepStrictEqual(await settled(p), cancelled)
    expect(limiter.waiting).to.equal(0)
    expect(clock.pending()).to.equal(0)
  })

  it('reports an invalid cost from reserve and tryReserve as a Configuration error', async () => {
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: createVirtualClock() })
    expect(configurationMessage(() => limiter.tryReserve(11))).to.equal(
      'rate limiter: cost must be at most the capacity of tier "default" (10), got 11',
    )
    deepStrictEqual(await settled(limiter.reserve({ cost: Number.NaN })), {
      _tag: 'Configuration',
      message: 'rate limiter: cost must be a positive finite number, got NaN',
    })
    expect(limiter.tier().remaining).to.equal(10)
  })
})

describe('tier subsets (issue 14)', () => {
  const tiers: ReadonlyArray<RateTier> = [
    { name: 'shared', limit: 10, perMs: 1_000 },
    { name: 'model-a', limit: 2, perMs: 1_000 },
    { name: 'model-b', limit: 3, perMs: 1_000, weight: 2, burst: 3 },
  ]

  it('checks and charges only the named tiers', () => {
    const limiter = createMultiRateLimiter(tiers, { scheduler: createVirtualClock() })
    expect(E.isRight(limiter.tryAcquire({ tiers: ['shared', 'model-a'] }))).to.equal(true)
    deepStrictEqual(remainingOf(limiter), [9, 1, 6])
    expect(E.isRight(limiter.tryAcquire({ tiers: ['model-b'], cost: 3 }))).to.equal(true)
    deepStrictEqual(remainingOf(limiter), [9, 1, 0])
    // model-b is empty, but a call that does not use it does not see it
    expect(E.isRight(limiter.tryAcquire({ tiers: ['model-a'] }))).to.equal(true)
    deepStrictEqual(limitedOf(limiter.tryAcquire({ tiers: ['model-a', 'shared'] })).tier, 'model-a')
    deepStrictEqual(remainingOf(limiter), [9, 0, 0])
  })

  it('checks the cost against the capacity of the named tiers only', () => {
    const limiter = createMultiRateLimiter(tiers, { scheduler: createVirtualClock() })
    expect(E.isRight(limiter.tryAcquire({ tiers: ['shared'], cost: 8 }))).to.equal(true)
    expect(configurationMessage(() => limiter.tryAcquire({ tiers: ['shared', 'model-b'], cost: 4 }))).to.equal(
      'multi rate limiter: cost must be at most the capacity of tier "model-b" (6 divided by its weight 2), got 4',
    )
  })

  it('does not hold up a caller on other tiers behind a waiter, but keeps the order on a shared tier', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(
      [
        { name: 'a', limit: 1, perMs: 1_000 },
        { name: 'b', limit: 1, perMs: 100 },
      ],
      { scheduler: clock },
    )
    expect(E.isRight(limiter.tryAcquire())).to.equal(true) // both empty
    const log: string[] = []
    track(clock, limiter.acquire({ tiers: ['a', 'b'] }), log, 'ab') // a refills at 1000
    track(clock, limiter.acquire({ tiers: ['b'] }), log, 'b1') // behind ab on b
    await clock.advance(0)
    // a caller on b only cannot overtake ab, who waits on b too
    expect(limitedOf(limiter.tryAcquire({ tiers: ['b'] })).tier).to.equal('b')
    await clock.runUntilIdle()
    deepStrictEqual(log, ['ab@1000', 'b1@1100'])

    await clock.advance(900) // t = 2000: both full
    const log2: string[] = []
    expect(E.isRight(limiter.tryAcquire({ tiers: ['a'] }))).to.equal(true) // a empty until 3000
    track(clock, limiter.acquire({ tiers: ['a'] }), log2, 'a1')
    track(clock, limiter.acquire({ tiers: ['b'] }), log2, 'b2') // nobody waits on b: served now
    await clock.runUntilIdle()
    deepStrictEqual(log2, ['b2@2000', 'a1@3000'])
  })

  it('schedules a wake-up for a new head on another tier even when one is already scheduled', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(
      [
        { name: 'slow', limit: 1, perMs: 10_000 },
        { name: 'fast', limit: 1, perMs: 10 },
      ],
      { scheduler: clock },
    )
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
    const log: string[] = []
    track(clock, limiter.acquire({ tiers: ['slow'] }), log, 'slow')
    track(clock, limiter.acquire({ tiers: ['fast'] }), log, 'fast')
    await clock.advance(10)
    deepStrictEqual(log, ['fast@10'])
    await clock.runUntilIdle()
    deepStrictEqual(log, ['fast@10', 'slow@10000'])
  })

  const names = '"shared", "model-a", "model-b"'
  const invalid: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      'an unknown tier',
      { tiers: ['shared', 'model-c'] },
      `names of the limiter's tiers (${names}), got ["shared","model-c"]`,
    ],
    ['an empty list', { tiers: [] }, `a non-empty array of tier names (${names}), got []`],
    ['a duplicate name', { tiers: ['shared', 'shared'] }, 'distinct tier names, got ["shared","shared"]'],
    ['a string instead of a list', { tiers: 'shared' }, `a non-empty array of tier names (${names}), got "shared"`],
  ]
  for (const [title, request, rule] of invalid) {
    it(`rejects ${title} with a Configuration error naming the tiers`, async () => {
      const limiter = createMultiRateLimiter(tiers, { scheduler: createVirtualClock() })
      const message = configurationMessage(() => limiter.tryAcquire(request as RateRequest))
      expect(message).to.equal(`multi rate limiter: tiers must be ${rule}`)
      expect(configurationMessage(() => limiter.timeUntil(request as RateRequest))).to.equal(message)
      expect(configurationMessage(() => limiter.tryReserve(request as RateRequest))).to.equal(message)
      const r = await settled(limiter.acquire(request as AcquireOptions))
      deepStrictEqual(r, { _tag: 'Configuration', message })
      deepStrictEqual(remainingOf(limiter), [10, 2, 6])
    })
  }
})

describe('timeUntil (issue 14)', () => {
  it('is 0 when the call would be admitted now, else the whole ms until it would', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 4, scheduler: clock })
    expect(limiter.timeUntil(4)).to.equal(0)
    limiter.tryAcquire(3)
    expect(limiter.timeUntil()).to.equal(0)
    expect(limiter.timeUntil(2)).to.equal(250)
    expect(limiter.timeUntil({ cost: 4 })).to.equal(750)
    await clock.advance(250)
    expect(limiter.timeUntil(2)).to.equal(0)
  })

  it('counts the callers waiting on the same tiers, like the retryAfterMs of a refusal', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    drain(limiter)
    void limiter.acquire({ cost: 5 }).catch(() => undefined)
    expect(limiter.timeUntil()).to.equal(600)
    expect(limitedOf(limiter.tryAcquire()).retryAfterMs).to.equal(600)
    await clock.runUntilIdle()
  })

  it('waits for the next window of a fixed window, and the slowest named tier of several', () => {
    const clock = createVirtualClock(250)
    const limiter = createMultiRateLimiter(
      [
        { name: 'window', limit: 2, perMs: 1_000, kind: 'fixedWindow' },
        { name: 'bucket', limit: 1, perMs: 100 },
      ],
      { scheduler: clock },
    )
    limiter.tryAcquire({ tiers: ['window'], cost: 2 })
    expect(limiter.timeUntil({ tiers: ['bucket'] })).to.equal(0)
    expect(limiter.timeUntil()).to.equal(750)
  })

  it('rejects an invalid cost with a Configuration error', () => {
    const limiter = createRateLimiter({ ratePerSec: 4, scheduler: createVirtualClock() })
    expect(configurationMessage(() => limiter.timeUntil(0))).to.equal(
      'rate limiter: cost must be a positive finite number, got 0',
    )
    expect(configurationMessage(() => limiter.timeUntil(5))).to.equal(
      'rate limiter: cost must be at most the capacity of tier "default" (4), got 5',
    )
  })
})

describe('status and tier: used, remaining, resetsAt (issue 14)', () => {
  it('reports a fixed window: used and remaining in the current window, and when it ends', async () => {
    const clock = createVirtualClock(1_200)
    const limiter = createWindowedRateLimiter({ limit: 10, windowMs: 1_000, scheduler: clock, name: 'per-second' })
    limiter.tryAcquire(4)
    deepStrictEqual(limiter.tier('per-second'), {
      name: 'per-second',
      kind: 'fixedWindow',
      available: 6,
      capacity: 10,
      used: 4,
      remaining: 6,
      resetsAt: 2_000,
    })
    await clock.advance(800)
    deepStrictEqual([limiter.tier().used, limiter.tier().resetsAt], [0, 3_000])
  })

  it('reports a bucket: what is taken and not refilled yet, and no reset boundary', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    limiter.tryAcquire(6)
    await clock.advance(200)
    const s = limiter.tier()
    deepStrictEqual([s.used, s.remaining, s.resetsAt], [4, 6, undefined])
  })

  it('gives every tier of a multi-tier limiter in status(), and one by name in tier(name)', () => {
    const limiter = createMultiRateLimiter(
      [
        { name: 'calls', limit: 10, perMs: 1_000 },
        { name: 'units', limit: 100, perMs: 60_000, kind: 'fixedWindow', weight: 10 },
      ],
      { scheduler: createVirtualClock() },
    )
    limiter.tryAcquire(2)
    deepStrictEqual(
      limiter.status().map((s) => [s.name, s.used, s.remaining, s.resetsAt]),
      [
        ['calls', 2, 8, undefined],
        ['units', 20, 80, 60_000],
      ],
    )
    expect(limiter.tier('units').used).to.equal(20)
  })

  it('rejects an unknown tier name, or no name with several tiers, with a Configuration error', () => {
    const multi = createMultiRateLimiter([
      { name: 'a', limit: 1, perMs: 1_000 },
      { name: 'b', limit: 1, perMs: 1_000 },
    ])
    expect(configurationMessage(() => multi.tier())).to.equal(
      'multi rate limiter: tier must be one of the tier names ("a", "b"), got undefined',
    )
    expect(configurationMessage(() => multi.tier('c'))).to.equal(
      'multi rate limiter: tier must be one of the tier names ("a", "b"), got "c"',
    )
    expect(configurationMessage(() => createRateLimiter({ ratePerSec: 1 }).tier('api'))).to.equal(
      'rate limiter: tier must be one of the tier names ("default"), got "api"',
    )
  })
})

describe('scoped (issue 14)', () => {
  it('charges its cost and tiers by default, shares the tokens, and lets a call override them', () => {
    const limiter = createMultiRateLimiter(
      [
        { name: 'shared', limit: 10, perMs: 1_000 },
        { name: 'model-a', limit: 4, perMs: 1_000 },
      ],
      { scheduler: createVirtualClock() },
    )
    const modelA = limiter.scoped({ tiers: ['model-a'], cost: 2 })
    expect(E.isRight(modelA.tryAcquire())).to.equal(true)
    deepStrictEqual(remainingOf(limiter), [10, 2])
    expect(E.isRight(modelA.tryAcquire(1))).to.equal(true) // cost overridden, tiers kept
    deepStrictEqual(remainingOf(modelA), [10, 1])
    expect(E.isRight(modelA.tryAcquire({ tiers: ['shared'] }))).to.equal(true) // tiers overridden, cost kept
    deepStrictEqual(remainingOf(limiter), [8, 1])
    expect(limitedOf(modelA.tryAcquire()).tier).to.equal('model-a')
    expect(modelA.timeUntil()).to.equal(250)
  })

  it('keeps the limiter waits unless told otherwise', () => {
    const limiter = createRateLimiter({ ratePerSec: 10, waits: false })
    expect(limiter.scoped({ cost: 2 }).waits).to.equal(false)
    expect(limiter.scoped({ cost: 2, waits: true }).waits).to.equal(true)
  })

  it('rejects invalid options with a Configuration error at once', () => {
    const limiter = createRateLimiter({ ratePerSec: 10 })
    expect(configurationMessage(() => limiter.scoped({ cost: 0 }))).to.equal(
      'rate limiter: cost must be a positive finite number, got 0',
    )
    expect(configurationMessage(() => limiter.scoped({ tiers: ['nope'] }))).to.equal(
      `rate limiter: tiers must be names of the limiter's tiers ("default"), got ["nope"]`,
    )
    expect(configurationMessage(() => limiter.scoped(null as unknown as ScopedLimiterOptions))).to.equal(
      'rate limiter: scoped options must be an object { cost?, tiers?, waits? }, got null',
    )
    expect(configurationMessage(() => limiter.scoped({ waits: 'yes' as unknown as boolean }))).to.equal(
      'rate limiter: scoped waits must be a boolean, got "yes"',
    )
  })

  it('charges a weighted cost on a tier subset for every attempt of a task', async () => {
    const clock = createVirtualClock()
    const limiter = createMultiRateLimiter(
      [
        { name: 'requests', limit: 10, perMs: 1_000 },
        { name: 'tokens', limit: 1_000, perMs: 1_000 },
      ],
      { scheduler: clock },
    )
    let calls = 0
    const flow = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: task(
          () => {
            calls++
            if (calls < 3) throw new Error('upstream 503')
            return 'Done' as const
          },
          { retry: RetryMode.fixed(3, 10), rateLimiter: limiter.scoped({ tiers: ['tokens'], cost: 300 }) },
        ),
      },
    })
    const done = flow.orchestrate('A', { workflowId: 'w', scheduler: clock })
    await clock.runUntilIdle()
    expect(await done).to.equal('Done')
    expect(calls).to.equal(3)
    deepStrictEqual(remainingOf(limiter), [10, 120]) // 3 attempts x 300 on tokens, + 20 refilled during the two 10 ms waits
  })
})
