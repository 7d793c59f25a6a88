/**
 * Durable checkpoint throughput (issue 4), each figure a median over repeats and a ratio against a
 * baseline measured in the same process:
 *
 * - SQLite, one sequential writer through `sqliteCheckpoints` vs the floor: a bare `better-sqlite3`
 *   prepared `INSERT` per transaction, same pragmas (WAL, `synchronous=FULL`, `busy_timeout`), same
 *   table and row size. Target: ratio >= 0.7.
 * - SQLite, 100 concurrent writers (each awaiting its previous append) with group commit: aggregate
 *   appends/s vs our single-writer figure. Target: ratio >= 5.
 * - PostgreSQL, the same two figures through `postgresCheckpoints` vs a bare `pg` `INSERT` loop.
 *
 * Run alone: `npx tsx bench/checkpoints.bench.ts` (env `BENCH_REPEATS`, default 5; `CANO_BENCH_PG_URL`,
 * default `postgres://postgres@127.0.0.1:5432/test`).
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import Database from 'better-sqlite3'
import pg from 'pg'

import type { CheckpointRow } from '../codecs/CheckpointRow.js'
import { postgresCheckpoints } from '../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../roots/stores/sqliteCheckpoints.js'
import type { CheckpointStore } from '../src/CheckpointStore.js'
import { type BenchResult, formatTable, median } from './lib.js'

// -------------------------------------------------------------------------------------
// parameters
// -------------------------------------------------------------------------------------

const REPEATS = Math.max(5, Number(process.env['BENCH_REPEATS'] ?? 7) || 7)
const PG_URL = process.env['CANO_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

const SQLITE_SEQUENTIAL = 2_000
const PG_SEQUENTIAL = 500
const WARM_UP = 100
const WRITERS = 100
const SQLITE_PER_WRITER = 50
const PG_PER_WRITER = 20

/** A typical cursor row: a ~120-byte JSON payload. */
const row = (workflowId: string, seq: number): CheckpointRow => ({
  workflowId,
  seq,
  kind: 'StepCursor',
  state: 'Scan',
  taskId: 'scan',
  payload: {
    cursor: { page: seq, token: 'c2VlayB0byBwYWdlIDQyIG9mIHRoZSBvcmRlcnMgdGFibGU', filters: { active: true } },
    step: seq,
  },
  version: 1,
  at: 1_700_000_000_000 + seq,
})

const SQLITE_SCHEMA = `CREATE TABLE IF NOT EXISTS cano_checkpoints (
  workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
  task_id TEXT NOT NULL, payload TEXT, version INTEGER NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, seq))`

export const pgSchema = (table: string): string => `CREATE TABLE IF NOT EXISTS ${table} (
  workflow_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
  task_id TEXT NOT NULL, payload JSONB, version BIGINT NOT NULL, at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, seq))`

/**
 * Flushes the operating system's dirty pages before a phase: on ext4 (data=ordered) an fsync also
 * writes out other files' pending data, so a phase would otherwise pay for the one before it.
 */
export const settle = (): void => {
  try {
    execFileSync('sync')
  } catch {
    // no `sync` binary: measure anyway
  }
}

/** Runs the phases of one repeat, in ABBA order across repeats so that neither always goes first. */
const interleaved = async (repeat: number, phases: ReadonlyArray<() => Promise<void>>): Promise<void> => {
  for (const phase of repeat % 2 === 0 ? phases : [...phases].reverse()) {
    settle()
    await phase()
  }
}

const perSecond = (count: number, startNs: bigint): number => count / (Number(process.hrtime.bigint() - startNs) / 1e9)

/** Appends `count` rows one after the other (each awaits the previous): one run's checkpoints. */
const sequentialWriter = async (store: CheckpointStore, workflowId: string, count: number): Promise<void> => {
  for (let seq = 0; seq < count; seq++) await store.append(row(workflowId, seq))
}

/** `writers` runs at once, each appending `perWriter` rows sequentially; returns the aggregate appends/s. */
const concurrentWriters = async (store: CheckpointStore, writers: number, perWriter: number): Promise<number> => {
  const prefix = randomUUID()
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: writers }, (_, w) => sequentialWriter(store, `${prefix}-${w}`, perWriter)))
  return perSecond(writers * perWriter, start)
}

// -------------------------------------------------------------------------------------
// SQLite
// -------------------------------------------------------------------------------------

export const sqliteFloor = (file: string, count: number): number => {
  const db = new Database(file)
  try {
    db.pragma('busy_timeout = 5000')
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec(SQLITE_SCHEMA)
    const insert = db.prepare<[string, number, string, string, string, string, number, number]>(
      'INSERT INTO cano_checkpoints (workflow_id, seq, kind, state, task_id, payload, version, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    )
    const put = (r: CheckpointRow): unknown =>
      insert.run(r.workflowId, r.seq, r.kind, r.state, r.taskId, JSON.stringify(r.payload), r.version, r.at)
    for (let seq = 0; seq < WARM_UP; seq++) put(row('warm-up', seq))
    const start = process.hrtime.bigint()
    for (let seq = 0; seq < count; seq++) put(row('floor', seq))
    return perSecond(count, start)
  } finally {
    db.close()
  }
}
const sqliteOurs = async (file: string, count: number): Promise<number> => {
  const store = sqliteCheckpoints(file)
  try {
    await sequentialWriter(store, 'warm-up', WARM_UP) // opens the file and creates the schema, untimed
    const start = process.hrtime.bigint()
    await sequentialWriter(store, 'ours', count)
    return perSecond(count, start)
  } finally {
    await store.close()
  }
}

const sqliteConcurrent = async (file: string): Promise<number> => {
  const store = sqliteCheckpoints(file)
  try {
    await sequentialWriter(store, 'warm-up', WARM_UP)
    return await concurrentWriters(store, WRITERS, SQLITE_PER_WRITER)
  } finally {
    await store.close()
  }
}

const benchSqlite = async (): Promise<Array<BenchResult>> => {
  const dir = mkdtempSync(join(tmpdir(), 'cano-bench-checkpoints-'))
  const floor: Array<number> = []
  const ours: Array<number> = []
  const concurrent: Array<number> = []
  try {
    for (let i = 0; i < REPEATS; i++) {
      // Each phase on a fresh file; floor and ours alternate which goes first.
      await interleaved(i, [
        () => {
          floor.push(sqliteFloor(join(dir, `floor-${i}.db`), SQLITE_SEQUENTIAL))
          return Promise.resolve()
        },
        async () => {
          ours.push(await sqliteOurs(join(dir, `ours-${i}.db`), SQLITE_SEQUENTIAL))
        },
      ])
      settle()
      concurrent.push(await sqliteConcurrent(join(dir, `concurrent-${i}.db`)))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const [f, o, c] = [median(floor), median(ours), median(concurrent)]
  return [
    {
      name: 'sqlite: bare INSERT per transaction (floor)',
      value: f,
      unit: 'appends/s',
      note: `synchronous=FULL, WAL, ${SQLITE_SEQUENTIAL} rows`,
    },
    {
      name: 'sqlite: sequential appends, sqliteCheckpoints',
      value: o,
      unit: 'appends/s',
      baseline: 'bare INSERT per transaction',
      ratio: o / f,
      note: 'target >= 0.70',
    },
    {
      name: `sqlite: ${WRITERS} concurrent writers, group commit`,
      value: c,
      unit: 'appends/s',
      baseline: 'our single writer',
      ratio: c / o,
      note: `target >= 5x; ${WRITERS} x ${SQLITE_PER_WRITER} appends`,
    },
  ]
}

// -------------------------------------------------------------------------------------
// PostgreSQL
// -------------------------------------------------------------------------------------

export const pgFloor = async (pool: pg.Pool, table: string, count: number, workflowId = 'floor'): Promise<number> => {
  await pool.query(pgSchema(table))
  const client = await pool.connect()
  try {
    const text = `INSERT INTO ${table} (workflow_id, seq, kind, state, task_id, payload, version, at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`
    const start = process.hrtime.bigint()
    for (let seq = 0; seq < count; seq++) {
      const r = row(workflowId, seq)
      await client.query(text, [
        r.workflowId,
        r.seq,
        r.kind,
        r.state,
        r.taskId,
        JSON.stringify(r.payload),
        r.version,
        r.at,
      ])
    }
    return perSecond(count, start)
  } finally {
    client.release()
  }
}

const pgOurs = async (table: string, count: number): Promise<number> => {
  const store = postgresCheckpoints({ connectionString: PG_URL, table })
  try {
    await sequentialWriter(store, 'warm-up', WARM_UP)
    const start = process.hrtime.bigint()
    await sequentialWriter(store, 'ours', count)
    return perSecond(count, start)
  } finally {
    await store.close()
  }
}

const pgConcurrent = async (table: string): Promise<number> => {
  const store = postgresCheckpoints({ connectionString: PG_URL, table })
  try {
    await sequentialWriter(store, 'warm-up', WARM_UP)
    return await concurrentWriters(store, WRITERS, PG_PER_WRITER)
  } finally {
    await store.close()
  }
}

const benchPostgres = async (): Promise<Array<BenchResult>> => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
  const tables: Array<string> = []
  const table = (what: string): string => {
    const name = `cano_bench_${what}_${process.pid}_${randomUUID().replace(/-/g, '').slice(0, 12)}`
    tables.push(name)
    return name
  }
  const floor: Array<number> = []
  const ours: Array<number> = []
  const concurrent: Array<number> = []
  try {
    await pool.query('SELECT 1')
  } catch (e: unknown) {
    await pool.end()
    const why = e instanceof Error ? e.message : String(e)
    return [{ name: 'postgres: skipped', value: Number.NaN, unit: '', note: `PostgreSQL unavailable: ${why}` }]
  }
  try {
    for (let i = 0; i < REPEATS; i++) {
      await interleaved(i, [
        async () => {
          floor.push(await pgFloor(pool, table('floor'), PG_SEQUENTIAL))
        },
        async () => {
          ours.push(await pgOurs(table('ours'), PG_SEQUENTIAL))
        },
      ])
      settle()
      concurrent.push(await pgConcurrent(table('concurrent')))
    }
  } finally {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS ${t}`)
    await pool.end()
  }
  const [f, o, c] = [median(floor), median(ours), median(concurrent)]
  return [
    {
      name: 'postgres: bare pg INSERT loop (floor)',
      value: f,
      unit: 'appends/s',
      note: `one client, autocommit, ${PG_SEQUENTIAL} rows`,
    },
    {
      name: 'postgres: sequential appends, postgresCheckpoints',
      value: o,
      unit: 'appends/s',
      baseline: 'bare pg INSERT loop',
      ratio: o / f,
      note: 'target >= 0.70',
    },
    {
      name: `postgres: ${WRITERS} concurrent writers, group commit`,
      value: c,
      unit: 'appends/s',
      baseline: 'our single writer',
      ratio: c / o,
      note: `target >= 5x; ${WRITERS} x ${PG_PER_WRITER} appends`,
    },
  ]
}

// -------------------------------------------------------------------------------------
// entry points
// -------------------------------------------------------------------------------------

/** Runs the checkpoint benchmarks: SQLite, then PostgreSQL (skipped with a note when it is unreachable). */
export async function run(): Promise<BenchResult[]> {
  return [...(await benchSqlite()), ...(await benchPostgres())]
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await run()
  console.log(`checkpoint stores (medians of ${REPEATS} repeats)\n`)
  console.log(formatTable(results))
}
