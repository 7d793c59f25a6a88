/**
 * `timeoutAttempt`: bounds one attempt. If the source has not emitted within `timeoutMs`, it is
 * unsubscribed, `onTimeout` runs (the engine aborts the attempt's `AbortSignal` there) and the result
 * errors with a {@link CanoFailure} carrying a `Timeout` `CanoError`.
 *
 * @since 0.1.0
 */
import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  Observable,
  type SchedulerLike,
  type Subscription,
  throwError,
  timeout,
} from 'rxjs'

import type { Timeout } from '../codecs/CanoError.js'
import { CanoFailure, timeoutError, toCanoFailure } from '../src/CanoError.js'

/**
 * Options of {@link timeoutAttempt}.
 *
 * @example
 * import type { TimeoutAttemptOptions } from 'cano-rx'
 * const o: TimeoutAttemptOptions = { timeoutMs: 2_000 }
 * @see {@link timeoutAttempt}
 * @category model
 * @since 0.1.0
 */
export interface TimeoutAttemptOptions {
  /** Time allowed for the first value, in ms. */
  readonly timeoutMs: number
  /** Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike
  /** Runs when the deadline passes, before the error is delivered. */
  readonly onTimeout?: (error: Timeout) => void
}

/**
 * Fails the source with `Timeout` if its first value takes longer than `timeoutMs`. Every error it
 * delivers is a {@link CanoFailure}: `Timeout` at the deadline, the source's own error through
 * {@link toCanoError} otherwise.
 *
 * ```text
 * source:  ------a|
 * result:  ---#            (timeoutMs 3)
 * ```
 *
 * @param options - the deadline in ms, the optional scheduler and `onTimeout` hook
 * @returns an operator that errors with a `CanoFailure` of `timeoutError(timeoutMs)` when the first value is late
 * @example
 * import { defer, from } from 'rxjs'
 * import { timeoutAttempt } from 'cano-rx'
 * const ac = new AbortController()
 * const page$ = defer(() => from(fetch('https://example.org', { signal: ac.signal }))).pipe(
 *   timeoutAttempt({ timeoutMs: 2_000, onTimeout: (e) => ac.abort(e) }),
 * )
 * @see {@link timeoutError}
 * @category operators
 * @since 0.1.0
 */
export const timeoutAttempt =
  <T>(options: TimeoutAttemptOptions): MonoTypeOperatorFunction<T> =>
  (source) =>
    new Observable<T>((subscriber) => {
      const { timeoutMs, scheduler = asyncScheduler, onTimeout } = options
      // one subscriber, no operator chain: the deadline ends with the first value (or the end), the
      // source's errors become CanoFailures on the way
      const state = { seen: false, deadline: undefined as Subscription | undefined }
      const stop = (): void => {
        state.seen = true
        state.deadline?.unsubscribe()
      }
      const sub = source.subscribe({
        next: (v) => {
          stop()
          subscriber.next(v)
        },
        error: (e: unknown) => {
          stop()
          subscriber.error(toCanoFailure(e))
        },
        complete: () => {
          stop()
          subscriber.complete()
        },
      })
      // as rxjs `timeout`: the deadline starts once the source is subscribed, unless it already delivered
      if (!state.seen)
        state.deadline = scheduler.schedule(() => {
          sub.unsubscribe()
          const error = timeoutError(timeoutMs)
          onTimeout?.(error)
          subscriber.error(new CanoFailure(error))
        }, timeoutMs)
      return () => {
        state.deadline?.unsubscribe()
        sub.unsubscribe()
      }
    })

/**
 * @internal {@link timeoutAttempt} for the engine: the `Timeout` error as a `CanoError`, the source's own
 * errors as they are (a `nonRetryable` value must reach the retry loop unchanged).
 */
export const timeoutAttemptRaw = <T>(options: TimeoutAttemptOptions): MonoTypeOperatorFunction<T> => {
  const { timeoutMs, scheduler = asyncScheduler, onTimeout } = options
  return timeout<T, Observable<never>>({
    first: timeoutMs,
    scheduler,
    with: () => {
      const error = timeoutError(timeoutMs)
      onTimeout?.(error)
      return throwError(() => error)
    },
  })
}
