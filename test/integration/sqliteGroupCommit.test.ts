/**
 * Group commit in `sqliteCheckpoints`, on real files: appends of one tick share one transaction, each
 * caller settles only after that transaction committed, a row that fails inside a batch fails only its
 * own caller, and two processes can write one file at once.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import Database from 'better-sqlite3'
import { expect } from 'chai'

import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { isCanoFailure } from '../../src/CanoError.js'
import type { CheckpointStore } from '../../src/CheckpointStore.js'

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..')

const row = (workflowId: string, seq: number, overrides: Partial<CheckpointRow> = {}): CheckpointRow =>
  ({
    workflowId,
    seq,
    kind: 'CompensationCompletion',
    state: `S${seq}`,
    taskId: `task-${seq}`,
    payload: { workflowId, seq },
    version: 1,
    at: 1_700_000_000_000 + seq,
    ...overrides,
  }) as CheckpointRow

const sum = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0)

describe('sqliteCheckpoints group commit', () => {
  let dir: string
  let file: string
  let commits: Array<number>
  let store: CheckpointStore

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-group-commit-'))
    file = join(dir, 'checkpoints.db')
    commits = []
    store = sqliteCheckpoints(file, { onCommit: (rows) => commits.push(rows) })
  })
  afterEach(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('writes 100 concurrent appends in far fewer than 100 transactions', async () => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append(row(`run-${i % 10}`, Math.floor(i / 10)))))
    expect(sum(commits)).to.equal(100)
    expect(commits.length).to.be.at.most(5)
    const db = new Database(file, { readonly: true })
    try {
      expect(db.prepare('SELECT count(*) AS n FROM cano_checkpoints').get()).to.deep.equal({ n: 100 })
    } finally {
      db.close()
    }
  })

  it('batches the appends of 100 writers that each wait for their previous append', async () => {
    await Promise.all(
      Array.from({ length: 100 }, async (_, w) => {
        for (let seq = 0; seq < 20; seq++) await store.append(row(`writer-${w}`, seq))
      }),
    )
    expect(sum(commits)).to.equal(2000)
    expect(commits.length).to.be.at.most(100) // 2000 appends; about one transaction per round of 100
    for (const w of [0, 57, 99]) expect(await store.loadRun(`writer-${w}`)).to.have.length(20)
  })

  it('resolves each caller only after the transaction holding its row committed', async () => {
    await store.loadRun('warm-up') // creates the file, so another connection can watch it
    const reader = new Database(file, { readonly: true })
    const visible = reader.prepare<[string, number]>('SELECT 1 FROM cano_checkpoints WHERE workflow_id = ? AND seq = ?')
    const seen: Array<{ readonly committed: number; readonly visible: boolean }> = []
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.append(row(`watched-${i % 5}`, Math.floor(i / 5))).then(() => {
            seen.push({
              committed: sum(commits),
              visible: visible.get(`watched-${i % 5}`, Math.floor(i / 5)) !== undefined,
            })
          }),
        ),
      )
    } finally {
      reader.close()
    }
    expect(seen).to.have.length(100)
    for (const s of seen) {
      expect(s.visible, 'row visible to another connection when its append resolved').to.equal(true)
      expect(s.committed).to.be.greaterThan(0)
    }
  })

  it('fails only the caller of a duplicate row in a batch and commits the rest together', async () => {
    await store.append(row('taken', 0))
    commits.length = 0
    const results = await Promise.allSettled([
      store.append(row('fresh', 0)),
      store.append(row('fresh', 1)),
      store.append(row('taken', 0, { state: 'Intruder' })),
      store.append(row('fresh', 2)),
      store.append(row('fresh', 2, { state: 'Twin' })),
      store.append(row('fresh', 3)),
    ])
    expect(results.map((r) => r.status)).to.deep.equal([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ])
    for (const r of results)
      if (r.status === 'rejected') {
        expect(isCanoFailure(r.reason)).to.equal(true)
        expect(String(r.reason)).to.include('checkpoint conflict')
      }
    expect(commits).to.deep.equal([4])
    expect((await store.loadRun('taken'))[0]!.state).to.equal('S0')
    expect((await store.loadRun('fresh')).map((r) => r.state)).to.deep.equal(['S0', 'S1', 'S2', 'S3'])
  })

  it('fails only the caller whose row the database rejects, and commits the rest together', async () => {
    await store.loadRun('warm-up')
    const admin = new Database(file)
    admin.exec(`CREATE TRIGGER no_poison BEFORE INSERT ON cano_checkpoints WHEN NEW.state = 'Poison'
                BEGIN SELECT RAISE(ABORT, 'poisoned row refused'); END`)
    admin.close()
    commits.length = 0
    const results = await Promise.allSettled([
      store.append(row('batch', 0)),
      store.append(row('batch', 1, { state: 'Poison' })),
      store.append(row('batch', 2)),
    ])
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled'])
    const reason: unknown = (results[1] as PromiseRejectedResult).reason
    expect(isCanoFailure(reason) && reason.error._tag).to.equal('CheckpointStore')
    expect(String(reason)).to.include('poisoned row refused').and.to.include('sequence 1')
    expect(commits).to.deep.equal([2])
    expect((await store.loadRun('batch')).map((r) => r.seq)).to.deep.equal([0, 2])
  })

  it('writes each append in its own transaction when groupCommit is false', async () => {
    const single: Array<number> = []
    const alone = sqliteCheckpoints(join(dir, 'alone.db'), { groupCommit: false, onCommit: (n) => single.push(n) })
    try {
      await Promise.all(Array.from({ length: 100 }, (_, i) => alone.append(row('alone', i))))
      expect(single).to.deep.equal(Array.from({ length: 100 }, () => 1))
      const results = await Promise.allSettled([alone.append(row('alone', 0)), alone.append(row('alone', 100))])
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'fulfilled'])
    } finally {
      await alone.close()
    }
  })

  it('ignores an onCommit callback that throws', async () => {
    const noisy = sqliteCheckpoints(join(dir, 'noisy.db'), {
      onCommit: () => {
        throw new Error('observer bug')
      },
    })
    try {
      await Promise.all([noisy.append(row('noisy', 0)), noisy.append(row('noisy', 1))])
      expect(await noisy.loadRun('noisy')).to.have.length(2)
    } finally {
      await noisy.close()
    }
  })
})

describe('sqliteCheckpoints across processes', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-two-processes-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  interface WriterReport {
    readonly won: ReadonlyArray<number>
    readonly lost: ReadonlyArray<number>
    readonly startedAt: number
    readonly endedAt: number
  }

  /** Starts the writer script in a child process; it prints `ready` once its store is open, then waits for `go`. */
  const startWriter = (script: string, file: string, name: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, file, name], { cwd: ROOT })
    let out = ''
    let err = ''
    const ready = new Promise<void>((resolveReady) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.startsWith('ready\n')) resolveReady()
      })
    })
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    const report = new Promise<WriterReport>((resolveReport, reject) => {
      child.on('error', reject)
      child.on('close', (code) => {
        if (code === 0) resolveReport(JSON.parse(out.slice('ready\n'.length)) as WriterReport)
        else reject(new Error(`writer ${name} exited with ${String(code)}: ${err}`))
      })
    })
    return { ready, report, go: () => child.stdin.end('go\n') }
  }

  it('lets two processes write one file at once, with exactly one winner per contested seq', async function () {
    this.timeout(60_000)
    const file = join(dir, 'shared.db')
    const script = join(dir, 'writer.mts')
    const adapter = pathToFileURL(join(ROOT, 'roots', 'stores', 'sqliteCheckpoints.ts')).href
    writeFileSync(
      script,
      `const { sqliteCheckpoints } = await import(${JSON.stringify(adapter)})
const [file, name] = process.argv.slice(2)
const store = sqliteCheckpoints(file)
await store.loadRun('warm-up')
process.stdout.write('ready\\n')
await new Promise((go) => process.stdin.once('data', go))
const row = (workflowId, seq) => ({ workflowId, seq, kind: 'CompensationCompletion', state: 'S', taskId: name, payload: { name, seq }, version: 1, at: Date.now() })
const won = []
const lost = []
const startedAt = Date.now()
const writers = Array.from({ length: 20 }, async (_, w) => {
  for (let i = 0; i < 25; i++) {
    const seq = w * 25 + i
    await store.append(row(name + '-own', seq))
    try {
      await store.append(row('contested', seq))
      won.push(seq)
    } catch (e) {
      if (!String(e).includes('checkpoint conflict')) throw e
      lost.push(seq)
    }
  }
})
await Promise.all(writers)
const endedAt = Date.now()
await store.close()
process.stdout.write(JSON.stringify({ won, lost, startedAt, endedAt }))
`,
    )
    const writers = [startWriter(script, file, 'left'), startWriter(script, file, 'right')]
    await Promise.all(writers.map((w) => w.ready))
    for (const w of writers) w.go()
    const [left, right] = await Promise.all(writers.map((w) => w.report))
    // The two write phases overlapped in time, so the processes really contended for the file.
    expect(left!.startedAt).to.be.lessThan(right!.endedAt)
    expect(right!.startedAt).to.be.lessThan(left!.endedAt)
    const all = Array.from({ length: 500 }, (_, i) => i)
    expect([...left!.won, ...right!.won].sort((a, b) => a - b)).to.deep.equal(all)
    expect([...left!.lost].sort((a, b) => a - b)).to.deep.equal([...right!.won].sort((a, b) => a - b))

    const store = sqliteCheckpoints(file)
    try {
      for (const name of ['left', 'right']) expect(await store.loadRun(`${name}-own`)).to.have.length(500)
      const contested = await store.loadRun('contested')
      expect(contested.map((r) => r.seq)).to.deep.equal(all)
      const leftWon = new Set(left!.won)
      for (const r of contested) expect(r.taskId, `seq ${r.seq}`).to.equal(leftWon.has(r.seq) ? 'left' : 'right')
    } finally {
      await store.close()
    }
  })
})
