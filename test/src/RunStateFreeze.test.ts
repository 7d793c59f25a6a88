/**
 * Snapshots stay frozen whatever the application does with immer: `reduceRunState` produces through a
 * private `Immer` instance, so `setAutoFreeze(false)` on immer's shared instance (an application
 * configuring immer for its own state) does not reach it. (issue 13)
 */
import { expect } from 'chai'
import { produce, setAutoFreeze } from 'immer'
import { lastValueFrom, toArray } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { initialRunState, reduceRunState, type RunState } from '../../src/RunState.js'
import { task } from '../../src/StateHandler.js'

/** Every object reachable from `u` (its own enumerable properties), `u` included. */
const objectsIn = (u: unknown): object[] =>
  typeof u === 'object' && u !== null ? [u, ...Object.values(u).flatMap(objectsIn)] : []

describe('RunState under an application that turned immer auto-freeze off', () => {
  afterEach(() => setAutoFreeze(true))

  it('reduceRunState and snapshot$ still produce deeply frozen snapshots', async () => {
    setAutoFreeze(false)
    // the application's own immer state is no longer frozen: the setting took effect
    expect(Object.isFrozen(produce({ n: 0 }, (d) => void (d.n = 1)))).to.equal(false)

    const flow = workflow<'A' | 'B' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: task(({ progress }) => {
          progress({ nested: { done: 1 } })
          return 'B' as const
        }),
        B: task(() => 'Done' as const),
      },
    })
    const events = await lastValueFrom(flow.run$('A', { workflowId: 'freeze' }).pipe(toArray()))
    const folded = events.reduce<RunState<'A' | 'B' | 'Done'>>(reduceRunState, initialRunState('freeze'))
    const snapshots = await lastValueFrom(flow.snapshot$('A', { workflowId: 'freeze' }).pipe(toArray()))

    expect(folded.status).to.equal('completed')
    expect(folded.history).to.deep.equal(['A', 'B', 'Done'])
    expect(snapshots.at(-1)?.status).to.equal('completed')
    for (const snapshot of [folded, ...snapshots]) {
      const thawed = objectsIn(snapshot).filter((o) => !Object.isFrozen(o))
      expect(thawed, JSON.stringify(snapshot)).to.deep.equal([])
    }
    expect(snapshots.some((s) => objectsIn(s.progress).length === 2)).to.equal(true)
  })
})
