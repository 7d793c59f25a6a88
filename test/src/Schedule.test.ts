import { expect } from 'chai'
import { Cron } from 'croner'
import fc from 'fast-check'

import { backoffDelayMs, BackoffPolicy, isTripped, validateBackoffPolicy } from '../../src/BackoffPolicy.js'
import { configurationError, taskExecutionError } from '../../src/CanoError.js'
import { type FlowInfo, flowInfoReducer, type FlowUpdate, initialFlowInfo } from '../../src/FlowInfo.js'
import { nextCronMs, nextFixedRateMs, previousCronMs, Schedule, validateSchedule } from '../../src/Schedule.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'

/** The largest double below 1: `random()` never returns 1 itself. */
const almostOne = 1 - 2 ** -53

const noJitter = (options: Partial<BackoffPolicy> = {}): BackoffPolicy => BackoffPolicy.of({ jitter: 0, ...options })

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString())

describe('every', () => {
  it('builds a fixed-delay interval by default', () => {
    deepStrictEqual<Schedule>(Schedule.every(60_000), { _tag: 'Every', intervalMs: 60_000, mode: 'fixedDelay' })
  })

  it('builds a fixed-rate interval on request', () => {
    deepStrictEqual<Schedule>(Schedule.every(500, { mode: 'fixedRate' }), {
      _tag: 'Every',
      intervalMs: 500,
      mode: 'fixedRate',
    })
  })
})

describe('cron', () => {
  it('keeps the expression and defaults the time zone to UTC', () => {
    deepStrictEqual<Schedule>(Schedule.cron('0 30 2 * * *'), { _tag: 'Cron', expr: '0 30 2 * * *', timezone: 'UTC' })
  })

  it('keeps a named time zone', () => {
    deepStrictEqual<Schedule>(Schedule.cron('0 0 6 * * MON-FRI', { timezone: 'Europe/Berlin' }), {
      _tag: 'Cron',
      expr: '0 0 6 * * MON-FRI',
      timezone: 'Europe/Berlin',
    })
  })
})

describe('manual', () => {
  it('builds the manual schedule', () => {
    deepStrictEqual<Schedule>(Schedule.manual(), { _tag: 'Manual' })
  })
})

describe('backoffPolicy', () => {
  it("has cano's defaults: 1 s, x2, 5 min cap, 10 % jitter, never trips", () => {
    deepStrictEqual(BackoffPolicy.of(), {
      initialMs: 1_000,
      multiplier: 2,
      maxDelayMs: 300_000,
      jitter: 0.1,
      streakLimit: undefined,
    })
  })

  it('merges the given fields over the defaults', () => {
    deepStrictEqual(BackoffPolicy.of({ streakLimit: 3, initialMs: 50 }), {
      initialMs: 50,
      multiplier: 2,
      maxDelayMs: 300_000,
      jitter: 0.1,
      streakLimit: 3,
    })
  })
})

describe('initialFlowInfo', () => {
  it('is Idle with every counter at 0 and every time unset', () => {
    deepStrictEqual<FlowInfo>(initialFlowInfo('etl'), {
      id: 'etl',
      status: { _tag: 'Idle' },
      runCount: 0,
      lastRun: undefined,
      failureStreak: 0,
      nextEligible: undefined,
      lastError: undefined,
      skippedTicks: 0,
    })
  })
})

describe('isTripped', () => {
  it('trips when the streak reaches the limit', () => {
    const p = BackoffPolicy.of({ streakLimit: 3 })
    expect([0, 1, 2, 3, 4].map((n) => isTripped(p, n))).to.deep.equal([false, false, false, true, true])
  })

  it('trips on the first failure with a limit of 0', () => {
    expect(isTripped(BackoffPolicy.of({ streakLimit: 0 }), 1)).to.equal(true)
  })

  it('never trips without a limit', () => {
    expect(isTripped(BackoffPolicy.of(), Number.MAX_SAFE_INTEGER)).to.equal(false)
  })
})

describe('backoffDelayMs', () => {
  it('doubles from 1 s and caps at 5 min with the defaults and no jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => backoffDelayMs(noJitter(), n))).to.deep.equal([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000,
    ])
  })

  it('treats a streak of 0 as 1', () => {
    expect(backoffDelayMs(noJitter(), 0)).to.equal(1_000)
  })

  it('scales by 1 + jitter * (2 * random() - 1)', () => {
    const p = BackoffPolicy.of({ jitter: 0.1 })
    expect([0, 0.25, 0.5, 0.75].map((r) => backoffDelayMs(p, 1, () => r))).to.deep.equal([900, 950, 1_000, 1_050])
  })

  it('applies jitter before the cap, so a delay never exceeds maxDelayMs', () => {
    const p = BackoffPolicy.of({ jitter: 0.5, maxDelayMs: 10_000 })
    // streak 4: 8 000 ms raw; x1.5 is 12 000, capped at 10 000 (cano would cap to 10 000, then jitter up to 15 000, then cap)
    expect(backoffDelayMs(p, 4, () => almostOne)).to.equal(10_000)
    // streak 4 with random 0: 8 000 x 0.5 = 4 000, below the cap (cano: min(8 000, cap) x 0.5 = 4 000 too)
    expect(backoffDelayMs(p, 4, () => 0)).to.equal(4_000)
    // streak 6: 32 000 raw x 0.5 = 16 000, still capped; cano would give 5 000 (cap first, then jitter)
    expect(backoffDelayMs(p, 6, () => 0)).to.equal(10_000)
  })

  it('is an integer in [0, maxDelayMs] for any policy, streak and random value', () => {
    fc.assert(
      fc.property(
        fc.record({
          initialMs: fc.integer({ min: 0, max: 2_147_483_647 }),
          multiplier: fc.double({ min: 1, max: 1e6, noNaN: true }),
          maxDelayMs: fc.integer({ min: 0, max: 2_147_483_647 }),
          jitter: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: almostOne, noNaN: true }),
        (p, streak, r) => {
          const d = backoffDelayMs({ ...p, streakLimit: undefined }, streak, () => r)
          expect(Number.isInteger(d) && d >= 0 && d <= p.maxDelayMs).to.equal(true)
        },
      ),
    )
  })

  it('waits 0 ms for a 0 ms initial delay, even when multiplier^streak overflows', () => {
    expect(backoffDelayMs(noJitter({ initialMs: 0, multiplier: 10 }), 1_000)).to.equal(0)
  })
})

describe('nextFixedRateMs', () => {
  it('returns the next grid point strictly after the given time', () => {
    expect([0, 1, 999, 1_000, 2_500].map((t) => nextFixedRateMs(0, 1_000, t))).to.deep.equal([
      1_000, 1_000, 1_000, 2_000, 3_000,
    ])
  })

  it('returns the anchor for a time before it', () => {
    expect(nextFixedRateMs(500, 1_000, 0)).to.equal(500)
  })
})

describe('nextCronMs', () => {
  it('reads 6 fields seconds first, strictly after the given time', () => {
    const s = Schedule.cron('30 * * * * *')
    expect(iso(nextCronMs(s, Date.UTC(2026, 0, 1, 0, 0, 0)))).to.equal('2026-01-01T00:00:30.000Z')
    expect(iso(nextCronMs(s, Date.UTC(2026, 0, 1, 0, 0, 30)))).to.equal('2026-01-01T00:01:30.000Z')
  })

  it('reads 5 fields minute first', () => {
    expect(iso(nextCronMs(Schedule.cron('*/15 * * * *'), Date.UTC(2026, 0, 1, 0, 0, 0, 500)))).to.equal(
      '2026-01-01T00:15:00.000Z',
    )
  })

  it('fires at the first valid time after a spring-forward gap in the time zone', () => {
    const s = Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' })
    const fires: Array<string | undefined> = []
    let t: number | undefined = Date.UTC(2026, 2, 27, 12)
    for (let i = 0; i < 3 && t !== undefined; i++) {
      t = nextCronMs(s, t)
      fires.push(iso(t))
    }
    // 02:30 CET is 01:30Z; on 2026-03-29 02:30 does not exist, 03:00 CEST is 01:00Z; then 02:30 CEST is 00:30Z
    expect(fires).to.deep.equal(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'])
  })

  it('fires once on a time that occurs twice when the clocks go back', () => {
    const s = Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' })
    const fires: Array<string | undefined> = []
    let t: number | undefined = Date.UTC(2026, 9, 23, 12)
    for (let i = 0; i < 3 && t !== undefined; i++) {
      t = nextCronMs(s, t)
      fires.push(iso(t))
    }
    expect(fires).to.deep.equal(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z'])
  })

  it('returns undefined when the expression never fires again', () => {
    expect(nextCronMs(Schedule.cron('0 0 0 1 1 * 2020'), Date.UTC(2026, 0, 1))).to.equal(undefined)
  })
})

describe('previousCronMs', () => {
  it('returns the last fire time strictly before the given time', () => {
    const hourly = Schedule.cron('0 0 * * * *')
    expect(iso(previousCronMs(hourly, Date.UTC(2026, 0, 1, 10, 30)))).to.equal('2026-01-01T10:00:00.000Z')
    expect(iso(previousCronMs(hourly, Date.UTC(2026, 0, 1, 10)))).to.equal('2026-01-01T09:00:00.000Z')
    expect(iso(previousCronMs(hourly, Date.UTC(2026, 0, 1, 10, 0, 0, 1)))).to.equal('2026-01-01T10:00:00.000Z')
  })

  it('reads the expression in its time zone, as nextCronMs does', () => {
    const s = Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' })
    // 02:30 does not exist on 2026-03-29 in Berlin: the fire time is 03:00 CEST (01:00Z), as nextCronMs says
    expect(iso(previousCronMs(s, Date.UTC(2026, 2, 29, 12)))).to.equal('2026-03-29T01:00:00.000Z')
    expect(nextCronMs(s, Date.UTC(2026, 2, 28, 12))).to.equal(previousCronMs(s, Date.UTC(2026, 2, 29, 12)))
  })

  it('returns undefined when the expression never fired before', () => {
    expect(previousCronMs(Schedule.cron('0 0 0 1 1 * 2030'), Date.UTC(2026, 0, 1))).to.equal(undefined)
  })
})

describe('flowInfoReducer', () => {
  const boom = taskExecutionError('boom')
  const fold = (policy: BackoffPolicy, updates: ReadonlyArray<FlowUpdate>, random = () => 0.5): FlowInfo =>
    updates.reduce(flowInfoReducer(policy, random), initialFlowInfo('etl'))

  it('counts a dispatched run and stamps its start', () => {
    deepStrictEqual(fold(noJitter(), [{ _tag: 'Dispatched', at: 10 }]), {
      ...initialFlowInfo('etl'),
      status: { _tag: 'Running' },
      runCount: 1,
      lastRun: 10,
    })
  })

  it('backs off after a failure until at + backoffDelayMs(streak)', () => {
    deepStrictEqual(
      fold(noJitter(), [
        { _tag: 'Dispatched', at: 0 },
        { _tag: 'Failed', at: 40, error: boom },
        { _tag: 'Dispatched', at: 2_000 },
        { _tag: 'Failed', at: 2_010, error: boom },
      ]),
      {
        id: 'etl',
        status: { _tag: 'Backoff', until: 4_010, streak: 2, lastError: boom },
        runCount: 2,
        lastRun: 2_000,
        failureStreak: 2,
        nextEligible: 4_010,
        lastError: boom,
        skippedTicks: 0,
      },
    )
  })

  it('uses the injected random source for the jitter', () => {
    const info = fold(BackoffPolicy.of({ jitter: 0.5 }), [{ _tag: 'Failed', at: 0, error: boom }], () => 0)
    deepStrictEqual(info.nextEligible, 500)
  })

  it('trips when the streak reaches the limit, with no eligible time', () => {
    deepStrictEqual(
      fold(noJitter({ streakLimit: 2 }), [
        { _tag: 'Failed', at: 0, error: taskExecutionError('first') },
        { _tag: 'Failed', at: 5_000, error: boom },
      ]),
      {
        ...initialFlowInfo('etl'),
        status: { _tag: 'Tripped', streak: 2, lastError: boom },
        failureStreak: 2,
        lastError: boom,
      },
    )
  })

  it('completes on success, clearing the streak and the window but keeping the last error', () => {
    deepStrictEqual(
      fold(noJitter(), [
        { _tag: 'Dispatched', at: 0 },
        { _tag: 'Failed', at: 1, error: boom },
        { _tag: 'Dispatched', at: 5 },
        { _tag: 'Succeeded' },
      ]),
      { ...initialFlowInfo('etl'), status: { _tag: 'Completed' }, runCount: 2, lastRun: 5, lastError: boom },
    )
  })

  it('returns to Idle on cancel without touching the streak', () => {
    deepStrictEqual(
      fold(noJitter(), [{ _tag: 'Failed', at: 0, error: boom }, { _tag: 'Dispatched', at: 10 }, { _tag: 'Cancelled' }]),
      {
        ...initialFlowInfo('etl'),
        status: { _tag: 'Idle' },
        runCount: 1,
        lastRun: 10,
        failureStreak: 1,
        nextEligible: 1_000,
        lastError: boom,
      },
    )
  })

  it('counts skipped ticks', () => {
    deepStrictEqual(fold(noJitter(), [{ _tag: 'TickSkipped' }, { _tag: 'TickSkipped' }]).skippedTicks, 2)
  })

  it('clears the streak, the window and the last error on reset', () => {
    deepStrictEqual(
      fold(noJitter({ streakLimit: 1 }), [
        { _tag: 'Dispatched', at: 0 },
        { _tag: 'Failed', at: 1, error: boom },
        { _tag: 'Reset' },
      ]),
      { ...initialFlowInfo('etl'), runCount: 1, lastRun: 0 },
    )
  })
})

describe('validateSchedule', () => {
  const where = 'flow "f"'

  it('accepts every constructor', () => {
    expect(
      [
        Schedule.every(1),
        Schedule.every(2_147_483_647, { mode: 'fixedRate' }),
        Schedule.cron('0 0 * * * *'),
        Schedule.cron('0 * * * *'),
        Schedule.manual(),
      ].map((s) => validateSchedule(s, where)),
    ).to.deep.equal([undefined, undefined, undefined, undefined, undefined])
  })

  it('rejects a non-positive, non-finite or too large interval', () => {
    expect(
      [0, -5, Number.NaN, Number.POSITIVE_INFINITY, 2_147_483_648].map((ms) =>
        validateSchedule(Schedule.every(ms), where),
      ),
    ).to.deep.equal([
      configurationError('flow "f": schedule.intervalMs must be a finite number in (0, 2147483647], got 0'),
      configurationError('flow "f": schedule.intervalMs must be a finite number in (0, 2147483647], got -5'),
      configurationError('flow "f": schedule.intervalMs must be a finite number in (0, 2147483647], got NaN'),
      configurationError('flow "f": schedule.intervalMs must be a finite number in (0, 2147483647], got Infinity'),
      configurationError('flow "f": schedule.intervalMs must be a finite number in (0, 2147483647], got 2147483648'),
    ])
  })

  it('rejects an unknown interval mode', () => {
    expect(validateSchedule(Schedule.every(10, { mode: 'sometimes' as 'fixedRate' }), where)).to.deep.equal(
      configurationError(`flow "f": schedule.mode must be 'fixedDelay' or 'fixedRate', got "sometimes"`),
    )
  })

  it("rejects a cron expression croner cannot parse, with croner's reason", () => {
    const reason = ((): string => {
      try {
        new Cron('61 * * * * *', { paused: true })
        return ''
      } catch (e: unknown) {
        return (e as Error).message
      }
    })()
    expect(validateSchedule(Schedule.cron('61 * * * * *'), where)).to.deep.equal(
      configurationError(`flow "f": Invalid cron expression: "61 * * * * *" (${reason})`),
    )
  })

  it('rejects an unknown time zone', () => {
    expect(validateSchedule(Schedule.cron('0 * * * * *', { timezone: 'Mars/Olympus' }), where)).to.deep.equal(
      configurationError('flow "f": schedule.timezone must be an IANA time zone name, got "Mars/Olympus"'),
    )
  })

  it('rejects something that is not a schedule', () => {
    expect(validateSchedule({ _tag: 'Sometimes' } as unknown as Schedule, where)).to.deep.equal(
      configurationError(
        'flow "f": schedule must be built with Schedule.every(), Schedule.cron() or Schedule.manual()',
      ),
    )
  })
})

describe('validateBackoffPolicy', () => {
  const where = 'flow "f"'

  it('accepts the defaults and a trip limit of 0', () => {
    expect(
      [BackoffPolicy.of(), BackoffPolicy.of({ streakLimit: 0 })].map((p) => validateBackoffPolicy(p, where)),
    ).to.deep.equal([undefined, undefined])
  })

  it('names the field and the rule of each bad value', () => {
    expect(
      [
        BackoffPolicy.of({ initialMs: -1 }),
        BackoffPolicy.of({ multiplier: 0.5 }),
        BackoffPolicy.of({ maxDelayMs: Number.POSITIVE_INFINITY }),
        BackoffPolicy.of({ jitter: 2 }),
        BackoffPolicy.of({ streakLimit: 1.5 }),
      ].map((p) => validateBackoffPolicy(p, where)),
    ).to.deep.equal([
      configurationError('flow "f": backoff.initialMs must be a finite number in [0, 2147483647], got -1'),
      configurationError('flow "f": backoff.multiplier must be a finite number >= 1, got 0.5'),
      configurationError('flow "f": backoff.maxDelayMs must be a finite number in [0, 2147483647], got Infinity'),
      configurationError('flow "f": backoff.jitter must be a number in [0, 1], got 2'),
      configurationError('flow "f": backoff.streakLimit must be undefined or a non-negative integer, got 1.5'),
    ])
  })
})
