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
 * trigger), the batch is retried row by row so that only that row's caller fails. Run creates and fenced
 * finishes join the same queue: a batch's creates are one multi-row statement and its finishes (outcome
 * and log removal) another, sent beside the appends' statement (a batch in which one run has writes of
 * two kinds is cut in segments, written in call order); the same rule isolates an item that breaks its
 * statement. The other run-table operations are single statements, sent after what is queued.
 *
 * **Run table.** Beside the log, `<table>_runs` holds one record per run (columns in
 * roots/stores/internal/runRows.ts; statements in roots/stores/internal/postgresRunTable.ts). A batch
 * holding fenced appends is one statement that locks the run rows it writes for (`FOR KEY SHARE`, which
 * a claim's `FOR UPDATE` waits for) and
 * inserts only the rows whose fence is still current: a claim that increments a fence concurrently
 * either waits for that statement to commit (and then sees its rows) or commits first (and the stale
 * append writes nothing and fails with `LeaseLost`). Unfenced appends are written as before, with or
 * without a run record. `subscribe` listens on a channel derived from the table name through one
 * dedicated connection, reconnected after an error.
 *
 * **Upgrade.** A 0.1 table (the log only) gets its run table on first use, in the same guarded
 * transaction as one `pending` record per run that has log rows (workflow `''`, the version and state
 * of its first row, input `null`).
 *
 * @since 0.1.0
 */
import type pg from 'pg'

import type { CanoError } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { CanoFailure, configurationError } from '../../src/CanoError.js'
import {
  byWorkflowId,
  checkFenceArgument,
  checkpointConflictError,
  driverError,
  encodeStoredPayload,
  fromStoredRow,
  fromStoredSummary,
  rejectWith,
  reportCommit,
  type RunStore,
  type StoredRow,
  type StoredSummary,
  toStoredColumns,
  validateCheckpointRow,
} from '../../src/CheckpointStore.js'
import { describeValue } from '../../src/internal/describeValue.js'
import type { NewRun, RunEnding, RunRecord, RunTable } from '../../src/RunTable.js'
import { connectionShell, loadPeer } from './internal/connectionShell.js'
import { groupCommitQueue } from './internal/groupCommitQueue.js'
import {
  type CreateResult,
  fencedWriteLost,
  type FinishItem,
  type ItemOutcome,
  postgresRunTable,
  ROW_LEVEL_CLASSES,
} from './internal/postgresRunTable.js'
import { endPool, poolSettings, trackClients, wireTimeouts, withDeadline } from './internal/postgresTimeouts.js'
import { RUN_COLUMNS } from './internal/runRows.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The part of a `pg` `Pool` (or `Client`) the store uses: `query(text, values)`. A `pg.Pool` fits.
 *
 * @example
 * import type { PostgresPool } from 'cano-rx/postgres'
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
 * import { postgresCheckpoints, type PostgresCheckpointsOptions } from 'cano-rx/postgres'
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
   * The run table's clock, in epoch milliseconds (leases, wake-ups, timestamps). Default `Date.now`.
   * Workers on several machines compare leases written by each other: keep their clocks in sync (NTP)
   * and leases much longer than the skew.
   */
  readonly now?: () => number
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
  /** The writer's fencing token; `undefined` for an unfenced append. */
  readonly fence: number | undefined
}

/** A client that can `LISTEN`: `pg.Client`, or a client checked out of a `pg.Pool`. */
type ListenClient = pg.ClientBase

/** A pool that hands out dedicated clients (`pg.Pool`). */
interface ConnectingPool extends PostgresPool {
  connect(): Promise<pg.PoolClient>
}

interface Pending extends Snapshot {
  readonly _tag: 'Append'
  readonly resolve: () => void
  readonly reject: (e: CanoFailure) => void
}

/** A run created through the group commit. */
interface PendingCreate {
  readonly _tag: 'Create'
  readonly run: NewRun
  readonly resolve: (result: CreateResult) => void
  readonly reject: (e: CanoFailure) => void
}

/** A fenced finish through the group commit. */
interface PendingFinish extends FinishItem {
  readonly _tag: 'Finish'
  readonly resolve: (record: RunRecord) => void
  readonly reject: (e: CanoFailure) => void
}

/** What the group commit queues, in call order. */
type Queued = Pending | PendingCreate | PendingFinish

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const ADAPTER = 'postgresCheckpoints'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const COLUMNS = 'workflow_id, seq, kind, state, task_id, payload, version, at'

/** The longest table name: `<table>_runs` must stay within PostgreSQL's 63-byte identifiers. */
const MAX_TABLE = 58

/** How long the listener waits before reconnecting after an error: doubling from the first, capped. */
const RECONNECT_MS = { first: 100, max: 5000 } as const
/** The store's kept connection goes back to its pool after this long without a statement (ms). */
const WRITER_IDLE_MS = 100

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
 * @returns a {@link RunStore} (the log and its run table `<table>_runs`); call `close()` when done
 * @throws CanoFailure with a `Configuration` error for an invalid table name or timeout, or when both `pool` and `connectionString` are given
 * @example
 * import { postgresCheckpoints } from 'cano-rx/postgres'
 * const store = postgresCheckpoints({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' })
 * await store.append({ workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch', payload: null, version: 1, at: Date.now() })
 * const rows = await store.loadRun('order-42')
 * await store.close()
 * @category constructors
 * @since 0.1.0
 */
export const postgresCheckpoints = (options: PostgresCheckpointsOptions = {}): RunStore => {
  const { table = 'cano_checkpoints', groupCommit = true, onCommit } = options
  const now = options.now ?? Date.now
  const parts = typeof table === 'string' ? table.split('.') : []
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p)))
    throw new CanoFailure(
      configurationError(
        `postgresCheckpoints: table must be an identifier or schema.identifier of letters, digits and _, got ${JSON.stringify(table)}`,
      ),
    )
  const name = parts[parts.length - 1] ?? ''
  if (name.length > MAX_TABLE)
    throw new CanoFailure(
      configurationError(
        `postgresCheckpoints: table name must be at most ${MAX_TABLE} characters (its run table is <table>_runs), got ${JSON.stringify(name)} (${name.length})`,
      ),
    )
  if (typeof now !== 'function')
    throw new CanoFailure(configurationError(`postgresCheckpoints: now must be a function, got ${describeValue(now)}`))
  if (options.pool !== undefined && options.connectionString !== undefined)
    throw new CanoFailure(configurationError('postgresCheckpoints: give either pool or connectionString, not both'))
  const timeouts = wireTimeouts(ADAPTER, options)
  if ('_tag' in timeouts) throw new CanoFailure(timeouts)
  const qualified = parts.map((p) => `"${p}"`).join('.')
  const runsTable = [...parts.slice(0, -1), `${name}_runs`].map((p) => `"${p}"`).join('.')
  const tag = fnv1a(table)
  const channel = `cano_runs_${tag}`
  const lockKey = `cano-rx:${table}`

  const insertOne = `INSERT INTO ${qualified} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
    ON CONFLICT (workflow_id, seq) DO NOTHING`
  const insertMany = `INSERT INTO ${qualified} (${COLUMNS})
    SELECT w, s, k, st, ti, p::jsonb, v, a
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
      AS u(w, s, k, st, ti, p, v, a)
    ON CONFLICT (workflow_id, seq) DO NOTHING
    RETURNING workflow_id, seq`
  // Fenced rows go in only while their run row (locked FOR KEY SHARE until the commit) holds their fence.
  // KEY SHARE conflicts with the FOR UPDATE every claim takes (the only writes that move a fence) and not
  // with the owner's own renewals and finish (plain UPDATEs), so a run never waits on itself;
  // the statement also returns each locked run row, so a refused row can name who holds the run.
  const insertFenced = `WITH u AS (
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
        $8::bigint[], $9::bigint[]) AS u(w, s, k, st, ti, p, v, a, f)),
    held AS (
      SELECT r.workflow_id, r.fence, r.status, r.owner FROM ${runsTable} r
      WHERE r.workflow_id IN (SELECT w FROM u WHERE f IS NOT NULL)
      ORDER BY r.workflow_id
      FOR KEY SHARE),
    ins AS (
      INSERT INTO ${qualified} (${COLUMNS})
      SELECT u.w, u.s, u.k, u.st, u.ti, u.p::jsonb, u.v, u.a FROM u LEFT JOIN held h ON h.workflow_id = u.w
      WHERE u.f IS NULL OR h.fence = u.f
      ON CONFLICT (workflow_id, seq) DO NOTHING
      RETURNING workflow_id, seq)
    SELECT 'written' AS what, workflow_id, seq, NULL::bigint AS fence, NULL::text AS status, NULL::text AS owner FROM ins
    UNION ALL
    SELECT 'held', workflow_id, NULL, fence, status, owner FROM held`
  // One fenced row (an append not grouped with others, or a batch's row retried alone): the rule of
  // insertFenced as a plain INSERT … SELECT that locks the run row (FOR KEY SHARE, re-checked against its
  // latest version when a claim commits first) only while it holds the fence. No CTE and no RETURNING:
  // a PostgreSQL CTE of a lock and an insert cost ~90 µs more per statement than a bare INSERT, this
  // ~20 µs. Nothing written (rowCount 0) is rare: `heldBy` then tells a lost lease from a duplicate.
  const insertOneFenced = `INSERT INTO ${qualified} (${COLUMNS})
    SELECT $1, $2::bigint, $3, $4, $5, $6::jsonb, $7::bigint, $8::bigint FROM ${runsTable}
    WHERE workflow_id = $1 AND fence = $9::bigint
    FOR KEY SHARE
    ON CONFLICT (workflow_id, seq) DO NOTHING`
  const heldBy = `SELECT fence, status, owner FROM ${runsTable} WHERE workflow_id = $1`
  const clearFenced = `WITH held AS (
      SELECT fence, status, owner FROM ${runsTable} WHERE workflow_id = $1 FOR KEY SHARE),
    gone AS (
      DELETE FROM ${qualified} WHERE workflow_id = $1 AND EXISTS (SELECT 1 FROM held WHERE fence = $2::bigint))
    SELECT fence, status, owner FROM held`

  /** The statements sent as named (prepared) statements on the store's own pool, by text. */
  const prepared = new Map<string, string>(
    [insertOne, insertOneFenced, insertMany, insertFenced].map((text) => [text, `cano_${statementHash(text)}`]),
  )

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
    const runsDdl = [
      `CREATE TABLE ${runsTable} (
        workflow_id TEXT NOT NULL PRIMARY KEY,
        workflow TEXT NOT NULL,
        version BIGINT NOT NULL,
        initial TEXT NOT NULL,
        status TEXT NOT NULL,
        owner TEXT,
        lease_until BIGINT,
        fence BIGINT NOT NULL,
        wake_at BIGINT,
        input JSONB NOT NULL,
        output JSONB NOT NULL,
        error JSONB NOT NULL,
        cancel_requested BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        ended_at BIGINT,
        due_at BIGINT
      )`,
      `CREATE INDEX "cano_runs_${tag}_due" ON ${runsTable} (due_at, workflow_id) WHERE due_at IS NOT NULL`,
      `CREATE INDEX "cano_runs_${tag}_created" ON ${runsTable} (created_at)`,
      `CREATE INDEX "cano_runs_${tag}_ended" ON ${runsTable} (ended_at) WHERE ended_at IS NOT NULL`,
      // A 0.1 log: one pending record per run, from its first row (workflow '', input null).
      `INSERT INTO ${runsTable} (${RUN_COLUMNS}, due_at)
        SELECT DISTINCT ON (workflow_id) workflow_id, '', version, state, 'pending', NULL, NULL, 0, NULL,
          'null'::jsonb, 'null'::jsonb, 'null'::jsonb, false,
          min(at) OVER (PARTITION BY workflow_id), max(at) OVER (PARTITION BY workflow_id), NULL,
          min(at) OVER (PARTITION BY workflow_id)
        FROM ${qualified} ORDER BY workflow_id, seq`,
    ]
    // One statement: the advisory lock serialises concurrent first uses from several processes, which
    // would otherwise race inside CREATE TABLE IF NOT EXISTS; the run table and its backfill are made
    // once, by the first user, in the same transaction.
    const guarded = `DO $cano$ BEGIN
      PERFORM pg_advisory_xact_lock(hashtext(${literal(lockKey)}));
      EXECUTE ${literal(ddl)};
      IF to_regclass(${literal(runsTable)}) IS NULL THEN
        ${runsDdl.map((statement) => `EXECUTE ${literal(statement)};`).join('\n        ')}
      END IF;
    END $cano$`
    // A role without CREATE on the schema can still use tables that already exist.
    const { rows } = await p.query('SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS present', [
      qualified,
      runsTable,
    ])
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
    // Every query of the store goes through this deadline (see internal/postgresTimeouts.ts). On a pool
    // the store made (a `pg.Pool`), the per-row statements of the hot path are named, so each connection
    // plans them once: a fenced append costs a plain INSERT then (bench/README.md, "the cost of ownership").
    // A statement goes on a connection the store keeps checked out while that one is free, else through
    // the pool (a pool's check-out and release cost ~30 µs per statement, 5-7 % of a round trip).
    const raw = p
    const own = raw === ownPool ? ownPool : undefined
    const send =
      own === undefined
        ? (text: string, values?: Array<unknown>) => raw.query(text, values)
        : (text: string, values?: Array<unknown>) => {
            const name = prepared.get(text)
            const config: pg.QueryConfig =
              name !== undefined
                ? { name, text, values: values ?? [] }
                : values === undefined
                  ? { text }
                  : { text, values }
            return writer.busy ? own.query(config) : onWriter(own, config)
          }
    const timed: PostgresPool = { query: withDeadline(send, timeouts, own !== undefined) }
    try {
      await createSchema(timed)
    } catch (e: unknown) {
      throw new CanoFailure(driverError(ADAPTER, `create table ${qualified}`, e))
    }
    return timed
  }

  /**
   * The store's own connection (on a pool it created): checked out on first use and kept while it is
   * used, given back to the pool after {@link WRITER_IDLE_MS} without a statement (a checked-out
   * connection would keep the process alive: a program that never closes the store must still exit, as
   * with the pool alone), on close, or after a connection error. Statements sent while it is busy go
   * through the pool.
   */
  const writer: {
    client: pg.PoolClient | undefined
    /** Its listener for a lost connection, removed when the client goes back to the pool. */
    onError: ((e: unknown) => void) | undefined
    busy: boolean
    closing: boolean
    /** A statement ran on it since the last idle check. */
    used: boolean
    idle: NodeJS.Timeout | undefined
  } = { client: undefined, onError: undefined, busy: false, closing: false, used: false, idle: undefined }
  /** One unref'd check per {@link WRITER_IDLE_MS} while a connection is kept, not a timer per statement. */
  const checkIdle = (): void => {
    writer.idle = undefined
    if (writer.client === undefined) return
    if (writer.busy || writer.used) {
      writer.used = false
      armIdle()
    } else releaseWriter()
  }
  const armIdle = (): void => {
    if (writer.idle !== undefined) return
    writer.idle = setTimeout(checkIdle, WRITER_IDLE_MS)
    writer.idle.unref()
  }
  /**
   * Gives the writer's client back to the pool (`broken`: to be destroyed). A healthy client loses the
   * writer's 'error' listener first: the pool hands the same client out again and again, and a listener
   * added per check-out and never removed piled up on it (a leak, and Node's MaxListenersExceededWarning
   * after ten idle periods). A broken one keeps it, so a late 'error' of its socket finds a listener.
   */
  const giveBack = (c: pg.PoolClient, broken: Error | undefined): void => {
    const onError = writer.onError
    writer.onError = undefined
    if (broken !== undefined) return c.release(broken)
    if (onError !== undefined) c.removeListener('error', onError)
    c.release()
  }
  const dropWriter = (e: unknown): void => {
    const c = writer.client
    writer.client = undefined
    if (c !== undefined) giveBack(c, e instanceof Error ? e : new Error(String(e)))
  }
  const onWriter = async (own: pg.Pool, config: pg.QueryConfig): Promise<pg.QueryResult> => {
    writer.busy = true
    try {
      let c = writer.client
      if (c === undefined) {
        c = await own.connect()
        // a checked-out client that loses its connection emits 'error' on itself: drop it
        const client = c
        const onError = (e: unknown): void => {
          if (writer.client === client && !writer.busy) dropWriter(e)
        }
        c.on('error', onError)
        writer.onError = onError
        writer.client = c
        armIdle()
      }
      writer.used = true
      try {
        return await c.query(config)
      } catch (e: unknown) {
        // a statement PostgreSQL refused (a SQLSTATE) leaves the connection usable; anything else does not
        if (sqlState(e) === undefined) dropWriter(e)
        throw e
      }
    } finally {
      writer.busy = false
      if (writer.closing) releaseWriter()
    }
  }
  const releaseWriter = (): void => {
    const c = writer.client
    writer.client = undefined
    if (writer.idle !== undefined) clearTimeout(writer.idle)
    writer.idle = undefined
    if (c !== undefined) giveBack(c, undefined)
  }

  /** `shell.connect()` is the pool with the schema in place: the first call creates them, a failed attempt is retried. */
  const shell = connectionShell(ADAPTER, open)

  // --- writes ------------------------------------------------------------------------

  const notifyCommit = (rows: number): void => reportCommit(onCommit, rows)

  const insertRow = async (p: PostgresPool, snapshot: Snapshot): Promise<CanoError | undefined> => {
    const { row, payload, fence } = snapshot
    try {
      if (fence !== undefined) {
        const inserted = await p.query(insertOneFenced, [...toStoredColumns(row, payload), fence])
        if (inserted.rowCount === 1) {
          notifyCommit(1)
          return undefined
        }
        const { rows } = await p.query(heldBy, [row.workflowId])
        const held = rows[0] as
          { readonly fence: unknown; readonly status: unknown; readonly owner: unknown } | undefined
        return (
          fencedWriteLost(row.workflowId, fence, held, toNumber) ?? checkpointConflictError(row.workflowId, row.seq)
        )
      }
      const result = await p.query(insertOne, [...toStoredColumns(row, payload)])
      if (result.rowCount === 0) return checkpointConflictError(row.workflowId, row.seq)
      notifyCommit(1)
      return undefined
    } catch (e: unknown) {
      if (sqlState(e) === '23505') return checkpointConflictError(row.workflowId, row.seq)
      return driverError(ADAPTER, `append ${where(row)}`, e)
    }
  }

  /** The column arrays of a multi-row insert (`unnest` of one array per column), in the statements' order. */
  const columnsOf = (batch: ReadonlyArray<Snapshot>): Array<ReadonlyArray<unknown>> => {
    const rows = batch.map((b) => b.row)
    return [
      rows.map((r) => r.workflowId),
      rows.map((r) => r.seq),
      rows.map((r) => r.kind),
      rows.map((r) => r.state),
      rows.map((r) => r.taskId),
      batch.map((b) => b.payload),
      rows.map((r) => r.version),
      rows.map((r) => r.at),
    ]
  }

  /**
   * The fenced statement for `batch` (unfenced rows in it are written as usual): each row's outcome, or
   * throws when the statement failed.
   */
  const insertWithFences = async (
    p: PostgresPool,
    batch: ReadonlyArray<Snapshot>,
  ): Promise<ReadonlyArray<CanoError | undefined>> => {
    const result = await p.query(insertFenced, [...columnsOf(batch), batch.map((b) => b.fence ?? null)])
    const written = new Set<string>()
    const held = new Map<string, { readonly fence: unknown; readonly status: unknown; readonly owner: unknown }>()
    for (const u of result.rows) {
      const r = u as {
        readonly what: unknown
        readonly workflow_id: unknown
        readonly seq: unknown
        readonly fence: unknown
        readonly status: unknown
        readonly owner: unknown
      }
      if (r.what === 'written') written.add(key(String(r.workflow_id), String(r.seq)))
      else held.set(String(r.workflow_id), r)
    }
    notifyCommit(written.size)
    return batch.map(({ row, fence }) => {
      if (written.has(key(row.workflowId, String(row.seq)))) return undefined
      const lost =
        fence === undefined ? undefined : fencedWriteLost(row.workflowId, fence, held.get(row.workflowId), toNumber)
      return lost ?? checkpointConflictError(row.workflowId, row.seq)
    })
  }

  /** One multi-row statement; returns each row's outcome, or throws when the statement failed. */
  const insertBatch = async (
    p: PostgresPool,
    batch: ReadonlyArray<Pending>,
  ): Promise<ReadonlyArray<CanoError | undefined>> => {
    if (batch.some((b) => b.fence !== undefined)) return insertWithFences(p, batch)
    const result = await p.query(insertMany, columnsOf(batch))
    const written = new Set(
      result.rows.map((r) => {
        const { workflow_id, seq } = r as { readonly workflow_id: unknown; readonly seq: unknown }
        return key(String(workflow_id), String(seq))
      }),
    )
    notifyCommit(written.size)
    return batch.map(({ row: r }) =>
      written.has(key(r.workflowId, String(r.seq))) ? undefined : checkpointConflictError(r.workflowId, r.seq),
    )
  }

  /** Writes the appends of a batch and settles each caller after the commit that holds its row. */
  const writeAppends = async (p: PostgresPool, batch: ReadonlyArray<Pending>): Promise<void> => {
    // The first of several appends for one (workflowId, seq) in a batch goes in; the others conflict.
    const seen = new Set<string>()
    const unique: Array<Pending> = []
    const outcomes = new Map<Pending, CanoError | undefined>()
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

  /**
   * Writes a group of run-table items with `many` (one statement, or one per item when an item broke
   * it) and settles each caller with its own outcome; a statement that fails as a whole fails each
   * caller with a driver error naming its run.
   */
  const writeRuns = async <I extends { readonly reject: (e: CanoFailure) => void }, A>(
    items: ReadonlyArray<I>,
    what: (item: I) => string,
    many: () => Promise<ReadonlyArray<ItemOutcome<A>>>,
    settle: (item: I, value: A) => void,
  ): Promise<void> => {
    if (items.length === 0) return
    let outcomes: ReadonlyArray<ItemOutcome<A>>
    try {
      outcomes = await many()
    } catch (e: unknown) {
      for (const item of items) item.reject(shell.failure(e, what(item)))
      return
    }
    items.forEach((item, i) => {
      const outcome = outcomes[i]
      if (outcome === undefined) item.reject(shell.failure(new Error('no outcome'), what(item)))
      else if (outcome.ok) settle(item, outcome.value)
      else item.reject(new CanoFailure(outcome.error))
    })
  }

  /**
   * Writes one segment of a batch (see {@link segments}): its appends, its creates and its finishes as
   * (at most) three statements sent on the pool at once, each its own transaction: writes of different
   * runs do not depend on each other.
   */
  const writeSegment = async (p: PostgresPool, segment: ReadonlyArray<Queued>): Promise<void> => {
    const appends: Array<Pending> = []
    const creates: Array<PendingCreate> = []
    const finishes: Array<PendingFinish> = []
    for (const item of segment)
      if (item._tag === 'Append') appends.push(item)
      else if (item._tag === 'Create') creates.push(item)
      else finishes.push(item)
    const query = (text: string, values: Array<unknown>) => p.query(text, values)
    await Promise.all([
      appends.length > 0 ? writeAppends(p, appends) : undefined,
      writeRuns(
        creates,
        (c) => `create run ${JSON.stringify(c.run.workflowId)}`,
        () =>
          runWrites.createMany(
            query,
            creates.map((c) => c.run),
          ),
        (c, result) => c.resolve(result),
      ),
      writeRuns(
        finishes,
        (f) => `finish run ${JSON.stringify(f.workflowId)}`,
        () => runWrites.finishMany(query, finishes),
        (f, record) => f.resolve(record),
      ),
    ])
  }

  /** Writes `batch`, segment by segment, and settles every caller after the commit that holds its item. */
  const write = async (batch: ReadonlyArray<Queued>): Promise<void> => {
    let p: PostgresPool
    try {
      p = await shell.connect()
    } catch (e: unknown) {
      const failure = shell.failure(e, 'connect')
      for (const item of batch) item.reject(failure)
      return
    }
    const only = batch.length === 1 ? batch[0] : undefined
    if (only?._tag === 'Append') {
      // a lone append (one run at a time): its statement, without the batch's bookkeeping
      const failed = await insertRow(p, only)
      if (failed === undefined) only.resolve()
      else only.reject(new CanoFailure(failed))
      return
    }
    for (const segment of segments(batch)) await writeSegment(p, segment)
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

  // --- run table and notifications -------------------------------------------------

  /** A dedicated connection for LISTEN: from the user's pool when it hands out clients, else our own client. */
  const connectListener = async (): Promise<{ readonly client: ListenClient; readonly end: () => Promise<void> }> => {
    const given = options.pool
    if (given !== undefined) {
      const client = await (given as ConnectingPool).connect()
      return {
        client,
        end: () => {
          client.release(true)
          return Promise.resolve()
        },
      }
    }
    const Client = await loadPeer(ADAPTER, 'pg', 'npm install pg', async () => {
      const mod = await import('pg')
      return mod.default.Client
    })
    const client = new Client(
      options.connectionString === undefined ? {} : { connectionString: options.connectionString },
    )
    await client.connect()
    return { client, end: () => client.end() }
  }
  const listener = notificationListener(channel, connectListener)
  const canListen =
    options.pool === undefined || typeof (options.pool as Partial<ConnectingPool>).connect === 'function'

  /** Queues a run-table write in the group commit (a closed store rejects it at once). */
  const enqueue = <A>(item: (resolve: (a: A) => void, reject: (e: CanoFailure) => void) => Queued): Promise<A> => {
    if (shell.isClosed()) return shell.rejectClosed()
    return new Promise<A>((resolve, reject) => queue.push(item(resolve, reject)))
  }

  const { table: runTable, writes: runWrites } = postgresRunTable({
    runs: runsTable,
    log: qualified,
    channel,
    now,
    isClosed: () => shell.isClosed(),
    withQuery: (what, op) => withPool(what, (p) => op((text, values) => p.query(text, values))),
    int: toNumber,
    // without group commit, each create and finish is its own statement (as each append is)
    ...(groupCommit
      ? {
          grouped: {
            create: (run: NewRun) =>
              enqueue<CreateResult>((resolve, reject) => ({ _tag: 'Create', run, resolve, reject })),
            finish: (workflowId: string, fence: number, ending: RunEnding, clearLog: boolean) =>
              enqueue<RunRecord>((resolve, reject) => ({
                _tag: 'Finish',
                workflowId,
                fence,
                ending,
                clearLog,
                resolve,
                reject,
              })),
          },
        }
      : {}),
  })
  const runs: RunTable = canListen ? { ...runTable, subscribe: listener.subscribe } : runTable

  return {
    append: (row, fence) => {
      if (shell.isClosed()) return shell.rejectClosed()
      const checked = validateCheckpointRow(row)
      if (checked._tag === 'Left') return rejectWith(checked.left)
      const badFence = checkFenceArgument(ADAPTER, 'append', fence)
      if (badFence !== undefined) return Promise.reject(new CanoFailure(badFence))
      const snapshot: Snapshot = { row: { ...checked.right }, payload: encodeStoredPayload(checked.right), fence }
      if (!groupCommit)
        return shell.connect().then(async (p) => {
          const failed = await insertRow(p, snapshot)
          if (failed !== undefined) throw new CanoFailure(failed)
        })
      return new Promise<void>((resolve, reject) => queue.push({ _tag: 'Append', ...snapshot, resolve, reject }))
    },

    loadRun: (workflowId) =>
      withPool(`load run ${JSON.stringify(workflowId)}`, async (p) => {
        const { rows } = await p.query(`SELECT ${COLUMNS} FROM ${qualified} WHERE workflow_id = $1 ORDER BY seq`, [
          workflowId,
        ])
        // jsonb arrives parsed
        return rows.map((u) => fromStoredRow(workflowId, u as StoredRow, (u as StoredRow).payload, toNumber))
      }),

    clear: (workflowId, fence) => {
      const badFence = checkFenceArgument(ADAPTER, 'clear', fence)
      if (badFence !== undefined && !shell.isClosed()) return Promise.reject(new CanoFailure(badFence))
      return withPool(`clear run ${JSON.stringify(workflowId)}`, async (p) => {
        if (fence === undefined) {
          await p.query(`DELETE FROM ${qualified} WHERE workflow_id = $1`, [workflowId])
          return
        }
        const { rows } = await p.query(clearFenced, [workflowId, fence])
        const held = rows[0] as
          { readonly fence: unknown; readonly status: unknown; readonly owner: unknown } | undefined
        const lost = fencedWriteLost(workflowId, fence, held, toNumber)
        if (lost !== undefined) throw new CanoFailure(lost)
      })
    },

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
        await listener.stop()
        writer.closing = true
        if (!writer.busy) releaseWriter()
        const owned = ownPool
        ownPool = undefined
        if (owned !== undefined) await endPool(owned, timeouts.connectTimeoutMs)
      }),

    runs,
  }
}

// -------------------------------------------------------------------------------------
// notifications
// -------------------------------------------------------------------------------------

interface Listener {
  readonly subscribe: (listener: (workflowId: string) => void) => () => void
  readonly stop: () => Promise<void>
}

/**
 * The `LISTEN` side of `subscribe`: one dedicated connection, opened with the first listener and closed
 * with the last (or the store); after an error it reconnects, waiting 100 ms doubling up to 5 s, and then
 * tells every listener `''` (notifications sent while it was away are lost).
 */
const notificationListener = (
  channel: string,
  connect: () => Promise<{ readonly client: ListenClient; readonly end: () => Promise<void> }>,
): Listener => {
  const listeners = new Set<(workflowId: string) => void>()
  let current: { readonly client: ListenClient; readonly end: () => Promise<void> } | undefined
  let starting: Promise<void> | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  let delay: number = RECONNECT_MS.first
  let stopped = false
  /** Read through a function: the flag changes while a connection is being opened. */
  const active = (): boolean => !stopped && listeners.size > 0

  const tell = (workflowId: string): void => {
    for (const l of [...listeners]) {
      try {
        l(workflowId)
      } catch {
        // a listener never breaks the others
      }
    }
  }

  const drop = (): void => {
    const c = current
    current = undefined
    if (c !== undefined) {
      c.client.removeAllListeners()
      c.client.on('error', () => undefined)
      c.end().catch(() => undefined)
    }
  }

  const schedule = (): void => {
    if (stopped || listeners.size === 0 || retry !== undefined) return
    retry = setTimeout(() => {
      retry = undefined
      start(true)
    }, delay)
    retry.unref()
    delay = Math.min(delay * 2, RECONNECT_MS.max)
  }

  const start = (reconnected: boolean): void => {
    if (stopped || current !== undefined || starting !== undefined || listeners.size === 0) return
    starting = (async () => {
      const opened = await connect()
      current = opened
      const failed = (): void => {
        if (current !== opened) return
        drop()
        schedule()
      }
      opened.client.on('notification', (m) => {
        if (m.channel === channel) tell(m.payload ?? '')
      })
      opened.client.on('error', failed)
      opened.client.on('end', failed)
      await opened.client.query(`LISTEN "${channel}"`)
      delay = RECONNECT_MS.first
      if (!active()) drop()
      else if (reconnected) tell('')
    })().then(
      () => {
        starting = undefined
      },
      () => {
        starting = undefined
        drop()
        schedule()
      },
    )
  }

  return {
    subscribe: (listener) => {
      listeners.add(listener)
      start(false)
      return () => {
        listeners.delete(listener)
        if (listeners.size > 0) return
        if (retry !== undefined) clearTimeout(retry)
        retry = undefined
        drop()
      }
    },
    stop: async () => {
      stopped = true
      listeners.clear()
      if (retry !== undefined) clearTimeout(retry)
      retry = undefined
      await starting
      drop()
    },
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const where = (row: CheckpointRow): string => `workflow ${JSON.stringify(row.workflowId)} at sequence ${row.seq}`

/** The run a queued item writes for. */
const runOf = (item: Queued): string =>
  item._tag === 'Append' ? item.row.workflowId : item._tag === 'Create' ? item.run.workflowId : item.workflowId

/**
 * Cuts a batch into segments, in order, so that within a segment no run has items of two kinds and no
 * run is created or finished twice: a segment's statements can then go in parallel, and each run's
 * writes still take effect in the order they were called.
 */
const segments = (batch: ReadonlyArray<Queued>): ReadonlyArray<ReadonlyArray<Queued>> => {
  const out: Array<ReadonlyArray<Queued>> = []
  let current: Array<Queued> = []
  let kinds = new Map<string, Queued['_tag']>()
  for (const item of batch) {
    const id = runOf(item)
    const seen = kinds.get(id)
    if (seen !== undefined && (seen !== item._tag || item._tag !== 'Append')) {
      out.push(current)
      current = []
      kinds = new Map()
    }
    kinds.set(id, item._tag)
    current.push(item)
  }
  if (current.length > 0) out.push(current)
  return out
}

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

/** 32-bit FNV-1a of `s` as 8 hex digits: a short, stable tag for the channel and index names of a table. */
const fnv1a = (s: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, '0')
}

/** A short name for a statement's text (FNV-1a, 32 bits): one name per distinct text on a connection. */
const statementHash = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h.toString(16).padStart(8, '0')
}
