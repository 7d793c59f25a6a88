import Database from 'better-sqlite3'
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { sqliteCheckpoints } from '/work/main/src/checkpoints/sqlite.ts'
const dir = mkdtempSync(join(tmpdir(), 'prof-'))
const N = 20000
const SCHEMA = `CREATE TABLE IF NOT EXISTS cano_checkpoints (workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, task_id TEXT NOT NULL, payload TEXT, version INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (workflow_id, seq))`
const open = (f: string) => { const db = new Database(f, { timeout: 5000 }); db.pragma('busy_timeout = 5000'); db.pragma('journal_mode = WAL'); db.pragma('synchronous = OFF'); db.exec(SCHEMA); return db }
const rate = (t0: bigint) => Math.round(N / (Number(process.hrtime.bigint() - t0) / 1e9))
for (let rep = 0; rep < 3; rep++) {
  { const db = open(join(dir, `a${rep}.db`)); const ins = db.prepare('INSERT INTO cano_checkpoints VALUES (?,?,?,?,?,?,?,?)'); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) ins.run('x', i, 'StepCursor', 'S', 't', '{"a":1}', 1, 0); console.log('autocommit', rate(t0)); db.close() }
  { const db = open(join(dir, `b${rep}.db`)); const ins = db.prepare('INSERT INTO cano_checkpoints VALUES (?,?,?,?,?,?,?,?)'); const tx = db.transaction((i: number) => ins.run('x', i, 'StepCursor', 'S', 't', '{"a":1}', 1, 0)); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) tx.immediate(i); console.log('tx.immediate', rate(t0)); db.close() }
  { const db = open(join(dir, `b2${rep}.db`)); const ins = db.prepare('INSERT INTO cano_checkpoints VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (workflow_id, seq) DO NOTHING'); const tx = db.transaction((i: number) => ins.run('x', i, 'StepCursor', 'S', 't', '{"a":1}', 1, 0)); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) tx.deferred(i); console.log('tx.deferred+onconflict', rate(t0)); db.close() }
  { const db = open(join(dir, `c${rep}.db`)); const ins = db.prepare('INSERT INTO cano_checkpoints VALUES (?,?,?,?,?,?,?,?)'); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) { await new Promise(r => setImmediate(r)); ins.run('x', i, 'StepCursor', 'S', 't', '{"a":1}', 1, 0) } console.log('autocommit+setImmediate', rate(t0)); db.close() }
  { const s = sqliteCheckpoints(join(dir, `d${rep}.db`), { groupCommit: false, synchronous: 'OFF' }); await s.listRuns(); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) await s.append({ workflowId: 'x', seq: i, kind: 'StepCursor', state: 'S', taskId: 't', payload: { a: 1 }, version: 1, at: 0 }); console.log('ours nogroup', rate(t0)); await s.close() }
  { const s = sqliteCheckpoints(join(dir, `e${rep}.db`), { synchronous: 'OFF' }); await s.listRuns(); const t0 = process.hrtime.bigint(); for (let i = 0; i < N; i++) await s.append({ workflowId: 'x', seq: i, kind: 'StepCursor', state: 'S', taskId: 't', payload: { a: 1 }, version: 1, at: 0 }); console.log('ours group', rate(t0)); await s.close() }
}
