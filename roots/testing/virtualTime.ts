/**
 * `virtualTime`: a virtual clock for whole-run tests that keeps working when a checkpoint store, a
 * resource or a task awaits a Promise.
 *
 * RxJS's `TestScheduler` runs virtual time synchronously (`flush()`): the moment something awaits a
 * Promise, the continuation runs after the flush, time has already jumped, and a retry delay or a timeout
 * fires in the wrong place. This harness moves time one timer at a time instead and, before each, lets
 * the rest of the program catch up: it *settles*, turning the event loop until a turn passes in which
 * nothing happened (no timer scheduled or fired on the clock, no value from the source it drives, no
 * `setImmediate` callback and no file-system or DNS request in flight, as Node's
 * `process.getActiveResourcesInfo()` reports them). No real time passes while timers are due; a
 * 10-minute scenario runs in milliseconds and asserts exact instants.
 *
 * ```text
 * run$:      RunStarted ─ await store.append() ─ StateEntered ─ attempt 1 fails ─ retry in 100 ms …
 * harness:   settle ──────────────────────────────────────────── fire the 100 ms timer ─ settle …
 * ```
 *
 * Pass `t.scheduler` as the run's `scheduler` option (and to breakers, rate limiters, the scheduler's
 * clock): everything time-based in cano-rx reads it.
 *
 * What it cannot see: a reply on a socket that is already open (a PostgreSQL query, an HTTP keep-alive
 * connection). While such a reply is pending and a virtual timer is due, the timer fires first. Use it with
 * stores and resources that answer in-process (the memory store, SQLite through better-sqlite3, Promise
 * wrappers, file-system calls) and real time for network round trips.
 *
 * @since 0.2.0
 */
import { isObservable, type Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs'
import { VirtualTimeScheduler } from 'rxjs'

import { CanoFailure, configurationError } from '../../src/CanoError.js'
import { describeValue } from '../../src/internal/describeValue.js'
import { AssertionFailed } from './internal/assertionFailed.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link virtualTime}.
 *
 * @example
 * import type { VirtualTimeOptions } from 'cano-rx/testing'
 * const options: VirtualTimeOptions = { startMs: Date.UTC(2030, 0, 1) }
 * @category model
 * @since 0.2.0
 */
export interface VirtualTimeOptions {
  /** The clock's first reading, in epoch ms (default 0). */
  readonly startMs?: number
  /**
   * Real milliseconds one settle may take before it gives up (a program that keeps the event loop busy
   * forever, such as a `setImmediate` loop, never settles). Default 5 000.
   */
  readonly settleTimeoutMs?: number
}

/**
 * Options of {@link VirtualTime}'s `runUntilDone` and `runUntilIdle`.
 *
 * @example
 * import type { RunUntilOptions } from 'cano-rx/testing'
 * const withinAnHour: RunUntilOptions = { maxMs: 3_600_000, maxTimers: 1_000 }
 * @category model
 * @since 0.2.0
 */
export interface RunUntilOptions {
  /** Virtual milliseconds, from the call, that time may move (default: no limit). */
  readonly maxMs?: number
  /** Timers it may fire: a guard against a source that never ends, such as an interval (default 100 000). */
  readonly maxTimers?: number
  /**
   * `runUntilDone` only: real milliseconds to wait for outside work (a socket reply, a real timer) while the
   * source is not done and no virtual timer is pending, before it rejects. Default 2 000.
   */
  readonly stallMs?: number
}

/**
 * A virtual clock and the loop that drives it; see the module comment. Every method that moves time
 * returns a Promise: await it before the next.
 *
 * @example
 * import { RetryMode, task, workflow } from 'cano-rx'
 * import { Fault, injectFaults, virtualTime } from 'cano-rx/testing'
 * const flow = workflow<'Fetch' | 'Done'>()({
 *   exits: ['Done'],
 *   states: {
 *     Fetch: task(injectFaults(async () => 'Done' as const, { 1: Fault.fail(new Error('503')) }), {
 *       retry: RetryMode.fixed(1, 30_000),
 *     }),
 *   },
 * })
 * const t = virtualTime()
 * const events = await t.runUntilDone(flow.run$('Fetch', { scheduler: t.scheduler }))
 * t.now() // 30000: the retry waited 30 virtual seconds, no real ones
 * @see {@link virtualTime}
 * @category model
 * @since 0.2.0
 */
export interface VirtualTime {
  /** The virtual clock, to pass as a run's `scheduler` option and to breakers, limiters and schedulers. */
  readonly scheduler: SchedulerLike
  /** The clock's current reading, in ms. */
  readonly now: () => number
  /** Timers scheduled on the clock and not yet fired (nor cancelled). */
  readonly pending: () => number
  /** Lets Promise continuations and the work they start run, without moving time. */
  readonly settle: () => Promise<void>
  /** Moves time forward by `ms`, firing every timer due on the way in order, settling before each and after. */
  readonly advance: (ms: number) => Promise<void>
  /** Moves time from timer to timer until none is pending (or `maxMs` / `maxTimers` is reached). */
  readonly runUntilIdle: (options?: RunUntilOptions) => Promise<void>
  /**
   * Subscribes to `source` and moves time from timer to timer until it completes; resolves with every value
   * it emitted (for a run: its events) or rejects with its error. Given a Promise, drives time until it
   * settles and resolves (or rejects) as it does. Rejects with an `AssertionError` when the source is not done
   * within `maxMs` or `maxTimers`, or waits on nothing the clock drives for `stallMs` (it then unsubscribes).
   */
  readonly runUntilDone: {
    <T>(source: Observable<T>, options?: RunUntilOptions): Promise<ReadonlyArray<T>>
    <T>(source: PromiseLike<T>, options?: RunUntilOptions): Promise<T>
  }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Creates a {@link VirtualTime}: a virtual clock starting at `startMs` and the loop that drives it.
 *
 * @param options - the clock's start and how long a settle may take
 * @returns the harness
 * @throws {@link CanoFailure} with a `Configuration` error for a `startMs` or `settleTimeoutMs` that is not a
 *   finite non-negative number
 * @example
 * import { memoryCheckpoints, Resources, RetryMode, sleep, task, workflow } from 'cano-rx'
 * import { createRecorder, virtualTime } from 'cano-rx/testing'
 * type Step = 'Charge' | 'Wait' | 'Done'
 * const ledger = { write: async (entry: string) => entry.length } // a Promise-returning resource
 * const flow = workflow<Step>()({
 *   resources: Resources.of({ ledger }),
 *   exits: ['Done'],
 *   checkpoints: memoryCheckpoints(),
 *   states: ({ task }) => ({
 *     Charge: task(async ({ res }) => ((await res.get('ledger').write('charged')) > 0 ? 'Wait' : 'Done')),
 *     Wait: sleep({ wait: 60_000, then: 'Done' }),
 *   }),
 * })
 * const t = virtualTime()
 * const rec = createRecorder<Step>()
 * const final = await t.runUntilDone(flow.orchestrate('Charge', { workflowId: 'o-1', scheduler: t.scheduler, observers: [rec] }))
 * rec.assertPath(['Charge', 'Wait', 'Done'])
 * t.now() // 60000
 * @see {@link VirtualTime}
 * @category constructors
 * @since 0.2.0
 */
export const virtualTime = (options: VirtualTimeOptions = {}): VirtualTime => {
  const startMs = checkMs('virtualTime', 'startMs', options.startMs, 0)
  const settleTimeoutMs = checkMs('virtualTime', 'settleTimeoutMs', options.settleTimeoutMs, 5_000)
  const clock = new Clock(startMs)
  /** Values the driven source emitted: activity the settle loop watches. */
  let emitted = 0

  const activity = (): string => `${clock.scheduled}:${clock.fired}:${clock.actions.length}:${emitted}`

  /** The settle in progress: a caller arriving meanwhile joins it (two loops would see each other as work). */
  let settling: Promise<void> | undefined
  const settle = (): Promise<void> =>
    (settling ??= settleLoop().finally(() => {
      settling = undefined
    }))

  const settleLoop = async (): Promise<void> => {
    const started = performance.now()
    for (let quiet = 0; quiet < QUIET_TURNS;) {
      const before = activity()
      await macrotask()
      quiet = activity() === before && !busy() ? quiet + 1 : 0
      if (quiet === 0 && performance.now() - started > settleTimeoutMs)
        throw new AssertionFailed(
          `virtualTime: the program did not settle within ${settleTimeoutMs} real ms: something keeps the event loop busy (a setImmediate loop, a stream of file-system calls)`,
        )
    }
  }

  const advance = async (ms: number): Promise<void> => {
    const by = checkMs('advance', 'ms', ms, 0)
    const target = clock.frame + by
    await settle()
    for (let next = clock.next(); next !== undefined && next.delay <= target; next = clock.next()) {
      clock.fire(next)
      await settle()
    }
    clock.frame = Math.max(clock.frame, target)
    await settle()
  }

  const limits = (what: string, o: RunUntilOptions | undefined) => {
    const maxMs = checkMs(what, 'maxMs', o?.maxMs, Number.POSITIVE_INFINITY)
    const maxTimers = checkCount(what, 'maxTimers', o?.maxTimers, 100_000)
    const stallMs = checkMs(what, 'stallMs', o?.stallMs, 2_000)
    return { until: clock.frame + maxMs, maxMs, maxTimers, stallMs }
  }

  const runUntilIdle = async (o?: RunUntilOptions): Promise<void> => {
    const { until, maxTimers } = limits('runUntilIdle', o)
    await settle()
    for (let fired = 0, next = clock.next(); next !== undefined && next.delay <= until; next = clock.next()) {
      if (fired++ >= maxTimers)
        throw new AssertionFailed(`runUntilIdle: still busy after firing ${maxTimers} timers (at ${clock.frame} ms)`)
      clock.fire(next)
      await settle()
    }
  }

  /** Fires timer after timer until `isDone()`; see `runUntilDone`. */
  const drive = async (isDone: () => boolean, o: RunUntilOptions | undefined): Promise<void> => {
    const { until, maxMs, maxTimers, stallMs } = limits('runUntilDone', o)
    let fired = 0
    for (;;) {
      await settle()
      if (isDone()) return
      const next = clock.next()
      if (next === undefined) {
        await waitForOutside(isDone, stallMs)
        continue
      }
      if (next.delay > until)
        throw new AssertionFailed(
          `runUntilDone: not done after ${maxMs} virtual ms (now ${clock.frame} ms; the next timer is due at ${next.delay} ms)`,
        )
      if (fired++ >= maxTimers)
        throw new AssertionFailed(
          `runUntilDone: not done after firing ${maxTimers} timers (now ${clock.frame} ms): does the source ever complete?`,
        )
      clock.fire(next)
    }
  }

  /** No timer is pending and the source is not done: waits (in real time) for outside work to move it. */
  const waitForOutside = async (isDone: () => boolean, stallMs: number): Promise<void> => {
    const started = performance.now()
    const before = activity()
    while (performance.now() - started <= stallMs) {
      await realDelay(1)
      await settle()
      if (isDone() || activity() !== before || clock.next() !== undefined) return
    }
    throw new AssertionFailed(
      `runUntilDone: the source is not done, no virtual timer is pending and nothing happened for ${stallMs} real ms ` +
        `(at ${clock.frame} virtual ms): it waits on something this clock does not drive (was the run given ` +
        '`scheduler: t.scheduler`? does a task use a real timer, or a Promise that never settles?)',
    )
  }

  function runUntilDone<T>(source: Observable<T>, o?: RunUntilOptions): Promise<ReadonlyArray<T>>
  function runUntilDone<T>(source: PromiseLike<T>, o?: RunUntilOptions): Promise<T>
  async function runUntilDone<T>(
    source: Observable<T> | PromiseLike<T>,
    o?: RunUntilOptions,
  ): Promise<ReadonlyArray<T> | T> {
    if (isObservable(source)) {
      const values: T[] = []
      let outcome: { readonly error: unknown } | 'completed' | undefined
      const sub: Subscription = source.subscribe({
        next: (v) => {
          values.push(v)
          emitted += 1
        },
        error: (e: unknown) => {
          outcome = { error: e }
        },
        complete: () => {
          outcome = 'completed'
        },
      })
      try {
        await drive(() => outcome !== undefined, o)
      } finally {
        sub.unsubscribe()
      }
      const ended = outcome as { readonly error: unknown } | 'completed'
      if (ended !== 'completed') throw ended.error
      return values
    }
    if (!isPromiseLike(source))
      throw new CanoFailure(
        configurationError(`runUntilDone: source must be an Observable or a Promise, got ${describeValue(source)}`),
      )
    let result: { readonly value: T } | { readonly error: unknown } | undefined
    void Promise.resolve(source).then(
      (value) => {
        result = { value }
        emitted += 1
      },
      (error: unknown) => {
        result = { error }
        emitted += 1
      },
    )
    await drive(() => result !== undefined, o)
    const ended = result as { readonly value: T } | { readonly error: unknown }
    if ('error' in ended) throw ended.error
    return ended.value
  }

  return {
    scheduler: clock,
    now: () => clock.now(),
    pending: () => clock.actions.filter((a) => !a.closed).length,
    settle,
    advance,
    runUntilIdle,
    runUntilDone,
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The clock: a `VirtualTimeScheduler` that counts what is scheduled and fired, and fires one timer at a time. */
class Clock extends VirtualTimeScheduler {
  scheduled = 0
  fired = 0
  constructor(startMs: number) {
    super()
    this.frame = startMs
  }
  override schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
    this.scheduled += 1
    return super.schedule(work, delay, state)
  }
  /** The first timer due (actions are sorted by due time, then by scheduling order; `delay` is the due time). */
  next(): (typeof this.actions)[number] | undefined {
    return this.actions[0]
  }
  /** Fires `action` (the first one), moving the clock to its due time. */
  fire(action: (typeof this.actions)[number]): void {
    this.actions.shift()
    this.frame = Math.max(this.frame, action.delay)
    this.fired += 1
    const error: unknown = action.execute(action.state, action.delay)
    if (error !== undefined)
      throw error instanceof Error ? error : new Error('virtualTime: a scheduled action threw', { cause: error })
  }
}

interface HostTimers {
  readonly setImmediate?: (callback: () => void) => unknown
  readonly process?: { readonly getActiveResourcesInfo?: () => string[] }
}

const host: HostTimers = globalThis

/**
 * Quiet event-loop turns in a row that make a settle: 2 where Node reports work in flight (`busy`), more
 * elsewhere, where a chain of macrotasks between two visible steps can only be waited out.
 */
const QUIET_TURNS = host.process?.getActiveResourcesInfo === undefined ? 10 : 2

/** One turn of the event loop: a macrotask boundary, so every queued microtask has run. */
const macrotask = (): Promise<void> =>
  new Promise<void>((resolve) => {
    const immediate = host.setImmediate
    if (immediate !== undefined) immediate(resolve)
    else setTimeout(resolve, 0)
  })

const realDelay = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Node's resources that mean work in flight: a queued `setImmediate`, a request to the thread pool or the
 * resolver (file system, DNS: `FSReqPromise`, `FSReqCallback`, `CloseReq`, `GetAddrInfoReqWrap`…) or a
 * connection being opened. Open sockets and servers are not: they stay open between requests.
 */
const inFlight = (resource: string): boolean =>
  resource === 'Immediate' || /Req/.test(resource) || resource === 'TCPConnectWrap' || resource === 'PipeConnectWrap'

/** `true` while Node reports work in flight (always `false` where the information is not available). */
const busy = (): boolean => {
  const proc = host.process
  if (proc?.getActiveResourcesInfo === undefined) return false
  return proc.getActiveResourcesInfo().some(inFlight)
}

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === 'object' && u !== null && 'then' in u && typeof u.then === 'function'

/** A duration or instant option: a finite number >= 0, or `undefined` for `fallback`. */
const checkMs = (what: string, name: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value === 'number' && value >= 0 && Number.isFinite(value)) return value
  throw new CanoFailure(
    configurationError(`${what}: ${name} must be a finite number >= 0, got ${describeValue(value)}`),
  )
}

/** A count option: a positive integer, or `undefined` for `fallback`. */
const checkCount = (what: string, name: string, value: unknown, fallback: number): number => {
  if (value === undefined) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value
  throw new CanoFailure(configurationError(`${what}: ${name} must be a positive integer, got ${describeValue(value)}`))
}
