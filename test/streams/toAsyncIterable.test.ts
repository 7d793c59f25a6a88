import { expect } from 'chai'
import { concat, Observable, of, Subject, throwError } from 'rxjs'

import { CanoFailure, taskExecutionError } from '../../src/CanoError.js'
import { toAsyncIterable } from '../../streams/toAsyncIterable.js'

/** A source that records its subscriptions and unsubscriptions. */
const tracked = <T>(inner: Observable<T>) => {
  const log: string[] = []
  const source$ = new Observable<T>((subscriber) => {
    log.push('subscribe')
    const sub = inner.subscribe(subscriber)
    return () => {
      sub.unsubscribe()
      log.push('unsubscribe')
    }
  })
  return { source$, log }
}

describe('toAsyncIterable', () => {
  it('hands out every value in order, then ends with the source', async () => {
    const seen: number[] = []
    for await (const v of toAsyncIterable(() => of(1, 2, 3))) seen.push(v)
    expect(seen).to.deep.equal([1, 2, 3])
  })

  it('is cold: nothing is subscribed before the first pull, and each loop subscribes once', async () => {
    const { source$, log } = tracked(of('a'))
    const iterable = toAsyncIterable(() => source$)
    const iterator = iterable[Symbol.asyncIterator]()
    expect(log).to.deep.equal([])
    expect(await iterator.next()).to.deep.equal({ done: false, value: 'a' })
    expect(await iterator.next()).to.deep.equal({ done: true, value: undefined })
    for await (const v of iterable) expect(v).to.equal('a')
    expect(log).to.deep.equal(['subscribe', 'unsubscribe', 'subscribe', 'unsubscribe'])
  })

  it('buffers what arrives while the loop body runs, dropping nothing', async () => {
    const subject = new Subject<number>()
    const seen: number[] = []
    const loop = (async () => {
      for await (const v of toAsyncIterable(() => subject)) {
        seen.push(v)
        // the body is slow: every value is pushed while it waits
        if (v === 0) await new Promise((r) => setImmediate(r))
      }
    })()
    await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 200; i++) subject.next(i)
    subject.complete()
    await loop
    expect(seen).to.deep.equal(Array.from({ length: 200 }, (_, i) => i))
  })

  it('answers pulls made without awaiting, in order', async () => {
    const subject = new Subject<string>()
    const iterator = toAsyncIterable(() => subject)[Symbol.asyncIterator]()
    const pulls = [iterator.next(), iterator.next(), iterator.next()]
    subject.next('a')
    subject.next('b')
    subject.complete()
    expect(await Promise.all(pulls)).to.deep.equal([
      { done: false, value: 'a' },
      { done: false, value: 'b' },
      { done: true, value: undefined },
    ])
  })

  it('a break unsubscribes at once', async () => {
    const subject = new Subject<number>()
    const { source$, log } = tracked(subject)
    const loop = (async () => {
      for await (const v of toAsyncIterable(() => source$)) if (v === 2) break
    })()
    await new Promise((r) => setImmediate(r))
    subject.next(1)
    subject.next(2)
    subject.next(3)
    await loop
    expect(log).to.deep.equal(['subscribe', 'unsubscribe'])
    expect(subject.observed).to.equal(false)
  })

  it('return() ends pending pulls and drops what was buffered', async () => {
    const subject = new Subject<number>()
    const iterator = toAsyncIterable(() => subject)[Symbol.asyncIterator]()
    const first = iterator.next()
    subject.next(1)
    subject.next(2) // buffered
    expect(await first).to.deep.equal({ done: false, value: 1 })
    if (iterator.return === undefined) throw new Error('the iterator has no return()')
    const waiting = [iterator.return(), iterator.next()]
    expect(await Promise.all(waiting)).to.deep.equal([
      { done: true, value: undefined },
      { done: true, value: undefined },
    ])
  })

  it('rejects with a CanoFailure after the values before the error, then is done', async () => {
    const source$ = concat(
      of(1),
      throwError(() => new Error('broke')),
    )
    const iterator = toAsyncIterable(() => source$)[Symbol.asyncIterator]()
    expect(await iterator.next()).to.deep.equal({ done: false, value: 1 })
    const error = await iterator.next().catch((e: unknown) => e)
    expect(error).to.be.instanceOf(CanoFailure)
    expect((error as CanoFailure).error).to.deep.equal(taskExecutionError('broke', new Error('broke')))
    expect(await iterator.next()).to.deep.equal({ done: true, value: undefined })
  })

  it('rejects the waiting pull when the source errors later; the loop throws it', async () => {
    const subject = new Subject<number>()
    const loop = (async () => {
      for await (const _ of toAsyncIterable(() => subject)) {
        // nothing arrives
      }
    })().catch((e: unknown) => e)
    await new Promise((r) => setImmediate(r))
    subject.error(taskExecutionError('late'))
    const error = await loop
    expect(error).to.be.instanceOf(CanoFailure)
    expect((error as CanoFailure).error).to.deep.equal(taskExecutionError('late'))
  })

  it('a source that throws while subscribing rejects the first pull', async () => {
    const iterator = toAsyncIterable<number>(() => throwError(() => taskExecutionError('at once')))[
      Symbol.asyncIterator
    ]()
    const error = await iterator.next().catch((e: unknown) => e)
    expect((error as CanoFailure).error).to.deep.equal(taskExecutionError('at once'))
  })
})
