/**
 * @internal The engine outside a workflow: what the standalone runners (`runResilient`, `runPoll`,
 * `runBatch`, `runStepped` and their operators) share. A runner is one state visit with no workflow
 * around it: a {@link StandaloneEnv} (the `StateEnv` the kinds read: the config, the clock, a run
 * signal) and a {@link StandaloneRun} (the callbacks `attemptWork` and the step loop settle through). The
 * kinds' own code does the work, so a runner retries, times out, consults a breaker and waits on a limiter
 * exactly as a task in a workflow does.
 *
 * Each run gets its own signal, created on first read: it aborts when the caller's `signal` aborts (the
 * run then fails with `Cancelled`, or with the `CanoError` the signal was aborted with) and when the run
 * is unsubscribed before it settled. A runner's failure is a `CanoError` (a breaker's rejection unwrapped).
 *
 * @since 0.1.0
 */
import { asyncScheduler, Observable, type SchedulerLike, Subscription, type TeardownLogic } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { cancelledError, CanoFailure, configurationError, isCanoError, toCanoError } from '../../src/CanoError.js'
import { describeValue } from '../../src/internal/describeValue.js'
import { Resources } from '../../src/Resources.js'
import type { RetryMode } from '../../src/RetryMode.js'
import type { SplitResult } from '../../src/SplitResult.js'
import {
  type ResolvedTaskConfig,
  resolveTaskConfig,
  runsInline,
  type TaskConfig,
  validateTaskConfig,
} from '../../src/TaskConfig.js'
import type { NoResources } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkCallbacks, WorkEnv } from '../attemptWork.js'
import type { RetryInfo } from '../retryWithBackoff.js'
import { isCircuitRejection } from '../runTask.js'
import type { Settle, StateEnv } from '../stateRunner.js'
import { isScheduler, SCHEDULER_RULE } from './isScheduler.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal The options every runner takes (`ResilienceOptions` in streams/runResilient.ts). */
export interface StandaloneOptions extends TaskConfig {
  readonly signal?: AbortSignal | undefined
  readonly scheduler?: SchedulerLike | undefined
  readonly random?: (() => number) | undefined
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  readonly name?: string | undefined
}

/** @internal A runner's validated options. */
export interface StandaloneSpec {
  readonly name: string
  readonly config: ResolvedTaskConfig
  readonly fast: boolean
  readonly scheduler: SchedulerLike
  readonly random: () => number
  readonly signal: AbortSignal | undefined
  readonly onRetry: ((info: RetryInfo) => void) | undefined
  /** `Progress` data of the run (a batch's `BatchProgress`). */
  readonly onProgress: ((data: unknown) => void) | undefined
  /** The scheduler's clock, as the env's `now` (one function for every run of the runner). */
  readonly now: () => number
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/** @internal `CanoFailure(Configuration)`: `<where>: <field> must be <rule>, got <value>`. */
export const invalidOption = (where: string, field: string, rule: string, value: unknown): CanoFailure =>
  new CanoFailure(configurationError(`${where}: ${field} must be ${rule}, got ${describeValue(value)}`))

const isFunction = (u: unknown): u is (...args: never[]) => unknown => typeof u === 'function'

/** @internal The `CanoFailure(Configuration)` of an optional callback that is not a function, if any. */
export const checkCallback = (where: string, field: string, value: unknown): CanoFailure | undefined =>
  value === undefined || isFunction(value) ? undefined : invalidOption(where, field, 'a function', value)

const isSignal = (u: unknown): u is AbortSignal =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { aborted?: unknown }).aborted === 'boolean' &&
  isFunction((u as { addEventListener?: unknown }).addEventListener)

/**
 * @internal Checks a runner's options (its `TaskConfig` part with the engine's rules) and merges the
 * defaults: `retry` falls back to `fallbackRetry`. Throws a `CanoFailure(Configuration)` naming `where`.
 */
export const standaloneSpec = (
  where: string,
  options: unknown,
  fallbackRetry: RetryMode,
  onProgress?: (data: unknown) => void,
): StandaloneSpec => {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null) throw invalidOption(where, 'options', 'an object', options)
  const o = options as Record<keyof StandaloneOptions, unknown>
  const config = validateTaskConfig(options, where)
  if (config !== undefined) throw new CanoFailure(config)
  const bad =
    (o.signal === undefined || isSignal(o.signal)
      ? undefined
      : invalidOption(where, 'signal', 'an AbortSignal', o.signal)) ??
    (o.scheduler === undefined || isScheduler(o.scheduler)
      ? undefined
      : invalidOption(where, 'scheduler', SCHEDULER_RULE, o.scheduler)) ??
    checkCallback(where, 'random', o.random) ??
    checkCallback(where, 'onRetry', o.onRetry) ??
    (o.name === undefined || (typeof o.name === 'string' && o.name.length > 0)
      ? undefined
      : invalidOption(where, 'name', 'a non-empty string', o.name))
  if (bad !== undefined) throw bad
  const typed = options as StandaloneOptions
  const resolved = resolveTaskConfig(typed, fallbackRetry)
  const scheduler = typed.scheduler ?? asyncScheduler
  return {
    name: typed.name ?? where,
    config: resolved,
    fast: runsInline(resolved),
    scheduler,
    now: () => scheduler.now(),
    random: typed.random ?? Math.random,
    signal: typed.signal,
    onRetry: typed.onRetry,
    onProgress,
  }
}

// -------------------------------------------------------------------------------------
// env
// -------------------------------------------------------------------------------------

const NO_RESOURCES: Resources<NoResources> = /*#__PURE__*/ Resources.empty()
const noop = (): void => undefined

/** @internal The state env of one standalone run. */
export class StandaloneEnv implements StateEnv<string, NoResources>, WorkEnv<string, NoResources> {
  readonly res = NO_RESOURCES
  readonly split: SplitResult | undefined = undefined
  readonly input: unknown = undefined
  readonly to: ReadonlySet<string> | undefined = undefined
  readonly publishSplit = noop
  readonly emit: ((e: WorkflowEvent) => void) | undefined
  readonly now: () => number
  /** The run's own signal, once read. */
  #controller: AbortController | undefined
  #unlink: (() => void) | undefined
  /** The error of the last failed attempt, for `onRetry`. */
  #lastError: unknown

  constructor(readonly spec: StandaloneSpec) {
    this.now = spec.now
    const { onRetry, onProgress } = spec
    this.emit =
      onRetry === undefined && onProgress === undefined
        ? undefined
        : (e) => {
            if (e._tag === 'AttemptFailed') this.#lastError = e.error
            else if (e._tag === 'RetryScheduled')
              onRetry?.({ error: this.#lastError, attempt: e.attempt, delayMs: e.delayMs })
            else if (e._tag === 'Progress') onProgress?.(e.data)
          }
  }
  get workflowId(): string {
    return this.spec.name
  }
  get state(): string {
    return this.spec.name
  }
  get taskId(): string {
    return this.spec.name
  }
  get config(): ResolvedTaskConfig {
    return this.spec.config
  }
  get fast(): boolean {
    return this.spec.fast
  }
  get scheduler(): SchedulerLike {
    return this.spec.scheduler
  }
  get random(): () => number {
    return this.spec.random
  }
  get runSignal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal
    const controller = new AbortController()
    this.#controller = controller
    const parent = this.spec.signal
    if (parent !== undefined) {
      if (parent.aborted) controller.abort(reasonOf(parent, this.spec.name))
      else {
        const onAbort = (): void => controller.abort(reasonOf(parent, this.spec.name))
        parent.addEventListener('abort', onAbort, { once: true })
        this.#unlink = () => parent.removeEventListener('abort', onAbort)
      }
    }
    return controller.signal
  }
  /** Aborts the run's signal (if anybody read it) with `reason`. */
  abort(reason: CanoError): void {
    const c = this.#controller
    if (c !== undefined && !c.signal.aborted) c.abort(reason)
  }
  release(): void {
    this.#unlink?.()
    this.#unlink = undefined
  }
}

/** The `CanoError` a caller's signal aborts a run with: its reason when that is one, else `Cancelled`. */
const reasonOf = (signal: AbortSignal, name: string): CanoError => {
  const reason: unknown = signal.reason
  return isCanoError(reason) ? reason : cancelledError(`${name} cancelled`)
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/**
 * @internal One standalone run: the callbacks of `attemptWork` and the {@link Settle} of a kind's loop. It
 * settles once: with the value, with the failure (a `CanoError`), or with `Cancelled` when the caller's
 * signal aborts; then everything the work started is released.
 */
export class StandaloneRun<A> implements WorkCallbacks<A>, Settle {
  #settled = false
  /** What the work started, released when the run settles (created on the first `add`). */
  #teardown: Subscription | undefined
  readonly #onAbort: (() => void) | undefined

  constructor(
    readonly env: StandaloneEnv,
    private readonly done: (value: A) => void,
    private readonly failed: (error: CanoError) => void,
  ) {
    const signal = env.spec.signal
    if (signal === undefined) return
    const onAbort = (): void => {
      const reason = reasonOf(signal, env.spec.name)
      this.#finish(() => this.failed(reason), reason)
    }
    this.#onAbort = onAbort
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  }

  get closed(): boolean {
    return this.#settled
  }

  onValue(value: A, _attempts: number): void {
    this.#finish(() => this.done(value), undefined)
  }

  onError(thrown: unknown): void {
    const error = isCircuitRejection(thrown) ? thrown.error : toCanoError(thrown)
    this.#finish(() => this.failed(error), undefined)
  }

  succeed(next: unknown, attempts: number): void {
    this.onValue(next as A, attempts)
  }

  fail(thrown: unknown): void {
    this.onError(thrown)
  }

  add(teardown: TeardownLogic): void {
    const held = (this.#teardown ??= new Subscription())
    held.add(teardown)
    // after the run settled, what is added is torn down at once
    if (this.#settled) held.unsubscribe()
  }

  /** The run is no longer wanted (its Observable was unsubscribed): stop the work, settle nothing. */
  unsubscribe(): void {
    this.#finish(noop, cancelledError(`${this.env.spec.name} unsubscribed`))
  }

  #finish(report: () => void, abortWith: CanoError | undefined): void {
    if (this.#settled) return
    this.#settled = true
    if (this.#onAbort !== undefined) this.env.spec.signal?.removeEventListener('abort', this.#onAbort)
    if (abortWith !== undefined) this.env.abort(abortWith)
    this.#teardown?.unsubscribe()
    this.env.release()
    report()
  }
}

/** @internal What a runner does with its run: starts its kind's work, which settles `run`. */
export type RunnerBody<A> = (env: StandaloneEnv, run: StandaloneRun<A>) => void

/** @internal A cold Observable of one run per subscription: the value, or the `CanoError` as its error. */
export const standalone$ = <A>(spec: StandaloneSpec, body: RunnerBody<A>): Observable<A> =>
  new Observable<A>((subscriber) => {
    const run = new StandaloneRun<A>(
      new StandaloneEnv(spec),
      (value) => {
        subscriber.next(value)
        subscriber.complete()
      },
      (error) => subscriber.error(error),
    )
    if (!run.closed) startBody(body, run)
    return () => run.unsubscribe()
  })

/** @internal One run as a Promise: the value, or a `CanoFailure` carrying the `CanoError`. */
export const standalonePromise = <A>(spec: StandaloneSpec, body: RunnerBody<A>): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const run = new StandaloneRun<A>(new StandaloneEnv(spec), resolve, (error) => reject(new CanoFailure(error)))
    if (!run.closed) startBody(body, run)
  })

/** Runs `body`; a throw (a bug of the kind, or a user callback called synchronously) fails the run. */
const startBody = <A>(body: RunnerBody<A>, run: StandaloneRun<A>): void => {
  try {
    body(run.env, run)
  } catch (thrown: unknown) {
    run.onError(thrown)
  }
}

/** @internal A Promise rejected with `failure` (a runner's invalid options). */
export const rejected = (failure: unknown): Promise<never> =>
  new Promise<never>(() => {
    throw failure
  })
