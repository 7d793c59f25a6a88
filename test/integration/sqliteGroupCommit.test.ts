/**
 * Group commit in `sqliteCheckpoints`, on real files: appends of one tick share one transaction, each
 * caller settles only after that transaction committed, a row that fails inside a batch fails only its
 * own caller, and two processes can write one file at once. Run-table writes (create, claim, renew,
 * release, finish) and clears share the appends' transactions: one refused write (a lost fence, a
 * trigger) fails only its caller and leaves nothing behind, the writes of a group take effect in call
 * order, and nothing acknowledged is lost when the process is killed.
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
import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure } from '../../src/CanoError.js'
import type { CheckpointStore, RunStore } from '../../src/CheckpointStore.js'
import type { NewRun, RunRecord } from '../../src/RunTable.js'
import { task } from '../../src/StateHandler.js'
import { expectAcknowledgedKept, killWriter } from '../helpers/groupCommitCrash.js'

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

describe('sqliteCheckpoints group commit of run-table writes', () => {
  let dir: string
  let commits: Array<number>
  let clock: number
  let store: RunStore

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-group-runs-'))
    commits = []
    clock = Date.UTC(2030, 0, 1)
    store = sqliteCheckpoints(join(dir, 'runs.db'), { onCommit: (rows) => commits.push(rows), now: () => clock })
  })
  afterEach(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const claimed = (workflowId: string, owner = 'w1'): NewRun => ({
    workflowId,
    workflow: 'orders',
    version: 1,
    initial: 'Charge',
    input: null,
    owner,
    leaseMs: 1_000,
  })
  const completed = { status: 'completed', output: 'ok', error: null } as const
  const outcome = (r: PromiseSettledResult<unknown>): string =>
    r.status === 'fulfilled' ? 'ok' : isCanoFailure(r.reason) ? r.reason.error._tag : String(r.reason)

  it('commits the creates, appends and finishes of 100 concurrent runs in a handful of transactions', async function () {
    this.timeout(30_000)
    type Step = 'A' | 'B' | 'C' | 'Done'
    const flow = workflow<Step>()({
      checkpoints: store,
      exits: ['Done'],
      states: { A: task(() => 'B' as const), B: task(() => 'C' as const), C: task(() => 'Done' as const) },
    })
    const ids = Array.from({ length: 100 }, (_, i) => `run-${i}`)
    expect(await Promise.all(ids.map((workflowId) => flow.orchestrate('A', { workflowId })))).to.deep.equal(
      ids.map(() => 'Done'),
    )
    // 100 creates, 400 rows (3 states and the exit), 100 finishes (an outcome and 4 rows removed each):
    // about one transaction per round of the runs (create, 4 appends, finish), not 2 more per run
    expect(sum(commits)).to.equal(100 + 400 + 100 * 5)
    expect(commits.length).to.be.at.most(12)
    expect(await store.listRuns()).to.deep.equal([])
    const records = await store.runs.list({ limit: 1_000 })
    expect(records.map((r) => r.status)).to.deep.equal(ids.map(() => 'completed'))
  })

  it('fails only the caller of a run-table write refused inside a group, and commits the rest together', async () => {
    await store.runs.create(claimed('held'))
    commits.length = 0
    const results = await Promise.allSettled([
      store.runs.create(claimed('fresh')),
      store.runs.finish('held', 7, completed), // not its fence
      store.append(row('held', 0), 1),
      store.runs.create(claimed('fresh', 'w2')), // the same id, in the same group
      store.runs.finish('ghost', 1, completed), // no such run
      store.runs.renew('held', 1, 5_000),
    ])
    expect(results.map(outcome)).to.deep.equal(['ok', 'LeaseLost', 'ok', 'ok', 'LeaseLost', 'ok'])
    const [first, , , second] = results as Array<PromiseFulfilledResult<{ record: RunRecord; created: boolean }>>
    expect([first?.value.created, second?.value.created]).to.deep.equal([true, false])
    expect(second?.value.record.owner).to.equal('w1')
    expect(commits).to.deep.equal([3]) // one transaction: the create, the append, the renewal
    expect((await store.runs.get('held'))?.leaseUntil).to.equal(clock + 5_000)
    expect(await store.loadRun('held')).to.have.length(1)
  })

  it('undoes all a refused run-table write did in its group (its savepoint) and commits the others', async () => {
    for (const id of ['poisoned', 'healthy']) {
      await store.runs.create(claimed(id))
      await store.append(row(id, 0), 1)
      await store.append(row(id, 1), 1)
    }
    const admin = new Database(join(dir, 'runs.db'))
    admin.exec(`CREATE TRIGGER no_poison BEFORE INSERT ON cano_checkpoints_runs
                WHEN NEW.workflow_id = 'poisoned' AND NEW.status = 'completed'
                BEGIN SELECT RAISE(ABORT, 'poisoned outcome refused'); END`)
    admin.close()
    commits.length = 0
    // finish removes the log rows first, then writes the outcome: the refused outcome must bring them back
    const results = await Promise.allSettled([
      store.runs.finish('poisoned', 1, completed, true),
      store.runs.finish('healthy', 1, completed, true),
      store.append(row('other', 0)),
    ])
    expect(results.map(outcome)).to.deep.equal(['CheckpointStore', 'ok', 'ok'])
    expect(String((results[0] as PromiseRejectedResult).reason)).to.include('poisoned outcome refused')
    expect(commits).to.deep.equal([1 + 2 + 1]) // healthy's outcome and its 2 rows removed, other's row
    expect((await store.runs.get('poisoned'))?.status).to.equal('running')
    expect((await store.loadRun('poisoned')).map((r) => r.seq)).to.deep.equal([0, 1])
    expect((await store.runs.get('healthy'))?.status).to.equal('completed')
    expect(await store.loadRun('healthy')).to.deep.equal([])
    expect(await store.loadRun('other')).to.have.length(1)
  })

  it('applies the writes of one group in call order: an append after a claim that moved the fence is refused', async () => {
    await store.runs.create(claimed('a'))
    clock += 2_000 // w1's lease ended
    commits.length = 0
    const results = await Promise.allSettled([
      store.append(row('a', 0), 1), // before the claim: w1 still holds fence 1
      store.runs.claimRun('a', 'w2', 1_000), // fence 2
      store.append(row('a', 1), 1), // after it: refused
      store.append(row('a', 1), 2), // the new owner's
      store.runs.finish('a', 1, completed), // refused
    ])
    expect(results.map(outcome)).to.deep.equal(['ok', 'ok', 'LeaseLost', 'ok', 'LeaseLost'])
    expect((results[2] as PromiseRejectedResult).reason).to.have.nested.property('error.owner', 'w2')
    expect(commits).to.deep.equal([3]) // two rows and the claim, in one transaction
    expect((await store.loadRun('a')).map((r) => r.seq)).to.deep.equal([0, 1])
    expect(await store.runs.get('a')).to.include({ status: 'running', owner: 'w2', fence: 2 })
  })

  it('commits each run-table write on its own when groupCommit is false', async () => {
    const single: Array<number> = []
    const alone = sqliteCheckpoints(join(dir, 'alone.db'), { groupCommit: false, onCommit: (n) => single.push(n) })
    try {
      await Promise.all([alone.runs.create(claimed('x')), alone.runs.create(claimed('y')), alone.append(row('z', 0))])
      expect(single).to.deep.equal([1, 1, 1])
    } finally {
      await alone.close()
    }
  })

  it('loses no acknowledged create, append or finish when the process is killed with SIGKILL', async function () {
    this.timeout(60_000)
    const file = join(dir, 'killed.db')
    const ack = await killWriter(`sqlite:${file}`)
    const after = sqliteCheckpoints(file)
    try {
      await expectAcknowledgedKept(after, ack)
    } finally {
      await after.close()
    }
  })
})
