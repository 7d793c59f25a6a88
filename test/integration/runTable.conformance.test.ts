/**
 * The run table (src/RunTable.ts) on every store: the shared suite of test/helpers/runTableSuite.ts on
 * the in-memory store, a real SQLite file and the real PostgreSQL server (a fresh table per test,
 * dropped afterwards), then what only the real stores can show: races between concurrent claimers
 * (PostgreSQL connections, SQLite processes), the upgrade of a store written by 0.1, LISTEN/NOTIFY.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'

import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { memoryCheckpointsOver, type RunStore } from '../../src/CheckpointStore.js'
import type { StoredRun } from '../../src/memoryRunTable.js'
import { type Clock, type RunCorruption, runTableSuite } from '../helpers/runTableSuite.js'

// -------------------------------------------------------------------------------------
// adapters
// -------------------------------------------------------------------------------------

const MEMORY_BAD: { readonly [K in RunCorruption]: unknown } = { status: 'finished', fence: -1, input: 'x\u0000' }

runTableSuite({
  name: 'memoryCheckpoints',
  open: (clock: Clock) => {
    const records = new Map<string, StoredRun>()
    const store = memoryCheckpointsOver(new Map(), { now: () => clock.now }, records)
    return Promise.resolve({
      store,
      corrupt: (workflowId, field) => {
        const stored = records.get(workflowId)
        if (stored === undefined) throw new Error(`no record ${workflowId}`)
        const json = stored.json.replace(/"status":"[a-zA-Z]+"/, '"status":"finished"')
        const raw = JSON.parse(json) as Record<string, unknown>
        records.set(workflowId, {
          ...stored,
          json: field === 'status' ? json : JSON.stringify({ ...raw, [field]: MEMORY_BAD[field] }),
        })
        return Promise.resolve()
      },
      dispose: () => store.close(),
    })
  },
})

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
