/**
 * `timeoutAttempt`: bounds one attempt. If the source has not emitted within `timeoutMs`, it is
 * unsubscribed, `onTimeout` runs (the engine aborts the attempt's `AbortSignal` there) and the result
 * errors with a `Timeout` `CanoError`.
 *
 * @since 0.1.0
 */
import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  type Observable,
  type SchedulerLike,
  throwError,
  timeout,
} from 'rxjs'

import type { Timeout } from '../codecs/CanoError.js'
import { timeoutError } from '../src/CanoError.js'

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
 * Fails the source with `Timeout` if its first value takes longer than `timeoutMs`.
 *
 * ```text
 * source:  ------a|
 * result:  ---#            (timeoutMs 3)
 * ```
 *
 * @param options - the deadline in ms, the optional scheduler and `onTimeout` hook
 * @returns an operator that errors with `timeoutError(timeoutMs)` when the first value is late
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
export const timeoutAttempt = <T>(options: TimeoutAttemptOptions): MonoTypeOperatorFunction<T> => {
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
