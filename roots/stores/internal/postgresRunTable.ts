/**
 * @internal The run table of `postgresCheckpoints` (roots/stores/postgresCheckpoints.ts): the rules of
 * src/RunTable.ts as single SQL statements, each its own transaction, so they work over any pool that
 * runs one statement at a time (the `PostgresPool` interface).
 *
 * - A claim is one `UPDATE … FROM (SELECT … ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED)`:
 *   concurrent claimers lock disjoint rows, and a row another claimer committed meanwhile is re-checked
 *   against `due_at <= now` on its new version (READ COMMITTED), so no run is claimed twice.
 * - Renew, release and finish are `UPDATE … WHERE fence = $token AND status = 'running'`: the row lock
 *   and the re-check of the condition on the newest version make the fence check and the write one
 *   step. Only when nothing was updated does a second statement read who holds the run, for the
 *   `LeaseLost` error.
 * - `claimRun` locks the row (`FOR UPDATE`, waiting) and updates it in one statement when it is not
 *   held; it reads and decodes the record first, so a corrupt record is reported, never claimed.
 * - Notifications (`pg_notify` on the store's channel) are sent by the same statement as the write,
 *   so PostgreSQL delivers them at its commit.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../../../codecs/CanoError.js'
import { CanoFailure, leaseLostError, runOwnedError } from '../../../src/CanoError.js'
import {
  checkClaim,
  checkClaimRun,
  checkFilter,
  checkFinish,
  checkNewRun,
  checkPrune,
  checkRelease,
  checkRenew,
  checkRunId,
  endedRunError,
  isHeld,
  isTerminal,
  rejectInvalid,
  type RunRecord,
  type RunTable,
  TERMINAL_STATUSES,
  unknownRunError,
} from '../../../src/RunTable.js'
import { fromRunRow, RUN_COLUMNS, type RunRowDialect, type StoredRunRow } from './runRows.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal One statement's rows. */
export type Query = (
  text: string,
  values: Array<unknown>,
) => Promise<{ readonly rows: ReadonlyArray<unknown>; readonly rowCount: number | null }>

/** @internal What `postgresCheckpoints` gives its run table. */
export interface PostgresRunTableDeps {
  /** The quoted, possibly schema-qualified run table. */
  readonly runs: string
  /** The quoted log table (prune removes the log rows of pruned runs). */
  readonly log: string
  /** The `LISTEN/NOTIFY` channel of this store. */
  readonly channel: string
  readonly now: () => number
  /** Runs operation `what` with the pool (closed and connection checks, driver errors named). */
  readonly withQuery: <A>(what: string, op: (query: Query) => Promise<A>) => Promise<A>
  /** `true` once the store is closed (a bad argument on a closed store reports the closed store). */
  readonly isClosed: () => boolean
  /** BIGINT text to number. */
  readonly int: (u: unknown) => unknown
}

// -------------------------------------------------------------------------------------
// SQL
// -------------------------------------------------------------------------------------

const TERMINAL_SQL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ')
const OPEN_SQL = `'pending', 'parked', 'running'`

/** The run's id as a notification payload; `''` (meaning "some run") when it is too long for one. */
const payload = `CASE WHEN octet_length(workflow_id) < 7900 THEN workflow_id ELSE '' END`

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The run table of a `postgresCheckpoints` store. */
export const postgresRunTable = (deps: PostgresRunTableDeps): RunTable => {
  const { runs, log, channel, now, int } = deps
  const dialect: RunRowDialect = { table: runs, json: false, int, bool: (u) => u }
  const decode = (u: unknown): RunRecord => fromRunRow(u as StoredRunRow, dialect)

  const exec = <A>(
    what: string,
    check: ReturnType<typeof checkNewRun>,
    op: (query: Query) => Promise<A>,
  ): Promise<A> => {
    const invalid = rejectInvalid(check)
    if (invalid !== undefined && !deps.isClosed()) return invalid
    return deps.withQuery(what, op)
  }

  const select = `SELECT ${RUN_COLUMNS} FROM ${runs} WHERE workflow_id = $1`

  const read = async (query: Query, workflowId: string): Promise<RunRecord | undefined> => {
    const { rows } = await query(select, [workflowId])
    return rows[0] === undefined ? undefined : decode(rows[0])
  }

  /** The `LeaseLost` error of a fenced write that updated nothing, naming who holds the run now. */
  const lost = async (query: Query, workflowId: string, fence: number): Promise<CanoFailure> => {
    const { rows } = await query(`SELECT status, owner FROM ${runs} WHERE workflow_id = $1`, [workflowId])
    const r = rows[0] as { readonly status?: unknown; readonly owner?: unknown } | undefined
    const holder = r !== undefined && r.status === 'running' && typeof r.owner === 'string' ? r.owner : null
    return new CanoFailure(leaseLostError(workflowId, fence, holder))
  }

  const create = `WITH ins AS (
      INSERT INTO ${runs} (${RUN_COLUMNS}, due_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, 'null'::jsonb, 'null'::jsonb, false, $11, $11, NULL, $12)
      ON CONFLICT (workflow_id) DO NOTHING
      RETURNING ${RUN_COLUMNS})
    SELECT ins.*, CASE WHEN status <> 'running' THEN pg_notify($13, ${payload}) END AS notified FROM ins`

  const claim = `WITH c AS (
      SELECT workflow_id, due_at FROM ${runs}
      WHERE due_at <= $1::bigint AND ($4::text[] IS NULL OR workflow = ANY($4::text[]))
      ORDER BY due_at, workflow_id
      LIMIT $2::bigint
      FOR UPDATE SKIP LOCKED)
    UPDATE ${runs} r SET status = 'running', owner = $3, lease_until = $1::bigint + $5::bigint, fence = r.fence + 1,
      wake_at = NULL, updated_at = $1::bigint, due_at = $1::bigint + $5::bigint
    FROM c WHERE r.workflow_id = c.workflow_id AND r.status IN (${OPEN_SQL})
    RETURNING ${RUN_COLUMNS.split(', ')
      .map((col) => `r.${col}`)
      .join(', ')}, c.due_at AS claimed_due`

  const unclaim = `UPDATE ${runs} r SET status = 'pending', owner = NULL, lease_until = NULL, due_at = r.created_at
    FROM unnest($1::text[], $2::bigint[]) AS u(w, f)
    WHERE r.workflow_id = u.w AND r.fence = u.f AND r.status = 'running'`

  const claimOne = `WITH cur AS (
      SELECT workflow_id, status, owner, lease_until FROM ${runs} WHERE workflow_id = $1 FOR UPDATE)
    UPDATE ${runs} r SET status = 'running', owner = $2, lease_until = $3::bigint + $4::bigint, fence = r.fence + 1,
      wake_at = NULL, updated_at = $3::bigint, due_at = $3::bigint + $4::bigint,
      output = 'null'::jsonb, error = 'null'::jsonb, ended_at = NULL
    FROM cur
    WHERE r.workflow_id = cur.workflow_id AND (cur.status IN (${OPEN_SQL}) OR ($5::boolean AND cur.status IN ('failed', 'cancelled', 'timedOut')))
      AND NOT (cur.status = 'running' AND cur.owner IS NOT NULL AND cur.lease_until > $3::bigint)
    RETURNING ${RUN_COLUMNS.split(', ')
      .map((col) => `r.${col}`)
      .join(', ')}`

  const renew = `UPDATE ${runs} SET lease_until = $3::bigint + $4::bigint, due_at = $3::bigint + $4::bigint, updated_at = $3::bigint
    WHERE workflow_id = $1 AND fence = $2::bigint AND status = 'running'
    RETURNING ${RUN_COLUMNS}`

  const release = `UPDATE ${runs} SET
      status = CASE WHEN $4::bigint IS NULL THEN 'pending' ELSE 'parked' END,
      owner = NULL, lease_until = NULL, wake_at = $4::bigint, updated_at = $3::bigint,
      due_at = CASE WHEN $4::bigint IS NULL THEN created_at
                    WHEN cancel_requested THEN LEAST($4::bigint, $3::bigint) ELSE $4::bigint END
    WHERE workflow_id = $1 AND fence = $2::bigint AND status = 'running'
    RETURNING workflow_id, pg_notify($5, ${payload})`

  const ending = `status = $3, lease_until = NULL, wake_at = NULL, output = $4::jsonb, error = $5::jsonb,
      updated_at = $6::bigint, ended_at = $6::bigint, due_at = NULL`
  // the log rows go in the same statement as the outcome (when asked): never a terminal record beside a
  // log nobody resumes, never a cleared log beside a run that looks unfinished
  const finishing = (where: string): string => `WITH f AS (UPDATE ${runs} SET ${ending}
    WHERE ${where}
    RETURNING ${RUN_COLUMNS}),
    d AS (DELETE FROM ${log} WHERE $7::boolean AND workflow_id IN (SELECT workflow_id FROM f))
    SELECT * FROM f`
  const finishFenced = finishing(`workflow_id = $1 AND fence = $2::bigint AND status = 'running'`)
  const finishFree = finishing(`workflow_id = $1 AND $2::bigint IS NULL AND status IN (${OPEN_SQL})
      AND NOT (status = 'running' AND owner IS NOT NULL AND lease_until > $6::bigint)`)

  const cancel = `UPDATE ${runs} SET cancel_requested = true, updated_at = $2::bigint,
      due_at = CASE WHEN status = 'parked' THEN LEAST(due_at, $2::bigint) ELSE due_at END
    WHERE workflow_id = $1 AND status IN (${OPEN_SQL})
    RETURNING workflow_id, pg_notify($3, ${payload})`

  const prune = `WITH gone AS (
      DELETE FROM ${runs} WHERE status IN (${TERMINAL_SQL}) AND ended_at < $1::float8 RETURNING workflow_id),
    logs AS (DELETE FROM ${log} WHERE workflow_id IN (SELECT workflow_id FROM gone))
    SELECT count(*)::int AS removed FROM gone`

  const list = `SELECT ${RUN_COLUMNS} FROM ${runs}
    WHERE ($1::text[] IS NULL OR status = ANY($1::text[])) AND ($2::text IS NULL OR workflow = $2)
    ORDER BY created_at DESC, workflow_id COLLATE "C"
    LIMIT $3::bigint`

  return {
    create: (run) =>
      exec(`create run ${JSON.stringify(run.workflowId)}`, checkNewRun(run), async (query) => {
        const t = now()
        const owner = run.owner ?? null
        const leaseUntil = owner !== null ? t + (run.leaseMs ?? 0) : null
        const status = owner !== null ? 'running' : run.wakeAt !== undefined ? 'parked' : 'pending'
        const due = status === 'running' ? leaseUntil : status === 'parked' ? (run.wakeAt ?? t) : t
        const { rows } = await query(create, [
          run.workflowId,
          run.workflow,
          run.version,
          run.initial,
          status,
          owner,
          leaseUntil,
          owner !== null ? 1 : 0,
          run.wakeAt ?? null,
          JSON.stringify(run.input),
          t,
          due,
          channel,
        ])
        if (rows[0] !== undefined) return { record: decode(rows[0]), created: true }
        // It exists (or a concurrent create committed it after this statement's snapshot): read it now.
        const existing = await read(query, run.workflowId)
        if (existing === undefined) throw new CanoFailure(unknownRunError('create', run.workflowId))
        return { record: existing, created: false }
      }),

    get: (workflowId) =>
      exec(`get run ${JSON.stringify(workflowId)}`, checkRunId('get', workflowId), (query) => read(query, workflowId)),

    list: (filter) =>
      exec('list run records', checkFilter(filter), async (query) => {
        const { rows } = await query(list, [filter?.status ?? null, filter?.workflow ?? null, filter?.limit ?? null])
        return rows.map(decode)
      }),

    claim: (owner, options) =>
      exec(`claim runs for ${JSON.stringify(owner)}`, checkClaim(owner, options), async (query) => {
        const t = now()
        const { rows } = await query(claim, [t, options.limit, owner, options.workflows ?? null, options.leaseMs])
        const claimed: Array<{ readonly due: number; readonly record: RunRecord }> = []
        let corrupt: Error | undefined
        for (const u of rows) {
          try {
            claimed.push({ due: Number(int((u as { claimed_due: unknown }).claimed_due)), record: decode(u) })
          } catch (e: unknown) {
            corrupt ??= e instanceof Error ? e : new Error(String(e))
          }
        }
        if (corrupt !== undefined) {
          // Give back what this claim took, then report the record that does not decode.
          await query(unclaim, [claimed.map((c) => c.record.workflowId), claimed.map((c) => c.record.fence)])
          throw corrupt
        }
        claimed.sort(
          (a, b) =>
            a.due - b.due ||
            (a.record.workflowId < b.record.workflowId ? -1 : a.record.workflowId > b.record.workflowId ? 1 : 0),
        )
        return claimed.map((c) => c.record)
      }),

    claimRun: (workflowId, owner, leaseMs, reopen = false) =>
      exec(`claim run ${JSON.stringify(workflowId)}`, checkClaimRun(workflowId, owner, leaseMs), async (query) => {
        const before = await read(query, workflowId) // a corrupt record is reported, never claimed
        if (before === undefined) throw new CanoFailure(unknownRunError('claimRun', workflowId))
        const t = now()
        const { rows } = await query(claimOne, [workflowId, owner, t, leaseMs, reopen])
        if (rows[0] !== undefined) return decode(rows[0])
        const r = await read(query, workflowId)
        if (r === undefined) throw new CanoFailure(unknownRunError('claimRun', workflowId))
        if (isTerminal(r.status)) throw new CanoFailure(endedRunError(r))
        if (isHeld(r, t) && r.owner !== null && r.leaseUntil !== null)
          throw new CanoFailure(runOwnedError(workflowId, r.owner, r.leaseUntil))
        throw new CanoFailure(unknownRunError('claimRun', workflowId))
      }),

    renew: (workflowId, fence, leaseMs) =>
      exec(`renew run ${JSON.stringify(workflowId)}`, checkRenew(workflowId, fence, leaseMs), async (query) => {
        const { rows } = await query(renew, [workflowId, fence, now(), leaseMs])
        if (rows[0] === undefined) throw await lost(query, workflowId, fence)
        return decode(rows[0])
      }),

    release: (workflowId, fence, wakeAt) =>
      exec(`release run ${JSON.stringify(workflowId)}`, checkRelease(workflowId, fence, wakeAt), async (query) => {
        const { rows } = await query(release, [workflowId, fence, now(), wakeAt ?? null, channel])
        if (rows[0] === undefined) throw await lost(query, workflowId, fence)
      }),

    finish: (workflowId, fence, end, clearLog = false) =>
      exec(`finish run ${JSON.stringify(workflowId)}`, checkFinish(workflowId, fence, end), async (query) => {
        const t = now()
        const values = [
          workflowId,
          fence ?? null,
          end.status,
          JSON.stringify(end.output),
          JSON.stringify(end.error),
          t,
          clearLog,
        ]
        if (fence !== undefined) {
          const { rows } = await query(finishFenced, values)
          if (rows[0] === undefined) throw await lost(query, workflowId, fence)
          return decode(rows[0])
        }
        const { rows } = await query(finishFree, values)
        if (rows[0] !== undefined) return decode(rows[0])
        const r = await read(query, workflowId)
        if (r === undefined) throw new CanoFailure(unknownRunError('finish', workflowId))
        if (isTerminal(r.status)) throw new CanoFailure(endedRunError(r))
        if (r.owner !== null && r.leaseUntil !== null)
          throw new CanoFailure(runOwnedError(workflowId, r.owner, r.leaseUntil))
        throw new CanoFailure(unknownRunError('finish', workflowId))
      }),

    requestCancel: (workflowId) =>
      exec(
        `request cancel of run ${JSON.stringify(workflowId)}`,
        checkRunId('requestCancel', workflowId),
        async (query) => {
          const { rows } = await query(cancel, [workflowId, now(), channel])
          return rows.length > 0
        },
      ),

    prune: (endedBefore) =>
      exec('prune run records', checkPrune(endedBefore), async (query) => {
        const { rows } = await query(prune, [endedBefore])
        return Number((rows[0] as { readonly removed?: unknown } | undefined)?.removed ?? 0)
      }),
  }
}

/** @internal The holder named by a `LeaseLost` error, from a run row's `status` and `owner`. */
export const holderOfRow = (status: unknown, owner: unknown): string | null =>
  status === 'running' && typeof owner === 'string' ? owner : null

/** @internal The `LeaseLost` error of a fenced log write whose run row was `held` (`undefined`: no run row). */
export const fencedWriteLost = (
  workflowId: string,
  fence: number,
  held: { readonly fence: unknown; readonly status: unknown; readonly owner: unknown } | undefined,
  int: (u: unknown) => unknown,
): CanoError | undefined =>
  held !== undefined && int(held.fence) === fence
    ? undefined
    : leaseLostError(workflowId, fence, held === undefined ? null : holderOfRow(held.status, held.owner))
