import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import {
  asyncScheduler,
  defer,
  EMPTY,
  firstValueFrom,
  lastValueFrom,
  map,
  mergeMap,
  type Observable,
  of,
  Subscription,
  tap,
  throwError,
  timer,
  toArray,
} from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  CanoFailure,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
  workflowError,
} from '../../src/CanoError.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import { Branch, split } from '../../src/Split.js'
import type { BranchOutcome, SplitResult } from '../../src/SplitResult.js'
import { resolveTaskConfig } from '../../src/TaskConfig.js'
import type { NoResources, TaskContext } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { runSplitState } from '../../streams/runSplitState.js'
import type { StateEnv } from '../../streams/stateRunner.js'
import { createVirtualClock, testScheduler } from '../helpers/virtualTime.js'
import { boom, JOIN_TABLE, type JoinExpectation, type JoinRow, rowTitle } from '../src/Split.test.js'

type St = 'Split' | 'Join'

interface Harness {
  readonly env: StateEnv<St, NoResources>
  readonly events: WorkflowEvent<St>[]
  readonly published: SplitResult[]
  readonly run: AbortController
}

/** A `StateEnv` built the way `runWorkflow` builds one, recording events and published split results. */
const harness = (): Harness => {
  const events: WorkflowEvent<St>[] = []
  const published: SplitResult[] = []
  const run = new AbortController()
  const env: StateEnv<St, NoResources> = {
    workflowId: 'w',
    state: 'Split',
    taskId: 'Split',
    res: Resources.empty(),
    runSignal: run.signal,
    scheduler: asyncScheduler,
    random: () => 0.5,
    now: () => asyncScheduler.now(),
    emit: (e) => events.push(e),
    split: undefined,
    input: undefined,
    config: resolveTaskConfig({}),
    to: new Set(['Join']),
    fast: true,
    publishSplit: (r) => published.push(r),
  }
  return { env, events, published, run }
}

const NO_RETRY = { retry: RetryMode.none() }
const okAfter = (ms: number, value: unknown) => (): Observable<unknown> => timer(ms).pipe(map(() => value))
const failAfter = (ms: number, error: CanoError) => (): Observable<never> =>
  timer(ms).pipe(mergeMap(() => throwError(() => error)))

const settledOf = (events: ReadonlyArray<WorkflowEvent<St>>): Array<readonly [number, number, BranchOutcome['_tag']]> =>
  events.flatMap((e) => (e._tag === 'SplitBranchSettled' ? [[e.at, e.index, e.outcome._tag] as const] : []))

const cancelledIn = (events: ReadonlyArray<WorkflowEvent<St>>): number[] =>
  events.flatMap((e) => (e._tag === 'SplitBranchSettled' && e.outcome._tag === 'Cancelled' ? [e.index] : []))

describe('runSplitState', () => {
  describe('agrees with the strategy x scenario table', () => {
    const runRow = (row: JoinRow): { actual: JoinExpectation; error: unknown; published: SplitResult[] } => {
      const h = harness()
      const branches = row.scenario.branches.map((b, i) =>
        Branch.of(b.ok ? okAfter(b.at, `v${i}`) : failAfter(b.at, boom(i)), NO_RETRY),
      )
      const handler = split(branches, { strategy: row.strategy, join: 'Join', timeoutMs: row.scenario.timeoutMs })
      let actual: JoinExpectation | undefined
      let error: unknown
      const subscription = new Subscription()
      testScheduler().run(() => {
        subscription.add(
          runSplitState(handler, h.env).subscribe({
            next: (next) => {
              actual = {
                outcome: 'proceed',
                at: asyncScheduler.now(),
                next: next === 'Join' ? next : undefined,
                cancelled: cancelledIn(h.events),
                message: undefined,
              }
            },
            error: (e: unknown) => {
              error = e
              const message = (e as CanoError).message
              actual = {
                outcome: 'fail',
                at: asyncScheduler.now(),
                next: undefined,
                cancelled: cancelledIn(h.events),
                message,
              }
            },
          }),
        )
      })
      subscription.unsubscribe()
      if (actual === undefined) throw new Error('the split neither proceeded nor failed')
      return { actual, error, published: h.published }
    }

    for (const row of JOIN_TABLE) {
      it(rowTitle(row), () => {
        const { actual, error, published } = runRow(row)
        expect(actual).to.deep.equal(row.expected)
        if (row.expected.outcome === 'fail') {
          expect(error).to.deep.equal(workflowError(row.expected.message ?? '', 'Split'))
          expect(published).to.deep.equal([])
        } else expect(published.map((r) => r.cancelled)).to.deep.equal([row.expected.cancelled])
      })
    }
  })

  it('proceeds at the first success under any(), cancels the rest and aborts their signals', () => {
    const aborts: Array<readonly [number, unknown, number]> = []
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const sources = [cold('10ms a|'), cold('50ms b|'), cold('80ms c|')]
      const watched =
        (i: number) =>
        ({ signal }: TaskContext): Observable<string> => {
          signal.addEventListener('abort', () => aborts.push([i, signal.reason, asyncScheduler.now()]))
          return sources[i]!
        }
      const h = harness()
      const handler = split(
        [0, 1, 2].map((i) => Branch.of(watched(i), NO_RETRY)),
        { strategy: JoinStrategy.any(), join: 'Join' },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('10ms (J|)', { J: 'Join' })
      expectSubscriptions(sources[0]!.subscriptions).toBe('^ 9ms !') // completed at 10
      expectSubscriptions(sources[1]!.subscriptions).toBe('^ 9ms !') // cancelled at 10
      expectSubscriptions(sources[2]!.subscriptions).toBe('^ 9ms !')
    })
    expect(aborts).to.deep.equal([
      [1, cancelledError('split join decided'), 10],
      [2, cancelledError('split join decided'), 10],
    ])
  })

  it('proceeds under quorum(2) of 3 at the second success', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [okAfter(30, 'a'), okAfter(10, 'b'), okAfter(20, 'c')].map((f) => Branch.of(f, NO_RETRY)),
        {
          strategy: JoinStrategy.quorum(2),
          join: 'Join',
        },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('20ms (J|)', { J: 'Join' })
    })
    expect(h.published).to.deep.equal([
      {
        state: 'Split',
        branches: [
          { _tag: 'Cancelled', index: 0 },
          { _tag: 'Succeeded', index: 1, value: 'b' },
          { _tag: 'Succeeded', index: 2, value: 'c' },
        ],
        successes: 2,
        failures: 0,
        cancelled: [0],
      },
    ])
  })

  it('fails all() at the first failure, after that branch exhausted its retries, and cancels the rest', () => {
    const h = harness()
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const slow0 = cold('100ms a|')
      const flaky = cold('10ms #', undefined, boom(1))
      const slow2 = cold('100ms c|')
      const handler = split(
        [
          Branch.of(() => slow0, NO_RETRY),
          Branch.of(() => flaky, { retry: RetryMode.fixed(2, 5) }),
          Branch.of(() => slow2, NO_RETRY),
        ],
        { strategy: JoinStrategy.all(), join: 'Join' },
      )
      expectObservable(runSplitState(handler, h.env)).toBe(
        '40ms #', // attempts at 0-10, 15-25, 30-40
        undefined,
        workflowError(
          'Join condition not met: 0 of 3 tasks completed successfully, strategy: All; errors: task 1: Retry exhausted: Task failed after 3 attempt(s): Task execution error: boom1',
          'Split',
        ),
      )
      expectSubscriptions(flaky.subscriptions).toBe(['^ 9ms !', '15ms ^ 9ms !', '30ms ^ 9ms !'])
      expectSubscriptions(slow0.subscriptions).toBe('^ 39ms !')
      expectSubscriptions(slow2.subscriptions).toBe('^ 39ms !')
    })
    expect(settledOf(h.events)).to.deep.equal([
      [40, 1, 'Failed'],
      [40, 0, 'Cancelled'],
      [40, 2, 'Cancelled'],
    ])
    const failed = h.events.find((e) => e._tag === 'SplitBranchSettled' && e.index === 1)
    expect(failed).to.deep.equal({
      _tag: 'SplitBranchSettled',
      workflowId: 'w',
      at: 40,
      state: 'Split',
      taskId: 'Split[1]',
      index: 1,
      outcome: { _tag: 'Failed', index: 1, error: retryExhaustedError(3, boom(1)) },
    })
  })

  it('proceeds before the deadline once quorum is met, where cano would fail at the deadline', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [okAfter(10, 'a'), okAfter(20, 'b'), okAfter(500, 'c')].map((f) => Branch.of(f, NO_RETRY)),
        {
          strategy: JoinStrategy.quorum(2),
          join: 'Join',
          timeoutMs: 100,
        },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('20ms (J|)', { J: 'Join' })
    })
    expect(settledOf(h.events)).to.deep.equal([
      [10, 0, 'Succeeded'],
      [20, 1, 'Succeeded'],
      [20, 2, 'Cancelled'],
    ])
  })

  it('fails with "Split task timeout exceeded" at an unsatisfied deadline', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [okAfter(10, 'a'), okAfter(200, 'b'), okAfter(500, 'c')].map((f) => Branch.of(f, NO_RETRY)),
        {
          strategy: JoinStrategy.quorum(2),
          join: 'Join',
          timeoutMs: 100,
        },
      )
      expectObservable(runSplitState(handler, h.env)).toBe(
        '100ms #',
        undefined,
        workflowError('Split task timeout exceeded', 'Split'),
      )
    })
    expect(settledOf(h.events)).to.deep.equal([
      [10, 0, 'Succeeded'],
      [100, 1, 'Cancelled'],
      [100, 2, 'Cancelled'],
    ])
  })

  it('proceeds under partialTimeout() at the deadline when one branch completed, even by failing', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [failAfter(10, boom(0)), okAfter(500, 'b'), okAfter(600, 'c')].map((f) => Branch.of(f, NO_RETRY)),
        {
          strategy: JoinStrategy.partialTimeout(),
          join: 'Join',
          timeoutMs: 100,
        },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('100ms (J|)', { J: 'Join' })
    })
    expect(h.published).to.deep.equal([
      {
        state: 'Split',
        branches: [
          { _tag: 'Failed', index: 0, error: boom(0) },
          { _tag: 'Cancelled', index: 1 },
          { _tag: 'Cancelled', index: 2 },
        ],
        successes: 0,
        failures: 1,
        cancelled: [1, 2],
      },
    ])
  })

  it('runs at most bulkhead branches at once and emits TaskStarted when a branch really starts', () => {
    const h = harness()
    let inFlight = 0
    let maxInFlight = 0
    const tracked = (ms: number) => (): Observable<number> =>
      defer(() => {
        inFlight += 1
        maxInFlight = Math.max(maxInFlight, inFlight)
        return timer(ms).pipe(tap(() => (inFlight -= 1)))
      })
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [30, 10, 20, 10, 10].map((ms) => Branch.of(tracked(ms), NO_RETRY)),
        {
          strategy: JoinStrategy.all(),
          join: 'Join',
          bulkhead: 2,
        },
      )
      // 0 and 1 start at 0; 1 ends at 10 -> 2 starts; 0 and 2 end at 30 -> 3 and 4 start; both end at 40
      expectObservable(runSplitState(handler, h.env)).toBe('40ms (J|)', { J: 'Join' })
    })
    expect(maxInFlight).to.equal(2)
    expect(h.events.flatMap((e) => (e._tag === 'TaskStarted' ? [[e.at, e.taskId]] : []))).to.deep.equal([
      [0, 'Split'],
      [0, 'Split[0]'],
      [0, 'Split[1]'],
      [10, 'Split[2]'],
      [30, 'Split[3]'],
      [30, 'Split[4]'],
    ])
  })

  it('never starts the branches still queued behind the bulkhead once the join is decided', () => {
    const h = harness()
    const started: number[] = []
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [10, 20, 30, 40].map((ms, i) =>
          Branch.of(() => {
            started.push(i)
            return timer(ms)
          }, NO_RETRY),
        ),
        { strategy: JoinStrategy.any(), join: 'Join', bulkhead: 1 },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('10ms (J|)', { J: 'Join' })
    })
    expect(started).to.deep.equal([0])
    expect(h.published.map((r) => r.cancelled)).to.deep.equal([[1, 2, 3]])
  })

  it('retries a branch on its own: a branch failing once then succeeding (its events carry its index)', () => {
    const h = harness()
    testScheduler().run(({ cold, expectObservable }) => {
      let calls = 0
      const flaky: Branch = Branch.of(() => (++calls === 1 ? cold('10ms #', undefined, boom(1)) : cold('10ms b|')), {
        retry: RetryMode.fixed(1, 5),
      })
      const handler = split([Branch.of(() => cold('5ms a|'), NO_RETRY), flaky], {
        strategy: JoinStrategy.all(),
        join: 'Join',
      })
      expectObservable(runSplitState(handler, h.env)).toBe('25ms (J|)', { J: 'Join' }) // 10 fail, 15 retry, 25 ok
    })
    expect(h.events).to.deep.equal([
      { _tag: 'TaskStarted', workflowId: 'w', at: 0, state: 'Split', taskId: 'Split' },
      { _tag: 'TaskStarted', workflowId: 'w', at: 0, state: 'Split', taskId: 'Split[0]', branch: 0, branches: 2 },
      { _tag: 'TaskStarted', workflowId: 'w', at: 0, state: 'Split', taskId: 'Split[1]', branch: 1, branches: 2 },
      {
        _tag: 'SplitBranchSettled',
        workflowId: 'w',
        at: 5,
        state: 'Split',
        taskId: 'Split[0]',
        index: 0,
        outcome: { _tag: 'Succeeded', index: 0, value: 'a' },
      },
      {
        _tag: 'AttemptFailed',
        workflowId: 'w',
        at: 10,
        state: 'Split',
        taskId: 'Split[1]',
        attempt: 1,
        error: boom(1),
        branch: 1,
      },
      {
        _tag: 'RetryScheduled',
        workflowId: 'w',
        at: 10,
        state: 'Split',
        taskId: 'Split[1]',
        attempt: 1,
        delayMs: 5,
        branch: 1,
      },
      {
        _tag: 'SplitBranchSettled',
        workflowId: 'w',
        at: 25,
        state: 'Split',
        taskId: 'Split[1]',
        index: 1,
        outcome: { _tag: 'Succeeded', index: 1, value: 'b' },
      },
      { _tag: 'TaskSucceeded', workflowId: 'w', at: 25, state: 'Split', taskId: 'Split', attempts: 1, next: 'Join' },
    ])
  })

  it('runs a branch with an attempt timeout through its own signal, timing it out and aborting it on its own', () => {
    const h = harness()
    const aborts: Array<readonly [number, unknown, number]> = []
    const watched =
      (i: number, ms: number) =>
      ({ signal }: TaskContext): Observable<number> => {
        signal.addEventListener('abort', () => aborts.push([i, signal.reason, asyncScheduler.now()]))
        return timer(ms).pipe(map(() => i))
      }
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [
          Branch.of(watched(0, 50), { retry: RetryMode.none(), attemptTimeoutMs: 5 }), // times out at 5
          Branch.of(watched(1, 50), { retry: RetryMode.none(), attemptTimeoutMs: 1_000 }), // cancelled at 20
          Branch.of(watched(2, 20), NO_RETRY),
        ],
        { strategy: JoinStrategy.quorum(1), join: 'Join' },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('20ms (J|)', { J: 'Join' })
    })
    expect(aborts).to.deep.equal([
      [0, timeoutError(5), 5],
      [1, cancelledError('split join decided'), 20],
    ])
    expect(h.published.map((r) => r.branches)).to.deep.equal([
      [
        { _tag: 'Failed', index: 0, error: timeoutError(5) },
        { _tag: 'Cancelled', index: 1 },
        { _tag: 'Succeeded', index: 2, value: 2 },
      ],
    ])
  })

  it('reports a circuit breaker rejection of a branch as CircuitRejected and a failed branch', () => {
    const h = harness()
    const breaker = createCircuitBreaker({ failureThreshold: 1 })
    testScheduler().run(({ expectObservable }) => {
      const guarded = { retry: RetryMode.none(), circuitBreaker: breaker }
      const handler = split([Branch.of(failAfter(5, boom(0)), guarded), Branch.of(okAfter(5, 'b'), guarded)], {
        strategy: JoinStrategy.quorum(1),
        join: 'Join',
        bulkhead: 1,
      })
      expectObservable(runSplitState(handler, h.env)).toBe(
        '5ms #', // branch 0 fails at 5 and opens the breaker; branch 1 starts at 5 and is rejected
        undefined,
        workflowError(
          'Join condition not met: 0 of 2 tasks completed successfully, strategy: Quorum(1); errors: task 0: Task execution error: boom0; task 1: Circuit open: circuit breaker open: rejecting call',
          'Split',
        ),
      )
    })
    expect(h.events.filter((e) => e.at === 5).map((e) => [e._tag, 'taskId' in e ? e.taskId : undefined])).to.deep.equal(
      [
        ['AttemptFailed', 'Split[0]'],
        ['SplitBranchSettled', 'Split[0]'],
        ['TaskStarted', 'Split[1]'],
        ['CircuitRejected', 'Split[1]'],
        ['SplitBranchSettled', 'Split[1]'],
        ['TaskFailed', 'Split'],
      ],
    )
    const branchOf = (e: WorkflowEvent): number | undefined =>
      e._tag === 'AttemptFailed' || e._tag === 'CircuitRejected' || e._tag === 'TaskStarted' ? e.branch : undefined
    expect(h.events.filter((e) => e.at === 5 && e._tag !== 'SplitBranchSettled').map(branchOf)).to.deep.equal([
      0,
      1,
      1,
      undefined,
    ])
  })

  it('emits SplitBranchSettled in real time order, not index order', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [okAfter(30, 'a'), failAfter(10, boom(1)), okAfter(20, 'c')].map((f) => Branch.of(f, NO_RETRY)),
        {
          strategy: JoinStrategy.partialResults(2),
          join: 'Join',
        },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('30ms (J|)', { J: 'Join' })
    })
    expect(settledOf(h.events)).to.deep.equal([
      [10, 1, 'Failed'],
      [20, 2, 'Succeeded'],
      [30, 0, 'Succeeded'],
    ])
  })

  it('publishes the SplitResult by branch index: values, errors and cancelled branches', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [okAfter(10, { rows: 1 }), failAfter(5, boom(1)), okAfter(20, { rows: 3 }), okAfter(100, { rows: 4 })].map(
          (f) => Branch.of(f, NO_RETRY),
        ),
        { strategy: JoinStrategy.quorum(2), join: 'Join' },
      )
      expectObservable(runSplitState(handler, h.env)).toBe('20ms (J|)', { J: 'Join' })
    })
    expect(h.published).to.deep.equal([
      {
        state: 'Split',
        branches: [
          { _tag: 'Succeeded', index: 0, value: { rows: 1 } },
          { _tag: 'Failed', index: 1, error: boom(1) },
          { _tag: 'Succeeded', index: 2, value: { rows: 3 } },
          { _tag: 'Cancelled', index: 3 },
        ],
        successes: 2,
        failures: 1,
        cancelled: [3],
      },
    ])
  })

  it('gives each branch a progress reporter and a task id of its own, its Progress marked with its index', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [
          Branch.of(({ progress }: TaskContext) => {
            progress({ page: 1 })
            return timer(5)
          }, NO_RETRY),
        ],
        { strategy: JoinStrategy.all(), join: 'Join', name: 'fan' },
      )
      expectObservable(runSplitState(handler, { ...h.env, taskId: 'fan' })).toBe('5ms (J|)', { J: 'Join' })
    })
    expect(h.events.filter((e) => e._tag === 'Progress')).to.deep.equal([
      { _tag: 'Progress', workflowId: 'w', at: 0, state: 'Split', taskId: 'fan[0]', data: { page: 1 }, branch: 0 },
    ])
  })

  it('aborts every running branch signal when the state is unsubscribed, and reports nothing after', () => {
    const h = harness()
    const aborts: Array<readonly [number, unknown, number]> = []
    testScheduler().run(({ expectObservable }) => {
      const handler = split(
        [50, 60].map((ms, i) =>
          Branch.of(({ signal }: TaskContext) => {
            signal.addEventListener('abort', () => aborts.push([i, signal.reason, asyncScheduler.now()]))
            return timer(ms)
          }, NO_RETRY),
        ),
        { strategy: JoinStrategy.all(), join: 'Join', timeoutMs: 100 },
      )
      expectObservable(runSplitState(handler, h.env), '15ms !').toBe('')
    })
    expect(aborts).to.deep.equal([
      [0, cancelledError('split cancelled'), 15],
      [1, cancelledError('split cancelled'), 15],
    ])
    expect(h.events.map((e) => e._tag)).to.deep.equal(['TaskStarted', 'TaskStarted', 'TaskStarted'])
  })

  it("aborts every running branch signal with the run's reason when the run signal aborts", () => {
    const h = harness()
    const subscription = new Subscription()
    const aborts: Array<readonly [number, unknown, number]> = []
    testScheduler().run(() => {
      const handler = split(
        [50, 60].map((ms, i) =>
          Branch.of(({ signal }: TaskContext) => {
            signal.addEventListener('abort', () => aborts.push([i, signal.reason, asyncScheduler.now()]))
            return timer(ms)
          }, NO_RETRY),
        ),
        { strategy: JoinStrategy.all(), join: 'Join' },
      )
      subscription.add(runSplitState(handler, h.env).subscribe({ error: () => undefined }))
      subscription.add(asyncScheduler.schedule(() => h.run.abort(cancelledError('workflow cancelled')), 15))
    })
    subscription.unsubscribe()
    expect(aborts).to.deep.equal([
      [0, cancelledError('workflow cancelled'), 15],
      [1, cancelledError('workflow cancelled'), 15],
    ])
  })

  it('proceeds at once on an empty branch list under all()', () => {
    const h = harness()
    testScheduler().run(({ expectObservable }) => {
      expectObservable(runSplitState(split<St>([], { strategy: JoinStrategy.all(), join: 'Join' }), h.env)).toBe(
        '(J|)',
        {
          J: 'Join',
        },
      )
    })
    expect(h.published).to.deep.equal([{ state: 'Split', branches: [], successes: 0, failures: 0, cancelled: [] }])
  })

  it("reads a branch's output as a task's, joining within the call when every branch is synchronous", () => {
    const h = harness()
    const handler = split<St>(
      [
        () => E.right(E.right(1)), // an Either is unwrapped once
        () => of(E.right(2)), // an Observable's first value is taken as it is
        () => () => E.right(3), // a function is a TaskEither: called, its Either unwrapped
        Branch.of(() => EMPTY, NO_RETRY), // an Observable that completes empty fails the branch
        Branch.of(() => E.left(boom(4)), NO_RETRY),
        Branch.of(() => 'timed', { retry: RetryMode.none(), attemptTimeoutMs: 1_000 }),
      ],
      { strategy: JoinStrategy.partialTimeout(), join: 'Join' }, // proceeds once every branch settled
    )
    const seen: St[] = []
    runSplitState(handler, h.env)
      .subscribe((s) => seen.push(s))
      .unsubscribe()
    expect(seen).to.deep.equal(['Join'])
    expect(h.published.map((r) => r.branches)).to.deep.equal([
      [
        { _tag: 'Succeeded', index: 0, value: E.right(1) },
        { _tag: 'Succeeded', index: 1, value: E.right(2) },
        { _tag: 'Succeeded', index: 2, value: 3 },
        {
          _tag: 'Failed',
          index: 3,
          error: taskExecutionError('task for state "Split" completed without a value'),
        },
        { _tag: 'Failed', index: 4, error: boom(4) },
        { _tag: 'Succeeded', index: 5, value: 'timed' },
      ],
    ])
  })

  describe('timestamps of branch events', () => {
    /** A clock that tells how often it was read: its n-th reading is n. */
    const countingClock = (h: Harness): { env: StateEnv<St, NoResources>; reads: () => number } => {
      let n = 0
      return { env: { ...h.env, now: () => ++n }, reads: () => n }
    }
    const stamps = (events: ReadonlyArray<WorkflowEvent<St>>): Array<readonly [string, string, number]> =>
      events.map((e) => [e._tag, 'taskId' in e ? e.taskId : '', e.at] as const)

    it('reads the clock once for the branches started at once and once per microtask turn of Promise settlements', async () => {
      const h = harness()
      const clock = countingClock(h)
      const handler = split<St>(
        [
          async () => 'a',
          () => 'b', // settles synchronously, while the branches start
          () => Promise.resolve('c'),
          () => new Promise((resolve) => setImmediate(() => resolve('d'))), // a later turn
        ],
        { strategy: JoinStrategy.all(), join: 'Join' },
      )
      expect(await firstValueFrom(runSplitState(handler, clock.env))).to.equal('Join')
      expect(stamps(h.events)).to.deep.equal([
        ['TaskStarted', 'Split', 1], // the state's own (stateRunner)
        ['TaskStarted', 'Split[0]', 2],
        ['TaskStarted', 'Split[1]', 2],
        ['SplitBranchSettled', 'Split[1]', 2],
        ['TaskStarted', 'Split[2]', 2],
        ['TaskStarted', 'Split[3]', 2],
        ['SplitBranchSettled', 'Split[0]', 3], // both resolved before the turn's reading
        ['SplitBranchSettled', 'Split[2]', 3],
        ['SplitBranchSettled', 'Split[3]', 4],
        ['TaskSucceeded', 'Split', 5],
      ])
      expect(clock.reads()).to.equal(5)
    })

    it('gives the branch started by a freed bulkhead slot the instant of the settlement that freed it', async () => {
      const h = harness()
      const clock = countingClock(h)
      const later = (v: string) => (): Promise<string> => new Promise((resolve) => setImmediate(() => resolve(v)))
      const handler = split<St>([later('a'), later('b')], { strategy: JoinStrategy.all(), join: 'Join', bulkhead: 1 })
      expect(await firstValueFrom(runSplitState(handler, clock.env))).to.equal('Join')
      expect(stamps(h.events)).to.deep.equal([
        ['TaskStarted', 'Split', 1],
        ['TaskStarted', 'Split[0]', 2],
        ['SplitBranchSettled', 'Split[0]', 3],
        ['TaskStarted', 'Split[1]', 3],
        ['SplitBranchSettled', 'Split[1]', 4],
        ['TaskSucceeded', 'Split', 5],
      ])
    })

    it('stamps Promise settlements at the virtual instant they happen on a virtual clock', async () => {
      const h = harness()
      const clock = createVirtualClock()
      const at = (ms: number, v: string) => (): Promise<string> =>
        new Promise((resolve) => clock.schedule(() => resolve(v), ms))
      const handler = split<St>([at(20, 'a'), at(10, 'b'), at(10, 'c'), at(30, 'd')], {
        strategy: JoinStrategy.all(),
        join: 'Join',
      })
      const env: StateEnv<St, NoResources> = { ...h.env, scheduler: clock, now: () => clock.now() }
      const done = firstValueFrom(runSplitState(handler, env))
      await clock.advance(30)
      expect(await done).to.equal('Join')
      expect(settledOf(h.events)).to.deep.equal([
        [10, 1, 'Succeeded'],
        [10, 2, 'Succeeded'],
        [20, 0, 'Succeeded'],
        [30, 3, 'Succeeded'],
      ])
    })

    it('retries a branch whose function throws synchronously, its AttemptFailed marked with its index', async () => {
      const h = harness()
      let calls = 0
      const handler = split<St>(
        [
          Branch.of(
            () => {
              calls += 1
              if (calls === 1) throw new Error('first call fails')
              return 'ok'
            },
            { retry: RetryMode.fixed(1, 1) },
          ),
        ],
        { strategy: JoinStrategy.all(), join: 'Join' },
      )
      expect(await firstValueFrom(runSplitState(handler, h.env))).to.equal('Join')
      expect(calls).to.equal(2)
      expect(
        h.events.filter((e) => e._tag === 'AttemptFailed').map((e) => [e.taskId, e.attempt, e.branch]),
      ).to.deep.equal([['Split[0]', 1, 0]])
      expect(h.published.map((r) => r.branches)).to.deep.equal([[{ _tag: 'Succeeded', index: 0, value: 'ok' }]])
    })
  })

  describe('with Promises (real time)', () => {
    it('runs async, TaskEither and plain-value branches and proceeds under all()', async () => {
      const h = harness()
      const handler = split<St>([async () => 'a', () => TE.right('b'), () => 'c', () => Promise.resolve({ d: 4 })], {
        strategy: JoinStrategy.all(),
        join: 'Join',
      })
      expect(await lastValueFrom(runSplitState(handler, h.env).pipe(toArray()))).to.deep.equal(['Join'])
      expect(h.published.map((r) => r.branches)).to.deep.equal([
        [
          { _tag: 'Succeeded', index: 0, value: 'a' },
          { _tag: 'Succeeded', index: 1, value: 'b' },
          { _tag: 'Succeeded', index: 2, value: 'c' },
          { _tag: 'Succeeded', index: 3, value: { d: 4 } },
        ],
      ])
    })

    it('proceeds under any() at the first resolved Promise and aborts the pending one', async () => {
      const h = harness()
      const reasons: unknown[] = []
      const handler = split<St>(
        [
          ({ signal }: TaskContext) =>
            new Promise((resolve) =>
              signal.addEventListener('abort', () => {
                reasons.push(signal.reason)
                resolve('late')
              }),
            ),
          async () => 'fast',
        ],
        { strategy: JoinStrategy.any(), join: 'Join' },
      )
      expect(await firstValueFrom(runSplitState(handler, h.env))).to.equal('Join')
      expect(reasons).to.deep.equal([cancelledError('split join decided')])
      expect(h.published.map((r) => r.branches)).to.deep.equal([
        [
          { _tag: 'Cancelled', index: 0 },
          { _tag: 'Succeeded', index: 1, value: 'fast' },
        ],
      ])
    })

    it('starts 20 000 synchronous branches queued behind bulkhead 1 without growing the stack', async () => {
      const h = harness()
      const n = 20_000
      const branches = Array.from({ length: n }, (_, i) =>
        i === 0 ? Branch.of(async () => 0, NO_RETRY) : Branch.of(() => i, NO_RETRY),
      )
      const handler = split<St>(branches, { strategy: JoinStrategy.all(), join: 'Join', bulkhead: 1 })
      expect(await firstValueFrom(runSplitState(handler, h.env))).to.equal('Join')
      expect(h.published.map((r) => [r.successes, r.branches[n - 1]])).to.deep.equal([
        [n, { _tag: 'Succeeded', index: n - 1, value: n - 1 }],
      ])
    })

    it('hands an already aborted signal to a cancelled branch that reads it only after an await', async () => {
      const h = harness()
      let release: () => void = () => undefined
      const gate = new Promise<void>((resolve) => (release = resolve))
      let seen: readonly [boolean, unknown] | undefined
      const handler = split<St>(
        [
          async (ctx: TaskContext) => {
            await gate
            seen = [ctx.signal.aborted, ctx.signal.reason]
            return 'late'
          },
          async () => 'fast',
        ],
        { strategy: JoinStrategy.any(), join: 'Join' },
      )
      expect(await firstValueFrom(runSplitState(handler, h.env))).to.equal('Join')
      release()
      await new Promise((resolve) => setImmediate(resolve))
      expect(seen).to.deep.equal([true, cancelledError('split join decided')])
    })

    it("hands the run's abort reason to the branches of a parked split in a workflow, read only after the abort", async () => {
      const ac = new AbortController()
      let release: () => void = () => undefined
      const gate = new Promise<void>((resolve) => (release = resolve))
      const seen: Array<readonly [boolean, string | undefined]> = []
      const branch = async (ctx: TaskContext): Promise<number> => {
        await gate
        seen.push([ctx.signal.aborted, (ctx.signal.reason as CanoError | undefined)?._tag])
        return 1
      }
      const flow = workflow<'Split' | 'Join'>()({
        exits: ['Join'],
        states: {
          Split: split([branch, branch], { strategy: JoinStrategy.all(), join: 'Join', timeoutMs: 3_600_000 }),
        },
      })
      const run = flow.orchestrate('Split', { workflowId: 'parked-split', signal: ac.signal })
      await new Promise((resolve) => setImmediate(resolve))
      ac.abort()
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      )
      release()
      await new Promise((resolve) => setImmediate(resolve))
      expect(error instanceof CanoFailure ? error.error._tag : error).to.equal('Cancelled')
      expect(seen).to.deep.equal([
        [true, 'Cancelled'],
        [true, 'Cancelled'],
      ])
    })

    it('retries a rejected Promise branch with its own retry mode', async () => {
      const h = harness()
      let calls = 0
      const handler = split<St>(
        [
          Branch.of(
            async () => {
              calls += 1
              if (calls < 3) throw new Error(`flaky ${calls}`)
              return calls
            },
            { retry: RetryMode.fixed(3, 1) },
          ),
        ],
        { strategy: JoinStrategy.all(), join: 'Join' },
      )
      expect(await firstValueFrom(runSplitState(handler, h.env))).to.equal('Join')
      expect(h.published.map((r) => r.branches)).to.deep.equal([[{ _tag: 'Succeeded', index: 0, value: 3 }]])
    })
  })
})
