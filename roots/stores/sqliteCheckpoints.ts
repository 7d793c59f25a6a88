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
 * SQLite undoes just that statement and the transaction goes on with the others.
 *
 * ```text
 * run A:  append(a0) ─────────────┐            resolves after COMMIT
 * run B:  append(b0) ──────────┐  │
 * run C:  append(c0) ───────┐  │  │
 *                            BEGIN; INSERT c0; INSERT b0; INSERT a0; COMMIT   (one fsync)
 * ```
 *
 * @since 0.1.0
 */
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

import type Sqlite from 'better-sqlite3'
import * as E from 'fp-ts/lib/Either.js'

import type { CheckpointStore as CheckpointStoreError } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { NonNegativeInteger } from '../../codecs/Config.js'
import { CanoFailure, configurationError } from '../../src/CanoError.js'
import {
  byWorkflowId,
  checkpointConflictError,
  type CheckpointStore,
  driverError,
  encodeStoredPayload,
  fromStoredRow,
  fromStoredSummary,
  parseStoredPayload,
  rejectWith,
  reportCommit,
  type StoredRow,
  type StoredSummary,
  toStoredColumns,
  validateCheckpointRow,
} from '../../src/CheckpointStore.js'
import { checkConfig } from '../../src/internal/checkConfig.js'
import { connectionShell, loadPeer } from './internal/connectionShell.js'
import { groupCommitQueue } from './internal/groupCommitQueue.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link sqliteCheckpoints}.
 *
 * @example
 * import { sqliteCheckpoints, type SqliteCheckpointsOptions } from 'cano-rx'
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
   * Write the appends of one tick in one transaction (the default, `true`), or each append in its own
   * transaction (`false`).
   */
  readonly groupCommit?: boolean
  /**
   * Called after each committed write transaction with the number of rows it wrote (never with 0): for
   * metrics and tests. A throwing callback is ignored.
   */
  readonly onCommit?: (rows: number) => void
}

type Database = Sqlite.Database

interface Pending {
  readonly row: CheckpointRow
  /** The payload as JSON text, taken when `append` was called: later mutations of the row do not leak in. */
  readonly payload: string | null
  readonly resolve: () => void
  readonly reject: (e: CanoFailure) => void
}

type Outcomes = Array<CheckpointStoreError | undefined>

interface Connection {
  readonly db: Database
  /** Inserts a batch inside the caller's transaction; records each row's outcome, returns the rows written. */
  readonly writeBatch: Sqlite.Transaction<(batch: ReadonlyArray<Pending>, outcomes: Outcomes) => number>
  readonly select: Sqlite.Statement<[string], StoredRow>
  readonly remove: Sqlite.Statement<[string]>
  readonly summaries: Sqlite.Statement<[], StoredSummary>
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
 * @returns a {@link CheckpointStore}; call `close()` when done
 * @throws CanoFailure with a `Configuration` error for an invalid option
 * @example
 * import { sqliteCheckpoints } from 'cano-rx'
 * const store = sqliteCheckpoints('.cano/checkpoints.db')
 * await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch', payload: null, version: 1, at: Date.now() })
 * const unfinished = await store.listRuns()
 * await store.close()
 * @category constructors
 * @since 0.1.0
 */
export const sqliteCheckpoints = (path: string, options: SqliteCheckpointsOptions = {}): CheckpointStore => {
  const { synchronous, busyTimeoutMs, groupCommit } = { ...defaults, ...options }
  const onCommit = options.onCommit
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
        db.pragma(`busy_timeout = ${busyTimeoutMs}`)
        db.pragma('journal_mode = WAL')
        db.pragma(`synchronous = ${synchronous}`)
        db.exec(SCHEMA)
        const insert = db.prepare<[string, number, string, string, string, string | null, number, number]>(
          `INSERT INTO cano_checkpoints (workflow_id, seq, kind, state, task_id, payload, version, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workflow_id, seq) DO NOTHING`,
        )
        const writeBatch = db.transaction((batch: ReadonlyArray<Pending>, outcomes: Outcomes): number => {
          let written = 0
          for (const { row, payload } of batch) {
            try {
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
        })
        return {
          db,
          writeBatch,
          select: db.prepare(
            `SELECT workflow_id, seq, kind, state, task_id, payload, version, at
             FROM cano_checkpoints WHERE workflow_id = ? ORDER BY seq`,
          ),
          remove: db.prepare('DELETE FROM cano_checkpoints WHERE workflow_id = ?'),
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

  /**
   * Writes `batch` in one immediate transaction and settles every caller after the commit. A row that
   * fails on its own (duplicate, trigger) fails only its caller; an error that ends the transaction
   * fails the whole batch, and nothing of it is written.
   */
  const writeOn = (c: Connection, batch: ReadonlyArray<Pending>): void => {
    const outcomes: Array<CheckpointStoreError | undefined> = []
    let written: number
    try {
      written = c.writeBatch.immediate(batch, outcomes)
    } catch (e: unknown) {
      for (const p of batch) p.reject(new CanoFailure(driverError(ADAPTER, `append ${where(p.row)}`, e)))
      return
    }
    notifyCommit(written)
    batch.forEach((p, i) => {
      const failed = outcomes[i]
      if (failed === undefined) p.resolve()
      else p.reject(new CanoFailure(failed))
    })
  }

  /**
   * The tick's group commit: synchronous once the connection is open (so the queue never has a write
   * in flight); before that, the batch waits for the open on its own.
   */
  const queue = groupCommitQueue<Pending>((batch) => {
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

  // --- operations --------------------------------------------------------------------

  /** Opens the connection, then writes what is queued (so operations take effect in call order). */
  const ready = async (): Promise<Connection> => {
    const c = await shell.connect()
    if (!c.db.open) return shell.rejectClosed()
    queue.flush()
    return c
  }

  const withConnection = <A>(what: string, op: (c: Connection) => A): Promise<A> => shell.use(what, ready, op)

  return {
    append: (row) => {
      if (shell.isClosed()) return shell.rejectClosed()
      const checked = validateCheckpointRow(row)
      if (E.isLeft(checked)) return rejectWith(checked.left)
      return new Promise<void>((resolvePromise, rejectPromise) => {
        queue.push(
          {
            row: { ...checked.right },
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

    clear: (workflowId) =>
      withConnection(`clear run ${JSON.stringify(workflowId)}`, (c) => {
        c.remove.run(workflowId)
      }),

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
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const where = (row: CheckpointRow): string => `workflow ${JSON.stringify(row.workflowId)} at sequence ${row.seq}`
