/**
 * `isScheduler`: the structural check of an RxJS scheduler option (`now` and `schedule`), shared by the
 * factories and runners that take a `scheduler` so that a wrong one is a `Configuration` error naming it.
 *
 * @internal
 * @since 0.1.0
 */
import type { SchedulerLike } from 'rxjs'

/** @internal `u` is a scheduler (`now` and `schedule`). */
export const isScheduler = (u: unknown): u is SchedulerLike =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { now?: unknown }).now === 'function' &&
  typeof (u as { schedule?: unknown }).schedule === 'function'

/** @internal What a `scheduler` option must be, as `Configuration` messages say it. */
export const SCHEDULER_RULE = 'an RxJS scheduler (now, schedule)'
