import { getEventListeners, setMaxListeners } from 'node:events'

import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import {
  asyncScheduler,
  NEVER,
  Observable,
  of,
  type SchedulerAction,
  type SchedulerLike,
  type Subscription,
  take,
  toArray,
} from 'rxjs'
import { lastValueFrom } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  CanoFailure,
  configurationError,
  isCanoFailure,
  nonRetryable,
  resourceNotFoundError,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
  workflowError,
  workflowTimeoutError,
} from '../../src/CanoError.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import type { RunOptions } from '../../src/RunOptions.js'
import { sleep } from '../../src/Sleep.js'
import { router, task } from '../../src/StateHandler.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkflowObserver } from '../../src/WorkflowObserver.js'
import { testScheduler } from '../helpers/virtualTime.js'

type Step = 'A' | 'B' | 'C' | 'Done' | 'Failed'

const collect = <S extends string>(o: Observable<WorkflowEvent<S>>): Promise<WorkflowEvent<S>[]> =>
  lastValueFrom(o.pipe(toArray()))

/** Drops the timestamps so whole event lists compare with deep.equal. */
const untimed = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>): unknown[] =>
  events.map((e) => {
    const { at: _at, ...rest } = e
    return rest
  })

const rejectionOf = async (p: Promise<unknown>): Promise<CanoFailure> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a rejection')
}

describe('workflow', () => {
  describe('orchestrate', () => {
    it('runs states in order and resolves with the exit state', async () => {
      const seen: string[] = []
      const flow = workflow<Step>()({
        exits: ['Done', 'Failed'],
        states: {
          A: task(() => (seen.push('A'), 'B' as const)),
          B: task(async () => (seen.push('B'), 'C' as const)),
          C: task(() => (seen.push('C'), of('Done' as const))),
        },
      })
      expect(await flow.orchestrate('A')).to.equal('Done')
      expect(seen).to.deep.equal(['A', 'B', 'C'])
    })

    it('accepts fp-ts TaskEither results: Right moves on, Left fails the attempt', async () => {
      let calls = 0
      const flow = workflow<'A' | 'B' | 'Done' | 'Failed'>()({
        exits: ['Done', 'Failed'],
        states: {
          A: task(() => TE.right<string, 'B'>('B')),
          B: task(() => (++calls === 1 ? TE.left('first try fails') : TE.right<string, 'Done'>('Done')), {
            retry: RetryMode.fixed(1, 0),
          }),
        },
      })
      expect(await flow.orchestrate('A')).to.equal('Done')
      expect(calls).to.equal(2)
    })

    it('starting at an exit state completes at once without running a task', async () => {
      const flow = workflow<'A' | 'Done' | 'Failed'>()({
        exits: ['Done', 'Failed'],
        states: { A: task(() => 'Done' as const) },
      })
      const events = await collect(flow.run$('Done', { workflowId: 'w' }))
      expect(untimed(events)).to.deep.equal([
        { _tag: 'RunStarted', workflowId: 'w', initial: 'Done' },
        { _tag: 'StateEntered', workflowId: 'w', state: 'Done', transition: 0 },
        { _tag: 'RunCompleted', workflowId: 'w', state: 'Done', transitions: 1 },
      ])
    })

    it('rejects with a Configuration CanoFailure for an initial state that is neither registered nor an exit', async () => {
      let ran = false
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => ((ran = true), 'Done' as const)) },
      })
      const f = await rejectionOf(flow.orchestrate('Nowhere' as 'A'))
      expect(f.error).to.deep.equal(
        configurationError('Initial state "Nowhere" is neither registered nor an exit state'),
      )
      expect(ran).to.equal(false)
    })

    it('fails with a Workflow error when a task returns a state that has no handler', async () => {
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Ghost' as unknown as 'Done') },
      })
      const f = await rejectionOf(flow.orchestrate('A'))
      expect(f.error).to.deep.equal(workflowError('No task registered for state: "Ghost"', 'Ghost'))
    })

    it('fails with a Workflow error, without retrying, when a task returns something that is not a state', async () => {
      let calls = 0
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => (calls++, 42 as unknown as 'Done')) },
      })
      const f = await rejectionOf(flow.orchestrate('A'))
      expect(f.error).to.deep.equal(workflowError('task for state "A" returned 42, not a state name', 'A'))
      expect(calls).to.equal(1)
    })

    it('checks declared targets at run time', async () => {
      const flow = workflow<'A' | 'Done' | 'Failed'>()({
        exits: ['Done', 'Failed'],
        states: { A: task(() => 'Failed' as 'Done', { to: ['Done'] }) },
      })
      const f = await rejectionOf(flow.orchestrate('A'))
      expect(f.error).to.deep.equal(
        workflowError('task for state "A" returned "Failed", which is not one of its declared targets ["Done"]', 'A'),
      )
    })

    it('runs the same workflow many times concurrently without sharing state', async () => {
      const flow = workflow<'A' | 'B' | 'Done'>()({
        resources: Resources.of({ seen: new Map<string, number>() }),
        exits: ['Done'],
        states: ({ task: t }) => ({
          A: t(async ({ res, workflowId }) => {
            res.get('seen').set(workflowId, (res.get('seen').get(workflowId) ?? 0) + 1)
            await new Promise((r) => setImmediate(r))
            return 'B' as const
          }),
          B: t(({ attempt }) => (attempt === 1 ? 'Done' : 'A')),
        }),
      })
      const ids = Array.from({ length: 50 }, (_, i) => `run-${i}`)
      const results = await Promise.all(ids.map((id) => flow.orchestrate('A', { workflowId: id })))
      expect(results).to.deep.equal(ids.map(() => 'Done'))
      expect([...flow.resources.get('seen').values()]).to.deep.equal(ids.map(() => 1))
    })

    it('keeps the stack flat over 100 000 synchronous transitions', async () => {
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = Infinity
      let left = 100_000
      const depths: number[] = []
      const depth = (): number => (new Error().stack ?? '').split('\n').length
      const flow = workflow<'A' | 'B' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            if (left % 10_000 === 0) depths.push(depth())
            return --left <= 0 ? 'Done' : 'B'
          }),
          B: task(() => (--left <= 0 ? 'Done' : 'A')),
        },
      })
      try {
        expect(await flow.orchestrate('A')).to.equal('Done')
      } finally {
        Error.stackTraceLimit = limit
      }
      expect(left).to.equal(0)
      expect(depths.length).to.equal(10)
      // a recursing loop adds frames at every transition; a trampolined one stays at the same depth
      // once the queue is running (the first sample is taken before the trampoline starts)
      const steady = depths.slice(1)
      expect(Math.max(...steady) - Math.min(...steady)).to.be.at.most(2)
    })
  })

  describe('run$', () => {
    it('emits every event of a run in order and ends with RunCompleted', async () => {
      const flow = workflow<'A' | 'B' | 'Done' | 'Failed'>()({
        exits: ['Done', 'Failed'],
        states: {
          A: router(() => 'B' as const),
          B: task(({ progress }) => {
            progress({ done: 1, of: 2 })
            return 'Done' as const
          }),
        },
      })
      const events = await collect(flow.run$('A', { workflowId: 'w1' }))
      expect(untimed(events)).to.deep.equal([
        { _tag: 'RunStarted', workflowId: 'w1', initial: 'A' },
        { _tag: 'StateEntered', workflowId: 'w1', state: 'A', transition: 0 },
        { _tag: 'TaskStarted', workflowId: 'w1', state: 'A', taskId: 'A' },
        { _tag: 'TaskSucceeded', workflowId: 'w1', state: 'A', taskId: 'A', attempts: 1, next: 'B' },
        { _tag: 'StateEntered', workflowId: 'w1', state: 'B', transition: 1 },
        { _tag: 'TaskStarted', workflowId: 'w1', state: 'B', taskId: 'B' },
        { _tag: 'Progress', workflowId: 'w1', state: 'B', taskId: 'B', data: { done: 1, of: 2 } },
        { _tag: 'TaskSucceeded', workflowId: 'w1', state: 'B', taskId: 'B', attempts: 1, next: 'Done' },
        { _tag: 'StateEntered', workflowId: 'w1', state: 'Done', transition: 2 },
        { _tag: 'RunCompleted', workflowId: 'w1', state: 'Done', transitions: 3 },
      ])
    })

    it('visits more states than a run keeps in its env chain, in and out of order, each with its own env', async () => {
      // 12 states (a run chains the envs of its first 8, then indexes them): a cycle through all of them,
      // then a walk that jumps back and forth, so that states are found in the chain, in the index and by
      // the successor hint
      type N = 'S0' | 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'S8' | 'S9' | 'S10' | 'S11' | 'Done'
      const names = Array.from({ length: 12 }, (_, i) => `S${i}` as Exclude<N, 'Done'>)
      const walk: N[] = [...names, ...names, 'S3', 'S10', 'S1', 'S11', 'S0', 'S7', 'Done']
      let step = 0
      const seen: string[] = []
      const states = Object.fromEntries(
        names.map((name) => [
          name,
          task(({ state }) => {
            seen.push(`${name}:${state}`)
            return walk[++step] as N
          }),
        ]),
      ) as Record<Exclude<N, 'Done'>, ReturnType<typeof task<N>>>
      const flow = workflow<N>()({ exits: ['Done'], states })
      for (let run = 0; run < 2; run++) {
        step = 0
        seen.length = 0
        const events = await collect(flow.run$('S0', { workflowId: `many-${run}` }))
        const entered = events.flatMap((e) => (e._tag === 'StateEntered' ? [e.state] : []))
        expect(entered).to.deep.equal(walk)
        expect(seen).to.deep.equal(walk.slice(0, -1).map((s) => `${s}:${s}`))
        const started = events.flatMap((e) => (e._tag === 'TaskStarted' ? [`${e.state}/${e.taskId}`] : []))
        expect(started).to.deep.equal(walk.slice(0, -1).map((s) => `${s}/${s}`))
        expect(events.at(-1)).to.deep.include({ _tag: 'RunCompleted', state: 'Done', transitions: walk.length })
      }
    })

    it('is cold: nothing runs until subscription, and each subscription is a new run', async () => {
      let runs = 0
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => (runs++, 'Done' as const)) } })
      const run$ = flow.run$('A')
      expect(runs).to.equal(0)
      await collect(run$)
      await collect(run$)
      expect(runs).to.equal(2)
    })

    it('schedules retries with the chosen delays and reports each one (virtual time)', () => {
      testScheduler().run(({ flush }) => {
        let calls = 0
        const flow = workflow<'A' | 'Done'>()({
          exits: ['Done'],
          states: {
            A: task(
              () => {
                calls += 1
                if (calls < 3) throw new Error(`boom ${calls}`)
                return 'Done' as const
              },
              {
                retry: RetryMode.exponentialCustom({
                  maxRetries: 3,
                  baseDelayMs: 100,
                  multiplier: 2,
                  maxDelayMs: 1_000,
                  jitter: 0,
                }),
              },
            ),
          },
        })
        const events: WorkflowEvent<Step>[] = []
        const sub = flow.run$('A', { workflowId: 'r' }).subscribe((e) => events.push(e))
        flush()
        sub.unsubscribe()
        const timeline = events
          .filter((e) => e._tag === 'AttemptFailed' || e._tag === 'RetryScheduled' || e._tag === 'TaskSucceeded')
          .map((e) => [
            e._tag,
            e.at,
            e._tag === 'RetryScheduled' ? e.delayMs : e._tag === 'AttemptFailed' ? e.attempt : e.attempts,
          ])
        expect(timeline).to.deep.equal([
          ['AttemptFailed', 0, 1],
          ['RetryScheduled', 0, 100],
          ['AttemptFailed', 100, 2],
          ['RetryScheduled', 100, 200],
          ['TaskSucceeded', 300, 3],
        ])
      })
    })

    it('wraps the last error in RetryExhausted when retries run out', async () => {
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => Promise.reject(new Error('still down')), { retry: RetryMode.fixed(2, 0) }) },
      })
      const events = await collect(flow.run$('A', { workflowId: 'x' }))
      const end = events.at(-1)
      const boom = new Error('still down')
      expect(end?._tag).to.equal('RunFailed')
      const err = end?._tag === 'RunFailed' ? end.error : undefined
      expect(err).to.deep.equal(retryExhaustedError(3, taskExecutionError('still down', boom)))
      expect(events.filter((e) => e._tag === 'AttemptFailed').length).to.equal(3)
      expect(events.filter((e) => e._tag === 'RetryScheduled').length).to.equal(2)
      expect(events.map((e) => e._tag).slice(-3)).to.deep.equal(['AttemptFailed', 'TaskFailed', 'RunFailed'])
    })

    it('returns the original error unchanged when only one attempt is allowed', async () => {
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => Promise.reject(new Error('once')), { retry: RetryMode.none() }) },
      })
      const f = await rejectionOf(flow.orchestrate('A'))
      expect(f.error).to.deep.equal(taskExecutionError('once', new Error('once')))
    })

    it('never retries nonRetryable, Configuration or ResourceNotFound errors', async () => {
      const counts = { A: 0, B: 0, C: 0 }
      const mk = (errFor: () => unknown, key: keyof typeof counts) =>
        workflow<'A' | 'Done'>()({
          resources: Resources.of({ present: 1 }),
          exits: ['Done'],
          states: {
            A: task(() => {
              counts[key] += 1
              throw errFor()
            }),
          },
        })
      const a = await rejectionOf(mk(() => nonRetryable(new Error('bad input')), 'A').orchestrate('A'))
      const b = await rejectionOf(mk(() => configurationError('no'), 'B').orchestrate('A'))
      const flowC = workflow<'A' | 'Done'>()({
        resources: Resources.of({ present: 1 }),
        exits: ['Done'],
        states: ({ task: t }) => ({
          A: t(({ res }) => {
            counts.C += 1
            ;(res as unknown as Resources<Record<string, unknown>>).get('absent')
            return 'Done'
          }),
        }),
      })
      const c = await rejectionOf(flowC.orchestrate('A'))
      expect(counts).to.deep.equal({ A: 1, B: 1, C: 1 })
      expect(a.error).to.deep.equal(taskExecutionError('bad input', new Error('bad input')))
      expect(b.error).to.deep.equal(configurationError('no'))
      expect(c.error).to.deep.equal(resourceNotFoundError('absent'))
    })

    it('aborts the attempt signal with a Timeout error when an attempt times out (virtual time)', () => {
      testScheduler().run(({ flush }) => {
        const signals: AbortSignal[] = []
        const flow = workflow<'A' | 'Done'>()({
          exits: ['Done'],
          states: {
            A: task(
              ({ signal }) => {
                signals.push(signal)
                return NEVER
              },
              { attemptTimeoutMs: 50, retry: RetryMode.fixed(1, 10) },
            ),
          },
        })
        const events: WorkflowEvent<Step>[] = []
        const sub = flow.run$('A', { workflowId: 't' }).subscribe((e) => events.push(e))
        flush()
        sub.unsubscribe()
        expect(signals.map((s): unknown[] => [s.aborted, s.reason as unknown])).to.deep.equal([
          [true, timeoutError(50)],
          [true, timeoutError(50)],
        ])
        const end = events.at(-1)
        expect(end).to.deep.equal({
          _tag: 'RunFailed',
          workflowId: 't',
          at: 110,
          state: 'A',
          error: retryExhaustedError(2, timeoutError(50)),
          transitions: 1,
          attempt: 2,
        })
      })
    })

    it('ends RunTimedOut with WorkflowTimeout when totalTimeoutMs expires, firing the task signal (virtual time)', () => {
      testScheduler().run(({ flush }) => {
        let signal: AbortSignal | undefined
        const flow = workflow<'A' | 'B' | 'Done'>()({
          exits: ['Done'],
          totalTimeoutMs: 1_000,
          states: {
            A: task(() => 'B' as const),
            B: task((ctx) => {
              signal = ctx.signal
              return NEVER
            }),
          },
        })
        const events: WorkflowEvent<Step>[] = []
        const sub = flow.run$('A', { workflowId: 'slow' }).subscribe((e) => events.push(e))
        flush()
        sub.unsubscribe()
        expect(events.at(-1)).to.deep.equal({
          _tag: 'RunTimedOut',
          workflowId: 'slow',
          at: 1_000,
          state: 'B',
          error: workflowTimeoutError(1_000, 1_000),
          transitions: 2,
        })
        expect(signal?.aborted).to.equal(true)
        expect(signal?.reason).to.deep.equal(workflowTimeoutError(1_000, 1_000))
      })
    })
  })

  describe('cancellation', () => {
    it('cancels through the AbortSignal: the task signal fires and the run ends Cancelled', async () => {
      const ac = new AbortController()
      let taskSignal: AbortSignal | undefined
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(
            ({ signal }) =>
              new Promise<'Done'>((_, reject) => {
                taskSignal = signal
                signal.addEventListener('abort', () => reject(new Error('aborted')))
                setImmediate(() => ac.abort())
              }),
          ),
        },
      })
      const f = await rejectionOf(flow.orchestrate('A', { signal: ac.signal }))
      expect(f.error).to.deep.equal(cancelledError())
      expect(taskSignal?.aborted).to.equal(true)
      expect(taskSignal?.reason).to.deep.equal(cancelledError())
    })

    it('does not start a run whose signal is already aborted', async () => {
      let ran = false
      const log: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({
          r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
        }),
        exits: ['Done'],
        states: { A: task(() => ((ran = true), 'Done' as const)) },
      })
      const events = await collect(flow.run$('A', { workflowId: 'c', signal: AbortSignal.abort() }))
      expect(events.map((e) => e._tag)).to.deep.equal(['RunStarted', 'RunCancelled'])
      expect(ran).to.equal(false)
      expect(log).to.deep.equal(['setup', 'teardown'])
    })

    it('aborts the in-flight task and tears resources down when run$ is unsubscribed', async () => {
      const log: string[] = []
      let signal: AbortSignal | undefined
      let sub: Subscription | undefined
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({
          r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
        }),
        exits: ['Done'],
        states: {
          A: task(
            (ctx) =>
              new Promise<'Done'>(() => {
                signal = ctx.signal
                setImmediate(() => sub?.unsubscribe())
              }),
          ),
        },
      })
      await new Promise<void>((resolve) => {
        sub = flow.run$('A').subscribe()
        const poll = (): void => (signal?.aborted === true && log.length === 2 ? resolve() : void setImmediate(poll))
        poll()
      })
      expect(signal?.reason).to.deep.equal(cancelledError('run unsubscribed (the subscriber left)'))
      expect(log).to.deep.equal(['setup', 'teardown'])
    })

    it('starts nothing more once a subscriber unsubscribes in the middle of an event', async () => {
      const log: string[] = []
      let ran = false
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({
          r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
        }),
        exits: ['Done'],
        states: {
          A: task(() => {
            ran = true
            return 'Done' as const
          }),
        },
      })
      // take(2) unsubscribes while StateEntered is being delivered, before A's task would start
      const events = await lastValueFrom(flow.run$('A').pipe(take(2), toArray()))
      expect(events.map((e) => e._tag)).to.deep.equal(['RunStarted', 'StateEntered'])
      await new Promise((r) => setImmediate(r))
      expect(ran).to.equal(false)
      expect(log).to.deep.equal(['setup', 'teardown'])
    })

    it('starts no next state once a subscriber unsubscribes while that state is being entered', async () => {
      const log: string[] = []
      const flow = workflow<'A' | 'B' | 'Done'>()({
        resources: Resources.of({
          r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
        }),
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: task(() => {
            log.push('B ran')
            return 'Done' as const
          }),
        },
      })
      // take(5) unsubscribes while B's StateEntered is being delivered
      const events = await lastValueFrom(flow.run$('A').pipe(take(5), toArray()))
      expect(events.map((e) => e._tag)).to.deep.equal([
        'RunStarted',
        'StateEntered',
        'TaskStarted',
        'TaskSucceeded',
        'StateEntered',
      ])
      await new Promise((r) => setImmediate(r))
      expect(log).to.deep.equal(['setup', 'teardown'])
    })

    it('reports nothing after the terminal event: the aborted task failing late is not news', async () => {
      const seen: string[] = []
      const ac = new AbortController()
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        observers: [{ onEvent: (e) => seen.push(e._tag) }],
        states: {
          A: task(
            (ctx) =>
              new Promise<'Done'>((_, reject) => {
                ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))
                setImmediate(() => ac.abort())
              }),
          ),
        },
      })
      const error = await flow.orchestrate('A', { workflowId: 'late', signal: ac.signal }).catch((e: unknown) => e)
      await new Promise((r) => setImmediate(r))
      expect(error instanceof CanoFailure ? error.error._tag : error).to.equal('Cancelled')
      expect(seen).to.deep.equal(['RunStarted', 'StateEntered', 'TaskStarted', 'RunCancelled'])
    })

    it("leaves no listener on the caller's signal once a run has ended, however it ended", async () => {
      const ac = new AbortController()
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
      })
      const failing = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => Promise.reject(new Error('no')), { retry: RetryMode.none() }) },
      })
      for (let i = 0; i < 20; i++) {
        await flow.orchestrate('A', { workflowId: `ok${i}`, signal: ac.signal })
        await failing.orchestrate('A', { workflowId: `ko${i}`, signal: ac.signal }).catch(() => undefined)
      }
      const parked = flow.run$('A', { workflowId: 'u', signal: ac.signal }).subscribe()
      parked.unsubscribe()
      expect(getEventListeners(ac.signal, 'abort')).to.have.length(0)
    })

    it('settles a parked run at the wake-up of its timer, and a cancelled one at the abort', async () => {
      const flow = workflow<'Wait' | 'Done'>()({
        exits: ['Done'],
        states: { Wait: sleep({ wait: 5, then: 'Done' }) },
      })
      const ac = new AbortController()
      setMaxListeners(50, ac.signal) // 25 runs share it: one listener each while they wait, by design
      const parked = Array.from({ length: 50 }, (_, i) =>
        flow.orchestrate('Wait', { workflowId: `p${i}`, ...(i % 2 === 0 ? { signal: ac.signal } : {}) }),
      )
      ac.abort()
      const outcomes = await Promise.allSettled(parked)
      expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'Done')).to.have.length(25)
      expect(
        outcomes.filter(
          (o) => o.status === 'rejected' && o.reason instanceof CanoFailure && o.reason.error._tag === 'Cancelled',
        ),
      ).to.have.length(25)
    })
  })

  describe('resources', () => {
    it('sets resources up before the first state and tears them down after the last, in LIFO order', async () => {
      const log: string[] = []
      const res = (name: string) => ({
        setup: () => void log.push(`setup ${name}`),
        teardown: () => void log.push(`teardown ${name}`),
      })
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({ a: res('a'), b: res('b') }),
        exits: ['Done'],
        states: { A: task(() => (log.push('task A'), 'Done' as const)) },
      })
      await flow.orchestrate('A')
      expect(log).to.deep.equal(['setup a', 'setup b', 'task A', 'teardown b', 'teardown a'])
    })

    it('tears resources down after a failed run too', async () => {
      const log: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({ a: { teardown: () => void log.push('teardown a') } }),
        exits: ['Done'],
        states: { A: task(() => Promise.reject(new Error('x')), { retry: RetryMode.none() }) },
      })
      await rejectionOf(flow.orchestrate('A'))
      expect(log).to.deep.equal(['teardown a'])
    })

    it('fails the run with the setup error, runs no state, and rolls back what was set up', async () => {
      const log: string[] = []
      let ran = false
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({
          a: { setup: () => void log.push('setup a'), teardown: () => void log.push('teardown a') },
          b: {
            setup: () => {
              throw new Error('db down')
            },
            teardown: () => void log.push('teardown b'),
          },
        }),
        exits: ['Done'],
        states: { A: task(() => ((ran = true), 'Done' as const)) },
      })
      const f = await rejectionOf(flow.orchestrate('A'))
      expect(f.error._tag).to.equal('TaskExecution')
      expect(f.error.message).to.equal('db down')
      expect(ran).to.equal(false)
      expect(log).to.deep.equal(['setup a', 'teardown a'])
    })

    it('skips setup and teardown with manageResources: false', async () => {
      const log: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        resources: Resources.of({
          a: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
        }),
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
      })
      await flow.orchestrate('A', { manageResources: false })
      expect(log).to.deep.equal([])
    })
  })

  describe('observers', () => {
    it("calls cano's hooks in order and survives an observer that throws", async () => {
      const log: string[] = []
      const hooks: WorkflowObserver<Step> = {
        onStateEnter: (s) => log.push(`enter ${s}`),
        onTaskStart: (id) => log.push(`start ${id}`),
        onRetry: (id, n) => log.push(`retry ${id} ${n}`),
        onTaskSuccess: (id) => log.push(`ok ${id}`),
        onTaskFailure: (id, e) => log.push(`fail ${id} ${e._tag}`),
        onRunEnd: (e) => log.push(`end ${e._tag}`),
      }
      const broken: WorkflowObserver<Step> = {
        onEvent: () => {
          throw new Error('observer bug')
        },
      }
      let calls = 0
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        observers: [broken],
        states: {
          A: task(() => (++calls === 1 ? Promise.reject(new Error('flaky')) : 'Done'), {
            retry: RetryMode.fixed(1, 0),
          }),
        },
      })
      const events = await collect(flow.run$('A', { observers: [hooks] }))
      expect(log).to.deep.equal(['enter A', 'start A', 'retry A 1', 'ok A', 'enter Done', 'end RunCompleted'])
      expect(events.at(-1)?._tag).to.equal('RunCompleted')
      const failures = events.filter((e) => e._tag === 'ObserverFailed')
      expect(failures.length).to.be.greaterThan(0)
      expect(failures[0]).to.include({ observer: 0 })
    })

    it('delivers every event to observers of orchestrate', async () => {
      const tags: string[] = []
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      await flow.orchestrate('A', { observers: [{ onEvent: (e) => tags.push(e._tag) }] })
      expect(tags).to.deep.equal([
        'RunStarted',
        'StateEntered',
        'TaskStarted',
        'TaskSucceeded',
        'StateEntered',
        'RunCompleted',
      ])
    })
  })

  describe('snapshot$', () => {
    it('folds the events into frozen RunState snapshots', async () => {
      let calls = 0
      const flow = workflow<'A' | 'B' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: task(() => (++calls < 2 ? Promise.reject(new Error('again')) : 'Done'), { retry: RetryMode.fixed(2, 0) }),
        },
      })
      const snaps = await lastValueFrom(flow.snapshot$('A', { workflowId: 's' }).pipe(toArray()))
      const last = snaps.at(-1)
      expect(last).to.include({
        workflowId: 's',
        status: 'completed',
        current: 'Done',
        totalAttempts: 3,
        totalRetries: 1,
      })
      expect(last?.history).to.deep.equal(['A', 'B', 'Done'])
      expect(Object.isFrozen(last)).to.equal(true)
      expect(snaps[0]?.status).to.equal('running')
    })

    it('carries the minted id from the first snapshot on, the one the events carry; each subscription is its own run', async () => {
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      const snapshots$ = flow.snapshot$('A')
      const first = await lastValueFrom(snapshots$.pipe(toArray()))
      const second = await lastValueFrom(snapshots$.pipe(toArray()))
      const id = first[0]?.workflowId ?? ''
      expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(first.every((s) => s.workflowId === id)).to.equal(true)
      expect(second[0]?.workflowId).to.not.equal(id)
      const events = await collect(flow.run$('A', { workflowId: 'given' }))
      expect(events.every((e) => e.workflowId === 'given')).to.equal(true)
    })

    it('a refused run still folds to one failed snapshot carrying the id as given', async () => {
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      const snaps = await lastValueFrom(flow.snapshot$('A', { workflowId: '' }).pipe(toArray()))
      expect(snaps.map((s) => [s.workflowId, s.status])).to.deep.equal([['', 'failed']])
      expect(snaps[0]?.lastError).to.deep.equal(configurationError('workflowId must be a non-empty string'))
    })
  })

  describe('orchestrateTE', () => {
    it('resolves to Right with the exit state and Left with the CanoError', async () => {
      const ok = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      const bad = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(() => Promise.reject(configurationError('bad'))) },
      })
      expect(await ok.orchestrateTE('A')()).to.deep.equal(E.right('Done'))
      expect(await bad.orchestrateTE('A')()).to.deep.equal(E.left(configurationError('bad')))
    })
  })

  describe('toMermaid', () => {
    it('draws declared transitions and exits', () => {
      const flow = workflow<'A' | 'B' | 'Done' | 'Failed'>()({
        exits: ['Done', 'Failed'],
        states: {
          A: task(() => 'B' as const, { to: ['B', 'Failed'] }),
          B: task(() => 'Done' as const, { to: ['Done'] }),
        },
      })
      // every state under an alias (test/roots/toMermaid.test.ts feeds such diagrams to Mermaid's parser)
      expect(flow.toMermaid().split('\n')).to.deep.equal([
        'stateDiagram-v2',
        '  state "A" as s0',
        '  state "B" as s1',
        '  state "Done" as s2',
        '  state "Failed" as s3',
        '  [*] --> s0',
        '  s0 --> s1',
        '  s0 --> s3',
        '  s1 --> s2',
        '  s2 --> [*]',
        '  s3 --> [*]',
      ])
    })
  })

  describe('definition validation', () => {
    const bad = (def: unknown): string => {
      try {
        workflow<Step>()(def as never)
      } catch (e: unknown) {
        if (isCanoFailure(e) && e.error._tag === 'Configuration') return e.error.message
        throw e
      }
      throw new Error('expected a Configuration error')
    }
    const ok = task(() => 'Done' as const)

    it('rejects definitions the types cannot see, naming the state', () => {
      expect(bad({ exits: [], states: { A: ok } })).to.match(/no exit states/)
      expect(bad({ exits: ['Done'], states: {} })).to.match(/no registered state handlers/)
      expect(bad({ exits: ['Done'], states: { Done: ok } })).to.equal(
        'state "Done" is an exit and has a handler: exits end the run and never run a handler',
      )
      expect(bad({ exits: ['Done'], states: { A: () => 'Done' } })).to.match(/^state "A": handler must be built/)
      expect(bad({ exits: ['Done'], states: { A: task(() => 'Done' as const, { attemptTimeoutMs: 0 }) } })).to.match(
        /^state "A": attemptTimeoutMs must be a finite number/,
      )
      expect(
        bad({ exits: ['Done'], states: { A: task(() => 'Done' as const, { attemptTimeoutMs: Number.NaN }) } }),
      ).to.match(/^state "A": attemptTimeoutMs/)
      expect(
        bad({ exits: ['Done'], states: { A: task(() => 'Done' as const, { retry: RetryMode.fixed(-1, 10) }) } }),
      ).to.equal('state "A": retry.retries must be a non-negative integer, got -1')
      expect(bad({ exits: ['Done'], states: { A: task(() => 'Done' as const, { to: ['Nope' as 'Done'] }) } })).to.equal(
        'state "A": declared target "Nope" is neither a state nor an exit',
      )
      expect(bad({ exits: ['Done'], states: { A: ok }, totalTimeoutMs: -5 })).to.match(/^totalTimeoutMs must be/)
      expect(bad({ exits: ['Done'], states: { A: ok }, version: 1.5 })).to.match(
        /^version must be a non-negative integer/,
      )
      expect(bad({ exits: [''], states: { A: ok } })).to.match(/must be a non-empty string/)
    })

    it('refuses an id no store could keep (NUL, a lone surrogate) up front, naming it, running nothing', async () => {
      let ran = false
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            ran = true
            return 'Done' as const
          }),
        },
      })
      for (const [id, shown] of [
        ['a\u0000b', '"a\\u0000b"'],
        ['x\ud800', '"x\\ud800"'],
      ] as const) {
        const f = await rejectionOf(flow.orchestrate('A', { workflowId: id }))
        expect(f.error).to.deep.equal(
          configurationError(
            `workflowId ${shown} cannot be stored: it contains a NUL character or an unpaired UTF-16 surrogate`,
          ),
        )
        const events = await collect(flow.run$('A', { workflowId: id }))
        expect(events.map((e) => [e._tag, e.workflowId])).to.deep.equal([['RunFailed', id]])
      }
      expect(ran).to.equal(false)
    })

    it('rejects an empty workflowId at run time', async () => {
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: ok } })
      const f = await rejectionOf(flow.orchestrate('A', { workflowId: '' }))
      expect(f.error).to.deep.equal(configurationError('workflowId must be a non-empty string'))
    })

    it('refuses run options of the wrong shape with a Configuration error naming the option, running nothing', async () => {
      let ran = false
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            ran = true
            return 'Done' as const
          }),
        },
      })
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, 'run options must be an object, got null'],
        [{ signal: {} }, 'run option signal must be an AbortSignal, got {}'],
        [{ observers: 5 }, 'run option observers must be a list of WorkflowObserver objects'],
        [{ observers: [null] }, 'run option observers must be a list of WorkflowObserver objects'],
        [{ scheduler: { now: 1 } }, 'run option scheduler must be an RxJS SchedulerLike, got {"now":1}'],
        [{ manageResources: 'no' }, 'run option manageResources must be a boolean, got "no"'],
      ]
      for (const [options, message] of cases) {
        const f = await rejectionOf(flow.orchestrate('A', options as RunOptions<'A' | 'Done'>))
        expect(f.error).to.deep.equal(configurationError(message))
        const events = await lastValueFrom(flow.run$('A', options as RunOptions<'A' | 'Done'>).pipe(toArray()))
        expect(events.map((e) => e._tag)).to.deep.equal(['RunFailed'])
      }
      expect(ran).to.equal(false)
    })

    it('errors the event stream, rather than hanging, when the run scheduler breaks while the run ends', async () => {
      let broken = false
      const clock: SchedulerLike = {
        now: () => {
          if (broken) throw new Error('clock broke')
          return 0
        },
        schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T) =>
          asyncScheduler.schedule(work, delay, state),
      }
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(() => {
            broken = true
            return 'Done' as const
          }),
        },
      })
      const error = await lastValueFrom(flow.run$('A', { workflowId: 'clock', scheduler: clock })).catch(
        (e: unknown) => e,
      )
      expect(error).to.be.instanceOf(Error)
      broken = false
      const rejected = await rejectionOf(
        flow.orchestrate('A', { workflowId: 'clock2', scheduler: clock }).finally(() => {
          broken = false
        }),
      )
      expect(rejected.error.message).to.equal('clock broke')
    })
  })
})
