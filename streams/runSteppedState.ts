/**
 * The `stepped` state kind: an RxJS `expand` feeds each cursor back into the next step until a step
 * answers `StepOutcome.done(state)`. Each step is one unit of work under the retry loop (a retry repeats that
 * step with the same cursor; `attemptTimeoutMs` bounds each step). Every `StepOutcome.more(cursor)` is encoded
 * with the state's io-ts codec, round-tripped through JSON and decoded back (so the next step sees
 * exactly what a resumed run would see; for the primitive codecs, whose trip gives a JSON-safe value back
 * as it is, the trip is skipped), reported as `CursorAdvanced`, and handed to `persist` (the checkpoint
 * hook) before the next step starts.
 *
 * Each `expand` projection runs steps back to back for as long as they settle synchronously (a plain
 * outcome or an `Either`, read by `attemptWork` without an Observable; a `persist` that completes at
 * once), so a synchronous step costs no Observable, operator or closure of its own. A step or a `persist`
 * that settles later ends the projection, which emits where the loop stands, and `expand` starts the
 * next projection (through `queueScheduler`, so the stack stays flat). At least every
 * {@link YIELD_EVERY_MS} of steps that never wait (synchronous, or resolving at once), the projection
 * ends too and the next one is subscribed on the run's scheduler, so the event loop gets a turn: a
 * cancellation or the total timeout interrupts the loop at the next step boundary rather than after the
 * last step.
 *
 * @internal
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import {
  EMPTY,
  expand,
  filter,
  Observable,
  of,
  queueScheduler,
  subscribeOn,
  type Subscriber,
  Subscription,
  take,
  type TeardownLogic,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import { decodeJson, roundTripJson } from '../src/internal/jsonRoundTrip.js'
import type { StepOutcome, SteppedHandler } from '../src/Stepped.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { attemptWork, type WorkCallbacks } from './attemptWork.js'
import { runStateBody, type Settle, type StateEnv } from './stateRunner.js'

/** @internal Where a stepped state starts and how it persists cursors. */
export interface SteppedHooks {
  /** The encoded cursor a resumed run continues from (steps before it are not repeated). */
  readonly resumeCursor?: { readonly encoded: unknown; readonly step: number } | undefined
  /** Persists an encoded cursor before the next step; the Observable completes when it is durable. */
  readonly persist?: ((encoded: unknown, step: number) => Observable<never>) | undefined
}

/**
 * How long a stepped loop runs steps back to back before it lets the event loop take a turn (real
 * time, whatever the run's scheduler: it bounds how long the loop can hold the thread).
 */
const YIELD_EVERY_MS = 50

type Loop =
  | { readonly _tag: 'Step'; readonly cursor: unknown; readonly step: number }
  | { readonly _tag: 'Done'; readonly state: unknown; readonly steps: number }

/** A `StepOutcome`; `anyValue: false` (a workflow) wants a state name in `done`. */
const isStepOutcome = (u: unknown, anyValue: boolean): u is StepOutcome<unknown, unknown> => {
  if (typeof u !== 'object' || u === null) return false
  const o = u as { _tag?: unknown; state?: unknown }
  return (
    (o._tag === 'More' && 'cursor' in o) ||
    (o._tag === 'Done' && (anyValue ? 'state' in o : typeof o.state === 'string'))
  )
}

/** @internal What the step loop reads of its handler (a `SteppedHandler`, or a standalone `runStepped`'s options). */
export type SteppedPlan<R extends ResourceRecord> = Pick<SteppedHandler<string, R>, 'cursor'> & {
  readonly step: (ctx: TaskContext<R>, cursor: unknown) => unknown
}

/** @internal Encodes `cursor`, round-trips it through JSON and decodes it back. */
export const roundTripCursor = (
  codec: SteppedHandler<string, ResourceRecord>['cursor'],
  cursor: unknown,
  where: string,
): E.Either<CanoError, { readonly encoded: unknown; readonly decoded: unknown }> =>
  roundTripJson(codec, cursor, where, 'cursor')

/** @internal Decodes an encoded (JSON) cursor; `DecodeFailed` names the codec and `where`. */
export const decodeCursor = (
  codec: SteppedHandler<string, ResourceRecord>['cursor'],
  json: unknown,
  where: string,
  encoded: unknown = json,
): E.Either<CanoError, { readonly encoded: unknown; readonly decoded: unknown }> =>
  decodeJson(codec, json, where, encoded)

/** @internal Runs a `stepped` state. */
export const runSteppedState = <S extends string, R extends ResourceRecord>(
  handler: SteppedHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: SteppedHooks = {},
): Observable<S> => runStateBody(env, (settle) => steppedLoop(handler, env, hooks, settle))

/**
 * @internal The step loop, settling through `settle` with the `done` value and the number of steps.
 * `anyValue` (the standalone runners) takes any value as the result; otherwise (a workflow) it must be
 * a state name.
 */
export const steppedLoop = <S extends string, R extends ResourceRecord>(
  handler: SteppedPlan<R>,
  env: StateEnv<S, R>,
  hooks: SteppedHooks,
  settle: Settle,
  anyValue = false,
): void => {
  const label = JSON.stringify(env.state)
  let seed: Loop = { _tag: 'Step', cursor: undefined, step: 0 }
  if (hooks.resumeCursor !== undefined) {
    const { encoded, step } = hooks.resumeCursor
    const back = decodeCursor(handler.cursor, encoded, `state ${label}, resumed cursor of step ${step}`)
    if (E.isLeft(back)) return settle.fail(back.left)
    seed = { _tag: 'Step', cursor: back.right.decoded, step }
  }
  const loop = new StepLoop<S, R>(handler, env, hooks, anyValue, label)
  settle.add(
    of(seed)
      .pipe(
        expand((l) => loop.project(l)),
        filter((l): l is Extract<Loop, { _tag: 'Done' }> => l._tag === 'Done'),
        take(1),
      )
      .subscribe({
        next: (d) => settle.succeed(d.state, d.steps),
        error: (e: unknown) => settle.fail(e, loop.failedAttempts),
      }),
  )
}

/**
 * The values a cursor codec's JSON round trip gives back unchanged, for the primitive codecs of io-ts
 * (recognised by identity, or by `_tag` and `name` for a second copy of io-ts): for them the round trip
 * is skipped. A finite number (`-0` comes back as `0`), a string, a boolean, `null`; anything else
 * (`NaN`, a number for `t.string`, …) takes the round trip and its `DecodeFailed`.
 */
const primitiveCursor = (codec: t.Type<unknown, unknown>): ((u: unknown) => boolean) | undefined => {
  const tag = (codec as { readonly _tag?: unknown })._tag
  if (codec === t.number || (tag === 'NumberType' && codec.name === 'number')) return Number.isFinite
  if (codec === t.string || (tag === 'StringType' && codec.name === 'string')) return isString
  if (codec === t.boolean || (tag === 'BooleanType' && codec.name === 'boolean')) return isBoolean
  if (codec === t.null || (tag === 'NullType' && codec.name === 'null')) return isNull
  return undefined
}
const isString = (u: unknown): boolean => typeof u === 'string'
const isBoolean = (u: unknown): boolean => typeof u === 'boolean'
const isNull = (u: unknown): boolean => u === null

/** Read through a function: a step can close the projection while it runs. */
const isClosed = (sub: Subscriber<unknown>): boolean => sub.closed

const execute = (teardown: TeardownLogic): void => {
  if (typeof teardown === 'function') teardown()
  else if (typeof teardown === 'object') teardown.unsubscribe()
}

/**
 * One stepped loop: the `expand` projection and the callbacks of every step's `attemptWork`, in one
 * object (a step allocates no Observable and no closure of its own). A projection runs steps back to
 * back for as long as they settle synchronously (a plain outcome or an `Either`, a cursor whose
 * `persist` completes at once), in the order the `queueScheduler` trampoline gave them one step per
 * projection; it ends, emitting where the loop stands, at `done`, at the first step (or `persist`)
 * that settles later, and every {@link YIELD_EVERY_MS}, so `expand` starts the next projection (on the
 * run's scheduler after a yield).
 */
class StepLoop<S extends string, R extends ResourceRecord> implements WorkCallbacks<unknown> {
  /** The attempts of the step that failed the state, for the run's failure context. */
  failedAttempts: number | undefined = undefined
  /** The cursor of the step in flight and the steps run before it. */
  private cursor: unknown = undefined
  private step = 0
  /** The projection running steps, while one does. */
  private sub: Subscriber<Loop> | undefined = undefined
  /** A step is in flight (its callbacks have not been called). */
  private pending = false
  /** The step in flight was started by the projection's own loop, which is still inside `attemptWork`. */
  private inCall = false
  /** The outcome of a step that settled inside `attemptWork`, for the loop to read once it returns. */
  private outcome: unknown = undefined
  /** What the step in flight started (a deadline, a subscription): released when it settles. */
  private stepTeardown: Subscription | undefined = undefined
  /** The round trip's result, read after {@link roundTrip}. */
  private encoded: unknown = undefined
  private decoded: unknown = undefined
  private lastYield = performance.now()
  private readonly primitive: ((u: unknown) => boolean) | undefined
  /** The work of every attempt of every step: the step from the cursor in flight. */
  private readonly call: (ctx: TaskContext<R>) => unknown
  private readonly codec: t.Type<unknown, unknown>

  constructor(
    handler: SteppedPlan<R>,
    private readonly env: StateEnv<S, R>,
    private readonly hooks: SteppedHooks,
    private readonly anyValue: boolean,
    private readonly label: string,
  ) {
    this.codec = handler.cursor
    this.primitive = primitiveCursor(handler.cursor)
    this.call = (ctx) => handler.step(ctx, this.cursor)
  }

  /** The `expand` projection: the steps from `l`, or the end. */
  project(l: Loop): Observable<Loop> {
    if (l._tag !== 'Step') return EMPTY
    const steps$ = new Observable<Loop>((sub) => {
      this.sub = sub
      this.cursor = l.cursor
      this.step = l.step
      this.run(sub)
      return () => {
        // a projection that ended while a step of its own was in flight (the run was released)
        if (this.sub === sub) this.releaseStep()
      }
    })
    const now = performance.now()
    if (now - this.lastYield < YIELD_EVERY_MS) return steps$.pipe(subscribeOn(queueScheduler))
    this.lastYield = now
    return steps$.pipe(subscribeOn(this.env.scheduler))
  }

  /** Runs steps while they settle synchronously. */
  private run(sub: Subscriber<Loop>): void {
    for (;;) {
      // settles later (onValue or onError go on from there), or failed
      if (!this.startStep() || isClosed(sub)) return
      const outcome = this.outcome
      this.outcome = undefined
      if (!this.advance(outcome, sub) || isClosed(sub)) return
      if (performance.now() - this.lastYield >= YIELD_EVERY_MS) return this.handOver(sub)
    }
  }

  /** Starts a step from the cursor: `true` when it settled during the call, its outcome in `outcome`. */
  private startStep(): boolean {
    this.pending = true
    this.inCall = true
    attemptWork<S, R, unknown>(this.env, this.call, this)
    this.inCall = false
    return this.settled()
  }

  /** Read through a method: the step's callbacks change `pending` while `attemptWork` runs. */
  private settled(): boolean {
    return !this.pending
  }

  onValue(outcome: unknown): void {
    if (!this.pending) return
    this.pending = false
    this.releaseStep()
    if (this.inCall) {
      this.outcome = outcome
      return
    }
    const sub = this.sub
    if (sub !== undefined && !sub.closed && this.advance(outcome, sub)) this.handOver(sub)
  }

  onError(thrown: unknown, attempts: number): void {
    if (!this.pending) return
    this.pending = false
    this.releaseStep()
    this.failedAttempts = attempts
    this.sub?.error(thrown)
  }

  add(teardown: TeardownLogic): void {
    // a step that has settled already (its output emitted synchronously): release at once
    if (!this.pending || this.sub === undefined || this.sub.closed) return execute(teardown)
    let held = this.stepTeardown
    if (held === undefined) {
      held = new Subscription()
      this.stepTeardown = held
      this.sub.add(held)
    }
    held.add(teardown)
  }

  get closed(): boolean {
    return this.sub === undefined || this.sub.closed
  }

  /** Ends the projection where the loop stands: `expand` starts the next one from there. */
  private handOver(sub: Subscriber<Loop>): void {
    sub.next({ _tag: 'Step', cursor: this.cursor, step: this.step })
    sub.complete()
  }

  private releaseStep(): void {
    const held = this.stepTeardown
    if (held === undefined) return
    this.stepTeardown = undefined
    held.unsubscribe()
  }

  /**
   * Reads a settled step's outcome: `true` when the next step may start now (the cursor moved on and
   * is durable); otherwise the projection has ended (`done`, an error) or `persist` hands over later.
   */
  private advance(outcome: unknown, sub: Subscriber<Loop>): boolean {
    const { env, anyValue, label } = this
    const n = this.step + 1
    if (!isStepOutcome(outcome, anyValue)) {
      sub.error(
        workflowError(
          `step ${n} of state ${label} returned ${describeValue(outcome)}; expected more(cursor) or done(${anyValue ? 'value' : 'state'})`,
          env.state,
        ),
      )
      return false
    }
    if (outcome._tag === 'Done') {
      sub.next({ _tag: 'Done', state: outcome.state, steps: n })
      sub.complete()
      return false
    }
    const bad = this.roundTrip(outcome.cursor, n)
    if (bad !== undefined) {
      sub.error(bad)
      return false
    }
    const encoded = this.encoded
    if (env.emit !== undefined)
      env.emit({
        _tag: 'CursorAdvanced',
        workflowId: env.workflowId,
        at: env.now(),
        state: env.state,
        taskId: env.taskId,
        step: n,
        cursor: encoded,
      })
    this.cursor = this.decoded
    this.step = n
    this.encoded = this.decoded = undefined
    const persist = this.hooks.persist
    return persist === undefined || this.persisted(persist(encoded, n), sub)
  }

  /** Waits for `persist$`: `true` when it completed at once, else the projection hands over when it does. */
  private persisted(persist$: Observable<never>, sub: Subscriber<Loop>): boolean {
    let inSubscribe = true
    let now = false as boolean
    const s = persist$.subscribe({
      error: (e: unknown) => sub.error(e),
      complete: () => {
        if (inSubscribe) now = true
        else this.handOver(sub)
      },
    })
    inSubscribe = false
    if (now) return true
    sub.add(s)
    return false
  }

  /** Encodes `cursor` and decodes it back (into `encoded` and `decoded`), or the `DecodeFailed`. */
  private roundTrip(cursor: unknown, n: number): CanoError | undefined {
    const primitive = this.primitive
    if (primitive !== undefined && primitive(cursor)) {
      // what JSON gives back: the value itself, but 0 for -0
      this.encoded = cursor
      this.decoded = cursor === 0 ? 0 : cursor
      return undefined
    }
    const trip = roundTripCursor(this.codec, cursor, `state ${this.label}, step ${n}`)
    if (E.isLeft(trip)) return trip.left
    this.encoded = trip.right.encoded
    this.decoded = trip.right.decoded
    return undefined
  }
}
