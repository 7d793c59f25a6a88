import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError, RateLimited } from '../../codecs/CanoError.js'
import { isCanoFailure } from '../../src/CanoError.js'
import type { RateLimiter, RateTier } from '../../src/RateLimiter.js'
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
    deepStrictEqual(limiter.status(), [{ name: 'default', available: 15, capacity: 15 }])
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
  ]
  for (const [title, options, message] of invalid) {
    it(`rejects ${title} with a Configuration error naming the field and value`, () => {
      expect(configurationMessage(() => createRateLimiter(options as never))).to.equal(`rate limiter: ${message}`)
    })
  }

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
