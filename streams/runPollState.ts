/**
 * The `poll` state kind: the whole poll loop is one attempt of the retry loop (so `attemptTimeoutMs`
 * bounds the loop and a retry restarts it, as in cano). Inside the loop, `PollOutcome.pending(d)` waits `d` ms
 * on the run's scheduler (0 still yields to the event loop, as cano's zero sleep does) and resets the
 * consecutive-error count; an error fails at once under `failFast` (and a `nonRetryable` one under any
 * policy), or under `PollErrorPolicy.retryOnError({ maxErrors, delayMs })` waits `delayMs` and polls again until error
 * number `maxErrors + 1`; `maxPolls` caps the number of calls.
 *
 * Parking (the timer's machinery, streams/runSleepState.ts): with a park threshold (`hooks.park`, given to
 * runs a runtime owns) a wait of the loop longer than the threshold, and ending before the attempt's
 * deadline, is made durable first: `TimerArmed` is reported with the wake-up instant and a `TimerArmed` row
 * with the loop's position ({@link PollPosition}) is appended; the owner parks the run once that row is
 * durable. A visit resumed from such a row (`hooks.resume`) waits what is left of the delay, reporting
 * `TimerArmed` again, then polls on with the persisted counts, in the persisted attempt, with what was
 * left of that attempt's timeout.
 *
 * @internal
 * @since 0.1.0
 */
import {
  catchError,
  concat,
  defer,
  EMPTY,
  expand,
  filter,
  map,
  mergeMap,
  type Observable,
  of,
  queueScheduler,
  type SchedulerAction,
  subscribeOn,
  type Subscription,
  take,
  type TeardownLogic,
  throwError,
  throwIfEmpty,
  timer,
  type Unsubscribable,
} from 'rxjs'

import type { PollPosition } from '../codecs/CheckpointRow.js'
import { TimerDelay } from '../codecs/Config.js'
import { isRetryable, nonRetryable, taskExecutionError, timeoutError, workflowError } from '../src/CanoError.js'
import type { CircuitPermit } from '../src/CircuitBreaker.js'
import { describeValue } from '../src/internal/describeValue.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import type { PollHandler, PollOutcome } from '../src/Poll.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { AttemptGuard, progressOf, retryLoop, runAttemptLoop } from './attemptWork.js'
import { type InlinePermits, inlinePermitsOf } from './createCircuitBreaker.js'
import { fromTaskOutput, type OutputSink, settleTaskOutput } from './fromTaskOutput.js'
import { queueDeadline } from './internal/deadlineQueue.js'
import { AttemptContext, type AttemptEnv, attemptScope, CircuitRejection } from './runTask.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

type LoopStep = { readonly _tag: 'Poll' } | { readonly _tag: 'Ready'; readonly state: unknown }
const POLL = { _tag: 'Poll' } as const

/** A `PollOutcome`; `anyValue: false` (a workflow) wants a state name in `ready`. */
const isOutcome = (u: unknown, anyValue: boolean): u is PollOutcome<unknown> => {
  if (typeof u !== 'object' || u === null) return false
  const o = u as { _tag?: unknown; state?: unknown; delayMs?: unknown }
  return (
    (o._tag === 'Ready' && (anyValue ? 'state' in o : typeof o.state === 'string')) ||
    (o._tag === 'Pending' && TimerDelay.is(o.delayMs))
  )
}

/** @internal How a poll makes its long waits durable, and where a resumed visit continues. */

/** Reports a wait until `wakeAt` that parks the run (`TimerArmed`), when someone listens. */
const timerArmed = <S extends string>(env: AttemptEnv<S, ResourceRecord>, wakeAt: number): void =>
  env.emit?.({
    _tag: 'TimerArmed',
    workflowId: env.workflowId,
    at: env.now(),
    state: env.state,
    taskId: env.taskId,
    wakeAt,
  })

export interface PollHooks {
  /** A delay made durable before the run parked: the next poll at `wakeAt`, the loop as it stood. */
  readonly resume?: { readonly wakeAt: number; readonly position: PollPosition } | undefined
  /** The run's park threshold and how a durable wait is persisted (completes once the row is durable). */
  readonly park?:
    | {
        readonly afterMs: number
        readonly persist: (wakeAt: number, position: PollPosition) => Observable<never>
      }
    | undefined
}

/** @internal What the poll loop reads of its handler (a `PollHandler`, or a standalone `runPoll`'s options). */
export interface PollPlan<R extends ResourceRecord> {
  readonly poll: (ctx: TaskContext<R>) => unknown
  readonly onError: PollHandler<string, R>['onError']
  readonly maxPolls: number | undefined
}

/**
 * @internal The poll loop of one attempt: the `ready` value. `resumed` is the position a resumed visit's
 * first attempt continues from. `anyValue` (the standalone runners) takes any value as the result;
 * otherwise (a workflow) it must be a state name.
 */
export const pollLoop = <S extends string, R extends ResourceRecord>(
  handler: PollPlan<R>,
  env: StateEnv<S, R>,
  ctx: TaskContext<R>,
  hooks: PollHooks = {},
  resumed?: PollHooks['resume'],
  anyValue = false,
): Observable<unknown> =>
  defer(() => {
    let polls = resumed?.position.polls ?? 0
    let errors = resumed?.position.errors ?? 0
    const policy = handler.onError
    const timeoutMs = env.config.attemptTimeoutMs
    // when this attempt times out (a resumed attempt keeps its own deadline)
    const deadlineAt =
      resumed !== undefined ? resumed.position.deadlineAt : timeoutMs === undefined ? null : env.now() + timeoutMs
    const poll$ = map((): LoopStep => POLL)
    /** Waits until `wakeAt` (reporting it as `TimerArmed`); `persist` first makes it durable. */
    const until = (wakeAt: number, persist: Observable<never>): Observable<LoopStep> => {
      timerArmed(env, wakeAt)
      // what is left is measured once the wake-up is durable
      return concat(
        persist,
        defer(() => timer(Math.max(0, wakeAt - env.now()), env.scheduler)),
      ).pipe(poll$)
    }
    // every next poll waits on the run's scheduler, a zero delay included: a poll answering pending(0)
    // yields to the event loop (so a cancellation or a timer can run) instead of spinning
    const again = (delayMs: number): Observable<LoopStep> => {
      const park = hooks.park
      if (park !== undefined && delayMs > park.afterMs) {
        const wakeAt = env.now() + delayMs
        // a wait the attempt timeout cuts short is not worth parking: it ends in memory, as it always did
        if (deadlineAt === null || wakeAt <= deadlineAt)
          return until(wakeAt, park.persist(wakeAt, { polls, errors, attempt: ctx.attempt, deadlineAt }))
      }
      return timer(delayMs, env.scheduler).pipe(poll$)
    }
    const afterError = (thrown: unknown): Observable<LoopStep> => {
      // nonRetryable(e) (and the errors the retry loop never retries) end the loop under any policy
      if (policy._tag === 'FailFast' || errors + 1 > policy.maxErrors || !isRetryable(thrown))
        return throwError(() => thrown)
      errors += 1
      return again(policy.delayMs)
    }
    const pollOnce = (): Observable<LoopStep> => {
      polls += 1
      if (handler.maxPolls !== undefined && polls > handler.maxPolls)
        return throwError(() =>
          taskExecutionError(
            `poll for state ${JSON.stringify(env.state)} was not ready after ${handler.maxPolls} polls`,
          ),
        )
      return fromTaskOutput<unknown>(() => handler.poll(ctx)).pipe(
        take(1),
        throwIfEmpty(() =>
          taskExecutionError(`poll for state ${JSON.stringify(env.state)} completed without an outcome`),
        ),
        map((outcome) => ({ ok: true as const, outcome })),
        catchError((thrown: unknown) => of({ ok: false as const, thrown })),
        mergeMap((r): Observable<LoopStep> => {
          if (!r.ok) return afterError(r.thrown)
          if (!isOutcome(r.outcome, anyValue))
            return throwError(() =>
              nonRetryable(
                workflowError(
                  `poll for state ${JSON.stringify(env.state)} returned ${describeValue(r.outcome)}; expected PollOutcome.ready(${anyValue ? 'value' : 'state'}) or PollOutcome.pending(delayMs) with a delay in [0, ${MAX_TIMER_MS}]`,
                  env.state,
                ),
              ),
            )
          if (r.outcome._tag === 'Ready') return of({ _tag: 'Ready', state: r.outcome.state })
          errors = 0
          return again(r.outcome.delayMs)
        }),
      )
    }
    const first$ = resumed === undefined ? of<LoopStep>(POLL) : until(resumed.wakeAt, EMPTY)
    return first$.pipe(
      expand((step) => (step._tag === 'Poll' ? defer(pollOnce).pipe(subscribeOn(queueScheduler)) : EMPTY)),
      filter((step): step is { readonly _tag: 'Ready'; readonly state: unknown } => step._tag === 'Ready'),
      take(1),
      map((step) => step.state),
    )
  })

/** @internal Runs a `poll` state. */
export const runPollState = <S extends string, R extends ResourceRecord>(
  handler: PollHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: PollHooks = {},
): Observable<S> => {
  const resume = hooks.resume
  // attempt 1: the loop as plain callbacks (a parked run holds one scheduled action); it takes its token,
  // its permit and its deadline, and enters `aroundAttempt`, as attemptWork's inline attempt 1 does
  if (resume === undefined && env.fast)
    return runStateBody(env, (frame) => new PollRun(handler, env, frame, hooks).start())
  if (resume === undefined) return runAttemptLoop(env, (ctx) => pollLoop(handler, env, ctx, hooks, undefined))
  // the resumed position serves the first attempt of the visit; a retry restarts the loop from scratch
  let first: PollHooks['resume'] = resume
  const { deadlineAt } = resume.position
  return runAttemptLoop(
    env,
    (ctx) => {
      const resumed = first
      first = undefined
      return pollLoop(handler, env, ctx, hooks, resumed)
    },
    {
      attempt: resume.position.attempt,
      timeoutMs: deadlineAt === null ? undefined : Math.max(0, deadlineAt - env.now()),
    },
  )
}

/**
 * Attempt 1 of a poll state with no resumed position: {@link pollLoop}'s rules as plain callbacks. Its
 * policies are taken as attemptWork's inline attempt 1 takes them (streams/attemptWork.ts), in the retry
 * loop's order: the rate limiter's token when one is there now (a waiting limiter without one, or a
 * refused token, sends attempt 1 to the retry loop), the breaker's permit (a rejection fails the state at
 * once), the attempt timeout's deadline (it covers the whole loop, the waits included) and `aroundAttempt`
 * (it wraps the start of the loop); the permit is settled on the loop's outcome. One object is the
 * attempt's context, the sink of each poll's output and the alarm of the wait in between; a run parked in
 * a poll delay holds it, one action on the run's scheduler (virtual time in tests, as a `sleep`'s
 * alarm) and its visit frame. A failed loop hands over to the retry loop (attempts 2.. run
 * {@link pollLoop}), exactly as a failed inline task attempt does.
 */
class PollRun<S extends string, R extends ResourceRecord>
  extends AttemptContext<R, StateEnv<S, R>>
  implements OutputSink, Unsubscribable
{
  // declared, not defined: see AttemptContext (streams/runTask.ts)
  declare private readonly handler: PollHandler<S, R>
  declare private readonly frame: StateFrame<S, R>
  declare private readonly hooks: PollHooks
  declare private polls: number
  declare private errors: number
  /**
   * The wait for the next poll (an action on the scheduler), or the write that makes it durable; `SETTLED`
   * once the loop settled or was released (nothing more is reported). One field for both keeps a parked
   * run within its byte budget.
   */
  declare private wait: Unsubscribable | undefined
  /** The subscription to a poll's Observable output. */
  declare private output: TeardownLogic
  /** The breaker's permit and the attempt timeout's deadline, when the state has either (absent otherwise). */
  declare private guard: AttemptGuard | undefined
  constructor(handler: PollHandler<S, R>, env: StateEnv<S, R>, frame: StateFrame<S, R>, hooks: PollHooks) {
    super(env, 1, progressOf(env), env.config.attemptTimeoutMs !== undefined)
    this.handler = handler
    this.frame = frame
    this.hooks = hooks
    this.polls = 0
    this.errors = 0
    this.wait = undefined
    this.output = undefined
    // `guard` is assigned only when there is one: a plain poll's parked run keeps its byte budget
  }

  start(): void {
    const { env, frame } = this
    const config = env.config
    // the policies, in the retry loop's order: the limiter's token, then the breaker's permit
    const limiter = config.rateLimiter
    /** How long attempt 1 waited for its token, when an `aroundAttempt` wants to know (it did not wait). */
    let waitedMs: number | undefined
    if (limiter !== undefined) {
      const token = limiter.tryAcquire()
      if (token._tag === 'Left') {
        // a waiting limiter: attempt 1 waits for its token on the retry loop's path (`acquire`); a
        // non-waiting one failed attempt 1 with `RateLimited`, which the retry loop reports and retries
        this.wait = SETTLED
        return this.retry(limiter.waits ? undefined : { thrown: token.left })
      }
      if (limiter.waits) waitedMs = 0
    }
    const breaker = config.circuitBreaker
    const timeoutMs = config.attemptTimeoutMs
    if (breaker !== undefined || timeoutMs !== undefined) {
      let permit: CircuitPermit | undefined
      let inline: InlinePermits | undefined
      let epoch = 0
      if (breaker !== undefined) {
        // a closed breaker of this library admits by its epoch (no permit object); anything else takes a permit
        inline = inlinePermitsOf(breaker)
        const closed = inline?.admitClosed()
        if (closed !== undefined) epoch = closed
        else {
          inline = undefined
          const acquired = breaker.tryAcquire()
          // no attempt was made: no AttemptFailed, no retry (the retry loop would rethrow it unchanged)
          if (acquired._tag === 'Left') {
            this.wait = SETTLED
            return frame.onError(new CircuitRejection(acquired.left), 1)
          }
          permit = acquired.right
        }
      }
      const guard = new AttemptGuard(this, permit, inline, epoch)
      this.guard = guard
      if (timeoutMs !== undefined) guard.queue = queueDeadline(env.scheduler, guard, timeoutMs)
    }
    frame.add(this)
    const around = env.around
    if (around === undefined) return this.pollOnce()
    around(attemptScope(env, 1, waitedMs), () => this.pollOnce())
  }

  /** One poll: its output comes back to {@link value}, {@link error} or {@link empty}. */
  pollOnce(): void {
    this.wait = undefined
    const { handler } = this
    this.polls += 1
    if (handler.maxPolls !== undefined && this.polls > handler.maxPolls)
      return this.fail(
        taskExecutionError(
          `poll for state ${JSON.stringify(this.env.state)} was not ready after ${handler.maxPolls} polls`,
        ),
      )
    let out: unknown
    try {
      out = handler.poll(this)
    } catch (thrown: unknown) {
      return this.error(thrown)
    }
    settleTaskOutput(out, this)
  }

  value(outcome: unknown): void {
    if (this.done) return
    const { env } = this
    if (!isOutcome(outcome, false))
      return this.fail(
        nonRetryable(
          workflowError(
            `poll for state ${JSON.stringify(env.state)} returned ${describeValue(outcome)}; expected PollOutcome.ready(state) or PollOutcome.pending(delayMs) with a delay in [0, ${MAX_TIMER_MS}]`,
            env.state,
          ),
        ),
      )
    if (outcome._tag === 'Ready') {
      this.wait = SETTLED
      this.settle(true)
      return this.frame.onValue(outcome.state, 1)
    }
    this.errors = 0
    this.again(outcome.delayMs)
  }

  /** A poll failed: the error policy decides whether the loop polls again. */
  error(thrown: unknown): void {
    if (this.done) return
    const policy = this.handler.onError
    // nonRetryable(e) (and the errors the retry loop never retries) end the loop under any policy
    if (policy._tag === 'FailFast' || this.errors + 1 > policy.maxErrors || !isRetryable(thrown))
      return this.fail(thrown)
    this.errors += 1
    this.again(policy.delayMs)
  }

  empty(): void {
    this.error(taskExecutionError(`poll for state ${JSON.stringify(this.env.state)} completed without an outcome`))
  }

  add(teardown: TeardownLogic): void {
    if (this.done) return execute(teardown)
    this.output = teardown
  }

  /** The loop settled or was released. */
  private get done(): boolean {
    return this.wait === SETTLED
  }

  /** The next poll after `delayMs` on the run's scheduler (a zero delay still yields to the event loop). */
  private again(delayMs: number): void {
    const park = this.hooks.park
    const deadlineAt = this.guard?.queue === undefined ? null : this.guard.deadlineAt
    // a wait the attempt timeout cuts short is not worth parking: it ends in memory (as in pollLoop)
    if (
      park !== undefined &&
      delayMs > park.afterMs &&
      (deadlineAt === null || this.env.now() + delayMs <= deadlineAt)
    ) {
      const { env } = this
      const wakeAt = env.now() + delayMs
      timerArmed(env, wakeAt)
      // the wake-up instant is durable before the wait starts; what is left is measured after the write
      const sub: Subscription = park
        .persist(wakeAt, { polls: this.polls, errors: this.errors, attempt: 1, deadlineAt })
        .subscribe({
          error: (e: unknown) => {
            if (!this.done) this.fail(e)
          },
          complete: () => {
            if (!this.done) this.arm(Math.max(0, wakeAt - env.now()))
          },
        })
      if (!sub.closed) this.wait = sub
      return
    }
    this.arm(delayMs)
  }

  private arm(delayMs: number): void {
    this.wait = this.env.scheduler.schedule<PollRun<S, R>>(ringPoll, delayMs, this)
  }

  /** The loop failed: attempt 1 failed, and the retry loop decides (it reports `AttemptFailed`). */
  private fail(thrown: unknown): void {
    this.releaseWaits()
    this.retry({ thrown })
  }

  /** The retry loop runs attempts 2.. after `firstFailure` (attempt 1 too, without one: a waiting limiter). */
  private retry(firstFailure: { readonly thrown: unknown } | undefined): void {
    const { handler, env, hooks } = this
    retryLoop<S, R, unknown>(env, (ctx) => pollLoop(handler, env, ctx, hooks, undefined), this.frame, firstFailure)
  }

  /**
   * The attempt timeout's deadline passed (the guard's `expire`): the loop fails with `Timeout`. Its wait and
   * its output are dropped before its signal aborts (as on the retry loop's path), so that whatever a poll's
   * output does on the abort comes too late to change the outcome.
   */
  expire(): void {
    if (this.done) return
    const error = timeoutError(this.env.config.attemptTimeoutMs ?? 0)
    this.dropWaits()
    this.abort(error)
    this.settle(false)
    this.retry({ thrown: error })
  }

  /** Settles the breaker's permit on the loop's outcome, and drops the deadline (once). */
  private settle(ok: boolean): void {
    const guard = this.guard
    if (guard === undefined) return
    this.guard = undefined
    const queue = guard.queue
    if (queue !== undefined) {
      queue.cancel(guard)
      this.release()
    }
    guard.settle(ok)
  }

  /** The visit was released (the run was cancelled or timed out): the wait goes. */
  unsubscribe(): void {
    if (this.done) return
    this.releaseWaits()
  }

  private releaseWaits(): void {
    this.dropWaits()
    // released unsettled (the run was cancelled) or failed: the permit counts as a failure
    this.settle(false)
  }

  /** Ends the wait and the output, once. */
  private dropWaits(): void {
    const wait = this.wait
    const output = this.output
    this.wait = SETTLED
    this.output = undefined
    wait?.unsubscribe()
    execute(output)
  }
}

/** The `wait` of a {@link PollRun} that settled or was released. */
const SETTLED: Unsubscribable = { unsubscribe: () => undefined }

/** The scheduled work of a poll's wait (a plain function: no closure per parked run). */
function ringPoll<S extends string, R extends ResourceRecord>(
  this: SchedulerAction<PollRun<S, R>>,
  run?: PollRun<S, R>,
): void {
  run?.pollOnce()
}

const execute = (t: TeardownLogic): void => {
  if (typeof t === 'function') t()
  else if (typeof t === 'object') t.unsubscribe()
}
