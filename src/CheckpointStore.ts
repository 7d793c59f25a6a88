/**
 * `CheckpointStore`: the append-only checkpoint log that makes a run resumable after a crash, the
 * validation every adapter shares, and the in-memory adapter.
 *
 * The contract, checked by one conformance suite against every adapter:
 *
 * - `append(row)` resolves once the row is durable. A row that does not pass the
 *   {@link CheckpointRow} codec is rejected and nothing is written. A second row at the same
 *   `(workflowId, seq)` is rejected with a `CheckpointStore` error, never written over the first, so of
 *   two racing runs with one id exactly one wins.
 * - `loadRun(id)` returns the run's rows ascending by `seq` (empty for an unknown id), each decoded
 *   through the codec; a row that does not decode rejects with a `CheckpointStore` error naming the run
 *   and the sequence, whose `cause` is the `DecodeFailed` error.
 * - `clear(id)` removes that run's rows only (an unknown id is fine); `listRuns()` lists the runs that
 *   still have rows; `close()` releases the adapter's resources.
 * - `append(row, fence)` and `clear(id, fence)` with a fencing token commit only while the store's run
 *   table ({@link CheckpointStore.runs}, see src/RunTable.ts) holds that token for the run, checked in
 *   the same transaction as the write; otherwise nothing is written and the call rejects with a
 *   `LeaseLost` error. Without a token they write as before, for runs with or without a run record.
 * - Every method may be called concurrently, for the same id or for different ids. Promise methods
 *   reject with a {@link CanoFailure}.
 *
 * Adapters: {@link memoryCheckpoints} here (its run table in src/memoryRunTable.ts), `sqliteCheckpoints`
 * and `postgresCheckpoints` in `roots/stores/`, each loading its driver only on first use. All three
 * return a {@link RunStore}: the log and its run table.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { failure as pathReport } from 'io-ts/lib/PathReporter.js'

import type { CanoError, CheckpointStore as CheckpointStoreError } from '../codecs/CanoError.js'
import { CheckpointRow, RunSummary } from '../codecs/CheckpointRow.js'
import { refinedNumber } from '../codecs/Config.js'
import { CanoFailure, checkpointStoreError, configurationError, decodeFailedError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeThrownValue, describeValue } from './internal/describeValue.js'
import { memoryRunTableOver, type StoredRun } from './memoryRunTable.js'
import type { RunTable } from './RunTable.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A durable, append-only checkpoint log keyed by workflow id. Implement it to plug in another
 * database; {@link validateCheckpointRow}, {@link decodeCheckpointRow} and
 * {@link checkpointConflictError} give a custom adapter the same errors as the built-in ones.
 *
 * @example
 * import { memoryCheckpoints, type CheckpointStore } from 'cano-rx'
 * const store: CheckpointStore = memoryCheckpoints()
 * await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch', payload: null, version: 1, at: Date.now() })
 * const rows = await store.loadRun('order-42') // [ { …, seq: 0 } ]
 * await store.clear('order-42')
 * await store.close()
 * @category model
 * @since 0.1.0
 */
export interface CheckpointStore {
  /**
   * Writes `row`; resolves once it is durable. Rejects, writing nothing, when the row does not pass the
   * codec or when the run already has a row at `row.seq`. With `fence`, the row is written only while
   * the run table holds that fencing token for the run (checked in the same transaction); otherwise it
   * rejects with `LeaseLost`, writing nothing. A store without a run table rejects a fenced append.
   */
  readonly append: (row: CheckpointRow, fence?: number) => Promise<void>
  /** The run's rows ascending by `seq`, each decoded; empty for an unknown id. */
  readonly loadRun: (workflowId: string) => Promise<ReadonlyArray<CheckpointRow>>
  /**
   * Removes every row of this run and no other; clearing an unknown id resolves. With `fence`, only
   * while the run table holds that token for the run (else `LeaseLost`, nothing removed).
   */
  readonly clear: (workflowId: string, fence?: number) => Promise<void>
  /** The runs that still have rows, ordered by workflow id. */
  readonly listRuns: () => Promise<ReadonlyArray<RunSummary>>
  /** Releases connections and files; later calls reject. Calling it twice is fine. */
  readonly close: () => Promise<void>
  /**
   * The table of runs beside the log (see {@link RunTable}): ownership, leases, fencing tokens and
   * outcomes. Optional so that an adapter written for 0.1 still compiles; the built-in stores have one.
   */
  readonly runs?: RunTable
}

/**
 * A {@link CheckpointStore} with its run table: what `memoryCheckpoints`, `sqliteCheckpoints` and
 * `postgresCheckpoints` return, and what a runtime needs.
 *
 * @example
 * import { memoryCheckpoints, type RunStore } from 'cano-rx'
 * const store: RunStore = memoryCheckpoints()
 * const { record } = await store.runs.create({ workflowId: 'order-42', workflow: 'orders', version: 1, initial: 'Charge', input: null })
 * const [mine] = await store.runs.claim('worker-a', { limit: 1, leaseMs: 30_000 })
 * if (mine !== undefined)
 *   await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Charge', taskId: 'charge', payload: null, version: 1, at: Date.now() }, mine.fence)
 * @category model
 * @since 0.2.0
 */
export type RunStore = CheckpointStore & { readonly runs: RunTable }

/**
 * Options of {@link memoryCheckpoints}.
 *
 * @example
 * import { memoryCheckpoints, type MemoryCheckpointsOptions } from 'cano-rx'
 * let clock = 0
 * const options: MemoryCheckpointsOptions = { now: () => clock }
 * const store = memoryCheckpoints(options)
 * clock += 30_000 // leases granted before now end 30 s earlier
 * @category model
 * @since 0.2.0
 */
export interface MemoryCheckpointsOptions {
  /** The run table's clock, in epoch milliseconds (leases, wake-ups, timestamps). Default `Date.now`. */
  readonly now?: () => number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The error for a second row at `(workflowId, seq)`, with cano's wording.
 *
 * @param workflowId - the run that already has the row
 * @param seq - the sequence that is taken
 * @returns a `CheckpointStore` error that says to resume or clear the run
 * @example
 * import { checkpointConflictError } from 'cano-rx'
 * checkpointConflictError('order-42', 0).message
 * // 'checkpoint conflict: workflow "order-42" already has a row at sequence 0; resume the existing run or clear it before starting a new one'
 * @category constructors
 * @since 0.1.0
 */
export const checkpointConflictError = (workflowId: string, seq: number): CheckpointStoreError =>
  checkpointStoreError(
    `checkpoint conflict: workflow ${JSON.stringify(workflowId)} already has a row at sequence ${seq}; resume the existing run or clear it before starting a new one`,
  )

/**
 * Checks a row before it is written. On failure the `CheckpointStore` error names the offending field
 * (through io-ts's `PathReporter`) and its `cause` is the `DecodeFailed` error.
 *
 * @param u - the row to write
 * @returns the row, stripped of unknown fields, or the error
 * @example
 * import { validateCheckpointRow } from 'cano-rx'
 * const checked = validateCheckpointRow({ workflowId: 'a', seq: -1, kind: 'StateEntry', state: 'S', taskId: '', payload: null, version: 0, at: 0 })
 * // Left: 'invalid row for workflow "a" at sequence -1 (nothing written): Invalid value -1 supplied to : CheckpointRow/seq: NonNegativeSafeInteger'
 * @category constructors
 * @since 0.1.0
 */
export const validateCheckpointRow = (u: unknown): E.Either<CheckpointStoreError, CheckpointRow> => {
  const decoded = CheckpointRow.decode(u)
  if (E.isRight(decoded)) return decoded
  const errors = reportErrors(decoded.left)
  const where = describeWhere(u)
  return E.left(
    checkpointStoreError(
      `invalid row${where === '' ? '' : ` ${where}`} (nothing written): ${errors.join('; ')}`,
      decodeFailedError('CheckpointRow', errors, where === '' ? 'checkpoint row to append' : where),
    ),
  )
}

/**
 * Decodes a row read back from storage. On failure the `CheckpointStore` error names the run and the
 * sequence, and its `cause` is the `DecodeFailed` error with io-ts's path reports.
 *
 * @param workflowId - the run the row was read for
 * @param seq - the row's sequence as stored (named in the error even when it is not a valid sequence)
 * @param raw - the row as read, with the payload already parsed from JSON
 * @returns the decoded row or the error
 * @example
 * import { decodeCheckpointRow } from 'cano-rx'
 * const row = decodeCheckpointRow('order-42', 3, { workflowId: 'order-42', seq: 3, kind: 'Bogus', state: 'S', taskId: '', payload: null, version: 1, at: 0 })
 * // Left: 'decode checkpoint row of workflow "order-42" at sequence 3: Invalid value "Bogus" supplied to : CheckpointRow/kind: CheckpointKind'
 * @category constructors
 * @since 0.1.0
 */
export const decodeCheckpointRow = (
  workflowId: string,
  seq: unknown,
  raw: unknown,
): E.Either<CheckpointStoreError, CheckpointRow> => {
  const decoded = CheckpointRow.decode(raw)
  return E.isRight(decoded)
    ? decoded
    : E.left(undecodable(workflowId, seq, 'CheckpointRow', reportErrors(decoded.left)))
}

// -------------------------------------------------------------------------------------
// adapter plumbing
// -------------------------------------------------------------------------------------

/** @internal A `CheckpointStore` error for a stored row that cannot be decoded. */
export const undecodable = (
  workflowId: string,
  seq: unknown,
  codec: string,
  errors: ReadonlyArray<string>,
): CheckpointStoreError => {
  const where = `workflow ${JSON.stringify(workflowId)} at sequence ${describeValue(seq)}`
  return checkpointStoreError(
    `decode checkpoint row of ${where}: ${errors.join('; ')}`,
    decodeFailedError(codec, errors, where),
  )
}

/** @internal Decodes a stored run summary; a failure names the run and its last sequence. */
export const decodeRunSummary = (
  workflowId: string,
  lastSeq: unknown,
  raw: unknown,
): E.Either<CheckpointStoreError, RunSummary> => {
  const decoded = RunSummary.decode(raw)
  return E.isRight(decoded)
    ? decoded
    : E.left(undecodable(workflowId, lastSeq, 'RunSummary', reportErrors(decoded.left)))
}

/** @internal A checkpoint row as the SQL adapters select it: the table's columns, as the driver returns them. */
export interface StoredRow {
  readonly workflow_id: unknown
  readonly seq: unknown
  readonly kind: unknown
  readonly state: unknown
  readonly task_id: unknown
  readonly payload: unknown
  readonly version: unknown
  readonly at: unknown
}

/** @internal A run's last row and its row count, as the SQL adapters select them. */
export interface StoredSummary {
  readonly workflow_id: unknown
  readonly seq: unknown
  readonly kind: unknown
  readonly state: unknown
  readonly version: unknown
  readonly at: unknown
  readonly rows: unknown
}

const same = (u: unknown): unknown => u

/**
 * @internal Decodes a selected row of `workflowId` whose payload the adapter has parsed; `int` maps the
 * driver's integers (PostgreSQL returns `BIGINT` as text). Throws a `CanoFailure` naming the run and the
 * sequence.
 */
export const fromStoredRow = (
  workflowId: string,
  r: StoredRow,
  payload: unknown,
  int: (u: unknown) => unknown = same,
): CheckpointRow => {
  const seq = int(r.seq)
  const decoded = decodeCheckpointRow(workflowId, seq, {
    workflowId: r.workflow_id,
    seq,
    kind: r.kind,
    state: r.state,
    taskId: r.task_id,
    payload,
    version: int(r.version),
    at: int(r.at),
  })
  if (E.isLeft(decoded)) throw new CanoFailure(decoded.left)
  return decoded.right
}

/**
 * @internal A row's values in the SQL tables' column order (`workflow_id, seq, kind, state, task_id,
 * payload, version, at`), with its payload as stored JSON text: what the SQL adapters insert and
 * {@link fromStoredRow} reads back.
 */
export const toStoredColumns = (row: CheckpointRow, payload: string | null) =>
  [row.workflowId, row.seq, row.kind, row.state, row.taskId, payload, row.version, row.at] as const

/** @internal A row's payload as the JSON text the SQL adapters store (`null` stays SQL `NULL`). */
export const encodeStoredPayload = (row: CheckpointRow): string | null =>
  row.payload === null ? null : JSON.stringify(row.payload)

/** @internal Decodes a selected run summary, as {@link fromStoredRow} does a row. */
export const fromStoredSummary = (r: StoredSummary, int: (u: unknown) => unknown = same): RunSummary => {
  const lastSeq = int(r.seq)
  const decoded = decodeRunSummary(String(r.workflow_id), lastSeq, {
    workflowId: r.workflow_id,
    lastSeq,
    lastState: r.state,
    lastKind: r.kind,
    version: int(r.version),
    at: int(r.at),
    rows: int(r.rows),
  })
  if (E.isLeft(decoded)) throw new CanoFailure(decoded.left)
  return decoded.right
}

/** @internal The order of `listRuns`: by workflow id, as strings compare. */
export const byWorkflowId = (a: RunSummary, b: RunSummary): number =>
  a.workflowId < b.workflowId ? -1 : a.workflowId > b.workflowId ? 1 : 0

/** @internal Parses a stored JSON payload (SQL `NULL` is `null`); anything but valid JSON text is a decode error naming the run and the sequence. */
export const parseStoredPayload = (
  workflowId: string,
  seq: unknown,
  stored: unknown,
): E.Either<CheckpointStoreError, unknown> => {
  if (stored === null) return E.right(null)
  const invalid = (why: string): E.Either<CheckpointStoreError, never> =>
    E.left(
      undecodable(workflowId, seq, 'CheckpointRow', [
        `Invalid JSON ${describeValue(printable(stored))} supplied to : CheckpointRow/payload: JsonValue (${why})`,
      ]),
    )
  if (typeof stored !== 'string') return invalid(`stored as ${typeof stored}, not text`)
  try {
    return E.right(JSON.parse(stored))
  } catch (e: unknown) {
    return invalid(describeThrown(e))
  }
}

/**
 * @internal io-ts's `PathReporter` lines for `errors`. The reporter prints each invalid value with
 * `JSON.stringify`, which throws on cycles and bigints and can be huge: such values are replaced by a
 * short description first.
 */
export const reportErrors = (errors: t.Errors): Array<string> =>
  pathReport(errors.map((e) => ({ ...e, value: printable(e.value) })))

const MAX_PRINTED = 200

const printable = (u: unknown): unknown => {
  if (typeof u === 'function' || typeof u === 'number') return u // the reporter prints these itself
  if (typeof u === 'bigint') return `${u}n (bigint)`
  if (typeof u === 'symbol') return u.toString()
  try {
    const json = JSON.stringify(u) as string | undefined // undefined for `undefined` itself
    if (json === undefined || json.length <= MAX_PRINTED) return u
    return `${json.slice(0, MAX_PRINTED)}… (${json.length} characters)`
  } catch {
    return `${Object.prototype.toString.call(u)} (not serialisable: circular or holding a bigint)`
  }
}

/** @internal Rejects with a {@link CanoFailure} carrying `error`. */
export const rejectWith = (error: CheckpointStoreError): Promise<never> => Promise.reject(new CanoFailure(error))

/** @internal Tells an adapter's `onCommit` observer about a committed write (never 0 rows); a throwing observer is ignored. */
export const reportCommit = (onCommit: ((rows: number) => void) | undefined, rows: number): void => {
  if (onCommit === undefined || rows === 0) return
  try {
    onCommit(rows)
  } catch {
    // an observer never breaks a write
  }
}

const Fence = /*#__PURE__*/ refinedNumber('a non-negative safe integer', (n) => Number.isSafeInteger(n) && n >= 0)

/** @internal The `Configuration` error for an invalid fencing token given to `method` (`append`, `clear`), if any. */
export const checkFenceArgument = (adapter: string, method: string, fence: unknown): CanoError | undefined =>
  fence === undefined ? undefined : checkConfig(Fence, fence, `${adapter}.${method}: fence`)

/** @internal The error for a call after `close()`. */
export const closedError = (adapter: string): CheckpointStoreError =>
  checkpointStoreError(`${adapter}: the checkpoint store is closed`)

/** @internal Wraps a driver failure: `CheckpointStore("{adapter}: {what}: {message}")`, the thrown value kept as `cause`. */
export const driverError = (adapter: string, what: string, thrown: unknown): CheckpointStoreError =>
  checkpointStoreError(`${adapter}: ${what}: ${describeThrown(thrown)}`, thrown)

/** @internal A short readable form of anything thrown. */
export const describeThrown = (u: unknown): string => describeThrownValue(u)

const describeWhere = (u: unknown): string => {
  if (typeof u !== 'object' || u === null) return ''
  const { workflowId, seq } = u as { readonly workflowId?: unknown; readonly seq?: unknown }
  const parts: Array<string> = []
  if (typeof workflowId === 'string') parts.push(`for workflow ${JSON.stringify(workflowId)}`)
  if (seq !== undefined) parts.push(`at sequence ${describeValue(seq)}`)
  return parts.join(' ')
}

// -------------------------------------------------------------------------------------
// in-memory adapter
// -------------------------------------------------------------------------------------

/**
 * A checkpoint store in process memory: for tests, and the default when a workflow configures none.
 * Rows and run records are kept as encoded JSON copies, so mutating a row after appending it, or a row
 * returned by `loadRun`, never changes what is stored. Nothing survives the process. Its run table
 * (`runs`) follows src/RunTable.ts; its `subscribe` calls listeners of this process.
 *
 * @param options - the run table's clock, see {@link MemoryCheckpointsOptions}
 * @returns an empty store with its run table
 * @example
 * import { memoryCheckpoints } from 'cano-rx'
 * const store = memoryCheckpoints()
 * await store.append({ workflowId: 'job-1', seq: 0, kind: 'StateEntry', state: 'Start', taskId: 'start', payload: null, version: 1, at: Date.now() })
 * const runs = await store.listRuns() // [{ workflowId: 'job-1', lastSeq: 0, lastState: 'Start', … , rows: 1 }]
 * @category constructors
 * @since 0.1.0
 */
export const memoryCheckpoints = (options: MemoryCheckpointsOptions = {}): RunStore =>
  memoryCheckpointsOver(new Map(), options)

/**
 * @internal The in-memory adapter over `runs` (workflow id -> seq -> the row as JSON text) and `records`
 * (its run table: workflow id -> stored record), so a test can reach the raw storage, as it can a SQLite
 * file or a PostgreSQL table.
 */
export const memoryCheckpointsOver = (
  runs: Map<string, Map<number, string>>,
  options: MemoryCheckpointsOptions = {},
  records: Map<string, StoredRun> = new Map(),
): RunStore => {
  let closed = false
  const adapter = 'memoryCheckpoints'
  const now = options.now ?? Date.now
  if (typeof now !== 'function')
    throw new CanoFailure(configurationError(`memoryCheckpoints: now must be a function, got ${describeValue(now)}`))
  const table = memoryRunTableOver(records, {
    now,
    whenClosed: () => (closed ? rejectWith(closedError(adapter)) : undefined),
    dropLog: (workflowId) => runs.delete(workflowId),
  })

  const load = (workflowId: string): E.Either<CheckpointStoreError, ReadonlyArray<CheckpointRow>> => {
    const run = runs.get(workflowId)
    if (run === undefined) return E.right([])
    const out: Array<CheckpointRow> = []
    for (const seq of [...run.keys()].sort((a, b) => a - b)) {
      const decoded = decodeCheckpointRow(workflowId, seq, JSON.parse(run.get(seq) ?? 'null'))
      if (E.isLeft(decoded)) return decoded
      out.push(decoded.right)
    }
    return E.right(out)
  }

  /** `undefined` when the write may go ahead: no fence, or `fence` is the run's current token. */
  const fenced = (method: string, workflowId: string, fence: number | undefined): CanoError | undefined => {
    const invalid = checkFenceArgument(adapter, method, fence)
    if (invalid !== undefined || fence === undefined) return invalid
    return table.checkFence(workflowId, fence)
  }

  return {
    append: (row, fence) => {
      if (closed) return rejectWith(closedError(adapter))
      const checked = validateCheckpointRow(row)
      if (E.isLeft(checked)) return rejectWith(checked.left)
      const { workflowId, seq } = checked.right
      const lost = fenced('append', workflowId, fence)
      if (lost !== undefined) return Promise.reject(new CanoFailure(lost))
      const run = runs.get(workflowId) ?? new Map<number, string>()
      if (run.has(seq)) return rejectWith(checkpointConflictError(workflowId, seq))
      run.set(seq, JSON.stringify(CheckpointRow.encode(checked.right)))
      runs.set(workflowId, run)
      return Promise.resolve()
    },
    loadRun: (workflowId) => {
      if (closed) return rejectWith(closedError(adapter))
      const loaded = load(workflowId)
      return E.isLeft(loaded) ? rejectWith(loaded.left) : Promise.resolve(loaded.right)
    },
    clear: (workflowId, fence) => {
      if (closed) return rejectWith(closedError(adapter))
      const lost = fenced('clear', workflowId, fence)
      if (lost !== undefined) return Promise.reject(new CanoFailure(lost))
      runs.delete(workflowId)
      return Promise.resolve()
    },
    listRuns: () => {
      if (closed) return rejectWith(closedError(adapter))
      const out: Array<RunSummary> = []
      for (const workflowId of [...runs.keys()].sort()) {
        const loaded = load(workflowId)
        if (E.isLeft(loaded)) return rejectWith(loaded.left)
        const last = loaded.right[loaded.right.length - 1]
        if (last === undefined) continue
        out.push({
          workflowId,
          lastSeq: last.seq,
          lastState: last.state,
          lastKind: last.kind,
          version: last.version,
          at: last.at,
          rows: loaded.right.length,
        })
      }
      return Promise.resolve(out)
    },
    close: () => {
      closed = true
      runs.clear()
      records.clear()
      return Promise.resolve()
    },
    runs: table.runs,
  }
}
