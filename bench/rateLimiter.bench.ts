/**
 * Rate limiter costs and accuracy: `tryAcquire` per call (the default `asyncScheduler` clock and an injected
 * virtual one, admitted and refused, one tier and three), and `acquire` throughput against the configured
 * rate over 10 s of virtual time (issue 6: within 2 %). Issue 14: reservations (`tryReserve` + `commit` /
 * `refund`, `reserve` awaited), a weighted cost, a scoped view, a tier subset and `timeUntil`, each as a
 * ratio against the plain call measured in the same run (`tryAcquire()` on the same limiter, `acquire()`
 * awaited). Virtual time: the tests' virtual clock
 * (test/helpers/virtualTime.ts, a `VirtualTimeScheduler`) whose wake-ups fire in order, so the 10 s take a
 * few milliseconds. Counting starts once the initial burst (the full bucket,
 * or the first window) is drained; calls served in (0, 10 s] are compared with `rate * 10 s`.
 * Run alone with `npx tsx bench/rateLimiter.bench.ts`.
 */
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler } from 'rxjs'

import type { LimiterRuntimeOptions, RateLimiter } from '../src/RateLimiter.js'
import { createMultiRateLimiter, createRateLimiter, createWindowedRateLimiter } from '../streams/createRateLimiter.js'
import { createVirtualClock } from '../test/helpers/virtualTime.js'
import { type BenchResult, formatTable, isMain, measure } from './lib.js'

const VIRTUAL_MS = 10_000

/** Serves `callers` concurrent acquire loops for VIRTUAL_MS after draining the initial burst. */
const throughput = async (
  make: (runtime: LimiterRuntimeOptions) => RateLimiter,
  callers: number,
  expectedPerSec: number,
): Promise<{ readonly served: number; readonly expected: number }> => {
  const clock = createVirtualClock()
  const limiter = make({ scheduler: clock })
  while (E.isRight(limiter.tryAcquire())) {
    // drain the initial capacity at t = 0
  }
  let served = 0
  const stop = new AbortController()
  const loop = async (): Promise<void> => {
    for (;;) {
      await limiter.acquire({ signal: stop.signal })
      served++
    }
  }
  const loops = Array.from({ length: callers }, () => loop().catch(() => undefined))
  await clock.advance(VIRTUAL_MS)
  stop.abort()
  await Promise.all(loops)
  return { served, expected: (expectedPerSec * VIRTUAL_MS) / 1_000 }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = []

  // --- tryAcquire cost per call -----------------------------------------------------
  const iterations = 1_000_000
  const plenty = { ratePerSec: 1e12 } // never runs dry during the measurement
  const wallClock = createRateLimiter(plenty)
  const fixedClock = createRateLimiter({ ...plenty, scheduler: createVirtualClock() })
  const dry = createRateLimiter({ ratePerSec: 1, scheduler: createVirtualClock() })
  dry.tryAcquire()
  const tiers = createMultiRateLimiter(
    [
      { name: 'per-second', limit: 1e12, perMs: 1_000 },
      { name: 'per-minute', limit: 1e12, perMs: 60_000 },
      { name: 'per-day', limit: 2_000_000_000, perMs: 86_400_000, kind: 'fixedWindow' },
    ],
    { scheduler: createVirtualClock() },
  )
  const perSecond = tiers.scoped({ tiers: ['per-second'] })
  const nowCost = await measure(() => Date.now(), { iterations })
  const schedulerNowCost = await measure(() => asyncScheduler.now(), { iterations })
  results.push(
    { name: 'Date.now()', value: nowCost, unit: 'ns/op', note: 'the wall clock, for reference' },
    { name: 'asyncScheduler.now()', value: schedulerNowCost, unit: 'ns/op', note: 'the default clock' },
    {
      name: 'tryAcquire admitted (default clock: asyncScheduler)',
      value: await measure(() => wallClock.tryAcquire(), { iterations }),
      unit: 'ns/op',
    },
    {
      name: 'tryAcquire admitted (injected virtual clock)',
      value: await measure(() => fixedClock.tryAcquire(), { iterations }),
      unit: 'ns/op',
    },
    {
      name: 'tryAcquire refused (RateLimited)',
      value: await measure(() => dry.tryAcquire(), { iterations }),
      unit: 'ns/op',
    },
    {
      name: 'tryAcquire admitted, 3 tiers',
      value: await measure(() => tiers.tryAcquire(), { iterations: 500_000 }),
      unit: 'ns/op',
    },
  )

  // --- issue 14: reservations, weighted cost, views, subsets, timeUntil --------------
  const plain = fixedClock
  const tryAcquireNs =
    results.find((r) => r.name === 'tryAcquire admitted (injected virtual clock)')?.value ?? Number.NaN
  const tiersNs = results.find((r) => r.name === 'tryAcquire admitted, 3 tiers')?.value ?? Number.NaN
  const versus = (name: string, value: number, baseline: string, baselineNs: number, note?: string): BenchResult => ({
    name,
    value,
    unit: 'ns/op',
    baseline,
    ratio: value / baselineNs,
    ...(note === undefined ? {} : { note }),
  })
  const view = plain.scoped({ cost: 2 })
  const acquireNs = await measure(() => plain.acquire(), { iterations: 200_000 })
  results.push(
    versus(
      'tryReserve() + commit()',
      await measure(
        () => {
          const r = plain.tryReserve()
          if (E.isRight(r)) r.right.commit()
        },
        { iterations },
      ),
      'tryAcquire admitted (injected)',
      tryAcquireNs,
    ),
    versus(
      'tryReserve() + refund()',
      await measure(
        () => {
          const r = plain.tryReserve()
          if (E.isRight(r)) r.right.refund()
        },
        { iterations },
      ),
      'tryAcquire admitted (injected)',
      tryAcquireNs,
      'the tokens go back: the bucket never runs dry',
    ),
    { name: 'acquire() awaited, admitted at once', value: acquireNs, unit: 'ns/op' },
    versus(
      'reserve() awaited + commit(), admitted at once',
      await measure(async () => (await plain.reserve()).commit(), { iterations: 200_000 }),
      'acquire() awaited',
      acquireNs,
    ),
    versus(
      'tryAcquire(2): a weighted cost',
      await measure(() => plain.tryAcquire(2), { iterations }),
      'tryAcquire admitted (injected)',
      tryAcquireNs,
    ),
    versus(
      'scoped({ cost: 2 }).tryAcquire()',
      await measure(() => view.tryAcquire(), { iterations }),
      'tryAcquire admitted (injected)',
      tryAcquireNs,
      'the view a task gets for a weighted cost',
    ),
    versus(
      'timeUntil() (admissible)',
      await measure(() => plain.timeUntil(), { iterations }),
      'tryAcquire admitted (injected)',
      tryAcquireNs,
    ),
    versus(
      "tryAcquire({ tiers: ['per-second'] }), 3 tiers",
      await measure(() => tiers.tryAcquire({ tiers: ['per-second'] }), { iterations: 500_000 }),
      'tryAcquire, 3 tiers',
      tiersNs,
      'a subset named per call (checked each time)',
    ),
    versus(
      "scoped({ tiers: ['per-second'] }).tryAcquire(), 3 tiers",
      await measure(() => perSecond.tryAcquire(), { iterations: 500_000 }),
      'tryAcquire, 3 tiers',
      tiersNs,
      'the subset checked once, when the view is made',
    ),
  )

  // --- acquire throughput over 10 s of virtual time ---------------------------------
  const cases: ReadonlyArray<readonly [string, (runtime: LimiterRuntimeOptions) => RateLimiter, number, number]> = [
    ['bucket 100/s, 1 caller', (rt) => createRateLimiter({ ratePerSec: 100, ...rt }), 1, 100],
    ['bucket 7/s + burst 3, 4 callers', (rt) => createRateLimiter({ ratePerSec: 7, burst: 3, ...rt }), 4, 7],
    ['bucket 3/s (333.3 ms apart), 1 caller', (rt) => createRateLimiter({ ratePerSec: 3, ...rt }), 1, 3],
    ['bucket 1000/min, 8 callers', (rt) => createRateLimiter({ tokens: 1_000, perMs: 60_000, ...rt }), 8, 1_000 / 60],
    ['window 50 per 1 s, 2 callers', (rt) => createWindowedRateLimiter({ limit: 50, windowMs: 1_000, ...rt }), 2, 50],
    [
      'tiers 10/s + 500/min, 3 callers',
      (rt) =>
        createMultiRateLimiter(
          [
            { name: 'per-second', limit: 10, perMs: 1_000 },
            { name: 'per-minute', limit: 500, perMs: 60_000 },
          ],
          rt,
        ),
      3,
      10,
    ],
  ]
  for (const [name, make, callers, ratePerSec] of cases) {
    const { served, expected } = await throughput(make, callers, ratePerSec)
    const ratio = served / expected
    // calls are whole: a fractional expectation (166.7) is met by either neighbour
    const ok = Math.abs(served - expected) <= Math.max(0.02 * expected, expected % 1 === 0 ? 0 : 1)
    results.push({
      name: `acquire throughput, ${name}`,
      value: served,
      unit: 'calls/10s',
      baseline: `rate x 10 s = ${expected.toFixed(1)}`,
      ratio,
      note: ok ? 'ok (within 2 %)' : 'OFF BY MORE THAN 2 %',
    })
  }
  return results
}

if (isMain(import.meta.url)) {
  console.log(formatTable(await run(), 'rate limiters (tryAcquire: median ns per call; acquire: 10 s of virtual time)'))
}
