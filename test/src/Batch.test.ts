import { expect } from 'chai'

import { batch, type BatchHandler, isBatchProgress, ItemResult, validateBatch } from '../../src/Batch.js'
import { configurationError, taskExecutionError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import type { ResourceRecord } from '../../src/TaskContext.js'

const load = (): ReadonlyArray<number> => [1, 2, 3]
const processItem = (n: number): number => n * 2
const finish = (): 'Done' => 'Done'

describe('batch', () => {
  it('builds a Batch handler with concurrency 1, no item retry and no own config by default', () => {
    const h = batch({ load, processItem, finish })
    expect(h).to.deep.equal({
      _tag: 'Batch',
      config: {},
      to: undefined,
      name: undefined,
      load,
      processItem,
      finish,
      concurrency: 1,
      itemRetry: RetryMode.none(),
    })
  })

  it('splits the base options (retry, timeout, targets, name) from its own', () => {
    const h = batch({
      load,
      processItem,
      finish,
      concurrency: 4,
      itemRetry: RetryMode.fixed(2, 50),
      retry: RetryMode.fixed(1, 10),
      attemptTimeoutMs: 5_000,
      to: ['Done'],
      name: 'fetch-urls',
    })
    expect(h).to.deep.equal({
      _tag: 'Batch',
      config: { retry: RetryMode.fixed(1, 10), attemptTimeoutMs: 5_000 },
      to: ['Done'],
      name: 'fetch-urls',
      load,
      processItem,
      finish,
      concurrency: 4,
      itemRetry: RetryMode.fixed(2, 50),
    })
  })
})

describe('itemOk / itemErr', () => {
  it('build the two ItemResult variants', () => {
    expect([ItemResult.ok(0, 'a'), ItemResult.err(1, taskExecutionError('x'))]).to.deep.equal([
      { _tag: 'Ok', index: 0, value: 'a' },
      { _tag: 'Err', index: 1, error: taskExecutionError('x') },
    ])
  })
})

describe('isBatchProgress', () => {
  it('recognises the data of a batch Progress event', () => {
    expect(
      [{ kind: 'batch', done: 1, total: 2, failed: 0, index: 0 }, { kind: 'poll' }, null, 'batch'].map(isBatchProgress),
    ).to.deep.equal([true, false, false, false])
  })
})

describe('validateBatch', () => {
  const where = 'state "Fetch"'
  const valid = batch({ load, processItem, finish }) as BatchHandler<string, ResourceRecord>
  const withField = (field: string, value: unknown): BatchHandler<string, ResourceRecord> => ({
    ...valid,
    [field]: value,
  })

  it('accepts a valid handler', () => {
    expect(validateBatch(valid, where)).to.equal(undefined)
  })

  it('rejects bad concurrency, functions and item retry with a Configuration error naming the state', () => {
    const cases: ReadonlyArray<readonly [string, unknown, string]> = [
      ['concurrency', 0, 'concurrency must be a positive integer, got 0'],
      ['concurrency', -2, 'concurrency must be a positive integer, got -2'],
      ['concurrency', 1.5, 'concurrency must be a positive integer, got 1.5'],
      ['concurrency', Number.NaN, 'concurrency must be a positive integer, got NaN'],
      ['concurrency', Number.POSITIVE_INFINITY, 'concurrency must be a positive integer, got Infinity'],
      ['concurrency', '4', 'concurrency must be a positive integer, got "4"'],
      ['load', undefined, 'load must be a function'],
      ['processItem', 'x', 'processItem must be a function'],
      ['finish', null, 'finish must be a function'],
      ['itemRetry', undefined, 'itemRetry must be a RetryMode (use RetryMode.none/fixed/exponential)'],
      ['itemRetry', RetryMode.fixed(-1, 10), 'itemRetry.retries must be a non-negative integer, got -1'],
      [
        'itemRetry',
        RetryMode.exponentialCustom({ maxRetries: 2, baseDelayMs: 10, multiplier: 2, maxDelayMs: 100, jitter: 3 }),
        'itemRetry.jitter must be a number in [0, 1], got 3',
      ],
    ]
    expect(cases.map(([field, value]) => validateBatch(withField(field, value), where))).to.deep.equal(
      cases.map(([, , message]) => configurationError(`${where}: ${message}`)),
    )
  })
})
