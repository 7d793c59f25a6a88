import { expect } from 'chai'
import fc from 'fast-check'

import { maxAttempts, retryDelayMs, RetryMode, validateRetryMode } from '../../src/RetryMode.js'

/** The delays before retries 0, 1, … `count - 1` (cockatiel's `expectDurations`); `undefined` = no retry left. */
const expectDurations = (
  mode: RetryMode,
  expected: ReadonlyArray<number | undefined>,
  random: () => number = () => 0.5,
): void => {
  expect(expected.map((_, i) => retryDelayMs(mode, i, random))).to.deep.equal(expected)
}

const noJitter = (maxRetries: number, baseDelayMs: number, multiplier: number, maxDelayMs: number): RetryMode =>
  RetryMode.exponentialCustom({ maxRetries, baseDelayMs, multiplier, maxDelayMs, jitter: 0 })

/** The largest double below 1: `random()` never returns 1 itself. */
const almostOne = 1 - 2 ** -53

describe('RetryMode', () => {
  it('builds each variant as plain data', () => {
    expect(RetryMode.none()).to.deep.equal({ _tag: 'None' })
    expect(RetryMode.fixed(2, 5)).to.deep.equal({ _tag: 'Fixed', retries: 2, delayMs: 5 })
    expect(
      RetryMode.exponentialCustom({ maxRetries: 6, baseDelayMs: 200, multiplier: 3, maxDelayMs: 10_000, jitter: 0.2 }),
    ).to.deep.equal({
      _tag: 'Exponential',
      maxRetries: 6,
      baseDelayMs: 200,
      multiplier: 3,
      maxDelayMs: 10_000,
      jitter: 0.2,
    })
  })

  it("gives exponential(n) cano's defaults: 100 ms, x2, 30 000 ms cap, 0.1 jitter", () => {
    expect(RetryMode.exponential(5)).to.deep.equal({
      _tag: 'Exponential',
      maxRetries: 5,
      baseDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0.1,
    })
  })

  it("gives default() cano's TaskConfig default: exponential with 3 retries", () => {
    expect(RetryMode.default()).to.deep.equal({
      _tag: 'Exponential',
      maxRetries: 3,
      baseDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0.1,
    })
  })
})

describe('maxAttempts', () => {
  it('counts the first attempt plus the retries', () => {
    expect(
      [
        RetryMode.none(),
        RetryMode.fixed(0, 5),
        RetryMode.fixed(2, 5),
        RetryMode.exponential(0),
        RetryMode.exponential(3),
        RetryMode.default(),
      ].map(maxAttempts),
    ).to.deep.equal([1, 1, 3, 1, 4, 4])
  })
})

describe('retryDelayMs', () => {
  it('never retries with none', () => {
    expectDurations(RetryMode.none(), [undefined, undefined])
  })

  it('waits the same delay for each of the fixed retries', () => {
    expectDurations(RetryMode.fixed(3, 250), [250, 250, 250, undefined, undefined])
    expectDurations(RetryMode.fixed(0, 250), [undefined])
  })

  it('truncates a fractional fixed delay to whole milliseconds', () => {
    expectDurations(RetryMode.fixed(2, 12.7), [12, 12, undefined])
  })

  it('doubles from the base up to the cap', () => {
    expectDurations(noJitter(6, 100, 2, 1_000), [100, 200, 400, 800, 1_000, 1_000, undefined])
  })

  it('follows the default exponential schedule when the jitter factor is 1', () => {
    expectDurations(RetryMode.default(), [100, 200, 400, undefined]) // random 0.5 -> factor exactly 1
    expectDurations(RetryMode.exponential(3), [100, 200, 400, undefined], () => 0.5)
  })

  it('applies any multiplier and truncates the result', () => {
    expectDurations(noJitter(4, 10, 1.5, 1_000), [10, 15, 22, 33, undefined])
    expectDurations(noJitter(3, 50, 1, 1_000), [50, 50, 50, undefined])
  })

  it('does not call random when jitter is 0', () => {
    let calls = 0
    retryDelayMs(noJitter(3, 100, 2, 1_000), 0, () => {
      calls += 1
      return 0
    })
    expect(calls).to.equal(0)
  })

  it('scales by 1 - jitter at random 0 and by up to 1 + jitter as random approaches 1', () => {
    const mode = RetryMode.exponentialCustom({
      maxRetries: 3,
      baseDelayMs: 1_000,
      multiplier: 2,
      maxDelayMs: 1_000_000,
      jitter: 0.1,
    })
    expect(retryDelayMs(mode, 0, () => 0)).to.equal(900)
    expect(retryDelayMs(mode, 0, () => 0.25)).to.equal(950)
    expect(retryDelayMs(mode, 0, () => 0.5)).to.equal(1_000)
    expect(retryDelayMs(mode, 0, () => 0.75)).to.equal(1_050)
    expect(retryDelayMs(mode, 0, () => almostOne)).to.be.within(1_099, 1_100)
    expect(retryDelayMs(mode, 1, () => 0)).to.equal(1_800)
  })

  it('applies jitter before the cap, so a delay never exceeds maxDelayMs (cano caps first)', () => {
    const mode = RetryMode.exponentialCustom({
      maxRetries: 2,
      baseDelayMs: 1_000,
      multiplier: 2,
      maxDelayMs: 1_000,
      jitter: 0.5,
    })
    expect(retryDelayMs(mode, 0, () => almostOne)).to.equal(1_000) // cano: 1 000 * 1.5 = 1 500
    expect(retryDelayMs(mode, 0, () => 0)).to.equal(500)
    expect(retryDelayMs(mode, 1, () => 0)).to.equal(1_000) // 2 000 * 0.5, under the cap
  })

  it('can reach 0 ms with 100 % jitter', () => {
    const mode = RetryMode.exponentialCustom({
      maxRetries: 1,
      baseDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 1_000,
      jitter: 1,
    })
    expect(retryDelayMs(mode, 0, () => 0)).to.equal(0)
  })

  it('gives maxDelayMs, not Infinity or NaN, for huge retry indices', () => {
    const mode = RetryMode.exponentialCustom({
      maxRetries: 10_000_000,
      baseDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0.1,
    })
    expect([0, 0.5, almostOne].map((r) => retryDelayMs(mode, 1_000_000, () => r))).to.deep.equal([
      30_000, 30_000, 30_000,
    ])
    const fullJitter = { ...mode, jitter: 1 }
    expect(retryDelayMs(fullJitter, 1_000_000, () => 0.5)).to.equal(30_000)
    expect(retryDelayMs(fullJitter, 1_000_000, () => 0)).to.equal(0) // factor 0: 0 ms, as at small indices
  })

  it('gives 0 at every index when the base delay is 0', () => {
    const mode = RetryMode.exponentialCustom({
      maxRetries: 10_000_000,
      baseDelayMs: 0,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0.1,
    })
    expect([0, 1, 1_100, 1_000_000].map((i) => retryDelayMs(mode, i, () => 0.5))).to.deep.equal([0, 0, 0, 0])
  })

  it('is an integer in [0, maxDelayMs] for every valid mode, index and random value', () => {
    const delay = fc.double({ min: 0, max: 2_147_483_647, noNaN: true })
    const exponential = fc.record({
      _tag: fc.constant('Exponential' as const),
      maxRetries: fc.nat(),
      baseDelayMs: delay,
      multiplier: fc.double({ min: 1, max: 1e6, noNaN: true }),
      maxDelayMs: delay,
      jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    const fixed = fc.record({ _tag: fc.constant('Fixed' as const), retries: fc.nat(), delayMs: delay })
    const mode: fc.Arbitrary<RetryMode> = fc.oneof(exponential, fixed, fc.constant(RetryMode.none()))
    const index = fc.oneof(fc.nat({ max: 100 }), fc.nat(), fc.constant(1_000_000))
    const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
    fc.assert(
      fc.property(mode, index, random, (m, i, r) => {
        expect(validateRetryMode(m, 'test')).to.equal(undefined)
        const d = retryDelayMs(m, i, () => r)
        if (i >= maxAttempts(m) - 1) {
          expect(d).to.equal(undefined)
          return
        }
        const cap = m._tag === 'Exponential' ? m.maxDelayMs : m._tag === 'Fixed' ? m.delayMs : 0
        expect(Number.isInteger(d), `delay ${String(d)}`).to.equal(true)
        expect(d).to.be.at.least(0).and.at.most(cap)
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('validateRetryMode', () => {
  const where = 'state "Fetch"'
  const messageOf = (mode: RetryMode): string | undefined => validateRetryMode(mode, where)?.message
  const exp = (p: Partial<Omit<Extract<RetryMode, { _tag: 'Exponential' }>, '_tag'>>): RetryMode =>
    RetryMode.exponentialCustom({
      maxRetries: 3,
      baseDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 1_000,
      jitter: 0.1,
      ...p,
    })
  const range = 'a finite number in [0, 2147483647]'

  it('accepts the constructors and the boundaries', () => {
    for (const mode of [
      RetryMode.none(),
      RetryMode.fixed(0, 0),
      RetryMode.fixed(3, 2_147_483_647),
      RetryMode.default(),
      exp({ multiplier: 1, jitter: 0 }),
      exp({ jitter: 1, baseDelayMs: 0, maxDelayMs: 0 }),
    ]) {
      expect(validateRetryMode(mode, where), JSON.stringify(mode)).to.equal(undefined)
    }
  })

  it('rejects negative, NaN and non-integer retry counts', () => {
    expect(validateRetryMode(RetryMode.fixed(-1, 10), where)).to.deep.equal({
      _tag: 'Configuration',
      message: 'state "Fetch": retry.retries must be a non-negative integer, got -1',
    })
    expect(messageOf(RetryMode.fixed(Number.NaN, 10))).to.equal(
      'state "Fetch": retry.retries must be a non-negative integer, got NaN',
    )
    expect(messageOf(RetryMode.fixed(1.5, 10))).to.equal(
      'state "Fetch": retry.retries must be a non-negative integer, got 1.5',
    )
    expect(messageOf(exp({ maxRetries: -2 }))).to.equal(
      'state "Fetch": retry.maxRetries must be a non-negative integer, got -2',
    )
    expect(messageOf(RetryMode.exponential(Number.POSITIVE_INFINITY))).to.equal(
      'state "Fetch": retry.maxRetries must be a non-negative integer, got Infinity',
    )
  })

  it('rejects negative, NaN, infinite and too large delays', () => {
    expect(messageOf(RetryMode.fixed(1, -5))).to.equal(`state "Fetch": retry.delayMs must be ${range}, got -5`)
    expect(messageOf(RetryMode.fixed(1, Number.NaN))).to.equal(`state "Fetch": retry.delayMs must be ${range}, got NaN`)
    expect(messageOf(RetryMode.fixed(1, Number.POSITIVE_INFINITY))).to.equal(
      `state "Fetch": retry.delayMs must be ${range}, got Infinity`,
    )
    expect(messageOf(RetryMode.fixed(1, 2 ** 31))).to.equal(
      `state "Fetch": retry.delayMs must be ${range}, got 2147483648`,
    )
    expect(messageOf(exp({ baseDelayMs: -1 }))).to.equal(`state "Fetch": retry.baseDelayMs must be ${range}, got -1`)
    expect(messageOf(exp({ baseDelayMs: Number.NaN }))).to.equal(
      `state "Fetch": retry.baseDelayMs must be ${range}, got NaN`,
    )
    expect(messageOf(exp({ maxDelayMs: Number.POSITIVE_INFINITY }))).to.equal(
      `state "Fetch": retry.maxDelayMs must be ${range}, got Infinity`,
    )
    expect(messageOf(exp({ maxDelayMs: 2 ** 31 }))).to.equal(
      `state "Fetch": retry.maxDelayMs must be ${range}, got 2147483648`,
    )
  })

  it('rejects a multiplier below 1 or not a finite number', () => {
    for (const multiplier of [0.5, 0, -2, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(messageOf(exp({ multiplier }))).to.equal(
        `state "Fetch": retry.multiplier must be a finite number >= 1, got ${String(multiplier)}`,
      )
    }
  })

  it('rejects jitter outside [0, 1] or NaN', () => {
    for (const jitter of [-0.1, 1.5, Number.NaN]) {
      expect(messageOf(exp({ jitter }))).to.equal(
        `state "Fetch": retry.jitter must be a number in [0, 1], got ${String(jitter)}`,
      )
    }
  })

  it('rejects a value that is not a RetryMode', () => {
    expect(messageOf({ _tag: 'Linear' } as unknown as RetryMode)).to.equal(
      'state "Fetch": retry is not a RetryMode (use RetryMode.none/fixed/exponential)',
    )
  })
})
