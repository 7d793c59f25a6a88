import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { asyncScheduler, map, type Observable, type SchedulerLike, Subscription, timer } from 'rxjs'

import { CanoErrorCodec } from '../../codecs/CanoError.js'
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  compensationFailedError,
  configurationError,
  decodeFailedError,
  isCanoFailure,
  nonRetryable,
  orphanedCompensationError,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
} from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { Resources } from '../../src/Resources.js'
import { resumePoint } from '../../src/Resume.js'
import { RetryMode } from '../../src/RetryMode.js'
import { rollbackOutcome, saga, validateSaga } from '../../src/Saga.js'
import { task } from '../../src/StateHandler.js'
import { defaultCompensationTimeoutMs } from '../../src/WorkflowDefinition.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { eventsInVirtualTime, eventsOf, lastEvent, timeline } from '../helpers/runEvents.js'
import { createVirtualClock, type VirtualClock } from '../helpers/virtualTime.js'

type Step = 'A' | 'B' | 'C' | 'Fail' | 'Done'

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw e
  }
  throw new Error('expected a rejection')
}

/** A store that also keeps every row it was asked to append, so rows survive the final clear. */
const recording = (inner: CheckpointStore = memoryCheckpoints()) => {
  const appended: CheckpointRow[] = []
  const store: CheckpointStore = {
    ...inner,
    append: (row) => {
      appended.push(row)
      return inner.append(row)
    },
  }
  /** `[seq, kind, state, payload]` of every appended row. */
  const rows = () => appended.map((r) => [r.seq, r.kind, r.state, r.payload] as const)
  return { store, inner, rows }
}

/** The rows of a run without their timestamps and ids. */
const rowsOf = async (store: CheckpointStore, id: string) =>
  (await store.loadRun(id)).map((r) => [r.seq, r.kind, r.state, r.payload] as const)

const compensationEvents = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>) =>
  events.flatMap((e) =>
    e._tag === 'CompensationStarted' || e._tag === 'Compensated' || e._tag === 'CompensationFailed'
      ? [[e._tag, e.state] as const]
      : [],
  )

/** A is a saga (output: a number), B is a saga (output: a string), C fails unless told otherwise. */
const threeSteps = (
  options: {
    readonly store?: CheckpointStore
    readonly log?: string[]
    readonly failC?: boolean
    readonly failB?: boolean
    readonly failCompensationOf?: ReadonlyArray<'A' | 'B'>
  } = {},
) => {
  const log = options.log ?? []
  const failing = new Set(options.failCompensationOf ?? [])
  return workflow<Step>()({
    ...(options.store === undefined ? {} : { checkpoints: options.store }),
    exits: ['Done'],
    states: ({ saga: s, task: tk }) => ({
      A: s({
        output: t.number,
        run: () => (log.push('run A'), ['B', 1]),
        compensate: (_ctx, n) => {
          log.push(`undo A ${n}`)
          if (failing.has('A')) throw new Error('undo A failed')
        },
      }),
      B: s({
        output: t.string,
        run: async () => {
          log.push('run B')
          if (options.failB === true) throw nonRetryable(new Error('B failed'))
          return ['C', 'b-out']
        },
        compensate: async (_ctx, out) => {
          log.push(`undo B ${out}`)
          if (failing.has('B')) throw new Error('undo B failed')
        },
      }),
      C: tk(
        () => {
          log.push('run C')
          if (options.failC ?? true) throw nonRetryable(new Error('C failed'))
          return 'Done'
        },
        { retry: RetryMode.none() },
      ),
      Fail: tk(() => 'Done'),
    }),
  })
}

describe('saga', () => {
  describe('forward', () => {
    it('pushes each output and writes a CompensationCompletion row (the encoded output) before moving on', async () => {
      const { store, rows } = recording()
      const flow = threeSteps({ store, failC: false })
      const events = await eventsOf(flow.run$('A', { workflowId: 'f1' }))
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
      expect(rows()).to.deep.equal([
        [0, 'StateEntry', 'A', null],
        [1, 'CompensationCompletion', 'A', 1],
        [2, 'StateEntry', 'B', null],
        [3, 'CompensationCompletion', 'B', 'b-out'],
        [4, 'StateEntry', 'C', null],
        [5, 'StateEntry', 'Done', null],
      ])
      expect(compensationEvents(events)).to.deep.equal([])
      expect(await store.loadRun('f1')).to.deep.equal([]) // completed: the log is cleared
    })

    it('stores the output encoded by its codec and compensates with the decoded value', async () => {
      const DateFromISO = new t.Type<Date, string, unknown>(
        'DateFromISO',
        (u): u is Date => u instanceof Date,
        (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
        (d) => d.toISOString(),
      )
      const received: unknown[] = []
      const { store, rows } = recording()
      const flow = workflow<'A' | 'Fail' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          A: s({
            output: DateFromISO,
            run: () => ['Fail', new Date('2026-05-01T00:00:00.000Z')],
            compensate: (_ctx, d) => void received.push(d),
          }),
          Fail: tk(() => Promise.reject(nonRetryable(new Error('later failure')))),
        }),
      })
      await errorOf(flow.orchestrate('A', { workflowId: 'f2' }))
      expect(rows()[1]).to.deep.equal([1, 'CompensationCompletion', 'A', '2026-05-01T00:00:00.000Z'])
      expect(received).to.have.length(1)
      expect(received[0]).to.be.instanceOf(Date)
    })

    it('fails with a Workflow error when run does not answer [next, output]', async () => {
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: saga({
            output: t.number,
            retry: RetryMode.none(),
            run: () => 'Done' as unknown as readonly ['Done', number],
            compensate: () => undefined,
          }),
        },
      })
      const e = await errorOf(flow.orchestrate('A'))
      expect(e).to.deep.include({ _tag: 'Workflow' })
      expect(e.message).to.equal('saga for state "A" returned "Done"; expected [nextState, output]')
    })

    it('compensates at once, with the value in memory, an output that does not encode', async () => {
      const log: string[] = []
      const { store, rows } = recording()
      const flow = workflow<'A' | 'B' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: ({ saga: s }) => ({
          A: s({ output: t.number, run: () => ['B', 1], compensate: (_c, n) => void log.push(`undo A ${n}`) }),
          B: s({
            output: t.number,
            run: () => ['Done', Number.NaN],
            compensate: (_c, n) => void log.push(`undo B ${String(n)}`),
          }),
        }),
      })
      const events = await eventsOf(flow.run$('A', { workflowId: 'f3' }))
      const end = lastEvent(events)
      expect(end._tag).to.equal('RunFailed')
      expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
        decodeFailedError('number', ['Invalid value null supplied to : number'], 'state "B", saga output'),
      )
      expect(log).to.deep.equal(['undo B NaN', 'undo A 1'])
      expect(compensationEvents(events)).to.deep.equal([
        ['CompensationStarted', 'B'],
        ['Compensated', 'B'],
        ['CompensationStarted', 'A'],
        ['Compensated', 'A'],
      ])
      // B never got a completion row (its output is not JSON); only A's compensation is marked done
      expect(rows().filter(([, kind]) => kind !== 'StateEntry')).to.deep.equal([
        [1, 'CompensationCompletion', 'A', 1],
        [
          3,
          'RollbackStarted',
          'B',
          CanoErrorCodec.encode(
            decodeFailedError('number', ['Invalid value null supplied to : number'], 'state "B", saga output'),
          ),
        ],
        [4, 'CompensationDone', 'A', { undid: 1 }],
      ])
      expect(await store.loadRun('f3')).to.deep.equal([]) // a clean rollback clears the log
    })

    it('retries the forward step like a task and pushes one entry', async () => {
      let calls = 0
      const undone: number[] = []
      const flow = workflow<'A' | 'Fail' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: saga({
            output: t.number,
            retry: RetryMode.fixed(2, 0),
            run: async () => {
              calls += 1
              if (calls < 3) throw new Error('flaky')
              return ['Fail' as const, calls]
            },
            compensate: (_c, n) => void undone.push(n),
          }),
          Fail: task(() => Promise.reject(nonRetryable(new Error('boom')))),
        },
      })
      await errorOf(flow.orchestrate('A'))
      expect(calls).to.equal(3)
      expect(undone).to.deep.equal([3])
    })
  })

  describe('rollback outcomes', () => {
    it('clean rollback: compensates last-in first-out, ends with the original error, clears the log', async () => {
      const log: string[] = []
      const { store, rows } = recording()
      const events = await eventsOf(threeSteps({ store, log }).run$('A', { workflowId: 'r1' }))
      expect(log).to.deep.equal(['run A', 'run B', 'run C', 'undo B b-out', 'undo A 1'])
      const end = lastEvent(events)
      expect(end._tag).to.equal('RunFailed')
      const original = end._tag === 'RunFailed' ? end.error : undefined
      expect(original).to.deep.include({ _tag: 'TaskExecution', message: 'C failed' })
      expect(compensationEvents(events)).to.deep.equal([
        ['CompensationStarted', 'B'],
        ['Compensated', 'B'],
        ['CompensationStarted', 'A'],
        ['Compensated', 'A'],
      ])
      expect(rows().slice(5)).to.deep.equal([
        [5, 'RollbackStarted', 'C', CanoErrorCodec.encode(original as never)],
        [6, 'CompensationDone', 'B', { undid: 3 }],
        [7, 'CompensationDone', 'A', { undid: 1 }],
      ])
      expect(await store.loadRun('r1')).to.deep.equal([])
    })

    it('dirty rollback: attempts every entry, ends CompensationFailed [original, …] in drain order, keeps the log', async () => {
      const log: string[] = []
      const store = memoryCheckpoints()
      const e = await errorOf(
        threeSteps({ store, log, failCompensationOf: ['A', 'B'] }).orchestrate('A', { workflowId: 'r2' }),
      )
      expect(log.slice(3)).to.deep.equal(['undo B b-out', 'undo A 1'])
      expect(e._tag).to.equal('CompensationFailed')
      expect(e._tag === 'CompensationFailed' ? e.errors.map((x) => x.message) : []).to.deep.equal([
        'C failed',
        'undo B failed',
        'undo A failed',
      ])
      expect(e.message).to.equal('C failed')
      const kept = await rowsOf(store, 'r2')
      expect(kept.map(([, kind, state]) => `${kind} ${state}`)).to.deep.equal([
        'StateEntry A',
        'CompensationCompletion A',
        'StateEntry B',
        'CompensationCompletion B',
        'StateEntry C',
        'RollbackStarted C',
      ])
    })

    it('dirty rollback when one of two compensations fails: the other one is done and marked done', async () => {
      const log: string[] = []
      const store = memoryCheckpoints()
      const e = await errorOf(
        threeSteps({ store, log, failCompensationOf: ['B'] }).orchestrate('A', { workflowId: 'r3' }),
      )
      expect(log.slice(3)).to.deep.equal(['undo B b-out', 'undo A 1'])
      expect(e._tag === 'CompensationFailed' ? e.errors.map((x) => x.message) : []).to.deep.equal([
        'C failed',
        'undo B failed',
      ])
      expect((await rowsOf(store, 'r3')).slice(-2).map(([seq, kind, state]) => [seq, kind, state])).to.deep.equal([
        [5, 'RollbackStarted', 'C'],
        [6, 'CompensationDone', 'A'],
      ])
    })

    it('empty stack: a failure before any saga step ends with the original error and keeps the log, with no marker', async () => {
      const { store, rows } = recording()
      const flow = workflow<'C' | 'A' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: {
          C: task(() => Promise.reject(nonRetryable(new Error('C failed')))),
          A: saga({ output: t.number, run: () => ['Done' as const, 1], compensate: () => undefined }),
        },
      })
      const events = await eventsOf(flow.run$('C', { workflowId: 'r4' }))
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunFailed' })
      expect(compensationEvents(events)).to.deep.equal([])
      expect(rows()).to.deep.equal([[0, 'StateEntry', 'C', null]])
      expect((await store.loadRun('r4')).length).to.equal(1) // resumable: C runs again
    })

    it('rolls back in memory when there is no store', async () => {
      const log: string[] = []
      const e = await errorOf(threeSteps({ log }).orchestrate('A'))
      expect(e.message).to.equal('C failed')
      expect(log.slice(3)).to.deep.equal(['undo B b-out', 'undo A 1'])
    })

    it('rolls back after any failure, including a failed checkpoint append', async () => {
      const inner = memoryCheckpoints()
      let appends = 0
      const undone: number[] = []
      const flaky: CheckpointStore = {
        ...inner,
        append: (row) => (++appends === 3 ? Promise.reject(new Error('disk full')) : inner.append(row)),
      }
      const flow = workflow<'A' | 'B' | 'Done'>()({
        checkpoints: flaky,
        exits: ['Done'],
        states: {
          A: saga({ output: t.number, run: () => ['B' as const, 7], compensate: (_c, n) => void undone.push(n) }),
          B: task(() => 'Done' as const),
        },
      })
      const e = await errorOf(flow.orchestrate('A', { workflowId: 'r5' }))
      expect(e).to.deep.include({ _tag: 'CheckpointStore', message: 'append checkpoint: disk full' })
      expect(undone).to.deep.equal([7])
    })

    it('reports compensation errors from a rollback that cannot write its marker', async () => {
      const inner = memoryCheckpoints()
      const flaky: CheckpointStore = {
        ...inner,
        append: (row) => (row.kind === 'RollbackStarted' ? Promise.reject(new Error('disk full')) : inner.append(row)),
      }
      const log: string[] = []
      const e = await errorOf(threeSteps({ store: flaky, log }).orchestrate('A', { workflowId: 'r6' }))
      // the compensations still ran, but the rollback is not durable: the run reports it and keeps its log
      expect(log.slice(3)).to.deep.equal(['undo B b-out', 'undo A 1'])
      expect(e._tag).to.equal('CompensationFailed')
      expect(e._tag === 'CompensationFailed' ? e.errors.map((x) => x._tag) : []).to.deep.equal([
        'TaskExecution',
        'CheckpointStore',
      ])
      expect((await inner.loadRun('r6')).length).to.be.greaterThan(0)
    })
  })

  describe('compensation policy', () => {
    it('bounds each compensation by the state attemptTimeoutMs, aborting its own signal (virtual time)', () => {
      let aborted: unknown
      const events = eventsInVirtualTime(() =>
        workflow<'A' | 'Fail' | 'Done'>()({
          exits: ['Done'],
          states: {
            A: saga({
              output: t.number,
              attemptTimeoutMs: 30,
              run: () => ['Fail' as const, 1],
              compensate: (ctx) => {
                ctx.signal.addEventListener('abort', () => {
                  aborted = ctx.signal.reason as unknown
                })
                return timer(100)
              },
            }),
            Fail: task(() => {
              throw nonRetryable(new Error('boom'))
            }),
          },
        }).run$('A', { workflowId: 'p1' }),
      )
      const end = lastEvent(events)
      const expected = timeoutError(30, 'compensation of state "A" exceeded its timeout of 30 ms')
      expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
        compensationFailedError([taskExecutionError('boom', new Error('boom')), expected]),
      )
      expect(aborted).to.deep.equal(expected)
      expect(timeline(events, ['CompensationStarted', 'CompensationFailed'])).to.deep.equal([
        ['CompensationStarted', 0],
        ['CompensationFailed', 30],
      ])
    })

    it('compensateTimeoutMs overrides the state timeout; compensateRetry retries (virtual time)', () => {
      let calls = 0
      const events = eventsInVirtualTime(() =>
        workflow<'A' | 'Fail' | 'Done'>()({
          exits: ['Done'],
          states: {
            A: saga({
              output: t.number,
              attemptTimeoutMs: 5,
              compensateTimeoutMs: 50,
              compensateRetry: RetryMode.fixed(2, 10),
              run: () => ['Fail' as const, 1],
              compensate: () => {
                calls += 1
                return timer(calls < 3 ? 60 : 40).pipe(map(() => 'refunded'))
              },
            }),
            Fail: task(() => {
              throw nonRetryable(new Error('boom'))
            }),
          },
        }).run$('A', { workflowId: 'p2' }),
      )
      expect(calls).to.equal(3)
      // 50 (timeout) + 10 (wait) + 50 (timeout) + 10 (wait) + 40 (success)
      expect(timeline(events, ['Compensated'])).to.deep.equal([['Compensated', 160]])
      expect(events.find((e) => e._tag === 'Compensated')).to.deep.include({ attempts: 3 })
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunFailed' })
      const end = lastEvent(events)
      expect(end._tag === 'RunFailed' ? end.error.message : '').to.equal('boom')
    })

    it('wraps the last error in RetryExhausted when every compensation attempt fails', async () => {
      const flow = workflow<'A' | 'Fail' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: saga({
            output: t.number,
            compensateRetry: RetryMode.fixed(1, 0),
            run: () => ['Fail' as const, 1],
            compensate: () => Promise.reject(new Error('ledger offline')),
          }),
          Fail: task(() => Promise.reject(nonRetryable(new Error('boom')))),
        },
      })
      const e = await errorOf(flow.orchestrate('A'))
      expect(e._tag === 'CompensationFailed' ? e.errors[1] : undefined).to.deep.equal(
        retryExhaustedError(2, taskExecutionError('ledger offline', new Error('ledger offline'))),
      )
    })

    it('runs one attempt by default, as cano', async () => {
      let calls = 0
      const flow = workflow<'A' | 'Fail' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: saga({
            output: t.number,
            run: () => ['Fail' as const, 1],
            compensate: () => {
              calls += 1
              throw new Error('no')
            },
          }),
          Fail: task(() => Promise.reject(nonRetryable(new Error('boom')))),
        },
      })
      await errorOf(flow.orchestrate('A'))
      expect(calls).to.equal(1)
    })

    it('keys compensators by state: two states sharing a task name each undo their own output', async () => {
      const log: string[] = []
      const Charge = t.type({ cents: t.number })
      const flow = workflow<'First' | 'Second' | 'Fail' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          First: s({
            name: 'charge',
            output: Charge,
            run: () => ['Second', { cents: 100 }],
            compensate: (_c, o) => void log.push(`refund first ${o.cents}`),
          }),
          Second: s({
            name: 'charge',
            output: t.string,
            run: () => ['Fail', 'ch_2'],
            compensate: (_c, id) => void log.push(`refund second ${id}`),
          }),
          Fail: tk(() => Promise.reject(nonRetryable(new Error('boom')))),
        }),
      })
      const events = await eventsOf(flow.run$('First'))
      expect(log).to.deep.equal(['refund second ch_2', 'refund first 100'])
      expect(events.flatMap((e) => (e._tag === 'Compensated' ? [[e.state, e.taskId]] : []))).to.deep.equal([
        ['Second', 'charge'],
        ['First', 'charge'],
      ])
    })

    it('runs the compensations before the resources are torn down', async () => {
      const log: string[] = []
      const ledger = { teardown: () => void log.push('teardown') }
      const flow = workflow<'A' | 'Fail' | 'Done'>()({
        resources: Resources.of({ ledger }),
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          A: s({
            output: t.number,
            run: () => ['Fail', 1],
            compensate: async ({ res }) => void log.push(`undo with ${typeof res.get('ledger')}`),
          }),
          Fail: tk(() => Promise.reject(nonRetryable(new Error('boom')))),
        }),
      })
      await errorOf(flow.orchestrate('A'))
      expect(log).to.deep.equal(['undo with object', 'teardown'])
    })

    it('drains a deep stack of synchronous compensations with a flat call stack', async () => {
      let left = 5_000
      let undone = 0
      const flow = workflow<'Loop' | 'Fail' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          Loop: s({
            output: t.number,
            retry: RetryMode.none(),
            run: () => [--left > 0 ? 'Loop' : 'Fail', left],
            compensate: () => void (undone += 1),
          }),
          Fail: tk(() => {
            throw nonRetryable(new Error('boom'))
          }),
        }),
      })
      const e = await errorOf(flow.orchestrate('Loop'))
      expect(e.message).to.equal('boom')
      expect(undone).to.equal(5_000)
    })
  })

  describe('cancellation and total timeout', () => {
    it('cancellation: the in-flight task signal fires, compensations run with a fresh signal, the run ends Cancelled', async () => {
      const ac = new AbortController()
      let taskSignal: AbortSignal | undefined
      const compensationSignals: boolean[] = []
      const { store } = recording()
      const flow = workflow<'A' | 'Wait' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          A: s({
            output: t.number,
            run: () => ['Wait', 1],
            compensate: async ({ signal }) => {
              await new Promise((r) => setTimeout(r, 5))
              compensationSignals.push(signal.aborted)
            },
          }),
          Wait: tk(
            ({ signal }) => {
              taskSignal = signal
              setTimeout(() => ac.abort(), 5)
              return new Promise<'Done'>(() => undefined)
            },
            { attemptTimeoutMs: 10_000 },
          ),
        }),
      })
      const events = await eventsOf(flow.run$('A', { workflowId: 'c1', signal: ac.signal }))
      expect(taskSignal?.aborted).to.equal(true)
      expect(compensationSignals).to.deep.equal([false])
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Wait', error: cancelledError() })
      expect(compensationEvents(events)).to.deep.equal([
        ['CompensationStarted', 'A'],
        ['Compensated', 'A'],
      ])
      expect(await store.loadRun('c1')).to.deep.equal([]) // a clean rollback clears the log
    })

    it('total timeout: the in-flight task signal fires, compensations run, the run ends WorkflowTimeout (virtual time)', () => {
      let fired = false
      const undone: number[] = []
      const events = eventsInVirtualTime(() =>
        workflow<'A' | 'Slow' | 'Done'>()({
          totalTimeoutMs: 100,
          // the default budget would be 50 ms (half the total timeout): this rollback is given 1 s
          compensationTimeoutMs: 1_000,
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            A: s({
              output: t.number,
              run: () => timer(30).pipe(map(() => ['Slow', 30] as const)),
              compensate: (_c, n) => timer(500).pipe(map(() => undone.push(n))),
            }),
            Slow: tk(({ signal }) => {
              signal.addEventListener('abort', () => (fired = true))
              return timer(1_000).pipe(map(() => 'Done' as const))
            }),
          }),
        }).run$('A', { workflowId: 't1' }),
      )
      expect(fired).to.equal(true)
      expect(undone).to.deep.equal([30])
      // the compensation is not cut short by the total timeout: it takes its 500 ms after the expiry at 100
      expect(timeline(events, ['CompensationStarted', 'Compensated', 'RunTimedOut'])).to.deep.equal([
        ['CompensationStarted', 100],
        ['Compensated', 600],
        ['RunTimedOut', 600],
      ])
      const end = lastEvent(events)
      expect(end._tag === 'RunTimedOut' ? end.error._tag : undefined).to.equal('WorkflowTimeout')
    })

    it('a cancellation during a CompensationCompletion write compensates that step and clears after the write lands', async () => {
      const inner = memoryCheckpoints()
      const ac = new AbortController()
      const kinds: string[] = []
      const slow: CheckpointStore = {
        ...inner,
        append: async (row) => {
          if (row.kind === 'CompensationCompletion') {
            setTimeout(() => ac.abort(), 5)
            await new Promise((r) => setTimeout(r, 30))
          }
          await inner.append(row)
          kinds.push(`${row.seq} ${row.kind}`)
        },
      }
      const undone: number[] = []
      const flow = workflow<'A' | 'B' | 'Done'>()({
        checkpoints: slow,
        exits: ['Done'],
        states: {
          A: saga({ output: t.number, run: () => ['B' as const, 5], compensate: (_c, n) => void undone.push(n) }),
          B: task(() => 'Done' as const),
        },
      })
      const events = await eventsOf(flow.run$('A', { workflowId: 'c2', signal: ac.signal }))
      expect(lastEvent(events)._tag).to.equal('RunCancelled')
      expect(undone).to.deep.equal([5])
      expect(kinds).to.deep.equal([
        '0 StateEntry',
        '1 CompensationCompletion',
        '2 RollbackStarted',
        '3 CompensationDone',
      ])
      expect(await inner.loadRun('c2')).to.deep.equal([])
    })

    it('a dirty rollback after a cancellation still ends Cancelled, with CompensationFailed [Cancelled, …]', async () => {
      const ac = new AbortController()
      const flow = workflow<'A' | 'Wait' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          A: s({
            output: t.number,
            run: () => ['Wait', 1],
            compensate: () => Promise.reject(new Error('undo failed')),
          }),
          Wait: tk(() => {
            setTimeout(() => ac.abort(), 1)
            return new Promise<'Done'>(() => undefined)
          }),
        }),
      })
      const events = await eventsOf(flow.run$('A', { signal: ac.signal }))
      const end = lastEvent(events)
      expect(end._tag).to.equal('RunCancelled')
      const error = end._tag === 'RunCancelled' ? end.error : undefined
      expect(error?._tag === 'CompensationFailed' ? error.errors.map((e) => e._tag) : []).to.deep.equal([
        'Cancelled',
        'TaskExecution',
      ])
    })
  })

  describe('a saga step in flight under cancellation and the total timeout (issue 14)', () => {
    /** Subscribes to `run$` on `clock`, advances `ms` of virtual time, and returns the events (the run must have ended). */
    const runOn = async <S extends string>(clock: VirtualClock, run$: Observable<WorkflowEvent<S>>, ms: number) => {
      const events: WorkflowEvent<S>[] = []
      let ended = false
      const sub = run$.subscribe({ next: (e) => events.push(e), complete: () => (ended = true) })
      await clock.advance(ms)
      sub.unsubscribe()
      expect(ended, 'the run ended').to.equal(true)
      return events
    }
    type Pay = 'Charge' | 'Ship' | 'Done'

    it('cancellation: the step lands after the signal, is recorded, then compensated; its own signal never fired (virtual time)', async () => {
      const clock = createVirtualClock()
      const ac = new AbortController()
      const { store, inner, rows } = recording()
      const charged: number[] = []
      const refunded: number[] = []
      const stepAborted: boolean[] = []
      const flow = workflow<Pay>()({
        checkpoints: store,
        exits: ['Done'],
        states: ({ saga: s, task: tk }) => ({
          Charge: s({
            output: t.number,
            // the side effect lands at 30, 20 ms after the cancellation: the step ignores its signal
            run: ({ signal }) =>
              timer(30, clock).pipe(
                map(() => {
                  charged.push(42)
                  stepAborted.push(signal.aborted)
                  return ['Ship', 42] as const
                }),
              ),
            compensate: ({ signal }, n) => {
              stepAborted.push(signal.aborted)
              refunded.push(n)
            },
          }),
          Ship: tk(() => 'Done'),
        }),
      })
      clock.schedule(() => ac.abort(), 10)
      const events = await runOn(
        clock,
        flow.run$('Charge', { workflowId: 'pay-1', signal: ac.signal, scheduler: clock }),
        100,
      )
      expect(charged).to.deep.equal([42])
      expect(refunded).to.deep.equal([42])
      // neither the step (at 30) nor its compensation saw an aborted signal
      expect(stepAborted).to.deep.equal([false, false])
      expect(timeline(events, ['TaskSucceeded', 'CompensationStarted', 'Compensated', 'RunCancelled'])).to.deep.equal([
        ['TaskSucceeded', 30],
        ['CompensationStarted', 30],
        ['Compensated', 30],
        ['RunCancelled', 30],
      ])
      expect(events.filter((e) => e._tag === 'StateEntered').map((e) => (e as { state: string }).state)).to.deep.equal([
        'Charge',
      ])
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Charge', error: cancelledError() })
      expect(rows()).to.deep.equal([
        [0, 'StateEntry', 'Charge', null],
        [1, 'CompensationCompletion', 'Charge', 42],
        [2, 'RollbackStarted', 'Charge', CanoErrorCodec.encode(cancelledError())],
        [3, 'CompensationDone', 'Charge', { undid: 1 }],
      ])
      expect(await inner.loadRun('pay-1')).to.deep.equal([]) // a clean rollback clears the log
    })

    it('total timeout: the step lands after the expiry and is compensated; the run ends WorkflowTimeout (virtual time)', () => {
      const refunded: number[] = []
      const events = eventsInVirtualTime(() =>
        workflow<Pay>()({
          totalTimeoutMs: 10,
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            Charge: s({
              output: t.number,
              run: () => timer(30).pipe(map(() => ['Ship', 7] as const)),
              compensate: (_c, n) => void refunded.push(n),
            }),
            Ship: tk(() => 'Done'),
          }),
        }).run$('Charge'),
      )
      expect(refunded).to.deep.equal([7])
      expect(timeline(events, ['TaskSucceeded', 'Compensated', 'RunTimedOut'])).to.deep.equal([
        ['TaskSucceeded', 30],
        ['Compensated', 30],
        ['RunTimedOut', 30],
      ])
      const end = lastEvent(events)
      expect(end).to.deep.include({ _tag: 'RunTimedOut', state: 'Charge' })
      expect(end._tag === 'RunTimedOut' ? end.error._tag : undefined).to.equal('WorkflowTimeout')
    })

    it('the step is bounded by its attempt timeout, and no retry starts after the signal (virtual time)', () => {
      const aborts: string[] = []
      let attempts = 0
      const events = eventsInVirtualTime(() =>
        workflow<Pay>()({
          totalTimeoutMs: 10,
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            Charge: s({
              output: t.number,
              retry: RetryMode.fixed(3, 5),
              attemptTimeoutMs: 50,
              run: ({ signal }) => {
                attempts += 1
                signal.addEventListener('abort', () => aborts.push((signal.reason as { _tag: string })._tag))
                return new Promise<never>(() => undefined)
              },
              compensate: () => undefined,
            }),
            Ship: tk(() => 'Done'),
          }),
        }).run$('Charge'),
      )
      // the step's signal aborts with its attempt timeout (at 50: AttemptFailed), not with the total timeout (10)
      expect(aborts).to.deep.equal(['Timeout'])
      expect(attempts).to.equal(1)
      expect(timeline(events, ['AttemptFailed', 'TaskFailed', 'RunTimedOut'])).to.deep.equal([
        ['AttemptFailed', 50],
        ['TaskFailed', 50],
        ['RunTimedOut', 50],
      ])
      expect(events.some((e) => e._tag === 'RetryScheduled')).to.equal(false)
      expect(events.some((e) => e._tag === 'CompensationStarted')).to.equal(false)
    })

    it('a step waiting to retry when the signal comes ends at once: nothing is in flight (virtual time)', () => {
      let attempts = 0
      const aborting = new Subscription()
      const events = eventsInVirtualTime(() => {
        const ac = new AbortController()
        aborting.add(timer(20).subscribe(() => ac.abort()))
        return workflow<Pay>()({
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            Charge: s({
              output: t.number,
              retry: RetryMode.fixed(3, 100),
              run: () => {
                attempts += 1
                return timer(5).pipe(
                  map(() => {
                    throw new Error('card declined')
                  }),
                )
              },
              compensate: () => undefined,
            }),
            Ship: tk(() => 'Done'),
          }),
        }).run$('Charge', { signal: ac.signal })
      })
      aborting.unsubscribe()
      expect(attempts).to.equal(1)
      expect(timeline(events, ['RetryScheduled', 'TaskFailed', 'RunCancelled'])).to.deep.equal([
        ['RetryScheduled', 5],
        ['TaskFailed', 20],
        ['RunCancelled', 20],
      ])
    })

    /** A saga step whose attempt 1 fails with `fail` and retries only after a minute; the run is cancelled at 40 ms. */
    const cancelledWhileWaitingToRetry = async (
      fail: () => Promise<unknown>,
      limiter?: ReturnType<typeof createRateLimiter>,
    ): Promise<{ attempts: number; ms: number; events: ReadonlyArray<WorkflowEvent<Pay>> }> => {
      let attempts = 0
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 40)
      const started = Date.now()
      const events = await eventsOf(
        workflow<Pay>()({
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            Charge: s({
              output: t.number,
              retry: RetryMode.fixed(3, 60_000),
              ...(limiter === undefined ? {} : { rateLimiter: limiter }),
              run: () => {
                attempts += 1
                return fail() as Promise<readonly ['Ship', number]>
              },
              compensate: () => undefined,
            }),
            Ship: tk(() => 'Done'),
          }),
        }).run$('Charge', { signal: ac.signal }),
      )
      return { attempts, ms: Date.now() - started, events }
    }

    it('a step whose Promise attempt rejected, waiting to retry when the signal comes, ends at once', async () => {
      const { attempts, ms, events } = await cancelledWhileWaitingToRetry(() => Promise.reject(new Error('declined')))
      expect(attempts).to.equal(1)
      expect(ms).to.be.below(5_000)
      expect(events.map((e) => e._tag)).to.include.members(['RetryScheduled', 'TaskFailed'])
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Charge' })
    })

    it('a step whose Promise attempt resolved to a Left, waiting to retry when the signal comes, ends at once', async () => {
      const { attempts, ms, events } = await cancelledWhileWaitingToRetry(() =>
        Promise.resolve(E.left(new Error('declined'))),
      )
      expect(attempts).to.equal(1)
      expect(ms).to.be.below(5_000)
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Charge' })
    })

    it('a step whose attempt 1 waited for a token (the retry loop runs it) and rejected ends at once too', async () => {
      const limiter = createRateLimiter({ tokens: 1, perMs: 10 })
      // the token is taken: attempt 1 waits for the next one, on the retry loop's path
      expect(limiter.tryAcquire()._tag).to.equal('Right')
      const { attempts, ms, events } = await cancelledWhileWaitingToRetry(
        () => Promise.reject(new Error('declined')),
        limiter,
      )
      expect(attempts).to.equal(1)
      expect(ms).to.be.below(5_000)
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'Charge' })
    })

    it('a finished step earlier on the stack is compensated with the one that landed late, last-in first-out', () => {
      const log: string[] = []
      const aborting = new Subscription()
      eventsInVirtualTime(() => {
        const ac = new AbortController()
        aborting.add(timer(10).subscribe(() => ac.abort()))
        return workflow<'Hold' | Pay>()({
          exits: ['Done'],
          states: ({ saga: s, task: tk }) => ({
            Hold: s({
              output: t.string,
              run: () => ['Charge', 'h-1'],
              compensate: (_c, h) => void log.push(`release ${h}`),
            }),
            Charge: s({
              output: t.number,
              run: () => timer(30).pipe(map(() => (log.push('charged'), ['Ship', 9] as const))),
              compensate: (_c, n) => void log.push(`refund ${n}`),
            }),
            Ship: tk(() => 'Done'),
          }),
        }).run$('Hold', { signal: ac.signal })
      })
      aborting.unsubscribe()
      expect(log).to.deep.equal(['charged', 'refund 9', 'release h-1'])
    })
  })

  describe('the rollback budget: compensationTimeoutMs (issue 14)', () => {
    type Four = 'A' | 'B' | 'C' | 'D' | 'Done'
    const original = taskExecutionError('D failed')
    /** Sagas A, B, C (outputs 1, 2, 3), each compensation taking `undoMs`; D fails at once. */
    const fourSteps = (
      budget: { readonly totalTimeoutMs?: number; readonly compensationTimeoutMs?: number },
      undoMs: number,
      log: string[] = [],
      store?: CheckpointStore,
      scheduler: SchedulerLike = asyncScheduler,
    ) => {
      const step = (next: Four, n: number) =>
        saga({
          output: t.number,
          run: () => [next, n] as const,
          compensate: ({ signal }, out: number) =>
            timer(undoMs, scheduler).pipe(
              map(() => {
                log.push(`undo ${out}`)
              }),
              // the budget aborts the compensation it cuts short with its Timeout
              (undo$) => {
                signal.addEventListener('abort', () =>
                  log.push(`aborted ${out}: ${(signal.reason as { message: string }).message}`),
                )
                return undo$
              },
            ),
        })
      return workflow<Four>()({
        ...budget,
        ...(store === undefined ? {} : { checkpoints: store }),
        exits: ['Done'],
        states: {
          A: step('B', 1),
          B: step('C', 2),
          C: step('D', 3),
          D: task(
            () => {
              throw nonRetryable(original)
            },
            { retry: RetryMode.none() },
          ),
        },
      })
    }

    it('defaults to half the total timeout: the compensation in flight is cut short, the rest is left, CompensationFailed (virtual time)', () => {
      const log: string[] = []
      const events = eventsInVirtualTime(() => fourSteps({ totalTimeoutMs: 100 }, 30, log).run$('A'))
      expect(log).to.deep.equal([
        'undo 3',
        'aborted 2: compensation of state "B" exceeded the rollback budget (compensationTimeoutMs) of 50 ms',
      ])
      expect(
        events.flatMap((e) =>
          e._tag === 'CompensationStarted' || e._tag === 'Compensated' || e._tag === 'CompensationFailed'
            ? [
                [
                  e._tag,
                  e.state,
                  e.at,
                  e._tag === 'CompensationFailed' ? e.error._tag : '',
                  e._tag === 'CompensationStarted' ? '' : e.attempts,
                ],
              ]
            : [],
        ),
      ).to.deep.equal([
        ['CompensationStarted', 'C', 0, '', ''],
        ['Compensated', 'C', 30, '', 1],
        ['CompensationStarted', 'B', 30, '', ''],
        // the attempt the budget cut short counts
        ['CompensationFailed', 'B', 50, 'Timeout', 1],
        // never started: the budget ran out first
        ['CompensationFailed', 'A', 50, 'OrphanedCompensation', 0],
      ])
      const end = lastEvent(events)
      expect(end).to.deep.include({ _tag: 'RunFailed', at: 50, state: 'D' })
      const error = end._tag === 'RunFailed' ? end.error : undefined
      expect(error).to.deep.equal(
        compensationFailedError([
          original,
          timeoutError(50, 'compensation of state "B" exceeded the rollback budget (compensationTimeoutMs) of 50 ms'),
          orphanedCompensationError(
            'A',
            1,
            'the rollback budget (compensationTimeoutMs) of 50 ms ran out before state "A" was compensated (output kept)',
          ),
          timeoutError(50, 'rollback budget (compensationTimeoutMs) of 50 ms elapsed; 1 entry left unprocessed'),
        ]),
      )
      // the outcome is plain data the error codec accepts (it goes in run records and checkpoint rows)
      const round = CanoErrorCodec.decode(JSON.parse(JSON.stringify(CanoErrorCodec.encode(error as never))))
      expect(round._tag === 'Right' ? round.right : round).to.deep.equal(error)
    })

    it('the default is capped at 30 s; an explicit budget wins over it (virtual time)', () => {
      expect(defaultCompensationTimeoutMs(100)).to.equal(50)
      expect(defaultCompensationTimeoutMs(3)).to.equal(1.5)
      expect(defaultCompensationTimeoutMs(60_000)).to.equal(30_000)
      expect(defaultCompensationTimeoutMs(3_600_000)).to.equal(30_000)
      const endOf = (budget: Parameters<typeof fourSteps>[0], undoMs: number) => {
        const end = lastEvent(eventsInVirtualTime(() => fourSteps(budget, undoMs).run$('A')))
        return [end.at, end._tag === 'RunFailed' ? end.error._tag : end._tag] as const
      }
      // a one-hour total timeout: 30 s of rollback, whatever half of it would be
      expect(endOf({ totalTimeoutMs: 3_600_000 }, 9_000)).to.deep.equal([27_000, 'TaskExecution'])
      expect(endOf({ totalTimeoutMs: 3_600_000 }, 11_000)).to.deep.equal([30_000, 'CompensationFailed'])
      expect(endOf({ totalTimeoutMs: 100, compensationTimeoutMs: 1_000 }, 30)).to.deep.equal([90, 'TaskExecution'])
    })

    it('an explicit budget applies without a total timeout; with neither a rollback is unbounded (virtual time)', () => {
      const log: string[] = []
      const bounded = lastEvent(eventsInVirtualTime(() => fourSteps({ compensationTimeoutMs: 45 }, 20, log).run$('A')))
      expect(bounded.at).to.equal(45)
      expect(log).to.deep.equal([
        'undo 3',
        'undo 2',
        'aborted 1: compensation of state "A" exceeded the rollback budget (compensationTimeoutMs) of 45 ms',
      ])
      // the last entry was in flight: its Timeout, and no summary (nothing was left unprocessed)
      expect(
        bounded._tag === 'RunFailed' && bounded.error._tag === 'CompensationFailed'
          ? bounded.error.errors.map((e) => e._tag)
          : [],
      ).to.deep.equal(['TaskExecution', 'Timeout'])
      const unbounded = lastEvent(eventsInVirtualTime(() => fourSteps({}, 600_000).run$('A')))
      expect(unbounded).to.deep.include({ _tag: 'RunFailed', at: 1_800_000, error: original })
    })

    it('bounds the whole rollback: a marker write that never lands leaves every entry (virtual time)', () => {
      const inner = memoryCheckpoints()
      const hanging: CheckpointStore = {
        ...inner,
        append: (row) => (row.kind === 'RollbackStarted' ? new Promise<void>(() => undefined) : inner.append(row)),
      }
      const clock = createVirtualClock()
      const events: WorkflowEvent<Four>[] = []
      const sub = fourSteps({ compensationTimeoutMs: 40 }, 1, [], hanging, clock)
        .run$('A', { workflowId: 'hang-1', scheduler: clock })
        .subscribe((e) => events.push(e))
      return clock.advance(100).then(() => {
        sub.unsubscribe()
        const end = lastEvent(events)
        expect(end.at).to.equal(40)
        const error = end._tag === 'RunFailed' ? end.error : undefined
        expect(error?._tag === 'CompensationFailed' ? error.errors.map((e) => e._tag) : []).to.deep.equal([
          'TaskExecution',
          'OrphanedCompensation',
          'OrphanedCompensation',
          'OrphanedCompensation',
          'Timeout',
        ])
        expect(error?._tag === 'CompensationFailed' ? error.errors.at(-1)?.message : '').to.equal(
          'rollback budget (compensationTimeoutMs) of 40 ms elapsed; 3 entries left unprocessed',
        )
      })
    })

    it('keeps the log when the budget runs out: a resume finishes the rollback, never repeating a finished compensation (virtual time)', async () => {
      const clock = createVirtualClock()
      const store = memoryCheckpoints()
      const log: string[] = []
      const events: WorkflowEvent<Four>[] = []
      const first = fourSteps({ compensationTimeoutMs: 50 }, 30, log, store, clock)
        .run$('A', { workflowId: 'budget-1', scheduler: clock })
        .subscribe((e) => events.push(e))
      await clock.advance(100)
      first.unsubscribe()
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunFailed', at: 50 })
      expect((await store.loadRun('budget-1')).map((r) => r.kind)).to.deep.equal([
        'StateEntry',
        'CompensationCompletion',
        'StateEntry',
        'CompensationCompletion',
        'StateEntry',
        'CompensationCompletion',
        'StateEntry',
        'RollbackStarted',
        'CompensationDone',
      ])
      const resumed: WorkflowEvent<Four>[] = []
      // the operator gives the rollback more room: a resume runs under the resuming definition's budget
      const second = fourSteps({ compensationTimeoutMs: 100 }, 30, log, store, clock)
        .resume$('budget-1', { scheduler: clock })
        .subscribe((e) => resumed.push(e))
      await clock.advance(100)
      second.unsubscribe()
      // C was undone before the budget ran out; the resume undoes B (cut short: done again) and A
      expect(log.filter((l) => l.startsWith('undo'))).to.deep.equal(['undo 3', 'undo 2', 'undo 1'])
      expect(compensationEvents(resumed)).to.deep.equal([
        ['CompensationStarted', 'B'],
        ['Compensated', 'B'],
        ['CompensationStarted', 'A'],
        ['Compensated', 'A'],
      ])
      // a clean rollback at last: it ends with the original error and clears the log
      expect(lastEvent(resumed)).to.deep.include({ _tag: 'RunFailed', at: 160, error: original })
      expect(await store.loadRun('budget-1')).to.deep.equal([])
    })

    it('rejects a bad compensationTimeoutMs with a Configuration error naming it', () => {
      const at = (value: unknown): string => {
        try {
          workflow<'A' | 'Done'>()({
            exits: ['Done'],
            states: { A: task(() => 'Done' as const) },
            compensationTimeoutMs: value as number,
          })
        } catch (e: unknown) {
          if (isCanoFailure(e) && e.error._tag === 'Configuration') return e.error.message
          throw e
        }
        return 'accepted'
      }
      for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 1e12])
        expect(at(value)).to.equal(
          `compensationTimeoutMs must be a finite number in (0, 2147483647], got ${String(value)}`,
        )
      expect(at('100')).to.equal('compensationTimeoutMs must be a finite number in (0, 2147483647], got "100"')
      expect(at(2_147_483_647)).to.equal('accepted')
      expect(at(0.5)).to.equal('accepted')
    })
  })

  describe('resume', () => {
    const row = (
      seq: number,
      kind: CheckpointRow['kind'],
      state: string,
      payload: CheckpointRow['payload'] = null,
    ): CheckpointRow =>
      // rows as the driver writes them; `garbled` below builds one no store would return
      ({
        workflowId: 'w',
        seq,
        kind,
        state,
        taskId: state,
        payload,
        version: 0,
        at: 1,
      }) as CheckpointRow

    /** A memory store holding `rows`. */
    const storeWith = async (rows: ReadonlyArray<CheckpointRow>) => {
      const store = memoryCheckpoints()
      for (const r of rows) await store.append(r)
      return store
    }
    /** A log that crashed right after B's saga step (its completion the last row). */
    const afterB = (out: string): CheckpointRow[] => [
      row(0, 'StateEntry', 'A'),
      row(1, 'CompensationCompletion', 'A', 1),
      row(2, 'StateEntry', 'B'),
      row(3, 'CompensationCompletion', 'B', out),
    ]

    it('after a CompensationCompletion row: re-runs that forward step once, never compensates it twice', async () => {
      const store = await storeWith(afterB('b-out'))
      const log: string[] = []
      const { store: rec, rows } = recording(store)
      const e = await errorOf(threeSteps({ store: rec, log }).resume('w'))
      expect(e.message).to.equal('C failed')
      expect(log).to.deep.equal(['run B', 'run C', 'undo B b-out', 'undo A 1'])
      // the re-run's entry row names the completion it replaces
      expect(rows()[0]).to.deep.equal([4, 'StateEntry', 'B', { supersedes: 3 }])
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('a second crash after such a resume still compensates the re-run step once', async () => {
      const store = await storeWith([
        ...afterB('b-old'),
        row(4, 'StateEntry', 'B', { supersedes: 3 }),
        row(5, 'CompensationCompletion', 'B', 'b-new'),
        row(6, 'StateEntry', 'C'),
      ])
      const log: string[] = []
      await errorOf(threeSteps({ store, log }).resume('w'))
      expect(log).to.deep.equal(['run C', 'undo B b-new', 'undo A 1'])
    })

    it('after a CompensationCompletion row: a re-run that fails compensates the step that had committed, once', async () => {
      const store = await storeWith(afterB('b-old'))
      const log: string[] = []
      const e = await errorOf(threeSteps({ store, log, failB: true }).resume('w'))
      expect(e.message).to.equal('B failed')
      expect(log).to.deep.equal(['run B', 'undo B b-old', 'undo A 1'])
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('after a CompensationCompletion row: a run cancelled before the re-run compensates the committed step', async () => {
      const store = await storeWith(afterB('b-old'))
      const log: string[] = []
      const ac = new AbortController()
      ac.abort()
      const events = await eventsOf(threeSteps({ store, log }).resume$('w', { signal: ac.signal }))
      expect(lastEvent(events)._tag).to.equal('RunCancelled')
      expect(log).to.deep.equal(['undo B b-old', 'undo A 1'])
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('a crash during the re-run (its entry row written, no completion): the step is compensated once, with its latest output', async () => {
      const rows = [...afterB('b-old'), row(4, 'StateEntry', 'B', { supersedes: 3 })]
      // the re-run succeeds, then C fails: B's new output is compensated, not the old one too
      const store = await storeWith(rows)
      const log: string[] = []
      const { store: rec, rows: written } = recording(store)
      await errorOf(threeSteps({ store: rec, log }).resume('w'))
      expect(log).to.deep.equal(['run B', 'run C', 'undo B b-out', 'undo A 1'])
      // the new entry row replaces the same completion again
      expect(written()[0]).to.deep.equal([5, 'StateEntry', 'B', { supersedes: 3 }])
      // the re-run fails: the old output is compensated
      const again = await storeWith(rows)
      const log2: string[] = []
      await errorOf(threeSteps({ store: again, log: log2, failB: true }).resume('w'))
      expect(log2).to.deep.equal(['run B', 'undo B b-old', 'undo A 1'])
    })

    it('refuses a log that is not whole, or whose rollback rows contradict it, naming the run and the rows', async () => {
      const at = async (rows: ReadonlyArray<CheckpointRow>): Promise<string> => {
        const store = await storeWith(rows)
        const log: string[] = []
        const e = await errorOf(threeSteps({ store, log }).resume('w'))
        expect(log, 'nothing ran').to.deep.equal([])
        expect(await store.loadRun('w'), 'the log is kept').to.deep.equal(rows)
        return `${e._tag}: ${e.message}`
      }
      expect(await at([row(1, 'CompensationCompletion', 'A', 1), row(2, 'StateEntry', 'B')])).to.equal(
        'CheckpointStore: the checkpoint log of workflow id "w" is not whole: sequence 0 missing before 1 (a log is dense from 0; rows were removed or the store returned them out of order)',
      )
      expect(await at([row(0, 'StateEntry', 'A'), row(4, 'StateEntry', 'C')])).to.match(
        /^CheckpointStore: the checkpoint log of workflow id "w" is not whole: sequence 1 to 3 missing before 4 /,
      )
      expect(
        await at([
          row(0, 'StateEntry', 'A'),
          row(1, 'CompensationCompletion', 'A', 1),
          row(2, 'CompensationDone', 'A', { undid: 1 }),
        ]),
      ).to.equal(
        'CheckpointStore: the checkpoint log of workflow id "w" is inconsistent: a CompensationDone row (sequence 2) comes before any RollbackStarted row',
      )
    })

    it('during a rollback: continues it, never re-runs the failed state, never repeats a finished compensation', async () => {
      const original = taskExecutionError('C failed', new Error('C failed'))
      const store = memoryCheckpoints()
      for (const r of [
        row(0, 'StateEntry', 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        row(2, 'StateEntry', 'B'),
        row(3, 'CompensationCompletion', 'B', 'b-out'),
        row(4, 'StateEntry', 'C'),
        row(5, 'RollbackStarted', 'C', CanoErrorCodec.encode(original) as CheckpointRow['payload']),
        row(6, 'CompensationDone', 'B', { undid: 3 }),
      ])
        await store.append(r)
      const log: string[] = []
      const { store: rec, rows } = recording(store)
      const events = await eventsOf(threeSteps({ store: rec, log }).resume$('w'))
      expect(log).to.deep.equal(['undo A 1'])
      expect(events.map((e) => e._tag)).to.deep.equal([
        'RunStarted',
        'RunResumed',
        'CompensationStarted',
        'Compensated',
        'CheckpointAppended',
        'RunFailed',
      ])
      expect(lastEvent(events)).to.deep.include({
        _tag: 'RunFailed',
        state: 'C',
        error: CanoErrorCodec.encode(original),
      })
      expect(rows()).to.deep.equal([[7, 'CompensationDone', 'A', { undid: 1 }]])
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('during a rollback whose compensations had all finished: clears the log and ends with the original error', async () => {
      const store = memoryCheckpoints()
      for (const r of [
        row(0, 'StateEntry', 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        row(2, 'StateEntry', 'C'),
        row(3, 'RollbackStarted', 'C', CanoErrorCodec.encode(cancelledError()) as CheckpointRow['payload']),
        row(4, 'CompensationDone', 'A', { undid: 1 }),
      ])
        await store.append(r)
      const log: string[] = []
      const events = await eventsOf(threeSteps({ store, log }).resume$('w'))
      expect(log).to.deep.equal([])
      // a rollback started by a cancellation still ends as a cancellation
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', error: cancelledError() })
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('after a dirty rollback: a later resume retries only the failed compensations', async () => {
      const store = memoryCheckpoints()
      const log: string[] = []
      await errorOf(threeSteps({ store, log, failCompensationOf: ['B'] }).orchestrate('A', { workflowId: 'd1' }))
      expect(log).to.deep.equal(['run A', 'run B', 'run C', 'undo B b-out', 'undo A 1'])
      const again: string[] = []
      const e = await errorOf(threeSteps({ store, log: again }).resume('d1'))
      expect(again).to.deep.equal(['undo B b-out'])
      expect(e).to.deep.include({ _tag: 'TaskExecution', message: 'C failed' })
      expect(await store.loadRun('d1')).to.deep.equal([])
    })

    it('a resume whose resource setup fails compensates nothing and keeps the log', async () => {
      const store = memoryCheckpoints()
      for (const r of [row(0, 'StateEntry', 'A'), row(1, 'CompensationCompletion', 'A', 1), row(2, 'StateEntry', 'C')])
        await store.append(r)
      const undone: number[] = []
      const flow = workflow<'A' | 'C' | 'Done'>()({
        checkpoints: store,
        resources: Resources.of({ db: { setup: () => Promise.reject(new Error('db down')) } }),
        exits: ['Done'],
        states: {
          A: saga({ output: t.number, run: () => ['C' as const, 1], compensate: (_c, n) => void undone.push(n) }),
          C: task(() => 'Done' as const),
        },
      })
      const e = await errorOf(flow.resume('w'))
      expect(e.message).to.equal('db down')
      expect(undone).to.deep.equal([])
      expect((await store.loadRun('w')).length).to.equal(3)
    })

    it('a missing compensator is OrphanedCompensation carrying the stored output; the log is kept', async () => {
      const store = memoryCheckpoints()
      for (const r of [
        row(0, 'StateEntry', 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        row(2, 'StateEntry', 'Gone'),
        row(3, 'CompensationCompletion', 'Gone', { chargeId: 'ch_9' }),
        row(4, 'StateEntry', 'C'),
      ])
        await store.append(r)
      const log: string[] = []
      const events = await eventsOf(threeSteps({ store, log }).resume$('w'))
      expect(log).to.deep.equal(['run C', 'undo A 1'])
      const end = lastEvent(events)
      const error = end._tag === 'RunFailed' ? end.error : undefined
      expect(error?._tag === 'CompensationFailed' ? error.errors[1] : undefined).to.deep.equal(
        orphanedCompensationError('Gone', { chargeId: 'ch_9' }),
      )
      expect(events.find((e) => e._tag === 'CompensationFailed')).to.deep.include({ state: 'Gone', seq: 3 })
      expect((await store.loadRun('w')).map((r) => r.kind).slice(-2)).to.deep.equal([
        'RollbackStarted',
        'CompensationDone',
      ])
    })

    it('an entry whose stored output no longer decodes fails its compensation with DecodeFailed', async () => {
      const store = memoryCheckpoints()
      for (const r of [
        row(0, 'StateEntry', 'A'),
        row(1, 'CompensationCompletion', 'A', 'not a number'),
        row(2, 'StateEntry', 'C'),
      ])
        await store.append(r)
      const e = await errorOf(threeSteps({ store }).resume('w'))
      expect(e._tag === 'CompensationFailed' ? e.errors[1] : undefined).to.deep.equal(
        decodeFailedError(
          'number',
          ['Invalid value "not a number" supplied to : number'],
          'compensation output of state "A"',
        ),
      )
    })

    it('resumePoint rebuilds the stack and the rollback marker from the rows', () => {
      const original = taskExecutionError('C failed')
      const rows = [
        row(0, 'StateEntry', 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        row(2, 'StateEntry', 'B'),
        row(3, 'CompensationCompletion', 'B', 'x'),
        row(4, 'StateEntry', 'C'),
      ]
      const isKnown = () => true
      const forward = resumePoint<Step>('w', rows.slice(0, 4), { version: 0, isKnown })
      expect(
        forward._tag === 'Right' && forward.right._tag === 'State'
          ? [
              forward.right.state,
              forward.right.stack,
              forward.right.continues._tag === 'Supersedes' ? forward.right.continues.seq : undefined,
            ]
          : [],
      ).to.deep.equal([
        'B',
        [
          { state: 'A', taskId: 'A', encoded: 1, seq: 1 },
          // B's completion stays until B's re-run records its own
          { state: 'B', taskId: 'B', encoded: 'x', seq: 3 },
        ],
        3,
      ])
      const back = resumePoint<Step>(
        'w',
        [...rows, row(5, 'RollbackStarted', 'C', CanoErrorCodec.encode(original) as CheckpointRow['payload'])],
        { version: 0, isKnown: () => false },
      )
      expect(back._tag === 'Right' ? back.right : undefined).to.deep.include({
        state: 'C',
        rollback: { error: original, seq: 5 },
        _tag: 'Rollback',
      })
      expect(back._tag === 'Right' ? back.right.stack.map((e) => e.seq) : []).to.deep.equal([1, 3])
      const garbled = resumePoint<Step>('w', [...rows, row(5, 'RollbackStarted', 'C', { nope: 1 })], {
        version: 0,
        isKnown,
      })
      expect(
        garbled._tag === 'Right' && garbled.right._tag === 'Rollback' ? garbled.right.rollback.error._tag : undefined,
      ).to.equal('DecodeFailed')
    })
  })

  describe('events, observers and snapshots', () => {
    it('calls the observer hooks and counts compensations in the snapshot', async () => {
      const seen: string[] = []
      const flow = threeSteps({ failCompensationOf: ['A'] })
      const snapshots = await eventsOf(
        flow.snapshot$('A', {
          observers: [
            {
              onCompensationStart: (id, s) => seen.push(`start ${id} ${s}`),
              onCompensated: (id) => seen.push(`done ${id}`),
              onCompensationFailure: (id, e) => seen.push(`failed ${id} ${e.message}`),
            },
          ],
        }) as never,
      )
      expect(seen).to.deep.equal(['start B B', 'done B', 'start A A', 'failed A undo A failed'])
      const last = (
        snapshots as unknown as ReadonlyArray<{
          rollingBack: boolean
          compensated: number
          compensationFailures: number
          status: string
        }>
      ).at(-1)
      expect(last).to.deep.include({ status: 'failed', rollingBack: true, compensated: 1, compensationFailures: 1 })
    })
  })

  describe('validation', () => {
    const ok = { output: t.number, run: () => ['Done', 1] as const, compensate: () => undefined }
    it('accepts a well-formed saga', () => {
      expect(validateSaga(saga(ok), 'state "A"')).to.equal(undefined)
    })
    it('rejects a bad compensateTimeoutMs, compensateRetry, output codec or function', () => {
      expect(validateSaga(saga({ ...ok, compensateTimeoutMs: 0 }), 'state "A"')).to.deep.equal(
        configurationError('state "A": compensateTimeoutMs must be a finite number in (0, 2147483647], got 0'),
      )
      expect(validateSaga(saga({ ...ok, compensateRetry: RetryMode.fixed(-1, 0) }), 'state "A"')?.message).to.equal(
        'state "A": compensateRetry: retry.retries must be a non-negative integer, got -1',
      )
      expect(validateSaga(saga({ ...ok, output: {} as never }), 'state "A"')?.message).to.equal(
        'state "A": output must be an io-ts codec (e.g. t.string, t.type({ … }))',
      )
      expect(validateSaga(saga({ ...ok, compensate: 1 as never }), 'state "A"')?.message).to.equal(
        'state "A": compensate must be a function',
      )
    })
    it('is checked when the workflow is defined', () => {
      expect(() =>
        workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: saga({ ...ok, compensateTimeoutMs: -5 }) } }),
      ).to.throw('compensateTimeoutMs must be a finite number')
    })
    it('rollbackOutcome: clean keeps the original error and clears; dirty lists it first and keeps', () => {
      const original = taskExecutionError('ship failed')
      expect(rollbackOutcome(original, [])).to.deep.equal({ error: original, clearLog: true })
      expect(rollbackOutcome(original, [timeoutError(5)])).to.deep.equal({
        error: compensationFailedError([original, timeoutError(5)]),
        clearLog: false,
      })
    })
  })

  describe('types', () => {
    it('checks the next state against the union and types the output from the codec', () => {
      workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s }) => ({
          A: s({
            output: t.type({ id: t.string }),
            run: async () => ['Done', { id: 'x' }],
            compensate: async (_ctx, out) => void out.id.toUpperCase(),
          }),
        }),
      })
      workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s }) => ({
          A: s({
            output: t.number,
            // @ts-expect-error 'Elsewhere' is not a state of the workflow
            run: () => ['Elsewhere', 1],
            compensate: () => undefined,
          }),
        }),
      })
      workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: ({ saga: s }) => ({
          A: s({
            output: t.number,
            // @ts-expect-error the output must match the codec
            run: () => ['Done', 'one'],
            compensate: () => undefined,
          }),
        }),
      })
    })
  })
})
