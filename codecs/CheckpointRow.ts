/**
 * `CheckpointRow`: one entry of a run's append-only checkpoint log, and the io-ts codec that owns its
 * shape. Every adapter (memory, SQLite, PostgreSQL, or your own) validates a row with this codec before
 * writing it and decodes every row it reads back through it, so a corrupt row is a `DecodeFailed`
 * error naming the run and the sequence, never a crash and never silently skipped.
 *
 * A row is `{ workflowId, seq, kind, state, taskId, payload, version, at }`:
 *
 * - `seq` is dense from 0 per run; `(workflowId, seq)` is unique in a store.
 * - `kind` says what the row records (`StateEntry` before a state's task runs, `CompensationCompletion`
 *   with a saga output, `StepCursor` after each `more`, and the cano-rx additions for durable timers,
 *   stream windows and rollback markers).
 * - `payload` is typed by `kind` ({@link CheckpointPayloads}): `null` or a JSON object for most kinds
 *   (a cursor, a timer deadline, a stream position, an encoded error), any JSON value for a saga output.
 * - `version` is the workflow definition's version, `at` the wall-clock time in epoch milliseconds.
 *
 * Strings must be portable across every adapter: no NUL character and no unpaired UTF-16 surrogate
 * (PostgreSQL rejects both), so a row that works on the in-memory store also works on the others.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

import { CanoErrorCodec } from './CanoError.js'
import { isPortableString } from './internal/isPortableString.js'
import {
  EpochMillis,
  NonEmptyString,
  NonNegativeSafeInteger,
  PortableString,
  PositiveSafeInteger,
} from './internal/primitives.js'

// -------------------------------------------------------------------------------------
// JSON values
// -------------------------------------------------------------------------------------

/**
 * A JSON value: `null`, a boolean, a finite number, a portable string, an array or a plain object of
 * JSON values.
 *
 * @example
 * import type { JsonValue } from 'cano-rx'
 * const cursor: JsonValue = { page: 3, seen: ['a', 'b'], done: false, note: null }
 * @category model
 * @since 0.1.0
 */
export type JsonValue =
  null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [key: string]: JsonValue }

interface Invalid {
  readonly path: ReadonlyArray<string>
  readonly value: unknown
}

const isPlainObject = (u: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** @internal The first place in `u` that is not JSON (depth first), or `undefined` when `u` is JSON. */
const findInvalid = (u: unknown, path: ReadonlyArray<string>, ancestors: Set<object>): Invalid | undefined => {
  if (u === null || typeof u === 'boolean') return undefined
  if (typeof u === 'number') return Number.isFinite(u) ? undefined : { path, value: u }
  if (typeof u === 'string') return isPortableString(u) ? undefined : { path, value: u }
  if (typeof u !== 'object') return { path, value: u } // undefined, function, bigint, symbol
  if (ancestors.has(u) || !(Array.isArray(u) || isPlainObject(u))) return { path, value: u }
  ancestors.add(u)
  try {
    if (Array.isArray(u)) {
      for (let i = 0; i < u.length; i++) {
        const bad = findInvalid((u as ReadonlyArray<unknown>)[i], [...path, String(i)], ancestors)
        if (bad !== undefined) return bad
      }
      return undefined
    }
    for (const [key, value] of Object.entries(u)) {
      if (!isPortableString(key)) return { path: [...path, key], value: key }
      const bad = findInvalid(value, [...path, key], ancestors)
      if (bad !== undefined) return bad
    }
    return undefined
  } finally {
    ancestors.delete(u)
  }
}

/** What {@link checked} answers for a value nested deeper than the stack lets it walk. */
const TOO_DEEP = 'too deep'

/** {@link findInvalid} from the root; a value nested past the stack is {@link TOO_DEEP}, never a `RangeError`. */
const checked = (u: unknown): Invalid | undefined | typeof TOO_DEEP => {
  try {
    return findInvalid(u, [], new Set())
  } catch (e: unknown) {
    if (e instanceof RangeError) return TOO_DEEP
    throw e
  }
}

/**
 * io-ts codec for {@link JsonValue}. It rejects what `JSON.stringify` would drop or change: `undefined`,
 * functions, symbols, bigints, `NaN` and infinities, class instances (`Date`, `Map`), cycles, NUL
 * characters and unpaired surrogates. A failure's path points at the offending value
 * (`…/payload: JsonValue/items: JsonValue/2: JsonValue`). Encoding is the identity.
 *
 * @example
 * import { JsonValue } from 'cano-rx'
 * JsonValue.is({ page: 1, tags: ['a'] }) // true
 * JsonValue.is({ page: Number.NaN }) // false
 * @category codecs
 * @since 0.1.0
 */
export const JsonValue: t.Type<JsonValue> = new t.Type<JsonValue>(
  'JsonValue',
  (u): u is JsonValue => checked(u) === undefined,
  (u, c) => {
    const bad = checked(u)
    if (bad === TOO_DEEP) return t.failure(u, c, 'a JSON value nested deeper than the stack can check')
    if (bad === undefined) return t.success(u as JsonValue)
    let context: t.Context = c
    let actual: unknown = u
    for (const key of bad.path) {
      actual = (actual as Record<string, unknown>)[key]
      context = [...context, { key, type: JsonValue, actual }]
    }
    return t.failure(bad.value, context)
  },
  t.identity,
)

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * io-ts codec for the kind of a checkpoint row. `StateEntry`, `CompensationCompletion` and `StepCursor`
 * are cano's; `TimerArmed`, `StreamWindow`, `RollbackStarted` and `CompensationDone` are the cano-rx
 * additions for durable timers, stream windows and resumable rollbacks.
 *
 * @example
 * import { CheckpointKind } from 'cano-rx'
 * CheckpointKind.is('StepCursor') // true
 * @category codecs
 * @since 0.1.0
 */
export const CheckpointKind = /*#__PURE__*/ t.keyof(
  {
    StateEntry: null,
    CompensationCompletion: null,
    StepCursor: null,
    TimerArmed: null,
    StreamWindow: null,
    RollbackStarted: null,
    CompensationDone: null,
  },
  'CheckpointKind',
)

/**
 * What a checkpoint row records.
 *
 * @example
 * import type { CheckpointKind } from 'cano-rx'
 * const kind: CheckpointKind = 'StateEntry'
 * @category model
 * @since 0.1.0
 */
export type CheckpointKind = t.TypeOf<typeof CheckpointKind>

// -------------------------------------------------------------------------------------
// payloads
// -------------------------------------------------------------------------------------

/**
 * The payload of a `StepCursor` row (and of the entry row of a resumed `stepped` state): the encoded
 * cursor and the number of the step that produced it.
 *
 * @example
 * import type { CursorPayload } from 'cano-rx'
 * const p: CursorPayload = { cursor: { page: 4 }, step: 4 }
 * @category model
 * @since 0.2.0
 */
export interface CursorPayload {
  readonly cursor: JsonValue
  readonly step: number
}

/**
 * The payload of a `TimerArmed` row (and of the entry row of a resumed `timer` state): the wake-up
 * instant in epoch milliseconds of the run's clock. A `poll` state that made a long delay durable (so
 * that its run could park) writes the same row with `poll`: where its loop stood.
 *
 * @example
 * import type { TimerPayload } from 'cano-rx'
 * const p: TimerPayload = { wakeAt: 1_700_000_060_000 }
 * const polling: TimerPayload = { wakeAt: 1_700_003_600_000, poll: { polls: 4, errors: 0, attempt: 1, deadlineAt: null } }
 * @category model
 * @since 0.2.0
 */
export interface TimerPayload {
  readonly wakeAt: number
  /** The poll loop waiting until `wakeAt` (absent for a `timer` state). */
  readonly poll?: PollPosition
}

/**
 * Where a `poll` state's loop stood when it made a delay durable: the polls made and the consecutive
 * errors tolerated so far in this attempt, the attempt's number, and when the attempt times out
 * (`attemptTimeoutMs` after it started; `null` without an attempt timeout). A resumed poll continues from
 * there: the next poll at the `TimerPayload`'s `wakeAt`, its counts and its attempt's deadline kept.
 *
 * @example
 * import type { PollPosition } from 'cano-rx'
 * const p: PollPosition = { polls: 12, errors: 1, attempt: 2, deadlineAt: 1_700_086_400_000 }
 * @category model
 * @since 0.2.0
 */
export interface PollPosition {
  readonly polls: number
  readonly errors: number
  readonly attempt: number
  readonly deadlineAt: number | null
}

/**
 * The payload of a `StreamWindow` row (and of the entry row of a resumed `stream` state): windows
 * handled and items consumed so far.
 *
 * @example
 * import type { StreamPayload } from 'cano-rx'
 * const p: StreamPayload = { windows: 3, items: 300 }
 * @category model
 * @since 0.2.0
 */
export interface StreamPayload {
  readonly windows: number
  readonly items: number
  /** A per-item stream's (`streamItems`) committed application cursor, as its codec encodes it. @since 0.4.0 */
  readonly itemCursor?: JsonValue
}

/**
 * The payload of the entry row of a resumed `saga` state whose completion was the log's last row: the
 * `seq` of that `CompensationCompletion` row, which the state's fresh completion replaces.
 *
 * @example
 * import type { SupersedesPayload } from 'cano-rx'
 * const p: SupersedesPayload = { supersedes: 5 }
 * @category model
 * @since 0.2.0
 */
export interface SupersedesPayload {
  readonly supersedes: number
}

/**
 * The payload of the first row of a run (`seq` 0, the entry of its initial state) when its observers
 * keep notes with the run (`WorkflowObserver.note`): the notes by key, handed back to the observers
 * of a resumed run (`RunInfo.notes`). A run whose observers keep none writes `null` there, as before.
 *
 * @example
 * import type { RunNotesPayload } from 'cano-rx'
 * const p: RunNotesPayload = { notes: { otel: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } } }
 * @category model
 * @since 0.3.0
 */
export interface RunNotesPayload {
  readonly notes: { readonly [key: string]: JsonValue }
}

/**
 * The payload of a `StateEntry` row: `null` for a state entered afresh; for the resume state of a
 * resumed run, where it continues from (a cursor, a wake-up instant, a stream position) or which
 * completion it replaces; for the first row of a run whose observers keep notes, those notes.
 *
 * @example
 * import type { StateEntryPayload } from 'cano-rx'
 * const fresh: StateEntryPayload = null
 * const resumed: StateEntryPayload = { cursor: 'page-4', step: 4 }
 * @category model
 * @since 0.2.0
 */
export type StateEntryPayload =
  null | CursorPayload | TimerPayload | StreamPayload | SupersedesPayload | RunNotesPayload

/**
 * The payload of a `RollbackStarted` row: the error that started the rollback, as `CanoErrorCodec`
 * encodes it (plain JSON tagged by `_tag`). The row codec checks that it decodes as a `CanoError`.
 *
 * @example
 * import type { EncodedCanoError } from 'cano-rx'
 * const p: EncodedCanoError = { _tag: 'TaskExecution', message: 'ship failed' }
 * @category model
 * @since 0.2.0
 */
export interface EncodedCanoError {
  readonly _tag: string
  readonly message: string
  readonly [field: string]: JsonValue
}

/**
 * The payload of a `CompensationDone` row: the `seq` of the `CompensationCompletion` row whose
 * compensation ran.
 *
 * @example
 * import type { CompensationDonePayload } from 'cano-rx'
 * const p: CompensationDonePayload = { undid: 3 }
 * @category model
 * @since 0.2.0
 */
export interface CompensationDonePayload {
  readonly undid: number
}

/**
 * The payload each row kind carries. `CompensationCompletion` holds the saga step's encoded output,
 * any JSON value.
 *
 * @example
 * import type { CheckpointPayloads } from 'cano-rx'
 * const cursor: CheckpointPayloads['StepCursor'] = { cursor: null, step: 1 }
 * @category model
 * @since 0.2.0
 */
export interface CheckpointPayloads {
  readonly StateEntry: StateEntryPayload
  readonly CompensationCompletion: JsonValue
  readonly StepCursor: CursorPayload
  readonly TimerArmed: TimerPayload
  readonly StreamWindow: StreamPayload
  readonly RollbackStarted: EncodedCanoError
  readonly CompensationDone: CompensationDonePayload
}

/** @internal A strict (unknown fields stripped) readonly object codec over JSON payloads. */
const payloadOf = <P extends t.Props>(props: P, name: string) => t.readonly(t.strict(props, name), name)

const Cursor = /*#__PURE__*/ payloadOf({ cursor: JsonValue, step: NonNegativeSafeInteger }, 'CursorPayload')
const PollPositionCodec = /*#__PURE__*/ payloadOf(
  {
    polls: NonNegativeSafeInteger,
    errors: NonNegativeSafeInteger,
    attempt: PositiveSafeInteger,
    deadlineAt: t.union([t.number, t.null]),
  },
  'PollPosition',
)
const PlainTimer = /*#__PURE__*/ payloadOf({ wakeAt: t.number }, 'TimerPayload')
const PollTimer = /*#__PURE__*/ payloadOf({ wakeAt: t.number, poll: PollPositionCodec }, 'TimerPayload')

const hasPoll = (u: unknown): boolean =>
  typeof u === 'object' && u !== null && (u as { readonly poll?: unknown }).poll !== undefined

/** `TimerArmed` payloads: a wake-up instant, with a poll's position when the object has one. */
const Timer: t.Type<TimerPayload, TimerPayload> = new t.Type<TimerPayload, TimerPayload, unknown>(
  'TimerPayload',
  (u): u is TimerPayload => (hasPoll(u) ? PollTimer.is(u) : PlainTimer.is(u)),
  (u, c) => (hasPoll(u) ? PollTimer.validate(u, c) : PlainTimer.validate(u, c)),
  t.identity,
)
const StreamBase = /*#__PURE__*/ payloadOf(
  { windows: NonNegativeSafeInteger, items: NonNegativeSafeInteger },
  'StreamPayload',
)
const hasItemCursor = (u: unknown): u is { readonly itemCursor: unknown } =>
  typeof u === 'object' && u !== null && (u as { readonly itemCursor?: unknown }).itemCursor !== undefined

/** `StreamWindow` payloads: the position, and a per-item stream's committed cursor when the object has one. */
const StreamPosition: t.Type<StreamPayload, StreamPayload> = new t.Type<StreamPayload, StreamPayload, unknown>(
  'StreamPayload',
  (u): u is StreamPayload => StreamBase.is(u) && (!hasItemCursor(u) || JsonValue.is(u.itemCursor)),
  (u, c) => {
    const base = StreamBase.validate(u, c)
    if (base._tag === 'Left' || !hasItemCursor(u)) return base
    const cursor = JsonValue.validate(u.itemCursor, [
      ...c,
      { key: 'itemCursor', type: JsonValue, actual: u.itemCursor },
    ])
    return cursor._tag === 'Left' ? cursor : t.success({ ...base.right, itemCursor: cursor.right })
  },
  t.identity,
)
const Supersedes = /*#__PURE__*/ payloadOf({ supersedes: NonNegativeSafeInteger }, 'SupersedesPayload')
const CompensationDonePayload = /*#__PURE__*/ payloadOf({ undid: NonNegativeSafeInteger }, 'CompensationDonePayload')
const RunNotes = /*#__PURE__*/ payloadOf(
  { notes: t.readonly(t.record(t.string, JsonValue), 'RunNotes') },
  'RunNotesPayload',
)

const isObject = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === 'object' && u !== null && !Array.isArray(u)

/**
 * `StateEntry` payloads: `null`, or the one shape whose key the object has (`cursor`, `wakeAt`,
 * `windows`, `supersedes`, `notes`), so a failure names that shape's field rather than every alternative.
 */
const StateEntryPayload: t.Type<StateEntryPayload, StateEntryPayload> = new t.Type<
  StateEntryPayload,
  StateEntryPayload,
  unknown
>(
  'StateEntryPayload',
  (u): u is StateEntryPayload =>
    u === null || Cursor.is(u) || Timer.is(u) || StreamPosition.is(u) || Supersedes.is(u) || RunNotes.is(u),
  (u, c) => {
    if (u === null) return t.success(null)
    if (isObject(u)) {
      if ('cursor' in u) return Cursor.validate(u, c)
      if ('wakeAt' in u) return Timer.validate(u, c)
      if ('windows' in u) return StreamPosition.validate(u, c)
      if ('supersedes' in u) return Supersedes.validate(u, c)
      if ('notes' in u) return RunNotes.validate(u, c)
    }
    return t.failure(u, c)
  },
  t.identity,
)

/** `RollbackStarted` payloads: an object that `CanoErrorCodec` decodes; kept as the JSON it is. */
const EncodedError: t.Type<EncodedCanoError, EncodedCanoError> = new t.Type<
  EncodedCanoError,
  EncodedCanoError,
  unknown
>(
  'EncodedCanoError',
  (u): u is EncodedCanoError => isObject(u) && CanoErrorCodec.is(u),
  (u, c) => {
    if (!isObject(u)) return t.failure(u, c)
    const decoded = CanoErrorCodec.validate(u, c)
    return decoded._tag === 'Left' ? decoded : t.success(u as EncodedCanoError)
  },
  t.identity,
)

/** The payload codec of each row kind (payloads are checked as {@link JsonValue} first). */
const payloadCodecs: { readonly [K in CheckpointKind]: t.Type<CheckpointPayloads[K], CheckpointPayloads[K]> } = {
  StateEntry: StateEntryPayload,
  CompensationCompletion: JsonValue,
  StepCursor: Cursor,
  TimerArmed: Timer,
  StreamWindow: StreamPosition,
  RollbackStarted: EncodedError,
  CompensationDone: CompensationDonePayload,
}

// -------------------------------------------------------------------------------------
// rows
// -------------------------------------------------------------------------------------

const isCount = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0
const isPortable = (u: unknown): u is string => typeof u === 'string' && isPortableString(u)

/**
 * The row of the commonest write, checked without io-ts contexts: a plain object whose envelope is valid
 * and whose payload is `null` under a kind that takes `null` (a fresh `StateEntry`). The same fields and
 * the same outcome as the codec's own path, which `undefined` defers to (any other row, or an invalid one).
 */
const plainNullRow = (u: unknown): CheckpointRow | undefined => {
  if (typeof u !== 'object' || u === null || Object.prototype.toString.call(u) !== '[object Object]') return undefined
  const { workflowId, seq, kind, state, taskId, payload, version, at } = u as Readonly<Record<string, unknown>>
  if (payload !== null || (kind !== 'StateEntry' && kind !== 'CompensationCompletion')) return undefined
  if (!isPortable(workflowId) || workflowId.length === 0 || !isPortable(state) || !isPortable(taskId)) return undefined
  if (!isCount(seq) || !isCount(version) || !isCount(at)) return undefined
  return { workflowId, seq, kind, state, taskId, payload, version, at }
}

const Envelope = /*#__PURE__*/ t.readonly(
  t.strict({
    workflowId: NonEmptyString,
    seq: NonNegativeSafeInteger,
    kind: CheckpointKind,
    state: PortableString,
    taskId: PortableString,
    payload: JsonValue,
    version: NonNegativeSafeInteger,
    at: EpochMillis,
  }),
  'CheckpointRow',
)

/**
 * A checkpoint row of one kind: the common fields and that kind's payload.
 *
 * @example
 * import type { CheckpointRowOf } from 'cano-rx'
 * const row: CheckpointRowOf<'TimerArmed'> = {
 *   workflowId: 'order-42', seq: 2, kind: 'TimerArmed', state: 'Wait', taskId: 'Wait',
 *   payload: { wakeAt: 1_700_000_060_000 }, version: 1, at: 1_700_000_000_000,
 * }
 * @category model
 * @since 0.2.0
 */
export interface CheckpointRowOf<K extends CheckpointKind> {
  readonly workflowId: string
  readonly seq: number
  readonly kind: K
  readonly state: string
  readonly taskId: string
  readonly payload: CheckpointPayloads[K]
  readonly version: number
  readonly at: number
}

/**
 * One entry of a run's checkpoint log: a union tagged by `kind`, each kind with its typed payload
 * ({@link CheckpointPayloads}).
 *
 * @example
 * import type { CheckpointRow } from 'cano-rx'
 * const row: CheckpointRow = {
 *   workflowId: 'order-42', seq: 3, kind: 'StepCursor', state: 'Scan', taskId: 'scan',
 *   payload: { cursor: { page: 4 }, step: 4 }, version: 1, at: Date.now(),
 * }
 * @category model
 * @since 0.1.0
 */
export type CheckpointRow = { readonly [K in CheckpointKind]: CheckpointRowOf<K> }[CheckpointKind]

/**
 * io-ts codec for {@link CheckpointRow}. Decoding never throws and strips unknown fields; it checks the
 * common fields, that the payload is JSON, then the payload against its kind's shape. A failure names
 * the field (`Invalid value -1 supplied to : CheckpointRow/seq: NonNegativeSafeInteger`,
 * `… : CheckpointRow/payload: TimerPayload/wakeAt: number`). Encoding is the identity: the wire shape
 * is the row itself.
 *
 * @example
 * import { CheckpointRow } from 'cano-rx'
 * const decoded = CheckpointRow.decode({
 *   workflowId: 'order-42', seq: 0, kind: 'StateEntry', state: 'Fetch', taskId: 'fetch',
 *   payload: null, version: 1, at: 1_700_000_000_000,
 * })
 * @category codecs
 * @since 0.1.0
 */
export const CheckpointRow: t.Type<CheckpointRow, CheckpointRow> = new t.Type<CheckpointRow, CheckpointRow, unknown>(
  'CheckpointRow',
  (u): u is CheckpointRow => Envelope.is(u) && payloadCodecs[u.kind].is(u.payload),
  (u, c) => {
    const plain = plainNullRow(u)
    if (plain !== undefined) return t.success(plain)
    const envelope = Envelope.validate(u, c)
    if (envelope._tag === 'Left') return envelope
    const row = envelope.right
    const codec: t.Decoder<unknown, unknown> = payloadCodecs[row.kind]
    const payload = codec.validate(row.payload, [...c, { key: 'payload', type: codec, actual: row.payload }])
    if (payload._tag === 'Left') return payload
    return t.success({ ...row, payload: payload.right } as CheckpointRow)
  },
  t.identity,
)

/**
 * io-ts codec for {@link RunSummary}.
 *
 * @example
 * import { RunSummary } from 'cano-rx'
 * RunSummary.is({ workflowId: 'a', lastSeq: 2, lastState: 'Scan', lastKind: 'StateEntry', version: 1, at: 0, rows: 3 }) // true
 * @category codecs
 * @since 0.1.0
 */
export const RunSummary = /*#__PURE__*/ t.readonly(
  t.strict({
    workflowId: NonEmptyString,
    lastSeq: NonNegativeSafeInteger,
    lastState: PortableString,
    lastKind: CheckpointKind,
    version: NonNegativeSafeInteger,
    at: EpochMillis,
    rows: PositiveSafeInteger,
  }),
  'RunSummary',
)

/**
 * A run that still has rows in a store (it has not finished, or its log was kept for recovery): its
 * last row's sequence, state, kind, version and time, and how many rows it has.
 *
 * @example
 * import { memoryCheckpoints, type RunSummary } from 'cano-rx'
 * const unfinished: Promise<ReadonlyArray<RunSummary>> = memoryCheckpoints().listRuns()
 * @category model
 * @since 0.1.0
 */
export type RunSummary = t.TypeOf<typeof RunSummary>
