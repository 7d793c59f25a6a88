/**
 * State handlers: what a workflow state does. A handler is plain data (a `_tag`, the user function,
 * its `TaskConfig`) built by a constructor (`task`, `router`, …); the engine in `streams/` runs it.
 *
 * A task function receives one {@link TaskContext} and returns the next state as a value, a
 * Promise, an Observable (its first value is taken) or an fp-ts `TaskEither`.
 *
 * @since 0.1.0
 */
import { batch, type BatchHandler, type BatchOptions } from './Batch.js'
import { poll, type PollHandler, type PollOptions, type PollOutcome } from './Poll.js'
import { saga, type SagaHandler, type SagaOptions } from './Saga.js'
import { makeSleep, type SleepHandler, type SleepOptions, type UntargetedSleepOptions } from './Sleep.js'
import { type Branch, split, type SplitHandler, type SplitOptions } from './Split.js'
import { stepped, type SteppedHandler, type SteppedOptions } from './Stepped.js'
import { stream, type StreamHandler, type StreamOptions } from './Stream.js'
import { streamItems, type StreamItemsHandler, type StreamItemsOptions } from './StreamItems.js'
import type { TaskConfig } from './TaskConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A `task` or `router` state: runs `run` through the retry loop and moves to the state it returns.
 * A router writes no checkpoint row.
 *
 * @example
 * import { task, type TaskHandler } from 'cano-rx'
 * const h: TaskHandler<'Done'> = task(() => 'Done' as const)
 * @category model
 * @since 0.1.0
 */
export interface TaskHandler<S extends string, R extends ResourceRecord = NoResources> {
  readonly _tag: 'Task'
  /** `true` for {@link router}: no checkpoint row, no sequence number. */
  readonly router: boolean
  readonly run: (ctx: TaskContext<R>) => TaskOutput<S>
  readonly config: TaskConfig
  /** Declared targets: a return outside them is a `Workflow` error; they draw `toMermaid()`. */
  readonly to: ReadonlyArray<S> | undefined
  /** Task id in events and checkpoint rows; defaults to the state's name. */
  readonly name: string | undefined
}

/**
 * Any state handler.
 *
 * @example
 * import { router, type StateHandler } from 'cano-rx'
 * const h: StateHandler<'Fast' | 'Slow'> = router(() => (Math.random() > 0.5 ? 'Fast' : 'Slow'))
 * @category model
 * @since 0.1.0
 */
export type StateHandler<S extends string, R extends ResourceRecord = NoResources> =
  | TaskHandler<S, R>
  | PollHandler<S, R>
  | SteppedHandler<S, R>
  | SleepHandler<S, R>
  | BatchHandler<S, R>
  | StreamHandler<S, R>
  | StreamItemsHandler<S, R>
  | SplitHandler<S, R>
  | SagaHandler<S, R>

/**
 * The state constructors bound to a workflow's state union `S` and resources `R`, handed to the
 * function form of `states` so tasks get typed `ctx.res` and their returns are checked against `S`
 * without annotations.
 *
 * @example
 * import { Resources, workflow } from 'cano-rx'
 * const flow = workflow<'Load' | 'Done'>()({
 *   resources: Resources.of({ db: { count: () => 3 } }),
 *   exits: ['Done'],
 *   states: ({ task }) => ({ Load: task(({ res }) => (res.get('db').count() > 0 ? 'Done' : 'Load')) }),
 * })
 * @category model
 * @since 0.1.0
 */
export interface StateBuilders<S extends string, R extends ResourceRecord> {
  /** {@link task} bound to `S` and `R`. */
  readonly task: {
    <T extends S>(
      run: (ctx: TaskContext<R>) => TaskOutput<NoInfer<T>>,
      options: TaskOptions<T> & { readonly to: ReadonlyArray<T> },
    ): TaskHandler<T, R>
    (run: (ctx: TaskContext<R>) => TaskOutput<S>, options?: UntargetedOptions<S>): TaskHandler<S, R>
  }
  /** {@link router} bound to `S` and `R`. */
  readonly router: StateBuilders<S, R>['task']
  /** {@link poll} bound to `S` and `R`. */
  readonly poll: (
    fn: (ctx: TaskContext<R>) => TaskOutput<PollOutcome<S>>,
    options?: PollOptions<S>,
  ) => PollHandler<S, R>
  /** {@link stepped} bound to `S` and `R`. */
  readonly stepped: <C, O = C>(options: SteppedOptions<S, R, C, O>) => SteppedHandler<S, R>
  /** {@link sleep} bound to `S` and `R` (with `afterWait` and `to`, narrowed to the declared targets). */
  readonly sleep: {
    <T extends S>(
      options: SleepOptions<T, R> & {
        readonly afterWait: (ctx: TaskContext<R>) => TaskOutput<NoInfer<T>>
        readonly to: ReadonlyArray<T>
      },
    ): SleepHandler<T, R>
    (options: UntargetedSleepOptions<S, R>): SleepHandler<S, R>
  }
  /** {@link batch} bound to `S` and `R`. */
  readonly batch: <Item, Out>(options: BatchOptions<S, R, Item, Out>) => BatchHandler<S, R>
  /** {@link stream} bound to `S` and `R`. */
  readonly stream: <T>(options: StreamOptions<S, R, T>) => StreamHandler<S, R>
  /** {@link streamItems} bound to `S` and `R`. @since 0.4.0 */
  readonly streamItems: <T, O, C, E = C>(options: StreamItemsOptions<S, R, T, O, C, E>) => StreamItemsHandler<S, R>
  /** {@link split} bound to `S` and `R`. */
  readonly split: (branches: ReadonlyArray<Branch<R>>, options: SplitOptions<S>) => SplitHandler<S, R>
  /** {@link saga} bound to `S` and `R`. */
  readonly saga: <O, A = O>(options: SagaOptions<S, R, O, A>) => SagaHandler<S, R>
}

/**
 * Options of {@link task} and {@link router}: a {@link TaskConfig} plus the declared targets and a name.
 *
 * @example
 * import { RetryMode, type TaskOptions } from 'cano-rx'
 * const o: TaskOptions<'Next' | 'Failed'> = { to: ['Next', 'Failed'], retry: RetryMode.none() }
 * @category model
 * @since 0.1.0
 */
export interface TaskOptions<T extends string> extends TaskConfig {
  /** Declared targets; the return type narrows to them. */
  readonly to?: ReadonlyArray<T>
  /** Task id in events and checkpoint rows; defaults to the state's name. */
  readonly name?: string
}

/**
 * {@link TaskOptions} without declared targets: the overload of `task` / `router` that does not
 * narrow the return type.
 *
 * @example
 * import { RetryMode, type UntargetedOptions } from 'cano-rx'
 * const o: UntargetedOptions<'Next'> = { retry: RetryMode.none() }
 * @category model
 * @since 0.1.0
 */
export type UntargetedOptions<S extends string> = TaskOptions<S> & { readonly to?: undefined }

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The {@link StateBuilders} of a workflow (what the function form of `states` receives).
 *
 * @example
 * import { stateBuilders } from './StateHandler.js'
 * const { task } = stateBuilders<'A' | 'Done', { limit: number }>()
 * const a = task(({ res }) => (res.get('limit') > 0 ? 'Done' : 'A'))
 * @category constructors
 * @since 0.1.0
 */
export const stateBuilders = <S extends string, R extends ResourceRecord>(): StateBuilders<S, R> => ({
  task: (run: (ctx: TaskContext<R>) => TaskOutput<S>, options?: TaskOptions<S>) => makeTask(false, run, options),
  router: (run: (ctx: TaskContext<R>) => TaskOutput<S>, options?: TaskOptions<S>) => makeTask(true, run, options),
  poll: (fn, options) => poll<S, R>(fn, options),
  stepped: (options) => stepped(options),
  sleep: (options: SleepOptions<S, R>) => makeSleep(options),
  batch: (options) => batch(options),
  stream: (options) => stream(options),
  streamItems: (options) => streamItems(options),
  split: (branches, options) => split(branches, options),
  saga: (options) => saga(options),
})

const makeTask = <S extends string, R extends ResourceRecord>(
  router: boolean,
  run: (ctx: TaskContext<R>) => TaskOutput<S>,
  options: TaskOptions<S> | undefined,
): TaskHandler<S, R> => {
  const { to, name, ...config } = options ?? {}
  return { _tag: 'Task', router, run, config, to, name }
}

/**
 * A state that runs `run` with retries and moves to the state it returns. With `to`, the return
 * type narrows to the declared targets and a runtime return outside them is a `Workflow` error.
 *
 * @example
 * import { RetryMode, task } from 'cano-rx'
 * type Step = 'Fetch' | 'Parse' | 'Failed'
 * const fetchIt = task(async ({ signal }): Promise<Exclude<Step, 'Fetch'>> => ((await fetch('https://example.org', { signal })).ok ? 'Parse' : 'Failed'), {
 *   to: ['Parse', 'Failed'],
 *   retry: RetryMode.exponential(3),
 *   attemptTimeoutMs: 2_000,
 * })
 * @category constructors
 * @since 0.1.0
 */
export function task<T extends string, R extends ResourceRecord = NoResources>(
  run: (ctx: TaskContext<R>) => TaskOutput<NoInfer<T>>,
  options: TaskOptions<T> & { readonly to: ReadonlyArray<T> },
): TaskHandler<T, R>
export function task<S extends string, R extends ResourceRecord = NoResources>(
  run: (ctx: TaskContext<R>) => TaskOutput<S>,
  options?: UntargetedOptions<S>,
): TaskHandler<S, R>
export function task<S extends string, R extends ResourceRecord>(
  run: (ctx: TaskContext<R>) => TaskOutput<S>,
  options?: TaskOptions<S>,
): TaskHandler<S, R> {
  return makeTask(false, run, options)
}

/**
 * A branching state: like {@link task} (same retries, timeouts and events) but it writes no
 * checkpoint row and consumes no sequence number; keep it free of side effects.
 *
 * @example
 * import { router } from 'cano-rx'
 * const pick = router<'FastPath' | 'SlowPath'>(() => (process.env['FAST'] === '1' ? 'FastPath' : 'SlowPath'))
 * @category constructors
 * @since 0.1.0
 */
export function router<T extends string, R extends ResourceRecord = NoResources>(
  run: (ctx: TaskContext<R>) => TaskOutput<NoInfer<T>>,
  options: TaskOptions<T> & { readonly to: ReadonlyArray<T> },
): TaskHandler<T, R>
export function router<S extends string, R extends ResourceRecord = NoResources>(
  run: (ctx: TaskContext<R>) => TaskOutput<S>,
  options?: UntargetedOptions<S>,
): TaskHandler<S, R>
export function router<S extends string, R extends ResourceRecord>(
  run: (ctx: TaskContext<R>) => TaskOutput<S>,
  options?: TaskOptions<S>,
): TaskHandler<S, R> {
  return makeTask(true, run, options)
}
