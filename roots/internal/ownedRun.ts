/**
 * Owned runs: a run of a workflow whose checkpoint store keeps a run table (src/RunTable.ts) executes
 * only while its process holds the run's lease.
 *
 * - **Acquire.** A new run is created already claimed by its starter (`Start`); a resume by hand claims
 *   the run by id (`Resume`: refused with `RunOwned` while another owner holds a live lease); a runtime
 *   worker hands over a run it claimed (`Claimed`). The claim's fencing token is the run's from then on.
 * - **Fencing.** Every checkpoint append carries the token; the store checks it in the same transaction
 *   as the write. A refused append (`LeaseLost`: another owner claimed the run) abandons the run at once,
 *   before the run sees the error: no rollback, no teardown row, nothing more written. The run ends with
 *   a `RunFailed` carrying the `LeaseLost` error.
 * - **Lease.** It is renewed every `renewMs` while the run executes; a renewal that finds the fence
 *   moved on abandons the run the same way, and one that finds a cancel request cancels the run
 *   (it ends `Cancelled`, rolling its sagas back).
 * - **Outcome and log in one transaction.** The driver's clear of the log is deferred to the run's
 *   terminal record: `finish` writes the outcome and removes the rows together. A crash never leaves a
 *   cleared log beside a record that looks unfinished (a run that would start again from scratch), nor
 *   a terminal record beside a log nobody resumes.
 * - **Parking.** With `park`, a `sleep` whose wake-up is further than `afterMs` away, or a `poll` delay as
 *   long (the run's `parkAfterMs` makes the poll persist it, with its loop's position), releases the run
 *   once its wake-up instant is durable: the lease goes, the record says `parked` until the wake-up, and
 *   the Observable completes without a terminal event. Whoever claims it at wake-up resumes it.
 * - **Leaving.** Unsubscribing is a cancellation, as for any run: the run ends `RunCancelled` (`run
 *   unsubscribed`), rolling its sagas back, its outcome is recorded and its observers see it; a run
 *   still being claimed starts cancelled. Handing a run over is another thing: `releases` (a runtime
 *   stopping) abandons it where it is (no rollback, nothing more reported here) and releases its lease
 *   so that another process can take it at once; so does a lost lease or a parked sleep.
 *
 * @internal
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import { Observable, type SchedulerLike, type Subscriber, type Subscription, type Unsubscribable } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import type { CheckpointRow, JsonValue } from '../../codecs/CheckpointRow.js'
import type { WorkflowId } from '../../codecs/WorkflowId.js'
import {
  cancelledError,
  CanoFailure,
  checkpointStoreError,
  runOwnedError,
  toCanoError,
  toCanoFailure,
} from '../../src/CanoError.js'
import { checkpointConflictError, type CheckpointStore, type RunStore } from '../../src/CheckpointStore.js'
import { encodeError, type ResumePoint, resumePoint } from '../../src/Resume.js'
import { UNSUBSCRIBED } from '../../src/RunMachine.js'
import type { DecodedRunOptions, RefusedRun } from '../../src/RunOptions.js'
import type { RunEnding, RunRecord, RunRecordStatus } from '../../src/RunTable.js'
import type { ResourceRecord } from '../../src/TaskContext.js'
import type { CompiledWorkflow } from '../../src/WorkflowDefinition.js'
import { isTerminalEvent, type TerminalEvent, type WorkflowEvent } from '../../src/WorkflowEvent.js'
import { notifyObserver, type WorkflowObserver } from '../../src/WorkflowObserver.js'
import { refusedRun, type RunHandle, type RunSink, startRunTo } from '../../streams/runWorkflow.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal Who owns the runs of this process, and for how long a claim holds. */
export interface Ownership {
  readonly owner: string
  readonly leaseMs: number
  /** The lease is renewed this often while a run executes. */
  readonly renewMs: number
  /** The clock of the renewals (wall-clock time: leases are compared across processes). */
  readonly scheduler: SchedulerLike
  /**
   * Each lease this run gives up (handed over, given back, or after a fault), as the store's write: a
   * stopping runtime waits for them so that a store closed right after `stop()` has them all.
   */
  readonly releasing?: (write: Promise<void>) => void
}

/** @internal How an owned run gets its lease. */
export type Acquire<S extends string> =
  | {
      readonly _tag: 'Start'
      readonly initial: S
      readonly workflow: string
      readonly input: JsonValue
    }
  | { readonly _tag: 'Resume' }
  | { readonly _tag: 'Claimed'; readonly record: RunRecord }

/** @internal Parking a run whose sleep is long: the runtime passes it. */
export interface Parking {
  readonly afterMs: number
  /** The run was released until `wakeAt`. */
  readonly parked: (wakeAt: number) => void
}

/** @internal The options of an owned run, besides the run's own. */
export interface OwnedRunOptions<S extends string> {
  readonly workflowId: WorkflowId
  readonly acquire: Acquire<S>
  /** The run's options, decoded once its record is known (a resumed run's input is the record's). */
  readonly run: (record: RunRecord) => E.Either<RefusedRun<S>, DecodedRunOptions<S>>
  /** The caller's observers: a refused run reports to them too. */
  readonly observers: ReadonlyArray<WorkflowObserver<S>> | undefined
  readonly ownership: Ownership
  readonly park?: Parking | undefined
  /** The run was asked to stop before it started (a cancel request found on the claimed record). */
  readonly cancelled?: boolean
  /** How the runtime reaches the run: a cancel request that came by another way than a renewal (a notification), a hand-over. */
  readonly control?: RunControl
  /**
   * Deliver every event (default `true`); `false` delivers the terminal event alone, as `orchestrate`
   * needs (observers still see every event). A run that may park hears its events either way.
   */
  readonly live?: boolean
}

/** @internal What a {@link RunControl} reaches: the owned run it was given to. */
interface Controlled {
  requestCancel(): void
  handOver(): void
}

/**
 * @internal How a runtime reaches a run it executes (lighter than the two `AbortController`s it replaces,
 * which cost an `EventTarget` each per run): `cancel()` is a cancel request that came by a notification
 * (the run is cancelled, its sagas roll back); `handOver()` abandons the run where it is (nothing rolled
 * back, nothing more reported) and releases its lease (a runtime stopping). Either may come before the
 * run has started: it is then applied as the run starts.
 */
export class RunControl {
  private run: Controlled | undefined
  private cancelled = false
  private handedOver = false

  cancel(): void {
    if (this.run !== undefined) this.run.requestCancel()
    else this.cancelled = true
  }

  handOver(): void {
    if (this.run !== undefined) this.run.handOver()
    else this.handedOver = true
  }

  /** The run starts: what was asked before reaches it now. */
  attach(run: Controlled): void {
    this.run = run
    if (this.handedOver) run.handOver()
    else if (this.cancelled) run.requestCancel()
  }
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal The run of `options`, owned; see the module comment. */
export const ownedRun$ = <S extends string, R extends ResourceRecord>(
  wf: CompiledWorkflow<S, R>,
  store: RunStore,
  options: OwnedRunOptions<S>,
): Observable<WorkflowEvent<S>> =>
  new Observable<WorkflowEvent<S>>((subscriber) => {
    const run = new OwnedRun<S, R>(wf, store, options, subscriber)
    run.begin()
    return run
  })

/** The terminal statuses a resume by hand may reopen (when the run's log was kept). */
const REOPENABLE: ReadonlySet<RunRecordStatus> = new Set(['failed', 'cancelled', 'timedOut'])

/** Whether `e` says the writer no longer holds the run. */
const isLeaseLost = (e: unknown): e is CanoError => toCanoError(e)._tag === 'LeaseLost'

/** The terminal record of a run that ended with `end`. */
export const endingOf = <S extends string>(end: TerminalEvent<S>): RunEnding => {
  switch (end._tag) {
    case 'RunCompleted':
      return { status: 'completed', output: end.output ?? null, error: null }
    case 'RunFailed':
      return { status: 'failed', output: null, error: encodeError(end.error) }
    case 'RunCancelled':
      return { status: 'cancelled', output: null, error: encodeError(end.error) }
    case 'RunTimedOut':
      return { status: 'timedOut', output: null, error: encodeError(end.error) }
  }
}

class OwnedRun<S extends string, R extends ResourceRecord> implements Unsubscribable, RunSink<S> {
  /** The claim's fencing token, once acquired. */
  private fence: number | undefined
  /** The run's driver, once it started. */
  private driver: RunHandle | undefined
  /** The observers of the run (the workflow's and the caller's), once it started. */
  private observers: ReadonlyArray<WorkflowObserver<S>> = []
  /** The resume point the run started from (its sleep may park at once). */
  private point: ResumePoint<S> | undefined
  private renewal: Subscription | undefined
  /** The run reached its end (terminal, abandoned, parked, refused): nothing more is reported. */
  private done = false
  /** The downstream left. */
  private left = false
  /** The driver asked to clear the log: done once the outcome is recorded. */
  private clearWanted = false
  /** A long wait's wake-up instant (a sleep's, a poll delay's), waiting for its row to be durable. */
  private parkAt: number | undefined
  /** The wake-up the run resumed from was reported (later ones are new, not yet durable). */
  private resumedWakeSeen = false
  /** Why the run was cancelled by its owner (a cancel request, its subscriber leaving), once it was. */
  private cancelReason: CanoError | undefined

  constructor(
    private readonly wf: CompiledWorkflow<S, R>,
    private readonly store: RunStore,
    private readonly options: OwnedRunOptions<S>,
    private readonly subscriber: Subscriber<WorkflowEvent<S>>,
  ) {}

  begin(): void {
    this.options.control?.attach(this)
    // handed over before it began
    if (this.done) return
    this.acquire().then(
      (record) => {
        // handed over while it was being claimed: the claim goes back at once
        if (this.done) return this.release(record.fence)
        this.fence = record.fence
        // a run this process just created has no log to read (a row at its first sequence, written by
        // hand, makes its first append conflict, as without a run table)
        if (this.options.acquire._tag === 'Start') return this.start(record, [])
        return this.store.loadRun(this.options.workflowId).then(
          (rows) => this.start(record, rows),
          (e: unknown) => {
            // the log would not load (the store is down): the claim is given back for a later try
            this.releaseLease()
            this.refuse(loadError(this.options.workflowId, e))
          },
        )
      },
      (e: unknown) => this.refuse(toCanoError(e)),
    )
  }

  private acquire(): Promise<RunRecord> {
    const { acquire, workflowId, ownership } = this.options
    const { owner, leaseMs } = ownership
    switch (acquire._tag) {
      case 'Claimed':
        return Promise.resolve(acquire.record)
      case 'Resume':
        return this.store.runs.get(workflowId).then((record) => {
          if (record === undefined) return this.adopt()
          if (!REOPENABLE.has(record.status)) return this.store.runs.claimRun(workflowId, owner, leaseMs)
          // a run that ended without completing is resumed by hand only if its log was kept (a dirty
          // rollback, a cancelled run, a refused resume)
          return this.store
            .loadRun(workflowId)
            .then((rows) =>
              rows.length === 0
                ? Promise.reject(new CanoFailure(noRows(workflowId)))
                : this.store.runs.claimRun(workflowId, owner, leaseMs, true),
            )
        })
      case 'Start':
        return this.store.runs
          .create({
            workflowId,
            workflow: acquire.workflow,
            version: this.wf.version,
            initial: acquire.initial,
            input: acquire.input,
            owner,
            leaseMs,
          })
          .then(({ record, created }) =>
            created ? record : Promise.reject(new CanoFailure(existingRun(record, owner))),
          )
    }
  }

  /** A log without a run record (rows written by hand, or by a release without run tables): its record is made claimed. */
  private adopt(): Promise<RunRecord> {
    const { store, options } = this
    const { workflowId, ownership } = options
    return store.loadRun(workflowId).then((rows) => {
      const first = rows[0]
      if (first === undefined) return Promise.reject(new CanoFailure(noRows(workflowId)))
      return store.runs
        .create({
          workflowId,
          workflow: '',
          version: first.version,
          initial: first.state,
          input: null,
          owner: ownership.owner,
          leaseMs: ownership.leaseMs,
        })
        .then(({ record, created }) =>
          created ? record : store.runs.claimRun(workflowId, ownership.owner, ownership.leaseMs),
        )
    })
  }

  private start(record: RunRecord, rows: ReadonlyArray<CheckpointRow>): void {
    if (this.done) return this.releaseLease()
    const { wf, options } = this
    let point: ResumePoint<S> | undefined
    // a claimed run whose log is empty never wrote its first row: it starts from its initial state
    if (rows.length > 0) {
      const resumed = resumePoint<S>(options.workflowId, rows, {
        version: wf.version,
        isKnown: (s) => wf.states.has(s) || wf.exits.has(s),
        migrations: wf.migrations,
      })
      if (E.isLeft(resumed)) return this.failAtStart(resumed.left)
      point = resumed.right
    }
    const decoded = options.run(record)
    if (E.isLeft(decoded)) return this.failAtStart(decoded.left.error)
    const given = decoded.right
    const fenced = this.fencedStore()
    const run: DecodedRunOptions<S> = {
      ...given,
      // a poll makes its waits past the park threshold durable, as a sleep always does: both then park
      parkAfterMs: options.park?.afterMs,
    }
    // the subscriber left while the run was being claimed: it starts cancelled, as if it had left now
    if (this.left) this.cancelWith(UNSUBSCRIBED)
    else if (options.cancelled === true || record.cancelRequested) this.cancelWith(cancelRequested())
    const initial = point === undefined ? (record.initial as S) : point.state
    this.observers = run.observers === undefined ? wf.observers : [...wf.observers, ...run.observers]
    this.point = point
    this.armRenewal()
    // a cancel asked before the start is held by the machine, as a signal aborted before it would be
    const driver = startRunTo({ ...wf, checkpoints: fenced }, initial, E.right(run), this, point, this.cancelReason)
    this.driver = driver
    // parked or abandoned while it started (synchronously): the driver stops now (an ended run ignores it)
    if (this.ended()) driver.abandon()
  }

  /** Read through a method: the driver's callbacks change `done` behind the compiler's narrowing. */
  private ended(): boolean {
    return this.done
  }

  // -- the driver's sink (RunSink) ---------------------------------------------------------

  next(e: WorkflowEvent<S>): void {
    this.onEvent(e, this.point)
  }
  error(e: unknown): void {
    this.fail(e)
  }
  complete(): void {
    // the terminal event came first
  }

  /**
   * The claimed run cannot start (a log that does not resume, an input that does not decode): recorded as
   * failed, not released (a worker would claim it again and be refused again); a resume by hand (with a
   * migration, say) reopens it.
   */
  private failAtStart(error: CanoError): void {
    const fence = this.fence
    this.fence = undefined
    const ending: RunEnding = { status: 'failed', output: null, error: encodeError(error) }
    this.store.runs.finish(this.options.workflowId, fence, ending).then(
      () => this.refuse(error),
      () => this.refuse(error),
    )
  }

  /** The store as this run writes to it: appends fenced, the log's clearing deferred (see the module comment). */
  private fencedStore(): CheckpointStore {
    const { store } = this
    return {
      ...store,
      append: (row: CheckpointRow) =>
        store.append(row, this.fence).catch((e: unknown) => {
          // abandon first: the run must not react to the refusal (no rollback, nothing more written)
          if (isLeaseLost(e)) this.abandon(toCanoError(e))
          throw e
        }),
      clear: () => {
        this.clearWanted = true
        return Promise.resolve()
      },
    }
  }

  private onEvent(e: WorkflowEvent<S>, point: ResumePoint<S> | undefined): void {
    if (this.done) return
    if (isTerminalEvent(e)) return this.end(e)
    if (!this.left) this.subscriber.next(e)
    const park = this.options.park
    if (park === undefined) return
    if (e._tag === 'TimerArmed' && e.wakeAt - e.at > park.afterMs) {
      // the wake-up the run resumed from is durable already (a sleep's, or a poll delay's: a poll reports
      // each of its later waits too); a new one once its row is appended
      const resumedWake =
        !this.resumedWakeSeen &&
        point?._tag === 'State' &&
        point.state === e.state &&
        point.continues._tag === 'Timer' &&
        point.continues.wakeAt === e.wakeAt
      if (resumedWake) {
        this.resumedWakeSeen = true
        return this.park(e.wakeAt)
      }
      this.parkAt = e.wakeAt
    } else if (e._tag === 'CheckpointAppended' && e.kind === 'TimerArmed' && this.parkAt !== undefined) {
      this.park(this.parkAt)
    }
  }

  /** Records the outcome, then clears the log if the run asked for it, then reports the terminal event. */
  private end(terminal: TerminalEvent<S>): void {
    this.done = true
    this.stopRenewal()
    const { store, options } = this
    const id = options.workflowId
    // the log goes in the same transaction as the outcome, if the run asked to clear it
    store.runs.finish(id, this.fence, endingOf(terminal), this.clearWanted).then(
      () => this.report(terminal),
      (e: unknown) =>
        this.report({
          _tag: 'RunFailed',
          workflowId: id,
          at: terminal.at,
          state: terminal.state,
          error: isLeaseLost(e)
            ? toCanoError(e)
            : checkpointStoreError(`record the outcome of run ${JSON.stringify(id)}: ${toCanoError(e).message}`, e),
        }),
    )
  }

  private report(terminal: TerminalEvent<S>): void {
    if (this.left) return
    this.subscriber.next(terminal)
    this.subscriber.complete()
  }

  /**
   * The run lost its lease: it stops where it is and reports `RunFailed` with `error` (to its observers
   * too: the run is over here; the owner that claimed it reports its own run).
   */
  private abandon(error: CanoError): void {
    if (this.done) return
    this.done = true
    this.stopRenewal()
    this.driver?.abandon()
    const lost = this.lostOr(error)
    for (const o of this.observers)
      try {
        notifyObserver(o, lost)
      } catch {
        // an observer that throws never breaks a run
      }
    this.report(lost)
  }

  /** A cancel request reached the owner (a renewal saw it, or {@link RunControl.cancel}). */
  requestCancel(): void {
    this.cancelWith(cancelRequested())
  }

  /** Cancels the run with `reason` (the first reason stays): now if it has started, else as it starts. */
  private cancelWith(reason: CanoError): void {
    if (this.cancelReason !== undefined) return
    this.cancelReason = reason
    this.driver?.cancel(reason)
  }

  /** Hands the run over ({@link RunControl.handOver}): abandoned where it is, nothing more reported, its lease released. */
  handOver(): void {
    if (this.done) return
    this.done = true
    this.left = true
    this.stopRenewal()
    this.driver?.abandon()
    this.releaseLease()
  }

  /** Releases the lease of `fence` (best effort: a failed write leaves the lease to lapse). */
  private release(fence: number): void {
    const write = this.store.runs.release(this.options.workflowId, fence).catch(() => undefined)
    this.options.ownership.releasing?.(write)
  }

  /** A fault of the run's own stream (not a failed run: those end with a terminal event). */
  private fail(e: unknown): void {
    if (this.done) return
    this.done = true
    this.stopRenewal()
    this.releaseLease()
    if (!this.left) this.subscriber.error(toCanoFailure(e))
  }

  private park(wakeAt: number): void {
    const park = this.options.park
    if (this.done || park === undefined) return
    this.done = true
    this.stopRenewal()
    this.driver?.abandon()
    const fence = this.fence
    if (fence === undefined) return
    this.store.runs.release(this.options.workflowId, fence, wakeAt).then(
      () => {
        park.parked(wakeAt)
        if (!this.left) this.subscriber.complete()
      },
      (e: unknown) => this.report(this.lostOr(e)),
    )
  }

  /** The `RunFailed` of a run that stopped without its own ending (its lease lost, its record not written). */
  private lostOr(e: unknown): TerminalEvent<S> {
    return {
      _tag: 'RunFailed',
      workflowId: this.options.workflowId,
      at: this.options.ownership.scheduler.now(),
      state: undefined,
      error: toCanoError(e),
    }
  }

  /**
   * A run refused before it started: one `RunFailed`, as an unowned run reports it (to its observers even
   * when the subscriber has left).
   */
  private refuse(error: CanoError): void {
    if (this.done) return
    this.done = true
    const { workflowId, observers } = this.options
    // a refused run reports synchronously and completes: its subscription holds nothing
    refusedRun(this.wf, { error, workflowId, observers }, this.options.live !== false).subscribe(this.subscriber)
  }

  private armRenewal(): void {
    const { scheduler, renewMs, leaseMs } = this.options.ownership
    const { store } = this
    const id = this.options.workflowId
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the scheduled action's `this` is the action
    const run = this
    this.renewal = scheduler.schedule(function () {
      const fence = run.fence
      if (run.done || fence === undefined) return
      store.runs.renew(id, fence, leaseMs).then(
        (record) => {
          if (record.cancelRequested) run.requestCancel()
        },
        (e: unknown) => {
          if (isLeaseLost(e)) run.abandon(toCanoError(e))
          // any other failure (the store is unreachable): the next renewal tries again; the lease may lapse
        },
      )
      this.schedule(undefined, renewMs)
    }, renewMs)
  }

  private stopRenewal(): void {
    this.renewal?.unsubscribe()
    this.renewal = undefined
  }

  /** Gives the lease up (best effort): another process may claim the run at once. */
  private releaseLease(): void {
    const fence = this.fence
    if (fence === undefined) return
    this.fence = undefined
    this.release(fence)
  }

  /**
   * The downstream left: a cancellation. A running run ends `RunCancelled` (its sagas roll back) and its
   * outcome is recorded; one still being claimed starts cancelled (see {@link start}).
   */
  unsubscribe(): void {
    if (this.left) return
    this.left = true
    this.driver?.unsubscribe()
  }
}

/** A start whose id the run table holds already. */
const existingRun = (record: RunRecord, owner: string): CanoError => {
  if (record.status === 'running' && record.owner !== null && record.owner !== owner && record.leaseUntil !== null)
    return runOwnedError(record.workflowId, record.owner, record.leaseUntil)
  if (record.status === 'completed')
    return checkpointStoreError(
      `run ${JSON.stringify(record.workflowId)} has ended (completed): a workflowId runs once; choose another one`,
    )
  // the run exists and is not running here: its log (or its record) is what a new start would overwrite
  return checkpointStoreError(`append checkpoint: ${checkpointConflictError(record.workflowId, 0).message}`)
}

const noRows = (workflowId: string): CanoError =>
  checkpointStoreError(`no checkpoint rows for workflow id ${JSON.stringify(workflowId)}`)

const loadError = (workflowId: string, e: unknown): CanoError => {
  const cause = toCanoError(e)
  return cause._tag === 'CheckpointStore'
    ? cause
    : checkpointStoreError(`load checkpoint run ${JSON.stringify(workflowId)}: ${cause.message}`, cause)
}

const cancelRequested = (): CanoError => cancelledError('a cancel was requested')
