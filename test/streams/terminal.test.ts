import { expect } from 'chai'
import { lastValueFrom } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { taskExecutionError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { task } from '../../src/StateHandler.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { terminal } from '../../streams/terminal.js'
import { testScheduler } from '../helpers/virtualTime.js'

const values: Record<string, WorkflowEvent<'A'>> = {
  s: { _tag: 'RunStarted', workflowId: 'w', at: 0, initial: 'A' },
  e: { _tag: 'StateEntered', workflowId: 'w', at: 1, state: 'A', transition: 0 },
  c: { _tag: 'RunCompleted', workflowId: 'w', at: 3, state: 'A', transitions: 1 },
  f: { _tag: 'RunFailed', workflowId: 'w', at: 3, state: 'A', error: taskExecutionError('no') },
}

describe('terminal', () => {
  it("keeps only the run's terminal event and completes with the source", () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-s-e--c|', values)
      expectObservable(source.pipe(terminal())).toBe('------c|', values)
      expectSubscriptions(source.subscriptions).toBe('^------!')
    })
  })

  it('keeps each terminal tag (a failed run too)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-s-f|', values).pipe(terminal())).toBe('---f|', values)
    })
  })

  it("gives a real run's last event", async () => {
    const flow = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: { A: task(() => Promise.reject(new Error('no')), { retry: RetryMode.none() }) },
    })
    const end = await lastValueFrom(flow.run$('A', { workflowId: 'x' }).pipe(terminal()))
    expect(end._tag).to.equal('RunFailed')
    expect(end.state).to.equal('A')
  })
})
