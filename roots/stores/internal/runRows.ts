/**
 * @internal The run table as the SQL adapters store it: the `<table>_runs` columns, and the mapping of
 * a selected row to a {@link RunRecord} through the record codec (a corrupt row is a `DecodeFailed`
 * error naming the run and the field).
 *
 * ```text
 * workflow_id  TEXT PRIMARY KEY      status            TEXT              input   JSON (text / jsonb)
 * workflow     TEXT                  owner             TEXT NULL         output  JSON
 * version      INTEGER               lease_until       INTEGER NULL      error   JSON
 * initial      TEXT                  fence             INTEGER           cancel_requested  0/1 / BOOLEAN
 * wake_at      INTEGER NULL          created_at, updated_at INTEGER      ended_at INTEGER NULL
 * due_at       INTEGER NULL: when the run becomes claimable (src/RunTable.ts), NULL once it ended;
 *              the claim index. Not part of the record.
 * ```
 *
 * @since 0.2.0
 */
import { CanoFailure } from '../../../src/CanoError.js'
import { describeThrown } from '../../../src/CheckpointStore.js'
import { describeValue } from '../../../src/internal/describeValue.js'
import { decodeRunRecord, type RunRecord, undecodableRun } from '../../../src/RunTable.js'

/** @internal The record columns, in the order the adapters insert them. */
export const RUN_COLUMNS =
  'workflow_id, workflow, version, initial, status, owner, lease_until, fence, wake_at, input, output, error, cancel_requested, created_at, updated_at, ended_at'

/** @internal A run-table row as the driver returns it. */
export interface StoredRunRow {
  readonly workflow_id: unknown
  readonly workflow: unknown
  readonly version: unknown
  readonly initial: unknown
  readonly status: unknown
  readonly owner: unknown
  readonly lease_until: unknown
  readonly fence: unknown
  readonly wake_at: unknown
  readonly input: unknown
  readonly output: unknown
  readonly error: unknown
  readonly cancel_requested: unknown
  readonly created_at: unknown
  readonly updated_at: unknown
  readonly ended_at: unknown
}

/** @internal How a dialect returns its values. */
export interface RunRowDialect {
  /** The table, for error messages. */
  readonly table: string
  /** A JSON column's value as parsed JSON (SQLite: text to parse; PostgreSQL: already parsed). */
  readonly json: boolean
  /** An integer column (PostgreSQL `BIGINT` arrives as text). */
  readonly int: (u: unknown) => unknown
  /** The cancel flag (SQLite: 0/1). */
  readonly bool: (u: unknown) => unknown
}

/** @internal The id column of a stored run row, as stored (named by a list's `onUnreadable`). */
export const runRowId = (r: unknown): unknown => (r as StoredRunRow).workflow_id

/** @internal Decodes a selected row; throws a `CanoFailure(DecodeFailed)` naming the run. */
export const fromRunRow = (r: StoredRunRow, d: RunRowDialect): RunRecord => {
  const id = r.workflow_id
  const invalid = (field: string, why: string): CanoFailure =>
    new CanoFailure(
      undecodableRun(
        typeof id === 'string' ? id : describeValue(id),
        [`Invalid JSON text supplied to : RunRecord/${field}: JsonValue (${why})`],
        d.table,
      ),
    )
  const json = (field: string, u: unknown): unknown => {
    if (!d.json) return u
    if (typeof u !== 'string') throw invalid(field, `stored as ${u === null ? 'NULL' : typeof u}, not text`)
    try {
      return JSON.parse(u)
    } catch (e: unknown) {
      throw invalid(field, describeThrown(e))
    }
  }
  return decodeRunRecord(
    id,
    {
      workflowId: id,
      workflow: r.workflow,
      version: d.int(r.version),
      initial: r.initial,
      status: r.status,
      owner: r.owner,
      leaseUntil: d.int(r.lease_until),
      fence: d.int(r.fence),
      wakeAt: d.int(r.wake_at),
      input: json('input', r.input),
      output: json('output', r.output),
      error: json('error', r.error),
      cancelRequested: d.bool(r.cancel_requested),
      createdAt: d.int(r.created_at),
      updatedAt: d.int(r.updated_at),
      endedAt: d.int(r.ended_at),
    },
    d.table,
  )
}
