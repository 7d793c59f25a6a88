/**
 * Type tests for the run table (compiled by `tsc --noEmit`, never run): the codec every store decodes a
 * record through agrees with the hand-written types of src/RunTable.ts, and the built-in stores are
 * `RunStore`s.
 */
import type * as t from 'io-ts'

import { RunRecordCodec, RunRecordStatusCodec } from '../../codecs/RunRecord.js'
import { type CheckpointStore, memoryCheckpoints, type RunStore } from '../../src/CheckpointStore.js'
import type { RunRecord, RunRecordStatus, RunTable } from '../../src/RunTable.js'
import { assertType, type Equals } from './helpers.js'

assertType<Equals<t.TypeOf<typeof RunRecordCodec>, RunRecord>>()
assertType<Equals<t.TypeOf<typeof RunRecordStatusCodec>, RunRecordStatus>>()
assertType<Equals<ReturnType<typeof memoryCheckpoints>, RunStore>>()

// A 0.1 adapter without a run table still is a CheckpointStore.
const legacy: CheckpointStore = {
  append: () => Promise.resolve(),
  loadRun: () => Promise.resolve([]),
  clear: () => Promise.resolve(),
  listRuns: () => Promise.resolve([]),
  close: () => Promise.resolve(),
}
// @ts-expect-error a RunStore needs its run table
export const notARunStore: RunStore = legacy
declare const store: RunStore
export const table: RunTable = store.runs
