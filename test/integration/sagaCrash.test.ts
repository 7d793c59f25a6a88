/**
 * Crash safety of a rollback with real processes (issue 5): a child process runs three saga charges
 * and a failing shipment on a real SQLite file; the rollback's compensations are slow, and the child
 * is killed with SIGKILL as soon as the first `CompensationDone` row is visible in the file. A new
 * process resumes the run: it continues the rollback (the failed state does not run again), runs each
 * remaining compensation once, ends with the original error and clears the log. Side effects are
 * appended to a log file by the tasks themselves.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'

import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'sagaCrashWorkflow.ts')

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const runChild = (args: ReadonlyArray<string>): { readonly proc: ChildProcess; readonly exited: Promise<Exit> } => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<Exit>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
  return { proc, exited }
}

const linesOf = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : []

/** Polls the SQLite file (from this process) until `ready(rows)` or `timeoutMs`. */
const waitForRows = async (
  db: string,
  id: string,
  ready: (rows: ReadonlyArray<CheckpointRow>) => boolean,
  timeoutMs: number,
): Promise<ReadonlyArray<CheckpointRow>> => {
  const store = sqliteCheckpoints(db)
  try {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const rows = await store.loadRun(id)
      if (ready(rows)) return rows
      if (Date.now() > deadline) throw new Error(`rows never got ready: ${JSON.stringify(rows.map((r) => r.kind))}`)
      await new Promise((r) => setTimeout(r, 5))
    }
  } finally {
    await store.close()
  }
}

const loadRows = async (db: string, id: string): Promise<ReadonlyArray<CheckpointRow>> => {
  const store = sqliteCheckpoints(db)
  try {
    return await store.loadRun(id)
  } finally {
    await store.close()
  }
}

describe('a rollback killed with SIGKILL and resumed in a new process', function () {
  this.timeout(120_000)
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-saga-crash-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const round of [1, 2, 3]) {
    it(`continues the rollback, runs each compensation once in total, ends with the original error (round ${round})`, async () => {
      const db = join(dir, 'saga.db')
      const log = join(dir, `saga-${round}.log`)
      const id = `order-${round}`

      const first = runChild(['start', db, log, id])
      const atKill = await waitForRows(db, id, (rows) => rows.some((r) => r.kind === 'CompensationDone'), 60_000)
      first.proc.kill('SIGKILL')
      const firstExit = await first.exited
      expect(firstExit.signal, firstExit.stderr).to.equal('SIGKILL')

      // killed mid-rollback: the marker and exactly one finished compensation (the last charge's) are durable
      const kept = await loadRows(db, id)
      expect(kept.map((r) => `${r.kind} ${r.state}`)).to.deep.equal([
        'StateEntry Charge1',
        'CompensationCompletion Charge1',
        'StateEntry Charge2',
        'CompensationCompletion Charge2',
        'StateEntry Charge3',
        'CompensationCompletion Charge3',
        'StateEntry Ship',
        'RollbackStarted Ship',
        'CompensationDone Charge3',
      ])
      expect(kept.at(-1)?.payload).to.deep.equal({ undid: 5 })
      expect(atKill.length).to.equal(9)
      const firstPid = String(first.proc.pid)
      expect(linesOf(log).map((l) => l.split(' ').slice(1).join(' '))).to.deep.equal([
        'forward Charge1',
        'forward Charge2',
        'forward Charge3',
        'forward Ship',
        'undo Charge3 ch-Charge3',
      ])

      const second = runChild(['resume', db, log, id])
      const secondExit = await second.exited
      expect(secondExit.code, secondExit.stderr).to.equal(0)
      // the run ends with the original error, decoded from the rollback marker
      expect(secondExit.stdout).to.include(
        `ENDED ${JSON.stringify({ _tag: 'TaskExecution', message: 'carrier refused the parcel' })}`,
      )

      const lines = linesOf(log)
      const resumed = lines.filter((l) => !l.startsWith(`${firstPid} `)).map((l) => l.split(' ').slice(1).join(' '))
      // the resumed process runs no forward step (Ship is not re-run) and only the two pending compensations
      expect(resumed).to.deep.equal(['undo Charge2 ch-Charge2', 'undo Charge1 ch-Charge1'])
      // each compensation ran exactly once in total
      const undos = lines.filter((l) => l.includes(' undo ')).map((l) => l.split(' ')[2])
      expect(undos.sort()).to.deep.equal(['Charge1', 'Charge2', 'Charge3'])
      // a clean rollback clears the log
      expect(await loadRows(db, id)).to.deep.equal([])
    })
  }
})
