import { expect } from 'chai'

import { CanoErrorCodec } from '../../codecs/CanoError.js'
import {
  cancelledError,
  type CanoError,
  CanoFailure,
  categoryOf,
  checkpointStoreError,
  circuitOpenError,
  compensationFailedError,
  configurationError,
  decodeFailedError,
  describeCanoError,
  genericError,
  hasTag,
  isCanoError,
  isCanoFailure,
  isNonRetryable,
  isRetryable,
  leaseLostError,
  matchCanoError,
  matchCanoErrorOrElse,
  matchCanoErrorW,
  NonRetryable,
  nonRetryable,
  orphanedCompensationError,
  rateLimitedError,
  resourceDuplicateKeyError,
  resourceNotFoundError,
  resourceTypeMismatchError,
  retryExhaustedError,
  runOwnedError,
  storeError,
  taskExecutionError,
  timeoutError,
  toCanoError,
  toCanoFailure,
  workflowError,
  workflowTimeoutError,
  workflowVersionMismatchError,
} from '../../src/CanoError.js'
import { describeValue } from '../../src/internal/describeValue.js'
import { revokedProxy, uninspectables } from '../helpers/uninspectable.js'

/** One error of every variant, in cano's order, then the cano-rx additions. */
const oneOfEach: ReadonlyArray<CanoError> = [
  taskExecutionError('boom'),
  storeError('KeyNotFound', "Key 'user' not found in store"),
  workflowError('No task registered for state: "Ship"'),
  configurationError('bad'),
  retryExhaustedError(2, taskExecutionError('boom')),
  timeoutError(10),
  circuitOpenError('circuit breaker open: rejecting call'),
  checkpointStoreError('append failed'),
  compensationFailedError([taskExecutionError('boom')]),
  genericError('IO error: disk full'),
  resourceNotFoundError('db'),
  resourceTypeMismatchError('db', 'Pool'),
  resourceDuplicateKeyError('db'),
  cancelledError(),
  workflowTimeoutError(61_000, 60_000),
  workflowVersionMismatchError(2, 3),
  rateLimitedError('per-second', 120),
  orphanedCompensationError('Charge', { chargeId: 'ch_1' }),
  decodeFailedError('PageCursor', ['bad page']),
  leaseLostError('order-42', 3, 'worker-b'),
  runOwnedError('order-42', 'worker-a', 0),
]

describe('constructors', () => {
  it('build the exact plain data of each variant', () => {
    const cause = new Error('503')
    expect(taskExecutionError('upstream answered 503')).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'upstream answered 503',
    })
    expect(taskExecutionError('upstream answered 503', cause)).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'upstream answered 503',
      cause,
    })
    expect(storeError('AppendTypeMismatch', 'nope')).to.deep.equal({
      _tag: 'Store',
      reason: 'AppendTypeMismatch',
      message: 'nope',
    })
    expect(workflowError('missing handler')).to.deep.equal({ _tag: 'Workflow', message: 'missing handler' })
    expect(workflowError('missing handler', 'Ship')).to.deep.equal({
      _tag: 'Workflow',
      message: 'missing handler',
      state: 'Ship',
    })
    expect(configurationError('bad')).to.deep.equal({ _tag: 'Configuration', message: 'bad' })
    expect(retryExhaustedError(4, timeoutError(2_000))).to.deep.equal({
      _tag: 'RetryExhausted',
      attempts: 4,
      last: { _tag: 'Timeout', timeoutMs: 2_000, message: 'task attempt exceeded attempt_timeout' },
      message: 'Task failed after 4 attempt(s): Timeout error: task attempt exceeded attempt_timeout',
    })
    expect(timeoutError(2_000)).to.deep.equal({
      _tag: 'Timeout',
      timeoutMs: 2_000,
      message: 'task attempt exceeded attempt_timeout',
    })
    expect(timeoutError(5, 'compensation exceeded its timeout')).to.deep.equal({
      _tag: 'Timeout',
      timeoutMs: 5,
      message: 'compensation exceeded its timeout',
    })
    expect(circuitOpenError('circuit breaker open: rejecting call')).to.deep.equal({
      _tag: 'CircuitOpen',
      message: 'circuit breaker open: rejecting call',
    })
    expect(checkpointStoreError('no rows')).to.deep.equal({ _tag: 'CheckpointStore', message: 'no rows' })
    expect(checkpointStoreError('no rows', cause)).to.deep.equal({ _tag: 'CheckpointStore', message: 'no rows', cause })
    expect(compensationFailedError([])).to.deep.equal({
      _tag: 'CompensationFailed',
      errors: [],
      message: 'compensation failed',
    })
    expect(
      compensationFailedError([taskExecutionError('ship failed'), taskExecutionError('refund failed')]),
    ).to.deep.equal({
      _tag: 'CompensationFailed',
      errors: [
        { _tag: 'TaskExecution', message: 'ship failed' },
        { _tag: 'TaskExecution', message: 'refund failed' },
      ],
      message: 'ship failed',
    })
    expect(genericError('IO error: disk full')).to.deep.equal({ _tag: 'Generic', message: 'IO error: disk full' })
    expect(genericError('x', 42)).to.deep.equal({ _tag: 'Generic', message: 'x', cause: 42 })
    expect(resourceNotFoundError('db')).to.deep.equal({
      _tag: 'ResourceNotFound',
      key: 'db',
      message: 'no resource found for the given key "db"',
    })
    expect(resourceTypeMismatchError('db', 'Pool')).to.deep.equal({
      _tag: 'ResourceTypeMismatch',
      key: 'db',
      message: 'resource "db" found but the requested type Pool does not match the stored value',
    })
    expect(resourceDuplicateKeyError('db')).to.deep.equal({
      _tag: 'ResourceDuplicateKey',
      key: 'db',
      message: 'duplicate resource key "db" inserted into Resources',
    })
    expect(cancelledError()).to.deep.equal({ _tag: 'Cancelled', message: 'workflow cancelled' })
    expect(cancelledError('flow stopped')).to.deep.equal({ _tag: 'Cancelled', message: 'flow stopped' })
    expect(workflowTimeoutError(61_000, 60_000)).to.deep.equal({
      _tag: 'WorkflowTimeout',
      elapsedMs: 61_000,
      limitMs: 60_000,
      message: 'Workflow timeout exceeded: 61000 ms elapsed, limit 60000 ms',
    })
    expect(workflowVersionMismatchError(2, 3)).to.deep.equal({
      _tag: 'WorkflowVersionMismatch',
      stored: 2,
      expected: 3,
      message: 'workflow version mismatch: the run was recorded by version 2, this definition is version 3',
    })
    expect(rateLimitedError('per-second', 120)).to.deep.equal({
      _tag: 'RateLimited',
      tier: 'per-second',
      retryAfterMs: 120,
      message: 'rate limited by tier "per-second": retry after 120 ms',
    })
    expect(orphanedCompensationError('Charge', { chargeId: 'ch_1' })).to.deep.equal({
      _tag: 'OrphanedCompensation',
      state: 'Charge',
      output: { chargeId: 'ch_1' },
      message: 'no compensator registered for state "Charge": cannot roll it back (output kept)',
    })
    expect(decodeFailedError('PageCursor', ['a', 'b'])).to.deep.equal({
      _tag: 'DecodeFailed',
      codec: 'PageCursor',
      errors: ['a', 'b'],
      message: 'PageCursor rejected the value: a; b',
    })
    expect(decodeFailedError('PageCursor', ['a'], 'state "Scan", step 3')).to.deep.equal({
      _tag: 'DecodeFailed',
      codec: 'PageCursor',
      errors: ['a'],
      message: 'state "Scan", step 3: PageCursor rejected the value: a',
    })
    expect(leaseLostError('order-42', 3, null)).to.deep.equal({
      _tag: 'LeaseLost',
      workflowId: 'order-42',
      fence: 3,
      owner: null,
      message:
        'run "order-42" is no longer held under fence 3 (nobody holds it now); nothing was written, abandon the run',
    })
    expect(runOwnedError('order-42', 'worker-a', Date.UTC(2030, 0, 1))).to.deep.equal({
      _tag: 'RunOwned',
      workflowId: 'order-42',
      owner: 'worker-a',
      leaseUntil: Date.UTC(2030, 0, 1),
      message:
        'run "order-42" is owned by "worker-a" until 2030-01-01T00:00:00.000Z (its lease); it cannot be resumed or claimed before the lease ends',
    })
  })
})

describe('retryExhaustedError', () => {
  it("formats cano's message with the last error's Display form", () => {
    expect(retryExhaustedError(4, timeoutError(2_000)).message).to.equal(
      'Task failed after 4 attempt(s): Timeout error: task attempt exceeded attempt_timeout',
    )
  })
})

describe('categoryOf', () => {
  it("gives cano's category string for every variant", () => {
    expect(oneOfEach.map(categoryOf)).to.deep.equal([
      'task_execution',
      'store',
      'workflow',
      'configuration',
      'retry_exhausted',
      'timeout',
      'circuit_open',
      'checkpoint_store',
      'compensation_failed',
      'generic',
      'resource_not_found',
      'resource_type_mismatch',
      'resource_duplicate_key',
      'cancelled',
      'workflow_timeout',
      'workflow_version_mismatch',
      'rate_limited',
      'orphaned_compensation',
      'decode_failed',
      'lease_lost',
      'run_owned',
    ])
  })
})

describe('describeCanoError', () => {
  it("prefixes the message with cano's Display prefix", () => {
    expect(oneOfEach.map(describeCanoError)).to.deep.equal([
      'Task execution error: boom',
      "Store error: Key 'user' not found in store",
      'Workflow error: No task registered for state: "Ship"',
      'Configuration error: bad',
      'Retry exhausted: Task failed after 2 attempt(s): Task execution error: boom',
      'Timeout error: task attempt exceeded attempt_timeout',
      'Circuit open: circuit breaker open: rejecting call',
      'Checkpoint store error: append failed',
      'Compensation failed (1 error(s)); original: Task execution error: boom',
      'Error: IO error: disk full',
      'Resource not found: no resource found for the given key "db"',
      'Resource type mismatch: resource "db" found but the requested type Pool does not match the stored value',
      'Resource duplicate key: duplicate resource key "db" inserted into Resources',
      'Cancelled: workflow cancelled',
      'Workflow timeout: Workflow timeout exceeded: 61000 ms elapsed, limit 60000 ms',
      'Workflow version mismatch: workflow version mismatch: the run was recorded by version 2, this definition is version 3',
      'Rate limited: rate limited by tier "per-second": retry after 120 ms',
      'Orphaned compensation: no compensator registered for state "Charge": cannot roll it back (output kept)',
      'Decode failed: PageCursor rejected the value: bad page',
      'Lease lost: run "order-42" is no longer held under fence 3 (now held by "worker-b"); nothing was written, abandon the run',
      'Run owned: run "order-42" is owned by "worker-a" until 1970-01-01T00:00:00.000Z (its lease); it cannot be resumed or claimed before the lease ends',
    ])
  })

  it('lists the original failure and each compensation error of a CompensationFailed', () => {
    const e = compensationFailedError([
      taskExecutionError('ship failed'),
      timeoutError(500, 'refund timed out'),
      genericError('ledger offline'),
    ])
    expect(describeCanoError(e)).to.equal(
      'Compensation failed (3 error(s)); original: Task execution error: ship failed; ' +
        'compensation #1: Timeout error: refund timed out; compensation #2: Error: ledger offline',
    )
  })

  it('describes an empty CompensationFailed by its count alone', () => {
    expect(describeCanoError(compensationFailedError([]))).to.equal('Compensation failed (0 error(s))')
  })
})

describe('isCanoError', () => {
  it('accepts every variant and rejects look-alikes', () => {
    for (const e of oneOfEach) expect(isCanoError(e), e._tag).to.equal(true)
    expect(isCanoError({ _tag: 'Cancelled' })).to.equal(false)
    expect(isCanoError({ _tag: 'Nope', message: 'x' })).to.equal(false)
    expect(isCanoError(Object.assign(new Error('x'), { _tag: 'Cancelled' }))).to.equal(false)
    expect(isCanoError(null)).to.equal(false)
    expect(isCanoError('Cancelled')).to.equal(false)
  })
})

describe('hasTag', () => {
  it('narrows by tag', () => {
    const e: CanoError = rateLimitedError('t', 7)
    expect(hasTag(e, 'RateLimited') ? e.retryAfterMs : -1).to.equal(7)
    expect(hasTag(e, 'Timeout')).to.equal(false)
  })

  it('data-last: hasTag(tag) is a guard, with one or more tags (issue 13)', () => {
    expect(oneOfEach.filter(hasTag('Timeout'))).to.deep.equal([timeoutError(10)])
    expect(oneOfEach.filter(hasTag('Cancelled', 'WorkflowTimeout')).map((e) => e._tag)).to.deep.equal([
      'Cancelled',
      'WorkflowTimeout',
    ])
    expect(hasTag('Timeout')(rateLimitedError('t', 7))).to.equal(false)
  })
})

describe('matchCanoErrorW', () => {
  it('dispatches to the case of the tag; the cases may return different types', () => {
    const retryIn = matchCanoErrorW({
      TaskExecution: () => 100,
      Store: () => 100,
      Workflow: () => null,
      Configuration: () => null,
      RetryExhausted: () => null,
      Timeout: (e) => e.timeoutMs,
      CircuitOpen: () => 'later',
      CheckpointStore: () => 100,
      CompensationFailed: () => null,
      Generic: () => 100,
      ResourceNotFound: () => null,
      ResourceTypeMismatch: () => null,
      ResourceDuplicateKey: () => null,
      Cancelled: () => null,
      WorkflowTimeout: () => null,
      WorkflowVersionMismatch: () => null,
      RateLimited: (e) => e.retryAfterMs,
      OrphanedCompensation: () => null,
      DecodeFailed: () => null,
      LeaseLost: () => null,
      RunOwned: (e) => e.owner,
    })
    expect(
      [timeoutError(10), circuitOpenError('x'), rateLimitedError('t', 7), cancelledError()].map(retryIn),
    ).to.deep.equal([10, 'later', 7, null])
  })
})

describe('matchCanoErrorOrElse', () => {
  it('dispatches to the cases given, and every other variant to the fallback', () => {
    const seen: string[] = []
    const advice = matchCanoErrorOrElse(
      {
        RateLimited: (e) => `slow down ${e.retryAfterMs}`,
        Timeout: (e) => e.timeoutMs,
      },
      (other) => {
        seen.push(other._tag)
        return false
      },
    )
    expect(oneOfEach.map(advice).filter((r) => r !== false)).to.deep.equal([10, 'slow down 120'])
    expect(seen).to.deep.equal(oneOfEach.map((e) => e._tag).filter((t) => t !== 'Timeout' && t !== 'RateLimited'))
  })

  it('with no case at all, is the fallback', () => {
    expect(matchCanoErrorOrElse({}, describeCanoError)(timeoutError(10))).to.equal(describeCanoError(timeoutError(10)))
  })
})

describe('matchCanoError', () => {
  it('dispatches to the case of the tag', () => {
    const summary = matchCanoError<string>({
      TaskExecution: (e) => `task ${e.message}`,
      Store: (e) => `store ${e.reason}`,
      Workflow: (e) => `workflow ${e.state ?? '-'}`,
      Configuration: () => 'configuration',
      RetryExhausted: (e) => `exhausted ${e.attempts} ${e.last._tag}`,
      Timeout: (e) => `timeout ${e.timeoutMs}`,
      CircuitOpen: () => 'circuit',
      CheckpointStore: () => 'checkpoint',
      CompensationFailed: (e) => `compensation ${e.errors.length}`,
      Generic: () => 'generic',
      ResourceNotFound: (e) => `not found ${e.key}`,
      ResourceTypeMismatch: (e) => `mismatch ${e.key}`,
      ResourceDuplicateKey: (e) => `duplicate ${e.key}`,
      Cancelled: () => 'cancelled',
      WorkflowTimeout: (e) => `workflow timeout ${e.limitMs}`,
      WorkflowVersionMismatch: (e) => `version ${e.stored}->${e.expected}`,
      RateLimited: (e) => `rate ${e.tier}`,
      OrphanedCompensation: (e) => `orphan ${e.state}`,
      DecodeFailed: (e) => `decode ${e.codec}`,
      LeaseLost: (e) => `lease ${e.workflowId} ${e.fence} ${e.owner ?? '-'}`,
      RunOwned: (e) => `owned ${e.workflowId} ${e.owner}`,
    })
    expect(oneOfEach.map(summary)).to.deep.equal([
      'task boom',
      'store KeyNotFound',
      'workflow -',
      'configuration',
      'exhausted 2 TaskExecution',
      'timeout 10',
      'circuit',
      'checkpoint',
      'compensation 1',
      'generic',
      'not found db',
      'mismatch db',
      'duplicate db',
      'cancelled',
      'workflow timeout 60000',
      'version 2->3',
      'rate per-second',
      'orphan Charge',
      'decode PageCursor',
      'lease order-42 3 worker-b',
      'owned order-42 worker-a',
    ])
  })
})

describe('CanoFailure', () => {
  it('is an Error carrying the CanoError as error and cause', () => {
    const error = timeoutError(2_000)
    const failure = new CanoFailure(error)
    expect(failure).to.be.instanceOf(Error)
    expect(failure.name).to.equal('CanoFailure')
    expect(failure.error).to.equal(error)
    expect(failure.cause).to.equal(error)
    expect(failure.message).to.equal('Timeout error: task attempt exceeded attempt_timeout')
    expect(failure.context).to.equal(undefined)
  })

  it('carries where a run failed, and says it in its message (issue 13)', () => {
    const context = { workflowId: 'order-42', state: 'Charge', attempt: 3, transitions: 2 }
    const failure = new CanoFailure(taskExecutionError('boom'), context)
    expect(failure.context).to.deep.equal(context)
    expect(failure.message).to.equal(
      'Task execution error: boom (run "order-42", state "Charge", attempt 3, 2 transitions)',
    )
    expect(failure.stack).to.be.a('string')
    const early = new CanoFailure(cancelledError(), {
      workflowId: 'w',
      state: undefined,
      attempt: undefined,
      transitions: 1,
    })
    expect(early.message).to.equal('Cancelled: workflow cancelled (run "w", 1 transition)')
  })
})

describe('toCanoFailure', () => {
  it('keeps a CanoFailure, wraps anything else through toCanoError', () => {
    const failure = new CanoFailure(timeoutError(1))
    expect(toCanoFailure(failure)).to.equal(failure)
    const wrapped = toCanoFailure(new Error('boom'))
    expect(wrapped).to.be.instanceOf(CanoFailure)
    expect(wrapped.error).to.deep.equal(toCanoError(new Error('boom')))
    expect(toCanoFailure(configurationError('bad')).error).to.deep.equal(configurationError('bad'))
    expect(toCanoFailure(nonRetryable(timeoutError(3))).error).to.deep.equal(timeoutError(3))
  })
})

describe('isCanoFailure', () => {
  it('recognises a CanoFailure', () => {
    expect(isCanoFailure(new CanoFailure(cancelledError()))).to.equal(true)
  })

  it('recognises a CanoFailure from a duplicate package copy by its name', () => {
    // what a second copy of cano-rx in node_modules would define: same name, another class
    class CanoFailureCopy extends Error {
      override readonly name = 'CanoFailure'
      constructor(readonly error: CanoError) {
        super(describeCanoError(error), { cause: error })
      }
    }
    const copy: unknown = new CanoFailureCopy(cancelledError())
    expect(copy instanceof CanoFailure).to.equal(false)
    expect(isCanoFailure(copy)).to.equal(true)
  })

  it('rejects other errors and plain objects', () => {
    expect(isCanoFailure(new Error('x'))).to.equal(false)
    expect(isCanoFailure(Object.assign(new Error('x'), { name: 'CanoFailure' }))).to.equal(false) // no error inside
    expect(isCanoFailure({ name: 'CanoFailure', error: cancelledError() })).to.equal(false)
    expect(isCanoFailure(cancelledError())).to.equal(false)
  })
})

describe('nonRetryable', () => {
  it('wraps the value in a NonRetryable error keeping it as cause', () => {
    const inner = new Error('input is not an object')
    const wrapped = nonRetryable(inner)
    expect(wrapped).to.be.instanceOf(NonRetryable)
    expect(wrapped.cause).to.equal(inner)
    expect(wrapped.message).to.equal('input is not an object')
    expect(nonRetryable(configurationError('bad')).message).to.equal('bad')
    expect(nonRetryable(42).message).to.equal('42')
  })
})

describe('isNonRetryable', () => {
  it('recognises nonRetryable values by name', () => {
    expect(isNonRetryable(nonRetryable('bad input'))).to.equal(true)
    expect(isNonRetryable(Object.assign(new Error('copy'), { name: 'NonRetryableError' }))).to.equal(true)
    expect(isNonRetryable(new Error('bad input'))).to.equal(false)
    expect(isNonRetryable('bad input')).to.equal(false)
  })
})

describe('toCanoError', () => {
  it('turns an Error into TaskExecution keeping the Error as cause', () => {
    const err = new Error('boom')
    expect(toCanoError(err)).to.deep.equal({ _tag: 'TaskExecution', message: 'boom', cause: err })
  })

  it('uses the name of an Error without a message', () => {
    const err = new TypeError()
    expect(toCanoError(err)).to.deep.equal({ _tag: 'TaskExecution', message: 'TypeError', cause: err })
  })

  it('turns strings, numbers, objects, null and undefined into TaskExecution', () => {
    const obj = { code: 'E42' }
    expect(toCanoError('boom')).to.deep.equal({ _tag: 'TaskExecution', message: 'boom', cause: 'boom' })
    expect(toCanoError(42)).to.deep.equal({ _tag: 'TaskExecution', message: '42', cause: 42 })
    expect(toCanoError(obj)).to.deep.equal({ _tag: 'TaskExecution', message: '{"code":"E42"}', cause: obj })
    expect(toCanoError(null)).to.deep.equal({ _tag: 'TaskExecution', message: 'null', cause: null })
    expect(toCanoError(undefined)).to.deep.equal({ _tag: 'TaskExecution', message: 'undefined' })
  })

  it('does not throw on values JSON cannot stringify', () => {
    const cyclic: { self?: unknown } = {}
    cyclic.self = cyclic
    expect(toCanoError(cyclic)).to.deep.equal({ _tag: 'TaskExecution', message: '[object Object]', cause: cyclic })
    expect(toCanoError(10n).message).to.be.a('string')
  })

  it('keeps a CanoError as it is', () => {
    const e = rateLimitedError('t', 5)
    expect(toCanoError(e)).to.equal(e)
  })

  it('unwraps a CanoFailure', () => {
    const e = cancelledError()
    expect(toCanoError(new CanoFailure(e))).to.equal(e)
  })

  it('unwraps a nonRetryable value', () => {
    const e = configurationError('bad')
    expect(toCanoError(nonRetryable(e))).to.equal(e)
    expect(toCanoError(nonRetryable('bad input'))).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'bad input',
      cause: 'bad input',
    })
    const err = new Error('boom')
    expect(toCanoError(nonRetryable(err))).to.deep.equal({ _tag: 'TaskExecution', message: 'boom', cause: err })
  })
})

describe('isRetryable', () => {
  it('is false for nonRetryable values and the errors retrying cannot fix', () => {
    const never: ReadonlyArray<unknown> = [
      nonRetryable(new Error('bad input')),
      nonRetryable(timeoutError(1)),
      configurationError('bad'),
      resourceNotFoundError('db'),
      resourceTypeMismatchError('db', 'Pool'),
      resourceDuplicateKeyError('db'),
      cancelledError(),
      workflowTimeoutError(2, 1),
      workflowVersionMismatchError(1, 2),
      decodeFailedError('C', []),
      leaseLostError('r', 1, null),
      runOwnedError('r', 'w', 1),
      new CanoFailure(configurationError('bad')),
    ]
    for (const u of never) expect(isRetryable(u), String(u)).to.equal(false)
  })

  it('is true for task failures, timeouts and the other transient errors', () => {
    const always: ReadonlyArray<unknown> = [
      taskExecutionError('boom'),
      storeError('LockError', 'x'),
      workflowError('x'),
      retryExhaustedError(2, timeoutError(1)),
      timeoutError(1),
      circuitOpenError('x'),
      checkpointStoreError('x'),
      compensationFailedError([]),
      genericError('x'),
      rateLimitedError('t', 1),
      orphanedCompensationError('S', null),
      new Error('boom'),
      'boom',
      undefined,
    ]
    for (const u of always) expect(isRetryable(u), String(u)).to.equal(true)
  })
})

describe('thrown values that cannot be inspected (adv16c item 5)', () => {
  for (const [title, make] of uninspectables) {
    it(`guards, toCanoError, isRetryable, nonRetryable and the Cause codec never throw on ${title}`, () => {
      const u = make()
      expect([isCanoError(u), isCanoFailure(u), isNonRetryable(u)]).to.deep.equal([false, false, false])
      const error = toCanoError(u)
      expect(error._tag).to.equal('TaskExecution')
      expect(error.message).to.be.a('string')
      expect(isRetryable(u)).to.equal(true)
      expect(toCanoError(nonRetryable(u))._tag).to.equal('TaskExecution')
      expect(describeValue(u)).to.be.a('string')
      expect(() => JSON.stringify(CanoErrorCodec.encode(error))).not.to.throw()
    })
  }

  it('describes a value it cannot read, and keeps no cause that would throw in turn', () => {
    expect(toCanoError(revokedProxy())).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'task failed with a value that cannot be inspected: [uninspectable object]',
    })
    expect(describeValue(revokedProxy())).to.equal('[uninspectable object]')
    expect(CanoErrorCodec.encode(taskExecutionError('x', revokedProxy()))).to.deep.equal({
      _tag: 'TaskExecution',
      message: 'x',
      cause: '[Uninspectable]',
    })
  })
})
