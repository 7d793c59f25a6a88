/**
 * `createRuntime`: the durable runtime. It runs named workflows for you over a store with a run table
 * (memory, SQLite or PostgreSQL): `start` records a run (idempotent by id), workers claim runnable runs
 * up to `concurrency`, execute them under a renewed lease with fenced checkpoint appends, recover the
 * runs whose owner died (their lease expired), park long sleeps out of memory and pick them up at
 * wake-up, and record every run's outcome in its run table. Many runtimes on one PostgreSQL database
 * form a fleet; exactly one of them executes a run at a time. With `schedules`, each tick of a cron or
 * interval schedule becomes one run for the whole fleet, its id derived from the schedule and the tick
 * (src/RuntimeSchedule.ts).
 *
 * What is exactly-once and what is at-least-once (docs/runtime.md): a run's outcome is recorded once; a
 * state whose checkpoint row was written runs again after a crash only if it had not finished (the
 * state in flight at the crash runs again: tasks must be idempotent or guarded by the checkpoint rows
 * they write).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import type * as t from 'io-ts'
import {
  asyncScheduler,
  catchError,
  distinctUntilChanged,
  filter,
  from,
  lastValueFrom,
  merge,
  type Observable,
  ReplaySubject,
  type SchedulerLike,
  share,
  startWith,
  Subject,
  type Subscription,
  switchMap,
  takeWhile,
  throwError,
  timer,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { Count, integerIn, MAX_TIMER_MS, PositiveInteger } from '../codecs/Config.js'
import type { WorkflowId } from '../codecs/WorkflowId.js'
import { CanoFailure, checkpointStoreError, configurationError, toCanoFailure } from '../src/CanoError.js'
import type { RunStore } from '../src/CheckpointStore.js'
import { checkConfig } from '../src/internal/checkConfig.js'
import { describeValue } from '../src/internal/describeValue.js'
import { mintWorkflowId } from '../src/mintWorkflowId.js'
import { decodeInput, unexpectedInput } from '../src/RunBoundary.js'
import { decodeRunOptions, decodeWorkflowId } from '../src/RunOptions.js'
import { MAX_RUN_LIMIT, type RunFilter, type RunRecord, type RunRecordStatus } from '../src/RunTable.js'
import {
  type CheckedRuntimeSchedule,
  checkRuntimeSchedules,
  type RuntimeSchedule,
  type ScheduledRunEvent,
} from '../src/RuntimeSchedule.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import type { CompiledWorkflow } from '../src/WorkflowDefinition.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { scheduledRuns } from '../streams/scheduledRuns.js'
import { ownedRun$, type Ownership, RunControl } from './internal/ownedRun.js'
import { processOwner } from './internal/processOwner.js'
import { compiledOf, storedInput } from './Workflow.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A workflow the runtime can run: the workflow and the state its runs start in.
 *
 * @example
 * import { task, workflow, type RuntimeWorkflow } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * const entry: RuntimeWorkflow = { workflow: flow, initial: 'Go' }
 * @category model
 * @since 0.2.0
 */
export interface RuntimeWorkflow<S extends string = string> {
  /**
   * A workflow built with `workflow()`: any state union, resources, input and output fit (what the
   * runtime reads of it is checked when the runtime is created).
   */
  readonly workflow: { readonly states: ReadonlyArray<S>; readonly exits: ReadonlyArray<S>; toMermaid(): string }
  readonly initial: S
}

/**
 * Options of {@link createRuntime}.
 *
 * @example
 * import { createRuntime, memoryCheckpoints, task, workflow, type RuntimeOptions } from 'cano-rx'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * const options: RuntimeOptions = { store: memoryCheckpoints(), workflows: { hello: { workflow: flow, initial: 'Go' } }, concurrency: 4 }
 * @category model
 * @since 0.2.0
 */
export interface RuntimeOptions {
  /** A store with a run table: `memoryCheckpoints()`, `sqliteCheckpoints(path)`, `postgresCheckpoints(…)`. */
  readonly store: RunStore
  /** The workflows this runtime runs, by name (the name is recorded with each run). */
  readonly workflows: Readonly<Record<string, RuntimeWorkflow>>
  /** Runs executed at once by this runtime. Default 10. */
  readonly concurrency?: number
  /** How long a claim holds without renewal, in ms. Default 30 000; renewed every third of it. */
  readonly leaseMs?: number
  /** How often to look for runnable runs when no notification came, in ms. Default 1 000. */
  readonly pollMs?: number
  /** A `sleep` longer than this (ms) parks its run out of memory. Default 60 000. */
  readonly parkAfterMs?: number
  /** Terminal records older than this (ms) are pruned. Default 7 days. */
  readonly retentionMs?: number
  /** This runtime's owner name in the run table. Default: host-independent `pid:random`. */
  readonly owner?: string
  /** Clock of leases, polls, wake-ups and schedule ticks. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike
  /**
   * Schedules whose ticks become runs of registered workflows, one run per tick in the whole fleet: each
   * tick's run id derives from the schedule id and the tick instant (`scheduledRunId`). Default none.
   * See {@link RuntimeSchedule}.
   */
  readonly schedules?: ReadonlyArray<RuntimeSchedule>
}

/**
 * What the runtime reports: every event of the runs it executes, each with the run's workflow name,
 * the runtime's own notices, and its schedules' ticks ({@link ScheduledRunEvent}).
 *
 * @example
 * import type { RuntimeEvent } from 'cano-rx'
 * const line = (e: RuntimeEvent): string => (e._tag === 'Run' ? `${e.workflow}: ${e.event._tag}` : e._tag)
 * @category model
 * @since 0.2.0
 */
export type RuntimeEvent =
  | { readonly _tag: 'Run'; readonly workflow: string; readonly event: WorkflowEvent }
  | { readonly _tag: 'Claimed'; readonly workflowId: string; readonly workflow: string; readonly fence: number }
  | { readonly _tag: 'Parked'; readonly workflowId: string; readonly wakeAt: number }
  | { readonly _tag: 'Released'; readonly workflowId: string }
  /**
   * A due run whose stored record does not decode (a corrupt row): not executed, taken out of the
   * runnable runs (see `RunTable.claim`) so that it holds no other run back. Repair the row, then resume
   * it by id.
   */
  | { readonly _tag: 'RunUnreadable'; readonly workflowId: string; readonly error: CanoError }
  | ScheduledRunEvent

/**
 * A run's outcome as {@link Runtime.result} reports it.
 *
 * @example
 * import type { RuntimeResult } from 'cano-rx'
 * const show = (r: RuntimeResult) => (r.status === 'completed' ? r.output : r.error)
 * @category model
 * @since 0.2.0
 */
export interface RuntimeResult {
  readonly workflowId: string
  readonly status: Extract<RunRecordStatus, 'completed' | 'failed' | 'cancelled' | 'timedOut'>
  /** The encoded output (`null` without an output codec or when the run did not complete). */
  readonly output: JsonValue
  /** The encoded `CanoError` of a run that did not complete; `null` otherwise. */
  readonly error: JsonValue
  readonly record: RunRecord
}

/**
 * A running runtime. See {@link createRuntime}.
 *
 * @example
 * import type { Runtime } from 'cano-rx'
 * const drain = (rt: Runtime) => rt.stop({ graceMs: 5_000 })
 * @category model
 * @since 0.2.0
 */
export interface Runtime {
  /** This runtime's owner name. */
  readonly owner: string
  /**
   * Records a run of workflow `name` with `input`; durable and idempotent by `id` (default: a new id).
   * A second start with the same id returns the existing run (`created: false`) and never executes it
   * twice. Some worker of the fleet (this one, if it has room) executes it.
   */
  readonly start: (
    name: string,
    input?: JsonValue,
    options?: { readonly id?: string },
  ) => Promise<{ readonly workflowId: string; readonly created: boolean }>
  /** Waits until run `id` ends and resolves with its outcome (read from the run table). */
  readonly result: (id: string) => Promise<RuntimeResult>
  /** The run's record; `undefined` for an unknown id. */
  readonly get: (id: string) => Promise<RunRecord | undefined>
  /** Records matching `filter`, newest first. */
  readonly list: (filter?: RunFilter) => Promise<ReadonlyArray<RunRecord>>
  /** Events of the runs this runtime executes, and its notices. Hot. */
  readonly events$: Observable<RuntimeEvent>
  /** The run's record each time it changes, until it is terminal (then completes). */
  readonly watch: (id: string) => Observable<RunRecord>
  /**
   * Asks run `id` to stop, from any process: its owner aborts it (sagas roll back) and it ends
   * `cancelled`; a pending or parked run is claimed and cancelled here. Resolves `false` for a run
   * that is unknown or ended already.
   */
  readonly cancel: (id: string) => Promise<boolean>
  /**
   * Runs again, here, a run that ended `failed`, `timedOut` or `cancelled` with its checkpoint log kept
   * (see docs/checkpoints.md: a failure or cancellation with no saga step to undo, a dirty rollback): it
   * is claimed again (`running`, a new fence, its old cancel request dropped) and continues from its log
   * like a crashed run, the state that ended it running again. A run that is `pending`, `parked`, or `running` under an expired lease is claimed and
   * executed here at once. Executed beside the runs this runtime claimed itself (a resume by hand is not
   * counted against `concurrency`). Resolves with the claimed record once the claim is made;
   * `result(id)` waits for the new outcome.
   *
   * Rejects with a {@link CanoFailure}: a `Configuration` error for an unknown id, a run of a workflow
   * this runtime does not run, a run executing here already or a stopped runtime; a `CheckpointStore`
   * error for a `completed` run or one whose log was cleared (a clean rollback: nothing is left to
   * resume) or never written (cancelled before it started); `RunOwned` while
   * another process holds the run. @since 0.3.0
   */
  readonly resume: (id: string) => Promise<RunRecord>
  /**
   * The workflows this runtime runs, by name, as given to {@link createRuntime} (read-only): what a tool
   * reads the workflow's declared graph from (`toMermaid()`, the inspector's diagram). @since 0.3.0
   */
  readonly workflows: Readonly<Record<string, RuntimeWorkflow>>
  /**
   * Stops claiming, lets the runs in flight finish within `graceMs` (default 10 000), then abandons the
   * rest (no rollback) and releases their leases so another worker takes them at once. A claim in flight
   * is waited for and its runs released unexecuted; the promise resolves once the releases are written
   * (after another `graceMs`, at least 1 s, should the store not answer), so the store can be closed then.
   */
  readonly stop: (options?: { readonly graceMs?: number }) => Promise<void>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** At most this many wake-ups are remembered (about 8 bytes each); later ones are found by the poll. */
const MAX_WAKES = 10_000

const TERMINAL: ReadonlySet<RunRecordStatus> = new Set(['completed', 'failed', 'cancelled', 'timedOut'])

/**
 * Starts a runtime over `options.store` running `options.workflows`. See the module comment.
 *
 * @param options - see {@link RuntimeOptions}
 * @returns the running {@link Runtime}
 * @throws {@link CanoFailure} with a `Configuration` error for a store without a run table, an empty
 *   registry, a workflow with another checkpoint store, a bad number, or a bad schedule (named)
 * @example
 * import { createRuntime, memoryCheckpoints, task, workflow } from 'cano-rx'
 * const hello = workflow<'Greet' | 'Done'>()({ exits: ['Done'], states: { Greet: task(() => 'Done' as const) } })
 * const runtime = createRuntime({ store: memoryCheckpoints(), workflows: { hello: { workflow: hello, initial: 'Greet' } } })
 * const { workflowId } = await runtime.start('hello', null, { id: 'greet-1' })
 * const outcome = await runtime.result(workflowId) // { status: 'completed', … }
 * await runtime.stop()
 * @example With a schedule: every process running this records each 5-minute tick's run once
 * import { createRuntime, Schedule, scheduledRunId, task, workflow } from 'cano-rx'
 * import { postgresCheckpoints } from 'cano-rx/postgres'
 * const sync = workflow<'Pull' | 'Done'>()({ exits: ['Done'], states: { Pull: task(() => 'Done' as const) } })
 * const runtime = createRuntime({
 *   store: postgresCheckpoints({ connectionString: 'postgres://localhost/app' }),
 *   workflows: { sync: { workflow: sync, initial: 'Pull' } },
 *   schedules: [{ id: 'sync', workflow: 'sync', schedule: Schedule.every(300_000), missed: 'latest' }],
 * })
 * const lastTick = Math.floor(Date.now() / 300_000) * 300_000
 * const record = await runtime.get(scheduledRunId('sync', lastTick))
 * @category constructors
 * @since 0.2.0
 */
export const createRuntime = (options: RuntimeOptions): Runtime => {
  const checked = checkOptions(options)
  if (E.isLeft(checked)) throw new CanoFailure(checked.left)
  const registry: Record<string, RuntimeWorkflow> = {}
  for (const [name, entry] of Object.entries(options.workflows))
    registry[name] = Object.freeze({ workflow: entry.workflow, initial: entry.initial })
  return new RuntimeImpl(checked.right, Object.freeze(registry)).api()
}

/**
 * @internal A direct listener on a runtime's events, for the package's own followers (the web inspector's
 * tracker): it is called synchronously for every event, before `events$` emits it, with no Subject
 * fan-out and no {@link RuntimeEvent} wrapper for the runs' events (`run`); the runtime's other notices
 * come whole (`notice`, never a `'Run'`). It must not throw. Not public: `events$` is the public stream,
 * unchanged by taps (it emits the same events, in the same order; the `'Run'` wrapper is only built when
 * `events$` has a subscriber, since nothing can see it otherwise).
 */
export interface RuntimeEventTap {
  /**
   * `slot` is this tap's own for this execution of the run (one per execution and tap, empty at the
   * run's first event here, and again after the runtime's taps change): a tap keeps there what it
   * would otherwise look up by the event's run id on every event.
   */
  run(workflow: string, event: WorkflowEvent, slot: TapSlot): void
  notice(event: Exclude<RuntimeEvent, { readonly _tag: 'Run' }>): void
}

/** @internal What a {@link RuntimeEventTap} keeps for one execution of one run (see its `run`). */
export interface TapSlot {
  held: unknown
}

/** A new, empty {@link TapSlot} for each of `taps` (no allocation when there is none). */
const slotsFor = (taps: ReadonlyArray<RuntimeEventTap>): ReadonlyArray<TapSlot> =>
  taps.length === 0 ? NO_SLOTS : taps.map(() => ({ held: undefined }))
const NO_SLOTS: ReadonlyArray<TapSlot> = []

/** @internal Adds a tap to a runtime made by {@link createRuntime}; returns its removal. */
export type RuntimeTapper = (tap: RuntimeEventTap) => () => void

const tappers = new WeakMap<Runtime, RuntimeTapper>()

/** How long `stop()` waits for the releases to be written at least, whatever its grace. */
const RELEASE_WAIT_MS = 1_000

/**
 * @internal The tapper of a runtime made by {@link createRuntime}, `undefined` for any other object that
 * implements {@link Runtime} (a follower then subscribes to its `events$`).
 */
export const tapperOf = (runtime: Runtime): RuntimeTapper | undefined => tappers.get(runtime)

// -------------------------------------------------------------------------------------
// internals
// -------------------------------------------------------------------------------------

interface Registered {
  readonly name: string
  readonly initial: string
  readonly wf: CompiledWorkflow<string, ResourceRecord>
}

interface Checked {
  readonly store: RunStore
  readonly workflows: ReadonlyMap<string, Registered>
  readonly concurrency: number
  readonly leaseMs: number
  readonly pollMs: number
  readonly parkAfterMs: number
  readonly retentionMs: number
  readonly owner: string
  readonly scheduler: SchedulerLike
  readonly schedules: ReadonlyArray<CheckedRuntimeSchedule>
}

/**
 * A number option, checked by the codec the run table checks it with too (a value accepted here is never
 * refused later by a claim): `fallback` when absent.
 */
const numberOption = (
  name: string,
  codec: t.Type<number, number>,
  rule: string,
  value: unknown,
  fallback: number,
): E.Either<CanoError, number> => {
  if (value === undefined) return E.right(fallback)
  const error = checkConfig(codec, value, `createRuntime: ${name}`, describeValue, rule)
  return error === undefined ? E.right(value as number) : E.left(error)
}

/** Concurrency: a positive integer up to the run table's claim limit. */
const Concurrency = /*#__PURE__*/ integerIn(1, MAX_RUN_LIMIT)
const MS_RULE = `a positive integer number of milliseconds up to ${String(MAX_TIMER_MS)}`

const checkOptions = (options: unknown): E.Either<CanoError, Checked> => {
  if (typeof options !== 'object' || options === null)
    return E.left(configurationError('createRuntime: options must be an object'))
  // read as unknowns: a caller without types may pass anything
  const o = options as { readonly [K in keyof RuntimeOptions]?: unknown }
  const store = o.store
  if (!isRunStore(store))
    return E.left(
      configurationError(
        'createRuntime: store must keep a run table (memoryCheckpoints(), sqliteCheckpoints(path) or postgresCheckpoints(…))',
      ),
    )
  if (typeof o.workflows !== 'object' || o.workflows === null || Object.keys(o.workflows).length === 0)
    return E.left(configurationError('createRuntime: workflows must name at least one workflow'))
  const workflows = new Map<string, Registered>()
  for (const [name, value] of Object.entries(o.workflows as Readonly<Record<string, unknown>>)) {
    const where = `createRuntime: workflow ${JSON.stringify(name)}`
    if (name.length === 0) return E.left(configurationError('createRuntime: a workflow name must not be empty'))
    const entry: { readonly workflow?: unknown; readonly initial?: unknown } =
      typeof value === 'object' && value !== null ? value : {}
    const wf = compiledOf(entry.workflow)
    if (wf === undefined) return E.left(configurationError(`${where}: workflow must be built with workflow()`))
    if (wf.checkpoints !== undefined && wf.checkpoints !== store)
      return E.left(configurationError(`${where} has a checkpoint store of its own: use the runtime's store or none`))
    const initial = entry.initial
    if (typeof initial !== 'string' || !(wf.states.has(initial) || wf.exits.has(initial)))
      return E.left(configurationError(`${where}: initial ${describeValue(initial)} is not one of its states`))
    workflows.set(name, { name, initial, wf: { ...wf, checkpoints: store } })
  }
  return pipe(
    E.Do,
    E.bind('concurrency', () =>
      numberOption('concurrency', Concurrency, `a positive integer up to ${String(MAX_RUN_LIMIT)}`, o.concurrency, 10),
    ),
    E.bind('leaseMs', () => numberOption('leaseMs', Count, MS_RULE, o.leaseMs, 30_000)),
    E.bind('pollMs', () => numberOption('pollMs', Count, MS_RULE, o.pollMs, 1_000)),
    E.bind('parkAfterMs', () => numberOption('parkAfterMs', Count, MS_RULE, o.parkAfterMs, 60_000)),
    E.bind('retentionMs', () =>
      numberOption(
        'retentionMs',
        PositiveInteger,
        'a positive integer number of milliseconds',
        o.retentionMs,
        7 * 24 * 3_600_000,
      ),
    ),
    E.bind('owner', () =>
      o.owner === undefined
        ? E.right(processOwner())
        : typeof o.owner === 'string' && o.owner.length > 0
          ? E.right(o.owner)
          : E.left(configurationError('createRuntime: owner must be a non-empty string')),
    ),
    E.bind('scheduler', () =>
      o.scheduler === undefined
        ? E.right<CanoError, SchedulerLike>(asyncScheduler)
        : isScheduler(o.scheduler)
          ? E.right(o.scheduler)
          : E.left(configurationError('createRuntime: scheduler must be an RxJS SchedulerLike')),
    ),
    E.bindW('schedules', () => checkRuntimeSchedules(o.schedules, [...workflows.keys()])),
    E.map((n) => ({ ...n, store, workflows })),
  )
}

const isRunStore = (u: unknown): u is RunStore =>
  typeof u === 'object' && u !== null && typeof (u as { readonly runs?: unknown }).runs === 'object'

const isScheduler = (u: unknown): u is SchedulerLike =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { readonly schedule?: unknown }).schedule === 'function' &&
  typeof (u as { readonly now?: unknown }).now === 'function'

class RuntimeImpl {
  private readonly events = new Subject<RuntimeEvent>()
  /** Internal followers ({@link RuntimeEventTap}), called before `events` emits. */
  private taps: ReadonlyArray<RuntimeEventTap> = []
  /**
   * Runs executing here, by id: its `control` cancels it (a cancel request this runtime heard of) or hands
   * it over (abandoned where it is, its lease released).
   */
  private readonly active = new Map<string, { readonly sub: Subscription; readonly control: RunControl }>()
  /** A record changed here (a run started, ended, parked): watchers look again. */
  private readonly changed = new Subject<string>()
  private readonly timers: Subscription[] = []
  /** The schedules' tick streams: at stop they plan no tick more, and end once their records in flight have. */
  private readonly schedules: Subscription[] = []
  /** Emits once at stop (and to later subscribers): the schedules stop planning ticks. */
  private readonly stopped = new ReplaySubject<void>(1)
  /** Tick streams not ended yet (at stop: with records in flight). */
  private schedulesOpen = 0
  /** A schedule's tick stream ended. */
  private readonly scheduleEnded = new Subject<void>()
  private stopping = false
  /**
   * Store calls whose outcome a stop waits for: a claim in flight (the runs it brings back are released)
   * and the lease releases of runs handed over. A store closed after `stop()` has them all.
   */
  private readonly inFlight = new Set<Promise<void>>()
  private claiming = false
  private again = false
  private readonly ownership: Ownership
  private readonly unlisten: (() => void) | undefined

  constructor(
    private readonly o: Checked,
    private readonly registry: Readonly<Record<string, RuntimeWorkflow>>,
  ) {
    this.ownership = {
      owner: o.owner,
      leaseMs: o.leaseMs,
      renewMs: Math.max(1, Math.floor(o.leaseMs / 3)),
      scheduler: o.scheduler,
      releasing: (write) => this.track(write),
    }
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the scheduled action's `this` is the action
    const rt = this
    this.timers.push(
      o.scheduler.schedule(function () {
        if (rt.stopping) return
        rt.pump()
        this.schedule(undefined, o.pollMs)
      }, 0),
    )
    this.timers.push(
      o.scheduler.schedule(
        function () {
          if (rt.stopping) return
          void o.store.runs.prune(o.scheduler.now() - o.retentionMs).catch(() => undefined)
          this.schedule(undefined, Math.min(o.retentionMs, 3_600_000))
        },
        Math.min(o.retentionMs, 60_000),
      ),
    )
    this.unlisten = o.store.runs.subscribe?.((id) => {
      this.changed.next(id)
      this.onNotice(id)
    })
    // each tick's run is recorded through start(): idempotent by its id, so a fleet records it once
    const ended = (): void => {
      this.schedulesOpen--
      this.scheduleEnded.next()
    }
    this.schedulesOpen = o.schedules.length
    for (const s of o.schedules)
      this.schedules.push(
        scheduledRuns(s, {
          scheduler: o.scheduler,
          catchUpMs: o.leaseMs,
          lookBackMs: o.retentionMs,
          retryMs: o.pollMs,
          record: (id) => this.start(s.workflow, s.input, { id }),
          stopped: this.stopped,
        }).subscribe({ next: (e) => this.notice(e), complete: ended, error: ended }),
      )
  }

  api(): Runtime {
    const api: Runtime = Object.freeze({
      owner: this.o.owner,
      start: (name: string, input?: JsonValue, options?: { readonly id?: string }) => this.start(name, input, options),
      result: (id: string) => this.result(id),
      get: (id: string) => this.o.store.runs.get(id),
      list: (filter?: RunFilter) => this.o.store.runs.list(filter),
      events$: this.events.asObservable(),
      watch: (id: string) => this.watch(id),
      cancel: (id: string) => this.cancel(id),
      resume: (id: string) => this.resume(id),
      workflows: this.registry,
      stop: (options?: { readonly graceMs?: number }) => this.stop(options?.graceMs ?? 10_000),
    })
    tappers.set(api, (tap) => {
      this.taps = [...this.taps, tap]
      return () => {
        this.taps = this.taps.filter((t) => t !== tap)
      }
    })
    return api
  }

  private async start(
    name: string,
    input: JsonValue | undefined,
    options: { readonly id?: string } | undefined,
  ): Promise<{ readonly workflowId: string; readonly created: boolean }> {
    if (this.stopping) throw new CanoFailure(configurationError('runtime.start: the runtime is stopped'))
    const entry = this.o.workflows.get(name)
    if (entry === undefined)
      throw new CanoFailure(
        configurationError(
          `runtime.start: no workflow named ${JSON.stringify(name)} (known: ${[...this.o.workflows.keys()].join(', ')})`,
        ),
      )
    const id =
      options?.id === undefined
        ? E.right(mintWorkflowId())
        : decodeWorkflowId(options.id, 'runtime.start: id must be a non-empty string')
    if (E.isLeft(id)) throw new CanoFailure(id.left)
    // the input is decoded before anything is written, and recorded in its canonical encoding
    const codec = entry.wf.input
    let encoded: JsonValue = null
    if (codec !== undefined) {
      const decoded = decodeInput(codec, input, id.right, false, 'pass it as runtime.start(name, input)')
      if (E.isLeft(decoded)) throw new CanoFailure(decoded.left)
      encoded = decoded.right.encoded
    } else if (input !== undefined && input !== null) throw new CanoFailure(unexpectedInput())
    const { record, created } = await this.o.store.runs.create({
      workflowId: id.right,
      workflow: name,
      version: entry.wf.version,
      initial: entry.initial,
      input: encoded,
    })
    if (created) {
      this.changed.next(record.workflowId)
      this.pump()
    }
    return { workflowId: record.workflowId, created }
  }

  private watch(id: string): Observable<RunRecord> {
    const o = this.o
    return merge(this.changed.pipe(filter((changed) => changed === id)), timer(0, o.pollMs, o.scheduler)).pipe(
      startWith(undefined),
      switchMap(() => from(o.store.runs.get(id))),
      filter((r): r is RunRecord => r !== undefined),
      distinctUntilChanged((a, b) => a.updatedAt === b.updatedAt && a.status === b.status && a.fence === b.fence),
      takeWhile((r) => !TERMINAL.has(r.status), true),
      // a store that fails: the stream errors with a CanoFailure, as every stream of the library does
      catchError((e: unknown) => throwError(() => toCanoFailure(e))),
      share(),
    )
  }

  private async result(id: string): Promise<RuntimeResult> {
    const known = await this.o.store.runs.get(id)
    if (known === undefined)
      throw new CanoFailure(configurationError(`runtime.result: no run with id ${JSON.stringify(id)}`))
    const record = await lastValueFrom(this.watch(id), { defaultValue: known })
    return {
      workflowId: id,
      status: record.status as RuntimeResult['status'],
      output: record.output,
      error: record.error,
      record,
    }
  }

  private async cancel(id: string): Promise<boolean> {
    const asked = await this.o.store.runs.requestCancel(id)
    if (!asked) return false
    this.active.get(id)?.control.cancel()
    this.changed.next(id)
    // a pending or parked run has no owner to see the request: a worker (this one) claims and cancels it
    this.pump()
    return true
  }

  private async resume(id: string): Promise<RunRecord> {
    const fail = (message: string): never => {
      throw new CanoFailure(configurationError(`runtime.resume: ${message}`))
    }
    if (this.stopping) fail('the runtime is stopped')
    const checked = decodeWorkflowId(id, 'runtime.resume: id must be a non-empty string')
    if (E.isLeft(checked)) throw new CanoFailure(checked.left)
    const { store, owner, leaseMs } = this.o
    const record = await store.runs.get(id)
    if (record === undefined) return fail(`no run with id ${JSON.stringify(id)}`)
    if (!this.o.workflows.has(record.workflow))
      fail(
        `run ${JSON.stringify(id)} is of workflow ${JSON.stringify(record.workflow)}, which this runtime does not run (known: ${[...this.o.workflows.keys()].join(', ')})`,
      )
    if (this.active.has(id)) fail(`run ${JSON.stringify(id)} is executing here already`)
    const reopen = record.status === 'failed' || record.status === 'timedOut' || record.status === 'cancelled'
    // a run that ended with its log cleared (a clean rollback) has nothing left to resume
    if (reopen && (await store.loadRun(id)).length === 0)
      throw new CanoFailure(
        checkpointStoreError(
          `runtime.resume: run ${JSON.stringify(id)} ended ${record.status} with no checkpoint log (cleared by a clean rollback, or never written): nothing to resume`,
        ),
      )
    const claimed = await store.runs.claimRun(id, owner, leaseMs, reopen)
    if (this.stopping) {
      this.track(store.runs.release(id, claimed.fence))
      return fail('the runtime is stopped')
    }
    this.changed.next(id)
    this.execute(claimed)
    return claimed
  }

  /** A run of the table changed (PostgreSQL notifies every process): claim, or wait for its wake-up. */
  private onNotice(id: string): void {
    this.pump()
    // '' is "anything may have changed" (a reconnected listener): the claim above covers it
    if (id === '') return
    this.o.store.runs.get(id).then(
      (r) => {
        if (r?.status === 'parked' && r.wakeAt !== null) this.wakeAt(r.wakeAt)
        // a cancel request for a run executing here: stop it now rather than at the next renewal
        if (r?.cancelRequested === true) this.active.get(id)?.control.cancel()
      },
      () => undefined,
    )
  }

  /**
   * The wake-ups this runtime knows of (its own parked runs, and those other processes parked and
   * notified), ascending, at most {@link MAX_WAKES} (the latest are dropped: polls find them): a claim is
   * tried at each. One timer, for the earliest.
   */
  private readonly wakes: number[] = []
  private wakeTimer: { readonly at: number; readonly timer: Subscription } | undefined

  private wakeAt(at: number): void {
    if (this.stopping) return
    const wakes = this.wakes
    // binary search for the insertion point; a known instant is kept once
    let lo = 0
    let hi = wakes.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((wakes[mid] as number) < at) lo = mid + 1
      else hi = mid
    }
    if (wakes[lo] === at) return
    wakes.splice(lo, 0, at)
    if (wakes.length > MAX_WAKES) wakes.pop()
    this.armWake()
  }

  /** Keeps the one timer on the earliest wake-up; a wake-up that came due tries a claim and arms the next. */
  private armWake(): void {
    const next = this.wakes[0]
    if (next === undefined || this.stopping) return
    if (this.wakeTimer !== undefined && this.wakeTimer.at <= next) return
    this.wakeTimer?.timer.unsubscribe()
    this.wakeTimer = {
      at: next,
      timer: this.o.scheduler.schedule(
        () => {
          this.wakeTimer = undefined
          const now = this.o.scheduler.now()
          while (this.wakes.length > 0 && (this.wakes[0] as number) <= now) this.wakes.shift()
          this.pump()
          this.armWake()
        },
        Math.max(0, next - this.o.scheduler.now()),
      ),
    }
  }

  /** Claims what this runtime has room for and executes it; asked again while claiming, it claims again after. */
  private pump(): void {
    if (this.stopping) return
    if (this.claiming) {
      this.again = true
      return
    }
    const room = this.o.concurrency - this.active.size
    if (room <= 0) return
    this.claiming = true
    this.again = false
    // told once the claim is done (a store may call it inside its transaction)
    const unreadable: Array<{
      readonly _tag: 'RunUnreadable'
      readonly workflowId: string
      readonly error: CanoError
    }> = []
    const claim = this.o.store.runs
      .claim(this.o.owner, {
        limit: room,
        leaseMs: this.o.leaseMs,
        workflows: [...this.o.workflows.keys()],
        onUnreadable: (workflowId, error) => void unreadable.push({ _tag: 'RunUnreadable', workflowId, error }),
      })
      .then(
        (records) => {
          for (const e of unreadable) this.notice(e)
          for (const record of records) this.execute(record)
        },
        () => undefined, // the store is unreachable: the next poll tries again
      )
      .finally(() => {
        this.claiming = false
        if (this.again) this.pump()
      })
    this.track(claim)
  }

  /** Keeps `call` in {@link inFlight} until it settles (a rejection is the caller's to handle, or ignored). */
  private track(call: Promise<unknown>): void {
    const settled: Promise<void> = call.then(
      () => void this.inFlight.delete(settled),
      () => void this.inFlight.delete(settled),
    )
    this.inFlight.add(settled)
  }

  private execute(record: RunRecord): void {
    const id = record.workflowId
    const entry = this.o.workflows.get(record.workflow)
    if (this.stopping || entry === undefined) {
      this.track(this.o.store.runs.release(id, record.fence))
      return
    }
    this.notice({ _tag: 'Claimed', workflowId: id, workflow: entry.name, fence: record.fence })
    const control = new RunControl()
    // each tap's slot for this execution; new ones (empty) when the taps change
    let tapsSeen = this.taps
    let slots = slotsFor(tapsSeen)
    const sub = ownedRun$(entry.wf, this.o.store, {
      workflowId: record.workflowId as WorkflowId,
      acquire: { _tag: 'Claimed', record },
      // the input is the one start() recorded (decoded like a resumed run's)
      run: (claimed) =>
        decodeRunOptions<string>(
          { workflowId: id, runTable: { input: storedInput(claimed) } },
          { checkpointed: true, input: entry.wf.input, resumed: true },
        ),
      observers: undefined,
      ownership: this.ownership,
      park: {
        afterMs: this.o.parkAfterMs,
        parked: (wakeAt) => {
          this.notice({ _tag: 'Parked', workflowId: id, wakeAt })
          this.wakeAt(wakeAt)
        },
      },
      cancelled: record.cancelRequested,
      control,
    }).subscribe({
      next: (event) => {
        const taps = this.taps
        if (taps !== tapsSeen) {
          tapsSeen = taps
          slots = slotsFor(taps)
        }
        for (let i = 0; i < taps.length; i++) taps[i]?.run(entry.name, event, slots[i] as TapSlot)
        // the wrapper is built only for a subscriber (nothing could see it otherwise)
        if (this.events.observed) this.events.next({ _tag: 'Run', workflow: entry.name, event })
      },
      error: () => this.finished(id),
      complete: () => this.finished(id),
    })
    if (!sub.closed) this.active.set(id, { sub, control })
  }

  /** A notice of the runtime (not a run's event): to the taps, then `events$`. */
  private notice(e: Exclude<RuntimeEvent, { readonly _tag: 'Run' }>): void {
    for (const t of this.taps) t.notice(e)
    this.events.next(e)
  }

  private finished(id: string): void {
    this.active.delete(id)
    this.changed.next(id)
    this.pump()
  }

  /** Resolves once no tracked store call is in flight (a settling call may start another: a release). */
  private async drained(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }

  private async stop(graceMs: number): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    for (const t of this.timers) t.unsubscribe()
    this.wakeTimer?.timer.unsubscribe()
    this.wakes.length = 0
    this.unlisten?.()
    // the schedules plan no tick more; a tick whose record is in flight is reported when it is done
    this.stopped.next()
    const settled = (): boolean => this.active.size === 0 && this.schedulesOpen === 0
    if (!settled())
      await new Promise<void>((resolve) => {
        const done = (): void => {
          deadline.unsubscribe()
          check.unsubscribe()
          resolve()
        }
        const deadline = this.o.scheduler.schedule(done, graceMs)
        const check = merge(this.changed, this.scheduleEnded).subscribe(() => {
          if (settled()) done()
        })
      })
    // a record still in flight after the grace is not reported (its run may be written all the same)
    for (const s of this.schedules) s.unsubscribe()
    // the rest is handed over (not cancelled): abandoned here, each lease released for another process
    for (const [id, { sub, control }] of [...this.active]) {
      control.handOver()
      sub.unsubscribe()
      this.active.delete(id)
      this.notice({ _tag: 'Released', workflowId: id })
    }
    // a claim in flight brings its runs back to be released; the releases are written before stop resolves
    // (for as long again as the grace, and at least RELEASE_WAIT_MS, should the store not answer: with
    // no grace, a release that takes a millisecond must still be written, or the run stays owned by a
    // process that is gone until its lease runs out)
    if (this.inFlight.size > 0) {
      const drained = this.drained()
      const giveUp = new Promise<void>((resolve) => {
        const timer = this.o.scheduler.schedule(resolve, Math.max(graceMs, RELEASE_WAIT_MS))
        void drained.then(() => timer.unsubscribe())
      })
      await Promise.race([drained, giveUp])
    }
    this.events.complete()
    this.changed.complete()
    this.scheduleEnded.complete()
  }
}
