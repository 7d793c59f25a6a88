/**
 * `runStreamState`, driven directly with a hand-built `StateEnv`: count, time and mixed windows in
 * virtual time, stopping with a state, the error policies, exhaustion and cancellation, `WindowFlushed`
 * events, and the back-pressure of `AsyncIterable` sources (pull counting, no timers involved).
 */
import { expect } from 'chai'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { asyncScheduler, firstValueFrom, type Observable, of, type SchedulerLike, VirtualTimeScheduler } from 'rxjs'

import {
  CanoFailure,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
  toCanoError,
  workflowError,
} from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { type CloseReason, stream, StreamErrorPolicy, type StreamOptions, WindowSignal } from '../../src/Stream.js'
import type { TaskConfig } from '../../src/TaskConfig.js'
import type { NoResources } from '../../src/TaskContext.js'
import type { WindowFlushed, WorkflowEvent } from '../../src/WorkflowEvent.js'
import { runStreamState } from '../../streams/runStreamState.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { flushMicrotasks } from '../helpers/virtualTime.js'
import { stateEnvOf } from '../helpers/workEnv.js'

type Step = 'Ingest' | 'Done' | 'Stopped'

const makeEnv = (config: TaskConfig = {}, scheduler: SchedulerLike = asyncScheduler) =>
  stateEnvOf<Step>({ state: 'Ingest', config, scheduler, defaultRetry: RetryMode.none() })

/** Runs a stream state; `log` records every onWindow / onClose call. */
const run = <T>(
  options: StreamOptions<Step, NoResources, T>,
  { config, scheduler }: { readonly config?: TaskConfig; readonly scheduler?: SchedulerLike } = {},
) => {
  const { env, events } = makeEnv(config, scheduler)
  return { state$: runStreamState(stream(options), env), events }
}

const flushed = (window: number, items: number, at: number): WindowFlushed<Step> => ({
  _tag: 'WindowFlushed',
  workflowId: 'wf',
  at,
  state: 'Ingest',
  taskId: 'Ingest',
  window,
  items,
})

const windowEvents = (events: ReadonlyArray<WorkflowEvent<Step>>): WorkflowEvent<Step>[] =>
  events.filter((e) => e._tag === 'WindowFlushed')

/** Recording callbacks: every window as a string, then the close reason. */
const recorder = (
  answer: (items: ReadonlyArray<string>, window: number) => WindowSignal<Step> = () => WindowSignal.continue(),
) => {
  const log: string[] = []
  return {
    log,
    onWindow: (items: ReadonlyArray<string>, { window }: { readonly window: number }) => {
      log.push(`${window}:${items.join('')}`)
      return answer(items, window)
    },
    onClose: (reason: CloseReason): Step => {
      log.push(`close ${reason}`)
      return 'Done'
    },
  }
}

describe('runStreamState', () => {
  describe('with an Observable source', () => {
    it('hands windows of `count` items, then the final partial one, then asks onClose', () => {
      const r = recorder()
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-d-e|')
        const ran = run({ source: () => source, window: { count: 2 }, onWindow: r.onWindow, onClose: r.onClose })
        events = ran.events
        expectObservable(ran.state$).toBe('----------(x|)', { x: 'Done' })
        expectSubscriptions(source.subscriptions).toBe('^---------!')
      })
      expect(r.log).to.deep.equal(['1:ab', '2:cd', '3:e', 'close Exhausted'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 3), flushed(2, 2, 7), flushed(3, 1, 10)])
      expect(events.map((e) => e._tag)).to.deep.equal([
        'TaskStarted',
        'WindowFlushed',
        'WindowFlushed',
        'WindowFlushed',
        'TaskSucceeded',
      ])
    })

    it('hands windows every `timeMs` (bufferTime on the run scheduler), skipping empty ones', () => {
      const r = recorder()
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        // a at 1, b at 3, nothing in 5-10, c at 12, complete at 14
        const source = cold('-a-b--------c-|')
        const ran = run({ source: () => source, window: { timeMs: 5 }, onWindow: r.onWindow, onClose: r.onClose })
        events = ran.events
        expectObservable(ran.state$).toBe('--------------(x|)', { x: 'Done' })
      })
      // windows close at 5 [a,b], 10 [] (dropped), 15 would be [c] but the source completes at 14
      expect(r.log).to.deep.equal(['1:ab', '2:c', 'close Exhausted'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 5), flushed(2, 1, 14)])
    })

    it('flushes at whichever comes first when both count and timeMs are set', () => {
      const r = recorder()
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        // a 1, b 3 (count reached: flush, new window until 8), c 5, timer at 8, d 11, complete 12
        const source = cold('-a-b-c-----d|')
        const ran = run({
          source: () => source,
          window: { count: 2, timeMs: 5 },
          onWindow: r.onWindow,
          onClose: r.onClose,
        })
        events = ran.events
        expectObservable(ran.state$).toBe('------------(x|)', { x: 'Done' })
      })
      expect(r.log).to.deep.equal(['1:ab', '2:c', '3:d', 'close Exhausted'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 3), flushed(2, 1, 8), flushed(3, 1, 12)])
    })

    it('floors timeMs at 1 ms', () => {
      const r = recorder()
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('a-b|')
        const ran = run({ source: () => source, window: { timeMs: 0.25 }, onWindow: r.onWindow, onClose: r.onClose })
        events = ran.events
        expectObservable(ran.state$).toBe('---(x|)', { x: 'Done' })
      })
      // windows close every 1 ms (not 0.25): [a] at 1, [b] at 2 (b arrives just before the timer fires)
      expect(r.log).to.deep.equal(['1:a', '2:b', 'close Exhausted'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 1, 1), flushed(2, 1, 2)])
    })

    it('stops with the state onWindow chooses and unsubscribes the source, without onClose', () => {
      const r = recorder((_items, window) => (window === 2 ? WindowSignal.stop('Stopped') : WindowSignal.continue()))
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-d-e|')
        const ran = run({ source: () => source, window: { count: 2 }, onWindow: r.onWindow, onClose: r.onClose })
        events = ran.events
        expectObservable(ran.state$).toBe('-------(x|)', { x: 'Stopped' })
        expectSubscriptions(source.subscriptions).toBe('^------!')
      })
      expect(r.log).to.deep.equal(['1:ab', '2:cd'])
      expect(events.slice(-2)).to.deep.equal([
        flushed(2, 2, 7),
        {
          _tag: 'TaskSucceeded',
          workflowId: 'wf',
          at: 7,
          state: 'Ingest',
          taskId: 'Ingest',
          attempts: 1,
          next: 'Stopped',
        },
      ])
    })

    it('handles windows one at a time, queueing those that fill meanwhile', () => {
      const log: string[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        // each window takes 5 ms to handle; windows fill at 1, 2 and 3
        const source = cold('abc|')
        const ran = run({
          source: () => source,
          window: { count: 1 },
          onWindow: (items: ReadonlyArray<string>) => {
            log.push(`start ${items.join('')}`)
            return cold<WindowSignal<Step>>('-----(c|)', { c: WindowSignal.continue() })
          },
          onClose: () => 'Done',
        })
        expectObservable(ran.state$).toBe('---------------(x|)', { x: 'Done' })
      })
      expect(log).to.deep.equal(['start a', 'start b', 'start c'])
    })

    it('fails the state with a source error (TaskExecution), without onClose', () => {
      const r = recorder()
      const boom = new Error('broker connection lost')
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        const ran = run({
          source: () => cold('-a-#', { a: 'a' }, boom),
          window: { count: 5 },
          onWindow: r.onWindow,
          onClose: r.onClose,
        })
        events = ran.events
        expectObservable(ran.state$).toBe('---#', undefined, toCanoError(boom))
      })
      expect(r.log).to.deep.equal([])
      expect(events.map((e) => e._tag)).to.deep.equal(['TaskStarted', 'AttemptFailed', 'TaskFailed'])
    })

    it('calls onClose("Cancelled") for cleanup when unsubscribed, and ignores its answer', () => {
      const r = recorder()
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-d-e|')
        const ran = run({ source: () => source, window: { count: 2 }, onWindow: r.onWindow, onClose: r.onClose })
        expectObservable(ran.state$, '-----!').toBe('-')
        expectSubscriptions(source.subscriptions).toBe('^----!')
      })
      expect(r.log).to.deep.equal(['1:ab', 'close Cancelled'])
    })

    it('bounds the whole stream with attemptTimeoutMs, closing it as Cancelled', () => {
      const r = recorder()
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b-c-d-e|')
        const ran = run(
          { source: () => source, window: { count: 2 }, onWindow: r.onWindow, onClose: r.onClose },
          { config: { attemptTimeoutMs: 6 } },
        )
        expectObservable(ran.state$).toBe('------#', undefined, timeoutError(6))
      })
      expect(r.log).to.deep.equal(['1:ab', 'close Cancelled'])
    })

    it('resubscribes the source under the state retry, telling it how far the stream got', () => {
      const r = recorder()
      const froms: unknown[] = []
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-#')
        const ran = run(
          {
            source: (_ctx, from) => {
              froms.push(from)
              return source
            },
            window: { count: 1 },
            onWindow: r.onWindow,
            onClose: r.onClose,
          },
          { config: { retry: RetryMode.fixed(1, 2) } },
        )
        expectObservable(ran.state$).toBe('--------#', undefined, retryExhaustedError(2, toCanoError('error')))
        expectSubscriptions(source.subscriptions).toBe(['^--!', '-----^--!'])
      })
      // window numbers go on across attempts; the second subscription knows one window was handled
      expect(r.log).to.deep.equal(['1:a', '2:a'])
      expect(froms).to.deep.equal([undefined, { windows: 1, items: 1 }])
    })
  })

  describe('onError', () => {
    const failOn =
      (bad: ReadonlySet<string>, failures: Map<string, number> = new Map()) =>
      (items: ReadonlyArray<string>, { window }: { readonly window: number }): WindowSignal<Step> => {
        const key = `${window}:${items.join('')}`
        const left = failures.get(key)
        if (bad.has(key) && (left === undefined || left > 0)) {
          if (left !== undefined) failures.set(key, left - 1)
          throw new CanoFailure(taskExecutionError(`window ${key} rejected`))
        }
        return WindowSignal.continue()
      }

    it('failFast (default) fails the state with the error of onWindow', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('-a-b-c-d|')
        const ran = run({
          source: () => source,
          window: { count: 2 },
          onWindow: failOn(new Set(['2:cd'])),
          onClose: () => 'Done',
        })
        expectObservable(ran.state$).toBe('-------#', undefined, taskExecutionError('window 2:cd rejected'))
        expectSubscriptions(source.subscriptions).toBe('^------!')
      })
    })

    it('skip() drops the failing window (it still counts as handled) and goes on', () => {
      let events: WorkflowEvent<Step>[] = []
      const calls: string[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b-c-d|')
        const fail = failOn(new Set(['1:ab']))
        const ran = run({
          source: () => source,
          window: { count: 2 },
          onWindow: (items, w) => {
            calls.push(items.join(''))
            return fail(items, w)
          },
          onError: StreamErrorPolicy.skip(),
          onClose: () => 'Done',
        })
        events = ran.events
        expectObservable(ran.state$).toBe('--------(x|)', { x: 'Done' })
      })
      expect(calls).to.deep.equal(['ab', 'cd'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 3), flushed(2, 2, 7)])
    })

    it('retryOnError({ maxErrors: 2, delayMs: 3 }) calls onWindow again with the same window', () => {
      const calls: string[] = []
      let events: WorkflowEvent<Step>[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        const source = cold('-a-b|')
        const fail = failOn(new Set(['1:ab']), new Map([['1:ab', 2]]))
        const ran = run({
          source: () => source,
          window: { count: 2 },
          onWindow: (items, w) => {
            calls.push(`${w.window}:${items.join('')}`)
            return fail(items, w)
          },
          onError: StreamErrorPolicy.retryOnError({ maxErrors: 2, delayMs: 3 }),
          onClose: () => 'Done',
        })
        events = ran.events
        // window at 3 fails, again at 6 fails, succeeds at 9; the source completed at 4
        expectObservable(ran.state$).toBe('---------(x|)', { x: 'Done' })
      })
      expect(calls).to.deep.equal(['1:ab', '1:ab', '1:ab'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 9)])
    })

    it('retryOnError fails at consecutive error number maxErrors + 1', () => {
      testScheduler().run(({ cold, expectObservable }) => {
        const ran = run({
          source: () => cold('-a-b|', { a: 'a', b: 'b' }),
          window: { count: 2 },
          onWindow: failOn(new Set(['1:ab'])),
          onError: StreamErrorPolicy.retryOnError({ maxErrors: 1, delayMs: 2 }),
          onClose: () => 'Done',
        })
        expectObservable(ran.state$).toBe('-----#', undefined, taskExecutionError('window 1:ab rejected'))
      })
    })

    it('retryOnError resets the count after a handled window', () => {
      const calls: string[] = []
      testScheduler().run(({ cold, expectObservable }) => {
        const fail = failOn(
          new Set(['1:ab', '2:cd']),
          new Map([
            ['1:ab', 1],
            ['2:cd', 1],
          ]),
        )
        const ran = run({
          source: () => cold('-a-b-c-d|', { a: 'a', b: 'b', c: 'c', d: 'd' }),
          window: { count: 2 },
          onWindow: (items, w) => {
            calls.push(`${w.window}:${items.join('')}`)
            return fail(items, w)
          },
          onError: StreamErrorPolicy.retryOnError({ maxErrors: 1 }),
          onClose: () => 'Done',
        })
        expectObservable(ran.state$).toBe('--------(x|)', { x: 'Done' })
      })
      expect(calls).to.deep.equal(['1:ab', '1:ab', '2:cd', '2:cd'])
    })

    it('fails at once, under every policy, when onWindow answers something that is not a WindowSignal', async () => {
      const { state$ } = run({
        source: () => of('a'),
        window: { count: 1 },
        onWindow: () => 'Done' as unknown as WindowSignal<Step>,
        onError: StreamErrorPolicy.skip(),
        onClose: () => 'Done',
      })
      const error = await firstValueFrom(state$).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).to.deep.equal(
        workflowError(
          'onWindow for state "Ingest" returned "Done", not continueStream() or stopStream(state)',
          'Ingest',
        ),
      )
    })
  })

  describe('with an AsyncIterable source', () => {
    /** An endless pull source that counts its pulls and records whether it was returned. */
    const counting = () => {
      const stats = { pulls: 0, returned: false }
      const iterable: AsyncIterable<string> = {
        [Symbol.asyncIterator]: () => ({
          next: async () => {
            stats.pulls += 1
            return { done: false, value: String(stats.pulls) }
          },
          return: async () => {
            stats.returned = true
            return { done: true, value: undefined }
          },
        }),
      }
      return { stats, iterable }
    }

    it('never pulls while a window is being handled, nor beyond a full window', async () => {
      const { stats, iterable } = counting()
      const pullsAtWindow: number[] = []
      const releases: Array<() => void> = []
      const { state$ } = run({
        source: () => iterable,
        window: { count: 3 },
        onWindow: (_items: ReadonlyArray<string>, { window }) => {
          pullsAtWindow.push(stats.pulls)
          return new Promise<WindowSignal<Step>>((resolve) => {
            releases.push(() => resolve(window === 3 ? WindowSignal.stop('Stopped') : WindowSignal.continue()))
          })
        },
        onClose: () => 'Done',
      })
      const result = firstValueFrom(state$)
      for (let window = 1; window <= 3; window++) {
        await flushMicrotasks()
        await flushMicrotasks()
        // the window is full and being handled: however long it takes, nothing more is read
        expect({ window, pulls: stats.pulls, handling: releases.length }).to.deep.equal({
          window,
          pulls: 3 * window,
          handling: window,
        })
        releases[window - 1]!()
      }
      expect(await result).to.equal('Stopped')
      expect({ pullsAtWindow, ...stats }).to.deep.equal({ pullsAtWindow: [3, 6, 9], pulls: 9, returned: true })
    })

    it('hands the final partial window before onClose("Exhausted") and emits WindowFlushed per window', async () => {
      const r = recorder()
      async function* letters(): AsyncGenerator<string> {
        yield* ['a', 'b', 'c', 'd', 'e']
      }
      const { state$, events } = run({
        source: () => letters(),
        window: { count: 2 },
        onWindow: r.onWindow,
        onClose: r.onClose,
      })
      expect(await firstValueFrom(state$)).to.equal('Done')
      expect(r.log).to.deep.equal(['1:ab', '2:cd', '3:e', 'close Exhausted'])
      expect(windowEvents(events).map((e) => (e._tag === 'WindowFlushed' ? [e.window, e.items] : []))).to.deep.equal([
        [1, 2],
        [2, 2],
        [3, 1],
      ])
    })

    it('returns the iterator (its finally block runs) when stopped', async () => {
      let cleaned = false
      async function* endless(): AsyncGenerator<string> {
        try {
          for (let i = 0; ; i++) yield String(i)
        } finally {
          cleaned = true
        }
      }
      const { state$ } = run({
        source: () => endless(),
        window: { count: 4 },
        onWindow: async (_items, { window }) => (window === 2 ? WindowSignal.stop('Stopped') : WindowSignal.continue()),
        onClose: () => 'Done',
      })
      expect(await firstValueFrom(state$)).to.equal('Stopped')
      await flushMicrotasks()
      expect(cleaned).to.equal(true)
    })

    it('flushes a partial window after timeMs on the run scheduler while a pull is pending', async () => {
      const scheduler = new VirtualTimeScheduler()
      const r = recorder()
      let release: () => void = () => undefined
      const gate = new Promise<void>((resolve) => (release = resolve))
      async function* slow(): AsyncGenerator<string> {
        yield 'a'
        yield 'b'
        await gate
        yield 'c'
      }
      const { state$, events } = run(
        { source: () => slow(), window: { count: 10, timeMs: 50 }, onWindow: r.onWindow, onClose: r.onClose },
        { scheduler },
      )
      const result = firstValueFrom(state$)
      await flushMicrotasks()
      expect(r.log).to.deep.equal([])
      scheduler.maxFrames = 49
      scheduler.flush()
      expect(r.log).to.deep.equal([])
      scheduler.maxFrames = 50
      scheduler.flush()
      expect(r.log).to.deep.equal(['1:ab'])
      release()
      await flushMicrotasks()
      expect(await result).to.equal('Done')
      expect(r.log).to.deep.equal(['1:ab', '2:c', 'close Exhausted'])
      expect(windowEvents(events)).to.deep.equal([flushed(1, 2, 50), flushed(2, 1, 50)])
    })

    it('calls onClose("Cancelled") and returns the iterator when unsubscribed', async () => {
      const { stats, iterable } = counting()
      const r = recorder()
      const { state$ } = run({
        source: () => iterable,
        window: { count: 2 },
        onWindow: (items, w) => {
          r.onWindow(items, w)
          return new Promise<WindowSignal<Step>>(() => undefined)
        },
        onClose: r.onClose,
      })
      const sub = state$.subscribe()
      await flushMicrotasks()
      sub.unsubscribe()
      await flushMicrotasks()
      expect({ log: r.log, ...stats }).to.deep.equal({ log: ['1:12', 'close Cancelled'], pulls: 2, returned: true })
    })

    it('fails the state when the iterator throws', async () => {
      async function* broken(): AsyncGenerator<string> {
        yield 'a'
        throw new CanoFailure(taskExecutionError('socket closed'))
      }
      const r = recorder()
      const { state$ } = run({ source: () => broken(), window: { count: 5 }, onWindow: r.onWindow, onClose: r.onClose })
      const error = await firstValueFrom(state$).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect({ error, log: r.log }).to.deep.equal({ error: taskExecutionError('socket closed'), log: [] })
    })
  })

  describe('Promise and TaskEither interop', () => {
    it('accepts Promise and TaskEither answers from onWindow and a Promise from onClose', async () => {
      const seen: string[] = []
      const { state$ } = run({
        source: () => of(1, 2, 3, 4, 5),
        window: { count: 2 },
        onWindow: (items, { window }) => {
          seen.push(items.join(','))
          return window % 2 === 0 ? Promise.resolve(WindowSignal.continue()) : TE.right(WindowSignal.continue())
        },
        onClose: async (reason) => (reason === 'Exhausted' ? 'Done' : 'Stopped'),
      })
      expect(await firstValueFrom(state$)).to.equal('Done')
      expect(seen).to.deep.equal(['1,2', '3,4', '5'])
    })

    it('fails with a Workflow error when source returns neither an Observable nor an AsyncIterable', async () => {
      const { state$ } = run({
        source: () => [1, 2, 3] as unknown as Observable<number>,
        window: { count: 2 },
        onWindow: () => WindowSignal.continue(),
        onClose: () => 'Done',
      })
      const error = await firstValueFrom(state$).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).to.deep.equal(
        workflowError('source for state "Ingest" returned [1,2,3], not an Observable or an AsyncIterable', 'Ingest'),
      )
    })
  })
})
