/**
 * The `batch` state kind. The whole load → process → finish cycle is one attempt of the state's
 * retry loop (`runAttempts`: breaker, limiter, attempt timeout, outer retry). Inside it, the items
 * flow through `mergeMap(…, concurrency)`; each item runs through its own `retryWithBackoff`
 * (`itemRetry`, delays on the run's scheduler) and settles as an `Ok` or `Err` slot, so an item
 * failure never aborts the batch. Slots are written straight into their input position, then
 * `finish` chooses the next state. Each settled item emits a `Progress` event.
 *
 * ```text
 * items:    a  b  c  d                       (concurrency 2, b fails once, itemRetry fixed(1, 5 ms))
 * in flight a--|
 *           b-#  5ms b--|
 *              c-----|
 *                    d--|
 * finish:   [Ok a, Ok b, Ok c, Ok d]          (input order, whatever the completion order)
 * ```
 *
 * Item subscriptions are trampolined through `queueScheduler`: a long run of items that complete
 * synchronously after an asynchronous one would otherwise recurse inside `mergeMap` and stall.
 *
 * @internal
 * @since 0.1.0
 */
import {
  catchError,
  concatMap,
  defer,
  from,
  map,
  mergeMap,
  Observable,
  type Observer,
  of,
  queueScheduler,
  reduce,
  subscribeOn,
  type Subscription,
  tap,
  throwIfEmpty,
} from 'rxjs'

import type { BatchHandler, BatchProgress, ItemContext, ItemResult } from '../src/Batch.js'
import {
  cancelledError,
  isRetryable,
  nonRetryable,
  taskExecutionError,
  toCanoError,
  workflowError,
} from '../src/CanoError.js'
import { LinkedController } from '../src/internal/abortFollowers.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { AttemptScope } from '../src/WorkflowObserver.js'
import { runAttemptLoop } from './attemptWork.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import { retryWithBackoffRaw } from './retryWithBackoff.js'
import type { StateEnv } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Runs a `batch` state: the next state, or an error with the `CanoError`. */
export const runBatchState = <S extends string, R extends ResourceRecord>(
  handler: BatchHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> => runAttemptLoop(env, (ctx: TaskContext<R>) => cycle(handler, env, ctx))

/** One load → process → finish cycle (one outer attempt). */
const cycle = <S extends string, R extends ResourceRecord>(
  handler: BatchHandler<S, R>,
  env: StateEnv<S, R>,
  ctx: TaskContext<R>,
): Observable<unknown> => {
  const label = JSON.stringify(env.state)
  return fromTaskOutput<unknown>(() => handler.load(ctx)).pipe(
    throwIfEmpty(() => taskExecutionError(`load for state ${label} completed without a value`)),
    concatMap((loaded) => {
      if (!Array.isArray(loaded))
        throw nonRetryable(
          workflowError(`load for state ${label} returned ${describeValue(loaded)}, not an array of items`, env.state),
        )
      return processAll(handler, env, ctx, loaded as ReadonlyArray<unknown>)
    }),
    concatMap((results) => fromTaskOutput<unknown>(() => handler.finish(results, ctx))),
  )
}

/** @internal What the item loop reads of its handler (a `BatchHandler`, or a standalone `runBatch`'s options). */
export type ItemsPlan<S extends string, R extends ResourceRecord> = Pick<
  BatchHandler<S, R>,
  'processItem' | 'concurrency' | 'itemRetry'
>

/** @internal Every item through `mergeMap(…, concurrency)`; emits the slots in input order once all settled. */
export const processAll = <S extends string, R extends ResourceRecord>(
  handler: ItemsPlan<S, R>,
  env: StateEnv<S, R>,
  ctx: TaskContext<R>,
  items: ReadonlyArray<unknown>,
): Observable<ReadonlyArray<ItemResult<unknown>>> =>
  defer(() => {
    const total = items.length
    const slots = new Array<ItemResult<unknown>>(total)
    const { emit, now, workflowId, state, taskId } = env
    let done = 0
    let failed = 0
    return from(items).pipe(
      mergeMap((item, index) => runItem(handler, env, ctx, item, index), handler.concurrency),
      tap((result) => {
        done += 1
        if (result._tag === 'Err') failed += 1
        if (emit !== undefined) {
          const data: BatchProgress =
            result._tag === 'Err'
              ? { kind: 'batch', done, total, failed, index: result.index, error: result.error }
              : { kind: 'batch', done, total, failed, index: result.index }
          emit({ _tag: 'Progress', workflowId, at: now(), state, taskId, data })
        }
      }),
      reduce((acc, result) => {
        acc[result.index] = result
        return acc
      }, slots),
    )
  })

/** One item through its own retry loop; always settles as an `Ok` or `Err` slot. */
const runItem = <S extends string, R extends ResourceRecord>(
  handler: ItemsPlan<S, R>,
  env: StateEnv<S, R>,
  ctx: TaskContext<R>,
  item: unknown,
  index: number,
): Observable<ItemResult<unknown>> =>
  defer(() => {
    const parent = ctx.signal
    const around = env.around
    let attempt = 0
    /** The previous attempt's error and the delay before this one (kept only for an `aroundAttempt`). */
    let retry: AttemptScope['retry']
    const one = new Observable<unknown>((subscriber) => {
      attempt += 1
      const ictx = new ItemAttempt(index, attempt, parent)
      let settled = false
      const item$ = fromTaskOutput<unknown>(() => handler.processItem(item, ictx))
      const observer: Observer<unknown> = {
        next: (value) => {
          settled = true
          subscriber.next(value)
          subscriber.complete()
        },
        error: (e: unknown) => {
          settled = true
          subscriber.error(e)
        },
        complete: () => {
          if (settled) return
          settled = true
          subscriber.error(
            taskExecutionError(
              `processItem for state ${JSON.stringify(env.state)} (item ${index}) completed without a value`,
            ),
          )
        },
      }
      let sub: Subscription | undefined
      if (around === undefined) sub = item$.subscribe(observer)
      else {
        const { workflowId, state, taskId } = env
        const scope = {
          workflowId,
          state,
          taskId,
          kind: 'Item',
          attempt,
          index,
          at: env.now(),
          waitedMs: undefined,
          retry,
        } as const
        around(scope, () => (sub = item$.subscribe(observer)))
      }
      return () => {
        sub?.unsubscribe()
        if (!settled) ictx.abort()
        ictx.release()
      }
    })
    const retried$ =
      handler.itemRetry._tag === 'None'
        ? one
        : one.pipe(
            retryWithBackoffRaw<unknown>({
              mode: handler.itemRetry,
              random: env.random,
              scheduler: env.scheduler,
              shouldRetry: (e) => isRetryable(e) && !parent.aborted,
              onRetry:
                around === undefined
                  ? undefined
                  : ({ error, delayMs }) => {
                      retry = { delayMs, error: toCanoError(error) }
                    },
            }),
          )
    return retried$.pipe(
      map((value): ItemResult<unknown> => ({ _tag: 'Ok', index, value })),
      catchError((e: unknown) => of<ItemResult<unknown>>({ _tag: 'Err', index, error: toCanoError(e) })),
    )
  }).pipe(subscribeOn(queueScheduler))

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The context of one item attempt; its `signal` is created on first read, linked to the batch's. */
class ItemAttempt implements ItemContext {
  private controller: LinkedController | undefined
  constructor(
    readonly index: number,
    readonly attempt: number,
    private readonly parent: AbortSignal,
  ) {}
  get signal(): AbortSignal {
    // it follows the batch's signal: one listener on that however many items run at once
    return (this.controller ??= new LinkedController(this.parent)).signal
  }
  /** Aborts the attempt (it was unsubscribed before it settled); a no-op if nobody read the signal. */
  abort(): void {
    const c = this.controller
    if (c !== undefined && !c.signal.aborted) c.abort(cancelledError('batch item cancelled'))
  }
  release(): void {
    this.controller?.unlink()
  }
}
