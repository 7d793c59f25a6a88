/**
 * `Scheduler`: runs workflows in the background on intervals, cron expressions or manual triggers
 * (cano's `scheduler` feature). `createScheduler({ flows })` checks every flow and returns a
 * {@link Scheduler}; `start()` sets every workflow's resources up once and returns a
 * {@link RunningScheduler}, the control plane: `trigger`, `reset`, `cancel`, `status`, `list`,
 * `status$`, `events$` and `stop`.
 *
 * All timing comes from one injected RxJS `SchedulerLike` (`asyncScheduler` by default): ticks are
 * `timer(…, scheduler)`, timestamps are `scheduler.now()`. With a `TestScheduler` (or any
 * virtual-time scheduler) a day of cron ticks runs in milliseconds. `croner` is only asked for the
 * next fire time.
 *
 * Where cano-rx differs from cano 0.12's scheduler (docs/scheduler.md lists the same differences with their reasons):
 *
 * - Runs go through `workflow.run$` with the workflow's own `totalTimeoutMs`; resources are set up at
 *   `start()` and torn down at `stop()`, never per run (`manageResources: false`).
 * - A run that throws, rejects or errors never leaves its flow `Running`.
 * - `cancel(id)` aborts an in-flight run (its task's `AbortSignal` fires) and returns the flow to `Idle`.
 * - `reset(id)` on a running flow is refused instead of racing with the run's outcome.
 * - Interval flows can be fixed-delay (cano) or fixed-rate; cron takes a time zone.
 * - `stop({ graceMs })` is bounded: in-flight runs get `graceMs`, then their signals abort; teardown
 *   is bounded too, and `stop` resolves within `graceMs + marginMs` in every case.
 *
 * @since 0.1.0
 */

import {
  asyncScheduler,
  AsyncSubject,
  BehaviorSubject,
  concatMap,
  defer,
  EMPTY,
  firstValueFrom,
  forkJoin,
  from,
  map,
  type Observable,
  of,
  race,
  type SchedulerLike,
  Subject,
  Subscription,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { optional, TimerDelay } from '../codecs/Config.js'
import { WorkflowId } from '../codecs/WorkflowId.js'
import { type BackoffOptions, BackoffPolicy, validateBackoffPolicy } from '../src/BackoffPolicy.js'
import { cancelledError, CanoFailure, configurationError, toCanoError, workflowError } from '../src/CanoError.js'
import { type FlowInfo, flowInfoReducer, type FlowUpdate, initialFlowInfo } from '../src/FlowInfo.js'
import { checkConfig } from '../src/internal/checkConfig.js'
import { mintWorkflowId } from '../src/mintWorkflowId.js'
import type { TeardownFailure } from '../src/Resources.js'
import type { RunOptions } from '../src/RunOptions.js'
import { nextCronMs, nextFixedRateMs, type Schedule, validateSchedule } from '../src/Schedule.js'
import { isTerminalEvent, type TerminalEvent, type WorkflowEvent } from '../src/WorkflowEvent.js'
import { fixedDelayTicks, tickTimes, waitUntil } from '../streams/scheduleTicks.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the scheduler needs of a workflow: any {@link Workflow} fits, whatever its state union and
 * resources (the methods are declared as methods, so a `Workflow<'A' | 'Done', R>` is accepted where a
 * `SchedulableWorkflow<string>` is expected).
 *
 * @example
 * import { type SchedulableWorkflow, task, workflow } from 'cano-rx'
 * const flow: SchedulableWorkflow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * @see {@link FlowConfig}
 * @category model
 * @since 0.1.0
 */
export interface SchedulableWorkflow<S extends string = string> {
  /** States with a handler. */
  readonly states: ReadonlyArray<S>
  /** Exit states. */
  readonly exits: ReadonlyArray<S>
  /** Set up once at `start()`, torn down once at `stop()`. */
  readonly resources: {
    setupAll(): Promise<void>
    teardownAll(): Promise<ReadonlyArray<TeardownFailure>>
  }
  /** One run; the scheduler passes `signal` and `manageResources: false`. */
  run$(initial: S, options?: RunOptions<S>): Observable<WorkflowEvent<S>>
}

/**
 * What a tick does when it comes while the flow is still running.
 *
 * - `'skip'` (default, cano's behaviour): the tick is dropped and counted in `skippedTicks`.
 * - `'queue'`: the tick is remembered (at most one) and runs as soon as the current run completes
 *   successfully; further ticks while one is queued are dropped and counted. A queued tick is
 *   discarded when the run fails, is cancelled, or the scheduler stops.
 *
 * @example
 * import type { OverlapPolicy } from 'cano-rx'
 * const catchUp: OverlapPolicy = 'queue'
 * @see {@link FlowConfig}
 * @category model
 * @since 0.1.0
 */
export type OverlapPolicy = 'skip' | 'queue'

/**
 * One scheduled flow: a workflow, the state its runs start in, and when they run.
 *
 * @example
 * import { type FlowConfig, Schedule, task, workflow } from 'cano-rx'
 * const ping = workflow<'Ping' | 'Done'>()({ exits: ['Done'], states: { Ping: task(() => 'Done' as const) } })
 * const flow: FlowConfig<'Ping' | 'Done'> = { id: 'health', workflow: ping, initial: 'Ping', schedule: Schedule.every(30_000), backoff: { streakLimit: 5 } }
 * @see {@link createScheduler}
 * @category model
 * @since 0.1.0
 */
export interface FlowConfig<S extends string = string> {
  /** Unique, non-empty. */
  readonly id: string
  readonly workflow: SchedulableWorkflow<S>
  /** A state of the workflow (with a handler, or an exit). */
  readonly initial: S
  readonly schedule: Schedule
  /** Overrides of cano's backoff defaults (1 s, x2, 5 min cap, 10 % jitter, never trips). */
  readonly backoff?: BackoffOptions
  /** Default `'skip'`. */
  readonly overlap?: OverlapPolicy
}

/**
 * Options of {@link createScheduler}.
 *
 * @example
 * import { asyncScheduler } from 'rxjs'
 * import type { SchedulerOptions } from 'cano-rx'
 * const options: SchedulerOptions = { flows: [], scheduler: asyncScheduler, random: Math.random }
 * @category model
 * @since 0.1.0
 */
export interface SchedulerOptions {
  /** The flows, in registration order (the order of `list()`, of setup, and reversed, of teardown). */
  readonly flows: ReadonlyArray<FlowConfig>
  /** Clock and timers of every tick, backoff window and grace period. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike
  /** Jitter source in [0, 1) for backoff delays. Default `Math.random`. */
  readonly random?: () => number
}

/**
 * A workflow event of a scheduled run, tagged with its flow's id.
 *
 * @example
 * import type { ScheduledEvent } from 'cano-rx'
 * const e: ScheduledEvent = { flowId: 'health', event: { _tag: 'RunStarted', workflowId: 'b0c…', at: 0, initial: 'Ping' } }
 * @see {@link RunningScheduler}'s `events$`
 * @category model
 * @since 0.1.0
 */
export interface ScheduledEvent {
  readonly flowId: string
  readonly event: WorkflowEvent
}

/**
 * Options of `stop`.
 *
 * @example
 * import type { StopOptions } from 'cano-rx'
 * const quick: StopOptions = { graceMs: 5_000, marginMs: 500 }
 * @see {@link RunningScheduler}
 * @category model
 * @since 0.1.0
 */
export interface StopOptions {
  /** How long in-flight runs may go on before their signals abort. Default 30 000 (cano's 30 s). */
  readonly graceMs?: number
  /**
   * Extra time after the grace period: aborted runs get half of it to end (a run still going then is
   * dropped), teardown has until `graceMs + marginMs`. Default 1 000.
   */
  readonly marginMs?: number
}

/**
 * A teardown that failed during `stop`, with the flow whose workflow owns the resource.
 *
 * @example
 * import { type FlowTeardownFailure, taskExecutionError } from 'cano-rx'
 * const f: FlowTeardownFailure = { flowId: 'report', key: 'db', error: taskExecutionError('socket hang up') }
 * @see {@link StopResult}
 * @category model
 * @since 0.1.0
 */
export interface FlowTeardownFailure extends TeardownFailure {
  readonly flowId: string
}

/**
 * How `stop` went. `stop` never rejects once it has started stopping: everything that went wrong is here.
 *
 * @example
 * import type { StopResult } from 'cano-rx'
 * const clean = (r: StopResult) => r.aborted.length === 0 && r.teardownFailures.length === 0 && !r.teardownTimedOut
 * @see {@link RunningScheduler}
 * @category model
 * @since 0.1.0
 */
export interface StopResult {
  /** Flows whose run was still in flight when the grace period ended: their signal was aborted. */
  readonly aborted: ReadonlyArray<string>
  /** Teardown hooks that failed, in the order they ran (last flow first). */
  readonly teardownFailures: ReadonlyArray<FlowTeardownFailure>
  /** `true` when teardown had not finished `graceMs + marginMs` after `stop` was called. */
  readonly teardownTimedOut: boolean
}

/**
 * A started scheduler. Every method is safe to call at any time; refusals reject with a
 * {@link CanoFailure} carrying a `Workflow` error with cano's text:
 *
 * - unknown id: `No workflow registered with id '{id}'`
 * - running flow (`trigger`, `reset`): `Flow '{id}' is already running`
 * - tripped flow (`trigger`): `Flow '{id}' is tripped — call reset() before triggering`
 * - idle flow (`cancel`): `Flow '{id}' is not running`
 * - after `stop`: `Scheduler not running — call start() before trigger()` (`reset()`, `cancel()`)
 *
 * @example
 * import { createScheduler, Schedule, task, workflow } from 'cano-rx'
 * const ping = workflow<'Ping' | 'Done'>()({ exits: ['Done'], states: { Ping: task(() => 'Done' as const) } })
 * const running = await createScheduler({
 *   flows: [
 *     { id: 'health', workflow: ping, initial: 'Ping', schedule: Schedule.every(30_000) },
 *     { id: 'adhoc', workflow: ping, initial: 'Ping', schedule: Schedule.manual() },
 *   ],
 * }).start()
 * running.status$.subscribe((infos) => console.table(infos.map((i) => ({ id: i.id, status: i.status._tag, runs: i.runCount }))))
 * await running.trigger('adhoc')
 * const result = await running.stop({ graceMs: 5_000 })
 * @see {@link createScheduler}
 * @category model
 * @since 0.1.0
 */
export interface RunningScheduler {
  /**
   * Starts a run of flow `id` now, ignoring any backoff window. Resolves once the run has started
   * (the run itself goes on in the background); rejects when the id is unknown, the flow is running
   * or tripped, or the scheduler is stopping.
   */
  readonly trigger: (id: string) => Promise<void>
  /** Clears the failure streak, the backoff window and the last error; the flow becomes `Idle`. Refused while it runs. */
  readonly reset: (id: string) => Promise<void>
  /**
   * Aborts the in-flight run of flow `id` (its task's signal fires, compensations run). Resolves when
   * the run has ended and the flow is back to `Idle`; the cancellation is not counted as a failure.
   */
  readonly cancel: (id: string) => Promise<void>
  /** A snapshot of flow `id`, or `undefined` for an unknown id. */
  readonly status: (id: string) => FlowInfo | undefined
  /** Snapshots of every flow, in registration order. */
  readonly list: () => ReadonlyArray<FlowInfo>
  /** Every flow's info, in registration order, on every change; replays the current value; completes when `stop` resolves. */
  readonly status$: Observable<ReadonlyArray<FlowInfo>>
  /** Every event of every run, tagged with the flow id; hot; completes when `stop` resolves. */
  readonly events$: Observable<ScheduledEvent>
  /**
   * Stops: no new runs; in-flight runs get `graceMs` to finish, then their signals abort; resources
   * are torn down once, in reverse registration order. Resolves within `graceMs + marginMs` in every
   * case; later calls return the same Promise.
   */
  readonly stop: (options?: StopOptions) => Promise<StopResult>
}

/**
 * A checked set of flows, ready to start.
 *
 * @example
 * import { createScheduler, Schedule, task, workflow } from 'cano-rx'
 * const once = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * const scheduler = createScheduler({ flows: [{ id: 'once', workflow: once, initial: 'Go', schedule: Schedule.manual() }] })
 * scheduler.ids // ['once']
 * @see {@link createScheduler}
 * @category model
 * @since 0.1.0
 */
export interface Scheduler {
  /** Flow ids, in registration order. */
  readonly ids: ReadonlyArray<string>
  /**
   * Sets up each workflow's resources once, in registration order (resources shared by several flows
   * are set up once). If one setup fails, those already set up are torn down in reverse order and the
   * Promise rejects with that setup's {@link CanoFailure}. Then interval flows run at once, cron flows
   * wait for their next fire time, and the returned {@link RunningScheduler} controls them. A second
   * `start()` rejects with `Scheduler already started`.
   */
  readonly start: () => Promise<RunningScheduler>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Checks a set of flows and returns a {@link Scheduler}. Nothing runs until `start()`.
 *
 * Every problem throws a {@link CanoFailure} carrying a `Configuration` error that names the flow: a
 * duplicate id (`Flow '{id}' already exists`, cano's text), an id that is not a non-empty string, a
 * workflow that is not one, an initial state that is neither a state nor an exit of the workflow, an
 * interval that is not in (0, 2^31-1], a cron expression that croner cannot parse or an unknown time
 * zone, a bad backoff policy or overlap policy.
 *
 * @param options - the flows, and optionally the RxJS scheduler and jitter source
 * @returns the scheduler, not started
 * @throws {@link CanoFailure} with a `Configuration` error naming the flow
 * @example
 * import { createScheduler, Schedule, task, workflow } from 'cano-rx'
 * type Step = 'Build' | 'Send' | 'Done'
 * const report = workflow<Step>()({ exits: ['Done'], states: { Build: task(() => 'Send' as const), Send: task(() => 'Done' as const) } })
 * const ping = workflow<'Ping' | 'Done'>()({ exits: ['Done'], states: { Ping: task(() => 'Done' as const) } })
 * const scheduler = createScheduler({
 *   flows: [
 *     { id: 'nightly-report', workflow: report, initial: 'Build', schedule: Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }) },
 *     { id: 'health', workflow: ping, initial: 'Ping', schedule: Schedule.every(30_000), backoff: { streakLimit: 5 } },
 *     { id: 'resend', workflow: report, initial: 'Send', schedule: Schedule.manual() },
 *   ],
 * })
 * const running = await scheduler.start()
 * @see {@link RunningScheduler}
 * @category constructors
 * @since 0.1.0
 */
export const createScheduler = (options: SchedulerOptions): Scheduler => {
  const flows = checkOptions(options)
  const scheduler = options.scheduler ?? asyncScheduler
  const random = options.random ?? Math.random
  let started = false
  return Object.freeze({
    ids: Object.freeze(flows.map((f) => f.id)),
    start: async (): Promise<RunningScheduler> => {
      if (started) throw new CanoFailure(workflowError('Scheduler already started'))
      started = true
      try {
        await setupAll(flows)
      } catch (e: unknown) {
        started = false
        throw e
      }
      return startRunning(flows, scheduler, random)
    },
  })
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** @internal A checked flow. */
interface Flow {
  /** Checked like a run id: it prefixes the id of each of the flow's runs. */
  readonly id: WorkflowId
  readonly workflow: SchedulableWorkflow
  readonly initial: string
  readonly schedule: Schedule
  readonly policy: BackoffPolicy
  readonly overlap: OverlapPolicy
}

const OVERLAP: ReadonlySet<unknown> = new Set<OverlapPolicy>(['skip', 'queue'])

const fail = (message: string): never => {
  throw new CanoFailure(configurationError(message))
}

const isWorkflow = (u: unknown): u is SchedulableWorkflow => {
  if (typeof u !== 'object' || u === null) return false
  const w = u as Partial<Record<keyof SchedulableWorkflow, unknown>>
  const res = w.resources as Partial<Record<'setupAll' | 'teardownAll', unknown>> | null | undefined
  return (
    typeof w.run$ === 'function' &&
    Array.isArray(w.states) &&
    Array.isArray(w.exits) &&
    typeof res === 'object' &&
    res !== null &&
    typeof res.setupAll === 'function' &&
    typeof res.teardownAll === 'function'
  )
}

const checkFlow = (f: FlowConfig, index: number, seen: Set<string>): Flow => {
  if (typeof f !== 'object' || (f as unknown) === null) return fail(`flows[${index}] must be an object`)
  const id: unknown = f.id
  if (typeof id !== 'string' || id === '')
    return fail(`flows[${index}]: id must be a non-empty string, got ${label(id)}`)
  if (!WorkflowId.is(id))
    return fail(
      `flows[${index}]: id ${JSON.stringify(id)} cannot prefix a run id: it contains a NUL character or an unpaired UTF-16 surrogate`,
    )
  if (seen.has(id)) return fail(`Flow '${id}' already exists`)
  seen.add(id)
  const where = `flow ${JSON.stringify(id)}`
  if (!isWorkflow(f.workflow)) return fail(`${where}: workflow must be built with workflow<S>()(…)`)
  const initial: unknown = f.initial
  if (typeof initial !== 'string' || (!f.workflow.states.includes(initial) && !f.workflow.exits.includes(initial)))
    return fail(`${where}: Initial state ${label(initial)} is neither registered nor an exit state`)
  const scheduleError = validateSchedule(f.schedule, where)
  if (scheduleError !== undefined) return fail(scheduleError.message)
  const backoff: unknown = f.backoff
  if (backoff !== undefined && (typeof backoff !== 'object' || backoff === null))
    return fail(`${where}: backoff must be an object of BackoffPolicy fields`)
  const policy = BackoffPolicy.of(f.backoff)
  const policyError = validateBackoffPolicy(policy, where)
  if (policyError !== undefined) return fail(policyError.message)
  const overlap = f.overlap ?? 'skip'
  if (!OVERLAP.has(overlap)) return fail(`${where}: overlap must be 'skip' or 'queue', got ${label(overlap)}`)
  return { id, workflow: f.workflow, initial, schedule: f.schedule, policy, overlap }
}

const checkOptions = (options: SchedulerOptions): ReadonlyArray<Flow> => {
  const o: unknown = options
  if (typeof o !== 'object' || o === null) return fail('createScheduler: options must be an object')
  const flows: unknown = options.flows
  if (!Array.isArray(flows)) return fail('createScheduler: flows must be an array')
  const s: unknown = options.scheduler
  if (s !== undefined && (typeof s !== 'object' || s === null || typeof (s as { now?: unknown }).now !== 'function'))
    return fail('createScheduler: scheduler must be an RxJS SchedulerLike')
  if (options.random !== undefined && typeof options.random !== 'function')
    return fail('createScheduler: random must be a function returning a number in [0, 1)')
  const seen = new Set<string>()
  return options.flows.map((f, i) => checkFlow(f, i, seen))
}

const checkStopOptions = (options: StopOptions): CanoError | undefined => {
  const o: unknown = options
  if (typeof o !== 'object' || o === null) return configurationError('stop: options must be an object')
  return (
    checkConfig(optional(TimerDelay), options.graceMs, 'stop: graceMs', label) ??
    checkConfig(optional(TimerDelay), options.marginMs, 'stop: marginMs', label)
  )
}

// -------------------------------------------------------------------------------------
// lifecycle
// -------------------------------------------------------------------------------------

type FlowResources = SchedulableWorkflow['resources']

/** Each distinct resources object once, with the first flow that uses it, in registration order. */
const distinctResources = (flows: ReadonlyArray<Flow>): ReadonlyArray<readonly [string, FlowResources]> => {
  const seen = new Set<FlowResources>()
  const out: Array<readonly [string, FlowResources]> = []
  for (const f of flows) {
    if (seen.has(f.workflow.resources)) continue
    seen.add(f.workflow.resources)
    out.push([f.id, f.workflow.resources])
  }
  return out
}

const setupAll = async (flows: ReadonlyArray<Flow>): Promise<void> => {
  const done: FlowResources[] = []
  for (const [, res] of distinctResources(flows)) {
    try {
      await res.setupAll()
    } catch (e: unknown) {
      for (const up of done.reverse()) {
        try {
          await up.teardownAll()
        } catch {
          // rollback is best effort: the setup error is what the caller needs
        }
      }
      throw e instanceof CanoFailure ? e : new CanoFailure(toCanoError(e))
    }
    done.push(res)
  }
}

/** Tears down every distinct resources object, last flow first, appending failures to `into`. */
const teardownAll = async (flows: ReadonlyArray<Flow>, into: FlowTeardownFailure[]): Promise<void> => {
  for (const [flowId, res] of [...distinctResources(flows)].reverse()) {
    try {
      for (const f of await res.teardownAll()) into.push({ flowId, key: f.key, error: f.error })
    } catch (e: unknown) {
      into.push({ flowId, key: '(teardownAll)', error: toCanoError(e) })
    }
  }
}

// -------------------------------------------------------------------------------------
// running
// -------------------------------------------------------------------------------------

/** @internal One in-flight run. */
interface ActiveRun {
  readonly controller: AbortController
  /** Emits and completes when the run has ended and the flow's info is updated. */
  readonly ended: AsyncSubject<undefined>
  subscription: Subscription | undefined
  settled: boolean
}

/** @internal A flow and its live state. */
interface FlowRuntime {
  readonly flow: Flow
  readonly reduce: (info: FlowInfo, update: FlowUpdate) => FlowInfo
  info: FlowInfo
  run: ActiveRun | undefined
  queued: boolean
}

type Outcome =
  | { readonly _tag: 'Succeeded' }
  | { readonly _tag: 'Cancelled' }
  | { readonly _tag: 'Failed'; readonly error: CanoError }

const DEFAULT_GRACE_MS = 30_000
const DEFAULT_MARGIN_MS = 1_000

const startRunning = (flows: ReadonlyArray<Flow>, scheduler: SchedulerLike, random: () => number): RunningScheduler => {
  const now = (): number => scheduler.now()
  const runtimes: ReadonlyArray<FlowRuntime> = flows.map((flow) => ({
    flow,
    reduce: flowInfoReducer(flow.policy, random),
    info: initialFlowInfo(flow.id),
    run: undefined,
    queued: false,
  }))
  const byId = new Map<string, FlowRuntime>(runtimes.map((rt) => [rt.flow.id, rt]))
  const status = new BehaviorSubject<ReadonlyArray<FlowInfo>>(runtimes.map((rt) => rt.info))
  const events = new Subject<ScheduledEvent>()
  const loops = new Subscription()
  let phase: 'running' | 'stopping' | 'stopped' = 'running'
  let stopped: Promise<StopResult> | undefined

  // -- state ---------------------------------------------------------------------------
  const update = (rt: FlowRuntime, u: FlowUpdate): void => {
    rt.info = rt.reduce(rt.info, u)
    status.next(runtimes.map((r) => r.info))
  }

  // -- runs ----------------------------------------------------------------------------
  const settle = (rt: FlowRuntime, run: ActiveRun, outcome: Outcome): void => {
    if (run.settled) return
    run.settled = true
    if (rt.run === run) rt.run = undefined
    update(rt, outcome._tag === 'Failed' ? { _tag: 'Failed', at: now(), error: outcome.error } : outcome)
    const queued = rt.queued
    rt.queued = false
    run.ended.next(undefined)
    run.ended.complete()
    // a queued tick runs at once; a run that completes synchronously cannot have queued one, so this nests once at most
    if (queued && outcome._tag === 'Succeeded') tick(rt)
  }

  const outcomeOf = (e: TerminalEvent): Outcome => {
    switch (e._tag) {
      case 'RunCompleted':
        return { _tag: 'Succeeded' }
      case 'RunCancelled':
        return { _tag: 'Cancelled' }
      case 'RunFailed':
      case 'RunTimedOut':
        return { _tag: 'Failed', error: e.error }
    }
  }

  const dispatch = (rt: FlowRuntime): ActiveRun => {
    const run: ActiveRun = {
      controller: new AbortController(),
      ended: new AsyncSubject<undefined>(),
      subscription: undefined,
      settled: false,
    }
    rt.run = run
    update(rt, { _tag: 'Dispatched', at: now() })
    let source: Observable<WorkflowEvent>
    try {
      // every run gets its own id (a checkpointed workflow needs one): `<flow id>:<uuid>`
      source = rt.flow.workflow.run$(rt.flow.initial, {
        workflowId: mintWorkflowId(rt.flow.id),
        signal: run.controller.signal,
        manageResources: false,
        scheduler,
      })
    } catch (e: unknown) {
      settle(rt, run, { _tag: 'Failed', error: toCanoError(e) })
      return run
    }
    run.subscription = source.subscribe({
      next: (event) => {
        events.next({ flowId: rt.flow.id, event })
        if (isTerminalEvent(event)) settle(rt, run, outcomeOf(event))
      },
      error: (e: unknown) => settle(rt, run, { _tag: 'Failed', error: toCanoError(e) }),
      complete: () => settle(rt, run, { _tag: 'Failed', error: workflowError('run ended without a terminal event') }),
    })
    return run
  }

  /** A scheduled tick: runs the flow if it may, returns the run (to wait for) or `undefined`. */
  const tick = (rt: FlowRuntime): ActiveRun | undefined => {
    if (phase !== 'running') return undefined
    const { status: s, nextEligible } = rt.info
    if (s._tag === 'Running') {
      if (rt.flow.overlap === 'queue' && !rt.queued) rt.queued = true
      else update(rt, { _tag: 'TickSkipped' })
      return undefined
    }
    if (s._tag === 'Tripped') return undefined
    if (nextEligible !== undefined && now() < nextEligible) return undefined
    return dispatch(rt)
  }

  const loopOf = (rt: FlowRuntime): Observable<unknown> => {
    const schedule = rt.flow.schedule
    switch (schedule._tag) {
      case 'Manual':
        return EMPTY
      case 'Cron':
        return defer(() =>
          tickTimes(nextCronMs(schedule, now()), (after) => nextCronMs(schedule, after), scheduler),
        ).pipe(map(() => tick(rt)))
      case 'Every': {
        const interval = schedule.intervalMs
        if (schedule.mode === 'fixedRate') {
          return defer(() => {
            const anchor = now()
            return tickTimes(anchor, (after) => nextFixedRateMs(anchor, interval, after), scheduler)
          }).pipe(map(() => tick(rt)))
        }
        return fixedDelayTicks(
          () => Math.max(interval, (rt.info.nextEligible ?? 0) - now()),
          () => tick(rt)?.ended ?? EMPTY,
          scheduler,
        )
      }
    }
  }

  for (const rt of runtimes) loops.add(loopOf(rt).subscribe())

  // -- control -------------------------------------------------------------------------
  const refuse = (e: CanoError): Promise<never> => Promise.reject(new CanoFailure(e))
  const notRunning = (method: string): Promise<never> =>
    refuse(workflowError(`Scheduler not running — call start() before ${method}()`))
  const unknownId = (id: string): Promise<never> => refuse(workflowError(`No workflow registered with id '${id}'`))

  const trigger = (id: string): Promise<void> => {
    if (phase !== 'running') return notRunning('trigger')
    const rt = byId.get(id)
    if (rt === undefined) return unknownId(id)
    if (rt.info.status._tag === 'Running') return refuse(workflowError(`Flow '${id}' is already running`))
    if (rt.info.status._tag === 'Tripped')
      return refuse(workflowError(`Flow '${id}' is tripped — call reset() before triggering`))
    dispatch(rt)
    return Promise.resolve()
  }

  const reset = (id: string): Promise<void> => {
    if (phase !== 'running') return notRunning('reset')
    const rt = byId.get(id)
    if (rt === undefined) return unknownId(id)
    if (rt.info.status._tag === 'Running') return refuse(workflowError(`Flow '${id}' is already running`))
    update(rt, { _tag: 'Reset' })
    return Promise.resolve()
  }

  const cancel = (id: string): Promise<void> => {
    if (phase === 'stopped') return notRunning('cancel')
    const rt = byId.get(id)
    if (rt === undefined) return unknownId(id)
    const run = rt.run
    if (run === undefined) return refuse(workflowError(`Flow '${id}' is not running`))
    rt.queued = false
    run.controller.abort(cancelledError(`Flow '${id}' cancelled`))
    return firstValueFrom(run.ended)
  }

  // -- stop ----------------------------------------------------------------------------
  const allEnded = (runs: ReadonlyArray<ActiveRun>): Observable<undefined> =>
    runs.length === 0 ? of(undefined) : forkJoin(runs.map((r) => r.ended)).pipe(map(() => undefined))

  const inFlight = (): ReadonlyArray<FlowRuntime> => runtimes.filter((rt) => rt.run !== undefined)

  const stop$ = (graceMs: number, marginMs: number): Observable<StopResult> =>
    defer(() => {
      const graceEnd = now() + graceMs
      const deadline = graceEnd + marginMs
      const aborted: string[] = []
      const failures: FlowTeardownFailure[] = []
      const drain$ = defer(() =>
        race(
          allEnded(inFlight().flatMap((rt) => (rt.run === undefined ? [] : [rt.run]))).pipe(map(() => false)),
          waitUntil(graceEnd, scheduler).pipe(map(() => true)),
        ),
      )
      const abort$ = defer(() => {
        const late = inFlight()
        for (const rt of late) {
          aborted.push(rt.flow.id)
          rt.run?.controller.abort(cancelledError(`Scheduler stopped: grace period of ${graceMs} ms expired`))
        }
        const runs = late.flatMap((rt) => (rt.run === undefined ? [] : [rt.run]))
        return race(allEnded(runs), waitUntil(graceEnd + marginMs / 2, scheduler)).pipe(
          map(() => {
            // a run still going half-way through the margin ignored its signal: it is dropped, never left Running
            for (const rt of inFlight()) {
              const run = rt.run
              if (run === undefined) continue
              run.subscription?.unsubscribe()
              settle(rt, run, { _tag: 'Cancelled' })
            }
            return undefined
          }),
        )
      })
      const teardown$ = defer(() =>
        race(
          from(teardownAll(flows, failures)).pipe(map(() => false)),
          waitUntil(deadline, scheduler).pipe(map(() => true)),
        ),
      )
      return drain$.pipe(
        concatMap((expired) => (expired ? abort$ : of(undefined))),
        concatMap(() => teardown$),
        map((teardownTimedOut): StopResult => ({
          aborted: [...aborted],
          teardownFailures: [...failures],
          teardownTimedOut,
        })),
      )
    })

  const stop = (options: StopOptions = {}): Promise<StopResult> => {
    if (stopped !== undefined) return stopped
    const bad = checkStopOptions(options)
    if (bad !== undefined) return refuse(bad)
    phase = 'stopping'
    loops.unsubscribe()
    for (const rt of runtimes) rt.queued = false
    const result = firstValueFrom(stop$(options.graceMs ?? DEFAULT_GRACE_MS, options.marginMs ?? DEFAULT_MARGIN_MS))
    stopped = result.then((r) => {
      phase = 'stopped'
      status.complete()
      events.complete()
      return r
    })
    return stopped
  }

  return Object.freeze({
    trigger,
    reset,
    cancel,
    status: (id: string) => byId.get(id)?.info,
    list: () => runtimes.map((rt) => rt.info),
    status$: status.asObservable(),
    events$: events.asObservable(),
    stop,
  })
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const label = (u: unknown): string => {
  if (u === undefined) return 'undefined'
  if (typeof u === 'string') return JSON.stringify(u)
  if (typeof u === 'number' || typeof u === 'boolean') return String(u)
  return Object.prototype.toString.call(u)
}
