import { expect } from 'chai'
import * as t from 'io-ts'
import { lastValueFrom, map, mergeMap, of, throwError, timer, toArray } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { batch } from '../../src/Batch.js'
import { circuitOpenError, taskExecutionError, timeoutError } from '../../src/CanoError.js'
import { memoryCheckpoints } from '../../src/CheckpointStore.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { resumedDetails } from '../../src/Resume.js'
import { RetryMode } from '../../src/RetryMode.js'
import { type BranchProgress, initialRunState, reduceRunState, type RunState } from '../../src/RunState.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { eventsInVirtualTime } from '../helpers/runEvents.js'

type S = 'Fan' | 'Join' | 'Done'

/** Every snapshot of a run, paired with the event that produced it. */
const fold = <St extends string>(
  events: ReadonlyArray<WorkflowEvent<St>>,
): Array<readonly [WorkflowEvent<St>, RunState<St>]> => {
  let state = initialRunState<St>('w')
  return events.map((e) => {
    state = reduceRunState(state, e)
    return [e, state] as const
  })
}

const reduceAll = <St extends string>(events: ReadonlyArray<WorkflowEvent<St>>): RunState<St> =>
  events.reduce<RunState<St>>(reduceRunState, initialRunState<St>('w'))

const branch = (
  index: number,
  status: BranchProgress['status'],
  attempts: number,
  rest: Partial<Pick<BranchProgress, 'error' | 'progress'>> = {},
): BranchProgress => ({ index, status, attempts, error: undefined, progress: undefined, ...rest })

const base = { workflowId: 'w', at: 0 } as const
const boom = taskExecutionError('boom')

describe('reduceRunState: split branches', () => {
  const started = (i: number): WorkflowEvent<S> => ({
    ...base,
    _tag: 'TaskStarted',
    state: 'Fan',
    taskId: `Fan[${i}]`,
    branch: i,
    branches: 3,
  })
  const entered: ReadonlyArray<WorkflowEvent<S>> = [
    { ...base, _tag: 'RunStarted', initial: 'Fan' },
    { ...base, _tag: 'StateEntered', state: 'Fan', transition: 0 },
    { ...base, _tag: 'TaskStarted', state: 'Fan', taskId: 'Fan' },
  ]

  it('lists every branch from the first start, the ones not started as pending', () => {
    const s = reduceAll<S>([...entered, started(0)])
    expect(s.branches).to.deep.equal([branch(0, 'running', 1), branch(1, 'pending', 0), branch(2, 'pending', 0)])
  })

  it('counts a branch retry on the branch and in the run totals, never in the split attempt', () => {
    const s = reduceAll<S>([
      ...entered,
      started(0),
      started(1),
      { ...base, _tag: 'AttemptFailed', state: 'Fan', taskId: 'Fan[1]', attempt: 1, error: boom, branch: 1 },
      { ...base, _tag: 'RetryScheduled', state: 'Fan', taskId: 'Fan[1]', attempt: 1, delayMs: 5, branch: 1 },
      { ...base, _tag: 'Progress', state: 'Fan', taskId: 'Fan[0]', data: { page: 2 }, branch: 0 },
    ])
    expect(s.branches).to.deep.equal([
      branch(0, 'running', 1, { progress: { page: 2 } }),
      branch(1, 'running', 2, { error: boom }),
      branch(2, 'pending', 0),
    ])
    expect([s.attempt, s.totalAttempts, s.totalRetries, s.lastError]).to.deep.equal([1, 4, 1, boom])
  })

  it('takes back a branch retry its circuit breaker rejected (it never ran), not a rejected first attempt', () => {
    const open = circuitOpenError('circuit breaker open: rejecting call')
    const s = reduceAll<S>([
      ...entered,
      started(0),
      started(1),
      { ...base, _tag: 'AttemptFailed', state: 'Fan', taskId: 'Fan[1]', attempt: 1, error: boom, branch: 1 },
      { ...base, _tag: 'RetryScheduled', state: 'Fan', taskId: 'Fan[1]', attempt: 1, delayMs: 5, branch: 1 },
      { ...base, _tag: 'CircuitRejected', state: 'Fan', taskId: 'Fan[1]', error: open, branch: 1 },
      { ...base, _tag: 'CircuitRejected', state: 'Fan', taskId: 'Fan[0]', error: open, branch: 0 },
    ])
    expect(s.branches.map((b) => [b.index, b.attempts, b.error])).to.deep.equal([
      [0, 1, open],
      [1, 1, open],
      [2, 0, undefined],
    ])
    expect([s.attempt, s.totalAttempts, s.totalRetries]).to.deep.equal([1, 3, 0])
  })

  it('records how each branch settled; a branch that succeeds after a failure keeps no error', () => {
    const s = reduceAll<S>([
      ...entered,
      started(0),
      { ...base, _tag: 'AttemptFailed', state: 'Fan', taskId: 'Fan[0]', attempt: 1, error: boom, branch: 0 },
      { ...base, _tag: 'RetryScheduled', state: 'Fan', taskId: 'Fan[0]', attempt: 1, delayMs: 5, branch: 0 },
      {
        ...base,
        _tag: 'SplitBranchSettled',
        state: 'Fan',
        taskId: 'Fan[0]',
        index: 0,
        outcome: { _tag: 'Succeeded', index: 0, value: 1 },
      },
      started(1),
      {
        ...base,
        _tag: 'SplitBranchSettled',
        state: 'Fan',
        taskId: 'Fan[1]',
        index: 1,
        outcome: { _tag: 'Failed', index: 1, error: timeoutError(5) },
      },
      {
        ...base,
        _tag: 'SplitBranchSettled',
        state: 'Fan',
        taskId: 'Fan[2]',
        index: 2,
        outcome: { _tag: 'Cancelled', index: 2 },
      },
    ])
    expect(s.branches).to.deep.equal([
      branch(0, 'succeeded', 2),
      branch(1, 'failed', 1, { error: timeoutError(5) }),
      branch(2, 'cancelled', 0),
    ])
    expect(s.lastError).to.deep.equal(timeoutError(5))
  })

  it('forgets the branches when the next state is entered', () => {
    const s = reduceAll<S>([...entered, started(0), { ...base, _tag: 'StateEntered', state: 'Join', transition: 1 }])
    expect(s.branches).to.deep.equal([])
  })

  it('grows the list for a branch event without a branch count (events written by hand)', () => {
    const s = reduceAll<S>([
      ...entered,
      { ...base, _tag: 'RetryScheduled', state: 'Fan', taskId: 'Fan[1]', attempt: 1, delayMs: 5, branch: 1 },
    ])
    expect(s.branches).to.deep.equal([branch(0, 'pending', 0), branch(1, 'pending', 1)])
  })

  it('keeps every snapshot frozen and never changes an earlier one', () => {
    const snapshots = fold<S>([...entered, started(0), started(1)]).map(([, s]) => s)
    const [, , , first, second] = snapshots
    expect(first?.branches.map((b) => b.status)).to.deep.equal(['running', 'pending', 'pending'])
    expect(second?.branches.map((b) => b.status)).to.deep.equal(['running', 'running', 'pending'])
    expect(Object.isFrozen(second?.branches)).to.equal(true)
    expect(second?.branches.every((b) => Object.isFrozen(b))).to.equal(true)
  })
})

describe('reduceRunState: batch items, stepped cursor, lastError', () => {
  it('holds the latest batch report of the current state and forgets it on the next state', () => {
    const progress = (done: number, failed: number): WorkflowEvent<'Load' | 'Done'> => ({
      ...base,
      _tag: 'Progress',
      state: 'Load',
      taskId: 'Load',
      data: { kind: 'batch', done, total: 3, failed, index: done - 1 },
    })
    const steps = fold<'Load' | 'Done'>([
      { ...base, _tag: 'StateEntered', state: 'Load', transition: 0 },
      progress(1, 0),
      progress(2, 1),
      { ...base, _tag: 'Progress', state: 'Load', taskId: 'Load', data: 'not a batch report' },
      { ...base, _tag: 'StateEntered', state: 'Done', transition: 1 },
    ]).map(([, s]) => s.batch)
    expect(steps).to.deep.equal([
      undefined,
      { done: 1, failed: 0, total: 3 },
      { done: 2, failed: 1, total: 3 },
      { done: 2, failed: 1, total: 3 },
      undefined,
    ])
  })

  it('holds the cursor of the current stepped state and resets it on the next state', () => {
    const snapshots = fold<'Scan' | 'Done'>([
      { ...base, _tag: 'StateEntered', state: 'Scan', transition: 0 },
      { ...base, _tag: 'CursorAdvanced', state: 'Scan', taskId: 'Scan', step: 1, cursor: { page: 2 } },
      { ...base, _tag: 'StateEntered', state: 'Done', transition: 1 },
    ]).map(([, s]) => [s.step, s.cursor])
    expect(snapshots).to.deep.equal([
      [0, undefined],
      [1, { page: 2 }],
      [0, undefined],
    ])
  })

  it('clears lastError when the run completes, keeps it when the run fails', () => {
    const before: ReadonlyArray<WorkflowEvent<'A' | 'Done'>> = [
      { ...base, _tag: 'StateEntered', state: 'A', transition: 0 },
      { ...base, _tag: 'AttemptFailed', state: 'A', taskId: 'A', attempt: 1, error: boom },
    ]
    expect(reduceAll(before).lastError).to.deep.equal(boom)
    const completed = reduceAll([...before, { ...base, _tag: 'RunCompleted', state: 'Done', transitions: 2 }])
    expect([completed.status, completed.lastError]).to.deep.equal(['completed', undefined])
    const failed = reduceAll([...before, { ...base, _tag: 'RunFailed', state: 'A', error: timeoutError(1) }])
    expect([failed.status, failed.lastError]).to.deep.equal(['failed', timeoutError(1)])
  })
})

describe('reduceRunState: a circuit breaker rejecting a retry', () => {
  it('counts the attempts that ran, as the engine does: the rejected retry is taken back', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 60_000 })
    let calls = 0
    const flow = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: task(
          () => {
            calls += 1
            return Promise.reject(new Error('503'))
          },
          { retry: RetryMode.fixed(5, 5), circuitBreaker: breaker },
        ),
      },
    })
    const events = await lastValueFrom(flow.run$('A').pipe(toArray()))
    const last = reduceAll(events)
    const failed = events.find((e) => e._tag === 'RunFailed')
    expect(calls).to.equal(2)
    expect(failed?._tag === 'RunFailed' ? failed.attempt : undefined).to.equal(2)
    expect([last.status, last.attempt, last.totalAttempts, last.totalRetries]).to.deep.equal(['failed', 2, 2, 1])
    expect(last.lastError?._tag).to.equal('CircuitOpen')
  })
})

describe('reduceRunState: resumed runs', () => {
  type R = 'Scan' | 'Wait' | 'Done'
  const resumed = (extra: Partial<Extract<WorkflowEvent<R>, { _tag: 'RunResumed' }>>): WorkflowEvent<R> => ({
    ...base,
    _tag: 'RunResumed',
    state: 'Scan',
    fromSeq: 4,
    version: 1,
    ...extra,
  })

  it('starts from the state, cursor and step RunResumed names, kept by the first entry of that state', () => {
    const snapshots = fold<R>([
      { ...base, _tag: 'RunStarted', initial: 'Scan' },
      resumed({ cursor: { page: 3 }, step: 3 }),
      { ...base, _tag: 'StateEntered', state: 'Scan', transition: 0 },
      { ...base, _tag: 'CursorAdvanced', state: 'Scan', taskId: 'Scan', step: 4, cursor: { page: 4 } },
    ]).map(([, s]) => [s.status, s.current, s.step, s.cursor, s.resumedFromSeq, s.history])
    expect(snapshots).to.deep.equal([
      ['running', undefined, 0, undefined, undefined, []],
      ['running', 'Scan', 3, { page: 3 }, 4, []],
      ['running', 'Scan', 3, { page: 3 }, 4, ['Scan']],
      ['running', 'Scan', 4, { page: 4 }, 4, ['Scan']],
    ])
  })

  it('starts a resumed sleep from its wake-up, and a resumed rollback rolling back', () => {
    const sleeping = reduceAll<R>([
      resumed({ state: 'Wait', wakeAt: 60_000 }),
      { ...base, _tag: 'StateEntered', state: 'Wait', transition: 0 },
    ])
    expect([sleeping.current, sleeping.wakeAt]).to.deep.equal(['Wait', 60_000])
    expect(reduceAll<R>([resumed({ rollingBack: true })]).rollingBack).to.equal(true)
  })

  it('does not carry the continuation into another state', () => {
    const s = reduceAll<R>([
      resumed({ cursor: 3, step: 3 }),
      { ...base, _tag: 'StateEntered', state: 'Wait', transition: 0 },
    ])
    expect([s.step, s.cursor]).to.deep.equal([0, undefined])
  })

  it('resumedDetails: what RunResumed carries for each resume point', () => {
    const point = { state: 'S', fromSeq: 1, nextSeq: 2, version: 1, stack: [] } as const
    expect([
      resumedDetails({ ...point, _tag: 'State', continues: { _tag: 'Cursor', cursor: [1], step: 2 } }),
      resumedDetails({ ...point, _tag: 'State', continues: { _tag: 'Timer', wakeAt: 9 } }),
      resumedDetails({ ...point, _tag: 'State', continues: { _tag: 'Fresh' } }),
      resumedDetails({ ...point, _tag: 'Rollback', rollback: { error: boom, seq: 1 } }),
    ]).to.deep.equal([{ cursor: [1], step: 2 }, { wakeAt: 9 }, {}, { rollingBack: true }])
  })
})

describe('RunState over real runs', () => {
  it('follows each branch of a split with a bulkhead, a retry and a failure (TestScheduler)', () => {
    const flow = workflow<S>()({
      exits: ['Done'],
      states: {
        Fan: split(
          [
            Branch.of(() => timer(10).pipe(map(() => 'a')), { retry: RetryMode.none() }),
            Branch.of(
              ({ attempt }) => timer(5).pipe(mergeMap(() => (attempt === 1 ? throwError(() => boom) : of('b')))),
              { retry: RetryMode.fixed(1, 5) },
            ),
            Branch.of(() => timer(2).pipe(mergeMap(() => throwError(() => timeoutError(5)))), {
              retry: RetryMode.none(),
            }),
          ],
          { strategy: JoinStrategy.quorum(2), join: 'Join', bulkhead: 2 },
        ),
        Join: task(() => 'Done' as const),
      },
    })
    const events = eventsInVirtualTime(() => flow.run$('Fan', { workflowId: 'w' }))
    const snapshots = fold(events)
    const at = (pick: (e: WorkflowEvent<S>) => boolean): RunState<S> | undefined =>
      snapshots.find(([e]) => pick(e))?.[1]
    const settled = (i: number) => (e: WorkflowEvent<S>) => e._tag === 'SplitBranchSettled' && e.index === i
    // branches 0 and 1 start at 0; branch 1 fails at 5 and retries at 10, when branch 0 succeeds
    expect(at((e) => e._tag === 'TaskStarted' && e.branch === 1)?.branches).to.deep.equal([
      branch(0, 'running', 1),
      branch(1, 'running', 1),
      branch(2, 'pending', 0),
    ])
    expect(at(settled(0))?.branches).to.deep.equal([
      branch(0, 'succeeded', 1),
      branch(1, 'running', 2, { error: boom }),
      branch(2, 'pending', 0),
    ])
    // branch 2 takes the freed slot at 10 and fails at 12; branch 1's second attempt succeeds at 15
    expect(at(settled(2))?.branches).to.deep.equal([
      branch(0, 'succeeded', 1),
      branch(1, 'running', 2, { error: boom }),
      branch(2, 'failed', 1, { error: timeoutError(5) }),
    ])
    const last = at(settled(1))
    expect(last?.branches).to.deep.equal([
      branch(0, 'succeeded', 1),
      branch(1, 'succeeded', 2),
      branch(2, 'failed', 1, { error: timeoutError(5) }),
    ])
    expect([last?.attempt, last?.updatedAt]).to.deep.equal([1, 15])
    const end = reduceAll(events)
    expect([end.status, end.branches, end.lastError, end.totalAttempts, end.totalRetries]).to.deep.equal([
      'completed',
      [],
      undefined,
      6, // the split, Join, and the four branch attempts
      1,
    ])
  })

  it('follows the items of a batch', async () => {
    const flow = workflow<'Load' | 'Done'>()({
      exits: ['Done'],
      states: {
        Load: batch({
          load: () => [1, 2, 3],
          processItem: (n: number) => (n === 2 ? Promise.reject(boom) : n),
          finish: () => 'Done' as const,
        }),
      },
    })
    const events = await lastValueFrom(flow.run$('Load', { workflowId: 'w' }).pipe(toArray()))
    const batches = fold(events)
      .filter(([e]) => e._tag === 'Progress')
      .map(([, s]) => s.batch)
    expect(batches).to.deep.equal([
      { done: 1, failed: 0, total: 3 },
      { done: 2, failed: 1, total: 3 },
      { done: 3, failed: 1, total: 3 },
    ])
    expect(reduceAll(events).batch).to.equal(undefined)
  })

  it('folds a resumed stepped run from the cursor its log kept', async () => {
    let crashAt: number | undefined = 3
    const flow = workflow<'Scan' | 'Done'>()({
      exits: ['Done'],
      checkpoints: memoryCheckpoints(),
      states: {
        Scan: stepped({
          cursor: t.number,
          retry: RetryMode.none(),
          step: (_ctx, c: number | undefined) => {
            const n = (c ?? 0) + 1
            if (n === crashAt) {
              crashAt = undefined
              throw new Error('crash')
            }
            return n >= 5 ? StepOutcome.done('Done' as const) : StepOutcome.more(n)
          },
        }),
      },
    })
    const first = await lastValueFrom(flow.run$('Scan', { workflowId: 'w' }).pipe(toArray()))
    const crashed = reduceAll(first)
    expect([crashed.status, crashed.step, crashed.cursor]).to.deep.equal(['failed', 2, 2])
    const again = await lastValueFrom(flow.resume$('w').pipe(toArray()))
    const view = fold(again)
      .filter(([e]) => e._tag === 'RunResumed' || e._tag === 'StateEntered' || e._tag === 'CursorAdvanced')
      .map(([e, s]) => [e._tag, s.current, s.step, s.cursor])
    expect(view).to.deep.equal([
      ['RunResumed', 'Scan', 2, 2],
      ['StateEntered', 'Scan', 2, 2],
      ['CursorAdvanced', 'Scan', 3, 3],
      ['CursorAdvanced', 'Scan', 4, 4],
      ['StateEntered', 'Done', 0, undefined],
    ])
    const end = reduceAll(again)
    expect([end.status, end.resumedFromSeq, end.history, end.lastError]).to.deep.equal([
      'completed',
      2,
      ['Scan', 'Done'],
      undefined,
    ])
  })
})
