/**
 * The one virtual clock of the tests: an RxJS scheduler (a `VirtualTimeScheduler`) whose time only moves
 * when a test says so. Everything time-based in cano-rx takes a scheduler, so one clock drives them all:
 * pass it as `scheduler` to `createCircuitBreaker`, to the rate limiters, and as the run option
 * `scheduler` (timers, retries, attempt and total timeouts, the scheduler's ticks).
 *
 * - `advance(ms)` moves time forward, firing every action due on the way in order, one at a time, and
 *   lets the Promise continuations each one triggers run before the next (a limiter's `acquire` resolves a
 *   Promise; the engine goes on from there). No real timer is involved, so a 10-second scenario runs in
 *   milliseconds and asserts exact instants.
 * - `advanceSync(ms)` does the same without waiting for Promise continuations, for code that has none in
 *   between (a breaker read synchronously, an RxJS pipeline).
 * - `runUntilIdle(maxMs)` moves to each next due action until none is left (at most `maxMs` ahead).
 *
 * Marble tests use {@link testScheduler} (below), RxJS's `TestScheduler`: it is a `VirtualTimeScheduler`
 * too, so it can be passed as `scheduler` the same way.
 *
 * The public harness, `virtualTime()` from `cano-rx/testing` (roots/testing/virtualTime.ts), is the sturdier
 * version of this clock: it settles until the event loop is quiet (chains of `setImmediate`, file-system
 * calls) rather than for one turn. Whole-run tests with a store or Promise-based resources should use it.
 */
import { expect } from 'chai'
import { VirtualTimeScheduler } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'

/** Lets every queued Promise continuation run (a macrotask boundary drains the microtask queue). */
export const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class VirtualClock extends VirtualTimeScheduler {
  constructor(startMs = 0) {
    super()
    this.frame = startMs
  }

  /** Actions scheduled and neither fired nor cancelled. */
  pending(): number {
    return this.actions.filter((a) => !a.closed).length
  }

  /** Moves time forward by `ms`, firing every action due on the way, in order, draining Promises between. */
  async advance(ms: number): Promise<void> {
    await this.#advanceTo(this.frame + ms)
  }

  /** Moves time forward by `ms`, firing every action due on the way, in order (synchronously). */
  advanceSync(ms: number): void {
    const target = this.frame + ms
    while (this.#fireNext(target)) {
      // fire the actions due by `target`, one by one
    }
    this.frame = Math.max(this.frame, target)
  }

  /** Moves time to each next action's due time until none is pending (at most `maxMs` ahead). */
  async runUntilIdle(maxMs = Number.POSITIVE_INFINITY): Promise<void> {
    const limit = this.frame + maxMs
    await flushMicrotasks()
    for (;;) {
      const next = this.actions[0]
      if (next === undefined || next.delay > limit) return
      await this.#advanceTo(next.delay)
    }
  }

  async #advanceTo(target: number): Promise<void> {
    await flushMicrotasks()
    while (this.#fireNext(target)) await flushMicrotasks()
    this.frame = Math.max(this.frame, target)
    await flushMicrotasks()
  }

  /**
   * Fires the first action due by `target`, if any. `actions` is kept sorted by due time, then by
   * scheduling order (rxjs `VirtualAction.sortActions`); a `VirtualAction`'s `delay` is its due time.
   */
  #fireNext(target: number): boolean {
    const action = this.actions[0]
    if (action === undefined || action.delay > target) return false
    this.actions.shift()
    this.frame = Math.max(this.frame, action.delay)
    const error: unknown = action.execute(action.state, action.delay)
    if (error !== undefined)
      throw error instanceof Error ? error : new Error('a scheduled action threw', { cause: error })
    return true
  }
}

export const createVirtualClock = (startMs = 0): VirtualClock => new VirtualClock(startMs)

/**
 * The `TestScheduler` for marble tests, from the same module as {@link createVirtualClock}: values and
 * subscriptions are compared with chai's `deep.equal`, so a failure prints a structural diff. Use it as
 * `testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => { … })`. It is a
 * `VirtualTimeScheduler` too: pass it as the `scheduler` of a breaker, a limiter or a run.
 */
export const testScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected)
  })
