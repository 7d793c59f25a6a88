/**
 * A per-item stream (`streamItems`, issue 14 item 5) on a real SQLite file, in a child process killed with
 * SIGKILL mid-stream: the resumed run (a new process) reopens its source at the application cursor the
 * last committed window persisted, so no record before it is processed again, the records of the
 * uncommitted partial window are processed again (at least once), and every record is processed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'

import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'streamCrashWorkflow.ts')

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const runChild = (args: ReadonlyArray<string>): { proc: ChildProcess; held: Promise<void>; exited: Promise<Exit> } => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let markHeld: () => void = () => undefined
  const held = new Promise<void>((r) => (markHeld = r))
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
    if (stdout.includes('HOLD')) markHeld()
  })
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<Exit>((resolve) =>
    proc.on('exit', (code, signal) => {
      markHeld()
      resolve({ code, signal, stdout, stderr })
    }),
  )
  return { proc, held, exited }
}

const linesOf = (file: string): string[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : []

describe('per-item stream: crash and resume from the application cursor (real SQLite, SIGKILL)', function () {
  this.timeout(120_000)
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-stream-crash-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const holdAt of [17, 3, 44]) {
    it(`killed while processing offset ${holdAt}: the resumed process reopens at the last committed cursor`, async () => {
      const db = join(dir, `stream-${holdAt}.db`)
      const logFile = join(dir, `stream-${holdAt}.log`)
      const id = `tail-${holdAt}`
      const first = runChild(['start', db, logFile, id, String(holdAt)])
      await first.held
      first.proc.kill('SIGKILL')
      const firstExit = await first.exited
      expect(firstExit.signal, firstExit.stderr).to.equal('SIGKILL')

      // the log holds the committed windows: the cursor of the last full window before the hold
      const committed = Math.floor(holdAt / 5) * 5 - 1
      const store = sqliteCheckpoints(db)
      const rows = await store.loadRun(id)
      await store.close()
      const windows = rows.filter((r) => r.kind === 'StreamWindow').map((r) => r.payload)
      expect(windows.at(-1)).to.deep.equal(
        committed < 0 ? undefined : { windows: (committed + 1) / 5, items: committed + 1, itemCursor: committed },
      )

      const second = runChild(['resume', db, logFile, id])
      const secondExit = await second.exited
      expect(secondExit.code, secondExit.stderr).to.equal(0)
      expect(secondExit.stdout).to.include('DONE Done')
      const after = sqliteCheckpoints(db)
      expect(await after.loadRun(id)).to.deep.equal([]) // the finished run cleared its log
      await after.close()

      const lines = linesOf(logFile)
      const pids = [...new Set(lines.map((l) => l.split(' ')[0]))]
      expect(pids).to.have.length(2)
      const [firstPid, secondPid] = pids as [string, string]
      const of = (pid: string, what: string) =>
        lines.filter((l) => l.startsWith(`${pid} ${what} `)).map((l) => l.split(' ')[2] as string)
      expect(of(firstPid, 'open')).to.deep.equal(['none'])
      // the source factory received the resumed cursor
      expect(of(secondPid, 'open')).to.deep.equal([committed < 0 ? 'none' : String(committed)])
      const firstItems = of(firstPid, 'item').map(Number)
      const secondItems = of(secondPid, 'item').map(Number)
      expect(firstItems).to.deep.equal(Array.from({ length: holdAt + 1 }, (_, i) => i))
      // nothing before the committed cursor again; the uncommitted partial window again (at least once)
      expect(secondItems).to.deep.equal(Array.from({ length: 49 - committed }, (_, i) => committed + 1 + i))
      expect(new Set([...firstItems, ...secondItems]).size).to.equal(50)
      expect(of(secondPid, 'flush').at(-1)).to.equal('49')
    })
  }
})
