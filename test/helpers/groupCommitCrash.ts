/**
 * The crash check of grouped writes, shared by the SQLite and PostgreSQL tests: a child process
 * (test/integration/fixtures/groupCommitWriter.ts) writes runs (create, fenced appends, finish) from 50
 * concurrent writers and prints each write once it resolved; it is SIGKILLed at a random instant, and
 * every write it acknowledged must then be in the store.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'

import { expect } from 'chai'

import type { RunStore } from '../../src/CheckpointStore.js'

const FIXTURE = join(import.meta.dirname, '..', 'integration', 'fixtures', 'groupCommitWriter.ts')

/** What the killed writer had acknowledged. */
export interface Acknowledged {
  readonly created: ReadonlyArray<string>
  readonly appended: ReadonlyArray<readonly [string, number]>
  readonly finished: ReadonlyArray<string>
}

/** How many runs the writer must have finished before it is killed (then at a random instant within 300 ms). */
const FINISHED_BEFORE_KILL = 20

/**
 * Starts the writer on `target` (`sqlite:PATH` or `postgres:TABLE`), kills it with SIGKILL at a random
 * instant once it acknowledged 20 finished runs, and returns the writes it acknowledged before dying.
 */
export const killWriter = async (target: string): Promise<Acknowledged> => {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, target], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)))
  let finishedSeen = 0
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      const chunk = d.toString()
      out += chunk
      finishedSeen += chunk.split('finished ').length - 1
      if (finishedSeen >= FINISHED_BEFORE_KILL) resolve()
    })
    proc.on('exit', (code) => reject(new Error(`writer exited with ${String(code)} before it finished runs: ${err}`)))
  })
  await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)))
  proc.kill('SIGKILL')
  expect(await exited, `the writer died of SIGKILL, not on its own: ${err}`).to.equal('SIGKILL')
  const created: string[] = []
  const appended: Array<readonly [string, number]> = []
  const finished: string[] = []
  // a line cut short by the kill is not an acknowledgement
  for (const line of out.split('\n').slice(0, -1)) {
    const [what, id, seq] = line.split(' ')
    if (what === 'created' && id !== undefined) created.push(id)
    else if (what === 'appended' && id !== undefined) appended.push([id, Number(seq)])
    else if (what === 'finished' && id !== undefined) finished.push(id)
  }
  return { created, appended, finished }
}

/** Every acknowledged write is in `store` (a finish that committed unacknowledged may have cleared rows). */
export const expectAcknowledgedKept = async (store: RunStore, ack: Acknowledged): Promise<void> => {
  expect(ack.finished.length, 'the writer finished runs before it was killed').to.be.at.least(FINISHED_BEFORE_KILL)
  const finished = new Set(ack.finished)
  for (const id of ack.created) {
    const record = await store.runs.get(id)
    expect(record, `record of acknowledged create ${id}`).to.not.equal(undefined)
    if (finished.has(id)) {
      expect(record?.status, `outcome of acknowledged finish ${id}`).to.equal('completed')
      const kept = Number(id.split('-')[1]) % 3 === 0
      expect((await store.loadRun(id)).length, `log of ${id} after its finish`).to.equal(kept ? 2 : 0)
    }
  }
  for (const [id, seq] of ack.appended) {
    if (finished.has(id)) continue
    const record = await store.runs.get(id)
    const rows = await store.loadRun(id)
    // the row is there, unless the run's finish committed (unacknowledged) and cleared its log
    const cleared = record?.status === 'completed' && rows.length === 0
    expect(cleared || rows.some((r) => r.seq === seq), `acknowledged row ${seq} of ${id}`).to.equal(true)
  }
}
