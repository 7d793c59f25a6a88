/**
 * `WorkflowObserver`: cano's observer hooks as an adapter over the {@link WorkflowEvent} stream.
 * Each hook is optional; `onEvent` sees every event. Observers are called synchronously in
 * registration order; one that throws is reported as an `ObserverFailed` event and never breaks
 * the run.
 *
 * Split branches are tasks to the hooks, as in cano: each has the id `name[i]` (the split's task id,
 * then the branch index), `onTaskStart` when it starts, then `onTaskSuccess` or `onTaskFailure` when
 * it settles (from its `SplitBranchSettled` event); a branch cancelled because the join was decided
 * without it reports neither.
 *
 * Beyond the events, an observer may (all optional, and free when no observer uses them):
 *
 * - make an observer per run (`forRun`): its state lives with the run, and a run it declines
 *   (`undefined`) is not observed by it at all (when no observer is left, the run builds no events);
 * - run each attempt of user code inside a context of its own (`aroundAttempt`): a tracing adapter
 *   makes the attempt's span the active one, so the task's own spans nest under it;
 * - keep a note with a durable run (`note`): written in the run's first checkpoint row, handed back
 *   to `forRun` when the run is resumed (a tracing adapter links the resumed run to its first trace);
 * - hear that a run was abandoned (`onAbandon`): its subscriber left before its end (a runtime parked
 *   it, another owner took it), so no terminal event will come.
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import type { WorkflowEvent } from './WorkflowEvent.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * cano's `WorkflowObserver` hooks (plus `onEvent` for everything else).
 *
 * @example
 * import type { WorkflowObserver } from 'cano-rx'
 * const log: WorkflowObserver = {
 *   onStateEnter: (state) => console.log('enter', state),
 *   onRetry: (taskId, attempt) => console.warn('retry', taskId, attempt),
 *   onTaskFailure: (taskId, error) => console.error(taskId, error.message),
 * }
 * @see {@link notifyObserver}, which calls the hooks for one event
 * @category model
 * @since 0.1.0
 */
export interface WorkflowObserver<S extends string = string> {
  /** Every event, before the specific hook. */
  readonly onEvent?: (event: WorkflowEvent<S>) => void
  readonly onStateEnter?: (state: S) => void
  /** A state's task started, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskStart?: (taskId: string, state: S) => void
  /** A state's task succeeded, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskSuccess?: (taskId: string, state: S) => void
  /** A state's task failed for good, or a split branch did (`taskId` `name[i]`). */
  readonly onTaskFailure?: (taskId: string, error: CanoError, state: S) => void
  /** `attempt` is the number of failed attempts so far (1 before the first retry). */
  readonly onRetry?: (taskId: string, attempt: number, state: S) => void
  readonly onCircuitOpen?: (taskId: string, state: S) => void
  /** After every durable checkpoint append (entry, cursor, timer, compensation rows). */
  readonly onCheckpoint?: (workflowId: string, seq: number) => void
  /**
   * The log of a run that is ending could not be cleared; the run's outcome stands (cano 0.14's
   * `on_checkpoint_clear_failed`). See {@link CheckpointClearFailed}.
   */
  readonly onCheckpointClearFailed?: (workflowId: string, error: CanoError) => void
  /** Once when a run is resumed, before its first state. */
  readonly onResume?: (workflowId: string, lastSeq: number) => void
  /** A rollback starts compensating the saga entry of `state` (not a cano hook). */
  readonly onCompensationStart?: (taskId: string, state: S) => void
  /** The saga entry of `state` was compensated (not a cano hook). */
  readonly onCompensated?: (taskId: string, state: S) => void
  /** Compensating the saga entry of `state` failed for good (not a cano hook). */
  readonly onCompensationFailure?: (taskId: string, error: CanoError, state: S) => void
  readonly onRunEnd?: (
    event: Extract<WorkflowEvent<S>, { _tag: 'RunCompleted' | 'RunFailed' | 'RunCancelled' | 'RunTimedOut' }>,
  ) => void
  /**
   * Called once as a run starts (before `RunStarted`): the observer of that run (which may keep the run's
   * state in itself), or `undefined` to leave the run unobserved by this observer. The observer it returns
   * is used as it is (its own `forRun` is not called). Throwing counts as `undefined` (reported as
   * `ObserverFailed` right after `RunStarted`). @since 0.3.0
   */
  readonly forRun?: ((run: RunInfo) => WorkflowObserver<S> | undefined) | undefined
  /**
   * Wraps the start of each attempt of user code (a state's task, a split branch, a batch item, a
   * compensation): it must call `start` once, synchronously (the engine calls it itself, after reporting
   * `ObserverFailed`, if the hook throws or forgets to). What `start` runs (the user's function) runs inside
   * whatever the hook set up around it, such as an OpenTelemetry `context.with`. Nested in registration
   * order (the first observer's hook outermost). @since 0.3.0
   */
  readonly aroundAttempt?: ((scope: AttemptScope<S>, start: () => void) => void) | undefined
  /**
   * A note kept with a durable run under `key`: `value()` is asked once, when the run writes its first
   * checkpoint row, and a JSON value it answers is stored in that row; a resumed run hands the notes back
   * in `RunInfo.notes`. A value that is not JSON is dropped (reported as `ObserverFailed`). @since 0.3.0
   */
  readonly note?: { readonly key: string; readonly value: () => JsonValue | undefined } | undefined
  /**
   * The run was abandoned: it stopped here before its end without being cancelled (a run a runtime
   * parked or released, a run whose lease another owner took). No terminal event follows. A subscriber
   * that leaves `run$` cancels the run instead (it ends with `RunCancelled`). @since 0.3.0
   */
  readonly onAbandon?: ((workflowId: string) => void) | undefined
}

/**
 * What {@link WorkflowObserver}'s `forRun` learns of a run as it starts.
 *
 * @example
 * import type { RunInfo } from 'cano-rx'
 * const info: RunInfo = { workflowId: 'order-42', workflow: 'orders', version: 1, resumed: false, notes: {} }
 * @category model
 * @since 0.3.0
 */
export interface RunInfo {
  readonly workflowId: string
  /** The workflow's registered name (`undefined` without one). */
  readonly workflow: string | undefined
  /** The workflow's version. */
  readonly version: number
  /** `true` when the run continues from its checkpoint log (`resume`, a runtime's claim of a started run). */
  readonly resumed: boolean
  /** The notes the run's observers kept when it first ran (`WorkflowObserver.note`), by key; empty for a new run. */
  readonly notes: { readonly [key: string]: JsonValue }
}

/**
 * One attempt of user code about to start, as {@link WorkflowObserver}'s `aroundAttempt` sees it.
 *
 * - `Task`: an attempt of a state's task (`taskId` is the state's; a `stepped` state has one per step,
 *   a `poll`, `batch` or `stream` state one per cycle of its retry loop);
 * - `Branch`: an attempt of a split branch (`taskId` is the branch's, `Split[i]`; `index` is `i`);
 * - `Item`: an attempt of a batch item (`index` is the item's position; it runs inside the state's
 *   current `Task` attempt);
 * - `Compensation`: an attempt of a saga step's compensation, during a rollback.
 *
 * From the second attempt on, `retry` says why and after how long it runs: the error the previous
 * attempt failed with and the backoff delay waited since.
 *
 * @example
 * import { taskExecutionError, type AttemptScope } from 'cano-rx'
 * const scope: AttemptScope<'Fetch'> = {
 *   workflowId: 'order-42', state: 'Fetch', taskId: 'Fetch', kind: 'Task', attempt: 2, index: undefined, at: 1_700_000_000_000, waitedMs: undefined,
 *   retry: { delayMs: 200, error: taskExecutionError('HTTP 503') },
 * }
 * @category model
 * @since 0.3.0
 */
export interface AttemptScope<S extends string = string> {
  readonly workflowId: string
  readonly state: S
  readonly taskId: string
  readonly kind: 'Task' | 'Branch' | 'Item' | 'Compensation'
  /** 1-based, within its own retry loop (the state's, the branch's, the item's or the compensation's). */
  readonly attempt: number
  /** The branch's index (`Branch`) or the item's (`Item`); `undefined` otherwise. */
  readonly index: number | undefined
  /** When the attempt starts, from the run's clock (ms). */
  readonly at: number
  /**
   * How long this attempt waited for a token of its rate limiter (one that waits: `waits: true`), in ms;
   * `undefined` when it has no such limiter.
   */
  readonly waitedMs: number | undefined
  /**
   * Set on every attempt after the first, of every kind: the error the previous attempt failed with and
   * the backoff delay waited before this one, in ms (0 when there was none). `undefined` on attempt 1, and
   * on the first attempt a resumed run makes in a retry loop it continues (the previous attempt ran before
   * the crash). `waitedMs`, the wait for a rate limiter's token, comes on top of `delayMs`.
   *
   * @since 0.3.0
   */
  readonly retry?: { readonly delayMs: number; readonly error: CanoError } | undefined
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Delivers one event to one observer's hooks. Throws whatever a hook throws (the engine catches it).
 *
 * @param o - the observer
 * @param e - the event to deliver: `onEvent` first, then the matching hook
 * @example
 * import { notifyObserver } from './WorkflowObserver.js'
 * notifyObserver({ onStateEnter: (s) => console.log(s) }, { _tag: 'StateEntered', workflowId: 'w', at: 0, state: 'A', transition: 0 })
 * @see {@link WorkflowObserver}
 * @category destructors
 * @since 0.1.0
 */
export const notifyObserver = <S extends string>(o: WorkflowObserver<S>, e: WorkflowEvent<S>): void => {
  o.onEvent?.(e)
  switch (e._tag) {
    case 'StateEntered':
      o.onStateEnter?.(e.state)
      return
    case 'TaskStarted':
      o.onTaskStart?.(e.taskId, e.state)
      return
    case 'TaskSucceeded':
      o.onTaskSuccess?.(e.taskId, e.state)
      return
    case 'TaskFailed':
      o.onTaskFailure?.(e.taskId, e.error, e.state)
      return
    case 'RetryScheduled':
      o.onRetry?.(e.taskId, e.attempt, e.state)
      return
    case 'CircuitRejected':
      o.onCircuitOpen?.(e.taskId, e.state)
      return
    case 'CheckpointAppended':
      o.onCheckpoint?.(e.workflowId, e.seq)
      return
    case 'CheckpointClearFailed':
      o.onCheckpointClearFailed?.(e.workflowId, e.error)
      return
    case 'SplitBranchSettled':
      // a branch is a task to the hooks; one the join cancelled reports neither
      if (e.outcome._tag === 'Succeeded') o.onTaskSuccess?.(e.taskId, e.state)
      else if (e.outcome._tag === 'Failed') o.onTaskFailure?.(e.taskId, e.outcome.error, e.state)
      return
    case 'RunResumed':
      o.onResume?.(e.workflowId, e.fromSeq)
      return
    case 'CompensationStarted':
      o.onCompensationStart?.(e.taskId, e.state)
      return
    case 'Compensated':
      o.onCompensated?.(e.taskId, e.state)
      return
    case 'CompensationFailed':
      o.onCompensationFailure?.(e.taskId, e.error, e.state)
      return
    case 'RunCompleted':
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      o.onRunEnd?.(e)
      return
    default:
      return
  }
}

// -------------------------------------------------------------------------------------
// the engine's side (internal)
// -------------------------------------------------------------------------------------

/** @internal The `aroundAttempt` of a run: every observer's, nested; `undefined` when none has one. */
export type AroundAttempt<S extends string = string> = (scope: AttemptScope<S>, start: () => void) => void

/** @internal The observers of one run, once each `forRun` answered. */
export interface RunObservers<S extends string> {
  readonly observers: ReadonlyArray<WorkflowObserver<S>>
  /** The index each of `observers` had in the list given (`undefined`: the same positions). */
  readonly origin: ReadonlyArray<number> | undefined
  /** The `forRun` hooks that threw (reported once the run has started). */
  readonly faults: ReadonlyArray<{ readonly observer: number; readonly thrown: unknown }>
}

/**
 * @internal Asks each observer with a `forRun` for the observer of the run `info` describes; an observer
 * without one observes the run itself. With no `forRun` among them the list is returned as it is.
 */
export const observersForRun = <S extends string>(
  observers: ReadonlyArray<WorkflowObserver<S>>,
  info: () => RunInfo,
): RunObservers<S> => {
  if (!observers.some((o) => o.forRun !== undefined)) return { observers, origin: undefined, faults: [] }
  const run = info()
  const kept: WorkflowObserver<S>[] = []
  const origin: number[] = []
  const faults: { readonly observer: number; readonly thrown: unknown }[] = []
  observers.forEach((o, i) => {
    const forRun = o.forRun
    let chosen: WorkflowObserver<S> | undefined = o
    if (forRun !== undefined) {
      try {
        chosen = forRun(run)
      } catch (thrown: unknown) {
        chosen = undefined
        faults.push({ observer: i, thrown })
      }
    }
    if (chosen === undefined) return
    kept.push(chosen)
    origin.push(i)
  })
  return { observers: kept, origin, faults }
}

/** @internal Where a run's nested `aroundAttempt` reports a hook that threw (the run itself). */
export interface ObserverFaultSink {
  /** Observer `observer` (its index in the workflow's list) threw `thrown`. */
  observerFailed(observer: number, thrown: unknown): void
}

/**
 * @internal The nested `aroundAttempt` of `observers` (`undefined` when none has one), the first observer's
 * hook outermost. A hook that throws is reported to `sink`; `start` runs exactly once whatever the hooks do.
 * One small object and one bound method per run (a run keeps it while it is parked): the hooks are looked
 * up in `observers` on each attempt, not captured in a closure per hook per run.
 */
export const composeAround = <S extends string>(
  observers: ReadonlyArray<WorkflowObserver<S>>,
  origin: ReadonlyArray<number> | undefined,
  sink: ObserverFaultSink,
): AroundAttempt<S> | undefined => {
  let last = -1
  for (let i = 0; i < observers.length; i++)
    if ((observers[i] as WorkflowObserver<S>).aroundAttempt !== undefined) last = i
  if (last < 0) return undefined
  const nested = new NestedAround(observers, origin, sink, last)
  return nested.around.bind(nested)
}

/** See {@link composeAround}. */
class NestedAround<S extends string> {
  constructor(
    private readonly observers: ReadonlyArray<WorkflowObserver<S>>,
    private readonly origin: ReadonlyArray<number> | undefined,
    private readonly sink: ObserverFaultSink,
    /** The index of the last observer with an `aroundAttempt`: its hook gets `start` itself. */
    private readonly last: number,
  ) {}

  around(scope: AttemptScope<S>, start: () => void): void {
    this.from(0, scope, start)
  }

  /** Runs `start` inside the hooks of the observers from index `first` on. */
  private from(first: number, scope: AttemptScope<S>, start: () => void): void {
    for (let i = first; i <= this.last; i++) {
      const hook = (this.observers[i] as WorkflowObserver<S>).aroundAttempt
      if (hook === undefined) continue
      const inner = i === this.last ? start : () => this.from(i + 1, scope, start)
      return this.guarded(hook, scope, inner, this.origin?.[i] ?? i)
    }
    start()
  }

  /** Runs `hook` around `start`, making sure `start` runs once and a throwing hook is only reported. */
  private guarded(hook: AroundAttempt<S>, scope: AttemptScope<S>, start: () => void, index: number): void {
    let started = false
    const once = (): void => {
      if (started) return
      started = true
      start()
    }
    try {
      hook(scope, once)
    } catch (thrown: unknown) {
      this.sink.observerFailed(index, thrown)
    }
    once()
  }
}
