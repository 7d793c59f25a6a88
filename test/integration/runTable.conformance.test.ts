/**
 * The run table (src/RunTable.ts) on the real stores: the shared suite of test/helpers/runTableSuite.ts
 * on a real SQLite file and the real PostgreSQL server (a fresh table per test, dropped afterwards; the
 * in-memory store runs the same suite in test/src/memoryRunTable.test.ts), then what only the real stores can show: races between concurrent claimers
 * (PostgreSQL connections, SQLite processes), the upgrade of a store written by 0.1, LISTEN/NOTIFY.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import pg from 'pg'

import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import type { RunStore } from '../../src/CheckpointStore.js'
import { type Clock, type RunCorruption, runTableSuite } from '../helpers/runTableSuite.js'

// -------------------------------------------------------------------------------------
// adapters
// -------------------------------------------------------------------------------------

/** SQL values the record codec rejects, per corrupted column. */
const SQLITE_BAD: { readonly [K in RunCorruption]: readonly [string, unknown] } = {
  status: ['status', 'finished'],
  fence: ['fence', -1],
  input: ['input', '{"sku": '],
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
