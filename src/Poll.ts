/**
 * `poll`: a wait-until state. Its function returns `PollOutcome.ready(state)` to move on or `PollOutcome.pending(delayMs)` to
 * be called again after a delay. Errors follow a {@link PollErrorPolicy}: `failFast` (default) or
 * `PollErrorPolicy.retryOnError({ maxErrors })`, which tolerates up to `maxErrors` consecutive errors (a `pending`
 * resets the count) and fails on the next. The default config has no retries (cano's `minimal()`);
 * `attemptTimeoutMs` bounds the whole loop. Beyond cano: `maxPolls` caps the loop, and
 * `PollErrorPolicy.retryOnError({ maxErrors, delayMs })` waits between erroring polls so a broken dependency is not hammered.
 *
 * @since 0.1.0
 */
import type { Configuration } from '../codecs/CanoError.js'
import { NonNegativeInteger, optional, PositiveInteger, TimerDelay } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig } from './internal/checkConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What one poll answers: move on to `state`, or poll again in `delayMs`. In a workflow `S` is a state
 * name; the standalone `runPoll` / `pollUntilReady` take any value as the result (`state` holds it).
 *
 * @example
 * import { PollOutcome } from 'cano-rx'
 * const check = (done: boolean): PollOutcome<'Process'> => (done ? PollOutcome.ready('Process') : PollOutcome.pending(500))
 * @category model
 * @since 0.1.0
 */
export type PollOutcome<S> =
  { readonly _tag: 'Ready'; readonly state: S } | { readonly _tag: 'Pending'; readonly delayMs: number }

/**
 * How a poll loop treats errors.
 *
 * @example
 * import { PollErrorPolicy } from 'cano-rx'
 * const tolerant: PollErrorPolicy = PollErrorPolicy.retryOnError({ maxErrors: 3, delayMs: 1_000 })
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
 * import { poll, type PollHandler, PollOutcome } from 'cano-rx'
 * const h: PollHandler<'Done'> = poll(() => (Math.random() > 0.9 ? PollOutcome.ready('Done') : PollOutcome.pending(100)))
 * @category model
 * @since 0.1.0
 */
export interface PollHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Poll'
  readonly poll: (ctx: TaskContext<R>) => TaskOutput<PollOutcome<S>>
  readonly onError: PollErrorPolicy
  readonly maxPolls: number | undefined
}

/**
 * Options of {@link poll}.
 *
 * @example
 * import { PollErrorPolicy, type PollOptions } from 'cano-rx'
 * const o: PollOptions<'Done'> = { onError: PollErrorPolicy.failFast(), maxPolls: 100, attemptTimeoutMs: 60_000 }
 * @category model
 * @since 0.1.0
 */
export interface PollOptions<S extends string> extends BaseOptions<S> {
  /** Default `PollErrorPolicy.failFast()`. */
  readonly onError?: PollErrorPolicy
  /** Give up (a `TaskExecution` error) after this many polls. Default: no cap (as cano). */
  readonly maxPolls?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Move on to `state` (in a workflow), or finish with `value` (a standalone `runPoll`). A string keeps its
 * literal type, so `PollOutcome.ready('Process')` is a `PollOutcome<'Process'>`.
 *
 * @example
 * import { PollOutcome } from 'cano-rx'
 * const r = PollOutcome.ready('Process')
 * const v = PollOutcome.ready({ jobId: 'j-7', rows: 120 }) // for runPoll: the loop's result
 * @category constructors
 * @since 0.1.0
 */
const ready: { <S extends string>(state: S): PollOutcome<S>; <A>(value: A): PollOutcome<A> } = <A>(
  state: A,
): PollOutcome<A> => ({ _tag: 'Ready', state })

/**
 * Poll again after `delayMs` (0: at once).
 *
 * @example
 * import { PollOutcome } from 'cano-rx'
 * const p = PollOutcome.pending(250)
 * @category constructors
 * @since 0.1.0
 */
const pending = (delayMs: number): PollOutcome<never> => ({ _tag: 'Pending', delayMs })

/**
 * Builds a {@link PollOutcome}: `PollOutcome.ready(state)` (the condition holds: go to `state`) or
 * `PollOutcome.pending(delayMs)` (poll again after `delayMs`).
 *
 * @example
 * import { PollOutcome } from 'cano-rx'
 * const check = (status: string) => (status === 'ready' ? PollOutcome.ready('Fetch') : PollOutcome.pending(5_000))
 * @category constructors
 * @since 0.1.0
 */
export const PollOutcome = { ready, pending } as const

/**
 * Fail the state at the first error (the default).
 *
 * @example
 * import { PollErrorPolicy } from 'cano-rx'
 * const policy = PollErrorPolicy.failFast()
 * @category constructors
 * @since 0.1.0
 */
const failFast = (): PollErrorPolicy => ({ _tag: 'FailFast' })

/**
 * Tolerate up to `maxErrors` consecutive errors, waiting `delayMs` (default 0, as cano) before
 * polling again; error number `maxErrors + 1` fails the state.
 *
 * @example
 * import { PollErrorPolicy } from 'cano-rx'
 * const policy = PollErrorPolicy.retryOnError({ maxErrors: 5, delayMs: 200 })
 * @category constructors
 * @since 0.1.0
 */
const retryOnError = (options: { readonly maxErrors: number; readonly delayMs?: number }): PollErrorPolicy => ({
  _tag: 'RetryOnError',
  maxErrors: options.maxErrors,
  delayMs: options.delayMs ?? 0,
})

/**
 * Builds a {@link PollErrorPolicy}: `PollErrorPolicy.failFast()` (the first error fails the state) or
 * `PollErrorPolicy.retryOnError({ maxErrors, delayMs })` (tolerate up to `maxErrors` errors).
 *
 * @example
 * import { PollErrorPolicy } from 'cano-rx'
 * const tolerant = PollErrorPolicy.retryOnError({ maxErrors: 3, delayMs: 1_000 })
 * const strict = PollErrorPolicy.failFast()
 * @category constructors
 * @since 0.1.0
 */
export const PollErrorPolicy = { failFast, retryOnError } as const

/**
 * A wait-until state: `fn` is polled until it answers `PollOutcome.ready(state)`.
 *
 * @example
 * import { poll, PollOutcome } from 'cano-rx'
 * let progress = 0
 * const waitForJob = poll(async () => (++progress >= 3 ? PollOutcome.ready('Process' as const) : PollOutcome.pending(100)), { maxPolls: 50 })
 * @category constructors
 * @since 0.1.0
 */
export const poll = <S extends string, R extends ResourceRecord = NoResources>(
  fn: (ctx: TaskContext<R>) => TaskOutput<PollOutcome<S>>,
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
 * import { poll, PollOutcome } from 'cano-rx'
 * import { validatePoll } from './Poll.js'
 * validatePoll(poll(() => PollOutcome.ready('Done'), { maxPolls: 0 }), 'state "Wait"')?.message
 * // 'state "Wait": maxPolls must be a positive integer, got 0'
 * @category validation
 * @since 0.1.0
 */
export const validatePoll = (
  h: Pick<PollHandler<string, ResourceRecord>, 'onError' | 'maxPolls'> & { readonly poll: unknown },
  where: string,
): Configuration | undefined => {
  if (typeof h.poll !== 'function') return configurationError(`${where}: poll must be a function`)
  const maxPolls = checkConfig(optional(PositiveInteger), h.maxPolls, `${where}: maxPolls`, String)
  if (maxPolls !== undefined) return maxPolls
  const p = h.onError as { readonly _tag?: unknown } | undefined
  if (p === undefined || (p._tag !== 'FailFast' && p._tag !== 'RetryOnError'))
    return configurationError(
      `${where}: onError must be PollErrorPolicy.failFast() or PollErrorPolicy.retryOnError({ maxErrors })`,
    )
  if (h.onError._tag === 'RetryOnError') {
    const r = h.onError
    return (
      checkConfig(NonNegativeInteger, r.maxErrors, `${where}: onError.maxErrors`, String) ??
      checkConfig(TimerDelay, r.delayMs, `${where}: onError.delayMs`, String)
    )
  }
  return undefined
}
