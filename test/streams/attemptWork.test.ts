import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import {
  asyncScheduler,
  EMPTY,
  fromEvent,
  map,
  NEVER,
  Observable,
  of,
  takeUntil,
  type TeardownLogic,
  timer,
} from 'rxjs'

import { retryExhaustedError, taskExecutionError, timeoutError, toCanoError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { resolveTaskConfig, runsInline } from '../../src/TaskConfig.js'
import type { NoResources, TaskContext } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { attemptWork, type WorkCallbacks, type WorkEnv } from '../../streams/attemptWork.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { workEnvOf } from '../helpers/workEnv.js'

type St = 'Work' | 'Next'

const envOf = workEnvOf

/** Callbacks recording what `attemptWork` reports; `release()` marks the work as no longer wanted. */
const recorder = () => {
  const seen: Array<readonly [string, unknown, number?]> = []
  const teardowns: TeardownLogic[] = []
  let closed = false
  const callbacks: WorkCallbacks<unknown> = {
    onValue: (v, attempts) => seen.push(['value', v, attempts]),
    onError: (e) => seen.push(['error', e]),
    add: (t) => teardowns.push(t),
    get closed() {
      return closed
    },
  }
  const release = (): void => {
    closed = true
    for (const t of teardowns) {
      if (typeof t === 'function') t()
      else if (typeof t === 'object') t.unsubscribe()
    }
  }
  return { seen, callbacks, release }
}

/** What `attemptWork` reports once it has settled (real time). */
const settled = (env: WorkEnv<St, NoResources>, call: (ctx: TaskContext) => unknown) =>
  new Promise<readonly [string, unknown, number?]>((resolve) =>
    attemptWork<St, NoResources, unknown>(env, call, {
      onValue: (v, attempts) => resolve(['value', v, attempts]),
      onError: (e) => resolve(['error', e]),
      add: () => undefined,
    }),
  )

/**
 * `call` under a 10 ms attempt timeout and one retry, in virtual time: what the callbacks saw (errors by
 * tag) and the `AttemptFailed` events.
 */
const underTimeout = (call: (ctx: TaskContext) => unknown) => {
  const seen: unknown[] = []
  let failed: Array<Extract<WorkflowEvent<St>, { _tag: 'AttemptFailed' }>> = []
  testScheduler().run(({ flush }) => {
    const { env, events } = envOf({ retry: RetryMode.fixed(1, 0), attemptTimeoutMs: 10 }, asyncScheduler)
    attemptWork<St, NoResources, unknown>(env, call, {
      onValue: (v, attempts) => seen.push(['value', v, attempts]),
      onError: (e) => seen.push(['error', toCanoError(e)._tag]),
      add: () => undefined,
    })
    flush()
    failed = events.flatMap((e) => (e._tag === 'AttemptFailed' ? [e] : []))
  })
  return { seen, failed }
}

describe('attemptWork', () => {
  it('runs attempt 1 inline whatever the policies (runsInline, issue 16)', () => {
    expect(runsInline(resolveTaskConfig({}))).to.equal(true)
    expect(runsInline(resolveTaskConfig({ attemptTimeoutMs: 5, retry: RetryMode.fixed(2, 1) }))).to.equal(true)
    expect(runsInline(resolveTaskConfig({ circuitBreaker: createCircuitBreaker({ failureThreshold: 1 }) }))).to.equal(
      true,
    )
    expect(runsInline(resolveTaskConfig({ rateLimiter: createRateLimiter({ ratePerSec: 1 }) }))).to.equal(true)
  })

  it('settles attempt 1 before it returns for a value, an Either, a synchronous TaskEither and Observable', () => {
    const { env } = envOf({})
    const { seen, callbacks } = recorder()
    for (const out of ['Next', E.right('Next'), () => E.right('Next'), of('Next')])
      attemptWork<St, NoResources, unknown>(env, () => out, callbacks)
    expect(seen).to.deep.equal([
      ['value', 'Next', 1],
      ['value', 'Next', 1],
      ['value', 'Next', 1],
      ['value', 'Next', 1],
    ])
  })

  it('reads an output on attempt 1 exactly as on a retried attempt', async () => {
    const outputs: ReadonlyArray<() => unknown> = [
      () => E.right(E.right('Next')),
      () => of(E.right('Next')),
      () => Promise.resolve(E.right('Next')),
      () => TE.right('Next'),
      () => E.left('refused'),
    ]
    for (const output of outputs) {
      const first = await settled(envOf({ retry: RetryMode.none() }).env, output)
      let calls = 0
      const retried = await settled(envOf({ retry: RetryMode.fixed(1, 0) }).env, () => {
        calls += 1
        if (calls === 1) throw new Error('first attempt fails')
        return output()
      })
      expect(calls).to.equal(2)
      expect(retried).to.deep.equal(
        first[0] === 'value' ? ['value', first[1], 2] : ['error', retryExhaustedError(2, toCanoError(first[1]))],
      )
    }
  })

  it('hands a Left of attempt 1 to the retry loop, which reports it and retries', () => {
    const events: WorkflowEvent<St>[] = []
    const seen: unknown[] = []
    testScheduler().run(({ flush }) => {
      const { env, events: recorded } = envOf({ retry: RetryMode.fixed(1, 5) }, asyncScheduler)
      let calls = 0
      attemptWork<St, NoResources, unknown>(env, () => (++calls === 1 ? E.left(taskExecutionError('no')) : 'Next'), {
        onValue: (v, attempts) => seen.push([v, attempts, asyncScheduler.now()]),
        onError: (e) => seen.push(e),
        add: () => undefined,
      })
      flush()
      events.push(...recorded)
    })
    expect(seen).to.deep.equal([['Next', 2, 5]])
    expect(events).to.deep.equal([
      {
        _tag: 'AttemptFailed',
        workflowId: 'w',
        at: 0,
        state: 'Work',
        taskId: 'Work',
        attempt: 1,
        error: taskExecutionError('no'),
      },
      { _tag: 'RetryScheduled', workflowId: 'w', at: 0, state: 'Work', taskId: 'Work', attempt: 1, delayMs: 5 },
    ])
  })

  it('fails attempt 1 when its Observable completes without a value', () => {
    const { env } = envOf({ retry: RetryMode.none() })
    const { seen, callbacks } = recorder()
    attemptWork<St, NoResources, unknown>(env, () => EMPTY, callbacks)
    expect(seen).to.deep.equal([['error', taskExecutionError('task for state "Work" completed without a value')]])
  })

  it('times attempt 1 out inline at the attempt timeout: its signal aborts, and the retry loop takes over', () => {
    const seen: unknown[] = []
    const aborted: unknown[] = []
    testScheduler().run(({ flush }) => {
      const { env } = envOf({ retry: RetryMode.fixed(1, 0), attemptTimeoutMs: 10 }, asyncScheduler)
      attemptWork<St, NoResources, unknown>(
        env,
        (ctx) => {
          ctx.signal.addEventListener('abort', () =>
            aborted.push([ctx.attempt, ctx.signal.reason, asyncScheduler.now()]),
          )
          return ctx.attempt === 1 ? timer(50) : timer(3).pipe(map(() => 'Next'))
        },
        {
          onValue: (v, attempts) => seen.push([v, attempts, asyncScheduler.now()]),
          onError: (e) => seen.push(e),
          add: () => undefined,
        },
      )
      flush()
    })
    expect(aborted).to.deep.equal([[1, timeoutError(10), 10]])
    expect(seen).to.deep.equal([['Next', 2, 13]])
  })

  it('fails every attempt that times out with Timeout, even when its output ends on the abort (adv16c t1c)', () => {
    // attempt 1 runs inline, attempt 2 in the retry loop: both settle before their signal aborts
    const outputs: Record<string, (ctx: TaskContext) => Observable<unknown>> = {
      completes: (ctx) => NEVER.pipe(takeUntil(fromEvent(ctx.signal, 'abort'))),
      errors: (ctx) =>
        new Observable((subscriber) => {
          const onAbort = (): void => subscriber.error(new Error('aborted'))
          ctx.signal.addEventListener('abort', onAbort)
          return () => ctx.signal.removeEventListener('abort', onAbort)
        }),
    }
    for (const [name, output] of Object.entries(outputs)) {
      /** What happened at the timeout, in order: the output's teardown comes before the abort. */
      const order: string[] = []
      const { seen, failed } = underTimeout((ctx) => {
        ctx.signal.addEventListener('abort', () => order.push(`abort ${String(ctx.attempt)}`))
        return new Observable((subscriber) => {
          const sub = output(ctx).subscribe(subscriber)
          return () => {
            order.push(`teardown ${String(ctx.attempt)}`)
            sub.unsubscribe()
          }
        })
      })
      const failures = failed.map((e) => [e.attempt, e.at, e.error])
      expect([name, failures]).to.deep.equal([
        name,
        [
          [1, 10, timeoutError(10)],
          [2, 20, timeoutError(10)],
        ],
      ])
      expect([name, seen]).to.deep.equal([name, [['error', 'RetryExhausted']]])
      expect([name, order]).to.deep.equal([name, ['teardown 1', 'abort 1', 'teardown 2', 'abort 2']])
    }
  })

  it("times out a value delivered at the attempt timeout's very instant, on every attempt (adv16c t4)", () => {
    for (const firstFails of [false, true]) {
      const { seen, failed } = underTimeout((ctx) => {
        if (firstFails && ctx.attempt === 1) throw new Error('first fails')
        return timer(10).pipe(map(() => 'Next'))
      })
      const failures = failed.map((e) => [e.attempt, e.at, e.error._tag])
      // the deadline is armed before the task is called, on the inline path and in the retry loop alike
      expect([firstFails, failures]).to.deep.equal([
        firstFails,
        firstFails
          ? [
              [1, 0, 'TaskExecution'],
              [2, 10, 'Timeout'],
            ]
          : [
              [1, 10, 'Timeout'],
              [2, 20, 'Timeout'],
            ],
      ])
      expect(seen).to.deep.equal([['error', 'RetryExhausted']])
    }
  })

  it('starts no retry for a first attempt that fails after the work was released', async () => {
    const { env, events } = envOf({ retry: RetryMode.fixed(3, 0) })
    const { seen, callbacks, release } = recorder()
    let calls = 0
    let reject: (e: unknown) => void = () => undefined
    attemptWork<St, NoResources, unknown>(
      env,
      () => {
        calls += 1
        return new Promise((_, r) => (reject = r))
      },
      callbacks,
    )
    release()
    reject(new Error('late'))
    await new Promise((resolve) => setImmediate(resolve))
    expect([calls, seen, events]).to.deep.equal([1, [], []])
  })
})
