/**
 * `timeoutAttempt`: bounds one attempt. If the source has not emitted within `timeoutMs`, it is
 * unsubscribed, `onTimeout` runs (the engine aborts the attempt's `AbortSignal` there) and the result
 * errors with a {@link CanoFailure} carrying a `Timeout` `CanoError`. The deadlines of every subscription on
 * one scheduler share a single scheduled wake-up (streams/internal/deadlineQueue.ts), not one action each.
 *
 * @since 0.1.0
 */
import { asyncScheduler, type MonoTypeOperatorFunction, Observable, type SchedulerLike, Subscription } from 'rxjs'

import type { Timeout } from '../codecs/CanoError.js'
import { CanoFailure, timeoutError, toCanoFailure } from '../src/CanoError.js'
import { type Deadline, type DeadlineQueue, queueDeadline } from './internal/deadlineQueue.js'

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
      const deadline = new AttemptDeadline(scheduler, () => {
        sub.unsubscribe()
        const error = timeoutError(timeoutMs)
        onTimeout?.(error)
        subscriber.error(new CanoFailure(error))
      })
      const sub: Subscription = source.subscribe({
        next: (v) => {
          deadline.stop()
          subscriber.next(v)
        },
        error: (e: unknown) => {
          deadline.stop()
          subscriber.error(toCanoFailure(e))
        },
        complete: () => {
          deadline.stop()
          subscriber.complete()
        },
      })
      // as rxjs `timeout`: the deadline starts once the source is subscribed, unless it already delivered
      deadline.start(timeoutMs)
      return () => {
        deadline.stop()
        sub.unsubscribe()
      }
    })

/**
 * @internal {@link timeoutAttempt} for the engine: the `Timeout` error as a `CanoError`, the source's own
 * errors as they are (a `nonRetryable` value must reach the retry loop unchanged). `deadlineMs` (default
 * `timeoutMs`) is when it fires: what a resumed attempt had left; the error names `timeoutMs`.
 *
 * Unlike {@link timeoutAttempt} (and rxjs `timeout`), the deadline is armed before the source is
 * subscribed, as the engine's inline attempt 1 arms it before it calls the task (streams/attemptWork.ts):
 * a value delivered at the deadline's very instant is late on every attempt (`Timeout`).
 */
export const timeoutAttemptRaw =
  <T>(options: TimeoutAttemptOptions & { readonly deadlineMs?: number | undefined }): MonoTypeOperatorFunction<T> =>
  (source) =>
    new Observable<T>((subscriber) => {
      const { timeoutMs, scheduler = asyncScheduler, onTimeout } = options
      // the source's subscription, once made (a deadline that fired first closes it at once)
      const sub = new Subscription()
      const deadline = new AttemptDeadline(scheduler, () => {
        sub.unsubscribe()
        const error = timeoutError(timeoutMs)
        onTimeout?.(error)
        subscriber.error(error)
      })
      // armed first: a deadline due at the instant the source delivers fires first (see above)
      deadline.start(options.deadlineMs ?? timeoutMs)
      sub.add(
        source.subscribe({
          next: (v) => {
            deadline.stop()
            subscriber.next(v)
          },
          error: (e: unknown) => {
            deadline.stop()
            subscriber.error(e)
          },
          complete: () => {
            deadline.stop()
            subscriber.complete()
          },
        }),
      )
      return () => {
        deadline.stop()
        sub.unsubscribe()
      }
    })

/**
 * The deadline of one subscription, in its scheduler's deadline queue (streams/internal/deadlineQueue.ts:
 * one scheduled wake-up for every deadline of the scheduler, not one action per attempt).
 */
class AttemptDeadline implements Deadline {
  deadlineAt = 0
  deadlineSeq = 0
  deadlineQueued = false
  /** The source delivered (or the subscription ended): the deadline no longer applies. */
  #done = false
  #queue: DeadlineQueue | undefined = undefined
  constructor(
    private readonly scheduler: SchedulerLike,
    readonly expire: () => void,
  ) {}
  /** Queues the deadline `ms` from now, unless the source already delivered. */
  start(ms: number): void {
    if (!this.#done) this.#queue = queueDeadline(this.scheduler, this, ms)
  }
  stop(): void {
    this.#done = true
    this.#queue?.cancel(this)
  }
}
