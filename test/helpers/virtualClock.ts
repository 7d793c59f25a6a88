/**
 * A virtual clock for Promise-based code that takes an injected `now` and `sleep` (rate limiters): time
 * only moves when a test calls `advance(ms)` (or `runUntilIdle()`), which fires the due sleeps in order
 * and lets the Promise continuations they trigger run before moving on. No real timer is involved, so a
 * 10-second scenario runs in milliseconds and asserts exact instants.
 */

export interface VirtualClock {
  /** The current virtual time in ms. */
  readonly now: () => number
  /** A `Sleep`: resolves when virtual time reaches `now + ms`, or at once when `signal` aborts. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Moves time forward by `ms`, firing every sleep due on the way, in order. */
  readonly advance: (ms: number) => Promise<void>
  /** Moves time to each next sleep's deadline until no sleep is pending (at most `maxMs` ahead). */
  readonly runUntilIdle: (maxMs?: number) => Promise<void>
  /** Sleeps not yet fired nor aborted. */
  readonly pending: () => number
}

interface Timer {
  readonly dueMs: number
  readonly seq: number
  readonly fire: () => void
}

/** Lets every queued Promise continuation run (a macrotask boundary drains the microtask queue). */
export const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export const createVirtualClock = (startMs = 0): VirtualClock => {
  let nowMs = startMs
  let seq = 0
  let timers: Timer[] = []

  const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted === true) {
        resolve()
        return
      }
      const onAbort = (): void => {
        timers = timers.filter((t) => t !== timer)
        resolve()
      }
      const timer: Timer = {
        dueMs: nowMs + Math.max(0, ms),
        seq: seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      timers.push(timer)
      signal?.addEventListener('abort', onAbort, { once: true })
    })

  const nextDue = (): Timer | undefined =>
    timers.reduce<Timer | undefined>(
      (best, t) =>
        best === undefined || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.seq < best.seq) ? t : best,
      undefined,
    )

  const advanceTo = async (targetMs: number): Promise<void> => {
    await flushMicrotasks()
    for (;;) {
      const t = nextDue()
      if (t === undefined || t.dueMs > targetMs) break
      timers = timers.filter((x) => x !== t)
      nowMs = Math.max(nowMs, t.dueMs)
      t.fire()
      await flushMicrotasks()
    }
    nowMs = Math.max(nowMs, targetMs)
    await flushMicrotasks()
  }

  return {
    now: () => nowMs,
    sleep,
    advance: (ms) => advanceTo(nowMs + ms),
    runUntilIdle: async (maxMs = Number.POSITIVE_INFINITY) => {
      const limit = nowMs + maxMs
      await flushMicrotasks()
      for (;;) {
        const t = nextDue()
        if (t === undefined || t.dueMs > limit) return
        await advanceTo(t.dueMs)
      }
    },
    pending: () => timers.length,
  }
}
