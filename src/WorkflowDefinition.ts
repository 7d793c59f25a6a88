/**
 * `WorkflowDefinition`: the data a workflow is made of (states, exits, resources, options) and its
 * validation. The compiler checks what types can see (every non-exit state has a handler, targets
 * and exits belong to the state union); {@link compileWorkflow} checks the rest at definition time
 * and returns `Configuration` errors that name the state.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type { SchedulerLike } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { NonNegativeInteger, optional, TimerDuration } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import type { CheckpointStore } from './CheckpointStore.js'
import { checkConfig, showNumber } from './internal/checkConfig.js'
import { describeThrownValue, describeValue } from './internal/describeValue.js'
import { isResources, Resources } from './Resources.js'
import type { Migrations } from './Resume.js'
import { checkInputCodec, checkName, checkOutput, type CompiledOutput, type OutputDeclaration } from './RunBoundary.js'
import { type StateBuilders, stateBuilders, type StateHandler } from './StateHandler.js'
import { isKindTag, kindOf } from './StateKind.js'
import { type ResolvedTaskConfig, resolveTaskConfig, runsInline, validateTaskConfig } from './TaskConfig.js'
import type { NoResources, ResourceRecord, WithInput } from './TaskContext.js'
import type { WorkflowObserver } from './WorkflowObserver.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What `workflow<S>()(…)` takes. `states` must have a handler for every state of `S` that is not in
 * `exits` (and none for exits).
 *
 * The run boundary (src/RunBoundary.ts) is typed by the last three parameters, all inferred by
 * `workflow<S>()(…)`: `I` is the decoded input (`ctx.input`; `undefined` without an `input` codec), `IE`
 * its encoded form (what a run is given; `never` without a codec), `O` the decoded output (`never`
 * without an `output` declaration).
 *
 * @example
 * import { task, type WorkflowDefinition } from 'cano-rx'
 * type Step = 'Fetch' | 'Done'
 * const def: WorkflowDefinition<Step, Record<never, never>, 'Done'> = {
 *   exits: ['Done'],
 *   states: { Fetch: task(() => 'Done' as const) },
 * }
 * @category model
 * @since 0.1.0
 */
export interface WorkflowDefinition<
  S extends string,
  R extends ResourceRecord = NoResources,
  E extends S = S,
  I = undefined,
  IE = never,
  O = never,
> {
  /**
   * The workflow's registered name (a non-empty string): what a runtime's registry and run table know
   * it by. Optional for a workflow run by hand.
   */
  readonly name?: string
  /**
   * The input codec (io-ts; its encoded form is JSON). Each run is then given `{ input }` (the encoded
   * form), decoded before anything runs (bad input: `RunFailed` with `DecodeFailed` naming the field,
   * nothing written) and typed as `ctx.input` in every handler of the function form of `states`.
   */
  readonly input?: t.Type<I, IE>
  /**
   * The output: its codec and the function producing it at the exit (before resources are torn down).
   * `orchestrate` then resolves with `{ state, output }` and `RunCompleted` carries the encoded output.
   */
  readonly output?: OutputDeclaration<O, E, R & WithInput<NoInfer<I>>>
  /** Typed resources handed to every task; set up before the first state, torn down after the last. */
  readonly resources?: Resources<R>
  /** States that end the run. At least one. */
  readonly exits: ReadonlyArray<E>
  /**
   * A handler per non-exit state: a record, or a function of the {@link StateBuilders} (use the
   * function form when tasks read typed resources or the typed input: `states: ({ task }) => ({ … })`).
   */
  readonly states:
    | StateHandlers<S, R & WithInput<NoInfer<I>>, E>
    | ((builders: StateBuilders<S, R & WithInput<NoInfer<I>>>) => StateHandlers<S, R & WithInput<NoInfer<I>>, E>)
  /** Wall-clock bound of a run (setup excluded); on expiry the run ends `WorkflowTimeout`. */
  readonly totalTimeoutMs?: number
  /**
   * Wall-clock budget of a saga rollback, in (0, 2^31-1] ms, from the moment it starts (whatever
   * started it: a failure, a cancellation, the total timeout, a resume). When it runs out, the
   * compensation in flight is abandoned (its signal aborts with a `Timeout`), the entries not reached
   * are not compensated, and the run ends with `CompensationFailed` (see `docs/saga.md`); the log is
   * kept, so a resume finishes the rollback. Default (cano 0.14's): with `totalTimeoutMs`,
   * `min(totalTimeoutMs / 2, 30_000)`; without it, no budget (each compensation is bounded only by its
   * own timeout).
   */
  readonly compensationTimeoutMs?: number
  /** Recorded with checkpoints; resuming under another version is refused. Default 0. */
  readonly version?: number
  /** Observers of every run of this workflow. */
  readonly observers?: ReadonlyArray<WorkflowObserver<S>>
  /** Scheduler for retry waits, timeouts and timestamps. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: () => number
  /**
   * Checkpoint store: every non-router state entry, stepped cursor, timer wake-up and saga output is
   * written before the work it guards (and a rollback records its progress), so a crashed run can be
   * resumed with `flow.resume(id)`. Runs then need an explicit `workflowId`.
   */
  readonly checkpoints?: CheckpointStore
  /** Maps states of runs recorded under older versions (see `version`). */
  readonly migrations?: Migrations<S>
}

/**
 * The record of handlers: one per non-exit state. A handler built without resources
 * (`task(() => …)` at top level) fits any workflow.
 *
 * @example
 * import { task, type StateHandlers } from 'cano-rx'
 * const states: StateHandlers<'A' | 'Done', Record<never, never>, 'Done'> = { A: task(() => 'Done' as const) }
 * @category model
 * @since 0.1.0
 */
export type StateHandlers<S extends string, R extends ResourceRecord, E extends S> = {
  readonly [K in Exclude<S, E>]: StateHandler<S, R> | StateHandler<S>
}

/**
 * A state of a validated workflow: its handler with the config resolved and its task id.
 *
 * @example
 * import { task } from 'cano-rx'
 * import { type CompiledState, compileWorkflow } from './WorkflowDefinition.js'
 * const checked = compileWorkflow<'A' | 'Done'>({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * const a: CompiledState<'A' | 'Done', Record<never, never>> | undefined = checked._tag === 'Right' ? checked.right.states.get('A') : undefined
 * @category model
 * @since 0.1.0
 */
export interface CompiledState<S extends string, R extends ResourceRecord> {
  readonly name: S
  readonly handler: StateHandler<S, R>
  readonly taskId: string
  readonly config: ResolvedTaskConfig
  readonly to: ReadonlySet<string> | undefined
  /** No breaker or limiter: attempt 1 may run on the engine's fast path (inline, with its own deadline when timed). */
  readonly fast: boolean
  /** Does a visit write a `StateEntry` row when the workflow has a checkpoint store? (`false` for a router.) */
  readonly writesEntry: boolean
  /** The task id of the state's checkpoint rows (cano's: `''` for a split). */
  readonly rowTaskId: string
  /** Does a visit in flight finish before a cancellation or the total timeout concludes the run? (A saga step.) */
  readonly finishes: boolean
}

/**
 * A validated workflow definition, ready to run (what {@link compileWorkflow} returns).
 *
 * @example
 * import { task } from 'cano-rx'
 * import { type CompiledWorkflow, compileWorkflow } from './WorkflowDefinition.js'
 * const checked = compileWorkflow<'A' | 'Done'>({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * const wf: CompiledWorkflow<'A' | 'Done', Record<never, never>> | undefined = checked._tag === 'Right' ? checked.right : undefined
 * @category model
 * @since 0.1.0
 */
export interface CompiledWorkflow<S extends string, R extends ResourceRecord> {
  /** The registered name, if the definition gave one. */
  readonly name: string | undefined
  /** The input codec, its types erased. */
  readonly input: t.Type<unknown, unknown> | undefined
  /** The output declaration, its types erased. */
  readonly output: CompiledOutput | undefined
  readonly states: ReadonlyMap<string, CompiledState<S, R>>
  readonly exits: ReadonlySet<string>
  readonly resources: Resources<R>
  /** Does any resource have a `setup` or `teardown` hook? When none does, runs skip the lifecycle. */
  readonly lifecycle: boolean
  readonly totalTimeoutMs: number | undefined
  /**
   * The budget of a rollback, resolved: the definition's `compensationTimeoutMs`, else
   * {@link defaultCompensationTimeoutMs} of `totalTimeoutMs`, else `undefined` (none).
   */
  readonly compensationTimeoutMs: number | undefined
  readonly version: number
  readonly observers: ReadonlyArray<WorkflowObserver<S>>
  readonly scheduler: SchedulerLike | undefined
  readonly random: () => number
  readonly checkpoints: CheckpointStore | undefined
  readonly migrations: Migrations<S> | undefined
}

// -------------------------------------------------------------------------------------
// defaults
// -------------------------------------------------------------------------------------

/** The cap of the default rollback budget: 30 s (cano 0.14). */
const COMPENSATION_CAP_MS = 30_000

/**
 * The rollback budget of a workflow with a total timeout and no `compensationTimeoutMs`: half the total
 * timeout, at most 30 s (cano 0.14's `resolve_compensation_deadline`).
 *
 * @param totalTimeoutMs - the workflow's `totalTimeoutMs`
 * @returns `min(totalTimeoutMs / 2, 30_000)`
 * @example
 * import { defaultCompensationTimeoutMs } from './WorkflowDefinition.js'
 * defaultCompensationTimeoutMs(1_000) // 500
 * defaultCompensationTimeoutMs(600_000) // 30_000
 * @category defaults
 * @since 0.3.0
 */
export const defaultCompensationTimeoutMs = (totalTimeoutMs: number): number =>
  Math.min(totalTimeoutMs / 2, COMPENSATION_CAP_MS)

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const label = (s: string): string => JSON.stringify(s)

const checkHandler = (name: string, h: unknown, known: (s: string) => boolean): CanoError | undefined => {
  const where = `state ${label(name)}`
  if (typeof h !== 'object' || h === null || !isKindTag((h as { _tag?: unknown })._tag))
    return configurationError(`${where}: handler must be built with task(), router() or another state constructor`)
  const handler = h as StateHandler<string, ResourceRecord>
  const kindError = kindOf(handler._tag).validate(handler, where, known)
  if (kindError !== undefined) return kindError
  const configError = validateTaskConfig(handler.config, where)
  if (configError !== undefined) return configError
  if (handler.to !== undefined) {
    if (!Array.isArray(handler.to) || handler.to.length === 0)
      return configurationError(`${where}: to must be a non-empty list of target states`)
    const unknown = (handler.to as ReadonlyArray<unknown>).find((t) => typeof t !== 'string' || !known(t))
    if (unknown !== undefined)
      return configurationError(`${where}: declared target ${describeValue(unknown)} is neither a state nor an exit`)
  }
  if (handler.name !== undefined && (typeof handler.name !== 'string' || handler.name === ''))
    return configurationError(`${where}: name must be a non-empty string`)
  return undefined
}

/**
 * Validates a definition and prepares it to run. Rules (all `Configuration` errors naming the state
 * or option): at least one state handler and one exit; state and exit names are non-empty strings;
 * an exit has no handler; every handler was built by a state constructor with a valid `TaskConfig`;
 * declared targets are known states; `totalTimeoutMs` and `compensationTimeoutMs` are finite and in
 * (0, 2^31-1]; `version` is a
 * non-negative integer; `resources` is a `Resources`; `name` is a non-empty string; `input` is an io-ts
 * codec; `output` is `{ codec, at }` with an io-ts codec and a function.
 *
 * @example
 * import { task } from 'cano-rx'
 * import { compileWorkflow } from './WorkflowDefinition.js'
 * const checked = compileWorkflow<'A' | 'Done'>({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * // checked._tag === 'Right'
 * @category validation
 * @since 0.1.0
 */
export const compileWorkflow = <
  S extends string,
  R extends ResourceRecord = NoResources,
  X extends S = S,
  I = undefined,
  IE = never,
  O = never,
>(
  def: WorkflowDefinition<S, R, X, I, IE, O>,
): E.Either<CanoError, CompiledWorkflow<S, R>> => {
  if (typeof def !== 'object' || (def as unknown) === null)
    return E.left(configurationError('workflow definition must be an object'))
  const exitsIn: unknown = def.exits
  if (!Array.isArray(exitsIn) || exitsIn.length === 0)
    return E.left(configurationError('Workflow has no exit states defined: orchestration may loop forever'))
  const badExit = (exitsIn as ReadonlyArray<unknown>).find((x) => typeof x !== 'string' || x === '')
  if (badExit !== undefined)
    return E.left(configurationError(`exit state ${describeValue(badExit)} must be a non-empty string`))
  const exits = new Set<string>(exitsIn as ReadonlyArray<string>)
  let statesIn: unknown
  try {
    statesIn = typeof def.states === 'function' ? def.states(stateBuilders<S, R & WithInput<I>>()) : def.states
  } catch (e: unknown) {
    return E.left(configurationError(`states(builders) threw: ${describeThrownValue(e)}`))
  }
  if (typeof statesIn !== 'object' || statesIn === null) return E.left(configurationError('states must be an object'))
  const entries = Object.entries(statesIn as Record<string, unknown>)
  if (entries.length === 0) return E.left(configurationError('Workflow has no registered state handlers'))
  const known = (s: string): boolean => exits.has(s) || Object.prototype.hasOwnProperty.call(statesIn, s)
  const states = new Map<string, CompiledState<S, R>>()
  for (const [name, h] of entries) {
    if (name === '') return E.left(configurationError('state names must be non-empty strings'))
    if (exits.has(name))
      return E.left(
        configurationError(
          `state ${label(name)} is an exit and has a handler: exits end the run and never run a handler`,
        ),
      )
    const err = checkHandler(name, h, known)
    if (err !== undefined) return E.left(err)
    // the input brand of the handlers' record type is a type-level phantom (src/TaskContext.ts `WithInput`)
    const handler = h as StateHandler<S, R>
    const kind = kindOf(handler._tag)
    const config = resolveTaskConfig(handler.config, kind.defaultRetry())
    const taskId = handler.name ?? name
    states.set(name, {
      name: name as S,
      handler,
      taskId,
      config,
      to: handler.to === undefined ? undefined : new Set<string>(handler.to),
      // attempt 1 runs inline unless a breaker or a limiter must be consulted first
      fast: runsInline(config),
      writesEntry: kind.writesEntry(h as StateHandler<string, ResourceRecord>),
      rowTaskId: kind.rowTaskId(taskId),
      finishes: kind.finishesInFlight(h as StateHandler<string, ResourceRecord>),
    })
  }
  const { totalTimeoutMs, version = 0 } = def
  const badTimeout = checkConfig(optional(TimerDuration), totalTimeoutMs, 'totalTimeoutMs', String)
  if (badTimeout !== undefined) return E.left(badTimeout)
  const { compensationTimeoutMs } = def
  const badBudget = checkConfig(optional(TimerDuration), compensationTimeoutMs, 'compensationTimeoutMs', showNumber)
  if (badBudget !== undefined) return E.left(badBudget)
  const badVersion = checkConfig(NonNegativeInteger, version, 'version', String)
  if (badVersion !== undefined) return E.left(badVersion)
  const badBoundary = checkName(def.name) ?? checkInputCodec(def.input) ?? checkOutput(def.output)
  if (badBoundary !== undefined) return E.left(badBoundary)
  const resources = def.resources ?? (Resources.empty() as unknown as Resources<R>)
  if (!isResources(resources)) return E.left(configurationError('resources must be built with Resources.of(…)'))
  const observers = def.observers ?? []
  if (!Array.isArray(observers) || observers.some((o) => typeof o !== 'object' || (o as unknown) === null))
    return E.left(configurationError('observers must be a list of WorkflowObserver objects'))
  if (def.random !== undefined && typeof def.random !== 'function')
    return E.left(configurationError('random must be a function returning a number in [0, 1)'))
  const lifecycle = resources.keys().some((k) => {
    const v: unknown = resources.get(k as never)
    return (
      (typeof v === 'object' || typeof v === 'function') &&
      v !== null &&
      (typeof (v as { setup?: unknown }).setup === 'function' ||
        typeof (v as { teardown?: unknown }).teardown === 'function')
    )
  })
  return E.right({
    name: def.name,
    input: def.input as t.Type<unknown, unknown> | undefined,
    output: def.output as CompiledOutput | undefined,
    states,
    exits,
    resources,
    lifecycle,
    totalTimeoutMs,
    compensationTimeoutMs:
      compensationTimeoutMs ??
      (totalTimeoutMs === undefined ? undefined : defaultCompensationTimeoutMs(totalTimeoutMs)),
    version,
    observers,
    scheduler: def.scheduler,
    random: def.random ?? Math.random,
    checkpoints: def.checkpoints,
    migrations: def.migrations,
  })
}
