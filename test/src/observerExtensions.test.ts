/**
 * The observer hooks beyond the events (src/WorkflowObserver.ts): `forRun`, `aroundAttempt`, `note` and
 * `onAbandon`, through real runs of the engine; and `latencyMs` of `CheckpointAppended`.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

import { expect } from 'chai'
import * as t from 'io-ts'
import { lastValueFrom, map, Subject, timer, toArray } from 'rxjs'

import { createRuntime } from '../../roots/Runtime.js'
import { workflow } from '../../roots/Workflow.js'
import { batch } from '../../src/Batch.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { RetryMode } from '../../src/RetryMode.js'
import { saga } from '../../src/Saga.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { AttemptScope, RunInfo, WorkflowObserver } from '../../src/WorkflowObserver.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { createVirtualClock, flushMicrotasks } from '../helpers/virtualTime.js'

/** What an attempt's user code saw of the hook's context, by `kind:taskId#attempt`. */
const als = new AsyncLocalStorage<string>()

/** An observer whose `aroundAttempt` runs each attempt inside `als` set to its scope, and records the scopes. */
const scoping = () => {
  const scopes: AttemptScope[] = []
  const observer: WorkflowObserver = {
    aroundAttempt: (scope, start) => {
      scopes.push(scope)
      als.run(`${scope.kind}:${scope.taskId}#${scope.attempt}`, start)
    },
  }
  return { observer, scopes }
}

const untilIdle = async (clock: ReturnType<typeof createVirtualClock>, p: Promise<unknown>): Promise<void> => {
  const settled = { done: false }
  void p.then(
    () => (settled.done = true),
    () => (settled.done = true),
  )
  while (!settled.done) await clock.runUntilIdle(60_000)
}

/** Waits until `check` holds (each microtask turn); fails after 1 000 turns. */
const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 1_000 && !check(); i++) await flushMicrotasks()
  expect(check(), 'condition never held').to.equal(true)
}

describe('WorkflowObserver hooks', () => {
  describe('forRun', () => {
    it('is asked once per run, with what the run is; the observer it returns sees the run', async () => {
      const infos: RunInfo[] = []
      const seen: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        name: 'orders',
        version: 3,
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        observers: [
          {
            forRun: (info) => {
              infos.push(info)
              return { onEvent: (e) => void seen.push(`${info.workflowId}:${e._tag}`) }
            },
            onEvent: () => expect.fail('the factory itself observes no run'),
          },
        ],
      })
      await flow.orchestrate('A', { workflowId: 'o-1' })
      await flow.orchestrate('A', { workflowId: 'o-2' })
      expect(infos).to.deep.equal([
        { workflowId: 'o-1', workflow: 'orders', version: 3, resumed: false, notes: {} },
        { workflowId: 'o-2', workflow: 'orders', version: 3, resumed: false, notes: {} },
      ])
      expect(seen.filter((s) => s.endsWith(':RunCompleted'))).to.deep.equal(['o-1:RunCompleted', 'o-2:RunCompleted'])
    })

    it('leaves a run it declines unobserved, and one that throws is reported after RunStarted', async () => {
      const others: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        observers: [
          { forRun: () => undefined, onEvent: () => expect.fail('declined') },
          {
            forRun: () => {
              throw new Error('no exporter')
            },
          },
          { onEvent: (e) => void others.push(e._tag) },
        ],
      })
      const events = await lastValueFrom(flow.run$('A').pipe(toArray()))
      expect(events.slice(0, 2).map((e) => e._tag)).to.deep.equal(['RunStarted', 'ObserverFailed'])
      expect(events[1]).to.deep.include({ observer: 1 })
      expect(events.at(-1)?._tag).to.equal('RunCompleted')
      expect(others[0]).to.equal('RunStarted')
      // the third observer is still index 2 when it throws
      const flaky = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        observers: [
          { forRun: () => undefined },
          {
            onStateEnter: () => {
              throw new Error('x')
            },
          },
        ],
      })
      const failed = (await lastValueFrom(flaky.run$('A').pipe(toArray()))).filter((e) => e._tag === 'ObserverFailed')
      expect(failed.map((e) => e.observer)).to.deep.equal([1, 1])
    })
  })

  describe('aroundAttempt', () => {
    it('wraps every attempt of user code: tasks (inline and retried), branches (not the split itself), items, compensations', async () => {
      const { observer, scopes } = scoping()
      const inside: string[] = []
      let calls = 0
      const record = async (): Promise<void> => {
        const where = als.getStore() ?? 'outside'
        await Promise.resolve() // the context survives an await
        inside.push(where === als.getStore() ? where : `lost ${where}`)
      }
      const flow = workflow<'Pay' | 'Flaky' | 'FanOut' | 'Items' | 'Ship' | 'Done'>()({
        exits: ['Done'],
        states: {
          Pay: saga({
            output: t.string,
            run: async () => (await record(), ['Flaky' as const, 'p-1'] as const),
            compensate: record,
          }),
          Flaky: task(
            async () => {
              await record()
              if (++calls < 2) throw new Error('once')
              return 'FanOut' as const
            },
            { retry: RetryMode.fixed(1, 0) },
          ),
          FanOut: split([async () => record(), Branch.of(async () => record())], {
            strategy: JoinStrategy.all(),
            join: 'Items',
          }),
          Items: batch({
            load: () => ['a', 'b'],
            processItem: async () => record(),
            concurrency: 1,
            finish: () => 'Ship' as const,
          }),
          Ship: task(
            () => {
              throw new Error('no courier')
            },
            { retry: RetryMode.none() },
          ),
        },
        observers: [observer],
      })
      await flow.orchestrate('Pay', { workflowId: 'w-1' }).catch(() => undefined)
      expect(scopes.map((s) => [s.kind, s.taskId, s.attempt, s.index])).to.deep.equal([
        ['Task', 'Pay', 1, undefined],
        ['Task', 'Flaky', 1, undefined],
        ['Task', 'Flaky', 2, undefined],
        ['Branch', 'FanOut[0]', 1, 0],
        ['Branch', 'FanOut[1]', 1, 1],
        ['Task', 'Items', 1, undefined],
        ['Item', 'Items', 1, 0],
        ['Item', 'Items', 1, 1],
        ['Task', 'Ship', 1, undefined],
        ['Compensation', 'Pay', 1, undefined],
      ])
      expect(scopes.every((s) => s.workflowId === 'w-1' && s.waitedMs === undefined)).to.equal(true)
      expect(inside).to.deep.equal([
        'Task:Pay#1',
        'Task:Flaky#1',
        'Task:Flaky#2',
        'Branch:FanOut[0]#1',
        'Branch:FanOut[1]#1',
        'Item:Items#1',
        'Item:Items#1',
        'Compensation:Pay#1',
      ])
    })

    it('tells each attempt after the first the previous attempt’s error and the delay waited (retry), of every kind', async () => {
      const { observer, scopes } = scoping()
      const tries = new Map<string, number>()
      /** Fails the first call of `name` with `name once`. */
      const onceFailing = (name: string): void => {
        const n = (tries.get(name) ?? 0) + 1
        tries.set(name, n)
        if (n === 1) throw new Error(`${name} once`)
      }
      const flow = workflow<'Pay' | 'Flaky' | 'FanOut' | 'Items' | 'Ship' | 'Done'>()({
        exits: ['Done'],
        states: {
          Pay: saga({
            output: t.string,
            run: () => ['Flaky' as const, 'p-1'] as const,
            compensate: async () => onceFailing('undo'),
            compensateRetry: RetryMode.fixed(1, 4),
          }),
          Flaky: task(async () => (onceFailing('task'), 'FanOut' as const), { retry: RetryMode.fixed(1, 3) }),
          FanOut: split([Branch.of(async () => onceFailing('branch'), { retry: RetryMode.fixed(1, 2) })], {
            strategy: JoinStrategy.all(),
            join: 'Items',
          }),
          Items: batch({
            load: () => ['a'],
            processItem: async () => onceFailing('item'),
            itemRetry: RetryMode.fixed(1, 1),
            finish: () => 'Ship' as const,
          }),
          Ship: task(
            () => {
              throw new Error('no courier')
            },
            { retry: RetryMode.none() },
          ),
        },
        observers: [observer],
      })
      await flow.orchestrate('Pay', { workflowId: 'w-r' }).catch(() => undefined)
      expect(
        scopes.map((s) => [
          s.kind,
          s.taskId,
          s.attempt,
          s.retry === undefined ? 'none' : [s.retry.delayMs, s.retry.error._tag, s.retry.error.message],
        ]),
      ).to.deep.equal([
        ['Task', 'Pay', 1, 'none'],
        ['Task', 'Flaky', 1, 'none'],
        ['Task', 'Flaky', 2, [3, 'TaskExecution', 'task once']],
        ['Branch', 'FanOut[0]', 1, 'none'],
        ['Branch', 'FanOut[0]', 2, [2, 'TaskExecution', 'branch once']],
        ['Task', 'Items', 1, 'none'],
        ['Item', 'Items', 1, 'none'],
        ['Item', 'Items', 2, [1, 'TaskExecution', 'item once']],
        ['Task', 'Ship', 1, 'none'],
        ['Compensation', 'Pay', 1, 'none'],
        ['Compensation', 'Pay', 2, [4, 'TaskExecution', 'undo once']],
      ])
    })

    it('nests the hooks of several observers, the first outermost', async () => {
      const order: string[] = []
      const hook =
        (name: string): WorkflowObserver['aroundAttempt'] =>
        (_scope, start) => {
          order.push(`${name} in`)
          start()
          order.push(`${name} out`)
        }
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => (order.push('task'), 'Done' as const)) },
        observers: [{ aroundAttempt: hook('first') }, { aroundAttempt: hook('second') }],
      })
      await flow.orchestrate('A')
      expect(order).to.deep.equal(['first in', 'second in', 'task', 'second out', 'first out'])
    })

    it('skips observers without a hook, and reports a throwing inner hook by its index in the list', async () => {
      const order: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => (order.push('task'), 'Done' as const)) },
        observers: [
          {
            aroundAttempt: (_scope, start) => {
              order.push('first in')
              start()
              order.push('first out')
            },
          },
          { onEvent: () => undefined },
          {
            aroundAttempt: () => {
              order.push('third')
              throw new Error('third broke')
            },
          },
        ],
      })
      const events = await lastValueFrom(flow.run$('A').pipe(toArray()))
      expect(order).to.deep.equal(['first in', 'third', 'task', 'first out'])
      const failed = events.filter((e) => e._tag === 'ObserverFailed')
      expect(failed.map((e) => [e.observer, e.error.message])).to.deep.equal([[2, 'third broke']])
      expect(events.at(-1)?._tag).to.equal('RunCompleted')
    })

    it('starts the attempt once whatever the hook does: throws (reported), forgets, or calls twice', async () => {
      let runs = 0
      const flow = workflow<'A' | 'B' | 'C' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => (runs++, 'B' as const)),
          B: task(() => (runs++, 'C' as const)),
          C: task(() => (runs++, 'Done' as const)),
        },
        observers: [
          {
            aroundAttempt: (scope, start) => {
              if (scope.state === 'A') throw new Error('tracer broke')
              if (scope.state === 'C') {
                start()
                start()
              }
              // B: forgets to start
            },
          },
        ],
      })
      const events = await lastValueFrom(flow.run$('A').pipe(toArray()))
      expect(runs).to.equal(3)
      expect(events.at(-1)?._tag).to.equal('RunCompleted')
      const failed = events.filter((e) => e._tag === 'ObserverFailed')
      expect(failed.map((e) => e.error.message)).to.deep.equal(['tracer broke'])
    })

    it('tells how long an attempt waited for its rate limiter', async () => {
      const clock = createVirtualClock(0)
      const limiter = createRateLimiter({ tokens: 1, perMs: 40, scheduler: clock })
      const { observer, scopes } = scoping()
      const flow = workflow<'A' | 'B' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const, { rateLimiter: limiter }),
          B: task(() => 'Done' as const, { rateLimiter: limiter }),
        },
        observers: [observer],
      })
      await untilIdle(clock, flow.orchestrate('A', { scheduler: clock }))
      expect(scopes.map((s) => [s.state, s.waitedMs, s.at])).to.deep.equal([
        ['A', 0, 0],
        ['B', 40, 40],
      ])
    })
  })

  describe('note', () => {
    it('is kept in the first row and handed back to forRun when the run is resumed', async () => {
      const store = memoryCheckpoints()
      const infos: RunInfo[] = []
      let firstCall = true
      const flow = workflow<'A' | 'B' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: task(() => {
            if (!firstCall) return 'Done' as const
            firstCall = false
            return new Subject<'Done'>() // never answers
          }),
        },
        checkpoints: store,
        observers: [
          {
            forRun: (info) => {
              infos.push(info)
              return { note: { key: 'trace', value: () => ({ id: `t-${infos.length}` }) } }
            },
          },
          { note: { key: 'empty', value: () => undefined } },
        ],
      })
      const sub = flow.run$('A', { workflowId: 'n-1' }).subscribe()
      await until(() => !firstCall)
      sub.unsubscribe()
      const rows = await store.loadRun('n-1')
      expect(rows.map((r) => [r.seq, r.state, r.payload])).to.deep.equal([
        [0, 'A', { notes: { trace: { id: 't-1' } } }],
        [1, 'B', null],
      ])
      expect(await flow.resume('n-1')).to.equal('Done')
      expect(infos.map((i) => [i.resumed, i.notes])).to.deep.equal([
        [false, {}],
        [true, { trace: { id: 't-1' } }],
      ])
    })

    it('drops a note that is not JSON, reporting it; the run and its first row go on', async () => {
      const store = memoryCheckpoints()
      const appended: unknown[] = []
      const recording: CheckpointStore = {
        ...store,
        append: (row, fence) => (appended.push(row.payload), store.append(row, fence)),
      }
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
        checkpoints: recording,
        observers: [
          { note: { key: 'bad', value: () => ({ n: Number.NaN }) } },
          { note: { key: 'good', value: () => 1 } },
        ],
      })
      const events = await lastValueFrom(flow.run$('A', { workflowId: 'n-2' }).pipe(toArray()))
      expect(events.at(-1)?._tag).to.equal('RunCompleted')
      expect(events.filter((e) => e._tag === 'ObserverFailed')).to.have.length(1)
      expect(appended[0]).to.deep.equal({ notes: { good: 1 } })
    })
  })

  describe('onAbandon', () => {
    it('hears a run handed over before its end (a runtime stopping), not one that ended nor one whose subscriber left', async () => {
      const abandoned: string[] = []
      const started: string[] = []
      const gate = new Subject<'Done'>()
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task((ctx) => {
            started.push(ctx.workflowId)
            return ctx.workflowId === 'ended' ? ('Done' as const) : gate
          }),
        },
        observers: [{ onAbandon: (id) => void abandoned.push(id) }],
      })
      await flow.orchestrate('A', { workflowId: 'ended' })
      // leaving a run is a cancellation: it ends RunCancelled, nothing is abandoned
      const seen: WorkflowEvent[] = []
      const sub = flow.run$('A', { workflowId: 'left' }).subscribe((e) => seen.push(e))
      sub.unsubscribe()
      expect(seen.map((e) => e._tag)).to.include('TaskStarted')
      expect(abandoned).to.deep.equal([])
      // a runtime that stops hands its runs over: they are abandoned here, to be continued elsewhere
      const runtime = createRuntime({
        store: memoryCheckpoints(),
        workflows: { flow: { workflow: flow, initial: 'A' } },
      })
      await runtime.start('flow', null, { id: 'handed' })
      for (let i = 0; i < 200 && !started.includes('handed'); i++) await new Promise((r) => setTimeout(r, 10))
      expect(started).to.include('handed')
      await runtime.stop({ graceMs: 0 })
      expect(abandoned).to.deep.equal(['handed'])
    })
  })

  describe('CheckpointAppended.latencyMs', () => {
    it('is the time the store took to make the row durable, on the run’s clock', async () => {
      const clock = createVirtualClock(500)
      const store = memoryCheckpoints()
      const slow: CheckpointStore = {
        ...store,
        append: (row, fence) =>
          lastValueFrom(timer(row.kind === 'StateEntry' ? 7 : 3, clock).pipe(map(() => undefined))).then(() =>
            store.append(row, fence),
          ),
      }
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: saga({ output: t.number, run: () => ['Done' as const, 1], compensate: () => undefined }) },
        checkpoints: slow,
      })
      const events: WorkflowEvent[] = []
      const done = lastValueFrom(flow.run$('A', { workflowId: 'l-1', scheduler: clock }).pipe(toArray())).then((es) =>
        events.push(...es),
      )
      await untilIdle(clock, done)
      expect(events.flatMap((e) => (e._tag === 'CheckpointAppended' ? [[e.kind, e.latencyMs]] : []))).to.deep.equal([
        ['StateEntry', 7],
        ['CompensationCompletion', 3],
        ['StateEntry', 7],
      ])
    })
  })
})
