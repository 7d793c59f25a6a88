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
  subscribeOn,
  take,
  throwError,
  throwIfEmpty,
  timer,
} from 'rxjs'

import type { PollPosition } from '../codecs/CheckpointRow.js'
import { TimerDelay } from '../codecs/Config.js'
import { isRetryable, nonRetryable, taskExecutionError, workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import type { PollHandler, PollOutcome } from '../src/Poll.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { runAttemptLoop } from './attemptWork.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import type { StateEnv } from './stateRunner.js'

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
      const emit = env.emit
      if (emit !== undefined)
        emit({
          _tag: 'TimerArmed',
          workflowId: env.workflowId,
          at: env.now(),
          state: env.state,
          taskId: env.taskId,
          wakeAt,
        })
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
