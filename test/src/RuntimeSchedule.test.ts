/**
 * The pure parts of runtime schedules (src/RuntimeSchedule.ts): the tick instants every process shares,
 * the id of a tick's run, which ticks are due when a timer fires, and the checks of the option. The
 * runtime with its timers is tested in test/roots/RuntimeSchedules.test.ts.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'

import {
  checkRuntimeSchedules,
  dueTicks,
  type DueTicksWindow,
  latestTickMs,
  nextTickMs,
  scheduledRunId,
  type TickSchedule,
} from '../../src/RuntimeSchedule.js'
import { type EverySchedule, Schedule } from '../../src/Schedule.js'

const every = (ms: number, mode: 'fixedDelay' | 'fixedRate' = 'fixedDelay'): EverySchedule =>
  Schedule.every(ms, { mode })
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString())
const T0 = Date.UTC(2026, 0, 1)

describe('scheduledRunId', () => {
  it('is the schedule id and the tick as ISO-8601 UTC with milliseconds', () => {
    expect(scheduledRunId('beat', T0 + 200)).to.equal('beat@2026-01-01T00:00:00.200Z')
    expect(scheduledRunId('nightly-report', Date.UTC(2026, 0, 2, 1, 30))).to.equal(
      'nightly-report@2026-01-02T01:30:00.000Z',
    )
  })

  it('gives distinct ticks distinct ids and one tick one id', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), fc.integer({ min: 0, max: 4e12 }), (a, b) => {
        expect(scheduledRunId('s', a) === scheduledRunId('s', b)).to.equal(a === b)
      }),
    )
  })
})

describe('nextTickMs', () => {
  it('puts every(ms) on the epoch grid, whatever its mode and whoever asks', () => {
    for (const mode of ['fixedDelay', 'fixedRate'] as const) {
      expect(nextTickMs(every(200, mode), T0 + 50)).to.equal(T0 + 200)
      expect(nextTickMs(every(200, mode), T0 + 199)).to.equal(T0 + 200)
      expect(nextTickMs(every(200, mode), T0 + 200)).to.equal(T0 + 400)
    }
    // an hour ticks on the full hours UTC
    expect(iso(nextTickMs(every(3_600_000), Date.UTC(2026, 0, 1, 10, 17, 3)))).to.equal('2026-01-01T11:00:00.000Z')
  })

  it("takes a cron schedule's next fire time", () => {
    expect(iso(nextTickMs(Schedule.cron('*/15 * * * *'), T0 + 1))).to.equal('2026-01-01T00:15:00.000Z')
  })
})

describe('latestTickMs', () => {
  it('is the latest grid point at or before the time', () => {
    expect(latestTickMs(every(200), T0 + 399)).to.equal(T0 + 200)
    expect(latestTickMs(every(200), T0 + 400)).to.equal(T0 + 400)
  })

  it('is the latest cron fire time at or before the time', () => {
    const hourly = Schedule.cron('0 0 * * * *')
    expect(iso(latestTickMs(hourly, Date.UTC(2026, 0, 1, 10)))).to.equal('2026-01-01T10:00:00.000Z')
    expect(iso(latestTickMs(hourly, Date.UTC(2026, 0, 1, 10, 59, 59, 999)))).to.equal('2026-01-01T10:00:00.000Z')
    expect(latestTickMs(Schedule.cron('0 0 0 1 1 * 2030'), T0)).to.equal(undefined)
  })

  it('is undefined before the epoch', () => {
    expect(latestTickMs(every(200), -1)).to.equal(undefined)
  })
})

describe('dueTicks', () => {
  const grid = every(200)
  const window = (w: Partial<DueTicksWindow>): DueTicksWindow => ({
    lastMs: Number.NEGATIVE_INFINITY,
    nowMs: 1_050,
    catchUpMs: 0,
    lookBackMs: 1_000_000,
    missed: 'skip',
    ...w,
  })

  it("at start: nothing with 'skip', the latest tick at or before now with 'latest'", () => {
    expect(dueTicks(grid, window({}))).to.deep.equal([])
    expect(dueTicks(grid, window({ missed: 'latest' }))).to.deep.equal([1_000])
    expect(dueTicks(grid, window({ missed: 'latest', nowMs: 1_000 }))).to.deep.equal([1_000])
  })

  it("'latest' looks back at most lookBackMs (an older tick's run may have been pruned)", () => {
    expect(dueTicks(grid, window({ missed: 'latest', lookBackMs: 50 }))).to.deep.equal([1_000])
    expect(dueTicks(grid, window({ missed: 'latest', lookBackMs: 49 }))).to.deep.equal([])
  })

  it('a timer on time: the tick it waited for', () => {
    expect(dueTicks(grid, window({ lastMs: 1_050, nowMs: 1_200, catchUpMs: 300 }))).to.deep.equal([1_200])
  })

  it('a late timer: every tick it was late for, up to catchUpMs old', () => {
    expect(dueTicks(grid, window({ lastMs: 1_050, nowMs: 1_450, catchUpMs: 300 }))).to.deep.equal([1_200, 1_400])
  })

  it("a timer later than catchUpMs: older ticks are missed ('skip') or the latest of them runs ('latest')", () => {
    const late = window({ lastMs: 1_000, nowMs: 1_650, catchUpMs: 300 })
    expect(dueTicks(grid, late)).to.deep.equal([1_400, 1_600])
    expect(dueTicks(grid, { ...late, missed: 'latest' })).to.deep.equal([1_200, 1_400, 1_600])
    // nothing was missed: 'latest' adds nothing
    expect(dueTicks(grid, { ...late, lastMs: 1_300, missed: 'latest' })).to.deep.equal([1_400, 1_600])
  })

  it('a clock that stepped back makes nothing due', () => {
    expect(dueTicks(grid, window({ lastMs: 1_050, nowMs: 900, catchUpMs: 300, missed: 'latest' }))).to.deep.equal([])
  })

  it('works on cron fire times', () => {
    const everySecond = Schedule.cron('* * * * * *')
    expect(dueTicks(everySecond, window({ lastMs: T0 + 500, nowMs: T0 + 2_500, catchUpMs: 5_000 }))).to.deep.equal([
      T0 + 1_000,
      T0 + 2_000,
    ])
  })

  it('timers within catchUpMs of each other record every tick once, in order', () => {
    const schedule: TickSchedule = every(200)
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 299 }), { minLength: 1, maxLength: 60 }), (gaps) => {
        const start = 1_050
        let last = start
        const recorded: number[] = [...dueTicks(schedule, window({ nowMs: start, missed: 'latest' }))]
        for (const gap of gaps) {
          const now = last + gap
          recorded.push(...dueTicks(schedule, window({ lastMs: last, nowMs: now, catchUpMs: 300, missed: 'latest' })))
          last = now
        }
        const expected = [1_000]
        for (let t = 1_200; t <= last; t += 200) expected.push(t)
        expect(recorded).to.deep.equal(expected)
      }),
    )
  })
})

describe('checkRuntimeSchedules', () => {
  const names = ['report', 'sync']
  const message = (u: unknown): string => {
    const checked = checkRuntimeSchedules(u, names)
    return E.isLeft(checked) ? checked.left.message : 'accepted'
  }

  it('accepts every and cron schedules, with the defaults filled in', () => {
    expect(
      checkRuntimeSchedules(
        [
          { id: 'a', workflow: 'report', schedule: Schedule.every(1_000) },
          { id: 'b', workflow: 'sync', schedule: Schedule.cron('0 * * * *'), input: { full: true }, missed: 'latest' },
        ],
        names,
      ),
    ).to.deep.equal(
      E.right([
        { id: 'a', workflow: 'report', schedule: Schedule.every(1_000), input: null, missed: 'skip' },
        { id: 'b', workflow: 'sync', schedule: Schedule.cron('0 * * * *'), input: { full: true }, missed: 'latest' },
      ]),
    )
    expect(checkRuntimeSchedules(undefined, names)).to.deep.equal(E.right([]))
  })

  it('names the schedule in every refusal', () => {
    const ok = { workflow: 'report', schedule: Schedule.every(1_000) }
    expect(message({})).to.equal('createRuntime: schedules must be an array, got {}')
    expect(message([null])).to.equal('createRuntime: schedules[0] must be an object, got null')
    expect(message([{ ...ok, id: '' }])).to.equal(
      'createRuntime: schedules[0]: id must be a non-empty string without NUL or unpaired surrogates (it prefixes run ids), got ""',
    )
    expect(message([{ ...ok, id: 'a\u0000' }])).to.match(/^createRuntime: schedules\[0\]: id must be/)
    expect(
      message([
        { ...ok, id: 'a' },
        { ...ok, id: 'a' },
      ]),
    ).to.equal('createRuntime: schedule "a" is declared twice: schedule ids must be unique')
    expect(message([{ ...ok, id: 'a', workflow: 'nope' }])).to.equal(
      'createRuntime: schedule "a": workflow "nope" is not registered (known: "report", "sync")',
    )
    expect(message([{ ...ok, id: 'a', schedule: Schedule.every(0) }])).to.equal(
      'createRuntime: schedule "a": schedule.intervalMs must be a finite number in (0, 2147483647], got 0',
    )
    expect(message([{ ...ok, id: 'a', schedule: Schedule.cron('not cron') }])).to.match(
      /^createRuntime: schedule "a": Invalid cron expression: "not cron"/,
    )
    expect(message([{ ...ok, id: 'a', schedule: 'hourly' }])).to.equal(
      'createRuntime: schedule "a": schedule must be built with Schedule.every(), Schedule.cron() or Schedule.manual()',
    )
    expect(message([{ ...ok, id: 'a', schedule: Schedule.manual() }])).to.equal(
      'createRuntime: schedule "a": a manual schedule has no ticks; start its runs with runtime.start("report", input, { id })',
    )
    expect(message([{ ...ok, id: 'a', input: { at: new Date(0) } }])).to.match(
      /^createRuntime: schedule "a": input must be a JSON value \(.*at.*\)/,
    )
    expect(message([{ ...ok, id: 'a', missed: 'all' }])).to.equal(
      `createRuntime: schedule "a": missed must be 'skip' or 'latest', got "all"`,
    )
  })
})
