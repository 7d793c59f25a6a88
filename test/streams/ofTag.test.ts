import { expect } from 'chai'

import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { ofTag } from '../../streams/ofTag.js'
import { testScheduler } from '../helpers/virtualTime.js'

const started: WorkflowEvent<'A'> = { _tag: 'RunStarted', workflowId: 'w', at: 0, initial: 'A' }
const entered: WorkflowEvent<'A'> = { _tag: 'StateEntered', workflowId: 'w', at: 1, state: 'A', transition: 0 }
const task: WorkflowEvent<'A'> = { _tag: 'TaskStarted', workflowId: 'w', at: 2, state: 'A', taskId: 'A' }
const done: WorkflowEvent<'A'> = { _tag: 'RunCompleted', workflowId: 'w', at: 3, state: 'A', transitions: 1 }
const values = { s: started, e: entered, t: task, c: done }

describe('ofTag', () => {
  it('keeps the events of one tag, in order, and passes completion and subscription through', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-s-e-t-e-c|', values)
      expectObservable(source.pipe(ofTag('StateEntered'))).toBe('---e---e--|', values)
      expectSubscriptions(source.subscriptions).toBe('^---------!')
    })
  })

  it('keeps the events of any of several tags', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-s-e-t-c|', values).pipe(ofTag('RunStarted', 'RunCompleted'))).toBe('-s-----c|', values)
    })
  })

  it('passes an error through', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-s-e#', values, 'boom').pipe(ofTag('StateEntered'))).toBe('---e#', values, 'boom')
    })
  })

  it('works on any _tag union, not only run events', () => {
    type Shape = { readonly _tag: 'Circle'; readonly r: number } | { readonly _tag: 'Square'; readonly side: number }
    const radii: number[] = []
    testScheduler().run(({ cold, flush }) => {
      const shapes = { a: { _tag: 'Circle', r: 1 } as Shape, b: { _tag: 'Square', side: 2 } as Shape }
      const sub = cold('ab|', shapes)
        .pipe(ofTag('Circle'))
        .subscribe((c) => radii.push(c.r))
      flush()
      sub.unsubscribe()
    })
    expect(radii).to.deep.equal([1])
  })
})
