/**
 * `attemptWork`: one unit of work of a state (a task call, a step) under the retry loop, reporting
 * through callbacks rather than an Observable so the engine's hot path allocates no operator chain.
 *
 * Fast path (no circuit breaker or rate limiter to consult first: `runsInline` in src/TaskConfig.ts): attempt 1
 * runs inline, with its own deadline when the work has an attempt timeout, and its output is read by
 * `settleTaskOutput` (streams/fromTaskOutput.ts), the interpreter the retry loop uses too: a value
 * settles at once, a Promise, an Observable or a `TaskEither` when it delivers. Any failure, and every
 * configured breaker or limiter, goes through `runAttempts` (the RxJS retry loop), which picks up a
 * failed first attempt where the fast path left it, so the retry decisions live in one place. The
 * task, router, saga and stepped kinds and every branch of a split run their work through here.
 *
 * @internal
 * @since 0.1.0
 */
import type { Observable, Subscription, TeardownLogic } from 'rxjs'

import { taskExecutionError, timeoutError } from '../src/CanoError.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { fromTaskOutput, type OutputSink, settleTaskOutput } from './fromTaskOutput.js'
import {
  AttemptContext,
  type AttemptEnv,
  attemptScope,
  noProgress,
  type ResumedAttempts,
  runAttempts,
} from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

/** @internal What `attemptWork` needs to know about the state. */
export interface WorkEnv<S extends string, R extends ResourceRecord> extends AttemptEnv<S, R> {
  readonly config: ResolvedTaskConfig
  readonly fast: boolean
}

/** @internal Callbacks of {@link attemptWork}. `onValue` gets the unwrapped value and the attempts it took. */
export interface WorkCallbacks<A> {
  onValue(value: A, attempts: number): void
  /** The work failed for good after `attempts` attempts. */
  onError(thrown: unknown, attempts: number): void
  add(teardown: TeardownLogic): void
  /** `true` once the work is no longer wanted (the visit was released): a late failure starts no retry. */
  readonly closed?: boolean
}

/** @internal The progress reporter of one state visit. */
export const progressOf = <S extends string, R extends ResourceRecord>(
  env: AttemptEnv<S, R>,
): ((data: unknown) => void) => {
  const emit = env.emit
  if (emit === undefined) return noProgress
  // the task id is read when reporting: a split branch's is built on demand
  return (data) =>
    emit({ _tag: 'Progress', workflowId: env.workflowId, at: env.now(), state: env.state, taskId: env.taskId, data })
}

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
  // attempt 1 inline; with an attempt timeout it gets its own (lazily created) signal and a deadline
  const timeoutMs = env.config.attemptTimeoutMs
  const first = new InlineAttempt<S, R, A>(env, call, callbacks, timeoutMs !== undefined)
  if (timeoutMs !== undefined) {
    const deadline = env.scheduler.schedule(() => {
      const error = timeoutError(timeoutMs)
      first.abort(error)
      first.error(error)
    }, timeoutMs)
    first.deadline = deadline
    callbacks.add(deadline)
    callbacks.add(() => first.release())
  }
  const around = env.around
  if (around === undefined) return startInline(call, first)
  around(attemptScope(env, 1, undefined), () => startInline(call, first))
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
  settleTaskOutput(out, first)
}

/**
 * The inline attempt 1: the context the call receives and the sink of its output, in one object
 * (the engine's hot path allocates one per state visit). It settles once (the output, or the
 * deadline of an attempt timeout, whichever comes first); a failure hands over to the retry loop.
 */
class InlineAttempt<S extends string, R extends ResourceRecord, A>
  extends AttemptContext<R, WorkEnv<S, R>>
  implements OutputSink
{
  // declared, not defined: see AttemptContext (streams/runTask.ts)
  declare private readonly call: (ctx: TaskContext<R>) => unknown
  declare private readonly callbacks: WorkCallbacks<A>
  declare private settled: boolean
  /** The attempt timeout's deadline, if the work has one. */
  declare deadline: Subscription | undefined
  constructor(env: WorkEnv<S, R>, call: (ctx: TaskContext<R>) => unknown, callbacks: WorkCallbacks<A>, timed: boolean) {
    super(env, 1, progressOf(env), timed)
    this.call = call
    this.callbacks = callbacks
    this.settled = false
    this.deadline = undefined
  }
  value(v: unknown): void {
    if (this.finish()) this.callbacks.onValue(v as A, 1)
  }
  error(thrown: unknown): void {
    if (this.finish()) retryLoop(this.env, this.call, this.callbacks, { thrown })
  }
  empty(): void {
    this.error(taskExecutionError(`task for state ${JSON.stringify(this.env.state)} completed without a value`))
  }
  add(teardown: TeardownLogic): void {
    this.callbacks.add(teardown)
  }
  private finish(): boolean {
    if (this.settled) return false
    this.settled = true
    const deadline = this.deadline
    if (deadline !== undefined) {
      deadline.unsubscribe()
      this.release()
    }
    return true
  }
}

/** Attempts 2.. (and attempt 1 of a state that must consult a breaker or limiter): the RxJS retry loop. */
const retryLoop = <S extends string, R extends ResourceRecord, A>(
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
