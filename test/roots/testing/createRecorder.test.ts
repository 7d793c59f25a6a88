import { expect } from 'chai'
import * as t from 'io-ts'
import { lastValueFrom, tap, toArray } from 'rxjs'

import { createRecorder } from '../../../roots/testing/createRecorder.js'
import { workflow } from '../../../roots/Workflow.js'
import { isCanoFailure, taskExecutionError } from '../../../src/CanoError.js'
import { memoryCheckpoints } from '../../../src/CheckpointStore.js'
import { RetryMode } from '../../../src/RetryMode.js'
import { saga } from '../../../src/Saga.js'
import { router, task } from '../../../src/StateHandler.js'

type Step = 'Check' | 'Small' | 'Large' | 'Done' | 'Rejected'

/** A router workflow: `Check` goes to `Small` or `Large` by the size the run is given in its id. */
const sizes = workflow<Step>()({
  exits: ['Done', 'Rejected'],
  states: {
    Check: router(({ workflowId }) => (workflowId.startsWith('small') ? 'Small' : 'Large')),
    Small: task(() => 'Done' as const),
    Large: task(() => 'Done' as const),
  },
})

/** What an assertion threw: its name, message, and the diff fields. */
const thrown = (f: () => void): { name: string; message: string; actual: unknown; expected: unknown } => {
  try {
    f()
  } catch (e: unknown) {
    if (!(e instanceof Error)) throw e
    const { actual, expected } = e as Error & { actual?: unknown; expected?: unknown }
    return { name: e.name, message: e.message, actual, expected }
  }
  throw new Error('expected the assertion to throw')
}

describe('createRecorder', () => {
  it('records every event of a run it observes, in order, and narrows by tag', async () => {
    const rec = createRecorder<Step>()
    const events = await lastValueFrom(sizes.run$('Check', { workflowId: 'small-1', observers: [rec] }).pipe(toArray()))
    expect(rec.events()).to.deep.equal(events)
    expect(rec.path()).to.deep.equal(['Check', 'Small', 'Done'])
    expect(rec.ofTag('TaskSucceeded').map((e) => [e.state, e.next])).to.deep.equal([
      ['Check', 'Small'],
      ['Small', 'Done'],
    ])
  })

  it('records as an rxjs tap too (onEvent is a plain function)', async () => {
    const rec = createRecorder<Step>()
    await lastValueFrom(sizes.run$('Check', { workflowId: 'large-1' }).pipe(tap(rec.onEvent)))
    expect(rec.path()).to.deep.equal(['Check', 'Large', 'Done'])
  })

  it('assertPath passes on the exact path and fails with a diff on any other', async () => {
    const rec = createRecorder<Step>()
    await sizes.orchestrate('Check', { workflowId: 'small-2', observers: [rec] })
    rec.assertPath(['Check', 'Small', 'Done'])
    expect(thrown(() => rec.assertPath(['Check', 'Large', 'Done']))).to.deep.equal({
      name: 'AssertionError',
      message: 'expected the path "Check" → "Large" → "Done", got "Check" → "Small" → "Done"',
      actual: ['Check', 'Small', 'Done'],
      expected: ['Check', 'Large', 'Done'],
    })
    expect(thrown(() => rec.assertPath(['Check', 'Small'])).message).to.equal(
      'expected the path "Check" → "Small", got "Check" → "Small" → "Done"',
    )
  })

  it('assertPathIncludes passes on a subsequence and says where the order breaks', async () => {
    const rec = createRecorder<Step>()
    await sizes.orchestrate('Check', { workflowId: 'large-2', observers: [rec] })
    rec.assertPathIncludes(['Check', 'Done'])
    rec.assertPathIncludes(['Large'])
    rec.assertPathIncludes([])
    expect(thrown(() => rec.assertPathIncludes(['Large', 'Check'])).message).to.equal(
      'expected the path to pass through "Large" → "Check" in this order, got "Check" → "Large" → "Done": no "Check" after "Large"',
    )
    expect(thrown(() => rec.assertPathIncludes(['Small', 'Done'])).message).to.equal(
      'expected the path to pass through "Small" → "Done" in this order, got "Check" → "Large" → "Done": "Small" was never entered',
    )
  })

  it('keeps the runs apart by workflowId, and a resumed run continues the path of the run it resumes', async () => {
    let failOnce = true
    const flow = workflow<'A' | 'B' | 'Done'>()({
      exits: ['Done'],
      checkpoints: memoryCheckpoints(),
      states: {
        A: task(() => 'B' as const),
        B: task(
          () => {
            if (!failOnce) return 'Done' as const
            failOnce = false
            throw new Error('crash')
          },
          { retry: RetryMode.none() },
        ),
      },
    })
    const rec = createRecorder<'A' | 'B' | 'Done'>()
    await flow.orchestrate('A', { workflowId: 'r-1', observers: [rec] }).catch(() => undefined)
    await flow.orchestrate('A', { workflowId: 'r-2', observers: [rec] })
    await flow.resume('r-1', { observers: [rec] })
    expect(rec.path()).to.deep.equal(['A', 'B', 'A', 'B', 'Done', 'B', 'Done'])
    rec.assertPath(['A', 'B', 'B', 'Done'], { workflowId: 'r-1' })
    rec.assertPath(['A', 'B', 'Done'], { workflowId: 'r-2' })
    expect(thrown(() => rec.assertPath(['A'], { workflowId: 'r-2' })).message).to.equal(
      'expected the path "A" of run "r-2", got "A" → "B" → "Done"',
    )
  })

  it('measures state coverage over every recorded run against the declared states', async () => {
    const rec = createRecorder<Step>()
    await sizes.orchestrate('Check', { workflowId: 'small-3', observers: [rec] })
    expect(rec.unvisited(sizes)).to.deep.equal(['Large', 'Rejected'])
    expect(thrown(() => rec.assertCoverage(sizes))).to.deep.equal({
      name: 'AssertionError',
      message: 'expected every declared state to be entered; never entered: "Large", "Rejected" (3 of 5 covered)',
      actual: ['Check', 'Small', 'Done'],
      expected: ['Check', 'Small', 'Large', 'Done', 'Rejected'],
    })
    await sizes.orchestrate('Check', { workflowId: 'large-3', observers: [rec] })
    rec.assertCoverage(sizes, { except: ['Rejected'] })
    expect(thrown(() => rec.assertCoverage(sizes)).message).to.equal(
      'expected every declared state to be entered; never entered: "Rejected" (4 of 5 covered)',
    )
  })

  it('assertCompensated passes when the saga step was compensated and says why not otherwise', async () => {
    type Order = 'Reserve' | 'Charge' | 'Ship' | 'Done'
    const refunds: string[] = []
    const flow = workflow<Order>()({
      exits: ['Done'],
      states: {
        Reserve: saga({
          output: t.string,
          run: async () => ['Charge', 'r-1'] as const,
          compensate: async () => Promise.reject(taskExecutionError('stock service down')),
          compensateRetry: RetryMode.none(),
        }),
        Charge: saga({
          output: t.string,
          run: async () => ['Ship', 'ch-1'] as const,
          compensate: async (_ctx, id) => void refunds.push(id),
        }),
        Ship: task(async (): Promise<Order> => Promise.reject(new Error('no courier')), { retry: RetryMode.none() }),
      },
    })
    const rec = createRecorder<Order>()
    await flow.orchestrate('Reserve', { workflowId: 'o-1', observers: [rec] }).catch(() => undefined)
    rec.assertCompensated('Charge')
    rec.assertCompensated('Charge', { workflowId: 'o-1' })
    expect(refunds).to.deep.equal(['ch-1'])
    expect(thrown(() => rec.assertCompensated('Reserve'))).to.deep.equal({
      name: 'AssertionError',
      message:
        'expected the saga step of "Reserve" to be compensated: its compensation failed (TaskExecution: stock service down)',
      actual: ['Charge'],
      expected: ['Charge', 'Reserve'],
    })
    expect(thrown(() => rec.assertCompensated('Ship')).message).to.equal(
      'expected the saga step of "Ship" to be compensated: no compensation of it started (compensated: "Charge")',
    )
    expect(thrown(() => rec.assertCompensated('Charge', { workflowId: 'o-2' })).message).to.equal(
      'expected the saga step of "Charge" of run "o-2" to be compensated: no compensation of it started (compensated: (none))',
    )
  })

  it('forgets everything on clear()', async () => {
    const rec = createRecorder<Step>()
    await sizes.orchestrate('Check', { workflowId: 'small-4', observers: [rec] })
    rec.clear()
    expect([rec.events(), rec.path()]).to.deep.equal([[], []])
  })

  it('refuses bad options with a Configuration error naming them', () => {
    const rec = createRecorder<Step>()
    const failure = (f: () => void): unknown => {
      try {
        f()
      } catch (e: unknown) {
        return isCanoFailure(e) ? e.error : e
      }
      return undefined
    }
    expect(failure(() => rec.assertCoverage(sizes, { except: ['Nowhere' as Step] }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'assertCoverage: except names "Nowhere", which the workflow does not declare',
    })
    expect(failure(() => rec.path({ workflowId: '' }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'path: workflowId must be a non-empty string, got ""',
    })
  })
})
