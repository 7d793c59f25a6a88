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
  config,
  type MonoTypeOperatorFunction,
  Observable,
  type Observer,
  retry,
  type SchedulerLike,
  Subscriber,
  type Subscription,
  type TeardownLogic,
  throwError,
  timer,
} from 'rxjs'

import { TimerDelay } from '../codecs/Config.js'
import {
  CanoFailure,
  configurationError,
  isRetryable,
  retryExhaustedError,
  toCanoError,
  toCanoFailure,
} from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import {
  badRetryCallback,
  isValidRetryMode,
  maxAttempts,
  retryDelayMs,
  type RetryMode,
  validateRetryMode,
} from '../src/RetryMode.js'
import { isScheduler } from './internal/isScheduler.js'
import { invalidOption } from './internal/standalone.js'

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
 * the source's errors as they are; one of them throwing ends the loop with that error as a `CanoFailure`
 * (`TaskExecution`), and a `delayFor` returning no valid delay with a `Configuration` one.
 *
 * ```text
 * source:  -#
 * result:  -  10ms -  20ms -  40ms -#      (RetryMode.exponentialCustom 10 ms base, x2, no jitter, 3 retries)
 * ```
 *
 * @param options - the retry mode and the optional scheduler, jitter source, retry filter, delay override and `onRetry` hook
 * @returns an operator that resubscribes to its source per `options.mode`
 * @throws CanoFailure with a `Configuration` error naming the option, when it is built with invalid
 *   options (no mode, an invalid mode, a callback that is not a function, a bad `attemptsBefore`)
 * @example
 * import { defer, from } from 'rxjs'
 * import { RetryMode, retryWithBackoff } from 'cano-rx'
 * const row$ = defer(() => from(fetch('https://example.org/row/1'))).pipe(retryWithBackoff({ mode: RetryMode.exponential(3) }))
 * @see {@link retryDelayMs} for the delays, {@link isRetryable} for the default filter
 * @category operators
 * @since 0.1.0
 */
export const retryWithBackoff = <T>(options: RetryWithBackoffOptions): MonoTypeOperatorFunction<T> => {
  const bad = checkOptions(options)
  if (bad !== undefined) throw bad
  return retryLoop<T>(options, toCanoFailure)
}

const WHERE = 'retryWithBackoff'

/** The `CanoFailure(Configuration)` of the first invalid option of the public operator, if any. */
const checkOptions = (options: unknown): CanoFailure | undefined => {
  if (typeof options !== 'object' || options === null) return invalidOption(WHERE, 'options', 'an object', options)
  const o = options as Record<keyof RetryWithBackoffOptions, unknown>
  const mode = o.mode
  if (typeof mode !== 'object' || mode === null) return invalidOption(WHERE, 'mode', 'a RetryMode', mode)
  if (!isValidRetryMode(mode))
    return new CanoFailure(
      validateRetryMode(mode as RetryMode, `${WHERE} (mode)`) ??
        configurationError(`${WHERE}: mode is not a RetryMode`),
    )
  const callback = badRetryCallback(o)
  if (callback !== undefined) return invalidOption(WHERE, callback, 'a function', o[callback])
  if (o.scheduler !== undefined && !isScheduler(o.scheduler))
    return invalidOption(WHERE, 'scheduler', 'a SchedulerLike', o.scheduler)
  const before = o.attemptsBefore
  if (before !== undefined && !(typeof before === 'number' && Number.isSafeInteger(before) && before >= 0))
    return invalidOption(WHERE, 'attemptsBefore', 'a non-negative integer', before)
  return undefined
}

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
  // a missing `options` or `mode` fails here, when the operator is built; the rest waits for an error
  maxAttempts(options.mode)
  return (source) => new Retrying<T>(source, options, deliver)
}

/**
 * The decision of the loop, built by the first error: after `failed` failed attempts in all, the last
 * one with `error`, the wait, or the error to end with.
 */
const decider = (
  options: RetryWithBackoffOptions,
  deliver: (e: unknown) => unknown,
): ((error: unknown, failed: number) => Observable<0>) => {
  const {
    mode,
    random = Math.random,
    scheduler = asyncScheduler,
    shouldRetry = isRetryable,
    delayFor,
    onRetry,
  } = options
  const allowed = maxAttempts(mode)
  return (error: unknown, failed: number): Observable<0> => {
    // the caller's callbacks may throw: the loop then errors with a CanoFailure, as `retryAsync` rejects
    try {
      if (!shouldRetry(error)) return throwError(() => deliver(error))
      if (failed >= allowed)
        return throwError(() => deliver(allowed > 1 ? retryExhaustedError(failed, toCanoError(error)) : error))
      const computed = retryDelayMs(mode, failed - 1, random) ?? 0
      const delayMs = delayFor === undefined ? computed : delayFor(error, computed)
      if (delayFor !== undefined && !TimerDelay.is(delayMs))
        throw new CanoFailure(
          configurationError(
            `retryWithBackoff: delayFor must return ${TimerDelay.name}, got ${describeValue(delayMs)} (attempt ${String(failed)})`,
          ),
        )
      onRetry?.({ error, attempt: failed, delayMs })
      return timer(delayMs, scheduler)
    } catch (e: unknown) {
      const failure = toCanoFailure(e)
      return throwError(() => failure)
    }
  }
}

/**
 * Attempt 1, then the rest of the loop on its first error: `first` passes the source through. RxJS takes
 * `first` as the subscriber itself and returns it: what the source adds reaches the subscriber through
 * it. Were RxJS to wrap it, the wrapper is what the subscriber must release.
 */
const subscribeFirst = <T>(subscriber: Subscriber<T>, loop: Retrying<T>): TeardownLogic => {
  const first = new FirstAttempt(subscriber, loop)
  const subscription = loop.source1.subscribe(first)
  return (subscription as unknown) === first ? undefined : subscription
}

/**
 * The operator's Observable: built per `pipe` with no closure of its own. Given a `Subscriber` (what
 * `firstValueFrom`, `lastValueFrom` and every RxJS operator pass), `subscribe` goes straight to attempt
 * 1, without the generic path's wrapping (its error context, its `try`, its `add` of nothing); anything
 * else takes the generic path, which ends in `_subscribe`.
 */
class Retrying<T> extends Observable<T> {
  constructor(
    /** The source: attempt 1, and each later attempt. */
    readonly source1: Observable<T>,
    private readonly options: RetryWithBackoffOptions,
    private readonly deliver: (e: unknown) => unknown,
  ) {
    super()
  }
  /** Attempts 2..: the first wait, then the source, resubscribed after each further error. */
  rest(error: unknown): Observable<T> {
    const failedBefore = (this.options.attemptsBefore ?? 0) + 1
    const decide = decider(this.options, this.deliver)
    return decide(error, failedBefore).pipe(
      concatMap(() =>
        this.source1.pipe(retry({ delay: (e: unknown, failedHere: number) => decide(e, failedHere + failedBefore) })),
      ),
    )
  }
  /** RxJS's generic subscribe path ends here (a subscriber RxJS made from an observer or callbacks). */
  protected _subscribe(subscriber: Subscriber<T>): TeardownLogic {
    return subscribeFirst(subscriber, this)
  }
  override subscribe(
    observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    if (
      !(observerOrNext instanceof Subscriber) ||
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- whoever still sets it gets RxJS's own path
      config.useDeprecatedSynchronousErrorHandling
    )
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the signatures the operator's Observable must keep
      return super.subscribe(observerOrNext as (value: T) => void, error, complete)
    const subscriber = observerOrNext as Subscriber<T>
    try {
      const teardown = subscribeFirst(subscriber, this)
      if (teardown !== undefined) subscriber.add(teardown)
    } catch (thrown: unknown) {
      subscriber.error(thrown)
    }
    return subscriber
  }
}

/**
 * Attempt 1's subscriber: passes the source through, and hands its error over to the rest of the loop.
 * A `Subscriber`, so RxJS takes it as the subscriber at once (an `instanceof`, no duck-typing check, at
 * each subscribe it passes through), built without a destination of its own (no link to the consumer's
 * subscriber); `closed` reads the consumer's subscriber. What the source adds to it goes to the
 * consumer's subscriber too (released with it, when it completes or is unsubscribed), and is kept here
 * to be released at once if the source errors, before the wait.
 */
class FirstAttempt<T> extends Subscriber<T> {
  static {
    // `closed` follows the consumer (a source looping `while (!subscriber.closed)` stops when it
    // unsubscribes); Subscription's own `this.closed = ...` writes end this attempt
    Object.defineProperty(FirstAttempt.prototype, 'closed', {
      get(this: FirstAttempt<unknown>): boolean {
        return this.ended || this.consumer.closed
      },
      set(this: FirstAttempt<unknown>, closed: boolean): void {
        if (closed) this.ended = true
      },
      configurable: true,
    })
  }
  private ended = false
  /** What the source added (and the subscriber holds too): none, one, or several. */
  private held: Exclude<TeardownLogic, void> | Array<Exclude<TeardownLogic, void>> | undefined = undefined
  constructor(
    private readonly consumer: Subscriber<T>,
    private readonly loop: Retrying<T>,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- no destination: no link to the consumer's subscriber
    super()
  }
  override next(value: T): void {
    if (!this.ended && !this.consumer.closed) this.consumer.next(value)
  }
  override error(error: unknown): void {
    if (this.ended || this.consumer.closed) return
    this.unsubscribe()
    const consumer = this.consumer
    let rest$: Observable<T>
    try {
      rest$ = this.loop.rest(error)
    } catch (thrown: unknown) {
      return consumer.error(thrown)
    }
    consumer.add(rest$.subscribe(consumer))
  }
  override complete(): void {
    if (this.ended || this.consumer.closed) return
    this.ended = true
    // the consumer releases what the source added when it completes
    this.consumer.complete()
  }
  override add(teardown: TeardownLogic): void {
    if (teardown === undefined || teardown === this) return
    if (this.ended || this.consumer.closed) return release(teardown)
    const held = this.held
    if (held === undefined) this.held = teardown
    else if (Array.isArray(held)) held.push(teardown)
    else this.held = [held, teardown]
    this.consumer.add(teardown)
  }
  override remove(teardown: Exclude<TeardownLogic, void>): void {
    const held = this.held
    if (held === teardown) this.held = undefined
    else if (Array.isArray(held)) {
      const i = held.indexOf(teardown)
      if (i >= 0) held.splice(i, 1)
    }
    this.consumer.remove(teardown)
  }
  /** Releases what the source added, and takes it back from the consumer's subscriber. */
  override unsubscribe(): void {
    if (this.ended) return
    this.ended = true
    const held = this.held
    this.held = undefined
    if (held === undefined) return
    for (const t of Array.isArray(held) ? held : [held]) {
      this.consumer.remove(t)
      release(t)
    }
  }
}

const release = (teardown: Exclude<TeardownLogic, void>): void => {
  if (typeof teardown === 'function') teardown()
  else teardown.unsubscribe()
}
