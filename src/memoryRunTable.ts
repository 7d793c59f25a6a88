/**
 * `memoryRunTable`: the run table of the in-memory checkpoint store (`memoryCheckpoints` in
 * src/CheckpointStore.ts). The rules are src/internal/runTableLogic.ts's over a `Map`; every operation
 * runs synchronously inside one call, which is what makes it atomic in a single JavaScript thread (a
 * fenced append checks the fence and writes in the same synchronous step). Records are kept as JSON text
 * and decoded on every read, so a caller mutating what it passed or got back never changes what is
 * stored, and a corrupt record is a `DecodeFailed` error as on the SQL stores. `subscribe` calls the
 * listeners of this process, in a microtask after the write.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import { type RecordStorage, type RunTableExec, runTableLogic, runTableOver } from './internal/runTableLogic.js'
import { rejectInvalid } from './RunTable.js'
import { decodeRunRecord, isTerminal, newestFirst, type RunRecord, type RunTable } from './RunTable.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal One stored record: the record as JSON text, and when it is due (`null`: terminal). */
export interface StoredRun {
  readonly json: string
  readonly dueAt: number | null
}

/** @internal What the in-memory checkpoint store gives its run table. */
export interface MemoryRunTableDeps {
  readonly now: () => number
  /** The rejection for a call after `close()`, or `undefined` while open. */
  readonly whenClosed: () => Promise<never> | undefined
  /** Removes the checkpoint rows of a pruned run. */
  readonly dropLog: (workflowId: string) => void
}

/** @internal The in-memory run table and the fence check the checkpoint log runs before a fenced write. */
export interface MemoryRunTable {
  readonly runs: RunTable
  /** `undefined` when `fence` is the current token of `workflowId`, else the `LeaseLost` (or `DecodeFailed`) error. */
  readonly checkFence: (workflowId: string, fence: number) => CanoError | undefined
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The in-memory run table over `records` (workflow id -> stored record). */
export const memoryRunTableOver = (records: Map<string, StoredRun>, deps: MemoryRunTableDeps): MemoryRunTable => {
  const read = (workflowId: string): RunRecord | undefined => {
    const stored = records.get(workflowId)
    if (stored === undefined) return undefined
    let raw: unknown
    try {
      raw = JSON.parse(stored.json)
    } catch {
      raw = stored.json
    }
    return decodeRunRecord(workflowId, raw)
  }

  const storage: RecordStorage = {
    read,
    write: (r, dueAt) => {
      records.set(r.workflowId, { json: JSON.stringify(r), dueAt })
    },
    due: (now, limit, workflows) => {
      const due: Array<{ readonly workflowId: string; readonly dueAt: number }> = []
      for (const [workflowId, stored] of records)
        if (stored.dueAt !== null && stored.dueAt <= now) due.push({ workflowId, dueAt: stored.dueAt })
      due.sort((a, b) => a.dueAt - b.dueAt || (a.workflowId < b.workflowId ? -1 : 1))
      const out: Array<string> = []
      for (const { workflowId } of due) {
        if (out.length >= limit) break
        if (workflows !== undefined && !workflows.includes(read(workflowId)?.workflow ?? '\u0000')) continue
        out.push(workflowId)
      }
      return out
    },
    list: (filter) => {
      const out: Array<RunRecord> = []
      for (const workflowId of records.keys()) {
        const r = read(workflowId)
        if (r === undefined) continue
        if (filter?.status !== undefined && !filter.status.includes(r.status)) continue
        if (filter?.workflow !== undefined && r.workflow !== filter.workflow) continue
        out.push(r)
      }
      out.sort(newestFirst)
      return filter?.limit === undefined ? out : out.slice(0, filter.limit)
    },
    prune: (endedBefore) => {
      let removed = 0
      for (const workflowId of [...records.keys()]) {
        const r = read(workflowId)
        if (r === undefined || !isTerminal(r.status) || r.endedAt === null || r.endedAt >= endedBefore) continue
        records.delete(workflowId)
        deps.dropLog(workflowId)
        removed++
      }
      return removed
    },
    clearLog: (workflowId) => deps.dropLog(workflowId),
    atomically: (op) => op(),
  }
  const logic = runTableLogic(storage)

  const exec: RunTableExec = (_what, check, op) => {
    const closed = deps.whenClosed()
    if (closed !== undefined) return closed
    const invalid = rejectInvalid(check)
    if (invalid !== undefined) return invalid
    try {
      return Promise.resolve(op(logic, deps.now()))
    } catch (e: unknown) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
  }

  const listeners = new Set<(workflowId: string) => void>()
  const notify = (workflowId: string): void => {
    if (listeners.size === 0) return
    const current = [...listeners]
    queueMicrotask(() => {
      for (const listener of current) {
        try {
          listener(workflowId)
        } catch {
          // a listener never breaks a write
        }
      }
    })
  }

  const runs = runTableOver(exec, notify, (listener) => {
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
    }
  })
  return { runs, checkFence: logic.fenceError }
}
