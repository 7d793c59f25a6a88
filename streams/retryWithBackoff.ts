/**
 * `retryWithBackoff`: the retry loop of every task kind, as one pipeable operator over RxJS
 * `retry({ delay })` and `timer`. It resubscribes to the source after each error, waiting the delay
 * that {@link RetryMode} chooses, until the attempts run out, the error is not retryable, or the
 * source succeeds.
 *
 * @since 0.1.0
 */
import {
  asyncScheduler,
  concatMap,
  type MonoTypeOperatorFunction,
  Observable,
  type Observer,
  retry,
  type SchedulerLike,
  type Subscriber,
  type TeardownLogic,
  throwError,
  timer,
  type Unsubscribable,
} from 'rxjs'

import { isRetryable, retryExhaustedError, toCanoError, toCanoFailure } from '../src/CanoError.js'
import { maxAttempts, retryDelayMs, type RetryMode } from '../src/RetryMode.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What `onRetry` is told before each wait.
 *
 * @example
 * import type { RetryInfo } from 'cano-rx'
 * const log = (i: RetryInfo) => console.warn(`attempt ${i.attempt} failed, retrying in ${i.delayMs} ms`)
 * @see {@link RetryWithBackoffOptions}
 * @category model
 * @since 0.1.0
 */
export interface RetryInfo {
  /** What the failed attempt threw. */
  readonly error: unknown
  /** Failed attempts so far (1 before the first retry). */
  readonly attempt: number
  /** The wait before the next attempt. */
  readonly delayMs: number
}

/**
 * Options of {@link retryWithBackoff}.
 *
 * @example
 * import { RetryMode, type RetryWithBackoffOptions } from 'cano-rx'
 * const o: RetryWithBackoffOptions = { mode: RetryMode.fixed(3, 100), random: () => 0.5 }
 * @see {@link retryWithBackoff}
 * @category model
 * @since 0.1.0
 */
export interface RetryWithBackoffOptions {
  /** How many attempts, and the wait before each retry. */
  readonly mode: RetryMode
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: (() => number) | undefined
  /** Where the waits are scheduled. Default `asyncScheduler` (virtual inside `TestScheduler.run`). */
  readonly scheduler?: SchedulerLike | undefined
  /** May this error be retried? Default {@link isRetryable}. A `false` ends the loop with this error. */
  readonly shouldRetry?: ((error: unknown) => boolean) | undefined
  /** Overrides the computed delay (e.g. a rate limiter's retry-after). Default: the computed delay. */
  readonly delayFor?: ((error: unknown, computedMs: number) => number) | undefined
  /** Called before each wait, with the delay chosen. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /**
   * Attempts already made before the first subscription (a retry loop that continues one a resumed run
   * had started): they count toward `mode`'s attempts and its backoff. Default 0.
   */
  readonly attemptsBefore?: number | undefined
}

// -------------------------------------------------------------------------------------
// operators
// -------------------------------------------------------------------------------------

/**
 * Retries the source per `mode`. It errors with a {@link CanoFailure}: when the attempts run out its
 * `error` is `RetryExhausted` (carrying the attempt count and the last error as a `CanoError`) if more
 * than one attempt was allowed, and the last error (through {@link toCanoError}) otherwise; a
 * non-retryable error ends the loop at once the same way. `shouldRetry`, `delayFor` and `onRetry` see
 * the source's errors as they are.
 *
 * ```text
 * source:  -#
 * result:  -  10ms -  20ms -  40ms -#      (RetryMode.exponentialCustom 10 ms base, x2, no jitter, 3 retries)
 * ```
 *
 * @param options - the retry mode and the optional scheduler, jitter source, retry filter, delay override and `onRetry` hook
 * @returns an operator that resubscribes to its source per `options.mode`
 * @example
 * import { defer, from } from 'rxjs'
 * import { RetryMode, retryWithBackoff } from 'cano-rx'
 * const row$ = defer(() => from(fetch('https://example.org/row/1'))).pipe(retryWithBackoff({ mode: RetryMode.exponential(3) }))
 * @see {@link retryDelayMs} for the delays, {@link isRetryable} for the default filter
 * @category operators
 * @since 0.1.0
 */
export const retryWithBackoff = <T>(options: RetryWithBackoffOptions): MonoTypeOperatorFunction<T> =>
  retryLoop<T>(options, toCanoFailure)

/**
 * @internal {@link retryWithBackoff} for the engine: the error is delivered as it is (a non-retryable
 * error unchanged, `RetryExhausted` as a `CanoError`), so the engine's own wrappers (a breaker
 * rejection, a `nonRetryable` value) pass through.
 */
export const retryWithBackoffRaw = <T>(options: RetryWithBackoffOptions): MonoTypeOperatorFunction<T> =>
  retryLoop<T>(options, asIs)

const asIs = (e: unknown): unknown => e

/**
 * The loop. Until the source's first error, a subscription costs one small observer between the source
 * and the subscriber; the first error builds the rest of the loop (the wait, then the source under RxJS
 * `retry({ delay })` counting on from there). Its only errors are the ones its decision throws, so
 * `deliver` shapes every error the operator emits without an operator of its own.
 */
const retryLoop = <T>(
  options: RetryWithBackoffOptions,
  deliver: (e: unknown) => unknown,
): MonoTypeOperatorFunction<T> => {
  const {
    mode,
    random = Math.random,
    scheduler = asyncScheduler,
    shouldRetry = isRetryable,
    delayFor,
    onRetry,
    attemptsBefore = 0,
  } = options
  const allowed = maxAttempts(mode)
  /** After `failed` failed attempts in all, the last one with `error`: the wait, or the error to end with. */
  const decide = (error: unknown, failed: number): Observable<0> => {
    if (!shouldRetry(error)) return throwError(() => deliver(error))
    if (failed >= allowed)
      return throwError(() => deliver(allowed > 1 ? retryExhaustedError(failed, toCanoError(error)) : error))
    const computed = retryDelayMs(mode, failed - 1, random) ?? 0
    const delayMs = delayFor === undefined ? computed : delayFor(error, computed)
    onRetry?.({ error, attempt: failed, delayMs })
    return timer(delayMs, scheduler)
  }
  return (source) => {
    /** Attempts 2..: the first wait, then the source, resubscribed after each further error. */
    const rest = (error: unknown): Observable<T> => {
      const failedBefore = attemptsBefore + 1
      return decide(error, failedBefore).pipe(
        concatMap(() =>
          source.pipe(retry({ delay: (e: unknown, failedHere: number) => decide(e, failedHere + failedBefore) })),
        ),
      )
    }
    return new Observable<T>((subscriber) => {
      const first = new FirstAttempt(subscriber, rest)
      // RxJS takes `first` as the subscriber itself and returns it: what the source adds reaches the
      // subscriber through it. Were RxJS to wrap it, the wrapper is what the subscriber must release.
      const subscription = source.subscribe(first)
      return (subscription as unknown) === first ? undefined : subscription
    })
  }
}

/**
 * Attempt 1's subscriber: passes the source through, and hands its error over to the rest of the loop.
 * It has `next`, `error` and `complete` and the members of a subscription (`closed`, `add`, `remove`,
 * `unsubscribe`), so RxJS takes it as the subscriber as it is (no wrapper of its own). What the source
 * adds to it goes to the consumer's subscriber too (released with it, when it completes or is
 * unsubscribed), and is kept here to be released at once if the source errors, before the wait.
 * Were RxJS to wrap it, it would still be a correct observer.
 */
class FirstAttempt<T> implements Observer<T>, Unsubscribable {
  private ended = false
  /** What the source added (and the subscriber holds too): none, one, or several. */
  private held: Exclude<TeardownLogic, void> | Array<Exclude<TeardownLogic, void>> | undefined = undefined
  constructor(
    private readonly subscriber: Subscriber<T>,
    private readonly rest: (error: unknown) => Observable<T>,
  ) {}
  get closed(): boolean {
    return this.ended || this.subscriber.closed
  }
  next(value: T): void {
    if (!this.closed) this.subscriber.next(value)
  }
  error(error: unknown): void {
    if (this.closed) return
    this.unsubscribe()
    const subscriber = this.subscriber
    let rest$: Observable<T>
    try {
      rest$ = this.rest(error)
    } catch (thrown: unknown) {
      return subscriber.error(thrown)
    }
    subscriber.add(rest$.subscribe(subscriber))
  }
  complete(): void {
    if (this.closed) return
    this.ended = true
    // the subscriber releases what the source added when it completes
    this.subscriber.complete()
  }
  add(teardown: TeardownLogic): void {
    if (teardown === undefined || teardown === this) return
    if (this.closed) return release(teardown)
    const held = this.held
    if (held === undefined) this.held = teardown
    else if (Array.isArray(held)) held.push(teardown)
    else this.held = [held, teardown]
    this.subscriber.add(teardown)
  }
  remove(teardown: Exclude<TeardownLogic, void>): void {
    const held = this.held
    if (held === teardown) this.held = undefined
    else if (Array.isArray(held)) {
      const i = held.indexOf(teardown)
      if (i >= 0) held.splice(i, 1)
    }
    this.subscriber.remove(teardown)
  }
  /** Releases what the source added, and takes it back from the subscriber. */
  unsubscribe(): void {
    if (this.ended) return
    this.ended = true
    const held = this.held
    this.held = undefined
    if (held === undefined) return
    for (const t of Array.isArray(held) ? held : [held]) {
      this.subscriber.remove(t)
      release(t)
    }
  }
}

const release = (teardown: Exclude<TeardownLogic, void>): void => {
  if (typeof teardown === 'function') teardown()
  else teardown.unsubscribe()
}
