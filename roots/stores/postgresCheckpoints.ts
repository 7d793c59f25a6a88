/**
 * `postgresCheckpoints`: the distributed checkpoint store, one PostgreSQL table through `pg`, shared by
 * many processes on many machines.
 *
 * `pg` is an optional peer dependency, imported on first use (and not at all when you pass your own
 * pool). The table is created on first use if missing; its primary key `(workflow_id, seq)` is what
 * makes a duplicate append fail instead of overwriting, whichever process it comes from.
 *
 * **Group commit.** Appends that arrive while the previous write is in flight, or in the same tick, are
 * written by one multi-row `INSERT … ON CONFLICT DO NOTHING` statement, which PostgreSQL commits as one
 * transaction; each caller settles after that commit. A duplicate fails only its caller. When a row
 * fails the whole statement on its own (a data error such as a value PostgreSQL cannot store, or a
 * trigger), the batch is retried row by row so that only that row's caller fails.
 *
 * @since 0.1.0
 */
import type pg from 'pg'

import type { CheckpointStore as CheckpointStoreError } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { CanoFailure, configurationError } from '../../src/CanoError.js'
import {
  byWorkflowId,
  checkpointConflictError,
  type CheckpointStore,
  driverError,
  encodeStoredPayload,
  fromStoredRow,
  fromStoredSummary,
  rejectWith,
  reportCommit,
  type StoredRow,
  type StoredSummary,
  toStoredColumns,
  validateCheckpointRow,
} from '../../src/CheckpointStore.js'
import { connectionShell, loadPeer } from './internal/connectionShell.js'
import { groupCommitQueue } from './internal/groupCommitQueue.js'
import { endPool, poolSettings, trackClients, wireTimeouts, withDeadline } from './internal/postgresTimeouts.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The part of a `pg` `Pool` (or `Client`) the store uses: `query(text, values)`. A `pg.Pool` fits.
 *
 * @example
 * import type { PostgresPool } from 'cano-rx'
 * const logging = (inner: PostgresPool): PostgresPool => ({
 *   query: (text, values) => {
 *     console.log(text)
 *     return inner.query(text, values)
 *   },
 * })
 * @category model
 * @since 0.1.0
 */
export interface PostgresPool {
  /** Runs one statement with `$1…$n` parameters. */
  query(
    text: string,
    values?: Array<unknown>,
  ): Promise<{ readonly rows: ReadonlyArray<unknown>; readonly rowCount: number | null }>
}

/**
 * Options of {@link postgresCheckpoints}. Give either `pool` or `connectionString` (with neither, `pg`
 * reads the `PG*` environment variables).
 *
 * @example
 * import { postgresCheckpoints, type PostgresCheckpointsOptions } from 'cano-rx'
 * const options: PostgresCheckpointsOptions = { connectionString: 'postgres://postgres@127.0.0.1:5432/test', table: 'app.checkpoints' }
 * const store = postgresCheckpoints(options)
 * @category model
 * @since 0.1.0
 */
export interface PostgresCheckpointsOptions {
  /** A `pg` connection string; the store creates a pool from it and ends that pool on `close()`. */
  readonly connectionString?: string
  /** A pool you own: the store uses it and leaves it open on `close()`. */
  readonly pool?: PostgresPool
  /** The table, optionally schema-qualified (`schema.table`); plain identifiers only. Default `cano_checkpoints`. */
  readonly table?: string
  /**
   * Write the appends that queue up while a write is in flight, or in one tick, as one multi-row
   * statement (the default, `true`), or send each append on its own (`false`).
   */
  readonly groupCommit?: boolean
  /**
   * Called after each committed write with the number of rows it wrote (never with 0): for metrics and
   * tests. A throwing callback is ignored.
   */
  readonly onCommit?: (rows: number) => void
  /**
   * How long, in milliseconds, to wait for a connection: its start-up on a pool the store creates
   * (`pg`'s `connectionTimeoutMillis`, which also bounds the wait for a free pooled connection), and
   * the connection part of each call's deadline (see `statementTimeoutMs`). An integer in
   * [1, 2147483647]. Default `10_000`.
   *
   * @since 0.2.0
   */
  readonly connectTimeoutMs?: number
  /**
   * How long, in milliseconds, one statement may run. On a pool the store creates, PostgreSQL cancels
   * it after that long (`statement_timeout`) and `pg` drops a connection that has not answered
   * 1000 ms later (`query_timeout`). Whatever the pool, one passed in `pool` too, a call of the store
   * that has not settled within `connectTimeoutMs + statementTimeoutMs + 1000` rejects with a
   * `CheckpointStore` error ("PostgreSQL did not answer within N ms"). An integer in [1, 2147483647].
   * Default `30_000`.
   *
   * @since 0.2.0
   */
  readonly statementTimeoutMs?: number
}

/** A row as it was when `append` was called (later mutations of the caller's object do not leak in). */
interface Snapshot {
  readonly row: CheckpointRow
  /** The payload as JSON text. */
  readonly payload: string | null
}

interface Pending extends Snapshot {
  readonly resolve: () => void
  readonly reject: (e: CanoFailure) => void
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const ADAPTER = 'postgresCheckpoints'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const COLUMNS = 'workflow_id, seq, kind, state, task_id, payload, version, at'

/** SQLSTATE classes a single bad row can raise (data exception, integrity violation, PL/pgSQL raise). */
const ROW_LEVEL_CLASSES: ReadonlyArray<string> = ['22', '23', 'P0']

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A checkpoint store in a PostgreSQL table, for runs shared by several processes and machines. Nothing
 * happens at call time: the pool is created (importing `pg`) and the table created on the first call.
 * A missing driver is a `Configuration` error that says to `npm install pg`.
 *
 * The table (`payload` is `jsonb`; PostgreSQL cannot store `\u0000` in it, which the row codec rejects
 * up front):
 *
 * ```sql
 * CREATE TABLE IF NOT EXISTS cano_checkpoints (
 *   workflow_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
 *   task_id TEXT NOT NULL, payload JSONB, version BIGINT NOT NULL, at BIGINT NOT NULL,
 *   PRIMARY KEY (workflow_id, seq))
 * ```
 *
 * **Timeouts.** A server that accepts the connection and never answers, or stops answering, ends each
 * call in a `CheckpointStore` error that names the timeout (`connectTimeoutMs`, `statementTimeoutMs`),
 * and `close()` still returns: it ends a pool it created, destroying after `connectTimeoutMs` the
 * sockets the server does not close.
 *
 * @param options - the connection (`connectionString` or `pool`), `table`, group commit and timeouts, see {@link PostgresCheckpointsOptions}
 * @returns a {@link CheckpointStore}; call `close()` when done
 * @throws CanoFailure with a `Configuration` error for an invalid table name or timeout, or when both `pool` and `connectionString` are given
 * @example
 * import { postgresCheckpoints } from 'cano-rx'
 * const store = postgresCheckpoints({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' })
 * await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch', payload: null, version: 1, at: Date.now() })
 * const rows = await store.loadRun('order-42')
 * await store.close()
 * @category constructors
 * @since 0.1.0
 */
export const postgresCheckpoints = (options: PostgresCheckpointsOptions = {}): CheckpointStore => {
  const { table = 'cano_checkpoints', groupCommit = true, onCommit } = options
  const parts = typeof table === 'string' ? table.split('.') : []
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p)))
    throw new CanoFailure(
      configurationError(
        `postgresCheckpoints: table must be an identifier or schema.identifier of letters, digits and _, got ${JSON.stringify(table)}`,
      ),
    )
  if (options.pool !== undefined && options.connectionString !== undefined)
    throw new CanoFailure(configurationError('postgresCheckpoints: give either pool or connectionString, not both'))
  const timeouts = wireTimeouts(ADAPTER, options)
  if ('_tag' in timeouts) throw new CanoFailure(timeouts)
  const qualified = parts.map((p) => `"${p}"`).join('.')
  const lockKey = `cano-rx:${table}`

  const insertOne = `INSERT INTO ${qualified} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
    ON CONFLICT (workflow_id, seq) DO NOTHING`
  const insertMany = `INSERT INTO ${qualified} (${COLUMNS})
    SELECT w, s, k, st, ti, p::jsonb, v, a
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
      AS u(w, s, k, st, ti, p, v, a)
    ON CONFLICT (workflow_id, seq) DO NOTHING
    RETURNING workflow_id, seq`

  let pool: PostgresPool | undefined = options.pool
  let ownPool: pg.Pool | undefined

  // --- connection --------------------------------------------------------------------

  const createSchema = async (p: PostgresPool): Promise<void> => {
    const ddl = `CREATE TABLE IF NOT EXISTS ${qualified} (
      workflow_id TEXT NOT NULL,
      seq BIGINT NOT NULL,
      kind TEXT NOT NULL,
      state TEXT NOT NULL,
      task_id TEXT NOT NULL,
      payload JSONB,
      version BIGINT NOT NULL,
      at BIGINT NOT NULL,
      PRIMARY KEY (workflow_id, seq)
    )`
    // One statement: the advisory lock serialises concurrent first uses from several processes, which
    // would otherwise race inside CREATE TABLE IF NOT EXISTS.
    const guarded = `DO $cano$ BEGIN
      PERFORM pg_advisory_xact_lock(hashtext(${literal(lockKey)}));
      EXECUTE ${literal(ddl)};
    END $cano$`
    // A role without CREATE on the schema can still use a table that already exists.
    const { rows } = await p.query('SELECT to_regclass($1) IS NOT NULL AS present', [qualified])
    if ((rows[0] as { readonly present?: unknown } | undefined)?.present === true) return
    try {
      await p.query(guarded)
    } catch (e: unknown) {
      // 42P07 duplicate table / 23505 duplicate catalog entry: someone else created it first.
      if (sqlState(e) !== '42P07' && sqlState(e) !== '23505') throw e
    }
  }

  const open = async (): Promise<PostgresPool> => {
    let p = pool
    if (p === undefined) {
      const Pool = await loadPeer(ADAPTER, 'pg', 'npm install pg', async () => {
        const mod = await import('pg')
        return mod.default.Pool
      })
      const created = new Pool({
        ...(options.connectionString === undefined ? {} : { connectionString: options.connectionString }),
        ...poolSettings(timeouts),
      })
      // An idle client that loses its connection emits 'error' on the pool; the next query reports it.
      created.on('error', () => undefined)
      trackClients(created)
      ownPool = created
      pool = created
      p = created
    }
    // Every query of the store goes through this deadline (see internal/postgresTimeouts.ts).
    const raw = p
    const timed: PostgresPool = {
      query: withDeadline((text, values) => raw.query(text, values), timeouts, raw === ownPool),
    }
    try {
      await createSchema(timed)
    } catch (e: unknown) {
      throw new CanoFailure(driverError(ADAPTER, `create table ${qualified}`, e))
    }
    return timed
  }

  /** `shell.connect()` is the pool with the schema in place: the first call creates them, a failed attempt is retried. */
  const shell = connectionShell(ADAPTER, open)

  // --- writes ------------------------------------------------------------------------

  const notifyCommit = (rows: number): void => reportCommit(onCommit, rows)

  const insertRow = async (p: PostgresPool, { row, payload }: Snapshot): Promise<CheckpointStoreError | undefined> => {
    try {
      const result = await p.query(insertOne, [...toStoredColumns(row, payload)])
      if (result.rowCount === 0) return checkpointConflictError(row.workflowId, row.seq)
      notifyCommit(1)
      return undefined
    } catch (e: unknown) {
      if (sqlState(e) === '23505') return checkpointConflictError(row.workflowId, row.seq)
      return driverError(ADAPTER, `append ${where(row)}`, e)
    }
  }

  /** One multi-row statement; returns each row's outcome, or throws when the statement failed. */
  const insertBatch = async (
    p: PostgresPool,
    batch: ReadonlyArray<Pending>,
  ): Promise<ReadonlyArray<CheckpointStoreError | undefined>> => {
    const rows = batch.map((b) => b.row)
    const result = await p.query(insertMany, [
      rows.map((r) => r.workflowId),
      rows.map((r) => r.seq),
      rows.map((r) => r.kind),
      rows.map((r) => r.state),
      rows.map((r) => r.taskId),
      batch.map((b) => b.payload),
      rows.map((r) => r.version),
      rows.map((r) => r.at),
    ])
    const written = new Set(
      result.rows.map((r) => {
        const { workflow_id, seq } = r as { readonly workflow_id: unknown; readonly seq: unknown }
        return key(String(workflow_id), String(seq))
      }),
    )
    notifyCommit(written.size)
    return rows.map((r) =>
      written.has(key(r.workflowId, String(r.seq))) ? undefined : checkpointConflictError(r.workflowId, r.seq),
    )
  }

  /** Writes `batch` and settles every caller after the commit. */
  const write = async (batch: ReadonlyArray<Pending>): Promise<void> => {
    let p: PostgresPool
    try {
      p = await shell.connect()
    } catch (e: unknown) {
      const failure = shell.failure(e, 'connect')
      for (const item of batch) item.reject(failure)
      return
    }
    // The first of several appends for one (workflowId, seq) in a batch goes in; the others conflict.
    const seen = new Set<string>()
    const unique: Array<Pending> = []
    const outcomes = new Map<Pending, CheckpointStoreError | undefined>()
    for (const item of batch) {
      const k = key(item.row.workflowId, String(item.row.seq))
      if (seen.has(k)) outcomes.set(item, checkpointConflictError(item.row.workflowId, item.row.seq))
      else {
        seen.add(k)
        unique.push(item)
      }
    }
    if (unique.length === 1 && unique[0] !== undefined) {
      outcomes.set(unique[0], await insertRow(p, unique[0]))
    } else if (unique.length > 1) {
      try {
        const results = await insertBatch(p, unique)
        unique.forEach((u, i) => outcomes.set(u, results[i]))
      } catch (e: unknown) {
        const state = sqlState(e)
        if (state !== undefined && ROW_LEVEL_CLASSES.includes(state.slice(0, 2))) {
          // One row broke the statement (nothing was written): isolate it, row by row.
          for (const u of unique) outcomes.set(u, await insertRow(p, u))
        } else {
          for (const u of unique) outcomes.set(u, driverError(ADAPTER, `append ${where(u.row)}`, e))
        }
      }
    }
    for (const item of batch) {
      const failed = outcomes.get(item)
      if (failed === undefined) item.resolve()
      else item.reject(new CanoFailure(failed))
    }
  }

  /** The group commit: appends queued in one tick, or while a write is in flight, are written together. */
  const queue = groupCommitQueue(write)

  // --- operations --------------------------------------------------------------------

  /** Writes what is queued (so operations take effect in call order), then connects. */
  const ready = async (): Promise<PostgresPool> => {
    await queue.drain()
    return shell.connect()
  }

  const withPool = <A>(what: string, op: (p: PostgresPool) => Promise<A>): Promise<A> => shell.use(what, ready, op)

  return {
    append: (row) => {
      if (shell.isClosed()) return shell.rejectClosed()
      const checked = validateCheckpointRow(row)
      if (checked._tag === 'Left') return rejectWith(checked.left)
      const snapshot: Snapshot = { row: { ...checked.right }, payload: encodeStoredPayload(checked.right) }
      if (!groupCommit)
        return shell.connect().then(async (p) => {
          const failed = await insertRow(p, snapshot)
          if (failed !== undefined) throw new CanoFailure(failed)
        })
      return new Promise<void>((resolve, reject) => queue.push({ ...snapshot, resolve, reject }))
    },

    loadRun: (workflowId) =>
      withPool(`load run ${JSON.stringify(workflowId)}`, async (p) => {
        const { rows } = await p.query(`SELECT ${COLUMNS} FROM ${qualified} WHERE workflow_id = $1 ORDER BY seq`, [
          workflowId,
        ])
        // jsonb arrives parsed
        return rows.map((u) => fromStoredRow(workflowId, u as StoredRow, (u as StoredRow).payload, toNumber))
      }),

    clear: (workflowId) =>
      withPool(`clear run ${JSON.stringify(workflowId)}`, async (p) => {
        await p.query(`DELETE FROM ${qualified} WHERE workflow_id = $1`, [workflowId])
      }),

    listRuns: () =>
      withPool('list runs', async (p) => {
        const { rows } = await p.query(
          `SELECT DISTINCT ON (workflow_id) workflow_id, seq, kind, state, version, at,
             count(*) OVER (PARTITION BY workflow_id) AS rows
           FROM ${qualified} ORDER BY workflow_id, seq DESC`,
        )
        return rows.map((u) => fromStoredSummary(u as StoredSummary, toNumber)).sort(byWorkflowId)
      }),

    // Appends made before close() are still written; later calls reject.
    close: () =>
      shell.close(async () => {
        if (shell.isOpening()) await shell.connect().catch(() => undefined)
        await queue.drain()
        const owned = ownPool
        ownPool = undefined
        if (owned !== undefined) await endPool(owned, timeouts.connectTimeoutMs)
      }),
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const where = (row: CheckpointRow): string => `workflow ${JSON.stringify(row.workflowId)} at sequence ${row.seq}`

/** Workflow ids and sequences never contain NUL (the row codec rejects it), so it separates them safely. */
const key = (workflowId: string, seq: string): string => `${workflowId}\u0000${seq}`

/** `BIGINT` columns arrive as decimal strings; a safe integer becomes a number, anything else stays as is. */
const toNumber = (u: unknown): unknown => {
  if (typeof u !== 'string' || !/^-?\d+$/.test(u)) return u
  const n = Number(u)
  return Number.isSafeInteger(n) ? n : u
}

const sqlState = (e: unknown): string | undefined => {
  if (typeof e !== 'object' || e === null) return undefined
  const code = (e as { readonly code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

/** A SQL string literal (for the DDL run inside `DO`, which takes no parameters). */
const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`
