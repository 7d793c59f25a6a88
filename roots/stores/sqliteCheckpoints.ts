/**
 * `sqliteCheckpoints`: the embedded checkpoint store, one SQLite file through `better-sqlite3@12`.
 *
 * The driver is an optional peer dependency, imported on first use: a program that never opens a
 * SQLite store never loads it. The file (and its parent directory) is created on first use, in WAL
 * mode with `synchronous=FULL` unless configured otherwise, and the table `cano_checkpoints` is
 * created if it is missing. Many runs may share one file, from one process or several (WAL plus
 * `busy_timeout`).
 *
 * **Group commit.** Appends that arrive in the same tick of the event loop (from concurrent runs) are
 * queued and written by one `BEGIN IMMEDIATE … COMMIT` transaction, scheduled with `setImmediate`.
 * Each caller's promise settles only after that transaction committed, so a resolved append is durable.
 * A row that fails inside the batch (a duplicate sequence, a failing trigger) fails only its own caller:
 * SQLite undoes just that statement and the transaction goes on with the others. The run table's writes
 * (create, claim, renew, release, finish, cancel request) and log clears join the same queue, in call
 * order: a run's create, its appends and its finish share commits with the other runs' writes instead of
 * committing (and fsyncing) one by one. Each of them runs in a savepoint of the group's transaction, so
 * one that is refused (a lost fence, a trigger) undoes what it wrote and fails only its caller.
 *
 * ```text
 * run A:  append(a0) ─────────────┐            resolves after COMMIT
 * run B:  append(b0) ──────────┐  │
 * run C:  append(c0) ───────┐  │  │
 *                            BEGIN; INSERT c0; INSERT b0; INSERT a0; COMMIT   (one fsync)
 * ```
 *
 * **Run table.** Beside the log, the table `cano_checkpoints_runs` holds one record per run (see
 * src/RunTable.ts and roots/stores/internal/runRows.ts for its columns). Every run-table write, and
 * every fenced append or clear, reads the record, checks the fence and writes inside one `BEGIN
 * IMMEDIATE` transaction (its group's), so two processes on one file never both claim a run: the second
 * waits for the first's write lock (`busy_timeout`) and then sees its claim. A fenced append checks its
 * run's fence in the group's transaction, after the writes queued before it; only that append fails when
 * the fence moved on (the fence comes from a per-connection cache while `PRAGMA data_version` shows no
 * other connection committed since this one's last batch). Reads (`get`, `list`) and `prune` run on
 * their own, after what is queued.
 * The SQLite store has no `subscribe`: nothing pushes across processes, workers poll.
 *
 * **Upgrade.** A file written by 0.1 (the log only) gets its run table on first open, in the same
 * transaction as one `pending` record per run that has log rows (workflow `''`, the version and state of
 * its first row, input `null`, created at its first row's time).
 *
 * @since 0.1.0
 */
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

import type Sqlite from 'better-sqlite3'
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { NonNegativeInteger } from '../../codecs/Config.js'
import { CanoFailure, configurationError } from '../../src/CanoError.js'
import {
  byWorkflowId,
  checkFenceArgument,
  checkpointConflictError,
  driverError,
  encodeStoredPayload,
  fromStoredRow,
  fromStoredSummary,
  parseStoredPayload,
  rejectWith,
  reportCommit,
  type RunStore,
  type StoredRow,
  type StoredSummary,
  toStoredColumns,
  validateCheckpointRow,
} from '../../src/CheckpointStore.js'
import { checkConfig } from '../../src/internal/checkConfig.js'
import { describeValue } from '../../src/internal/describeValue.js'
import {
  type RecordStorage,
  type RunTableExec,
  type RunTableLogic,
  runTableLogic,
  runTableOver,
} from '../../src/internal/runTableLogic.js'
import { decodeListed, rejectInvalid, type RunRecord, TERMINAL_STATUSES } from '../../src/RunTable.js'
import { connectionShell, loadPeer } from './internal/connectionShell.js'
import { groupCommitQueue } from './internal/groupCommitQueue.js'
import { fromRunRow, RUN_COLUMNS, runRowId, type StoredRunRow } from './internal/runRows.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link sqliteCheckpoints}.
 *
 * @example
 * import { sqliteCheckpoints, type SqliteCheckpointsOptions } from 'cano-rx/sqlite'
 * const options: SqliteCheckpointsOptions = { synchronous: 'NORMAL', busyTimeoutMs: 10_000 }
 * const store = sqliteCheckpoints('.cano/checkpoints.db', options)
 * @category model
 * @since 0.1.0
 */
export interface SqliteCheckpointsOptions {
  /**
   * SQLite's `synchronous` pragma. `FULL` (the default) fsyncs the WAL at every commit, so an append
   * that resolved survives a power loss. `NORMAL` survives a process crash but may lose the last
   * commits on power loss; `OFF` leaves syncing to the operating system.
   */
  readonly synchronous?: 'FULL' | 'NORMAL' | 'OFF'
  /** How long a writer waits for another connection's lock before failing (`busy_timeout`). Default 5000. */
  readonly busyTimeoutMs?: number
  /**
   * Write the appends and run-table writes of one tick in one transaction (the default, `true`), or each
   * in its own transaction (`false`).
   */
  readonly groupCommit?: boolean
  /**
   * Called after each committed write transaction with the number of rows it inserted, updated or
   * deleted, log rows and run records alike (never with 0): for metrics and tests. A throwing callback
   * is ignored.
   */
  readonly onCommit?: (rows: number) => void
  /**
   * The run table's clock, in epoch milliseconds (leases, wake-ups, timestamps). Default `Date.now`.
   * Processes sharing a file should share a clock (one machine does).
   */
  readonly now?: () => number
}

type Database = Sqlite.Database

/** A queued append. */
interface Pending {
  readonly _tag: 'Append'
  readonly row: CheckpointRow
  /** The writer's fencing token, checked in the group's transaction; `undefined` for an unfenced append. */
  readonly fence: number | undefined
  /** The payload as JSON text, taken when `append` was called: later mutations of the row do not leak in. */
  readonly payload: string | null
  readonly resolve: () => void
  readonly reject: (e: CanoFailure) => void
}

/**
 * A queued write other than an append: a run-table write (create, claim, renew, release, finish, cancel
 * request) or a clear of a run's log. It runs inside the group's transaction, in a savepoint of its own
 * (the logic's `atomically`, nested), so a failure undoes only what it wrote.
 */
interface Operation {
  readonly _tag: 'Operation'
  /** Names the operation in driver errors. */
  readonly what: string
  readonly run: (c: Connection, now: number) => unknown
  readonly resolve: (value: unknown) => void
  readonly reject: (e: CanoFailure) => void
}

/** What the group commit queues, in call order. */
type Queued = Pending | Operation

/** Per queued item: its error, or `undefined` (an operation's value is in `values` at the same index). */
type Outcomes = Array<CanoError | undefined>

interface Connection {
  readonly db: Database
  /**
   * Writes a batch inside the caller's transaction; records each item's outcome (and each operation's
   * value), returns the rows it inserted, updated or deleted (counted only when `count`).
   */
  readonly writeBatch: Sqlite.Transaction<
    (c: Connection, batch: ReadonlyArray<Queued>, outcomes: Outcomes, values: Array<unknown>, count: boolean) => number
  >
  readonly select: Sqlite.Statement<[string], StoredRow>
  readonly remove: Sqlite.Statement<[string]>
  readonly summaries: Sqlite.Statement<[], StoredSummary>
  /** The run table's rules over this connection, each operation one immediate transaction (a savepoint inside a batch). */
  readonly logic: RunTableLogic
  /** The fences of fenced appends, known inside a batch without a `SELECT`. */
  readonly fences: FenceCache
  /** A fenced clear: checks the fence and removes the rows in one transaction (a savepoint inside a batch). */
  readonly fencedClear: Sqlite.Transaction<(workflowId: string, fence: number) => void>
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const ADAPTER = 'sqliteCheckpoints'

const SCHEMA = `CREATE TABLE IF NOT EXISTS cano_checkpoints (
  workflow_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  task_id TEXT NOT NULL,
  payload TEXT,
  version INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, seq)
)`

const RUNS = 'cano_checkpoints_runs'

const TERMINAL_SQL = TERMINAL_STATUSES.map((status) => `'${status}'`).join(', ')

/** The run table and its indexes (columns: roots/stores/internal/runRows.ts). */
const RUNS_SCHEMA = `CREATE TABLE ${RUNS} (
  workflow_id TEXT NOT NULL PRIMARY KEY,
  workflow TEXT NOT NULL,
  version INTEGER NOT NULL,
  initial TEXT NOT NULL,
  status TEXT NOT NULL,
  owner TEXT,
  lease_until INTEGER,
  fence INTEGER NOT NULL,
  wake_at INTEGER,
  input TEXT NOT NULL,
  output TEXT NOT NULL,
  error TEXT NOT NULL,
  cancel_requested INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  ended_at INTEGER,
  due_at INTEGER
);
CREATE INDEX ${RUNS}_due ON ${RUNS} (due_at, workflow_id) WHERE due_at IS NOT NULL;
CREATE INDEX ${RUNS}_created ON ${RUNS} (created_at);
CREATE INDEX ${RUNS}_ended ON ${RUNS} (ended_at) WHERE ended_at IS NOT NULL`

/**
 * One `pending` record per run of a 0.1 log: workflow '', the version and state of its first row,
 * input null, created (and due) at its first row's time, updated at its last row's.
 */
const BACKFILL = `INSERT INTO ${RUNS} (${RUN_COLUMNS}, due_at)
  SELECT c.workflow_id, '', c.version, c.state, 'pending', NULL, NULL, 0, NULL, 'null', 'null', 'null', 0,
    g.first_at, g.last_at, NULL, g.first_at
  FROM (SELECT workflow_id, min(seq) AS first, min(at) AS first_at, max(at) AS last_at
        FROM cano_checkpoints GROUP BY workflow_id) g
  JOIN cano_checkpoints c ON c.workflow_id = g.workflow_id AND c.seq = g.first`

const DIALECT = {
  table: RUNS,
  json: true,
  int: (u: unknown) => u,
  bool: (u: unknown) => (u === 0 ? false : u === 1 ? true : u),
}

const defaults = { synchronous: 'FULL', busyTimeoutMs: 5000, groupCommit: true } as const

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A checkpoint store in one SQLite file, shared safely by many concurrent runs and by several
 * processes. Nothing happens at call time: the driver is imported, the file opened and the schema
 * created on the first call. A missing driver is a `Configuration` error that says to
 * `npm install better-sqlite3@12`.
 *
 * @param path - the database file; its parent directory is created if missing
 * @param options - durability pragmas, lock wait and group commit, see {@link SqliteCheckpointsOptions}
 * @returns a {@link RunStore} (the log and its run table); call `close()` when done
 * @throws CanoFailure with a `Configuration` error for an invalid option
 * @example
 * import { sqliteCheckpoints } from 'cano-rx/sqlite'
 * const store = sqliteCheckpoints('.cano/checkpoints.db')
 * await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch', payload: null, version: 1, at: Date.now() })
 * const unfinished = await store.listRuns()
 * await store.close()
 * @category constructors
 * @since 0.1.0
 */
export const sqliteCheckpoints = (path: string, options: SqliteCheckpointsOptions = {}): RunStore => {
  const { synchronous, busyTimeoutMs, groupCommit } = { ...defaults, ...options }
  const onCommit = options.onCommit
  const now = options.now ?? Date.now
  if (typeof now !== 'function')
    throw new CanoFailure(configurationError(`sqliteCheckpoints: now must be a function, got ${describeValue(now)}`))
  if (!['FULL', 'NORMAL', 'OFF'].includes(synchronous))
    throw new CanoFailure(
      configurationError(
        `sqliteCheckpoints: synchronous must be 'FULL', 'NORMAL' or 'OFF', got ${synchronous as string}`,
      ),
    )
  const busyTimeout = checkConfig(NonNegativeInteger, busyTimeoutMs, 'sqliteCheckpoints: busyTimeoutMs', String)
  if (busyTimeout !== undefined) throw new CanoFailure(busyTimeout)
  if (typeof path !== 'string' || path === '')
    throw new CanoFailure(configurationError('sqliteCheckpoints: path must be a non-empty file path'))

  // --- connection --------------------------------------------------------------------

  const open = async (): Promise<Connection> => {
    const Driver = await loadPeer(ADAPTER, 'better-sqlite3', 'npm install better-sqlite3@12', async () => {
      const mod = await import('better-sqlite3')
      return mod.default
    })
    try {
      if (path !== ':memory:') await mkdir(dirname(resolve(path)), { recursive: true })
      const db = new Driver(path, { timeout: busyTimeoutMs })
      try {
        // every step is idempotent: the whole of it is done again when SQLite refuses one without waiting
        await whileBusy(busyTimeoutMs, () => {
          db.pragma(`busy_timeout = ${busyTimeoutMs}`)
          db.pragma('journal_mode = WAL')
          db.pragma(`synchronous = ${synchronous}`)
          // the savepoint of each run-table write inside a group commit keeps its undo pages here: in a
          // file (SQLite's default) a finish that clears a 21-row log cost ~100 µs of temp-file writes
          db.pragma('temp_store = MEMORY')
          db.exec(SCHEMA)
          // Create the run table, and backfill it from a 0.1 log, once: the first opener does both in one
          // transaction; a concurrent opener waits for the write lock and then finds the table.
          db.transaction(() => {
            const present = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(RUNS)
            if (present !== undefined) return
            db.exec(RUNS_SCHEMA)
            db.exec(BACKFILL)
          }).immediate()
        })
        const { storage, fences } = recordStorage(db)
        const logic = runTableLogic(storage)
        const insert = db.prepare<[string, number, string, string, string, string | null, number, number]>(
          `INSERT INTO cano_checkpoints (workflow_id, seq, kind, state, task_id, payload, version, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_id, seq) DO NOTHING`,
        )
        const changes = db.prepare<[], number>('SELECT total_changes()').pluck()
        const writeBatch = db.transaction(
          (
            c: Connection,
            batch: ReadonlyArray<Queued>,
            outcomes: Outcomes,
            values: Array<unknown>,
            count: boolean,
          ): number => {
            fences.begin()
            try {
              let written = 0
              for (let i = 0; i < batch.length; i++) {
                const item = batch[i] as Queued
                if (item._tag === 'Operation') {
                  const before = count ? (changes.get() ?? 0) : 0
                  try {
                    values[i] = item.run(c, now())
                    outcomes.push(undefined)
                    if (count) written += (changes.get() ?? 0) - before
                  } catch (e: unknown) {
                    // the operation's savepoint was rolled back; if SQLite rolled the transaction back, the batch fails
                    fences.forget()
                    if (!db.inTransaction) throw e
                    outcomes.push(e instanceof CanoFailure ? e.error : driverError(ADAPTER, item.what, e))
                  }
                  continue
                }
                const { row, payload, fence } = item
                try {
                  const lost = fence === undefined ? undefined : logic.fenceError(row.workflowId, fence)
                  if (lost !== undefined) {
                    outcomes.push(lost)
                    continue
                  }
                  if (insert.run(...toStoredColumns(row, payload)).changes === 0)
                    outcomes.push(checkpointConflictError(row.workflowId, row.seq))
                  else {
                    outcomes.push(undefined)
                    written++
                  }
                } catch (e: unknown) {
                  // SQLite undid this statement only; if it rolled the transaction back, the batch fails.
                  if (!db.inTransaction) throw e
                  outcomes.push(driverError(ADAPTER, `append ${where(row)}`, e))
                }
              }
              return written
            } finally {
              fences.end()
            }
          },
        )
        const remove = db.prepare<[string]>('DELETE FROM cano_checkpoints WHERE workflow_id = ?')
        return {
          db,
          logic,
          fences,
          fencedClear: db.transaction((workflowId: string, fence: number) => {
            const lost = logic.fenceError(workflowId, fence)
            if (lost !== undefined) throw new CanoFailure(lost)
            remove.run(workflowId)
          }),
          writeBatch,
          select: db.prepare(
            `SELECT workflow_id, seq, kind, state, task_id, payload, version, at
             FROM cano_checkpoints WHERE workflow_id = ? ORDER BY seq`,
          ),
          remove,
          summaries: db.prepare(
            `SELECT c.workflow_id, c.seq, c.kind, c.state, c.version, c.at, g.rows
             FROM (SELECT workflow_id, max(seq) AS last, count(*) AS rows FROM cano_checkpoints GROUP BY workflow_id) g
             JOIN cano_checkpoints c ON c.workflow_id = g.workflow_id AND c.seq = g.last`,
          ),
        }
      } catch (e: unknown) {
        db.close()
        throw e
      }
    } catch (e: unknown) {
      throw new CanoFailure(driverError(ADAPTER, `open ${JSON.stringify(path)}`, e))
    }
  }

  const shell = connectionShell(ADAPTER, open)

  // --- writes ------------------------------------------------------------------------

  const notifyCommit = (rows: number): void => reportCommit(onCommit, rows)

  /** The failure of `item` when its whole batch failed with `e` (nothing of the batch was written). */
  const batchFailure = (item: Queued, e: unknown): CanoFailure =>
    new CanoFailure(driverError(ADAPTER, item._tag === 'Append' ? `append ${where(item.row)}` : item.what, e))

  /**
   * Writes `batch` in one immediate transaction and settles every caller after the commit. An item that
   * fails on its own (a duplicate, a trigger, a lost fence, a run-table rule) fails only its caller; an
   * error that ends the transaction fails the whole batch, and nothing of it is written.
   */
  const writeOn = (c: Connection, batch: ReadonlyArray<Queued>): void => {
    const outcomes: Outcomes = []
    const values: Array<unknown> = []
    let written: number
    try {
      written = c.writeBatch.immediate(c, batch, outcomes, values, onCommit !== undefined)
    } catch (e: unknown) {
      c.fences.forget()
      for (const p of batch) p.reject(batchFailure(p, e))
      return
    }
    notifyCommit(written)
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Queued
      const failed = outcomes[i]
      if (failed !== undefined) p.reject(new CanoFailure(failed))
      else if (p._tag === 'Append') p.resolve()
      else p.resolve(values[i])
    }
  }

  /**
   * The tick's group commit: synchronous once the connection is open (so the queue never has a write
   * in flight); before that, the batch waits for the open on its own.
   */
  const queue = groupCommitQueue<Queued>((batch) => {
    const c = shell.current()
    if (c !== undefined) return writeOn(c, batch)
    shell.connect().then(
      (opened) => writeOn(opened, batch),
      (e: unknown) => {
        const failure = shell.failure(e, 'open')
        for (const p of batch) p.reject(failure)
      },
    )
  })

  /** Queues a write other than an append; it is committed with the appends (and writes) of its tick. */
  const enqueue = <A>(what: string, run: (c: Connection, now: number) => A): Promise<A> => {
    if (shell.isClosed()) return shell.rejectClosed()
    return new Promise<A>((resolvePromise, rejectPromise) => {
      queue.push(
        {
          _tag: 'Operation',
          what,
          run,
          resolve: resolvePromise as (value: unknown) => void,
          reject: rejectPromise,
        },
        !groupCommit,
      )
    })
  }

  // --- operations --------------------------------------------------------------------

  /** Opens the connection, then writes what is queued (so operations take effect in call order). */
  const ready = async (): Promise<Connection> => {
    const c = await shell.connect()
    if (!c.db.open) return shell.rejectClosed()
    queue.flush()
    return c
  }

  const withConnection = <A>(what: string, op: (c: Connection) => A): Promise<A> => shell.use(what, ready, op)

  // run-table writes share the group commit of the appends; reads (and prune) run on their own, after it
  const exec: RunTableExec = (what, check, op, write) => {
    const invalid = rejectInvalid(check)
    if (invalid !== undefined && !shell.isClosed()) return invalid
    if (write) return enqueue(what, (c, t) => op(c.logic, t))
    return withConnection(what, (c) => op(c.logic, now()))
  }

  return {
    append: (row, fence) => {
      if (shell.isClosed()) return shell.rejectClosed()
      const checked = validateCheckpointRow(row)
      if (E.isLeft(checked)) return rejectWith(checked.left)
      const badFence = checkFenceArgument(ADAPTER, 'append', fence)
      if (badFence !== undefined) return Promise.reject(new CanoFailure(badFence))
      return new Promise<void>((resolvePromise, rejectPromise) => {
        queue.push(
          {
            _tag: 'Append',
            row: { ...checked.right },
            fence,
            payload: encodeStoredPayload(checked.right),
            resolve: resolvePromise,
            reject: rejectPromise,
          },
          !groupCommit,
        )
      })
    },

    loadRun: (workflowId) =>
      withConnection(`load run ${JSON.stringify(workflowId)}`, (c) => {
        const out: Array<CheckpointRow> = []
        for (const r of c.select.all(workflowId)) {
          // the payload is JSON text
          const payload = parseStoredPayload(workflowId, r.seq, r.payload)
          if (E.isLeft(payload)) throw new CanoFailure(payload.left)
          out.push(fromStoredRow(workflowId, r, payload.right))
        }
        return out
      }),

    clear: (workflowId, fence) => {
      const badFence = checkFenceArgument(ADAPTER, 'clear', fence)
      if (badFence !== undefined && !shell.isClosed()) return Promise.reject(new CanoFailure(badFence))
      return enqueue(`clear run ${JSON.stringify(workflowId)}`, (c) => {
        if (fence === undefined) c.remove.run(workflowId)
        else c.fencedClear(workflowId, fence)
      })
    },

    listRuns: () =>
      withConnection('list runs', (c) => {
        return c.summaries
          .all()
          .map((r) => fromStoredSummary(r))
          .sort(byWorkflowId)
      }),

    // Appends made before close() are still written; later calls reject.
    close: () =>
      shell.close(async () => {
        if (!shell.isOpening() && queue.isEmpty()) return
        const c = await shell.connect().catch((e: unknown) => {
          const failure = shell.failure(e, 'open')
          for (const p of queue.take()) p.reject(failure)
          return undefined
        })
        if (c === undefined) return
        queue.flush()
        c.db.close()
      }),

    runs: runTableOver(exec),
  }
}

// -------------------------------------------------------------------------------------
// run table
// -------------------------------------------------------------------------------------

/**
 * The fences of the runs this connection appended for, so that a fenced append inside a group commit
 * costs no `SELECT`: valid only inside a write transaction (which holds the file's write lock) after
 * {@link FenceCache.begin} found that no other connection committed since the last one
 * (`PRAGMA data_version`). A record this connection writes drops its entry; a failed operation or batch,
 * and `prune`, drop them all.
 */
interface FenceCache {
  /** At the start of a write transaction: forgets every fence when another connection committed meanwhile. */
  readonly begin: () => void
  /** At the end of a write transaction's statements (before its commit). */
  readonly end: () => void
  /** Forgets every fence: after a rollback (of an operation's savepoint, or of a batch), which may undo what it saw. */
  readonly forget: () => void
}

/** How many fences the cache keeps at most (it starts over beyond that). */
const MAX_CACHED_FENCES = 100_000

/** The run table's records in `db`; every operation of the logic runs in one immediate transaction. */
const recordStorage = (db: Database): { readonly storage: RecordStorage; readonly fences: FenceCache } => {
  const select = db.prepare<[string], StoredRunRow>(`SELECT ${RUN_COLUMNS} FROM ${RUNS} WHERE workflow_id = ?`)
  const upsert = db.prepare<
    [
      string,
      string,
      number,
      string,
      string,
      string | null,
      number | null,
      number,
      number | null,
      string,
      string,
      string,
      number,
      number,
      number,
      number | null,
      number | null,
    ]
  >(
    // an existing record is updated in place (REPLACE would delete and re-insert it, in every index)
    `INSERT INTO ${RUNS} (${RUN_COLUMNS}, due_at) VALUES (${Array.from({ length: 17 }, () => '?').join(', ')})
     ON CONFLICT (workflow_id) DO UPDATE SET ${`${RUN_COLUMNS}, due_at`
       .split(', ')
       .filter((column) => column !== 'workflow_id')
       .map((column) => `${column} = excluded.${column}`)
       .join(', ')}`,
  )
  const due = db.prepare<[number, string | null, string | null, number], { readonly workflow_id: string }>(
    `SELECT workflow_id FROM ${RUNS}
     WHERE due_at <= ? AND workflow_id IS NOT NULL AND (? IS NULL OR workflow IN (SELECT value FROM json_each(?)))
     ORDER BY due_at, workflow_id LIMIT ?`,
  )
  // a record that does not decode, taken out of the runnable runs: an open status becomes `pending` with
  // no owner; every other column is left as it is
  const unqueue = db.prepare<[string]>(
    `UPDATE ${RUNS} SET due_at = NULL,
       owner = CASE WHEN status IN ('pending', 'running', 'parked') THEN NULL ELSE owner END,
       lease_until = CASE WHEN status IN ('pending', 'running', 'parked') THEN NULL ELSE lease_until END,
       status = CASE WHEN status IN ('pending', 'running', 'parked') THEN 'pending' ELSE status END
     WHERE workflow_id = ?`,
  )
  const list = db.prepare<[string | null, string | null, string | null, string | null, number], StoredRunRow>(
    `SELECT ${RUN_COLUMNS} FROM ${RUNS}
     WHERE (? IS NULL OR status IN (SELECT value FROM json_each(?))) AND (? IS NULL OR workflow = ?)
     ORDER BY created_at DESC, workflow_id LIMIT ?`,
  )
  const pruneLog = db.prepare<[number]>(
    `DELETE FROM cano_checkpoints WHERE workflow_id IN
       (SELECT workflow_id FROM ${RUNS} WHERE status IN (${TERMINAL_SQL}) AND ended_at < ?)`,
  )
  const clearLog = db.prepare<[string]>('DELETE FROM cano_checkpoints WHERE workflow_id = ?')
  const selectFence = db.prepare<[string], { readonly fence: number }>(
    `SELECT fence FROM ${RUNS} WHERE workflow_id = ?`,
  )
  const pruneRuns = db.prepare<[number]>(`DELETE FROM ${RUNS} WHERE status IN (${TERMINAL_SQL}) AND ended_at < ?`)
  const transaction = db.transaction(<A>(op: () => A): A => op())
  const decode = (r: StoredRunRow): RunRecord => fromRunRow(r, DIALECT)
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck()
  const cached = new Map<string, number>()
  let seen: number | undefined
  let inBatch = false
  const fences: FenceCache = {
    begin: () => {
      const version = dataVersion.get()
      if (version !== seen || cached.size > MAX_CACHED_FENCES) cached.clear()
      seen = version
      inBatch = true
    },
    end: () => {
      inBatch = false
    },
    forget: () => cached.clear(),
  }
  const storage: RecordStorage = {
    read: (workflowId) => {
      const r = select.get(workflowId)
      return r === undefined ? undefined : decode(r)
    },
    fenceOf: (workflowId) => {
      if (inBatch) {
        const known = cached.get(workflowId)
        if (known !== undefined) return known
      }
      const fence = selectFence.get(workflowId)?.fence
      if (typeof fence !== 'number') return undefined
      if (inBatch) cached.set(workflowId, fence)
      return fence
    },
    write: (r, dueAt) => {
      cached.delete(r.workflowId)
      upsert.run(
        r.workflowId,
        r.workflow,
        r.version,
        r.initial,
        r.status,
        r.owner,
        r.leaseUntil,
        r.fence,
        r.wakeAt,
        JSON.stringify(r.input),
        JSON.stringify(r.output),
        JSON.stringify(r.error),
        r.cancelRequested ? 1 : 0,
        r.createdAt,
        r.updatedAt,
        r.endedAt,
        dueAt,
      )
    },
    unqueue: (workflowId) => {
      unqueue.run(workflowId)
    },
    due: (at, limit, workflows) => {
      const names = workflows === undefined ? null : JSON.stringify(workflows)
      return due.all(at, names, names, limit).map((r) => r.workflow_id)
    },
    list: (filter) => {
      const status = filter?.status === undefined ? null : JSON.stringify(filter.status)
      const workflow = filter?.workflow ?? null
      return decodeListed(list.all(status, status, workflow, workflow, filter?.limit ?? -1), decode, runRowId, filter)
    },
    prune: (endedBefore) => {
      cached.clear()
      pruneLog.run(endedBefore)
      return pruneRuns.run(endedBefore).changes
    },
    clearLog: (workflowId) => {
      clearLog.run(workflowId)
    },
    atomically: (op) => transaction.immediate(op) as ReturnType<typeof op>,
  }
  return { storage, fences }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
const isBusy = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' && e.code.startsWith('SQLITE_BUSY')

/**
 * @internal Runs `step`, and runs it again while it fails with `SQLITE_BUSY`, for `ms` at most (then its
 * error is thrown), waiting 1, 2, 4 … 64 ms between tries (each a random part of that, so that openers do
 * not meet again). SQLite answers `SQLITE_BUSY` at once, without waiting out its busy timeout, where
 * waiting could deadlock: two connections switching one new file to WAL together each hold a read lock
 * and want the other's gone, and one of them is told to give up. Seen with three processes opening new
 * files at the same instants (`busyTimeoutMs` 10 000): 43 of 300 opens failed "database is locked".
 */
export const whileBusy = async (ms: number, step: () => void): Promise<void> => {
  const end = Date.now() + ms
  for (let wait = 1; ; wait = Math.min(wait * 2, 64)) {
    try {
      return step()
    } catch (e: unknown) {
      if (!isBusy(e) || Date.now() >= end) throw e
    }
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * wait))
  }
}

const where = (row: CheckpointRow): string => `workflow ${JSON.stringify(row.workflowId)} at sequence ${row.seq}`
