/**
 * Worker fleets with real processes (issue 12): worker processes (test/integration/fixtures/fleetWorker.ts)
 * run the `fleet` workflow under `createRuntime` on the real PostgreSQL server and on one SQLite file,
 * while the test SIGKILLs and restarts them, or SIGSTOPs one past its lease. Every piece of work is
 * journalled by the workers themselves; the assertions read the journal and the run table:
 *
 * - every run ends exactly once, `completed`, or `failed` after a rollback for the runs that decline;
 * - no two workers ever execute one run at the same time (journal intervals of a run by different
 *   workers never overlap; an execution cut by a SIGKILL ends at the kill);
 * - no piece of work completed before the run's last checkpoint runs again (only the piece in flight at
 *   a crash may run twice).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import pg from 'pg'

import { type RunStore } from '../../roots/index.js'
import { postgresCheckpoints } from '../../roots/postgres.js'
import { sqliteCheckpoints } from '../../roots/sqlite.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'fleetWorker.ts')
const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

interface Worker {
  readonly name: string
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  readonly held: Promise<void>
  readonly exited: Promise<void>
  /** When it was SIGKILLed (its open journal entries end there). */
  killedAt: number | undefined
}

const spawnWorker = (args: ReadonlyArray<string>, name: string): Worker => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let ready: () => void = () => undefined
  let held: () => void = () => undefined
  const w: Worker = {
    name,
    proc,
    ready: new Promise<void>((r) => (ready = r)),
    held: new Promise<void>((r) => (held = r)),
    exited: new Promise<void>((r) => proc.on('exit', () => r())),
    killedAt: undefined,
  }
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (out.includes('READY')) ready()
    if (out.includes('HOLD')) held()
  })
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString()
    if (err.length > 20_000) err = err.slice(-10_000)
  })
  proc.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) console.error(`worker ${name} exited ${String(code)}:\n${err}`)
  })
  return w
}

interface Entry {
  readonly run: string
  readonly key: string
  readonly worker: string
  readonly started: number
  readonly ended: number | null
}

/** The journal checks of the module comment; returns what went wrong, empty when nothing did. */
const journalFaults = (entries: ReadonlyArray<Entry>, killedAt: ReadonlyMap<string, number>): string[] => {
  const faults: string[] = []
  const byRun = new Map<string, Entry[]>()
  for (const e of entries) byRun.set(e.run, [...(byRun.get(e.run) ?? []), e])
  for (const [run, list] of byRun) {
    const sorted = [...list].sort((a, b) => a.started - b.started)
    const end = (e: Entry): number => e.ended ?? killedAt.get(e.worker) ?? Number.POSITIVE_INFINITY
    // no overlap between workers
    for (let i = 0; i < sorted.length; i++)
      for (let j = i + 1; j < sorted.length; j++) {
        const a = sorted[i] as Entry
        const b = sorted[j] as Entry
        if (a.worker !== b.worker && b.started < end(a))
          faults.push(`${run}: ${a.worker} (${a.key}) and ${b.worker} (${b.key}) overlap`)
      }
    // a piece finished before a piece of a later state started (so its checkpoint moved on) never starts
    // again; the branches of one split (`Fan[0]`, `Fan[1]`, …) are one state: a split cut short by a crash
    // runs again whole, whichever branch happened to start a millisecond first
    for (const a of sorted) {
      if (a.ended === null) continue
      const later = sorted.find(
        (b) => stateOf(b.key) !== stateOf(a.key) && b.started >= (a.ended as number) && !b.key.startsWith('undo:'),
      )
      if (later === undefined) continue
      const again = sorted.find((b) => b.key === a.key && b.started > later.started)
      if (again !== undefined) faults.push(`${run}: ${a.key} ran again (by ${again.worker}) after ${later.key} started`)
    }
  }
  return faults
}

/** The state a journalled piece belongs to: a split branch's key without its index. */
const stateOf = (key: string): string => key.replace(/\[\d+\]$/, '')

const rollsBack = (id: string): boolean =>
  Array.from({ length: id.length }, (_, i) => id.charCodeAt(i)).reduce((h, c) => h + c, 0) % 5 === 0

const waitAllEnded = async (store: RunStore, total: number, limitMs: number): Promise<void> => {
  const until = Date.now() + limitMs
  for (;;) {
    const open = await store.runs.list({ status: ['pending', 'running', 'parked'] })
    const all = await store.runs.list()
    if (open.length === 0 && all.length === total) return
    if (Date.now() > until) throw new Error(`${String(open.length)} runs still open after ${String(limitMs)} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const checkOutcomes = async (store: RunStore, ids: ReadonlyArray<string>): Promise<void> => {
  for (const id of ids) {
    const r = await store.runs.get(id)
    expect(r, id).to.not.equal(undefined)
    expect(r?.status, id).to.equal(rollsBack(id) ? 'failed' : 'completed')
    if (rollsBack(id)) expect(r?.error, id).to.deep.include({ _tag: 'TaskExecution', message: 'declined' })
    else expect(r?.output, id).to.deep.equal({ run: id, pages: 3 })
    expect(await store.loadRun(id), `${id} log`).to.deep.equal([])
  }
}

describe('runtime fleet (real processes)', function () {
  this.timeout(180_000)

  it('(the journal check itself) finds two workers in one run at once, and completed work run again', () => {
    const e = (key: string, worker: string, started: number, ended: number | null): Entry => ({
      run: 'r',
      key,
      worker,
      started,
      ended,
    })
    expect(journalFaults([e('A', 'w1', 0, 10), e('B', 'w1', 10, 20)], new Map())).to.deep.equal([])
    expect(journalFaults([e('A', 'w1', 0, 10), e('A', 'w2', 5, 15)], new Map())).to.have.length(1)
    // a SIGKILLed execution ends at the kill; before it, another worker's start is an overlap
    expect(journalFaults([e('A', 'w1', 0, null), e('A', 'w2', 50, 60)], new Map([['w1', 40]]))).to.deep.equal([])
    expect(journalFaults([e('A', 'w1', 0, null), e('A', 'w2', 30, 60)], new Map([['w1', 40]]))).to.have.length(1)
    // A finished, B started after it (its checkpoint moved on): A must not start again
    expect(journalFaults([e('A', 'w1', 0, 10), e('B', 'w1', 12, 20), e('A', 'w2', 30, 40)], new Map())).to.have.length(
      1,
    )
    // a split cut short runs again whole: its branches are one piece, even when they start a millisecond apart
    const split = [e('F[0]', 'w1', 0, 10), e('F[1]', 'w1', 0, 15), e('F[0]', 'w2', 30, 40), e('F[1]', 'w2', 31, 45)]
    expect(journalFaults(split, new Map([['w1', 20]]))).to.deep.equal([])
    expect(journalFaults([...split, e('G', 'w2', 50, 60), e('F[1]', 'w3', 70, 80)], new Map())).to.have.length(2) // after each earlier F[1]
  })

  describe('on PostgreSQL', () => {
    let admin: pg.Pool
    let table: string
    let store: RunStore
    const workers: Worker[] = []

    beforeEach(async () => {
      admin = new pg.Pool({ connectionString: PG_URL, max: 2 })
      table = `fleet_${String(process.pid)}_${String(Date.now())}`
      await admin.query(
        `CREATE TABLE ${table}_journal (id text PRIMARY KEY, run text, key text, worker text, started double precision, ended double precision)`,
      )
      store = postgresCheckpoints({ connectionString: PG_URL, table })
    })
    afterEach(async () => {
      for (const w of workers) w.proc.kill('SIGKILL')
      await Promise.all(workers.map((w) => w.exited))
      workers.length = 0
      await store.close()
      await admin.query(`DROP TABLE IF EXISTS ${table}_journal, ${table}_runs, ${table}`)
      await admin.end()
    })

    const journal = async (): Promise<Entry[]> =>
      (await admin.query<Entry>(`SELECT run, key, worker, started, ended FROM ${table}_journal`)).rows

    it('4 workers, 200 runs, a random worker SIGKILLed and restarted about once a second: every run ends once, no overlap, nothing completed runs again', async () => {
      const killedAt = new Map<string, number>()
      let generation = 0
      const start = (slot: number): Worker => {
        const w = spawnWorker(['pg', table, `w${String(slot)}.${String(generation++)}`, '1500'], `w${String(slot)}`)
        workers[slot] = w
        return w
      }
      for (let i = 0; i < 4; i++) start(i)
      await Promise.all(workers.map((w) => w.ready))
      const ids = Array.from({ length: 200 }, (_, i) => `run-${String(i)}`)
      for (const id of ids)
        await store.runs.create({ workflowId: id, workflow: 'fleet', version: 0, initial: 'Reserve', input: null })
      let kills = 0
      const chaos = setInterval(() => {
        const slot = Math.floor(Math.random() * 4)
        const victim = workers[slot]
        if (victim === undefined) return
        victim.killedAt = Date.now()
        killedAt.set(victim.proc.spawnargs.at(-2) ?? '', Date.now())
        victim.proc.kill('SIGKILL')
        kills++
        start(slot)
      }, 1_000)
      try {
        await waitAllEnded(store, ids.length, 150_000)
      } finally {
        clearInterval(chaos)
      }
      expect(kills, 'kills landed').to.be.greaterThan(0)
      await checkOutcomes(store, ids)
      const entries = await journal()
      expect(entries.length).to.be.greaterThan(200 * 8)
      expect(journalFaults(entries, killedAt)).to.deep.equal([])
    })

    it('a worker SIGSTOPped past its lease and continued: its next append is refused, it abandons the run, nothing runs twice', async () => {
      const stopped = spawnWorker(['pg', table, 'paused', '800', 'hold'], 'paused')
      workers.push(stopped)
      await stopped.ready
      await store.runs.create({ workflowId: 'held-1', workflow: 'fleet', version: 0, initial: 'Reserve', input: null })
      await stopped.held
      stopped.proc.kill('SIGSTOP')
      const other = spawnWorker(['pg', table, 'rescuer', '800'], 'rescuer')
      workers.push(other)
      await other.ready
      // the rescuer claims once the paused worker's lease ran out, and finishes the run
      await waitAllEnded(store, 1, 60_000)
      stopped.proc.kill('SIGCONT')
      await new Promise((r) => setTimeout(r, 1_500))
      const record = await store.runs.get('held-1')
      expect(record?.status).to.equal('completed')
      const entries = await journal()
      // the paused worker was in its first piece of work (Reserve, the state in flight: at-least-once) and
      // went no further once continued: its append was refused and it abandoned the run
      const paused = entries.filter((e) => e.worker === 'paused')
      expect(paused.map((e) => e.key)).to.deep.equal(['Reserve'])
      const rescued = entries.filter((e) => e.worker === 'rescuer')
      const keys = rescued.map((e) => e.key)
      expect(new Set(keys).size, 'each piece once').to.equal(keys.length)
      expect(keys).to.include.members(['Reserve', 'Charge', 'Decide'])
      expect(rescued.every((e) => e.ended !== null)).to.equal(true)
    })
  })

  describe('on one SQLite file', () => {
    let dir: string
    const workers: Worker[] = []
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'cano-fleet-'))
    })
    afterEach(async () => {
      for (const w of workers) w.proc.kill('SIGKILL')
      await Promise.all(workers.map((w) => w.exited))
      workers.length = 0
      rmSync(dir, { recursive: true, force: true })
    })

    it('2 worker processes, 60 runs, one SIGKILLed and restarted: every run ends once, no overlap, nothing completed runs again', async () => {
      const file = join(dir, 'fleet.db')
      const store = sqliteCheckpoints(file, { busyTimeoutMs: 10_000 })
      try {
        const killedAt = new Map<string, number>()
        let generation = 0
        const start = (slot: number): Worker => {
          const w = spawnWorker(
            ['sqlite', file, `s${String(slot)}.${String(generation++)}`, '1500'],
            `s${String(slot)}`,
          )
          workers[slot] = w
          return w
        }
        start(0)
        start(1)
        await Promise.all(workers.map((w) => w.ready))
        const ids = Array.from({ length: 60 }, (_, i) => `lite-${String(i)}`)
        for (const id of ids)
          await store.runs.create({ workflowId: id, workflow: 'fleet', version: 0, initial: 'Reserve', input: null })
        let kills = 0
        const chaos = setInterval(() => {
          const slot = kills % 2
          const victim = workers[slot]
          if (victim === undefined) return
          killedAt.set(victim.proc.spawnargs.at(-2) ?? '', Date.now())
          victim.proc.kill('SIGKILL')
          kills++
          start(slot)
        }, 1_500)
        try {
          await waitAllEnded(store, ids.length, 120_000)
        } finally {
          clearInterval(chaos)
        }
        await checkOutcomes(store, ids)
        const journalFile = `${file}.journal`
        expect(existsSync(journalFile)).to.equal(true)
        const entries = new Map<string, Entry>()
        for (const line of readFileSync(journalFile, 'utf8').split('\n')) {
          if (line.trim() === '') continue
          const e = JSON.parse(line) as Entry & { readonly id: string }
          const seen = entries.get(e.id)
          if (seen === undefined || e.ended !== null) entries.set(e.id, e)
        }
        expect(journalFaults([...entries.values()], killedAt)).to.deep.equal([])
      } finally {
        await store.close()
      }
    })

    it('2 worker processes and corrupt records among the oldest due runs: every readable run ends once, the corrupt ones are left for repair', async () => {
      const file = join(dir, 'corrupt.db')
      const store = sqliteCheckpoints(file, { busyTimeoutMs: 10_000 })
      try {
        // the corrupt records are the oldest due: before, each claim threw on them and no run ever ran
        const corrupt = ['bad-status', 'bad-input', 'ended-but-due']
        for (const id of corrupt)
          await store.runs.create({ workflowId: id, workflow: 'fleet', version: 0, initial: 'Reserve', input: null })
        const raw = new Database(file)
        raw.prepare(`UPDATE cano_checkpoints_runs SET status = 'finished' WHERE workflow_id = 'bad-status'`).run()
        raw.prepare(`UPDATE cano_checkpoints_runs SET input = '{"trunc' WHERE workflow_id = 'bad-input'`).run()
        raw.prepare(`UPDATE cano_checkpoints_runs SET status = 'completed' WHERE workflow_id = 'ended-but-due'`).run()
        raw.close()
        const ids = Array.from({ length: 40 }, (_, i) => `good-${String(i)}`)
        for (const id of ids)
          await store.runs.create({ workflowId: id, workflow: 'fleet', version: 0, initial: 'Reserve', input: null })
        for (let slot = 0; slot < 2; slot++)
          workers[slot] = spawnWorker(['sqlite', file, `c${String(slot)}`, '1500'], `c${String(slot)}`)
        await Promise.all(workers.map((w) => w.ready))
        const until = Date.now() + 60_000
        for (;;) {
          const open = await store.runs.list({
            status: ['pending', 'running', 'parked'],
            onUnreadable: () => undefined,
          })
          if (open.every((r) => !ids.includes(r.workflowId))) break
          if (Date.now() > until) expect.fail(`${String(open.length)} runs still open after 60 s`)
          await new Promise((r) => setTimeout(r, 200))
        }
        await checkOutcomes(store, ids)
        // taken out of the runnable runs, never executed, still there: the list names the two that do not decode
        const named: string[] = []
        await store.runs.list({ onUnreadable: (id) => void named.push(id) })
        expect(named.sort()).to.deep.equal(['bad-input', 'bad-status'])
        expect((await store.runs.get('ended-but-due'))?.status).to.equal('completed')
        expect(await store.loadRun('ended-but-due')).to.deep.equal([])
      } finally {
        await store.close()
      }
    })
  })
})
