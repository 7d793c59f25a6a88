/**
 * `scheduledRuns`: the tick timers of one runtime schedule (src/RuntimeSchedule.ts), on an injected
 * RxJS scheduler so tests run in virtual time.
 *
 * - At subscription, the tick its `missed` policy asks for (`'latest'`: the latest tick at or before
 *   now, at most `lookBackMs` old) is recorded.
 * - Then it waits for each next tick instant and records the ticks due then (`dueTicks`): every tick
 *   the timer was late for, up to `catchUpMs` old, and with `'latest'` the latest older one.
 * - Recording a tick calls `record(id)` (idempotent by id in the run table). A failure that
 *   `isRetryable` (src/CanoError.ts) accepts is retried every `retryMs` while the tick is at most
 *   `catchUpMs` old; then a `ScheduleFailed` event reports it.
 * - Once `stopped` emits, no tick is planned or recorded any more, but a record in flight finishes and
 *   its event is emitted; a retry still waiting is not made (its tick is reported `ScheduleFailed` with
 *   the last error). The stream completes when the records in flight have.
 *
 * ```text
 * every(200), started at 50:   200 -- 400 -- 600 …    each emits Scheduled { tickAt, workflowId, created }
 * ```
 *
 * @internal
 * @since 0.2.0
 */
import type { SchedulerLike } from 'rxjs'
import {
  catchError,
  concatMap,
  defer,
  EMPTY,
  expand,
  from,
  map,
  mergeMap,
  type Observable,
  of,
  race,
  take,
  takeUntil,
  timer,
} from 'rxjs'

import { isRetryable, toCanoError } from '../src/CanoError.js'
import {
  type CheckedRuntimeSchedule,
  dueTicks,
  nextTickMs,
  type ScheduledRunEvent,
  scheduledRunId,
} from '../src/RuntimeSchedule.js'
import { waitUntil } from './scheduleTicks.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal What {@link scheduledRuns} needs of the runtime. */
export interface ScheduledRunsHost {
  /** The clock and timers of the ticks. */
  readonly scheduler: SchedulerLike
  /** A tick at most this old is still recorded (the runtime's lease). */
  readonly catchUpMs: number
  /** With `'latest'`, a missed tick at most this old is recorded (the runtime's retention). */
  readonly lookBackMs: number
  /** Delay between tries of a failed record (the runtime's poll interval). */
  readonly retryMs: number
  /** Records the run `workflowId` of a tick; idempotent by id. */
  readonly record: (workflowId: string) => Promise<{ readonly created: boolean }>
  /**
   * Emits once the runtime stops, and at once to a later subscriber (a `ReplaySubject`): no tick is
   * planned and no retry is made after it; records in flight finish.
   */
  readonly stopped: Observable<unknown>
}

/** The ticks to record, and the instant up to which ticks are handled once they are. */
interface Plan {
  readonly ticks: ReadonlyArray<number>
  readonly lastMs: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The events of schedule `s`'s ticks, each recorded through `host.record`; see the module comment. */
export const scheduledRuns = (s: CheckedRuntimeSchedule, host: ScheduledRunsHost): Observable<ScheduledRunEvent> =>
  defer(() => {
    const { scheduler } = host
    const plan = (lastMs: number, nowMs: number, catchUpMs: number): Plan => ({
      ticks: dueTicks(s.schedule, { lastMs, nowMs, catchUpMs, lookBackMs: host.lookBackMs, missed: s.missed }),
      // a clock that stepped back never makes a tick due twice
      lastMs: Math.max(lastMs, nowMs),
    })

    const recordTick = (tickMs: number): Observable<ScheduledRunEvent> => {
      const workflowId = scheduledRunId(s.id, tickMs)
      const deadline = Math.max(tickMs, scheduler.now()) + host.catchUpMs
      const attempt = (): Observable<ScheduledRunEvent> =>
        defer(() => from(host.record(workflowId))).pipe(
          map(({ created }): ScheduledRunEvent => ({
            _tag: 'Scheduled',
            scheduleId: s.id,
            tickAt: tickMs,
            workflowId,
            created,
          })),
          catchError((e: unknown) => {
            const failed = of<ScheduledRunEvent>({
              _tag: 'ScheduleFailed',
              scheduleId: s.id,
              tickAt: tickMs,
              workflowId,
              error: toCanoError(e),
            })
            return isRetryable(e) && scheduler.now() + host.retryMs <= deadline
              ? // a stop cuts the wait for the retry short: the tick is reported failed, not recorded
                race(timer(host.retryMs, scheduler).pipe(map(() => true)), host.stopped.pipe(map(() => false))).pipe(
                  take(1),
                  concatMap((retry) => (retry ? attempt() : failed)),
                )
              : failed
          }),
        )
      return attempt()
    }

    // planning stops with the runtime; the records already in flight (below) finish
    const plans = of(plan(Number.NEGATIVE_INFINITY, scheduler.now(), 0)).pipe(
      expand((previous) => {
        const next = nextTickMs(s.schedule, previous.lastMs)
        return next === undefined
          ? EMPTY
          : waitUntil(next, scheduler).pipe(map(() => plan(previous.lastMs, scheduler.now(), host.catchUpMs)))
      }),
      takeUntil(host.stopped),
    )
    return plans.pipe(mergeMap(({ ticks }) => from(ticks).pipe(mergeMap(recordTick))))
  })
