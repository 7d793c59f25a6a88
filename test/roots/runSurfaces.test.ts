/**
 * Issue 13, items 2 to 4 on a workflow: `result$` (one value, or a `CanoFailure` with its context),
 * `events` (for await), `watch$` (events and snapshots of one run), the `resume…` counterpart of every
 * surface, `resumeTE`, `workflowEither`, and the context every failure carries.
 */
import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { firstValueFrom, lastValueFrom, map, NEVER, take, takeUntil, throwError, timer, toArray } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { workflow, workflowEither } from '../../roots/Workflow.js'
import {
  CanoFailure,
  configurationError,
  isCanoFailure,
  retryExhaustedError,
  taskExecutionError,
  workflowTimeoutError,
} from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { RetryMode } from '../../src/RetryMode.js'
import { UNSUBSCRIBED } from '../../src/RunMachine.js'
import { saga } from '../../src/Saga.js'
import { sleep } from '../../src/Sleep.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import { isTerminalEvent, type WorkflowEvent } from '../../src/WorkflowEvent.js'
import { failure, failures } from '../helpers/failures.js'
import { testScheduler } from '../helpers/virtualTime.js'

type Step = 'A' | 'B' | 'Done'

/** A → B → Done, each a task. */
const straight = workflow<Step>()({
  exits: ['Done'],
  states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
})

/** B fails three times (RetryMode.fixed(2, 10)): RetryExhausted after attempt 3. */
const failing = workflow<Step>()({
  exits: ['Done'],
  states: {
    A: task(() => 'B' as const),
    B: task(() => Promise.reject(new Error('no')), { retry: RetryMode.fixed(2, 10) }),
  },
})

const rejectionOf = (p: Promise<unknown>): Promise<CanoFailure> =>
  p.then(
    () => Promise.reject(new Error('expected a rejection')),
    (e: unknown) => (e instanceof CanoFailure ? e : Promise.reject(new Error(`not a CanoFailure: ${String(e)}`))),
  )

/** A log with one `StateEntry` row at `state`: a run that crashed there, for `resume…`. */
const crashedAt = async (store: CheckpointStore, workflowId: string, state: Step): Promise<void> =>
  store.append({ workflowId, seq: 0, kind: 'StateEntry', state, taskId: state, payload: null, version: 0, at: 1 })

describe('run surfaces (issue 13)', () => {
  describe('result$', () => {
    it('emits the exit state once and completes (virtual time)', () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: { A: sleep({ wait: 30, then: 'B' }), B: task(() => 'Done' as const) },
      })
      testScheduler().run(({ expectObservable }) => {
        expectObservable(flow.result$('A', { workflowId: 'r' })).toBe('30ms (d|)', { d: 'Done' })
      })
    })

    it('emits the state and the decoded output with an output declaration', async () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        output: { codec: t.type({ n: t.number }), at: () => ({ n: 7 }) },
        states: { A: task(() => 'Done' as const), B: task(() => 'Done' as const) },
      })
      expect(await firstValueFrom(flow.result$('A'))).to.deep.equal({ state: 'Done', output: { n: 7 } })
    })

    it('errors with a CanoFailure carrying the error and where the run failed (virtual time)', () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: task(() => throwError(() => new Error('no')), { retry: RetryMode.fixed(2, 10) }),
        },
      })
      testScheduler().run(({ expectObservable }) => {
        expectObservable(failures(flow.result$('A', { workflowId: 'f' }))).toBe(
          '20ms #',
          undefined,
          failure(retryExhaustedError(3, taskExecutionError('no', new Error('no')))),
        )
      })
    })

    it('the CanoFailure is an Error with a stack, whose context names the run, state, attempt and transitions', async () => {
      const error = await lastValueFrom(failing.result$('A', { workflowId: 'f' })).catch((e: unknown) => e)
      expect(error).to.be.instanceOf(Error)
      expect(isCanoFailure(error)).to.equal(true)
      const f = error as CanoFailure
      expect(f.stack).to.include('CanoFailure')
      expect(f.context).to.deep.equal({ workflowId: 'f', state: 'B', attempt: 3, transitions: 2 })
      expect(f.message).to.equal(
        'Retry exhausted: Task failed after 3 attempt(s): Task execution error: no (run "f", state "B", attempt 3, 2 transitions)',
      )
    })

    it('is the same one value as orchestrate, and its failure the same as orchestrate rejects with', async () => {
      expect(await firstValueFrom(straight.result$('A'))).to.equal(await straight.orchestrate('A'))
      const [viaResult, viaPromise] = await Promise.all([
        rejectionOf(lastValueFrom(failing.result$('A', { workflowId: 'x' }))),
        rejectionOf(failing.orchestrate('A', { workflowId: 'x' })),
      ])
      expect(viaResult.error).to.deep.equal(viaPromise.error)
      expect(viaResult.context).to.deep.equal(viaPromise.context)
      expect(viaResult.message).to.equal(viaPromise.message)
    })

    it('a cancelled and a timed-out run carry their state and transitions (no attempt: no task failed)', () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        totalTimeoutMs: 50,
        states: { A: task(() => 'B' as const), B: task(() => NEVER) },
      })
      let error: unknown
      testScheduler().run(({ flush }) => {
        const sub = flow.result$('A', { workflowId: 't' }).subscribe({ error: (e: unknown) => (error = e) })
        flush()
        sub.unsubscribe()
      })
      expect((error as CanoFailure).error).to.deep.equal(workflowTimeoutError(50, 50))
      expect((error as CanoFailure).context).to.deep.equal({
        workflowId: 't',
        state: 'B',
        attempt: undefined,
        transitions: 2,
      })
    })

    it('the attempt is the one the failed task failed at, in a stepped and a saga state too', async () => {
      const steppedFlow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: stepped<Step, number>({
            cursor: t.number,
            retry: RetryMode.fixed(1, 0),
            step: (_ctx, c) => ((c ?? 0) < 2 ? StepOutcome.more((c ?? 0) + 1) : Promise.reject(new Error('step 3'))),
          }),
          B: task(() => 'Done' as const),
        },
      })
      const sagaFlow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(() => 'B' as const),
          B: saga({
            output: t.string,
            retry: RetryMode.fixed(2, 0),
            run: () => Promise.reject(new Error('charge')),
            compensate: () => undefined,
          }),
        },
      })
      const [stepFailure, sagaFailure] = await Promise.all([
        rejectionOf(steppedFlow.orchestrate('A', { workflowId: 's' })),
        rejectionOf(sagaFlow.orchestrate('A', { workflowId: 'g' })),
      ])
      expect(stepFailure.context).to.deep.equal({ workflowId: 's', state: 'A', attempt: 2, transitions: 1 })
      expect(sagaFailure.context).to.deep.equal({ workflowId: 'g', state: 'B', attempt: 3, transitions: 2 })
    })

    it('a run refused before it starts errors with its Configuration error (no state)', async () => {
      const error = await rejectionOf(lastValueFrom(straight.result$('A', { workflowId: '' })))
      expect(error.error._tag).to.equal('Configuration')
      expect(error.context).to.deep.include({ state: undefined, transitions: 0 })
    })

    it('unsubscribing before the value cancels the run: its observers see RunCancelled', () => {
      const seen: string[] = []
      const flow = workflow<Step>()({ exits: ['Done'], states: { A: task(() => NEVER), B: task(() => 'Done') } })
      testScheduler().run(({ expectObservable }) => {
        expectObservable(
          flow
            .result$('A', { observers: [{ onRunEnd: (e) => seen.push(`${e._tag} ${e.at}`) }] })
            .pipe(takeUntil(timer(5))),
        ).toBe('5ms |')
      })
      expect(seen).to.deep.equal(['RunCancelled 5'])
    })

    it('on a store with a run table too', async () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        checkpoints: memoryCheckpoints(),
        states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
      })
      expect(await lastValueFrom(flow.result$('A', { workflowId: 'owned' }).pipe(toArray()))).to.deep.equal(['Done'])
    })
  })

  describe('events (for await)', () => {
    it("hands out the run's events in order, ending with its terminal event", async () => {
      const tags: string[] = []
      for await (const e of straight.events('A', { workflowId: 'it' })) tags.push(e._tag)
      expect(tags).to.deep.equal([
        'RunStarted',
        'StateEntered',
        'TaskStarted',
        'TaskSucceeded',
        'StateEntered',
        'TaskStarted',
        'TaskSucceeded',
        'StateEntered',
        'RunCompleted',
      ])
    })

    it('each loop is its own run', async () => {
      let runs = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: { A: task(() => (runs++, 'Done' as const)), B: task(() => 'Done' as const) },
      })
      const iterable = flow.events('A')
      for await (const _ of iterable) {
        // drain
      }
      for await (const _ of iterable) {
        // drain
      }
      expect(runs).to.equal(2)
    })
  })

  describe('watch$', () => {
    it('pairs each event of one run with the snapshot after it', async () => {
      const updates = await lastValueFrom(straight.watch$('A', { workflowId: 'w' }).pipe(toArray()))
      const events = await lastValueFrom(straight.run$('A', { workflowId: 'w' }).pipe(toArray()))
      expect(updates.map((u) => u.event._tag)).to.deep.equal(events.map((e) => e._tag))
      expect(updates.map((u) => u.snapshot.status)).to.deep.equal([
        'running',
        'running',
        'running',
        'running',
        'running',
        'running',
        'running',
        'running',
        'completed',
      ])
      expect(updates.at(-1)?.snapshot.history).to.deep.equal(['A', 'B', 'Done'])
      expect(updates.every((u) => u.snapshot.workflowId === 'w')).to.equal(true)
      // one run: one RunStarted
      expect(updates.filter((u) => u.event._tag === 'RunStarted')).to.have.length(1)
    })

    it('folds a fresh snapshot per subscription', async () => {
      const watched = straight.watch$('A', { workflowId: 'w' })
      const first = await lastValueFrom(watched)
      const second = await lastValueFrom(watched)
      expect(first.snapshot).to.not.equal(second.snapshot)
      expect([first, second].map((u) => [u.snapshot.history, u.snapshot.totalAttempts])).to.deep.equal([
        [['A', 'B', 'Done'], 2],
        [['A', 'B', 'Done'], 2],
      ])
    })

    it('holds the decoded output once the run completes', async () => {
      const flow = workflow<Step>()({
        exits: ['Done'],
        output: { codec: t.type({ n: t.number }), at: () => ({ n: 7 }) },
        states: { A: task(() => 'Done' as const), B: task(() => 'Done' as const) },
      })
      const last = await lastValueFrom(flow.watch$('A'))
      expect(last.snapshot.output).to.deep.equal({ n: 7 })
    })
  })

  describe('resume on every surface', () => {
    const crashed = () => {
      const store = memoryCheckpoints()
      const ran: Step[] = []
      const flow = workflow<Step>()({
        exits: ['Done'],
        checkpoints: store,
        states: { A: task(() => (ran.push('A'), 'B' as const)), B: task(() => (ran.push('B'), 'Done' as const)) },
      })
      return { store, flow, ran }
    }

    it('resumeResult$: the resumed run as one value', async () => {
      const { store, flow, ran } = crashed()
      await crashedAt(store, 'r1', 'B')
      expect(await lastValueFrom(flow.resumeResult$('r1').pipe(toArray()))).to.deep.equal(['Done'])
      expect(ran).to.deep.equal(['B'])
    })

    it('resumeResult$: a run that cannot be resumed errors with a CanoFailure', async () => {
      const { flow } = crashed()
      const error = await rejectionOf(lastValueFrom(flow.resumeResult$('nobody')))
      expect(error.error._tag).to.equal('CheckpointStore')
    })

    it('resumeEvents: for await over the resumed run', async () => {
      const { store, flow } = crashed()
      await crashedAt(store, 'r2', 'B')
      const tags: string[] = []
      for await (const e of flow.resumeEvents('r2')) tags.push(e._tag)
      expect(tags.slice(0, 2)).to.deep.equal(['RunStarted', 'RunResumed'])
      expect(tags.at(-1)).to.equal('RunCompleted')
    })

    it('resumeWatch$: events and snapshots of the resumed run', async () => {
      const { store, flow } = crashed()
      await crashedAt(store, 'r3', 'B')
      const last = await lastValueFrom(flow.resumeWatch$('r3'))
      expect(last.event._tag).to.equal('RunCompleted')
      expect(last.snapshot).to.deep.include({ workflowId: 'r3', status: 'completed', resumedFromSeq: 0 })
      expect(last.snapshot.history).to.deep.equal(['B', 'Done'])
    })

    it('resumeTE: Right with the result, Left with the CanoError', async () => {
      const { store, flow } = crashed()
      await crashedAt(store, 'r4', 'B')
      expect(await flow.resumeTE('r4')()).to.deep.equal(E.right('Done'))
      const left = await flow.resumeTE('nobody')()
      expect(E.isLeft(left) && left.left._tag).to.equal('CheckpointStore')
    })

    it('resume$ and resume are unchanged', async () => {
      const { store, flow } = crashed()
      await crashedAt(store, 'r5', 'A')
      expect(await flow.resume('r5')).to.equal('Done')
    })
  })

  describe('workflowEither', () => {
    it('Right: the same workflow workflow() builds', async () => {
      const defined = workflowEither<Step>()({
        exits: ['Done'],
        states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
      })
      expect(E.isRight(defined)).to.equal(true)
      if (E.isRight(defined)) expect(await defined.right.orchestrate('A')).to.equal('Done')
    })

    it('Left: the Configuration error workflow() throws, as a value', () => {
      const definition = {
        exits: ['Done'],
        states: { A: task(() => 'B' as const), B: task(() => 'Done' as const), Done: task(() => 'Done' as const) },
      } as unknown as Parameters<ReturnType<typeof workflowEither<Step>>>[0]
      const defined = workflowEither<Step>()(definition)
      let thrown: unknown
      try {
        workflow<Step>()(definition)
      } catch (e: unknown) {
        thrown = e
      }
      const expected: CanoError = configurationError(
        'state "Done" is an exit and has a handler: exits end the run and never run a handler',
      )
      expect(defined).to.deep.equal(E.left(expected))
      expect(isCanoFailure(thrown) && thrown.error).to.deep.equal(expected)
    })

    it('Left when the states function throws, instead of throwing', () => {
      const defined = workflowEither<Step>()({
        exits: ['Done'],
        states: () => {
          throw new Error('no builders today')
        },
      })
      expect(defined).to.deep.equal(E.left(configurationError('states(builders) threw: no builders today')))
    })
  })

  describe('firstValueFrom and friends', () => {
    it('firstValueFrom(run$) resolves with RunStarted and cancels the run (as the TSDoc of run$ says)', async () => {
      const ends: WorkflowEvent<Step>[] = []
      const first = await firstValueFrom(straight.run$('A', { observers: [{ onRunEnd: (e) => ends.push(e) }] }))
      expect(first._tag).to.equal('RunStarted')
      expect(ends.map((e) => [e._tag, isTerminalEvent(e) && 'error' in e ? e.error : undefined])).to.deep.equal([
        ['RunCancelled', UNSUBSCRIBED],
      ])
    })

    it('take(1) of result$ is the whole run', async () => {
      expect(
        await lastValueFrom(
          straight.result$('A').pipe(
            take(1),
            map((s) => `${s}!`),
          ),
        ),
      ).to.equal('Done!')
    })
  })
})
