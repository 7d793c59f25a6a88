import { expect } from 'chai'
import { EMPTY } from 'rxjs'

import { configurationError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { stream, StreamErrorPolicy, type StreamHandler, validateStream, WindowSignal } from '../../src/Stream.js'
import type { ResourceRecord } from '../../src/TaskContext.js'

const source = () => EMPTY
const onWindow = () => WindowSignal.continue()
const onClose = (): 'Done' => 'Done'

describe('continueStream / stopStream', () => {
  it('build the two WindowSignal variants', () => {
    expect([WindowSignal.continue(), WindowSignal.stop('Report')]).to.deep.equal([
      { _tag: 'Continue' },
      { _tag: 'Stop', state: 'Report' },
    ])
  })
})

describe('StreamErrorPolicy', () => {
  it('builds failFast, skip and retryOnError (delayMs defaults to 0)', () => {
    expect([
      StreamErrorPolicy.failFast(),
      StreamErrorPolicy.skip(),
      StreamErrorPolicy.retryOnError({ maxErrors: 3 }),
      StreamErrorPolicy.retryOnError({ maxErrors: 1, delayMs: 250 }),
    ]).to.deep.equal([
      { _tag: 'FailFast' },
      { _tag: 'Skip' },
      { _tag: 'RetryOnError', maxErrors: 3, delayMs: 0 },
      { _tag: 'RetryOnError', maxErrors: 1, delayMs: 250 },
    ])
  })
})

describe('stream', () => {
  it('builds a Stream handler with failFast and no retries by default', () => {
    const h = stream({ source, window: { count: 10 }, onWindow, onClose })
    expect(h).to.deep.equal({
      _tag: 'Stream',
      config: { retry: RetryMode.none() },
      to: undefined,
      name: undefined,
      source,
      window: { count: 10 },
      onWindow,
      onError: StreamErrorPolicy.failFast(),
      onClose,
    })
  })

  it('keeps an explicit retry and the other base options', () => {
    const h = stream({
      source,
      window: { count: 10, timeMs: 50 },
      onWindow,
      onClose,
      onError: StreamErrorPolicy.skip(),
      retry: RetryMode.fixed(2, 100),
      attemptTimeoutMs: 60_000,
      to: ['Done'],
      name: 'ingest-events',
    })
    expect(h).to.deep.equal({
      _tag: 'Stream',
      config: { retry: RetryMode.fixed(2, 100), attemptTimeoutMs: 60_000 },
      to: ['Done'],
      name: 'ingest-events',
      source,
      window: { count: 10, timeMs: 50 },
      onWindow,
      onError: StreamErrorPolicy.skip(),
      onClose,
    })
  })
})

describe('validateStream', () => {
  const where = 'state "Ingest"'
  const valid = stream({ source, window: { count: 10 }, onWindow, onClose }) as StreamHandler<string, ResourceRecord>
  const withField = (field: string, value: unknown): StreamHandler<string, ResourceRecord> => ({
    ...valid,
    [field]: value,
  })

  it('accepts count, timeMs or both', () => {
    expect(
      [{ count: 1 }, { timeMs: 0.5 }, { count: 100, timeMs: 50 }].map((window) =>
        validateStream(withField('window', window), where),
      ),
    ).to.deep.equal([undefined, undefined, undefined])
  })

  it('rejects bad windows, functions and policies with a Configuration error naming the state', () => {
    const cases: ReadonlyArray<readonly [string, unknown, string]> = [
      ['window', {}, 'window needs a count, a timeMs or both'],
      ['window', undefined, 'window must be { count }, { timeMs } or { count, timeMs }'],
      ['window', { count: 0 }, 'window.count must be a positive integer, got 0'],
      ['window', { count: 2.5 }, 'window.count must be a positive integer, got 2.5'],
      ['window', { count: Number.NaN }, 'window.count must be a positive integer, got NaN'],
      ['window', { count: '10' }, 'window.count must be a positive integer, got "10"'],
      ['window', { timeMs: 0 }, 'window.timeMs must be a finite number in (0, 2147483647], got 0'],
      ['window', { timeMs: -5 }, 'window.timeMs must be a finite number in (0, 2147483647], got -5'],
      [
        'window',
        { count: 5, timeMs: Number.POSITIVE_INFINITY },
        'window.timeMs must be a finite number in (0, 2147483647], got Infinity',
      ],
      ['source', undefined, 'source must be a function'],
      ['onWindow', 'x', 'onWindow must be a function'],
      ['onClose', undefined, 'onClose must be a function'],
      [
        'onError',
        { _tag: 'Ignore' },
        'onError must be StreamErrorPolicy.failFast(), .skip() or .retryOnError({ maxErrors })',
      ],
      [
        'onError',
        StreamErrorPolicy.retryOnError({ maxErrors: -1 }),
        'onError.maxErrors must be a non-negative integer, got -1',
      ],
      [
        'onError',
        StreamErrorPolicy.retryOnError({ maxErrors: 1, delayMs: Number.NaN }),
        'onError.delayMs must be a finite number in [0, 2147483647], got NaN',
      ],
    ]
    expect(cases.map(([field, value]) => validateStream(withField(field, value), where))).to.deep.equal(
      cases.map(([, , message]) => configurationError(`${where}: ${message}`)),
    )
  })
})
