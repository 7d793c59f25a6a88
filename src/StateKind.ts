/**
 * `StateKind`: one descriptor per state kind, holding what the core knows about it: how its handler
 * is validated, its default retry policy, whether a visit writes a `StateEntry` row and under which
 * task id, which other row kinds it appends, and what it continues from when a run resumes into it.
 * The compiler (`compileWorkflow`) and the driver read these descriptors instead of switching on the
 * handler's `_tag`; the runners live in `streams/stateRunners.ts`, keyed the same way.
 *
 * Adding a kind: its handler type joins `StateHandler` (src/StateHandler.ts), then the type checker
 * asks for its entry in {@link stateKinds} and in `stateRunners`, and nothing else.
 *
 * @internal
 * @since 0.2.0
 */
import type { CanoError } from '../codecs/CanoError.js'
import type { CheckpointKind, JsonValue, PollPosition } from '../codecs/CheckpointRow.js'
import { validateBatch } from './Batch.js'
import { configurationError } from './CanoError.js'
import { validatePoll } from './Poll.js'
import type { Continuation } from './Resume.js'
import { RetryMode } from './RetryMode.js'
import { validateSaga } from './Saga.js'
import { validateSleep } from './Sleep.js'
import { validateSplit } from './Split.js'
import type { StateHandler } from './StateHandler.js'
import { validateStepped } from './Stepped.js'
import { type StreamPosition, validateStream } from './Stream.js'
import { isStreamItems, validateStreamItems } from './StreamItems.js'
import type { NoResources, ResourceRecord } from './TaskContext.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal The tag of a state kind (`'Task'`, `'Poll'`, …). */
export type KindTag = StateHandler<string>['_tag']

/** @internal The handler type of kind `K`. */
export type HandlerOf<K extends KindTag, S extends string = string, R extends ResourceRecord = NoResources> = Extract<
  StateHandler<S, R>,
  { readonly _tag: K }
>

/**
 * @internal What a resumed visit of each kind continues from (`never`: the kind starts afresh). A
 * `saga` state's `Supersedes` continuation is the driver's: it goes into the state's entry row.
 */
export interface Resumes {
  readonly Task: never
  /** A poll parked in a durable delay: the next poll at `wakeAt`, its loop as it stood. */
  readonly Poll: { readonly wakeAt: number; readonly position: PollPosition }
  readonly Stepped: { readonly encoded: JsonValue; readonly step: number }
  readonly Timer: number
  readonly Batch: never
  /** The committed position; a per-item stream's committed application cursor (encoded) too. */
  readonly Stream: StreamPosition & { readonly itemCursor?: JsonValue }
  readonly Split: never
  readonly Saga: never
}

/** @internal The descriptor of state kind `K`. */
export interface StateKind<K extends KindTag> {
  readonly tag: K
  /**
   * Checks the kind's own options; the `Configuration` error names `where` (`state "Scan"`). `known`
   * tells whether a label is a state or an exit of the workflow.
   */
  readonly validate: (
    handler: HandlerOf<K, string, ResourceRecord>,
    where: string,
    known: (state: string) => boolean,
  ) => CanoError | undefined
  /** The retry policy of a handler that sets none (a fresh value per state). */
  readonly defaultRetry: () => RetryMode
  /** Does a visit write a `StateEntry` row when the workflow has a checkpoint store? */
  readonly writesEntry: (handler: HandlerOf<K, string, ResourceRecord>) => boolean
  /** The task id its checkpoint rows carry, given the state's task id. */
  readonly rowTaskId: (taskId: string) => string
  /** The row kinds a visit appends after its `StateEntry` (documentation for stores and tests). */
  readonly persists: ReadonlyArray<CheckpointKind>
  /** What a resumed visit continues from, read off the resume point; `undefined`: it starts afresh. */
  readonly resume: (from: Continuation) => Resumes[K] | undefined
  /**
   * Does a visit in flight finish before a cancellation or the total timeout concludes the run? (A saga
   * step: its side effect may land after the signal and must then be compensated; its attempts' signals
   * are not linked to the run's, only its attempt timeout aborts them.) A stream that drains (a per-item
   * stream, or a window stream with `flushOnCancel`) too: it flushes and commits its partial window.
   */
  readonly finishesInFlight: (handler: HandlerOf<K, string, ResourceRecord>) => boolean
}

// -------------------------------------------------------------------------------------
// descriptors
// -------------------------------------------------------------------------------------

const afresh = (): undefined => undefined
const always = (): boolean => true
const never = (): boolean => false
const same = (taskId: string): string => taskId

/** cano's defaults: polls do not retry (`TaskConfig::minimal()`), and neither do streams. */
const noRetry = (): RetryMode => RetryMode.none()
const retries = (): RetryMode => RetryMode.default()

/** @internal The descriptor of every state kind, by tag. */
export const stateKinds: { readonly [K in KindTag]: StateKind<K> } = {
  Task: {
    tag: 'Task',
    validate: (h, where) =>
      typeof h.run !== 'function' ? configurationError(`${where}: run must be a function`) : undefined,
    defaultRetry: retries,
    // a router writes no checkpoint row and consumes no sequence number
    writesEntry: (h) => !h.router,
    rowTaskId: same,
    persists: [],
    resume: afresh,
    finishesInFlight: never,
  },
  Poll: {
    tag: 'Poll',
    validate: (h, where) => validatePoll(h, where),
    defaultRetry: noRetry,
    writesEntry: always,
    rowTaskId: same,
    // only a delay made durable for parking (a run with a park threshold): `TimerArmed` with the loop's position
    persists: ['TimerArmed'],
    resume: (from) =>
      from._tag === 'Timer' && from.poll !== undefined ? { wakeAt: from.wakeAt, position: from.poll } : undefined,
    finishesInFlight: never,
  },
  Stepped: {
    tag: 'Stepped',
    validate: (h, where) => validateStepped(h, where),
    defaultRetry: retries,
    writesEntry: always,
    rowTaskId: same,
    persists: ['StepCursor'],
    resume: (from) => (from._tag === 'Cursor' ? { encoded: from.cursor, step: from.step } : undefined),
    finishesInFlight: never,
  },
  Timer: {
    tag: 'Timer',
    validate: (h, where) => validateSleep(h, where),
    defaultRetry: retries,
    writesEntry: always,
    rowTaskId: same,
    persists: ['TimerArmed'],
    resume: (from) => (from._tag === 'Timer' ? from.wakeAt : undefined),
    finishesInFlight: never,
  },
  Batch: {
    tag: 'Batch',
    validate: (h, where) => validateBatch(h, where),
    defaultRetry: retries,
    writesEntry: always,
    rowTaskId: same,
    persists: [],
    resume: afresh,
    finishesInFlight: never,
  },
  Stream: {
    tag: 'Stream',
    validate: (h, where) => (isStreamItems(h) ? validateStreamItems(h, where) : validateStream(h, where)),
    defaultRetry: noRetry,
    writesEntry: always,
    rowTaskId: same,
    persists: ['StreamWindow'],
    resume: (from) =>
      from._tag !== 'Stream'
        ? undefined
        : from.itemCursor === undefined
          ? from.position
          : { ...from.position, itemCursor: from.itemCursor },
    finishesInFlight: (h) => isStreamItems(h) || h.flushOnCancel === true,
  },
  Split: {
    tag: 'Split',
    validate: (h, where, known) => validateSplit(h, where, known),
    defaultRetry: retries,
    writesEntry: always,
    // cano's task id for a split's rows is '' (its branches are not tasks of the state)
    rowTaskId: () => '',
    persists: [],
    resume: afresh,
    finishesInFlight: never,
  },
  Saga: {
    tag: 'Saga',
    validate: (h, where) => validateSaga(h, where),
    defaultRetry: retries,
    writesEntry: always,
    rowTaskId: same,
    // and, while rolling back, `RollbackStarted` (the driver's) and `CompensationDone` per undone step
    persists: ['CompensationCompletion'],
    resume: afresh,
    finishesInFlight: always,
  },
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** @internal Is `tag` the tag of a state kind? */
export const isKindTag = (tag: unknown): tag is KindTag =>
  typeof tag === 'string' && Object.prototype.hasOwnProperty.call(stateKinds, tag)

/** @internal A descriptor of any kind, as the compiler and the driver use it: by the handler's tag. */
export interface AnyStateKind {
  readonly tag: KindTag
  readonly validate: (
    handler: StateHandler<string, ResourceRecord>,
    where: string,
    known: (state: string) => boolean,
  ) => CanoError | undefined
  readonly defaultRetry: () => RetryMode
  readonly writesEntry: (handler: StateHandler<string, ResourceRecord>) => boolean
  readonly rowTaskId: (taskId: string) => string
  readonly persists: ReadonlyArray<CheckpointKind>
  readonly resume: (from: Continuation) => Resumes[KindTag] | undefined
  readonly finishesInFlight: (handler: StateHandler<string, ResourceRecord>) => boolean
}

/**
 * @internal The descriptor of the kind tagged `tag`. Its functions must be given a handler of that
 * kind: the mapped type of {@link stateKinds} cannot correlate a union of handlers with its entries.
 */
export const kindOf = (tag: KindTag): AnyStateKind => stateKinds[tag] as unknown as AnyStateKind
