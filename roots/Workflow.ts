/**
 * `workflow`: the composition root. `workflow<S>()(definition)` validates a definition and returns a
 * {@link Workflow} (`workflowEither` returns it as an fp-ts `Either` instead of throwing): an immutable
 * object whose runs are cold Observables of events (`run$`), of one result (`result$`) or of events with
 * snapshots (`watch$`), `for await` iterables (`events`), Promises (`orchestrate`) or fp-ts `TaskEither`s
 * (`orchestrateTE`); each has a `resume…` counterpart that continues a crashed run. The same `Workflow`
 * can run any number of times concurrently; runs share no mutable state.
 *
 * A run's life, whatever surface it runs through: it ends with exactly one terminal event (`RunCompleted`,
 * `RunFailed`, `RunCancelled`, `RunTimedOut`), which its observers always see. Leaving early
 * (unsubscribing, `take`, `takeUntil`, `switchMap`, `timeout()`, `firstValueFrom` on `run$`, a `break`
 * out of `for await`) is a cancellation, the same as aborting the run's `signal`: the in-flight task's
 * signal aborts, sagas roll back, resources are torn down, and the run ends `RunCancelled` with
 * `Cancelled: run unsubscribed (the subscriber left)`; only the subscriber that left sees none of it.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type * as t from 'io-ts'
import {
  asyncScheduler,
  catchError,
  defer,
  filter,
  from,
  lastValueFrom,
  map,
  type Observable,
  of,
  scan,
  switchMap,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { CanoFailure, checkpointStoreError, configurationError, toCanoError } from '../src/CanoError.js'
import type { CheckpointStore, RunStore } from '../src/CheckpointStore.js'
import { describeValue } from '../src/internal/describeValue.js'
import { stateDiagram } from '../src/internal/stateDiagram.js'
import { mintWorkflowId } from '../src/mintWorkflowId.js'
import type { Resources } from '../src/Resources.js'
import { resumePoint } from '../src/Resume.js'
import { decodeOutput, type RunOutput, type RunResult } from '../src/RunBoundary.js'
import { decodeRunOptions, decodeWorkflowId, type RunArgs, type RunEntry, type RunOptions } from '../src/RunOptions.js'
import { initialRunState, reduceRunState, reduceRunStateDecoding, type RunState } from '../src/RunState.js'
import type { RunRecord } from '../src/RunTable.js'
import type { NoResources, ResourceRecord } from '../src/TaskContext.js'
import { type CompiledWorkflow, compileWorkflow, type WorkflowDefinition } from '../src/WorkflowDefinition.js'
import { isTerminalEvent, type RunCompleted, type TerminalEvent, type WorkflowEvent } from '../src/WorkflowEvent.js'
import { failureOf, refusedRun, type RunStart, runToEnd, runWorkflow } from '../streams/runWorkflow.js'
import { toAsyncIterable } from '../streams/toAsyncIterable.js'
import { ownedRun$, type Ownership } from './internal/ownedRun.js'
import { thisProcess } from './internal/processOwner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A validated workflow, ready to run. `I`, `IE` and `O` type its run boundary (src/RunBoundary.ts): the
 * decoded input (`ctx.input`), the encoded input a run is given (`never`: the workflow takes none) and
 * the decoded output (`never`: it declares none, and runs resolve with the exit state alone).
 *
 * @example
 * import { task, workflow } from 'cano-rx'
 * const flow = workflow<'Start' | 'Done'>()({ exits: ['Done'], states: { Start: task(() => 'Done' as const) } })
 * const final = await flow.orchestrate('Start') // 'Done'
 * @category model
 * @since 0.1.0
 */
export interface Workflow<
  S extends string,
  R extends ResourceRecord = NoResources,
  I = undefined,
  IE = never,
  O = never,
> {
  /** The registered name the definition gave (`undefined` without one). @since 0.2.0 */
  readonly name: string | undefined
  /** States with a handler, in definition order. */
  readonly states: ReadonlyArray<S>
  /** Exit states. */
  readonly exits: ReadonlyArray<S>
  /** The workflow's resources. */
  readonly resources: Resources<R>
  /** Recorded version (default 0). */
  readonly version: number
  /** The input codec (`undefined` without one): what a run's `input` is decoded with. @since 0.2.0 */
  readonly input: t.Type<I, IE> | undefined
  /** The output codec (`undefined` without an output declaration). @since 0.2.0 */
  readonly output: t.Type<O, unknown> | undefined
  /**
   * A cold Observable of the run's events: subscribing starts a run. It always ends with exactly one
   * terminal event (`RunCompleted`, `RunFailed`, `RunCancelled`, `RunTimedOut`) and then completes; it
   * never errors for a failed run. Unsubscribing cancels the run (its observers see `RunCancelled`, its
   * sagas roll back: see the module comment). So `firstValueFrom(flow.run$(…))` resolves with `RunStarted`
   * and cancels the run at once, and `lastValueFrom` gives the terminal event, untyped as such: for the
   * exit state and output as one value use {@link Workflow.result$} (or `orchestrate`), for the last event
   * `run$(…).pipe(terminal())`. With an input codec, the options are required and hold `input`.
   */
  readonly run$: (initial: S, ...options: RunArgs<S, IE>) => Observable<WorkflowEvent<S>>
  /**
   * The run's result as a cold Observable of one value: the exit state (with an output declaration,
   * `{ state, output }`), then completion; a run that does not complete errors with a {@link CanoFailure}
   * (its `context` says where). `firstValueFrom(flow.result$(…))` is `orchestrate` as an Observable.
   * Unsubscribing before the value cancels the run, as for `run$`. @since 0.3.0
   */
  readonly result$: (initial: S, ...options: RunArgs<S, IE>) => Observable<RunResult<S, O>>
  /**
   * The run's events as an `AsyncIterable`: `for await (const e of flow.events('A')) …`. Each loop is its
   * own run, started at its first pull; events that arrive while the loop body runs are buffered in order
   * (the run does not wait for the loop). Leaving the loop early (`break`, `return`, a throw) cancels the
   * run, like unsubscribing from `run$`. @since 0.3.0
   */
  readonly events: (initial: S, ...options: RunArgs<S, IE>) => AsyncIterable<WorkflowEvent<S>>
  /**
   * One run's events each paired with the {@link RunState} snapshot after it (`{ event, snapshot }`):
   * events and progress of the same run from one subscription. @since 0.3.0
   */
  readonly watch$: (initial: S, ...options: RunArgs<S, IE>) => Observable<RunUpdate<S, O>>
  /** `run$` folded into frozen {@link RunState} snapshots, one per event (a completed run's holds its decoded output). */
  readonly snapshot$: (initial: S, ...options: RunArgs<S, IE>) => Observable<RunState<S, O>>
  /**
   * Runs to the end; resolves with the exit state (with an output declaration: `{ state, output }`, the
   * output decoded) or rejects with a {@link CanoFailure}.
   */
  readonly orchestrate: (initial: S, ...options: RunArgs<S, IE>) => Promise<RunResult<S, O>>
  /**
   * Continues a crashed run from its checkpoint log (the workflow needs `checkpoints`): the state of
   * the last row runs again, `seq` continues, a `stepped` state resumes from its last cursor and a
   * `sleep` state waits only for what is left; finished `saga` steps are back on the compensation stack. A
   * run that crashed while rolling back continues its rollback instead (no state runs, no finished
   * compensation runs twice) and ends with the original error. Emits `RunResumed` after `RunStarted`.
   * A workflow with an input codec decodes the input the run table kept for the run (the run-table
   * seam of src/RunBoundary.ts; `resume` takes no `input` option).
   */
  readonly resume$: (workflowId: string, options?: Omit<RunOptions<S>, 'workflowId'>) => Observable<WorkflowEvent<S>>
  /** `resume$` to the end; resolves like `orchestrate` or rejects with a {@link CanoFailure}. */
  readonly resume: (workflowId: string, options?: Omit<RunOptions<S>, 'workflowId'>) => Promise<RunResult<S, O>>
  /** `result$` of a resumed run (see `resume$`). @since 0.3.0 */
  readonly resumeResult$: (
    workflowId: string,
    options?: Omit<RunOptions<S>, 'workflowId'>,
  ) => Observable<RunResult<S, O>>
  /** `events` of a resumed run (see `resume$`). @since 0.3.0 */
  readonly resumeEvents: (
    workflowId: string,
    options?: Omit<RunOptions<S>, 'workflowId'>,
  ) => AsyncIterable<WorkflowEvent<S>>
  /** `watch$` of a resumed run (see `resume$`): its snapshots start from the resume. @since 0.3.0 */
  readonly resumeWatch$: (
    workflowId: string,
    options?: Omit<RunOptions<S>, 'workflowId'>,
  ) => Observable<RunUpdate<S, O>>
  /** `orchestrate` as an fp-ts `TaskEither`: `Left` is the {@link CanoError}. */
  readonly orchestrateTE: (initial: S, ...options: RunArgs<S, IE>) => TaskEither<CanoError, RunResult<S, O>>
  /** `resume` as an fp-ts `TaskEither`: `Left` is the {@link CanoError}. @since 0.3.0 */
  readonly resumeTE: (
    workflowId: string,
    options?: Omit<RunOptions<S>, 'workflowId'>,
  ) => TaskEither<CanoError, RunResult<S, O>>
  /**
   * A Mermaid `stateDiagram-v2` of the declared transitions: `[*]` points at `initial` (default: the
   * first state of the definition), each exit points at `[*]`, every state is drawn under an alias
   * (`s0`, `s1`, … in definition order) labelled with its name, and a state whose handler declares no
   * targets (no `to`) carries the note `targets not declared` instead of edges. An `initial` that is
   * neither a state nor an exit throws a {@link CanoFailure} carrying a `Configuration` error.
   */
  readonly toMermaid: (options?: { readonly initial?: S }) => string
}

/**
 * One event of a run and the {@link RunState} snapshot after it: what {@link Workflow.watch$} emits.
 *
 * @example
 * import { task, workflow, type RunUpdate } from 'cano-rx'
 * const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * flow.watch$('A').subscribe(({ event, snapshot }: RunUpdate<'A' | 'Done'>) => console.log(event._tag, snapshot.status))
 * @category model
 * @since 0.3.0
 */
export interface RunUpdate<S extends string, O = never> {
  readonly event: WorkflowEvent<S>
  /** The snapshot once `event` is folded in. */
  readonly snapshot: RunState<S, O>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Defines a workflow over the state union `S`. Curried so `S` is given explicitly while the
 * resources and exits are inferred: `workflow<Step>()({ … })`. A non-exit state without a handler, a
 * handler returning a state outside `S` and an exit outside `S` are compile errors; what types cannot
 * see is checked here and throws a {@link CanoFailure} carrying a `Configuration` error that names the
 * state.
 *
 * @example
 * import { Resources, RetryMode, workflow } from 'cano-rx'
 * type Step = 'Fetch' | 'Store' | 'Done' | 'Failed'
 * const flow = workflow<Step>()({
 *   resources: Resources.of({ baseUrl: 'https://example.org' }),
 *   exits: ['Done', 'Failed'],
 *   // the function form hands you task() bound to Step and to the resources: `res.get` is typed
 *   states: ({ task }) => ({
 *     Fetch: task(
 *       async ({ res, signal }): Promise<Step> => ((await fetch(res.get('baseUrl'), { signal })).ok ? 'Store' : 'Failed'),
 *       { retry: RetryMode.exponential(3), attemptTimeoutMs: 2_000 },
 *     ),
 *     Store: task(() => 'Done'),
 *   }),
 *   totalTimeoutMs: 60_000,
 * })
 * @see {@link workflowEither}, which returns the error as an fp-ts `Left` instead of throwing
 * @category constructors
 * @since 0.1.0
 */
export const workflow =
  <S extends string>() =>
  <R extends ResourceRecord = NoResources, const X extends S = never, I = undefined, IE = never, O = never>(
    definition: WorkflowDefinition<S, R, X, I, IE, O>,
  ): Workflow<S, R, I, IE, O> => {
    const defined = workflowEither<S>()<R, X, I, IE, O>(definition)
    if (E.isLeft(defined)) throw new CanoFailure(defined.left)
    return defined.right
  }

/**
 * {@link workflow} for fp-ts code: the same checks, the same {@link Workflow}, but a definition the
 * types cannot check (a bad option, an exit that has a handler, a `states` function that throws) is a
 * `Left` carrying the `Configuration` error that names the state, rather than a throw.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import { describeCanoError, task, workflowEither } from 'cano-rx'
 * const defined = workflowEither<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * if (E.isLeft(defined)) console.error(describeCanoError(defined.left))
 * else await defined.right.orchestrate('A')
 * @category constructors
 * @since 0.3.0
 */
export const workflowEither =
  <S extends string>() =>
  <R extends ResourceRecord = NoResources, const X extends S = never, I = undefined, IE = never, O = never>(
    definition: WorkflowDefinition<S, R, X, I, IE, O>,
  ): E.Either<CanoError, Workflow<S, R, I, IE, O>> => {
    const compiled = compileWorkflow<S, R, X, I, IE, O>(definition)
    // the compiled workflow erased the boundary's types; the definition's codecs carry them
    return E.isLeft(compiled) ? compiled : E.right(fromCompiled(compiled.right) as unknown as Workflow<S, R, I, IE, O>)
  }

/** The compiled form of each workflow built here, for the runtime (roots/Runtime.ts). */
const compiled = new WeakMap<object, CompiledWorkflow<string, ResourceRecord>>()

/** @internal The compiled form of `flow`; `undefined` for an object not built by {@link workflow}. */
export const compiledOf = (flow: unknown): CompiledWorkflow<string, ResourceRecord> | undefined =>
  typeof flow === 'object' && flow !== null ? compiled.get(flow) : undefined

/** The lease of a run started or resumed outside a runtime on a store with a run table. */
const LEASE_MS = 30_000

/**
 * The workflow object of a compiled workflow. The compiled workflow erased the boundary's types (the
 * run's result is the exit state or a `RunOutput`, the output `unknown`); {@link workflow} restores them.
 */
const fromCompiled = <S extends string, R extends ResourceRecord>(wf: CompiledWorkflow<S, R>) => {
  const entry: RunEntry = { checkpointed: wf.checkpoints !== undefined, input: wf.input }
  /** The public entry decodes a run's options (and its input) once: a refusal or the options the run uses. */
  const decode = (options: RunOptions<S> | undefined) => decodeRunOptions<S>(options, entry)
  /** What a completed run resolves with: its exit state, or the state and the decoded output. */
  const complete = completion<S>(wf.output?.codec)
  type Result = S | RunOutput<S, unknown>
  /** A store with a run table: every run is owned (roots/internal/ownedRun.ts). */
  const owned = hasRunTable(wf.checkpoints) ? wf.checkpoints : undefined
  const ownership = (leaseMs = LEASE_MS): Ownership => ({
    owner: thisProcess(),
    leaseMs,
    renewMs: Math.max(1, Math.floor(leaseMs / 3)),
    scheduler: asyncScheduler,
  })
  /** A new run of `initial` with decoded options: owned when the store keeps a run table. */
  const fresh = (initial: S, decoded: RunStart<S>, live: boolean): Observable<WorkflowEvent<S>> =>
    owned === undefined || E.isLeft(decoded)
      ? runWorkflow(wf, initial, () => decoded, live)
      : ownedRun$(wf, owned, {
          workflowId: decoded.right.workflowId,
          acquire: {
            _tag: 'Start',
            initial,
            workflow: wf.name ?? '',
            input: encodeInput(wf.input, decoded.right.input),
          },
          run: () => decoded,
          observers: decoded.right.observers,
          ownership: ownership(decoded.right.leaseMs),
          live,
        })
  // each subscription is its own run, with its own id
  const run$ = (initial: S, options?: RunOptions<S>): Observable<WorkflowEvent<S>> =>
    defer(() => fresh(initial, decode(options), true))
  // no Observable in between: a parked run holds its driver and what its state waits on, nothing more
  const orchestrate = (initial: S, options?: RunOptions<S>): Promise<Result> =>
    owned === undefined
      ? runToEnd(wf, initial, decode(options), complete)
      : lastValueFrom(fresh(initial, decode(options), false).pipe(filter(isTerminalEvent))).then((end) =>
          settle(end, complete),
        )
  const resumeRun = (
    workflowId: string,
    options: Omit<RunOptions<S>, 'workflowId'>,
    live: boolean,
  ): Observable<WorkflowEvent<S>> =>
    defer(() => {
      const store = wf.checkpoints
      /** A run refused before it starts: observers and the event stream still see its `RunFailed`. */
      const refused = (error: CanoError): Observable<WorkflowEvent<S>> =>
        refusedRun(
          wf,
          { error, workflowId: typeof workflowId === 'string' ? workflowId : mintWorkflowId(), observers: undefined },
          live,
        )
      if (store === undefined)
        return refused(
          configurationError('resume requires a checkpoint store: set `checkpoints` in the workflow definition'),
        )
      const id = decodeWorkflowId(workflowId, 'resume requires a non-empty workflowId')
      if (E.isLeft(id)) return refused(id.left)
      if (owned !== undefined) {
        // the options are checked now; the input comes back from the run's record once the run is claimed
        const checked = decodeRunOptions<S>(
          { ...options, workflowId: id.right },
          { ...entry, input: undefined, resumed: true },
        )
        if (E.isLeft(checked)) return refusedRun(wf, checked.left, live)
        return ownedRun$(wf, owned, {
          workflowId: id.right,
          acquire: { _tag: 'Resume' },
          run: (record) =>
            decodeRunOptions<S>(
              { ...options, workflowId: id.right, runTable: { ...options.runTable, input: storedInput(record) } },
              { ...entry, resumed: true },
            ),
          observers: checked.right.observers,
          ownership: ownership(checked.right.leaseMs),
          live,
        })
      }
      // the input comes back from the run table (the seam of src/RunBoundary.ts), decoded before the log is read
      const decoded = decodeRunOptions<S>({ ...options, workflowId: id.right }, { ...entry, resumed: true })
      if (E.isLeft(decoded)) return refusedRun(wf, decoded.left, live)
      const { observers } = decoded.right
      return from(store.loadRun(id.right)).pipe(
        map((rows) =>
          resumePoint<S>(id.right, rows, {
            version: wf.version,
            isKnown: (s) => wf.states.has(s) || wf.exits.has(s),
            migrations: wf.migrations,
          }),
        ),
        catchError((e: unknown) => {
          const cause = toCanoError(e)
          return of(
            E.left(
              cause._tag === 'CheckpointStore'
                ? cause
                : checkpointStoreError(`load checkpoint run ${JSON.stringify(workflowId)}: ${cause.message}`, cause),
            ),
          )
        }),
        switchMap((point) =>
          E.isLeft(point)
            ? refusedRun(wf, { error: point.left, workflowId: id.right, observers }, live)
            : runWorkflow(wf, point.right.state, () => decoded, live, point.right),
        ),
      )
    })
  const outputCodec = wf.output?.codec
  const reduce =
    outputCodec === undefined
      ? reduceRunState<S>
      : reduceRunStateDecoding<S, unknown>((encoded) => decodedOrThrow(outputCodec, encoded))
  /** A run's events (only its terminal one is needed) as its one result, or its `CanoFailure`. */
  const toResult = (events$: Observable<WorkflowEvent<S>>): Observable<Result> =>
    events$.pipe(
      filter(isTerminalEvent),
      map((end) => settle(end, complete)),
    )
  /** Each event of a run with the snapshot after it, folded from `seed` (one fold per subscription). */
  const withSnapshots = (events$: Observable<WorkflowEvent<S>>, workflowId: string) =>
    defer(() => {
      let snapshot = initialRunState<S>(workflowId)
      return events$.pipe(
        map((event) => {
          snapshot = reduce(snapshot, event)
          return { event, snapshot }
        }),
      )
    })
  const resumeOrchestrate = async (workflowId: string, options: Omit<RunOptions<S>, 'workflowId'> = {}) =>
    settle(await lastValueFrom(resumeRun(workflowId, options, false).pipe(filter(isTerminalEvent))), complete)
  const flow = Object.freeze({
    name: wf.name,
    states: Object.freeze([...wf.states.keys()] as S[]),
    exits: Object.freeze([...wf.exits] as S[]),
    resources: wf.resources,
    version: wf.version,
    input: wf.input,
    output: outputCodec,
    run$,
    // the terminal event alone is built when nobody else listens (`live` false)
    result$: (initial: S, options?: RunOptions<S>) => defer(() => toResult(fresh(initial, decode(options), false))),
    events: (initial: S, options?: RunOptions<S>) => toAsyncIterable(() => run$(initial, options)),
    watch$: (initial: S, options?: RunOptions<S>) =>
      defer(() => {
        const decoded = decode(options)
        const id = E.isLeft(decoded) ? decoded.left.workflowId : decoded.right.workflowId
        return withSnapshots(fresh(initial, decoded, true), id)
      }),
    // the id is known before the first event (decoded or minted here): the seed carries it
    snapshot$: (initial: S, options?: RunOptions<S>) =>
      defer(() => {
        const decoded = decode(options)
        const id = E.isLeft(decoded) ? decoded.left.workflowId : decoded.right.workflowId
        return fresh(initial, decoded, true).pipe(scan(reduce, initialRunState<S>(id)))
      }),
    orchestrate,
    resume$: (workflowId: string, options: Omit<RunOptions<S>, 'workflowId'> = {}) =>
      resumeRun(workflowId, options, true),
    resume: resumeOrchestrate,
    resumeResult$: (workflowId: string, options: Omit<RunOptions<S>, 'workflowId'> = {}) =>
      defer(() => toResult(resumeRun(workflowId, options, false))),
    resumeEvents: (workflowId: string, options: Omit<RunOptions<S>, 'workflowId'> = {}) =>
      toAsyncIterable(() => resumeRun(workflowId, options, true)),
    resumeWatch$: (workflowId: string, options: Omit<RunOptions<S>, 'workflowId'> = {}) =>
      withSnapshots(resumeRun(workflowId, options, true), typeof workflowId === 'string' ? workflowId : ''),
    orchestrateTE:
      (initial: S, options?: RunOptions<S>): TaskEither<CanoError, Result> =>
      () =>
        orchestrate(initial, options).then(
          (s) => E.right(s),
          (e: unknown) => E.left(toCanoError(e)),
        ),
    resumeTE:
      (workflowId: string, options?: Omit<RunOptions<S>, 'workflowId'>): TaskEither<CanoError, Result> =>
      () =>
        resumeOrchestrate(workflowId, options).then(
          (s) => E.right(s),
          (e: unknown) => E.left(toCanoError(e)),
        ),
    toMermaid: (options?: { readonly initial?: S }) => toMermaid(wf, options?.initial),
  })
  compiled.set(flow, wf as unknown as CompiledWorkflow<string, ResourceRecord>)
  return flow
}

const hasRunTable = (store: CheckpointStore | undefined): store is RunStore => store?.runs !== undefined

/**
 * The input a run's record kept, as the run-table seam hands it to the decoder. `null` is an input like
 * any other (a codec such as `t.null` or `t.unknown` takes it; one that does not says so): a workflow
 * without an input codec never reads it.
 */
export const storedInput = (record: RunRecord): JsonValue | undefined => record.input

/** The encoded input a run table keeps: the codec's encoding of the decoded input (`null` without a codec). */
const encodeInput = (codec: t.Type<unknown, unknown> | undefined, input: unknown): JsonValue =>
  codec === undefined ? null : (JSON.parse(JSON.stringify(codec.encode(input))) as JsonValue)

/** What a run that ended with `end` resolves with; a run that did not complete throws its {@link failureOf}. */
const settle = <S extends string, T>(end: TerminalEvent<S>, complete: (e: RunCompleted<S>) => T): T => {
  if (end._tag === 'RunCompleted') return complete(end)
  throw failureOf(end)
}

/**
 * What a completed run resolves with: the exit state without an output codec; with one, the state and
 * the output decoded from what `RunCompleted` carries.
 */
const completion =
  <S extends string>(codec: t.Type<unknown, unknown> | undefined) =>
  (e: RunCompleted<S>): S | RunOutput<S, unknown> =>
    codec === undefined ? e.state : { state: e.state, output: decodedOrThrow(codec, e.output) }

/** The decoded output; a `CanoFailure` when it does not decode (an event the run did not build). */
const decodedOrThrow = (codec: t.Type<unknown, unknown>, encoded: unknown): unknown => {
  const decoded = decodeOutput(codec, encoded)
  if (E.isLeft(decoded)) throw new CanoFailure(decoded.left)
  return decoded.right
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const toMermaid = <S extends string, R extends ResourceRecord>(wf: CompiledWorkflow<S, R>, initial?: S): string => {
  const from: unknown = initial ?? wf.states.keys().next().value
  if (typeof from !== 'string' || !(wf.states.has(from) || wf.exits.has(from)))
    throw new CanoFailure(
      configurationError(`toMermaid: initial ${describeValue(from)} is neither a state nor an exit`),
    )
  const states = [...wf.states.values()].map((st) => ({ name: st.name, to: st.to }))
  return stateDiagram({ states, exits: wf.exits, initial: from })
}
