/**
 * `runWorkflow`: one run of a compiled workflow as a cold `Observable<WorkflowEvent<S>>`
 * (`runToEnd`: the same run settling a Promise, for `orchestrate`).
 *
 * Each state kind is an Observable of the next state (`StateVisit`); the run itself is one driver
 * object, `WorkflowRun`, rather than a chain of operators, because a run spends most of its life
 * parked (in a timer, a poll delay, a slow task) and a parked operator chain holds a subscriber, a
 * closure and a finalizer list per operator: ~21 KB per run, against ~1.1 KB now (bench/processing).
 * The driver sets resources up, visits states in a loop (a visit that settles synchronously hands
 * the next state back to the loop instead of recursing, so the stack stays flat however many
 * transitions a run makes), races the visit against the caller's signal and the total timeout, then
 * tears resources down and emits exactly one terminal event. Unsubscribing aborts the run (the
 * in-flight task's signal fires) and tears resources down.
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
  from,
  ignoreElements,
  mergeMap,
  Observable,
  of,
  type SchedulerAction,
  type SchedulerLike,
  Subscription,
  switchMap,
  throwError,
  type Unsubscribable,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import type { CheckpointKind, JsonValue } from '../codecs/CheckpointRow.js'
import {
  cancelledError,
  CanoFailure,
  checkpointStoreError,
  configurationError,
  toCanoError,
  workflowError,
  workflowTimeoutError,
} from '../src/CanoError.js'
import type { CheckpointStore } from '../src/CheckpointStore.js'
import { describeValue } from '../src/internal/describeValue.js'
import type { Resources } from '../src/Resources.js'
import {
  checkpointRow,
  compensationCompletion,
  compensationDone,
  type ResumePoint,
  type ResumeState,
  rollbackStarted,
  type RowDraft,
  stateEntry,
} from '../src/Resume.js'
import { rollbackOutcome } from '../src/Saga.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import type { CompiledState, CompiledWorkflow } from '../src/WorkflowDefinition.js'
import type { TerminalEvent, WorkflowEvent } from '../src/WorkflowEvent.js'
import { notifyObserver, type WorkflowObserver } from '../src/WorkflowObserver.js'
import { drainCompensations, type DrainEnv, type SagaHooks, type StackEntry } from './runSagaState.js'
import { type StateEnv, StateVisit } from './stateRunner.js'
import { type RunnerHost, runState } from './stateRunners.js'

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

/** @internal Where a run's events go: an RxJS subscriber, or the settling of `orchestrate`'s Promise. */
export interface RunSink<S extends string> {
  next(e: WorkflowEvent<S>): void
  error(e: unknown): void
  complete(): void
}

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
  new Observable<WorkflowEvent<S>>((subscriber) => startRun(wf, initial, options, live, subscriber, resume, preflight))

/**
 * @internal Runs `wf` from `initial` to its exit state, without an Observable in between (what
 * `orchestrate` awaits): resolves with the exit state, rejects with a `CanoFailure` carrying the
 * run's error. Observers still see every event.
 */
export const runToEnd = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunOptions<S>,
): Promise<S> =>
  new Promise<S>((resolve, reject) => {
    startRun(wf, initial, options, false, new TerminalSink<S>(resolve, reject))
  })

/** Checks the options, then starts one run reporting to `sink`; options of the wrong shape end it at once. */
const startRun = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunOptions<S>,
  live: boolean,
  sink: RunSink<S>,
  resume?: ResumePoint<S>,
  preflight?: CanoError,
): WorkflowRun<S, R> => {
  const invalid = checkRunOptions(options)
  const run = new WorkflowRun(wf, initial, invalid === undefined ? options : safeOptions(options), live, sink, resume)
  run.start(preflight ?? invalid)
  return run
}

/**
 * @internal What is wrong with a run's options (JavaScript callers, `as` casts), as the `Configuration`
 * error its `RunFailed` carries; `undefined` when they are fine.
 */
export const checkRunOptions = (options: unknown): CanoError | undefined => {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null)
    return configurationError(`run options must be an object, got ${describeValue(options)}`)
  const o = options as Record<string, unknown>
  const signal = o['signal']
  if (
    signal !== undefined &&
    (typeof signal !== 'object' ||
      signal === null ||
      typeof (signal as Partial<AbortSignal>).aborted !== 'boolean' ||
      typeof (signal as Partial<AbortSignal>).addEventListener !== 'function' ||
      typeof (signal as Partial<AbortSignal>).removeEventListener !== 'function')
  )
    return configurationError(`run option signal must be an AbortSignal, got ${describeValue(signal)}`)
  const observers = o['observers']
  if (
    observers !== undefined &&
    (!Array.isArray(observers) || observers.some((x: unknown) => typeof x !== 'object' || x === null))
  )
    return configurationError(`run option observers must be a list of WorkflowObserver objects`)
  const scheduler = o['scheduler']
  if (
    scheduler !== undefined &&
    (typeof scheduler !== 'object' ||
      scheduler === null ||
      typeof (scheduler as Partial<SchedulerLike>).now !== 'function' ||
      typeof (scheduler as Partial<SchedulerLike>).schedule !== 'function')
  )
    return configurationError(`run option scheduler must be an RxJS SchedulerLike, got ${describeValue(scheduler)}`)
  const manage = o['manageResources']
  if (manage !== undefined && typeof manage !== 'boolean')
    return configurationError(`run option manageResources must be a boolean, got ${describeValue(manage)}`)
  return undefined
}

/** The options a refused run still uses: its id, when it is one. */
const safeOptions = <S extends string>(options: unknown): RunOptions<S> => {
  const id: unknown = typeof options === 'object' && options !== null ? Reflect.get(options, 'workflowId') : undefined
  return typeof id === 'string' ? { workflowId: id } : {}
}

/** Settles a Promise with a run's outcome. */
class TerminalSink<S extends string> implements RunSink<S> {
  constructor(
    private readonly resolve: (state: S) => void,
    private readonly reject: (e: unknown) => void,
  ) {}
  next(e: WorkflowEvent<S>): void {
    if (e._tag === 'RunCompleted') this.resolve(e.state)
    else if (isTerminal(e)) this.reject(new CanoFailure(e.error))
  }
  error(e: unknown): void {
    this.reject(e instanceof CanoFailure ? e : new CanoFailure(toCanoError(e)))
  }
  complete(): void {
    // the terminal event came first; a Promise settles once
  }
}

/** The booleans of a run, one bit each. */
const enum Flag {
  Live = 1,
  ManageResources = 2,
  Running = 4,
  TornDown = 8,
  Finished = 16,
  Closed = 32,
  Concluded = 64,
  Looping = 128,
  Listening = 256,
}

/** `now` of a scheduler, one function per scheduler rather than one per run. */
const clocks = new WeakMap<SchedulerLike, () => number>()
const clockOf = (scheduler: SchedulerLike): (() => number) => {
  let now = clocks.get(scheduler)
  if (now === undefined) {
    now = () => scheduler.now()
    clocks.set(scheduler, now)
  }
  return now
}

/**
 * One run: a hand-written driver rather than an operator chain, so that a run parked in a state holds
 * this object, its visit's frame and what the state itself waits on, and nothing per operator. States
 * are visited in a loop (a visit that settles synchronously hands the next state back to the loop: the
 * stack stays flat however many transitions a run makes); the visit races the cancellation signal and
 * the total timeout; then the compensation stack is rolled back if needed, resources are torn down and
 * exactly one terminal event is emitted. The run's own `AbortSignal` is created only when something
 * reads it.
 */
class WorkflowRun<S extends string, R extends ResourceRecord> implements Unsubscribable, RunnerHost<S, R> {
  readonly scheduler: SchedulerLike
  readonly now: () => number
  readonly workflowId: string
  readonly emit: ((e: WorkflowEvent<S>) => void) | undefined
  private readonly observers: ReadonlyArray<WorkflowObserver<S>>
  /** When the run started; kept only when a total timeout needs it for its message. */
  private readonly startedAt: number | undefined
  /** The run's booleans, packed: see {@link Flag} (a parked run is a few hundred bytes; each field counts). */
  private flags: number
  private controller: AbortController | undefined
  /** Why the run was aborted, kept until (and unless) its signal is created. */
  private abortReason: CanoError | undefined
  private current: S | undefined
  private transitions = 0
  private pendingSplit: SplitResult | undefined
  /** The split result the current state joins (visible to that one state only). */
  incomingSplit: SplitResult | undefined
  private seq: number
  /** The resume state's first visit continues from the resume point (cursor, wake-up instant). */
  private resuming: ResumeState<S> | undefined
  /** The compensation stack (oldest first); created by the first saga step or a resume that has one. */
  private compensations: StackEntry[] | undefined
  /** Set by cancellation or the total timeout, before the run's signal aborts. */
  private interruption: Failure | undefined
  /** The last checkpoint write handed to the store (one may still be in flight when a run is interrupted). */
  private lastWrite: Promise<void> | undefined
  /** The current state's visit. */
  private visitSub: Unsubscribable | undefined
  /** The next state to enter, handed back by a visit that settled inside the loop. */
  private queued: S | undefined
  /** The total timeout's action while the run runs; the rollback once it has concluded. */
  private aside: Subscription | undefined

  constructor(
    readonly wf: CompiledWorkflow<S, R>,
    private readonly initial: S,
    private readonly options: RunOptions<S>,
    live: boolean,
    private readonly sink: RunSink<S>,
    private readonly resume?: ResumePoint<S>,
  ) {
    const scheduler = options.scheduler ?? wf.scheduler ?? asyncScheduler
    this.scheduler = scheduler
    this.now = clockOf(scheduler)
    this.workflowId = options.workflowId ?? (wf.checkpoints === undefined ? randomUUID() : '')
    this.observers =
      options.observers === undefined || options.observers.length === 0
        ? wf.observers
        : [...wf.observers, ...options.observers]
    this.emit = live || this.observers.length > 0 ? (e) => this.notify(e) : undefined
    this.flags = (live ? Flag.Live : 0) | ((options.manageResources ?? true) && wf.lifecycle ? Flag.ManageResources : 0)
    this.seq = resume?.nextSeq ?? 0
    this.resuming = resume?._tag === 'State' ? resume : undefined
    this.compensations = resume === undefined || resume.stack.length === 0 ? undefined : [...resume.stack]
    this.startedAt = wf.totalTimeoutMs === undefined ? undefined : this.now()
  }

  private has(flag: Flag): boolean {
    return (this.flags & flag) !== 0
  }
  private set(flag: Flag): void {
    this.flags |= flag
  }
  private get store(): CheckpointStore | undefined {
    return this.wf.checkpoints
  }
  private get live(): boolean {
    return this.has(Flag.Live)
  }
  private get manageResources(): boolean {
    return this.has(Flag.ManageResources)
  }
  /** The resources this run set up (it manages them and the run proper has begun). */
  private get resourcesUp(): boolean {
    return this.has(Flag.Running) && this.has(Flag.ManageResources)
  }
  private get tornDown(): boolean {
    return this.has(Flag.TornDown)
  }
  /** `true` once the resources are set up and the run proper has begun. */
  private get running(): boolean {
    return this.has(Flag.Running)
  }
  /** The terminal event was emitted. */
  private get finished(): boolean {
    return this.has(Flag.Finished)
  }
  /** The subscriber unsubscribed (or the run finished): nothing more is started. */
  private get closed(): boolean {
    return this.has(Flag.Closed)
  }
  /** The outcome is decided: the visit is released, the ending runs. */
  private get concluded(): boolean {
    return this.has(Flag.Concluded)
  }

  // -- events ----------------------------------------------------------------------------

  private notify(e: WorkflowEvent<S>): void {
    const observers = this.observers
    for (let i = 0; i < observers.length; i++) {
      try {
        notifyObserver(observers[i] as WorkflowObserver<S>, e)
      } catch (thrown: unknown) {
        if (this.live)
          this.sink.next({
            _tag: 'ObserverFailed',
            workflowId: this.workflowId,
            at: this.now(),
            observer: i,
            error: toCanoError(thrown),
          })
      }
    }
    if (this.live || isTerminal(e)) this.sink.next(e)
  }

  // -- the run's signal --------------------------------------------------------------------

  /** The run's signal, created on first read (most runs never need one). */
  get runSignal(): AbortSignal {
    let c = this.controller
    if (c === undefined) {
      c = new AbortController()
      this.controller = c
      if (this.abortReason !== undefined) c.abort(this.abortReason)
    }
    return c.signal
  }

  private abortRun(reason: CanoError): void {
    if (this.abortReason !== undefined) return
    this.abortReason = reason
    this.controller?.abort(reason)
  }

  // -- start -------------------------------------------------------------------------------

  start(preflight: CanoError | undefined): void {
    const { options, store, wf, initial, resume } = this
    if (preflight !== undefined)
      return this.finishEarly(preflight, this.workflowId === '' ? String(options.workflowId) : this.workflowId)
    if (typeof this.workflowId !== 'string' || this.workflowId === '') {
      const message =
        store !== undefined && options.workflowId === undefined
          ? 'checkpointing requires a workflowId: pass { workflowId } to orchestrate / run$'
          : 'workflowId must be a non-empty string'
      return this.finishEarly(configurationError(message), this.workflowId)
    }
    // a resumed rollback runs no state: the failed one may even be gone from the definition
    if (resume?._tag !== 'Rollback' && !wf.states.has(initial) && !wf.exits.has(initial))
      return this.finishEarly(
        configurationError(`Initial state ${JSON.stringify(initial)} is neither registered nor an exit state`),
        this.workflowId,
      )
    const emit = this.emit
    if (emit !== undefined) {
      emit({ _tag: 'RunStarted', workflowId: this.workflowId, at: this.now(), initial })
      if (resume !== undefined)
        emit({
          _tag: 'RunResumed',
          workflowId: this.workflowId,
          at: this.now(),
          state: resume.state,
          fromSeq: resume.fromSeq,
          version: resume.version,
        })
    }
    if (this.closed) return
    if (!this.manageResources) return this.begin()
    wf.resources.setupAll().then(
      () => {
        if (!this.closed) this.begin()
      },
      // a failed setup rolled back what it had set up: nothing to tear down
      (e: unknown) => {
        if (!this.closed) this.conclude({ _tag: 'Failed', error: toCanoError(e) })
      },
    )
  }

  private finishEarly(error: CanoError, workflowId: string): void {
    this.set(Flag.Finished | Flag.Closed)
    this.notify({ _tag: 'RunFailed', workflowId, at: this.now(), state: undefined, error })
    this.sink.complete()
  }

  /** The resources are up: the run proper begins, raced by cancellation and the total timeout. */
  private begin(): void {
    this.set(Flag.Running)
    const resume = this.resume
    if (resume?._tag === 'Rollback') {
      // the run crashed while rolling back: continue that rollback, run no state
      this.current = resume.state
      return this.conclude(failureOf(resume.rollback.error))
    }
    const signal = this.options.signal
    if (signal !== undefined) {
      if (signal.aborted) return this.interrupt({ _tag: 'Cancelled', error: cancelReason(signal) })
      // the run itself is the listener (`handleEvent`): no closure per run
      signal.addEventListener('abort', this)
      this.set(Flag.Listening)
    }
    const limit = this.wf.totalTimeoutMs
    if (limit !== undefined) this.aside = this.scheduler.schedule<TimedRun>(totalTimeout, limit, this)
    this.advance(this.initial)
  }

  /** The caller's signal fired. */
  handleEvent(): void {
    const signal = this.options.signal
    if (signal !== undefined) this.interrupt({ _tag: 'Cancelled', error: cancelReason(signal) })
  }

  /** Records the interruption and aborts the run's signal, then stops the visit. */
  interrupt(failure: Failure): void {
    if (this.concluded) return
    this.interruption ??= failure
    this.abortRun(failure.error)
    this.conclude(failure)
  }

  /** The total timeout fired. */
  timedOut(limit: number): void {
    this.interrupt({ _tag: 'TimedOut', error: workflowTimeoutError(this.now() - (this.startedAt ?? 0), limit) })
  }

  // -- the loop ----------------------------------------------------------------------------

  /** Enters `next`; called from inside the loop, it queues `next` and lets the loop enter it (no recursion). */
  private advance(next: S): void {
    this.queued = next
    if (this.has(Flag.Looping)) return
    this.set(Flag.Looping)
    try {
      while (this.queued !== undefined && !this.concluded && !this.closed) {
        const state: S = this.queued
        this.queued = undefined
        this.enter(state)
      }
    } catch (e: unknown) {
      this.conclude({ _tag: 'Failed', error: toCanoError(e) })
    } finally {
      this.flags &= ~Flag.Looping
    }
  }

  /** A visit settled on its next state. */
  stateDone(next: S): void {
    if (this.concluded || this.closed) return
    // release what the finished visit still holds before the next one starts
    const done = this.visitSub
    this.visitSub = undefined
    done?.unsubscribe()
    this.advance(next)
  }

  /** A visit failed. */
  stateFailed(error: CanoError): void {
    this.conclude({ _tag: 'Failed', error })
  }

  private enter(state: S): void {
    const { wf, store } = this
    this.current = state
    // a split's result is visible to the one state it joins into, and only there
    this.incomingSplit = this.pendingSplit
    this.pendingSplit = undefined
    const transition = this.transitions++
    if (this.emit !== undefined)
      this.emit({ _tag: 'StateEntered', workflowId: this.workflowId, at: this.now(), state, transition })
    if (this.closed) return
    const compiled = wf.states.get(state)
    if (store === undefined || compiled?.writesEntry === false) return this.visit(state, compiled)
    const point = this.resuming !== undefined && this.resuming.state === state ? this.resuming : undefined
    // cano's task id: the task name, '' for split, exit and unregistered states
    const taskId = compiled === undefined ? '' : compiled.rowTaskId
    void this.write(stateEntry(point?.continues), state, taskId).then((written) => {
      if (this.concluded || this.closed) return
      if (typeof written !== 'number') return this.conclude({ _tag: 'Failed', error: written })
      this.appended(written, 'StateEntry', state)
      try {
        this.visit(state, compiled)
      } catch (e: unknown) {
        this.conclude({ _tag: 'Failed', error: toCanoError(e) })
      }
    })
  }

  private visit(state: S, compiled: CompiledState<S, R> | undefined): void {
    if (this.wf.exits.has(state)) {
      return this.conclude({ _tag: 'Completed', state })
    }
    if (compiled === undefined)
      return this.conclude({
        _tag: 'Failed',
        error: workflowError(`No task registered for state: ${JSON.stringify(state)}`, state),
      })
    const next$ = this.dispatch(compiled)
    // the visit is the run's current one before it starts: one that settles at once releases itself
    if (next$ instanceof StateVisit) {
      const frame = (next$ as StateVisit<S, R>).frame(this)
      this.visitSub = frame
      frame.start(next$.body)
      return
    }
    const holder = new Subscription()
    this.visitSub = holder
    holder.add(
      next$.subscribe({ next: (s) => this.stateDone(s), error: (e: unknown) => this.stateFailed(toCanoError(e)) }),
    )
  }

  private dispatch(compiled: CompiledState<S, R>): Observable<S> {
    const point = this.resuming !== undefined && this.resuming.state === compiled.name ? this.resuming : undefined
    this.resuming = undefined
    return runState(compiled.handler, new RunEnv<S, R>(this, compiled), this, point?.continues)
  }

  // -- what a state kind's runner sees of the run (RunnerHost) -----------------------------

  get persisting(): boolean {
    return this.store !== undefined
  }

  appendRow(draft: RowDraft, env: StateEnv<S, R>): Observable<never> {
    return this.append(draft, env.state, env.taskId)
  }

  /** A split hands its result to the state it joins into. */
  publishSplit(result: SplitResult): void {
    this.pendingSplit = result
  }

  // -- checkpoints -------------------------------------------------------------------------

  /** Hands one row to the store; resolves with its `seq` once it is durable. `onSeq` learns the `seq` first. */
  private write(
    draft: RowDraft,
    state: S,
    taskId: string,
    onSeq?: (rowSeq: number) => void,
  ): Promise<number | CanoError> {
    const store = this.store as CheckpointStore
    const row = checkpointRow(draft, this.workflowId, this.seq++, state, taskId, this.wf.version, this.now())
    onSeq?.(row.seq)
    const write = store.append(row)
    this.lastWrite = write
    // never rejects: a failed write resolves with the error to report
    return write.then(
      () => row.seq,
      (e: unknown) => {
        const cause = toCanoError(e)
        return checkpointStoreError(`append checkpoint: ${cause.message}`, cause)
      },
    )
  }

  private appended(rowSeq: number, kind: CheckpointKind, state: S): void {
    if (this.emit !== undefined)
      this.emit({ _tag: 'CheckpointAppended', workflowId: this.workflowId, at: this.now(), seq: rowSeq, kind, state })
  }

  /** Appends one row; completes once it is durable, after reporting `CheckpointAppended`. */
  private append(draft: RowDraft, state: S, taskId: string, onSeq?: (rowSeq: number) => void): Observable<never> {
    if (this.store === undefined) return EMPTY
    return defer(() => from(this.write(draft, state, taskId, onSeq))).pipe(
      mergeMap((written) => {
        if (typeof written !== 'number') return throwError(() => written)
        this.appended(written, draft.kind, state)
        return EMPTY
      }),
    )
  }

  // -- sagas -------------------------------------------------------------------------------

  sagaHooks(env: StateEnv<S, R>): SagaHooks {
    return {
      record: (encoded, decoded) => {
        const stack = (this.compensations ??= [])
        const entry = (rowSeq: number | undefined): StackEntry => ({
          state: env.state,
          taskId: env.taskId,
          encoded,
          seq: rowSeq,
          value: { decoded },
        })
        if (this.store === undefined) {
          stack.push(entry(undefined))
          return undefined
        }
        // on the stack before the write starts: a cancellation during the write still compensates it
        return this.append(compensationCompletion(encoded as JsonValue), env.state, env.taskId, (rowSeq) =>
          stack.push(entry(rowSeq)),
        )
      },
      keep: (output) =>
        (this.compensations ??= []).push({
          state: env.state,
          taskId: env.taskId,
          encoded: undefined,
          seq: undefined,
          value: { decoded: output },
        }),
    }
  }

  /** Undoes the stack after `failure`; emits the run's final outcome once. */
  private rollback$(failure: Failure): Observable<Failure> {
    return defer(() => {
      const { wf, store } = this
      const entries = this.compensations ?? []
      this.compensations = undefined
      const storeErrors: CanoError[] = []
      // a rollback has entries, so some state ran: `current` is set (a resumed rollback writes no marker)
      const failedState = this.current
      // a write the interruption cut short still lands: let it, so the rollback's rows come after it
      const lastWrite = this.lastWrite
      const settled$ = lastWrite === undefined ? EMPTY : from(lastWrite.then(noop, noop)).pipe(ignoreElements())
      const marker$ =
        this.resume?._tag === 'Rollback' || failedState === undefined
          ? EMPTY
          : this.append(
              rollbackStarted(failure.error),
              failedState,
              // cano's task id: '' for a state with no task (split, exit, unregistered)
              wf.states.get(failedState)?.taskId ?? '',
            ).pipe(
              catchError((e: unknown) => {
                storeErrors.push(toCanoError(e))
                return EMPTY
              }),
            )
      const env: DrainEnv<S, R> = {
        workflowId: this.workflowId,
        res: wf.resources,
        scheduler: this.scheduler,
        random: wf.random,
        now: this.now,
        emit: this.emit,
        lookup: (state) => wf.states.get(state),
        markDone:
          store === undefined
            ? undefined
            : (entry, seq) => this.append(compensationDone(seq), entry.state as S, entry.taskId),
      }
      return concat(settled$, marker$, drainCompensations(env, entries)).pipe(
        switchMap((errors) => {
          const { error, clearLog } = rollbackOutcome(failure.error, [...storeErrors, ...errors])
          const final: Failure = { _tag: failure._tag, error }
          // without a store there is nothing to clear: the ending stays synchronous (virtual time sees it)
          return clearLog && this.store !== undefined
            ? concat(from(this.clearLog()).pipe(ignoreElements()), of(final))
            : of(final)
        }),
      )
    })
  }

  /** Clears the run's log, best effort: never rejects (a store that fails or throws is ignored). */
  private clearLog(): Promise<void> {
    const store = this.store
    if (store === undefined) return Promise.resolve()
    try {
      return store.clear(this.workflowId).then(noop, noop)
    } catch {
      return Promise.resolve()
    }
  }

  // -- the ending --------------------------------------------------------------------------

  /** The outcome is decided (the interruption, if any, wins): release the visit, then end. */
  private conclude(outcome: Outcome<S>): void {
    if (this.concluded || this.closed) return
    this.set(Flag.Concluded)
    try {
      this.release()
      this.finish(this.interruption ?? outcome)
    } catch (e: unknown) {
      this.fatal(e)
    }
  }

  /** Something broke in the run's own ending (a store or a scheduler that throws): the stream errors. */
  private fatal(e: unknown): void {
    if (this.closed) return
    this.set(Flag.Closed)
    this.sink.error(e)
  }

  /** Clears the log of a completed run, rolls back a failed one, then tears down and ends. */
  private finish(final: Outcome<S>): void {
    if (final._tag === 'Completed') {
      // an exit state clears the log (best effort)
      if (this.store === undefined) return this.teardownThenEnd(final)
      void this.clearLog().then(() => {
        if (this.closed) return
        try {
          this.teardownThenEnd(final)
        } catch (e: unknown) {
          this.fatal(e)
        }
      })
      return
    }
    // a failure with nothing to undo keeps the log, so the run can be resumed; so does a failed setup
    if (
      !this.running ||
      (this.resume?._tag !== 'Rollback' && (this.compensations === undefined || this.compensations.length === 0))
    )
      return this.teardownThenEnd(final)
    // compensation runs before teardown: the compensators still have their resources
    this.aside = this.rollback$(final).subscribe({
      next: (rolledBack) => {
        try {
          this.teardownThenEnd(rolledBack)
        } catch (e: unknown) {
          this.fatal(e)
        }
      },
      error: (e: unknown) => this.fatal(e),
    })
  }

  /** Stops the visit and the interruptions. */
  private release(): void {
    const visit = this.visitSub
    this.visitSub = undefined
    visit?.unsubscribe()
    if (this.has(Flag.Listening)) {
      this.flags &= ~Flag.Listening
      this.options.signal?.removeEventListener('abort', this)
    }
    const deadline = this.aside
    this.aside = undefined
    deadline?.unsubscribe()
  }

  private teardownThenEnd(outcome: Outcome<S>): void {
    if (!this.resourcesUp || this.tornDown) return this.end(outcome)
    this.set(Flag.TornDown)
    this.wf.resources.teardownAll().then(
      () => {
        if (!this.closed) this.end(outcome)
      },
      (e: unknown) => this.fatal(e),
    )
  }

  private end(outcome: Outcome<S>): void {
    let terminal: TerminalEvent<S>
    try {
      terminal = terminalEvent(outcome, this.workflowId, this.now(), this.current, this.transitions)
    } catch (e: unknown) {
      return this.fatal(e)
    }
    this.set(Flag.Finished)
    this.notify(terminal)
    this.set(Flag.Closed)
    this.sink.complete()
  }

  /** The subscriber unsubscribed: abort the run, stop what runs, tear resources down. */
  unsubscribe(): void {
    if (this.closed) return
    this.set(Flag.Closed)
    if (this.finished) return
    // abort before releasing: attempt signals unlink from the run signal when they are released
    this.abortRun(cancelledError('run unsubscribed'))
    this.release()
    this.aside?.unsubscribe()
    if (this.resourcesUp && !this.tornDown) {
      this.set(Flag.TornDown)
      void this.wf.resources.teardownAll()
    }
  }
}

/** The scheduled work of the total timeout (a plain function: no closure per run). */
function totalTimeout(this: SchedulerAction<TimedRun>, run?: TimedRun): void {
  const limit = run?.wf.totalTimeoutMs
  if (run !== undefined && limit !== undefined) run.timedOut(limit)
}

/** What the total timeout's scheduled work needs of a run. */
interface TimedRun {
  readonly wf: { readonly totalTimeoutMs: number | undefined }
  timedOut(limit: number): void
}

/**
 * What a state kind sees of the run: two references and getters, so a parked run holds no copy of
 * its settings per state.
 */
class RunEnv<S extends string, R extends ResourceRecord> implements StateEnv<S, R> {
  constructor(
    private readonly run: WorkflowRun<S, R>,
    private readonly compiled: CompiledState<S, R>,
  ) {}
  get workflowId(): string {
    return this.run.workflowId
  }
  get state(): S {
    return this.compiled.name
  }
  get taskId(): string {
    return this.compiled.taskId
  }
  get res(): Resources<R> {
    return this.run.wf.resources
  }
  get runSignal(): AbortSignal {
    return this.run.runSignal
  }
  get scheduler(): SchedulerLike {
    return this.run.scheduler
  }
  get random(): () => number {
    return this.run.wf.random
  }
  get now(): () => number {
    return this.run.now
  }
  get emit(): ((e: WorkflowEvent<S>) => void) | undefined {
    return this.run.emit
  }
  get config(): ResolvedTaskConfig {
    return this.compiled.config
  }
  get to(): ReadonlySet<string> | undefined {
    return this.compiled.to
  }
  get fast(): boolean {
    return this.compiled.fast
  }
  get split(): SplitResult | undefined {
    return this.run.incomingSplit
  }
  publishSplit(result: SplitResult): void {
    this.run.publishSplit(result)
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const noop = (): void => undefined

const isTerminal = <S extends string>(e: WorkflowEvent<S>): e is TerminalEvent<S> =>
  e._tag === 'RunCompleted' || e._tag === 'RunFailed' || e._tag === 'RunCancelled' || e._tag === 'RunTimedOut'

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
