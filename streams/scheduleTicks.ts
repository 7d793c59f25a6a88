/**
 * `scheduleTicks`: the tick streams of the scheduler, on an injected RxJS scheduler so tests run in
 * virtual time. Waits longer than a JS timer can hold (2^31-1 ms, about 24.8 days) are split into
 * chunks, and the clock is read again after each chunk, so a yearly cron expression neither fires
 * early nor overflows `setTimeout`.
 *
 * - {@link tickTimes}: ticks at absolute times given by a `next(after)` function (cron, fixed rate).
 * - {@link fixedDelayTicks}: a tick, then the tick's work, then a delay, then the next tick.
 *
 * @internal
 * @since 0.1.0
 */
import {
  concat,
  concatMap,
  defer,
  EMPTY,
  expand,
  ignoreElements,
  map,
  type Observable,
  of,
  type SchedulerLike,
  timer,
} from 'rxjs'

import { MAX_TIMER_MS } from '../src/internal/timers.js'

// -------------------------------------------------------------------------------------
// timers
// -------------------------------------------------------------------------------------

/**
 * @internal Emits `undefined` once `scheduler.now()` has reached `atMs` (at once when it already
 * has), then completes.
 */
export const waitUntil = (atMs: number, scheduler: SchedulerLike): Observable<undefined> =>
  defer(() => {
    const delay = atMs - scheduler.now()
    return delay > MAX_TIMER_MS
      ? timer(MAX_TIMER_MS, scheduler).pipe(concatMap(() => waitUntil(atMs, scheduler)))
      : timer(Math.max(0, delay), scheduler).pipe(map(() => undefined))
  })

// -------------------------------------------------------------------------------------
// tick streams
// -------------------------------------------------------------------------------------

/**
 * @internal Ticks at absolute times: the first at `firstMs`, each next one at
 * `next(max(previous, now))`, so a late timer never fires the same time twice and times already
 * behind the clock are skipped. Emits each tick's planned time; completes when `next` (or
 * `firstMs`) is `undefined`.
 *
 * ```text
 * firstMs 0, next(t) = t + 10:   0 -- 10 -- 20 -- 30 …
 * ```
 */
export const tickTimes = (
  firstMs: number | undefined,
  next: (afterMs: number) => number | undefined,
  scheduler: SchedulerLike,
): Observable<number> => {
  const at = (t: number | undefined): Observable<number> =>
    t === undefined ? EMPTY : waitUntil(t, scheduler).pipe(map(() => t))
  return at(firstMs).pipe(expand((previous) => defer(() => at(next(Math.max(previous, scheduler.now()))))))
}

/**
 * @internal Fixed-delay ticks: a tick at once, then `work(tickMs)` (subscribed and awaited until it
 * completes), then a wait of `delayMs()` (read after the work), then the next tick. Emits each tick's
 * time once its work has completed.
 *
 * ```text
 * work of 5, delayMs 10:   tick 0, work 0..5, tick 15, work 15..20, tick 30 …
 * ```
 */
export const fixedDelayTicks = (
  delayMs: () => number,
  work: (tickMs: number) => Observable<unknown>,
  scheduler: SchedulerLike,
): Observable<number> => {
  const tickAfter = (wait: number): Observable<number> =>
    waitUntil(scheduler.now() + wait, scheduler).pipe(
      concatMap(() => {
        const t = scheduler.now()
        return concat(work(t).pipe(ignoreElements()), of(t))
      }),
    )
  return defer(() => tickAfter(0)).pipe(expand(() => defer(() => tickAfter(delayMs()))))
}
