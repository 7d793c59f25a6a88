/** Issue 14 item 8: `runBatch` / `processBatch`, the batch kind's item loop outside a workflow, in virtual time. */
import { expect } from 'chai'
import { from, lastValueFrom, map, timer, toArray } from 'rxjs'

import type { BatchProgress, ItemResult } from '../../src/Batch.js'
import { CanoFailure, isCanoFailure, taskExecutionError, timeoutError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { processBatch, runBatch } from '../../streams/runBatch.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { createVirtualClock } from '../helpers/virtualTime.js'

/** Strips the `cause` (an Error instance) so results compare as plain data. */
const plain = (u: unknown): unknown => JSON.parse(JSON.stringify(u, (k, v: unknown) => (k === 'cause' ? undefined : v)))

describe('runBatch', () => {
  it('runs at most `concurrency` items at once and returns the results in input order', async () => {
    const clock = createVirtualClock()
    const log: string[] = []
    const durations = [300, 100, 100, 50]
    const progress: BatchProgress[] = []
    let results: ReadonlyArray<ItemResult<string>> = []
    void runBatch(
      durations,
      (ms, { index }) => {
        log.push(`start ${index}@${clock.now()}`)
        return timer(ms, clock).pipe(map(() => `item ${index}`))
      },
      { concurrency: 2, scheduler: clock, onProgress: (p) => progress.push(p) },
    ).then((r) => {
      results = r
    })
    await clock.runUntilIdle()
    deepStrictEqual(log, ['start 0@0', 'start 1@0', 'start 2@100', 'start 3@200'])
    deepStrictEqual(
      results.map((r) => (r._tag === 'Ok' ? r.value : r.error._tag)),
      ['item 0', 'item 1', 'item 2', 'item 3'],
    )
    deepStrictEqual(
      progress.map((p) => [p.done, p.index]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 0],
      ],
    )
  })

  it('retries a failing item with itemRetry and keeps a failure as an Err result', async () => {
    const clock = createVirtualClock()
    const attempts: string[] = []
    let results: ReadonlyArray<ItemResult<number>> = []
    void runBatch(
      ['ok', 'flaky', 'broken'],
      (kind, { attempt }) => {
        attempts.push(`${kind}#${attempt}@${clock.now()}`)
        if (kind === 'broken' || (kind === 'flaky' && attempt === 1)) throw new Error(`${kind} failed`)
        return attempt
      },
      { itemRetry: RetryMode.fixed(1, 20), concurrency: 3, scheduler: clock },
    ).then((r) => {
      results = r
    })
    await clock.runUntilIdle()
    deepStrictEqual(attempts, ['ok#1@0', 'flaky#1@0', 'broken#1@0', 'flaky#2@20', 'broken#2@20'])
    expect(plain(results)).to.deep.equal(
      plain([
        { _tag: 'Ok', index: 0, value: 1 },
        { _tag: 'Ok', index: 1, value: 2 },
        {
          _tag: 'Err',
          index: 2,
          error: {
            _tag: 'RetryExhausted',
            attempts: 2,
            last: taskExecutionError('broken failed'),
            message: 'Task failed after 2 attempt(s): Task execution error: broken failed',
          },
        },
      ]),
    )
  })

  it('fails as a whole only when the batch does: attemptTimeoutMs bounds all the items', async () => {
    const clock = createVirtualClock()
    let error: unknown
    void runBatch([1, 2], () => timer(1_000, clock), { attemptTimeoutMs: 500, scheduler: clock }).catch(
      (e: unknown) => {
        error = isCanoFailure(e) ? e.error : e
      },
    )
    await clock.runUntilIdle()
    deepStrictEqual(error, timeoutError(500))
  })

  it('returns no results for no items', async () => {
    deepStrictEqual(await runBatch([], () => 1), [])
  })

  const invalid: ReadonlyArray<readonly [string, () => Promise<unknown>, string]> = [
    ['items', () => runBatch('abc' as never, () => 1), 'runBatch: items must be an array, got "abc"'],
    ['processItem', () => runBatch([1], 3 as never), 'runBatch: processItem must be a function'],
    [
      'concurrency',
      () => runBatch([1], () => 1, { concurrency: 0 }),
      'runBatch: concurrency must be a positive integer, got 0',
    ],
    [
      'itemRetry',
      () => runBatch([1], () => 1, { itemRetry: 'twice' as never }),
      'runBatch: itemRetry must be a RetryMode (use RetryMode.none/fixed/exponential)',
    ],
    [
      'onProgress',
      () => runBatch([1], () => 1, { onProgress: true as never }),
      'runBatch: onProgress must be a function, got true',
    ],
  ]
  for (const [field, run, message] of invalid) {
    it(`rejects an invalid ${field} with a Configuration error naming it`, async () => {
      const e = await run().catch((x: unknown) => x)
      deepStrictEqual(isCanoFailure(e) ? e.error : e, { _tag: 'Configuration', message })
    })
  }
})

describe('processBatch', () => {
  it('processes each array the source emits as one batch, in order', async () => {
    const clock = createVirtualClock()
    const out = lastValueFrom(
      from([[1, 2], [3]]).pipe(
        processBatch((n: number) => timer(10 * n, clock).pipe(map(() => n * n)), { concurrency: 2, scheduler: clock }),
        toArray(),
      ),
    )
    await clock.runUntilIdle()
    deepStrictEqual(await out, [
      [
        { _tag: 'Ok', index: 0, value: 1 },
        { _tag: 'Ok', index: 1, value: 4 },
      ],
      [{ _tag: 'Ok', index: 0, value: 9 }],
    ])
  })

  it('errors with a Configuration error for a source value that is not an array', async () => {
    const error = await lastValueFrom(from([7 as unknown as number[]]).pipe(processBatch((n: number) => n))).catch(
      (e: unknown) => e,
    )
    deepStrictEqual(error, { _tag: 'Configuration', message: 'processBatch: items must be an array, got 7' })
  })

  it('checks its options when it is created', () => {
    expect(() => processBatch((n: number) => n, { concurrency: 1.5 })).to.throw(CanoFailure, /concurrency/)
  })
})
