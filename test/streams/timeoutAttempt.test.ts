import { expect } from 'chai'
import { asyncScheduler, Observable, queueScheduler, tap } from 'rxjs'

import type { Timeout } from '../../codecs/CanoError.js'
import { isCanoFailure, timeoutError, toCanoError } from '../../src/CanoError.js'
import { timeoutAttempt } from '../../streams/timeoutAttempt.js'
import { failure, failures } from '../helpers/failures.js'
import { testScheduler } from '../helpers/virtualTime.js'

describe('timeoutAttempt', () => {
  it('passes a value that arrives before the deadline through', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a|')
      expectObservable(source.pipe(timeoutAttempt({ timeoutMs: 3 }))).toBe('-a|')
      expectSubscriptions(source.subscriptions).toBe('^-!')
    })
  })

  it('bounds only the first value', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a 5ms b|')
      expectObservable(source.pipe(timeoutAttempt({ timeoutMs: 3 }))).toBe('-a 5ms b|')
      expectSubscriptions(source.subscriptions).toBe('^-------!') // a at 1, b at 7, | at 8
    })
  })

  it('errors with Timeout exactly at the deadline and unsubscribes a slow source then', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-----a|')
      expectObservable(failures(source.pipe(timeoutAttempt({ timeoutMs: 3 })))).toBe(
        '---#',
        undefined,
        failure(timeoutError(3)),
      )
      expectSubscriptions(source.subscriptions).toBe('^--!')
    })
  })

  it('times out a source that never emits', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-')
      expectObservable(failures(source.pipe(timeoutAttempt({ timeoutMs: 5 })))).toBe(
        '5ms #',
        undefined,
        failure(timeoutError(5)),
      )
      expectSubscriptions(source.subscriptions).toBe('^----!')
    })
  })

  it('calls onTimeout once with the error, at the deadline, before the error is delivered', () => {
    const calls: Array<readonly [string, unknown, number]> = []
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-----a|')
      const result = source.pipe(
        timeoutAttempt({
          timeoutMs: 3,
          onTimeout: (e: Timeout) => calls.push(['onTimeout', e, asyncScheduler.now()]),
        }),
        tap({ error: (e: unknown) => calls.push(['error', isCanoFailure(e) ? e.error : e, asyncScheduler.now()]) }),
      )
      expectObservable(failures(result)).toBe('---#', undefined, failure(timeoutError(3)))
    })
    expect(calls).to.deep.equal([
      ['onTimeout', timeoutError(3), 3],
      ['error', timeoutError(3), 3],
    ])
  })

  it('does not call onTimeout when the value is in time', () => {
    let calls = 0
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('--a|').pipe(timeoutAttempt({ timeoutMs: 3, onTimeout: () => (calls += 1) }))).toBe('--a|')
    })
    expect(calls).to.equal(0)
  })

  it('schedules the deadline on the scheduler option', () => {
    const scheduler = testScheduler() // outside run(): one frame = 10 ms, only this scheduler is virtual
    const source = scheduler.createColdObservable('-----a|')
    scheduler
      .expectObservable(failures(source.pipe(timeoutAttempt({ timeoutMs: 30, scheduler }))))
      .toBe('---#', undefined, failure(timeoutError(30)))
    scheduler.expectSubscriptions(source.subscriptions).toBe('^--!')
    scheduler.flush()
  })

  it("delivers the source's own error as a CanoFailure too (issue 13)", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('-#', undefined, new Error('refused'))
      expectObservable(failures(source.pipe(timeoutAttempt({ timeoutMs: 3 })))).toBe(
        '-#',
        undefined,
        failure(toCanoError(new Error('refused'))),
      )
    })
  })

  it('a deadline of 0 on a synchronous scheduler ends a silent source at once', () => {
    let subscribed = 0
    let unsubscribed = 0
    const never$ = new Observable<number>(() => {
      subscribed += 1
      return () => (unsubscribed += 1)
    })
    let error: unknown
    const sub = never$
      .pipe(timeoutAttempt({ timeoutMs: 0, scheduler: queueScheduler }))
      .subscribe({ error: (e: unknown) => (error = e) })
    sub.unsubscribe()
    expect([subscribed, unsubscribed]).to.deep.equal([1, 1])
    expect(isCanoFailure(error) && error.error).to.deep.equal(timeoutError(0))
  })
})
