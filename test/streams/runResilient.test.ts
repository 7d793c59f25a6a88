/**
 * Issue 14 item 8: `runResilient` / `resilient`, the engine's retry loop outside a workflow. Virtual time:
 * one `createVirtualClock()` is the `scheduler` of the runner, the breaker and the limiter; marble tests
 * run the operator inside `TestScheduler.run`, where the default `asyncScheduler` is virtual.
 */
import { expect } from 'chai'
import { defer, firstValueFrom, NEVER, type Observable, of, throwError } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import {
  CanoFailure,
  circuitOpenError,
  isCanoFailure,
  nonRetryable,
  rateLimitedError,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
} from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { createCircuitBreaker, createSamplingCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import type { RetryInfo } from '../../streams/retryWithBackoff.js'
import { resilient, type RunnerContext, runResilient } from '../../streams/runResilient.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { createVirtualClock, flushMicrotasks, testScheduler, type VirtualClock } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

/** What a runner's Promise settled with: the value, the `CanoError` of its `CanoFailure`, or still pending. */
type Settled<A> = { readonly value: A } | { readonly error: CanoError } | 'pending'

const watch = <A>(p: Promise<A>): (() => Settled<A>) => {
  let state: Settled<A> = 'pending'
  p.then(
    (value) => {
      state = { value }
    },
    (e: unknown) => {
      if (!isCanoFailure(e)) throw new Error(`expected a CanoFailure, got ${String(e)}`)
      state = { error: e.error }
    },
  )
  return () => state
}

const errorOf = async (p: Promise<unknown>): Promise<CanoError> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw e
  }
  throw new Error('expected a rejection')
}

/** Strips the `cause` (an Error instance) so errors compare as plain data. */
const plain = (e: CanoError): unknown =>
  JSON.parse(JSON.stringify(e, (k, v: unknown) => (k === 'cause' ? undefined : v)))

const configurationMessage = (f: () => unknown): string => {
  try {
    f()
  } catch (e: unknown) {
    if (isCanoFailure(e) && e.error._tag === 'Configuration') return e.error.message
    throw e
  }
  throw new Error('expected a Configuration failure')
}

/** A call that fails its first `failures` attempts, recording the instant and attempt of each. */
const flaky = (clock: VirtualClock, failures: number) => {
  const log: string[] = []
  const fn = ({ attempt }: RunnerContext): number => {
    log.push(`${attempt}@${clock.now()}`)
    if (attempt <= failures) throw new Error(`upstream 503 (attempt ${attempt})`)
    return attempt * 10
  }
  return { fn, log }
}

// -------------------------------------------------------------------------------------
// runResilient
// -------------------------------------------------------------------------------------

describe('runResilient', () => {
  it('returns the value of a call that succeeds at once, synchronously computed or resolved', async () => {
    expect(await runResilient(() => 7)).to.equal(7)
    expect(await runResilient(async () => 'row')).to.equal('row')
    expect(await runResilient(() => of({ id: 1 }))).to.deep.equal({ id: 1 })
  })

  it('retries at the delays of its retry mode, in virtual time, and tells onRetry each time', async () => {
    const clock = createVirtualClock()
    const { fn, log } = flaky(clock, 2)
    const retries: RetryInfo[] = []
    const result = watch(
      runResilient(fn, { retry: RetryMode.fixed(3, 100), scheduler: clock, onRetry: (i) => retries.push(i) }),
    )
    await clock.runUntilIdle()
    deepStrictEqual(result(), { value: 30 })
    deepStrictEqual(log, ['1@0', '2@100', '3@200'])
    deepStrictEqual(
      retries.map((r) => [r.attempt, r.delayMs, plain(r.error as CanoError)]),
      [
        [1, 100, plain(taskExecutionError('upstream 503 (attempt 1)'))],
        [2, 100, plain(taskExecutionError('upstream 503 (attempt 2)'))],
      ],
    )
  })

  it('defaults to a task retry mode: RetryMode.default(), 4 attempts in all', async () => {
    const clock = createVirtualClock()
    const { fn, log } = flaky(clock, 10)
    const result = watch(runResilient(fn, { scheduler: clock, random: () => 0.5 }))
    await clock.runUntilIdle()
    expect(log).to.have.length(4)
    const settled = result()
    if (settled === 'pending' || !('error' in settled)) throw new Error('expected a failure')
    deepStrictEqual(plain(settled.error), plain(retryExhaustedError(4, taskExecutionError('upstream 503 (attempt 4)'))))
  })

  it('does not retry a nonRetryable error', async () => {
    let calls = 0
    const error = await errorOf(
      runResilient(
        () => {
          calls++
          throw nonRetryable(taskExecutionError('bad request'))
        },
        { retry: RetryMode.fixed(3, 1) },
      ),
    )
    deepStrictEqual([calls, plain(error)], [1, plain(taskExecutionError('bad request'))])
  })

  it('bounds each attempt with attemptTimeoutMs: the attempt signal aborts with Timeout, then a retry runs', async () => {
    const clock = createVirtualClock()
    const aborted: string[] = []
    const result = watch(
      runResilient(
        ({ signal, attempt }) =>
          attempt === 1
            ? new Promise<string>(() => {
                signal.addEventListener('abort', () =>
                  aborted.push(`${clock.now()}: ${(signal.reason as CanoError)._tag}`),
                )
              })
            : 'second',
        { retry: RetryMode.fixed(1, 50), attemptTimeoutMs: 200, scheduler: clock },
      ),
    )
    await clock.advance(199)
    expect(result()).to.equal('pending')
    await clock.runUntilIdle()
    deepStrictEqual(aborted, ['200: Timeout'])
    deepStrictEqual(result(), { value: 'second' })
  })

  it('fails with Timeout when the only attempt times out', async () => {
    const clock = createVirtualClock()
    const result = watch(runResilient(() => NEVER, { retry: RetryMode.none(), attemptTimeoutMs: 30, scheduler: clock }))
    await clock.runUntilIdle()
    deepStrictEqual(result(), { error: timeoutError(30) })
  })

  it('rejects with the raw CircuitOpen of an open breaker: no call, no retry', async () => {
    const clock = createVirtualClock()
    const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1_000 }, { scheduler: clock })
    let calls = 0
    const failing = (): never => {
      calls++
      throw new Error('down')
    }
    const first = watch(
      runResilient(failing, { retry: RetryMode.fixed(5, 10), circuitBreaker: breaker, scheduler: clock }),
    )
    await clock.runUntilIdle()
    // two failures open the breaker; the third attempt is refused and ends the loop with CircuitOpen
    deepStrictEqual([calls, first()], [2, { error: circuitOpenError('circuit breaker open: rejecting call') }])
    expect(breaker.state._tag).to.equal('Open')
    const second = await errorOf(runResilient(() => 'ok', { circuitBreaker: breaker, scheduler: clock }))
    deepStrictEqual(second, circuitOpenError('circuit breaker open: rejecting call'))
    await clock.advance(1_000)
    expect(await runResilient(() => 'ok', { circuitBreaker: breaker, scheduler: clock })).to.equal('ok')
    expect(breaker.state._tag).to.equal('Closed')
  })

  it('feeds a sampling breaker like any breaker', async () => {
    const clock = createVirtualClock()
    const breaker = createSamplingCircuitBreaker({ minimumCalls: 4, failureRate: 0.5 }, { scheduler: clock })
    for (const ok of [true, true, false]) {
      await runResilient(() => (ok ? 1 : Promise.reject(new Error('x'))), {
        retry: RetryMode.none(),
        circuitBreaker: breaker,
        scheduler: clock,
      }).catch(() => undefined)
    }
    deepStrictEqual(breaker.windowStats(), { calls: 3, failures: 1, failureRate: 1 / 3 })
    await runResilient(() => Promise.reject(new Error('x')), {
      retry: RetryMode.none(),
      circuitBreaker: breaker,
      scheduler: clock,
    }).catch(() => undefined)
    expect(breaker.state._tag).to.equal('Open')
  })

  it('waits for a waiting limiter before each attempt, and takes the weighted cost of a scoped one', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 2, scheduler: clock })
    const perCall = limiter.scoped({ cost: 2 })
    const log: string[] = []
    const call = (name: string) => () => (log.push(`${name}@${clock.now()}`), name)
    const a = watch(runResilient(call('a'), { rateLimiter: perCall, scheduler: clock }))
    const b = watch(runResilient(call('b'), { rateLimiter: perCall, scheduler: clock }))
    await clock.runUntilIdle()
    deepStrictEqual(log, ['a@0', 'b@1000'])
    deepStrictEqual([a(), b()], [{ value: 'a' }, { value: 'b' }])
  })

  it("waits a non-waiting limiter's retryAfterMs before the retry", async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 4, waits: false, scheduler: clock })
    limiter.tryAcquire(4)
    const log: number[] = []
    const result = watch(
      runResilient(() => log.push(clock.now()), {
        retry: RetryMode.fixed(2, 1),
        rateLimiter: limiter,
        scheduler: clock,
      }),
    )
    await clock.runUntilIdle()
    deepStrictEqual([log, result()], [[250], { value: 1 }])
    const refused = await errorOf(
      runResilient(() => 'x', { retry: RetryMode.none(), rateLimiter: limiter, scheduler: clock }),
    )
    deepStrictEqual(refused, rateLimitedError('default', 250))
  })

  it('fails with the RateLimited of a non-waiting limiter whose retryAfterMs no timer can wait (adv16c r3)', async () => {
    const clock = createVirtualClock()
    // one token per 2e9 ms, the bucket empty and one caller waiting: the next call waits 4e9 ms, beyond 2^31-1
    const limiter = createRateLimiter({ tokens: 1, perMs: 2_000_000_000, waits: false, scheduler: clock })
    limiter.tryAcquire()
    const waiting = new AbortController()
    const queued = limiter.acquire({ signal: waiting.signal }).catch(() => undefined)
    let calls = 0
    const retries: number[] = []
    const refused = await errorOf(
      runResilient(() => (calls += 1), {
        retry: RetryMode.fixed(2, 10),
        rateLimiter: limiter,
        scheduler: clock,
        onRetry: (i) => retries.push(i.delayMs),
      }),
    )
    waiting.abort()
    await queued
    deepStrictEqual([refused, calls, retries], [rateLimitedError('default', 4_000_000_000), 0, []])
  })

  it('stops at once when its signal aborts: the attempt signal aborts and the run fails with Cancelled', async () => {
    const clock = createVirtualClock()
    const abort = new AbortController()
    let seen: unknown
    const result = watch(
      runResilient(
        ({ signal }) =>
          new Promise<never>(() => {
            signal.addEventListener('abort', () => {
              seen = signal.reason
            })
          }),
        { signal: abort.signal, scheduler: clock, name: 'fetch quote' },
      ),
    )
    await clock.advance(10)
    abort.abort()
    await flushMicrotasks()
    const cancelled = { _tag: 'Cancelled', message: 'fetch quote cancelled' }
    deepStrictEqual([result(), seen], [{ error: cancelled }, cancelled])
    expect(clock.pending()).to.equal(0)
  })

  it('passes on a CanoError the signal was aborted with, and never calls fn for an aborted signal', async () => {
    let calls = 0
    const reason = timeoutError(5, 'deadline of the request')
    const error = await errorOf(runResilient(() => ++calls, { signal: AbortSignal.abort(reason) }))
    deepStrictEqual([calls, error], [0, reason])
  })

  it('leaves the queue of a waiting limiter when its signal aborts', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 1, scheduler: clock })
    limiter.tryAcquire()
    const abort = new AbortController()
    const result = watch(runResilient(() => 'late', { rateLimiter: limiter, scheduler: clock, signal: abort.signal }))
    await clock.advance(100)
    expect(limiter.waiting).to.equal(1)
    abort.abort()
    await flushMicrotasks()
    deepStrictEqual(
      [result(), limiter.waiting],
      [{ error: { _tag: 'Cancelled', message: 'runResilient cancelled' } }, 0],
    )
  })

  const invalid: ReadonlyArray<readonly [string, () => Promise<unknown>, string]> = [
    ['fn', () => runResilient('fetch' as unknown as () => number), 'runResilient: fn must be a function, got "fetch"'],
    ['options', () => runResilient(() => 1, 5 as never), 'runResilient: options must be an object, got 5'],
    [
      'retry',
      () => runResilient(() => 1, { retry: RetryMode.fixed(-1, 10) }),
      'runResilient: retry.retries must be a non-negative integer, got -1',
    ],
    [
      'attemptTimeoutMs',
      () => runResilient(() => 1, { attemptTimeoutMs: 0 }),
      'runResilient: attemptTimeoutMs must be a finite number in (0, 2147483647], got 0',
    ],
    [
      'circuitBreaker',
      () => runResilient(() => 1, { circuitBreaker: createRateLimiter({ ratePerSec: 1 }) as never }),
      'runResilient: circuitBreaker must be a circuit breaker (createCircuitBreaker()), got a rate limiter',
    ],
    [
      'rateLimiter',
      () => runResilient(() => 1, { rateLimiter: {} as never }),
      'runResilient: rateLimiter must be a rate limiter (createRateLimiter()): tryAcquire is not a function',
    ],
    [
      'signal',
      () => runResilient(() => 1, { signal: 'stop' as never }),
      'runResilient: signal must be an AbortSignal, got "stop"',
    ],
    [
      'scheduler',
      () => runResilient(() => 1, { scheduler: {} as never }),
      'runResilient: scheduler must be an RxJS scheduler (now, schedule), got {}',
    ],
    [
      'onRetry',
      () => runResilient(() => 1, { onRetry: 1 as never }),
      'runResilient: onRetry must be a function, got 1',
    ],
    ['name', () => runResilient(() => 1, { name: '' }), 'runResilient: name must be a non-empty string, got ""'],
  ]
  for (const [field, run, message] of invalid) {
    it(`rejects an invalid ${field} with a Configuration error naming it`, async () => {
      deepStrictEqual(await errorOf(run()), { _tag: 'Configuration', message })
    })
  }
})

// -------------------------------------------------------------------------------------
// resilient
// -------------------------------------------------------------------------------------

describe('resilient', () => {
  it('resubscribes to the source after a failed attempt, and emits its first value', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      let n = 0
      const source = defer(() => (n++ === 0 ? cold('-#') : cold('-a-b|')))
      // error at 1, retry after 10 ms (11), a at 12: the first value completes the output
      expectObservable(source.pipe(resilient({ retry: RetryMode.fixed(2, 10) }))).toBe('12ms (a|)')
    })
  })

  it('errors with the CanoError when the retries run out', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source: Observable<string> = cold('--#', {}, new Error('upstream 503'))
      expectObservable(source.pipe(resilient({ retry: RetryMode.fixed(1, 5) }))).toBe(
        '--  5ms --#',
        {},
        retryExhaustedError(2, taskExecutionError('upstream 503', new Error('upstream 503'))),
      )
    })
  })

  it('times out each subscription with attemptTimeoutMs', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('---a|').pipe(resilient({ retry: RetryMode.none(), attemptTimeoutMs: 2 }))).toBe(
        '--#',
        {},
        timeoutError(2),
      )
    })
  })

  it('unsubscribes the source when the output is unsubscribed, timers included', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('------a|')
      expectObservable(source.pipe(resilient({ attemptTimeoutMs: 100 })), '^--!').toBe('---')
      expectSubscriptions(source.subscriptions).toBe('^--!')
    })
  })

  it('checks its options when it is created', () => {
    expect(configurationMessage(() => resilient({ attemptTimeoutMs: -1 }))).to.equal(
      'resilient: attemptTimeoutMs must be a finite number in (0, 2147483647], got -1',
    )
    expect(() => resilient({ retry: RetryMode.fixed(1, Number.NaN) })).to.throw(CanoFailure)
  })

  it('leaves a source that succeeds at once alone', async () => {
    expect(await firstValueFrom(of(1, 2).pipe(resilient()))).to.equal(1)
    const failed = await firstValueFrom(
      throwError(() => new Error('x')).pipe(resilient({ retry: RetryMode.none() })),
    ).catch((e: unknown) => e)
    deepStrictEqual(plain(failed as CanoError), plain(taskExecutionError('x')))
  })
})
