/**
 * `runWorkflow`: one run of a compiled workflow as a cold `Observable<WorkflowEvent<S>>`.
 *
 * The run is RxJS end to end: resources are set up (`from(setupAll())`), states are visited by
 * `expand` (each state's Observable emits the next state, or nothing at an exit), the visit races the
 * cancellation signal and the total timeout, then resources are torn down and exactly one terminal
 * event closes the stream. Each state's inner Observable is subscribed through `queueScheduler`, so
 * synchronous tasks trampoline instead of recursing: the stack stays flat however many transitions
 * a run makes. Unsubscribing aborts the run (the in-flight task's signal fires) and tears resources
 * down.
 *
 * Sagas: finished `saga` steps are pushed on the run's compensation stack. When the run fails, is
 * cancelled or times out with entries on the stack, it rolls back before tearing resources down: a
 * `RollbackStarted` row (the original error), then the drain (a `CompensationDone` row per finished
 * compensation), then the outcome of `rollbackOutcome`. A run resumed from a log that holds a
 * `RollbackStarted` row runs no state: it continues that rollback. Runs that never reach a saga state
 * allocate nothing for this.
 *
 * @internal
 * @since 0.1.0
 */
import { randomUUID } from 'node:crypto'

import {
  asyncScheduler,
  catchError,
  concat,
  defer,
  EMPTY,
  expand,
  from,
  fromEvent,
  ignoreElements,
  last,
  map,
  merge,
  NEVER,
  Observable,
  of,
  race,
  type SchedulerLike,
  switchMap,
  take,
  tap,
  throwError,
  timer,
} from 'rxjs'

import { type CanoError, CanoErrorCodec } from '../codecs/CanoError.js'
import type { CheckpointKind, JsonValue } from '../codecs/CheckpointRow.js'
import {
  cancelledError,
  checkpointStoreError,
  configurationError,
  toCanoError,
  workflowError,
  workflowTimeoutError,
} from '../src/CanoError.js'
import type { ResumePoint } from '../src/Resume.js'
import { rollbackOutcome } from '../src/Saga.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import type { CompiledState, CompiledWorkflow } from '../src/WorkflowDefinition.js'
import type { TerminalEvent, WorkflowEvent } from '../src/WorkflowEvent.js'
import { notifyObserver, type WorkflowObserver } from '../src/WorkflowObserver.js'
import { runBatchState } from './runBatchState.js'
import { runPollState } from './runPollState.js'
import { drainCompensations, type DrainEnv, runSagaState, type SagaHooks, type StackEntry } from './runSagaState.js'
import { runSplitState } from './runSplitState.js'
import { runSteppedState } from './runSteppedState.js'
import { runStreamState } from './runStreamState.js'
import { runTaskState } from './runTaskState.js'
import { runTimerState } from './runTimerState.js'
import type { StateEnv } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of one run.
 *
 * @example
 * import type { RunOptions } from 'cano-rx'
 * const ac = new AbortController()
 * const opts: RunOptions<'A' | 'Done'> = { workflowId: 'order-42', signal: ac.signal }
 * @category model
 * @since 0.1.0
 */
export interface RunOptions<S extends string> {
  /** The run's id (checkpoint key, event field). Default: a random UUID. */
  readonly workflowId?: string
  /** Aborting it cancels the run: the in-flight task's signal fires and the run ends `Cancelled`. */
  readonly signal?: AbortSignal
  /** Observers of this run only, after the workflow's own. */
  readonly observers?: ReadonlyArray<WorkflowObserver<S>>
  /**
   * Set up and tear down the workflow's resources around this run. Default `true`. The scheduler
   * passes `false`: it sets resources up once at start and tears them down once at stop.
   */
  readonly manageResources?: boolean
  /**
   * Scheduler of this run's timers and timestamps, overriding the workflow's own (the scheduler
   * passes its clock so scheduled runs and flow statuses share one time base).
   */
  readonly scheduler?: SchedulerLike
}

/** @internal How a run ended, before teardown. */
type Outcome<S extends string> = { readonly _tag: 'Completed'; readonly state: S } | Failure

/** @internal How a run that did not complete ended. */
type Failure =
  | { readonly _tag: 'Failed'; readonly error: CanoError }
  | { readonly _tag: 'Cancelled'; readonly error: CanoError }
  | { readonly _tag: 'TimedOut'; readonly error: CanoError }

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/**
 * @internal Runs `wf` from `initial`. With `live` false and no observers, only the terminal event
 * is built and emitted (the fast path of `orchestrate`).
 */
export const runWorkflow = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunOptions<S>,
  live: boolean,
  resume?: ResumePoint<S>,
  /** An error found before the run could start (e.g. while loading its checkpoint log). */
  preflight?: CanoError,
): Observable<WorkflowEvent<S>> =>
  new Observable<WorkflowEvent<S>>((subscriber) => {
    const scheduler = options.scheduler ?? wf.scheduler ?? asyncScheduler
    const now = (): number => scheduler.now()
    const store = wf.checkpoints
    const workflowId = options.workflowId ?? (store === undefined ? randomUUID() : '')
    const observers =
      options.observers === undefined || options.observers.length === 0
        ? wf.observers
        : [...wf.observers, ...options.observers]
    const tracing = live || observers.length > 0
    const manageResources = (options.manageResources ?? true) && wf.lifecycle

    const notify = (e: WorkflowEvent<S>): void => {
      for (let i = 0; i < observers.length; i++) {
        try {
          notifyObserver(observers[i] as WorkflowObserver<S>, e)
        } catch (thrown: unknown) {
          const report: WorkflowEvent<S> = {
            _tag: 'ObserverFailed',
            workflowId,
            at: now(),
            observer: i,
            error: toCanoError(thrown),
          }
          if (live) subscriber.next(report)
        }
      }
      if (live || isTerminal(e)) subscriber.next(e)
    }
    const emit = tracing ? notify : undefined

    // -- validation of the start -------------------------------------------------------
    if (preflight !== undefined)
      return finishEarly(
        notify,
        workflowId === '' ? String(options.workflowId) : workflowId,
        now,
        preflight,
        subscriber,
      )
    if (typeof workflowId !== 'string' || workflowId === '') {
      const message =
        store !== undefined && options.workflowId === undefined
          ? 'checkpointing requires a workflowId: pass { workflowId } to orchestrate / run$'
          : 'workflowId must be a non-empty string'
      return finishEarly(notify, workflowId, now, configurationError(message), subscriber)
    }
    // a resumed rollback runs no state: the failed one may even be gone from the definition
    if (resume?.rollback === undefined && !wf.states.has(initial) && !wf.exits.has(initial)) {
      const error = configurationError(
        `Initial state ${JSON.stringify(initial)} is neither registered nor an exit state`,
      )
      return finishEarly(notify, workflowId, now, error, subscriber)
    }

    const runController = new AbortController()
    const signal = options.signal
    let current: S | undefined
    let transitions = 0
    let finalState: S | undefined
    let pendingSplit: SplitResult | undefined
    let incomingSplit: SplitResult | undefined
    let seq = resume?.nextSeq ?? 0
    /** The resume state's first visit continues from the resume point (cursor, wake-up instant). */
    let resuming = resume
    let resourcesUp = false
    let tornDown = false
    let finished = false
    /** The compensation stack (oldest first); created by the first saga step or a resume that has one. */
    let compensations: StackEntry[] | undefined =
      resume === undefined || resume.stack.length === 0 ? undefined : [...resume.stack]
    /** Set by cancellation or the total timeout, before the run's signal aborts. */
    let interruption: Failure | undefined
    /** A rollback this run resumes (it crashed while rolling back): no state runs. */
    const resumedRollback = resume?.rollback
    /** `true` once the resources are set up and the run proper has begun. */
    let running = false
    /** The last checkpoint write handed to the store (one may still be in flight when a run is interrupted). */
    let lastWrite: Promise<void> | undefined

    const teardown$ = defer(() => {
      if (!resourcesUp || tornDown) return EMPTY
      tornDown = true
      return from(wf.resources.teardownAll())
    }).pipe(ignoreElements())

    // -- checkpoints -------------------------------------------------------------------
    /**
     * Appends one row; completes once it is durable, after reporting `CheckpointAppended`. `onSeq` learns
     * the row's `seq` before the write starts.
     */
    const append = (
      kind: CheckpointKind,
      state: S,
      taskId: string,
      payload: JsonValue,
      onSeq?: (rowSeq: number) => void,
    ): Observable<never> =>
      store === undefined
        ? EMPTY
        : defer(() => {
            const row = { workflowId, seq: seq++, kind, state, taskId, payload, version: wf.version, at: now() }
            onSeq?.(row.seq)
            const write = store.append(row)
            lastWrite = write
            return from(write).pipe(
              ignoreElements(),
              catchError((e: unknown) => {
                const cause = toCanoError(e)
                return throwError(() => checkpointStoreError(`append checkpoint: ${cause.message}`, cause))
              }),
              tap({
                complete: () => {
                  if (emit !== undefined)
                    emit({ _tag: 'CheckpointAppended', workflowId, at: now(), seq: row.seq, kind, state })
                },
              }),
            )
          })

    const clearLog$: Observable<never> =
      store === undefined
        ? EMPTY
        : defer(() => from(store.clear(workflowId))).pipe(
            ignoreElements(),
            catchError(() => EMPTY),
          )

    // -- one state ---------------------------------------------------------------------
    const enter = (state: S): Observable<S> => {
      current = state
      // a split's result is visible to the one state it joins into, and only there
      incomingSplit = pendingSplit
      pendingSplit = undefined
      const transition = transitions++
      if (emit !== undefined) emit({ _tag: 'StateEntered', workflowId, at: now(), state, transition })
      const compiled = wf.states.get(state)
      if (store === undefined || (compiled?.handler._tag === 'Task' && compiled.handler.router))
        return visit(state, compiled)
      const point = resuming !== undefined && resuming.state === state ? resuming : undefined
      const payload: JsonValue = point === undefined ? null : resumePayload(point)
      // cano's task id: the task name, '' for split, exit and unregistered states
      const taskId = compiled === undefined || compiled.handler._tag === 'Split' ? '' : compiled.taskId
      return concat(
        append('StateEntry', state, taskId, payload),
        defer(() => visit(state, compiled)),
      )
    }

    const visit = (state: S, compiled: CompiledState<S, R> | undefined): Observable<S> => {
      if (wf.exits.has(state)) {
        finalState = state
        return EMPTY
      }
      if (compiled === undefined)
        return throwError(() => workflowError(`No task registered for state: ${JSON.stringify(state)}`, state))
      return dispatch(compiled)
    }

    // one StateEnv per state per run, built on first visit (the split result is read through a getter)
    const envs = new Map<string, StateEnv<S, R>>()
    const publishSplit = (result: SplitResult): void => {
      pendingSplit = result
    }
    const envOf = (compiled: CompiledState<S, R>): StateEnv<S, R> => {
      let env = envs.get(compiled.name)
      if (env === undefined) {
        env = {
          workflowId,
          state: compiled.name,
          taskId: compiled.taskId,
          res: wf.resources,
          runSignal: runController.signal,
          scheduler,
          random: wf.random,
          now,
          emit,
          config: compiled.config,
          to: compiled.to,
          fast: compiled.fast,
          get split() {
            return incomingSplit
          },
          publishSplit,
        }
        envs.set(compiled.name, env)
      }
      return env
    }

    const dispatch = (compiled: CompiledState<S, R>): Observable<S> => {
      const handler = compiled.handler
      const env = envOf(compiled)
      const point = resuming !== undefined && resuming.state === compiled.name ? resuming : undefined
      resuming = undefined
      switch (handler._tag) {
        case 'Task':
          return runTaskState(handler, env)
        case 'Poll':
          return runPollState(handler, env)
        case 'Stepped':
          return runSteppedState(handler, env, {
            resumeCursor: point?.cursor,
            persist:
              store === undefined
                ? undefined
                : (encoded, step) =>
                    append('StepCursor', env.state, env.taskId, { cursor: encoded as JsonValue, step }),
          })
        case 'Split':
          return runSplitState(handler, env)
        case 'Batch':
          return runBatchState(handler, env)
        case 'Stream':
          return runStreamState(handler, env, {
            resumeFrom: point?.stream,
            persist:
              store === undefined
                ? undefined
                : (at) => append('StreamWindow', env.state, env.taskId, { windows: at.windows, items: at.items }),
          })
        case 'Timer':
          return runTimerState(handler, env, {
            resumeWakeAt: point?.wakeAt,
            persist:
              store === undefined ? undefined : (at) => append('TimerArmed', env.state, env.taskId, { wakeAt: at }),
          })
        case 'Saga':
          return runSagaState(handler, env, sagaHooks(env))
      }
    }

    // -- sagas -------------------------------------------------------------------------
    const sagaHooks = (env: StateEnv<S, R>): SagaHooks => ({
      record: (encoded, decoded) => {
        const stack = (compensations ??= [])
        const entry = (rowSeq: number | undefined): StackEntry => ({
          state: env.state,
          taskId: env.taskId,
          encoded,
          seq: rowSeq,
          value: { decoded },
        })
        if (store === undefined) {
          stack.push(entry(undefined))
          return undefined
        }
        // on the stack before the write starts: a cancellation during the write still compensates it
        return append('CompensationCompletion', env.state, env.taskId, encoded as JsonValue, (rowSeq) =>
          stack.push(entry(rowSeq)),
        )
      },
      keep: (output) =>
        (compensations ??= []).push({
          state: env.state,
          taskId: env.taskId,
          encoded: undefined,
          seq: undefined,
          value: { decoded: output },
        }),
    })

    /** Undoes the stack after `failure`; emits the run's final outcome once. */
    const rollback$ = (failure: Failure): Observable<Failure> =>
      defer(() => {
        const entries = compensations ?? []
        compensations = undefined
        const storeErrors: CanoError[] = []
        const failedState = current ?? ('' as S)
        // a write the interruption cut short still lands: let it, so the rollback's rows come after it
        const settled$ = lastWrite === undefined ? EMPTY : from(lastWrite.then(noop, noop)).pipe(ignoreElements())
        const marker$ =
          resumedRollback !== undefined
            ? EMPTY
            : append(
                'RollbackStarted',
                failedState,
                wf.states.get(failedState)?.taskId ?? '',
                encodeError(failure.error),
              ).pipe(
                catchError((e: unknown) => {
                  storeErrors.push(toCanoError(e))
                  return EMPTY
                }),
              )
        const env: DrainEnv<S, R> = {
          workflowId,
          res: wf.resources,
          scheduler,
          random: wf.random,
          now,
          emit,
          lookup: (state) => wf.states.get(state),
          markDone:
            store === undefined
              ? undefined
              : (entry) => append('CompensationDone', entry.state as S, entry.taskId, { undid: entry.seq ?? -1 }),
        }
        return concat(settled$, marker$, drainCompensations(env, entries)).pipe(
          switchMap((errors) => {
            const { error, clearLog } = rollbackOutcome(failure.error, [...storeErrors, ...errors])
            const final: Failure = { _tag: failure._tag, error }
            return clearLog ? concat(clearLog$, of(final)) : of(final)
          }),
        )
      })

    // -- the loop ----------------------------------------------------------------------
    const visit$: Observable<Outcome<S>> = concat(
      of(initial).pipe(
        expand((state) => enter(state)),
        ignoreElements(),
      ),
      defer(() => of<Outcome<S>>({ _tag: 'Completed', state: finalState as S })),
    ).pipe(catchError((e: unknown) => of<Outcome<S>>({ _tag: 'Failed', error: toCanoError(e) })))

    /** Records the interruption and aborts the run's signal, before the visit is unsubscribed. */
    const interrupt = (failure: Failure): Failure => {
      interruption ??= failure
      if (!runController.signal.aborted) runController.abort(failure.error)
      return failure
    }
    const cancel$: Observable<Outcome<S>> =
      signal === undefined
        ? NEVER
        : signal.aborted
          ? defer(() => of(interrupt({ _tag: 'Cancelled', error: cancelReason(signal) })))
          : fromEvent(signal, 'abort').pipe(
              take(1),
              map(() => interrupt({ _tag: 'Cancelled', error: cancelReason(signal) })),
            )
    const startedAt = now()
    const limit = wf.totalTimeoutMs
    const timeout$: Observable<Outcome<S>> =
      limit === undefined
        ? NEVER
        : timer(limit, scheduler).pipe(
            map(() => interrupt({ _tag: 'TimedOut', error: workflowTimeoutError(now() - startedAt, limit) })),
          )

    const interruptible$: Observable<Outcome<S>> =
      resumedRollback !== undefined
        ? defer(() => {
            // the run crashed while rolling back: continue that rollback, run no state
            current = resume?.state
            return of(failureOf(resumedRollback.error))
          })
        : defer(() => {
            // race the visit only against the interruptions this run can have (fewer live subscriptions)
            const interruptions = [
              ...(signal === undefined ? [] : [cancel$]),
              ...(limit === undefined ? [] : [timeout$]),
            ]
            const raced =
              interruptions.length === 0
                ? visit$
                : race(
                    interruptions.length === 1 ? (interruptions[0] as Observable<Outcome<S>>) : merge(...interruptions),
                    visit$,
                  )
            return raced.pipe(
              take(1),
              // a task that fails because the run's signal fired does not turn a cancellation into a failure
              map((outcome) => interruption ?? outcome),
            )
          })

    const setup$: Observable<never> = manageResources
      ? defer(() => from(wf.resources.setupAll())).pipe(
          ignoreElements(),
          // a failed setup rolled back what it had set up: nothing to tear down
        )
      : EMPTY

    const started = (): void => {
      if (emit === undefined) return
      emit({ _tag: 'RunStarted', workflowId, at: now(), initial })
      if (resume !== undefined)
        emit({
          _tag: 'RunResumed',
          workflowId,
          at: now(),
          state: resume.state,
          fromSeq: resume.fromSeq,
          version: resume.version,
        })
    }

    const visitNow$ = defer(() => {
      resourcesUp = manageResources
      running = true
      return interruptible$
    })
    const run$ = (
      manageResources
        ? concat(
            defer(() => {
              started()
              return setup$
            }),
            visitNow$,
          )
        : defer(() => {
            started()
            return visitNow$
          })
    ).pipe(
      catchError((e: unknown) => of<Outcome<S>>({ _tag: 'Failed', error: toCanoError(e) })),
      last(),
      switchMap((outcome) => {
        const end = (o: Outcome<S>): Observable<TerminalEvent<S>> =>
          defer(() => of(terminalEvent(o, workflowId, now(), current, transitions)))
        // an exit state clears the log (best effort)
        if (outcome._tag === 'Completed') return concat(clearLog$, teardown$, end(outcome))
        // a failure with nothing to undo keeps the log, so the run can be resumed; so does a failed setup
        if (!running || (resumedRollback === undefined && (compensations === undefined || compensations.length === 0)))
          return concat(teardown$, end(outcome))
        // compensation runs before teardown: the compensators still have their resources
        return rollback$(outcome).pipe(switchMap((final) => concat(teardown$, end(final))))
      }),
    )

    const sub = run$.subscribe({
      next: (e) => {
        finished = true
        notify(e)
      },
      error: (e: unknown) => subscriber.error(e),
      complete: () => subscriber.complete(),
    })

    return () => {
      // abort before unsubscribing: attempt signals unlink from the run signal when they are released
      if (!finished && !runController.signal.aborted) runController.abort(cancelledError('run unsubscribed'))
      sub.unsubscribe()
      if (finished) return
      if (resourcesUp && !tornDown) {
        tornDown = true
        void wf.resources.teardownAll()
      }
    }
  })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const noop = (): void => undefined

const isTerminal = <S extends string>(e: WorkflowEvent<S>): e is TerminalEvent<S> =>
  e._tag === 'RunCompleted' || e._tag === 'RunFailed' || e._tag === 'RunCancelled' || e._tag === 'RunTimedOut'

/** The row payload of a resumed state's entry: where a stepped, timer or saga state continues from. */
const resumePayload = <S extends string>(point: ResumePoint<S>): JsonValue =>
  point.cursor !== undefined
    ? { cursor: point.cursor.encoded as JsonValue, step: point.cursor.step }
    : point.wakeAt !== undefined
      ? { wakeAt: point.wakeAt }
      : point.stream !== undefined
        ? { windows: point.stream.windows, items: point.stream.items }
        : point.supersedes !== undefined
          ? { supersedes: point.supersedes }
          : null

/** The payload of a `RollbackStarted` row: the original error, as JSON. */
const encodeError = (error: CanoError): JsonValue => {
  try {
    return JSON.parse(JSON.stringify(CanoErrorCodec.encode(error))) as JsonValue
  } catch {
    return { _tag: 'Generic', message: error.message }
  }
}

/** The outcome a rollback marker's error stands for. */
const failureOf = (error: CanoError): Failure =>
  error._tag === 'Cancelled'
    ? { _tag: 'Cancelled', error }
    : error._tag === 'WorkflowTimeout'
      ? { _tag: 'TimedOut', error }
      : { _tag: 'Failed', error }

const cancelReason = (signal: AbortSignal): CanoError => {
  const reason: unknown = signal.reason
  if (reason === undefined || (reason instanceof Error && reason.name === 'AbortError')) return cancelledError()
  const e = toCanoError(reason)
  return e._tag === 'Cancelled' ? e : cancelledError(`workflow cancelled: ${e.message}`)
}

const terminalEvent = <S extends string>(
  outcome: Outcome<S>,
  workflowId: string,
  at: number,
  state: S | undefined,
  transitions: number,
): TerminalEvent<S> => {
  switch (outcome._tag) {
    case 'Completed':
      return { _tag: 'RunCompleted', workflowId, at, state: outcome.state, transitions }
    case 'Failed':
      return { _tag: 'RunFailed', workflowId, at, state, error: outcome.error }
    case 'Cancelled':
      return { _tag: 'RunCancelled', workflowId, at, state, error: outcome.error }
    case 'TimedOut':
      return { _tag: 'RunTimedOut', workflowId, at, state, error: outcome.error }
  }
}

const finishEarly = <S extends string>(
  notify: (e: WorkflowEvent<S>) => void,
  workflowId: string,
  now: () => number,
  error: CanoError,
  subscriber: { complete: () => void },
): undefined => {
  notify({ _tag: 'RunFailed', workflowId, at: now(), state: undefined, error })
  subscriber.complete()
  return undefined
}
