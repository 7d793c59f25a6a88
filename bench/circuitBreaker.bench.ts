/**
 * Circuit breaker overhead on the success path, against calling the function directly (the floor) and
 * against cockatiel's `circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) })`,
 * all measured in this run. Target (issue 6): our overhead over the direct call is at most half of
 * cockatiel's. Issue 14: the sampling breaker (a failure rate over a 10 s window of 10 buckets) on the same
 * paths, as ratios against the consecutive breaker measured in the same rounds, and against cockatiel's
 * `SamplingBreaker`. Run alone with `npx tsx bench/circuitBreaker.bench.ts`.
 */
import { circuitBreaker, ConsecutiveBreaker, handleAll, SamplingBreaker } from 'cockatiel'
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler } from 'rxjs'

import { createCircuitBreaker, createSamplingCircuitBreaker } from '../streams/createCircuitBreaker.js'
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

  // --- issue 14: the sampling breaker ----------------------------------------------
  // failureRate 0.5 over 10 s in 10 buckets; the success path never trips it, and the failure path is
  // measured with a minimum it never reaches (each failure sums the window)
  const sampling = createSamplingCircuitBreaker({ failureRate: 0.5, windowMs: 10_000, buckets: 10 })
  const theirsSampling = circuitBreaker(handleAll, {
    halfOpenAfter: 30_000,
    breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000 }),
  })
  const samplingRounds: number[] = []
  const samplingVsConsecutive: number[] = []
  const cockatielSampling: number[] = []
  const samplingOverheadRatios: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const d = await measure(() => call(), options)
    const c = await measure(() => ours.withPermit(call), options)
    const s = await measure(() => sampling.withPermit(call), options)
    const t = await measure(() => theirsSampling.execute(call), options)
    samplingRounds.push(s)
    cockatielSampling.push(t)
    samplingVsConsecutive.push(s / c)
    samplingOverheadRatios.push((s - d) / (t - d))
  }
  const samplingNs = median(samplingRounds)
  const clockNs = await measure(() => asyncScheduler.now(), { iterations: 1_000_000 })
  const explicitSampling = await measure(
    () => {
      const r = sampling.tryAcquire()
      if (E.isRight(r)) r.right.success()
    },
    { iterations: 1_000_000 },
  )
  const neverTrips = { failureThreshold: 2 ** 31 - 1 }
  const consecutiveFailing = createCircuitBreaker(neverTrips)
  const samplingFailing = createSamplingCircuitBreaker({ minimumCalls: 2 ** 31 - 1, buckets: 10 })
  const failurePath = (b: typeof consecutiveFailing | typeof samplingFailing) => (): void => {
    const r = b.tryAcquire()
    if (E.isRight(r)) r.right.failure()
  }
  const consecutiveFailureNs = await measure(failurePath(consecutiveFailing), { iterations: 1_000_000 })
  const samplingFailureNs = await measure(failurePath(samplingFailing), { iterations: 1_000_000 })

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
    {
      name: 'sampling breaker.withPermit(fn)',
      value: samplingNs,
      unit: 'ns/op',
      baseline: 'breaker.withPermit(fn)',
      ratio: median(samplingVsConsecutive),
      note: `overhead ${(samplingNs - floor).toFixed(0)} ns over the direct call; median of per-round ratios`,
    },
    {
      name: 'cockatiel SamplingBreaker execute(fn)',
      value: median(cockatielSampling),
      unit: 'ns/op',
      baseline: 'direct await fn()',
      ratio: median(cockatielSampling) / floor,
    },
    {
      name: 'overhead ratio: sampling withPermit / cockatiel sampling',
      value: median(samplingOverheadRatios),
      unit: 'x',
      baseline: 'cockatiel SamplingBreaker',
      ratio: median(samplingOverheadRatios),
    },
    { name: 'asyncScheduler.now()', value: clockNs, unit: 'ns/op', note: 'the clock a sampling success reads' },
    {
      name: 'sampling tryAcquire() + success() (closed)',
      value: explicitSampling,
      unit: 'ns/op',
      baseline: 'tryAcquire() + success()',
      ratio: explicitSampling / explicit,
      note: `a success reads the clock and counts in its bucket; ${(explicitSampling - clockNs).toFixed(0)} ns beside the clock`,
    },
    { name: 'tryAcquire() + failure() (closed, never trips)', value: consecutiveFailureNs, unit: 'ns/op' },
    {
      name: 'sampling tryAcquire() + failure() (closed, never trips)',
      value: samplingFailureNs,
      unit: 'ns/op',
      baseline: 'tryAcquire() + failure()',
      ratio: samplingFailureNs / consecutiveFailureNs,
      note: 'each failure sums the 10 buckets',
    },
  ]
}

if (isMain(import.meta.url)) {
  console.log(formatTable(await run(), 'circuit breaker (median of 5 interleaved rounds, ns per awaited call)'))
}
