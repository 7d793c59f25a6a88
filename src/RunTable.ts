/**
 * `RunTable`: the table of runs beside the checkpoint log. Every built-in store (memory, SQLite,
 * PostgreSQL) keeps one: a row per run with its workflow name and version, its status, its owner and
 * lease, its fencing token, when a parked run wakes, its input and its outcome. It is what makes a run
 * owned (exactly one worker executes it at a time), what a runtime claims work from, and where a run's
 * outcome stays readable after its checkpoint log is cleared.
 *
 * Ownership rules, which every adapter implements and test/integration/runTable.conformance.test.ts
 * checks on each:
 *
 * - A run is **held** by `owner` while `owner` is set and `leaseUntil > now`. Claiming a run that is not
 *   held (pending, parked and due, or running under an expired lease) sets the owner, the lease, the
 *   status `running`, and increments `fence`: the new token.
 * - A **fenced** write (a checkpoint append, a renewal, a release, a finish) commits only while the run's
 *   `fence` still equals the writer's token, checked in the same transaction as the write; otherwise it
 *   writes nothing and rejects with a `LeaseLost` error. Time alone never fences: a writer whose lease
 *   expired may still write until another owner claims the run (which increments `fence`).
 * - A terminal record (`completed`, `failed`, `cancelled`, `timedOut`) is never claimed again and is
 *   kept until {@link RunTable.prune} removes it.
 *
 * @since 0.2.0
 */
import type { JsonValue } from '../codecs/CheckpointRow.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where a run stands in its run table.
 *
 * - `pending`: created, not claimed yet (or released by a worker that stopped);
 * - `running`: held by its owner;
 * - `parked`: waiting for `wakeAt` with no owner (a long `sleep`, a long poll delay);
 * - `completed`, `failed`, `cancelled`, `timedOut`: terminal.
 *
 * @example
 * import type { RunRecordStatus } from 'cano-rx'
 * const open: ReadonlyArray<RunRecordStatus> = ['pending', 'running', 'parked']
 * @category model
 * @since 0.2.0
 */
export type RunRecordStatus = 'pending' | 'running' | 'parked' | 'completed' | 'failed' | 'cancelled' | 'timedOut'

/**
 * One run as its run table records it. Times are epoch milliseconds.
 *
 * @example
 * import type { RunRecord } from 'cano-rx'
 * const describe = (r: RunRecord): string => `${r.workflowId} (${r.workflow} v${r.version}): ${r.status}`
 * @category model
 * @since 0.2.0
 */
export interface RunRecord {
  readonly workflowId: string
  /** The workflow's registered name ('' for a run started outside a runtime by an unnamed workflow). */
  readonly workflow: string
  readonly version: number
  /** The state the run starts in. */
  readonly initial: string
  readonly status: RunRecordStatus
  /** Who holds (or last held) the run; `null` when nobody does. */
  readonly owner: string | null
  /** The owner's lease ends here; `null` when nobody holds the run. */
  readonly leaseUntil: number | null
  /** The fencing token: incremented by every claim. 0 for a run never claimed. */
  readonly fence: number
  /** A parked run is due at this time; `null` otherwise. */
  readonly wakeAt: number | null
  /** The run's encoded input (`null` for a workflow without an input codec). */
  readonly input: JsonValue
  /** The encoded output of a completed run with an output codec; `null` otherwise. */
  readonly output: JsonValue
  /** The encoded `CanoError` of a failed, cancelled or timed-out run; `null` otherwise. */
  readonly error: JsonValue
  /** Someone asked the run to stop (`cancel` from any process): its owner aborts it. */
  readonly cancelRequested: boolean
  readonly createdAt: number
  readonly updatedAt: number
  /** When the run reached its terminal status; `null` before. */
  readonly endedAt: number | null
}

/**
 * What {@link RunTable.create} writes: a new `pending` run (or, with `owner`, one claimed by its creator
 * at once, with fence 1).
 *
 * @example
 * import type { NewRun } from 'cano-rx'
 * const run: NewRun = { workflowId: 'order-42', workflow: 'orders', version: 1, initial: 'Charge', input: { sku: 'A1' } }
 * @category model
 * @since 0.2.0
 */
export interface NewRun {
  readonly workflowId: string
  readonly workflow: string
  readonly version: number
  readonly initial: string
  readonly input: JsonValue
  /** Claim it for this owner in the same write (a process that starts a run and executes it itself). */
  readonly owner?: string
  /** The lease of that claim, in milliseconds (required with `owner`). */
  readonly leaseMs?: number
  /** Create it `parked` until this time instead of `pending` (a scheduled run). */
  readonly wakeAt?: number
}

/**
 * The terminal outcome {@link RunTable.finish} records.
 *
 * @example
 * import type { RunEnding } from 'cano-rx'
 * const done: RunEnding = { status: 'completed', output: { receipt: 'r-1' }, error: null }
 * @category model
 * @since 0.2.0
 */
export interface RunEnding {
  readonly status: 'completed' | 'failed' | 'cancelled' | 'timedOut'
  readonly output: JsonValue
  readonly error: JsonValue
}

/**
 * Which runs {@link RunTable.list} returns, newest `createdAt` first.
 *
 * @example
 * import type { RunFilter } from 'cano-rx'
 * const failedOrders: RunFilter = { status: ['failed'], workflow: 'orders', limit: 50 }
 * @category model
 * @since 0.2.0
 */
export interface RunFilter {
  readonly status?: ReadonlyArray<RunRecordStatus>
  readonly workflow?: string
  /** At most this many (default: all). */
  readonly limit?: number
}

/**
 * The run table of a store. Every method is atomic; the fenced ones check `fence` in the same
 * transaction as their write (see the module comment).
 *
 * @example
 * import { memoryCheckpoints } from 'cano-rx'
 * const store = memoryCheckpoints()
 * const { record, created } = await store.runs.create({ workflowId: 'a', workflow: 'w', version: 0, initial: 'S', input: null })
 * @category model
 * @since 0.2.0
 */
export interface RunTable {
  /**
   * Creates the run; idempotent by id: when `workflowId` exists already, nothing is written and the
   * existing record comes back with `created: false` (whatever its status).
   */
  readonly create: (run: NewRun) => Promise<{ readonly record: RunRecord; readonly created: boolean }>
  /** The run's record; `undefined` for an id the table does not hold. */
  readonly get: (workflowId: string) => Promise<RunRecord | undefined>
  /** Records matching `filter`, newest `createdAt` first. */
  readonly list: (filter?: RunFilter) => Promise<ReadonlyArray<RunRecord>>
  /**
   * Claims up to `limit` runnable runs for `owner` (pending; parked with `wakeAt <= now`; running under
   * a lease that ended), oldest due first, optionally only of the named workflows. Each comes back with
   * its new fence. Concurrent claimers never get the same run (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  readonly claim: (
    owner: string,
    options: { readonly limit: number; readonly leaseMs: number; readonly workflows?: ReadonlyArray<string> },
  ) => Promise<ReadonlyArray<RunRecord>>
  /**
   * Claims one run by id (a resume by hand, a start that executes at once). Refused with `RunOwned`
   * while another owner holds it; a `CheckpointStore` error for an unknown id or a terminal run.
   */
  readonly claimRun: (workflowId: string, owner: string, leaseMs: number) => Promise<RunRecord>
  /**
   * Extends the lease of the holder of `fence` to now + `leaseMs`. Resolves with the record (its
   * `cancelRequested` tells the owner to stop); rejects with `LeaseLost` when the fence moved on.
   */
  readonly renew: (workflowId: string, fence: number, leaseMs: number) => Promise<RunRecord>
  /**
   * Gives the run up: `pending` (or `parked` until `wakeAt`), no owner, no lease; the fence stays (the
   * next claim increments it). Rejects with `LeaseLost` when the fence moved on.
   */
  readonly release: (workflowId: string, fence: number, wakeAt?: number) => Promise<void>
  /**
   * Records the run's terminal outcome. `fence` `undefined`: a run that was never claimed (an in-process
   * run of a store without owners). Rejects with `LeaseLost` when the fence moved on.
   */
  readonly finish: (workflowId: string, fence: number | undefined, ending: RunEnding) => Promise<RunRecord>
  /** Asks the run's owner to stop it; a terminal or unknown run is left alone (resolves `false`). */
  readonly requestCancel: (workflowId: string) => Promise<boolean>
  /** Removes terminal records that ended before `endedBefore`; resolves with how many. */
  readonly prune: (endedBefore: number) => Promise<number>
}
