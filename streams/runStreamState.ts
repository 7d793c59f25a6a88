/**
 * The `stream` state kind. The whole consumption is one attempt of the state's retry loop
 * (`runAttempts`: `attemptTimeoutMs` bounds the stream, a retry resubscribes the source). Windows
 * are formed by `bufferCount` / `bufferTime` on the run's scheduler for an `Observable` source and by
 * a pull loop for an `AsyncIterable` one, then handled strictly one at a time (`concatMap`): each
 * window goes through `onWindow` under the state's {@link StreamErrorPolicy}, then a `WindowFlushed`
 * event records the position. A `WindowSignal.stop(state)` answer unsubscribes the source; exhaustion hands
 * the last partial window to `onWindow` and then asks `onClose('Exhausted', ctx)` for the state;
 * unsubscribing before either calls `onClose('Cancelled', ctx)` for cleanup.
 *
 * ```text
 * source:   -a-b-c-d-e|                       window { count: 2 }
 * windows:  ---[a,b]-[c,d]-[e]|               onWindow per window, then WindowFlushed 1, 2, 3
 * state:                      onClose('Exhausted')
 *
 * source:   -a-b------c|                      window { timeMs: 5 }
 * windows:  -----[a,b]-----[c]|               empty windows are never handed to onWindow
 * ```
 *
 * @internal
 * @since 0.1.0
 */
import {
  bufferCount,
  bufferTime,
  catchError,
  concat,
  concatMap,
  defaultIfEmpty,
  defer,
  filter,
  firstValueFrom,
  isObservable,
  map,
  type MonoTypeOperatorFunction,
  Observable,
  of,
  type OperatorFunction,
  pipe,
  retry,
  type SchedulerLike,
  Subject,
  Subscription,
  take,
  takeUntil,
  throwError,
  throwIfEmpty,
  timer,
} from 'rxjs'

import { isRetryable, nonRetryable, taskExecutionError, timeoutError, workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { StreamErrorPolicy, StreamHandler, StreamPosition, WindowSignal } from '../src/Stream.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { attemptWork } from './attemptWork.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

/** The drain budget of a window stream with `flushOnCancel` and no `drainTimeoutMs`. */
const DEFAULT_DRAIN_MS = 5_000

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Where a stream state starts and how it persists its position. */
export interface StreamHooks {
  /** The position a resumed run continues from. */
  readonly resumeFrom?: StreamPosition | undefined
  /** Persists the position after a handled window; the Observable completes once it is durable. */
  readonly persist?: ((position: StreamPosition) => Observable<never>) | undefined
}

/** @internal Runs a `stream` state: the next state, or an error with the `CanoError`. */
export const runStreamState = <S extends string, R extends ResourceRecord>(
  handler: StreamHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: StreamHooks = {},
): Observable<S> => {
  // shared by the attempts of this visit: a retry continues after the windows already handled
  const position: { current: StreamPosition | undefined } = { current: hooks.resumeFrom }
  return runStateBody(env, (frame) =>
    attemptWork<S, R, unknown>(
      env,
      (ctx: TaskContext<R>) => consume(handler, env, ctx, position, hooks.persist, frame),
      frame,
      false,
    ),
  )
}

/** Marks a window dropped under `StreamErrorPolicy.skip()`. */
const SKIPPED: unique symbol = Symbol('skipped')
/** Marks a source that completed without a `stopStream`. */
const EXHAUSTED: unique symbol = Symbol('exhausted')
/** Marks a drain that flushed (the source was cut short by `flushOnCancel`). */
const DRAINED: unique symbol = Symbol('drained')

type Handled = WindowSignal<string>

/** One attempt: subscribe (or iterate) the source, handle its windows, settle on a state. */
const consume = <S extends string, R extends ResourceRecord>(
  handler: StreamHandler<S, R>,
  env: StateEnv<S, R>,
  ctx: TaskContext<R>,
  position: { current: StreamPosition | undefined },
  persist: ((position: StreamPosition) => Observable<never>) | undefined,
  frame: StateFrame<S, R>,
): Observable<unknown> =>
  new Observable<unknown>((subscriber) => {
    const label = JSON.stringify(env.state)
    const { emit, now, workflowId, state, taskId } = env
    const from = position.current
    let settled = false
    // flushOnCancel: the run's interruption drains the stream (see `drain` below)
    const drain$ = new Subject<void>()
    let draining = false
    let drainTimer: Subscription | undefined
    const onAbort = (): void => {
      // a run handed over releases the visit in this same turn: only a visit still held drains
      env.scheduler.schedule(() => {
        if (settled || draining) return
        draining = true
        const budget = handler.drainTimeoutMs ?? DEFAULT_DRAIN_MS
        drainTimer = env.scheduler.schedule(() => {
          if (settled) return
          settled = true
          held.sub?.unsubscribe()
          frame.fail(timeoutError(budget, `stream drain of state ${label} exceeded drainTimeoutMs`))
        }, budget)
        drain$.next()
      }, 0)
    }
    const drains = handler.flushOnCancel === true
    if (drains) env.runSignal.addEventListener('abort', onAbort, { once: true })
    const unlisten = (): void => {
      if (drains) env.runSignal.removeEventListener('abort', onAbort)
      drainTimer?.unsubscribe()
    }
    /** The drain ended: `onClose('Cancelled')` cleans up, then the interruption concludes the run. */
    const drained = (): void => {
      settled = true
      unlisten()
      void firstValueFrom(
        fromTaskOutput<unknown>(() => handler.onClose('Cancelled', ctx)),
        { defaultValue: undefined },
      )
        .catch(() => undefined)
        .then(() => frame.interrupted(env.runSignal.reason))
    }
    /** The consumption, once subscribed (the drain budget's timer may cut it short). */
    const held: { sub?: Subscription } = {}
    let windows = from?.windows ?? 0
    let consumed = from?.items ?? 0
    let consecutiveErrors = 0

    const policy = guardWith(handler.onError, env.scheduler, () => ++consecutiveErrors)

    const handle = (items: ReadonlyArray<unknown>): Observable<Handled> =>
      defer(() => {
        const window = ++windows
        const call$ = fromTaskOutput<unknown>(() => handler.onWindow(items, { window, ctx })).pipe(
          throwIfEmpty(() => taskExecutionError(`onWindow for state ${label} completed without a value`)),
        )
        return call$.pipe(
          policy,
          map((answered): Handled => {
            // a drain's window: its answer is ignored, its position committed
            const answer: unknown = draining && answered !== SKIPPED ? CONTINUE : answered
            if (answer !== SKIPPED) {
              if (!isWindowSignal(answer))
                throw nonRetryable(
                  workflowError(
                    `onWindow for state ${label} returned ${describeValue(answer)}, not continueStream() or stopStream(state)`,
                    state,
                  ),
                )
              consecutiveErrors = 0
            }
            if (emit !== undefined)
              emit({ _tag: 'WindowFlushed', workflowId, at: now(), state, taskId, window, items: items.length })
            return isWindowSignal(answer) ? answer : CONTINUE
          }),
          // a handled window is durable before the next one is handled (a stop moves on: nothing to keep)
          concatMap((handled) => {
            if (handled._tag === 'Stop') return of(handled)
            consumed += items.length
            const at: StreamPosition = { windows: window, items: consumed }
            position.current = at
            return persist === undefined ? of(handled) : concat(persist(at), of(handled))
          }),
        )
      })

    let source: unknown
    try {
      source = handler.source(ctx, from)
    } catch (e: unknown) {
      settled = true
      subscriber.error(e)
      return undefined
    }
    const count = handler.window.count ?? Number.POSITIVE_INFINITY
    const timeMs = handler.window.timeMs === undefined ? undefined : Math.max(1, handler.window.timeMs)
    let handled$: Observable<Handled>
    if (isObservable(source)) {
      // takeUntil first on purpose: a drain completes the source, so the buffers hand over the partial window
      // eslint-disable-next-line rxjs-x/no-unsafe-takeuntil -- see above
      handled$ = source.pipe(takeUntil(drain$), windowsOf(count, timeMs, env.scheduler), concatMap(handle))
    } else if (isAsyncIterable(source)) {
      handled$ = pullWindows(source, count, timeMs, env.scheduler, handle, drain$)
    } else {
      settled = true
      subscriber.error(
        nonRetryable(
          workflowError(
            `source for state ${label} returned ${describeValue(source)}, not an Observable or an AsyncIterable`,
            state,
          ),
        ),
      )
      return undefined
    }

    const sub = handled$
      .pipe(
        filter((h) => h._tag === 'Stop'),
        take(1),
        map((h) => h.state),
        defaultIfEmpty(EXHAUSTED),
        concatMap((next) =>
          next === EXHAUSTED
            ? draining
              ? of(DRAINED)
              : fromTaskOutput<unknown>(() => handler.onClose('Exhausted', ctx))
            : of(next),
        ),
      )
      .subscribe({
        next: (next) => {
          if (settled) return
          if (next === DRAINED) return drained()
          settled = true
          unlisten()
          subscriber.next(next)
          subscriber.complete()
        },
        error: (e: unknown) => {
          if (settled) return
          settled = true
          unlisten()
          if (!draining) return subscriber.error(e)
          // a drain that fails: onClose still cleans up; the window is not committed
          void firstValueFrom(
            fromTaskOutput<unknown>(() => handler.onClose('Cancelled', ctx)),
            {
              defaultValue: undefined,
            },
          ).catch(() => undefined)
          frame.fail(e)
        },
        complete: () => {
          if (settled) return
          settled = true
          subscriber.error(taskExecutionError(`onClose for state ${label} completed without a value`))
        },
      })
    held.sub = sub
    return () => {
      sub.unsubscribe()
      unlisten()
      if (settled) return
      settled = true
      // cancelled (run cancelled, total or attempt timeout): onClose cleans up, its answer is ignored
      void firstValueFrom(
        fromTaskOutput<unknown>(() => handler.onClose('Cancelled', ctx)),
        {
          defaultValue: undefined,
        },
      ).catch(() => undefined)
    }
  })

// -------------------------------------------------------------------------------------
// operators
// -------------------------------------------------------------------------------------

const CONTINUE: Handled = { _tag: 'Continue' }

/**
 * Applies the error policy to one `onWindow` call: rethrow, drop the window (`SKIPPED`), or call again
 * after `delayMs` until consecutive error number `maxErrors + 1`. `countError` counts an error and
 * returns the consecutive count.
 */
const guardWith = (
  policy: StreamErrorPolicy,
  scheduler: SchedulerLike,
  countError: () => number,
): MonoTypeOperatorFunction<unknown> => {
  switch (policy._tag) {
    case 'FailFast':
      return (call$) => call$
    case 'Skip':
      return catchError(() => of(SKIPPED))
    case 'RetryOnError':
      return retry({
        delay: (e: unknown) =>
          countError() > policy.maxErrors || !isRetryable(e) ? throwError(() => e) : timer(policy.delayMs, scheduler),
      })
  }
}

/** `bufferCount` / `bufferTime` (both: `bufferTime` with a max size, whichever fills first); empty windows dropped. */
const windowsOf = <T>(
  count: number,
  timeMs: number | undefined,
  scheduler: SchedulerLike,
): OperatorFunction<T, ReadonlyArray<T>> =>
  pipe(
    timeMs === undefined
      ? bufferCount<T>(count)
      : count === Number.POSITIVE_INFINITY
        ? bufferTime<T>(timeMs, scheduler)
        : bufferTime<T>(timeMs, null, count, scheduler),
    filter((items) => items.length > 0),
  )

/**
 * Windows of a pull source, handled one at a time. The iterator is pulled (one `next()` in flight at
 * most) only while the current window is not full and no window is being handled. A window closes
 * when it holds `count` items or `timeMs` after it opened (if it holds any); the next one opens when
 * the handling of the previous one has completed. Unsubscribing returns the iterator.
 */
const pullWindows = <T, H>(
  iterable: AsyncIterable<T>,
  count: number,
  timeMs: number | undefined,
  scheduler: SchedulerLike,
  handle: (items: ReadonlyArray<T>) => Observable<H>,
  drain$?: Observable<void>,
): Observable<H> =>
  new Observable<H>((subscriber) => {
    let iterator: AsyncIterator<T>
    try {
      iterator = iterable[Symbol.asyncIterator]()
    } catch (e: unknown) {
      subscriber.error(e)
      return undefined
    }
    let buffer: T[] = []
    let pulling = false
    let handling = false
    let exhausted = false
    let closed = false
    let windowTimer: Subscription | undefined
    /** The handling in progress (a completed one removes itself). */
    const handling$ = new Subscription()

    const fail = (e: unknown): void => {
      exhausted = true
      if (!closed) subscriber.error(e)
    }
    const openWindow = (): void => {
      if (timeMs !== undefined) windowTimer = scheduler.schedule(onTimer, timeMs)
      pump()
    }
    const onTimer = (): void => {
      windowTimer = undefined
      if (closed) return
      if (buffer.length > 0) flush()
      else openWindow()
    }
    const pump = (): void => {
      if (closed || pulling || handling || exhausted || buffer.length >= count) return
      pulling = true
      let next: PromiseLike<IteratorResult<T>>
      try {
        next = iterator.next()
      } catch (e: unknown) {
        pulling = false
        return fail(e)
      }
      Promise.resolve(next).then(onResult, (e: unknown) => {
        pulling = false
        fail(e)
      })
    }
    const onResult = (r: IteratorResult<T>): void => {
      pulling = false
      if (closed) return
      if (drained) {
        // read after the drain began: not handled, not committed (a resume reads it again)
        if (!handling) flush()
        return
      }
      if (r.done === true) {
        exhausted = true
        if (!handling) flush()
        return
      }
      buffer.push(r.value)
      if (handling) return // read before the handling began; it opens the next window
      if (buffer.length >= count) flush()
      else pump()
    }
    const flush = (): void => {
      windowTimer?.unsubscribe()
      windowTimer = undefined
      const items = buffer
      buffer = []
      if (items.length === 0) {
        if (exhausted) subscriber.complete()
        else openWindow()
        return
      }
      handling = true
      handling$.add(
        handle(items).subscribe({
          next: (h) => subscriber.next(h),
          error: (e: unknown) => fail(e),
          complete: () => {
            handling = false
            if (closed) return
            if (exhausted || buffer.length >= count) flush()
            else openWindow()
          },
        }),
      )
    }

    let drained = false
    const drainSub = drain$?.subscribe(() => {
      if (closed || exhausted) return
      drained = true
      exhausted = true
      windowTimer?.unsubscribe()
      windowTimer = undefined
      try {
        const returned = iterator.return?.()
        if (returned !== undefined) Promise.resolve(returned).catch(() => undefined)
      } catch {
        // a throwing return() is the source's problem, not the run's
      }
      if (!handling && !pulling) flush()
    })
    openWindow()
    return () => {
      drainSub?.unsubscribe()
      closed = true
      windowTimer?.unsubscribe()
      handling$.unsubscribe()
      if (exhausted) return
      exhausted = true
      try {
        const returned = iterator.return?.()
        if (returned !== undefined) Promise.resolve(returned).catch(() => undefined)
      } catch {
        // a throwing return() is the source's problem, not the run's
      }
    }
  })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'

const isWindowSignal = (u: unknown): u is Handled => {
  if (typeof u !== 'object' || u === null) return false
  const tag = (u as { _tag?: unknown })._tag
  return tag === 'Continue' || (tag === 'Stop' && 'state' in u)
}
