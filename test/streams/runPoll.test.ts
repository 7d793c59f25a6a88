/** Issue 14 item 8: `runPoll` / `pollUntilReady`, the poll kind's loop outside a workflow, in virtual time. */
import { expect } from 'chai'
import { from, lastValueFrom, Subject, toArray } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { CanoFailure, isCanoFailure, taskExecutionError, timeoutError } from '../../src/CanoError.js'
import { PollErrorPolicy, PollOutcome } from '../../src/Poll.js'
import { RetryMode } from '../../src/RetryMode.js'
import { pollUntilReady, runPoll } from '../../streams/runPoll.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { createVirtualClock, flushMicrotasks } from '../helpers/virtualTime.js'

const settle = <A>(p: Promise<A>): (() => unknown) => {
  let state: unknown = 'pending'
  p.then(
    (value) => {
      state = { value }
    },
    (e: unknown) => {
      state = { error: isCanoFailure(e) ? e.error : e }
    },
  )
  return () => state
}

/** Strips the `cause` (an Error instance) so errors compare as plain data. */
const plain = (u: unknown): unknown => JSON.parse(JSON.stringify(u, (k, v: unknown) => (k === 'cause' ? undefined : v)))

describe('runPoll', () => {
  it('waits what each pending asks and returns the ready value', async () => {
    const clock = createVirtualClock()
    const polls: number[] = []
    const answers = [PollOutcome.pending(100), PollOutcome.pending(250), PollOutcome.ready({ rows: 12 })]
    const result = settle(
      runPoll(
        () => {
          polls.push(clock.now())
          return answers[polls.length - 1] ?? PollOutcome.pending(1)
        },
        { scheduler: clock },
      ),
    )
    await clock.runUntilIdle()
    deepStrictEqual(polls, [0, 100, 350])
    deepStrictEqual(result(), { value: { rows: 12 } })
  })

  it('fails at the first error by default, and tolerates maxErrors in a row under retryOnError', async () => {
    const failFast = await runPoll(() => Promise.reject(new Error('503'))).catch((e: unknown) => e)
    expect(isCanoFailure(failFast) && plain(failFast.error)).to.deep.equal(plain(taskExecutionError('503')))

    const clock = createVirtualClock()
    const polls: number[] = []
    const result = settle(
      runPoll(
        () => {
          polls.push(clock.now())
          if (polls.length <= 2) throw new Error('flaky')
          return PollOutcome.ready('done')
        },
        { onError: PollErrorPolicy.retryOnError({ maxErrors: 2, delayMs: 40 }), scheduler: clock },
      ),
    )
    await clock.runUntilIdle()
    deepStrictEqual([polls, result()], [[0, 40, 80], { value: 'done' }])
  })

  it('gives up after maxPolls with a TaskExecution error naming the runner', async () => {
    const clock = createVirtualClock()
    const result = settle(runPoll(() => PollOutcome.pending(10), { maxPolls: 3, scheduler: clock, name: 'export job' }))
    await clock.runUntilIdle()
    deepStrictEqual(plain(result()), {
      error: plain(taskExecutionError('poll for state "export job" was not ready after 3 polls')),
    })
  })

  it('bounds the whole loop with attemptTimeoutMs, and a retry restarts the loop', async () => {
    const clock = createVirtualClock()
    const polls: string[] = []
    const result = settle(
      runPoll(
        ({ attempt }) => {
          polls.push(`${attempt}@${clock.now()}`)
          return attempt === 2 && polls.length >= 5 ? PollOutcome.ready(clock.now()) : PollOutcome.pending(100)
        },
        { attemptTimeoutMs: 250, retry: RetryMode.fixed(1, 50), scheduler: clock },
      ),
    )
    await clock.runUntilIdle()
    // loop 1 polls at 0, 100, 200 and times out at 250; the retry starts loop 2 at 300
    deepStrictEqual(polls, ['1@0', '1@100', '1@200', '2@300', '2@400'])
    deepStrictEqual(result(), { value: 400 })
    const timedOut = settle(runPoll(() => PollOutcome.pending(100), { attemptTimeoutMs: 250, scheduler: clock }))
    await clock.runUntilIdle()
    deepStrictEqual(timedOut(), { error: timeoutError(250) })
  })

  it('fails with a Workflow error when the poll answers something else than a PollOutcome', async () => {
    const error = await runPoll(() => 'ready' as never).catch((e: unknown) => (e as CanoFailure).error)
    expect((error as CanoError)._tag).to.equal('Workflow')
    expect((error as CanoError).message).to.contain('expected PollOutcome.ready(value) or PollOutcome.pending(delayMs)')
  })

  it('stops polling when its signal aborts', async () => {
    const clock = createVirtualClock()
    const abort = new AbortController()
    let polls = 0
    const result = settle(
      runPoll(() => (polls++, PollOutcome.pending(100)), { signal: abort.signal, scheduler: clock }),
    )
    await clock.advance(250)
    abort.abort()
    await clock.runUntilIdle()
    deepStrictEqual([polls, result()], [3, { error: { _tag: 'Cancelled', message: 'runPoll cancelled' } }])
    expect(clock.pending()).to.equal(0)
  })

  const invalid: ReadonlyArray<readonly [string, () => Promise<unknown>, string]> = [
    ['poll', () => runPoll(null as never), 'runPoll: poll must be a function, got null'],
    [
      'maxPolls',
      () => runPoll(() => PollOutcome.ready(1), { maxPolls: 0 }),
      'runPoll: maxPolls must be a positive integer, got 0',
    ],
    [
      'onError',
      () => runPoll(() => PollOutcome.ready(1), { onError: { _tag: 'Ignore' } as never }),
      'runPoll: onError must be PollErrorPolicy.failFast() or PollErrorPolicy.retryOnError({ maxErrors })',
    ],
    [
      'onError.delayMs',
      () =>
        runPoll(() => PollOutcome.ready(1), { onError: PollErrorPolicy.retryOnError({ maxErrors: 1, delayMs: -5 }) }),
      'runPoll: onError.delayMs must be a finite number in [0, 2147483647], got -5',
    ],
    [
      'attemptTimeoutMs',
      () => runPoll(() => PollOutcome.ready(1), { attemptTimeoutMs: Number.NaN }),
      'runPoll: attemptTimeoutMs must be a finite number in (0, 2147483647], got NaN',
    ],
  ]
  for (const [field, run, message] of invalid) {
    it(`rejects an invalid ${field} with a Configuration error naming it`, async () => {
      const e = await run().catch((x: unknown) => x)
      deepStrictEqual(isCanoFailure(e) ? e.error : e, { _tag: 'Configuration', message })
    })
  }
})

describe('pollUntilReady', () => {
  it('runs one poll loop per source value, in order, and emits the ready values', async () => {
    const clock = createVirtualClock()
    const log: string[] = []
    const out = lastValueFrom(
      from(['a', 'b']).pipe(
        pollUntilReady(
          (id: string, { attempt }) => {
            log.push(`${id}@${clock.now()}#${attempt}`)
            return clock.now() >= (id === 'a' ? 200 : 300)
              ? PollOutcome.ready(id.toUpperCase())
              : PollOutcome.pending(100)
          },
          { scheduler: clock },
        ),
        toArray(),
      ),
    )
    await clock.runUntilIdle()
    deepStrictEqual(log, ['a@0#1', 'a@100#1', 'a@200#1', 'b@200#1', 'b@300#1'])
    deepStrictEqual(await out, ['A', 'B'])
  })

  it('aborts the signal of the poll in flight when the output is unsubscribed', async () => {
    const clock = createVirtualClock()
    const seen: unknown[] = []
    const source = new Subject<number>()
    const sub = source
      .pipe(
        pollUntilReady(
          (_n: number, { signal }) =>
            new Promise<PollOutcome<number>>(() => {
              signal.addEventListener('abort', () => seen.push(signal.reason))
            }),
          { scheduler: clock, name: 'waiter' },
        ),
      )
      .subscribe()
    source.next(1)
    await flushMicrotasks()
    sub.unsubscribe()
    deepStrictEqual(seen, [{ _tag: 'Cancelled', message: 'waiter unsubscribed' }])
  })

  it('checks its options when it is created', () => {
    expect(() => pollUntilReady(() => PollOutcome.ready(1), { maxPolls: -1 })).to.throw(CanoFailure, /maxPolls/)
  })
})
