/**
 * `attemptWork`: one unit of work of a state (a task call, a step) under the retry loop, reporting
 * through callbacks rather than an Observable so the engine's hot path allocates no operator chain.
 *
 * Fast path: attempt 1 runs inline. It takes its policies inline first, in the retry loop's order: a
 * rate limiter's token when one is there now (`tryAcquire`), then a circuit breaker's permit (a
 * rejection fails the work at once, as the retry loop would). With an attempt timeout it gets its own
 * signal and a deadline in the scheduler's deadline queue (streams/internal/deadlineQueue.ts: one
 * scheduled wake-up for many deadlines). Its output is read by `settleTaskOutput`
 * (streams/fromTaskOutput.ts), the interpreter the retry loop uses too: a value settles at once, a
 * Promise, an Observable or a `TaskEither` when it delivers. Only a failure, or a token that is not there
 * (a waiting limiter waits on the retry loop's path), goes through `runAttempts` (the RxJS retry loop),
 * which picks up a failed first attempt where the fast path left it, so the retry decisions live in one
 * place. The
 * task, router, saga and stepped kinds and every branch of a split run their work through here.
 *
 * @internal
 * @since 0.1.0
 */
import type { Observable, TeardownLogic, Unsubscribable } from 'rxjs'

import { taskExecutionError, timeoutError } from '../src/CanoError.js'
import type { CircuitPermit } from '../src/CircuitBreaker.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { type InlinePermits, inlinePermitsOf } from './createCircuitBreaker.js'
import { fromTaskOutput, type OutputSink, settleTaskOutput, type ThenSlot } from './fromTaskOutput.js'
import { type Deadline, type DeadlineQueue, queueDeadline } from './internal/deadlineQueue.js'
import {
  AttemptContext,
  type AttemptEnv,
  attemptScope,
  CircuitRejection,
  noProgress,
  type ResumedAttempts,
  runAttempts,
} from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

/** @internal What `attemptWork` needs to know about the state. */
export interface WorkEnv<S extends string, R extends ResourceRecord> extends AttemptEnv<S, R> {
  readonly config: ResolvedTaskConfig
  readonly fast: boolean
  /** Promise callbacks bound once per run, lent to one pending output at a time (see `ThenSlot`). */
  readonly thenSlot?: ThenSlot | undefined
}

/** @internal Callbacks of {@link attemptWork}. `onValue` gets the unwrapped value and the attempts it took. */
export interface WorkCallbacks<A> {
  onValue(value: A, attempts: number): void
  /** The work failed for good after `attempts` attempts. */
  onError(thrown: unknown, attempts: number): void
  add(teardown: TeardownLogic): void
  /** `true` once the work is no longer wanted (the visit was released): a late failure starts no retry. */
  readonly closed?: boolean
  /**
   * Attempt 1, run inline, failed (its output rejected, was a `Left`, or its call threw), before the retry
   * loop decides; called even once the work is no longer wanted. A saga step tracks its attempt in flight.
   */
  attemptFailed?(): void
}

/** @internal The progress reporter of one state visit. */
export const progressOf = <S extends string, R extends ResourceRecord>(
  env: AttemptEnv<S, R>,
): ((data: unknown) => void) => {
  const emit = env.emit
  // the reporter is built in a function of its own: a closure here would make every call allocate its context
  return emit === undefined ? noProgress : progressTo(env, emit)
}

const progressTo =
  <S extends string, R extends ResourceRecord>(env: AttemptEnv<S, R>, emit: (e: WorkflowEvent<S>) => void) =>
  (data: unknown): void =>
    // the task id is read when reporting: a split branch's is built on demand
    emit({ _tag: 'Progress', workflowId: env.workflowId, at: env.now(), state: env.state, taskId: env.taskId, data })

/** @internal Runs `call` under `env.config`'s retry loop; see the module comment. */
export const attemptWork = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  /** `false` sends attempt 1 through the retry loop too (a kind whose attempt is an Observable). */
  fast: boolean = env.fast,
  /** A retry loop a resumed run continues (never inline): see {@link ResumedAttempts}. */
  resumed?: ResumedAttempts,
): void => {
  if (!fast || resumed !== undefined) return retryLoop(env, call, callbacks, undefined, resumed)
  const config = env.config
  // the policies, in the retry loop's order: the limiter's token, then the breaker's permit (so that the
  // permit covers the call alone)
  const limiter = config.rateLimiter
  /** How long attempt 1 waited for its token, when an `aroundAttempt` wants to know (it did not wait). */
  let waitedMs: number | undefined
  if (limiter !== undefined) {
    const token = limiter.tryAcquire()
    if (token._tag === 'Left') {
      // a waiting limiter: attempt 1 waits for its token on the retry loop's path (`acquire`); a
      // non-waiting one failed attempt 1 with `RateLimited`, which the retry loop reports and retries
      return limiter.waits
        ? retryLoop(env, call, callbacks, undefined)
        : retryLoop(env, call, callbacks, { thrown: token.left })
    }
    if (limiter.waits) waitedMs = 0
  }
  let permit: CircuitPermit | undefined
  let inline: InlinePermits | undefined
  let epoch = 0
  const breaker = config.circuitBreaker
  if (breaker !== undefined) {
    // a closed breaker of this library admits by its epoch (no permit object); anything else takes a permit
    inline = inlinePermitsOf(breaker)
    const closed = inline?.admitClosed()
    if (closed !== undefined) epoch = closed
    else {
      inline = undefined
      const acquired = breaker.tryAcquire()
      // no attempt was made: no AttemptFailed, no retry (the retry loop would rethrow it unchanged)
      if (acquired._tag === 'Left') return callbacks.onError(new CircuitRejection(acquired.left), 1)
      permit = acquired.right
    }
  }
  // attempt 1 inline; with an attempt timeout it gets its own (lazily created) signal and a deadline
  const timeoutMs = config.attemptTimeoutMs
  const first = new InlineAttempt<S, R, A>(env, call, callbacks, timeoutMs !== undefined)
  if (timeoutMs !== undefined || breaker !== undefined) {
    const guard = new AttemptGuard(first, permit, inline, epoch)
    first.guard = guard
    if (timeoutMs !== undefined) guard.queue = queueDeadline(env.scheduler, guard, timeoutMs)
    // released unsettled (the run was cancelled): the deadline goes, the permit counts as a failure
    callbacks.add(guard)
  }
  const around = env.around
  if (around === undefined) return startInline(call, first)
  around(attemptScope(env, 1, waitedMs), () => startInline(call, first))
}

/** Calls the work for the inline attempt 1 and reads its output. */
const startInline = <S extends string, R extends ResourceRecord, A>(
  call: (ctx: TaskContext<R>) => unknown,
  first: InlineAttempt<S, R, A>,
): void => {
  let out: unknown
  try {
    out = call(first)
  } catch (thrown: unknown) {
    return first.error(thrown)
  }
  settleTaskOutput(out, first, first.thenSlot)
}

/**
 * The inline attempt 1: the context the call receives and the sink of its output, in one object (the
 * engine's hot path allocates one per state visit). It settles once (the output, or the deadline of an
 * attempt timeout, whichever comes first); a failure hands over to the retry loop. An attempt with a
 * breaker's permit or a deadline has an {@link AttemptGuard} as well.
 */
class InlineAttempt<S extends string, R extends ResourceRecord, A>
  extends AttemptContext<R, WorkEnv<S, R>>
  implements OutputSink
{
  // declared, not defined: see AttemptContext (streams/runTask.ts)
  declare private readonly call: (ctx: TaskContext<R>) => unknown
  declare private readonly callbacks: WorkCallbacks<A>
  /** The permit and the deadline, when the attempt has either. */
  declare guard: AttemptGuard | undefined
  /** The subscription to an Observable output of a timed attempt: its timeout unsubscribes it (see `expire`). */
  declare private output: TeardownLogic
  constructor(env: WorkEnv<S, R>, call: (ctx: TaskContext<R>) => unknown, callbacks: WorkCallbacks<A>, timed: boolean) {
    // the progress reporter is built only if the task reads it (see makeProgress): a closure per visit otherwise
    super(env, 1, undefined, timed)
    this.call = call
    this.callbacks = callbacks
    this.guard = undefined
    this.output = undefined
  }
  protected override makeProgress(): (data: unknown) => void {
    return progressOf(this.env)
  }
  /** The run's Promise callbacks, lent to this attempt's output if they are free (see `ThenSlot`). */
  get thenSlot(): ThenSlot | undefined {
    return this.env.thenSlot
  }
  value(v: unknown): void {
    if (!this.finish()) return
    this.guard?.settle(true)
    this.callbacks.onValue(v as A, 1)
  }
  error(thrown: unknown): void {
    const callbacks = this.callbacks
    if (callbacks.attemptFailed !== undefined) callbacks.attemptFailed()
    if (!this.finish()) return
    this.guard?.settle(false)
    retryLoop(this.env, this.call, callbacks, { thrown })
  }
  empty(): void {
    this.error(taskExecutionError(`task for state ${JSON.stringify(this.env.state)} completed without a value`))
  }
  add(teardown: TeardownLogic): void {
    // a timed attempt keeps its output's subscription, for its timeout to end it; the others leave it to the visit
    if (this.guard?.queue === undefined) return this.callbacks.add(teardown)
    if ((this.bits & SETTLED) !== 0) return execute(teardown)
    this.output = teardown
  }
  /**
   * The attempt timeout's deadline passed: the attempt fails with `Timeout`. As on the retry loop's path
   * (`timeoutAttemptRaw`), it settles and its Observable output is unsubscribed before its signal aborts:
   * whatever the output does on the abort (completes, errors, rejects) comes too late to change the outcome.
   */
  expire(): void {
    const callbacks = this.callbacks
    if (callbacks.attemptFailed !== undefined) callbacks.attemptFailed()
    const bits = this.bits
    if ((bits & SETTLED) !== 0) return
    this.bits = bits | SETTLED
    const error = timeoutError(this.env.config.attemptTimeoutMs ?? 0)
    this.dropOutput()
    this.abort(error)
    // the deadline has left its queue; the signal is unlinked from the run's once it aborted
    this.release()
    this.guard?.settle(false)
    retryLoop(this.env, this.call, callbacks, { thrown: error })
  }
  /** The visit was released: an unsettled attempt drops its deadline and output, and its permit counts as a failure. */
  unsubscribe(): void {
    if (!this.finish()) return
    this.dropOutput()
    this.guard?.settle(false)
  }
  private dropOutput(): void {
    const output = this.output
    this.output = undefined
    execute(output)
  }
  private finish(): boolean {
    const bits = this.bits
    if ((bits & SETTLED) !== 0) return false
    this.bits = bits | SETTLED
    const queue = this.guard?.queue
    if (queue !== undefined) {
      queue.cancel(this.guard as AttemptGuard)
      this.release()
    }
    return true
  }
}

/** @internal `true` when `ctx` is the context of an inline attempt 1 of {@link attemptWork} (see `attemptFailed`). */
export const isInlineAttempt = (ctx: TaskContext<ResourceRecord>): boolean => ctx instanceof InlineAttempt

/** `InlineAttempt.bits` (above `AttemptContext`'s own): the attempt settled. */
const SETTLED = 2

const execute = (t: TeardownLogic): void => {
  if (typeof t === 'function') t()
  else if (typeof t === 'object') t.unsubscribe()
}

/**
 * The policies an inline attempt holds: the breaker's permit it settles, and its deadline in the
 * scheduler's deadline queue. In the visit's teardown: released unsettled, the attempt settles nothing
 * more and the permit counts as a failure. A poll's attempt 1 holds one too (streams/runPollState.ts).
 *
 * @internal
 */
export class AttemptGuard implements Deadline, Unsubscribable {
  // declared, not defined, and assigned once in the constructor (one guard per guarded attempt): see
  // AttemptContext (streams/runTask.ts)
  declare deadlineAt: number
  declare deadlineSeq: number
  declare deadlineQueued: boolean
  declare private readonly attempt: { expire(): void; unsubscribe(): void }
  /** The breaker's permit (a half-open trial, or a breaker made elsewhere)... */
  declare private readonly permit: CircuitPermit | undefined
  /** ...or a breaker of this library, closed when it admitted the attempt in `epoch`. */
  declare private readonly breaker: InlinePermits | undefined
  declare private readonly epoch: number
  /** The deadline queue the attempt timeout's deadline is in, if the attempt has one. */
  declare queue: DeadlineQueue | undefined
  constructor(
    attempt: { expire(): void; unsubscribe(): void },
    permit: CircuitPermit | undefined,
    breaker: InlinePermits | undefined,
    epoch: number,
  ) {
    this.deadlineAt = 0
    this.deadlineSeq = 0
    this.deadlineQueued = false
    this.attempt = attempt
    this.permit = permit
    this.breaker = breaker
    this.epoch = epoch
    this.queue = undefined
  }
  /** Settles the attempt's outcome on the breaker, if it has one. */
  settle(ok: boolean): void {
    const permit = this.permit
    if (permit !== undefined) {
      if (ok) permit.success()
      else permit.failure()
    } else this.breaker?.settle(this.epoch, ok)
  }
  expire(): void {
    this.attempt.expire()
  }
  unsubscribe(): void {
    this.attempt.unsubscribe()
  }
}

/**
 * @internal Attempt 1 of `call`, run inline by a caller of its own (a split branch that is its own attempt
 * context, streams/runSplitState.ts), failed with `thrown`: the retry loop reports it and decides, as after
 * {@link attemptWork}'s inline attempt.
 */
export const retryAfterFirstFailure = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  thrown: unknown,
): void => retryLoop(env, call, callbacks, { thrown })

/**
 * @internal Attempts 2.. (and attempt 1 of a state that must consult a breaker or limiter): the RxJS retry
 * loop. `firstFailure`: attempt 1 ran on a fast path of its own (an inline task attempt, a poll loop) and failed.
 */
export const retryLoop = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  firstFailure: { readonly thrown: unknown } | undefined,
  resumed?: ResumedAttempts,
): void => {
  // a first attempt that failed after its visit was released (a cancelled run): nobody is listening
  if (callbacks.closed === true) return
  let attempts = resumed?.attempt ?? 1
  callbacks.add(
    runAttempts(
      env,
      env.config,
      (ctx: TaskContext<R>) => {
        attempts = ctx.attempt
        return fromTaskOutput<A>(() => call(ctx))
      },
      firstFailure,
      resumed,
    ).subscribe({
      next: (v) => callbacks.onValue(v, attempts),
      error: (e: unknown) => callbacks.onError(e, attempts),
    }),
  )
}

/**
 * @internal A state whose every attempt is one Observable of the next state (a poll loop, a batch
 * cycle, a stream's consumption): the attempt runs under the retry loop, the frame reports it.
 */
export const runAttemptLoop = <S extends string, R extends ResourceRecord>(
  env: StateEnv<S, R>,
  attempt: (ctx: TaskContext<R>) => Observable<unknown>,
  resumed?: ResumedAttempts,
): Observable<S> => runStateBody(env, (frame) => attemptWork<S, R, unknown>(env, attempt, frame, false, resumed))
