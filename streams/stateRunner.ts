/**
 * The frame every state kind runs in: `runStateBody` emits `TaskStarted`, lets the kind's body run,
 * validates the state it settles on (a string, inside the declared targets), emits `TaskSucceeded`
 * or `TaskFailed` (plus `CircuitRejected` for a breaker rejection) and emits the next state once.
 * A body settles synchronously or later; synchronous successes are trampolined through
 * `queueScheduler` so a run of synchronous states never grows the stack.
 *
 * @internal
 * @since 0.1.0
 */
import { Observable, queueScheduler, Subscription, type TeardownLogic } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { toCanoError, workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import { type AttemptEnv, CircuitRejection } from './runTask.js'

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

/** @internal How a kind's body reports its outcome. Settling twice is ignored. */
export interface Settle {
  /** The state chose `next` after `attempts` attempts. Safe to call synchronously. */
  readonly succeed: (next: unknown, attempts: number) => void
  /** The state failed with `thrown` (converted with `toCanoError`; a `CircuitRejection` is unwrapped). */
  readonly fail: (thrown: unknown) => void
  /** Subscriptions the body starts are added here and released with the state. */
  readonly add: (teardown: TeardownLogic) => void
}

/** @internal Wraps a state kind's `body` into the Observable of the next state. */
export const runStateBody = <S extends string, R extends ResourceRecord>(
  env: StateEnv<S, R>,
  body: (settle: Settle) => void,
): Observable<S> =>
  new Observable<S>((subscriber) => {
    const { emit, now, workflowId, state, taskId } = env
    if (emit !== undefined) emit({ _tag: 'TaskStarted', workflowId, at: now(), state, taskId })
    let inner: Subscription | undefined
    const add = (t: TeardownLogic): void => {
      inner ??= new Subscription()
      inner.add(t)
    }
    let settled = false
    const fail = (thrown: unknown): void => {
      if (settled) return
      settled = true
      const rejected = thrown instanceof CircuitRejection
      const error = rejected ? thrown.error : toCanoError(thrown)
      if (emit !== undefined) {
        if (rejected) emit({ _tag: 'CircuitRejected', workflowId, at: now(), state, taskId, error })
        emit({ _tag: 'TaskFailed', workflowId, at: now(), state, taskId, error })
      }
      subscriber.error(error)
    }
    const deliver = (next: unknown, attempts: number): void => {
      const invalid = checkTarget(state, env.to, next)
      if (invalid !== undefined) {
        settled = false
        return fail(invalid)
      }
      if (emit !== undefined)
        emit({ _tag: 'TaskSucceeded', workflowId, at: now(), state, taskId, attempts, next: next as S })
      subscriber.next(next as S)
      subscriber.complete()
    }
    let synchronous = true
    const succeed = (next: unknown, attempts: number): void => {
      if (settled) return
      settled = true
      // a success inside the body's own call is trampolined (flat stack); a later one is delivered at once
      if (synchronous) add(queueScheduler.schedule(() => deliver(next, attempts)))
      else deliver(next, attempts)
    }
    body({ succeed, fail, add })
    synchronous = false
    return () => inner?.unsubscribe()
  })

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
