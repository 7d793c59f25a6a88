/**
 * `stateRunners`: the runner of every state kind, by tag, beside the kind's descriptor
 * (`src/StateKind.ts`). A runner runs one visit of a state: it gets the handler, the visit's
 * {@link StateEnv}, the {@link RunnerHost} (the run, for the rows the kind persists and the saga
 * stack) and what a resumed visit continues from, already read off the resume point by the
 * descriptor. The driver's dispatch is one call: {@link runState}.
 *
 * @internal
 * @since 0.2.0
 */
import type { Observable } from 'rxjs'

import type { JsonValue } from '../codecs/CheckpointRow.js'
import { type Continuation, type RowDraft, stepCursor, streamWindow, timerArmed } from '../src/Resume.js'
import type { StateHandler } from '../src/StateHandler.js'
import { type HandlerOf, kindOf, type KindTag, type Resumes } from '../src/StateKind.js'
import { isStreamItems } from '../src/StreamItems.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import { runBatchState } from './runBatchState.js'
import { runPollState } from './runPollState.js'
import { runSagaState, type SagaHooks } from './runSagaState.js'
import { runSleepState } from './runSleepState.js'
import { runSplitState } from './runSplitState.js'
import { runSteppedState } from './runSteppedState.js'
import { runStreamItemsState } from './runStreamItems.js'
import { runStreamState } from './runStreamState.js'
import { runTaskState } from './runTaskState.js'
import type { StateEnv } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @internal What a runner needs of the run: the run itself implements it, so a visit allocates no
 * host object.
 */
export interface RunnerHost<S extends string, R extends ResourceRecord> {
  /** Does the run have a checkpoint store? Without one a kind persists nothing. */
  readonly persisting: boolean
  /** The owner's park threshold, when the run may park (a `poll` then makes its long waits durable). */
  readonly parkAfterMs: number | undefined
  /** Appends one row of the visited state; completes once it is durable (errors when the write fails). */
  appendRow(draft: RowDraft, env: StateEnv<S, R>): Observable<never>
  /** How a saga state records its completions on the run's compensation stack. */
  sagaHooks(env: StateEnv<S, R>): SagaHooks
}

/** @internal The runner of kind `K`. */
export type StateRunner<K extends KindTag> = <S extends string, R extends ResourceRecord>(
  handler: HandlerOf<K, S, R>,
  env: StateEnv<S, R>,
  host: RunnerHost<S, R>,
  resume: Resumes[K] | undefined,
) => Observable<S>

// -------------------------------------------------------------------------------------
// runners
// -------------------------------------------------------------------------------------

/** @internal The runner of every state kind, by tag. */
export const stateRunners: { readonly [K in KindTag]: StateRunner<K> } = {
  Task: (handler, env) => runTaskState(handler, env),
  Poll: (handler, env, host, resume) => {
    const afterMs = host.parkAfterMs
    return runPollState(handler, env, {
      resume,
      park:
        host.persisting && afterMs !== undefined
          ? { afterMs, persist: (wakeAt, position) => host.appendRow(timerArmed(wakeAt, position), env) }
          : undefined,
    })
  },
  Stepped: (handler, env, host, resume) =>
    runSteppedState(handler, env, {
      resumeCursor: resume,
      persist: host.persisting
        ? (encoded, step) => host.appendRow(stepCursor(encoded as JsonValue, step), env)
        : undefined,
    }),
  Timer: (handler, env, host, resume) =>
    runSleepState(handler, env, {
      resumeWakeAt: resume,
      persist: host.persisting ? (at) => host.appendRow(timerArmed(at), env) : undefined,
    }),
  Batch: (handler, env) => runBatchState(handler, env),
  Stream: (handler, env, host, resume) =>
    isStreamItems(handler)
      ? runStreamItemsState(handler, env, {
          resumeFrom: resume,
          persist: host.persisting ? (at, cursor) => host.appendRow(streamWindow(at, cursor), env) : undefined,
        })
      : runStreamState(handler, env, {
          resumeFrom: resume,
          persist: host.persisting ? (at) => host.appendRow(streamWindow(at), env) : undefined,
        }),
  Split: (handler, env) => runSplitState(handler, env),
  Saga: (handler, env, host) => runSagaState(handler, env, host.sagaHooks(env)),
}

/** The runner of any kind, as {@link runState} calls it (typed by the handler it is given). */
type AnyRunner = <S extends string, R extends ResourceRecord>(
  handler: StateHandler<S, R>,
  env: StateEnv<S, R>,
  host: RunnerHost<S, R>,
  resume: unknown,
) => Observable<S>

/**
 * @internal Runs one visit of `handler`'s state: its kind's runner, resumed from `from` when the visit
 * is the resume state's first (its descriptor reads what it continues from).
 */
export const runState = <S extends string, R extends ResourceRecord>(
  handler: StateHandler<S, R>,
  env: StateEnv<S, R>,
  host: RunnerHost<S, R>,
  from: Continuation | undefined,
): Observable<S> => {
  const tag = handler._tag
  // the mapped type cannot correlate a union handler with its entry: each runner gets its own kind's handler
  const run = stateRunners[tag] as AnyRunner
  return run(handler, env, host, from === undefined ? undefined : kindOf(tag).resume(from))
}
