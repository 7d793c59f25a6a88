/**
 * `retryAsync`: the retry loop of {@link retryWithBackoff} for Promise-returning code outside RxJS. The
 * same {@link RetryMode} decides how many attempts and how long each wait is, `shouldRetry` (default
 * {@link isRetryable}) which errors are worth another attempt, and the failure is the same
 * `CanoFailure` (`RetryExhausted` when more than one attempt was allowed). An `AbortSignal` ends the
 * wait and the loop at once. The success path is the call's own Promise and one `then` (no `async`
 * frame): nothing of the retry loop (counters, timers) is built before the first failure, and a signal
 * gets one `abort` listener for all its calls, not one added and removed per call.
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import { TimerDelay } from '../codecs/Config.js'
import {
  cancelledError,
  CanoFailure,
  configurationError,
  isCanoError,
  isRetryable,
  retryExhaustedError,
  toCanoError,
  toCanoFailure,
} from '../src/CanoError.js'
import { follow, unfollow } from '../src/internal/abortFollowers.js'
import { describeValue } from '../src/internal/describeValue.js'
import {
  badRetryCallback,
  isValidRetryMode,
  maxAttempts,
  retryDelayMs,
  RetryMode,
  validateRetryMode,
} from '../src/RetryMode.js'
import type { RetryInfo } from './retryWithBackoff.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link retryAsync}. Every field is optional.
 *
 * @example
 * import { RetryMode, type RetryAsyncOptions } from 'cano-rx'
 * const controller = new AbortController()
 * const o: RetryAsyncOptions = {
 *   mode: RetryMode.exponential(5),
 *   shouldRetry: (e) => !(e instanceof TypeError),
 *   onRetry: ({ attempt, delayMs }) => console.warn(`attempt ${attempt} failed, next in ${delayMs} ms`),
 *   signal: controller.signal,
 * }
 * @see {@link retryAsync}
 * @category model
 * @since 0.1.0
 */
export interface RetryAsyncOptions {
  /** How many attempts, and the wait before each retry. Default `RetryMode.default()` (4 attempts). */
  readonly mode?: RetryMode | undefined
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: (() => number) | undefined
  /** May this error be retried? Default {@link isRetryable}. A `false` ends the loop with this error. */
  readonly shouldRetry?: ((error: unknown) => boolean) | undefined
  /** Overrides the computed delay (e.g. a server's retry-after), in ms. Default: the computed delay. */
  readonly delayFor?: ((error: unknown, computedMs: number) => number) | undefined
  /** Called before each wait, with the error, the failed attempts so far and the delay chosen. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /**
   * Aborting it ends the loop at once: the call in flight is abandoned (it receives the signal to stop
   * its own work), a wait is cut short, and the Promise rejects with a `CanoFailure` carrying the
   * signal's reason when that is a `CanoError`, else `Cancelled`.
   */
  readonly signal?: AbortSignal | undefined
  /**
   * How a wait is made; meant for tests (a fake clock that resolves at once or on demand). It receives
   * the signal; `retryAsync` stops waiting when the signal aborts whatever `sleep` does. Default: a
   * `setTimeout`, cleared when the signal aborts.
   */
  readonly sleep?: ((ms: number, signal: AbortSignal | undefined) => PromiseLike<void>) | undefined
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

const WHERE = 'retryAsync'
const NO_OPTIONS: RetryAsyncOptions = {}
const DEFAULT_MODE: RetryMode = RetryMode.default()

/**
 * Calls `fn` until it succeeds, per `options.mode` (default `RetryMode.default()`: 4 attempts, waits of
 * about 100, 200 and 400 ms): the Promise-level twin of {@link retryWithBackoff}, for callers outside
 * RxJS. `fn` receives the attempt number (1-based) and the `signal` option.
 *
 * It rejects with a `CanoFailure`: `RetryExhausted` (the attempt count and the last error as a
 * `CanoError`) when the attempts run out and more than one was allowed, the last error itself (through
 * {@link toCanoError}) otherwise and for an error `shouldRetry` refuses; `Cancelled` (or the signal's
 * `CanoError` reason) when `signal` aborts; `Configuration`, naming the option, for invalid options (a
 * `mode` with a negative count or a `NaN` delay, a `delayFor` that returns a negative or `NaN` delay, a
 * callback that is not a function).
 *
 * @param fn - the call; a thrown error or a rejection is a failed attempt
 * @param options - the retry mode, the retry filter, `onRetry`, the delay override, `signal`, and `sleep` for tests
 * @returns what `fn` resolved with on the first attempt that succeeded
 * @example
 * import { RetryMode, retryAsync } from 'cano-rx'
 * declare const fetchRow: (id: string, signal: AbortSignal | undefined) => Promise<{ id: string }>
 * const row = await retryAsync((_attempt, signal) => fetchRow('42', signal), {
 *   mode: RetryMode.exponential(3),
 *   signal: AbortSignal.timeout(10_000),
 * })
 * @see {@link retryWithBackoff} for the operator, {@link retryDelayMs} for the delays
 * @category combinators
 * @since 0.1.0
 */
export const retryAsync = <A>(
  fn: (attempt: number, signal: AbortSignal | undefined) => A | PromiseLike<A>,
  options: RetryAsyncOptions = NO_OPTIONS,
): Promise<A> => {
  try {
    const bad = checkOptions(fn, options)
    if (bad !== undefined) return Promise.reject(bad)
    const signal = options.signal
    if (signal !== undefined) return withSignal(fn, options, signal)
  } catch (error: unknown) {
    // an options object whose getter throws, a signal that refuses a listener: a rejection, never a throw
    return rejectWith(error)
  }
  // the success path: the call's own Promise and one `then`; the loop is built on the first failure
  let first: A | PromiseLike<A>
  try {
    first = fn(1, undefined)
  } catch (error: unknown) {
    return retryLoop(fn, options, error, undefined)
  }
  return first instanceof Promise
    ? (first as Promise<A>).then(undefined, (error: unknown) => retryLoop(fn, options, error, undefined))
    : firstAttempt(first, fn, options, undefined)
}

/** A Promise rejected with `error` as it is (what the `async` function this was used to reject with). */
const rejectWith = async (error: unknown): Promise<never> => {
  throw error
}

/** Attempt 1 when `fn` returned a plain value or a thenable that is not a native Promise. */
const firstAttempt = async <A>(
  first: A | PromiseLike<A>,
  fn: (attempt: number, signal: AbortSignal | undefined) => A | PromiseLike<A>,
  options: RetryAsyncOptions,
  signal: AbortSignal | undefined,
): Promise<A> => {
  try {
    return await first
  } catch (error: unknown) {
    return retryLoop(fn, options, error, signal)
  }
}

/**
 * A call in flight with a signal: a link of its signal's list, rejected if the signal aborts. A list of
 * links rather than a `Set` of functions: adding and unlinking costs no hashing.
 */
interface InFlight {
  reject: ((error: CanoFailure) => void) | undefined
  prev: InFlight | undefined
  next: InFlight | undefined
}

/**
 * The calls in flight of each signal: one `abort` listener per signal (added by its first call, never
 * removed: a signal aborts once), not one added and removed per call. The value is the list's head.
 */
const inFlight = new WeakMap<AbortSignal, InFlight>()

const inFlightOf = (signal: AbortSignal): InFlight => {
  let head = inFlight.get(signal)
  if (head === undefined) {
    const list: InFlight = { reject: undefined, prev: undefined, next: undefined }
    head = list
    inFlight.set(signal, list)
    signal.addEventListener(
      'abort',
      () => {
        const rejects: Array<(error: CanoFailure) => void> = []
        for (let call = list.next; call !== undefined; call = call.next) if (call.reject) rejects.push(call.reject)
        list.next = undefined
        for (const reject of rejects) reject(new CanoFailure(reasonOf(signal)))
      },
      { once: true },
    )
  }
  return head
}

/** Takes `call` out of its signal's list (a no-op once the list was emptied by an abort). */
const unlink = (call: InFlight): void => {
  const { prev, next } = call
  if (prev !== undefined && prev.next === call) prev.next = next
  if (next !== undefined && next.prev === call) next.prev = prev
  call.prev = undefined
  call.next = undefined
  call.reject = undefined
}

/** With a signal: the loop, or the signal's reason as soon as it aborts. */
const withSignal = <A>(
  fn: (attempt: number, signal: AbortSignal | undefined) => A | PromiseLike<A>,
  options: RetryAsyncOptions,
  signal: AbortSignal,
): Promise<A> => {
  if (signal.aborted) return Promise.reject(new CanoFailure(reasonOf(signal)))
  const head = inFlightOf(signal)
  return new Promise<A>((resolve, reject) => {
    const call: InFlight = { reject, prev: head, next: head.next }
    if (head.next !== undefined) head.next.prev = call
    head.next = call
    let settled: Promise<A>
    try {
      const first = fn(1, signal)
      settled =
        first instanceof Promise
          ? (first as Promise<A>).then(undefined, (error: unknown) => retryLoop(fn, options, error, signal))
          : firstAttempt(first, fn, options, signal)
    } catch (error: unknown) {
      settled = retryLoop(fn, options, error, signal)
    }
    settled.then(
      (value) => {
        unlink(call)
        resolve(value)
      },
      (error: unknown) => {
        unlink(call)
        reject(toCanoFailure(error))
      },
    )
  })
}

/** Attempts 2..: the state of the loop lives here, created by the first failure. */
const retryLoop = async <A>(
  fn: (attempt: number, signal: AbortSignal | undefined) => A | PromiseLike<A>,
  options: RetryAsyncOptions,
  firstError: unknown,
  signal: AbortSignal | undefined,
): Promise<A> => {
  const { mode = DEFAULT_MODE, random = Math.random, shouldRetry = isRetryable, delayFor, onRetry, sleep } = options
  const allowed = maxAttempts(mode)
  let error = firstError
  for (let failed = 1; ; failed++) {
    // the signal aborted while the attempt ran: the caller has its rejection already
    if (signal?.aborted === true) throw new CanoFailure(reasonOf(signal))
    let delayMs: number
    try {
      if (!shouldRetry(error)) throw toCanoFailure(error)
      if (failed >= allowed) throw toCanoFailure(allowed > 1 ? retryExhaustedError(failed, toCanoError(error)) : error)
      const computed = retryDelayMs(mode, failed - 1, random) ?? 0
      delayMs = delayFor === undefined ? computed : delayFor(error, computed)
      if (!TimerDelay.is(delayMs))
        throw new CanoFailure(
          configurationError(
            `${WHERE}: delayFor must return ${TimerDelay.name}, got ${describeValue(delayMs)} (attempt ${failed})`,
          ),
        )
      onRetry?.({ error, attempt: failed, delayMs })
      await wait(delayMs, signal, sleep)
    } catch (e: unknown) {
      throw toCanoFailure(e)
    }
    try {
      return await fn(failed + 1, signal)
    } catch (e: unknown) {
      error = e
    }
  }
}

/** Waits `ms`; rejects with the cancellation when `signal` aborts first. */
const wait = (
  ms: number,
  signal: AbortSignal | undefined,
  sleep: ((ms: number, signal: AbortSignal | undefined) => PromiseLike<void>) | undefined,
): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    // it follows the signal: one listener on it however many calls wait at once
    const delay = {
      handleEvent: (): void => {
        if (timer !== undefined) clearTimeout(timer)
        reject(new CanoFailure(reasonOf(signal as AbortSignal)))
      },
    }
    const done = (): void => {
      if (signal !== undefined) unfollow(signal, delay)
      resolve()
    }
    if (signal !== undefined) {
      if (signal.aborted) return delay.handleEvent()
      follow(signal, delay)
    }
    if (sleep === undefined) timer = setTimeout(done, ms)
    else
      Promise.resolve(sleep(ms, signal)).then(done, (e: unknown) => {
        if (signal !== undefined) unfollow(signal, delay)
        reject(toCanoFailure(e))
      })
  })

/** The `CanoError` an aborted signal ends the loop with: its reason when that is one, else `Cancelled`. */
const reasonOf = (signal: AbortSignal): CanoError => {
  const reason: unknown = signal.reason
  return isCanoError(reason) ? reason : cancelledError(`${WHERE} cancelled`)
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const invalid = (field: string, rule: string, value: unknown): CanoFailure =>
  new CanoFailure(configurationError(`${WHERE}: ${field} must be ${rule}, got ${describeValue(value)}`))

/** The `CanoFailure(Configuration)` of the first invalid argument, if any (cheap when all are valid). */
const checkOptions = (fn: unknown, options: unknown): CanoFailure | undefined => {
  if (typeof fn !== 'function') return invalid('fn', 'a function', fn)
  if (typeof options !== 'object' || options === null) return invalid('options', 'an object', options)
  const o = options as Record<keyof RetryAsyncOptions, unknown>
  const callback = badRetryCallback(o)
  if (callback !== undefined) return invalid(callback, 'a function', o[callback])
  const sleep = o.sleep
  if (sleep !== undefined && typeof sleep !== 'function') return invalid('sleep', 'a function', sleep)
  const signal = o.signal
  if (
    signal !== undefined &&
    (typeof signal !== 'object' ||
      signal === null ||
      typeof (signal as { aborted?: unknown }).aborted !== 'boolean' ||
      typeof (signal as { addEventListener?: unknown }).addEventListener !== 'function')
  )
    return invalid('signal', 'an AbortSignal', signal)
  const mode = o.mode
  if (mode === undefined || isValidRetryMode(mode)) return undefined
  if (typeof mode !== 'object' || mode === null) return invalid('mode', 'a RetryMode', mode)
  const error = validateRetryMode(mode as RetryMode, `${WHERE} (mode)`)
  return new CanoFailure(error ?? configurationError(`${WHERE}: mode is not a RetryMode`))
}
