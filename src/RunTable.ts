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
 * - A **fenced** write (a checkpoint append or clear, a renewal, a release, a finish) commits only while
 *   the run's `fence` still equals the writer's token, checked in the same transaction as the write;
 *   otherwise it writes nothing and rejects with a `LeaseLost` error. A renewal, a release and a fenced
 *   finish also need the run to be `running` (after a release or a finish the token holds no lease any
 *   more); a fenced append or clear needs only the token, so the holder may clear its log after
 *   finishing. A fenced write to a run the table does not hold is `LeaseLost` too. Time alone never
 *   fences: a writer whose lease expired may still write until another owner claims the run (which
 *   increments `fence`).
 * - A terminal record (`completed`, `failed`, `cancelled`, `timedOut`) is never claimed again and is
 *   kept until {@link RunTable.prune} removes it; it keeps the owner that finished it.
 * - A run is **due** (claimable) from a time each status defines: `pending` from its `createdAt` (a
 *   released run keeps its place), `parked` from `wakeAt` (from the cancel request when one comes
 *   earlier), `running` from `leaseUntil`. Claims take the oldest due first, ties by workflow id.
 * - Bad arguments (an empty id or owner, a `leaseMs` that is not an integer in [1, 2^31-1], a `limit`
 *   that is not an integer in [1, 10000], a time that is not a non-negative safe integer) reject with a
 *   `Configuration` error naming the method and the field, before anything is read or written. A stored
 *   record that does not decode rejects with a `DecodeFailed` error naming the run.
 *
 * Times are epoch milliseconds from the store's clock (its `now` option, `Date.now` by default).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { failure as pathReport } from 'io-ts/lib/PathReporter.js'

import type {
  CanoError,
  CheckpointStore as CheckpointStoreError,
  Configuration,
  DecodeFailed,
} from '../codecs/CanoError.js'
import { JsonValue } from '../codecs/CheckpointRow.js'
import { integerIn, MAX_TIMER_MS, refinedNumber } from '../codecs/Config.js'
import { RunRecordCodec, RunRecordStatusCodec } from '../codecs/RunRecord.js'
import { WorkflowId } from '../codecs/WorkflowId.js'
import { CanoFailure, checkpointStoreError, configurationError, decodeFailedError, toCanoError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeThrownValue, describeValue } from './internal/describeValue.js'
import { isThenable } from './internal/isThenable.js'

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
  /**
   * At most this many (default: all). The SQLite and PostgreSQL stores count a record that does not
   * decode (left out with `onUnreadable`) toward it.
   */
  readonly limit?: number
  /**
   * Called with the id and the `DecodeFailed` error of each stored record that does not decode (a
   * corrupt row), which is then left out of the list. Without it, such a record rejects the whole list
   * with that error. A throw from it rejects the list; a promise it returns is not awaited (its rejection
   * is ignored). The in-memory table holds decoded records only.
   */
  readonly onUnreadable?: (workflowId: string, error: CanoError) => void
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
   * A due record that does not decode (a corrupt row) is not claimed and never holds the others back: it
   * is taken out of the runnable runs (never due again; a run status becomes `pending` with no owner; its
   * input, output, error and the rest stay for repair, but on PostgreSQL the claim's own write of the
   * record comes first: a fence one higher, no wake time; `runs.list({ onUnreadable })` names it, and a
   * `claimRun` by id after a repair runs it) and reported to `onUnreadable`; the others are claimed. A
   * terminal record left due (edited by hand) is taken out the same way, not reported. Every one taken
   * out is reported; the first throw of `onUnreadable` fails the claim, which then claims nothing (a
   * promise it returns is not awaited, and its rejection is ignored).
   */
  readonly claim: (
    owner: string,
    options: {
      readonly limit: number
      readonly leaseMs: number
      readonly workflows?: ReadonlyArray<string>
      readonly onUnreadable?: (workflowId: string, error: CanoError) => void
    },
  ) => Promise<ReadonlyArray<RunRecord>>
  /**
   * Claims one run by id (a resume by hand, a start that executes at once). Refused with `RunOwned`
   * while another owner holds it; a `CheckpointStore` error for an unknown id or a terminal run, except
   * that with `reopen` a run that ended `failed`, `cancelled` or `timedOut` is claimed again (a resume by
   * hand of a run whose log was kept: a dirty rollback to retry, a cancelled run to continue, a version
   * mismatch resumed with a migration); a `completed` run never is. A runtime's `claim` never reopens a
   * run.
   */
  readonly claimRun: (workflowId: string, owner: string, leaseMs: number, reopen?: boolean) => Promise<RunRecord>
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
  readonly finish: (
    workflowId: string,
    fence: number | undefined,
    ending: RunEnding,
    /** Also remove the run's checkpoint rows, in the same transaction (a run whose log is no longer needed). */
    clearLog?: boolean,
  ) => Promise<RunRecord>
  /** Asks the run's owner to stop it; a terminal or unknown run is left alone (resolves `false`). */
  readonly requestCancel: (workflowId: string) => Promise<boolean>
  /**
   * Removes terminal records whose `endedAt` is before `endedBefore`, with any checkpoint rows those
   * runs still have, in one transaction; resolves with how many records. Open runs are never removed.
   */
  readonly prune: (endedBefore: number) => Promise<number>
  /**
   * Calls `listener` with a run's id when the run becomes runnable (created `pending` or `parked`,
   * released, parked with a `wakeAt`) or gets a cancel request, from this process or (PostgreSQL,
   * through `LISTEN/NOTIFY`) any other; `''` means "some runs may have changed" (after the store
   * reconnected its listener, or for an id too long for a notification). A hint for prompt wake-ups,
   * never the only way to find work: a worker still claims on a timer. Returns the unsubscribe
   * function. Absent on stores that cannot push (SQLite).
   */
  readonly subscribe?: (listener: (workflowId: string) => void) => () => void
}

// -------------------------------------------------------------------------------------
// adapter plumbing
// -------------------------------------------------------------------------------------

/** @internal The most runs one `claim` or `list` call takes. */
export const MAX_RUN_LIMIT = 10_000

/** @internal Every status a run record can have, in the order of a run's life. */
export const RUN_STATUSES: ReadonlyArray<RunRecordStatus> = [
  'pending',
  'running',
  'parked',
  'completed',
  'failed',
  'cancelled',
  'timedOut',
]

/** @internal The statuses a run ends in. */
export const TERMINAL_STATUSES: ReadonlyArray<RunRecordStatus> = ['completed', 'failed', 'cancelled', 'timedOut']

/** @internal Is `status` terminal? */
export const isTerminal = (status: RunRecordStatus): boolean => TERMINAL_STATUSES.includes(status)

/** @internal Who holds `r` now (its owner while it is `running`), for `LeaseLost` errors. */
export const holderOf = (r: RunRecord): string | null => (r.status === 'running' ? r.owner : null)

/** @internal Is `r` held under a live lease at `now`? */
export const isHeld = (r: RunRecord, now: number): boolean =>
  r.status === 'running' && r.owner !== null && r.leaseUntil !== null && r.leaseUntil > now

/**
 * @internal When a run becomes claimable (see the module comment), `now` being the time of the write:
 * `null` for a terminal run.
 */
export const dueAtOf = (
  status: RunRecordStatus,
  fields: {
    readonly createdAt: number
    readonly leaseUntil: number | null
    readonly wakeAt: number | null
    readonly cancelRequested: boolean
  },
  now: number,
): number | null => {
  switch (status) {
    case 'pending':
      return fields.createdAt
    case 'parked':
      return fields.wakeAt === null ? now : fields.cancelRequested ? Math.min(fields.wakeAt, now) : fields.wakeAt
    case 'running':
      return fields.leaseUntil ?? now
    default:
      return null
  }
}

const LeaseMs = /*#__PURE__*/ integerIn(1, MAX_TIMER_MS)
const Limit = /*#__PURE__*/ integerIn(1, MAX_RUN_LIMIT)
const Instant = /*#__PURE__*/ refinedNumber(
  'a non-negative safe integer (epoch milliseconds)',
  (n) => Number.isSafeInteger(n) && n >= 0,
)
const FiniteInstant = /*#__PURE__*/ refinedNumber('a finite number (epoch milliseconds)', (n) => Number.isFinite(n))
const Fence = /*#__PURE__*/ refinedNumber('a non-negative safe integer', (n) => Number.isSafeInteger(n) && n >= 0)
const Version = Fence

type Check = Configuration | undefined

const isNonEmptyPortable = (u: unknown): boolean => typeof u === 'string' && WorkflowId.is(u)

const checkId = (method: string, field: string, u: unknown): Check =>
  isNonEmptyPortable(u)
    ? undefined
    : configurationError(
        `runs.${method}: ${field} must be a non-empty string without NUL or unpaired surrogates, got ${describeValue(u)}`,
      )

const checkJson = (method: string, field: string, u: unknown): Check => {
  const decoded = JsonValue.decode(u)
  return E.isRight(decoded)
    ? undefined
    : configurationError(`runs.${method}: ${field} must be a JSON value: ${reportLines(decoded.left).join('; ')}`)
}

const first = (...checks: ReadonlyArray<() => Check>): Check => {
  for (const check of checks) {
    const failed = check()
    if (failed !== undefined) return failed
  }
  return undefined
}

/** @internal Checks the arguments of `create`. */
export const checkNewRun = (run: NewRun): Check => {
  if (typeof run !== 'object' || (run as unknown) === null)
    return configurationError(`runs.create: the run must be an object, got ${describeValue(run)}`)
  return first(
    () => checkId('create', 'workflowId', run.workflowId),
    () =>
      typeof run.workflow === 'string' && (run.workflow === '' || isNonEmptyPortable(run.workflow))
        ? undefined
        : configurationError(
            `runs.create: workflow must be a string without NUL or unpaired surrogates, got ${describeValue(run.workflow)}`,
          ),
    () => checkConfig(Version, run.version, 'runs.create: version'),
    () => checkId('create', 'initial', run.initial),
    () => checkJson('create', 'input', run.input),
    () => (run.owner === undefined ? undefined : checkId('create', 'owner', run.owner)),
    () =>
      run.owner === undefined
        ? run.leaseMs === undefined
          ? undefined
          : configurationError('runs.create: leaseMs is given without owner')
        : checkConfig(LeaseMs, run.leaseMs, 'runs.create: leaseMs (required with owner)'),
    () =>
      run.wakeAt === undefined
        ? undefined
        : run.owner !== undefined
          ? configurationError('runs.create: give owner (claim at once) or wakeAt (park), not both')
          : checkConfig(Instant, run.wakeAt, 'runs.create: wakeAt'),
  )
}

/** @internal Checks the arguments of `claim`. */
export const checkClaim = (
  owner: string,
  options: {
    readonly limit: number
    readonly leaseMs: number
    readonly workflows?: ReadonlyArray<string>
    readonly onUnreadable?: unknown
  },
): Check =>
  first(
    () => checkId('claim', 'owner', owner),
    () =>
      typeof options === 'object' && (options as unknown) !== null
        ? undefined
        : configurationError(`runs.claim: options must be an object, got ${describeValue(options)}`),
    () => checkConfig(Limit, options.limit, 'runs.claim: limit'),
    () => checkConfig(LeaseMs, options.leaseMs, 'runs.claim: leaseMs'),
    () =>
      options.workflows === undefined ||
      (Array.isArray(options.workflows) &&
        options.workflows.length <= MAX_RUN_LIMIT &&
        options.workflows.every((w) => typeof w === 'string' && (w === '' || isNonEmptyPortable(w))))
        ? undefined
        : configurationError(
            `runs.claim: workflows must be an array of at most ${MAX_RUN_LIMIT} workflow names, got ${describeValue(options.workflows)}`,
          ),
    () =>
      options.onUnreadable === undefined || typeof options.onUnreadable === 'function'
        ? undefined
        : configurationError(`runs.claim: onUnreadable must be a function, got ${describeValue(options.onUnreadable)}`),
  )

/**
 * @internal Tells `onUnreadable` (of a `list` or a `claim`) of a stored record that does not decode, named
 * by its id as stored (described when it is not a string); a throw from it becomes the call's
 * `CheckpointStore` error; a promise it returns is not awaited, and its rejection is ignored.
 */
export const reportUnreadable = (
  method: 'list' | 'claim',
  onUnreadable: ((workflowId: string, error: CanoError) => void) | undefined,
  workflowId: unknown,
  e: unknown,
): void => {
  if (onUnreadable === undefined) return
  const named = typeof workflowId === 'string' ? workflowId : describeValue(workflowId)
  try {
    const returned: unknown = onUnreadable(named, toCanoError(e))
    // an async function fits its type: what it returns is not awaited, and a rejection of it is not left
    // unhandled (a process ends on one by default): a report is not the call's to fail later
    if (isThenable(returned)) returned.then(undefined, () => undefined)
  } catch (thrown: unknown) {
    throw new CanoFailure(
      checkpointStoreError(
        `runs.${method}: onUnreadable threw for run ${JSON.stringify(named)}: ${describeThrownValue(thrown)}`,
      ),
    )
  }
}

/** @internal Checks the arguments of `claimRun`. */
export const checkClaimRun = (workflowId: string, owner: string, leaseMs: number): Check =>
  first(
    () => checkId('claimRun', 'workflowId', workflowId),
    () => checkId('claimRun', 'owner', owner),
    () => checkConfig(LeaseMs, leaseMs, 'runs.claimRun: leaseMs'),
  )

/** @internal Checks a run id and a fence (`fence` `undefined` allowed when `optionalFence`). */
export const checkFenced = (
  method: string,
  workflowId: string,
  fence: number | undefined,
  optionalFence = false,
): Check =>
  first(
    () => checkId(method, 'workflowId', workflowId),
    () => (fence === undefined && optionalFence ? undefined : checkConfig(Fence, fence, `runs.${method}: fence`)),
  )

/** @internal Checks the arguments of `renew`. */
export const checkRenew = (workflowId: string, fence: number, leaseMs: number): Check =>
  first(
    () => checkFenced('renew', workflowId, fence),
    () => checkConfig(LeaseMs, leaseMs, 'runs.renew: leaseMs'),
  )

/** @internal Checks the arguments of `release`. */
export const checkRelease = (workflowId: string, fence: number, wakeAt: number | undefined): Check =>
  first(
    () => checkFenced('release', workflowId, fence),
    () => (wakeAt === undefined ? undefined : checkConfig(Instant, wakeAt, 'runs.release: wakeAt')),
  )

/** @internal Checks the arguments of `finish`. */
export const checkFinish = (workflowId: string, fence: number | undefined, ending: RunEnding): Check =>
  first(
    () => checkFenced('finish', workflowId, fence, true),
    () =>
      typeof ending === 'object' && (ending as unknown) !== null
        ? undefined
        : configurationError(`runs.finish: ending must be an object, got ${describeValue(ending)}`),
    () =>
      (TERMINAL_STATUSES as ReadonlyArray<unknown>).includes(ending.status)
        ? undefined
        : configurationError(
            `runs.finish: ending.status must be 'completed', 'failed', 'cancelled' or 'timedOut', got ${describeValue(ending.status)}`,
          ),
    () => checkJson('finish', 'ending.output', ending.output),
    () => checkJson('finish', 'ending.error', ending.error),
  )

/** @internal Checks the argument of `get` and `requestCancel`. */
export const checkRunId = (method: string, workflowId: string): Check => checkId(method, 'workflowId', workflowId)

/** @internal Checks the argument of `prune`. */
export const checkPrune = (endedBefore: number): Check =>
  checkConfig(FiniteInstant, endedBefore, 'runs.prune: endedBefore')

/** @internal Checks the argument of `list`. */
export const checkFilter = (filter: RunFilter | undefined): Check => {
  if (filter === undefined) return undefined
  if (typeof filter !== 'object' || (filter as unknown) === null)
    return configurationError(`runs.list: the filter must be an object, got ${describeValue(filter)}`)
  return first(
    () =>
      filter.status === undefined ||
      (Array.isArray(filter.status) && filter.status.every((s) => RunRecordStatusCodec.is(s)))
        ? undefined
        : configurationError(
            `runs.list: status must be an array of 'pending', 'running', 'parked', 'completed', 'failed', 'cancelled' or 'timedOut', got ${describeValue(filter.status)}`,
          ),
    () =>
      filter.workflow === undefined || typeof filter.workflow === 'string'
        ? undefined
        : configurationError(`runs.list: workflow must be a string, got ${describeValue(filter.workflow)}`),
    () => (filter.limit === undefined ? undefined : checkConfig(Limit, filter.limit, 'runs.list: limit')),
    () =>
      filter.onUnreadable === undefined || typeof filter.onUnreadable === 'function'
        ? undefined
        : configurationError(`runs.list: onUnreadable must be a function, got ${describeValue(filter.onUnreadable)}`),
  )
}

/**
 * @internal The records of listed rows: a row that does not decode rejects the list, or, when the filter
 * has `onUnreadable`, is reported there (with its id as stored, described when it is not a string) and
 * left out.
 */
export const decodeListed = <R>(
  rows: ReadonlyArray<R>,
  decode: (row: R) => RunRecord,
  idOf: (row: R) => unknown,
  filter: RunFilter | undefined,
): Array<RunRecord> => {
  const onUnreadable = filter?.onUnreadable
  if (onUnreadable === undefined) return rows.map(decode)
  const out: Array<RunRecord> = []
  for (const row of rows) {
    let record: RunRecord
    try {
      record = decode(row)
    } catch (e: unknown) {
      reportUnreadable('list', onUnreadable, idOf(row), e)
      continue
    }
    out.push(record)
  }
  return out
}

/** @internal A `CanoFailure` rejection for a failed check, or `undefined` when it passed. */
export const rejectInvalid = (check: Check): Promise<never> | undefined =>
  check === undefined ? undefined : Promise.reject(new CanoFailure(check))

/** @internal The `DecodeFailed` error for a stored record of `workflowId` that does not decode. */
export const undecodableRun = (workflowId: string, errors: ReadonlyArray<string>, table?: string): DecodeFailed =>
  decodeFailedError(
    'RunRecord',
    errors,
    `run record of workflow ${JSON.stringify(workflowId)}${table === undefined ? '' : ` in ${table}`}`,
  )

/**
 * @internal Decodes a stored record of `workflowId` (the id as stored, named in the error even when it
 * is not valid). Throws a `CanoFailure` with a `DecodeFailed` error naming the run.
 */
export const decodeRunRecord = (workflowId: unknown, raw: unknown, table?: string): RunRecord => {
  const named = typeof workflowId === 'string' ? workflowId : describeValue(workflowId)
  let decoded: t.Validation<RunRecord>
  try {
    decoded = RunRecordCodec.decode(raw)
  } catch (e: unknown) {
    // a value nested deeper than the stack can walk (the codec recurses): the run named, not a RangeError
    throw new CanoFailure(undecodableRun(named, [`RunRecord: ${describeThrownValue(e)}`], table))
  }
  if (E.isRight(decoded)) return decoded.right
  throw new CanoFailure(undecodableRun(named, reportLines(decoded.left), table))
}

/** @internal The order of `list`: newest `createdAt` first, ties by workflow id. */
export const newestFirst = (a: RunRecord, b: RunRecord): number =>
  b.createdAt - a.createdAt || (a.workflowId < b.workflowId ? -1 : a.workflowId > b.workflowId ? 1 : 0)

const reportLines = (errors: t.Errors): Array<string> =>
  pathReport(errors.map((e) => ({ ...e, value: printable(e.value) })))

/** `JSON.stringify` as it behaves: `undefined` for a value JSON cannot hold. */
const stringify = (u: unknown): string | undefined => JSON.stringify(u)

/** io-ts's reporter prints values with `JSON.stringify`, which throws on bigints and cycles: describe those first. */
const printable = (u: unknown): unknown => {
  if (typeof u === 'number' || typeof u === 'function' || u === undefined) return u
  let json: string | undefined
  try {
    json = stringify(u)
  } catch {
    return describeValue(u)
  }
  if (json === undefined) return describeValue(u)
  return json.length <= 200 ? u : `${json.slice(0, 200)}… (${json.length} characters)`
}

/** @internal The error for a by-id operation on a run the table does not hold. */
export const unknownRunError = (method: string, workflowId: string): CheckpointStoreError =>
  checkpointStoreError(`runs.${method}: the run table holds no run ${JSON.stringify(workflowId)}`)

/** @internal The error for claiming or finishing a run that has ended. */
export const endedRunError = (r: RunRecord): CheckpointStoreError =>
  checkpointStoreError(
    `run ${JSON.stringify(r.workflowId)} has ended (${r.status}); a terminal run is never claimed or finished again`,
  )
