import { expect } from 'chai'
import * as TE from 'fp-ts/lib/TaskEither.js'
import {
  asyncScheduler,
  EMPTY,
  map,
  type SchedulerAction,
  type SchedulerLike,
  type Subscription,
  timer as rxTimer,
} from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  CanoFailure,
  configurationError,
  isCanoFailure,
  taskExecutionError,
} from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { MAX_TIMER_MS } from '../../src/internal/timers.js'
import { sleep, validateSleep, wakeAt } from '../../src/Sleep.js'
import { task } from '../../src/StateHandler.js'
import type { TaskContext } from '../../src/TaskContext.js'
import type { TaskOutput } from '../../src/TaskOutput.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { eventsInVirtualTime, lastEvent, timeline } from '../helpers/runEvents.js'
import { createVirtualClock, testScheduler } from '../helpers/virtualTime.js'

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

  describe('afterWait: the state after the wait, chosen when it is over (issue 14)', () => {
    type Nap = 'Start' | 'Wait' | 'Retry' | 'GiveUp' | 'Done'
    const napping = (afterWait: (ctx: TaskContext) => TaskOutput<'Retry' | 'GiveUp'>, store?: CheckpointStore) =>
      workflow<Nap>()({
        ...(store === undefined ? {} : { checkpoints: store }),
        exits: ['Done', 'GiveUp'],
        states: {
          Start: task(() => 'Wait' as const),
          Wait: sleep({ wait: 500, afterWait, to: ['Retry', 'GiveUp'] }),
          Retry: task(() => 'Done' as const),
        },
      })

    /** Runs `flow` from Start on a virtual clock, 1 s of it: the exit state, or the run's error. */
    const outcomeOf = async (flow: ReturnType<typeof napping>): Promise<unknown> => {
      const clock = createVirtualClock()
      const end = flow.orchestrate('Start', { scheduler: clock }).then(
        (exit) => exit,
        (e: unknown) => (isCanoFailure(e) ? e.error : e),
      )
      await clock.advance(1_000)
      return end
    }

    it('is called once the wait is over and moves to the state it returns (virtual time)', () => {
      const calls: number[] = []
      const events = eventsInVirtualTime(() =>
        napping(({ attempt }) => {
          calls.push(attempt)
          return 'GiveUp'
        }).run$('Start'),
      )
      expect(calls).to.deep.equal([1])
      expect(
        events.flatMap((e) => (e._tag === 'TaskSucceeded' && e.state === 'Wait' ? [[e.at, e.next, e.attempts]] : [])),
      ).to.deep.equal([[500, 'GiveUp', 1]])
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'GiveUp', at: 500 })
    })

    it('reads its output like a task: a Promise, an Observable, a TaskEither (virtual time)', async () => {
      const observable = eventsInVirtualTime(() =>
        napping(() => rxTimer(20).pipe(map(() => 'Retry' as const))).run$('Start'),
      )
      expect(timeline(observable, ['RunCompleted'])).to.deep.equal([['RunCompleted', 520]])
      expect(await outcomeOf(napping(async () => 'Retry' as const))).to.equal('Done')
      expect(await outcomeOf(napping(() => TE.right('GiveUp' as const)))).to.equal('GiveUp')
    })

    it('fails the state once, without retries: a throw, a Left, an empty Observable, a state outside `to`', async () => {
      let calls = 0
      const thrown = await outcomeOf(
        napping(() => {
          calls += 1
          throw new Error('no decision')
        }),
      )
      expect(calls).to.equal(1)
      expect(thrown).to.deep.include({ _tag: 'TaskExecution', message: 'no decision' })
      const left = await outcomeOf(napping(() => TE.left(taskExecutionError('nope'))))
      expect(left).to.deep.equal(taskExecutionError('nope'))
      const empty = await outcomeOf(napping(() => EMPTY))
      expect(empty).to.deep.equal(taskExecutionError('afterWait of state "Wait" completed without a value'))
      const outside = await outcomeOf(napping(() => 'Start' as never))
      expect(outside).to.deep.include({ _tag: 'Workflow' })
      expect((outside as { message: string }).message).to.match(
        /returned "Start", which is not one of its declared targets/,
      )
    })

    it('is not called when the wait is cancelled', () => {
      let called = false
      const ac = new AbortController()
      let abortAt: Subscription | undefined
      const events = eventsInVirtualTime(() => {
        abortAt = rxTimer(100).subscribe(() => ac.abort())
        return napping(() => ((called = true), 'Retry')).run$('Start', { signal: ac.signal })
      })
      abortAt?.unsubscribe()
      expect(called).to.equal(false)
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Wait', at: 100 })
    })

    it('a resumed run waits only what was left, then calls it (virtual time, a real store)', async () => {
      const clock = createVirtualClock()
      const store = memoryCheckpoints()
      const calls: number[] = []
      const flow = napping(() => (calls.push(clock.now()), 'Retry'), store)
      // the process "dies" at 200, in the middle of the 500 ms wait
      const first = flow.run$('Start', { workflowId: 'nap-1', scheduler: clock }).subscribe()
      await clock.advance(200)
      first.unsubscribe()
      expect(calls).to.deep.equal([])
      expect((await store.loadRun('nap-1')).map((r) => r.kind)).to.deep.equal([
        'StateEntry',
        'StateEntry',
        'TimerArmed',
      ])
      const resumed: WorkflowEvent<Nap>[] = []
      const second = flow.resume$('nap-1', { scheduler: clock }).subscribe((e) => resumed.push(e))
      await clock.advance(1_000)
      second.unsubscribe()
      expect(calls).to.deep.equal([500])
      expect(resumed.find((e) => e._tag === 'TimerArmed')).to.deep.include({ wakeAt: 500 })
      expect(lastEvent(resumed)).to.deep.include({ _tag: 'RunCompleted', state: 'Done', at: 500 })
    })

    it('a run that died during afterWait calls it again at once on resume: the wait is never repeated (virtual time)', async () => {
      const clock = createVirtualClock()
      const store = memoryCheckpoints()
      const calls: number[] = []
      let decide = false
      const flow = napping(() => {
        calls.push(clock.now())
        return decide ? 'GiveUp' : new Promise<never>(() => undefined)
      }, store)
      const first = flow.run$('Start', { workflowId: 'nap-2', scheduler: clock }).subscribe()
      await clock.advance(600)
      first.unsubscribe()
      decide = true
      const resumed: WorkflowEvent<Nap>[] = []
      const second = flow.resume$('nap-2', { scheduler: clock }).subscribe((e) => resumed.push(e))
      await clock.advance(10)
      second.unsubscribe()
      expect(calls).to.deep.equal([500, 600])
      expect(lastEvent(resumed)).to.deep.include({ _tag: 'RunCompleted', state: 'GiveUp', at: 600 })
      // the resumed visit armed nothing new: it read the wake-up instant the first visit persisted
      expect(resumed.filter((e) => e._tag === 'CheckpointAppended' && e.kind === 'TimerArmed')).to.deep.equal([])
    })

    it('draws its declared targets in toMermaid', () => {
      const diagram = napping(() => 'Retry').toMermaid()
      // every state is drawn under an alias: read them back, then the edges between them
      const alias = (name: string): string => new RegExp(`state "${name}" as (s\\d+)`).exec(diagram)?.[1] ?? '?'
      expect(diagram).to.include(`  ${alias('Wait')} --> ${alias('Retry')}\n  ${alias('Wait')} --> ${alias('GiveUp')}`)
    })

    it('is typed like a task: `to` narrows the return, then and afterWait exclude each other', () => {
      const flow = workflow<Nap>()({
        exits: ['Done', 'GiveUp'],
        states: ({ sleep: nap, task: tk }) => ({
          Start: tk(() => 'Wait'),
          Wait: nap({
            wait: 10,
            afterWait: ({ res }) => (res.keys().length > 0 ? 'Retry' : 'GiveUp'),
            to: ['Retry', 'GiveUp'],
          }),
          Retry: tk(() => 'Done'),
        }),
      })
      expect(typeof flow.orchestrate).to.equal('function')
      // @ts-expect-error 'Done' is not among the declared targets
      sleep({ wait: 1, afterWait: () => 'Done' as const, to: ['Retry'] })
      // @ts-expect-error then and afterWait exclude each other
      sleep({ wait: 1, then: 'Done', afterWait: () => 'Done' as const })
      workflow<Nap>()({
        exits: ['Done'],
        states: {
          Start: task(() => 'Wait' as const),
          // @ts-expect-error a state outside the workflow's union
          Wait: sleep({ wait: 1, afterWait: () => 'Elsewhere' as const }),
          Retry: task(() => 'Done' as const),
          GiveUp: task(() => 'Done' as const),
        },
      })
    })

    it('is validated at definition time: both then and afterWait, afterWait not a function, neither', () => {
      const where = 'state "W"'
      const raw = (fields: Record<string, unknown>) =>
        ({
          _tag: 'Timer',
          wait: 1,
          then: undefined,
          afterWait: undefined,
          config: {},
          to: undefined,
          name: undefined,
          ...fields,
        }) as never
      expect(validateSleep(raw({ then: 'Done', afterWait: () => 'Done' }), where)).to.deep.equal(
        configurationError('state "W": give then or afterWait, not both (afterWait chooses the next state)'),
      )
      expect(validateSleep(raw({ afterWait: 'Done' }), where)).to.deep.equal(
        configurationError('state "W": afterWait must be a function returning the next state, got "Done"'),
      )
      expect(validateSleep(raw({}), where)).to.deep.equal(
        configurationError('state "W": then must be a state name (or give afterWait to choose it after the wait)'),
      )
      expect(validateSleep(sleep({ wait: 1, afterWait: () => 'Done' }), where)).to.equal(undefined)
      expect(() =>
        workflow<Step>()({
          exits: ['Done'],
          states: { Start: task(() => 'Wait' as const), Wait: raw({ afterWait: 42 }) },
        }),
      ).to.throw(CanoFailure, 'state "Wait": afterWait must be a function')
    })
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
