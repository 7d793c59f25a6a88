import { expect } from 'chai'
import fc from 'fast-check'
import { isLeft, right } from 'fp-ts/lib/Either.js'

import { type CanoError, CanoErrorCodec, Cause } from '../../codecs/CanoError.js'
import type { CanoErrorTag } from '../../src/CanoError.js'
import { taskExecutionError, timeoutError } from '../../src/CanoError.js'

// -------------------------------------------------------------------------------------
// arbitraries
// -------------------------------------------------------------------------------------

/** Every tag, once; a missing or extra key is a compile error. */
const TAG_SET: { readonly [K in CanoErrorTag]: null } = {
  TaskExecution: null,
  Store: null,
  Workflow: null,
  Configuration: null,
  RetryExhausted: null,
  Timeout: null,
  CircuitOpen: null,
  CheckpointStore: null,
  CompensationFailed: null,
  Generic: null,
  ResourceNotFound: null,
  ResourceTypeMismatch: null,
  ResourceDuplicateKey: null,
  Cancelled: null,
  WorkflowTimeout: null,
  WorkflowVersionMismatch: null,
  RateLimited: null,
  OrphanedCompensation: null,
  DecodeFailed: null,
  LeaseLost: null,
  RunOwned: null,
}
const ALL_TAGS = Object.keys(TAG_SET).sort()

/** A JSON value that survives `JSON.parse(JSON.stringify(v))` unchanged: JSON has no `-0`, so it becomes `0`. */
const json: fc.Arbitrary<fc.JsonValue> = fc
  .jsonValue({ maxDepth: 3 })
  .map((v) => JSON.parse(JSON.stringify(v), (_k, x: unknown) => (Object.is(x, -0) ? 0 : x)) as fc.JsonValue)

const message = fc.string()
const count = fc.nat({ max: 1_000_000 })
const ms = fc.double({ min: 0, max: 1e12, noNaN: true })

/** Optional keys are absent, never `undefined` (what a decoder gives back). */
const leaves: ReadonlyArray<fc.Arbitrary<CanoError>> = [
  fc.record(
    { _tag: fc.constant('TaskExecution' as const), message, cause: json },
    { requiredKeys: ['_tag', 'message'] },
  ),
  fc.record({
    _tag: fc.constant('Store' as const),
    reason: fc.constantFrom('KeyNotFound', 'TypeMismatch', 'LockError', 'AppendTypeMismatch', 'Generic'),
    message,
  }),
  fc.record(
    { _tag: fc.constant('Workflow' as const), message, state: fc.string() },
    { requiredKeys: ['_tag', 'message'] },
  ),
  fc.record({ _tag: fc.constant('Configuration' as const), message }),
  fc.record({ _tag: fc.constant('Timeout' as const), timeoutMs: ms, message }),
  fc.record({ _tag: fc.constant('CircuitOpen' as const), message }),
  fc.record(
    { _tag: fc.constant('CheckpointStore' as const), message, cause: json },
    { requiredKeys: ['_tag', 'message'] },
  ),
  fc.record({ _tag: fc.constant('Generic' as const), message, cause: json }, { requiredKeys: ['_tag', 'message'] }),
  fc.record({ _tag: fc.constant('ResourceNotFound' as const), key: fc.string(), message }),
  fc.record({ _tag: fc.constant('ResourceTypeMismatch' as const), key: fc.string(), message }),
  fc.record({ _tag: fc.constant('ResourceDuplicateKey' as const), key: fc.string(), message }),
  fc.record({ _tag: fc.constant('Cancelled' as const), message }),
  fc.record({ _tag: fc.constant('WorkflowTimeout' as const), elapsedMs: ms, limitMs: ms, message }),
  fc.record({
    _tag: fc.constant('WorkflowVersionMismatch' as const),
    stored: fc.integer(),
    expected: fc.integer(),
    message,
  }),
  fc.record({ _tag: fc.constant('RateLimited' as const), tier: fc.string(), retryAfterMs: ms, message }),
  fc.record({ _tag: fc.constant('OrphanedCompensation' as const), state: fc.string(), output: json, message }),
  fc.record({
    _tag: fc.constant('DecodeFailed' as const),
    codec: fc.string(),
    errors: fc.array(fc.string(), { maxLength: 4 }),
    message,
  }),
  fc.record({
    _tag: fc.constant('LeaseLost' as const),
    workflowId: fc.string(),
    fence: count,
    owner: fc.option(fc.string(), { nil: null }),
    message,
  }),
  fc.record({
    _tag: fc.constant('RunOwned' as const),
    workflowId: fc.string(),
    owner: fc.string(),
    leaseUntil: count,
    message,
  }),
]

/** Any `CanoError`, nesting at most 3 levels through `RetryExhausted.last` and `CompensationFailed.errors`. */
const { canoError: arbCanoError } = fc.letrec<{ canoError: CanoError }>((tie) => ({
  canoError: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'CanoError' },
    // the first arbitrary is the one picked once the depth is reached: a leaf
    fc.oneof(...leaves),
    fc.record({ _tag: fc.constant('RetryExhausted' as const), attempts: count, last: tie('canoError'), message }),
    fc.record({
      _tag: fc.constant('CompensationFailed' as const),
      errors: fc.array(tie('canoError'), { maxLength: 3, depthIdentifier: 'CanoError' }),
      message,
    }),
  ),
}))

const tagsOf = (e: CanoError): string[] => [
  e._tag,
  ...(e._tag === 'RetryExhausted' ? tagsOf(e.last) : []),
  ...(e._tag === 'CompensationFailed' ? e.errors.flatMap(tagsOf) : []),
]

const throughJson = (e: CanoError): unknown => JSON.parse(JSON.stringify(CanoErrorCodec.encode(e)))

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('CanoErrorCodec', () => {
  it('round-trips every variant through JSON', () => {
    fc.assert(
      fc.property(arbCanoError, (e) => {
        expect(CanoErrorCodec.decode(throughJson(e))).to.deep.equal(right(e))
      }),
      { numRuns: 500 },
    )
  })

  it('is tested with an arbitrary that generates all 21 tags', () => {
    const seen = new Set(fc.sample(arbCanoError, { numRuns: 2_000, seed: 42 }).flatMap(tagsOf))
    expect([...seen].sort()).to.deep.equal(ALL_TAGS)
    expect(ALL_TAGS).to.have.length(21)
  })

  it('encodes an Error cause as { name, message }', () => {
    const wire = CanoErrorCodec.encode(taskExecutionError('bad input', new TypeError('not a number')))
    expect(wire).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'bad input',
      cause: { name: 'TypeError', message: 'not a number' },
    })
  })

  it('encodes a nested cause, cutting cycles, without throwing', () => {
    const cyclic: { a: number; self?: unknown; list: unknown[] } = { a: 1, list: [] }
    cyclic.self = cyclic
    cyclic.list.push(cyclic, new RangeError('deep'))
    const wire = CanoErrorCodec.encode({ _tag: 'Generic', message: 'loop', cause: cyclic })
    expect(wire).to.deep.equal({
      _tag: 'Generic',
      message: 'loop',
      cause: { a: 1, self: '[Circular]', list: ['[Circular]', { name: 'RangeError', message: 'deep' }] },
    })
    expect(() => JSON.stringify(wire)).to.not.throw()
  })

  it('encodes the same object twice when it is shared but not cyclic', () => {
    const shared = { id: 1 }
    const wire = CanoErrorCodec.encode({ _tag: 'Generic', message: 'dag', cause: [shared, shared] })
    expect(wire).to.deep.equal({ _tag: 'Generic', message: 'dag', cause: [{ id: 1 }, { id: 1 }] })
  })

  it('keeps an own "__proto__" key of a cause as data', () => {
    const cause: unknown = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}')
    const wire = CanoErrorCodec.encode({ _tag: 'Generic', message: 'm', cause })
    expect(JSON.stringify(wire)).to.equal(
      '{"_tag":"Generic","message":"m","cause":{"__proto__":{"polluted":true},"b":2}}',
    )
    expect(CanoErrorCodec.decode(JSON.parse(JSON.stringify(wire)))).to.deep.equal(
      right({ _tag: 'Generic', message: 'm', cause }),
    )
  })

  it('decodes the recursive variants', () => {
    const e: CanoError = {
      _tag: 'CompensationFailed',
      errors: [
        { _tag: 'RetryExhausted', attempts: 4, last: timeoutError(2_000), message: 'Task failed after 4 attempt(s)' },
        { _tag: 'Cancelled', message: 'stop' },
      ],
      message: 'Task failed after 4 attempt(s)',
    }
    expect(CanoErrorCodec.decode(throughJson(e))).to.deep.equal(right(e))
  })

  it('strips unknown fields when decoding', () => {
    expect(CanoErrorCodec.decode({ _tag: 'Cancelled', message: 'stop', extra: 1 })).to.deep.equal(
      right({ _tag: 'Cancelled', message: 'stop' }),
    )
  })

  it('rejects garbage with a Left', () => {
    const garbage: ReadonlyArray<unknown> = [
      { _tag: 'Configuration' }, // missing message
      { _tag: 'NoSuchTag', message: 'x' },
      { _tag: 'Timeout', timeoutMs: Number.NaN, message: 'x' },
      { _tag: 'Timeout', timeoutMs: -1, message: 'x' },
      { _tag: 'Store', reason: 'Nope', message: 'x' },
      { _tag: 'RetryExhausted', attempts: 2, last: { _tag: 'Cancelled' }, message: 'x' },
      { _tag: 'CompensationFailed', errors: [42], message: 'x' },
      { _tag: 'DecodeFailed', codec: 'C', errors: [1], message: 'x' },
      null,
      'Timeout',
      [],
    ]
    for (const u of garbage) expect(isLeft(CanoErrorCodec.decode(u)), JSON.stringify(u)).to.equal(true)
  })
})

describe('Cause', () => {
  it('accepts any value when decoding', () => {
    for (const u of [null, 1, 'x', { a: [1] }, undefined]) expect(Cause.decode(u)).to.deep.equal(right(u))
  })

  it('encodes values JSON cannot hold as strings or null', () => {
    expect(
      Cause.encode({ inf: Number.POSITIVE_INFINITY, nan: Number.NaN, big: 10n, undef: undefined, sym: Symbol('s') }),
    ).to.deep.equal({ inf: 'Infinity', nan: 'NaN', big: '10', undef: null, sym: 'Symbol(s)' })
  })
})
