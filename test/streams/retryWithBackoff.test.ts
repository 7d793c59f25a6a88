import { expect } from 'chai'
import { defer, lastValueFrom, type Observable, throwError } from 'rxjs'

import {
  CanoFailure,
  configurationError,
  hasTag,
  isCanoError,
  nonRetryable,
  rateLimitedError,
  retryExhaustedError,
  toCanoError,
} from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { type RetryInfo, retryWithBackoff } from '../../streams/retryWithBackoff.js'
import { failure, failures } from '../helpers/failures.js'
import { testScheduler } from '../helpers/virtualTime.js'

/** Exponential 10 ms, x2, no jitter: waits 10, 20, 40 ms. */
const exp10 = RetryMode.exponentialCustom({
  maxRetries: 3,
  baseDelayMs: 10,
  multiplier: 2,
  maxDelayMs: 1_000,
  jitter: 0,
})

describe('retryWithBackoff', () => {
  it('resubscribes after 10, 20 and 40 ms, then errors with RetryExhausted after 4 attempts', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const err = new Error('boom')
      const source = cold('-#', undefined, err)
      const result = failures(source.pipe(retryWithBackoff({ mode: exp10 })))
      expectObservable(result).toBe('74ms #', undefined, failure(retryExhaustedError(4, toCanoError(err))))
      expectSubscriptions(source.subscriptions).toBe([
        '^!', //        attempt 1: 0-1
        '11ms ^!', //   error at 1 + 10 ms
        '32ms ^!', //   error at 12 + 20 ms
        '73ms ^!', //   error at 33 + 40 ms; error at 74 ends the loop
      ])
    })
  })

  it('keeps the last error as a CanoError inside RetryExhausted', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-#', undefined, 'plain string')
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 1) })))).toBe(
        '3ms #',
        undefined,
        failure(retryExhaustedError(2, { _tag: 'TaskExecution', message: 'plain string', cause: 'plain string' })),
      )
    })
  })

  it('uses the default exponential schedule (100, 200, 400 ms) when random gives factor 1', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#')
      const result = failures(source.pipe(retryWithBackoff({ mode: RetryMode.default(), random: () => 0.5 })))
      expectObservable(result).toBe('704ms #', undefined, failure(retryExhaustedError(4, toCanoError('error'))))
      expectSubscriptions(source.subscriptions).toBe(['^!', '101ms ^!', '302ms ^!', '703ms ^!'])
    })
  })

  it('waits the fixed delay between attempts', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a#')
      const result = failures(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 5) })))
      // a at 1, error at 2; +5 -> resubscribe at 7, a at 8, error at 9; +5 -> 14, a at 15, error at 16
      expectObservable(result).toBe(
        '-a 5ms -a 5ms -a#',
        undefined,
        failure(retryExhaustedError(3, toCanoError('error'))),
      )
      expectSubscriptions(source.subscriptions).toBe(['^-!', '7ms ^-!', '14ms ^-!'])
    })
  })

  it('errors with the original error as a CanoFailure after one attempt with RetryMode.none()', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const err = new Error('boom')
      const source = cold('-#', undefined, err)
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: RetryMode.none() })))).toBe(
        '-#',
        undefined,
        failure(toCanoError(err)),
      )
      expectSubscriptions(source.subscriptions).toBe(['^!'])
    })
  })

  it('stops at once on a nonRetryable error, erroring with the inner error as a CanoFailure', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const inner = new Error('bad input')
      const source = cold('-#', undefined, nonRetryable(inner))
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: exp10 })))).toBe(
        '-#',
        undefined,
        failure(toCanoError(inner)),
      )
      expectSubscriptions(source.subscriptions).toBe(['^!'])
    })
  })

  it('stops at once on a Configuration error', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const err = configurationError('bad')
      const source = cold('-#', undefined, err)
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: exp10 })))).toBe('-#', undefined, failure(err))
      expectSubscriptions(source.subscriptions).toBe(['^!'])
    })
  })

  it('honours a custom shouldRetry', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, 'fatal')
      const result = failures(source.pipe(retryWithBackoff({ mode: exp10, shouldRetry: (e) => e !== 'fatal' })))
      expectObservable(result).toBe('-#', undefined, failure(toCanoError('fatal')))
      expectSubscriptions(source.subscriptions).toBe(['^!'])
    })
  })

  it('emits the value and completes when the third attempt succeeds', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const attempts = [cold('-#'), cold('-#'), cold('-a|')]
      let n = 0
      const source: Observable<string> = defer(() => attempts[n++] ?? cold('#'))
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(3, 5) }))).toBe('13ms a|')
      expectSubscriptions(attempts[0]!.subscriptions).toBe('^!')
      expectSubscriptions(attempts[1]!.subscriptions).toBe('6ms ^!') // error at 1 + 5
      expectSubscriptions(attempts[2]!.subscriptions).toBe('12ms ^-!') // error at 7 + 5; a at 13, | at 14
    })
  })

  it('calls onRetry with the error, the failed attempts so far and the delay, in order', () => {
    const infos: RetryInfo[] = []
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-#', undefined, 'e')
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: exp10, onRetry: (i) => infos.push(i) })))).toBe(
        '74ms #',
        undefined,
        failure(retryExhaustedError(4, toCanoError('e'))),
      )
    })
    expect(infos).to.deep.equal([
      { error: 'e', attempt: 1, delayMs: 10 },
      { error: 'e', attempt: 2, delayMs: 20 },
      { error: 'e', attempt: 3, delayMs: 40 },
    ])
  })

  it('continues a loop that made attemptsBefore attempts already: their budget and backoff are spent', () => {
    const infos: RetryInfo[] = []
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, 'e')
      const result = source.pipe(retryWithBackoff({ mode: exp10, attemptsBefore: 2, onRetry: (i) => infos.push(i) }))
      // attempts 3 and 4 are left: one wait (the third of the schedule, 40 ms), then RetryExhausted(4)
      expectObservable(failures(result)).toBe('42ms #', undefined, failure(retryExhaustedError(4, toCanoError('e'))))
      expectSubscriptions(source.subscriptions).toBe(['^!', '41ms ^!'])
    })
    expect(infos).to.deep.equal([{ error: 'e', attempt: 3, delayMs: 40 }])
  })

  it('waits the delay chosen by delayFor (a RateLimited retry-after)', () => {
    const computed: number[] = []
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const limited = rateLimitedError('per-second', 7)
      const source = cold('-#', undefined, limited)
      const delayFor = (e: unknown, computedMs: number): number => {
        computed.push(computedMs)
        return isCanoError(e) && hasTag(e, 'RateLimited') ? e.retryAfterMs : computedMs
      }
      expectObservable(failures(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 100), delayFor })))).toBe(
        '9ms #',
        undefined,
        failure(retryExhaustedError(2, limited)),
      )
      expectSubscriptions(source.subscriptions).toBe(['^!', '8ms ^!']) // error at 1 + 7 ms, not + 100 ms
    })
    expect(computed).to.deep.equal([100])
  })

  it('schedules the waits on the scheduler option', () => {
    // Outside run(), only the explicitly passed TestScheduler is virtual (one frame = 10 ms): with the
    // default asyncScheduler the 20 ms wait would be real and flush() would not see the retry.
    const scheduler = testScheduler()
    const source = scheduler.createColdObservable('-#', undefined, 'e')
    const result = failures(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 20), scheduler })))
    // error at 10; resubscribe at 10 + 20 = 30; error at 40
    scheduler.expectObservable(result).toBe('----#', undefined, failure(retryExhaustedError(2, toCanoError('e'))))
    scheduler.expectSubscriptions(source.subscriptions).toBe(['^!', '---^!'])
    scheduler.flush()
  })

  it('errors with a CanoFailure: an Error with a stack that carries the CanoError (issue 13)', async () => {
    const error = await lastValueFrom(
      throwError(() => new Error('down')).pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 0) })),
    ).catch((e: unknown) => e)
    expect(error).to.be.instanceOf(CanoFailure)
    expect(error).to.be.instanceOf(Error)
    const failed = error as CanoFailure
    expect(failed.stack).to.be.a('string')
    expect(failed.error).to.deep.include({ _tag: 'RetryExhausted', attempts: 2 })
    expect(failed.cause).to.equal(failed.error)
  })
})
