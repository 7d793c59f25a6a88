/**
 * `resumePoint`: where a crashed run continues, computed purely from its checkpoint log (cano's
 * `resume_from`, reference 2.13, with cano-rx's differences). The run resumes at the state of the
 * row with the highest `seq` (its task runs again: tasks must be idempotent); `seq` continues at
 * last + 1; a `stepped` state continues from the last cursor persisted since its last entry (never
 * a stale cursor from an earlier visit), a `timer` state waits only for what is left of its
 * persisted wake-up instant. A run recorded under another workflow version is refused unless a
 * migration maps its state.
 *
 * Sagas: the compensation stack is rebuilt from the `CompensationCompletion` rows, oldest first. The
 * resume point's own completion row is left out (that state's forward step runs again and pushes a
 * fresh entry: reference 2.13 step 6), and so is any completion a later resume already replaced
 * (the resumed state's entry row names it in its payload, `{ supersedes: seq }`). When the log holds
 * a `RollbackStarted` row the run crashed while rolling back: it resumes the rollback, not a state,
 * with the original error decoded from that row and only the entries that have no `CompensationDone`
 * row yet.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import { type CanoError, CanoErrorCodec } from '../codecs/CanoError.js'
import type { CheckpointRow } from '../codecs/CheckpointRow.js'
import { checkpointStoreError, decodeFailedError, workflowError, workflowVersionMismatchError } from './CanoError.js'
import type { CompensationEntry } from './Saga.js'
import type { StreamPosition } from './Stream.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where and how a run resumes.
 *
 * @example
 * import type { ResumePoint } from 'cano-rx'
 * const p: ResumePoint<'Scan'> = {
 *   state: 'Scan', fromSeq: 7, nextSeq: 8, version: 1, cursor: { encoded: { page: 4 }, step: 4 }, wakeAt: undefined,
 *   stack: [{ state: 'Charge', taskId: 'Charge', encoded: { chargeId: 'ch_1' }, seq: 2 }], rollback: undefined, supersedes: undefined,
 * }
 * @category model
 * @since 0.1.0
 */
export interface ResumePoint<S extends string> {
  /** The state that runs again. */
  readonly state: S
  /** `seq` of the last row. */
  readonly fromSeq: number
  /** The next row's `seq`. */
  readonly nextSeq: number
  /** The version the run was recorded under. */
  readonly version: number
  /** The encoded cursor a `stepped` resume state continues from, and its step number. */
  readonly cursor: { readonly encoded: unknown; readonly step: number } | undefined
  /** The persisted wake-up instant of a `timer` resume state. */
  readonly wakeAt: number | undefined
  /** Where a `stream` resume state continues: windows handled and items consumed so far. */
  readonly stream?: StreamPosition | undefined
  /**
   * The compensation stack, oldest first: the saga steps to undo if the run fails (or, when
   * `rollback` is set, those still to undo).
   */
  readonly stack: ReadonlyArray<CompensationEntry>
  /** Set when the run crashed during a rollback: it resumes the rollback instead of a state. */
  readonly rollback: RollbackPoint | undefined
  /**
   * `seq` of the resume state's own `CompensationCompletion` row: the state runs forward again and
   * its entry row records that it replaces that completion (`{ supersedes: seq }`).
   */
  readonly supersedes: number | undefined
}

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
// payloads
// -------------------------------------------------------------------------------------

/** @internal Payload of a `StepCursor` row, and of a `StateEntry` row that resumed a stepped state. */
export interface CursorPayload {
  readonly cursor: unknown
  readonly step: number
}
/** @internal Payload of a `TimerArmed` row, and of a `StateEntry` row that resumed a timer. */
export interface TimerPayload {
  readonly wakeAt: number
}

const asCursor = (p: unknown): CursorPayload | undefined =>
  typeof p === 'object' && p !== null && 'cursor' in p && typeof (p as { step?: unknown }).step === 'number'
    ? (p as CursorPayload)
    : undefined

const asStream = (p: unknown): StreamPosition | undefined => {
  if (typeof p !== 'object' || p === null) return undefined
  const { windows, items } = p as { windows?: unknown; items?: unknown }
  return typeof windows === 'number' && typeof items === 'number' ? { windows, items } : undefined
}

const asTimer = (p: unknown): TimerPayload | undefined =>
  typeof p === 'object' && p !== null && typeof (p as { wakeAt?: unknown }).wakeAt === 'number'
    ? (p as TimerPayload)
    : undefined

const numberAt = (p: unknown, key: string): number | undefined => {
  if (typeof p !== 'object' || p === null) return undefined
  const v = (p as Record<string, unknown>)[key]
  return typeof v === 'number' ? v : undefined
}

/** @internal The error a `RollbackStarted` row recorded; a payload that does not decode is a `DecodeFailed`. */
const rollbackError = (workflowId: string, row: CheckpointRow): CanoError => {
  const decoded = CanoErrorCodec.decode(row.payload)
  return E.isRight(decoded)
    ? decoded.right
    : decodeFailedError(
        'CanoError',
        PathReporter.report(decoded),
        `rollback marker of workflow ${JSON.stringify(workflowId)} at sequence ${row.seq}`,
      )
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Computes the {@link ResumePoint} of a run from its rows (ascending by `seq`). Errors: no rows
 * (`CheckpointStore`), another version without a migration (`WorkflowVersionMismatch`), a state
 * that is neither registered nor an exit (`Workflow`).
 *
 * @example
 * import { resumePoint } from './Resume.js'
 * const rows = [{ workflowId: 'w', seq: 0, kind: 'StateEntry' as const, state: 'A', taskId: 'A', payload: null, version: 0, at: 0 }]
 * resumePoint<'A' | 'Done'>('w', rows, { version: 0, isKnown: (s) => s === 'A' || s === 'Done' })
 * // Right({ state: 'A', fromSeq: 0, nextSeq: 1, version: 0, cursor: undefined, wakeAt: undefined, stack: [], rollback: undefined, supersedes: undefined })
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
  // saga bookkeeping: completions replaced by a resumed re-run, compensations already done, a rollback marker
  let marker: CheckpointRow | undefined
  let superseded: Set<number> | undefined
  let undone: Set<number> | undefined
  let sagas = false
  for (const r of rows) {
    if (r.kind === 'CompensationCompletion') sagas = true
    else if (r.kind === 'RollbackStarted') marker ??= r
    else if (r.kind === 'CompensationDone') {
      const undid = numberAt(r.payload, 'undid')
      if (undid !== undefined) (undone ??= new Set()).add(undid)
    } else if (r.kind === 'StateEntry') {
      const replaced = numberAt(r.payload, 'supersedes')
      if (replaced !== undefined) (superseded ??= new Set()).add(replaced)
    }
  }
  const supersedes = marker === undefined && last.kind === 'CompensationCompletion' ? last.seq : undefined
  const stack: CompensationEntry[] = []
  if (sagas)
    for (const r of rows) {
      if (r.kind !== 'CompensationCompletion' || r.seq === supersedes) continue
      if (superseded?.has(r.seq) === true || undone?.has(r.seq) === true) continue
      stack.push({ state: r.state, taskId: r.taskId, encoded: r.payload, seq: r.seq })
    }
  if (marker !== undefined) {
    // a rollback in progress resumes as a rollback: the failed state does not run again (it need not exist
    // any more); `state` is the one that failed, as recorded
    return E.right({
      state: marker.state as S,
      fromSeq: last.seq,
      nextSeq: last.seq + 1,
      version: last.version,
      cursor: undefined,
      wakeAt: undefined,
      stack,
      rollback: { error: rollbackError(workflowId, marker), seq: marker.seq },
      supersedes: undefined,
    })
  }
  if (!options.isKnown(label))
    return E.left(
      workflowError(
        `checkpoint state ${JSON.stringify(label)} is not a registered or exit state of this workflow`,
        label,
      ),
    )
  // only what was written since the resume state's last entry counts: never a stale cursor of an earlier visit
  let entry = -1
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]
    if (r !== undefined && r.kind === 'StateEntry' && r.state === last.state) {
      entry = i
      break
    }
  }
  let cursor: CursorPayload | undefined
  let wakeAt: number | undefined
  let stream: StreamPosition | undefined
  if (entry >= 0) {
    const entryRow = rows[entry]
    cursor = asCursor(entryRow?.payload)
    wakeAt = asTimer(entryRow?.payload)?.wakeAt
    stream = asStream(entryRow?.payload)
    for (const r of rows.slice(entry + 1)) {
      if (r.state !== last.state) continue
      if (r.kind === 'StepCursor') cursor = asCursor(r.payload) ?? cursor
      if (r.kind === 'TimerArmed') wakeAt = asTimer(r.payload)?.wakeAt ?? wakeAt
      if (r.kind === 'StreamWindow') stream = asStream(r.payload) ?? stream
    }
  }
  return E.right({
    state: label as S,
    fromSeq: last.seq,
    nextSeq: last.seq + 1,
    version: last.version,
    cursor: cursor === undefined ? undefined : { encoded: cursor.cursor, step: cursor.step },
    wakeAt,
    stream,
    stack,
    rollback: undefined,
    supersedes,
  })
}
