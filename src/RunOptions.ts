/**
 * `RunOptions`: what a caller may pass to one run (`run$`, `orchestrate`, `snapshot$`, `resume`), and
 * their decoding. Options are decoded once, at the public entry: a wrong shape (JavaScript callers, `as`
 * casts) or an id no store could keep is a `Configuration` error naming the option, reported as the
 * run's `RunFailed` before anything runs; a run without an id gets one minted (src/mintWorkflowId.ts).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type { SchedulerLike } from 'rxjs'

import type { CanoError, Configuration } from '../codecs/CanoError.js'
import { Count } from '../codecs/Config.js'
import { WorkflowId } from '../codecs/WorkflowId.js'
import { configurationError } from './CanoError.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeValue } from './internal/describeValue.js'
import { mintWorkflowId } from './mintWorkflowId.js'
import { decodeInput, type RunTableSeam, unexpectedInput } from './RunBoundary.js'
import type { WorkflowObserver } from './WorkflowObserver.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of one run.
 *
 * @example
 * import type { RunOptions } from 'cano-rx'
 * const ac = new AbortController()
 * const opts: RunOptions<'A' | 'Done'> = { workflowId: 'order-42', signal: ac.signal }
 * @category model
 * @since 0.1.0
 */
export interface RunOptions<S extends string> {
  /**
   * The run's id (checkpoint key, event field): a non-empty string with no NUL character and no unpaired
   * UTF-16 surrogate. Default: a random UUID (a workflow with a checkpoint store requires one).
   */
  readonly workflowId?: string
  /** Aborting it cancels the run: the in-flight task's signal fires and the run ends `Cancelled`. */
  readonly signal?: AbortSignal
  /** Observers of this run only, after the workflow's own. */
  readonly observers?: ReadonlyArray<WorkflowObserver<S>>
  /**
   * Set up and tear down the workflow's resources around this run. Default `true`. The scheduler
   * passes `false`: it sets resources up once at start and tears them down once at stop.
   */
  readonly manageResources?: boolean
  /**
   * Scheduler of this run's timers and timestamps, overriding the workflow's own (the scheduler
   * passes its clock so scheduled runs and flow statuses share one time base).
   */
  readonly scheduler?: SchedulerLike
  /**
   * On a store with a run table, how long this process's claim on the run holds without renewal, in
   * milliseconds (renewed every third of it while the run executes). After a crash, the run can be
   * resumed elsewhere once it ends. An integer in [1, 2147483647]. Default `30_000`.
   */
  readonly leaseMs?: number
  /** @internal The run-table seam (src/RunBoundary.ts `RunTableSeam`): filled by a runtime, never by hand. */
  readonly runTable?: RunTableSeam
}

/**
 * The run options a run takes after its initial state: optional for a workflow without an input codec
 * (`IE` is `never`), required and holding `input` (the codec's encoded form) for one with.
 *
 * @example
 * import type { RunArgs } from 'cano-rx'
 * const none: RunArgs<'A' | 'Done', never> = []
 * const some: RunArgs<'A' | 'Done', { orderId: string }> = [{ input: { orderId: 'o-1' } }]
 * @see {@link RunOptions}
 * @category model
 * @since 0.2.0
 */
export type RunArgs<S extends string, IE> = [IE] extends [never]
  ? [options?: RunOptions<S>]
  : [options: RunOptions<S> & { readonly input: IE }]

/** @internal Run options once decoded: every default applied, the id checked or minted, the input decoded. */
export interface DecodedRunOptions<S extends string> {
  readonly workflowId: WorkflowId
  readonly signal: AbortSignal | undefined
  readonly observers: ReadonlyArray<WorkflowObserver<S>> | undefined
  readonly manageResources: boolean
  readonly scheduler: SchedulerLike | undefined
  /** The lease of an owned run (`undefined`: the default). */
  readonly leaseMs: number | undefined
  /** The decoded input (`undefined` without an input codec). */
  readonly input: unknown
  /** The run table's hook for the encoded output, if a runtime passed one. */
  readonly recordOutput: RunTableSeam['recordOutput']
  /**
   * The owner's park threshold (a runtime's `parkAfterMs`): a `poll` wait longer than this is made
   * durable so that the owner can park the run. Absent: a poll persists no wait.
   */
  readonly parkAfterMs?: number | undefined
}

/**
 * @internal What {@link decodeRunOptions} needs to know of the workflow: whether it has a checkpoint store
 * (then a run needs an id of its own; none is minted) and its input codec.
 */
export interface RunEntry {
  readonly checkpointed: boolean
  readonly input: t.Type<unknown, unknown> | undefined
  /** `true` for a resume: the input comes from the run-table seam, not from the `input` option. */
  readonly resumed?: boolean
}

/**
 * @internal A run refused before it starts: its `RunFailed` carries `error` and `workflowId` (the id as
 * given when it is a string, else a minted one) and reaches the workflow's observers and `observers`
 * (the caller's, when the options had the right shape).
 */
export interface RefusedRun<S extends string> {
  readonly error: CanoError
  readonly workflowId: string
  readonly observers: ReadonlyArray<WorkflowObserver<S>> | undefined
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * @internal Decodes a run's id. Not a string, or empty: `Configuration(empty)`; a string no store could
 * keep: a `Configuration` error naming it.
 */
export const decodeWorkflowId = (u: unknown, empty: string): E.Either<Configuration, WorkflowId> => {
  if (WorkflowId.is(u)) return E.right(u)
  if (typeof u !== 'string' || u === '') return E.left(configurationError(empty))
  return E.left(
    configurationError(
      `workflowId ${JSON.stringify(u)} cannot be stored: it contains a NUL character or an unpaired UTF-16 surrogate`,
    ),
  )
}

/**
 * @internal Decodes what a caller passed as a run's options, and the run's input with the workflow's
 * codec (`entry`): bad input is refused with a `DecodeFailed` error naming the field, before anything runs.
 */
export const decodeRunOptions = <S extends string>(
  options: unknown,
  entry: RunEntry,
): E.Either<RefusedRun<S>, DecodedRunOptions<S>> => {
  const shapeError = checkShape(options)
  if (shapeError !== undefined) {
    const given: unknown =
      typeof options === 'object' && options !== null ? Reflect.get(options, 'workflowId') : undefined
    return E.left({
      error: shapeError,
      workflowId: typeof given === 'string' ? given : mintWorkflowId(),
      observers: undefined,
    })
  }
  const o: RunOptions<S> & { readonly input?: unknown } = options ?? {}
  const observers = o.observers === undefined || o.observers.length === 0 ? undefined : o.observers
  let workflowId: WorkflowId
  if (o.workflowId === undefined && !entry.checkpointed) workflowId = mintWorkflowId()
  else {
    const id = decodeWorkflowId(
      o.workflowId,
      o.workflowId === undefined
        ? 'checkpointing requires a workflowId: pass { workflowId } to orchestrate / run$'
        : 'workflowId must be a non-empty string',
    )
    if (E.isLeft(id))
      return E.left({
        error: id.left,
        workflowId: typeof o.workflowId === 'string' ? o.workflowId : mintWorkflowId(),
        observers,
      })
    workflowId = id.right
  }
  // the input: decoded with the workflow's codec (a resume takes it from the run-table seam)
  const resumed = entry.resumed === true
  if (resumed && o.input !== undefined) return E.left({ error: resumeInput(), workflowId, observers })
  const given: unknown = resumed ? o.runTable?.input : o.input
  let input: unknown
  if (entry.input !== undefined) {
    const decoded = decodeInput(entry.input, given, workflowId, resumed)
    if (E.isLeft(decoded)) return E.left({ error: decoded.left, workflowId, observers })
    input = decoded.right.decoded
  } else if (o.input !== undefined) return E.left({ error: unexpectedInput(), workflowId, observers })
  return E.right({
    workflowId,
    signal: o.signal,
    observers,
    manageResources: o.manageResources ?? true,
    scheduler: o.scheduler,
    leaseMs: o.leaseMs,
    input,
    recordOutput: o.runTable?.recordOutput,
  })
}

/** `input` given to `resume`: a resumed run's input is the one its run table kept. */
const resumeInput = (): Configuration =>
  configurationError('resume takes no input option: a resumed run decodes the input its run table kept')

/** What is wrong with the shape of a run's options; `undefined` when they are fine (or absent). */
const checkShape = (options: unknown): Configuration | undefined => {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null)
    return configurationError(`run options must be an object, got ${describeValue(options)}`)
  const o = options as Record<string, unknown>
  const signal = o['signal']
  if (
    signal !== undefined &&
    (typeof signal !== 'object' ||
      signal === null ||
      typeof (signal as Partial<AbortSignal>).aborted !== 'boolean' ||
      typeof (signal as Partial<AbortSignal>).addEventListener !== 'function' ||
      typeof (signal as Partial<AbortSignal>).removeEventListener !== 'function')
  )
    return configurationError(`run option signal must be an AbortSignal, got ${describeValue(signal)}`)
  const observers = o['observers']
  if (
    observers !== undefined &&
    (!Array.isArray(observers) || observers.some((x: unknown) => typeof x !== 'object' || x === null))
  )
    return configurationError(`run option observers must be a list of WorkflowObserver objects`)
  const scheduler = o['scheduler']
  if (
    scheduler !== undefined &&
    (typeof scheduler !== 'object' ||
      scheduler === null ||
      typeof (scheduler as Partial<SchedulerLike>).now !== 'function' ||
      typeof (scheduler as Partial<SchedulerLike>).schedule !== 'function')
  )
    return configurationError(`run option scheduler must be an RxJS SchedulerLike, got ${describeValue(scheduler)}`)
  // the run table's own lease rule (codecs/Config.ts `Count`): an integer in [1, 2147483647]
  const lease = o['leaseMs']
  if (lease !== undefined) {
    const badLease = checkConfig(Count, lease, 'run option leaseMs')
    if (badLease !== undefined) return badLease
  }
  const manage = o['manageResources']
  if (manage !== undefined && typeof manage !== 'boolean')
    return configurationError(`run option manageResources must be a boolean, got ${describeValue(manage)}`)
  const seam = o['runTable']
  if (seam !== undefined) {
    if (typeof seam !== 'object' || seam === null)
      return configurationError(`run option runTable must be an object, got ${describeValue(seam)}`)
    const record: unknown = (seam as { readonly recordOutput?: unknown }).recordOutput
    if (record !== undefined && typeof record !== 'function')
      return configurationError(`run option runTable.recordOutput must be a function, got ${describeValue(record)}`)
  }
  return undefined
}
