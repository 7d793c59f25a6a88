/**
 * `stream`: a state that consumes an `Observable` or an `AsyncIterable` in windows of `count` items
 * or `timeMs` milliseconds (or both: whichever fills first) and hands each window to `onWindow`,
 * which answers {@link WindowSignal.continue} or {@link WindowSignal.stop}`(state)`. Windows are handled strictly
 * one at a time. An `AsyncIterable` is pulled only while the current window is not full and no
 * window is being handled, so it is never read faster than windows are handled (an `Observable`
 * pushes: its items wait in the window buffer). When the source completes, the last partial window
 * is handled and `onClose('Exhausted', ctx)` chooses the next state; when the run is cancelled,
 * `onClose('Cancelled', ctx)` is called for cleanup and its result ignored. A `WindowFlushed` event
 * follows every handled window: it is the window position a checkpoint can persist.
 *
 * Errors thrown by `onWindow` follow a {@link StreamErrorPolicy}: `failFast` (default), `skip` or
 * `retryOnError({ maxErrors })`. Source errors fail the state. The handler's config bounds the whole
 * stream (`attemptTimeoutMs`) and its `retry` resubscribes the source from the start; the default is
 * `RetryMode.none()`.
 *
 * Beyond cano 0.12 (cano added `StreamTask` in 0.15).
 *
 * @since 0.1.0
 */
import type { Observable } from 'rxjs'

import type { Configuration } from '../codecs/CanoError.js'
import { NonNegativeInteger, optional, PositiveInteger, TimerDelay, TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig, showNumber } from './internal/checkConfig.js'
import { RetryMode } from './RetryMode.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a stream state consumes.
 *
 * @example
 * import type { StreamSource } from 'cano-rx'
 * async function* ticks() { for (let i = 0; ; i++) yield i }
 * const source: StreamSource<number> = ticks()
 * @category model
 * @since 0.1.0
 */
export type StreamSource<T> = Observable<T> | AsyncIterable<T>

/**
 * How items are grouped: `count` items, `timeMs` milliseconds after the window opened, or both
 * (whichever comes first). `timeMs` below 1 ms waits 1 ms (as cano). Empty windows are never handed
 * to `onWindow`.
 *
 * @example
 * import type { StreamWindow } from 'cano-rx'
 * const w: StreamWindow = { count: 100, timeMs: 50 }
 * @category model
 * @since 0.1.0
 */
export type StreamWindow =
  { readonly count: number; readonly timeMs?: number } | { readonly count?: number; readonly timeMs: number }

/**
 * What `onWindow` answers: go on with the next window, or stop the stream and move to `state`.
 *
 * @example
 * import { WindowSignal } from 'cano-rx'
 * const decide = (seen: number): WindowSignal<'Report'> => (seen >= 1_000 ? WindowSignal.stop('Report') : WindowSignal.continue())
 * @category model
 * @since 0.1.0
 */
export type WindowSignal<S extends string> =
  { readonly _tag: 'Continue' } | { readonly _tag: 'Stop'; readonly state: S }

/**
 * What `onWindow` receives besides the items.
 *
 * @example
 * import { type WindowContext, WindowSignal } from 'cano-rx'
 * const onWindow = (items: ReadonlyArray<string>, { window, ctx }: WindowContext) => {
 *   ctx.progress({ window, items: items.length })
 *   return WindowSignal.continue()
 * }
 * @category model
 * @since 0.1.0
 */
export interface WindowContext<R extends ResourceRecord = NoResources> {
  /** 1-based number of this window within the current attempt (retries of the same window keep it). */
  readonly window: number
  /** The state's task context (resources, signal, attempt, progress). */
  readonly ctx: TaskContext<R>
}

/**
 * Why the stream closed: its source completed, or the run was cancelled (or timed out) while it was
 * being consumed.
 *
 * @example
 * import type { CloseReason } from 'cano-rx'
 * const next = (reason: CloseReason) => (reason === 'Exhausted' ? 'Report' : 'Aborted')
 * @category model
 * @since 0.1.0
 */
export type CloseReason = 'Exhausted' | 'Cancelled'

/**
 * How a stream treats errors thrown by `onWindow`: fail the state (`FailFast`), drop the window and go
 * on (`Skip`), or call `onWindow` again with the same window, failing at consecutive error number
 * `maxErrors + 1` (`RetryOnError`; a handled window resets the count).
 *
 * @example
 * import { StreamErrorPolicy } from 'cano-rx'
 * const tolerant: StreamErrorPolicy = StreamErrorPolicy.retryOnError({ maxErrors: 3, delayMs: 100 })
 * @see {@link StreamErrorPolicy} for the constructors
 * @category model
 * @since 0.1.0
 */
export type StreamErrorPolicy =
  | { readonly _tag: 'FailFast' }
  | { readonly _tag: 'Skip' }
  | { readonly _tag: 'RetryOnError'; readonly maxErrors: number; readonly delayMs: number }

/**
 * How far a stream state got: windows handled (`onWindow` answered) and items in them. Persisted as a
 * `StreamWindow` checkpoint row after each handled window, before the next one is handled.
 *
 * @example
 * import type { StreamPosition } from 'cano-rx'
 * const offsetOf = (from: StreamPosition | undefined) => from?.items ?? 0
 * @category model
 * @since 0.1.0
 */
export interface StreamPosition {
  readonly windows: number
  readonly items: number
}

/**
 * A `stream` state. The item type is erased: {@link stream} checks it when the handler is built.
 *
 * @example
 * import { of } from 'rxjs'
 * import { stream, type StreamHandler, WindowSignal } from 'cano-rx'
 * const h: StreamHandler<'Done'> = stream({ source: () => of(1, 2, 3), window: { count: 2 }, onWindow: () => WindowSignal.continue(), onClose: () => 'Done' as const })
 * @category model
 * @since 0.1.0
 */
export interface StreamHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Stream'
  readonly source: (ctx: TaskContext<R>, from: StreamPosition | undefined) => StreamSource<unknown>
  readonly window: StreamWindow
  readonly onWindow: (items: ReadonlyArray<unknown>, ctx: WindowContext<R>) => TaskOutput<WindowSignal<S>>
  readonly onError: StreamErrorPolicy
  readonly onClose: (reason: CloseReason, ctx: TaskContext<R>) => TaskOutput<S>
  /** Drain on cancellation and total timeout: the partial window is handled and its position committed. @since 0.4.0 */
  readonly flushOnCancel?: boolean
  /** The drain's budget (ms) when `flushOnCancel` is set. @since 0.4.0 */
  readonly drainTimeoutMs?: number
}

/**
 * Options of {@link stream}.
 *
 * @example
 * import { from } from 'rxjs'
 * import { StreamErrorPolicy, type StreamOptions, WindowSignal } from 'cano-rx'
 * const o: StreamOptions<'Done', Record<never, never>, number> = {
 *   source: () => from([1, 2, 3]),
 *   window: { count: 10, timeMs: 50 },
 *   onWindow: () => WindowSignal.continue(),
 *   onError: StreamErrorPolicy.skip(),
 *   onClose: () => 'Done',
 * }
 * @category model
 * @since 0.1.0
 */
export interface StreamOptions<S extends string, R extends ResourceRecord, T> extends BaseOptions<S> {
  /**
   * Called once per attempt. `from` is `undefined` on a fresh start; after windows were handled (a
   * retry, or a run resumed from its checkpoints) it says how many windows and items were handled, so
   * a source that can seek (an offset, a message id) continues after them: delivery is at least once
   * for the window that was being handled, and never repeats a window before it.
   */
  readonly source: (ctx: TaskContext<R>, from: StreamPosition | undefined) => StreamSource<T>
  readonly window: StreamWindow
  /** Handles one non-empty window. */
  readonly onWindow: (items: ReadonlyArray<T>, ctx: WindowContext<R>) => TaskOutput<WindowSignal<S>>
  /** Default `StreamErrorPolicy.failFast()`. */
  readonly onError?: StreamErrorPolicy
  /** The next state once the source is exhausted; on cancellation, a cleanup hook whose result is ignored. */
  readonly onClose: (reason: CloseReason, ctx: TaskContext<R>) => TaskOutput<S>
  /**
   * Opt-in drain (default `false`): on cancellation, the total timeout or the subscriber leaving, stop
   * reading, hand the partial window to `onWindow` (its answer is ignored), commit the position, call
   * `onClose('Cancelled', ctx)`, then end the run; all within `drainTimeoutMs`.
   * @since 0.4.0
   */
  readonly flushOnCancel?: boolean
  /** The drain's budget in ms (default 5 000). @since 0.4.0 */
  readonly drainTimeoutMs?: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Go on with the next window.
 *
 * @example
 * import { WindowSignal } from 'cano-rx'
 * const c = WindowSignal.continue()
 * @category constructors
 * @since 0.1.0
 */
const continueStream = (): WindowSignal<never> => ({ _tag: 'Continue' })

/**
 * Stop consuming (the source is unsubscribed or its iterator returned) and move to `state`.
 *
 * @example
 * import { WindowSignal } from 'cano-rx'
 * const s = WindowSignal.stop('Report')
 * @category constructors
 * @since 0.1.0
 */
const stopStream = <S extends string>(state: S): WindowSignal<S> => ({ _tag: 'Stop', state })

/**
 * Builds a {@link WindowSignal}: `WindowSignal.continue()` (keep reading the stream) or
 * `WindowSignal.stop(state)` (close it and go to `state`).
 *
 * @example
 * import { WindowSignal } from 'cano-rx'
 * const signal = (full: boolean) => (full ? WindowSignal.stop('Report') : WindowSignal.continue())
 * @category constructors
 * @since 0.1.0
 */
export const WindowSignal = { continue: continueStream, stop: stopStream } as const

/**
 * Constructors for {@link StreamErrorPolicy} (named apart from `poll`'s `failFast` / `retryOnError`).
 *
 * - `failFast()`: an error thrown by `onWindow` fails the state (the default).
 * - `skip()`: the window is dropped (it still counts as handled) and the stream goes on.
 * - `retryOnError({ maxErrors, delayMs })`: `onWindow` is called again with the same window after
 *   `delayMs` (default 0); consecutive error number `maxErrors + 1` fails the state. A
 *   non-retryable error (`nonRetryable(e)`, `Configuration`, …) fails at once.
 *
 * @example
 * import { StreamErrorPolicy } from 'cano-rx'
 * const policies = [StreamErrorPolicy.failFast(), StreamErrorPolicy.skip(), StreamErrorPolicy.retryOnError({ maxErrors: 2 })]
 * @category constructors
 * @since 0.1.0
 */
export const StreamErrorPolicy = {
  failFast: (): StreamErrorPolicy => ({ _tag: 'FailFast' }),
  skip: (): StreamErrorPolicy => ({ _tag: 'Skip' }),
  retryOnError: (options: { readonly maxErrors: number; readonly delayMs?: number }): StreamErrorPolicy => ({
    _tag: 'RetryOnError',
    maxErrors: options.maxErrors,
    delayMs: options.delayMs ?? 0,
  }),
} as const

/**
 * A stream state: consumes `source` in windows, calling `onWindow` for each, until it answers
 * `WindowSignal.stop(state)` or the source is exhausted (then `onClose('Exhausted', ctx)` chooses the state).
 * The default config has no retries.
 *
 * @example
 * import { interval, map, take } from 'rxjs'
 * import { stream, WindowSignal } from 'cano-rx'
 * const events = stream({
 *   source: () => interval(5).pipe(map((i) => ({ id: i })), take(1_000)),
 *   window: { count: 10, timeMs: 50 },
 *   onWindow: (items, { window }) => (window >= 5 ? WindowSignal.stop('Report' as const) : WindowSignal.continue()),
 *   onClose: () => 'Report' as const,
 * })
 * @see {@link StreamErrorPolicy}, {@link StreamWindow}
 * @category constructors
 * @since 0.1.0
 */
export const stream = <S extends string, T, R extends ResourceRecord = NoResources>(
  options: StreamOptions<S, R, T>,
): StreamHandler<S, R> => {
  const { base, rest } = splitOptions<S, StreamOptions<S, R, T>>(options)
  return {
    _tag: 'Stream',
    ...base,
    config: { retry: RetryMode.none(), ...base.config },
    source: rest.source,
    window: rest.window,
    onWindow: rest.onWindow as (items: ReadonlyArray<unknown>, ctx: WindowContext<R>) => TaskOutput<WindowSignal<S>>,
    onError: rest.onError ?? StreamErrorPolicy.failFast(),
    onClose: rest.onClose,
    ...(rest.flushOnCancel === undefined ? {} : { flushOnCancel: rest.flushOnCancel }),
    ...(rest.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: rest.drainTimeoutMs }),
  }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a stream handler's own options (functions, window, error policy); the error names
 * `where`. The handler's `TaskConfig` is checked with every other handler's.
 *
 * @example
 * import { stream, WindowSignal } from 'cano-rx'
 * import { validateStream } from './Stream.js'
 * import { EMPTY } from 'rxjs'
 * validateStream(stream({ source: () => EMPTY, window: { count: 0 }, onWindow: () => WindowSignal.continue(), onClose: () => 'Done' }), 'state "Ingest"')?.message
 * // 'state "Ingest": window.count must be a positive integer, got 0'
 * @category validation
 * @since 0.1.0
 */
export const validateStream = (h: StreamHandler<string, ResourceRecord>, where: string): Configuration | undefined => {
  if (typeof h.source !== 'function') return configurationError(`${where}: source must be a function`)
  if (typeof h.onWindow !== 'function') return configurationError(`${where}: onWindow must be a function`)
  if (typeof h.onClose !== 'function') return configurationError(`${where}: onClose must be a function`)
  const w: unknown = h.window
  if (typeof w !== 'object' || w === null)
    return configurationError(`${where}: window must be { count }, { timeMs } or { count, timeMs }`)
  const { count, timeMs } = w as { readonly count?: unknown; readonly timeMs?: unknown }
  if (count === undefined && timeMs === undefined)
    return configurationError(`${where}: window needs a count, a timeMs or both`)
  const windowError =
    checkConfig(optional(PositiveInteger), count, `${where}: window.count`, showNumber) ??
    checkConfig(optional(TimerDuration), timeMs, `${where}: window.timeMs`, showNumber)
  if (windowError !== undefined) return windowError
  const tag = (h.onError as { readonly _tag?: unknown } | undefined)?._tag
  if (tag !== 'FailFast' && tag !== 'Skip' && tag !== 'RetryOnError')
    return configurationError(
      `${where}: onError must be StreamErrorPolicy.failFast(), .skip() or .retryOnError({ maxErrors })`,
    )
  if (h.flushOnCancel !== undefined && typeof h.flushOnCancel !== 'boolean')
    return configurationError(`${where}: flushOnCancel must be a boolean, got ${showNumber(h.flushOnCancel)}`)
  const drainError = checkConfig(optional(TimerDuration), h.drainTimeoutMs, `${where}: drainTimeoutMs`, showNumber)
  if (drainError !== undefined) return drainError
  const p = h.onError
  if (p._tag === 'RetryOnError')
    return (
      checkConfig(NonNegativeInteger, p.maxErrors, `${where}: onError.maxErrors`, String) ??
      checkConfig(TimerDelay, p.delayMs, `${where}: onError.delayMs`, String)
    )
  return undefined
}
