/**
 * `mintWorkflowId`: the one place a run id is made up, for runs started without one
 * (`run$` / `orchestrate` on a workflow without a checkpoint store) and for the scheduler's runs.
 *
 * @internal
 * @since 0.1.0
 */
import type { WorkflowId } from '../codecs/WorkflowId.js'

/**
 * @internal A fresh random id (a UUID from the platform's Web Crypto, present in Node and browsers);
 * `prefix:uuid` when a prefix is given (the scheduler prefixes its flow's id). A UUID is non-empty and
 * ASCII, and a portable prefix stays portable, so the result is a `WorkflowId`.
 */
export const mintWorkflowId = (prefix?: WorkflowId): WorkflowId => {
  const uuid = globalThis.crypto.randomUUID()
  return (prefix === undefined ? uuid : `${prefix}:${uuid}`) as WorkflowId
}
