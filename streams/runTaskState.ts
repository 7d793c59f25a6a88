/**
 * The `task` / `router` state kind. Fast path (no attempt timeout, breaker or limiter): attempt 1
 * runs inline with no operator in between. Any failure, and every configured policy, goes through
 * `runAttempts` (the RxJS retry loop), which picks up a failed first attempt where the fast path
 * left it.
 *
 * @internal
 * @since 0.1.0
 */
import { type Observable, take, throwIfEmpty } from 'rxjs'

import { taskExecutionError } from '../src/CanoError.js'
import type { TaskHandler } from '../src/StateHandler.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import { AttemptContext, noProgress, runAttempts } from './runTask.js'
import { isEither, isThenable, runStateBody, type StateEnv } from './stateRunner.js'

/** @internal The progress reporter of one state visit. */
export const progressOf = <S extends string, R extends ResourceRecord>(env: StateEnv<S, R>): ((data: unknown) => void) => {
  const { emit, workflowId, state, taskId, now } = env
  return emit === undefined ? noProgress : (data) => emit({ _tag: 'Progress', workflowId, at: now(), state, taskId, data })
}

/** @internal Runs a `task` or `router` state. */
export const runTaskState = <S extends string, R extends ResourceRecord>(
  handler: TaskHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> =>
  runStateBody(env, ({ succeed, fail, add }) => {
    const run = handler.run
    let attempts = 1
    const retryLoop = (firstFailure?: { readonly thrown: unknown }): void =>
      add(
        runAttempts(
          env,
          env.config,
          (ctx: TaskContext<R>) => {
            attempts = ctx.attempt
            return fromTaskOutput<S>(() => run(ctx))
          },
          firstFailure,
        ).subscribe({ next: (v) => succeed(v, attempts), error: fail }),
      )
    if (!env.fast) return retryLoop()

    const ctx = new AttemptContext<R>(env.res, 1, env.workflowId, env.state, progressOf(env), env.split, env.runSignal, false)
    let out: unknown
    try {
      out = run(ctx)
    } catch (thrown: unknown) {
      return retryLoop({ thrown })
    }
    const settle = (v: unknown): void => {
      if (!isEither(v)) succeed(v, 1)
      else if (v._tag === 'Right') succeed(v.right, 1)
      else retryLoop({ thrown: v.left })
    }
    if (typeof out === 'string') return succeed(out, 1)
    if (isThenable(out)) {
      out.then(settle, (thrown: unknown) => retryLoop({ thrown }))
      return undefined
    }
    const first = out
    add(
      fromTaskOutput<unknown>(() => first)
        .pipe(
          take(1),
          throwIfEmpty(() => taskExecutionError(`task for state ${JSON.stringify(env.state)} completed without a value`)),
        )
        .subscribe({ next: settle, error: (thrown: unknown) => retryLoop({ thrown }) }),
    )
    return undefined
  })
