/**
 * The one interpreter of a {@link TaskOutput} (src/TaskOutput.ts states its rules):
 * `settleTaskOutput` reports what a call returned to an {@link OutputSink}, synchronously whenever
 * the output is not a Promise or an Observable that has yet to emit; `fromTaskOutput` is the same
 * interpreter as a cold Observable. The engine's inline first attempts (`attemptWork`, which the
 * task, router, saga, stepped and split kinds run through) and its retry loop (`runAttempts`, whose
 * attempts are `fromTaskOutput`s) both go through it, so attempt 1 and attempt n read an output alike.
 *
 * @since 0.1.0
 */
import { isObservable, Observable, type Subscriber, take, type TeardownLogic } from 'rxjs'

import { isThenable } from '../src/internal/isThenable.js'

export { isThenable }

/** @internal An fp-ts `Either`, recognised structurally. */
export const isEither = (
  u: unknown,
): u is { readonly _tag: 'Left'; readonly left: unknown } | { readonly _tag: 'Right'; readonly right: unknown } =>
  typeof u === 'object' &&
  u !== null &&
  (((u as { _tag?: unknown })._tag === 'Left' && 'left' in u) ||
    ((u as { _tag?: unknown })._tag === 'Right' && 'right' in u))

/**
 * @internal Where {@link settleTaskOutput} reports. It calls `value`, `error` or `empty` once at
 * most, possibly before it returns; a sink that no longer wants the outcome ignores a late call.
 */
export interface OutputSink {
  /** The output's value, an `Either` already unwrapped. */
  value(v: unknown): void
  /** What the call threw, rejected with or errored with, or a `Left`. */
  error(e: unknown): void
  /** An Observable output completed without a value. */
  empty(): void
  /** The subscription to an Observable output: the sink unsubscribes it when it is released. */
  add(teardown: TeardownLogic): void
}

/**
 * @internal Interprets `out`, what a call returned (its throw is the caller's to report): a function
 * is a `TaskEither` and is called; a `PromiseLike` settles later; an Observable gives its first
 * value; anything else is the value, now. A value returned or resolved is unwrapped once if it is an
 * `Either`; an Observable's first value is taken as it is.
 */
export const settleTaskOutput = (out: unknown, sink: OutputSink, slot?: ThenSlot): void => {
  if (typeof out === 'function') {
    try {
      out = (out as () => unknown)()
    } catch (thrown: unknown) {
      return sink.error(thrown)
    }
  }
  // the hot path: a plain value (a state name) settles at once. The closures of the other paths live
  // in functions of their own, so this one allocates nothing.
  if (typeof out !== 'object' || out === null) return sink.value(out)
  if (isThenable(out))
    return slot === undefined || slot.sink !== undefined ? settleLater(out, sink) : slot.await(out, sink)
  if (isObservable(out)) return settleFirst(out, sink)
  return settleValue(out, sink)
}

/** A `PromiseLike`: what it resolves to (an `Either` unwrapped), or what it rejects with. */
const settleLater = (out: PromiseLike<unknown>, sink: OutputSink): void => {
  // bound functions, not closures: no context to hold `sink`, about a third less memory while it waits
  if (out instanceof Promise) out.then(fulfilledIn.bind(sink), rejectedIn.bind(sink))
  else
    out.then(
      (v) => settleValue(v, sink),
      (e: unknown) => sink.error(e),
    )
}

/**
 * @internal `true` while a native Promise's reaction (a job of the microtask queue, never a synchronous
 * call) settles a sink through `settleTaskOutput`. A split reads it to share one clock reading among the
 * branch settlements of one microtask turn (streams/runSplitState.ts).
 */
export let settlingInReaction = false

const inReaction = (settle: (x: unknown, sink: OutputSink) => void, x: unknown, sink: OutputSink): void => {
  const outer = settlingInReaction
  settlingInReaction = true
  try {
    settle(x, sink)
  } finally {
    settlingInReaction = outer
  }
}

const settleError = (e: unknown, sink: OutputSink): void => sink.error(e)

/** A native Promise's reactions, bound to the sink (see {@link settleLater}). */
function fulfilledIn(this: OutputSink, v: unknown): void {
  inReaction(settleValue, v, this)
}
function rejectedIn(this: OutputSink, e: unknown): void {
  inReaction(settleError, e, this)
}

/**
 * @internal A pair of Promise callbacks bound once (per run) and lent to one pending output at a time, so
 * that awaiting a task's Promise allocates no closures. While one output holds it, {@link settleTaskOutput}
 * falls back to closures of its own for another: a callback always reaches the sink that lent it.
 */
export class ThenSlot {
  /** The sink of the output the callbacks are lent to; `undefined`: free. */
  sink: OutputSink | undefined = undefined
  // bound functions rather than arrow functions: no closure context per slot (a parked run holds its slot)
  readonly #onFulfilled: (v: unknown) => void = slotFulfilled.bind(this)
  readonly #onRejected: (e: unknown) => void = slotRejected.bind(this)
  /** Lends the callbacks to `out` for `sink` (the slot must be free). */
  await(out: PromiseLike<unknown>, sink: OutputSink): void {
    this.sink = sink
    try {
      out.then(this.#onFulfilled, this.#onRejected)
    } catch (e: unknown) {
      this.sink = undefined
      throw e
    }
  }
}

/** The fulfilment callback of a {@link ThenSlot} (bound to it). */
function slotFulfilled(this: ThenSlot, v: unknown): void {
  const sink = this.sink
  this.sink = undefined
  if (sink !== undefined) settleValue(v, sink)
}

/** The rejection callback of a {@link ThenSlot} (bound to it). */
function slotRejected(this: ThenSlot, e: unknown): void {
  const sink = this.sink
  this.sink = undefined
  sink?.error(e)
}

/** An Observable: its first value as it is, its error, or `empty` when it completes without one. */
const settleFirst = (out: Observable<unknown>, sink: OutputSink): void => {
  let emitted = false
  sink.add(
    out.pipe(take(1)).subscribe({
      next: (v) => {
        emitted = true
        sink.value(v)
      },
      error: (e: unknown) => sink.error(e),
      complete: () => {
        if (!emitted) sink.empty()
      },
    }),
  )
}

/** A value returned or resolved: an fp-ts `Either` is unwrapped (a `Left` is the error). */
const settleValue = (v: unknown, sink: OutputSink): void => {
  if (!isEither(v)) sink.value(v)
  else if (v._tag === 'Right') sink.value(v.right)
  else sink.error(v.left)
}

/** The sink of a {@link fromTaskOutput} subscription. */
class SubscriberSink implements OutputSink {
  constructor(private readonly subscriber: Subscriber<unknown>) {}
  value(v: unknown): void {
    this.subscriber.next(v)
    this.subscriber.complete()
  }
  error(e: unknown): void {
    this.subscriber.error(e)
  }
  empty(): void {
    this.subscriber.complete()
  }
  add(teardown: TeardownLogic): void {
    this.subscriber.add(teardown)
  }
}

/**
 * A cold Observable of the first value `thunk()` produces, read by the rules of a `TaskOutput`: a
 * function result is a `TaskEither` (called, its `Either` unwrapped), a Promise gives what it
 * resolves to, an Observable its first value. A throw, a rejection, an error or a `Left` becomes the
 * error; an Observable that completes empty completes it without a value. Synchronous values are
 * delivered synchronously, with no Promise in between.
 *
 * @param thunk - the task call; runs on each subscription
 * @returns a cold Observable of at most one value
 * @example
 * import { fromTaskOutput } from './fromTaskOutput.js'
 * fromTaskOutput(() => Promise.resolve('Done')).subscribe((s) => console.log(s)) // 'Done'
 * @see {@link task}, whose functions return a `TaskOutput`
 * @category constructors
 * @since 0.1.0
 */
export const fromTaskOutput = <A>(thunk: () => unknown): Observable<A> =>
  new Observable<A>((subscriber) => {
    let out: unknown
    try {
      out = thunk()
    } catch (e: unknown) {
      subscriber.error(e)
      return undefined
    }
    settleTaskOutput(out, new SubscriberSink(subscriber))
    return undefined
  })
