/**
 * The group-commit queue of the SQL stores (roots/stores/internal/groupCommitQueue.ts): one write per
 * tick, later items waiting for the write in flight, and `drain` waiting only for what was queued before
 * it was called (a read or a lease renewal on a busy store is not held back by writes queued after it).
 */
import { expect } from 'chai'

import { groupCommitQueue } from '../../../roots/stores/internal/groupCommitQueue.js'

/** A queue whose writes end when the test says so. */
const controlled = () => {
  const batches: Array<ReadonlyArray<number>> = []
  const ends: Array<() => void> = []
  const queue = groupCommitQueue<number>((batch) => {
    batches.push(batch)
    return new Promise<void>((resolve) => ends.push(resolve))
  })
  return { queue, batches, ends }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('groupCommitQueue', () => {
  it('writes the items of one tick together, and the items queued during a write right after it', async () => {
    const { queue, batches, ends } = controlled()
    queue.push(1)
    queue.push(2)
    await tick()
    queue.push(3)
    queue.push(4)
    await tick()
    expect(batches).to.deep.equal([[1, 2]])
    ends[0]?.()
    await tick()
    expect(batches).to.deep.equal([
      [1, 2],
      [3, 4],
    ])
  })

  it('drain resolves once the items queued before it are written, not waiting for items queued after', async () => {
    const { queue, batches, ends } = controlled()
    queue.push(1)
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    expect(batches).to.deep.equal([[1]]) // drain writes what is queued at once
    queue.push(2) // queued after the drain: waits for the write in flight
    ends[0]?.()
    await draining
    expect(drained).to.equal(true)
    await tick()
    // item 2 went out after the drain resolved, and the drain never waited for its write to end
    expect(batches).to.deep.equal([[1], [2]])
    expect(ends).to.have.length(2)
  })

  it('drain waits for every item queued before it, across writes', async () => {
    const { queue, ends } = controlled()
    queue.push(1)
    await tick() // [1] in flight
    queue.push(2) // waits for it
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    ends[0]?.()
    await tick()
    expect(drained).to.equal(false) // [2] is being written now
    ends[1]?.()
    await draining
    expect(drained).to.equal(true)
  })
})
