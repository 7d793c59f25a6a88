/**
 * `streamItems`: a `stream` state that processes its source **one item at a time** with an
 * application cursor (cano 0.15's `StreamTask`), beside the window model of {@link stream}.
 *
 * - `source(ctx, cursor)` opens the source; `cursor` is `undefined` on a fresh start and, after a
 *   window was committed (a retry of the state, a resumed run), the cursor committed with it, decoded
 *   by the state's io-ts `cursor` codec: reopen a Kafka consumer at that offset, seek a file there.
 * - `onItem(item, ictx)` processes one item and answers `{ output, cursor }`: what goes into the window
 *   and the cursor reached by consuming the item. Each call is bounded by `itemTimeoutMs` (an item
 *   error then) and its errors follow the {@link ItemErrorPolicy}: fail the state, skip the item, or
 *   call `onItem` again under a `RetryMode`.
 * - Every `window.count` processed items, or `window.timeMs` after the window opened, `onWindow(outputs,
 *   wctx)` flushes the window and answers `WindowSignal.continue()` or `.stop(state)`; then the cursor
 *   of the window's last processed item is committed (a `StreamWindow` checkpoint row) before the
 *   next item is processed.
 * - On cancellation, the workflow's total timeout or the subscriber leaving, the state **drains**: it
 *   stops reading, lets the item in flight finish, flushes the partial window, commits its cursor and
 *   calls `onClose('Cancelled', ctx)`, all within `drainTimeoutMs`; then the run ends `Cancelled` /
 *   `TimedOut` and a resume continues from the committed cursor.
 *
 * @since 0.4.0
 */
import type * as t from 'io-ts'

import type { Configuration } from '../codecs/CanoError.js'
import { NonNegativeInteger, optional, PositiveInteger, TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig, showNumber } from './internal/checkConfig.js'
import { RetryMode, validateRetryMode } from './RetryMode.js'
import type { CloseReason, StreamSource, StreamWindow, WindowSignal } from './Stream.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What `onItem` answers for one item: its `output` (collected into the window handed to `onWindow`)
 * and the application `cursor` reached by consuming it (committed with the window).
 *
 * @example
 * import type { ItemDone } from 'cano-rx'
 * const done: ItemDone<number, { offset: number }> = { output: 42, cursor: { offset: 7 } }
 * @category model
 * @since 0.4.0
 */
export interface ItemDone<O, C> {
  readonly output: O
  readonly cursor: C
}

/**
 * What `onItem` receives besides the item.
 *
 * @example
 * import type { StreamItemContext } from 'cano-rx'
 * const onItem = async (line: string, { signal, attempt }: StreamItemContext) => {
 *   if (signal.aborted) throw new Error(`gave up after ${attempt} tries`)
 *   return { output: line.length, cursor: 0 }
 * }
 * @category model
 * @since 0.4.0
 */
export interface StreamItemContext<R extends ResourceRecord = NoResources> {
  /** The state's task context (resources, the stream's signal, progress). */
  readonly ctx: TaskContext<R>
  /** Aborts when this call times out (`itemTimeoutMs`) or the stream's signal aborts. */
  readonly signal: AbortSignal
  /** 1-based try of this item (above 1 under `ItemErrorPolicy.retry`). */
  readonly attempt: number
}

/**
 * What `onWindow` of a per-item stream receives besides the outputs.
 *
 * @example
 * import type { ItemWindowContext } from 'cano-rx'
 * const describe = ({ window, cursor }: ItemWindowContext<Record<never, never>, number>) => `window ${window} up to offset ${cursor}`
 * @category model
 * @since 0.4.0
 */
export interface ItemWindowContext<R extends ResourceRecord = NoResources, C = unknown> {
  /** 1-based number of this window (continues from the committed position on resume). */
  readonly window: number
  /** The cursor this window commits: the one of its last processed item. */
  readonly cursor: C | undefined
  /** `true` for the partial window flushed by a drain (its `WindowSignal` answer is ignored). */
  readonly draining: boolean
  readonly ctx: TaskContext<R>
}

/**
 * How a per-item stream treats an error of `onItem` (a throw, a rejection, a `Left`, or the
 * `itemTimeoutMs` deadline):
 *
 * - `FailFast`: the state fails (the default, as cano).
 * - `Skip`: the item is dropped and the stream goes on; its cursor is not committed (the next good
 *   item advances it). With `maxConsecutive`, consecutive error number `maxConsecutive + 1` fails the
 *   state (cano's `RetryOnError { max_errors }`); a processed item resets the count.
 * - `Retry`: `onItem` is called again with the same item after the `RetryMode`'s delays; once they
 *   are used up (or for a non-retryable error), the item fails the state (`exhausted: 'Fail'`) or is
 *   skipped (`exhausted: 'Skip'`).
 *
 * @example
 * import { ItemErrorPolicy, RetryMode } from 'cano-rx'
 * const p: ItemErrorPolicy = ItemErrorPolicy.retry(RetryMode.fixed(3, 100), { exhausted: 'Skip' })
 * @see {@link ItemErrorPolicy} for the constructors
 * @category model
 * @since 0.4.0
 */
export type ItemErrorPolicy =
  | { readonly _tag: 'FailFast' }
  | { readonly _tag: 'Skip'; readonly maxConsecutive: number | undefined }
  | { readonly _tag: 'Retry'; readonly retry: RetryMode; readonly exhausted: 'Fail' | 'Skip' }

/**
 * A per-item `stream` state (built by {@link streamItems}). Types are erased here: the constructor
 * checks them.
 *
 * @example
 * import * as t from 'io-ts'
 * import { from } from 'rxjs'
 * import { streamItems, type StreamItemsHandler } from 'cano-rx'
 * const h: StreamItemsHandler<'Done'> = streamItems({
 *   cursor: t.number,
 *   source: (_ctx, after) => from([1, 2, 3].filter((n) => n > (after ?? 0))),
 *   onItem: (n) => ({ output: n * 2, cursor: n }),
 *   onClose: () => 'Done' as const,
 * })
 * @category model
 * @since 0.4.0
 */
export interface StreamItemsHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Stream'
  readonly model: 'Items'
  readonly cursor: t.Type<unknown, unknown>
  readonly source: (ctx: TaskContext<R>, cursor: unknown) => StreamSource<unknown>
  readonly onItem: (item: unknown, ictx: StreamItemContext<R>) => TaskOutput<ItemDone<unknown, unknown>>
  readonly window: StreamWindow
  readonly onWindow:
    ((outputs: ReadonlyArray<unknown>, wctx: ItemWindowContext<R>) => TaskOutput<WindowSignal<S>>) | undefined
  readonly onItemError: ItemErrorPolicy
  readonly itemTimeoutMs: number | undefined
  readonly drainTimeoutMs: number
  readonly onClose: (reason: CloseReason, ctx: TaskContext<R>) => TaskOutput<S>
}

/**
 * Options of {@link streamItems}: items `T`, outputs `O`, cursors `C` (stored as `E` by the codec).
 *
 * @example
 * import * as t from 'io-ts'
 * import { from } from 'rxjs'
 * import { ItemErrorPolicy, type StreamItemsOptions, WindowSignal } from 'cano-rx'
 * const o: StreamItemsOptions<'Done', Record<never, never>, string, number, number, number> = {
 *   cursor: t.number,
 *   source: () => from(['a', 'bb']),
 *   onItem: (line) => ({ output: line.length, cursor: line.length }),
 *   window: { count: 100, timeMs: 1_000 },
 *   onWindow: () => WindowSignal.continue(),
 *   onItemError: ItemErrorPolicy.skip(),
 *   itemTimeoutMs: 5_000,
 *   onClose: () => 'Done',
 * }
 * @category model
 * @since 0.4.0
 */
export interface StreamItemsOptions<S extends string, R extends ResourceRecord, T, O, C, E = C> extends BaseOptions<S> {
  /** io-ts codec of the application cursor (its encoding is what the checkpoint row stores). */
  readonly cursor: t.Type<C, E>
  /**
   * Opens the source, once per attempt: `cursor` is `undefined` on a fresh start, else the cursor
   * committed with the last flushed window (a retry, a resumed run): continue after it.
   */
  readonly source: (ctx: TaskContext<R>, cursor: C | undefined) => StreamSource<T>
  /** Processes one item: its output and the cursor reached by consuming it. */
  readonly onItem: (item: T, ictx: StreamItemContext<R>) => TaskOutput<ItemDone<O, C>>
  /** Default `{ count: 1 }` (cano's: one window, and one committed cursor, per item). */
  readonly window?: StreamWindow
  /** Flushes one non-empty window of outputs; default: `WindowSignal.continue()`. */
  readonly onWindow?: (outputs: ReadonlyArray<O>, wctx: ItemWindowContext<R, C>) => TaskOutput<WindowSignal<S>>
  /** Default `ItemErrorPolicy.failFast()`. */
  readonly onItemError?: ItemErrorPolicy
  /** Bounds each `onItem` call (its signal aborts; the timeout is an item error). Default: none. */
  readonly itemTimeoutMs?: number
  /** Bounds the drain on cancellation or total timeout (flush, commit, `onClose`). Default 5 000 ms. */
  readonly drainTimeoutMs?: number
  /** The next state once the source is exhausted; after a drain, a cleanup hook whose result is ignored. */
  readonly onClose: (reason: CloseReason, ctx: TaskContext<R>) => TaskOutput<S>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Constructors for {@link ItemErrorPolicy}.
 *
 * - `failFast()`: an item error fails the state (the default).
 * - `skip({ maxConsecutive })`: drop the item; without `maxConsecutive`, never fail.
 * - `retry(mode, { exhausted })`: call `onItem` again under `mode`; then fail (default) or skip.
 *
 * @example
 * import { ItemErrorPolicy, RetryMode } from 'cano-rx'
 * const policies = [
 *   ItemErrorPolicy.failFast(),
 *   ItemErrorPolicy.skip({ maxConsecutive: 10 }),
 *   ItemErrorPolicy.retry(RetryMode.exponential(3)),
 * ]
 * @category constructors
 * @since 0.4.0
 */
export const ItemErrorPolicy = {
  failFast: (): ItemErrorPolicy => ({ _tag: 'FailFast' }),
  skip: (options?: { readonly maxConsecutive?: number }): ItemErrorPolicy => ({
    _tag: 'Skip',
    maxConsecutive: options?.maxConsecutive,
  }),
  retry: (retry: RetryMode, options?: { readonly exhausted?: 'Fail' | 'Skip' }): ItemErrorPolicy => ({
    _tag: 'Retry',
    retry,
    exhausted: options?.exhausted ?? 'Fail',
  }),
} as const

/** The default drain budget of a stream state (ms). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000

/**
 * A per-item stream state: opens `source` at the committed cursor, processes each item with
 * `onItem`, flushes windows of outputs with `onWindow`, commits the cursor after each window, and
 * drains (flush, commit, `onClose('Cancelled')`) on cancellation and total timeout. The default config
 * has no retries (a retry reopens the source at the committed cursor).
 *
 * @example
 * import * as t from 'io-ts'
 * import { from } from 'rxjs'
 * import { ItemErrorPolicy, streamItems, WindowSignal } from 'cano-rx'
 * const log = ['a', 'bb', 'ccc', 'dddd']
 * const tail = streamItems({
 *   cursor: t.type({ line: t.number }),
 *   source: (_ctx, at) => from(log.slice(at === undefined ? 0 : at.line + 1).map((text, i) => ({ text, line: (at?.line ?? -1) + 1 + i }))),
 *   onItem: ({ text, line }) => ({ output: text.length, cursor: { line } }),
 *   window: { count: 2 },
 *   onWindow: (lengths) => (lengths.includes(0) ? WindowSignal.stop('Report' as const) : WindowSignal.continue()),
 *   onItemError: ItemErrorPolicy.skip(),
 *   itemTimeoutMs: 1_000,
 *   onClose: () => 'Report' as const,
 * })
 * @see {@link ItemErrorPolicy}, {@link stream} for the window model
 * @category constructors
 * @since 0.4.0
 */
export const streamItems = <S extends string, T, O, C, E = C, R extends ResourceRecord = NoResources>(
  options: StreamItemsOptions<S, R, T, O, C, E>,
): StreamItemsHandler<S, R> => {
  const { base, rest } = splitOptions<S, StreamItemsOptions<S, R, T, O, C, E>>(options)
  return {
    _tag: 'Stream',
    model: 'Items',
    ...base,
    config: { retry: RetryMode.none(), ...base.config },
    cursor: rest.cursor as t.Type<unknown, unknown>,
    source: rest.source as (ctx: TaskContext<R>, cursor: unknown) => StreamSource<unknown>,
    onItem: rest.onItem as (item: unknown, ictx: StreamItemContext<R>) => TaskOutput<ItemDone<unknown, unknown>>,
    window: rest.window ?? { count: 1 },
    onWindow: rest.onWindow as StreamItemsHandler<S, R>['onWindow'],
    onItemError: rest.onItemError ?? ItemErrorPolicy.failFast(),
    itemTimeoutMs: rest.itemTimeoutMs,
    drainTimeoutMs: rest.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    onClose: rest.onClose,
  }
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Is `h` a per-item stream handler (rather than a window-model one)?
 *
 * @example
 * import { EMPTY } from 'rxjs'
 * import { stream, WindowSignal } from 'cano-rx'
 * import { isStreamItems } from './StreamItems.js'
 * isStreamItems(stream({ source: () => EMPTY, window: { count: 1 }, onWindow: () => WindowSignal.continue(), onClose: () => 'Done' })) // false
 * @category guards
 * @since 0.4.0
 */
export const isStreamItems = <H extends { readonly _tag: 'Stream' }>(
  h: H,
): h is Extract<H, { readonly model: 'Items' }> => (h as { readonly model?: unknown }).model === 'Items'

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** @internal Checks a window (`count`, `timeMs`). */
export const validateWindow = (w: unknown, where: string): Configuration | undefined => {
  if (typeof w !== 'object' || w === null)
    return configurationError(`${where}: window must be { count }, { timeMs } or { count, timeMs }`)
  const { count, timeMs } = w as { readonly count?: unknown; readonly timeMs?: unknown }
  if (count === undefined && timeMs === undefined)
    return configurationError(`${where}: window needs a count, a timeMs or both`)
  return (
    checkConfig(optional(PositiveInteger), count, `${where}: window.count`, showNumber) ??
    checkConfig(optional(TimerDuration), timeMs, `${where}: window.timeMs`, showNumber)
  )
}

/**
 * Checks a per-item stream handler's own options; the `Configuration` error names `where`.
 *
 * @example
 * import * as t from 'io-ts'
 * import { EMPTY } from 'rxjs'
 * import { streamItems } from 'cano-rx'
 * import { validateStreamItems } from './StreamItems.js'
 * validateStreamItems(streamItems({ cursor: t.number, source: () => EMPTY, onItem: () => ({ output: 0, cursor: 0 }), itemTimeoutMs: 0, onClose: () => 'Done' }), 'state "Tail"')?.message
 * // 'state "Tail": itemTimeoutMs must be a finite number in (0, 2147483647], got 0'
 * @category validation
 * @since 0.4.0
 */
export const validateStreamItems = (
  h: StreamItemsHandler<string, ResourceRecord>,
  where: string,
): Configuration | undefined => {
  if (typeof h.source !== 'function') return configurationError(`${where}: source must be a function`)
  if (typeof h.onItem !== 'function') return configurationError(`${where}: onItem must be a function`)
  if (h.onWindow !== undefined && typeof h.onWindow !== 'function')
    return configurationError(`${where}: onWindow must be a function when given`)
  if (typeof h.onClose !== 'function') return configurationError(`${where}: onClose must be a function`)
  const c: unknown = h.cursor
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof (c as Partial<t.Type<unknown, unknown>>).decode !== 'function' ||
    typeof (c as Partial<t.Type<unknown, unknown>>).encode !== 'function'
  )
    return configurationError(`${where}: cursor must be an io-ts codec (e.g. t.number, t.type({ … }))`)
  const bad =
    validateWindow(h.window, where) ??
    checkConfig(optional(TimerDuration), h.itemTimeoutMs, `${where}: itemTimeoutMs`, showNumber) ??
    checkConfig(TimerDuration, h.drainTimeoutMs, `${where}: drainTimeoutMs`, showNumber)
  if (bad !== undefined) return bad
  return validateItemErrorPolicy(h.onItemError, where)
}

/** @internal Checks an {@link ItemErrorPolicy}. */
export const validateItemErrorPolicy = (p: unknown, where: string): Configuration | undefined => {
  const tag = (p as { readonly _tag?: unknown } | undefined)?._tag
  if (tag !== 'FailFast' && tag !== 'Skip' && tag !== 'Retry')
    return configurationError(
      `${where}: onItemError must be ItemErrorPolicy.failFast(), .skip({ maxConsecutive }) or .retry(RetryMode, { exhausted })`,
    )
  const policy = p as ItemErrorPolicy
  switch (policy._tag) {
    case 'FailFast':
      return undefined
    case 'Skip':
      return checkConfig(
        optional(NonNegativeInteger),
        policy.maxConsecutive,
        `${where}: onItemError.maxConsecutive`,
        showNumber,
      )
    case 'Retry': {
      const retry: unknown = policy.retry
      const exhausted: unknown = policy.exhausted
      if (typeof retry !== 'object' || retry === null)
        return configurationError(
          `${where}: onItemError.retry must be a RetryMode (RetryMode.fixed(…), .exponential(…))`,
        )
      if (exhausted !== 'Fail' && exhausted !== 'Skip')
        return configurationError(`${where}: onItemError.exhausted must be 'Fail' or 'Skip'`)
      return validateRetryMode(policy.retry, `${where}: onItemError`)
    }
  }
}
