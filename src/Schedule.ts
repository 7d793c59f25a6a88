/**
 * `Schedule`: when a scheduled flow runs. Pure data and pure maths, no timers: the scheduler
 * (`createScheduler`) reads a {@link Schedule} to plan ticks. How a flow backs off after failures is
 * in `BackoffPolicy.ts`, where it stands in `FlowInfo.ts`.
 *
 * - {@link Schedule.every}: a fixed interval, fixed-delay (cano's behaviour, the default) or fixed-rate.
 * - {@link Schedule.cron}: a cron expression (6 fields with seconds first like cano, or 5 fields), in a time zone
 *   (UTC by default). `croner` parses it and computes the next fire time; nothing else of croner is used.
 * - {@link Schedule.manual}: runs only when triggered.
 *
 * @since 0.1.0
 */
import { Cron } from 'croner'

import type { Configuration } from '../codecs/CanoError.js'
import { TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeValue } from './internal/describeValue.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How an interval flow spaces its runs.
 *
 * - `'fixedDelay'` (default, cano's behaviour): the next run starts `intervalMs` after the previous
 *   one **ended**, so the period is run time + interval.
 * - `'fixedRate'`: runs start on the grid `start + k * intervalMs`, whatever the run time; a grid
 *   tick that comes while the flow is still running is skipped (and counted).
 *
 * @example
 * import { type IntervalMode, Schedule } from 'cano-rx'
 * const mode: IntervalMode = 'fixedRate'
 * const hourly = Schedule.every(3_600_000, { mode })
 * @see {@link Schedule.every}
 * @category model
 * @since 0.1.0
 */
export type IntervalMode = 'fixedDelay' | 'fixedRate'

/**
 * Run every `intervalMs` milliseconds, spaced by `mode`. Interval flows also run once at start.
 *
 * @example
 * import type { EverySchedule } from 'cano-rx'
 * const s: EverySchedule = { _tag: 'Every', intervalMs: 60_000, mode: 'fixedDelay' } // every(60_000)
 * @see {@link Schedule.every}
 * @category model
 * @since 0.1.0
 */
export interface EverySchedule {
  readonly _tag: 'Every'
  readonly intervalMs: number
  readonly mode: IntervalMode
}

/**
 * Run at each fire time of the cron expression `expr`, read in the IANA time zone `timezone`.
 *
 * @example
 * import type { CronSchedule } from 'cano-rx'
 * const s: CronSchedule = { _tag: 'Cron', expr: '0 30 2 * * *', timezone: 'Europe/Berlin' } // cron('0 30 2 * * *', { timezone: 'Europe/Berlin' })
 * @see {@link Schedule.cron}
 * @category model
 * @since 0.1.0
 */
export interface CronSchedule {
  readonly _tag: 'Cron'
  readonly expr: string
  readonly timezone: string
}

/**
 * Run only when triggered.
 *
 * @example
 * import type { ManualSchedule } from 'cano-rx'
 * const s: ManualSchedule = { _tag: 'Manual' } // manual()
 * @see {@link Schedule.manual}
 * @category model
 * @since 0.1.0
 */
export interface ManualSchedule {
  readonly _tag: 'Manual'
}

/**
 * When a flow runs. Build one with {@link Schedule.every}, {@link Schedule.cron} or {@link Schedule.manual}.
 *
 * @example
 * import { Schedule } from 'cano-rx'
 * const schedules: ReadonlyArray<Schedule> = [Schedule.every(30_000), Schedule.cron('0 0 6 * * MON-FRI'), Schedule.manual()]
 * @see {@link validateSchedule}
 * @category model
 * @since 0.1.0
 */
export type Schedule = EverySchedule | CronSchedule | ManualSchedule

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Runs a flow every `intervalMs` milliseconds, once at start and then per `mode`
 * (`'fixedDelay'` by default, like cano; `'fixedRate'` on request).
 *
 * ```text
 * fixedDelay, interval 60 min, runs of 5 min:  starts at 0, 65, 130, 195 … min
 * fixedRate,  interval 60 min, runs of 5 min:  starts at 0, 60, 120, 180 … min
 * ```
 *
 * @param intervalMs - the interval, a finite number in (0, 2^31-1] (checked by {@link validateSchedule})
 * @param options - `mode`: `'fixedDelay'` (default) or `'fixedRate'`
 * @returns an {@link EverySchedule}
 * @example
 * import { Schedule } from 'cano-rx'
 * const healthCheck = Schedule.every(30_000) // fixed delay: 30 s after each run ends
 * const metrics = Schedule.every(60_000, { mode: 'fixedRate' }) // on the minute grid from start
 * @see {@link IntervalMode}
 * @category constructors
 * @since 0.1.0
 */
const every = (intervalMs: number, options: { readonly mode?: IntervalMode } = {}): EverySchedule => ({
  _tag: 'Every',
  intervalMs,
  mode: options.mode ?? 'fixedDelay',
})

/**
 * Runs a flow at each fire time of a cron expression: 6 fields with seconds first, like cano
 * (`sec min hour day-of-month month day-of-week`), 7 with a trailing year, or the classic 5 fields
 * (`min hour day-of-month month day-of-week`). The expression is read in `timezone` (default `'UTC'`,
 * like cano); daylight-saving changes follow croner: a time that does not exist fires at the first
 * valid time after the gap, a time that occurs twice fires once.
 *
 * @param expr - the cron expression, parsed by `croner` when the scheduler is created
 * @param options - `timezone`: an IANA time zone name (default `'UTC'`)
 * @returns a {@link CronSchedule}
 * @example
 * import { Schedule } from 'cano-rx'
 * const nightly = Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }) // 02:30:00 Berlin time
 * const quarterHourly = Schedule.cron('*\/15 * * * *') // 5 fields: every 15 minutes, UTC
 * @see {@link validateSchedule}, {@link nextCronMs}
 * @category constructors
 * @since 0.1.0
 */
const cron = (expr: string, options: { readonly timezone?: string } = {}): CronSchedule => ({
  _tag: 'Cron',
  expr,
  timezone: options.timezone ?? 'UTC',
})

/**
 * A flow that runs only when triggered (`trigger(id)`).
 *
 * @returns a {@link ManualSchedule}
 * @example
 * import { Schedule } from 'cano-rx'
 * const onDemand = Schedule.manual()
 * @category constructors
 * @since 0.1.0
 */
const manual = (): ManualSchedule => ({ _tag: 'Manual' })

/**
 * Builds a {@link Schedule}: `Schedule.every(ms, { mode })` (an interval, `'fixedDelay'` by default),
 * `Schedule.cron(expr, { timezone })` (a 5- or 6-field cron expression) or `Schedule.manual()` (only
 * `trigger` runs it).
 *
 * @example
 * import { Schedule } from 'cano-rx'
 * const hourly = Schedule.every(3_600_000, { mode: 'fixedRate' })
 * const nightly = Schedule.cron('0 3 * * *', { timezone: 'Europe/Paris' })
 * const onDemand = Schedule.manual()
 * @category constructors
 * @since 0.1.0
 */
export const Schedule = { every, cron, manual } as const

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The first fixed-rate tick strictly after `afterMs`, on the grid `anchorMs + k * intervalMs` (k ≥ 0).
 * Grid points already behind `afterMs` are skipped, never replayed.
 *
 * @param anchorMs - the grid's origin (the scheduler's start)
 * @param intervalMs - the grid's step, > 0
 * @param afterMs - the time to look after
 * @returns the next grid point
 * @example
 * import { nextFixedRateMs } from './Schedule.js'
 * nextFixedRateMs(0, 1_000, 0) // 1000
 * nextFixedRateMs(0, 1_000, 2_500) // 3000
 * nextFixedRateMs(500, 1_000, 0) // 500
 * @see {@link Schedule.every}
 * @category destructors
 * @since 0.1.0
 */
export const nextFixedRateMs = (anchorMs: number, intervalMs: number, afterMs: number): number =>
  afterMs < anchorMs ? anchorMs : anchorMs + (Math.floor((afterMs - anchorMs) / intervalMs) + 1) * intervalMs

/** Parsed cron expressions, per schedule value (schedules are immutable data). */
const parsed = new WeakMap<CronSchedule, Cron>()

const cronOf = (schedule: CronSchedule): Cron => {
  const known = parsed.get(schedule)
  if (known !== undefined) return known
  const created = new Cron(schedule.expr, { timezone: schedule.timezone, paused: true })
  parsed.set(schedule, created)
  return created
}

/**
 * The first fire time of a cron schedule strictly after `afterMs` (croner's `nextRun`, whole seconds),
 * or `undefined` when the expression never fires again (a past year). Throws croner's error for an
 * expression {@link validateSchedule} would reject.
 *
 * @param schedule - a cron schedule
 * @param afterMs - epoch ms to look after
 * @returns epoch ms of the next fire time, or `undefined`
 * @example
 * import { Schedule } from 'cano-rx'
 * import { nextCronMs } from './Schedule.js'
 * const at = nextCronMs(Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }), Date.UTC(2026, 2, 28, 12))
 * // Date.UTC(2026, 2, 29, 1): 02:30 does not exist that night in Berlin, so it fires at 03:00 CEST
 * @see {@link Schedule.cron}
 * @category destructors
 * @since 0.1.0
 */
export const nextCronMs = (schedule: CronSchedule, afterMs: number): number | undefined => {
  const next = cronOf(schedule).nextRun(new Date(afterMs))
  return next === null ? undefined : next.getTime()
}

/**
 * The last fire time of a cron schedule strictly before `beforeMs` (croner's `previousRuns`, whole
 * seconds), or `undefined` when the expression never fired before then. Throws croner's error for an
 * expression {@link validateSchedule} would reject.
 *
 * @param schedule - a cron schedule
 * @param beforeMs - epoch ms to look before
 * @returns epoch ms of the previous fire time, or `undefined`
 * @example
 * import { Schedule } from 'cano-rx'
 * import { previousCronMs } from './Schedule.js'
 * previousCronMs(Schedule.cron('0 0 * * * *'), Date.UTC(2026, 0, 1, 10, 30)) // Date.UTC(2026, 0, 1, 10)
 * previousCronMs(Schedule.cron('0 0 * * * *'), Date.UTC(2026, 0, 1, 10)) // Date.UTC(2026, 0, 1, 9): strictly before
 * @see {@link nextCronMs}
 * @category destructors
 * @since 0.2.0
 */
export const previousCronMs = (schedule: CronSchedule, beforeMs: number): number | undefined => {
  const previous = cronOf(schedule).previousRuns(1, new Date(beforeMs))[0]
  return previous === undefined ? undefined : previous.getTime()
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const INTERVAL_MODES: ReadonlySet<unknown> = new Set<IntervalMode>(['fixedDelay', 'fixedRate'])

const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

/**
 * Checks a {@link Schedule}: an interval is a finite number in (0, 2^31-1] with a known `mode`; a cron
 * expression parses with croner (5, 6 or 7 fields) and its time zone is a valid IANA name. Returns
 * the `Configuration` error (its message starts with `where` and names the field) or `undefined`.
 *
 * @param schedule - the schedule to check (may come from untyped code)
 * @param where - prefixes the message (e.g. `flow "report"`)
 * @returns the `Configuration` error, or `undefined` when the schedule is valid
 * @example
 * import { Schedule } from 'cano-rx'
 * import { validateSchedule } from './Schedule.js'
 * validateSchedule(Schedule.every(0), 'flow "health"')?.message
 * // 'flow "health": schedule.intervalMs must be a finite number in (0, 2147483647], got 0'
 * @see {@link validateBackoffPolicy}
 * @category validation
 * @since 0.1.0
 */
export const validateSchedule = (schedule: Schedule, where: string): Configuration | undefined => {
  const s: unknown = schedule
  if (typeof s !== 'object' || s === null)
    return configurationError(
      `${where}: schedule must be built with Schedule.every(), Schedule.cron() or Schedule.manual()`,
    )
  switch (schedule._tag) {
    case 'Every': {
      const interval = checkConfig(TimerDuration, schedule.intervalMs, `${where}: schedule.intervalMs`)
      if (interval !== undefined) return interval
      if (!INTERVAL_MODES.has(schedule.mode))
        return configurationError(
          `${where}: schedule.mode must be 'fixedDelay' or 'fixedRate', got ${describeValue(schedule.mode)}`,
        )
      return undefined
    }
    case 'Cron': {
      if (typeof schedule.timezone !== 'string' || !isTimeZone(schedule.timezone))
        return configurationError(
          `${where}: schedule.timezone must be an IANA time zone name, got ${describeValue(schedule.timezone)}`,
        )
      if (typeof schedule.expr !== 'string')
        return configurationError(`${where}: Invalid cron expression: ${describeValue(schedule.expr)} is not a string`)
      try {
        cronOf(schedule)
        return undefined
      } catch (e: unknown) {
        return configurationError(
          `${where}: Invalid cron expression: ${JSON.stringify(schedule.expr)} (${e instanceof Error ? e.message : String(e)})`,
        )
      }
    }
    case 'Manual':
      return undefined
    default:
      return configurationError(
        `${where}: schedule must be built with Schedule.every(), Schedule.cron() or Schedule.manual()`,
      )
  }
}
