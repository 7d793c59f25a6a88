/**
 * The in-memory run table (src/memoryRunTable.ts): the shared run-table suite on `memoryCheckpoints`,
 * plus what only the memory store has (in-process `subscribe`, its `now` option).
 */
import { expect } from 'chai'

import type { CanoError } from '../../codecs/CanoError.js'
import { isCanoFailure } from '../../src/CanoError.js'
import { memoryCheckpoints, memoryCheckpointsOver } from '../../src/CheckpointStore.js'
import type { StoredRun } from '../../src/memoryRunTable.js'
import { type Clock, newRun, rejection, row, runTableSuite, T0 } from '../helpers/runTableSuite.js'

const BAD: { readonly [K in 'status' | 'fence' | 'input']: unknown } = {
  status: 'finished',
  fence: -1,
  input: { n: 'x\u0000' },
}

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
        records.set(workflowId, { ...stored, json: JSON.stringify({ ...raw, [field]: BAD[field] }) })
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
})
