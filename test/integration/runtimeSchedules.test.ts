/**
 * Runtime schedules with real processes (issue 12): three processes (test/integration/fixtures/scheduleWorker.ts)
 * run `createRuntime` with the same `Schedule.every(200)` schedule on one PostgreSQL run table for 10 s.
 * Each process fires every tick and tries to record the tick's run under the same id; the run table's
 * idempotent `create` lets exactly one of them record it. The workers journal the tick events of their
 * runtime and every execution of the scheduled workflow; the assertions read the journals and the run
 * table:
 *
 * - the run table holds exactly one run per tick instant, on the 200 ms epoch grid, with no gap between
 *   the first and the last tick, and every tick of the window is there;
 * - every process fired every tick of the window, and exactly one of them created its run;
 * - every run was executed exactly once (the runs still pending when the workers stopped: never).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

import { expect } from 'chai'
import pg from 'pg'

import { type RunStore } from '../../roots/index.js'
import { postgresCheckpoints } from '../../roots/postgres.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'scheduleWorker.ts')
const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const INTERVAL_MS = 200
const WINDOW_MS = 10_000

interface Worker {
  readonly name: string
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  readonly exited: Promise<number | null>
}

const spawnWorker = (table: string, name: string): Worker => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, table, name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CANO_TEST_PG_URL: PG_URL },
  })
  let out = ''
  let err = ''
  let ready: () => void = () => undefined
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (out.includes('READY')) ready()
  })
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString()
    if (err.length > 20_000) err = err.slice(-10_000)
  })
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      if (code !== 0) console.error(`worker ${name} exited ${String(code)}:\n${err}`)
      resolve(code)
    }),
  )
  return { name, proc, ready: new Promise<void>((r) => (ready = r)), exited }
}

/** The tick instant of a run id `beat@<ISO-8601>`. */
const instantOf = (workflowId: string): number => {
  expect(workflowId).to.match(/^beat@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  return Date.parse(workflowId.slice('beat@'.length))
}

describe('runtime schedules (real processes, PostgreSQL)', function () {
  this.timeout(120_000)

  let admin: pg.Pool
  let table: string
  let store: RunStore
  const workers: Worker[] = []

  beforeEach(async () => {
    admin = new pg.Pool({ connectionString: PG_URL, max: 2 })
    table = `sched_${String(process.pid)}_${String(Date.now())}`
    await admin.query(
      `CREATE TABLE ${table}_journal (id serial PRIMARY KEY, run text, worker text, started double precision, ended double precision)`,
    )
    await admin.query(`CREATE TABLE ${table}_ticks (tick double precision, worker text, outcome text)`)
    store = postgresCheckpoints({ connectionString: PG_URL, table })
    // the store creates its tables here, before three processes would race to
    await store.runs.list({ limit: 1 })
  })
  afterEach(async () => {
    for (const w of workers) w.proc.kill('SIGKILL')
    await Promise.all(workers.map((w) => w.exited))
    workers.length = 0
    await store.close()
    await admin.query(`DROP TABLE IF EXISTS ${table}_journal, ${table}_ticks, ${table}_runs, ${table}`)
    await admin.end()
  })

  it('3 scheduler processes with every(200) for 10 s: each tick exactly one run, executed once', async () => {
    for (const name of ['s1', 's2', 's3']) workers.push(spawnWorker(table, name))
    await Promise.all(workers.map((w) => w.ready))
    const windowStart = Date.now()
    // the window itself is what is measured: three schedulers side by side for 10 s
    await new Promise((r) => setTimeout(r, WINDOW_MS))
    const windowEnd = Date.now()
    for (const w of workers) w.proc.kill('SIGTERM')
    expect(await Promise.all(workers.map((w) => w.exited))).to.deep.equal([0, 0, 0])
    workers.length = 0

    // one run per tick instant, on the grid, no gap between the first and the last
    const runs = await store.runs.list({ workflow: 'beat' })
    const instants = runs.map((r) => instantOf(r.workflowId)).sort((a, b) => a - b)
    expect(new Set(instants).size, 'one run per instant').to.equal(runs.length)
    expect(
      instants.filter((t) => t % INTERVAL_MS !== 0),
      'off the grid',
    ).to.deep.equal([])
    const gaps = instants.slice(1).filter((t, i) => t - (instants[i] as number) !== INTERVAL_MS)
    expect(gaps, 'gaps').to.deep.equal([])
    const inWindow: number[] = []
    for (let t = Math.ceil(windowStart / INTERVAL_MS) * INTERVAL_MS; t <= windowEnd; t += INTERVAL_MS) inWindow.push(t)
    expect(inWindow.length).to.be.at.least(WINDOW_MS / INTERVAL_MS)
    expect(
      inWindow.filter((t) => !instants.includes(t)),
      'ticks of the window without a run',
    ).to.deep.equal([])

    // every process fired every tick of the window; exactly one created its run
    const ticks = (
      await admin.query<{ readonly tick: number; readonly worker: string; readonly outcome: string }>(
        `SELECT tick, worker, outcome FROM ${table}_ticks`,
      )
    ).rows
    expect(
      ticks.filter((t) => t.outcome.startsWith('failed')),
      'failed ticks',
    ).to.deep.equal([])
    // the workers stop through runtime.stop(): a tick whose run was being recorded when SIGTERM came is
    // still reported, so every tick up to the kill is checked (but for the last 100 ms: a worker's timer of
    // a tick due just before the kill may not have fired yet when the SIGTERM is handled)
    for (const t of inWindow.filter((tick) => tick <= windowEnd - 100)) {
      const seen = ticks.filter((row) => row.tick === t)
      expect(seen.map((row) => row.worker).sort(), `workers of tick ${String(t)}`).to.deep.equal(['s1', 's2', 's3'])
      expect(
        seen.filter((row) => row.outcome === 'created'),
        `creators of tick ${String(t)}`,
      ).to.have.length(1)
    }

    // every run executed exactly once; the runs still pending at the stop never
    const journal = (
      await admin.query<{ readonly run: string; readonly worker: string; readonly ended: number | null }>(
        `SELECT run, worker, ended FROM ${table}_journal`,
      )
    ).rows
    const executions = new Map<string, number>()
    for (const e of journal) executions.set(e.run, (executions.get(e.run) ?? 0) + 1)
    for (const r of runs) {
      const count = executions.get(r.workflowId) ?? 0
      if (r.status === 'completed') expect(count, `executions of ${r.workflowId}`).to.equal(1)
      else {
        expect(r.status, r.workflowId).to.equal('pending')
        expect(count, `executions of ${r.workflowId}`).to.equal(0)
      }
    }
    expect(journal.every((e) => e.ended !== null)).to.equal(true)
    const lateOpen = runs.filter((r) => r.status !== 'completed' && instantOf(r.workflowId) < windowEnd - 1_000)
    expect(
      lateOpen.map((r) => r.workflowId),
      'runs left pending well before the stop',
    ).to.deep.equal([])
    const executors = new Set(runs.filter((r) => r.status === 'completed').map((r) => r.owner))
    console.log(
      `      ${String(runs.length)} runs, ${String(inWindow.length)} ticks in the window, executed by ${[...executors].join(', ')}`,
    )
  })
})
