/**
 * `poll`: a wait-until state. Its function returns `ready(state)` to move on or `pending(delayMs)` to
 * be called again after a delay. Errors follow a {@link PollErrorPolicy}: `failFast` (default) or
 * `retryOnError({ maxErrors })`, which tolerates up to `maxErrors` consecutive errors (a `pending`
 * resets the count) and fails on the next. The default config has no retries (cano's `minimal()`);
 * `attemptTimeoutMs` bounds the whole loop. Beyond cano: `maxPolls` caps the loop, and
 * `retryOnError({ delayMs })` waits between erroring polls so a broken dependency is not hammered.
 *
 * @since 0.1.0
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { Observable } from 'rxjs'

import type { Configuration } from '../codecs/CanoError.js'
import { NonNegativeInteger, optional, PositiveInteger, TimerDelay } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig } from './internal/checkConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What one poll answers: move on to `state`, or poll again in `delayMs`.
 *
 * @example
 * import { pending, ready, type PollOutcome } from 'cano-rx'
 * const check = (done: boolean): PollOutcome<'Process'> => (done ? ready('Process') : pending(500))
 * @category model
 * @since 0.1.0
 */
export type PollOutcome<S extends string> =
  { readonly _tag: 'Ready'; readonly state: S } | { readonly _tag: 'Pending'; readonly delayMs: number }

/**
 * What a poll function may return: a {@link PollOutcome} as a value, a Promise, an Observable (first
 * value) or a `TaskEither`.
 *
 * @example
 * import { pending, type PollOutput } from 'cano-rx'
 * const later: PollOutput<'Done'> = Promise.resolve(pending(100))
 * @category model
 * @since 0.1.0
 */
export type PollOutput<S extends string> =
  PollOutcome<S> | PromiseLike<PollOutcome<S>> | Observable<PollOutcome<S>> | TaskEither<unknown, PollOutcome<S>>

/**
 * How a poll loop treats errors.
 *
 * @example
 * import { retryOnError, type PollErrorPolicy } from 'cano-rx'
 * const tolerant: PollErrorPolicy = retryOnError({ maxErrors: 3, delayMs: 1_000 })
 * @category model
 * @since 0.1.0
 */
export type PollErrorPolicy =
  | { readonly _tag: 'FailFast' }
  | { readonly _tag: 'RetryOnError'; readonly maxErrors: number; readonly delayMs: number }

/**
 * A `poll` state.
 *
 * @example
 * import { pending, poll, ready, type PollHandler } from 'cano-rx'
 * const h: PollHandler<'Done'> = poll(() => (Math.random() > 0.9 ? ready('Done') : pending(100)))
 * @category model
 * @since 0.1.0
 */
export interface PollHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Poll'
  readonly poll: (ctx: TaskContext<R>) => PollOutput<S>
  readonly onError: PollErrorPolicy
  readonly maxPolls: number | undefined
}

/**
 * Options of {@link poll}.
 *
 * @example
 * import { failFast, type PollOptions } from 'cano-rx'
 * const o: PollOptions<'Done'> = { onError: failFast(), maxPolls: 100, attemptTimeoutMs: 60_000 }
 * @category model
 * @since 0.1.0
 */
export interface PollOptions<S extends string> extends BaseOptions<S> {
  /** Default `failFast()`. */
  readonly onError?: PollErrorPolicy
  /** Give up (a `TaskExecution` error) after this many polls. Default: no cap (as cano). */
  readonly maxPolls?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Move on to `state`.
 *
 * @example
 * import { ready } from 'cano-rx'
 * const r = ready('Process')
 * @category constructors
 * @since 0.1.0
 */
export const ready = <S extends string>(state: S): PollOutcome<S> => ({ _tag: 'Ready', state })

/**
 * Poll again after `delayMs` (0: at once).
 *
 * @example
 * import { pending } from 'cano-rx'
 * const p = pending(250)
 * @category constructors
 * @since 0.1.0
 */
export const pending = (delayMs: number): PollOutcome<never> => ({ _tag: 'Pending', delayMs })

/**
 * Fail the state at the first error (the default).
 *
 * @example
 * import { failFast } from 'cano-rx'
 * const policy = failFast()
 * @category constructors
 * @since 0.1.0
 */
export const failFast = (): PollErrorPolicy => ({ _tag: 'FailFast' })

/**
 * Tolerate up to `maxErrors` consecutive errors, waiting `delayMs` (default 0, as cano) before
 * polling again; error number `maxErrors + 1` fails the state.
 *
 * @example
 * import { retryOnError } from 'cano-rx'
 * const policy = retryOnError({ maxErrors: 5, delayMs: 200 })
 * @category constructors
 * @since 0.1.0
 */
export const retryOnError = (options: { readonly maxErrors: number; readonly delayMs?: number }): PollErrorPolicy => ({
  _tag: 'RetryOnError',
  maxErrors: options.maxErrors,
  delayMs: options.delayMs ?? 0,
})

/**
 * A wait-until state: `fn` is polled until it answers `ready(state)`.
 *
 * @example
 * import { pending, poll, ready } from 'cano-rx'
 * let progress = 0
 * const waitForJob = poll(async () => (++progress >= 3 ? ready('Process' as const) : pending(100)), { maxPolls: 50 })
 * @category constructors
 * @since 0.1.0
 */
export const poll = <S extends string, R extends ResourceRecord = NoResources>(
  fn: (ctx: TaskContext<R>) => PollOutput<S>,
  options: PollOptions<S> = {},
): PollHandler<S, R> => {
  const { base, rest } = splitOptions<S, PollOptions<S>>(options)
  return { _tag: 'Poll', ...base, poll: fn, onError: rest.onError ?? failFast(), maxPolls: rest.maxPolls }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a poll handler's own options; the error names `where`.
 *
 * @example
 * import { poll, ready, validatePoll } from 'cano-rx'
 * validatePoll(poll(() => ready('Done'), { maxPolls: 0 }), 'state "Wait"')?.message
 * // 'state "Wait": maxPolls must be a positive integer, got 0'
 * @category validation
 * @since 0.1.0
 */
export const validatePoll = (h: PollHandler<string, ResourceRecord>, where: string): Configuration | undefined => {
  if (typeof h.poll !== 'function') return configurationError(`${where}: poll must be a function`)
  const maxPolls = checkConfig(optional(PositiveInteger), h.maxPolls, `${where}: maxPolls`, String)
  if (maxPolls !== undefined) return maxPolls
  const p = h.onError as { readonly _tag?: unknown } | undefined
  if (p === undefined || (p._tag !== 'FailFast' && p._tag !== 'RetryOnError'))
    return configurationError(`${where}: onError must be failFast() or retryOnError({ maxErrors })`)
  if (h.onError._tag === 'RetryOnError') {
    const r = h.onError
    return (
      checkConfig(NonNegativeInteger, r.maxErrors, `${where}: onError.maxErrors`, String) ??
      checkConfig(TimerDelay, r.delayMs, `${where}: onError.delayMs`, String)
    )
  }
  return undefined
}
