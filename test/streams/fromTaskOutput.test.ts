import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { EMPTY, lastValueFrom, type Observable, of, Subject, throwError, toArray } from 'rxjs'

import { fromTaskOutput, type OutputSink, settleTaskOutput } from '../../streams/fromTaskOutput.js'

/** Everything an Observable delivered, once it has finished. */
interface Outcome {
  readonly values: unknown[]
  readonly completed: boolean
  readonly error?: unknown
}

const outcome = (source: Observable<unknown>): Promise<Outcome> =>
  new Promise((resolve) => {
    const values: unknown[] = []
    // the subscription ends itself with the source: there is nothing to unsubscribe
    // eslint-disable-next-line rxjs-x/no-ignored-subscription
    source.subscribe({
      next: (v) => values.push(v),
      error: (error: unknown) => resolve({ values, completed: false, error }),
      complete: () => resolve({ values, completed: true }),
    })
  })

/** Lets every queued Promise continuation run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('fromTaskOutput', () => {
  it('emits a plain value synchronously and completes', () => {
    const seen: unknown[] = []
    let completed = false
    const sub = fromTaskOutput<string>(() => 'Done').subscribe({
      next: (v) => seen.push(v),
      complete: () => (completed = true),
    })
    // both happened before subscribe() returned
    expect(seen).to.deep.equal(['Done'])
    expect(completed).to.equal(true)
    sub.unsubscribe()
  })

  it('calls the thunk on each subscription, not before', async () => {
    let calls = 0
    const out$ = fromTaskOutput<number>(() => ++calls)
    expect(calls).to.equal(0)
    expect(await lastValueFrom(out$)).to.equal(1)
    expect(await lastValueFrom(out$)).to.equal(2)
  })

  it('emits what a Promise resolves to', async () => {
    expect(await outcome(fromTaskOutput(() => Promise.resolve('Next')))).to.deep.equal({
      values: ['Next'],
      completed: true,
    })
  })

  it('errors with what a Promise rejects with', async () => {
    const err = new Error('boom')
    expect(await outcome(fromTaskOutput(() => Promise.reject(err)))).to.deep.equal({
      values: [],
      completed: false,
      error: err,
    })
  })

  it('emits only the first value of an Observable and unsubscribes from it', () => {
    const subject = new Subject<string>()
    const seen: string[] = []
    let completed = false
    const sub = fromTaskOutput<string>(() => subject).subscribe({
      next: (v) => seen.push(v),
      complete: () => (completed = true),
    })
    expect(subject.observed).to.equal(true)
    subject.next('first')
    expect(subject.observed).to.equal(false)
    subject.next('second')
    expect(seen).to.deep.equal(['first'])
    expect(completed).to.equal(true)
    sub.unsubscribe()
  })

  it('unsubscribes from the Observable when the result is unsubscribed', () => {
    const subject = new Subject<string>()
    const sub = fromTaskOutput<string>(() => subject).subscribe()
    expect(subject.observed).to.equal(true)
    sub.unsubscribe()
    expect(subject.observed).to.equal(false)
  })

  it('completes without a value for an empty Observable', async () => {
    expect(await outcome(fromTaskOutput(() => EMPTY))).to.deep.equal({ values: [], completed: true })
  })

  it('errors with the error of an Observable', async () => {
    expect(await outcome(fromTaskOutput(() => throwError(() => 'nope')))).to.deep.equal({
      values: [],
      completed: false,
      error: 'nope',
    })
  })

  it('emits the first value of a multi-value Observable', async () => {
    expect(await lastValueFrom(fromTaskOutput<number>(() => of(1, 2, 3)).pipe(toArray()))).to.deep.equal([1])
  })

  it('emits the Right of a TaskEither', async () => {
    expect(await outcome(fromTaskOutput(() => TE.right('Done')))).to.deep.equal({ values: ['Done'], completed: true })
  })

  it('errors with the Left of a TaskEither', async () => {
    const left = { _tag: 'Cancelled', message: 'stop' }
    expect(await outcome(fromTaskOutput(() => TE.left(left)))).to.deep.equal({
      values: [],
      completed: false,
      error: left,
    })
  })

  it('errors with what the thunk throws synchronously', () => {
    const err = new Error('sync boom')
    let seen: unknown
    const sub = fromTaskOutput(() => {
      throw err
    }).subscribe({ error: (e: unknown) => (seen = e) })
    expect(seen).to.equal(err)
    expect(sub.closed).to.equal(true)
  })

  it('drops the value of a Promise that settles after unsubscription', async () => {
    let resolve: (v: string) => void = () => undefined
    const pending = new Promise<string>((r) => (resolve = r))
    const seen: unknown[] = []
    let finished = false
    const sub = fromTaskOutput<string>(() => pending).subscribe({
      next: (v) => seen.push(v),
      error: () => (finished = true),
      complete: () => (finished = true),
    })
    sub.unsubscribe()
    resolve('late')
    await pending
    await flush()
    expect(seen).to.deep.equal([])
    expect(finished).to.equal(false)
  })

  it('drops the rejection of a Promise that settles after unsubscription', async () => {
    let reject: (e: unknown) => void = () => undefined
    const pending = new Promise<string>((_, r) => (reject = r))
    let seen: unknown = 'nothing'
    const sub = fromTaskOutput<string>(() => pending).subscribe({ error: (e: unknown) => (seen = e) })
    sub.unsubscribe()
    reject(new Error('late'))
    await flush()
    expect(seen).to.equal('nothing')
  })

  it('unwraps an Either returned synchronously, synchronously: a Right is the value, a Left the error', () => {
    const seen: unknown[] = []
    const subs = [
      fromTaskOutput(() => E.right('Done')).subscribe({ next: (v) => seen.push(['value', v]) }),
      fromTaskOutput(() => E.left('nope')).subscribe({ error: (e: unknown) => seen.push(['error', e]) }),
    ]
    // both settled before subscribe() returned
    expect(subs.map((s) => s.closed)).to.deep.equal([true, true])
    expect(seen).to.deep.equal([
      ['value', 'Done'],
      ['error', 'nope'],
    ])
  })

  it('unwraps an Either once, returned or resolved', async () => {
    expect(await outcome(fromTaskOutput(() => E.right(E.right(1))))).to.deep.equal({
      values: [E.right(1)],
      completed: true,
    })
    expect(await outcome(fromTaskOutput(() => Promise.resolve(E.right(E.left(2)))))).to.deep.equal({
      values: [E.left(2)],
      completed: true,
    })
  })

  it("takes an Observable's first value as it is, an Either included", async () => {
    expect(await outcome(fromTaskOutput(() => of(E.right('Done'), 'second')))).to.deep.equal({
      values: [E.right('Done')],
      completed: true,
    })
  })

  it('calls a returned function once, as a TaskEither: what it returns is read, what it throws is the error', async () => {
    let calls = 0
    const err = new Error('te boom')
    expect(
      await outcome(
        fromTaskOutput(() => () => {
          calls += 1
          return of('from an Observable')
        }),
      ),
    ).to.deep.equal({ values: ['from an Observable'], completed: true })
    expect(calls).to.equal(1)
    expect(
      await outcome(
        fromTaskOutput(() => () => {
          throw err
        }),
      ),
    ).to.deep.equal({ values: [], completed: false, error: err })
  })
})

describe('settleTaskOutput', () => {
  /** A sink that records what it is told, and the teardowns it is handed. */
  const recorder = () => {
    const seen: Array<readonly [string, unknown]> = []
    const teardowns: unknown[] = []
    const sink: OutputSink = {
      value: (v) => seen.push(['value', v]),
      error: (e) => seen.push(['error', e]),
      empty: () => seen.push(['empty', undefined]),
      add: (t) => teardowns.push(t),
    }
    return { seen, teardowns, sink }
  }

  it('settles before it returns for a value, null, an Either, a synchronous TaskEither and a synchronous Observable', () => {
    const { seen, sink } = recorder()
    for (const out of ['Next', null, E.right(1), E.left('l'), () => E.right(2), of(3)]) settleTaskOutput(out, sink)
    expect(seen).to.deep.equal([
      ['value', 'Next'],
      ['value', null],
      ['value', 1],
      ['error', 'l'],
      ['value', 2],
      ['value', 3],
    ])
  })

  it('reports an Observable that completes without a value as empty, and hands over its subscription', () => {
    const { seen, teardowns, sink } = recorder()
    settleTaskOutput(EMPTY, sink)
    expect(seen).to.deep.equal([['empty', undefined]])
    expect(teardowns).to.have.length(1)
  })

  it('settles a Promise later, with its Right unwrapped or its rejection as the error', async () => {
    const { seen, sink } = recorder()
    settleTaskOutput(Promise.resolve(E.right('later')), sink)
    settleTaskOutput(Promise.reject(new Error('rejected')), sink)
    expect(seen).to.deep.equal([])
    await flush()
    expect(seen).to.deep.equal([
      ['value', 'later'],
      ['error', new Error('rejected')],
    ])
  })
})
