/**
 * `RunRecord` codec: the io-ts codec every store decodes a run-table row through when it reads one
 * back, so a corrupt row is a `DecodeFailed` error naming the run and the field instead of a wrong
 * value. The types are written by hand in `src/RunTable.ts` (with their documentation);
 * `test/types/RunTable.ts` checks that this codec and those types agree.
 *
 * @since 0.2.0
 */
import * as t from 'io-ts'

import { JsonValue } from './CheckpointRow.js'
import { EpochMillis, NonEmptyString, NonNegativeSafeInteger, PortableString } from './internal/primitives.js'

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/** @internal The codec of a run's status (`RunRecordStatus` in `src/RunTable.ts`). */
export const RunRecordStatusCodec = /*#__PURE__*/ t.keyof(
  {
    pending: null,
    running: null,
    parked: null,
    completed: null,
    failed: null,
    cancelled: null,
    timedOut: null,
  },
  'RunRecordStatus',
)

/** @internal The codec of one run-table record (`RunRecord` in `src/RunTable.ts`); unknown fields are stripped. */
export const RunRecordCodec = /*#__PURE__*/ t.readonly(
  t.strict({
    workflowId: NonEmptyString,
    workflow: PortableString,
    version: NonNegativeSafeInteger,
    initial: PortableString,
    status: RunRecordStatusCodec,
    owner: t.union([NonEmptyString, t.null]),
    leaseUntil: t.union([EpochMillis, t.null]),
    fence: NonNegativeSafeInteger,
    wakeAt: t.union([EpochMillis, t.null]),
    input: JsonValue,
    output: JsonValue,
    error: JsonValue,
    cancelRequested: t.boolean,
    createdAt: EpochMillis,
    updatedAt: EpochMillis,
    endedAt: t.union([EpochMillis, t.null]),
  }),
  'RunRecord',
)
