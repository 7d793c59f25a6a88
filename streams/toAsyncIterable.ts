/**
 * `toAsyncIterable`: a cold Observable as an `AsyncIterable`, for `for await` loops.
 *
 * - **Cold, one subscription per loop.** Each `[Symbol.asyncIterator]()` is its own subscription, made
 *   at the first `next()` (an iterator never pulled subscribes to nothing).
 * - **Buffered, never dropped.** The source is not slowed by the loop (a run does not wait for its
 *   consumer): values that arrive while the loop body runs queue in order and are handed out one per
 *   `next()`. The queue holds the values not handed out yet (it is compacted as the loop catches up).
 * - **Cleanup.** Leaving the loop (`break`, `return`, a `throw` in its body) calls `return()`, which
 *   unsubscribes at once; for a run that is what unsubscribing from `run$` is (a cancellation).
 * - **Errors.** The source's error rejects the `next()` that reaches it, as a `CanoFailure`, after the
 *   values before it; the iterator is done after that.
 *
 * @internal
 * @since 0.3.0
 */
import type { Observable, Subscription } from 'rxjs'

import type { CanoFailure } from '../src/CanoError.js'
import { toCanoFailure } from '../src/CanoError.js'

/** @internal Each iteration of the result subscribes to `source()` once (see the module comment). */
export const toAsyncIterable = <T>(source: () => Observable<T>): AsyncIterable<T> => ({
  [Symbol.asyncIterator]: () => new ObservableIterator<T>(source),
})

/** A `next()` waiting for a value. */
interface Pull<T> {
  readonly resolve: (r: IteratorResult<T, undefined>) => void
  readonly reject: (e: unknown) => void
}

/** Where the iterator is: `Idle` before its first pull, `Open` while subscribed, `Done` after the end. */
type Phase = 'Idle' | 'Open' | 'Done'

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined })

class ObservableIterator<T> implements AsyncIterableIterator<T, undefined> {
  private phase: Phase = 'Idle'
  private sub: Subscription | undefined
  /** Values not handed out yet: `values[head..]`. */
  private values: T[] = []
  private head = 0
  /** Pulls waiting for a value (more than one when `next()` is called without awaiting). */
  private pulls: Pull<T>[] = []
  /** The source's error, until a pull takes it. */
  private failure: CanoFailure | undefined

  constructor(private readonly source: () => Observable<T>) {}

  [Symbol.asyncIterator](): this {
    return this
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.phase === 'Idle') this.open()
    if (this.head < this.values.length) return Promise.resolve({ done: false, value: this.take() })
    const failure = this.failure
    if (failure !== undefined) {
      this.failure = undefined
      return Promise.reject(failure)
    }
    if (this.phase === 'Done') return Promise.resolve(DONE)
    return new Promise((resolve, reject) => this.pulls.push({ resolve, reject }))
  }

  /** Leaves the loop: unsubscribes (a run is cancelled) and drops what was not handed out. */
  return(): Promise<IteratorResult<T, undefined>> {
    const sub = this.sub
    this.close()
    this.values = []
    this.head = 0
    this.failure = undefined
    sub?.unsubscribe()
    return Promise.resolve(DONE)
  }

  private open(): void {
    this.phase = 'Open'
    let sub: Subscription | undefined
    try {
      sub = this.source().subscribe({
        next: (v) => this.push(v),
        error: (e: unknown) => this.fail(e),
        complete: () => this.close(),
      })
    } catch (e: unknown) {
      return this.fail(e)
    }
    // a source that ended while subscribing holds nothing more
    if (this.isOpen()) this.sub = sub
  }

  /** Read through a method: the callbacks change `phase` behind the compiler's narrowing. */
  private isOpen(): boolean {
    return this.phase === 'Open'
  }

  private push(v: T): void {
    if (this.phase !== 'Open') return
    const pull = this.pulls.shift()
    if (pull !== undefined) pull.resolve({ done: false, value: v })
    else this.values.push(v)
  }

  private fail(e: unknown): void {
    if (this.phase !== 'Open') return
    const failure = toCanoFailure(e)
    const [first, ...rest] = this.pulls
    this.pulls = []
    this.close()
    if (first === undefined) this.failure = failure
    else {
      first.reject(failure)
      for (const p of rest) p.resolve(DONE)
    }
  }

  /** The end: waiting pulls are done. */
  private close(): void {
    this.phase = 'Done'
    this.sub = undefined
    const pulls = this.pulls
    this.pulls = []
    for (const p of pulls) p.resolve(DONE)
  }

  /** The oldest value not handed out; the queue is compacted once half of it is handed out. */
  private take(): T {
    const v = this.values[this.head] as T
    this.head += 1
    if (this.head === this.values.length) {
      this.values = []
      this.head = 0
    } else if (this.head >= 64 && this.head * 2 >= this.values.length) {
      this.values = this.values.slice(this.head)
      this.head = 0
    }
    return v
  }
}
