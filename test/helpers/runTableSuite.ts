/**
 * The `RunTable` contract (src/RunTable.ts), one parameterised suite: test/src/memoryRunTable.test.ts
 * runs it against the in-memory store, test/integration/runTable.conformance.test.ts against every
 * store (memory, a real SQLite file, the real PostgreSQL server). Time is the store's injected `now`,
 * driven by the test.
 */
import { expect } from 'chai'

import type { CanoError } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { type CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import type { RunStore } from '../../src/CheckpointStore.js'
import type { NewRun, RunRecord } from '../../src/RunTable.js'

// -------------------------------------------------------------------------------------
// harness
// -------------------------------------------------------------------------------------

/** The test's clock: every store of a test reads `clock.now`. */
export interface Clock {
  now: number
}

/** A field of a stored record broken by hand, below the adapter. */
/** A column made invalid, or (`terminal`) a record made `completed` by hand while it is still due: it decodes. */
export type RunCorruption = 'status' | 'fence' | 'input' | 'terminal'

export interface RunTableBackend {
  readonly store: RunStore
  /** Writes a value the codec rejects into `field` of the stored record of `workflowId`. */
  readonly corrupt: (workflowId: string, field: RunCorruption) => Promise<void>
  readonly dispose: () => Promise<void>
}

export interface RunTableAdapter {
  readonly name: string
  /** A fresh, empty store reading `clock`. */
  readonly open: (clock: Clock) => Promise<RunTableBackend>
}

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

export const T0 = Date.UTC(2030, 0, 1)

/** The `CanoError` a promise rejects with (fails when it resolves or rejects with something else). */
export const rejection = async (p: Promise<unknown>): Promise<CanoError> => {
  let failure: unknown
  try {
    await p
  } catch (e: unknown) {
    failure = e
  }
  expect(isCanoFailure(failure), `expected a CanoFailure, got ${String(failure)}`).to.equal(true)
  return (failure as CanoFailure).error
}

export const newRun = (workflowId: string, extra: Partial<NewRun> = {}): NewRun => ({
  workflowId,
  workflow: 'orders',
  version: 1,
  initial: 'Charge',
  input: { sku: 'A1', qty: 2 },
  ...extra,
})

export const row = (workflowId: string, seq: number): CheckpointRow => ({
  workflowId,
  seq,
  kind: 'StateEntry',
  state: 'Charge',
  taskId: 'charge',
  payload: null,
  version: 1,
  at: T0,
})

const ids = (records: ReadonlyArray<RunRecord>): ReadonlyArray<string> => records.map((r) => r.workflowId)

// -------------------------------------------------------------------------------------
// suite
// -------------------------------------------------------------------------------------

export const runTableSuite = (adapter: RunTableAdapter): void => {
  describe(`RunTable (${adapter.name})`, () => {
    const clock: Clock = { now: T0 }
    let backend: RunTableBackend
    let store: RunStore

    beforeEach(async () => {
      clock.now = T0
      backend = await adapter.open(clock)
      store = backend.store
    })
    afterEach(async () => {
      await backend.dispose()
    })

    describe('create', () => {
      it('writes a pending record with the given fields, never claimed', async () => {
        const { record, created } = await store.runs.create(newRun('a'))
        expect(created).to.equal(true)
        expect(record).to.deep.equal({
          workflowId: 'a',
          workflow: 'orders',
          version: 1,
          initial: 'Charge',
          status: 'pending',
          owner: null,
          leaseUntil: null,
          fence: 0,
          wakeAt: null,
          input: { sku: 'A1', qty: 2 },
          output: null,
          error: null,
          cancelRequested: false,
          createdAt: T0,
          updatedAt: T0,
          endedAt: null,
        })
        expect(await store.runs.get('a')).to.deep.equal(record)
      })

      it('is idempotent by id: a second create writes nothing and returns the existing record', async () => {
        const first = await store.runs.create(newRun('a'))
        clock.now += 5
        const second = await store.runs.create(newRun('a', { workflow: 'other', input: 'different' }))
        expect(second).to.deep.equal({ record: first.record, created: false })
        const [claimed] = await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        const third = await store.runs.create(newRun('a', { owner: 'w2', leaseMs: 1000 }))
        expect(third.created).to.equal(false)
        expect(third.record).to.deep.equal(claimed)
      })

      it('with an owner claims the run at once (fence 1); with wakeAt parks it', async () => {
        const owned = await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 30_000 }))
        expect(owned.record).to.include({ status: 'running', owner: 'w1', leaseUntil: T0 + 30_000, fence: 1 })
        const parked = await store.runs.create(newRun('b', { wakeAt: T0 + 60_000 }))
        expect(parked.record).to.include({ status: 'parked', owner: null, wakeAt: T0 + 60_000, fence: 0 })
      })

      it('keeps the input as given, even when the caller mutates its object afterwards', async () => {
        const input = { items: [1, 2, 3] }
        await store.runs.create(newRun('a', { input }))
        input.items.push(4)
        expect((await store.runs.get('a'))?.input).to.deep.equal({ items: [1, 2, 3] })
      })

      it('get returns undefined for an id the table does not hold', async () => {
        expect(await store.runs.get('nope')).to.equal(undefined)
      })
    })

    describe('claim', () => {
      it('takes the oldest due first, up to limit, each with its fence incremented', async () => {
        for (const id of ['c', 'a', 'b']) {
          await store.runs.create(newRun(id))
          clock.now += 10
        }
        const first = await store.runs.claim('w1', { limit: 2, leaseMs: 1000 })
        expect(ids(first)).to.deep.equal(['c', 'a'])
        for (const r of first)
          expect(r).to.include({ status: 'running', owner: 'w1', fence: 1, leaseUntil: clock.now + 1000 })
        expect(ids(await store.runs.claim('w2', { limit: 5, leaseMs: 1000 }))).to.deep.equal(['b'])
        expect(await store.runs.claim('w3', { limit: 5, leaseMs: 1000 })).to.deep.equal([])
      })

      it('claims only the named workflows when given', async () => {
        await store.runs.create(newRun('a', { workflow: 'orders' }))
        await store.runs.create(newRun('b', { workflow: 'refunds' }))
        await store.runs.create(newRun('c', { workflow: 'mail' }))
        const claimed = await store.runs.claim('w1', { limit: 10, leaseMs: 1000, workflows: ['refunds', 'mail'] })
        expect([...ids(claimed)].sort()).to.deep.equal(['b', 'c'])
        expect(await store.runs.claim('w1', { limit: 10, leaseMs: 1000, workflows: [] })).to.deep.equal([])
        expect(ids(await store.runs.claim('w1', { limit: 10, leaseMs: 1000 }))).to.deep.equal(['a'])
      })

      it('takes a parked run only from its wakeAt, and orders it by wakeAt', async () => {
        await store.runs.create(newRun('late', { wakeAt: T0 + 500 }))
        await store.runs.create(newRun('early', { wakeAt: T0 + 100 }))
        expect(await store.runs.claim('w1', { limit: 10, leaseMs: 1000 })).to.deep.equal([])
        clock.now = T0 + 100
        expect(ids(await store.runs.claim('w1', { limit: 10, leaseMs: 1000 }))).to.deep.equal(['early'])
        clock.now = T0 + 600
        const [late] = await store.runs.claim('w1', { limit: 10, leaseMs: 1000 })
        expect(late).to.include({ workflowId: 'late', status: 'running', wakeAt: null, fence: 1 })
      })

      it('reclaims a running run once its lease ended, incrementing the fence', async () => {
        await store.runs.create(newRun('a'))
        await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        clock.now = T0 + 999
        expect(await store.runs.claim('w2', { limit: 1, leaseMs: 1000 })).to.deep.equal([])
        clock.now = T0 + 1000
        const [taken] = await store.runs.claim('w2', { limit: 1, leaseMs: 1000 })
        expect(taken).to.include({ workflowId: 'a', owner: 'w2', fence: 2, leaseUntil: T0 + 2000 })
      })

      it('never takes a terminal run', async () => {
        await store.runs.create(newRun('a'))
        await store.runs.finish('a', undefined, { status: 'failed', output: null, error: { _tag: 'Cancelled' } })
        clock.now += 10_000
        expect(await store.runs.claim('w1', { limit: 10, leaseMs: 1000 })).to.deep.equal([])
      })
    })

    describe('fencing', () => {
      /** `a` claimed by w1 (fence 1), its lease ended, then claimed by w2 (fence 2). */
      const stolen = async (): Promise<void> => {
        await store.runs.create(newRun('a'))
        await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        await store.append(row('a', 0), 1)
        clock.now = T0 + 5000
        await store.runs.claim('w2', { limit: 1, leaseMs: 1000 })
      }

      const isLeaseLost = (e: CanoError, owner: string | null): void => {
        expect(e).to.include({ _tag: 'LeaseLost', workflowId: 'a', fence: 1, owner })
        expect(e.message).to.contain('"a"').and.contain('fence 1')
      }

      it('a stale append is refused with LeaseLost naming the new owner, and writes nothing', async () => {
        await stolen()
        isLeaseLost(await rejection(store.append(row('a', 1), 1)), 'w2')
        expect((await store.loadRun('a')).map((r) => r.seq)).to.deep.equal([0])
        await store.append(row('a', 1), 2)
        expect((await store.loadRun('a')).map((r) => r.seq)).to.deep.equal([0, 1])
      })

      it('a fenced append at a sequence the log holds is a checkpoint conflict, alone and in a batch', async () => {
        await store.runs.create(newRun('a'))
        await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        await store.append(row('a', 0), 1)
        const alone = await rejection(store.append(row('a', 0), 1))
        expect(alone).to.include({ _tag: 'CheckpointStore' })
        expect(alone.message).to.contain('checkpoint conflict').and.contain('sequence 0')
        // appended in one tick: a group-committing store writes them as one batch
        const [dup, fresh] = await Promise.allSettled([store.append(row('a', 0), 1), store.append(row('a', 1), 1)])
        expect(dup.status).to.equal('rejected')
        expect(fresh.status).to.equal('fulfilled')
        expect((await store.loadRun('a')).map((r) => r.seq)).to.deep.equal([0, 1])
      })

      it('a stale clear is refused and removes nothing; the holder clears', async () => {
        await stolen()
        isLeaseLost(await rejection(store.clear('a', 1)), 'w2')
        expect(await store.loadRun('a')).to.have.length(1)
        await store.clear('a', 2)
        expect(await store.loadRun('a')).to.deep.equal([])
      })

      it('a stale renew, release or finish is refused and changes nothing', async () => {
        await stolen()
        const before = await store.runs.get('a')
        isLeaseLost(await rejection(store.runs.renew('a', 1, 1000)), 'w2')
        isLeaseLost(await rejection(store.runs.release('a', 1)), 'w2')
        isLeaseLost(await rejection(store.runs.finish('a', 1, { status: 'completed', output: 1, error: null })), 'w2')
        expect(await store.runs.get('a')).to.deep.equal(before)
      })

      it('time alone never fences: an expired holder writes until someone else claims', async () => {
        await store.runs.create(newRun('a'))
        await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        clock.now = T0 + 10_000
        await store.append(row('a', 0), 1)
        const renewed = await store.runs.renew('a', 1, 1000)
        expect(renewed).to.include({ owner: 'w1', fence: 1, leaseUntil: T0 + 11_000 })
      })

      it('a fenced write to a run the table does not hold is LeaseLost; unfenced writes work as before', async () => {
        const e = await rejection(store.append(row('ghost', 0), 1))
        expect(e).to.include({ _tag: 'LeaseLost', workflowId: 'ghost', fence: 1, owner: null })
        expect(await store.loadRun('ghost')).to.deep.equal([])
        await store.append(row('ghost', 0))
        await store.append(row('ghost', 1))
        expect((await store.listRuns()).map((r) => r.workflowId)).to.deep.equal(['ghost'])
        await store.clear('ghost')
        expect(await store.listRuns()).to.deep.equal([])
      })

      it('after a release the token holds no lease: renew and finish are refused', async () => {
        await store.runs.create(newRun('a'))
        await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        await store.runs.release('a', 1)
        expect(await rejection(store.runs.renew('a', 1, 1000))).to.include({ _tag: 'LeaseLost', owner: null })
        expect(
          await rejection(store.runs.finish('a', 1, { status: 'completed', output: null, error: null })),
        ).to.include({ _tag: 'LeaseLost', owner: null })
      })
    })

    describe('claimRun', () => {
      it('is refused with RunOwned naming the owner and the lease end while another holds the run', async () => {
        await store.runs.create(newRun('a', { owner: 'worker-a', leaseMs: 30_000 }))
        const e = await rejection(store.runs.claimRun('a', 'worker-b', 1000))
        expect(e).to.include({ _tag: 'RunOwned', workflowId: 'a', owner: 'worker-a', leaseUntil: T0 + 30_000 })
        expect(e.message)
          .to.contain('"worker-a"')
          .and.contain(new Date(T0 + 30_000).toISOString())
        const same = await rejection(store.runs.claimRun('a', 'worker-a', 1000))
        expect(same._tag).to.equal('RunOwned')
      })

      it('claims a pending, parked or expired run, incrementing the fence', async () => {
        await store.runs.create(newRun('p'))
        await store.runs.create(newRun('k', { wakeAt: T0 + 1_000_000 }))
        await store.runs.create(newRun('x', { owner: 'w0', leaseMs: 100 }))
        expect(await store.runs.claimRun('p', 'w1', 1000)).to.include({ status: 'running', owner: 'w1', fence: 1 })
        expect(await store.runs.claimRun('k', 'w1', 1000)).to.include({ status: 'running', fence: 1, wakeAt: null })
        clock.now = T0 + 100
        expect(await store.runs.claimRun('x', 'w1', 1000)).to.include({ owner: 'w1', fence: 2 })
      })

      it('rejects an unknown or a terminal run with a CheckpointStore error', async () => {
        const unknown = await rejection(store.runs.claimRun('nope', 'w1', 1000))
        expect(unknown._tag).to.equal('CheckpointStore')
        expect(unknown.message).to.contain('"nope"')
        await store.runs.create(newRun('a'))
        await store.runs.finish('a', undefined, { status: 'cancelled', output: null, error: null })
        const ended = await rejection(store.runs.claimRun('a', 'w1', 1000))
        expect(ended._tag).to.equal('CheckpointStore')
        expect(ended.message).to.contain('"a" has ended (cancelled)')
      })

      it("finish with clearLog removes the run's checkpoint rows in the same write, and only its own", async () => {
        await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 1000 }))
        await store.runs.create(newRun('b', { owner: 'w1', leaseMs: 1000 }))
        const row = (id: string) =>
          ({
            workflowId: id,
            seq: 0,
            kind: 'StateEntry',
            state: 'S',
            taskId: 'S',
            payload: null,
            version: 0,
            at: T0,
          }) as const
        await store.append(row('a'), 1)
        await store.append(row('b'), 1)
        await store.runs.finish('a', 1, { status: 'completed', output: null, error: null }, true)
        await store.runs.finish('b', 1, { status: 'failed', output: null, error: null })
        expect(await store.loadRun('a')).to.deep.equal([])
        expect(await store.loadRun('b')).to.have.length(1)
        // a refused finish removes nothing
        await store.runs.create(newRun('c', { owner: 'w1', leaseMs: 1000 }))
        await store.append(row('c'), 1)
        expect(
          (await rejection(store.runs.finish('c', 7, { status: 'completed', output: null, error: null }, true)))._tag,
        ).to.equal('LeaseLost')
        expect(await store.loadRun('c')).to.have.length(1)
      })

      it('with reopen claims a failed run again (its outcome cleared), never another terminal one', async () => {
        await store.runs.create(newRun('f', { owner: 'w1', leaseMs: 1000 }))
        await store.runs.finish('f', 1, { status: 'failed', output: null, error: { _tag: 'Generic', message: 'x' } })
        expect((await rejection(store.runs.claimRun('f', 'w2', 1000)))._tag).to.equal('CheckpointStore')
        expect(await store.runs.claimRun('f', 'w2', 1000, true)).to.include({
          status: 'running',
          owner: 'w2',
          fence: 2,
          error: null,
          endedAt: null,
        })
        await store.runs.create(newRun('c'))
        await store.runs.finish('c', undefined, { status: 'completed', output: null, error: null })
        expect((await rejection(store.runs.claimRun('c', 'w2', 1000, true)))._tag).to.equal('CheckpointStore')
        // a run that ended cancelled on a request: reopening it drops the request (it was answered)
        await store.runs.create(newRun('x', { owner: 'w1', leaseMs: 1000 }))
        expect(await store.runs.requestCancel('x')).to.equal(true)
        await store.runs.finish('x', 1, { status: 'cancelled', output: null, error: null })
        expect(await store.runs.get('x')).to.include({ status: 'cancelled', cancelRequested: true })
        expect(await store.runs.claimRun('x', 'w2', 1000, true)).to.include({
          status: 'running',
          owner: 'w2',
          cancelRequested: false,
        })
        // a live run's request stands when another process claims it
        await store.runs.create(newRun('p'))
        expect(await store.runs.requestCancel('p')).to.equal(true)
        expect(await store.runs.claimRun('p', 'w2', 1000)).to.include({ status: 'running', cancelRequested: true })
        // a runtime's claim never reopens
        await store.runs.create(newRun('g', { owner: 'w1', leaseMs: 1000 }))
        await store.runs.finish('g', 1, { status: 'failed', output: null, error: null })
        expect((await store.runs.claim('w3', { limit: 10, leaseMs: 1000 })).map((r) => r.workflowId)).to.not.include(
          'g',
        )
      })
    })

    describe('renew, release, finish', () => {
      it('renew extends the lease and reports a cancel request', async () => {
        await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 1000 }))
        clock.now = T0 + 500
        expect(await store.runs.renew('a', 1, 2000)).to.include({ leaseUntil: T0 + 2500, cancelRequested: false })
        expect(await store.runs.requestCancel('a')).to.equal(true)
        expect(await store.runs.renew('a', 1, 2000)).to.include({ cancelRequested: true, updatedAt: T0 + 500 })
      })

      it('release makes the run pending (or parked until wakeAt), keeps the fence; the next claim increments it', async () => {
        await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 1000 }))
        await store.runs.release('a', 1)
        expect(await store.runs.get('a')).to.include({ status: 'pending', owner: null, leaseUntil: null, fence: 1 })
        const [again] = await store.runs.claim('w2', { limit: 1, leaseMs: 1000 })
        expect(again).to.include({ owner: 'w2', fence: 2 })
        await store.runs.release('a', 2, T0 + 5000)
        expect(await store.runs.get('a')).to.include({ status: 'parked', wakeAt: T0 + 5000, owner: null, fence: 2 })
        expect(await store.runs.claim('w3', { limit: 1, leaseMs: 1000 })).to.deep.equal([])
        clock.now = T0 + 5000
        expect(await store.runs.claim('w3', { limit: 1, leaseMs: 1000 })).to.have.length(1)
      })

      it('finish records the outcome and the end; the record is kept and never claimed again', async () => {
        await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 1000 }))
        clock.now = T0 + 42
        const done = await store.runs.finish('a', 1, { status: 'completed', output: { receipt: 'r-1' }, error: null })
        expect(done).to.include({ status: 'completed', owner: 'w1', leaseUntil: null, endedAt: T0 + 42 })
        expect(done.output).to.deep.equal({ receipt: 'r-1' })
        expect(await store.runs.get('a')).to.deep.equal(done)
        const again = await rejection(
          store.runs.finish('a', undefined, { status: 'failed', output: null, error: null }),
        )
        expect(again._tag).to.equal('CheckpointStore')
      })

      it('an unfenced finish works on a run nobody holds and is refused with RunOwned on a held one', async () => {
        await store.runs.create(newRun('free'))
        const failed = await store.runs.finish('free', undefined, {
          status: 'failed',
          output: null,
          error: { _tag: 'Timeout', timeoutMs: 5, message: 'slow' },
        })
        expect(failed).to.include({ status: 'failed', endedAt: T0 })
        expect(failed.error).to.deep.equal({ _tag: 'Timeout', timeoutMs: 5, message: 'slow' })
        await store.runs.create(newRun('held', { owner: 'w1', leaseMs: 1000 }))
        const e = await rejection(store.runs.finish('held', undefined, { status: 'failed', output: null, error: null }))
        expect(e).to.include({ _tag: 'RunOwned', owner: 'w1' })
        const unknown = await rejection(
          store.runs.finish('nope', undefined, { status: 'failed', output: null, error: null }),
        )
        expect(unknown._tag).to.equal('CheckpointStore')
      })
    })

    describe('requestCancel', () => {
      it('flags an open run (true) and leaves a terminal or unknown one alone (false)', async () => {
        await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 1000 }))
        expect(await store.runs.requestCancel('a')).to.equal(true)
        expect(await store.runs.get('a')).to.include({ cancelRequested: true, status: 'running', owner: 'w1' })
        await store.runs.create(newRun('b'))
        await store.runs.finish('b', undefined, { status: 'completed', output: null, error: null })
        expect(await store.runs.requestCancel('b')).to.equal(false)
        expect(await store.runs.get('b')).to.include({ cancelRequested: false })
        expect(await store.runs.requestCancel('nope')).to.equal(false)
      })

      it('makes a parked run due at once, so a worker can take it and cancel it', async () => {
        await store.runs.create(newRun('a', { wakeAt: T0 + 1_000_000 }))
        expect(await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })).to.deep.equal([])
        await store.runs.requestCancel('a')
        const [taken] = await store.runs.claim('w1', { limit: 1, leaseMs: 1000 })
        expect(taken).to.include({ workflowId: 'a', cancelRequested: true, fence: 1 })
      })
    })

    describe('prune', () => {
      it('removes terminal records that ended before the cut-off, with their log rows; keeps the rest', async () => {
        await store.runs.create(newRun('old'))
        await store.append(row('old', 0))
        await store.runs.finish('old', undefined, { status: 'failed', output: null, error: null })
        clock.now = T0 + 1000
        await store.runs.create(newRun('recent'))
        await store.runs.finish('recent', undefined, { status: 'completed', output: null, error: null })
        await store.runs.create(newRun('open'))
        await store.append(row('open', 0))
        expect(await store.runs.prune(T0 + 1000)).to.equal(1)
        expect(await store.runs.get('old')).to.equal(undefined)
        expect(await store.loadRun('old')).to.deep.equal([])
        expect(await store.runs.get('recent')).to.include({ status: 'completed' })
        expect(await store.runs.get('open')).to.include({ status: 'pending' })
        expect(await store.loadRun('open')).to.have.length(1)
        expect(await store.runs.prune(T0 + 1001)).to.equal(1)
        expect(await store.runs.prune(Number.MAX_SAFE_INTEGER)).to.equal(0)
      })
    })

    describe('list', () => {
      it('returns records newest first, filtered by status and workflow, up to limit', async () => {
        await store.runs.create(newRun('a', { workflow: 'orders' }))
        clock.now += 1
        await store.runs.create(newRun('b', { workflow: 'refunds' }))
        clock.now += 1
        await store.runs.create(newRun('c', { workflow: 'orders', owner: 'w1', leaseMs: 1000 }))
        clock.now += 1
        await store.runs.create(newRun('d', { workflow: 'orders' }))
        await store.runs.finish('d', undefined, { status: 'completed', output: null, error: null })
        expect(ids(await store.runs.list())).to.deep.equal(['d', 'c', 'b', 'a'])
        expect(ids(await store.runs.list({ workflow: 'orders' }))).to.deep.equal(['d', 'c', 'a'])
        expect(ids(await store.runs.list({ status: ['pending', 'running'] }))).to.deep.equal(['c', 'b', 'a'])
        expect(ids(await store.runs.list({ status: ['completed'], workflow: 'refunds' }))).to.deep.equal([])
        expect(ids(await store.runs.list({ status: [] }))).to.deep.equal([])
        expect(ids(await store.runs.list({ limit: 2 }))).to.deep.equal(['d', 'c'])
      })

      it('leaves listRuns as it was: the runs that still have log rows', async () => {
        await store.runs.create(newRun('recorded'))
        await store.append(row('logged', 0))
        expect((await store.listRuns()).map((r) => r.workflowId)).to.deep.equal(['logged'])
      })
    })

    describe('bad input', () => {
      const cases: ReadonlyArray<readonly [string, (s: RunStore) => Promise<unknown>, string]> = [
        ['create: empty workflowId', (s) => s.runs.create(newRun('')), 'runs.create: workflowId'],
        ['create: NUL in workflowId', (s) => s.runs.create(newRun('a\u0000b')), 'runs.create: workflowId'],
        ['create: negative version', (s) => s.runs.create(newRun('a', { version: -1 })), 'runs.create: version'],
        ['create: empty initial', (s) => s.runs.create(newRun('a', { initial: '' })), 'runs.create: initial'],
        [
          'create: input not JSON',
          (s) => s.runs.create(newRun('a', { input: { n: Number.NaN } as never })),
          'runs.create: input must be a JSON value',
        ],
        ['create: owner without leaseMs', (s) => s.runs.create(newRun('a', { owner: 'w' })), 'runs.create: leaseMs'],
        [
          'create: owner and wakeAt',
          (s) => s.runs.create(newRun('a', { owner: 'w', leaseMs: 5, wakeAt: 1 })),
          'not both',
        ],
        ['create: NaN wakeAt', (s) => s.runs.create(newRun('a', { wakeAt: Number.NaN })), 'runs.create: wakeAt'],
        ['claim: empty owner', (s) => s.runs.claim('', { limit: 1, leaseMs: 5 }), 'runs.claim: owner'],
        ['claim: limit 0', (s) => s.runs.claim('w', { limit: 0, leaseMs: 5 }), 'runs.claim: limit'],
        ['claim: huge limit', (s) => s.runs.claim('w', { limit: 1e9, leaseMs: 5 }), 'runs.claim: limit'],
        ['claim: negative leaseMs', (s) => s.runs.claim('w', { limit: 1, leaseMs: -1 }), 'runs.claim: leaseMs'],
        ['claim: NaN leaseMs', (s) => s.runs.claim('w', { limit: 1, leaseMs: Number.NaN }), 'runs.claim: leaseMs'],
        ['claim: huge leaseMs', (s) => s.runs.claim('w', { limit: 1, leaseMs: 2 ** 40 }), 'runs.claim: leaseMs'],
        ['claimRun: empty id', (s) => s.runs.claimRun('', 'w', 5), 'runs.claimRun: workflowId'],
        ['claimRun: 0 leaseMs', (s) => s.runs.claimRun('a', 'w', 0), 'runs.claimRun: leaseMs'],
        ['renew: negative fence', (s) => s.runs.renew('a', -1, 5), 'runs.renew: fence'],
        ['renew: Infinity leaseMs', (s) => s.runs.renew('a', 1, Number.POSITIVE_INFINITY), 'runs.renew: leaseMs'],
        ['release: fractional wakeAt', (s) => s.runs.release('a', 1, 1.5), 'runs.release: wakeAt'],
        [
          'finish: not a terminal status',
          (s) => s.runs.finish('a', 1, { status: 'running' as never, output: null, error: null }),
          'runs.finish: ending.status',
        ],
        ['get: empty id', (s) => s.runs.get(''), 'runs.get: workflowId'],
        ['requestCancel: empty id', (s) => s.runs.requestCancel(''), 'runs.requestCancel: workflowId'],
        ['prune: NaN', (s) => s.runs.prune(Number.NaN), 'runs.prune: endedBefore'],
        ['list: limit 0', (s) => s.runs.list({ limit: 0 }), 'runs.list: limit'],
        ['list: unknown status', (s) => s.runs.list({ status: ['done' as never] }), 'runs.list: status'],
        ['append: negative fence', (s) => s.append(row('a', 0), -1), 'append: fence'],
        ['clear: NaN fence', (s) => s.clear('a', Number.NaN), 'clear: fence'],
      ]
      for (const [title, call, names] of cases)
        it(`rejects ${title} with a Configuration error naming it, writing nothing`, async () => {
          const e = await rejection(call(store))
          expect(e._tag).to.equal('Configuration')
          expect(e.message).to.contain(names)
          expect(await store.runs.list()).to.deep.equal([])
          expect(await store.listRuns()).to.deep.equal([])
        })
    })

    describe('corrupt records', () => {
      for (const field of ['status', 'fence', 'input'] as const)
        it(`a stored record with a bad ${field} is a DecodeFailed error naming the run`, async () => {
          await store.runs.create(newRun('broken-run'))
          await backend.corrupt('broken-run', field)
          for (const read of [
            () => store.runs.get('broken-run'),
            () => store.runs.list(),
            () => store.runs.claimRun('broken-run', 'w', 1000),
          ]) {
            const e = await rejection(read())
            expect(e._tag).to.equal('DecodeFailed')
            expect(e.message).to.contain('"broken-run"').and.contain(`RunRecord/${field}`)
          }
        })

      // (not `fence`: PostgreSQL's claim writes the fence it reads, so a claimed record decodes again)
      for (const field of ['status', 'input'] as const)
        it(`claim takes a due record with a bad ${field} out of the runnable runs, reports it once, and claims the others`, async () => {
          await store.runs.create(newRun('broken-run'))
          await store.runs.create(newRun('next-run'))
          await store.runs.create(newRun('other-run'))
          await backend.corrupt('broken-run', field)
          const seen: Array<readonly [string, string]> = []
          const onUnreadable = (id: string, e: CanoError): void => void seen.push([id, e._tag])
          // the corrupt record is the oldest due: it takes no slot of the claim
          const first = await store.runs.claim('w1', { limit: 1, leaseMs: 1_000, onUnreadable })
          expect(first.map((r) => r.workflowId)).to.deep.equal(['next-run'])
          expect(seen).to.deep.equal([['broken-run', 'DecodeFailed']])
          // never due again: the next claims take the others, and report nothing more
          const rest = await store.runs.claim('w2', { limit: 5, leaseMs: 1_000, onUnreadable })
          expect(rest.map((r) => r.workflowId)).to.deep.equal(['other-run'])
          expect(seen).to.have.length(1)
          expect(await store.runs.claim('w3', { limit: 5, leaseMs: 1_000 })).to.deep.equal([])
          // still there, for repair: the list names it, a claim by id fails naming it
          const named: string[] = []
          await store.runs.list({ onUnreadable: (id) => void named.push(id) })
          expect(named).to.deep.equal(['broken-run'])
          expect((await rejection(store.runs.claimRun('broken-run', 'w', 1_000)))._tag).to.equal('DecodeFailed')
        })

      it('claim takes a terminal record left due (edited by hand) out of the runnable runs, reporting nothing', async () => {
        await store.runs.create(newRun('ended-run'))
        await store.runs.create(newRun('next-run'))
        await backend.corrupt('ended-run', 'terminal')
        const seen: string[] = []
        const claimed = await store.runs.claim('w1', {
          limit: 1,
          leaseMs: 1_000,
          onUnreadable: (id) => void seen.push(id),
        })
        expect(claimed.map((r) => r.workflowId)).to.deep.equal(['next-run'])
        expect(seen).to.deep.equal([])
        expect(await store.runs.claim('w2', { limit: 5, leaseMs: 1_000 })).to.deep.equal([])
        expect((await store.runs.get('ended-run'))?.status).to.equal('completed')
      })

      it('claim without onUnreadable still claims past a corrupt record; a throwing onUnreadable fails the claim, taking nothing', async () => {
        await store.runs.create(newRun('broken-run'))
        await store.runs.create(newRun('next-run'))
        await backend.corrupt('broken-run', 'input')
        const thrown = await rejection(
          store.runs.claim('w1', {
            limit: 5,
            leaseMs: 1_000,
            onUnreadable: () => {
              throw new Error('stop')
            },
          }),
        )
        expect(thrown._tag).to.equal('CheckpointStore')
        expect(thrown.message).to.contain('stop')
        expect((await store.runs.get('next-run'))?.status).to.equal('pending')
        const claimed = await store.runs.claim('w2', { limit: 5, leaseMs: 1_000 })
        expect(claimed.map((r) => r.workflowId)).to.deep.equal(['next-run'])
        const bad = await rejection(
          store.runs.claim('w3', { limit: 1, leaseMs: 1_000, onUnreadable: 'no' as unknown as () => void }),
        )
        expect([bad._tag, bad.message]).to.deep.equal([
          'Configuration',
          'runs.claim: onUnreadable must be a function, got "no"',
        ])
      })

      it('an async onUnreadable that rejects leaves no unhandled rejection: the list and the claim go on', async () => {
        await store.runs.create(newRun('broken-run'))
        await store.runs.create(newRun('next-run'))
        await backend.corrupt('broken-run', 'input')
        const unhandled: unknown[] = []
        const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
        process.on('unhandledRejection', onUnhandled)
        try {
          const seen: string[] = []
          const rejecting = async (id: string): Promise<void> => {
            seen.push(id)
            await Promise.resolve()
            throw new Error('async report failed')
          }
          // what this test is about: a caller's async callback where one returning nothing is typed
          // eslint-disable-next-line @typescript-eslint/no-misused-promises
          const listed = await store.runs.list({ onUnreadable: rejecting })
          expect(listed.map((r) => r.workflowId)).to.deep.equal(['next-run'])
          // eslint-disable-next-line @typescript-eslint/no-misused-promises
          const claimed = await store.runs.claim('w1', { limit: 5, leaseMs: 1_000, onUnreadable: rejecting })
          expect(claimed.map((r) => r.workflowId)).to.deep.equal(['next-run'])
          expect(seen).to.deep.equal(['broken-run', 'broken-run'])
          // an unhandled rejection is reported once the microtasks have run
          await new Promise((resolve) => setImmediate(resolve))
          await new Promise((resolve) => setImmediate(resolve))
          expect(unhandled).to.deep.equal([])
        } finally {
          process.off('unhandledRejection', onUnhandled)
        }
      })

      it('list with onUnreadable lists the readable records and names each one that does not decode', async () => {
        await store.runs.create(newRun('good-run', { workflow: 'orders' }))
        await store.runs.create(newRun('broken-run', { workflow: 'orders' }))
        await store.runs.create(newRun('other-run', { workflow: 'mail' }))
        await backend.corrupt('broken-run', 'input')
        const seen: Array<readonly [string, string, string]> = []
        const listed = await store.runs.list({ onUnreadable: (id, e) => seen.push([id, e._tag, e.message]) })
        expect(listed.map((r) => r.workflowId).sort()).to.deep.equal(['good-run', 'other-run'])
        expect(seen.map(([id, tag]) => [id, tag])).to.deep.equal([['broken-run', 'DecodeFailed']])
        expect(seen[0]?.[2]).to.contain('"broken-run"').and.contain('RunRecord/input')
        // with a filter: the readable records it matches
        const orders = await store.runs.list({ workflow: 'orders', onUnreadable: () => undefined })
        expect(orders.map((r) => r.workflowId)).to.deep.equal(['good-run'])
        // without it the list still rejects naming the run; a throw from it rejects the list
        expect((await rejection(store.runs.list()))._tag).to.equal('DecodeFailed')
        const thrown = await rejection(
          store.runs.list({
            onUnreadable: () => {
              throw new Error('stop listing')
            },
          }),
        )
        expect(thrown.message).to.contain('stop listing')
        const bad = await rejection(store.runs.list({ onUnreadable: 42 as unknown as () => void }))
        expect([bad._tag, bad.message]).to.deep.equal([
          'Configuration',
          'runs.list: onUnreadable must be a function, got 42',
        ])
      })
    })

    describe('after close', () => {
      it('every method rejects', async () => {
        await store.close()
        const e = await rejection(store.runs.get('a'))
        expect(e._tag).to.equal('CheckpointStore')
        expect((await rejection(store.runs.claim('w', { limit: 1, leaseMs: 5 })))._tag).to.equal('CheckpointStore')
      })
    })
  })
}
