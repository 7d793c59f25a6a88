/**
 * Issue 13, item 1: every run ends with exactly one terminal event for its observers and the hooks
 * adapter, unsubscribed runs included. Leaving early (take, takeUntil, switchMap, timeout(), a `break`
 * out of `for await`) is a cancellation: `RunCancelled` with `Cancelled: run unsubscribed (the subscriber
 * left)`, sagas rolled back, the in-flight task's signal aborted. Each operator is tried on a run parked
 * in a task, a timer (`sleep`), a poll, a stepped and a saga state, in virtual time.
 */
import { expect } from 'chai'
import * as t from 'io-ts'
import {
  catchError,
  EMPTY,
  filter,
  map,
  NEVER,
  type Observable,
  switchMap,
  take,
  takeUntil,
  timeout,
  timer,
  toArray,
} from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { cancelledError } from '../../src/CanoError.js'
import { memoryCheckpoints } from '../../src/CheckpointStore.js'
import { poll, PollOutcome } from '../../src/Poll.js'
import { Resources } from '../../src/Resources.js'
import { UNSUBSCRIBED } from '../../src/RunMachine.js'
import { saga } from '../../src/Saga.js'
import { sleep } from '../../src/Sleep.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import { isTerminalEvent, type TerminalEvent, type WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkflowObserver } from '../../src/WorkflowObserver.js'
import { flushMicrotasks, testScheduler } from '../helpers/virtualTime.js'

type Step = 'Start' | 'Park' | 'Done'
type Kind = 'task' | 'timer' | 'poll' | 'stepped' | 'saga'

/** What one run's observer saw: every event (`onEvent`) and every `onRunEnd`. */
interface Seen {
  readonly events: WorkflowEvent<Step>[]
  readonly ends: TerminalEvent<Step>[]
}

const observe = (): Seen & { readonly observer: WorkflowObserver<Step> } => {
  const events: WorkflowEvent<Step>[] = []
  const ends: TerminalEvent<Step>[] = []
  return { events, ends, observer: { onEvent: (e) => events.push(e), onRunEnd: (e) => ends.push(e) } }
}

/**
 * A workflow that moves from `Start` to `Park` and stays there, `Park` being a state of `kind`; a saga
 * `Start` records its output, so leaving must compensate it. `compensated` and `signals` say what ran.
 */
const parkedIn = (kind: Kind) => {
  const compensated: string[] = []
  const signals: AbortSignal[] = []
  const park = {
    task: task<Step>((ctx) => {
      signals.push(ctx.signal)
      return NEVER
    }),
    timer: sleep<Step>({ wait: 60_000, then: 'Done' }),
    poll: poll<Step>(() => PollOutcome.pending(10)),
    stepped: stepped<Step, number>({
      cursor: t.number,
      step: (_ctx, c) => timer(10).pipe(map(() => StepOutcome.more((c ?? 0) + 1))),
    }),
    saga: task<Step>((ctx) => {
      signals.push(ctx.signal)
      return NEVER
    }),
  }[kind]
  const start =
    kind === 'saga'
      ? saga<Step, string>({
          output: t.string,
          run: () => ['Park', 'charge-1'],
          compensate: (_ctx, charge) => void compensated.push(charge),
        })
      : task<Step>(() => 'Park')
  const flow = workflow<Step>()({ exits: ['Done'], states: { Start: start, Park: park } })
  return { flow, compensated, signals }
}

/** The one terminal event a run's observer saw, checked to be the last event and the one `onRunEnd` got. */
const onlyEnd = (seen: Seen): TerminalEvent<Step> => {
  const terminals = seen.events.filter(isTerminalEvent)
  expect(terminals, 'exactly one terminal event').to.have.length(1)
  expect(seen.events.at(-1), 'the terminal event is the last').to.equal(terminals[0])
  expect(seen.ends, 'onRunEnd once, with it').to.deep.equal(terminals)
  return terminals[0] as TerminalEvent<Step>
}

/** The ways to leave a run early, each applied to one run's events while it is parked in `Park`. */
const leaving: ReadonlyArray<readonly [string, (run$: Observable<WorkflowEvent<Step>>) => Observable<unknown>]> = [
  // take(1) of the parked state's TaskStarted: the subscriber leaves while the state runs
  [
    'take(1)',
    (run$) =>
      run$.pipe(
        filter((e) => e._tag === 'TaskStarted' && e.state === 'Park'),
        take(1),
      ),
  ],
  ['takeUntil', (run$) => run$.pipe(takeUntil(timer(50)))],
  [
    'timeout()',
    (run$) =>
      run$.pipe(
        timeout({ each: 5 }),
        catchError(() => EMPTY),
      ),
  ],
]

describe('the end of a run (issue 13: one terminal event for every run)', () => {
  for (const kind of ['task', 'timer', 'poll', 'stepped', 'saga'] as const) {
    describe(`a run parked in a ${kind} state`, () => {
      for (const [name, leave] of leaving)
        it(`${name}: its observers see RunCancelled once, with the reason; the run is cancelled`, () => {
          const { flow, compensated, signals } = parkedIn(kind)
          const seen = observe()
          let end: TerminalEvent<Step> | undefined
          testScheduler().run(({ flush }) => {
            const sub = leave(flow.run$('Start', { workflowId: 'w', observers: [seen.observer] })).subscribe()
            flush()
            sub.unsubscribe()
            end = onlyEnd(seen)
          })
          expect(end).to.deep.include({ _tag: 'RunCancelled', state: 'Park', error: UNSUBSCRIBED })
          expect(UNSUBSCRIBED).to.deep.equal(cancelledError('run unsubscribed (the subscriber left)'))
          // the in-flight task's signal aborted with the same reason
          expect(signals.map((s) => [s.aborted, s.reason as unknown])).to.deep.equal(
            kind === 'task' || kind === 'saga' ? [[true, UNSUBSCRIBED]] : [],
          )
          if (kind === 'saga') {
            // a cancellation rolls the saga back: compensated before the terminal event
            expect(compensated).to.deep.equal(['charge-1'])
            expect(seen.events.map((e) => e._tag).slice(-3)).to.deep.equal([
              'CompensationStarted',
              'Compensated',
              'RunCancelled',
            ])
          }
        })

      it('switchMap: each run switched away from (and the last one, left) ends RunCancelled once', () => {
        const { flow, compensated } = parkedIn(kind)
        const runs = [observe(), observe()]
        testScheduler().run(({ flush }) => {
          const sub = timer(0, 50)
            .pipe(
              take(2),
              switchMap((i) =>
                flow.run$('Start', {
                  workflowId: `w${i}`,
                  observers: [(runs[i] as Seen & { observer: WorkflowObserver<Step> }).observer],
                }),
              ),
              takeUntil(timer(120)),
            )
            .subscribe()
          flush()
          sub.unsubscribe()
        })
        const ends = runs.map((r) => onlyEnd(r))
        expect(ends.map((e) => [e._tag, e.workflowId, e.at, e.state])).to.deep.equal([
          ['RunCancelled', 'w0', 50, 'Park'],
          ['RunCancelled', 'w1', 120, 'Park'],
        ])
        expect(compensated).to.deep.equal(kind === 'saga' ? ['charge-1', 'charge-1'] : [])
      })
    })
  }

  it('take(1) on run$ itself: RunStarted, then the run is cancelled before its first state runs', () => {
    let ran = false
    const seen = observe()
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { Start: task(() => ((ran = true), 'Done' as const)), Park: task(() => 'Done' as const) },
    })
    testScheduler().run(({ flush, expectObservable }) => {
      expectObservable(
        flow.run$('Start', { workflowId: 'w', observers: [seen.observer] }).pipe(
          take(1),
          map((e) => e._tag),
        ),
      ).toBe('(a|)', { a: 'RunStarted' })
      flush()
    })
    expect(ran).to.equal(false)
    expect(onlyEnd(seen)).to.deep.include({ _tag: 'RunCancelled', error: UNSUBSCRIBED })
    expect(seen.events.map((e) => e._tag)).to.deep.equal(['RunStarted', 'StateEntered', 'RunCancelled'])
  })

  it('the subscriber that left sees nothing after it left; the observers see the rest of the run', () => {
    const { flow, compensated } = parkedIn('saga')
    const seen = observe()
    const received: string[] = []
    testScheduler().run(({ flush }) => {
      const sub = flow
        .run$('Start', { workflowId: 'w', observers: [seen.observer] })
        .pipe(takeUntil(timer(10)))
        .subscribe((e) => received.push(e._tag))
      flush()
      sub.unsubscribe()
    })
    expect(compensated).to.deep.equal(['charge-1'])
    expect(received).to.not.include('RunCancelled')
    expect(received).to.not.include('Compensated')
    expect(seen.events.map((e) => e._tag)).to.include.members(['Compensated', 'RunCancelled'])
  })

  it('a run that ends by itself still ends once: no second terminal event when its subscriber leaves after', () => {
    const seen = observe()
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { Start: task(() => 'Park' as const), Park: sleep({ wait: 10, then: 'Done' }) },
    })
    testScheduler().run(({ flush }) => {
      const sub = flow.run$('Start', { workflowId: 'w', observers: [seen.observer] }).subscribe()
      flush()
      sub.unsubscribe()
    })
    expect(onlyEnd(seen)._tag).to.equal('RunCompleted')
  })

  it('tears resources down after the rollback of an unsubscribed run, once', () => {
    const log: string[] = []
    const flow = workflow<Step>()({
      resources: Resources.of({
        r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
      }),
      exits: ['Done'],
      states: {
        Start: saga({ output: t.string, run: () => ['Park', 'x'], compensate: () => void log.push('compensate') }),
        Park: task(() => NEVER),
      },
    })
    return (async () => {
      const seen = observe()
      const sub = flow.run$('Start', { workflowId: 'w', observers: [seen.observer] }).subscribe()
      while (!seen.events.some((e) => e._tag === 'TaskStarted' && e.state === 'Park')) await flushMicrotasks()
      sub.unsubscribe()
      while (seen.ends.length === 0) await flushMicrotasks()
      expect(log).to.deep.equal(['setup', 'compensate', 'teardown'])
      expect(onlyEnd(seen)).to.deep.include({ _tag: 'RunCancelled', error: UNSUBSCRIBED })
    })()
  })

  describe('for await', () => {
    it('a break cancels the run like an unsubscription: RunCancelled once, the saga compensated', async () => {
      const { flow, compensated } = parkedIn('saga')
      const seen = observe()
      const tags: string[] = []
      for await (const e of flow.events('Start', { workflowId: 'w', observers: [seen.observer] })) {
        tags.push(e._tag)
        if (e._tag === 'TaskStarted' && e.state === 'Park') break
      }
      while (seen.ends.length === 0) await flushMicrotasks()
      expect(tags.at(-1)).to.equal('TaskStarted')
      expect(compensated).to.deep.equal(['charge-1'])
      expect(onlyEnd(seen)).to.deep.include({ _tag: 'RunCancelled', state: 'Park', error: UNSUBSCRIBED })
    })

    it('a throw in the loop body cancels the run the same way', async () => {
      const { flow, signals } = parkedIn('task')
      const seen = observe()
      const thrown = await (async () => {
        for await (const e of flow.events('Start', { workflowId: 'w', observers: [seen.observer] }))
          if (e._tag === 'TaskStarted' && e.state === 'Park') throw new Error('stop')
      })().catch((e: unknown) => e)
      expect(thrown).to.be.instanceOf(Error)
      while (seen.ends.length === 0) await flushMicrotasks()
      expect(signals.map((s) => s.reason as unknown)).to.deep.equal([UNSUBSCRIBED])
      expect(onlyEnd(seen)).to.deep.include({ _tag: 'RunCancelled', error: UNSUBSCRIBED })
    })
  })

  describe('a run on a store with a run table (an owned run)', () => {
    it('unsubscribing cancels it: RunCancelled once, the saga compensated, the run recorded cancelled', async () => {
      const store = memoryCheckpoints()
      const compensated: string[] = []
      const flow = workflow<Step>()({
        exits: ['Done'],
        checkpoints: store,
        states: {
          Start: saga({
            output: t.string,
            run: () => ['Park', 'c-1'],
            compensate: (_c, o) => void compensated.push(o),
          }),
          Park: sleep({ wait: 60_000, then: 'Done' }),
        },
      })
      const seen = observe()
      const sub = flow.run$('Start', { workflowId: 'owned-1', observers: [seen.observer] }).subscribe()
      while (!seen.events.some((e) => e._tag === 'TimerArmed')) await flushMicrotasks()
      sub.unsubscribe()
      while (seen.ends.length === 0) await flushMicrotasks()
      expect(onlyEnd(seen)).to.deep.include({ _tag: 'RunCancelled', state: 'Park', error: UNSUBSCRIBED })
      expect(compensated).to.deep.equal(['c-1'])
      let record = await store.runs.get('owned-1')
      while (record?.status === 'running') {
        await flushMicrotasks()
        record = await store.runs.get('owned-1')
      }
      expect(record?.status).to.equal('cancelled')
      expect(record?.leaseUntil).to.equal(null)
    })

    it('a run whose lease is lost ends once for its observers: RunFailed with LeaseLost, nothing rolled back', async () => {
      const clock = { now: 1_000_000 }
      const store = memoryCheckpoints({ now: () => clock.now })
      const compensated: string[] = []
      let proceed: (() => void) | undefined
      const flow = workflow<Step>()({
        exits: ['Done'],
        checkpoints: store,
        states: {
          Start: saga({
            output: t.string,
            run: () => ['Park', 'c-1'],
            compensate: (_c, o) => void compensated.push(o),
          }),
          Park: task(() => new Promise<'Done'>((resolve) => (proceed = () => resolve('Done')))),
        },
      })
      const seen = observe()
      const sub = flow.run$('Start', { workflowId: 'lost', leaseMs: 30_000, observers: [seen.observer] }).subscribe()
      while (proceed === undefined) await flushMicrotasks()
      // the lease runs out and another worker claims the run; the next append is refused
      clock.now += 30_001
      const [taken] = await store.runs.claim('worker-b', { limit: 1, leaseMs: 30_000 })
      expect(taken?.workflowId).to.equal('lost')
      proceed()
      while (seen.ends.length === 0) await flushMicrotasks()
      sub.unsubscribe()
      const end = onlyEnd(seen)
      expect(end._tag).to.equal('RunFailed')
      expect(end._tag === 'RunFailed' && end.error._tag).to.equal('LeaseLost')
      expect(compensated).to.deep.equal([])
    })

    it('a run left while it is being claimed starts cancelled: RunStarted, RunCancelled, nothing runs', async () => {
      let ran = false
      const flow = workflow<Step>()({
        exits: ['Done'],
        checkpoints: memoryCheckpoints(),
        states: { Start: task(() => ((ran = true), 'Done' as const)), Park: task(() => 'Done' as const) },
      })
      const seen = observe()
      // the claim is a Promise: unsubscribing at once leaves before it lands
      flow
        .run$('Start', { workflowId: 'owned-2', observers: [seen.observer] })
        .subscribe()
        .unsubscribe()
      while (seen.ends.length === 0) await flushMicrotasks()
      expect(ran).to.equal(false)
      expect(seen.events.map((e) => e._tag)).to.deep.equal(['RunStarted', 'RunCancelled'])
      expect(onlyEnd(seen)).to.deep.include({ error: UNSUBSCRIBED })
    })
  })

  it('collects nothing more from a run once left (toArray sees what came before)', () => {
    const { flow } = parkedIn('timer')
    testScheduler().run(({ expectObservable }) => {
      expectObservable(
        flow.run$('Start', { workflowId: 'w' }).pipe(
          map((e) => e._tag),
          takeUntil(timer(5)),
          toArray(),
        ),
      ).toBe('5ms (a|)', {
        a: ['RunStarted', 'StateEntered', 'TaskStarted', 'TaskSucceeded', 'StateEntered', 'TaskStarted', 'TimerArmed'],
      })
    })
  })
})
