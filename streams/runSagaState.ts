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
 * Interrupted (a cancellation or the total timeout, src/RunMachine.ts `Finishing`): the run's signal
 * aborts but the step's attempts have signals of their own (`shielded`), so an attempt in flight
 * finishes, bounded by its attempt timeout, and a step that finishes is recorded (then rolled back with
 * the rest); no retry starts after the signal, and a step with no attempt in flight (waiting to retry,
 * or for a limiter) fails at once with the interruption.
 *
 * Backward (`drainCompensations`): the entries are compensated last-in first-out, one at a time,
 * every one attempted whatever happened to the previous ones (within the rollback's budget, below). Each attempt gets a fresh
 * `AbortSignal` (the run's own signal has usually fired: that is why it is rolling back), bounded by
 * the compensation timeout and retried per `compensateRetry`. Entries whose state has no saga
 * handler are `OrphanedCompensation` errors carrying the stored output. Inner Observables are
 * subscribed through `queueScheduler`, so a long stack of synchronous compensations keeps the call
 * stack flat.
 *
 * The budget (`compensationTimeoutMs`, resolved by src/WorkflowDefinition.ts): one deadline for the
 * whole rollback, from its start (the wait for a write in flight and the `RollbackStarted` row
 * included). When it passes, the compensation in flight is abandoned (its signal aborts with a
 * `Timeout` naming the budget, and it reports `CompensationFailed` with that error), every entry not
 * reached reports `CompensationFailed` with an `OrphanedCompensation` carrying its stored output, and
 * a summary `Timeout` says how many were left: cano 0.14's bounded drain. A `CompensationDone` row in
 * flight at that moment is left to land.
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
  EMPTY,
  from,
  isObservable,
  map,
  mergeMap,
  Observable,
  of,
  queueScheduler,
  type SchedulerLike,
  subscribeOn,
  type Subscription,
  take,
  type TeardownLogic,
  throwError,
  timeout,
  type Unsubscribable,
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
import type { AroundAttempt, AttemptScope } from '../src/WorkflowObserver.js'
import { attemptWork, isInlineAttempt, type WorkCallbacks } from './attemptWork.js'
import { fromTaskOutput, isEither, isThenable } from './fromTaskOutput.js'
import { retryWithBackoffRaw } from './retryWithBackoff.js'
import { noProgress } from './runTask.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

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
  record(encoded: unknown, decoded: unknown): Observable<never> | undefined
  /** Pushes an output that could not be encoded: it lives in memory only. */
  keep(output: unknown): void
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
  /** The observers' `aroundAttempt` (src/WorkflowObserver.ts): each compensation attempt starts inside it. */
  readonly around?: AroundAttempt<S> | undefined
  /** The compiled state an entry was recorded under (its compensator), if it still exists. */
  readonly lookup: (state: string) => CompiledState<S, R> | undefined
  /**
   * Writes the `CompensationDone` row of a compensated entry that has a `CompensationCompletion` row (at
   * `seq`); `undefined` without a store.
   */
  readonly markDone: ((entry: CompensationEntry, seq: number) => Observable<never>) | undefined
  /** The rollback's budget in ms, from the drain's start; `undefined`: none. */
  readonly budgetMs: number | undefined
}

// -------------------------------------------------------------------------------------
// forward
// -------------------------------------------------------------------------------------

/** @internal Runs a `saga` state forward. */
export const runSagaState = <S extends string, R extends ResourceRecord>(
  handler: SagaHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: SagaHooks,
): Observable<S> => runStateBody(env, (settle) => new SagaStep(handler, env, hooks, settle).start())

/**
 * One visit of a saga's forward step: the work's callbacks, the listener of the run's signal and the
 * tracker of the attempt in flight in one object (no closure per visit but its bound `attempt`).
 */
class SagaStep<S extends string, R extends ResourceRecord> implements WorkCallbacks<unknown>, Unsubscribable {
  /** Whether an attempt is in flight: from its call until it fails, times out or is abandoned (an attempt that answered stays in flight: its output is being recorded). */
  running = false
  /**
   * Attempt 1 handed its Promise output on as it is: the attempt is no longer in flight once it fails
   * (`attemptFailed`, called by `attemptWork` before its retry loop decides).
   */
  private tracking = false
  private signal: AbortSignal | undefined = undefined
  /** One attempt (see {@link sagaAttempt}), bound to this step. */
  readonly attempt: (ctx: TaskContext<R>) => unknown = (
    sagaAttempt as (this: SagaStep<S, R>, ctx: TaskContext<R>) => unknown
  ).bind(this)
  constructor(
    readonly handler: SagaHandler<S, R>,
    readonly env: StateEnv<S, R>,
    private readonly hooks: SagaHooks,
    private readonly settle: StateFrame<S, R>,
  ) {}

  start(): void {
    // an interruption with no attempt in flight ends the step; one in flight is let finish
    const { env } = this
    if (env.watchRunAbort !== undefined) env.watchRunAbort(this, true)
    else {
      const signal = env.runSignal
      this.signal = signal
      signal.addEventListener('abort', this)
    }
    this.settle.add(this)
    attemptWork<S, R, unknown>(env, this.attempt, this)
  }

  /** The run aborted. */
  handleEvent(): void {
    if (this.running) return
    const signal = this.signal
    this.settle.fail(signal === undefined ? this.env.runAbortReason : signal.reason)
  }

  unsubscribe(): void {
    const signal = this.signal
    if (signal !== undefined) signal.removeEventListener('abort', this)
    else this.env.watchRunAbort?.(this, false)
  }

  get closed(): boolean {
    return this.settle.closed
  }

  add(teardown: TeardownLogic): void {
    this.settle.add(teardown)
  }

  onError(e: unknown, attempts: number): void {
    this.settle.fail(e, attempts)
  }

  /** Attempt 1's output failed (a rejection, a `Left`): it is no longer in flight. */
  attemptFailed(): void {
    if (!this.tracking) return
    this.tracking = false
    this.running = false
  }

  /** Attempt 1's Promise output is handed on as it is, tracked for its failure (see {@link attemptFailed}). */
  track(): void {
    this.tracking = true
  }

  onValue(answer: unknown, attempts: number): void {
    this.tracking = false
    const { env, settle, handler, hooks } = this
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
  }

  /** An attempt as an Observable: in flight from its subscription until it fails or is abandoned. */
  tracked(ctx: TaskContext<R>, out?: Observable<unknown>): Observable<unknown> {
    return new Observable<unknown>((subscriber) => {
      this.running = true
      let answered = false
      const sub = fromTaskOutput<unknown>(out === undefined ? () => this.handler.run(ctx) : () => out).subscribe({
        next: (v) => {
          answered = true
          subscriber.next(v)
          subscriber.complete()
        },
        error: (e: unknown) => {
          this.running = false
          subscriber.error(e)
        },
        complete: () => {
          if (!answered) this.running = false
          subscriber.complete()
        },
      })
      return () => {
        sub.unsubscribe()
        if (!answered) this.running = false
      }
    })
  }
}

/**
 * A Promise output of a saga step's attempt 1 run by the retry loop (a limiter made it wait): the attempt
 * is no longer in flight once it fails.
 */
class TrackedOutput implements PromiseLike<unknown> {
  constructor(
    private readonly step: { running: boolean },
    private readonly out: PromiseLike<unknown>,
  ) {}
  then<A = unknown, B = never>(
    onFulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    const step = this.step
    return this.out.then(
      (v) => {
        if (isEither(v) && v._tag === 'Left') step.running = false
        return (onFulfilled as (value: unknown) => A)(v)
      },
      (e: unknown) => {
        step.running = false
        return (onRejected as (reason: unknown) => B)(e)
      },
    )
  }
}

/**
 * One attempt of `step` (bound to it: its `attempt`). Attempt 1 without an attempt timeout (never abandoned
 * but with its visit) hands its output on as it is, a Promise tracked for its failure (`track`: the work's
 * `attemptFailed` ends it); other attempts go through an Observable that also sees their abandonment.
 */
function sagaAttempt<S extends string, R extends ResourceRecord>(this: SagaStep<S, R>, ctx: TaskContext<R>): unknown {
  if (ctx.attempt !== 1 || this.env.config.attemptTimeoutMs !== undefined) return this.tracked(ctx)
  this.running = true
  let out: unknown
  try {
    out = this.handler.run(ctx)
    if (typeof out === 'function') out = (out as () => unknown)()
  } catch (thrown: unknown) {
    this.running = false
    throw thrown
  }
  if (typeof out !== 'object' || out === null) return out
  if (isThenable(out)) {
    // run inline by attemptWork, whose `attemptFailed` ends it: as it is (no wrapper, no closures)
    if (isInlineAttempt(ctx)) {
      this.track()
      return out
    }
    return new TrackedOutput(this, out)
  }
  if (isObservable(out)) return this.tracked(ctx, out)
  if (isEither(out) && out._tag === 'Left') this.running = false
  return out
}

// -------------------------------------------------------------------------------------
// backward
// -------------------------------------------------------------------------------------

/**
 * Where a drain stands, for its budget: how many entries were started, the one whose compensation
 * runs and the attempts made at it so far, and why an abandoned compensation's signal aborts.
 */
class DrainProgress {
  started = 0
  compensating: StackEntry | undefined = undefined
  /** The attempts made at the compensation of `compensating` (its `CompensationFailed` reports them). */
  attempts = 0
  stopReason: CanoError | undefined = undefined
}

/**
 * @internal After `prelude$` (what the rollback waits for and writes first), compensates `entries`
 * (oldest first) last-in first-out; emits the compensation errors in drain order, once, when every
 * entry has been attempted or the budget ran out (see the module comment).
 */
export const drainCompensations = <S extends string, R extends ResourceRecord>(
  env: DrainEnv<S, R>,
  entries: ReadonlyArray<StackEntry>,
  prelude$: Observable<never> = EMPTY,
): Observable<ReadonlyArray<CanoError>> =>
  new Observable<ReadonlyArray<CanoError>>((subscriber) => {
    const order = [...entries].reverse()
    const progress = new DrainProgress()
    const errors: CanoError[] = []
    const done = (): void => {
      subscriber.next(errors)
      subscriber.complete()
    }
    const drain = concat(
      prelude$,
      from(order).pipe(
        concatMap((entry) =>
          defer(() => {
            progress.started += 1
            return compensateEntry(env, entry, progress)
          }).pipe(subscribeOn(queueScheduler)),
        ),
        mergeMap((e) => {
          if (e !== undefined) errors.push(e)
          return EMPTY
        }),
      ),
    ).subscribe({ error: (e: unknown) => subscriber.error(e), complete: done })
    const budget = env.budgetMs
    if (budget === undefined) return drain
    const deadline = env.scheduler.schedule(() => {
      const { emit, workflowId, now } = env
      const current = progress.compensating
      if (current !== undefined) {
        const late = timeoutError(
          budget,
          `compensation of state ${JSON.stringify(current.state)} exceeded the rollback budget (compensationTimeoutMs) of ${budget} ms`,
        )
        progress.stopReason = late
        drain.unsubscribe()
        errors.push(late)
        if (emit !== undefined) emit(compensationFailed(current, late, workflowId, now(), progress.attempts))
      } else drain.unsubscribe()
      const left = order.slice(progress.started)
      for (const entry of left) {
        const orphan = orphanedCompensationError(
          entry.state,
          entry.encoded,
          `the rollback budget (compensationTimeoutMs) of ${budget} ms ran out before state ${JSON.stringify(entry.state)} was compensated (output kept)`,
        )
        errors.push(orphan)
        if (emit !== undefined) emit(compensationFailed(entry, orphan, workflowId, now(), 0))
      }
      if (left.length > 0)
        errors.push(
          timeoutError(
            budget,
            `rollback budget (compensationTimeoutMs) of ${budget} ms elapsed; ${left.length} ${left.length === 1 ? 'entry' : 'entries'} left unprocessed`,
          ),
        )
      done()
    }, budget)
    return () => {
      drain.unsubscribe()
      deadline.unsubscribe()
    }
  })

const compensationFailed = <S extends string>(
  entry: StackEntry,
  error: CanoError,
  workflowId: string,
  at: number,
  attempts: number,
): WorkflowEvent<S> => ({
  _tag: 'CompensationFailed',
  workflowId,
  at,
  state: entry.state as S,
  taskId: entry.taskId,
  seq: entry.seq,
  error,
  attempts,
})

/** One entry: emits `undefined` once it is compensated (and marked done), or its error. */
const compensateEntry = <S extends string, R extends ResourceRecord>(
  env: DrainEnv<S, R>,
  entry: StackEntry,
  progress: DrainProgress,
): Observable<CanoError | undefined> => {
  const { emit, workflowId, now } = env
  const state = entry.state as S
  const { taskId, seq } = entry
  if (emit !== undefined) emit({ _tag: 'CompensationStarted', workflowId, at: now(), state, taskId, seq })
  const compiled = env.lookup(entry.state)
  progress.compensating = entry
  progress.attempts = 0
  const work$: Observable<unknown> =
    compiled === undefined || compiled.handler._tag !== 'Saga'
      ? throwError(() => orphanedCompensationError(entry.state, entry.encoded))
      : compensation(env, entry, compiled.handler, compiled.config.attemptTimeoutMs, progress)
  return work$.pipe(
    map((): true => true),
    catchError((e: unknown) => of(toCanoError(e))),
    mergeMap((result): Observable<CanoError | undefined> => {
      progress.compensating = undefined
      const attempts = progress.attempts
      if (result !== true) {
        if (emit !== undefined) emit(compensationFailed(entry, result, workflowId, now(), attempts))
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
  progress: DrainProgress,
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
  const around = env.around
  /** The previous attempt's error and the delay before this one (kept only for an `aroundAttempt`). */
  let retry: AttemptScope['retry']
  const one$ = new Observable<unknown>((subscriber) => {
    const controller = new AbortController()
    const ctx: TaskContext<R> = {
      res,
      signal: controller.signal,
      attempt: ++progress.attempts,
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
    const observer = {
      next: (v: unknown) => {
        settled = true
        subscriber.next(v)
        subscriber.complete()
      },
      error: (e: unknown) => {
        settled = true
        subscriber.error(isNonRetryable(e) ? e : toCanoError(e))
      },
    }
    let sub: Subscription | undefined
    if (around === undefined) sub = call$.subscribe(observer)
    else
      around(
        {
          workflowId,
          state: entry.state as S,
          taskId: entry.taskId,
          kind: 'Compensation',
          attempt: ctx.attempt,
          index: undefined,
          at: env.now(),
          waitedMs: undefined,
          retry,
        },
        () => (sub = call$.subscribe(observer)),
      )
    return () => {
      sub?.unsubscribe()
      if (!settled)
        controller.abort(progress.stopReason ?? cancelledError('compensation abandoned: the run was unsubscribed'))
    }
  })
  return one$.pipe(
    retryWithBackoffRaw({
      mode: handler.compensateRetry,
      random: env.random,
      scheduler,
      onRetry:
        around === undefined
          ? undefined
          : ({ error, delayMs }) => {
              retry = { delayMs, error: toCanoError(error) }
            },
    }),
  )
}
