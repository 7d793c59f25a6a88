/**
 * The `sleep` state kind (a durable timer): computes the wake-up instant once (or takes the one a resumed run
 * persisted), reports it as `TimerArmed`, and waits on the run's scheduler for what is left, then moves
 * to `then`, or calls `afterWait` once and moves to the state it chooses (its output read like a task's,
 * by `settleTaskOutput`). A cancelled run stops waiting at once (the wait is one action on the run's
 * scheduler, released with the visit). A parked run holds that action, its alarm and its visit frame:
 * nothing else.
 *
 * @internal
 * @since 0.1.0
 */
import {
  type Observable,
  type SchedulerAction,
  type SchedulerLike,
  type TeardownLogic,
  type Unsubscribable,
} from 'rxjs'

import { taskExecutionError } from '../src/CanoError.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import { type SleepHandler, wakeAt } from '../src/Sleep.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import { progressOf } from './attemptWork.js'
import { type OutputSink, settleTaskOutput } from './fromTaskOutput.js'
import { AttemptContext } from './runTask.js'
import { runStateBody, type Settle, type StateEnv, type StateFrame } from './stateRunner.js'

/** @internal Where a timer starts and how it persists its wake-up instant. */
export interface TimerHooks {
  /** The wake-up instant a resumed run persisted: only what is left of it is waited. */
  readonly resumeWakeAt?: number | undefined
  /** Persists the wake-up instant before the wait; the Observable completes once it is durable. */
  readonly persist?: ((wakeAt: number) => Observable<never>) | undefined
}

/** @internal Runs a `sleep` state. */
export const runSleepState = <S extends string, R extends ResourceRecord>(
  handler: SleepHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: TimerHooks = {},
): Observable<S> =>
  runStateBody(env, (settle) => {
    const now = env.now()
    const resumed = hooks.resumeWakeAt
    let at = resumed
    if (at === undefined) {
      let wait: unknown
      try {
        wait =
          typeof handler.wait === 'function'
            ? handler.wait(new AttemptContext<R>(env, 1, progressOf(env), false))
            : handler.wait
      } catch (thrown: unknown) {
        return settle.fail(thrown)
      }
      const checked = wakeAt(wait, now, `state ${JSON.stringify(env.state)}`)
      if (checked._tag === 'Left') return settle.fail(checked.left)
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
    // parked: this alarm, its timer and the visit's frame are all a waiting run holds
    const wait = (): void => settle.add(new Alarm(settle, handler, wakeUp).arm())
    if (resumed !== undefined || hooks.persist === undefined) return wait()
    // the wake-up instant is durable before the wait starts; what is left is measured after the write
    settle.add(hooks.persist(wakeUp).subscribe({ error: (e: unknown) => settle.fail(e), complete: wait }))
    return undefined
  })

/**
 * The wait of one visit: one timer on the run's scheduler until `wakeAt`. An instant further away
 * than a JS timer can hold (about 24.8 days) is reached in hops. Always the run's scheduler, never a
 * bare `setTimeout`: `TestScheduler.run` swaps the default `asyncScheduler` for virtual time.
 */
class Alarm<S extends string, R extends ResourceRecord> implements Unsubscribable {
  private timer: Unsubscribable | undefined
  /** The timer was capped at {@link MAX_TIMER_MS}: when it fires, the rest is waited. */
  private hop = false
  constructor(
    /** The visit's frame (its env is the alarm's: no field of its own). */
    private readonly settle: StateFrame<S, R>,
    private readonly handler: SleepHandler<S, R>,
    private readonly wakeAt: number,
  ) {}

  private get env(): StateEnv<S, R> {
    return this.settle.visitEnv
  }

  arm(): this {
    const scheduler: SchedulerLike = this.env.scheduler
    const left = Math.max(0, this.wakeAt - scheduler.now())
    this.hop = left > MAX_TIMER_MS
    const delay = this.hop ? MAX_TIMER_MS : left
    this.timer = scheduler.schedule<Ringing>(ring, delay, this)
    return this
  }

  ring(): void {
    this.timer = undefined
    if (this.hop) return void this.arm()
    const { handler, settle } = this
    const afterWait = handler.afterWait
    if (afterWait === undefined) return settle.succeed(handler.then, 1)
    // the wait is over: afterWait chooses the next state (one attempt, its output read like a task's)
    const { env } = this
    let out: unknown
    try {
      out = afterWait(new AttemptContext<R>(env, 1, progressOf(env), false))
    } catch (thrown: unknown) {
      return settle.fail(thrown)
    }
    settleTaskOutput(out, new AfterWaitSink(settle, env.state))
  }

  unsubscribe(): void {
    const t = this.timer
    this.timer = undefined
    t?.unsubscribe()
  }
}

/** The scheduled work of a wake-up (a plain function: no closure per parked run). */
function ring(this: SchedulerAction<Ringing>, alarm?: Ringing): void {
  alarm?.ring()
}

/** What the scheduled wake-up calls. */
interface Ringing {
  ring(): void
}

/** Where the output of `afterWait` goes: the state it names (checked like a task's), or the state's failure. */
class AfterWaitSink implements OutputSink {
  constructor(
    private readonly settle: Settle,
    private readonly state: string,
  ) {}
  value(next: unknown): void {
    this.settle.succeed(next, 1)
  }
  error(e: unknown): void {
    this.settle.fail(e)
  }
  empty(): void {
    this.settle.fail(taskExecutionError(`afterWait of state ${JSON.stringify(this.state)} completed without a value`))
  }
  add(teardown: TeardownLogic): void {
    this.settle.add(teardown)
  }
}
