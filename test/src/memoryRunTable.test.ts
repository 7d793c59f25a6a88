/**
 * The in-memory run table (src/memoryRunTable.ts): the shared run-table suite on `memoryCheckpoints`,
 * plus what only the memory store has (in-process `subscribe`, its `now` option).
 */
import { expect } from 'chai'
import fc from 'fast-check'

import type { CanoError } from '../../codecs/CanoError.js'
import { CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import { memoryCheckpoints, memoryCheckpointsOver } from '../../src/CheckpointStore.js'
import { dueHeap } from '../../src/internal/dueHeap.js'
import type { StoredRun } from '../../src/memoryRunTable.js'
import { decodeRunRecord, dueAtOf, isTerminal, type RunRecord } from '../../src/RunTable.js'
import { type Clock, newRun, rejection, row, type RunCorruption, runTableSuite, T0 } from '../helpers/runTableSuite.js'

const BAD: { readonly [K in 'status' | 'fence' | 'input']: unknown } = {
  status: 'finished',
  fence: -1,
  input: { n: 'x\u0000' },
}
/** The record's key a corruption writes, and its value. */
const badField = (field: RunCorruption): readonly [string, unknown] =>
  field === 'terminal' ? ['status', 'completed'] : [field, BAD[field]]

runTableSuite({
  name: 'memory',
  open: (clock: Clock) => {
    const records = new Map<string, StoredRun>()
    const store = memoryCheckpointsOver(new Map(), { now: () => clock.now }, records)
    return Promise.resolve({
      store,
      corrupt: (workflowId, field) => {
        const stored = records.get(workflowId)
        if (stored === undefined) throw new Error(`no record ${workflowId}`)
        const raw = JSON.parse(stored.json) as Record<string, unknown>
        const [key, value] = badField(field)
        records.set(workflowId, { ...stored, json: JSON.stringify({ ...raw, [key]: value }) })
        return Promise.resolve()
      },
      dispose: () => store.close(),
    })
  },
})

describe('memoryCheckpoints run table', () => {
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

  it('subscribe tells listeners, after the write, about runs that became runnable or got a cancel request', async () => {
    const clock = { now: T0 }
    const store = memoryCheckpoints({ now: () => clock.now })
    const seen: Array<string> = []
    const unsubscribe = store.runs.subscribe?.((id) => seen.push(id))
    const created = store.runs.create(newRun('pending'))
    expect(seen).to.deep.equal([]) // listeners run after the write, never inside it
    await created
    await store.runs.create(newRun('parked', { wakeAt: T0 + 10 }))
    await store.runs.create(newRun('owned', { owner: 'w1', leaseMs: 1000 }))
    await tick()
    expect(seen).to.deep.equal(['pending', 'parked'])
    await store.runs.claim('w1', { limit: 5, leaseMs: 1000 }) // a claim makes nothing runnable
    await store.runs.renew('owned', 1, 1000)
    await store.runs.release('owned', 1, T0 + 50)
    await store.runs.requestCancel('pending')
    await store.runs.finish('pending', 1, { status: 'cancelled', output: null, error: null })
    await tick()
    expect(seen).to.deep.equal(['pending', 'parked', 'owned', 'pending'])
    unsubscribe?.()
    await store.runs.create(newRun('later'))
    await tick()
    expect(seen).to.have.length(4)
    await store.close()
  })

  it('a throwing listener breaks neither the write nor the other listeners', async () => {
    const store = memoryCheckpoints()
    const seen: Array<string> = []
    store.runs.subscribe?.(() => {
      throw new Error('listener bug')
    })
    store.runs.subscribe?.((id) => seen.push(id))
    expect((await store.runs.create(newRun('a'))).created).to.equal(true)
    await tick()
    expect(seen).to.deep.equal(['a'])
    await store.close()
  })

  it('reads the clock it is given, and Date.now by default', async () => {
    const before = Date.now()
    const store = memoryCheckpoints()
    const { record } = await store.runs.create(newRun('a'))
    expect(record.createdAt).to.be.within(before, Date.now())
    expect(() => memoryCheckpoints({ now: 5 as never })).to.throw('now must be a function')
    await store.close()
  })

  it('a fenced append is checked and written in one step: of two racing holders only the current one writes', async () => {
    const clock = { now: T0 }
    const store = memoryCheckpoints({ now: () => clock.now })
    await store.runs.create(newRun('a', { owner: 'w1', leaseMs: 10 }))
    clock.now += 10
    const [taken] = await store.runs.claim('w2', { limit: 1, leaseMs: 10 })
    const results = await Promise.allSettled([store.append(row('a', 0), 1), store.append(row('a', 0), taken?.fence)])
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'fulfilled'])
    const first = results[0]
    const error: CanoError | undefined =
      first.status === 'rejected' && isCanoFailure(first.reason) ? first.reason.error : undefined
    expect(error).to.include({ _tag: 'LeaseLost', owner: 'w2' })
    expect(await store.loadRun('a')).to.have.length(1)
    await store.close()
  })

  it('close empties the run table too', async () => {
    const records = new Map<string, StoredRun>()
    const store = memoryCheckpointsOver(new Map(), {}, records)
    await store.runs.create(newRun('a'))
    await store.close()
    expect(records.size).to.equal(0)
    expect((await rejection(store.runs.create(newRun('b'))))._tag).to.equal('CheckpointStore')
  })

  // -- the due index ----------------------------------------------------------------------

  /** What a claim must take, from every record: the runnable ones due by `now`, by due time then id. */
  const expectedClaim = (all: ReadonlyArray<RunRecord>, now: number, limit: number, workflow?: string): string[] =>
    all
      .filter((r) => !isTerminal(r.status) && (workflow === undefined || r.workflow === workflow))
      // the record's due time as it was written (`updatedAt` is the time of that write)
      .map((r) => ({ id: r.workflowId, dueAt: dueAtOf(r.status, r, r.updatedAt) }))
      .filter((x): x is { id: string; dueAt: number } => x.dueAt !== null && x.dueAt <= now)
      .sort((a, b) => a.dueAt - b.dueAt || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((x) => x.id)

  type Op =
    | { readonly _tag: 'create'; readonly id: number; readonly wakeIn: number | null; readonly workflow: 'a' | 'b' }
    | { readonly _tag: 'advance'; readonly ms: number }
    | { readonly _tag: 'claim'; readonly limit: number; readonly leaseMs: number; readonly only: boolean }
    | { readonly _tag: 'release'; readonly pick: number; readonly wakeIn: number | null }
    | { readonly _tag: 'finish'; readonly pick: number }
    | { readonly _tag: 'cancel'; readonly id: number }
    | { readonly _tag: 'renew'; readonly pick: number }

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      _tag: fc.constant('create' as const),
      id: fc.nat({ max: 40 }),
      wakeIn: fc.option(fc.integer({ min: -20, max: 60 })),
      workflow: fc.constantFrom('a' as const, 'b' as const),
    }),
    fc.record({ _tag: fc.constant('advance' as const), ms: fc.nat({ max: 30 }) }),
    fc.record({
      _tag: fc.constant('claim' as const),
      limit: fc.integer({ min: 1, max: 6 }),
      leaseMs: fc.integer({ min: 1, max: 80 }),
      only: fc.boolean(),
    }),
    fc.record({ _tag: fc.constant('release' as const), pick: fc.nat(), wakeIn: fc.option(fc.nat({ max: 40 })) }),
    fc.record({ _tag: fc.constant('finish' as const), pick: fc.nat() }),
    fc.record({ _tag: fc.constant('cancel' as const), id: fc.nat({ max: 40 }) }),
    fc.record({ _tag: fc.constant('renew' as const), pick: fc.nat() }),
  )

  it('claims exactly what a scan and sort of every record would, through any history of writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 120 }), async (ops) => {
        const clock = { now: T0 }
        const store = memoryCheckpoints({ now: () => clock.now })
        const held: RunRecord[] = []
        const pickHeld = (pick: number): RunRecord | undefined => held.splice(pick % Math.max(1, held.length), 1)[0]
        for (const o of ops) {
          switch (o._tag) {
            case 'create':
              await store.runs.create(
                newRun(`r${String(o.id)}`, {
                  workflow: o.workflow,
                  ...(o.wakeIn === null ? {} : { wakeAt: clock.now + o.wakeIn }),
                }),
              )
              break
            case 'advance':
              clock.now += o.ms
              break
            case 'claim': {
              const workflow = o.only ? 'a' : undefined
              const expected = expectedClaim(await store.runs.list(), clock.now, o.limit, workflow)
              const got = await store.runs.claim('w', {
                limit: o.limit,
                leaseMs: o.leaseMs,
                ...(workflow === undefined ? {} : { workflows: [workflow] }),
              })
              expect(got.map((r) => r.workflowId)).to.deep.equal(expected)
              for (const r of got) {
                const i = held.findIndex((h) => h.workflowId === r.workflowId)
                if (i >= 0) held.splice(i, 1)
                held.push(r)
              }
              break
            }
            case 'release': {
              const r = pickHeld(o.pick)
              if (r !== undefined)
                await store.runs
                  .release(r.workflowId, r.fence, o.wakeIn === null ? undefined : clock.now + o.wakeIn)
                  .catch(() => undefined)
              break
            }
            case 'finish': {
              const r = pickHeld(o.pick)
              if (r !== undefined)
                await store.runs
                  .finish(r.workflowId, r.fence, { status: 'completed', output: null, error: null })
                  .catch(() => undefined)
              break
            }
            case 'cancel':
              await store.runs.requestCancel(`r${String(o.id)}`)
              break
            case 'renew': {
              const r = held[o.pick % Math.max(1, held.length)]
              if (r !== undefined) await store.runs.renew(r.workflowId, r.fence, 50).catch(() => undefined)
              break
            }
          }
        }
        // at the end, far in the future: every run not ended is due, in order
        clock.now += 1_000
        const expected = expectedClaim(await store.runs.list(), clock.now, 1_000)
        expect((await store.runs.claim('w', { limit: 1_000, leaseMs: 10 })).map((r) => r.workflowId)).to.deep.equal(
          expected,
        )
        await store.close()
      }),
      { numRuns: 150 },
    )
  })

  it('hands out copies: mutating a record got back changes nothing stored', async () => {
    const store = memoryCheckpoints()
    await store.runs.create(newRun('a'))
    const got = (await store.runs.get('a')) as unknown as { input: { sku: string }; status: string }
    got.input.sku = 'changed'
    got.status = 'completed'
    const [claimed] = await store.runs.claim('w', { limit: 1, leaseMs: 100 })
    ;(claimed?.input as { sku: string }).sku = 'changed again'
    const again = await store.runs.get('a')
    expect(again).to.include({ status: 'running' })
    expect(again?.input).to.deep.equal({ sku: 'A1', qty: 2 })
    await store.close()
  })
})

describe('dueHeap', () => {
  it('pops entries by due time then id, whatever the order of the pushes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: -5, max: 5 }), fc.constantFrom('a', 'b', 'c', 'd'))), (xs) => {
        const heap = dueHeap()
        for (const [dueAt, id] of xs) heap.push(dueAt, id)
        expect(heap.size()).to.equal(xs.length)
        const out: Array<[number, string]> = []
        for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
          out.push([top.dueAt, top.workflowId])
          heap.pop()
        }
        const sorted = [...xs].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
        expect(out).to.deep.equal(sorted)
      }),
    )
  })
})

describe('decodeRunRecord', () => {
  it('names the run of a record nested deeper than the codec can walk (a DecodeFailed, not a RangeError)', () => {
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    const record = {
      workflowId: 'deep-1',
      workflow: 'w',
      version: 0,
      initial: 'A',
      status: 'pending',
      owner: null,
      leaseUntil: null,
      fence: 0,
      wakeAt: null,
      input: deep,
      output: null,
      error: null,
      cancelRequested: false,
      createdAt: 1,
      updatedAt: 1,
      endedAt: null,
    }
    let thrown: unknown
    try {
      decodeRunRecord('deep-1', record, 'runs')
    } catch (e: unknown) {
      thrown = e
    }
    expect(thrown).to.be.instanceOf(CanoFailure)
    const error = (thrown as CanoFailure).error
    expect(error._tag).to.equal('DecodeFailed')
    expect(error.message).to.contain('"deep-1"').and.contain('in runs')
  })
})
