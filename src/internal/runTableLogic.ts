/**
 * @internal The rules of src/RunTable.ts over a synchronous record storage, shared by the stores whose
 * writes are synchronous: the in-memory store (src/memoryRunTable.ts) and SQLite
 * (roots/stores/sqliteCheckpoints.ts), whose `atomically` is one `BEGIN IMMEDIATE` transaction. Every
 * operation reads, decides and writes inside one `atomically` call, so a fence check and its write are
 * one transaction. PostgreSQL writes each operation as SQL statements of its own
 * (roots/stores/postgresCheckpoints.ts) and is held to the same rules by the same conformance suite.
 *
 * @since 0.2.0
 */
import type { CanoError } from '../../codecs/CanoError.js'
import { CanoFailure, leaseLostError, runOwnedError } from '../CanoError.js'
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
  dueAtOf,
  endedRunError,
  holderOf,
  isHeld,
  isTerminal,
  type NewRun,
  reportUnreadable,
  type RunEnding,
  type RunFilter,
  type RunRecord,
  type RunTable,
  unknownRunError,
} from '../RunTable.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal A synchronous record storage. Reads decode (a corrupt record throws `CanoFailure(DecodeFailed)`). */
export interface RecordStorage {
  readonly read: (workflowId: string) => RunRecord | undefined
  /** Inserts or replaces the record, with when it is due (`null`: terminal). */
  readonly write: (record: RunRecord, dueAt: number | null) => void
  /** Up to `limit` ids due at `now` (optionally of the named workflows), oldest due first, ties by id. */
  readonly due: (now: number, limit: number, workflows: ReadonlyArray<string> | undefined) => ReadonlyArray<string>
  /**
   * Takes a record that does not decode out of the runnable runs: never due again, its status `pending`
   * where it can be written, its other columns as they are (for repair).
   */
  readonly unqueue: (workflowId: string) => void
  /** The records matching `filter`, newest `createdAt` first, ties by id. */
  readonly list: (filter: RunFilter | undefined) => ReadonlyArray<RunRecord>
  /** Removes terminal records that ended before `endedBefore` and their log rows; returns how many records. */
  readonly prune: (endedBefore: number) => number
  /**
   * The run's fence alone, without decoding its record (the check of every fenced append; a fence that
   * differs, or a record that is missing or corrupt, is then read in full for the error). Optional.
   */
  readonly fenceOf?: (workflowId: string) => number | undefined
  /** Removes the run's checkpoint rows (inside the caller's transaction). */
  readonly clearLog: (workflowId: string) => void
  /** Runs `op` as one transaction. */
  readonly atomically: <A>(op: () => A) => A
}

/** @internal The operations of a run table over one {@link RecordStorage}, each one transaction. */
export interface RunTableLogic {
  readonly create: (run: NewRun, now: number) => { readonly record: RunRecord; readonly created: boolean }
  readonly get: (workflowId: string) => RunRecord | undefined
  readonly list: (filter: RunFilter | undefined) => ReadonlyArray<RunRecord>
  readonly claim: (
    owner: string,
    options: {
      readonly limit: number
      readonly leaseMs: number
      readonly workflows?: ReadonlyArray<string>
      readonly onUnreadable?: (workflowId: string, error: CanoError) => void
    },
    now: number,
  ) => ReadonlyArray<RunRecord>
  readonly claimRun: (workflowId: string, owner: string, leaseMs: number, now: number, reopen: boolean) => RunRecord
  readonly renew: (workflowId: string, fence: number, leaseMs: number, now: number) => RunRecord
  readonly release: (workflowId: string, fence: number, wakeAt: number | undefined, now: number) => void
  readonly finish: (
    workflowId: string,
    fence: number | undefined,
    ending: RunEnding,
    now: number,
    clearLog: boolean,
  ) => RunRecord
  readonly requestCancel: (workflowId: string, now: number) => boolean
  readonly prune: (endedBefore: number) => number
  /**
   * `undefined` when `fence` is the current token of `workflowId`, else the `LeaseLost` error (or the
   * `DecodeFailed` of a corrupt record). Call it inside the transaction of the fenced write.
   */
  readonly fenceError: (workflowId: string, fence: number) => CanoError | undefined
}

/**
 * @internal Runs `op` on the adapter's logic (`what` names it in driver errors), after the adapter's
 * closed and connection checks; rejects with `check` first when it is a failed argument check. `write`
 * marks an operation that writes one run's record (or claims runs): SQLite commits those in the group
 * commit of its appends; reads and `prune` run on their own.
 */
export type RunTableExec = <A>(
  what: string,
  check: ReturnType<typeof checkNewRun>,
  op: (logic: RunTableLogic, now: number) => A,
  write: boolean,
) => Promise<A>

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/** @internal The run-table rules over `storage`. */
export const runTableLogic = (storage: RecordStorage): RunTableLogic => {
  const { read, write, atomically } = storage

  const put = (r: RunRecord, now: number): RunRecord => {
    write(r, dueAtOf(r.status, r, now))
    return r
  }

  /** The record of a renewal, release or fenced finish: `running` under `fence`, else `LeaseLost`. */
  const held = (workflowId: string, fence: number): RunRecord => {
    const r = read(workflowId)
    if (r === undefined || r.fence !== fence || r.status !== 'running')
      throw new CanoFailure(leaseLostError(workflowId, fence, r === undefined ? null : holderOf(r)))
    return r
  }

  const claimed = (r: RunRecord, owner: string, leaseMs: number, now: number): RunRecord =>
    put(
      // a reopened ended run is running again: its old outcome goes, and so does a cancel request (the
      // cancelled run ended on it; reopening it is a new request to run)
      {
        ...r,
        cancelRequested: isTerminal(r.status) ? false : r.cancelRequested,
        status: 'running',
        owner,
        leaseUntil: now + leaseMs,
        fence: r.fence + 1,
        wakeAt: null,
        output: null,
        error: null,
        endedAt: null,
        updatedAt: now,
      },
      now,
    )

  return {
    create: (run, now) =>
      atomically(() => {
        const existing = read(run.workflowId)
        if (existing !== undefined) return { record: existing, created: false }
        const owner = run.owner ?? null
        const record: RunRecord = {
          workflowId: run.workflowId,
          workflow: run.workflow,
          version: run.version,
          initial: run.initial,
          status: owner !== null ? 'running' : run.wakeAt !== undefined ? 'parked' : 'pending',
          owner,
          leaseUntil: owner !== null ? now + (run.leaseMs ?? 0) : null,
          fence: owner !== null ? 1 : 0,
          wakeAt: run.wakeAt ?? null,
          input: run.input,
          output: null,
          error: null,
          cancelRequested: false,
          createdAt: now,
          updatedAt: now,
          endedAt: null,
        }
        put(record, now)
        // the caller gets a copy, never its own input object (the input is JSON: checkNewRun checked it),
        // without reading the record back
        return {
          record: { ...record, input: JSON.parse(JSON.stringify(run.input)) as RunRecord['input'] },
          created: true,
        }
      }),

    get: (workflowId) => atomically(() => read(workflowId)),

    list: (filter) => atomically(() => storage.list(filter)),

    claim: (owner, options, now) =>
      atomically(() => {
        const out: Array<RunRecord> = []
        // a due record that does not decode is taken out of the runnable runs and reported, and the
        // claim goes on with the next ones: one corrupt row never holds every other run back
        for (;;) {
          let unqueued = 0
          for (const workflowId of storage.due(now, options.limit - out.length, options.workflows)) {
            let r: RunRecord | undefined
            try {
              r = read(workflowId)
            } catch (e: unknown) {
              storage.unqueue(workflowId)
              unqueued++
              reportUnreadable('claim', options.onUnreadable, workflowId, e)
              continue
            }
            if (r === undefined) continue
            if (isTerminal(r.status)) {
              // a terminal record left due (edited by hand): no longer due, so it holds no claim's slot
              storage.unqueue(workflowId)
              unqueued++
              continue
            }
            out.push(claimed(r, owner, options.leaseMs, now))
          }
          if (unqueued === 0 || out.length >= options.limit) return out
        }
      }),

    claimRun: (workflowId, owner, leaseMs, now, reopen) =>
      atomically(() => {
        const r = read(workflowId)
        if (r === undefined) throw new CanoFailure(unknownRunError('claimRun', workflowId))
        if (isTerminal(r.status) && !(reopen && r.status !== 'completed')) throw new CanoFailure(endedRunError(r))
        if (isHeld(r, now) && r.owner !== null && r.leaseUntil !== null)
          throw new CanoFailure(runOwnedError(workflowId, r.owner, r.leaseUntil))
        return claimed(r, owner, leaseMs, now)
      }),

    renew: (workflowId, fence, leaseMs, now) =>
      atomically(() => put({ ...held(workflowId, fence), leaseUntil: now + leaseMs, updatedAt: now }, now)),

    release: (workflowId, fence, wakeAt, now) => {
      atomically(() => {
        const r = held(workflowId, fence)
        put(
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
      })
    },

    finish: (workflowId, fence, ending, now, clearLog) =>
      atomically(() => {
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
        if (clearLog) storage.clearLog(workflowId)
        return put(
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

    requestCancel: (workflowId, now) =>
      atomically(() => {
        const r = read(workflowId)
        if (r === undefined || isTerminal(r.status)) return false
        put({ ...r, cancelRequested: true, updatedAt: now }, now)
        return true
      }),

    prune: (endedBefore) => atomically(() => storage.prune(endedBefore)),

    fenceError: (workflowId, fence) => {
      if (storage.fenceOf?.(workflowId) === fence) return undefined
      let r: RunRecord | undefined
      try {
        r = read(workflowId)
      } catch (e: unknown) {
        if (e instanceof CanoFailure) return e.error
        throw e
      }
      if (r !== undefined && r.fence === fence) return undefined
      return leaseLostError(workflowId, fence, r === undefined ? null : holderOf(r))
    },
  }
}

/**
 * @internal The asynchronous {@link RunTable} over an adapter's `exec`: arguments are checked before
 * anything is read, and `notify` (when given) hears of the runs that became runnable or got a cancel
 * request once the write committed.
 */
export const runTableOver = (
  exec: RunTableExec,
  notify?: (workflowId: string) => void,
  subscribe?: RunTable['subscribe'],
): RunTable => {
  const tell = (workflowId: string): void => {
    if (notify !== undefined) notify(workflowId)
  }
  const table: RunTable = {
    create: async (run) => {
      const result = await exec(`create run ${show(run)}`, checkNewRun(run), (l, now) => l.create(run, now), true)
      if (result.created && result.record.status !== 'running') tell(result.record.workflowId)
      return result
    },
    get: (workflowId) =>
      exec(`get run ${JSON.stringify(workflowId)}`, checkRunId('get', workflowId), (l) => l.get(workflowId), false),
    list: (filter) => exec('list run records', checkFilter(filter), (l) => l.list(filter), false),
    claim: (owner, options) =>
      exec(
        `claim runs for ${JSON.stringify(owner)}`,
        checkClaim(owner, options),
        (l, now) => l.claim(owner, options, now),
        true,
      ),
    claimRun: (workflowId, owner, leaseMs, reopen = false) =>
      exec(
        `claim run ${JSON.stringify(workflowId)}`,
        checkClaimRun(workflowId, owner, leaseMs),
        (l, now) => l.claimRun(workflowId, owner, leaseMs, now, reopen),
        true,
      ),
    renew: (workflowId, fence, leaseMs) =>
      exec(
        `renew run ${JSON.stringify(workflowId)}`,
        checkRenew(workflowId, fence, leaseMs),
        (l, now) => l.renew(workflowId, fence, leaseMs, now),
        true,
      ),
    release: async (workflowId, fence, wakeAt) => {
      await exec(
        `release run ${JSON.stringify(workflowId)}`,
        checkRelease(workflowId, fence, wakeAt),
        (l, now) => l.release(workflowId, fence, wakeAt, now),
        true,
      )
      tell(workflowId)
    },
    finish: (workflowId, fence, ending, clearLog = false) =>
      exec(
        `finish run ${JSON.stringify(workflowId)}`,
        checkFinish(workflowId, fence, ending),
        (l, now) => l.finish(workflowId, fence, ending, now, clearLog),
        true,
      ),
    requestCancel: async (workflowId) => {
      const flagged = await exec(
        `request cancel of run ${JSON.stringify(workflowId)}`,
        checkRunId('requestCancel', workflowId),
        (l, now) => l.requestCancel(workflowId, now),
        true,
      )
      if (flagged) tell(workflowId)
      return flagged
    },
    prune: (endedBefore) => exec('prune run records', checkPrune(endedBefore), (l) => l.prune(endedBefore), false),
  }
  return subscribe === undefined ? table : { ...table, subscribe }
}

const show = (run: NewRun): string =>
  typeof run === 'object' && (run as unknown) !== null ? JSON.stringify(run.workflowId) : 'run'
