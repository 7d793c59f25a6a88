import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import * as t from 'io-ts'
import { from as from_ } from 'rxjs'

import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { workflow } from '../../roots/Workflow.js'
import {
  checkpointStoreError,
  configurationError,
  isCanoFailure,
  nonRetryable,
  workflowError,
  workflowVersionMismatchError,
} from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { RetryMode } from '../../src/RetryMode.js'
import { sleep } from '../../src/Sleep.js'
import { router, task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import { stream, WindowSignal } from '../../src/Stream.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { eventsOf, lastEvent } from '../helpers/runEvents.js'

type Step = 'A' | 'Pick' | 'Scan' | 'Wait' | 'Fail' | 'Done'

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw e
  }
  throw new Error('expected a rejection')
}

/** The rows of a run without their timestamps. */
const rowsOf = async (store: CheckpointStore, id: string) =>
  (await store.loadRun(id)).map(({ at: _at, workflowId: _w, ...r }) => r)

describe('checkpointing', () => {
  const stores: Array<{ name: string; make: () => CheckpointStore }> = [{ name: 'memory', make: memoryCheckpoints }]
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-ckpt-'))
    stores.push({ name: 'sqlite', make: () => sqliteCheckpoints(join(dir, `${String(Math.random()).slice(2)}.db`)) })
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const make = (store: CheckpointStore, failAt: number | undefined, scanLog: Array<number | undefined> = []) =>
    workflow<Step>()({
      checkpoints: store,
      version: 2,
      exits: ['Done'],
      states: {
        A: task(() => 'Pick' as const),
        Pick: router(() => 'Scan' as const),
        Scan: stepped({
          cursor: t.number,
          retry: RetryMode.none(),
          step: (_ctx, c) => {
            scanLog.push(c)
            const n = c ?? 0
            if (failAt !== undefined && n === failAt) throw nonRetryable(new Error(`crash at ${n}`))
            return n >= 3 ? StepOutcome.done('Wait' as const) : StepOutcome.more(n + 1)
          },
        }),
        Wait: sleep({ wait: 1, then: 'Done' }),
        Fail: task(() => Promise.reject(new Error('no'))),
      },
    })

  for (const s of [0, 1]) {
    describe(`on the ${s === 0 ? 'memory' : 'sqlite'} store`, () => {
      it('writes an entry row per non-router state, a row per cursor and per timer, then clears the log at the exit', async () => {
        const store = stores[s]!.make()
        const appended: Array<[number, string, string]> = []
        const flow = make(store, undefined)
        const events = await eventsOf(flow.run$('A', { workflowId: 'run-1' }))
        for (const e of events) if (e._tag === 'CheckpointAppended') appended.push([e.seq, e.kind, e.state])
        expect(appended).to.deep.equal([
          [0, 'StateEntry', 'A'],
          [1, 'StateEntry', 'Scan'],
          [2, 'StepCursor', 'Scan'],
          [3, 'StepCursor', 'Scan'],
          [4, 'StepCursor', 'Scan'],
          [5, 'StateEntry', 'Wait'],
          [6, 'TimerArmed', 'Wait'],
          [7, 'StateEntry', 'Done'],
        ])
        expect(lastEvent(events)._tag).to.equal('RunCompleted')
        expect(await store.loadRun('run-1')).to.deep.equal([])
        await store.close()
      })

      it('keeps the log of a failed run and resumes a stepped state from its last persisted cursor', async () => {
        const store = stores[s]!.make()
        const first: Array<number | undefined> = []
        const f = await errorOf(make(store, 2, first).orchestrate('A', { workflowId: 'run-2' }))
        expect(f.message).to.equal('crash at 2')
        expect(first).to.deep.equal([undefined, 1, 2])
        expect(await rowsOf(store, 'run-2')).to.deep.equal([
          { seq: 0, kind: 'StateEntry', state: 'A', taskId: 'A', payload: null, version: 2 },
          { seq: 1, kind: 'StateEntry', state: 'Scan', taskId: 'Scan', payload: null, version: 2 },
          { seq: 2, kind: 'StepCursor', state: 'Scan', taskId: 'Scan', payload: { cursor: 1, step: 1 }, version: 2 },
          { seq: 3, kind: 'StepCursor', state: 'Scan', taskId: 'Scan', payload: { cursor: 2, step: 2 }, version: 2 },
        ])

        const second: Array<number | undefined> = []
        const events = await eventsOf(make(store, undefined, second).resume$('run-2'))
        expect(second).to.deep.equal([2, 3]) // starts from the last persisted cursor, never from the beginning
        expect(events.slice(0, 4).map((e) => e._tag)).to.deep.equal([
          'RunStarted',
          'RunResumed',
          'StateEntered',
          'CheckpointAppended',
        ])
        expect(events[1]).to.deep.include({ _tag: 'RunResumed', state: 'Scan', fromSeq: 3, version: 2 })
        const seqs = events.flatMap((e) => (e._tag === 'CheckpointAppended' ? [e.seq] : []))
        expect(seqs[0]).to.equal(4) // seq continues after the last row
        expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
        expect(await store.loadRun('run-2')).to.deep.equal([])
        await store.close()
      })

      it('refuses to start a run over an uncleared log, leaving the log as it was', async () => {
        const store = stores[s]!.make()
        await errorOf(make(store, 0).orchestrate('A', { workflowId: 'run-3' }))
        const before = await store.loadRun('run-3')
        const e = await errorOf(make(store, undefined).orchestrate('A', { workflowId: 'run-3' }))
        expect(e._tag).to.equal('CheckpointStore')
        expect(e.message).to.match(
          /^append checkpoint: checkpoint conflict: workflow "run-3" already has a row at sequence 0; resume/,
        )
        expect(await store.loadRun('run-3')).to.deep.equal(before)
        await store.close()
      })
    })
  }

  it('gives clear errors for resuming an unknown id, an unknown state or another version, changing nothing', async () => {
    const store = memoryCheckpoints()
    const flow = make(store, undefined)
    expect(await errorOf(flow.resume('nobody'))).to.deep.equal(
      checkpointStoreError('no checkpoint rows for workflow id "nobody"'),
    )
    const row = { workflowId: 'w', seq: 0, kind: 'StateEntry' as const, taskId: '', payload: null, at: 1 }
    await store.append({ ...row, state: 'Gone', version: 2 })
    expect(await errorOf(flow.resume('w'))).to.deep.equal(
      workflowError('checkpoint state "Gone" is not a registered or exit state of this workflow', 'Gone'),
    )
    await store.append({ ...row, workflowId: 'old', state: 'A', version: 1 })
    expect(await errorOf(flow.resume('old'))).to.deep.equal(workflowVersionMismatchError(1, 2))
    expect((await store.loadRun('w')).length).to.equal(1)
    expect((await store.loadRun('old')).length).to.equal(1)
  })

  it('resumes a run recorded by an older version through a migration', async () => {
    const store = memoryCheckpoints()
    await store.append({
      workflowId: 'm',
      seq: 0,
      kind: 'StateEntry',
      state: 'Download',
      taskId: '',
      payload: null,
      version: 1,
      at: 1,
    })
    const ran: string[] = []
    const flow = workflow<'Fetch' | 'Done'>()({
      checkpoints: store,
      version: 2,
      migrations: { 1: (old) => (old === 'Download' ? 'Fetch' : 'Done') },
      exits: ['Done'],
      states: { Fetch: task(() => (ran.push('Fetch'), 'Done' as const)) },
    })
    expect(await flow.resume('m')).to.equal('Done')
    expect(ran).to.deep.equal(['Fetch'])
  })

  it('resumes a timer with the wake-up instant it persisted', async () => {
    const store = memoryCheckpoints()
    const ac = new AbortController()
    const flow = workflow<'Start' | 'Wait' | 'Done'>()({
      checkpoints: store,
      exits: ['Done'],
      states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: 150, then: 'Done' }) },
    })
    const firstRun: WorkflowEvent<'Start' | 'Wait' | 'Done'>[] = []
    const run = flow.run$('Start', {
      workflowId: 'tm',
      signal: ac.signal,
      observers: [{ onEvent: (e) => firstRun.push(e) }],
    })
    const sub = run.subscribe((e) => {
      if (e._tag === 'CheckpointAppended' && e.kind === 'TimerArmed') ac.abort()
    })
    await new Promise<void>((resolve) => sub.add(resolve))
    const armed = firstRun.find((e) => e._tag === 'TimerArmed')
    const resumed = await eventsOf(flow.resume$('tm'))
    const again = resumed.find((e) => e._tag === 'TimerArmed')
    expect(
      armed?._tag === 'TimerArmed' && again?._tag === 'TimerArmed' ? again.wakeAt === armed.wakeAt : false,
    ).to.equal(true)
    expect(lastEvent(resumed)._tag).to.equal('RunCompleted')
  })

  it('persists each handled stream window and resumes the stream after the last one', async () => {
    const store = memoryCheckpoints()
    const items = Array.from({ length: 10 }, (_, i) => i)
    const seen: number[] = []
    const froms: unknown[] = []
    let crashAt: number | undefined = 3
    const flow = workflow<'Ingest' | 'Done'>()({
      checkpoints: store,
      exits: ['Done'],
      states: {
        Ingest: stream({
          source: (_ctx, from) => {
            froms.push(from)
            return from_(items.slice(from?.items ?? 0))
          },
          window: { count: 2 },
          onWindow: (batch, { window }) => {
            if (window === crashAt) throw nonRetryable(new Error(`crash in window ${window}`))
            seen.push(...(batch as number[]))
            return WindowSignal.continue()
          },
          onClose: () => 'Done' as const,
        }),
      },
    })
    expect((await errorOf(flow.orchestrate('Ingest', { workflowId: 'st' }))).message).to.equal('crash in window 3')
    expect((await rowsOf(store, 'st')).map((r) => [r.kind, r.payload])).to.deep.equal([
      ['StateEntry', null],
      ['StreamWindow', { windows: 1, items: 2 }],
      ['StreamWindow', { windows: 2, items: 4 }],
    ])
    crashAt = undefined
    const resumed = await eventsOf(flow.resume$('st'))
    expect(lastEvent(resumed)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
    // the resume says where the stream continues (a window-model stream has no item cursor)
    const notice = resumed.find((e) => e._tag === 'RunResumed')
    expect(notice).to.deep.include({ state: 'Ingest', stream: { windows: 2, items: 4 } })
    expect(notice).not.to.have.property('cursor')
    expect(froms).to.deep.equal([undefined, { windows: 2, items: 4 }])
    expect(seen).to.deep.equal(items) // no item before the persisted position was handled twice
  })

  it('refuses an id containing NUL before anything is written: a Configuration error naming it, not a store error', async () => {
    const store = memoryCheckpoints()
    const flow = make(store, undefined)
    const error = configurationError(
      'workflowId "run\\u0000x" cannot be stored: it contains a NUL character or an unpaired UTF-16 surrogate',
    )
    expect(await errorOf(flow.orchestrate('A', { workflowId: 'run\u0000x' }))).to.deep.equal(error)
    expect(await errorOf(flow.resume('run\u0000x'))).to.deep.equal(error)
    expect(await store.listRuns()).to.deep.equal([])
  })

  it("names a row the store refuses with one prefix per layer (the run's, then the store's)", async () => {
    const store = memoryCheckpoints()
    const flow = workflow<'Scan' | 'Done'>()({
      exits: ['Done'],
      checkpoints: store,
      states: {
        // a cursor no store can keep: the store refuses its row
        Scan: stepped({
          cursor: t.string,
          step: (_ctx, n: string | undefined) =>
            n === undefined ? StepOutcome.more('a\u0000b') : StepOutcome.done('Done' as const),
        }),
      },
    })
    const error = await errorOf(flow.orchestrate('Scan', { workflowId: 'bad-row' }))
    expect(error._tag).to.equal('CheckpointStore')
    expect(error.message).to.match(
      /^append checkpoint: invalid row for workflow "bad-row" at sequence 1 \(nothing written\): /,
    )
    expect(error.message.match(/append checkpoint/g)).to.have.length(1)
  })

  it('refuses a resume without starting a run: one RunFailed with no state, for the observers too', async () => {
    const seen: WorkflowEvent<'A' | 'Done'>[] = []
    const flow = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      checkpoints: memoryCheckpoints(),
      observers: [{ onEvent: (e) => seen.push(e) }],
      states: { A: task(() => 'Done' as const) },
    })
    const events = await eventsOf(flow.resume$('nowhere'))
    expect(events.map((e) => e._tag)).to.deep.equal(['RunFailed'])
    expect(events[0]).to.deep.include({
      workflowId: 'nowhere',
      state: undefined,
      error: checkpointStoreError('no checkpoint rows for workflow id "nowhere"'),
    })
    expect(seen).to.deep.equal(events)
  })

  it('reports a log a real SQLite store refuses to clear (CheckpointClearFailed) and still completes the run (issue 14)', async () => {
    const path = join(dir, 'clear-refused.db')
    // the log of a SQLite store without its run table: runs are not owned, the driver clears the log itself
    const { runs: _runs, ...log } = sqliteCheckpoints(path)
    await log.loadRun('warm-up') // opens the file and creates the schema
    const raw = new Database(path)
    // a real refusal: every DELETE from the log fails inside SQLite
    raw.exec(
      "CREATE TRIGGER keep_the_log BEFORE DELETE ON cano_checkpoints BEGIN SELECT RAISE(ABORT, 'the log is kept'); END",
    )
    raw.close()
    try {
      const failures: Array<[string, string, string]> = []
      const flow = workflow<'A' | 'Done'>()({
        checkpoints: log,
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
      })
      const events = await eventsOf(
        flow.run$('A', {
          workflowId: 'kept-1',
          observers: [{ onCheckpointClearFailed: (id, e) => failures.push([id, e._tag, e.message]) }],
        }),
      )
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
      expect(events.map((e) => e._tag).slice(-2)).to.deep.equal(['CheckpointClearFailed', 'RunCompleted'])
      expect(failures).to.have.length(1)
      expect(failures[0]?.slice(0, 2)).to.deep.equal(['kept-1', 'CheckpointStore'])
      expect(failures[0]?.[2]).to.match(/^clear the checkpoint log of run "kept-1": .*the log is kept/)
      // the rows stay behind, as the event warns
      expect((await log.loadRun('kept-1')).map((r) => r.state)).to.deep.equal(['A', 'Done'])
    } finally {
      await log.close()
    }
  })

  it('requires a workflowId when checkpointing, and a store to resume', async () => {
    const flow = make(memoryCheckpoints(), undefined)
    expect(await errorOf(flow.orchestrate('A'))).to.deep.equal(
      configurationError('checkpointing requires a workflowId: pass { workflowId } to orchestrate / run$'),
    )
    const plain = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
    expect(await errorOf(plain.resume('x'))).to.deep.equal(
      configurationError('resume requires a checkpoint store: set `checkpoints` in the workflow definition'),
    )
  })
})
