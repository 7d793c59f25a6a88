/**
 * The `split` state kind: branches run concurrently, each through its own retry loop (`runAttempts`
 * with the branch's config), and {@link decideJoin} is asked before anything runs, after every
 * settlement and at the deadline.
 *
 * ```text
 * branches:   0 ---ok              (quorum(2) of 3, timeoutMs 10)
 *             1 -------ok
 *             2 ---------------…   cancelled at 8: its signal aborts with Cancelled('split join decided')
 * events:     TaskStarted[0..2] at 0, SplitBranchSettled 0 at 4, 1 at 8, 2 (Cancelled) at 8
 *             (a branch's events carry its index as `branch`; its TaskStarted also `branches: 3`)
 * state:      -------- Join at 8   (the deadline at 10 is never reached)
 * ```
 *
 * - Concurrency: without a `bulkhead` (or with one no smaller than the branch count) every branch
 *   starts at once, in index order; otherwise a slot counter with the bulkhead as its limit starts
 *   them in index order as slots free (no operator chain per branch). A branch emits `TaskStarted` when it really starts.
 * - Each branch runs its function through `attemptWork` (streams/attemptWork.ts), like a task: attempt
 *   1 runs inline unless a breaker or limiter must be consulted first (with its own deadline under an
 *   attempt timeout), its output read by the same interpreter; a failure, or a breaker or limiter,
 *   goes through `runAttempts` with the branch's config. A branch is its own {@link BranchRun}: the
 *   env and the callbacks of that work, in one object.
 * - Each branch has a signal of its own, linked to the run's signal (through one listener per split,
 *   not one per branch) and created only if the branch (or its retry loop) reads it: building an
 *   `AbortSignal` costs about 3 µs, more than the rest of a branch.
 * - As soon as the join is decided, the signals of the branches still running abort (reason
 *   `Cancelled: split join decided`) and their retry loops are unsubscribed; every branch not settled
 *   is reported `Cancelled` (`SplitBranchSettled`), then the split moves to its join state with the
 *   {@link SplitResult} published, or fails with {@link joinFailure}. Nothing a cancelled branch does
 *   afterwards is reported.
 * - The deadline (`timeoutMs`, on the run's scheduler) starts once every branch has been handed to the
 *   bulkhead. Unsubscribing the state aborts every running branch.
 * - A branch with no breaker, limiter or attempt timeout (and no `aroundAttempt` to wrap it) is its own
 *   attempt-1 context and the sink of its output; a failure hands over to the retry loop as `attemptWork`'s
 *   inline attempt does.
 * - Timestamps: a clock reading costs about as much as the rest of an event (~0.1 µs), so the branch
 *   events (`TaskStarted`, `SplitBranchSettled`) share readings. The branches started at once share the
 *   instant the split started them (with the events of those that settle synchronously); a settlement
 *   shares its reading with the cancellations a decided join reports and with the branch its freed slot
 *   starts; and the settlements that Promise reactions deliver in one microtask turn share the first one's
 *   reading: each of them was queued, so its Promise settled, before that reading was taken (the reading
 *   queues the microtask that ends the turn). Settlements delivered otherwise (an Observable, a timer of
 *   the scheduler, a virtual clock's flush) read the clock each, so virtual instants stay exact.
 *
 * @internal
 * @since 0.1.0
 */
import { type Observable, type SchedulerLike, Subscription, type TeardownLogic, timer, type Unsubscribable } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { cancelledError, taskExecutionError, toCanoError } from '../src/CanoError.js'
import { decideJoin, type JoinDecision, joinFailure, type JoinProgress } from '../src/JoinStrategy.js'
import type { Resources } from '../src/Resources.js'
import type { BranchFn, SplitBranch, SplitHandler } from '../src/Split.js'
import type { BranchOutcome, SplitResult } from '../src/SplitResult.js'
import { type ResolvedTaskConfig, resolveTaskConfig, runsInline } from '../src/TaskConfig.js'
import type { InputOf, ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import type { AroundAttempt } from '../src/WorkflowObserver.js'
import { attemptWork, progressOf, retryAfterFirstFailure, type WorkCallbacks, type WorkEnv } from './attemptWork.js'
import { type OutputSink, settleTaskOutput, settlingInReaction } from './fromTaskOutput.js'
import { isCircuitRejection } from './runTask.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal A branch ready to run: its function and resolved config. */
interface BranchPlan<R extends ResourceRecord> {
  readonly run: BranchFn<R>
  readonly config: ResolvedTaskConfig
  /** {@link runsInline}: attempt 1 may run inline. */
  readonly fast: boolean
  /**
   * No breaker, limiter or attempt timeout: attempt 1 runs with the branch itself as its context and the
   * sink of its output (no attempt object), unless an `aroundAttempt` wraps it.
   */
  readonly bare: boolean
}

/** @internal What a split's branches share: the state's env, who is running, how a branch settles. */
interface SplitVisit<S extends string, R extends ResourceRecord> {
  readonly env: StateEnv<S, R>
  /** The branches started and not settled, by index. */
  readonly running: ReadonlyArray<BranchRun<S, R> | undefined>
  /** The branches' task ids (`FanOut[2]`), built once per branch list and state (see {@link taskIdsOf}). */
  readonly taskIds: Array<string | undefined>
  /** Branch `r` settled with `outcome` (ignored once the join is decided or `r` no longer runs). */
  settle(r: BranchRun<S, R>, outcome: BranchOutcome): void
}

/**
 * @internal A branch that started: the env `attemptWork` runs its function in (its task id is
 * `Split[i]`, its events are dropped once it no longer runs) and the callbacks it reports to. Its
 * `runSignal` is built on first read; an abort before that is remembered, so a branch that reads its
 * signal only after being cancelled (or after the run was) gets it already aborted.
 */
class BranchRun<S extends string, R extends ResourceRecord>
  implements WorkEnv<S, R>, WorkCallbacks<unknown>, TaskContext<R>, OutputSink
{
  // declared, not defined: see AttemptContext (streams/runTask.ts)
  declare private readonly visit: SplitVisit<S, R>
  declare readonly index: number
  declare private readonly plan: BranchPlan<R>
  /** The branch's emitter, built on first read (a branch that only starts and settles never reads it). */
  declare private emitFn: ((e: WorkflowEvent<S>) => void) | undefined
  /** What the branch subscribed to; created on first use. */
  declare private subs: Subscription | undefined
  /** The branch's signal once read, or the reason it was aborted with before that. */
  declare private signalState: AbortController | { readonly abortedWith: unknown } | undefined
  /** A bare attempt 1 (see {@link BranchPlan.bare}) settled. */
  declare private firstSettled: boolean
  /** The progress reporter of a bare attempt 1, built on first read. */
  declare private progressFn: ((data: unknown) => void) | undefined
  constructor(visit: SplitVisit<S, R>, index: number, plan: BranchPlan<R>) {
    this.visit = visit
    this.index = index
    this.plan = plan
    this.emitFn = undefined
    this.subs = undefined
    this.signalState = undefined
    this.firstSettled = false
    this.progressFn = undefined
  }
  get workflowId(): string {
    return this.visit.env.workflowId
  }
  get state(): S {
    return this.visit.env.state
  }
  get taskId(): string {
    return taskIdOf(this.visit, this.index)
  }
  /** The split result handed to the split state itself (it is the join state of a previous split). */
  get split(): SplitResult | undefined {
    return this.visit.env.split
  }
  /** What the branch's retry loop reports, marked with its index; `undefined` when nobody listens. */
  get emit(): ((e: WorkflowEvent<S>) => void) | undefined {
    if (this.visit.env.emit === undefined) return undefined
    // built in a function of its own: a closure here would cost every branch a context, read or not
    return (this.emitFn ??= branchEmit(this.visit, this))
  }
  get branch(): number {
    return this.index
  }
  get around(): AroundAttempt<S> | undefined {
    return this.visit.env.around
  }
  get res(): Resources<R> {
    return this.visit.env.res
  }
  get input(): InputOf<R> {
    // the env holds the value its workflow's codec decoded: the type the brand of R names
    return this.visit.env.input as InputOf<R>
  }
  get scheduler(): SchedulerLike {
    return this.visit.env.scheduler
  }
  get random(): () => number {
    return this.visit.env.random
  }
  get now(): () => number {
    return this.visit.env.now
  }
  get config(): ResolvedTaskConfig {
    return this.plan.config
  }
  get fast(): boolean {
    return this.plan.fast
  }
  /** The branch's own signal, linked to the run's (see {@link BranchRun}). */
  get runSignal(): AbortSignal {
    const state = this.signalState
    if (state instanceof AbortController) return state.signal
    const controller = new AbortController()
    this.signalState = controller
    const runSignal = this.visit.env.runSignal
    if (state !== undefined) controller.abort(state.abortedWith)
    else if (runSignal.aborted) controller.abort(runSignal.reason)
    return controller.signal
  }
  // ----- a bare attempt 1: the branch is the context its function gets and the sink of its output -----
  /** Runs attempt 1 of the branch's function; see {@link BranchPlan.bare}. */
  runBare(): void {
    let out: unknown
    try {
      out = this.plan.run(this)
    } catch (thrown: unknown) {
      return this.error(thrown)
    }
    settleTaskOutput(out, this)
  }
  get attempt(): number {
    return 1
  }
  get signal(): AbortSignal {
    return this.runSignal
  }
  get progress(): (data: unknown) => void {
    return (this.progressFn ??= progressOf(this))
  }
  value(v: unknown): void {
    if (this.firstSettled) return
    this.firstSettled = true
    this.onValue(v)
  }
  error(thrown: unknown): void {
    if (this.firstSettled) return
    this.firstSettled = true
    retryAfterFirstFailure(this, this.plan.run, this, thrown)
  }
  empty(): void {
    this.error(taskExecutionError(`task for state ${JSON.stringify(this.state)} completed without a value`))
  }
  // -----
  abort(reason: unknown): void {
    const state = this.signalState
    if (state instanceof AbortController) state.abort(reason)
    else this.signalState = state ?? { abortedWith: reason }
  }
  /** `attemptWork`'s value callback: the branch succeeded. */
  onValue(value: unknown): void {
    this.visit.settle(this, { _tag: 'Succeeded', index: this.index, value })
  }
  /** `attemptWork`'s error callback: the branch failed (a breaker rejection is also reported as such). */
  onError(thrown: unknown): void {
    if (isCircuitRejection(thrown)) {
      const { workflowId, state, taskId } = this
      this.emit?.({ _tag: 'CircuitRejected', workflowId, at: this.now(), state, taskId, error: thrown.error })
      return this.visit.settle(this, { _tag: 'Failed', index: this.index, error: thrown.error })
    }
    this.visit.settle(this, { _tag: 'Failed', index: this.index, error: toCanoError(thrown) })
  }
  add(teardown: TeardownLogic): void {
    ;(this.subs ??= new Subscription()).add(teardown)
  }
  /** `true` once the branch settled or was cancelled: a late failure starts no retry. */
  get closed(): boolean {
    return this.visit.running[this.index] !== this
  }
  /** Aborts the branch's signal with `reason`, then unsubscribes what it started. */
  cancel(reason: unknown): void {
    this.abort(reason)
    ;(this.subs ??= new Subscription()).unsubscribe() // a later add() on a closed subscription runs at once
  }
}

/**
 * The events of branch `r` while it runs, each marked with the branch's index (`branch`); a branch that
 * settled or was cancelled reports nothing more.
 */
const branchEmit = <S extends string, R extends ResourceRecord>(
  visit: SplitVisit<S, R>,
  r: BranchRun<S, R>,
): ((e: WorkflowEvent<S>) => void) => {
  const emit = visit.env.emit
  const i = r.index
  return (e) => {
    if (emit !== undefined && visit.running[i] === r) emit(withBranch(e, i))
  }
}

/** The task id of branch `i` of `visit`'s split (`FanOut[2]`), built once. */
const taskIdOf = <S extends string, R extends ResourceRecord>(visit: SplitVisit<S, R>, i: number): string =>
  (visit.taskIds[i] ??= `${visit.env.taskId}[${i}]`)

/** `e` marked as an event of branch `branch` (the kinds a branch's retry loop emits). */
const withBranch = <S extends string>(e: WorkflowEvent<S>, branch: number): WorkflowEvent<S> => {
  switch (e._tag) {
    case 'AttemptFailed':
    case 'RetryScheduled':
    case 'CircuitRejected':
    case 'Progress':
      return { ...e, branch }
    default:
      return e
  }
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Runs a `split` state; see the module comment. */
export const runSplitState = <S extends string, R extends ResourceRecord>(
  handler: SplitHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> => runStateBody(env, (frame) => new SplitRun(handler, env, frame).begin())

/** {@link SplitRun}'s flags: the join is decided; the deadline was reached; `pump` is starting branches. */
const DECIDED = 1
const DEADLINE_REACHED = 2
const PUMPING = 4

/**
 * One visit of a split: the branches' shared state, its own join counts (`decideJoin` reads them) and the
 * listener of the run's abort (`handleEvent`) and of the state's release (`unsubscribe`). An object with
 * methods rather than closures over a scope: a split waiting on its branches holds one object, not a
 * closure per step of its logic (each with a slot in a shared context).
 */
class SplitRun<S extends string, R extends ResourceRecord> implements SplitVisit<S, R>, JoinProgress, Unsubscribable {
  // declared, not defined: see AttemptContext (streams/runTask.ts)
  declare readonly env: StateEnv<S, R>
  declare private readonly handler: SplitHandler<S, R>
  declare private readonly frame: StateFrame<S, R>
  declare private readonly plans: ReadonlyArray<BranchPlan<R>>
  declare readonly taskIds: Array<string | undefined>
  declare readonly running: Array<BranchRun<S, R> | undefined>
  /** Each branch's outcome by index; created at the first settlement (a waiting split has none). */
  declare private outcomes: Array<BranchOutcome | undefined> | undefined
  /** The failed branches' errors, in the order they failed; created at the first failure. */
  declare private errors: Array<{ readonly index: number; readonly error: CanoError }> | undefined
  // where the split stands (its JoinProgress), updated in place as branches settle; a failure gets a copy
  declare readonly total: number
  declare succeeded: number
  declare failed: number
  declare settled: number
  /** {@link DECIDED}, {@link DEADLINE_REACHED}, {@link PUMPING}: one field, not three (a waiting split holds it). */
  declare private flags: number
  /** The deadline, while it is armed. */
  declare private deadline: Subscription | undefined
  // the clock of the branch events (see "Timestamps" in the module comment)
  /** The reading the branch events of the current synchronous stretch share; `undefined`: none. */
  declare private shared: number | undefined
  /** The reading the settlements of the current microtask turn share, until the turn ends. */
  declare private turnStamp: number | undefined
  // the bulkhead's slot counter (no operator chain per branch); `pumping` makes a slot freed by a branch
  // that settles synchronously start the next branch from the loop of `pump`, once the current one
  // unwound, instead of inside it (one level of recursion per consecutive synchronous branch would
  // overflow the stack)
  declare private next: number
  declare private active: number

  constructor(handler: SplitHandler<S, R>, env: StateEnv<S, R>, frame: StateFrame<S, R>) {
    this.env = env
    this.handler = handler
    this.frame = frame
    const cached = plansOf(handler.branches)
    this.plans = cached.plans
    this.taskIds = taskIdsOf(cached, env.taskId)
    const total = cached.plans.length
    this.running = new Array<BranchRun<S, R> | undefined>(total)
    this.outcomes = undefined
    this.errors = undefined
    this.total = total
    this.succeeded = 0
    this.failed = 0
    this.settled = 0
    this.flags = 0
    this.deadline = undefined
    this.shared = undefined
    this.turnStamp = undefined
    this.next = 0
    this.active = 0
  }

  get deadlineReached(): boolean {
    return (this.flags & DEADLINE_REACHED) !== 0
  }

  begin(): void {
    const { env, handler } = this
    // the state is unsubscribed (run cancelled, timed out, torn down) before the join was decided: see unsubscribe
    this.frame.add(this)
    const initial = decideJoin(handler.strategy, this)
    if (initial !== 'wait') return this.atOnce(() => this.finish(initial))
    // `env.runSignal` is read only without `watchRunAbort`: reading it builds the run's AbortController
    if (env.watchRunAbort !== undefined) env.watchRunAbort(this, true)
    else env.runSignal.addEventListener('abort', this)
    // without a bulkhead the branches start at once: their TaskStarted (and the events of those that
    // settle synchronously) share the instant the split started them
    this.atOnce(() => this.pump())
    if (this.ended() || handler.timeoutMs === undefined) return
    this.deadline = timer(handler.timeoutMs, env.scheduler).subscribe(() => {
      this.flags |= DEADLINE_REACHED
      const decision = decideJoin(handler.strategy, this)
      this.atOnce(() => this.finish(decision === 'wait' ? 'fail' : decision))
    })
  }

  /** Read through a method: the branches' callbacks change `decided` behind the compiler's narrowing. */
  private ended(): boolean {
    return (this.flags & DECIDED) !== 0
  }

  /** Starts the branches the bulkhead has slots for (all of them without one), in index order. */
  private pump(): void {
    if ((this.flags & PUMPING) !== 0) return
    this.flags |= PUMPING
    const limit = this.handler.bulkhead ?? this.total
    while (this.active < limit && this.next < this.total && !this.ended()) {
      this.active += 1
      this.start(this.next++)
    }
    this.flags &= ~PUMPING
  }

  /** A branch's slot is free. */
  private release(): void {
    this.active -= 1
    this.pump()
  }

  private start(i: number): void {
    const plan = this.plans[i]
    if (this.ended() || plan === undefined) return this.release()
    const { env } = this
    const r = new BranchRun<S, R>(this, i, plan)
    this.running[i] = r
    const emit = env.emit
    if (emit !== undefined)
      emit({
        _tag: 'TaskStarted',
        workflowId: env.workflowId,
        at: this.stamp(),
        state: env.state,
        taskId: r.taskId,
        branch: i,
        branches: this.total,
      })
    if (plan.bare && env.around === undefined) r.runBare()
    else attemptWork<S, R, unknown>(r, plan.run, r)
  }

  private stamp(): number {
    const shared = this.shared
    if (shared !== undefined) return shared
    if (!settlingInReaction) return this.env.now()
    if (this.turnStamp === undefined) {
      this.turnStamp = this.env.now()
      queueMicrotask(() => {
        this.turnStamp = undefined
      })
    }
    return this.turnStamp
  }

  /** Runs `f` with one reading shared by the branch events it emits (none taken without a listener). */
  private atOnce(f: () => void): void {
    if (this.env.emit === undefined || this.shared !== undefined) return f()
    this.shared = this.stamp()
    try {
      f()
    } finally {
      this.shared = undefined
    }
  }

  private settledEvent(i: number, outcome: BranchOutcome): WorkflowEvent<S> {
    const { env } = this
    return {
      _tag: 'SplitBranchSettled',
      workflowId: env.workflowId,
      at: this.stamp(),
      state: env.state,
      taskId: taskIdOf(this, i),
      index: i,
      outcome,
    }
  }

  /** Why the run was aborted (read without building the run's signal when the env can watch it). */
  private abortReason(): unknown {
    const { env } = this
    return env.watchRunAbort !== undefined ? env.runAbortReason : env.runSignal.reason
  }

  /** The run's signal aborted: every running branch's signal aborts with its reason. */
  handleEvent(): void {
    const reason = this.abortReason()
    for (const r of this.running) r?.abort(reason)
  }

  /** The state is released before the join was decided: every running branch is cancelled. */
  unsubscribe(): void {
    if (this.ended()) return
    this.stop()
    const reason = this.abortReason()
    this.cancelRunning(reason !== undefined ? reason : cancelledError('split cancelled'))
  }

  /**
   * Aborts every running branch's signal with `reason`, then unsubscribes it. Abort first: an attempt
   * context unlinks its signal from the branch's when unsubscribed. Whatever the abort triggers
   * synchronously is ignored, as the branch is no longer `running`.
   */
  private cancelRunning(reason: unknown): void {
    const { running } = this
    for (let i = 0; i < this.total; i++) {
      const r = running[i]
      if (r === undefined) continue
      running[i] = undefined
      r.cancel(reason)
    }
  }

  private stop(): void {
    this.flags |= DECIDED
    const { env } = this
    if (env.watchRunAbort !== undefined) env.watchRunAbort(this, false)
    else env.runSignal.removeEventListener('abort', this)
    this.deadline?.unsubscribe()
    this.deadline = undefined
  }

  private finish(decision: Exclude<JoinDecision, 'wait'>): void {
    this.stop()
    this.cancelRunning(cancelledError('split join decided'))
    const { env, handler, total } = this
    const outcomes = (this.outcomes ??= new Array<BranchOutcome | undefined>(total))
    const emit = env.emit
    const cancelled: number[] = []
    for (let i = 0; i < total; i++) {
      if (outcomes[i] !== undefined) continue
      const outcome: BranchOutcome = { _tag: 'Cancelled', index: i }
      outcomes[i] = outcome
      cancelled.push(i)
      if (emit !== undefined) emit(this.settledEvent(i, outcome))
    }
    if (decision === 'fail') {
      const progress: JoinProgress = {
        total,
        succeeded: this.succeeded,
        failed: this.failed,
        settled: this.settled,
        deadlineReached: this.deadlineReached,
      }
      return this.frame.fail(joinFailure(handler.strategy, env.state, progress, this.errors ?? []))
    }
    env.publishSplit({
      state: env.state,
      branches: outcomes as ReadonlyArray<BranchOutcome>,
      successes: this.succeeded,
      failures: this.failed,
      cancelled,
    })
    this.frame.succeed(handler.join, 1)
  }

  settle(r: BranchRun<S, R>, outcome: BranchOutcome): void {
    if (this.ended() || this.running[r.index] !== r) return
    // the settled event, the cancelled ones a decided join reports and the branch the freed slot starts
    // share one reading (inlined `atOnce`: no closure per settlement)
    if (this.env.emit === undefined || this.shared !== undefined) return this.settleBranch(r, outcome)
    this.shared = this.stamp()
    try {
      this.settleBranch(r, outcome)
    } finally {
      this.shared = undefined
    }
  }

  /** Branch `r`, still running, settled with `outcome`: the join is asked, the branch's slot freed. */
  private settleBranch(r: BranchRun<S, R>, outcome: BranchOutcome): void {
    const i = r.index
    this.running[i] = undefined
    ;(this.outcomes ??= new Array<BranchOutcome | undefined>(this.total))[i] = outcome
    if (outcome._tag === 'Succeeded') {
      this.succeeded += 1
      this.settled += 1
    } else if (outcome._tag === 'Failed') {
      this.failed += 1
      this.settled += 1
      ;(this.errors ??= []).push({ index: i, error: outcome.error })
    }
    const emit = this.env.emit
    if (emit !== undefined) emit(this.settledEvent(i, outcome))
    const decision = decideJoin(this.handler.strategy, this)
    if (decision !== 'wait') this.finish(decision)
    this.release()
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** A branch list's resolved plans, and its branches' task ids under the state that ran it last. */
interface SplitPlans<R extends ResourceRecord> {
  readonly plans: ReadonlyArray<BranchPlan<R>>
  /** The state's task id `taskIds` were built under. */
  idsOf: string | undefined
  /** `${idsOf}[i]` by index, filled as read. */
  taskIds: Array<string | undefined>
}

/** Resolved plans, computed once per branch list. */
const planCache = new WeakMap<object, unknown>()

/**
 * The task ids of `cached`'s branches under `taskId`: the same array for every split of this branch list in
 * that state, so a task id is built once rather than once per event (another state's split gets an array of
 * its own; a split keeps the array it got).
 */
const taskIdsOf = <R extends ResourceRecord>(cached: SplitPlans<R>, taskId: string): Array<string | undefined> => {
  if (cached.idsOf !== taskId) {
    cached.idsOf = taskId
    cached.taskIds = new Array<string | undefined>(cached.plans.length)
  }
  return cached.taskIds
}

const plansOf = <R extends ResourceRecord>(branches: ReadonlyArray<SplitBranch<R>>): SplitPlans<R> => {
  const cached = planCache.get(branches)
  if (cached !== undefined) return cached as SplitPlans<R>
  const plans = branches.map((b): BranchPlan<R> => {
    const config = resolveTaskConfig(b.config)
    return {
      run: b.run,
      config,
      fast: runsInline(config),
      bare:
        config.circuitBreaker === undefined &&
        config.rateLimiter === undefined &&
        config.attemptTimeoutMs === undefined,
    }
  })
  const entry: SplitPlans<R> = { plans, idsOf: undefined, taskIds: [] }
  planCache.set(branches, entry)
  return entry
}
