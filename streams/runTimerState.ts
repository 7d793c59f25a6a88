/**
 * The `timer` state kind: computes the wake-up instant once (or takes the one a resumed run
 * persisted), reports it as `TimerArmed`, and waits on the run's scheduler for what is left. A
 * cancelled run stops waiting at once (the wait is an RxJS `timer`, unsubscribed with the run).
 *
 * @internal
 * @since 0.1.0
 */
import { concat, EMPTY, type Observable, timer } from 'rxjs'

import type { ResourceRecord } from '../src/TaskContext.js'
import { type TimerHandler, wakeAt } from '../src/Timer.js'
import { progressOf } from './attemptWork.js'
import { AttemptContext } from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

/** @internal Where a timer starts and how it persists its wake-up instant. */
export interface TimerHooks {
  /** The wake-up instant a resumed run persisted: only what is left of it is waited. */
  readonly resumeWakeAt?: number | undefined
  /** Persists the wake-up instant before the wait; the Observable completes once it is durable. */
  readonly persist?: ((wakeAt: number) => Observable<never>) | undefined
}

/** @internal Runs a `timer` state. */
export const runTimerState = <S extends string, R extends ResourceRecord>(
  handler: TimerHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: TimerHooks = {},
): Observable<S> =>
  runStateBody(env, ({ succeed, fail, add }) => {
    const now = env.now()
    const resumed = hooks.resumeWakeAt
    let at = resumed
    if (at === undefined) {
      let wait: unknown
      try {
        wait =
          typeof handler.wait === 'function'
            ? handler.wait(
                new AttemptContext<R>(
                  env.res,
                  1,
                  env.workflowId,
                  env.state,
                  progressOf(env),
                  env.split,
                  env.runSignal,
                  false,
                ),
              )
            : handler.wait
      } catch (thrown: unknown) {
        return fail(thrown)
      }
      const checked = wakeAt(wait, now, `state ${JSON.stringify(env.state)}`)
      if (checked._tag === 'Left') return fail(checked.left)
      at = checked.right
    }
    const wakeUp = at
    if (env.emit !== undefined)
      env.emit({
        _tag: 'TimerArmed',
        workflowId: env.workflowId,
        at: now,
        state: env.state,
        taskId: env.taskId,
        wakeAt: wakeUp,
      })
    const wait$ = timer(Math.max(0, wakeUp - now), env.scheduler)
    const persist$ = resumed === undefined && hooks.persist !== undefined ? hooks.persist(wakeUp) : EMPTY
    add(
      (persist$ === EMPTY ? wait$ : concat(persist$, wait$)).subscribe({
        next: () => succeed(handler.then, 1),
        error: fail,
      }),
    )
    return undefined
  })
