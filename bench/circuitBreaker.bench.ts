/**
 * Circuit breaker overhead on the success path, against calling the function directly (the floor) and
 * against cockatiel's `circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })`,
 * all measured in this run. Target (issue 6): our overhead over the direct call is at most half of
 * cockatiel's. Run alone with `npx tsx bench/circuitBreaker.bench.ts`.
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel'
import * as E from 'fp-ts/lib/Either.js'

import { createCircuitBreaker } from '../streams/createCircuitBreaker.js'
import { type BenchResult, formatTable, isMain, measure, median } from './lib.js'

const ITERATIONS = 200_000
const ROUNDS = 5

export async function run(): Promise<BenchResult[]> {
  const call = async (): Promise<number> => Promise.resolve(1)
  const ours = createCircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000, halfOpenMaxCalls: 1 })
  const theirs = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })
  const options = { iterations: ITERATIONS, repeats: 5 }

  // Interleave the three, round after round, so that a slow phase of the machine hits all of them
  // alike; each round yields its own overhead ratio and the report gives the medians.
  const direct: number[] = []
  const withPermit: number[] = []
  const cockatiel: number[] = []
  const ratios: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const d = await measure(() => call(), options)
    const o = await measure(() => ours.withPermit(call), options)
    const c = await measure(() => theirs.execute(call), options)
    direct.push(d)
    withPermit.push(o)
    cockatiel.push(c)
    ratios.push((o - d) / (c - d))
  }
  const floor = median(direct)
  const oursNs = median(withPermit)
  const theirsNs = median(cockatiel)
  const overheadRatio = median(ratios)

  const explicit = await measure(
    () => {
      const r = ours.tryAcquire()
      if (E.isRight(r)) r.right.success()
    },
    { iterations: 1_000_000 },
  )
  const open = createCircuitBreaker({ failureThreshold: 1 })
  const trip = open.tryAcquire()
  if (E.isRight(trip)) trip.right.failure()
  const rejected = await measure(() => open.tryAcquire(), { iterations: 1_000_000 })

  return [
    { name: 'direct await fn()', value: floor, unit: 'ns/op', note: 'the floor' },
    {
      name: 'breaker.withPermit(fn)',
      value: oursNs,
      unit: 'ns/op',
      baseline: 'direct await fn()',
      ratio: oursNs / floor,
      note: `overhead ${(oursNs - floor).toFixed(0)} ns`,
    },
    {
      name: 'cockatiel execute(fn)',
      value: theirsNs,
      unit: 'ns/op',
      baseline: 'direct await fn()',
      ratio: theirsNs / floor,
      note: `overhead ${(theirsNs - floor).toFixed(0)} ns`,
    },
    {
      name: 'overhead ratio: withPermit / cockatiel',
      value: overheadRatio,
      unit: 'x',
      baseline: 'cockatiel execute(fn)',
      ratio: overheadRatio,
      note: overheadRatio <= 0.5 ? 'ok (target <= 0.5)' : 'ABOVE TARGET (<= 0.5)',
    },
    { name: 'tryAcquire() + success() (closed)', value: explicit, unit: 'ns/op' },
    { name: 'tryAcquire() rejected (open)', value: rejected, unit: 'ns/op' },
  ]
}

if (isMain(import.meta.url)) {
  console.log(formatTable(await run(), 'circuit breaker (median of 5 interleaved rounds, ns per awaited call)'))
}
