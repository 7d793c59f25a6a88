/**
 * `WorkflowId`: the id of one run (its checkpoint key, the `workflowId` of its events), as a branded
 * string. A `WorkflowId` is non-empty and portable (no NUL character, no unpaired UTF-16 surrogate),
 * so every checkpoint adapter can store it: an id that is not is refused when the run starts, never at
 * its first append. Ids are decoded once, at the public entry (src/RunOptions.ts), or minted
 * (src/mintWorkflowId.ts).
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

import { isPortableString } from './internal/isPortableString.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal The brand of a checked run id. */
export interface WorkflowIdBrand {
  readonly WorkflowId: unique symbol
}

/**
 * @internal The codec of a run id: a non-empty, portable string.
 */
export const WorkflowId = t.brand(
  t.string,
  (s): s is t.Branded<string, WorkflowIdBrand> => s.length > 0 && isPortableString(s),
  'WorkflowId',
)

/** @internal A checked run id. */
export type WorkflowId = t.TypeOf<typeof WorkflowId>
