/**
 * The per-item `stream` state (`streamItems`, src/StreamItems.ts). One attempt is one {@link ItemLoop}:
 * a small imperative machine (no operator chain per item) that takes items off the source one at a
 * time, runs `onItem` under the per-item timeout and error policy, collects outputs into the current
 * window, flushes it through `onWindow`, then commits the cursor of the window's last item (a
 * `StreamWindow` row) before the next item is processed.
 *
 * ```text
 * source:  -a-b-c-d|                      window { count: 2 }
 * onItem:   a b c d                       each one at a time (itemTimeoutMs each)
 * flush:       [a,b] [c,d]                onWindow, then commit cursor(b), cursor(d)
 * close:                 onClose('Exhausted')
 *
 * source:  -a-b-c--  (cancel at c)        drain: c finishes, [c] is flushed,
 * flush:       [a,b] [c]                  cursor(c) committed, onClose('Cancelled'),
 *                                         the run ends Cancelled (or TimedOut)
 * ```
 *
 * The drain: the state's kind finishes its visit (src/RunMachine.ts `Finishing`), so a cancellation,
 * the total timeout or the subscriber leaving aborts the run's signal without releasing the visit;
 * the loop hears it, stops reading and drains within `drainTimeoutMs`, then settles quietly
 * (`StateFrame.interrupted`). The state's attempts are shielded from the run's signal (their signal
 * fires on the attempt timeout, the drain budget or an item's timeout only), so the flush is not
 * aborted by the very cancellation it serves.
 *
 * @internal
 * @since 0.4.0
 */
import * as E from 'fp-ts/lib/Either.js'
import {
  isObservable,
  Observable,
  type Subscriber,
  type Subscription,
  type TeardownLogic,
  type Unsubscribable,
} from 'rxjs'

import type { JsonValue } from '../codecs/CheckpointRow.js'
import {
  isNonRetryable,
  isRetryable,
  nonRetryable,
  taskExecutionError,
  timeoutError,
  workflowError,
} from '../src/CanoError.js'
import { LinkedController } from '../src/internal/abortFollowers.js'
import { describeValue } from '../src/internal/describeValue.js'
import { decodeJson, encodeJson } from '../src/internal/jsonRoundTrip.js'
import { retryDelayMs } from '../src/RetryMode.js'
import type { StreamPosition, WindowSignal } from '../src/Stream.js'
import type { StreamItemContext, StreamItemsHandler } from '../src/StreamItems.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { attemptWork } from './attemptWork.js'
import { type OutputSink, settleTaskOutput } from './fromTaskOutput.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Where a per-item stream starts and how it commits. */
export interface StreamItemsHooks {
  /** The committed position (and encoded cursor) a resumed run continues from. */
  readonly resumeFrom?: (StreamPosition & { readonly itemCursor?: JsonValue }) | undefined
  /** Commits a window: position and encoded cursor; completes once durable. */
  readonly persist?: ((position: StreamPosition, itemCursor: JsonValue | undefined) => Observable<never>) | undefined
}

/** What the attempts of one visit share: the committed position and cursor. */
interface Committed {
  windows: number
  items: number
  /** The committed cursor: encoded (as stored) and decoded (as `source` receives it); absent before the first. */
  cursor: { readonly encoded: JsonValue; readonly decoded: unknown } | undefined
}

/** @internal Runs a per-item `stream` state. */
export const runStreamItemsState = <S extends string, R extends ResourceRecord>(
  handler: StreamItemsHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: StreamItemsHooks = {},
): Observable<S> =>
  runStateBody(env, (frame) => {
    const from = hooks.resumeFrom
    const committed: Committed = { windows: from?.windows ?? 0, items: from?.items ?? 0, cursor: undefined }
    if (from?.itemCursor !== undefined) {
      const back = decodeJson(
        handler.cursor,
        from.itemCursor,
        `state ${JSON.stringify(env.state)}, resumed stream cursor of window ${from.windows}`,
      )
      if (E.isLeft(back)) return frame.fail(nonRetryable(back.left))
      committed.cursor = { encoded: from.itemCursor, decoded: back.right.decoded }
    }
    attemptWork<S, R, unknown>(
      env,
      (ctx) =>
        new Observable<unknown>((subscriber) =>
          new ItemLoop(handler, env, ctx, committed, hooks.persist, frame, subscriber).start(),
        ),
      frame,
      false,
    )
  })

// -------------------------------------------------------------------------------------
// the loop
// -------------------------------------------------------------------------------------

type Phase = 'Idle' | 'Processing' | 'Flushing' | 'Closing' | 'Done'

const CONTINUE: WindowSignal<never> = { _tag: 'Continue' }

/**
 * How long the loop processes items back to back (a synchronous source and handler never wait) before it
 * lets the event loop take a turn (real time, as a stepped loop does): a cancellation or the total timeout
 * is heard within about this long.
 */
const YIELD_EVERY_MS = 50
/** Items between two looks at the clock for {@link YIELD_EVERY_MS}. */
const YIELD_CHECK_EVERY = 256

/** One attempt of a per-item stream. */
class ItemLoop<S extends string, R extends ResourceRecord> {
  private phase: Phase = 'Idle'
  private readonly label: string
  /** Items read and not processed yet (an Observable pushes; an iterator is pulled one at a time). */
  private readonly queue: unknown[] = []
  private head = 0
  private ended = false
  private sourceFailed: { readonly error: unknown } | undefined
  private iterator: AsyncIterator<unknown> | undefined
  private pulling = false
  private sourceSub: Subscription | undefined
  /** The outputs of the current window and the cursor of its last processed item. */
  private outputs: unknown[] = []
  private last: { readonly cursor: unknown } | undefined
  private skipped = 0
  private consecutiveErrors = 0
  private windowTimer: Subscription | undefined
  private timerDue = false
  private draining = false
  private drainTimer: Subscription | undefined
  /** The work in flight (an item call, a flush, a write, a retry delay), released with the loop. */
  private work: Unsubscribable | undefined
  private item: ItemCall<R> | undefined
  /** The wait before an item's next try (`ItemErrorPolicy.retry`). */
  private retrying: Subscription | undefined
  private closeCalled = false
  private stepping = false
  private again = false
  /** The source is being subscribed: what it pushes synchronously waits in the queue until it returns. */
  private starting = true
  private sinceCheck = 0
  private lastYield = performance.now()
  private readonly count: number
  private readonly timeMs: number | undefined
  private readonly onAbort = (): void => {
    // a run handed over releases the visit in the same turn: only a visit still held drains
    this.env.scheduler.schedule(() => this.beginDrain(), 0)
  }

  constructor(
    private readonly handler: StreamItemsHandler<S, R>,
    private readonly env: StateEnv<S, R>,
    private readonly ctx: TaskContext<R>,
    private readonly committed: Committed,
    private readonly persist: StreamItemsHooks['persist'],
    private readonly frame: StateFrame<S, R>,
    private readonly subscriber: Subscriber<unknown>,
  ) {
    this.label = JSON.stringify(env.state)
    this.count = handler.window.count ?? Number.POSITIVE_INFINITY
    this.timeMs = handler.window.timeMs === undefined ? undefined : Math.max(1, handler.window.timeMs)
  }

  start(): TeardownLogic {
    const signal = this.env.runSignal
    if (signal.aborted) this.onAbort()
    else signal.addEventListener('abort', this.onAbort, { once: true })
    let source: unknown
    try {
      source = this.handler.source(this.ctx, this.committed.cursor?.decoded)
    } catch (e: unknown) {
      this.fail(e)
      return undefined
    }
    if (isObservable(source)) {
      this.sourceSub = source.subscribe({
        next: (item) => {
          this.queue.push(item)
          if (this.phase === 'Idle' && !this.starting) this.step()
        },
        error: (e: unknown) => {
          this.sourceFailed = { error: e }
          this.ended = true
          if (this.phase === 'Idle' && !this.starting) this.step()
        },
        complete: () => {
          this.ended = true
          if (this.phase === 'Idle' && !this.starting) this.step()
        },
      })
    } else if (isAsyncIterable(source)) {
      try {
        this.iterator = source[Symbol.asyncIterator]()
      } catch (e: unknown) {
        this.fail(e)
        return undefined
      }
    } else {
      this.fail(
        nonRetryable(
          workflowError(
            `source for state ${this.label} returned ${describeValue(source)}, not an Observable or an AsyncIterable`,
            this.env.state,
          ),
        ),
      )
      return undefined
    }
    this.starting = false
    if (this.phase === 'Done') return undefined
    this.openWindow()
    this.step()
    return () => this.teardown()
  }

  // -- the decision loop (a trampoline: synchronous items never grow the stack) ---------------

  private step(): void {
    if (this.stepping) {
      this.again = true
      return
    }
    this.stepping = true
    try {
      do {
        this.again = false
        this.decide()
      } while (this.rerun())
    } finally {
      this.stepping = false
    }
  }

  /** Whether what {@link decide} started settled within it (the trampoline goes round again). */
  private rerun(): boolean {
    return this.again
  }

  private decide(): void {
    if (this.phase !== 'Idle') return
    if (this.draining) {
      if (this.outputs.length > 0) return this.flush()
      return this.close()
    }
    if (this.outputs.length >= this.count || (this.timerDue && this.outputs.length > 0)) return this.flush()
    if (this.head < this.queue.length) {
      if (++this.sinceCheck >= YIELD_CHECK_EVERY) {
        this.sinceCheck = 0
        const now = performance.now()
        if (now - this.lastYield >= YIELD_EVERY_MS) {
          this.lastYield = now
          // the next item waits for the run's scheduler: the event loop gets a turn
          this.work = this.env.scheduler.schedule(() => {
            this.work = undefined
            this.step()
          }, 0)
          return
        }
      }
      const item = this.queue[this.head]
      this.queue[this.head++] = undefined
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head)
        this.head = 0
      }
      return this.process(item, 1)
    }
    if (this.sourceFailed !== undefined) return this.fail(this.sourceFailed.error)
    if (this.ended) return this.outputs.length > 0 ? this.flush() : this.close()
    this.pull()
  }

  private pull(): void {
    const it = this.iterator
    if (it === undefined || this.pulling) return
    this.pulling = true
    let next: PromiseLike<IteratorResult<unknown>>
    try {
      next = it.next()
    } catch (e: unknown) {
      this.pulling = false
      this.sourceFailed = { error: e }
      this.ended = true
      return this.step()
    }
    Promise.resolve(next).then(
      (r) => {
        this.pulling = false
        if (this.phase === 'Done') return
        if (r.done === true) this.ended = true
        else this.queue.push(r.value)
        if (this.phase === 'Idle') this.step()
      },
      (e: unknown) => {
        this.pulling = false
        this.sourceFailed = { error: e }
        this.ended = true
        if (this.phase === 'Idle') this.step()
      },
    )
  }

  // -- items -----------------------------------------------------------------------------

  private process(item: unknown, attempt: number): void {
    this.phase = 'Processing'
    const call = new ItemCall<R>(this.ctx, attempt, (outcome) => this.itemSettled(item, attempt, outcome))
    this.item = call
    const timeoutMs = this.handler.itemTimeoutMs
    if (timeoutMs !== undefined)
      call.add(
        this.env.scheduler.schedule(() => {
          const e = timeoutError(timeoutMs, `stream item of state ${this.label} exceeded itemTimeoutMs`)
          call.abort(e)
          call.error(e)
        }, timeoutMs),
      )
    let out: unknown
    try {
      out = this.handler.onItem(item, call)
    } catch (e: unknown) {
      return call.error(e)
    }
    settleTaskOutput(out, call)
  }

  private itemSettled(item: unknown, attempt: number, outcome: ItemOutcome): void {
    this.item = undefined
    if (this.phase === 'Done') return
    if (outcome._tag === 'Value') {
      const v = outcome.value
      if (typeof v !== 'object' || v === null || !('output' in v) || !('cursor' in v))
        return this.fail(
          nonRetryable(
            workflowError(
              `onItem for state ${this.label} returned ${describeValue(v)}, not { output, cursor }`,
              this.env.state,
            ),
          ),
        )
      const done = v as { readonly output: unknown; readonly cursor: unknown }
      this.outputs.push(done.output)
      this.last = { cursor: done.cursor }
      this.consecutiveErrors = 0
      this.phase = 'Idle'
      return this.step()
    }
    const e = outcome.error
    // a drain retries nothing: the failed item is not committed (a resume replays it)
    if (this.draining) return this.skip()
    const policy = this.handler.onItemError
    switch (policy._tag) {
      case 'FailFast':
        return this.fail(e)
      case 'Skip': {
        this.consecutiveErrors += 1
        const max = policy.maxConsecutive
        if (max !== undefined && this.consecutiveErrors > max) return this.fail(e)
        return this.skip()
      }
      case 'Retry': {
        const delay =
          isRetryable(e) && !isNonRetryable(e) ? retryDelayMs(policy.retry, attempt - 1, this.env.random) : undefined
        if (delay === undefined) return policy.exhausted === 'Skip' ? this.skip() : this.fail(e)
        this.retrying = this.env.scheduler.schedule(() => {
          this.retrying = undefined
          if (this.phase === 'Done') return
          if (this.draining) return this.skip()
          this.process(item, attempt + 1)
        }, delay)
        return
      }
    }
  }

  private skip(): void {
    this.skipped += 1
    this.phase = 'Idle'
    this.step()
  }

  // -- windows ---------------------------------------------------------------------------

  private openWindow(): void {
    this.timerDue = false
    const timeMs = this.timeMs
    if (timeMs === undefined || this.draining) return
    this.windowTimer = this.env.scheduler.schedule(() => {
      this.windowTimer = undefined
      if (this.phase === 'Done') return
      if (this.outputs.length === 0) return this.openWindow()
      this.timerDue = true
      if (this.phase === 'Idle') this.step()
    }, timeMs)
  }

  /** Flushes the current (non-empty) window: `onWindow`, then the commit, then the next window. */
  private flush(): void {
    this.phase = 'Flushing'
    this.windowTimer?.unsubscribe()
    this.windowTimer = undefined
    const draining = this.draining
    const outputs = this.outputs
    const last = this.last
    this.outputs = []
    this.last = undefined
    const window = this.committed.windows + 1
    let encoded: JsonValue | undefined
    if (last !== undefined) {
      const enc = encodeJson(
        this.handler.cursor,
        last.cursor,
        `state ${this.label}, stream cursor of window ${window}`,
        'cursor',
      )
      if (E.isLeft(enc)) return this.fail(nonRetryable(enc.left))
      encoded = enc.right
    }
    const onWindow = this.handler.onWindow
    const sink = new Once((outcome) => {
      this.work = undefined
      if (this.phase === 'Done') return
      if (outcome._tag === 'Error') return this.fail(outcome.error)
      const answer = outcome.value
      if (!draining) {
        if (!isWindowSignal(answer))
          return this.fail(
            nonRetryable(
              workflowError(
                `onWindow for state ${this.label} returned ${describeValue(answer)}, not WindowSignal.continue() or WindowSignal.stop(state)`,
                this.env.state,
              ),
            ),
          )
        // a stop moves on: the next state's entry row follows, nothing to commit
        if (answer._tag === 'Stop') return this.succeed(answer.state)
      }
      this.commit(
        window,
        outputs.length,
        last === undefined ? undefined : { encoded: encoded as JsonValue, decoded: last.cursor },
      )
    })
    if (onWindow === undefined) return sink.value(CONTINUE)
    this.work = sink
    let out: unknown
    try {
      out = onWindow(outputs, {
        window,
        cursor: last?.cursor ?? this.committed.cursor?.decoded,
        draining,
        ctx: this.ctx,
      })
    } catch (e: unknown) {
      return sink.error(e)
    }
    settleTaskOutput(out, sink)
  }

  private commit(
    window: number,
    items: number,
    cursor: { readonly encoded: JsonValue; readonly decoded: unknown } | undefined,
  ): void {
    const c = this.committed
    c.windows = window
    c.items += items
    if (cursor !== undefined) c.cursor = cursor
    const skipped = this.skipped
    this.skipped = 0
    const { emit, workflowId, state, taskId } = this.env
    if (emit !== undefined)
      emit({
        _tag: 'WindowFlushed',
        workflowId,
        at: this.env.now(),
        state,
        taskId,
        window,
        items,
        ...(c.cursor === undefined ? {} : { cursor: c.cursor.encoded }),
        ...(skipped === 0 ? {} : { skipped }),
      })
    const next = (): void => {
      if (this.phase === 'Done') return
      this.phase = 'Idle'
      this.openWindow()
      this.step()
    }
    const persist = this.persist
    if (persist === undefined) return next()
    const sub = persist({ windows: c.windows, items: c.items }, c.cursor?.encoded).subscribe({
      error: (e: unknown) => this.fail(e),
      complete: () => {
        this.work = undefined
        next()
      },
    })
    if (!sub.closed) this.work = sub
  }

  // -- ending ----------------------------------------------------------------------------

  /** The source is exhausted (and its last window flushed), or a drain flushed: `onClose`. */
  private close(): void {
    this.phase = 'Closing'
    this.closeCalled = true
    const draining = this.draining
    const reason = draining ? 'Cancelled' : 'Exhausted'
    const sink = new Once((outcome) => {
      this.work = undefined
      if (this.phase === 'Done') return
      // after a drain, onClose is cleanup: its answer (and failure) is ignored
      if (draining) return this.drained()
      if (outcome._tag === 'Error') return this.fail(outcome.error)
      this.succeed(outcome.value)
    })
    this.work = sink
    let out: unknown
    try {
      out = this.handler.onClose(reason, this.ctx)
    } catch (e: unknown) {
      return sink.error(e)
    }
    settleTaskOutput(out, sink)
  }

  private beginDrain(): void {
    if (this.phase === 'Done' || this.draining) return
    this.draining = true
    this.stopSource()
    this.windowTimer?.unsubscribe()
    this.windowTimer = undefined
    const budget = this.handler.drainTimeoutMs
    this.drainTimer = this.env.scheduler.schedule(() => {
      this.drainTimer = undefined
      if (this.phase === 'Done') return
      const e = timeoutError(budget, `stream drain of state ${this.label} exceeded drainTimeoutMs`)
      this.item?.abort(e)
      const frame = this.frame
      this.finish()
      frame.fail(e)
    }, budget)
    // an item waiting for its next try is not tried again: it is not committed (a resume replays it)
    const retrying = this.retrying
    if (retrying !== undefined) {
      this.retrying = undefined
      retrying.unsubscribe()
      return this.skip()
    }
    // an item in flight or a flush finishes first; the loop goes on from there
    if (this.phase === 'Idle') this.step()
  }

  private drained(): void {
    const frame = this.frame
    const reason: unknown = this.env.runSignal.reason
    this.finish()
    frame.interrupted(reason)
  }

  private succeed(next: unknown): void {
    const subscriber = this.subscriber
    this.finish()
    subscriber.next(next)
    subscriber.complete()
  }

  private fail(e: unknown): void {
    if (this.draining) {
      // a drain that fails (its flush or its commit): onClose still cleans up, the window is not committed
      this.cleanup()
      const frame = this.frame
      this.finish()
      return frame.fail(e)
    }
    const subscriber = this.subscriber
    this.finish()
    subscriber.error(e)
  }

  /** Stops everything; `phase` becomes `Done`. */
  private finish(): void {
    this.phase = 'Done'
    this.env.runSignal.removeEventListener('abort', this.onAbort)
    this.stopSource()
    this.windowTimer?.unsubscribe()
    this.drainTimer?.unsubscribe()
    this.retrying?.unsubscribe()
    this.item?.release()
    this.item = undefined
    const work = this.work
    this.work = undefined
    work?.unsubscribe()
  }

  private stopSource(): void {
    this.sourceSub?.unsubscribe()
    this.sourceSub = undefined
    const it = this.iterator
    this.iterator = undefined
    this.queue.length = 0
    this.head = 0
    if (it === undefined || this.ended) return
    this.ended = true
    try {
      const returned = it.return?.()
      if (returned !== undefined) Promise.resolve(returned).catch(() => undefined)
    } catch {
      // a throwing return() is the source's problem, not the run's
    }
  }

  /** `onClose('Cancelled')` for cleanup, best effort, once. */
  private cleanup(): void {
    if (this.closeCalled) return
    this.closeCalled = true
    try {
      settleTaskOutput(this.handler.onClose('Cancelled', this.ctx), IGNORE)
    } catch {
      // cleanup only
    }
  }

  /** Unsubscribed (the run released the visit, an attempt timeout): stop, and let `onClose` clean up. */
  private teardown(): void {
    if (this.phase === 'Done') return
    this.item?.abort(taskExecutionError(`stream of state ${this.label} stopped`))
    this.finish()
    this.cleanup()
  }
}

// -------------------------------------------------------------------------------------
// calls
// -------------------------------------------------------------------------------------

type ItemOutcome =
  { readonly _tag: 'Value'; readonly value: unknown } | { readonly _tag: 'Error'; readonly error: unknown }

/** The sink of one call (`onWindow`, `onClose`): reports once; unsubscribing drops what comes later. */
class Once implements OutputSink, Unsubscribable {
  private done = false
  private teardowns: TeardownLogic[] | undefined
  constructor(private readonly report: (outcome: ItemOutcome) => void) {}
  value(v: unknown): void {
    if (this.end()) this.report({ _tag: 'Value', value: v })
  }
  error(e: unknown): void {
    if (this.end()) this.report({ _tag: 'Error', error: e })
  }
  empty(): void {
    this.error(taskExecutionError('a stream callback completed without a value'))
  }
  add(teardown: TeardownLogic): void {
    if (this.done) return execute(teardown)
    ;(this.teardowns ??= []).push(teardown)
  }
  unsubscribe(): void {
    this.end()
  }
  private end(): boolean {
    if (this.done) return false
    this.done = true
    const t = this.teardowns
    this.teardowns = undefined
    if (t !== undefined) for (const x of t) execute(x)
    return true
  }
}

/** One `onItem` call: its context (a lazy signal) and its sink. */
class ItemCall<R extends ResourceRecord> extends Once implements StreamItemContext<R> {
  private controller: AbortController | undefined
  private abortedWith: unknown
  constructor(
    readonly ctx: TaskContext<R>,
    readonly attempt: number,
    report: (outcome: ItemOutcome) => void,
  ) {
    super(report)
  }
  get signal(): AbortSignal {
    if (this.controller !== undefined) return this.controller.signal
    if (this.abortedWith !== undefined) {
      const c = new AbortController()
      c.abort(this.abortedWith)
      this.controller = c
      return c.signal
    }
    // it follows the state's signal: one listener on that however many calls run at once
    const c = new LinkedController(this.ctx.signal)
    this.controller = c
    return c.signal
  }
  /** Stops following the state's signal. */
  private unlink(): void {
    const c = this.controller
    if (c instanceof LinkedController) c.unlink()
  }
  abort(reason: unknown): void {
    this.abortedWith ??= reason
    const c = this.controller
    if (c !== undefined && !c.signal.aborted) c.abort(reason)
  }
  release(): void {
    this.unlink()
    this.unsubscribe()
  }
  override value(v: unknown): void {
    this.unlink()
    super.value(v)
  }
  override error(e: unknown): void {
    this.unlink()
    super.error(e)
  }
}

const IGNORE: OutputSink = {
  value: () => undefined,
  error: () => undefined,
  empty: () => undefined,
  add: () => undefined,
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const execute = (t: TeardownLogic): void => {
  if (typeof t === 'function') t()
  else if (typeof t === 'object') t.unsubscribe()
}

const isAsyncIterable = (u: unknown): u is AsyncIterable<unknown> =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'

const isWindowSignal = (u: unknown): u is WindowSignal<string> => {
  if (typeof u !== 'object' || u === null) return false
  const tag = (u as { _tag?: unknown })._tag
  return tag === 'Continue' || (tag === 'Stop' && typeof (u as { state?: unknown }).state === 'string')
}
