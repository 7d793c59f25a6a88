/**
 * Many runs on one real SQLite file (issue 4): concurrent runs with different ids all finish and
 * clear their logs; two runs racing for one id end with exactly one winner; a corrupted row gives a
 * clear error naming the run and the sequence.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'

import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { task } from '../../src/StateHandler.js'

type Step = 'A' | 'B' | 'C' | 'Done'

describe('runs sharing one SQLite checkpoint file', function () {
  this.timeout(60_000)
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-runs-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('finishes 20 concurrent runs with different ids and clears every log', async () => {
    const store = sqliteCheckpoints(join(dir, 'many.db'))
    const pause = () => new Promise((r) => setTimeout(r, Math.random() * 5))
    const flow = workflow<Step>()({
      checkpoints: store,
      exits: ['Done'],
      states: {
        A: task(async () => (await pause(), 'B' as const)),
        B: task(async () => (await pause(), 'C' as const)),
        C: task(async () => (await pause(), 'Done' as const)),
      },
    })
    const ids = Array.from({ length: 20 }, (_, i) => `run-${i}`)
    expect(await Promise.all(ids.map((workflowId) => flow.orchestrate('A', { workflowId })))).to.deep.equal(
      ids.map(() => 'Done'),
    )
    expect(await store.listRuns()).to.deep.equal([])
    await store.close()
  })

  it('lets exactly one of two runs racing for the same id win; the winner keeps its log', async () => {
    const store = sqliteCheckpoints(join(dir, 'race.db'))
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    const flow = workflow<Step>()({
      checkpoints: store,
      exits: ['Done'],
      states: {
        A: task(async () => (await gate, 'Done' as const)),
        B: task(() => 'Done' as const),
        C: task(() => 'Done' as const),
      },
    })
    const a = flow.orchestrate('A', { workflowId: 'same' }).then(
      (s) => ({ ok: true as const, s }),
      (e: unknown) => ({ ok: false as const, e }),
    )
    const b = flow.orchestrate('A', { workflowId: 'same' }).then(
      (s) => ({ ok: true as const, s }),
      (e: unknown) => ({ ok: false as const, e }),
    )
    const loser = await Promise.race([a, b])
    expect(loser.ok).to.equal(false)
    expect(!loser.ok && isCanoFailure(loser.e) ? loser.e.error._tag : '').to.equal('CheckpointStore')
    const rows = await store.loadRun('same')
    expect(rows.map((r) => [r.seq, r.kind, r.state])).to.deep.equal([[0, 'StateEntry', 'A']]) // the winner's log is intact
    release()
    const results = await Promise.all([a, b])
    expect(results.filter((r) => r.ok).length).to.equal(1)
    expect(await store.loadRun('same')).to.deep.equal([])
    await store.close()
  })

  it('reports a corrupted row with the run and the sequence, from loadRun and from resume, without crashing', async () => {
    const path = join(dir, 'corrupt.db')
    const store = sqliteCheckpoints(path)
    const flow = workflow<Step>()({
      checkpoints: store,
      exits: ['Done'],
      states: {
        A: task(() => 'B' as const),
        B: task(() => Promise.reject(new Error('stop here')), { retry: RetryMode.none() }),
        C: task(() => 'Done' as const),
      },
    })
    await flow.orchestrate('A', { workflowId: 'bad' }).catch(() => undefined)
    const raw = new Database(path)
    raw.prepare("UPDATE cano_checkpoints SET kind = 'Bogus' WHERE workflow_id = 'bad' AND seq = 1").run()
    raw.close()
    const fromLoad = await store.loadRun('bad').then(
      () => undefined,
      (e: unknown) => (isCanoFailure(e) ? e.error : undefined),
    )
    expect(fromLoad?._tag).to.equal('CheckpointStore')
    expect(fromLoad?.message).to.match(/"bad".*seq(uence)? 1/)
    const fromResume = await flow.resume('bad').then(
      () => undefined,
      (e: unknown) => (isCanoFailure(e) ? e.error : undefined),
    )
    expect(fromResume).to.deep.equal(fromLoad)
    await store.close()
  })
})
