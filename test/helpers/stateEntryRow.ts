/** A `StateEntry` checkpoint row of `workflowId` at `seq` (state `A`, task `a`, no payload): what store tests append. */
import type { CheckpointRow } from '../../codecs/CheckpointRow.js'

export const stateEntryRow = (workflowId: string, seq: number): CheckpointRow => ({
  workflowId,
  seq,
  kind: 'StateEntry',
  state: 'A',
  taskId: 'a',
  payload: null,
  version: 1,
  at: 0,
})
