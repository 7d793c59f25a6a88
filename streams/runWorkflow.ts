/**
 * `runWorkflow`: one run of a compiled workflow as a cold `Observable<WorkflowEvent<S>>`
 * (`runToEnd`: the same run settling a Promise, for `orchestrate`).
 *
 * The run's life is the pure machine of src/RunMachine.ts; `WorkflowRun` is its driver: it feeds the
 * machine what happens to the run (a setup settled, a row written, a visit settled, the caller's signal,
 * the total timeout, an unsubscription) and carries out the commands the machine answers with (set
 * resources up, append a row, start or stop a visit, roll back, clear the log, tear down, emit). Inputs
 * that arrive while commands are being carried out (a visit that settles synchronously, a signal a task
 * aborts) wait their turn in the same loop, so the stack stays flat however many transitions a run makes.
 *
 * Each state kind is an Observable of the next state (`StateVisit`); the driver is one object rather than
 * a chain of operators, because a run spends most of its life parked (in a timer, a poll delay, a slow
 * task) and a parked operator chain holds a subscriber, a closure and a finalizer list per operator:
 * ~21 KB per run, against ~1.1 KB now (bench/processing).
 *
 * Sagas: finished `saga` steps are pushed on the run's compensation stack. When the run fails, is
 * cancelled or times out with entries on the stack, it rolls back before tearing resources down: a
 * `RollbackStarted` row (the original error), then the drain (a `CompensationDone` row per finished
 * compensation), then the outcome of `rollbackOutcome`. A run resumed from a log that holds a
 * `RollbackStarted` row runs no state: it continues that rollback. Runs that never reach a saga state
 * allocate nothing for this. A cancellation or the total timeout that arrives while a saga step is in
 * flight lets it finish first (the machine's `Finishing` phase, streams/runSagaState.ts), and every
 * rollback is bounded by the workflow's `compensationTimeoutMs` budget. A log that cannot be cleared
 * is reported (`CheckpointClearFailed`) without changing the outcome.
 *
 * @internal
 * @since 0.1.0
 */
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
  type SchedulerAction,
  type SchedulerLike,
  Subscription,
  throwError,
  type Unsubscribable,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { type CheckpointKind, JsonValue } from '../codecs/CheckpointRow.js'
import {
  cancelledError,
  CanoFailure,
  checkpointStoreError,
  isCanoFailure,
  toCanoError,
  workflowTimeoutError,
} from '../src/CanoError.js'
import type { CheckpointStore } from '../src/CheckpointStore.js'
import { follow, unfollow } from '../src/internal/abortFollowers.js'
import type { Resources } from '../src/Resources.js'
import {
  checkpointRow,
  compensationCompletion,
  compensationDone,
  notedEntry,
  resumedDetails,
  type ResumePoint,
  type ResumeState,
  rollbackStarted,
  type RowDraft,
  type RunNotes,
  stateEntry,
} from '../src/Resume.js'
import {
  type CompiledOutput,
  encodeOutput,
  type OutputContext,
  outputFailed,
  type ProducedOutput,
  type RunTableSeam,
} from '../src/RunBoundary.js'
import {
  ABANDON,
  abortReason,
  advanceOwned,
  type CommandBuffer,
  createRun,
  ENTRY_WRITTEN,
  LOG_CLEARED,
  OUTPUT_PRODUCED,
  RECORDED,
  type RunCommand,
  type RunFailure,
  type RunInput,
  type RunMachine,
  type RunResume,
  type RunSetup,
  SET_UP_DONE,
  type StateRole,
  terminalEvent,
  TORN_DOWN,
  transition,
  UNSUBSCRIBE,
} from '../src/RunMachine.js'
import type { DecodedRunOptions, RefusedRun } from '../src/RunOptions.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import type { CompiledState, CompiledWorkflow } from '../src/WorkflowDefinition.js'
import type { RunCompleted, TerminalEvent, WorkflowEvent } from '../src/WorkflowEvent.js'
import {
  type AroundAttempt,
  composeAround,
  notifyObserver,
  observersForRun,
  type RunObservers,
  type WorkflowObserver,
} from '../src/WorkflowObserver.js'
import { isThenable, ThenSlot } from './fromTaskOutput.js'
import { drainCompensations, type DrainEnv, type SagaHooks, type StackEntry } from './runSagaState.js'
import { taskBody } from './runTaskState.js'
import { type StateEnv, StateFrame, type StateSink, StateVisit } from './stateRunner.js'
import { type RunnerHost, runState } from './stateRunners.js'

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Where a run's events go: an RxJS subscriber, or the settling of `orchestrate`'s Promise. */
export interface RunSink<S extends string> {
  next(e: WorkflowEvent<S>): void
  error(e: unknown): void
  complete(): void
  /**
   * An RxJS subscriber's: `true` once it unsubscribed. Read after each event, so a subscriber that leaves
   * while the run delivers synchronously from inside `subscribe` (before RxJS holds the run's teardown)
   * is heard at once.
   */
  readonly closed?: boolean
}

/** @internal A run's decoded options, or why it is refused (src/RunOptions.ts `decodeRunOptions`). */
export type RunStart<S extends string> =
  | { readonly _tag: 'Left'; readonly left: RefusedRun<S> }
  | { readonly _tag: 'Right'; readonly right: DecodedRunOptions<S> }

/**
 * @internal Runs `wf` from `initial` with options decoded at the public entry. With `live` false and no
 * observers, only the terminal event is built and emitted (the fast path of `orchestrate`).
 */
export const runWorkflow = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  /** Decodes the options when the run starts (each subscription is its own run, with its own id). */
  options: () => RunStart<S>,
  live: boolean,
  resume?: ResumePoint<S>,
): Observable<WorkflowEvent<S>> =>
  new Observable<WorkflowEvent<S>>((subscriber) => startRun(wf, initial, options(), live, subscriber, resume))

/**
 * @internal Runs `wf` from `initial` to its exit state, without an Observable in between (what
 * `orchestrate` awaits): resolves with what `complete` makes of the `RunCompleted` event (the exit
 * state, or the state and the decoded output), rejects with a `CanoFailure` carrying the run's error
 * (or what `complete` threw). Observers still see every event.
 */
export const runToEnd = <S extends string, R extends ResourceRecord, T>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunStart<S>,
  complete: (e: RunCompleted<S>) => T,
): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    startRun(wf, initial, options, false, new TerminalSink<S, T>(resolve, reject, complete))
  })

/**
 * @internal A run refused before it could start (bad options or id, a log that would not load): its
 * observers and its event stream see one `RunFailed` with no state, then it completes.
 */
export const refusedRun = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  refusal: RefusedRun<S>,
  live: boolean,
): Observable<WorkflowEvent<S>> =>
  new Observable<WorkflowEvent<S>>((subscriber) => {
    const run = new WorkflowRun(wf, refused(refusal), live, subscriber, undefined)
    run.feed({ _tag: 'Refuse', error: refusal.error })
    return run
  })

/**
 * @internal A run started by {@link startRunTo}: `unsubscribe()` is its subscriber leaving (a cancellation:
 * the run still ends, and reports its terminal event to the sink and its observers); `abandon()` hands
 * it over (parked, its lease lost, its runtime stopping): it stops where it is, rolls nothing back and
 * reports nothing more.
 */
export interface RunHandle extends Unsubscribable {
  abandon(): void
  /** Cancels the run with `error` (a `Cancelled` error), as its signal aborting would: what an owned run's cancel request does without a signal of its own. */
  cancel(error: CanoError): void
}

/** @internal Starts one live run of `wf` reporting every event to `sink` (what an owned run drives). */
export const startRunTo = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunStart<S>,
  sink: RunSink<S>,
  resume?: ResumePoint<S>,
  cancelled?: CanoError,
): RunHandle => startRun(wf, initial, options, true, sink, resume, cancelled)

/**
 * @internal The {@link CanoFailure} a run that did not complete rejects (or errors) with: its error, with
 * where it happened (the run, the state, the failed task's attempts, the transitions so far).
 */
export const failureOf = <S extends string>(end: Exclude<TerminalEvent<S>, RunCompleted<S>>): CanoFailure =>
  new CanoFailure(end.error, {
    workflowId: end.workflowId,
    state: end.state,
    attempt: end._tag === 'RunFailed' ? end.attempt : undefined,
    transitions: end.transitions,
  })

/** Starts one run reporting to `sink`; refused options end it at once. */
const startRun = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  initial: S,
  options: RunStart<S>,
  live: boolean,
  sink: RunSink<S>,
  resume?: ResumePoint<S>,
  cancelled?: CanoError,
): WorkflowRun<S, R> => {
  if (options._tag === 'Left') {
    const run = new WorkflowRun(wf, refused(options.left), live, sink, undefined)
    run.feed({ _tag: 'Refuse', error: options.left.error })
    return run
  }
  const run = new WorkflowRun(wf, options.right, live, sink, resume)
  const signal = run.signal
  // a signal aborted before the start is held by the machine: RunStarted, then Cancelled, no state entered
  if (signal?.aborted === true) run.feed({ _tag: 'Cancel', error: cancelReason(signal) })
  else if (cancelled !== undefined) run.feed({ _tag: 'Cancel', error: cancelled })
  run.feed({ _tag: 'Start', initial })
  return run
}

/** The options a refused run still uses: its id and observers. */
const refused = <S extends string>(refusal: RefusedRun<S>): Identity<S> => ({
  workflowId: refusal.workflowId,
  signal: undefined,
  observers: refusal.observers,
  manageResources: false,
  scheduler: undefined,
  leaseMs: undefined,
  input: undefined,
  recordOutput: undefined,
})

/** What a run needs of its options. */
type Identity<S extends string> = Omit<DecodedRunOptions<S>, 'workflowId'> & { readonly workflowId: string }

/** Settles a Promise with a run's outcome. */
class TerminalSink<S extends string, T> implements RunSink<S> {
  constructor(
    private readonly resolve: (result: T) => void,
    private readonly reject: (e: unknown) => void,
    private readonly completion: (e: RunCompleted<S>) => T,
  ) {}
  next(e: WorkflowEvent<S>): void {
    if (e._tag === 'RunCompleted') {
      let result: T
      try {
        result = this.completion(e)
      } catch (thrown: unknown) {
        return this.error(thrown)
      }
      this.resolve(result)
    } else if (isTerminal(e)) this.reject(failureOf(e))
  }
  error(e: unknown): void {
    this.reject(isCanoFailure(e) ? e : new CanoFailure(toCanoError(e)))
  }
  complete(): void {
    // the terminal event came first; a Promise settles once
  }
}

/** A scheduler and its `now`: one per scheduler rather than one per run (a run holds one field for both). */
class Clock {
  readonly now: () => number
  constructor(readonly scheduler: SchedulerLike) {
    this.now = () => scheduler.now()
  }
}
const clocks = new WeakMap<SchedulerLike, Clock>()
const clockOf = (scheduler: SchedulerLike): Clock => {
  let clock = clocks.get(scheduler)
  if (clock === undefined) {
    clock = new Clock(scheduler)
    clocks.set(scheduler, clock)
  }
  return clock
}

/**
 * The commands of one step. Steps nest only when a command of one run steps another run synchronously
 * (an observer that starts a run), so one list per nesting depth serves every run: a parked run holds
 * none. The list is reused through its counter, never truncated (setting an array's length to 0 drops
 * its backing store: an allocation per step).
 */
class CommandList implements CommandBuffer {
  readonly items: RunCommand[] = []
  size = 0
  push(command: RunCommand): void {
    this.items[this.size++] = command
  }
}
const lists: CommandList[] = []
let depth = 0

/** The inputs that arrived while a run was carrying out commands, in order (reused, like {@link CommandList}). */
class InputQueue<S extends string> {
  readonly items: Array<RunInput<S> | undefined> = []
  head = 0
  tail = 0
  enqueue(input: RunInput<S>): void {
    this.items[this.tail++] = input
  }
  /** The next input; its slot is cleared so the queue keeps nothing alive. */
  dequeue(): RunInput<S> | undefined {
    if (this.head === this.tail) return undefined
    const input = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.tail) this.head = this.tail = 0
    return input
  }
}

/**
 * Where a run's loop is (two bits of `WorkflowRun.flags`): idle (neither), {@link BUSY} carrying out commands
 * (inputs queue), {@link LEAVING} when the subscriber left while it was busy (no more work starts before
 * that is handled).
 */
const BUSY = 8
const LEAVING = 16
const LOOP = BUSY | LEAVING

/**
 * Commands that start a state's work: skipped once the subscriber has left (it unsubscribed while an event
 * was delivered), since the `Unsubscribe` waiting its turn cancels the run there. What a cancellation
 * still needs (the setup it waits for, a rollback) is carried out.
 */
const STARTS_WORK: ReadonlySet<RunCommand> = new Set<RunCommand>(['AppendEntry', 'StartVisit'])

/**
 * What a run was started with beyond its workflow and id, when it has any of it (a caller's signal, a resume
 * point, a park threshold, a total timeout, an input codec or an output): most runs have none, and hold
 * one `undefined` field instead of these.
 */
class RunExtras<S extends string> {
  /** The total timeout's scheduled action, while armed. */
  deadline: Subscription | undefined = undefined
  /** The output produced at the exit (encoded for `RunCompleted`). */
  produced: ProducedOutput | undefined = undefined
  constructor(
    /** The caller's signal. */
    readonly signal: AbortSignal | undefined,
    readonly resumed: RunResume<S> | undefined,
    /** The resume point, until the resume state's first visit has read where it continues from. */
    public resuming: ResumePoint<S> | undefined,
    /** The owner's park threshold (src/RunOptions.ts `parkAfterMs`). */
    readonly parkAfterMs: number | undefined,
    /** When the run started; kept only when a total timeout needs it for its message. */
    readonly startedAt: number | undefined,
    /** The decoded input its tasks read as `ctx.input` (src/RunBoundary.ts). */
    readonly input: unknown,
    /** The run table's output hook. */
    readonly recordOutput: RunTableSeam['recordOutput'],
  ) {}
}

/**
 * What only some runs come to hold (the run's own signal and why it aborted, a split's result, the saga
 * stack, the last checkpoint write, a rollback, a failure's attempts): created the first time one is set.
 */
class RunRare {
  controller: AbortController | undefined = undefined
  /** Why the run was aborted, kept until (and unless) its signal is created. */
  abortReason: CanoError | undefined = undefined
  pendingSplit: SplitResult | undefined = undefined
  /** The split result the current state joins (visible to that one state only). */
  incomingSplit: SplitResult | undefined = undefined
  /** The compensation stack (oldest first); created by the first saga step or a resume that has one. */
  compensations: StackEntry[] | undefined = undefined
  /**
   * A resumed saga state runs forward again (src/Resume.ts, `Supersedes`): the completion its step
   * replaces, which stays on the stack until the step is recorded again (a re-run that fails, or a run
   * cancelled first, compensates the step that had committed).
   */
  replaces: { readonly state: string; readonly seq: number } | undefined = undefined
  /** The last checkpoint write handed to the store (one may still be in flight when a run is interrupted). */
  lastWrite: Promise<void> | undefined = undefined
  /** The rollback (`RollingBack`). */
  rollbackSub: Subscription | undefined = undefined
  /** The attempt the last failed visit's work failed at, for the failure's context. */
  failedAttempts: number | undefined = undefined
}

/** A run's observers, when it has any (src/WorkflowObserver.ts `observersForRun`). */
class Observed<S extends string> {
  constructor(
    readonly observers: ReadonlyArray<WorkflowObserver<S>>,
    /** The index each observer had in the workflow's list, when `forRun` left some out. */
    readonly origin: ReadonlyArray<number> | undefined,
    /** `forRun` hooks that threw, reported right after `RunStarted`. */
    public faults: RunObservers<S>['faults'] | undefined,
    /** The observers' `aroundAttempt`, nested; `undefined` when none has one. */
    public around: AroundAttempt<S> | undefined,
  ) {}
}

/** The run's flags (`WorkflowRun.flags`). */
const LIVE = 1
/** The subscriber left (its `Unsubscribe` was fed). */
const LEFT = 2
/** The run's terminal event is being (or was) delivered to its observers. */
const ENDING = 32
const MANAGES_RESOURCES = 4

/** The observers of a run that has none. */
const NO_OBSERVERS: ReadonlyArray<never> = Object.freeze([])

/** How many states' envs a run keeps in a chain before it indexes them in a Map (see `envOf`). */
const ENV_CHAIN = 8

/**
 * One run: the driver of its machine, a hand-written object rather than an operator chain, so that a
 * run parked in a state holds this object, its machine, its visit's frame and what the state itself
 * waits on, and nothing per operator. The run's own `AbortSignal` is created only when something reads it;
 * what few runs use lives in side objects created when there is something to put in them ({@link RunExtras},
 * {@link RunRare}, {@link Observed}), so a parked run without options holds ~19 fields.
 */
class WorkflowRun<S extends string, R extends ResourceRecord>
  implements RunSetup<S>, StateSink<S>, Unsubscribable, RunnerHost<S, R>
{
  // declared, not defined, and assigned once in the constructor: see AttemptContext (streams/runTask.ts)
  /** The run's scheduler and its `now`. */
  declare readonly clock: Clock
  declare readonly workflowId: string
  declare readonly emit: ((e: WorkflowEvent<S>) => void) | undefined
  /** {@link LIVE}, {@link LEFT}, {@link MANAGES_RESOURCES}, and where the loop is ({@link BUSY}, {@link LEAVING}). */
  declare private flags: number
  declare private readonly observed: Observed<S> | undefined
  /** The options beyond the id, when there are any. */
  declare private readonly extras: RunExtras<S> | undefined
  /** What only some runs come to hold; created on first use. */
  declare private rare: RunRare | undefined
  declare private machine: RunMachine<S>
  /** The one listener of the run's abort that needs no signal (a saga step's or a split's visit): see `watchRunAbort`. */
  declare private abortWatcher: { handleEvent(): void } | undefined
  /** Inputs that arrived while the run was busy; created the first time one does. */
  declare private queue: InputQueue<S> | undefined
  declare private seq: number
  /** The compiled state `role` last found (what `StartVisit` runs). */
  declare private compiled: CompiledState<S, R> | undefined
  /** The current state's visit (`Visiting`). */
  declare private visitSub: Unsubscribable | undefined
  /**
   * The env of each state visited (see {@link envOf}), created by the first visit: the last one created,
   * chained to the earlier ones, or once there are more than {@link ENV_CHAIN}, a Map of them all.
   */
  declare private envs: RunEnv<S, R> | Map<CompiledState<S, R>, RunEnv<S, R>> | undefined
  /** The env of the last state visited: its `successor` spares a cycle's lookups (see {@link envOf}). */
  declare private lastEnv: RunEnv<S, R> | undefined
  /** The run's Promise callbacks for its tasks' outputs (streams/fromTaskOutput.ts); created on first use. */
  declare private slot: ThenSlot | undefined

  constructor(
    readonly wf: CompiledWorkflow<S, R>,
    options: Identity<S>,
    live: boolean,
    private readonly sink: RunSink<S>,
    resume: ResumePoint<S> | undefined,
  ) {
    const scheduler = options.scheduler ?? wf.scheduler ?? asyncScheduler
    this.clock = clockOf(scheduler)
    this.workflowId = options.workflowId
    this.flags = (live ? LIVE : 0) | (options.manageResources && wf.lifecycle ? MANAGES_RESOURCES : 0)
    const listed = options.observers === undefined ? wf.observers : [...wf.observers, ...options.observers]
    const observed =
      listed.length === 0
        ? undefined
        : observersForRun(listed, () => ({
            workflowId: options.workflowId,
            workflow: wf.name,
            version: wf.version,
            resumed: resume !== undefined,
            notes: resume?.notes ?? NO_NOTES,
          }))
    this.observed =
      observed === undefined
        ? undefined
        : new Observed(
            observed.observers,
            observed.origin,
            observed.faults.length === 0 ? undefined : observed.faults,
            undefined,
          )
    const observers = this.observers
    // the run's notify, bound: no closure (and its context) per run
    this.emit = live || observers.length > 0 ? this.notify.bind(this) : undefined
    if (this.observed !== undefined && observers.length > 0)
      this.observed.around = composeAround(observers, this.observed.origin, this)
    this.abortWatcher = undefined
    this.queue = undefined
    this.seq = resume?.nextSeq ?? 0
    this.compiled = undefined
    this.visitSub = undefined
    this.envs = undefined
    this.lastEnv = undefined
    this.slot = undefined
    const signal = options.signal
    const parkAfterMs = options.parkAfterMs
    const timed = wf.totalTimeoutMs !== undefined
    const io = wf.input !== undefined || wf.output !== undefined
    this.extras =
      signal === undefined && resume === undefined && parkAfterMs === undefined && !timed && !io
        ? undefined
        : new RunExtras<S>(
            signal,
            resume === undefined
              ? undefined
              : {
                  state: resume.state,
                  undo: resume.stack.length > 0,
                  rollback: resume._tag === 'Rollback' ? resume.rollback.error : undefined,
                },
            resume,
            parkAfterMs,
            timed ? this.now() : undefined,
            io ? options.input : undefined,
            io ? options.recordOutput : undefined,
          )
    this.rare = undefined
    if (resume !== undefined && resume.stack.length > 0) this.side().compensations = [...resume.stack]
    if (resume?._tag === 'State' && resume.continues._tag === 'Supersedes')
      this.side().replaces = { state: resume.state, seq: resume.continues.seq }
    this.machine = createRun<S>(this)
  }

  get scheduler(): SchedulerLike {
    return this.clock.scheduler
  }
  get now(): () => number {
    return this.clock.now
  }
  /** The caller's signal, if it passed one. */
  get signal(): AbortSignal | undefined {
    return this.extras?.signal
  }
  get manageResources(): boolean {
    return (this.flags & MANAGES_RESOURCES) !== 0
  }
  get checkpointed(): boolean {
    return this.wf.checkpoints !== undefined
  }
  get resumed(): RunResume<S> | undefined {
    return this.extras?.resumed
  }
  /** The owner's park threshold (src/RunOptions.ts `parkAfterMs`). */
  get parkAfterMs(): number | undefined {
    return this.extras?.parkAfterMs
  }
  /** The observers' `aroundAttempt`, nested; `undefined` when none has one. */
  get around(): AroundAttempt<S> | undefined {
    return this.observed?.around
  }
  /** The split result the current state joins (visible to that one state only). */
  get incomingSplit(): SplitResult | undefined {
    return this.rare?.incomingSplit
  }
  private get observers(): ReadonlyArray<WorkflowObserver<S>> {
    return this.observed?.observers ?? NO_OBSERVERS
  }
  private get live(): boolean {
    return (this.flags & LIVE) !== 0
  }
  /** The resume point, until the resume state's first visit has read where it continues from. */
  private get resuming(): ResumePoint<S> | undefined {
    return this.extras?.resuming
  }
  /** The resume point is used up. */
  private resumeUsed(): void {
    const extras = this.extras
    if (extras !== undefined) extras.resuming = undefined
  }
  /** What only some runs hold, created now if it was not. */
  private side(): RunRare {
    return (this.rare ??= new RunRare())
  }

  // -- the setup the machine reads ---------------------------------------------------------

  get listens(): boolean {
    return this.extras?.signal !== undefined
  }
  get timed(): boolean {
    return this.wf.totalTimeoutMs !== undefined
  }
  get produces(): boolean {
    return this.wf.output !== undefined
  }
  /** The run's decoded input (`undefined` without an input codec). */
  get input(): unknown {
    return this.extras?.input
  }
  role(state: S): StateRole {
    // the state visited after the last one the previous time, if this is it again (a cycle): no lookup
    const hint = this.lastEnv?.successor
    if (hint !== undefined && hint.compiled.name === state) {
      this.compiled = hint.compiled
      return 'Visit'
    }
    const compiled = this.wf.states.get(state)
    // kept for the `StartVisit` that follows (one lookup per transition); a state is never both a
    // handler and an exit (compileWorkflow refuses that)
    this.compiled = compiled
    return compiled !== undefined ? 'Visit' : this.wf.exits.has(state) ? 'Exit' : 'Missing'
  }
  finishesVisit(state: S): boolean {
    // a saga step in flight finishes before a cancellation or the total timeout rolls the run back
    return this.wf.states.get(state)?.finishes === true
  }
  writesEntry(state: S): boolean {
    if (this.wf.checkpoints === undefined) return false
    // the state's kind says whether a visit is recorded (a router decides and records nothing)
    return this.wf.states.get(state)?.writesEntry ?? true
  }

  private get store(): CheckpointStore | undefined {
    return this.wf.checkpoints
  }

  // -- the loop ----------------------------------------------------------------------------

  /**
   * Feeds `input` to the machine and carries out its commands. An input that arrives while commands are
   * being carried out waits until they are done (no recursion: a run of synchronous states stays flat).
   * A command that throws drops the rest of its step and is fed back as `Threw`.
   */
  feed(input: RunInput<S>): void {
    if ((this.flags & LOOP) !== 0) return this.enqueue(input)
    this.flags |= BUSY
    const out = lists[depth] ?? (lists[depth] = new CommandList())
    depth++
    try {
      out.size = 0
      this.machine = transition(this.machine, input, out)
      this.carryOutAll(out, input)
      if (this.queue !== undefined) this.drain(out, this.queue)
    } finally {
      depth--
      this.flags &= ~LOOP
    }
  }

  /** A visit settled on its next state: {@link feed} of `VisitSettled`, without allocating the input when idle. */
  stateDone(next: S): void {
    if ((this.flags & LOOP) !== 0) return this.enqueue({ _tag: 'VisitSettled', next })
    // the common step (the one command `Advance`) is carried out without a command list, and updates
    // the machine in place: this field holds its only reference
    if (!advanceOwned(this.machine, next)) return this.feed({ _tag: 'VisitSettled', next })
    this.flags |= BUSY
    try {
      this.advance()
    } catch (e: unknown) {
      this.enqueue({ _tag: 'Threw', error: e })
    } finally {
      this.flags &= ~LOOP
    }
    const queue = this.queue
    if (queue !== undefined && queue.head !== queue.tail) this.feedQueued(queue)
  }

  /** Steps through inputs that queued during a step carried out outside {@link feed}. */
  private feedQueued(queue: InputQueue<S>): void {
    this.flags |= BUSY
    const out = lists[depth] ?? (lists[depth] = new CommandList())
    depth++
    try {
      this.drain(out, queue)
    } finally {
      depth--
      this.flags &= ~LOOP
    }
  }

  /** `Advance`: release the finished visit, enter `current` and visit it (unless the subscriber left meanwhile). */
  private advance(): void {
    const m = this.machine
    const visit = this.visitSub
    this.visitSub = undefined
    visit?.unsubscribe()
    if (this.leaving()) return
    this.enter(m.current as S, m.transitions - 1)
    // an observer of StateEntered may have unsubscribed
    if (this.leaving()) return
    this.visit(m.current as S)
  }

  /** The subscriber left while the run was carrying out commands. */
  private leaving(): boolean {
    return (this.flags & LEAVING) !== 0
  }

  private enqueue(input: RunInput<S>): void {
    if (input._tag === 'Unsubscribe' || input._tag === 'Abandon') this.flags = (this.flags & ~LOOP) | LEAVING
    ;(this.queue ??= new InputQueue<S>()).enqueue(input)
  }

  /** Steps through the inputs that queued while commands were carried out. */
  private drain(out: CommandList, queue: InputQueue<S>): void {
    for (let next = queue.dequeue(); next !== undefined; next = queue.dequeue()) {
      // the subscriber's leaving is handled now: what it leads to (a rollback, a teardown) is carried out
      if (next._tag === 'Unsubscribe' || next._tag === 'Abandon') this.flags = (this.flags & ~LOOP) | BUSY
      out.size = 0
      this.machine = transition(this.machine, next, out)
      this.carryOutAll(out, next)
    }
  }

  /**
   * Carries out the commands of the last step, in order; once the subscriber has left, those that would
   * start work are skipped. A command that throws drops the rest of its step and is fed back as `Threw`.
   */
  private carryOutAll(out: CommandList, cause: RunInput<S> | undefined): void {
    const commands = out.items
    try {
      for (let c = 0; c < out.size; c++) {
        const command = commands[c] as RunCommand
        if (!this.leaving() || !STARTS_WORK.has(command)) this.carryOut(command, cause)
      }
    } catch (e: unknown) {
      this.enqueue({ _tag: 'Threw', error: e })
    }
  }

  /** Carries out one command of the machine `this.machine`, which `cause` led to (`undefined`: a visit settled). */
  private carryOut(command: RunCommand, cause: RunInput<S> | undefined): void {
    const m = this.machine
    switch (command) {
      // the commands of every transition first
      case 'Advance':
        return this.advance()
      case 'Enter':
        return this.enter(m.current as S, m.transitions - 1)
      case 'AppendEntry':
        return this.appendEntry(m.current as S)
      case 'StartVisit':
        return this.visit(m.current as S)
      case 'StopVisit': {
        const visit = this.visitSub
        this.visitSub = undefined
        return visit?.unsubscribe()
      }
      case 'ProduceOutput':
        return this.produceOutput(m.current as S)
      case 'EmitRunStarted':
        if (this.emit !== undefined && cause?._tag === 'Start')
          this.emit({ _tag: 'RunStarted', workflowId: this.workflowId, at: this.now(), initial: cause.initial })
        if (this.observed?.faults !== undefined) this.reportFaults(this.observed)
        return
      case 'EmitRunResumed': {
        const point = this.resuming
        if (this.emit !== undefined && point !== undefined)
          this.emit({
            _tag: 'RunResumed',
            workflowId: this.workflowId,
            at: this.now(),
            state: point.state,
            fromSeq: point.fromSeq,
            version: point.version,
            ...resumedDetails(point),
          })
        return
      }
      case 'Listen': {
        const signal = this.extras?.signal
        if (signal === undefined) return
        // aborted meanwhile (an observer of RunStarted did it): the machine hears it next
        if (signal.aborted) return this.feed({ _tag: 'Cancel', error: cancelReason(signal) })
        // the run itself follows it (`handleEvent`): no closure per run, one listener per signal however
        // many runs share it (a service's shutdown signal)
        return follow(signal, this)
      }
      case 'Unlisten': {
        const signal = this.extras?.signal
        return signal === undefined ? undefined : unfollow(signal, this)
      }
      case 'SetUp':
        return void this.wf.resources.setupAll().then(
          () => this.feed(SET_UP_DONE),
          // a failed setup rolled back what it had set up: nothing to tear down
          (e: unknown) => this.feed({ _tag: 'SetUpFailed', error: toCanoError(e) }),
        )
      case 'ArmTimeout':
        // a timed run has its extras (they hold when it started)
        ;(this.extras as RunExtras<S>).deadline = this.scheduler.schedule<TimedRun>(
          totalTimeout,
          this.wf.totalTimeoutMs,
          this,
        )
        return
      case 'DisarmTimeout': {
        const extras = this.extras
        const deadline = extras?.deadline
        if (extras === undefined || deadline === undefined) return
        extras.deadline = undefined
        return deadline.unsubscribe()
      }
      case 'Abort':
        // the subscriber left a run that had started: observers hear no terminal event, tell them why
        if (m._tag === 'Abandoned') this.abandoned()
        return this.abortRun(abortReason(m))
      case 'RollBack':
        if (m._tag === 'RollingBack') this.rollBack(m.failure, m.at, m.marker)
        return
      case 'StopRollback': {
        const rare = this.rare
        const rollback = rare?.rollbackSub
        if (rare === undefined || rollback === undefined) return
        rare.rollbackSub = undefined
        return rollback.unsubscribe()
      }
      case 'ClearLog':
        return void this.clearLog().then(() => this.feed(LOG_CLEARED))
      case 'TearDown':
        return void this.wf.resources.teardownAll().then(
          () => this.feed(TORN_DOWN),
          (e: unknown) => this.feed({ _tag: 'TeardownFailed', error: e }),
        )
      case 'EmitTerminal':
        if (m._tag === 'Ended')
          this.notify(
            terminalEvent(
              m.outcome,
              this.workflowId,
              this.now(),
              m.current,
              m.transitions,
              this.extras?.produced?.encoded,
              this.rare?.failedAttempts,
            ),
          )
        return
      case 'End':
        return this.sink.complete()
      case 'Fail':
        if (m._tag === 'Broken')
          this.sink.error(
            isCanoFailure(m.error)
              ? m.error
              : new CanoFailure(toCanoError(m.error), {
                  workflowId: this.workflowId,
                  state: m.current,
                  attempt: undefined,
                  transitions: m.transitions,
                }),
          )
        return
    }
  }

  // -- the output --------------------------------------------------------------------------

  /** `ProduceOutput`: runs the output function at `exit`, then encodes (and records) what it produced. */
  private produceOutput(exit: S): void {
    const output = this.wf.output as CompiledOutput
    let value: unknown
    try {
      value = output.at(new ExitContext(this, exit))
    } catch (thrown: unknown) {
      return this.feed({ _tag: 'OutputFailed', error: outputFailed(exit, thrown) })
    }
    if (!isThenable(value)) return this.outputReady(output, exit, value)
    value.then(
      (v) => this.outputReady(output, exit, v),
      (e: unknown) => this.feed({ _tag: 'OutputFailed', error: outputFailed(exit, e) }),
    )
  }

  /** The output function produced `value`: encode it with the codec, hand it to the run table's hook. */
  private outputReady(output: CompiledOutput, exit: S, value: unknown): void {
    const encoded = encodeOutput(output.codec, value, exit)
    if (encoded._tag === 'Left') return this.feed({ _tag: 'OutputFailed', error: encoded.left })
    // a workflow with an output gives its runs extras
    const io = this.extras as RunExtras<S>
    io.produced = encoded.right
    const record = io.recordOutput
    if (record === undefined) return this.feed(OUTPUT_PRODUCED)
    const failed = (e: unknown): void => {
      const cause = toCanoError(e)
      this.feed({
        _tag: 'OutputFailed',
        error:
          cause._tag === 'TaskExecution'
            ? checkpointStoreError(
                `record the output of run ${JSON.stringify(this.workflowId)}: ${cause.message}`,
                cause,
              )
            : cause,
      })
    }
    try {
      record(encoded.right.encoded, exit).then(() => this.feed(OUTPUT_PRODUCED), failed)
    } catch (e: unknown) {
      failed(e)
    }
  }

  // -- events ----------------------------------------------------------------------------

  private notify(e: WorkflowEvent<S>): void {
    const observers = this.observers
    if (observers.length > 0 && isTerminal(e)) this.flags |= ENDING
    for (let i = 0; i < observers.length; i++) {
      try {
        notifyObserver(observers[i] as WorkflowObserver<S>, e)
      } catch (thrown: unknown) {
        this.observerFailed(this.observed?.origin?.[i] ?? i, thrown)
      }
    }
    if ((this.flags & LIVE) !== 0 || isTerminal(e)) {
      const sink = this.sink
      sink.next(e)
      if (sink.closed === true && (this.flags & LEFT) === 0) this.unsubscribe()
    }
  }

  /**
   * Observer `observer` (its index in the workflow's list) threw: an `ObserverFailed` event for the other
   * observers, and on a live run's stream.
   * Public for `composeAround` (the run is its fault sink); not part of any API.
   */
  observerFailed(observer: number, thrown: unknown): void {
    const live = this.live
    const observers = this.observers
    if (!live && observers.length < 2) return
    const event: WorkflowEvent<S> = {
      _tag: 'ObserverFailed',
      workflowId: this.workflowId,
      at: this.now(),
      observer,
      error: toCanoError(thrown),
    }
    // the other observers hear it too (a log or a tracer records it), unless the run's terminal event is
    // being delivered (it stays the last thing they hear); what one throws while hearing it is not
    // reported again (no loop between two failing observers)
    if ((this.flags & ENDING) === 0) {
      const origin = this.observed?.origin
      for (let i = 0; i < observers.length; i++) {
        if ((origin?.[i] ?? i) === observer) continue
        try {
          notifyObserver(observers[i] as WorkflowObserver<S>, event)
        } catch {
          // see above
        }
      }
    }
    if (live) this.sink.next(event)
  }

  private reportFaults(observed: Observed<S>): void {
    const faults = observed.faults ?? []
    observed.faults = undefined
    for (const f of faults) this.observerFailed(f.observer, f.thrown)
  }

  /** The run was abandoned: the observers with an `onAbandon` hear it (what they throw goes nowhere: nobody listens). */
  private abandoned(): void {
    const observers = this.observers
    for (let i = 0; i < observers.length; i++) {
      const hook = (observers[i] as WorkflowObserver<S>).onAbandon
      if (hook === undefined) continue
      try {
        hook(this.workflowId)
      } catch {
        // the run's subscriber has left: there is no stream to report to
      }
    }
  }

  /**
   * The notes the observers keep with the run (its first row); `undefined` when none keeps one. A note
   * that is not JSON (or a hook that throws) is left out and reported.
   */
  private notes(): RunNotes | undefined {
    let notes: Record<string, JsonValue> | undefined
    const observers = this.observers
    for (let i = 0; i < observers.length; i++) {
      const note = (observers[i] as WorkflowObserver<S>).note
      if (note === undefined) continue
      try {
        const value = note.value()
        if (value === undefined) continue
        if (typeof note.key !== 'string' || !JsonValue.is(value) || !JsonValue.is({ [note.key]: value }))
          throw new TypeError(`note ${JSON.stringify(note.key)} is not a JSON value under a portable key`)
        ;(notes ??= {})[note.key] = value
      } catch (thrown: unknown) {
        this.observerFailed(this.observed?.origin?.[i] ?? i, thrown)
      }
    }
    return notes
  }

  // -- the run's signal --------------------------------------------------------------------

  /** The run's signal, created on first read (most runs never need one). */
  get runSignal(): AbortSignal {
    const rare = this.side()
    let c = rare.controller
    if (c === undefined) {
      c = new AbortController()
      rare.controller = c
      if (rare.abortReason !== undefined) c.abort(rare.abortReason)
    }
    return c.signal
  }

  /** Aborts the run's signal; the first reason is kept. */
  private abortRun(reason: CanoError): void {
    const rare = this.side()
    if (rare.abortReason !== undefined) return
    rare.abortReason = reason
    rare.controller?.abort(reason)
    this.abortWatcher?.handleEvent()
  }

  /** Sets (`on`) or clears the run's abort watcher (cleared only if it is still `watcher`); it is called after the run's signal aborts. */
  watchRunAbort(watcher: { handleEvent(): void }, on: boolean): void {
    if (on) this.abortWatcher = watcher
    else if (this.abortWatcher === watcher) this.abortWatcher = undefined
  }

  /** Why the run was aborted, if it was (read without creating the run's signal). */
  get runAbortReason(): CanoError | undefined {
    return this.rare?.abortReason
  }

  /** The caller's signal fired. */
  handleEvent(): void {
    const signal = this.extras?.signal
    if (signal !== undefined) this.feed({ _tag: 'Cancel', error: cancelReason(signal) })
  }

  /** The total timeout fired. */
  timedOut(limit: number): void {
    this.feed({ _tag: 'TimeOut', error: workflowTimeoutError(this.now() - (this.extras?.startedAt ?? 0), limit) })
  }

  /**
   * The subscriber unsubscribed: a cancellation (the run's signal aborts with `run unsubscribed`, its sagas
   * roll back, its resources are torn down, its observers see `RunCancelled`).
   */
  unsubscribe(): void {
    if ((this.flags & LEFT) !== 0) return
    this.flags |= LEFT
    this.feed(UNSUBSCRIBE)
  }

  /** The run is handed over: it stops where it is, rolls nothing back and reports nothing more. */
  abandon(): void {
    this.feed(ABANDON)
  }

  cancel(error: CanoError): void {
    this.feed({ _tag: 'Cancel', error })
  }

  // -- states ------------------------------------------------------------------------------

  /** `state` is entered: it sees the split result published for it, and only it; `StateEntered`. */
  private enter(state: S, transition: number): void {
    const rare = this.rare
    if (rare !== undefined) {
      rare.incomingSplit = rare.pendingSplit
      rare.pendingSplit = undefined
    }
    if (this.emit !== undefined)
      this.emit({ _tag: 'StateEntered', workflowId: this.workflowId, at: this.now(), state, transition })
  }

  /** Writes the `StateEntry` row of `state` (with where a resumed state continues from). */
  private appendEntry(state: S): void {
    const compiled = this.wf.states.get(state)
    const point = this.resumingAt(state)
    // cano's task id, as the state's kind records it ('' for split); '' for exit and unregistered states
    const taskId = compiled === undefined ? '' : compiled.rowTaskId
    // a new run's first row carries what its observers keep with it (a resumed run's first row is further on)
    const notes = this.seq === 0 && this.observers.length > 0 ? this.notes() : undefined
    const at = this.now()
    const draft = notes === undefined ? stateEntry(point?.continues) : notedEntry(notes)
    void this.write(draft, state, taskId, at).then((written) => {
      if (typeof written !== 'number') return this.feed({ _tag: 'EntryFailed', error: written })
      // only a run still entering that state reports its row
      if (this.machine._tag === 'Entering' && this.machine.current === state)
        this.appended(written, 'StateEntry', state, at)
      this.feed(ENTRY_WRITTEN)
    })
  }

  /** Where `state` continues from, when it is the state this run resumes and has not been visited yet. */
  private resumingAt(state: S): ResumeState<S> | undefined {
    const point = this.resuming
    return point !== undefined && point._tag === 'State' && point.state === state ? point : undefined
  }

  /** Starts the visit of `state` (a registered state: the machine checked). */
  private visit(state: S): void {
    const looked = this.compiled
    const compiled = (
      looked !== undefined && looked.name === state ? looked : this.wf.states.get(state)
    ) as CompiledState<S, R>
    const handler = compiled.handler
    if (handler._tag === 'Task') {
      // the hot path: a task's visit is its frame, started on the task's function (no Observable, no closure;
      // a task continues from nothing on a resume, so the resume point only has to be used up)
      this.resumeUsed()
      const frame = new StateFrame<S, R>(this.envOf(compiled), this)
      this.visitSub = frame
      frame.startWith(taskBody, handler.run)
      return
    }
    const next$ = this.dispatch(compiled)
    // the visit is the run's current one before it starts: one that settles at once is released next step
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

  /** A visit failed (after `attempts` attempts of its work, when known). */
  stateFailed(error: CanoError, attempts?: number): void {
    if (attempts !== undefined || this.rare !== undefined) this.side().failedAttempts = attempts
    this.feed({ _tag: 'VisitFailed', error })
  }

  private dispatch(compiled: CompiledState<S, R>): Observable<S> {
    const point = this.resumingAt(compiled.name)
    // the resume point serves the first visit only
    this.resumeUsed()
    return runState(compiled.handler, this.envOf(compiled), this, point?.continues)
  }

  /** The run's Promise callbacks, lent to one task output at a time. */
  get thenSlot(): ThenSlot {
    return (this.slot ??= new ThenSlot())
  }

  /** The env of `compiled`'s visits in this run: built once per state (it holds no per-visit data). */
  private envOf(compiled: CompiledState<S, R>): RunEnv<S, R> {
    const last = this.lastEnv
    const hint = last?.successor
    if (hint !== undefined && hint.compiled === compiled) {
      this.lastEnv = hint
      return hint
    }
    const env = this.findEnv(compiled)
    if (last !== undefined) last.successor = env
    this.lastEnv = env
    return env
  }

  /**
   * The env of `compiled`, created if this run has none yet: the first {@link ENV_CHAIN} are a chain (most runs
   * visit a few states; a parked run holds no Map), more are indexed in a Map.
   */
  private findEnv(compiled: CompiledState<S, R>): RunEnv<S, R> {
    const envs = this.envs
    if (envs instanceof Map) {
      let env = envs.get(compiled)
      if (env === undefined) {
        env = new RunEnv<S, R>(this, compiled, undefined)
        envs.set(compiled, env)
      }
      return env
    }
    let n = 0
    for (let e = envs; e !== undefined; e = e.earlier, n++) if (e.compiled === compiled) return e
    const env = new RunEnv<S, R>(this, compiled, envs)
    if (n < ENV_CHAIN) this.envs = env
    else {
      const all = new Map<CompiledState<S, R>, RunEnv<S, R>>()
      for (let e: RunEnv<S, R> | undefined = env; e !== undefined; e = e.earlier) all.set(e.compiled, e)
      this.envs = all
    }
    return env
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
    this.side().pendingSplit = result
  }

  // -- checkpoints -------------------------------------------------------------------------

  /** Hands one row to the store; resolves with its `seq` once it is durable. `onSeq` learns the `seq` first. */
  private write(
    draft: RowDraft,
    state: S,
    taskId: string,
    at: number,
    onSeq?: (rowSeq: number) => void,
  ): Promise<number | CanoError> {
    const store = this.store as CheckpointStore
    const row = checkpointRow(draft, this.workflowId, this.seq++, state, taskId, this.wf.version, at)
    onSeq?.(row.seq)
    const write = store.append(row)
    this.side().lastWrite = write
    // never rejects: a failed write resolves with the error to report
    return write.then(
      () => row.seq,
      (e: unknown) => {
        const cause = toCanoError(e)
        return checkpointStoreError(`append checkpoint: ${cause.message}`, cause)
      },
    )
  }

  /** `CheckpointAppended` of the row `rowSeq`, handed to the store at `startedAt`. */
  private appended(rowSeq: number, kind: CheckpointKind, state: S, startedAt: number): void {
    if (this.emit === undefined) return
    const at = this.now()
    this.emit({
      _tag: 'CheckpointAppended',
      workflowId: this.workflowId,
      at,
      seq: rowSeq,
      kind,
      state,
      latencyMs: at - startedAt,
    })
  }

  /** Appends one row; completes once it is durable, after reporting `CheckpointAppended`. */
  private append(draft: RowDraft, state: S, taskId: string, onSeq?: (rowSeq: number) => void): Observable<never> {
    if (this.store === undefined) return EMPTY
    return defer(() => {
      const at = this.now()
      return from(this.write(draft, state, taskId, at, onSeq)).pipe(
        mergeMap((written) => {
          if (typeof written !== 'number') return throwError(() => written)
          this.appended(written, draft.kind, state, at)
          return EMPTY
        }),
      )
    })
  }

  // -- sagas -------------------------------------------------------------------------------

  sagaHooks(env: StateEnv<S, R>): SagaHooks {
    // the run's env of the state is its saga hooks: no object and no closures per visit
    if (env instanceof RunEnv) return env
    return { record: (encoded, decoded) => this.recordStep(env, encoded, decoded), keep: (o) => this.keepStep(env, o) }
  }

  /** A saga step of `env`'s state finished: see `SagaHooks.record` (streams/runSagaState.ts). */
  recordStep(env: StateEnv<S, R>, encoded: unknown, decoded: unknown): Observable<never> | undefined {
    const stack = (this.side().compensations ??= [])
    const entry = (rowSeq: number | undefined): StackEntry => ({
      state: env.state,
      taskId: env.taskId,
      encoded,
      seq: rowSeq,
      value: { decoded },
    })
    if (this.store === undefined) {
      this.push(stack, entry(undefined))
      return undefined
    }
    // on the stack before the write starts: a cancellation during the write still compensates it
    return this.append(compensationCompletion(encoded as JsonValue), env.state, env.taskId, (rowSeq) =>
      this.push(stack, entry(rowSeq)),
    )
  }

  /** A saga step of `env`'s state finished with an output that could not be encoded: see `SagaHooks.keep`. */
  keepStep(env: StateEnv<S, R>, output: unknown): void {
    this.push((this.side().compensations ??= []), {
      state: env.state,
      taskId: env.taskId,
      encoded: undefined,
      seq: undefined,
      value: { decoded: output },
    })
  }

  /**
   * Pushes a finished saga step on the stack: from now on a failure rolls back. The step of a resumed
   * saga state takes the place of the completion it replaces (see `RunRare.replaces`).
   */
  private push(stack: StackEntry[], entry: StackEntry): void {
    const replaces = this.rare?.replaces
    if (replaces !== undefined && replaces.state === entry.state) {
      ;(this.rare as RunRare).replaces = undefined
      const at = stack.findIndex((e) => e.seq === replaces.seq)
      if (at >= 0) stack.splice(at, 1)
    }
    stack.push(entry)
    this.feed(RECORDED)
  }

  /** Undoes the stack after `failure`, recorded at state `at`; reports the errors it met (`RolledBack`). */
  private rollBack(failure: RunFailure, at: S, marker: boolean): void {
    const { wf, store } = this
    const rare = this.side()
    const entries = rare.compensations ?? []
    rare.compensations = undefined
    const storeErrors: CanoError[] = []
    // a write the interruption cut short still lands: let it, so the rollback's rows come after it
    const lastWrite = rare.lastWrite
    const settled$ = lastWrite === undefined ? EMPTY : from(lastWrite.then(noop, noop)).pipe(ignoreElements())
    const marker$ = !marker
      ? EMPTY
      : // cano's task id: '' for a state with no task (split, exit, unregistered)
        this.append(rollbackStarted(failure.error), at, wf.states.get(at)?.taskId ?? '').pipe(
          catchError((e: unknown) => {
            storeErrors.push(toCanoError(e))
            return EMPTY
          }),
        )
    const env: DrainEnv<S, R> = {
      budgetMs: wf.compensationTimeoutMs,
      workflowId: this.workflowId,
      res: wf.resources,
      input: this.input,
      scheduler: this.scheduler,
      random: wf.random,
      now: this.now,
      emit: this.emit,
      around: this.around,
      lookup: (state) => wf.states.get(state),
      markDone:
        store === undefined
          ? undefined
          : (entry, seq) => this.append(compensationDone(seq), entry.state as S, entry.taskId),
    }
    // the rollback's budget runs from here: the wait for the last write and the marker count against it
    rare.rollbackSub = drainCompensations(env, entries, concat(settled$, marker$)).subscribe({
      next: (errors) => this.feed({ _tag: 'RolledBack', errors: [...storeErrors, ...errors] }),
      error: (e: unknown) => this.feed({ _tag: 'Threw', error: e }),
    })
  }

  /**
   * Clears the run's log, best effort: never rejects. A store that fails or throws does not change the
   * run's outcome; it is reported as `CheckpointClearFailed` (cano 0.14's `on_checkpoint_clear_failed`).
   */
  private clearLog(): Promise<void> {
    const store = this.store
    if (store === undefined) return Promise.resolve()
    let cleared: Promise<void>
    try {
      cleared = store.clear(this.workflowId)
    } catch (e: unknown) {
      this.clearFailed(e)
      return Promise.resolve()
    }
    return cleared.then(noop, (e: unknown) => this.clearFailed(e))
  }

  /** The log of a run that is ending could not be cleared: `CheckpointClearFailed`, while the run is still there to say it. */
  private clearFailed(e: unknown): void {
    const emit = this.emit
    if (emit === undefined || this.machine._tag !== 'ClearingLog') return
    const cause = toCanoError(e)
    const id = this.workflowId
    emit({
      _tag: 'CheckpointClearFailed',
      workflowId: id,
      at: this.now(),
      error: checkpointStoreError(`clear the checkpoint log of run ${JSON.stringify(id)}: ${cause.message}`, cause),
    })
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
class RunEnv<S extends string, R extends ResourceRecord> implements StateEnv<S, R>, SagaHooks {
  /** The env of the state visited right after this one, the last time (a hint for `role` and `envOf`). */
  successor: RunEnv<S, R> | undefined = undefined
  constructor(
    private readonly run: WorkflowRun<S, R>,
    readonly compiled: CompiledState<S, R>,
    /** The env this run created before this one, while the run keeps its envs in a chain (see `findEnv`). */
    readonly earlier: RunEnv<S, R> | undefined,
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
  get input(): unknown {
    return this.run.input
  }
  get runSignal(): AbortSignal {
    return this.run.runSignal
  }
  /** See `RunSignalSource.watchRunAbort` (streams/runTask.ts). */
  watchRunAbort(watcher: { handleEvent(): void }, on: boolean): void {
    this.run.watchRunAbort(watcher, on)
  }
  /** See `RunSignalSource.runAbortReason` (streams/runTask.ts). */
  get runAbortReason(): unknown {
    return this.run.runAbortReason
  }
  /** A saga step's attempts have signals of their own (see `RunSignalSource.shielded`, streams/runTask.ts). */
  get shielded(): boolean {
    return this.compiled.finishes
  }
  get scheduler(): SchedulerLike {
    return this.run.clock.scheduler
  }
  get random(): () => number {
    return this.run.wf.random
  }
  get now(): () => number {
    return this.run.clock.now
  }
  get emit(): ((e: WorkflowEvent<S>) => void) | undefined {
    return this.run.emit
  }
  get around(): AroundAttempt<S> | undefined {
    return this.run.around
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
  get thenSlot(): ThenSlot {
    return this.run.thenSlot
  }
  publishSplit(result: SplitResult): void {
    this.run.publishSplit(result)
  }
  /** A saga state's hooks (see `WorkflowRun.sagaHooks`). */
  record(encoded: unknown, decoded: unknown): Observable<never> | undefined {
    return this.run.recordStep(this, encoded, decoded)
  }
  keep(output: unknown): void {
    this.run.keepStep(this, output)
  }
}

/** What a workflow's output function sees at the exit (src/RunBoundary.ts `OutputContext`). */
class ExitContext<S extends string, R extends ResourceRecord> implements OutputContext<string, ResourceRecord> {
  constructor(
    private readonly run: WorkflowRun<S, R>,
    readonly exit: S,
  ) {}
  get input(): unknown {
    return this.run.input
  }
  get res(): Resources<ResourceRecord> {
    return this.run.wf.resources
  }
  get workflowId(): string {
    return this.run.workflowId
  }
  /** The run's signal, created when read. */
  get signal(): AbortSignal {
    return this.run.runSignal
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const noop = (): void => undefined

/** The notes of a run that has none. */
const NO_NOTES: RunNotes = Object.freeze({})

const isTerminal = <S extends string>(e: WorkflowEvent<S>): e is TerminalEvent<S> =>
  e._tag === 'RunCompleted' || e._tag === 'RunFailed' || e._tag === 'RunCancelled' || e._tag === 'RunTimedOut'

/** The default reason of `abort()`; never throws (a reason may be anything, a revoked Proxy included). */
const isAbortError = (reason: unknown): boolean => {
  try {
    return reason instanceof Error && reason.name === 'AbortError'
  } catch {
    return false
  }
}

const cancelReason = (signal: AbortSignal): CanoError => {
  const reason: unknown = signal.reason
  if (reason === undefined || isAbortError(reason)) return cancelledError()
  const e = toCanoError(reason)
  return e._tag === 'Cancelled' ? e : cancelledError(`workflow cancelled: ${e.message}`)
}
