/**
 * `runBatchState`, driven directly with a hand-built `StateEnv`: concurrency, input order, per-item
 * retries in virtual time, item failures as `Err` slots, load failures, progress events, the outer
 * retry of the whole cycle, cancellation, Promise interop and a long synchronous tail.
 */
import { expect } from 'chai'
import * as TE from 'fp-ts/lib/TaskEither.js'
import {
  asyncScheduler,
  defer,
  finalize,
  firstValueFrom,
  NEVER,
  type Observable,
  of,
  type SchedulerLike,
  timer,
} from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { batch, type BatchOptions, type ItemResult } from '../../src/Batch.js'
import {
  CanoFailure,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
  toCanoError,
  workflowError,
} from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import type { TaskConfig } from '../../src/TaskConfig.js'
import type { NoResources } from '../../src/TaskContext.js'
import { runBatchState } from '../../streams/runBatchState.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { stateEnvOf } from '../helpers/workEnv.js'

type Step = 'Fetch' | 'Done' | 'Failed'

/** A `StateEnv` as `runWorkflow` builds it, for state `Fetch`; events are collected. */
const makeEnv = (
  config: TaskConfig = { retry: RetryMode.none() },
  scheduler: SchedulerLike = asyncScheduler,
  runSignal: AbortSignal = new AbortController().signal,
) => stateEnvOf<Step>({ state: 'Fetch', config, scheduler, runSignal })

const run = <Item, Out>(options: BatchOptions<Step, NoResources, Item, Out>, config?: TaskConfig) => {
  const { env, events } = makeEnv(config)
  return { state$: runBatchState(batch(options), env), events }
}

const ok = <Out>(index: number, value: Out): ItemResult<Out> => ({ _tag: 'Ok', index, value })
const err = (index: number, error: CanoError): ItemResult<never> => ({ _tag: 'Err', index, error })

describe('runBatchState', () => {
  it('passes every result, in input order, to finish', () => {
    let seen: ReadonlyArray<ItemResult<string>> = []
    testScheduler().run(({ cold, expectObservable }) => {
      const durations = ['-----a|', '-b|', '---c|', 'd|']
      const { state$ } = run({
        load: () => [0, 1, 2, 3],
        processItem: (i: number) => cold(durations[i]!, { a: 'a', b: 'b', c: 'c', d: 'd' }),
        finish: (results) => {
          seen = results
          return 'Done'
        },
        concurrency: 2,
      })
      // slots: 0 and 1 start at 0; 1 settles at 1 -> 2 starts (settles at 4); 0 settles at 5 -> 3 starts and
      // settles at 5
      expectObservable(state$).toBe('-----(x|)', { x: 'Done' })
    })
    expect(seen).to.deep.equal([ok(0, 'a'), ok(1, 'b'), ok(2, 'c'), ok(3, 'd')])
  })

  it('never has more than `concurrency` items in flight', () => {
    let inFlight = 0
    let maxInFlight = 0
    let started = 0
    testScheduler().run(({ expectObservable }) => {
      const { state$ } = run({
        load: () => Array.from({ length: 10 }, (_, i) => i),
        processItem: (i: number) =>
          defer(() => {
            started += 1
            inFlight += 1
            maxInFlight = Math.max(maxInFlight, inFlight)
            return timer(1 + (i % 4))
          }).pipe(finalize(() => (inFlight -= 1))),
        finish: () => 'Done',
        concurrency: 3,
      })
      // durations 1,2,3,4,1,2,3,4,1,2 through 3 slots: item 7 starts at 5 (after item 3) and settles at 9
      expectObservable(state$).toBe('9ms (x|)', { x: 'Done' })
    })
    expect({ started, maxInFlight, inFlight }).to.deep.equal({ started: 10, maxInFlight: 3, inFlight: 0 })
  })

  it('defaults to one item at a time', () => {
    const order: string[] = []
    testScheduler().run(({ cold, expectObservable }) => {
      const { state$ } = run({
        load: () => ['a', 'b', 'c'],
        processItem: (s: string) =>
          defer(() => {
            order.push(`start ${s}`)
            return cold('--x|', { x: s })
          }).pipe(finalize(() => order.push(`end ${s}`))),
        finish: () => 'Done',
      })
      expectObservable(state$).toBe('------(x|)', { x: 'Done' })
    })
    expect(order).to.deep.equal(['start a', 'end a', 'start b', 'end b', 'start c', 'end c'])
  })

  it('retries an item after 10 then 20 ms (retry k waits delay k-1, unlike cano 0.12), then records RetryExhausted', () => {
    const exp10 = RetryMode.exponentialCustom({
      maxRetries: 2,
      baseDelayMs: 10,
      multiplier: 2,
      maxDelayMs: 1_000,
      jitter: 0,
    })
    let seen: ReadonlyArray<ItemResult<string>> = []
    const boom = taskExecutionError('HTTP 503')
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const failing = cold('-#', undefined, boom)
      const { state$ } = run({
        load: () => ['bad', 'good'],
        processItem: (s: string) => (s === 'bad' ? failing : of('fine')),
        finish: (results) => {
          seen = results
          return 'Done'
        },
        concurrency: 2,
        itemRetry: exp10,
      })
      expectObservable(state$).toBe('33ms (x|)', { x: 'Done' })
      expectSubscriptions(failing.subscriptions).toBe([
        '^!', //       attempt 1: 0-1
        '11ms ^!', //  error at 1 + 10 ms (delay index 0)
        '32ms ^!', //  error at 12 + 20 ms (delay index 1); the error at 33 exhausts the item
      ])
    })
    expect(seen).to.deep.equal([err(0, retryExhaustedError(3, boom)), ok(1, 'fine')])
  })

  it('records an item failure as an Err slot and never aborts the batch', async () => {
    let seen: ReadonlyArray<ItemResult<number>> = []
    const { state$, events } = run({
      load: () => [1, 2, 3, 4],
      processItem: (n: number) => {
        if (n === 2) throw new CanoFailure(taskExecutionError('item 2 is corrupt'))
        return n * 10
      },
      finish: (results) => {
        seen = results
        return results.filter((r) => r._tag === 'Ok').length >= 3 ? 'Done' : 'Failed'
      },
      concurrency: 2,
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
    expect(seen).to.deep.equal([ok(0, 10), err(1, taskExecutionError('item 2 is corrupt')), ok(2, 30), ok(3, 40)])
    expect(events.filter((e) => e._tag !== 'Progress').map((e) => e._tag)).to.deep.equal([
      'TaskStarted',
      'TaskSucceeded',
    ])
  })

  it('fails the state and skips finish when load fails', async () => {
    let finished = 0
    let processed = 0
    const { state$, events } = run({
      load: (): ReadonlyArray<number> => {
        throw new CanoFailure(taskExecutionError('listing failed'))
      },
      processItem: (n: number) => {
        processed += 1
        return n
      },
      finish: () => {
        finished += 1
        return 'Done'
      },
    })
    const error = await firstValueFrom(state$).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).to.deep.equal(taskExecutionError('listing failed'))
    expect({ finished, processed }).to.deep.equal({ finished: 0, processed: 0 })
    expect(events.map((e) => e._tag)).to.deep.equal(['TaskStarted', 'AttemptFailed', 'TaskFailed'])
  })

  it('emits one Progress event per settled item, done 1..N, counting failures, a failed item’s with its error', async () => {
    const { state$, events } = run({
      load: () => ['a', 'b', 'c'],
      processItem: (s: string) => (s === 'b' ? TE.left('no b') : TE.right(s.toUpperCase())),
      finish: () => 'Done',
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
    expect(events.flatMap((e) => (e._tag === 'Progress' ? [e.data] : []))).to.deep.equal([
      { kind: 'batch', done: 1, total: 3, failed: 0, index: 0 },
      { kind: 'batch', done: 2, total: 3, failed: 1, index: 1, error: toCanoError('no b') },
      { kind: 'batch', done: 3, total: 3, failed: 1, index: 2 },
    ])
  })

  it('reruns the whole load, process, finish cycle under the outer retry', () => {
    const calls = { load: 0, process: 0, finish: 0 }
    testScheduler().run(({ expectObservable }) => {
      const { env } = makeEnv({ retry: RetryMode.fixed(1, 5) })
      const state$ = runBatchState(
        batch({
          load: () => {
            calls.load += 1
            return ['a', 'b']
          },
          processItem: (s: string) => {
            calls.process += 1
            return s
          },
          finish: () => {
            calls.finish += 1
            if (calls.finish === 1) throw new CanoFailure(taskExecutionError('summary store down'))
            return 'Done' as const
          },
        }),
        env,
      )
      // cycle 1 fails at 0, retry after 5 ms, cycle 2 succeeds at 5
      expectObservable(state$).toBe('5ms (x|)', { x: 'Done' })
    })
    expect(calls).to.deep.equal({ load: 2, process: 4, finish: 2 })
  })

  it('finishes an empty batch at once, with no progress event', async () => {
    let seen: ReadonlyArray<ItemResult<unknown>> | undefined
    const { state$, events } = run({
      load: async () => [] as ReadonlyArray<string>,
      processItem: (s: string) => s,
      finish: (results) => {
        seen = results
        return 'Done'
      },
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
    expect(seen).to.deep.equal([])
    expect(events.map((e) => e._tag)).to.deep.equal(['TaskStarted', 'TaskSucceeded'])
  })

  it('works with real Promises for load, processItem and finish', async () => {
    const { state$, events } = run({
      load: async () => ['https://a.example', 'https://b.example', 'https://c.example'],
      processItem: async (url: string, { index, attempt }) => {
        await new Promise((r) => setImmediate(r))
        if (url.startsWith('https://b') && attempt === 1) throw new Error('reset')
        return `${index}:${url.length}`
      },
      finish: async (results) => (results.every((r) => r._tag === 'Ok') ? 'Done' : 'Failed'),
      concurrency: 2,
      itemRetry: RetryMode.fixed(1, 0),
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
    const succeeded = events.find((e) => e._tag === 'TaskSucceeded')
    expect(succeeded).to.deep.equal({
      _tag: 'TaskSucceeded',
      workflowId: 'wf',
      at: succeeded?.at,
      state: 'Fetch',
      taskId: 'Fetch',
      attempts: 1,
      next: 'Done',
    })
  })

  it('takes the first value of an Observable load', async () => {
    const { state$ } = run({
      load: () => of([1, 2], [3, 4, 5]),
      processItem: (n: number) => n,
      finish: (results) => (results.length === 2 ? 'Done' : 'Failed'),
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
  })

  it('fails with a Workflow error, without retrying, when load returns something other than an array', async () => {
    let loads = 0
    const { state$ } = run(
      {
        load: () => {
          loads += 1
          return 42 as unknown as ReadonlyArray<number>
        },
        processItem: (n: number) => n,
        finish: () => 'Done',
      },
      { retry: RetryMode.fixed(3, 0) },
    )
    const error = await firstValueFrom(state$).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).to.deep.equal(workflowError('load for state "Fetch" returned 42, not an array of items', 'Fetch'))
    expect(loads).to.equal(1)
  })

  it('aborts the in-flight items when unsubscribed and starts no more', () => {
    const signals: AbortSignal[] = []
    let started = 0
    const { state$ } = run({
      load: () => [1, 2, 3, 4, 5],
      processItem: (_n: number, { signal }): Observable<number> => {
        started += 1
        signals.push(signal)
        return NEVER
      },
      finish: () => 'Done',
      concurrency: 2,
    })
    const sub = state$.subscribe()
    expect(signals.map((s) => s.aborted)).to.deep.equal([false, false])
    sub.unsubscribe()
    expect({ started, aborted: signals.map((s) => s.aborted) }).to.deep.equal({ started: 2, aborted: [true, true] })
    expect(signals[0]?.reason).to.deep.equal({ _tag: 'Cancelled', message: 'batch item cancelled' })
  })

  it('aborts the in-flight items when the cycle exceeds attemptTimeoutMs (unsubscribed before the Timeout is raised)', () => {
    const signals: AbortSignal[] = []
    testScheduler().run(({ expectObservable }) => {
      const { env } = makeEnv({ retry: RetryMode.none(), attemptTimeoutMs: 10 })
      const state$ = runBatchState(
        batch({
          load: () => [1, 2],
          processItem: (_n: number, { signal }): Observable<number> => {
            signals.push(signal)
            return NEVER
          },
          finish: () => 'Done' as const,
          concurrency: 2,
        }),
        env,
      )
      expectObservable(state$).toBe('10ms #', undefined, timeoutError(10))
    })
    const cancelled = { _tag: 'Cancelled', message: 'batch item cancelled' }
    expect(signals.map((s) => [s.aborted, s.reason as unknown])).to.deep.equal([
      [true, cancelled],
      [true, cancelled],
    ])
  })

  it('runs 20 000 items whose tail completes synchronously without growing the stack', async () => {
    // without the queueScheduler trampoline, mergeMap recurses once per buffered synchronous item and stalls
    const total = 20_000
    const { state$ } = run({
      load: () => Array.from({ length: total }, (_, i) => i),
      // the first items settle later, so the synchronous rest queue up behind them in mergeMap
      processItem: (i: number) => (i < 4 ? new Promise<number>((r) => setImmediate(() => r(i))) : i),
      finish: (results) =>
        results.length === total && results.every((r, i) => r._tag === 'Ok' && r.value === i) ? 'Done' : 'Failed',
      concurrency: 4,
    })
    expect(await firstValueFrom(state$)).to.equal('Done')
  })
})
