/**
 * `resumePoint`: where a crashed run continues, computed purely from its checkpoint log (cano's
 * `resume_from`, with cano-rx's differences). The run resumes at the state of the
 * row with the highest `seq` (its task runs again: tasks must be idempotent); `seq` continues at
 * last + 1; a `stepped` state continues from the last cursor persisted since its last entry (never
 * a stale cursor from an earlier visit), a `sleep` state waits only for what is left of its
 * persisted wake-up instant. A run recorded under another workflow version is refused unless a
 * migration maps its state.
 *
 * Sagas: the compensation stack is rebuilt from the `CompensationCompletion` rows, oldest first. When
 * the last row is a completion, that state's forward step runs again (`Supersedes`): its entry row names
 * the completion it replaces (`{ supersedes: seq }`), and the old completion stays on the stack until the
 * re-run's own completion is recorded (the driver then swaps the two). So a re-run that fails, or a run
 * cancelled before the re-run finished, still compensates the step that had committed, once. A
 * completion leaves the stack only when replaced: a later completion of the visit whose entry row
 * superseded it. When the log holds
 * a `RollbackStarted` row the run crashed while rolling back: it resumes the rollback, not a state,
 * with the original error decoded from that row and only the entries that have no `CompensationDone`
 * row yet.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import { type CanoError, CanoErrorCodec } from '../codecs/CanoError.js'
import type {
  CheckpointKind,
  CheckpointPayloads,
  CheckpointRow,
  CursorPayload,
  EncodedCanoError,
  JsonValue,
  PollPosition,
  RunNotesPayload,
  StateEntryPayload,
  StreamPayload,
  TimerPayload,
} from '../codecs/CheckpointRow.js'
import { checkpointStoreError, decodeFailedError, workflowError, workflowVersionMismatchError } from './CanoError.js'
import type { CompensationEntry } from './Saga.js'
import type { StreamPosition } from './Stream.js'
import type { RunResumed } from './WorkflowEvent.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a resumed state continues from: nothing (it starts afresh), the last persisted cursor of a
 * `stepped` state, the persisted wake-up instant of a `sleep` state (or of a `poll` state's durable
 * delay, with where its loop stood), the position of a `stream` state, or, for a `saga` state whose
 * completion was the log's last row, the `seq` of that completion (the state runs forward again and its
 * fresh completion replaces that row).
 *
 * @example
 * import type { Continuation } from 'cano-rx'
 * const c: Continuation = { _tag: 'Cursor', cursor: { page: 4 }, step: 4 }
 * const polling: Continuation = { _tag: 'Timer', wakeAt: 1_700_003_600_000, poll: { polls: 4, errors: 0, attempt: 1, deadlineAt: null } }
 * @category model
 * @since 0.2.0
 */
export type Continuation =
  | { readonly _tag: 'Fresh' }
  | { readonly _tag: 'Cursor'; readonly cursor: JsonValue; readonly step: number }
  | { readonly _tag: 'Timer'; readonly wakeAt: number; readonly poll?: PollPosition }
  | { readonly _tag: 'Stream'; readonly position: StreamPosition; readonly itemCursor?: JsonValue }
  | { readonly _tag: 'Supersedes'; readonly seq: number }

/**
 * Resume a state: it runs again, continuing from {@link Continuation}.
 *
 * @example
 * import type { ResumeState } from 'cano-rx'
 * const p: ResumeState<'Scan'> = {
 *   _tag: 'State', state: 'Scan', fromSeq: 7, nextSeq: 8, version: 1,
 *   continues: { _tag: 'Cursor', cursor: { page: 4 }, step: 4 },
 *   stack: [{ state: 'Charge', taskId: 'Charge', encoded: { chargeId: 'ch_1' }, seq: 2 }],
 * }
 * @category model
 * @since 0.2.0
 */
export interface ResumeState<S extends string> {
  readonly _tag: 'State'
  /** The state that runs again. */
  readonly state: S
  /** `seq` of the last row. */
  readonly fromSeq: number
  /** The next row's `seq`. */
  readonly nextSeq: number
  /** The version the run was recorded under. */
  readonly version: number
  /** Where the state continues from. */
  readonly continues: Continuation
  /** The compensation stack, oldest first: the saga steps to undo if the run fails. */
  readonly stack: ReadonlyArray<CompensationEntry>
  /** What the run's observers noted in its first row (`RunNotesPayload`); absent when they noted nothing. @since 0.3.0 */
  readonly notes?: RunNotes
}

/**
 * Resume a rollback in progress: the run crashed while rolling back, so it runs no state and undoes
 * what is left of its stack.
 *
 * @example
 * import { taskExecutionError, type ResumeRollback } from 'cano-rx'
 * const p: ResumeRollback<'Ship'> = {
 *   _tag: 'Rollback', state: 'Ship', fromSeq: 10, nextSeq: 11, version: 1,
 *   rollback: { error: taskExecutionError('ship failed'), seq: 9 }, stack: [],
 * }
 * @category model
 * @since 0.2.0
 */
export interface ResumeRollback<S extends string> {
  readonly _tag: 'Rollback'
  /** The state that failed, as recorded (it need not exist in this version of the definition). */
  readonly state: S
  /** `seq` of the last row. */
  readonly fromSeq: number
  /** The next row's `seq`. */
  readonly nextSeq: number
  /** The version the run was recorded under. */
  readonly version: number
  /** The rollback's marker: the error that started it and the marker row's `seq`. */
  readonly rollback: RollbackPoint
  /** The compensations still to undo, oldest first. */
  readonly stack: ReadonlyArray<CompensationEntry>
  /** What the run's observers noted in its first row (`RunNotesPayload`); absent when they noted nothing. @since 0.3.0 */
  readonly notes?: RunNotes
}

/**
 * The notes a run's observers kept with it (`WorkflowObserver.note`), by key: written in the run's first
 * checkpoint row, read back when the run is resumed.
 *
 * @example
 * import type { RunNotes } from 'cano-rx'
 * const notes: RunNotes = { otel: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } }
 * @category model
 * @since 0.3.0
 */
export type RunNotes = RunNotesPayload['notes']

/**
 * Where and how a run resumes: a state ({@link ResumeState}) or a rollback in progress
 * ({@link ResumeRollback}).
 *
 * @example
 * import type { ResumePoint } from 'cano-rx'
 * const p: ResumePoint<'Scan'> = {
 *   _tag: 'State', state: 'Scan', fromSeq: 7, nextSeq: 8, version: 1, continues: { _tag: 'Fresh' }, stack: [],
 * }
 * @category model
 * @since 0.1.0
 */
export type ResumePoint<S extends string> = ResumeState<S> | ResumeRollback<S>

/**
 * A rollback in progress, found in a run's log: the error that started it (decoded from its
 * `RollbackStarted` row) and that row's `seq`.
 *
 * @example
 * import { taskExecutionError, type RollbackPoint } from 'cano-rx'
 * const p: RollbackPoint = { error: taskExecutionError('ship failed'), seq: 9 }
 * @category model
 * @since 0.1.0
 */
export interface RollbackPoint {
  readonly error: CanoError
  readonly seq: number
}

/**
 * Maps a state recorded under an older version to a state of this version (key: the old version).
 *
 * @example
 * import type { Migrations } from 'cano-rx'
 * const m: Migrations<'Fetch' | 'Done'> = { 1: (old) => (old === 'Download' ? 'Fetch' : 'Done') }
 * @category model
 * @since 0.1.0
 */
export type Migrations<S extends string> = { readonly [fromVersion: number]: (storedState: string) => S }

// -------------------------------------------------------------------------------------
// rows the driver writes
// -------------------------------------------------------------------------------------

/**
 * @internal What the driver hands the store, before the run fills in the envelope (id, seq, state,
 * task id, version, time): a row kind and its typed payload.
 */
export type RowDraft = { readonly [K in CheckpointKind]: RowDraftOf<K> }[CheckpointKind]

/** @internal A {@link RowDraft} of one kind. */
export interface RowDraftOf<K extends CheckpointKind> {
  readonly kind: K
  readonly payload: CheckpointPayloads[K]
}

const FRESH_ENTRY: RowDraftOf<'StateEntry'> = { kind: 'StateEntry', payload: null }

/** @internal The payload a resumed state's entry row records: what it continues from. */
export const entryPayload = (from: Continuation): StateEntryPayload => {
  switch (from._tag) {
    case 'Fresh':
      return null
    case 'Cursor':
      return { cursor: from.cursor, step: from.step }
    case 'Timer':
      return timerPayload(from.wakeAt, from.poll)
    case 'Stream':
      return streamPayload(from.position, from.itemCursor)
    case 'Supersedes':
      return { supersedes: from.seq }
  }
}

/** @internal A `StateEntry` row: `null` for a fresh visit, what the resume state continues from otherwise. */
export const stateEntry = (from: Continuation | undefined): RowDraftOf<'StateEntry'> =>
  from === undefined || from._tag === 'Fresh' ? FRESH_ENTRY : { kind: 'StateEntry', payload: entryPayload(from) }

/** @internal The first row of a run whose observers keep notes: its initial state's entry, carrying them. */
export const notedEntry = (notes: RunNotes): RowDraftOf<'StateEntry'> => ({ kind: 'StateEntry', payload: { notes } })

/** @internal A `StepCursor` row: a `stepped` state's encoded cursor after step `step`. */
export const stepCursor = (cursor: JsonValue, step: number): RowDraftOf<'StepCursor'> => ({
  kind: 'StepCursor',
  payload: { cursor, step },
})

/** A timer payload: the wake-up instant, and a poll's position when there is one. */
const timerPayload = (wakeAt: number, poll: PollPosition | undefined): TimerPayload =>
  poll === undefined ? { wakeAt } : { wakeAt, poll }

/**
 * @internal A `TimerArmed` row: a `sleep` state's wake-up instant, or a `poll` state's durable delay
 * with where its loop stood.
 */
export const timerArmed = (wakeAt: number, poll?: PollPosition): RowDraftOf<'TimerArmed'> => ({
  kind: 'TimerArmed',
  payload: timerPayload(wakeAt, poll),
})

/** @internal A `StreamWindow` row: a `stream` state's position after a window. */
export const streamWindow = (at: StreamPosition, itemCursor?: JsonValue): RowDraftOf<'StreamWindow'> => ({
  kind: 'StreamWindow',
  payload: streamPayload(at, itemCursor),
})

/** A stream payload: the position, and a per-item stream's committed cursor when there is one. */
const streamPayload = (at: StreamPosition, itemCursor: JsonValue | undefined): StreamPayload =>
  itemCursor === undefined
    ? { windows: at.windows, items: at.items }
    : { windows: at.windows, items: at.items, itemCursor }

/** The continuation a stream payload stands for. */
const fromStream = (p: StreamPayload): Continuation =>
  p.itemCursor === undefined
    ? { _tag: 'Stream', position: { windows: p.windows, items: p.items } }
    : { _tag: 'Stream', position: { windows: p.windows, items: p.items }, itemCursor: p.itemCursor }

/** @internal A `CompensationCompletion` row: a saga step's encoded output. */
export const compensationCompletion = (encoded: JsonValue): RowDraftOf<'CompensationCompletion'> => ({
  kind: 'CompensationCompletion',
  payload: encoded,
})

/** @internal A `RollbackStarted` row: the error that starts the rollback, encoded. */
export const rollbackStarted = (error: CanoError): RowDraftOf<'RollbackStarted'> => ({
  kind: 'RollbackStarted',
  payload: encodeError(error),
})

/** @internal A `CompensationDone` row: the compensation of the completion at `undid` ran. */
export const compensationDone = (undid: number): RowDraftOf<'CompensationDone'> => ({
  kind: 'CompensationDone',
  payload: { undid },
})

/** @internal The whole row of `draft`. */
export const checkpointRow = (
  draft: RowDraft,
  workflowId: string,
  seq: number,
  state: string,
  taskId: string,
  version: number,
  at: number,
): CheckpointRow =>
  // the envelope is kind-independent: pairing `draft.kind` with `draft.payload` keeps the union's tag
  ({ workflowId, seq, kind: draft.kind, state, taskId, payload: draft.payload, version, at }) as CheckpointRow

/**
 * @internal The error as `CanoErrorCodec` encodes it, round-tripped through JSON; when that is not a
 * JSON value that decodes back (a `cause` that does not serialise, a non-finite number), its tag-free
 * essence: a `Generic` error with the same message.
 */
export const encodeError = (error: CanoError): EncodedCanoError => {
  try {
    const json: unknown = JSON.parse(JSON.stringify(CanoErrorCodec.encode(error)))
    if (E.isRight(CanoErrorCodec.decode(json))) return json as EncodedCanoError
  } catch {
    // falls through to the plain form
  }
  return { _tag: 'Generic', message: error.message }
}

// -------------------------------------------------------------------------------------
// reading rows
// -------------------------------------------------------------------------------------

/** The error a `RollbackStarted` row recorded (the row codec checked that it decodes). */
const rollbackError = (workflowId: string, row: CheckpointRow & { readonly kind: 'RollbackStarted' }): CanoError => {
  const decoded = CanoErrorCodec.decode(row.payload)
  return E.isRight(decoded)
    ? decoded.right
    : decodeFailedError(
        'CanoError',
        PathReporter.report(decoded),
        `rollback marker of workflow ${JSON.stringify(workflowId)} at sequence ${row.seq}`,
      )
}

const FRESH: Continuation = { _tag: 'Fresh' }

/**
 * What is wrong with a run's log as a whole, if anything: its rows must be numbered 0, 1, 2, … (a store
 * hands them ascending; every log starts at 0 and grows by one, and only a clear removes rows, all of them).
 */
const brokenLog = (workflowId: string, rows: ReadonlyArray<CheckpointRow>): CanoError | undefined => {
  for (let i = 0; i < rows.length; i++) {
    const seq = (rows[i] as CheckpointRow).seq
    if (seq !== i)
      return checkpointStoreError(
        `the checkpoint log of workflow id ${JSON.stringify(workflowId)} is not whole: ${
          seq > i
            ? `sequence ${i === seq - 1 ? String(i) : `${String(i)} to ${String(seq - 1)}`} missing before ${String(seq)}`
            : `sequence ${String(seq)} out of order at position ${String(i)}`
        } (a log is dense from 0; rows were removed or the store returned them out of order)`,
      )
  }
  return undefined
}

/**
 * What an entry row's payload says its state continues from: a `supersedes` note is an earlier resume's
 * re-run that did not finish (its completion would be a later row), so this visit replaces the same
 * completion.
 */
const fromEntry = (p: StateEntryPayload): Continuation => {
  if (p !== null && 'supersedes' in p) return { _tag: 'Supersedes', seq: p.supersedes }
  if (p === null || 'notes' in p) return FRESH
  if ('cursor' in p) return fromCursor(p)
  if ('wakeAt' in p) return fromTimer(p)
  return fromStream(p)
}

/** The notes of a run's first row, if it has any. */
const notesOf = (p: StateEntryPayload): RunNotes | undefined => (p !== null && 'notes' in p ? p.notes : undefined)

const fromCursor = (p: CursorPayload): Continuation => ({ _tag: 'Cursor', cursor: p.cursor, step: p.step })

const fromTimer = (p: TimerPayload): Continuation =>
  p.poll === undefined ? { _tag: 'Timer', wakeAt: p.wakeAt } : { _tag: 'Timer', wakeAt: p.wakeAt, poll: p.poll }

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Computes the {@link ResumePoint} of a run from its rows (ascending by `seq`, decoded by the store).
 * Errors: no rows (`CheckpointStore`), another version without a migration (`WorkflowVersionMismatch`),
 * a state that is neither registered nor an exit (`Workflow`).
 *
 * @example
 * import { resumePoint } from './Resume.js'
 * const rows = [{ workflowId: 'w', seq: 0, kind: 'StateEntry' as const, state: 'A', taskId: 'A', payload: null, version: 0, at: 0 }]
 * resumePoint<'A' | 'Done'>('w', rows, { version: 0, isKnown: (s) => s === 'A' || s === 'Done' })
 * // Right({ _tag: 'State', state: 'A', fromSeq: 0, nextSeq: 1, version: 0, continues: { _tag: 'Fresh' }, stack: [] })
 * @category destructors
 * @since 0.1.0
 */
export const resumePoint = <S extends string>(
  workflowId: string,
  rows: ReadonlyArray<CheckpointRow>,
  options: {
    readonly version: number
    readonly isKnown: (state: string) => boolean
    readonly migrations?: Migrations<S> | undefined
  },
): E.Either<CanoError, ResumePoint<S>> => {
  const last = rows.at(-1)
  if (last === undefined)
    return E.left(checkpointStoreError(`no checkpoint rows for workflow id ${JSON.stringify(workflowId)}`))
  let label = last.state
  if (last.version !== options.version) {
    const migrate = options.migrations?.[last.version]
    if (migrate === undefined) return E.left(workflowVersionMismatchError(last.version, options.version))
    label = migrate(last.state)
  }
  // the log must be whole: dense from 0 (a missing row would resume a run from the wrong place, or drop
  // a saga step from its stack)
  const broken = brokenLog(workflowId, rows)
  if (broken !== undefined) return E.left(broken)
  // saga bookkeeping: completions replaced by a resumed re-run, compensations already done, a rollback marker
  let marker: (CheckpointRow & { readonly kind: 'RollbackStarted' }) | undefined
  let replaced: Set<number> | undefined
  let undone: Set<number> | undefined
  let sagas = false
  /** The completion the visit being read supersedes (its entry row says so), until its own completion. */
  let superseding: number | undefined
  for (const r of rows) {
    switch (r.kind) {
      case 'CompensationCompletion':
        sagas = true
        if (superseding !== undefined) (replaced ??= new Set()).add(superseding)
        superseding = undefined
        break
      case 'RollbackStarted':
        marker ??= r
        break
      case 'CompensationDone':
        if (marker === undefined)
          return E.left(
            checkpointStoreError(
              `the checkpoint log of workflow id ${JSON.stringify(workflowId)} is inconsistent: a CompensationDone row (sequence ${String(r.seq)}) comes before any RollbackStarted row`,
            ),
          )
        ;(undone ??= new Set()).add(r.payload.undid)
        break
      case 'StateEntry':
        superseding = r.payload !== null && 'supersedes' in r.payload ? r.payload.supersedes : undefined
        break
      default:
        break
    }
  }
  const supersedes = marker === undefined && last.kind === 'CompensationCompletion' ? last.seq : undefined
  const stack: CompensationEntry[] = []
  if (sagas)
    for (const r of rows) {
      if (r.kind !== 'CompensationCompletion') continue
      if (replaced?.has(r.seq) === true || undone?.has(r.seq) === true) continue
      stack.push({ state: r.state, taskId: r.taskId, encoded: r.payload, seq: r.seq })
    }
  const first = rows[0]
  const notes = first?.kind === 'StateEntry' && first.seq === 0 ? notesOf(first.payload) : undefined
  const common = {
    fromSeq: last.seq,
    nextSeq: last.seq + 1,
    version: last.version,
    stack,
    ...(notes === undefined ? {} : { notes }),
  }
  if (marker !== undefined) {
    // a rollback in progress resumes as a rollback: the failed state does not run again (it need not exist
    // any more); `state` is the one that failed, as recorded
    return E.right({
      _tag: 'Rollback',
      state: marker.state as S,
      ...common,
      rollback: { error: rollbackError(workflowId, marker), seq: marker.seq },
    })
  }
  if (!options.isKnown(label))
    return E.left(
      workflowError(
        `checkpoint state ${JSON.stringify(label)} is not a registered or exit state of this workflow`,
        label,
      ),
    )
  return E.right({ _tag: 'State', state: label as S, ...common, continues: continuation(rows, last, supersedes) })
}

/**
 * What the last row's state continues from. Only what was written since that state's last entry counts
 * (never a stale cursor of an earlier visit); the latest such row wins.
 */
const continuation = (
  rows: ReadonlyArray<CheckpointRow>,
  last: CheckpointRow,
  supersedes: number | undefined,
): Continuation => {
  if (supersedes !== undefined) return { _tag: 'Supersedes', seq: supersedes }
  let from: Continuation = FRESH
  let entered = false
  for (let i = rows.length - 1; i >= 0 && !entered; i--) {
    const r = rows[i]
    if (r === undefined || r.state !== last.state) continue
    switch (r.kind) {
      case 'StateEntry':
        entered = true
        if (from === FRESH) from = fromEntry(r.payload)
        break
      case 'StepCursor':
        if (from === FRESH) from = fromCursor(r.payload)
        break
      case 'TimerArmed':
        if (from === FRESH) from = fromTimer(r.payload)
        break
      case 'StreamWindow':
        if (from === FRESH) from = fromStream(r.payload)
        break
      default:
        break
    }
  }
  // rows without an entry row of their state (a log cut short by hand) give nothing to continue from
  return entered ? from : FRESH
}

/** @internal What a `RunResumed` event says of where the run continues, besides its state and `seq`. */
export type ResumedDetails = Pick<RunResumed<string>, 'cursor' | 'step' | 'wakeAt' | 'rollingBack' | 'stream'>

const NO_DETAILS: ResumedDetails = {}

/** @internal The {@link ResumedDetails} of a resume point: a stepped cursor, a timer's wake-up, or a rollback. */
export const resumedDetails = (point: ResumePoint<string>): ResumedDetails => {
  if (point._tag === 'Rollback') return { rollingBack: true }
  const from = point.continues
  switch (from._tag) {
    case 'Cursor':
      return { cursor: from.cursor, step: from.step }
    case 'Timer':
      return { wakeAt: from.wakeAt }
    case 'Stream':
      return from.itemCursor === undefined
        ? { stream: from.position }
        : { stream: from.position, cursor: from.itemCursor }
    default:
      return NO_DETAILS
  }
}
