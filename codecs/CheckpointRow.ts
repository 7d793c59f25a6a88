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
 * - `payload` is a JSON value (a cursor, a saga output, a timer deadline) or `null`.
 * - `version` is the workflow definition's version, `at` the wall-clock time in epoch milliseconds.
 *
 * Strings must be portable across every adapter: no NUL character and no unpaired UTF-16 surrogate
 * (PostgreSQL rejects both), so a row that works on the in-memory store also works on the others.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

// -------------------------------------------------------------------------------------
// internal refinements
// -------------------------------------------------------------------------------------

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** @internal Can every adapter store this string unchanged? */
const isPortableString = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s)

/** @internal A primitive codec that accepts only the values passing `ok`. */
const refined = <A extends string | number>(
  name: string,
  guard: (u: unknown) => u is A,
  ok: (a: A) => boolean,
): t.Type<A> =>
  new t.Type<A>(
    name,
    (u): u is A => guard(u) && ok(u),
    (u, c) => (guard(u) && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )

const isNumber = (u: unknown): u is number => typeof u === 'number'
const isString = (u: unknown): u is string => typeof u === 'string'

const PortableString = /*#__PURE__*/ refined('PortableString', isString, isPortableString)
const NonEmptyString = /*#__PURE__*/ refined('NonEmptyString', isString, (s) => s.length > 0 && isPortableString(s))
const NonNegativeSafeInteger = /*#__PURE__*/ refined(
  'NonNegativeSafeInteger',
  isNumber,
  (n) => Number.isSafeInteger(n) && n >= 0,
)
const PositiveSafeInteger = /*#__PURE__*/ refined(
  'PositiveSafeInteger',
  isNumber,
  (n) => Number.isSafeInteger(n) && n > 0,
)
const EpochMillis = /*#__PURE__*/ refined('EpochMillis', isNumber, (n) => Number.isSafeInteger(n) && n >= 0)

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
  (u): u is JsonValue => findInvalid(u, [], new Set()) === undefined,
  (u, c) => {
    const bad = findInvalid(u, [], new Set())
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

/**
 * io-ts codec for {@link CheckpointRow}. Decoding never throws and strips unknown fields; a failure
 * names the field (`Invalid value -1 supplied to : CheckpointRow/seq: NonNegativeSafeInteger`).
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
export const CheckpointRow = /*#__PURE__*/ t.readonly(
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
 * One entry of a run's checkpoint log.
 *
 * @example
 * import type { CheckpointRow } from 'cano-rx'
 * const row: CheckpointRow = {
 *   workflowId: 'order-42', seq: 3, kind: 'StepCursor', state: 'Scan', taskId: 'scan',
 *   payload: { page: 4 }, version: 1, at: Date.now(),
 * }
 * @category model
 * @since 0.1.0
 */
export type CheckpointRow = t.TypeOf<typeof CheckpointRow>

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
