/**
 * `RuntimeSchedule`: a schedule that the durable runtime (`createRuntime`'s `schedules` option) runs. Each
 * tick instant of its {@link Schedule} becomes one run of its workflow, and the run's id is derived from
 * the schedule id and the tick instant ({@link scheduledRunId}). A run table's `create` is idempotent by
 * id (src/RunTable.ts), so any number of runtimes with the same schedules record each tick's run exactly
 * once. Whichever worker has room executes it, like any other run.
 *
 * - **Shared instants.** Every process must compute the same instants. `Schedule.every(ms)` ticks on the
 *   epoch grid, k × ms since 1970-01-01T00:00:00Z, whatever its `mode`: a fixed delay would depend on
 *   when the previous run ended, which the processes do not share. `Schedule.cron(expr)` ticks at
 *   croner's fire times. `Schedule.manual()` has no ticks and is refused.
 * - **Late timers.** A timer that fires late (a busy event loop) still records every tick it was late
 *   for, as long as the tick is at most `catchUpMs` old (the runtime passes its `leaseMs`). A process
 *   stalled for longer counts as down for those ticks, as its runs' leases do.
 * - **Missed ticks** (older than that, or before the runtime started): `'skip'` (default) drops them.
 *   `'latest'` records the run of the latest one, once (its id is that tick's), if it is at most
 *   `lookBackMs` old (the runtime passes its `retentionMs`). An older tick's run could have been pruned
 *   since, and recording it again would run it twice.
 *
 * This module is pure: the instants, the ids, which ticks are due when the clock reads a time, and the
 * checks of the option. The timers are in streams/scheduledRuns.ts.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { failure as pathReport } from 'io-ts/lib/PathReporter.js'

import type { CanoError, Configuration } from '../codecs/CanoError.js'
import { JsonValue } from '../codecs/CheckpointRow.js'
import { WorkflowId } from '../codecs/WorkflowId.js'
import { configurationError } from './CanoError.js'
import { describeValue } from './internal/describeValue.js'
import {
  type CronSchedule,
  type EverySchedule,
  nextCronMs,
  nextFixedRateMs,
  previousCronMs,
  type Schedule,
  validateSchedule,
} from './Schedule.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a runtime schedule does with ticks that no process recorded in time: while every process was
 * down, before the runtime started, or while its process was stalled for longer than its lease.
 *
 * - `'skip'` (default): they are dropped. Only ticks after the runtime started get runs.
 * - `'latest'`: the latest of them gets its run, once (its id is that tick's, so a fleet records it once
 *   and a restart does not record it again), if it is no older than the runtime's `retentionMs`.
 *
 * @example
 * import type { MissedTicks } from 'cano-rx'
 * const catchUp: MissedTicks = 'latest'
 * @see {@link RuntimeSchedule}
 * @category model
 * @since 0.2.0
 */
export type MissedTicks = 'skip' | 'latest'

/**
 * One schedule of a runtime: each tick of `schedule` becomes a run of the registered workflow
 * `workflow` with `input`, whose id is {@link scheduledRunId}`(id, tick)`.
 *
 * @example
 * import { type RuntimeSchedule, Schedule } from 'cano-rx'
 * const nightly: RuntimeSchedule = {
 *   id: 'nightly-report',
 *   workflow: 'report',
 *   schedule: Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }),
 *   input: { format: 'pdf' },
 *   missed: 'latest',
 * }
 * @see {@link MissedTicks}
 * @category model
 * @since 0.2.0
 */
export interface RuntimeSchedule {
  /** Names the schedule in the whole fleet and prefixes its runs' ids. Non-empty, unique in a runtime. */
  readonly id: string
  /** The name of a workflow registered in the runtime's `workflows`. */
  readonly workflow: string
  /** `Schedule.every(ms)` (on the epoch grid, whatever its mode) or `Schedule.cron(expr)`. */
  readonly schedule: Schedule
  /** The input of every run of the schedule. Default `null`. */
  readonly input?: JsonValue
  /** Ticks no process recorded in time. Default `'skip'`. */
  readonly missed?: MissedTicks
}

/**
 * What a runtime reports of its schedules' ticks (among its `events$`).
 *
 * - `Scheduled`: the run of the tick at `tickAt` is in the run table. `created` is `true` for the one
 *   runtime that recorded it and `false` for every other runtime that found it there already.
 * - `ScheduleFailed`: the run could not be recorded (the store failed on every try, retried each
 *   `pollMs` while the tick was at most `leaseMs` old). Another runtime of the fleet may have recorded it.
 *
 * @example
 * import type { ScheduledRunEvent } from 'cano-rx'
 * const line = (e: ScheduledRunEvent): string =>
 *   e._tag === 'Scheduled' ? `${e.workflowId} ${e.created ? 'recorded' : 'found'}` : `${e.workflowId}: ${e.error.message}`
 * @category model
 * @since 0.2.0
 */
export type ScheduledRunEvent =
  | {
      readonly _tag: 'Scheduled'
      readonly scheduleId: string
      readonly tickAt: number
      readonly workflowId: string
      readonly created: boolean
    }
  | {
      readonly _tag: 'ScheduleFailed'
      readonly scheduleId: string
      readonly tickAt: number
      readonly workflowId: string
      readonly error: CanoError
    }

/** @internal A schedule with ticks. */
export type TickSchedule = EverySchedule | CronSchedule

/** @internal A checked {@link RuntimeSchedule}. */
export interface CheckedRuntimeSchedule {
  readonly id: WorkflowId
  readonly workflow: string
  readonly schedule: TickSchedule
  readonly input: JsonValue
  readonly missed: MissedTicks
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The id of the run that schedule `scheduleId` records for its tick at `tickMs`:
 * `<scheduleId>@<tick as ISO-8601 UTC, with milliseconds>`. Every runtime derives the same id for the
 * same tick. Use it to find a tick's run.
 *
 * @param scheduleId - the schedule's id
 * @param tickMs - the tick instant, epoch ms
 * @returns the run id
 * @example
 * import { scheduledRunId } from 'cano-rx'
 * scheduledRunId('nightly-report', Date.UTC(2026, 0, 2, 1, 30)) // 'nightly-report@2026-01-02T01:30:00.000Z'
 * // const outcome = await runtime.result(scheduledRunId('nightly-report', Date.UTC(2026, 0, 2, 1, 30)))
 * @category constructors
 * @since 0.2.0
 */
export const scheduledRunId = (scheduleId: string, tickMs: number): string =>
  `${scheduleId}@${new Date(tickMs).toISOString()}`

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * @internal The first tick strictly after `afterMs`: the next multiple of the interval since the epoch,
 * or croner's next fire time; `undefined` when a cron expression never fires again.
 */
export const nextTickMs = (schedule: TickSchedule, afterMs: number): number | undefined =>
  schedule._tag === 'Every' ? nextFixedRateMs(0, schedule.intervalMs, afterMs) : nextCronMs(schedule, afterMs)

/**
 * @internal The latest tick at or before `atMs`; `undefined` when there is none (a cron expression that
 * never fired before, or a time before the epoch).
 */
export const latestTickMs = (schedule: TickSchedule, atMs: number): number | undefined => {
  if (schedule._tag === 'Cron') return previousCronMs(schedule, Math.floor(atMs) + 1)
  const latest = Math.floor(atMs / schedule.intervalMs) * schedule.intervalMs
  return latest >= 0 ? latest : undefined
}

/** @internal Where {@link dueTicks} looks. */
export interface DueTicksWindow {
  /** Ticks at or before this instant were handled already (`-Infinity` at start). */
  readonly lastMs: number
  /** The clock now. */
  readonly nowMs: number
  /** Ticks at most this old are recorded as they are (the runtime's lease). */
  readonly catchUpMs: number
  /** With `'latest'`, the latest older tick is recorded if it is at most this old (the retention). */
  readonly lookBackMs: number
  readonly missed: MissedTicks
}

/**
 * @internal The ticks to record when the clock reads `nowMs` and ticks up to `lastMs` were handled,
 * ascending: every tick in (max(lastMs, nowMs - catchUpMs), nowMs], preceded with `'latest'` by the
 * latest older tick in (lastMs, nowMs - catchUpMs] that is at most `lookBackMs` old. Afterwards ticks up
 * to `nowMs` are handled.
 *
 * ```text
 * every(200), lastMs 1000, nowMs 1650, catchUpMs 300:  [1400, 1600]   ('skip': 1200 was missed)
 *                                                      [1200, 1400, 1600]   ('latest')
 * at start: lastMs -Infinity, catchUpMs 0:             []   ('skip')   [latest tick <= nowMs]   ('latest')
 * ```
 */
export const dueTicks = (schedule: TickSchedule, w: DueTicksWindow): ReadonlyArray<number> => {
  const horizon = w.nowMs - w.catchUpMs
  const ticks: number[] = []
  if (w.missed === 'latest' && w.lastMs < horizon) {
    const latest = latestTickMs(schedule, horizon)
    if (latest !== undefined && latest > w.lastMs && latest >= w.nowMs - w.lookBackMs) ticks.push(latest)
  }
  for (
    let t = nextTickMs(schedule, Math.max(w.lastMs, horizon));
    t !== undefined && t <= w.nowMs;
    t = nextTickMs(schedule, t)
  )
    ticks.push(t)
  return ticks
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const MISSED: ReadonlySet<unknown> = new Set<MissedTicks>(['skip', 'latest'])

/**
 * @internal Checks `createRuntime`'s `schedules` option against the registered workflow names. Each
 * problem is a `Configuration` error naming the schedule (`schedules[i]` before its id is known): an id
 * that is not a non-empty portable string or is declared twice, a workflow that is not registered, a
 * schedule that is not `every` or `cron` or does not validate, an input that is not JSON, a bad `missed`.
 */
export const checkRuntimeSchedules = (
  u: unknown,
  workflows: ReadonlyArray<string>,
): E.Either<Configuration, ReadonlyArray<CheckedRuntimeSchedule>> => {
  if (u === undefined) return E.right([])
  if (!Array.isArray(u))
    return E.left(configurationError(`createRuntime: schedules must be an array, got ${describeValue(u)}`))
  const seen = new Set<string>()
  const out: CheckedRuntimeSchedule[] = []
  for (const [index, entry] of (u as ReadonlyArray<unknown>).entries()) {
    const checked = checkOne(entry, index, workflows, seen)
    if (E.isLeft(checked)) return checked
    out.push(checked.right)
  }
  return E.right(out)
}

const checkOne = (
  entry: unknown,
  index: number,
  workflows: ReadonlyArray<string>,
  seen: Set<string>,
): E.Either<Configuration, CheckedRuntimeSchedule> => {
  const fail = (message: string): E.Either<Configuration, never> => E.left(configurationError(message))
  if (typeof entry !== 'object' || entry === null)
    return fail(`createRuntime: schedules[${index}] must be an object, got ${describeValue(entry)}`)
  const s = entry as { readonly [K in keyof RuntimeSchedule]?: unknown }
  const id = s.id
  if (!WorkflowId.is(id))
    return fail(
      `createRuntime: schedules[${index}]: id must be a non-empty string without NUL or unpaired surrogates (it prefixes run ids), got ${describeValue(id)}`,
    )
  const where = `createRuntime: schedule ${JSON.stringify(id)}`
  if (seen.has(id)) return fail(`${where} is declared twice: schedule ids must be unique`)
  seen.add(id)
  if (typeof s.workflow !== 'string' || !workflows.includes(s.workflow))
    return fail(
      `${where}: workflow ${describeValue(s.workflow)} is not registered (known: ${workflows.map((w) => JSON.stringify(w)).join(', ')})`,
    )
  const schedule = s.schedule as Schedule
  const invalid = validateSchedule(schedule, where)
  if (invalid !== undefined) return E.left(invalid)
  if (schedule._tag === 'Manual')
    return fail(
      `${where}: a manual schedule has no ticks; start its runs with runtime.start(${JSON.stringify(s.workflow)}, input, { id })`,
    )
  const input = s.input === undefined ? E.right(null) : JsonValue.decode(s.input)
  if (E.isLeft(input))
    return fail(
      `${where}: input must be a JSON value (${pathReport(input.left).join('; ')}), got ${describeValue(s.input)}`,
    )
  const missed = s.missed ?? 'skip'
  if (!MISSED.has(missed)) return fail(`${where}: missed must be 'skip' or 'latest', got ${describeValue(missed)}`)
  return E.right({ id, workflow: s.workflow, schedule, input: input.right, missed: missed as MissedTicks })
}
