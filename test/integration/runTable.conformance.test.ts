/**
 * The run table (src/RunTable.ts) on the real stores: the shared suite of test/helpers/runTableSuite.ts
 * on a real SQLite file and the real PostgreSQL server (a fresh table per test, dropped afterwards; the
 * in-memory store runs the same suite in test/src/memoryRunTable.test.ts), then what only the real stores can show: races between concurrent claimers
 * (PostgreSQL connections, SQLite processes), the upgrade of a store written by 0.1, LISTEN/NOTIFY; and
 * PostgreSQL's group commit of run-table writes (SQLite's is in sqliteGroupCommit.test.ts).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import pg from 'pg'

import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure } from '../../src/CanoError.js'
import type { RunStore } from '../../src/CheckpointStore.js'
import type { NewRun, RunRecord } from '../../src/RunTable.js'
import { task } from '../../src/StateHandler.js'
import { expectAcknowledgedKept, killWriter } from '../helpers/groupCommitCrash.js'
import { type Clock, type RunCorruption, runTableSuite } from '../helpers/runTableSuite.js'

// -------------------------------------------------------------------------------------
// adapters
// -------------------------------------------------------------------------------------

/** SQL values the record codec rejects, per corrupted column. */
const SQLITE_BAD: { readonly [K in RunCorruption]: readonly [string, unknown] } = {
  status: ['status', 'finished'],
  fence: ['fence', -1],
  input: ['input', '{"sku": '],
  terminal: ['status', 'completed'],
}

const sqliteDir = mkdtempSync(join(tmpdir(), 'cano-runtable-'))
after(() => {
  rmSync(sqliteDir, { recursive: true, force: true })
})

const sqliteFile = (): string => join(sqliteDir, `${randomUUID()}.db`)

runTableSuite({
  name: 'sqliteCheckpoints',
  open: (clock: Clock) => {
    const file = sqliteFile()
    const store: RunStore = sqliteCheckpoints(file, { now: () => clock.now })
    return Promise.resolve({
      store,
      corrupt: (workflowId, field) => {
        const [column, value] = SQLITE_BAD[field]
        const db = new Database(file)
        try {
          db.prepare(`UPDATE cano_checkpoints_runs SET ${column} = ? WHERE workflow_id = ?`).run(value, workflowId)
        } finally {
          db.close()
        }
        return Promise.resolve()
      },
      dispose: async () => {
        await store.close()
        for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
      },
    })
  },
})

const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** An admin pool for raw SQL and dropping tables; ended after the file. */
const admin = new pg.Pool({ connectionString: PG_URL, max: 4 })
after(async () => {
  await admin.end()
})

/** A table name unique to this test. */
const pgTable = (): string => `cano_rt_${process.pid}_${randomUUID().replace(/-/g, '').slice(0, 16)}`

const dropTables = async (table: string): Promise<void> => {
  await admin.query(`DROP TABLE IF EXISTS "${table}", "${table}_runs"`)
}

const PG_BAD: { readonly [K in RunCorruption]: string } = {
  status: `status = 'finished'`,
  fence: 'fence = -1',
  input: `input = '1e400'::jsonb`, // a number JSON.parse turns into Infinity
  terminal: `status = 'completed'`,
}

runTableSuite({
  name: 'postgresCheckpoints',
  open: (clock: Clock) => {
    const table = pgTable()
    const store: RunStore = postgresCheckpoints({ connectionString: PG_URL, table, now: () => clock.now })
    return Promise.resolve({
      store,
      corrupt: async (workflowId, field) => {
        await admin.query(`UPDATE "${table}_runs" SET ${PG_BAD[field]} WHERE workflow_id = $1`, [workflowId])
      },
      dispose: async () => {
        await store.close()
        await dropTables(table)
      },
    })
  },
})

// -------------------------------------------------------------------------------------
// the group commit of run-table writes (PostgreSQL)
// -------------------------------------------------------------------------------------

describe('postgresCheckpoints group commit of run-table writes', function () {
  this.timeout(60_000)
  let table: string
  let statements: Array<string>
  let store: RunStore
  /** A pool of its own for the store (ended after each test), counting the statements the store sends. */
  let pool: pg.Pool

  beforeEach(() => {
    table = pgTable()
    statements = []
    pool = new pg.Pool({ connectionString: PG_URL, max: 10 })
    store = postgresCheckpoints({
      pool: {
        query: (text, values) => {
          statements.push(text)
          return pool.query(text, values)
        },
      },
      table,
    })
  })
  afterEach(async () => {
    await store.close()
    await pool.end()
    await dropTables(table)
  })

  const claimed = (workflowId: string, owner = 'w1'): NewRun => ({
    workflowId,
    workflow: 'orders',
    version: 1,
    initial: 'Charge',
    input: null,
    owner,
    leaseMs: 60_000,
  })
  const completed = { status: 'completed', output: 'ok', error: null } as const
  const outcome = (r: PromiseSettledResult<unknown>): string =>
    r.status === 'fulfilled' ? 'ok' : isCanoFailure(r.reason) ? r.reason.error._tag : String(r.reason)
  const row = (workflowId: string, seq: number): CheckpointRow => ({
    workflowId,
    seq,
    kind: 'StateEntry',
    state: 'Charge',
    taskId: 'charge',
    payload: null,
    version: 1,
    at: Date.now(),
  })

  it('sends the creates and finishes of 100 concurrent runs as a few statements, not one each', async () => {
    type Step = 'A' | 'B' | 'C' | 'Done'
    const flow = workflow<Step>()({
      checkpoints: store,
      exits: ['Done'],
      states: { A: task(() => 'B' as const), B: task(() => 'C' as const), C: task(() => 'Done' as const) },
    })
    await store.listRuns() // the schema is in place
    statements.length = 0
    const ids = Array.from({ length: 100 }, (_, i) => `run-${i}`)
    expect(await Promise.all(ids.map((workflowId) => flow.orchestrate('A', { workflowId })))).to.deep.equal(
      ids.map(() => 'Done'),
    )
    const runWrites = statements.filter((s) => s.includes(`"${table}_runs"`))
    // before: 100 creates and 100 finishes, one statement each
    expect(runWrites.length, runWrites.map((s) => s.slice(0, 40)).join('\n')).to.be.at.most(20)
    expect(statements.length).to.be.at.most(40)
    const records = await store.runs.list({ limit: 1_000 })
    expect(records.map((r) => r.status)).to.deep.equal(ids.map(() => 'completed'))
    expect(await store.listRuns()).to.deep.equal([])
  })

  it('fails only the caller of a run-table write refused inside a group, and commits the rest', async () => {
    await store.runs.create(claimed('held'))
    await store.runs.create(claimed('done'))
    await store.append(row('done', 0), 1)
    const results = await Promise.allSettled([
      store.runs.create(claimed('fresh')),
      store.runs.finish('held', 7, completed), // not its fence
      store.runs.create(claimed('fresh', 'w2')), // the same id, in the same group
      store.runs.finish('ghost', 1, completed), // no such run
      store.runs.finish('done', 1, completed, true),
      store.runs.create(claimed('other')),
    ])
    expect(results.map(outcome)).to.deep.equal(['ok', 'LeaseLost', 'ok', 'LeaseLost', 'ok', 'ok'])
    const [first, , second] = results as Array<PromiseFulfilledResult<{ record: RunRecord; created: boolean }>>
    expect([first?.value.created, second?.value.created]).to.deep.equal([true, false])
    expect(second?.value.record.owner).to.equal('w1')
    expect((results[1] as PromiseRejectedResult).reason).to.have.nested.property('error.owner', 'w1')
    expect((await store.runs.get('held'))?.status).to.equal('running')
    expect((await store.runs.get('done'))?.status).to.equal('completed')
    expect(await store.loadRun('done')).to.deep.equal([])
    expect((await store.runs.get('other'))?.status).to.equal('running')
  })

  it('retries a group one item at a time when one item breaks its statement: only that item fails', async () => {
    for (const id of ['poisoned', 'healthy']) {
      await store.runs.create(claimed(id))
      await store.append(row(id, 0), 1)
    }
    await admin.query(`CREATE FUNCTION "${table}_refuse"() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'poisoned outcome refused'; END $$ LANGUAGE plpgsql`)
    await admin.query(`CREATE TRIGGER no_poison BEFORE UPDATE ON "${table}_runs" FOR EACH ROW
      WHEN (NEW.workflow_id = 'poisoned' AND NEW.status = 'completed') EXECUTE FUNCTION "${table}_refuse"()`)
    try {
      statements.length = 0
      const results = await Promise.allSettled([
        store.runs.finish('poisoned', 1, completed, true),
        store.runs.finish('healthy', 1, completed, true),
      ])
      expect(results.map(outcome)).to.deep.equal(['CheckpointStore', 'ok'])
      // the two finishes went as one statement first, then one each
      expect(statements.filter((q) => q.includes('clear_log'))).to.have.length(1)
      expect(statements.filter((q) => q.includes('$7::boolean'))).to.have.length(2)
      expect(String((results[0] as PromiseRejectedResult).reason)).to.include('poisoned outcome refused')
      // the refused finish removed nothing: its outcome and its log's removal are one statement
      expect((await store.runs.get('poisoned'))?.status).to.equal('running')
      expect(await store.loadRun('poisoned')).to.have.length(1)
      expect((await store.runs.get('healthy'))?.status).to.equal('completed')
      expect(await store.loadRun('healthy')).to.deep.equal([])
    } finally {
      await admin.query(`DROP FUNCTION IF EXISTS "${table}_refuse"() CASCADE`)
    }
  })

  it("keeps each run's writes in call order within a group: an append then a finish that clears the log", async () => {
    await store.runs.create(claimed('a'))
    const results = await Promise.allSettled([
      store.append(row('a', 0), 1),
      store.runs.finish('a', 1, completed, true),
      store.runs.create(claimed('b')),
    ])
    expect(results.map(outcome)).to.deep.equal(['ok', 'ok', 'ok'])
    expect(await store.loadRun('a')).to.deep.equal([]) // the finish came after the append and removed it
    expect((await store.runs.get('a'))?.status).to.equal('completed')
  })

  it('loses no acknowledged create, append or finish when the process is killed with SIGKILL', async () => {
    const killed = pgTable()
    try {
      const ack = await killWriter(`postgres:${killed}`)
      const after = postgresCheckpoints({ connectionString: PG_URL, table: killed })
      try {
        await expectAcknowledgedKept(after, ack)
      } finally {
        await after.close()
      }
    } finally {
      await dropTables(killed)
    }
  })
})
