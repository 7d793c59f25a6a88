/**
 * `resumePoint`: where a crashed run continues, computed purely from its checkpoint log (cano's
 * `resume_from`, reference 2.13, with cano-rx's differences). The run resumes at the state of the
 * row with the highest `seq` (its task runs again: tasks must be idempotent); `seq` continues at
 * last + 1; a `stepped` state continues from the last cursor persisted since its last entry (never
 * a stale cursor from an earlier visit), a `timer` state waits only for what is left of its
 * persisted wake-up instant. A run recorded under another workflow version is refused unless a
 * migration maps its state.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError } from '../codecs/CanoError.js'
import type { CheckpointRow } from '../codecs/CheckpointRow.js'
import { checkpointStoreError, workflowError, workflowVersionMismatchError } from './CanoError.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where and how a run resumes.
 *
 * @example
 * import type { ResumePoint } from 'cano-rx'
 * const p: ResumePoint<'Scan'> = { state: 'Scan', fromSeq: 7, nextSeq: 8, version: 1, cursor: { encoded: { page: 4 }, step: 4 }, wakeAt: undefined }
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

const asTimer = (p: unknown): TimerPayload | undefined =>
  typeof p === 'object' && p !== null && typeof (p as { wakeAt?: unknown }).wakeAt === 'number'
    ? (p as TimerPayload)
    : undefined

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * Computes the {@link ResumePoint} of a run from its rows (ascending by `seq`). Errors: no rows
 * (`CheckpointStore`), another version without a migration (`WorkflowVersionMismatch`), a state
 * that is neither registered nor an exit (`Workflow`).
 *
 * @example
 * import { resumePoint } from 'cano-rx'
 * const rows = [{ workflowId: 'w', seq: 0, kind: 'StateEntry' as const, state: 'A', taskId: 'A', payload: null, version: 0, at: 0 }]
 * resumePoint<'A' | 'Done'>('w', rows, { version: 0, isKnown: (s) => s === 'A' || s === 'Done' })
 * // Right({ state: 'A', fromSeq: 0, nextSeq: 1, version: 0, cursor: undefined, wakeAt: undefined })
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
  if (entry >= 0) {
    const entryRow = rows[entry]
    cursor = asCursor(entryRow?.payload)
    wakeAt = asTimer(entryRow?.payload)?.wakeAt
    for (const r of rows.slice(entry + 1)) {
      if (r.state !== last.state) continue
      if (r.kind === 'StepCursor') cursor = asCursor(r.payload) ?? cursor
      if (r.kind === 'TimerArmed') wakeAt = asTimer(r.payload)?.wakeAt ?? wakeAt
    }
  }
  return E.right({
    state: label as S,
    fromSeq: last.seq,
    nextSeq: last.seq + 1,
    version: last.version,
    cursor: cursor === undefined ? undefined : { encoded: cursor.cursor, step: cursor.step },
    wakeAt,
  })
}
