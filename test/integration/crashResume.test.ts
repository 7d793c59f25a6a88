/**
 * Crash safety with real processes (issue 4): a child process runs a checkpointed workflow on a real
 * SQLite file (and on the real PostgreSQL server) and is killed with SIGKILL, either at a random moment
 * (breadth: any instant must be safe) or at a point the test chose (the child holds there until it is
 * killed, so that kill always lands mid-run); a new process resumes it. Side effects are appended to a
 * log file by the tasks themselves.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'
import pg from 'pg'

import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import type { CheckpointStore } from '../../src/CheckpointStore.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'crashWorkflow.ts')
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test'

interface Child {
  readonly proc: ChildProcess
  readonly started: Promise<void>
  /** Settles when the child printed `HOLD` (it reached its hold point) or exited. */
  readonly held: Promise<void>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

const runChild = (args: ReadonlyArray<string>): Child => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let markStarted: () => void = () => undefined
  const started = new Promise<void>((r) => (markStarted = r))
  let markHeld: () => void = () => undefined
  const held = new Promise<void>((r) => (markHeld = r))
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
    if (stdout.includes('START')) markStarted()
    if (stdout.includes('HOLD')) markHeld()
  })
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) =>
      proc.on('exit', (code, signal) => {
        markStarted()
        markHeld()
        resolve({ code, signal, stdout, stderr })
      }),
  )
  return { proc, started, held, exited }
}

const linesOf = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : []

/**
 * Runs one kill-and-resume cycle: `kill` is a delay in ms after `START` (a random instant) or a hold point
 * (a state or step number: the child holds there until it is killed). Returns the log lines, the pid of
 * the first process, the resume point and whether the kill landed before the first process exited.
 */
const killAndResume = async (
  kind: 'plain' | 'stepped',
  target: string,
  openStore: () => CheckpointStore,
  logFile: string,
  id: string,
  kill: number | { readonly holdAt: string },
): Promise<{
  lines: string[]
  firstPid: number
  lastRow: { state: string; kind: string; payload: unknown } | undefined
  landed: boolean
}> => {
  const first = runChild(['start', kind, target, logFile, id, ...(typeof kill === 'number' ? [] : [kill.holdAt])])
  await first.started
  if (typeof kill === 'number') await new Promise((r) => setTimeout(r, kill))
  else await first.held
  first.proc.kill('SIGKILL')
  const firstExit = await first.exited
  const landed = firstExit.signal === 'SIGKILL'
  const store = openStore()
  const rows = await store.loadRun(id)
  await store.close()
  const last = rows.at(-1)
  const pid = first.proc.pid ?? -1
  const finalEffect = kind === 'plain' ? `${pid} S5` : `${pid} step 199`
  if (rows.length === 0 && linesOf(logFile).includes(finalEffect)) {
    // killed after the run reached its exit and cleared its log (before the process could exit):
    // the run is complete, there is nothing to resume
    return { lines: linesOf(logFile), firstPid: pid, lastRow: undefined, landed }
  }
  if (firstExit.signal !== 'SIGKILL') {
    // it finished before the kill: nothing to resume
    expect(firstExit.stdout).to.include('DONE Done')
    expect(rows).to.deep.equal([])
    return { lines: linesOf(logFile), firstPid: first.proc.pid ?? -1, lastRow: undefined, landed }
  }
  const second = runChild(['resume', kind, target, logFile, id])
  const secondExit = await second.exited
  expect(secondExit.code, secondExit.stderr).to.equal(0)
  expect(secondExit.stdout).to.include('DONE Done')
  const after = openStore()
  expect(await after.loadRun(id)).to.deep.equal([]) // the finished run cleared its log
  await after.close()
  return {
    lines: linesOf(logFile),
    firstPid: first.proc.pid ?? -1,
    lastRow: last === undefined ? undefined : { state: last.state, kind: last.kind, payload: last.payload },
    landed,
  }
}

const PLAIN = ['S0', 'S1', 'S2', 'S3', 'S4', 'S5'] as const

const checkPlain = (lines: ReadonlyArray<string>, resumeState: string | undefined): void => {
  const runs = new Map<string, number>()
  for (const l of lines) {
    const state = l.split(' ')[1] ?? ''
    runs.set(state, (runs.get(state) ?? 0) + 1)
  }
  // every state's side effect happened
  for (const s of PLAIN) expect(runs.get(s) ?? 0, `state ${s} ran`).to.be.greaterThan(0)
  // at most the state at the resume point ran twice; states completed before the last checkpoint ran once
  for (const [s, n] of runs) {
    if (s === resumeState) expect(n, `${s} (the resume point)`).to.be.at.most(2)
    else expect(n, `${s} ran ${n} times; the resume point was ${String(resumeState)}`).to.equal(1)
  }
}

describe('crash and resume with real processes', function () {
  this.timeout(300_000)
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-crash-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('SQLite: a run killed with SIGKILL at 30 points (half chosen, half random) resumes to its exit, re-running at most the resume state', async () => {
    const db = join(dir, 'plain.db')
    const open = () => sqliteCheckpoints(db)
    let heldKills = 0
    for (let i = 0; i < 30; i++) {
      const log = join(dir, `plain-${i}.log`)
      // even rounds hold in S1..S5 in turn (after S0 checkpointed), odd rounds kill at a random instant
      const held = i % 2 === 0
      const { lines, lastRow, landed } = await killAndResume(
        'plain',
        `sqlite:${db}`,
        open,
        log,
        `plain-${i}`,
        held ? { holdAt: PLAIN[1 + ((i / 2) % 5)] ?? 'S1' } : Math.floor(Math.random() * 160),
      )
      if (held) {
        // a held child cannot finish: the kill landed mid-run, after at least one checkpoint
        expect(landed, `round ${i}: the held child was killed`).to.equal(true)
        expect(lastRow, `round ${i}: a checkpoint to resume from`).to.not.equal(undefined)
        heldKills++
      }
      checkPlain(lines, lastRow?.state)
    }
    expect(heldKills).to.equal(15)
  })

  it('SQLite: a stepped state of 200 steps resumes from its last persisted cursor, never from the beginning', async () => {
    const db = join(dir, 'stepped.db')
    const open = () => sqliteCheckpoints(db)
    let resumedMidLoop = 0
    for (let i = 0; i < 5; i++) {
      const log = join(dir, `stepped-${i}.log`)
      // rounds 0-2 hold at steps 40, 100, 160 (chosen points), rounds 3-4 kill at a random instant
      const { lines, firstPid, lastRow } = await killAndResume(
        'stepped',
        `sqlite:${db}`,
        open,
        log,
        `stepped-${i}`,
        i < 3 ? { holdAt: String(40 + 60 * i) } : 100 + Math.floor(Math.random() * 500),
      )
      if (i < 3) expect(lastRow?.kind, `round ${i}: killed mid-loop with a persisted cursor`).to.equal('StepCursor')
      const second = lines.filter((l) => !l.startsWith(`${firstPid} `))
      const firstLine = second.find((l) => l.includes(' first '))
      const persisted = lastRow?.kind === 'StepCursor' ? (lastRow.payload as { cursor: number }).cursor : undefined
      if (persisted !== undefined) {
        resumedMidLoop++
        // the resumed process starts from the persisted cursor
        expect(firstLine?.split(' ').at(-1)).to.equal(String(persisted))
        // and repeats no step before it
        const repeated = second.filter((l) => l.includes(' step ')).map((l) => Number(l.split(' ').at(-1)))
        expect(Math.min(...repeated)).to.equal(persisted)
      }
      // every step ran; only the step at the resume point may have run twice
      const steps = lines.filter((l) => l.includes(' step ')).map((l) => Number(l.split(' ').at(-1)))
      for (let n = 0; n < 200; n++)
        expect(steps.filter((s) => s === n).length, `step ${n}`).to.be.within(1, n === persisted ? 2 : 1)
    }
    expect(resumedMidLoop, 'the three held rounds resumed mid-loop').to.be.at.least(3)
  })

  it('PostgreSQL: a run killed with SIGKILL resumes to its exit the same way', async () => {
    const table = `cano_crash_${process.pid}_${Date.now()}`
    const open = () => postgresCheckpoints({ connectionString: PG_URL, table })
    try {
      for (let i = 0; i < 8; i++) {
        const log = join(dir, `pg-${i}.log`)
        // even rounds hold at a chosen state, odd rounds kill at a random instant
        const held = i % 2 === 0
        const { lines, lastRow, landed } = await killAndResume(
          'plain',
          `postgres:${table}`,
          open,
          log,
          `pg-${i}`,
          held ? { holdAt: PLAIN[1 + ((i / 2) % 5)] ?? 'S1' } : Math.floor(Math.random() * 200),
        )
        if (held) {
          expect(landed, `round ${i}: the held child was killed`).to.equal(true)
          expect(lastRow, `round ${i}: a checkpoint to resume from`).to.not.equal(undefined)
        }
        checkPlain(lines, lastRow?.state)
      }
    } finally {
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      await client.query(`DROP TABLE IF EXISTS ${table}`)
      await client.end()
    }
  })
})
