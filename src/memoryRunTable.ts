/**
 * `memoryRunTable`: the run table of the in-memory checkpoint store (`memoryCheckpoints` in
 * src/CheckpointStore.ts). The rules are src/internal/runTableLogic.ts's over a `Map`; every operation
 * runs synchronously inside one call, which is what makes it atomic in a single JavaScript thread (a
 * fenced append checks the fence and writes in the same synchronous step). Records are kept as JSON text
 * (a record set by hand, as a test does to corrupt one, is decoded like any other: a corrupt record is a
 * `DecodeFailed` error as on the SQL stores). A record written here is kept decoded too (one set by hand is
 * decoded on its first read), and every read hands out a copy (its JSON fields copied too), so a caller mutating what it passed or got
 * back never changes what is stored. The runnable records are indexed by when they are due (a binary
 * heap), so a claim costs O(log n) per run it looks at rather than a scan and sort of every record: the
 * runtime claims on every write it hears of, and a table of thousands of ended runs stalled the event
 * loop for a tenth of a second per burst before. `subscribe` calls the listeners of this process, in a
 * microtask after the write.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { type DueEntry, dueHeap } from './internal/dueHeap.js'
import { type RecordStorage, type RunTableExec, runTableLogic, runTableOver } from './internal/runTableLogic.js'
import { rejectInvalid } from './RunTable.js'
import { decodeListed, decodeRunRecord, isTerminal, newestFirst, type RunRecord, type RunTable } from './RunTable.js'

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

/** A copy of a JSON value that shares nothing with it (a primitive is its own copy). */
const copyJson = (v: JsonValue): JsonValue =>
  v === null || typeof v !== 'object' ? v : (JSON.parse(JSON.stringify(v)) as JsonValue)

/** A copy of `r` that shares nothing with it (its JSON fields copied too). */
const copyRecord = (r: RunRecord): RunRecord => ({
  ...r,
  input: copyJson(r.input),
  output: copyJson(r.output),
  error: copyJson(r.error),
})

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The in-memory run table over `records` (workflow id -> stored record). */
export const memoryRunTableOver = (records: Map<string, StoredRun>, deps: MemoryRunTableDeps): MemoryRunTable => {
  /** Each stored record decoded (at its write here, or at its first read if it was set by hand); never handed out, only copies of it. */
  const decoded = new WeakMap<StoredRun, RunRecord>()
  const decodedOf = (workflowId: string, stored: StoredRun): RunRecord => {
    const hit = decoded.get(stored)
    if (hit !== undefined) return hit
    let raw: unknown
    try {
      raw = JSON.parse(stored.json)
    } catch {
      raw = stored.json
    }
    const record = decodeRunRecord(workflowId, raw)
    decoded.set(stored, record)
    return record
  }
  const read = (workflowId: string): RunRecord | undefined => {
    const stored = records.get(workflowId)
    if (stored === undefined) return undefined
    return copyRecord(decodedOf(workflowId, stored))
  }

  /** The workflow of a stored record; `undefined` when it does not decode. */
  const workflowOf = (workflowId: string, stored: StoredRun): string | undefined => {
    try {
      return decodedOf(workflowId, stored).workflow
    } catch {
      return undefined
    }
  }

  const heap = dueHeap()
  /** Pushes the stored record of `workflowId` into the heap when it is runnable; the heap is rebuilt once mostly stale. */
  const index = (workflowId: string, dueAt: number | null): void => {
    if (dueAt === null) return
    if (heap.size() > 4 * records.size + 1024) {
      heap.clear()
      for (const [id, stored] of records) if (stored.dueAt !== null) heap.push(stored.dueAt, id)
      return
    }
    heap.push(dueAt, workflowId)
  }
  // a table handed in with records (a test's) starts indexed
  for (const [id, stored] of records) index(id, stored.dueAt)

  const storage: RecordStorage = {
    read,
    write: (r, dueAt) => {
      const stored: StoredRun = { json: JSON.stringify(r), dueAt }
      records.set(r.workflowId, stored)
      // what was written needs no decoding to be read back: a copy sharing nothing with the caller's
      decoded.set(stored, copyRecord(r))
      index(r.workflowId, dueAt)
    },
    fenceOf: (workflowId) => {
      const stored = records.get(workflowId)
      return stored === undefined ? undefined : decoded.get(stored)?.fence
    },
    unqueue: (workflowId) => {
      const stored = records.get(workflowId)
      // its JSON as it is (it does not decode); no longer due, so its heap entry is stale
      if (stored !== undefined) records.set(workflowId, { json: stored.json, dueAt: null })
    },
    due: (now, limit, workflows) => {
      const out: Array<string> = []
      // entries taken off the heap that still stand (returned or passed over) go back on it: a claim may
      // fail or not take them all, and the next write of a claimed run makes its entry stale anyway
      const back: Array<DueEntry> = []
      const seen = new Set<string>()
      while (out.length < limit) {
        const top = heap.peek()
        if (top === undefined || top.dueAt > now) break
        heap.pop()
        const stored = records.get(top.workflowId)
        // stale: the record was written again since (or removed), or this entry was pushed twice
        if (stored === undefined || stored.dueAt !== top.dueAt || seen.has(top.workflowId)) continue
        seen.add(top.workflowId)
        back.push(top)
        // a record that does not decode is returned: the claim reading it takes it out of the due runs
        if (workflows !== undefined) {
          const workflow = workflowOf(top.workflowId, stored)
          if (workflow !== undefined && !workflows.includes(workflow)) continue
        }
        out.push(top.workflowId)
      }
      for (const entry of back) heap.push(entry.dueAt, entry.workflowId)
      return out
    },
    list: (filter) => {
      const out: Array<RunRecord> = []
      // a record set by hand that does not decode rejects the list, or goes to `onUnreadable`
      for (const r of decodeListed([...records.keys()], (id) => read(id) as RunRecord, String, filter)) {
        if (filter?.status !== undefined && !filter.status.includes(r.status)) continue
        if (filter?.workflow !== undefined && r.workflow !== filter.workflow) continue
        out.push(r)
      }
      out.sort(newestFirst)
      return filter?.limit === undefined ? out : out.slice(0, filter.limit)
    },
    prune: (endedBefore) => {
      let removed = 0
      for (const [workflowId, stored] of [...records]) {
        const r = decodedOf(workflowId, stored)
        if (!isTerminal(r.status) || r.endedAt === null || r.endedAt >= endedBefore) continue
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
