/**
 * `memoryRunTable`: the run table of the in-memory checkpoint store (`memoryCheckpoints` in
 * src/CheckpointStore.ts). It follows the rules of src/RunTable.ts; every method runs synchronously
 * inside one call, which is what makes it atomic in a single JavaScript thread (a fenced append checks
 * the fence and writes in the same synchronous step). Records are kept as JSON text and decoded on every
 * read, so a caller mutating what it passed or got back never changes what is stored, and a corrupt
 * record is a `DecodeFailed` error as on the SQL stores.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import { CanoFailure, leaseLostError, runOwnedError } from './CanoError.js'
import {
  checkClaim,
  checkClaimRun,
  checkFilter,
  checkFinish,
  checkNewRun,
  checkPrune,
  checkRelease,
  checkRenew,
  checkRunId,
  decodeRunRecord,
  dueAtOf,
  endedRunError,
  holderOf,
  isHeld,
  isTerminal,
  newestFirst,
  rejectInvalid,
  type RunRecord,
  type RunTable,
  unknownRunError,
} from './RunTable.js'

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
  const listeners = new Set<(workflowId: string) => void>()

  const notify = (workflowId: string): void => {
    if (listeners.size === 0) return
    const now = [...listeners]
    queueMicrotask(() => {
      for (const listener of now) {
        try {
          listener(workflowId)
        } catch {
          // a listener never breaks a write
        }
      }
    })
  }

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

  const write = (r: RunRecord, now: number): RunRecord => {
    records.set(r.workflowId, { json: JSON.stringify(r), dueAt: dueAtOf(r.status, r, now) })
    return r
  }

  /** Runs `op` unless the store is closed or `check` failed; a thrown `CanoFailure` becomes the rejection. */
  const run = <A>(check: Parameters<typeof rejectInvalid>[0], op: (now: number) => A): Promise<A> => {
    const closed = deps.whenClosed()
    if (closed !== undefined) return closed
    const invalid = rejectInvalid(check)
    if (invalid !== undefined) return invalid
    try {
      return Promise.resolve(op(deps.now()))
    } catch (e: unknown) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
  }

  /** The record of a fenced write: `running` under `fence`, else `LeaseLost`. */
  const held = (workflowId: string, fence: number): RunRecord => {
    const r = read(workflowId)
    if (r === undefined || r.fence !== fence || r.status !== 'running')
      throw new CanoFailure(leaseLostError(workflowId, fence, r === undefined ? null : holderOf(r)))
    return r
  }

  const checkFence = (workflowId: string, fence: number): CanoError | undefined => {
    try {
      const r = read(workflowId)
      if (r !== undefined && r.fence === fence) return undefined
      return leaseLostError(workflowId, fence, r === undefined ? null : holderOf(r))
    } catch (e: unknown) {
      if (e instanceof CanoFailure) return e.error
      throw e
    }
  }

  const runs: RunTable = {
    create: (newRun) =>
      run(checkNewRun(newRun), (now) => {
        const existing = read(newRun.workflowId)
        if (existing !== undefined) return { record: existing, created: false }
        const owner = newRun.owner ?? null
        const record = write(
          {
            workflowId: newRun.workflowId,
            workflow: newRun.workflow,
            version: newRun.version,
            initial: newRun.initial,
            status: owner !== null ? 'running' : newRun.wakeAt !== undefined ? 'parked' : 'pending',
            owner,
            leaseUntil: owner !== null ? now + (newRun.leaseMs ?? 0) : null,
            fence: owner !== null ? 1 : 0,
            wakeAt: newRun.wakeAt ?? null,
            input: newRun.input,
            output: null,
            error: null,
            cancelRequested: false,
            createdAt: now,
            updatedAt: now,
            endedAt: null,
          },
          now,
        )
        if (owner === null) notify(record.workflowId)
        return { record: read(record.workflowId) ?? record, created: true }
      }),

    get: (workflowId) => run(checkRunId('get', workflowId), () => read(workflowId)),

    list: (filter) =>
      run(checkFilter(filter), () => {
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
      }),

    claim: (owner, options) =>
      run(checkClaim(owner, options), (now) => {
        const due: Array<{ readonly workflowId: string; readonly dueAt: number }> = []
        for (const [workflowId, stored] of records)
          if (stored.dueAt !== null && stored.dueAt <= now) due.push({ workflowId, dueAt: stored.dueAt })
        due.sort((a, b) => a.dueAt - b.dueAt || (a.workflowId < b.workflowId ? -1 : 1))
        const out: Array<RunRecord> = []
        for (const { workflowId } of due) {
          if (out.length >= options.limit) break
          const r = read(workflowId)
          if (r === undefined || isTerminal(r.status)) continue
          if (options.workflows !== undefined && !options.workflows.includes(r.workflow)) continue
          out.push(claimed(r, owner, options.leaseMs, now))
        }
        return out
      }),

    claimRun: (workflowId, owner, leaseMs, reopen = false) =>
      run(checkClaimRun(workflowId, owner, leaseMs), (now) => {
        const r = read(workflowId)
        if (r === undefined) throw new CanoFailure(unknownRunError('claimRun', workflowId))
        if (isTerminal(r.status) && !(reopen && r.status === 'failed')) throw new CanoFailure(endedRunError(r))
        if (isHeld(r, now) && r.owner !== null && r.leaseUntil !== null)
          throw new CanoFailure(runOwnedError(workflowId, r.owner, r.leaseUntil))
        return claimed(r, owner, leaseMs, now)
      }),

    renew: (workflowId, fence, leaseMs) =>
      run(checkRenew(workflowId, fence, leaseMs), (now) => {
        const r = held(workflowId, fence)
        return write({ ...r, leaseUntil: now + leaseMs, updatedAt: now }, now)
      }),

    release: (workflowId, fence, wakeAt) =>
      run(checkRelease(workflowId, fence, wakeAt), (now) => {
        const r = held(workflowId, fence)
        write(
          {
            ...r,
            status: wakeAt === undefined ? 'pending' : 'parked',
            owner: null,
            leaseUntil: null,
            wakeAt: wakeAt ?? null,
            updatedAt: now,
          },
          now,
        )
        notify(workflowId)
      }),

    finish: (workflowId, fence, ending) =>
      run(checkFinish(workflowId, fence, ending), (now) => {
        let r: RunRecord
        if (fence !== undefined) r = held(workflowId, fence)
        else {
          const found = read(workflowId)
          if (found === undefined) throw new CanoFailure(unknownRunError('finish', workflowId))
          if (isTerminal(found.status)) throw new CanoFailure(endedRunError(found))
          if (isHeld(found, now) && found.owner !== null && found.leaseUntil !== null)
            throw new CanoFailure(runOwnedError(workflowId, found.owner, found.leaseUntil))
          r = found
        }
        return write(
          {
            ...r,
            status: ending.status,
            leaseUntil: null,
            wakeAt: null,
            output: ending.output,
            error: ending.error,
            updatedAt: now,
            endedAt: now,
          },
          now,
        )
      }),

    requestCancel: (workflowId) =>
      run(checkRunId('requestCancel', workflowId), (now) => {
        const r = read(workflowId)
        if (r === undefined || isTerminal(r.status)) return false
        write({ ...r, cancelRequested: true, updatedAt: now }, now)
        notify(workflowId)
        return true
      }),

    prune: (endedBefore) =>
      run(checkPrune(endedBefore), () => {
        let removed = 0
        for (const workflowId of [...records.keys()]) {
          const r = read(workflowId)
          if (r === undefined || !isTerminal(r.status) || r.endedAt === null || r.endedAt >= endedBefore) continue
          records.delete(workflowId)
          deps.dropLog(workflowId)
          removed++
        }
        return removed
      }),

    subscribe: (listener) => {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
  }

  const claimed = (r: RunRecord, owner: string, leaseMs: number, now: number): RunRecord =>
    write(
      {
        ...r,
        status: 'running',
        owner,
        leaseUntil: now + leaseMs,
        fence: r.fence + 1,
        wakeAt: null,
        // a reopened failed run is running again: its old outcome goes
        output: null,
        error: null,
        endedAt: null,
        updatedAt: now,
      },
      now,
    )

  return { runs, checkFence }
}
