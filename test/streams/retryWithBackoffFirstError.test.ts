/**
 * Issue 16 item 4: `retryWithBackoff` builds its loop on the source's first error (before it, one small
 * subscriber passes the source through). What the first attempt must still do as before: pass values
 * and completion through, release the source when it ends or is unsubscribed, hand its error to the loop
 * (synchronous errors included), and let a hook's throw through as it is.
 */
import { expect } from 'chai'
import { defer, finalize, map, Observable, of, take, throwError } from 'rxjs'

import { CanoFailure, retryExhaustedError, toCanoError, toCanoFailure } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { retryWithBackoff, type RetryWithBackoffOptions } from '../../streams/retryWithBackoff.js'
import { failure, failures } from '../helpers/failures.js'
import { testScheduler } from '../helpers/virtualTime.js'

describe('retryWithBackoff: the first attempt (issue 16)', () => {
  it('passes values and completion through, and releases the source once', () => {
    let released = 0
    const values: number[] = []
    let completed = false
    const sub = of(1, 2, 3)
      .pipe(
        finalize(() => released++),
        retryWithBackoff({ mode: RetryMode.fixed(3, 10) }),
      )
      .subscribe({ next: (v) => values.push(v), complete: () => (completed = true) })
    sub.unsubscribe()
    expect(values).to.deep.equal([1, 2, 3])
    expect(completed).to.equal(true)
    expect(released).to.equal(1)
  })

  it('unsubscribed during the first attempt: the source is released and nothing retries', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('---a--#')
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(3, 1) })), '^-!').toBe('---')
      expectSubscriptions(source.subscriptions).toBe('^-!')
    })
  })

  it('unsubscribed during the first wait: no second attempt', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#')
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(3, 10) })), '^----!').toBe('-----')
      expectSubscriptions(source.subscriptions).toBe('^!')
    })
  })

  it('hands a synchronous error over to the loop, and passes values emitted before an error', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const sync = cold('#')
      expectObservable(failures(sync.pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 5) })))).toBe(
        '10ms #',
        undefined,
        failure(retryExhaustedError(3, toCanoError('error'))),
      )
      expectSubscriptions(sync.subscriptions).toBe(['(^!)', '5ms (^!)', '10ms (^!)'])

      const attempts = [cold('-a#'), cold('-b|')]
      let n = 0
      const flaky: Observable<string> = defer(() => attempts[n++] ?? cold('#'))
      expectObservable(flaky.pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 3) }))).toBe('-a 4ms b|')
    })
  })

  it('errors with a CanoFailure when onRetry, shouldRetry or delayFor throws, on the first error and on later ones', () => {
    const hook = new Error('hook broke')
    const wrapped = toCanoFailure(hook)
    expect(wrapped.error).to.deep.include({ _tag: 'TaskExecution' })
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-#')
      const onRetry = (): void => {
        throw hook
      }
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 1), onRetry }))).toBe(
        '-#',
        undefined,
        wrapped,
      )
      let calls = 0
      const shouldRetry = (): boolean => {
        if (++calls === 2) throw hook
        return true
      }
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 1), shouldRetry }))).toBe(
        '-- -#',
        undefined,
        wrapped,
      )
      const delayFor = (): number => {
        throw hook
      }
      expectObservable(source.pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 1), delayFor }))).toBe(
        '-#',
        undefined,
        wrapped,
      )
    })
  })

  it('errors with a Configuration CanoFailure when delayFor returns no valid delay', () => {
    for (const bad of [Number.NaN, -5, 1e12, Infinity]) {
      let error: unknown
      const sub = throwError(() => new Error('503'))
        .pipe(retryWithBackoff({ mode: RetryMode.fixed(2, 1), delayFor: () => bad }))
        .subscribe({ error: (e: unknown) => (error = e) })
      sub.unsubscribe()
      expect(error, String(bad)).to.be.instanceOf(CanoFailure)
      expect((error as CanoFailure).error._tag).to.equal('Configuration')
      expect((error as CanoFailure).error.message).to.match(/^retryWithBackoff: delayFor must return/)
    }
  })

  it('checks its options when it is built: a Configuration CanoFailure naming the option', () => {
    const cases: ReadonlyArray<readonly [unknown, RegExp]> = [
      [undefined, /^retryWithBackoff: options must be an object, got undefined/],
      [{}, /^retryWithBackoff: mode must be a RetryMode, got undefined/],
      [{ mode: { _tag: 'Linear' } }, /retry is not a RetryMode/],
      [{ mode: RetryMode.fixed(1.5, 1) }, /retry\.retries must be a non-negative integer, got 1\.5/],
      [{ mode: RetryMode.fixed(-1, 1) }, /retry\.retries must be a non-negative integer, got -1/],
      [{ mode: RetryMode.fixed(3, Number.NaN) }, /retry\.delayMs/],
      [{ mode: RetryMode.fixed(1, 1e12) }, /retry\.delayMs/],
      [{ mode: RetryMode.exponential(Infinity) }, /retry\.maxRetries/],
      [{ mode: RetryMode.fixed(1, 1), shouldRetry: 'x' }, /^retryWithBackoff: shouldRetry must be a function, got "x"/],
      [{ mode: RetryMode.fixed(1, 1), onRetry: 1 }, /^retryWithBackoff: onRetry must be a function/],
      [{ mode: RetryMode.fixed(1, 1), scheduler: {} }, /^retryWithBackoff: scheduler must be a SchedulerLike/],
      [{ mode: RetryMode.fixed(1, 1), attemptsBefore: Number.NaN }, /attemptsBefore must be a non-negative integer/],
      [{ mode: RetryMode.fixed(1, 1), attemptsBefore: -3 }, /attemptsBefore must be a non-negative integer/],
    ]
    for (const [options, message] of cases) {
      let thrown: unknown
      try {
        retryWithBackoff(options as RetryWithBackoffOptions)
      } catch (e: unknown) {
        thrown = e
      }
      expect(thrown, JSON.stringify(options)).to.be.instanceOf(CanoFailure)
      expect((thrown as CanoFailure).error._tag).to.equal('Configuration')
      expect((thrown as CanoFailure).error.message, JSON.stringify(options)).to.match(message)
    }
  })

  it('errors at once with RetryMode.none() on a source that throws synchronously', () => {
    let error: unknown
    const sub = throwError(() => 'nope')
      .pipe(retryWithBackoff({ mode: RetryMode.none() }))
      .subscribe({ error: (e: unknown) => (error = e) })
    sub.unsubscribe()
    expect(error).to.have.property('error').that.deep.equals(toCanoError('nope'))
  })

  it('a synchronous endless source stops when the consumer unsubscribes (take(1) downstream)', () => {
    let emitted = 0
    const endless = new Observable<number>((subscriber) => {
      while (!subscriber.closed) subscriber.next(++emitted)
    })
    const values: number[] = []
    endless.pipe(retryWithBackoff({ mode: RetryMode.fixed(3, 10) }), take(1)).subscribe((v) => values.push(v))
    expect(values).to.deep.equal([1])
    expect(emitted).to.equal(1)
  })

  it('takes a partial observer, callbacks, or a Subscriber, and retries for each', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const retried = cold('-#').pipe(retryWithBackoff({ mode: RetryMode.fixed(1, 2) }))
      // a Subscriber (what operators and the marble harness pass)
      expectObservable(failures(retried.pipe(map((x) => x)))).toBe(
        '----#',
        undefined,
        failure(retryExhaustedError(2, toCanoError('error'))),
      )
    })
    const seen: string[] = []
    const sync = of(1).pipe(retryWithBackoff({ mode: RetryMode.none() }))
    const a = sync.subscribe({ next: (v) => seen.push(`observer ${v}`), complete: () => seen.push('observer done') })
    const b = sync.subscribe((v) => seen.push(`next ${v}`))
    a.unsubscribe()
    b.unsubscribe()
    expect(seen).to.deep.equal(['observer 1', 'observer done', 'next 1'])
  })
})
