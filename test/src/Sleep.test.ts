import { expect } from 'chai'
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription, timer as rxTimer } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { cancelledError, CanoFailure, configurationError } from '../../src/CanoError.js'
import { MAX_TIMER_MS } from '../../src/internal/timers.js'
import { sleep, validateSleep, wakeAt } from '../../src/Sleep.js'
import { task } from '../../src/StateHandler.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { eventsInVirtualTime, lastEvent, timeline } from '../helpers/runEvents.js'
import { testScheduler } from '../helpers/virtualTime.js'

type Step = 'Start' | 'Wait' | 'Done'

describe('sleep', () => {
  it('waits the duration on the run scheduler, reporting the wake-up instant', () => {
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: 500, then: 'Done' }) },
      }).run$('Start', { workflowId: 't1' }),
    )
    const armed = events.find((e) => e._tag === 'TimerArmed')
    expect(armed).to.deep.equal({
      _tag: 'TimerArmed',
      workflowId: 't1',
      at: 0,
      state: 'Wait',
      taskId: 'Wait',
      wakeAt: 500,
    })
    expect(timeline(events, ['RunCompleted'])).to.deep.equal([['RunCompleted', 500]])
  })

  it('moves on at once when the instant is already past, and computes the wait from the context', () => {
    const past = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: new Date(-1_000), then: 'Done' }) },
      }).run$('Start', { workflowId: 't2' }),
    )
    expect(timeline(past, ['RunCompleted'])).to.deep.equal([['RunCompleted', 0]])
    const computed = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Start: task(() => 'Wait' as const),
          Wait: sleep({ wait: (ctx) => (ctx.workflowId === 't3' ? 250 : 1), then: 'Done' }),
        },
      }).run$('Start', { workflowId: 't3' }),
    )
    expect(timeline(computed, ['RunCompleted'])).to.deep.equal([['RunCompleted', 250]])
  })

  it('is interrupted at once by cancellation', () => {
    const ac = new AbortController()
    let abortAt: Subscription | undefined
    const events = eventsInVirtualTime(() => {
      abortAt = rxTimer(120).subscribe(() => ac.abort())
      return workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: 60_000, then: 'Done' }) },
      }).run$('Start', { workflowId: 't4', signal: ac.signal })
    })
    abortAt?.unsubscribe()
    expect(lastEvent(events)).to.deep.equal({
      _tag: 'RunCancelled',
      workflowId: 't4',
      at: 120,
      state: 'Wait',
      error: cancelledError(),
      transitions: 2,
    })
  })

  it('reaches an instant further away than one JS timer can hold in hops of at most 2^31 - 1 ms', () => {
    const DAY = 86_400_000
    const delays: number[] = []
    const events: Array<WorkflowEvent<Step>> = []
    testScheduler().run(({ flush }) => {
      // the run's scheduler, recording every delay it is asked for (a real timer would fire an
      // overflowing delay after 1 ms)
      const recording: SchedulerLike = {
        now: () => asyncScheduler.now(),
        schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T) => {
          delays.push(delay ?? 0)
          return asyncScheduler.schedule(work, delay, state)
        },
      }
      const sub = workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: new Date(30 * DAY), then: 'Done' }) },
      })
        .run$('Start', { workflowId: 't6', scheduler: recording })
        .subscribe((e) => events.push(e))
      flush()
      sub.unsubscribe()
    })
    expect(delays).to.deep.equal([MAX_TIMER_MS, 30 * DAY - MAX_TIMER_MS])
    expect(timeline(events, ['RunCompleted'])).to.deep.equal([['RunCompleted', 30 * DAY]])
  })

  it('fails the run with a Configuration error when a computed wait is invalid', () => {
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: () => Number.NaN, then: 'Done' }) },
      }).run$('Start', { workflowId: 't5' }),
    )
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
      configurationError('state "Wait": wait must be a duration in [0, 2147483647] ms, got NaN'),
    )
  })

  it('rejects an invalid static wait at definition time', () => {
    expect(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Start: task(() => 'Wait' as const), Wait: sleep({ wait: -1, then: 'Done' }) },
      }),
    ).to.throw(CanoFailure, 'state "Wait": wait must be a duration')
    expect(validateSleep(sleep({ wait: new Date('nope'), then: 'Done' }), 'state "W"')).to.deep.equal(
      configurationError('state "W": wait is an invalid Date'),
    )
  })

  describe('wakeAt', () => {
    it('adds a duration to now and takes an instant as is', () => {
      expect(wakeAt(5_000, 1_000, 'w')).to.deep.equal({ _tag: 'Right', right: 6_000 })
      expect(wakeAt(new Date(42), 1_000, 'w')).to.deep.equal({ _tag: 'Right', right: 42 })
      expect(wakeAt('soon', 0, 'w')._tag).to.equal('Left')
      expect(wakeAt(Number.POSITIVE_INFINITY, 0, 'w')._tag).to.equal('Left')
    })
  })
})
