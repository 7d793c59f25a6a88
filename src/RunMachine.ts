/**
 * `RunMachine`: the life of one run as a pure state machine. `step(machine, input)` returns the next
 * machine and the commands the driver (streams/runWorkflow.ts) carries out; nothing here runs a task,
 * touches a store or reads a clock, so every path of a run (each terminal outcome, cancellation,
 * the total timeout and unsubscription in every phase, rollbacks, resumes) is a table test
 * (test/src/RunMachine.test.ts).
 *
 * The phase is a tagged union:
 *
 * - `Created`: nothing has happened yet. `Start` emits `RunStarted` and sets resources up (`SettingUp`)
 *   or begins at once; `Refuse` ends a run that cannot start (`RunFailed` with no state).
 * - `SettingUp`: the workflow's resources are being set up. An interruption here is held (`pending`)
 *   and wins as soon as the setup has settled.
 * - `Entering`: the `StateEntry` row of `current` is being written; `Visiting`: its visit runs.
 * - `Finishing`: a cancellation or the total timeout arrived while a state whose visit must finish was
 *   visited (a saga step: its side effect may land after the signal, and only a finished step goes on
 *   the compensation stack). The run's signal is aborted, but the visit is not released: it settles on
 *   its own (an attempt in flight finishes, bounded by its attempt timeout; no retry starts), then the
 *   interruption it waited on concludes the run, rolling back what the step recorded. A draining
 *   `stream` state (a per-item stream, or a window stream with `flushOnCancel`) finishes the same way:
 *   it flushes and commits its partial window, bounded by its drain budget.
 * - `Producing`: the run reached the exit `current` and the workflow's output is being produced
 *   (src/RunBoundary.ts); only for a workflow with an output declaration. It ends like a visit: the
 *   output produced completes the run, a failure fails it (and rolls back a saga stack).
 * - `RollingBack`: the compensation stack is being undone after a failure; `ClearingLog`: the log of a
 *   completed run (or of a cleanly rolled back one) is being cleared; `TearingDown`: resources are
 *   being torn down. The outcome is decided in these three: interruptions no longer change it.
 * - `Ended`: the terminal event was emitted and the stream completed; `Abandoned`: the run was handed
 *   over (an owned run parked, its lease lost, its runtime stopping: another process or a later claim
 *   continues it, so nothing more is emitted here); `Broken`: the run's own ending broke (a store or
 *   clock that throws) and the stream errors. These absorb every input.
 *
 * The subscriber leaving (`Unsubscribe`: `take`, `takeUntil`, `switchMap`, `timeout()`, a `break` out of
 * `for await`) is a cancellation like the caller's signal: the run ends `RunCancelled` with
 * {@link UNSUBSCRIBED} (its sagas roll back, its resources are torn down) and its observers see that
 * terminal event; only the subscriber that left sees nothing more.
 *
 * Commands carry no payload: what they act on is read from the machine they come with (the state to
 * enter is `current`, the failure to roll back is the `RollingBack` phase's `failure`, and so on), so
 * the driver can collect them in one reusable buffer ({@link transition}) and a transition allocates
 * nothing but the next machine.
 *
 * @since 0.1.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { cancelledError, configurationError, toCanoError, workflowError } from './CanoError.js'
import { rollbackOutcome } from './Saga.js'
import type { TerminalEvent } from './WorkflowEvent.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal How a run that did not complete ended. */
export type RunFailure =
  | { readonly _tag: 'Failed'; readonly error: CanoError }
  | { readonly _tag: 'Cancelled'; readonly error: CanoError }
  | { readonly _tag: 'TimedOut'; readonly error: CanoError }

/** @internal How a run ended. */
export type RunOutcome<S extends string> = { readonly _tag: 'Completed'; readonly state: S } | RunFailure

/** @internal What a state is to the run that enters it. */
export type StateRole = 'Exit' | 'Missing' | 'Visit'

/** @internal A resumed run: where it resumes and whether a rollback was in progress there. */
export interface RunResume<S extends string> {
  /** The state that runs again, or (rolling back) the state whose failure started the rollback. */
  readonly state: S
  /** The compensation stack the log holds is not empty. */
  readonly undo: boolean
  /** The error a rollback in progress started from; `undefined` when the run resumes a state. */
  readonly rollback: CanoError | undefined
}

/**
 * @internal The fixed facts of one run, read by {@link step}. The driver implements it itself (no
 * allocation per run); tests pass plain objects.
 */
export interface RunSetup<S extends string> {
  /** A checkpoint store records the run: a completed run clears its log, a rollback may too. */
  readonly checkpointed: boolean
  /** The run sets the workflow's resources up and tears them down. */
  readonly manageResources: boolean
  /** The caller passed a signal: the run listens to it from its start to its conclusion. */
  readonly listens: boolean
  /** The workflow has a total timeout: it is armed when the run proper begins. */
  readonly timed: boolean
  /** Set when the run resumes a checkpoint log. */
  readonly resumed: RunResume<S> | undefined
  /** Whether `state` is an exit, an unregistered state or a state with a handler. */
  role(state: S): StateRole
  /** Whether entering `state` writes a `StateEntry` row first (asked only when `checkpointed`: `state` is not a router). */
  writesEntry(state: S): boolean
  /** The workflow declares an output: reaching an exit produces it before the run completes. */
  readonly produces: boolean
  /**
   * Whether a visit of `state` in flight finishes before a cancellation or the total timeout concludes
   * the run (a saga step); absent: no state's does.
   */
  finishesVisit?(state: S): boolean
}

/** @internal What every phase knows. */
interface Facts<S extends string> {
  readonly setup: RunSetup<S>
  /** The last state entered (undefined before the first). */
  readonly current: S | undefined
  /** States entered so far. */
  readonly transitions: number
  /** The compensation stack is not empty: a failure rolls back. */
  readonly undo: boolean
}

/** @internal Nothing has happened yet; `pending` is an interruption that came first (a signal aborted before the start). */
export interface Created<S extends string> extends Facts<S> {
  readonly _tag: 'Created'
  readonly pending: RunFailure | undefined
}
/** @internal The resources are being set up; an interruption waits for the setup to settle. */
export interface SettingUp<S extends string> extends Facts<S> {
  readonly _tag: 'SettingUp'
  readonly pending: RunFailure | undefined
  /** The state the run proper begins in. */
  readonly initial: S
}
/** @internal The `StateEntry` row of `current` is being written. */
export interface Entering<S extends string> extends Facts<S> {
  readonly _tag: 'Entering'
  readonly current: S
}
/** @internal The visit of `current` runs. */
export interface Visiting<S extends string> extends Facts<S> {
  readonly _tag: 'Visiting'
  readonly current: S
}
/**
 * @internal A cancellation or the total timeout (`pending`) arrived during the visit of `current`, whose
 * visit finishes first (see the module comment); it concludes the run once the visit settles.
 */
export interface Finishing<S extends string> extends Facts<S> {
  readonly _tag: 'Finishing'
  readonly current: S
  readonly pending: RunFailure
}
/** @internal The run reached the exit `current`; its output is being produced. */
export interface Producing<S extends string> extends Facts<S> {
  readonly _tag: 'Producing'
  readonly current: S
}
/** @internal The compensation stack is being undone after `failure`, recorded at state `at`. */
export interface RollingBack<S extends string> extends Facts<S> {
  readonly _tag: 'RollingBack'
  readonly failure: RunFailure
  /** The state the rollback is recorded at: the failed one (or the one a resumed run was cancelled before entering). */
  readonly at: S
  /** Write a `RollbackStarted` row first (`false` when continuing a rollback found in the log). */
  readonly marker: boolean
  /** Tear resources down afterwards. */
  readonly teardown: boolean
}
/** @internal The run's checkpoint log is being cleared (best effort) before it ends with `outcome`. */
export interface ClearingLog<S extends string> extends Facts<S> {
  readonly _tag: 'ClearingLog'
  readonly outcome: RunOutcome<S>
  readonly teardown: boolean
}
/** @internal The resources are being torn down before the run ends with `outcome`. */
export interface TearingDown<S extends string> extends Facts<S> {
  readonly _tag: 'TearingDown'
  readonly outcome: RunOutcome<S>
}
/** @internal The terminal event of `outcome` was emitted; the stream completed. */
export interface Ended<S extends string> extends Facts<S> {
  readonly _tag: 'Ended'
  readonly outcome: RunOutcome<S>
}
/** @internal The run was handed over; `settingUp`: a setup is still in flight (torn down once it lands). */
export interface Abandoned<S extends string> extends Facts<S> {
  readonly _tag: 'Abandoned'
  readonly reason: CanoError
  readonly settingUp: boolean
}
/** @internal The run's own ending broke: the stream errors with `error`. */
export interface Broken<S extends string> extends Facts<S> {
  readonly _tag: 'Broken'
  readonly error: unknown
}

/**
 * @internal A run's machine: its phase and what it knows.
 */
export type RunMachine<S extends string> =
  | Created<S>
  | SettingUp<S>
  | Entering<S>
  | Visiting<S>
  | Finishing<S>
  | Producing<S>
  | RollingBack<S>
  | ClearingLog<S>
  | TearingDown<S>
  | Ended<S>
  | Abandoned<S>
  | Broken<S>

/** @internal The name of a phase. */
export type RunPhase = RunMachine<string>['_tag']

/** @internal What happens to a run. */
export type RunInput<S extends string> =
  /** Begin the run at `initial` (a resumed run: the state it resumes); options and id were accepted. */
  | { readonly _tag: 'Start'; readonly initial: S }
  /** The run cannot start (bad options, a bad id, a log that would not load). */
  | { readonly _tag: 'Refuse'; readonly error: CanoError }
  | { readonly _tag: 'SetUpDone' }
  | { readonly _tag: 'SetUpFailed'; readonly error: CanoError }
  /** The `StateEntry` row of `current` is durable. */
  | { readonly _tag: 'EntryWritten' }
  | { readonly _tag: 'EntryFailed'; readonly error: CanoError }
  /** The visit of `current` chose `next`. */
  | { readonly _tag: 'VisitSettled'; readonly next: S }
  | { readonly _tag: 'VisitFailed'; readonly error: CanoError }
  /** The output of the exit `current` is produced (and recorded). */
  | { readonly _tag: 'OutputProduced' }
  | { readonly _tag: 'OutputFailed'; readonly error: CanoError }
  /** A saga step went on the compensation stack. */
  | { readonly _tag: 'Recorded' }
  /** The caller's signal fired. */
  | { readonly _tag: 'Cancel'; readonly error: CanoError }
  /** The total timeout fired. */
  | { readonly _tag: 'TimeOut'; readonly error: CanoError }
  /** The subscriber unsubscribed: a cancellation with {@link UNSUBSCRIBED}. */
  | { readonly _tag: 'Unsubscribe' }
  /** The run is handed over (parked, its lease lost, its runtime stopping): it stops here, emitting nothing more. */
  | { readonly _tag: 'Abandon' }
  /** The rollback ran; `errors`: the store and compensation errors it met, in order. */
  | { readonly _tag: 'RolledBack'; readonly errors: ReadonlyArray<CanoError> }
  | { readonly _tag: 'LogCleared' }
  | { readonly _tag: 'TornDown' }
  | { readonly _tag: 'TeardownFailed'; readonly error: unknown }
  /** Carrying out a command threw. */
  | { readonly _tag: 'Threw'; readonly error: unknown }

/**
 * @internal What the driver does. Each reads what it needs from the machine it comes with:
 *
 * - `EmitRunStarted` / `EmitRunResumed`: the run's first events.
 * - `Listen` / `Unlisten`: start / stop listening to the caller's signal (already aborted: a `Cancel`).
 * - `SetUp`: set resources up, then `SetUpDone` or `SetUpFailed`.
 * - `ArmTimeout` / `DisarmTimeout`: the total timeout (fires `TimeOut`).
 * - `Enter`: `current` is entered: it sees the split result published for it, `StateEntered` is emitted
 *   (transition number `transitions - 1`).
 * - `AppendEntry`: write the `StateEntry` row of `current`, then `EntryWritten` or `EntryFailed`.
 * - `StartVisit` / `StopVisit`: visit `current` (`VisitSettled` / `VisitFailed`); release the visit.
 * - `ProduceOutput`: produce the output at the exit `current`, then `OutputProduced` or `OutputFailed`.
 * - `Advance`: `StopVisit`, `Enter`, `StartVisit` as one command (a visit settled on a state with a handler
 *   and no entry row: every transition of most runs).
 * - `Abort`: abort the run's signal with {@link abortReason} (the first reason is kept).
 * - `RollBack` / `StopRollback`: undo the stack (`RolledBack`); stop that.
 * - `ClearLog`: clear the checkpoint log, best effort, then `LogCleared`.
 * - `TearDown`: tear resources down (`TornDown` / `TeardownFailed`).
 * - `EmitTerminal` then `End`: the terminal event of `outcome`, then complete the stream.
 * - `Fail`: error the stream with the `Broken` phase's error.
 */
export type RunCommand =
  | 'EmitRunStarted'
  | 'EmitRunResumed'
  | 'Listen'
  | 'Unlisten'
  | 'SetUp'
  | 'ArmTimeout'
  | 'DisarmTimeout'
  | 'Enter'
  | 'AppendEntry'
  | 'StartVisit'
  | 'StopVisit'
  | 'ProduceOutput'
  | 'Advance'
  | 'Abort'
  | 'RollBack'
  | 'StopRollback'
  | 'ClearLog'
  | 'TearDown'
  | 'EmitTerminal'
  | 'End'
  | 'Fail'

/** @internal Where {@link transition} writes its commands (the driver reuses one per run). */
export interface CommandBuffer {
  push(command: RunCommand): unknown
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The machine of a run that has not started. */
export const createRun = <S extends string>(setup: RunSetup<S>): RunMachine<S> => ({
  _tag: 'Created',
  setup,
  current: undefined,
  transitions: 0,
  undo: setup.resumed?.undo ?? false,
  pending: undefined,
})

/** @internal The input constants (inputs without a payload are shared). */
export const SET_UP_DONE: RunInput<never> = { _tag: 'SetUpDone' }
/** @internal */
export const ENTRY_WRITTEN: RunInput<never> = { _tag: 'EntryWritten' }
/** @internal */
export const RECORDED: RunInput<never> = { _tag: 'Recorded' }
/** @internal */
export const UNSUBSCRIBE: RunInput<never> = { _tag: 'Unsubscribe' }
/** @internal */
export const ABANDON: RunInput<never> = { _tag: 'Abandon' }
/** @internal */
export const LOG_CLEARED: RunInput<never> = { _tag: 'LogCleared' }
/** @internal */
export const TORN_DOWN: RunInput<never> = { _tag: 'TornDown' }
/** @internal */
export const OUTPUT_PRODUCED: RunInput<never> = { _tag: 'OutputProduced' }

/** @internal The outcome a rollback found in a log stands for (by the error that started it). */
export const failureOf = (error: CanoError): RunFailure =>
  error._tag === 'Cancelled'
    ? { _tag: 'Cancelled', error }
    : error._tag === 'WorkflowTimeout'
      ? { _tag: 'TimedOut', error }
      : { _tag: 'Failed', error }

// -------------------------------------------------------------------------------------
// terminal mapping
// -------------------------------------------------------------------------------------

/**
 * @internal One row per way a run ends: its outcome, its terminal event and its `RunStatus`. The
 * driver builds terminal events from it and `RunState` (src/RunState.ts) reads statuses from it, so
 * the two cannot drift.
 */
export const TERMINALS = {
  Completed: { event: 'RunCompleted', status: 'completed' },
  Failed: { event: 'RunFailed', status: 'failed' },
  Cancelled: { event: 'RunCancelled', status: 'cancelled' },
  TimedOut: { event: 'RunTimedOut', status: 'timedOut' },
} as const satisfies Record<RunOutcome<string>['_tag'], { event: TerminalEvent['_tag']; status: string }>

/** @internal The status of a run that ended. */
export type TerminalStatus = (typeof TERMINALS)[keyof typeof TERMINALS]['status']

/** @internal The status of a run that ended with the terminal event `tag`. */
export const terminalStatus: { readonly [K in TerminalEvent['_tag']]: TerminalStatus } = {
  RunCompleted: TERMINALS.Completed.status,
  RunFailed: TERMINALS.Failed.status,
  RunCancelled: TERMINALS.Cancelled.status,
  RunTimedOut: TERMINALS.TimedOut.status,
}

/**
 * @internal The terminal event of `outcome`; a completed run carries `output` when there is one (encoded),
 * a failed one the attempts its failed task made (`attempt`, when a task failed).
 */
export const terminalEvent = <S extends string>(
  outcome: RunOutcome<S>,
  workflowId: string,
  at: number,
  state: S | undefined,
  transitions: number,
  output?: JsonValue,
  attempt?: number,
): TerminalEvent<S> => {
  switch (outcome._tag) {
    case 'Completed':
      return output === undefined
        ? { _tag: TERMINALS.Completed.event, workflowId, at, state: outcome.state, transitions }
        : { _tag: TERMINALS.Completed.event, workflowId, at, state: outcome.state, transitions, output }
    case 'Failed':
      return attempt === undefined
        ? { _tag: TERMINALS.Failed.event, workflowId, at, state, error: outcome.error, transitions }
        : { _tag: TERMINALS.Failed.event, workflowId, at, state, error: outcome.error, transitions, attempt }
    case 'Cancelled':
      return { _tag: TERMINALS.Cancelled.event, workflowId, at, state, error: outcome.error, transitions }
    case 'TimedOut':
      return { _tag: TERMINALS.TimedOut.event, workflowId, at, state, error: outcome.error, transitions }
  }
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** @internal The outcome is decided: interruptions no longer change it. */
export const isConcluded = (m: RunMachine<string>): boolean => {
  switch (m._tag) {
    case 'Created':
    case 'SettingUp':
    case 'Entering':
    case 'Visiting':
    case 'Finishing':
    case 'Producing':
      return false
    default:
      return true
  }
}

/** @internal Nothing more is emitted (the stream completed, errored or lost its subscriber). */
export const isClosed = (m: RunMachine<string>): boolean =>
  m._tag === 'Ended' || m._tag === 'Abandoned' || m._tag === 'Broken'

/** @internal Why the run's signal aborts when `Abort` is carried out on `m`. */
export const abortReason = (m: RunMachine<string>): CanoError => {
  switch (m._tag) {
    case 'Abandoned':
      return m.reason
    case 'RollingBack':
      return m.failure.error
    case 'ClearingLog':
    case 'TearingDown':
    case 'Ended':
      return m.outcome._tag === 'Completed' ? ABANDONED : m.outcome.error
    case 'Created':
    case 'SettingUp':
      return m.pending?.error ?? ABANDONED
    case 'Finishing':
      return m.pending.error
    default:
      return ABANDONED
  }
}

/**
 * @internal The error of a run whose subscriber left: `RunCancelled` carries it, and the in-flight task's
 * signal aborts with it.
 */
export const UNSUBSCRIBED: CanoError = cancelledError('run unsubscribed (the subscriber left)')

/** Why the signal of a run handed over (parked, its lease lost, its runtime stopping) aborts. */
const ABANDONED: CanoError = cancelledError('run handed over: it continues in another process or a later claim')

/**
 * @internal The status a run's snapshot shows in phase `m`: `pending` before it starts, `running` until
 * its terminal event, then the status of its outcome ({@link TERMINALS}). A run handed over is
 * `cancelled` here; one whose ending broke, `failed`.
 */
export const runStatus = (m: RunMachine<string>): 'pending' | 'running' | TerminalStatus => {
  switch (m._tag) {
    case 'Created':
      return 'pending'
    case 'Ended':
      return TERMINALS[m.outcome._tag].status
    case 'Abandoned':
      return TERMINALS.Cancelled.status
    case 'Broken':
      return TERMINALS.Failed.status
    default:
      return 'running'
  }
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * @internal The pure step: the next machine and its commands, in the order they are carried out.
 * Allocates the command list; the driver uses {@link transition}.
 */
export const step = <S extends string>(
  m: RunMachine<S>,
  input: RunInput<S>,
): readonly [RunMachine<S>, ReadonlyArray<RunCommand>] => {
  const out: RunCommand[] = []
  const next = transition(m, input, out)
  return [next, out]
}

/**
 * @internal {@link step}, writing the commands into `out` (the driver's reusable buffer). An input a
 * phase does not expect (a visit settling after the run was cancelled, a second teardown result) leaves
 * the machine as it is and issues nothing.
 */
export const transition = <S extends string>(
  m: RunMachine<S>,
  input: RunInput<S>,
  out: CommandBuffer,
): RunMachine<S> => {
  // a fault while the terminal event is built: the stream errors instead of completing
  if (m._tag === 'Ended' && input._tag === 'Threw') return broken(m, input.error, out)
  if (isClosed(m)) {
    // a setup that lands after the run was handed over: what it set up is torn down
    if (m._tag === 'Abandoned' && m.settingUp && input._tag === 'SetUpDone') {
      out.push('TearDown')
      return { ...m, settingUp: false }
    }
    if (m._tag === 'Abandoned' && m.settingUp && input._tag === 'SetUpFailed') return { ...m, settingUp: false }
    return m
  }
  switch (input._tag) {
    case 'Start':
      return m._tag === 'Created' ? start(m, input.initial, out) : m
    case 'Refuse':
      return m._tag === 'Created' ? end(m, { _tag: 'Failed', error: input.error }, out) : m
    case 'SetUpDone':
      return m._tag === 'SettingUp' ? begin(m, m.initial, m.pending, out) : m
    case 'SetUpFailed':
      // a failed setup rolled back what it had set up: nothing to tear down, nothing to roll back
      return m._tag === 'SettingUp'
        ? conclude(m, m.pending ?? { _tag: 'Failed', error: input.error }, false, false, out)
        : m
    case 'EntryWritten':
      return m._tag === 'Entering' ? visit(m.setup, m.current, m.transitions, m.undo, out) : m
    case 'EntryFailed':
      return m._tag === 'Entering' ? conclude(m, { _tag: 'Failed', error: input.error }, true, true, out) : m
    case 'VisitSettled':
      return settle(m, input.next, out)
    case 'VisitFailed':
      // a visit that finishes after an interruption ends the run with that interruption, whatever it did
      return m._tag === 'Visiting'
        ? conclude(m, { _tag: 'Failed', error: input.error }, true, true, out)
        : m._tag === 'Finishing'
          ? conclude(m, m.pending, true, true, out)
          : m
    case 'OutputProduced':
      return m._tag === 'Producing' ? conclude(m, { _tag: 'Completed', state: m.current }, true, true, out) : m
    case 'OutputFailed':
      return m._tag === 'Producing' ? conclude(m, { _tag: 'Failed', error: input.error }, true, true, out) : m
    case 'Recorded':
      return m.undo || isConcluded(m) ? m : withUndo(m)
    case 'Cancel':
      return interrupt(m, { _tag: 'Cancelled', error: input.error }, out)
    case 'TimeOut':
      return interrupt(m, { _tag: 'TimedOut', error: input.error }, out)
    case 'Unsubscribe':
      return interrupt(m, { _tag: 'Cancelled', error: UNSUBSCRIBED }, out)
    case 'Abandon':
      return abandon(m, out)
    case 'RolledBack': {
      if (m._tag !== 'RollingBack') return m
      const { error, clearLog } = rollbackOutcome(m.failure.error, input.errors)
      const final: RunFailure = { _tag: m.failure._tag, error }
      // a clean rollback leaves nothing to recover: its log is cleared (without a store there is none)
      return clearLog && m.setup.checkpointed
        ? clearing(m, final, m.teardown, out)
        : teardownThenEnd(m, final, m.teardown, out)
    }
    case 'LogCleared':
      return m._tag === 'ClearingLog' ? teardownThenEnd(m, m.outcome, m.teardown, out) : m
    case 'TornDown':
      return m._tag === 'TearingDown' ? end(m, m.outcome, out) : m
    case 'TeardownFailed':
      return m._tag === 'TearingDown' ? broken(m, input.error, out) : m
    case 'Threw':
      // a fault before the outcome is decided fails the run; one in its ending breaks the stream
      return isConcluded(m)
        ? broken(m, input.error, out)
        : m._tag === 'Created'
          ? end(m, { _tag: 'Failed', error: toCanoError(input.error) }, out)
          : conclude(m, { _tag: 'Failed', error: toCanoError(input.error) }, m._tag !== 'SettingUp', true, out)
  }
}

/**
 * @internal The common transition of a run: a visit settled on `next`, a state with a handler whose entry
 * writes no row first. Its one command is `Advance` (release the visit, enter `next`, visit it), so it is
 * given as the next `Visiting` machine alone; `undefined` when the step is any other (use {@link settle}).
 */
export const advanced = <S extends string>(m: RunMachine<S>, next: S): Visiting<S> | undefined => {
  if (!advances(m, next)) return undefined
  return { _tag: 'Visiting', setup: m.setup, current: next, transitions: m.transitions + 1, undo: m.undo }
}

/** Whether settling `m` on `next` is the common transition of {@link advanced}. */
const advances = <S extends string>(m: RunMachine<S>, next: S): m is Visiting<S> => {
  if (m._tag !== 'Visiting') return false
  const { setup } = m
  return !(setup.checkpointed && setup.writesEntry(next)) && setup.role(next) === 'Visit'
}

/** @internal A `Visiting` machine whose owner may update it in place (see {@link advanceOwned}). */
interface OwnedVisiting<S extends string> {
  current: S
  transitions: number
}

/**
 * @internal {@link advanced} written into `m` itself: `true` when the step was the common transition and
 * `m` now is the machine `advanced` would have returned; `false` (and `m` untouched) otherwise.
 *
 * The rule it relies on: only a driver that holds the sole reference to `m` may call it (the run driver
 * in streams/runWorkflow.ts keeps its machine in one private field and hands it to nobody). A run
 * changes state hundreds of thousands of times a second; this keeps its common transition free of
 * allocation. test/src/RunMachine.test.ts checks it against {@link step}.
 */
export const advanceOwned = <S extends string>(m: RunMachine<S>, next: S): boolean => {
  if (!advances(m, next)) return false
  const owned: OwnedVisiting<S> = m
  owned.current = next
  owned.transitions = m.transitions + 1
  return true
}

/**
 * @internal {@link transition} for `VisitSettled` (the input of every transition of a run), without the
 * input object.
 */
export const settle = <S extends string>(m: RunMachine<S>, next: S, out: CommandBuffer): RunMachine<S> => {
  // the visit an interruption waited on finished: the interruption concludes the run (a saga step that
  // finished was recorded first, so it is rolled back)
  if (m._tag === 'Finishing') return conclude(m, m.pending, true, true, out)
  if (m._tag !== 'Visiting') return m
  const common = advanced(m, next)
  if (common !== undefined) {
    out.push('Advance')
    return common
  }
  // release what the finished visit still holds before the next one starts
  out.push('StopVisit')
  return enter(m, next, out)
}

/** `Start`: the first events, then the resources (or the run proper at once). */
const start = <S extends string>(m: Created<S>, initial: S, out: CommandBuffer): RunMachine<S> => {
  const { setup } = m
  // a resumed rollback runs no state: the failed one may even be gone from the definition
  if (setup.resumed?.rollback === undefined && setup.role(initial) === 'Missing')
    return end(
      m,
      {
        _tag: 'Failed',
        error: configurationError(`Initial state ${JSON.stringify(initial)} is neither registered nor an exit state`),
      },
      out,
    )
  out.push('EmitRunStarted')
  if (setup.resumed !== undefined) out.push('EmitRunResumed')
  if (setup.listens) out.push('Listen')
  if (!setup.manageResources) return begin(m, initial, m.pending, out)
  out.push('SetUp')
  return {
    _tag: 'SettingUp',
    setup,
    current: m.current,
    transitions: m.transitions,
    undo: m.undo,
    pending: m.pending,
    initial,
  }
}

/** The resources are up: a rollback in progress continues, an interruption that waited wins, else the first state. */
const begin = <S extends string>(
  m: Created<S> | SettingUp<S>,
  initial: S,
  pending: RunFailure | undefined,
  out: CommandBuffer,
): RunMachine<S> => {
  const { setup } = m
  const resumed = setup.resumed
  if (resumed?.rollback !== undefined) {
    // the run crashed while rolling back: continue that rollback, run no state
    const at: Facts<S> = { setup, current: resumed.state, transitions: m.transitions, undo: m.undo }
    return conclude(at, failureOf(resumed.rollback), true, false, out)
  }
  if (pending !== undefined) {
    out.push('Abort')
    return conclude(m, pending, true, false, out)
  }
  if (setup.timed) out.push('ArmTimeout')
  return enter(m, initial, out)
}

/** Enters `state`: `StateEntered`, then its entry row or its visit. */
const enter = <S extends string>(m: Facts<S>, state: S, out: CommandBuffer): RunMachine<S> => {
  out.push('Enter')
  const { setup } = m
  const transitions = m.transitions + 1
  if (setup.checkpointed && setup.writesEntry(state)) {
    out.push('AppendEntry')
    return { _tag: 'Entering', setup, current: state, transitions, undo: m.undo }
  }
  return visit(setup, state, transitions, m.undo, out)
}

/** Visits `state` (its entry row, if any, is durable): an exit completes the run, an unknown state fails it. */
const visit = <S extends string>(
  setup: RunSetup<S>,
  state: S,
  transitions: number,
  undo: boolean,
  out: CommandBuffer,
): RunMachine<S> => {
  const role = setup.role(state)
  if (role === 'Visit') {
    out.push('StartVisit')
    return { _tag: 'Visiting', setup, current: state, transitions, undo }
  }
  if (role === 'Exit' && setup.produces) {
    out.push('ProduceOutput')
    return { _tag: 'Producing', setup, current: state, transitions, undo }
  }
  const at: Facts<S> = { setup, current: state, transitions, undo }
  return role === 'Exit'
    ? conclude(at, { _tag: 'Completed', state }, true, true, out)
    : conclude(
        at,
        { _tag: 'Failed', error: workflowError(`No task registered for state: ${JSON.stringify(state)}`, state) },
        true,
        true,
        out,
      )
}

/** Cancellation or the total timeout: held before the run proper begins, decisive while it runs, ignored after. */
const interrupt = <S extends string>(m: RunMachine<S>, failure: RunFailure, out: CommandBuffer): RunMachine<S> => {
  switch (m._tag) {
    case 'Created':
      return m.pending === undefined ? { ...m, pending: failure } : m
    case 'SettingUp':
      return m.pending === undefined ? { ...m, pending: failure } : m
    case 'Visiting':
      if (m.setup.finishesVisit?.(m.current) === true) {
        // the visit finishes first: the run's signal aborts (no retry, no wait for a limiter starts), the
        // attempt in flight goes on
        const finishing: Finishing<S> = {
          _tag: 'Finishing',
          setup: m.setup,
          current: m.current,
          transitions: m.transitions,
          undo: m.undo,
          pending: failure,
        }
        out.push('Abort')
        return finishing
      }
      out.push('Abort')
      return conclude(m, failure, true, true, out)
    case 'Entering':
    case 'Producing':
      // abort before releasing: attempt signals unlink from the run signal when they are released
      out.push('Abort')
      return conclude(m, failure, true, true, out)
    default:
      return m
  }
}

/**
 * The outcome is decided: release the visit and the interruptions, then roll back, clear the log or
 * tear down. `running`: the resources are up (and the run proper began, when `begun`).
 */
const conclude = <S extends string>(
  m: Facts<S> & { readonly _tag?: RunPhase },
  outcome: RunOutcome<S>,
  running: boolean,
  begun: boolean,
  out: CommandBuffer,
): RunMachine<S> => {
  const { setup } = m
  if (m._tag === 'Visiting' || m._tag === 'Finishing') out.push('StopVisit')
  if (setup.listens) out.push('Unlisten')
  if (begun && setup.timed) out.push('DisarmTimeout')
  const teardown = running && setup.manageResources
  if (outcome._tag === 'Completed')
    // an exit state clears the log (best effort)
    return setup.checkpointed ? clearing(m, outcome, teardown, out) : teardownThenEnd(m, outcome, teardown, out)
  // a failure with nothing to undo keeps the log, so the run can be resumed; so does a failed setup
  const at = m.current ?? setup.resumed?.state
  if (!running || at === undefined || !(m.undo || setup.resumed?.rollback !== undefined))
    return teardownThenEnd(m, outcome, teardown, out)
  // compensation runs before teardown: the compensators still have their resources
  out.push('RollBack')
  return {
    _tag: 'RollingBack',
    setup,
    current: m.current,
    transitions: m.transitions,
    undo: m.undo,
    failure: outcome,
    at,
    marker: setup.resumed?.rollback === undefined,
    teardown,
  }
}

const clearing = <S extends string>(
  m: Facts<S>,
  outcome: RunOutcome<S>,
  teardown: boolean,
  out: CommandBuffer,
): RunMachine<S> => {
  out.push('ClearLog')
  return {
    _tag: 'ClearingLog',
    setup: m.setup,
    current: m.current,
    transitions: m.transitions,
    undo: m.undo,
    outcome,
    teardown,
  }
}

const teardownThenEnd = <S extends string>(
  m: Facts<S>,
  outcome: RunOutcome<S>,
  teardown: boolean,
  out: CommandBuffer,
): RunMachine<S> => {
  if (!teardown) return end(m, outcome, out)
  out.push('TearDown')
  return { _tag: 'TearingDown', setup: m.setup, current: m.current, transitions: m.transitions, undo: m.undo, outcome }
}

const end = <S extends string>(m: Facts<S>, outcome: RunOutcome<S>, out: CommandBuffer): RunMachine<S> => {
  out.push('EmitTerminal')
  out.push('End')
  return { _tag: 'Ended', setup: m.setup, current: m.current, transitions: m.transitions, undo: m.undo, outcome }
}

const broken = <S extends string>(m: Facts<S>, error: unknown, out: CommandBuffer): RunMachine<S> => {
  out.push('Fail')
  return { _tag: 'Broken', setup: m.setup, current: m.current, transitions: m.transitions, undo: m.undo, error }
}

/** The run is handed over: abort it, stop what runs, tear resources down (nothing more is emitted, nothing rolls back). */
const abandon = <S extends string>(m: RunMachine<S>, out: CommandBuffer): RunMachine<S> => {
  const { setup } = m
  let settingUp = false
  let teardown = false
  switch (m._tag) {
    case 'Created':
      break
    case 'SettingUp':
      out.push('Abort')
      if (setup.listens) out.push('Unlisten')
      settingUp = true
      break
    case 'Entering':
    case 'Visiting':
    case 'Finishing':
    case 'Producing':
      out.push('Abort')
      if (m._tag === 'Visiting' || m._tag === 'Finishing') out.push('StopVisit')
      if (setup.listens) out.push('Unlisten')
      if (setup.timed) out.push('DisarmTimeout')
      teardown = setup.manageResources
      break
    case 'RollingBack':
      out.push('Abort')
      out.push('StopRollback')
      teardown = m.teardown
      break
    case 'ClearingLog':
      out.push('Abort')
      teardown = m.teardown
      break
    case 'TearingDown':
      // the teardown in flight finishes on its own
      out.push('Abort')
      break
    default:
      return m
  }
  if (teardown) out.push('TearDown')
  return {
    _tag: 'Abandoned',
    setup,
    current: m.current,
    transitions: m.transitions,
    undo: m.undo,
    reason: ABANDONED,
    settingUp,
  }
}

const withUndo = <S extends string>(m: RunMachine<S>): RunMachine<S> => ({ ...m, undo: true })
