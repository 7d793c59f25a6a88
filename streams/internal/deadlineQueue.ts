/**
 * `deadlineQueue`: the attempt deadlines of every run on one scheduler, behind one scheduled wake-up.
 *
 * An attempt timeout used to arm one RxJS action per attempt (with `asyncScheduler`, a `setInterval` and a
 * `clearInterval`). Here each scheduler has one queue: a binary min-heap of deadlines ordered by due time,
 * then by insertion (deadlines due at the same instant expire in the order they were added), and one
 * action scheduled on the scheduler for the earliest one. Adding a deadline arms nothing unless it is due
 * before the armed wake-up (then it arms at once, even while deadlines expire: a deadline's wake-up is
 * scheduled before any action scheduled after it for the same instant); cancelling one only marks it (it leaves the heap when it reaches the top, or
 * in a compaction once most of the heap is cancelled). When the wake-up fires it expires every deadline
 * due by then and arms itself for the next.
 *
 * When no deadline is left, the wake-up is released: on a Node timer (`asyncScheduler`: the action's
 * handle has `unref`) it stays armed, and is unreferenced if the queue is still idle after the current
 * turn of the event loop, so it costs the next attempt nothing and keeps no process alive; on any other scheduler (virtual time: `TestScheduler`, `VirtualTimeScheduler`) it is
 * cancelled, so nothing is left pending once every attempt has settled. Everything reads the scheduler's
 * clock, so the queue runs in virtual time like the actions it replaces.
 *
 * @internal
 * @since 0.4.0
 */
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs'

import { MAX_TIMER_MS } from '../../src/internal/timers.js'

/**
 * @internal A deadline in a {@link DeadlineQueue}. The three fields are the queue's to write (an object can
 * carry its own deadline without allocating one: the engine's inline attempt does).
 */
export interface Deadline {
  /** When it expires, on its queue's clock. */
  deadlineAt: number
  /** Insertion order: deadlines due at the same instant expire in this order. */
  deadlineSeq: number
  /** Still queued: neither expired nor cancelled. */
  deadlineQueued: boolean
  /** Called once, when the deadline passes (not after a cancellation). */
  expire(): void
}

/** The handle of a Node timer (what an `asyncScheduler` action holds as its `id`). */
interface NodeTimer {
  ref(): unknown
  unref(): unknown
  hasRef?: () => boolean
}

const isNodeTimer = (u: unknown): u is NodeTimer =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { unref?: unknown }).unref === 'function' &&
  typeof (u as { ref?: unknown }).ref === 'function'

/** Empties `heap`, keeping its backing store (`length = 0` drops it: the next push would allocate one). */
const clear = (heap: Deadline[]): void => {
  while (heap.length > 0) heap.pop()
}

/** `a` expires before `b`. */
const before = (a: Deadline, b: Deadline): boolean =>
  a.deadlineAt < b.deadlineAt || (a.deadlineAt === b.deadlineAt && a.deadlineSeq < b.deadlineSeq)

/** @internal The deadlines of one scheduler (see the module comment). Get it with {@link deadlineQueueOf}. */
export class DeadlineQueue {
  readonly #scheduler: SchedulerLike
  readonly #heap: Deadline[] = []
  /** Deadlines queued and not cancelled. */
  #live = 0
  #seq = 0
  /** Expiring deadlines: cancels wait for the re-arm at the end (an add arms at once if it must). */
  #firing = false
  /** When the armed wake-up fires (`Infinity`: none armed). */
  #wakeAt = Number.POSITIVE_INFINITY
  #action: Subscription | undefined = undefined
  /** The armed action's Node timer, while it is unreferenced (no deadline left). */
  #idleTimer: NodeTimer | undefined = undefined

  /** The scheduled work of every queue's wake-up (the queue is the action's state). */
  static #wake(this: SchedulerAction<DeadlineQueue>, queue: DeadlineQueue | undefined): void {
    if (queue !== undefined) queue.#fire()
  }

  constructor(scheduler: SchedulerLike) {
    this.#scheduler = scheduler
  }

  /** Deadlines queued and not cancelled. */
  get size(): number {
    return this.#live
  }

  /** Whether the armed wake-up is a Node timer that keeps the process alive (`undefined`: none armed or not a Node timer). */
  get holdsProcess(): boolean | undefined {
    const id: unknown = (this.#action as { id?: unknown } | undefined)?.id
    if (!isNodeTimer(id)) return undefined
    return typeof id.hasRef === 'function' ? id.hasRef() : this.#idleTimer === undefined
  }

  /** Queues `d` to expire `delayMs` from `now` (default: the scheduler's clock now). */
  add(d: Deadline, delayMs: number, now: number = this.#scheduler.now()): void {
    d.deadlineAt = now + delayMs
    d.deadlineSeq = this.#seq++
    d.deadlineQueued = true
    this.#push(d)
    this.#live++
    // armed now even while deadlines expire (the re-arm at the end then finds it armed): the wake-up is
    // scheduled before anything the caller schedules next, so a deadline fires before an action due at
    // its very instant that was scheduled after it (an attempt's deadline before its task's timer)
    if (d.deadlineAt < this.#wakeAt) this.#arm(d.deadlineAt, now)
    else if (this.#idleTimer !== undefined) {
      this.#idleTimer.ref()
      this.#idleTimer = undefined
    }
  }

  /** Takes `d` out of the queue: it will not expire. Does nothing once it expired or was cancelled. */
  cancel(d: Deadline): void {
    if (!d.deadlineQueued) return
    d.deadlineQueued = false
    const heap = this.#heap
    if (--this.#live === 0) {
      clear(heap)
      if (!this.#firing) this.#idle()
    } else if (heap.length > 64 && heap.length > 4 * this.#live) this.#compact()
  }

  /**
   * No deadline left: an armed Node timer stays armed, and is unreferenced once the queue is still idle
   * after the current turn of the event loop (a check in `setImmediate`: a run whose attempts follow each
   * other in microtasks toggles nothing per attempt); any other action is cancelled at once.
   */
  #idle(): void {
    const action = this.#action
    if (action === undefined) return
    const id: unknown = (action as { id?: unknown }).id
    if (isNodeTimer(id)) {
      if (this.#idleTimer === undefined && !this.#idleCheck) {
        this.#idleCheck = true
        setImmediate(DeadlineQueue.#checkIdle, this)
      }
      return
    }
    action.unsubscribe()
    this.#action = undefined
    this.#wakeAt = Number.POSITIVE_INFINITY
  }

  /** A `setImmediate` check is pending (see {@link #idle}). */
  #idleCheck = false

  /** The idle check: still no deadline, and the armed action a Node timer, referenced: unreference it. */
  static #checkIdle(queue: DeadlineQueue): void {
    queue.#idleCheck = false
    if (queue.#live !== 0 || queue.#idleTimer !== undefined || queue.#action === undefined) return
    const id: unknown = (queue.#action as { id?: unknown }).id
    if (isNodeTimer(id)) {
      id.unref()
      queue.#idleTimer = id
    }
  }

  /** Arms the wake-up for `at` (the earliest deadline), replacing the armed one. */
  #arm(at: number, now: number): void {
    this.#action?.unsubscribe()
    this.#idleTimer = undefined
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_MS)
    this.#wakeAt = now + delay
    this.#action = this.#scheduler.schedule(DeadlineQueue.#wake, delay, this)
  }

  /** The wake-up: expires every deadline due by now, in order, then arms for the next one. */
  #fire(): void {
    this.#action = undefined
    this.#idleTimer = undefined
    this.#wakeAt = Number.POSITIVE_INFINITY
    const heap = this.#heap
    const now = this.#scheduler.now()
    this.#firing = true
    try {
      for (let top = heap[0]; top !== undefined; top = heap[0]) {
        if (!top.deadlineQueued) {
          this.#pop()
          continue
        }
        if (top.deadlineAt > now) break
        this.#pop()
        top.deadlineQueued = false
        this.#live--
        top.expire()
      }
    } finally {
      this.#firing = false
      this.#rearm(now)
    }
  }

  /** After a wake-up (or adds and cancels made while it ran): arms for the earliest live deadline. */
  #rearm(now: number): void {
    const heap = this.#heap
    if (this.#live === 0) {
      clear(heap)
      return this.#idle()
    }
    let top = heap[0]
    while (top !== undefined && !top.deadlineQueued) {
      this.#pop()
      top = heap[0]
    }
    if (top !== undefined && top.deadlineAt < this.#wakeAt) this.#arm(top.deadlineAt, now)
  }

  /** Drops the cancelled deadlines and rebuilds the heap. */
  #compact(): void {
    const heap = this.#heap
    let n = 0
    for (let i = 0; i < heap.length; i++) {
      const d = heap[i] as Deadline
      if (d.deadlineQueued) heap[n++] = d
    }
    heap.length = n
    for (let i = (n >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  #push(d: Deadline): void {
    const heap = this.#heap
    let i = heap.length
    heap.push(d)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as Deadline
      if (!before(d, p)) break
      heap[i] = p
      i = parent
    }
    heap[i] = d
  }

  #pop(): void {
    const heap = this.#heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
    heap[0] = last
    this.#down(0)
  }

  #down(i: number): void {
    const heap = this.#heap
    const n = heap.length
    const d = heap[i] as Deadline
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && before(heap[r] as Deadline, heap[l] as Deadline) ? r : l
      const c = heap[child] as Deadline
      if (!before(c, d)) break
      heap[i] = c
      i = child
    }
    heap[i] = d
  }
}

const queues = new WeakMap<SchedulerLike, DeadlineQueue>()
/** The queue of `asyncScheduler` on its own clock (`Date.now()`), the common case, without a map lookup. */
let realQueue: DeadlineQueue | undefined
/** A reading of `asyncScheduler`'s clock found to be the real clock (see `queueAt`); `+Infinity`: none yet. */
let realSince = Number.POSITIVE_INFINITY

/**
 * @internal The deadline queue of `scheduler` (one per scheduler, created on first use). Inside RxJS's
 * `TestScheduler.run`, `asyncScheduler` runs on that session's virtual clock (RxJS points its time
 * providers at the test scheduler), which is no longer `Date.now()`: such a call gets a queue of its own,
 * so that nothing armed on one clock stands in for a deadline on another.
 */
export const deadlineQueueOf = (scheduler: SchedulerLike): DeadlineQueue => queueAt(scheduler, scheduler.now())

/**
 * @internal Queues `d` to expire `delayMs` from now in the deadline queue of `scheduler` (see
 * {@link deadlineQueueOf}), reading the clock once; returns the queue, where `d` is cancelled.
 */
export const queueDeadline = (scheduler: SchedulerLike, d: Deadline, delayMs: number): DeadlineQueue => {
  const now = scheduler.now()
  const q = queueAt(scheduler, now)
  q.add(d, delayMs, now)
  return q
}

/** The queue of `scheduler` whose clock reads `now`. */
const queueAt = (scheduler: SchedulerLike, now: number): DeadlineQueue => {
  if (scheduler === asyncScheduler) {
    // a clock read within a minute after one checked against `Date.now()` is the real clock too: the
    // check's own clock read (~0.1 µs, a third of an attempt timeout's cost) is spared
    if (now < realSince || now - realSince >= VIRTUALIZED_MS) {
      if (Math.abs(now - Date.now()) > VIRTUALIZED_MS) return new DeadlineQueue(scheduler)
      realSince = now
    }
    return (realQueue ??= new DeadlineQueue(scheduler))
  }
  let q = queues.get(scheduler)
  if (q === undefined) {
    q = new DeadlineQueue(scheduler)
    queues.set(scheduler, q)
  }
  return q
}

/** How far `asyncScheduler`'s clock must be from `Date.now()` to be a virtual one (frames start at 0). */
const VIRTUALIZED_MS = 60_000
