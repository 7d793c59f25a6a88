/**
 * Processes that open one new SQLite file at the same instant (a fleet of workers started together on a
 * fresh path): every open succeeds. Two connections switching a new file to WAL at once can be refused
 * `SQLITE_BUSY` by SQLite at once, without its busy timeout being waited out; `sqliteCheckpoints` opens
 * again instead of failing. Before it did, 43 of 300 such opens failed "database is locked".
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'

import { sqliteCheckpoints } from '../../roots/sqlite.js'
import { whileBusy } from '../../roots/stores/sqliteCheckpoints.js'
import { runFixture } from '../helpers/fixtureProcess.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'sqliteOpener.ts')

const opener = async (args: ReadonlyArray<string>): Promise<string> => (await runFixture(FIXTURE, args)).out.trim()

describe('sqliteCheckpoints opened by processes at the same instant', () => {
  let dir = ''
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-open-race-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('opens every new file in every process: none is refused "database is locked"', async function () {
    this.timeout(60_000)
    const files = 60
    const at = Date.now() + 2_500 // every process is up by then
    const outs = await Promise.all(Array.from({ length: 3 }, () => opener([dir, String(at), String(files), '40'])))
    expect(outs).to.deep.equal(['DONE 0', 'DONE 0', 'DONE 0'])
    // each file is a store that works: its tables are there, and it takes a row
    expect(readdirSync(dir).filter((f) => f.endsWith('.db'))).to.have.length(files)
    const store = sqliteCheckpoints(join(dir, 'f0.db'))
    await store.append({
      workflowId: 'w',
      seq: 0,
      kind: 'StateEntry',
      state: 'A',
      taskId: 'a',
      payload: null,
      version: 1,
      at: 1,
    })
    expect((await store.listRuns()).map((r) => r.workflowId)).to.deep.equal(['w'])
    await store.close()
  })
})

describe('whileBusy (the opening of a SQLite store)', () => {
  const busy = (code = 'SQLITE_BUSY'): Error => Object.assign(new Error('database is locked'), { code })

  it('runs the step again after SQLITE_BUSY and its extended codes, until it succeeds', async () => {
    const codes = ['SQLITE_BUSY', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_SNAPSHOT']
    let calls = 0
    await whileBusy(10_000, () => {
      const code = codes[calls++]
      if (code !== undefined) throw busy(code)
    })
    expect(calls).to.equal(4)
  })

  it('throws any other error at once', async () => {
    let calls = 0
    const error = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })
    let thrown: unknown
    try {
      await whileBusy(10_000, () => {
        calls++
        throw error
      })
    } catch (e: unknown) {
      thrown = e
    }
    expect(thrown).to.equal(error)
    expect(calls).to.equal(1)
  })

  it('gives up with the last SQLITE_BUSY once its time is spent (0: one try)', async () => {
    let calls = 0
    let thrown: unknown
    try {
      await whileBusy(0, () => {
        calls++
        throw busy()
      })
    } catch (e: unknown) {
      thrown = e
    }
    expect(thrown).to.have.property('code', 'SQLITE_BUSY')
    expect(calls).to.equal(1)
  })
})
