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
 * - Group commit: a `create` and a fenced `finish` go through the store's group-commit queue
 *   (`deps.grouped`); the queue writes the creates of one batch as one multi-row statement
 *   ({@link PostgresRunWrites.createMany}) and the finishes as another ({@link PostgresRunWrites.finishMany}),
 *   each with the same rules as the single statements. A statement that one item breaks (a data error)
 *   is retried item by item, so only that item fails.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../../../codecs/CanoError.js'
import { CanoFailure, leaseLostError, runOwnedError, toCanoError } from '../../../src/CanoError.js'
import { driverError } from '../../../src/CheckpointStore.js'
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
  decodeListed,
  endedRunError,
  isHeld,
  isTerminal,
  type NewRun,
  rejectInvalid,
  reportUnreadable,
  type RunEnding,
  type RunRecord,
  type RunTable,
  TERMINAL_STATUSES,
  unknownRunError,
} from '../../../src/RunTable.js'
import { fromRunRow, RUN_COLUMNS, type RunRowDialect, runRowId, type StoredRunRow } from './runRows.js'

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
  /**
   * The store's group commit of run-table writes: when given, `create` and a fenced `finish` are handed
   * to it (after their arguments are checked) and it writes them with {@link PostgresRunWrites}.
   */
  readonly grouped?: {
    readonly create: (run: NewRun) => Promise<CreateResult>
    readonly finish: (workflowId: string, fence: number, ending: RunEnding, clearLog: boolean) => Promise<RunRecord>
  }
}

/** @internal What `create` resolves with. */
export interface CreateResult {
  readonly record: RunRecord
  readonly created: boolean
}

/** @internal A fenced finish of a group commit. */
export interface FinishItem {
  readonly workflowId: string
  readonly fence: number
  readonly ending: RunEnding
  readonly clearLog: boolean
}

/** @internal One item's outcome in a group: its value, or the error that fails only its caller. */
export type ItemOutcome<A> =
  { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: CanoError }

/** @internal The multi-row statements of a group commit; each resolves with one outcome per item, in order. */
export interface PostgresRunWrites {
  /** Creates the runs (ids unique in the group); an id that exists resolves with its record, `created: false`. */
  readonly createMany: (query: Query, runs: ReadonlyArray<NewRun>) => Promise<ReadonlyArray<ItemOutcome<CreateResult>>>
  /** Finishes the runs (ids unique in the group), each only while its fence holds (else `LeaseLost`). */
  readonly finishMany: (
    query: Query,
    items: ReadonlyArray<FinishItem>,
  ) => Promise<ReadonlyArray<ItemOutcome<RunRecord>>>
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

/** @internal The run table of a `postgresCheckpoints` store, and the statements of its group commit. */
export const postgresRunTable = (
  deps: PostgresRunTableDeps,
): { readonly table: RunTable; readonly writes: PostgresRunWrites } => {
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

  // a claim: the runs due, oldest first, claimed. One whose status is not an open one (a corrupt row)
  // is taken out of the runnable runs (`bad`: never due again) and returned with `unreadable` set, to be
  // reported; it takes a slot of this claim only (the caller claims again for the room it left)
  const cols = (t: string): string =>
    RUN_COLUMNS.split(', ')
      .map((col) => `${t}.${col}`)
      .join(', ')
  const claim = `WITH c AS (
      SELECT workflow_id, due_at, status FROM ${runs}
      WHERE due_at <= $1::bigint AND ($4::text[] IS NULL OR workflow = ANY($4::text[]))
      ORDER BY due_at, workflow_id
      LIMIT $2::bigint
      FOR UPDATE SKIP LOCKED),
    bad AS (
      UPDATE ${runs} b SET due_at = NULL FROM c
      WHERE b.workflow_id = c.workflow_id AND (c.status IS NULL OR c.status NOT IN (${OPEN_SQL}))
      RETURNING b.workflow_id),
    u AS (
      UPDATE ${runs} r SET status = 'running', owner = $3, lease_until = $1::bigint + $5::bigint, fence = r.fence + 1,
        wake_at = NULL, updated_at = $1::bigint, due_at = $1::bigint + $5::bigint
      FROM c WHERE r.workflow_id = c.workflow_id AND c.status IN (${OPEN_SQL})
      RETURNING ${cols('r')}, c.due_at AS claimed_due)
    SELECT u.*, false AS unreadable FROM u
    UNION ALL
    SELECT ${cols('x')}, NULL::bigint AS claimed_due, true AS unreadable FROM ${runs} x JOIN bad ON x.workflow_id = bad.workflow_id`

  const unclaim = `UPDATE ${runs} r SET status = 'pending', owner = NULL, lease_until = NULL, due_at = r.created_at
    FROM unnest($1::text[], $2::bigint[]) AS u(w, f)
    WHERE r.workflow_id = u.w AND r.fence = u.f AND r.status = 'running'`

  // claimed records that do not decode, taken out of the runnable runs: pending, no owner, never due
  const unqueue = `UPDATE ${runs} SET status = 'pending', owner = NULL, lease_until = NULL, due_at = NULL
    WHERE workflow_id = ANY($1::text[]) AND owner = $2`

  const claimOne = `WITH cur AS (
      SELECT workflow_id, status, owner, lease_until FROM ${runs} WHERE workflow_id = $1 FOR UPDATE)
    UPDATE ${runs} r SET status = 'running', owner = $2, lease_until = $3::bigint + $4::bigint, fence = r.fence + 1,
      wake_at = NULL, updated_at = $3::bigint, due_at = $3::bigint + $4::bigint,
      output = 'null'::jsonb, error = 'null'::jsonb, ended_at = NULL,
      cancel_requested = CASE WHEN cur.status IN ('failed', 'cancelled', 'timedOut') THEN false ELSE r.cancel_requested END
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

  // the group commit's forms: one row per run, from arrays; rows are taken in workflow-id order (the
  // creates sorted, the finishes' rows locked in that order first), so two stores' groups never deadlock
  const createMany = `WITH u AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[],
        $8::bigint[], $9::bigint[], $10::text[], $11::bigint[]) AS u(w, wf, v, ini, st, own, lu, f, wk, inp, due)),
    ins AS (
      INSERT INTO ${runs} (${RUN_COLUMNS}, due_at)
      SELECT w, wf, v, ini, st, own, lu, f, wk, inp::jsonb, 'null'::jsonb, 'null'::jsonb, false, $12, $12, NULL, due FROM u
      ON CONFLICT (workflow_id) DO NOTHING
      RETURNING ${RUN_COLUMNS})
    SELECT ins.*, CASE WHEN status <> 'running' THEN pg_notify($13, ${payload}) END AS notified FROM ins`
  const selectMany = `SELECT ${RUN_COLUMNS} FROM ${runs} WHERE workflow_id = ANY($1::text[])`
  const heldBy = `SELECT workflow_id, status, owner FROM ${runs} WHERE workflow_id = ANY($1::text[])`
  const finishMany = `WITH u AS (
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::boolean[])
        AS u(w, f, st, o, e, c)),
    lk AS (
      SELECT r.workflow_id FROM ${runs} r WHERE r.workflow_id IN (SELECT w FROM u)
      ORDER BY r.workflow_id
      FOR NO KEY UPDATE),
    f AS (UPDATE ${runs} r SET status = u.st, lease_until = NULL, wake_at = NULL, output = u.o::jsonb,
        error = u.e::jsonb, updated_at = $7::bigint, ended_at = $7::bigint, due_at = NULL
      FROM u JOIN lk ON lk.workflow_id = u.w
      WHERE r.workflow_id = u.w AND r.fence = u.f AND r.status = 'running'
      RETURNING ${RUN_COLUMNS.split(', ')
        .map((col) => `r.${col}`)
        .join(', ')}, u.c AS clear_log),
    d AS (DELETE FROM ${log} WHERE workflow_id IN (SELECT workflow_id FROM f WHERE clear_log))
    SELECT * FROM f`

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

  /** The values of one new run, as `create` binds them ($1…$12 of `create`, the run's own). */
  const newRunValues = (run: NewRun, t: number) => {
    const owner = run.owner ?? null
    const leaseUntil = owner !== null ? t + (run.leaseMs ?? 0) : null
    const status = owner !== null ? 'running' : run.wakeAt !== undefined ? 'parked' : 'pending'
    const due = status === 'running' ? leaseUntil : status === 'parked' ? (run.wakeAt ?? t) : t
    return {
      workflowId: run.workflowId,
      workflow: run.workflow,
      version: run.version,
      initial: run.initial,
      status,
      owner,
      leaseUntil,
      fence: owner !== null ? 1 : 0,
      wakeAt: run.wakeAt ?? null,
      input: JSON.stringify(run.input),
      due,
    }
  }

  /** One `create`, its own statement. */
  const createOne = async (query: Query, run: NewRun): Promise<CreateResult> => {
    const t = now()
    const v = newRunValues(run, t)
    const { rows } = await query(create, [
      v.workflowId,
      v.workflow,
      v.version,
      v.initial,
      v.status,
      v.owner,
      v.leaseUntil,
      v.fence,
      v.wakeAt,
      v.input,
      t,
      v.due,
      channel,
    ])
    if (rows[0] !== undefined) return { record: decode(rows[0]), created: true }
    // It exists (or a concurrent create committed it after this statement's snapshot): read it now.
    const existing = await read(query, run.workflowId)
    if (existing === undefined) throw new CanoFailure(unknownRunError('create', run.workflowId))
    return { record: existing, created: false }
  }

  /** One fenced `finish`, its own statement. */
  const finishOne = async (query: Query, item: FinishItem): Promise<RunRecord> => {
    const { workflowId, fence, ending: end, clearLog } = item
    const { rows } = await query(finishFenced, [
      workflowId,
      fence,
      end.status,
      JSON.stringify(end.output),
      JSON.stringify(end.error),
      now(),
      clearLog,
    ])
    if (rows[0] === undefined) throw await lost(query, workflowId, fence)
    return decode(rows[0])
  }

  const writes: PostgresRunWrites = {
    createMany: (query, many) =>
      itemByItemOnRowError(
        many,
        async () => {
          const t = now()
          const values = many.map((run) => newRunValues(run, t)).sort(byId)
          const column = <K extends keyof ReturnType<typeof newRunValues>>(k: K) => values.map((v) => v[k])
          const { rows } = await query(createMany, [
            column('workflowId'),
            column('workflow'),
            column('version'),
            column('initial'),
            column('status'),
            column('owner'),
            column('leaseUntil'),
            column('fence'),
            column('wakeAt'),
            column('input'),
            column('due'),
            t,
            channel,
          ])
          const made = new Map<string, unknown>()
          for (const u of rows) made.set(String((u as { readonly workflow_id: unknown }).workflow_id), u)
          const existing = new Map<string, unknown>()
          const others = many.filter((run) => !made.has(run.workflowId)).map((run) => run.workflowId)
          if (others.length > 0)
            for (const u of (await query(selectMany, [others])).rows)
              existing.set(String((u as { readonly workflow_id: unknown }).workflow_id), u)
          return many.map((run): ItemOutcome<CreateResult> => {
            const stored = made.get(run.workflowId) ?? existing.get(run.workflowId)
            if (stored === undefined) return failed(unknownRunError('create', run.workflowId))
            return attempt(() => ({ record: decode(stored), created: made.has(run.workflowId) }))
          })
        },
        (run) => settleOne(`create run ${JSON.stringify(run.workflowId)}`, () => createOne(query, run)),
      ),
    finishMany: (query, items) =>
      itemByItemOnRowError(
        items,
        async () => {
          const { rows } = await query(finishMany, [
            items.map((i) => i.workflowId),
            items.map((i) => i.fence),
            items.map((i) => i.ending.status),
            items.map((i) => JSON.stringify(i.ending.output)),
            items.map((i) => JSON.stringify(i.ending.error)),
            items.map((i) => i.clearLog),
            now(),
          ])
          const done = new Map<string, unknown>()
          for (const u of rows) done.set(String((u as { readonly workflow_id: unknown }).workflow_id), u)
          // the runs whose fence moved on: who holds them now, for their LeaseLost errors
          const holders = new Map<string, string | null>()
          const refused = items.filter((i) => !done.has(i.workflowId)).map((i) => i.workflowId)
          if (refused.length > 0)
            for (const u of (await query(heldBy, [refused])).rows) {
              const r = u as { readonly workflow_id: unknown; readonly status: unknown; readonly owner: unknown }
              holders.set(String(r.workflow_id), holderOfRow(r.status, r.owner))
            }
          return items.map((i): ItemOutcome<RunRecord> => {
            const stored = done.get(i.workflowId)
            if (stored === undefined)
              return failed(leaseLostError(i.workflowId, i.fence, holders.get(i.workflowId) ?? null))
            return attempt(() => decode(stored))
          })
        },
        (item) => settleOne(`finish run ${JSON.stringify(item.workflowId)}`, () => finishOne(query, item)),
      ),
  }

  const grouped = <A>(check: ReturnType<typeof checkNewRun>, write: () => Promise<A>): Promise<A> =>
    groupedWrite(deps.isClosed(), check, write)

  const table: RunTable = {
    create: (run) =>
      deps.grouped === undefined
        ? exec(`create run ${JSON.stringify(run.workflowId)}`, checkNewRun(run), (query) => createOne(query, run))
        : grouped(checkNewRun(run), () => (deps.grouped as NonNullable<typeof deps.grouped>).create(run)),

    get: (workflowId) =>
      exec(`get run ${JSON.stringify(workflowId)}`, checkRunId('get', workflowId), (query) => read(query, workflowId)),

    list: (filter) =>
      exec('list run records', checkFilter(filter), async (query) => {
        const { rows } = await query(list, [filter?.status ?? null, filter?.workflow ?? null, filter?.limit ?? null])
        return decodeListed(rows, decode, runRowId, filter)
      }),

    claim: (owner, options) =>
      exec(`claim runs for ${JSON.stringify(owner)}`, checkClaim(owner, options), async (query) => {
        const t = now()
        const claimed: Array<{ readonly due: number; readonly record: RunRecord }> = []
        const corrupt: Array<{ readonly id: unknown; readonly error: unknown }> = []
        // a record that does not decode is taken out of the runnable runs and reported, and the claim goes
        // on for the room it left: one corrupt row never holds every other run back
        for (;;) {
          const room = options.limit - claimed.length
          const { rows } = await query(claim, [t, room, owner, options.workflows ?? null, options.leaseMs])
          const taken: Array<unknown> = []
          let found = 0
          for (const u of rows) {
            const row = u as { readonly claimed_due: unknown; readonly unreadable: boolean }
            try {
              const record = decode(u)
              // a row `bad` took out that decodes (a terminal record left due): nothing to claim or report
              if (row.unreadable) continue
              claimed.push({ due: Number(int(row.claimed_due)), record })
            } catch (e: unknown) {
              found++
              corrupt.push({ id: runRowId(u), error: e })
              if (!row.unreadable) taken.push(runRowId(u))
            }
          }
          if (taken.length > 0) await query(unqueue, [taken, owner])
          if (
            (found === 0 && !rows.some((u) => (u as { readonly unreadable: boolean }).unreadable)) ||
            claimed.length >= options.limit
          )
            break
        }
        // every record taken out is reported (they are out already: a later claim would not see them),
        // and the first throw of the caller's callback fails the claim, which gives back what it took
        let thrown: { readonly e: unknown } | undefined
        for (const c of corrupt) {
          try {
            reportUnreadable('claim', options.onUnreadable, c.id, c.error)
          } catch (e: unknown) {
            thrown ??= { e }
          }
        }
        if (thrown !== undefined) {
          await query(unclaim, [claimed.map((c) => c.record.workflowId), claimed.map((c) => c.record.fence)])
          throw thrown.e
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

    finish: (workflowId, fence, end, clearLog = false) => {
      const check = checkFinish(workflowId, fence, end)
      const grouping = deps.grouped
      if (fence !== undefined) {
        if (grouping !== undefined) return grouped(check, () => grouping.finish(workflowId, fence, end, clearLog))
        return exec(`finish run ${JSON.stringify(workflowId)}`, check, (query) =>
          finishOne(query, { workflowId, fence, ending: end, clearLog }),
        )
      }
      return exec(`finish run ${JSON.stringify(workflowId)}`, check, async (query) => {
        const t = now()
        const { rows } = await query(finishFree, [
          workflowId,
          null,
          end.status,
          JSON.stringify(end.output),
          JSON.stringify(end.error),
          t,
          clearLog,
        ])
        if (rows[0] !== undefined) return decode(rows[0])
        const r = await read(query, workflowId)
        if (r === undefined) throw new CanoFailure(unknownRunError('finish', workflowId))
        if (isTerminal(r.status)) throw new CanoFailure(endedRunError(r))
        if (r.owner !== null && r.leaseUntil !== null)
          throw new CanoFailure(runOwnedError(workflowId, r.owner, r.leaseUntil))
        throw new CanoFailure(unknownRunError('finish', workflowId))
      })
    },

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
  return { table, writes }
}

/** A grouped write: its arguments checked first, unless the store is closed (the queue then rejects it as closed). */
const groupedWrite = <A>(
  closed: boolean,
  check: ReturnType<typeof checkNewRun>,
  write: () => Promise<A>,
): Promise<A> => {
  if (check !== undefined && !closed) return Promise.reject(new CanoFailure(check))
  return write()
}

const failed = (error: CanoError): ItemOutcome<never> => ({ ok: false, error })

const byId = (a: { readonly workflowId: string }, b: { readonly workflowId: string }): number =>
  a.workflowId < b.workflowId ? -1 : a.workflowId > b.workflowId ? 1 : 0

/** `make()` as an outcome: a value, or what it threw (a corrupt record's `DecodeFailed`). */
const attempt = <A>(make: () => A): ItemOutcome<A> => {
  try {
    return { ok: true, value: make() }
  } catch (e: unknown) {
    return failed(toCanoError(e))
  }
}

/** One item's own statement as an outcome; a driver error names the operation (`what`). */
const settleOne = <A>(what: string, write: () => Promise<A>): Promise<ItemOutcome<A>> =>
  write().then(
    (value): ItemOutcome<A> => ({ ok: true, value }),
    (e: unknown) => failed(e instanceof CanoFailure ? e.error : driverError('postgresCheckpoints', what, e)),
  )

/** @internal SQLSTATE classes a single bad row can raise (data exception, integrity violation, PL/pgSQL raise). */
export const ROW_LEVEL_CLASSES: ReadonlyArray<string> = ['22', '23', 'P0']

/** SQLSTATE `deadlock_detected`. */
const DEADLOCK = '40P01'

/**
 * @internal Runs `together` (one statement for every item); when one item broke that statement (a
 * row-level SQLSTATE: nothing was written) or it was chosen as a deadlock victim, runs each item alone
 * with `alone`, so only that item fails. Any other error fails every item (the caller names it).
 */
export const itemByItemOnRowError = async <I, A>(
  items: ReadonlyArray<I>,
  together: () => Promise<ReadonlyArray<ItemOutcome<A>>>,
  alone: (item: I) => Promise<ItemOutcome<A>>,
): Promise<ReadonlyArray<ItemOutcome<A>>> => {
  if (items.length === 1 && items[0] !== undefined) return [await alone(items[0])]
  try {
    return await together()
  } catch (e: unknown) {
    const code = typeof e === 'object' && e !== null ? (e as { readonly code?: unknown }).code : undefined
    if (typeof code !== 'string' || !(ROW_LEVEL_CLASSES.includes(code.slice(0, 2)) || code === DEADLOCK)) throw e
    const out: Array<ItemOutcome<A>> = []
    for (const item of items) out.push(await alone(item))
    return out
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
