import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'

import { CanoErrorCodec } from '../../codecs/CanoError.js'
import { type CheckpointKind, type CheckpointPayloads, CheckpointRow } from '../../codecs/CheckpointRow.js'
import { taskExecutionError, timeoutError } from '../../src/CanoError.js'
import {
  checkpointRow,
  compensationCompletion,
  compensationDone,
  type Continuation,
  notedEntry,
  type ResumePoint,
  resumePoint,
  rollbackStarted,
  type RowDraft,
  stateEntry,
  stepCursor,
  streamWindow,
  timerArmed,
} from '../../src/Resume.js'

/** A row as the driver writes it: `kind` with its typed payload, in the run `w`, version 1. */
const row = <K extends CheckpointKind>(
  seq: number,
  kind: K,
  state: string,
  payload: CheckpointPayloads[K],
): CheckpointRow => checkpointRow({ kind, payload } as RowDraft, 'w', seq, state, state, 1, 1_000 + seq)

const entry = (seq: number, state: string, payload: CheckpointPayloads['StateEntry'] = null): CheckpointRow =>
  row(seq, 'StateEntry', state, payload)

const known = (s: string): boolean => s !== 'Gone'
const resume = (rows: ReadonlyArray<CheckpointRow>): E.Either<unknown, ResumePoint<string>> =>
  resumePoint<string>('w', rows, { version: 1, isKnown: known })

const FRESH: Continuation = { _tag: 'Fresh' }

describe('resumePoint over typed rows', () => {
  const table: ReadonlyArray<{
    readonly what: string
    readonly rows: ReadonlyArray<CheckpointRow>
    readonly state: string
    readonly continues: Continuation
    readonly stack?: ReadonlyArray<number>
  }> = [
    { what: 'a fresh entry starts afresh', rows: [entry(0, 'A')], state: 'A', continues: FRESH },
    {
      what: 'a stepped state continues from its last cursor',
      rows: [
        entry(0, 'Scan'),
        row(1, 'StepCursor', 'Scan', { cursor: 1, step: 1 }),
        row(2, 'StepCursor', 'Scan', { cursor: { page: 2 }, step: 2 }),
      ],
      state: 'Scan',
      continues: { _tag: 'Cursor', cursor: { page: 2 }, step: 2 },
    },
    {
      what: 'a resumed stepped state continues from the cursor its entry recorded',
      rows: [
        entry(0, 'Scan'),
        row(1, 'StepCursor', 'Scan', { cursor: 1, step: 1 }),
        entry(2, 'Scan', { cursor: 1, step: 1 }),
      ],
      state: 'Scan',
      continues: { _tag: 'Cursor', cursor: 1, step: 1 },
    },
    {
      what: 'a cursor of an earlier visit is stale',
      rows: [entry(0, 'Scan'), row(1, 'StepCursor', 'Scan', { cursor: 9, step: 9 }), entry(2, 'B'), entry(3, 'Scan')],
      state: 'Scan',
      continues: FRESH,
    },
    {
      what: 'a timer continues from its persisted wake-up',
      rows: [entry(0, 'Wait'), row(1, 'TimerArmed', 'Wait', { wakeAt: 60_000 })],
      state: 'Wait',
      continues: { _tag: 'Timer', wakeAt: 60_000 },
    },
    {
      what: 'a resumed timer continues from the wake-up its entry recorded',
      rows: [entry(0, 'Wait'), row(1, 'TimerArmed', 'Wait', { wakeAt: 60_000 }), entry(2, 'Wait', { wakeAt: 60_000 })],
      state: 'Wait',
      continues: { _tag: 'Timer', wakeAt: 60_000 },
    },
    {
      what: "a poll parked in a durable delay continues from its wake-up and its loop's position",
      rows: [
        entry(0, 'Wait'),
        row(1, 'TimerArmed', 'Wait', { wakeAt: 60_000, poll: { polls: 3, errors: 1, attempt: 2, deadlineAt: null } }),
      ],
      state: 'Wait',
      continues: { _tag: 'Timer', wakeAt: 60_000, poll: { polls: 3, errors: 1, attempt: 2, deadlineAt: null } },
    },
    {
      what: "a poll's latest durable delay wins, and a resumed poll's entry keeps it",
      rows: [
        entry(0, 'Wait'),
        row(1, 'TimerArmed', 'Wait', { wakeAt: 60_000, poll: { polls: 1, errors: 0, attempt: 1, deadlineAt: 90_000 } }),
        entry(2, 'Wait', { wakeAt: 60_000, poll: { polls: 1, errors: 0, attempt: 1, deadlineAt: 90_000 } }),
        row(3, 'TimerArmed', 'Wait', { wakeAt: 80_000, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: 90_000 } }),
      ],
      state: 'Wait',
      continues: { _tag: 'Timer', wakeAt: 80_000, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: 90_000 } },
    },
    {
      what: 'a stream continues from its last window',
      rows: [
        entry(0, 'Feed'),
        row(1, 'StreamWindow', 'Feed', { windows: 1, items: 10 }),
        row(2, 'StreamWindow', 'Feed', { windows: 2, items: 20 }),
      ],
      state: 'Feed',
      continues: { _tag: 'Stream', position: { windows: 2, items: 20 } },
    },
    {
      what: 'a saga state whose completion was the last row replaces it; it stays on the stack until replaced',
      rows: [
        entry(0, 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        entry(2, 'B'),
        row(3, 'CompensationCompletion', 'B', 'b'),
      ],
      state: 'B',
      continues: { _tag: 'Supersedes', seq: 3 },
      stack: [1, 3],
    },
    {
      what: 'a re-run that crashed before its completion: the same completion, still on the stack, replaced again',
      rows: [
        entry(0, 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        entry(2, 'B'),
        row(3, 'CompensationCompletion', 'B', 'b'),
        entry(4, 'B', { supersedes: 3 }),
      ],
      state: 'B',
      continues: { _tag: 'Supersedes', seq: 3 },
      stack: [1, 3],
    },
    {
      what: 'a completion replaced by its re-run’s completion leaves the stack',
      rows: [
        entry(0, 'A'),
        row(1, 'CompensationCompletion', 'A', 1),
        entry(2, 'B'),
        row(3, 'CompensationCompletion', 'B', 'b'),
        entry(4, 'B', { supersedes: 3 }),
        row(5, 'CompensationCompletion', 'B', 'b2'),
        entry(6, 'C'),
      ],
      state: 'C',
      continues: FRESH,
      stack: [1, 5],
    },
    {
      what: 'a cursor of another state is not a continuation',
      rows: [entry(0, 'Scan'), row(1, 'StepCursor', 'Scan', { cursor: 1, step: 1 }), entry(2, 'Wait')],
      state: 'Wait',
      continues: FRESH,
    },
  ]
  for (const c of table)
    it(c.what, () => {
      const p = resume(c.rows)
      const last = c.rows[c.rows.length - 1]!
      expect(p).to.deep.equal(
        E.right({
          _tag: 'State',
          state: c.state,
          fromSeq: last.seq,
          nextSeq: last.seq + 1,
          version: 1,
          stack: (c.stack ?? []).map((seq) => {
            const r = c.rows[seq]!
            return { state: r.state, taskId: r.taskId, encoded: r.payload, seq }
          }),
          continues: c.continues,
        }),
      )
    })

  it('resumes a rollback in progress with the decoded error and what is left to undo', () => {
    const original = taskExecutionError('C failed')
    const rows = [
      entry(0, 'A'),
      row(1, 'CompensationCompletion', 'A', 1),
      entry(2, 'B'),
      row(3, 'CompensationCompletion', 'B', 'b'),
      entry(4, 'Gone'),
      row(5, 'RollbackStarted', 'Gone', rollbackStarted(original).payload),
      row(6, 'CompensationDone', 'B', { undid: 3 }),
    ]
    expect(resume(rows)).to.deep.equal(
      E.right({
        _tag: 'Rollback',
        state: 'Gone',
        fromSeq: 6,
        nextSeq: 7,
        version: 1,
        stack: [{ state: 'A', taskId: 'A', encoded: 1, seq: 1 }],
        rollback: { error: original, seq: 5 },
      }),
    )
  })

  it('refuses what cannot resume: no rows, another version, a state that is gone', () => {
    const tags = [
      resumePoint<string>('w', [], { version: 1, isKnown: known }),
      resumePoint<string>('w', [entry(0, 'A')], { version: 2, isKnown: known }),
      resume([entry(0, 'Gone')]),
    ].map((p) => (E.isLeft(p) ? (p.left as { _tag: string })._tag : 'Right'))
    expect(tags).to.deep.equal(['CheckpointStore', 'WorkflowVersionMismatch', 'Workflow'])
  })

  it('maps an old version through a migration', () => {
    const p = resumePoint<'Fetch'>('w', [entry(0, 'Download')], {
      version: 2,
      isKnown: () => true,
      migrations: { 1: () => 'Fetch' },
    })
    expect(E.isRight(p) && p.right._tag === 'State' ? p.right.state : undefined).to.equal('Fetch')
  })
})

describe('the rows the driver writes', () => {
  it('are shaped exactly as before rows were typed', () => {
    const drafts: ReadonlyArray<readonly [RowDraft, unknown]> = [
      [stateEntry(undefined), null],
      [stateEntry(FRESH), null],
      [stateEntry({ _tag: 'Cursor', cursor: { page: 4 }, step: 4 }), { cursor: { page: 4 }, step: 4 }],
      [stateEntry({ _tag: 'Timer', wakeAt: 5 }), { wakeAt: 5 }],
      [stateEntry({ _tag: 'Stream', position: { windows: 1, items: 2 } }), { windows: 1, items: 2 }],
      [stateEntry({ _tag: 'Supersedes', seq: 3 }), { supersedes: 3 }],
      [stepCursor('c', 2), { cursor: 'c', step: 2 }],
      [timerArmed(7), { wakeAt: 7 }],
      [
        timerArmed(8, { polls: 2, errors: 0, attempt: 1, deadlineAt: 20 }),
        { wakeAt: 8, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: 20 } },
      ],
      [
        stateEntry({ _tag: 'Timer', wakeAt: 8, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: null } }),
        { wakeAt: 8, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: null } },
      ],
      [streamWindow({ windows: 1, items: 2 }), { windows: 1, items: 2 }],
      [compensationCompletion({ id: 1 }), { id: 1 }],
      [compensationDone(4), { undid: 4 }],
      [rollbackStarted(timeoutError(50)), CanoErrorCodec.encode(timeoutError(50))],
    ]
    for (const [draft, payload] of drafts) {
      expect(draft.payload, draft.kind).to.deep.equal(payload)
      const r = checkpointRow(draft, 'w', 0, 'S', 's', 1, 0)
      expect(CheckpointRow.decode(r), draft.kind).to.deep.equal(E.right(r))
    }
  })

  it('records an error that does not encode as a Generic error with its message', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    const draft = rollbackStarted(taskExecutionError('boom', cyclic))
    expect(CheckpointRow.is(checkpointRow(draft, 'w', 0, 'S', 's', 1, 0))).to.equal(true)
    expect(CanoErrorCodec.decode(draft.payload)).to.satisfy(E.isRight)
  })

  it('round-trips each continuation through the entry row it writes', () => {
    const continuations: ReadonlyArray<Continuation> = [
      FRESH,
      { _tag: 'Cursor', cursor: [1, 2], step: 2 },
      { _tag: 'Timer', wakeAt: 9 },
      { _tag: 'Timer', wakeAt: 9, poll: { polls: 4, errors: 2, attempt: 3, deadlineAt: 12 } },
      { _tag: 'Stream', position: { windows: 3, items: 30 } },
    ]
    for (const c of continuations) {
      const rows = [entry(0, 'X'), { ...checkpointRow(stateEntry(c), 'w', 1, 'X', 'X', 1, 1) }]
      const p = resume(rows)
      expect(E.isRight(p) && p.right._tag === 'State' ? p.right.continues : undefined, c._tag).to.deep.equal(c)
    }
  })
})

describe('run notes (the first row of a run whose observers keep them)', () => {
  const notes = { otel: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, other: [1] }

  it('are handed back with the resume point; the noted entry continues afresh', () => {
    const p = resume([checkpointRow(notedEntry(notes), 'w', 0, 'A', 'A', 1, 0)])
    expect(p).to.deep.equal(
      E.right({ _tag: 'State', state: 'A', fromSeq: 0, nextSeq: 1, version: 1, stack: [], notes, continues: FRESH }),
    )
  })

  it('come from the first row only, and a rollback keeps them too', () => {
    const rows = [
      checkpointRow(notedEntry(notes), 'w', 0, 'A', 'A', 1, 0),
      row(1, 'CompensationCompletion', 'A', 'out'),
      entry(2, 'B'),
      row(3, 'RollbackStarted', 'B', { _tag: 'TaskExecution', message: 'b failed' }),
    ]
    const p = resume(rows)
    expect(E.isRight(p) && p.right._tag === 'Rollback' ? p.right.notes : 'not a rollback').to.deep.equal(notes)
  })

  it('are absent from the resume point of a log without them (an older log: null in its first row)', () => {
    const p = resume([entry(0, 'A'), entry(1, 'B')])
    expect(E.isRight(p) && 'notes' in p.right).to.equal(false)
  })
})
