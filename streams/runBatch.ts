/**
 * `runBatch` and `processBatch`: the `batch` state kind's item loop outside a workflow (cano 0.15's
 * `run_batch`). The items run through the kind's own loop (`processAll` in streams/runBatchState.ts): at
 * most `concurrency` in flight, each with its own `itemRetry` loop, each settling as an `Ok` or `Err`
 * {@link ItemResult} (an item's failure never fails the batch), the results in input order. The batch as a
 * whole is one attempt of the engine's retry loop: `attemptTimeoutMs` bounds it, a breaker or limiter
 * guards it, `retry` (default `RetryMode.none()`: with no `load` or `finish` there is little a rerun can
 * fix) reruns it.
 *
 * @since 0.1.0
 */
import { concatMap, type Observable, type OperatorFunction } from 'rxjs'

import { type BatchProgress, isBatchProgress, type ItemContext, type ItemResult, validateBatch } from '../src/Batch.js'
import { CanoFailure } from '../src/CanoError.js'
import { RetryMode } from '../src/RetryMode.js'
import type { NoResources } from '../src/TaskContext.js'
import type { TaskOutput } from '../src/TaskOutput.js'
import { attemptWork } from './attemptWork.js'
import {
  checkCallback,
  invalidOption,
  rejected,
  type RunnerBody,
  standalone$,
  standalonePromise,
  type StandaloneSpec,
  standaloneSpec,
} from './internal/standalone.js'
import { type ItemsPlan, processAll } from './runBatchState.js'
import type { ResilienceOptions } from './runResilient.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link runBatch} and {@link processBatch}: the item loop's own, and the
 * {@link ResilienceOptions} of the batch as a whole.
 *
 * @example
 * import { RetryMode, type RunBatchOptions } from 'cano-rx'
 * const options: RunBatchOptions = {
 *   concurrency: 8,
 *   itemRetry: RetryMode.fixed(2, 250),
 *   onProgress: (p) => console.log(`${p.done}/${p.total}, ${p.failed} failed`),
 * }
 * @category model
 * @since 0.1.0
 */
export interface RunBatchOptions extends ResilienceOptions {
  /** Items in flight at most: a positive integer. Default 1. */
  readonly concurrency?: number | undefined
  /** Each item's own retry loop. Default `RetryMode.none()`. */
  readonly itemRetry?: RetryMode | undefined
  /** Called each time an item settles. */
  readonly onProgress?: ((progress: BatchProgress) => void) | undefined
}

// -------------------------------------------------------------------------------------
// runners
// -------------------------------------------------------------------------------------

/**
 * Processes `items` with `processItem`, at most `concurrency` at a time, each under its own `itemRetry`,
 * and returns one {@link ItemResult} per item in input order (see the module comment).
 *
 * @param items the items
 * @param processItem processes one item; may return a value, a Promise, an Observable or a `TaskEither`
 * @param options `concurrency`, `itemRetry`, `onProgress`, and the batch's {@link ResilienceOptions}
 * @returns the results in input order; rejects with a `CanoFailure` carrying the `CanoError` only when the
 *   batch as a whole fails (`Timeout`, `Cancelled`, `CircuitOpen`, …), and with a
 *   `CanoFailure(Configuration)` naming the option for invalid options
 * @example
 * import { RetryMode, runBatch } from 'cano-rx'
 * const urls = ['https://example.org/a', 'https://example.org/b', 'https://example.org/c']
 * const results = await runBatch(urls, async (url, { signal }) => (await fetch(url, { signal })).status, {
 *   concurrency: 2,
 *   itemRetry: RetryMode.fixed(2, 100),
 * })
 * const failed = results.filter((r) => r._tag === 'Err').length
 * @category runners
 * @since 0.1.0
 */
export const runBatch = <I, O>(
  items: ReadonlyArray<I>,
  processItem: (item: I, ctx: ItemContext) => TaskOutput<O>,
  options?: RunBatchOptions,
): Promise<ReadonlyArray<ItemResult<O>>> => {
  let run: BatchRun
  try {
    if (!Array.isArray(items)) throw invalidOption('runBatch', 'items', 'an array', items)
    run = batchRun('runBatch', processItem, options)
  } catch (e: unknown) {
    return rejected(e)
  }
  return standalonePromise(run.spec, batchBody<O>('runBatch', run.plan, items))
}

/**
 * The operator form of {@link runBatch}: each array the source emits is processed as one batch, in order
 * (one batch at a time, as `concatMap`), and its results are emitted. The options are checked when the
 * operator is created (a `CanoFailure(Configuration)` is thrown there).
 *
 * @param processItem processes one item
 * @param options as {@link runBatch}'s
 * @returns an operator from arrays of items to arrays of results in input order
 * @example
 * import { bufferCount, interval, map } from 'rxjs'
 * import { processBatch } from 'cano-rx'
 * declare const index: (doc: number) => Promise<void>
 * const indexed$ = interval(10).pipe(bufferCount(50), processBatch((doc: number) => index(doc), { concurrency: 4 }))
 * @category operators
 * @since 0.1.0
 */
export const processBatch = <I, O>(
  processItem: (item: I, ctx: ItemContext) => TaskOutput<O>,
  options?: RunBatchOptions,
): OperatorFunction<ReadonlyArray<I>, ReadonlyArray<ItemResult<O>>> => {
  const run = batchRun('processBatch', processItem, options)
  return concatMap((items: ReadonlyArray<I>): Observable<ReadonlyArray<ItemResult<O>>> =>
    standalone$(run.spec, batchBody<O>('processBatch', run.plan, items)),
  )
}

/** A runner's checked options. */
interface BatchRun {
  readonly spec: StandaloneSpec
  readonly plan: ItemsPlan<string, NoResources>
}

/** One batch: the items through the kind's loop, as one attempt; a source value that is not an array fails it. */
const batchBody =
  <O>(where: string, plan: ItemsPlan<string, NoResources>, items: unknown): RunnerBody<ReadonlyArray<ItemResult<O>>> =>
  (env, run) => {
    if (!Array.isArray(items)) throw invalidOption(where, 'items', 'an array', items)
    const all: ReadonlyArray<unknown> = items
    attemptWork<string, NoResources, ReadonlyArray<ItemResult<O>>>(
      env,
      (ctx) => processAll(plan, env, ctx, all),
      run,
      false,
    )
  }

const batchRun = (where: string, processItem: unknown, options: RunBatchOptions | undefined): BatchRun => {
  const onProgress = options?.onProgress
  const badProgress = checkCallback(where, 'onProgress', onProgress)
  if (badProgress !== undefined) throw badProgress
  const spec = standaloneSpec(
    where,
    options,
    RetryMode.none(),
    onProgress === undefined
      ? undefined
      : (data) => {
          if (isBatchProgress(data)) onProgress(data)
        },
  )
  const plan = {
    processItem: processItem as ItemsPlan<string, NoResources>['processItem'],
    concurrency: options?.concurrency ?? 1,
    itemRetry: options?.itemRetry ?? RetryMode.none(),
  }
  const bad = validateBatch({ ...plan, load: noop, finish: noop }, where)
  if (bad !== undefined) throw new CanoFailure(bad)
  return { spec, plan }
}

const noop = (): undefined => undefined
