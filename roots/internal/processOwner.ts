/**
 * `processOwner`: the owner name of this process's runs in a run table, when none is given: the process
 * id (where there is one) and a random suffix, so that two processes, or a process restarted with the
 * same pid, never share a name.
 *
 * @internal
 * @since 0.2.0
 */
import { mintWorkflowId } from '../../src/mintWorkflowId.js'

/** @internal */
export const processOwner = (): string => {
  const pid = (globalThis as { readonly process?: { readonly pid?: number } }).process?.pid
  const suffix = mintWorkflowId().slice(0, 8)
  return pid === undefined ? `owner-${suffix}` : `pid-${String(pid)}-${suffix}`
}

let own: string | undefined

/** @internal The owner name of this process's runs started outside a runtime (one per process). */
export const thisProcess = (): string => (own ??= processOwner())
