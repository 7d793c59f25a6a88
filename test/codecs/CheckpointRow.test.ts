import { expect } from 'chai'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import { CanoErrorCodec } from '../../codecs/CanoError.js'
import { type CheckpointKind, type CheckpointPayloads, CheckpointRow, JsonValue } from '../../codecs/CheckpointRow.js'
import {
  cancelledError,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
  workflowError,
} from '../../src/CanoError.js'

// -------------------------------------------------------------------------------------
// arbitraries
// -------------------------------------------------------------------------------------

const portable = (s: string): boolean => JsonValue.is(s)
const text = fc.string().filter(portable)
const json: fc.Arbitrary<JsonValue> = fc
  .jsonValue()
  .map((u): unknown => u)
  .filter((u): u is JsonValue => JsonValue.is(u))
const seqLike = fc.maxSafeNat()

const payloads: { readonly [K in CheckpointKind]: fc.Arbitrary<CheckpointPayloads[K]> } = {
  StateEntry: fc.oneof(
    fc.constant(null),
    fc.record({ cursor: json, step: seqLike }),
    fc.record({ wakeAt: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
    fc.record({ windows: seqLike, items: seqLike }),
    fc.record({ supersedes: seqLike }),
    fc.record({ notes: fc.dictionary(text, json) }),
  ),
  CompensationCompletion: json,
  StepCursor: fc.record({ cursor: json, step: seqLike }),
  TimerArmed: fc.record({ wakeAt: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  StreamWindow: fc.record({ windows: seqLike, items: seqLike }),
  RollbackStarted: fc.oneof(
    fc.record({ _tag: fc.constant('TaskExecution'), message: text }),
    fc.record({ _tag: fc.constant('Timeout'), timeoutMs: fc.nat(), message: text }),
    fc.record({ _tag: fc.constant('Workflow'), message: text, state: text }),
    fc.record({ _tag: fc.constant('Cancelled'), message: text }),
  ),
  CompensationDone: fc.record({ undid: seqLike }),
}

const rowOf = (kind: CheckpointKind): fc.Arbitrary<CheckpointRow> =>
  fc.record({
    workflowId: fc.string({ minLength: 1 }).filter(portable),
    seq: seqLike,
    kind: fc.constant(kind),
    state: text,
    taskId: text,
    payload: payloads[kind],
    version: seqLike,
    at: seqLike,
  }) as fc.Arbitrary<CheckpointRow>

const kinds: ReadonlyArray<CheckpointKind> = [
  'StateEntry',
  'CompensationCompletion',
  'StepCursor',
  'TimerArmed',
  'StreamWindow',
  'RollbackStarted',
  'CompensationDone',
]

const base = { workflowId: 'order-42', seq: 3, state: 'S', taskId: 's', version: 1, at: 1_700_000_000_000 }
const errorsOf = (u: unknown): ReadonlyArray<string> => PathReporter.report(CheckpointRow.decode(u))

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('CheckpointRow', () => {
  describe('decode(encode(row)) = right(row), for every kind', () => {
    for (const kind of kinds)
      it(kind, () => {
        fc.assert(
          fc.property(rowOf(kind), (row) => {
            expect(CheckpointRow.decode(CheckpointRow.encode(row))).to.deep.equal(E.right(row))
            // through JSON text, as the SQL adapters store it (JSON turns -0 into 0: compare through JSON too)
            const wire: unknown = JSON.parse(JSON.stringify(CheckpointRow.encode(row)))
            expect(CheckpointRow.decode(wire)).to.deep.equal(E.right(JSON.parse(JSON.stringify(row))))
          }),
        )
      })
  })

  describe('decodes rows shaped exactly as the 0.1 driver writes them', () => {
    // the payloads `streams/runWorkflow.ts` wrote before rows were typed, literally
    const encodedError = (e: Parameters<typeof CanoErrorCodec.encode>[0]): unknown =>
      JSON.parse(JSON.stringify(CanoErrorCodec.encode(e)))
    const written: ReadonlyArray<readonly [string, CheckpointKind, unknown]> = [
      ['a fresh entry', 'StateEntry', null],
      ['a resumed stepped entry', 'StateEntry', { cursor: { page: 4, seen: ['a'] }, step: 4 }],
      ['a resumed stepped entry whose cursor is null', 'StateEntry', { cursor: null, step: 0 }],
      [
        'a resumed poll entry',
        'StateEntry',
        { wakeAt: 1_700_000_060_000, poll: { polls: 2, errors: 1, attempt: 1, deadlineAt: null } },
      ],
      ['a resumed timer entry', 'StateEntry', { wakeAt: 1_700_000_060_000 }],
      ['a resumed timer entry in virtual time', 'StateEntry', { wakeAt: 12.5 }],
      ['a resumed stream entry', 'StateEntry', { windows: 3, items: 300 }],
      ['a resumed saga entry', 'StateEntry', { supersedes: 5 }],
      ['the first entry of a run whose observers keep notes', 'StateEntry', { notes: { otel: { traceparent: 'x' } } }],
      ['the first entry with no note at all', 'StateEntry', { notes: {} }],
      ['a saga output', 'CompensationCompletion', { chargeId: 'ch_1', amount: 12.5 }],
      ['a saga output that is a bare string', 'CompensationCompletion', 'b-out'],
      ['a cursor', 'StepCursor', { cursor: 2, step: 2 }],
      ['a timer', 'TimerArmed', { wakeAt: 1_700_000_060_000 }],
      [
        "a poll's durable delay",
        'TimerArmed',
        { wakeAt: 1_700_000_060_000, poll: { polls: 3, errors: 0, attempt: 1, deadlineAt: null } },
      ],
      [
        "a poll's durable delay under an attempt timeout",
        'TimerArmed',
        { wakeAt: 1_700_000_060_000, poll: { polls: 1, errors: 2, attempt: 4, deadlineAt: 1_700_000_090_000 } },
      ],
      ['a stream window', 'StreamWindow', { windows: 1, items: 100 }],
      ['a task failure', 'RollbackStarted', encodedError(taskExecutionError('ship failed', new Error('503')))],
      ['a nested failure', 'RollbackStarted', encodedError(retryExhaustedError(3, timeoutError(50)))],
      ['a cancellation', 'RollbackStarted', encodedError(cancelledError())],
      ['a workflow error', 'RollbackStarted', encodedError(workflowError('no task', 'Ship'))],
      ['the fallback of an error that would not encode', 'RollbackStarted', { _tag: 'Generic', message: 'x' }],
      ['a compensation done', 'CompensationDone', { undid: 3 }],
    ]
    for (const [what, kind, payload] of written)
      it(what, () => {
        const row = { ...base, kind, payload }
        expect(CheckpointRow.decode(row)).to.deep.equal(E.right(row))
      })
  })

  describe('a payload that does not match its kind is a decode failure naming the field', () => {
    const cases: ReadonlyArray<readonly [string, CheckpointKind, unknown, string]> = [
      ['a cursor without its step', 'StepCursor', { cursor: 1 }, 'CheckpointRow/payload: CursorPayload/step'],
      ['a fractional step', 'StepCursor', { cursor: 1, step: 1.5 }, 'CursorPayload/step: NonNegativeSafeInteger'],
      ['a null cursor row', 'StepCursor', null, 'CheckpointRow/payload: CursorPayload'],
      ['a timer without wakeAt', 'TimerArmed', { at: 5 }, 'CheckpointRow/payload: TimerPayload/wakeAt: number'],
      [
        "a poll's delay in attempt 0",
        'TimerArmed',
        { wakeAt: 5, poll: { polls: 1, errors: 0, attempt: 0, deadlineAt: null } },
        'TimerPayload/poll: PollPosition/attempt: PositiveSafeInteger',
      ],
      [
        "a poll's delay without its deadline",
        'TimerArmed',
        { wakeAt: 5, poll: { polls: 1, errors: 0, attempt: 1 } },
        'TimerPayload/poll: PollPosition/deadlineAt',
      ],
      ['a negative window count', 'StreamWindow', { windows: -1, items: 0 }, 'StreamPayload/windows'],
      ['an entry of no known shape', 'StateEntry', { page: 3 }, 'CheckpointRow/payload: StateEntryPayload'],
      ['an entry that is a string', 'StateEntry', 'x', 'CheckpointRow/payload: StateEntryPayload'],
      ['a resumed entry with a bad step', 'StateEntry', { cursor: 1, step: -1 }, 'StateEntryPayload/step'],
      [
        'notes that are a list',
        'StateEntry',
        { notes: ['otel'] },
        'CheckpointRow/payload: StateEntryPayload/notes: RunNotes',
      ],
      ['an error without a tag', 'RollbackStarted', { message: 'x' }, 'CheckpointRow/payload: EncodedCanoError'],
      ['an error that is text', 'RollbackStarted', 'boom', 'CheckpointRow/payload: EncodedCanoError'],
      ['a compensation done without undid', 'CompensationDone', {}, 'CompensationDonePayload/undid'],
      ['the sentinel undid -1', 'CompensationDone', { undid: -1 }, 'CompensationDonePayload/undid'],
    ]
    for (const [what, kind, payload, field] of cases)
      it(what, () => {
        const errors = errorsOf({ ...base, kind, payload })
        expect(errors).to.have.length.greaterThan(0)
        expect(errors.join('\n')).to.include(field)
      })

    it('checks that the payload is JSON before its shape', () => {
      expect(errorsOf({ ...base, kind: 'StepCursor', payload: { cursor: Number.NaN, step: 1 } })).to.deep.equal([
        'Invalid value NaN supplied to : CheckpointRow/payload: JsonValue/cursor: JsonValue',
      ])
    })

    it('keeps the envelope errors as they were', () => {
      expect(errorsOf({ ...base, seq: -1, kind: 'StateEntry', payload: null })).to.deep.equal([
        'Invalid value -1 supplied to : CheckpointRow/seq: NonNegativeSafeInteger',
      ])
      expect(errorsOf({ ...base, kind: 'Bogus', payload: null })).to.deep.equal([
        'Invalid value "Bogus" supplied to : CheckpointRow/kind: CheckpointKind',
      ])
    })
  })

  it('strips unknown fields of a typed payload, and keeps a saga output whole', () => {
    expect(CheckpointRow.decode({ ...base, kind: 'TimerArmed', payload: { wakeAt: 5, extra: 1 } })).to.deep.equal(
      E.right({ ...base, kind: 'TimerArmed', payload: { wakeAt: 5 } }),
    )
    const output = { chargeId: 'ch_1', extra: 1 }
    expect(CheckpointRow.decode({ ...base, kind: 'CompensationCompletion', payload: output })).to.deep.equal(
      E.right({ ...base, kind: 'CompensationCompletion', payload: output }),
    )
  })

  it('is() agrees with decode()', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), json, (kind, payload) => {
        const u = { ...base, kind, payload }
        expect(CheckpointRow.is(u)).to.equal(E.isRight(CheckpointRow.decode(u)))
      }),
    )
  })
})

describe('JsonValue', () => {
  it('answers a value nested deeper than the stack can walk as invalid, never with a RangeError', () => {
    let deep: unknown = 1
    for (let i = 0; i < 200_000; i++) deep = { a: deep }
    expect(JsonValue.is(deep)).to.equal(false)
    const decoded = JsonValue.decode(deep)
    expect(E.isLeft(decoded)).to.equal(true)
    expect(PathReporter.report(decoded).join('\n')).to.contain('nested deeper than the stack can check')
    // a value nested a hundred levels is JSON as usual
    let shallow: unknown = 1
    for (let i = 0; i < 100; i++) shallow = [shallow]
    expect(JsonValue.is(shallow)).to.equal(true)
  })
})
