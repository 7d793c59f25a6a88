/**
 * The frame every state kind runs in: `runStateBody` emits `TaskStarted`, lets the kind's body run,
 * validates the state it settles on (a string, inside the declared targets), emits `TaskSucceeded`
 * or `TaskFailed` (plus `CircuitRejected` for a breaker rejection) and emits the next state once.
 * A body settles synchronously or later; a success inside the body's own call is delivered once the
 * call returns, and the engine's run loop turns it into the next visit without recursing, so a run of
 * synchronous states never grows the stack.
 *
 * @internal
 * @since 0.1.0
 */
import { Observable, type Subscriber, Subscription, type TeardownLogic, type Unsubscribable } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { toCanoError, workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import { type AttemptEnv, isCircuitRejection } from './runTask.js'

/** @internal Everything a state kind needs to run one visit of its state. */
export interface StateEnv<S extends string, R extends ResourceRecord> extends AttemptEnv<S, R> {
  readonly config: ResolvedTaskConfig
  /** Declared targets of the state, if any. */
  readonly to: ReadonlySet<string> | undefined
  /** `true` when attempt 1 may run inline (no breaker or limiter to consult first). */
  readonly fast: boolean
  /** A split state hands its result to the state it joins into. */
  readonly publishSplit: (result: SplitResult) => void
}

/**
 * @internal How a kind's body reports its outcome. Settling twice is ignored. Call the methods on the
 * object (`settle.succeed(...)`): they are prototype methods of the visit's frame, not closures.
 */
export interface Settle {
  /** The state chose `next` after `attempts` attempts. Safe to call synchronously. */
  succeed(next: unknown, attempts: number): void
  /**
   * The state failed with `thrown` (converted with `toCanoError`; a `CircuitRejection` is unwrapped);
   * `attempts`: how many attempts its work made, when it ran under the retry loop.
   */
  fail(thrown: unknown, attempts?: number): void
  /** Subscriptions the body starts are added here and released with the state (at once if it is released). */
  add(teardown: TeardownLogic): void
}

/** @internal Where a visit reports: exactly one of the two, once. */
export interface StateSink<S extends string> {
  stateDone(next: S): void
  /** `attempts`: how many attempts the state's work made, when known. */
  stateFailed(error: CanoError, attempts?: number): void
}

/** The outcome of a body that settled inside its own call, delivered once the call has returned. */
const NOTHING: unique symbol = Symbol('nothing')

/** `StateFrame.flags`: the body reported its outcome (settling twice is ignored). */
const SETTLED = 1
/** The visit was released: what the body still reports is dropped. */
const RELEASED = 2
/** The body's own call is running: a success is kept until it returns. */
const SYNCHRONOUS = 4
/** `teardown` is the frame's own Subscription collecting several teardowns (not one teardown as given). */
const SHARED = 8

/**
 * @internal One visit of a state: the frame its kind's body settles through. Implements both
 * {@link Settle} and the `attemptWork` callbacks, so a task state allocates no callback objects.
 */
export class StateFrame<S extends string, R extends ResourceRecord> implements Settle, Unsubscribable {
  // declared, not defined, and assigned once in the constructor (one frame per transition): see
  // AttemptContext (streams/runTask.ts)
  declare private readonly env: StateEnv<S, R>
  declare private readonly sink: StateSink<S>
  /** {@link SETTLED}, {@link RELEASED}, {@link SYNCHRONOUS}, {@link SHARED}: one field, not four (a parked run holds its frame). */
  declare private flags: number
  declare private early: unknown
  declare private attempts: number
  declare private teardown: TeardownLogic
  constructor(env: StateEnv<S, R>, sink: StateSink<S>) {
    this.env = env
    this.sink = sink
    this.flags = SYNCHRONOUS
    this.early = NOTHING
    this.attempts = 0
    this.teardown = undefined
  }

  /** Runs `body`; a success inside the call is delivered after it returns (a flat stack). */
  start(body: (settle: StateFrame<S, R>) => void): this {
    return this.startWith(callBody, body)
  }

  /**
   * {@link start} of a body that takes an argument: `body(frame, arg)`, so that a kind whose body needs one
   * value (a task's function) passes it without a closure per visit.
   */
  startWith<X>(body: (settle: StateFrame<S, R>, arg: X) => void, arg: X): this {
    const { env } = this
    const emit = env.emit
    if (emit !== undefined)
      emit({ _tag: 'TaskStarted', workflowId: env.workflowId, at: env.now(), state: env.state, taskId: env.taskId })
    try {
      body(this, arg)
    } catch (thrown: unknown) {
      this.fail(thrown)
    }
    const flags = (this.flags &= ~SYNCHRONOUS)
    if (this.early !== NOTHING && (flags & RELEASED) === 0) this.deliver(this.early, this.attempts)
    return this
  }

  /** The env of the visit (a kind's body started with {@link startWith} reads it here). */
  get visitEnv(): StateEnv<S, R> {
    return this.env
  }

  succeed(next: unknown, attempts: number): void {
    const flags = this.flags
    if ((flags & SETTLED) !== 0) return
    this.flags = flags | SETTLED
    if ((flags & SYNCHRONOUS) !== 0) {
      this.early = next
      this.attempts = attempts
    } else this.deliver(next, attempts)
  }

  fail(thrown: unknown, attempts?: number): void {
    const flags = this.flags
    if ((flags & SETTLED) !== 0) return
    this.flags = flags | SETTLED
    // a failure after the visit was released (the run was cancelled or timed out) is not news
    if ((flags & RELEASED) !== 0) return
    const { env } = this
    const rejected = isCircuitRejection(thrown)
    const error = rejected ? thrown.error : toCanoError(thrown)
    const emit = env.emit
    if (emit !== undefined) {
      const { workflowId, state, taskId } = env
      if (rejected) emit({ _tag: 'CircuitRejected', workflowId, at: env.now(), state, taskId, error })
      emit({ _tag: 'TaskFailed', workflowId, at: env.now(), state, taskId, error })
    }
    this.sink.stateFailed(error, attempts)
  }

  add(teardown: TeardownLogic): void {
    const flags = this.flags
    if ((flags & RELEASED) !== 0) return execute(teardown)
    const held = this.teardown
    // one teardown (the common case: a timer, a subscription) is held as is; more share a Subscription
    if (held === undefined) this.teardown = teardown
    else if ((flags & SHARED) !== 0) (held as Subscription).add(teardown)
    else {
      const all = new Subscription()
      all.add(held)
      all.add(teardown)
      this.teardown = all
      this.flags = flags | SHARED
    }
  }

  /**
   * The visit drained after the run was interrupted (a stream that flushed and committed its partial
   * window): it settles with no `TaskSucceeded` or `TaskFailed`, and the interruption concludes the run.
   */
  interrupted(reason: unknown): void {
    const flags = this.flags
    if ((flags & SETTLED) !== 0) return
    this.flags = flags | SETTLED
    if ((flags & RELEASED) !== 0) return
    this.sink.stateFailed(toCanoError(reason))
  }

  /** `attemptWork`'s value callback: the same as {@link succeed}. */
  onValue(next: unknown, attempts: number): void {
    this.succeed(next, attempts)
  }

  /** `attemptWork`'s error callback: the same as {@link fail}. */
  onError(thrown: unknown, attempts: number): void {
    this.fail(thrown, attempts)
  }

  /** `true` once the visit is released: what the body still reports is dropped. */
  get closed(): boolean {
    return (this.flags & RELEASED) !== 0
  }

  /** Releases what the body started; a later `add` runs its teardown at once. */
  unsubscribe(): void {
    const flags = this.flags
    if ((flags & RELEASED) !== 0) return
    this.flags = flags | RELEASED
    const t = this.teardown
    this.teardown = undefined
    execute(t)
  }

  private deliver(next: unknown, attempts: number): void {
    if ((this.flags & RELEASED) !== 0) return
    const { env } = this
    const invalid = checkTarget(env.state, env.to, next)
    if (invalid !== undefined) {
      this.flags &= ~SETTLED
      return this.fail(invalid)
    }
    const emit = env.emit
    if (emit !== undefined)
      emit({
        _tag: 'TaskSucceeded',
        workflowId: env.workflowId,
        at: env.now(),
        state: env.state,
        taskId: env.taskId,
        attempts,
        next: next as S,
      })
    this.sink.stateDone(next as S)
  }
}

const callBody = <S extends string, R extends ResourceRecord>(
  frame: StateFrame<S, R>,
  body: (settle: StateFrame<S, R>) => void,
): void => body(frame)

const execute = (t: TeardownLogic): void => {
  if (typeof t === 'function') t()
  else if (typeof t === 'object') t.unsubscribe()
}

/**
 * @internal A state visit as an Observable of the next state. The engine does not subscribe to it:
 * it calls {@link StateVisit.start} with itself as the sink (no subscriber chain per visit).
 */
export class StateVisit<S extends string, R extends ResourceRecord> extends Observable<S> {
  constructor(
    readonly env: StateEnv<S, R>,
    readonly body: (settle: StateFrame<S, R>) => void,
  ) {
    // RxJS calls the subscribe function as a method of the Observable, so `this` is this visit
    super(subscribeVisit as (this: Observable<S>, subscriber: Subscriber<S>) => TeardownLogic)
  }
  /** The visit's frame, reporting to `sink`; `frame.start(body)` runs it, `frame.unsubscribe()` stops it. */
  frame(sink: StateSink<S>): StateFrame<S, R> {
    return new StateFrame(this.env, sink)
  }
}

/** The subscribe function of every {@link StateVisit}: RxJS calls it with the visit as `this`. */
function subscribeVisit<S extends string, R extends ResourceRecord>(
  this: StateVisit<S, R>,
  subscriber: Subscriber<S>,
): TeardownLogic {
  return this.frame({
    stateDone: (next) => {
      subscriber.next(next)
      subscriber.complete()
    },
    stateFailed: (error) => subscriber.error(error),
  }).start(this.body)
}

/** @internal Wraps a state kind's `body` into the Observable of the next state. */
export const runStateBody = <S extends string, R extends ResourceRecord>(
  env: StateEnv<S, R>,
  body: (settle: StateFrame<S, R>) => void,
): Observable<S> => new StateVisit(env, body)

/** @internal A `Workflow` error when `next` is not a state name or not among the declared targets. */
export const checkTarget = (
  state: string,
  to: ReadonlySet<string> | undefined,
  next: unknown,
): CanoError | undefined => {
  if (typeof next !== 'string') {
    return workflowError(
      `task for state ${JSON.stringify(state)} returned ${describeValue(next)}, not a state name`,
      state,
    )
  }
  if (to !== undefined && !to.has(next)) {
    return workflowError(
      `task for state ${JSON.stringify(state)} returned ${JSON.stringify(next)}, which is not one of its declared targets [${[...to].map((t) => JSON.stringify(t)).join(', ')}]`,
      state,
    )
  }
  return undefined
}
