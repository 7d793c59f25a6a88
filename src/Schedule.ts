/**
 * `Schedule`: when a scheduled flow runs, how it backs off after failures, and where it stands. Pure
 * data and pure maths, no timers: the scheduler (`createScheduler`) reads a {@link Schedule} to plan
 * ticks, {@link backoffDelayMs} / {@link isTripped} to react to failures, and folds what happens to a
 * flow into a {@link FlowInfo} with the reducer built by {@link flowInfoReducer}.
 *
 * - {@link Schedule.every}: a fixed interval, fixed-delay (cano's behaviour, the default) or fixed-rate.
 * - {@link Schedule.cron}: a cron expression (6 fields with seconds first like cano, or 5 fields), in a time zone
 *   (UTC by default). `croner` parses it and computes the next fire time; nothing else of croner is used.
 * - {@link Schedule.manual}: runs only when triggered.
 *
 * Backoff follows cano 0.12 (reference 2.19) with one deliberate difference: jitter is applied
 * **before** the cap, so a delay never exceeds `maxDelayMs`.
 *
 * @since 0.1.0
 */
import { Cron } from 'croner'

import type { Configuration } from '../codecs/CanoError.js'
import type { CanoError } from './CanoError.js'
import { configurationError } from './CanoError.js'
import { describeValue } from './internal/describeValue.js'
import { MAX_TIMER_MS } from './internal/timers.js'

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

/**
 * How a flow backs off after failed runs. After the `streak`-th consecutive failure the flow waits
 * {@link backoffDelayMs} before a scheduled tick may run it again; once the streak reaches
 * `streakLimit` the flow is `Tripped` and only `reset` brings it back. cano's defaults: 1 000 ms, x2,
 * 300 000 ms cap, 10 % jitter, never trips.
 *
 * @example
 * import type { BackoffPolicy } from 'cano-rx'
 * const policy: BackoffPolicy = { initialMs: 1_000, multiplier: 2, maxDelayMs: 300_000, jitter: 0.1, streakLimit: 5 }
 * @see {@link BackoffPolicy.of} to build one from defaults
 * @category model
 * @since 0.1.0
 */
export interface BackoffPolicy {
  /** Delay after the first failure, in ms. Default 1 000. */
  readonly initialMs: number
  /** Factor applied per further failure. Default 2. */
  readonly multiplier: number
  /** Upper bound of any delay, jitter included, in ms. Default 300 000 (5 min). */
  readonly maxDelayMs: number
  /** Relative jitter in [0, 1]: the delay is scaled by `1 + jitter * U[-1, 1)`. Default 0.1. */
  readonly jitter: number
  /** Consecutive failures that trip the flow; `undefined` (default) never trips, `0` trips on the first failure. */
  readonly streakLimit: number | undefined
}

/**
 * The fields of a {@link BackoffPolicy} to override; the others keep cano's defaults.
 *
 * @example
 * import type { BackoffOptions } from 'cano-rx'
 * const tripAfterThree: BackoffOptions = { streakLimit: 3 }
 * @see {@link BackoffPolicy.of}
 * @category model
 * @since 0.1.0
 */
export interface BackoffOptions {
  readonly initialMs?: number
  readonly multiplier?: number
  readonly maxDelayMs?: number
  readonly jitter?: number
  readonly streakLimit?: number | undefined
}

/**
 * The flow waits for its next tick (never run, reset, or its last run was cancelled).
 *
 * @example
 * import type { FlowIdle } from 'cano-rx'
 * const s: FlowIdle = { _tag: 'Idle' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowIdle {
  readonly _tag: 'Idle'
}

/**
 * A run of the flow is in flight; ticks that come now are skipped.
 *
 * @example
 * import type { FlowRunning } from 'cano-rx'
 * const s: FlowRunning = { _tag: 'Running' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowRunning {
  readonly _tag: 'Running'
}

/**
 * The last run reached an exit state.
 *
 * @example
 * import type { FlowCompleted } from 'cano-rx'
 * const s: FlowCompleted = { _tag: 'Completed' }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowCompleted {
  readonly _tag: 'Completed'
}

/**
 * The last `streak` runs failed; scheduled ticks before `until` (epoch ms) are skipped. A manual
 * trigger still runs the flow.
 *
 * @example
 * import { type FlowBackoff, taskExecutionError } from 'cano-rx'
 * const s: FlowBackoff = { _tag: 'Backoff', until: 1_767_225_602_000, streak: 2, lastError: taskExecutionError('upstream answered 503') }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowBackoff {
  readonly _tag: 'Backoff'
  readonly until: number
  readonly streak: number
  readonly lastError: CanoError
}

/**
 * The failure streak reached the policy's `streakLimit`: no tick or trigger runs the flow until `reset`.
 *
 * @example
 * import { type FlowTripped, taskExecutionError } from 'cano-rx'
 * const s: FlowTripped = { _tag: 'Tripped', streak: 5, lastError: taskExecutionError('upstream answered 503') }
 * @see {@link FlowStatus}
 * @category model
 * @since 0.1.0
 */
export interface FlowTripped {
  readonly _tag: 'Tripped'
  readonly streak: number
  readonly lastError: CanoError
}

/**
 * Where a scheduled flow stands.
 *
 * @example
 * import type { FlowStatus } from 'cano-rx'
 * const label = (s: FlowStatus): string => (s._tag === 'Backoff' ? `backoff until ${new Date(s.until).toISOString()}` : s._tag)
 * @see {@link FlowInfo}
 * @category model
 * @since 0.1.0
 */
export type FlowStatus = FlowIdle | FlowRunning | FlowCompleted | FlowBackoff | FlowTripped

/**
 * A snapshot of one scheduled flow. Times are epoch milliseconds from the scheduler's clock.
 *
 * @example
 * import { type FlowInfo } from 'cano-rx'
 * import { initialFlowInfo } from './Schedule.js'
 * const info: FlowInfo = initialFlowInfo('nightly-report')
 * // { id: 'nightly-report', status: { _tag: 'Idle' }, runCount: 0, lastRun: undefined, failureStreak: 0,
 * //   nextEligible: undefined, lastError: undefined, skippedTicks: 0 }
 * @see {@link flowInfoReducer}, which updates it
 * @category model
 * @since 0.1.0
 */
export interface FlowInfo {
  readonly id: string
  readonly status: FlowStatus
  /** Runs started so far (scheduled and manual). */
  readonly runCount: number
  /** When the last run started. */
  readonly lastRun: number | undefined
  /** Consecutive failed runs; 0 after a success or a reset. */
  readonly failureStreak: number
  /** While backing off: the earliest time a scheduled tick may run the flow again. */
  readonly nextEligible: number | undefined
  /** The error of the most recent failed run; kept after a later success, cleared by a reset. */
  readonly lastError: CanoError | undefined
  /** Scheduled ticks dropped because the flow was still running (overlap prevention). */
  readonly skippedTicks: number
}

/**
 * What can happen to a flow; {@link flowInfoReducer} folds these into a {@link FlowInfo}.
 *
 * - `Dispatched`: a run started at `at`.
 * - `Succeeded`: the run reached an exit state.
 * - `Failed`: the run failed (or timed out) at `at` with `error`.
 * - `Cancelled`: the run was cancelled (`cancel(id)` or `stop`); not a failure.
 * - `TickSkipped`: a scheduled tick came while the flow was running.
 * - `Reset`: `reset(id)`.
 *
 * @example
 * import { taskExecutionError } from 'cano-rx'
 * import { type FlowUpdate } from './Schedule.js'
 * const updates: ReadonlyArray<FlowUpdate> = [{ _tag: 'Dispatched', at: 0 }, { _tag: 'Failed', at: 40, error: taskExecutionError('boom') }]
 * @see {@link flowInfoReducer}
 * @category model
 * @since 0.1.0
 */
export type FlowUpdate =
  | { readonly _tag: 'Dispatched'; readonly at: number }
  | { readonly _tag: 'Succeeded' }
  | { readonly _tag: 'Failed'; readonly at: number; readonly error: CanoError }
  | { readonly _tag: 'Cancelled' }
  | { readonly _tag: 'TickSkipped' }
  | { readonly _tag: 'Reset' }

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

/** cano's `BackoffPolicy::default()`. */
const BACKOFF_DEFAULTS: BackoffPolicy = {
  initialMs: 1_000,
  multiplier: 2,
  maxDelayMs: 300_000,
  jitter: 0.1,
  streakLimit: undefined,
}

/**
 * A {@link BackoffPolicy}: cano's defaults (1 000 ms, x2, 300 000 ms cap, 0.1 jitter, never trips)
 * with `options` merged over them. `BackoffPolicy.of({ streakLimit: n })` is cano's `with_trip(n)`.
 *
 * @param options - the fields to override
 * @returns the complete policy (checked by {@link validateBackoffPolicy} when the scheduler is created)
 * @example
 * import { BackoffPolicy } from 'cano-rx'
 * const policy = BackoffPolicy.of({ streakLimit: 5 })
 * // { initialMs: 1000, multiplier: 2, maxDelayMs: 300000, jitter: 0.1, streakLimit: 5 }
 * @see {@link backoffDelayMs}
 * @category constructors
 * @since 0.1.0
 */
const backoffPolicy = (options: BackoffOptions = {}): BackoffPolicy => ({
  initialMs: options.initialMs ?? BACKOFF_DEFAULTS.initialMs,
  multiplier: options.multiplier ?? BACKOFF_DEFAULTS.multiplier,
  maxDelayMs: options.maxDelayMs ?? BACKOFF_DEFAULTS.maxDelayMs,
  jitter: options.jitter ?? BACKOFF_DEFAULTS.jitter,
  streakLimit: options.streakLimit ?? BACKOFF_DEFAULTS.streakLimit,
})

/**
 * Builds a {@link BackoffPolicy} from {@link BackoffOptions}: `BackoffPolicy.of(options)`, every option
 * defaulted.
 *
 * @example
 * import { BackoffPolicy } from 'cano-rx'
 * const policy = BackoffPolicy.of({ initialMs: 1_000, maxDelayMs: 60_000, streakLimit: 5 })
 * @category constructors
 * @since 0.1.0
 */
export const BackoffPolicy = { of: backoffPolicy } as const

/**
 * The info of a flow that has never run.
 *
 * @param id - the flow's id
 * @returns an `Idle` {@link FlowInfo} with every counter at 0
 * @example
 * import { initialFlowInfo } from './Schedule.js'
 * initialFlowInfo('health').status // { _tag: 'Idle' }
 * @see {@link flowInfoReducer}
 * @category constructors
 * @since 0.1.0
 */
export const initialFlowInfo = (id: string): FlowInfo => ({
  id,
  status: { _tag: 'Idle' },
  runCount: 0,
  lastRun: undefined,
  failureStreak: 0,
  nextEligible: undefined,
  lastError: undefined,
  skippedTicks: 0,
})

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Has a failure streak reached the policy's trip limit? `streak >= streakLimit`; never when
 * `streakLimit` is `undefined`.
 *
 * @param policy - the backoff policy
 * @param streak - consecutive failures so far
 * @returns `true` when the flow must trip
 * @example
 * import { BackoffPolicy, isTripped } from 'cano-rx'
 * isTripped(BackoffPolicy.of({ streakLimit: 3 }), 3) // true
 * isTripped(BackoffPolicy.of(), 1_000) // false: the default never trips
 * @see {@link FlowTripped}
 * @category guards
 * @since 0.1.0
 */
export const isTripped = (policy: BackoffPolicy, streak: number): boolean =>
  policy.streakLimit !== undefined && streak >= policy.streakLimit

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The wait after the `streak`-th consecutive failure, in whole milliseconds:
 * `min(maxDelayMs, initialMs * multiplier^(streak-1) * (1 + jitter * (2 * random() - 1)))`, floored
 * at 0, with `streak` 0 treated as 1 (cano's `compute_delay`). The jitter is applied before the cap,
 * so the result never exceeds `maxDelayMs` (cano caps, jitters, then caps again). Never `NaN`.
 *
 * @param policy - the backoff policy
 * @param streak - consecutive failures, 1 after the first one
 * @param random - jitter source in [0, 1); default `Math.random`
 * @returns whole milliseconds to wait
 * @example
 * import { backoffDelayMs, BackoffPolicy } from 'cano-rx'
 * const policy = BackoffPolicy.of({ jitter: 0 })
 * ;[1, 2, 3, 10].map((n) => backoffDelayMs(policy, n)) // [1000, 2000, 4000, 300000]
 * @see {@link isTripped}
 * @category destructors
 * @since 0.1.0
 */
export const backoffDelayMs = (policy: BackoffPolicy, streak: number, random: () => number = Math.random): number => {
  const n = Math.max(1, Number.isFinite(streak) ? Math.trunc(streak) : 1)
  const raw = policy.initialMs * Math.pow(policy.multiplier, n - 1)
  const j = Math.min(1, Math.max(0, policy.jitter))
  const factor = j === 0 ? 1 : 1 + j * (2 * random() - 1)
  // a 0 ms base or a 0 factor waits 0 ms even once multiplier^n overflows (0 * Infinity is NaN)
  const jittered = policy.initialMs === 0 || factor === 0 ? 0 : raw * factor
  const capped = Math.min(policy.maxDelayMs, Number.isNaN(jittered) ? policy.maxDelayMs : jittered)
  return Math.max(0, Math.trunc(capped))
}

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

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Builds the pure reducer of a flow's {@link FlowInfo} under `policy`:
 *
 * - `Dispatched`: `Running`, `runCount + 1`, `lastRun = at`.
 * - `Succeeded`: `Completed`, streak 0, `nextEligible` cleared.
 * - `Failed`: streak + 1; `Tripped` when {@link isTripped}, otherwise `Backoff` until
 *   `at + backoffDelayMs(policy, streak, random)` (also stored in `nextEligible`); `lastError = error`.
 * - `Cancelled`: `Idle`; streak and `nextEligible` unchanged (a cancellation is not a failure).
 * - `TickSkipped`: `skippedTicks + 1`.
 * - `Reset`: `Idle`, streak 0, `nextEligible` and `lastError` cleared.
 *
 * @param policy - the flow's backoff policy
 * @param random - jitter source in [0, 1); default `Math.random`
 * @returns `(info, update) => info`, usable with `scan`
 * @example
 * import { BackoffPolicy, taskExecutionError } from 'cano-rx'
 * import { flowInfoReducer, initialFlowInfo } from './Schedule.js'
 * const reduce = flowInfoReducer(BackoffPolicy.of({ jitter: 0 }))
 * const info = [{ _tag: 'Dispatched', at: 0 } as const, { _tag: 'Failed', at: 50, error: taskExecutionError('boom') } as const]
 *   .reduce(reduce, initialFlowInfo('etl'))
 * info.status // { _tag: 'Backoff', until: 1050, streak: 1, lastError: { _tag: 'TaskExecution', message: 'boom' } }
 * @see {@link FlowUpdate}
 * @category combinators
 * @since 0.1.0
 */
export const flowInfoReducer =
  (policy: BackoffPolicy, random: () => number = Math.random) =>
  (info: FlowInfo, update: FlowUpdate): FlowInfo => {
    switch (update._tag) {
      case 'Dispatched':
        return { ...info, status: { _tag: 'Running' }, runCount: info.runCount + 1, lastRun: update.at }
      case 'Succeeded':
        return { ...info, status: { _tag: 'Completed' }, failureStreak: 0, nextEligible: undefined }
      case 'Failed': {
        const streak = info.failureStreak + 1
        if (isTripped(policy, streak)) {
          return {
            ...info,
            status: { _tag: 'Tripped', streak, lastError: update.error },
            failureStreak: streak,
            nextEligible: undefined,
            lastError: update.error,
          }
        }
        const until = update.at + backoffDelayMs(policy, streak, random)
        return {
          ...info,
          status: { _tag: 'Backoff', until, streak, lastError: update.error },
          failureStreak: streak,
          nextEligible: until,
          lastError: update.error,
        }
      }
      case 'Cancelled':
        return { ...info, status: { _tag: 'Idle' } }
      case 'TickSkipped':
        return { ...info, skippedTicks: info.skippedTicks + 1 }
      case 'Reset':
        return { ...info, status: { _tag: 'Idle' }, failureStreak: 0, nextEligible: undefined, lastError: undefined }
    }
  }

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** A value for an error message: numbers as they print (`NaN`, `Infinity`), the rest as JSON. */

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
    case 'Every':
      if (typeof schedule.intervalMs !== 'number' || !(schedule.intervalMs > 0) || schedule.intervalMs > MAX_TIMER_MS)
        return configurationError(
          `${where}: schedule.intervalMs must be a finite number in (0, ${MAX_TIMER_MS}], got ${describeValue(schedule.intervalMs)}`,
        )
      if (!INTERVAL_MODES.has(schedule.mode))
        return configurationError(
          `${where}: schedule.mode must be 'fixedDelay' or 'fixedRate', got ${describeValue(schedule.mode)}`,
        )
      return undefined
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

/**
 * Checks a {@link BackoffPolicy}: `initialMs` and `maxDelayMs` finite in [0, 2^31-1], `multiplier`
 * finite and ≥ 1, `jitter` in [0, 1], `streakLimit` `undefined` or a non-negative integer. Returns the
 * `Configuration` error (its message starts with `where` and names the field) or `undefined`.
 *
 * @param policy - the policy to check (may come from untyped code)
 * @param where - prefixes the message (e.g. `flow "report"`)
 * @returns the `Configuration` error, or `undefined` when the policy is valid
 * @example
 * import { BackoffPolicy } from 'cano-rx'
 * import { validateBackoffPolicy } from './Schedule.js'
 * validateBackoffPolicy(BackoffPolicy.of({ jitter: 2 }), 'flow "etl"')?.message
 * // 'flow "etl": backoff.jitter must be a number in [0, 1], got 2'
 * @see {@link BackoffPolicy.of}
 * @category validation
 * @since 0.1.0
 */
export const validateBackoffPolicy = (policy: BackoffPolicy, where: string): Configuration | undefined => {
  const bad = (field: string, rule: string, value: unknown): Configuration =>
    configurationError(`${where}: backoff.${field} must be ${rule}, got ${describeValue(value)}`)
  const isDelay = (n: unknown): boolean => typeof n === 'number' && n >= 0 && n <= MAX_TIMER_MS
  if (!isDelay(policy.initialMs)) return bad('initialMs', `a finite number in [0, ${MAX_TIMER_MS}]`, policy.initialMs)
  if (typeof policy.multiplier !== 'number' || !Number.isFinite(policy.multiplier) || policy.multiplier < 1)
    return bad('multiplier', 'a finite number >= 1', policy.multiplier)
  if (!isDelay(policy.maxDelayMs))
    return bad('maxDelayMs', `a finite number in [0, ${MAX_TIMER_MS}]`, policy.maxDelayMs)
  if (typeof policy.jitter !== 'number' || !(policy.jitter >= 0 && policy.jitter <= 1))
    return bad('jitter', 'a number in [0, 1]', policy.jitter)
  if (
    policy.streakLimit !== undefined &&
    (typeof policy.streakLimit !== 'number' || !Number.isSafeInteger(policy.streakLimit) || policy.streakLimit < 0)
  )
    return bad('streakLimit', 'undefined or a non-negative integer', policy.streakLimit)
  return undefined
}
