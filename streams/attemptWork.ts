/**
 * `attemptWork`: one unit of work of a state (a task call, a step) under the retry loop, reporting
 * through callbacks rather than an Observable so the engine's hot path allocates no operator chain.
 *
 * Fast path (the state has no attempt timeout, breaker or limiter): attempt 1 runs inline, and a
 * value, a Promise, an Observable or a `TaskEither` is unwrapped directly. Any failure, and every
 * configured policy, goes through `runAttempts` (the RxJS retry loop), which picks up a failed
 * first attempt where the fast path left it, so the retry decisions live in one place.
 *
 * @internal
 * @since 0.1.0
 */
import { type Observable, take, type TeardownLogic, throwIfEmpty } from 'rxjs'

import { taskExecutionError, timeoutError } from '../src/CanoError.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { fromTaskOutput, isEither, isThenable } from './fromTaskOutput.js'
import { AttemptContext, type AttemptEnv, noProgress, runAttempts } from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

/** @internal What `attemptWork` needs to know about the state. */
export interface WorkEnv<S extends string, R extends ResourceRecord> extends AttemptEnv<S, R> {
  readonly config: ResolvedTaskConfig
  readonly fast: boolean
}

/** @internal Callbacks of {@link attemptWork}. `onValue` gets the unwrapped value and the attempts it took. */
export interface WorkCallbacks<A> {
  onValue(value: A, attempts: number): void
  onError(thrown: unknown): void
  add(teardown: TeardownLogic): void
  /** `true` once the work is no longer wanted (the visit was released): a late failure starts no retry. */
  readonly closed?: boolean
}

/** @internal The progress reporter of one state visit. */
export const progressOf = <S extends string, R extends ResourceRecord>(
  env: AttemptEnv<S, R>,
): ((data: unknown) => void) => {
  const { emit, workflowId, state, taskId, now } = env
  return emit === undefined
    ? noProgress
    : (data) => emit({ _tag: 'Progress', workflowId, at: now(), state, taskId, data })
}

/** @internal Runs `call` under `env.config`'s retry loop; see the module comment. */
export const attemptWork = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  /** `false` sends attempt 1 through the retry loop too (a kind whose attempt is an Observable). */
  fast: boolean = env.fast,
): void => {
  if (!fast) return retryLoop(env, call, callbacks, undefined)
  // attempt 1 inline; with an attempt timeout it gets its own (lazily created) signal and a deadline
  const timeoutMs = env.config.attemptTimeoutMs
  const ctx = new AttemptContext<R>(
    env.res,
    1,
    env.workflowId,
    env.state,
    progressOf(env),
    env.split,
    env,
    timeoutMs !== undefined,
  )
  if (timeoutMs === undefined) {
    // the hot path: no deadline to race, so nothing to guard against a second settlement
    let out: unknown
    try {
      out = call(ctx)
    } catch (thrown: unknown) {
      return retryLoop(env, call, callbacks, { thrown })
    }
    return settleOutput(
      env,
      callbacks,
      out,
      (v) => settleValue(env, call, callbacks, v),
      (thrown) => retryLoop(env, call, callbacks, { thrown }),
    )
  }
  let settled = false
  const finish = (): boolean => {
    if (settled) return false
    settled = true
    deadline.unsubscribe()
    ctx.release()
    return true
  }
  const failed = (thrown: unknown): void => {
    if (finish()) retryLoop(env, call, callbacks, { thrown })
  }
  const settle = (v: unknown): void => {
    if (finish()) settleValue(env, call, callbacks, v)
  }
  const deadline = env.scheduler.schedule(() => {
    const error = timeoutError(timeoutMs)
    ctx.abort(error)
    failed(error)
  }, timeoutMs)
  callbacks.add(deadline)
  callbacks.add(() => ctx.release())
  let out: unknown
  try {
    out = call(ctx)
  } catch (thrown: unknown) {
    return failed(thrown)
  }
  return settleOutput(env, callbacks, out, settle, failed)
}

/** Attempts 2.. (and attempt 1 of a state that must consult a breaker or limiter): the RxJS retry loop. */
const retryLoop = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  firstFailure: { readonly thrown: unknown } | undefined,
): void => {
  // a first attempt that failed after its visit was released (a cancelled run): nobody is listening
  if (callbacks.closed === true) return
  let attempts = 1
  callbacks.add(
    runAttempts(
      env,
      env.config,
      (ctx: TaskContext<R>) => {
        attempts = ctx.attempt
        return fromTaskOutput<A>(() => call(ctx))
      },
      firstFailure,
    ).subscribe({ next: (v) => callbacks.onValue(v, attempts), error: (e: unknown) => callbacks.onError(e) }),
  )
}

/** A value of attempt 1: an fp-ts `Either` is unwrapped (a `Left` fails the attempt). */
const settleValue = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  call: (ctx: TaskContext<R>) => unknown,
  callbacks: WorkCallbacks<A>,
  v: unknown,
): void => {
  if (!isEither(v)) callbacks.onValue(v as A, 1)
  else if (v._tag === 'Right') callbacks.onValue(v.right as A, 1)
  else retryLoop(env, call, callbacks, { thrown: v.left })
}

/** Waits for what attempt 1 returned: a Promise, an Observable or `TaskEither`, or a plain value. */
const settleOutput = <S extends string, R extends ResourceRecord, A>(
  env: WorkEnv<S, R>,
  callbacks: WorkCallbacks<A>,
  out: unknown,
  settle: (v: unknown) => void,
  failed: (thrown: unknown) => void,
): void => {
  if (isThenable(out)) {
    out.then(settle, failed)
    return
  }
  if (typeof out !== 'object' && typeof out !== 'function') return settle(out)
  callbacks.add(
    fromTaskOutput<unknown>(() => out)
      .pipe(
        take(1),
        throwIfEmpty(() => taskExecutionError(`task for state ${JSON.stringify(env.state)} completed without a value`)),
      )
      .subscribe({ next: settle, error: failed }),
  )
}

/**
 * @internal A state whose every attempt is one Observable of the next state (a poll loop, a batch
 * cycle, a stream's consumption): the attempt runs under the retry loop, the frame reports it.
 */
export const runAttemptLoop = <S extends string, R extends ResourceRecord>(
  env: StateEnv<S, R>,
  attempt: (ctx: TaskContext<R>) => Observable<unknown>,
): Observable<S> => runStateBody(env, (frame) => attemptWork<S, R, unknown>(env, attempt, frame, false))
