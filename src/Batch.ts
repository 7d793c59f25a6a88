/**
 * `batch`: fan-out over data inside one state. `load(ctx)` returns the items, `processItem` runs on
 * each of them with at most `concurrency` in flight and its own retry loop (`itemRetry`), and
 * `finish(results, ctx)` receives one {@link ItemResult} per item, **in input order**, and chooses the
 * next state. An item failure becomes an `Err` slot and never aborts the batch; a `load` failure
 * skips `finish`. The handler's own config is the outer retry of the whole load → process → finish
 * cycle (default `RetryMode.default()`, as cano's `TaskConfig::default()`). A `Progress` event with
 * a {@link BatchProgress} is emitted each time an item settles, so a UI can show "37/120".
 *
 * Differences from cano 0.12: a `concurrency` of 0, a negative or a non-integer one is a
 * `Configuration` error (cano clamps it to 1), the retry before item attempt `k` waits the delay of
 * retry `k - 1` (cano 0.12 is off by one), and cancelling the run aborts the in-flight items' signals.
 *
 * @since 0.1.0
 */
import type { CanoError, Configuration } from '../codecs/CanoError.js'
import { PositiveInteger } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig, showNumber } from './internal/checkConfig.js'
import { RetryMode, validateRetryMode } from './RetryMode.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What one item ended with: its output, or the error its last attempt failed with (a
 * `RetryExhausted` when `itemRetry` allowed more than one attempt). `index` is the item's position
 * in the array `load` returned.
 *
 * @example
 * import { ItemResult, taskExecutionError } from 'cano-rx'
 * const results: ReadonlyArray<ItemResult<number>> = [ItemResult.ok(0, 200), ItemResult.err(1, taskExecutionError('HTTP 503'))]
 * @see {@link BatchOptions}'s `finish`, which receives them
 * @category model
 * @since 0.1.0
 */
export type ItemResult<Out> =
  | { readonly _tag: 'Ok'; readonly index: number; readonly value: Out }
  | { readonly _tag: 'Err'; readonly index: number; readonly error: CanoError }

/**
 * What `processItem` receives besides the item.
 *
 * @example
 * import type { ItemContext } from 'cano-rx'
 * const fetchOne = (url: string, { signal, attempt }: ItemContext) => fetch(url, { signal }).then((r) => (attempt > 1 ? -r.status : r.status))
 * @category model
 * @since 0.1.0
 */
export interface ItemContext {
  /** The item's position in the array `load` returned (0-based). */
  readonly index: number
  /** Aborts when the batch is cancelled (run cancelled, total or attempt timeout) while this attempt runs. */
  readonly signal: AbortSignal
  /** 1-based attempt number within the item's own retry loop. */
  readonly attempt: number
}

/**
 * The `data` of the `Progress` event a batch emits each time an item settles.
 *
 * @example
 * import { isBatchProgress, type WorkflowEvent } from 'cano-rx'
 * const show = (e: WorkflowEvent<'Fetch' | 'Done'>): string | undefined =>
 *   e._tag === 'Progress' && isBatchProgress(e.data) ? `${e.data.done}/${e.data.total} (${e.data.failed} failed)` : undefined
 * @see {@link isBatchProgress}
 * @category model
 * @since 0.1.0
 */
export interface BatchProgress {
  readonly kind: 'batch'
  /** Items settled so far (succeeded or failed), 1..total. */
  readonly done: number
  /** Items `load` returned. */
  readonly total: number
  /** Items among `done` that failed. */
  readonly failed: number
  /** Input position of the item that just settled. */
  readonly index: number
  /**
   * The error of the item that just settled, when it failed (what its `Err` slot holds: a
   * `RetryExhausted` when `itemRetry` allowed more than one attempt); absent when it succeeded.
   *
   * @since 0.3.0
   */
  readonly error?: CanoError
}

/**
 * A `batch` state. Item types are erased: {@link batch} checks them when the handler is built.
 *
 * @example
 * import { batch, type BatchHandler } from 'cano-rx'
 * const h: BatchHandler<'Done'> = batch({ load: () => [1, 2, 3], processItem: (n: number) => n * 2, finish: () => 'Done' as const })
 * @category model
 * @since 0.1.0
 */
export interface BatchHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Batch'
  readonly load: (ctx: TaskContext<R>) => TaskOutput<ReadonlyArray<unknown>>
  readonly processItem: (item: unknown, ctx: ItemContext) => TaskOutput<unknown>
  readonly finish: (results: ReadonlyArray<ItemResult<unknown>>, ctx: TaskContext<R>) => TaskOutput<S>
  /** Items in flight at most (a positive integer). */
  readonly concurrency: number
  /** Each item's own retry loop. */
  readonly itemRetry: RetryMode
}

/**
 * Options of {@link batch}.
 *
 * @example
 * import { RetryMode, type BatchOptions } from 'cano-rx'
 * const o: BatchOptions<'Done' | 'Failed', Record<never, never>, string, number> = {
 *   load: () => ['a', 'b'],
 *   processItem: (s) => s.length,
 *   finish: (results) => (results.every((r) => r._tag === 'Ok') ? 'Done' : 'Failed'),
 *   concurrency: 4,
 *   itemRetry: RetryMode.fixed(2, 100),
 * }
 * @category model
 * @since 0.1.0
 */
export interface BatchOptions<S extends string, R extends ResourceRecord, Item, Out> extends BaseOptions<S> {
  /** Returns the items. A failure (after the outer retries) fails the state; `finish` is not called. */
  readonly load: (ctx: TaskContext<R>) => TaskOutput<ReadonlyArray<Item>>
  /** Processes one item; runs through `itemRetry`. */
  readonly processItem: (item: Item, ctx: ItemContext) => TaskOutput<Out>
  /** Receives one result per item, in input order, and returns the next state. */
  readonly finish: (results: ReadonlyArray<ItemResult<Out>>, ctx: TaskContext<R>) => TaskOutput<S>
  /** Items in flight at most. Default 1. 0, negative, non-integer or `NaN` is a `Configuration` error. */
  readonly concurrency?: number
  /** Each item's retry loop. Default `RetryMode.none()` (as cano). */
  readonly itemRetry?: RetryMode
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A successful item.
 *
 * @example
 * import { ItemResult } from 'cano-rx'
 * const r = ItemResult.ok(3, { status: 200 }) // { _tag: 'Ok', index: 3, value: { status: 200 } }
 * @category constructors
 * @since 0.1.0
 */
const itemOk = <Out>(index: number, value: Out): ItemResult<Out> => ({ _tag: 'Ok', index, value })

/**
 * A failed item.
 *
 * @example
 * import { ItemResult, taskExecutionError } from 'cano-rx'
 * const r = ItemResult.err(4, taskExecutionError('connection reset'))
 * @category constructors
 * @since 0.1.0
 */
const itemErr = (index: number, error: CanoError): ItemResult<never> => ({ _tag: 'Err', index, error })

/**
 * Builds an {@link ItemResult}: `ItemResult.ok(index, value)` or `ItemResult.err(index, error)`.
 *
 * @example
 * import { ItemResult, timeoutError } from 'cano-rx'
 * const results = [ItemResult.ok(0, 'a'), ItemResult.err(1, timeoutError(100))]
 * @category constructors
 * @since 0.1.0
 */
export const ItemResult = { ok: itemOk, err: itemErr } as const

/**
 * A batch state: `load` the items, process them with at most `concurrency` in flight (each with its
 * own `itemRetry`), then `finish` with the results in input order. The handler's `retry` (default
 * `RetryMode.default()`) reruns the whole cycle when `load` or `finish` fails.
 *
 * @example
 * import { batch, RetryMode } from 'cano-rx'
 * const fetchAll = batch({
 *   load: async () => ['https://example.org/a', 'https://example.org/b', 'https://example.org/c'],
 *   processItem: async (url: string, { signal }) => (await fetch(url, { signal })).status,
 *   finish: (results) => (results.filter((r) => r._tag === 'Ok').length * 2 >= results.length ? ('Summarise' as const) : ('Failed' as const)),
 *   concurrency: 4,
 *   itemRetry: RetryMode.fixed(2, 100),
 * })
 * @see {@link ItemResult}, {@link BatchProgress}
 * @category constructors
 * @since 0.1.0
 */
export const batch = <S extends string, Item, Out, R extends ResourceRecord = NoResources>(
  options: BatchOptions<S, R, Item, Out>,
): BatchHandler<S, R> => {
  const { base, rest } = splitOptions<S, BatchOptions<S, R, Item, Out>>(options)
  return {
    _tag: 'Batch',
    ...base,
    load: rest.load,
    processItem: rest.processItem as (item: unknown, ctx: ItemContext) => TaskOutput<unknown>,
    finish: rest.finish as (results: ReadonlyArray<ItemResult<unknown>>, ctx: TaskContext<R>) => TaskOutput<S>,
    concurrency: rest.concurrency ?? 1,
    itemRetry: rest.itemRetry ?? RetryMode.none(),
  }
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Is this `Progress` data a batch's {@link BatchProgress}?
 *
 * @example
 * import { isBatchProgress } from 'cano-rx'
 * isBatchProgress({ kind: 'batch', done: 37, total: 120, failed: 2, index: 40 }) // true
 * @category guards
 * @since 0.1.0
 */
export const isBatchProgress = (data: unknown): data is BatchProgress =>
  typeof data === 'object' && data !== null && (data as { kind?: unknown }).kind === 'batch'

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a batch handler's own options (functions, `concurrency`, `itemRetry`); the error names
 * `where`. The handler's `TaskConfig` is checked with every other handler's.
 *
 * @example
 * import { batch } from 'cano-rx'
 * import { validateBatch } from './Batch.js'
 * validateBatch(batch({ load: () => [], processItem: (x: unknown) => x, finish: () => 'Done', concurrency: 0 }), 'state "Fetch"')?.message
 * // 'state "Fetch": concurrency must be a positive integer, got 0'
 * @category validation
 * @since 0.1.0
 */
export const validateBatch = (
  h: Pick<BatchHandler<string, ResourceRecord>, 'concurrency' | 'itemRetry'> & {
    readonly load: unknown
    readonly processItem: unknown
    readonly finish: unknown
  },
  where: string,
): Configuration | undefined => {
  if (typeof h.load !== 'function') return configurationError(`${where}: load must be a function`)
  if (typeof h.processItem !== 'function') return configurationError(`${where}: processItem must be a function`)
  if (typeof h.finish !== 'function') return configurationError(`${where}: finish must be a function`)
  const concurrency = checkConfig(PositiveInteger, h.concurrency, `${where}: concurrency`, showNumber)
  if (concurrency !== undefined) return concurrency
  const mode: unknown = h.itemRetry
  if (typeof mode !== 'object' || mode === null)
    return configurationError(`${where}: itemRetry must be a RetryMode (use RetryMode.none/fixed/exponential)`)
  const e = validateRetryMode(mode as RetryMode, where)
  return e === undefined ? undefined : configurationError(e.message.replace(`${where}: retry`, `${where}: itemRetry`))
}
