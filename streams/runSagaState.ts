/**
 * The `saga` state kind and the rollback that undoes it.
 *
 * Forward (`runSagaState`): the handler's `run` goes through {@link attemptWork} like a task; its
 * `[next, output]` answer is checked, the output is encoded with the state's codec and round-tripped
 * through JSON (the compensation sees exactly what a resumed run would read back), then `record`
 * pushes it on the run's stack and persists it; the state moves on once the row is durable. An
 * output that does not encode is kept in memory (`keep`) and the state fails with `DecodeFailed`, so
 * the rollback that follows compensates it first, with the value itself.
 *
 * Backward (`drainCompensations`): the entries are compensated last-in first-out, one at a time,
 * every one attempted whatever happened to the previous ones. Each attempt gets a fresh
 * `AbortSignal` (the run's own signal has usually fired: that is why it is rolling back), bounded by
 * the compensation timeout and retried per `compensateRetry`. Entries whose state has no saga
 * handler are `OrphanedCompensation` errors carrying the stored output. Inner Observables are
 * subscribed through `queueScheduler`, so a long stack of synchronous compensations keeps the call
 * stack flat.
 *
 * @internal
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import {
  catchError,
  concat,
  concatMap,
  defaultIfEmpty,
  defer,
  from,
  map,
  mergeMap,
  Observable,
  of,
  queueScheduler,
  reduce,
  type SchedulerLike,
  subscribeOn,
  take,
  throwError,
  timeout,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import {
  cancelledError,
  isNonRetryable,
  orphanedCompensationError,
  timeoutError,
  toCanoError,
  workflowError,
} from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import { decodeJson, roundTripJson } from '../src/internal/jsonRoundTrip.js'
import type { Resources } from '../src/Resources.js'
import type { CompensationEntry, SagaHandler } from '../src/Saga.js'
import type { InputOf, ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { CompiledState } from '../src/WorkflowDefinition.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { attemptWork } from './attemptWork.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import { retryWithBackoffRaw } from './retryWithBackoff.js'
import { noProgress } from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal An entry of the run's stack; `value` holds the decoded output when this run produced it. */
export interface StackEntry extends CompensationEntry {
  readonly value?: { readonly decoded: unknown }
}

/** @internal How a saga state hands its finished forward step to the run. */
export interface SagaHooks {
  /**
   * Pushes the step on the run's stack and returns the Observable that persists it (it completes once
   * the `CompensationCompletion` row is durable), or `undefined` when there is nothing to wait for.
   */
  readonly record: (encoded: unknown, decoded: unknown) => Observable<never> | undefined
  /** Pushes an output that could not be encoded: it lives in memory only. */
  readonly keep: (output: unknown) => void
}

/** @internal What a rollback needs. */
export interface DrainEnv<S extends string, R extends ResourceRecord> {
  readonly workflowId: string
  readonly res: Resources<R>
  /** The run's decoded input (`ctx.input` of a compensation). */
  readonly input: unknown
  readonly scheduler: SchedulerLike
  readonly random: () => number
  readonly now: () => number
  readonly emit: ((e: WorkflowEvent<S>) => void) | undefined
  /** The compiled state an entry was recorded under (its compensator), if it still exists. */
  readonly lookup: (state: string) => CompiledState<S, R> | undefined
  /**
   * Writes the `CompensationDone` row of a compensated entry that has a `CompensationCompletion` row (at
   * `seq`); `undefined` without a store.
   */
  readonly markDone: ((entry: CompensationEntry, seq: number) => Observable<never>) | undefined
}

// -------------------------------------------------------------------------------------
// forward
// -------------------------------------------------------------------------------------

/** @internal Runs a `saga` state forward. */
export const runSagaState = <S extends string, R extends ResourceRecord>(
  handler: SagaHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: SagaHooks,
): Observable<S> =>
  runStateBody(env, (settle) =>
    attemptWork<S, R, unknown>(env, handler.run, {
      onValue: (answer, attempts) => {
        const label = JSON.stringify(env.state)
        if (!Array.isArray(answer) || answer.length !== 2)
          return settle.fail(
            workflowError(
              `saga for state ${label} returned ${describeValue(answer)}; expected [nextState, output]`,
              env.state,
            ),
          )
        const pair: ReadonlyArray<unknown> = answer
        const next = pair[0]
        const output = pair[1]
        const trip = roundTripJson(handler.output, output, `state ${label}, saga output`, 'output')
        if (E.isLeft(trip)) {
          // the step happened but its output cannot be stored: undo it at once, from the value in memory
          hooks.keep(output)
          return settle.fail(trip.left)
        }
        const persist$ = hooks.record(trip.right.encoded, trip.right.decoded)
        if (persist$ === undefined) return settle.succeed(next, attempts)
        settle.add(
          persist$.subscribe({ complete: () => settle.succeed(next, attempts), error: (e: unknown) => settle.fail(e) }),
        )
        return undefined
      },
      onError: (e, attempts) => settle.fail(e, attempts),
      add: (t) => settle.add(t),
    }),
  )

// -------------------------------------------------------------------------------------
// backward
// -------------------------------------------------------------------------------------

/**
 * @internal Compensates `entries` (oldest first) last-in first-out; emits the compensation errors in
 * drain order, once, when every entry has been attempted.
 */
export const drainCompensations = <S extends string, R extends ResourceRecord>(
  env: DrainEnv<S, R>,
  entries: ReadonlyArray<StackEntry>,
): Observable<ReadonlyArray<CanoError>> =>
  defer(() => from([...entries].reverse())).pipe(
    concatMap((entry) => defer(() => compensateEntry(env, entry)).pipe(subscribeOn(queueScheduler))),
    reduce<CanoError | undefined, CanoError[]>((errors, e) => (e === undefined ? errors : [...errors, e]), []),
  )

/** One entry: emits `undefined` once it is compensated (and marked done), or its error. */
const compensateEntry = <S extends string, R extends ResourceRecord>(
  env: DrainEnv<S, R>,
  entry: StackEntry,
): Observable<CanoError | undefined> => {
  const { emit, workflowId, now } = env
  const state = entry.state as S
  const { taskId, seq } = entry
  if (emit !== undefined) emit({ _tag: 'CompensationStarted', workflowId, at: now(), state, taskId, seq })
  let attempts = 0
  const compiled = env.lookup(entry.state)
  const work$: Observable<unknown> =
    compiled === undefined || compiled.handler._tag !== 'Saga'
      ? throwError(() => orphanedCompensationError(entry.state, entry.encoded))
      : compensation(env, entry, compiled.handler, compiled.config.attemptTimeoutMs, () => ++attempts)
  return work$.pipe(
    map((): true => true),
    catchError((e: unknown) => of(toCanoError(e))),
    mergeMap((result): Observable<CanoError | undefined> => {
      if (result !== true) {
        if (emit !== undefined)
          emit({ _tag: 'CompensationFailed', workflowId, at: now(), state, taskId, seq, error: result })
        return of(result)
      }
      if (emit !== undefined) emit({ _tag: 'Compensated', workflowId, at: now(), state, taskId, seq, attempts })
      const done$ = seq === undefined ? undefined : env.markDone?.(entry, seq)
      return done$ === undefined
        ? of(undefined)
        : concat(done$, of(undefined)).pipe(catchError((e: unknown) => of(toCanoError(e))))
    }),
  )
}

/** The compensation of one entry under its timeout and retry policy; emits once when it succeeded. */
const compensation = <S extends string, R extends ResourceRecord>(
  env: DrainEnv<S, R>,
  entry: StackEntry,
  handler: SagaHandler<S, R>,
  stateTimeoutMs: number | undefined,
  nextAttempt: () => number,
): Observable<unknown> => {
  const label = JSON.stringify(entry.state)
  let output: unknown
  if (entry.value !== undefined) output = entry.value.decoded
  else {
    const back = decodeJson(handler.output, entry.encoded, `compensation output of state ${label}`)
    if (E.isLeft(back)) return throwError(() => back.left)
    output = back.right.decoded
  }
  const timeoutMs = handler.compensateTimeoutMs ?? stateTimeoutMs
  const { res, workflowId, scheduler, input } = env
  const one$ = new Observable<unknown>((subscriber) => {
    const controller = new AbortController()
    const ctx: TaskContext<R> = {
      res,
      signal: controller.signal,
      attempt: nextAttempt(),
      workflowId,
      state: entry.state,
      progress: noProgress,
      split: undefined,
      input: input as InputOf<R>,
    }
    let call$ = fromTaskOutput<unknown>(() => handler.compensate(ctx, output)).pipe(take(1), defaultIfEmpty(undefined))
    if (timeoutMs !== undefined)
      call$ = call$.pipe(
        timeout<unknown, Observable<never>>({
          first: timeoutMs,
          scheduler,
          with: () => {
            const error = timeoutError(
              timeoutMs,
              `compensation of state ${label} exceeded its timeout of ${timeoutMs} ms`,
            )
            controller.abort(error)
            return throwError(() => error)
          },
        }),
      )
    let settled = false
    const sub = call$.subscribe({
      next: (v) => {
        settled = true
        subscriber.next(v)
        subscriber.complete()
      },
      error: (e: unknown) => {
        settled = true
        subscriber.error(isNonRetryable(e) ? e : toCanoError(e))
      },
    })
    return () => {
      sub.unsubscribe()
      if (!settled) controller.abort(cancelledError('compensation abandoned: the run was unsubscribed'))
    }
  })
  return one$.pipe(retryWithBackoffRaw({ mode: handler.compensateRetry, random: env.random, scheduler }))
}
