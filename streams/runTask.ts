/**
 * `runAttempts`: one task's retry loop as a cold Observable. Before each attempt it takes a token from
 * the rate limiter, then a permit from the circuit breaker (so the permit covers the call alone), builds
 * the attempt's {@link TaskContext} (its `signal` linked to the run's and aborted by the attempt timeout),
 * runs the attempt through `timeoutAttempt`, and lets `retryWithBackoff` decide whether and when to try
 * again. Every task kind runs through it.
 *
 * @internal
 * @since 0.1.0
 */
import {
  concat,
  defer,
  EMPTY,
  from,
  ignoreElements,
  Observable,
  type SchedulerLike,
  take,
  throwError,
  throwIfEmpty,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { cancelledError, isNonRetryable, isRetryable, taskExecutionError, toCanoError } from '../src/CanoError.js'
import type { CircuitPermit } from '../src/CircuitBreaker.js'
import { LinkedController } from '../src/internal/abortFollowers.js'
import { MAX_TIMER_MS } from '../src/internal/timers.js'
import type { Resources } from '../src/Resources.js'
import type { SplitResult } from '../src/SplitResult.js'
import type { ResolvedTaskConfig } from '../src/TaskConfig.js'
import type { InputOf, ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import type { AroundAttempt, AttemptScope } from '../src/WorkflowObserver.js'
import { retryWithBackoffRaw } from './retryWithBackoff.js'
import { timeoutAttemptRaw } from './timeoutAttempt.js'

/** @internal Where a task runs and how it reports. */
export interface AttemptEnv<S extends string, R extends ResourceRecord> {
  readonly workflowId: string
  readonly state: S
  readonly taskId: string
  readonly res: Resources<R>
  readonly runSignal: AbortSignal
  /** See {@link RunSignalSource.watchRunAbort}. */
  readonly watchRunAbort?: RunSignalSource['watchRunAbort']
  /** See {@link RunSignalSource.runAbortReason}. */
  readonly runAbortReason?: unknown
  readonly scheduler: SchedulerLike
  readonly random: () => number
  readonly now: () => number
  /** `undefined` when nobody listens: events are then not even built. */
  readonly emit: ((e: WorkflowEvent<S>) => void) | undefined
  /** The split result handed to this state (it is the join state of the previous split). */
  readonly split: SplitResult | undefined
  /** The run's decoded input (`undefined` without an input codec). */
  readonly input: unknown
  /** The observers' `aroundAttempt` (src/WorkflowObserver.ts): each attempt starts inside it; `undefined`: none. */
  readonly around?: AroundAttempt<S> | undefined
  /** The branch's index when the work is a split branch. */
  readonly branch?: number | undefined
}

/**
 * @internal The scope `aroundAttempt` sees for attempt `attempt` of `env`'s work (a state's task or a branch);
 * `retry`: why and after how long it runs, from attempt 2 on.
 */
export const attemptScope = <S extends string, R extends ResourceRecord>(
  env: AttemptEnv<S, R>,
  attempt: number,
  waitedMs: number | undefined,
  retry?: AttemptScope['retry'],
): AttemptScope<S> => {
  const branch = env.branch
  return {
    workflowId: env.workflowId,
    state: env.state,
    taskId: env.taskId,
    kind: branch === undefined ? 'Task' : 'Branch',
    attempt,
    index: branch,
    at: env.now(),
    waitedMs,
    retry,
  }
}

/** @internal A breaker rejection travels wrapped so the retry loop neither retries nor wraps it. */
export class CircuitRejection {
  constructor(readonly error: CanoError) {}
}

/**
 * @internal `e` is a {@link CircuitRejection}. Never throws: what an attempt failed with may be anything a task
 * threw, a revoked `Proxy` included (whose `instanceof` throws).
 */
export const isCircuitRejection = (e: unknown): e is CircuitRejection => {
  if (typeof e !== 'object' || e === null) return false
  try {
    return e instanceof CircuitRejection
  } catch {
    return false
  }
}

/** @internal Where an attempt finds the run's signal (an env; the engine creates the signal on first read). */
export interface RunSignalSource {
  readonly runSignal: AbortSignal
  /**
   * The attempts' signals are their own, not linked to the run's: a cancellation or the total timeout
   * lets the attempt in flight finish (a saga step); only the attempt timeout aborts them. Absent: linked.
   */
  readonly shielded?: boolean
  /**
   * Watches the run's abort without creating its signal: one watcher at a time (a saga step's or a split's
   * visit sets it with `on`, clears it with `!on`); it is called after the run's signal aborts. Absent:
   * listen to `runSignal`.
   */
  readonly watchRunAbort?: ((watcher: { handleEvent(): void }, on: boolean) => void) | undefined
  /** Why the run was aborted (with `watchRunAbort`), read without creating its signal. */
  readonly runAbortReason?: unknown
}

/** @internal What an attempt context reads from the env it runs in (an {@link AttemptEnv} is one). */
export interface ContextSource<R extends ResourceRecord> extends RunSignalSource {
  readonly res: Resources<R>
  readonly workflowId: string
  readonly state: string
  readonly split: SplitResult | undefined
  readonly input: unknown
}

/**
 * @internal The attempt context. It reads `res`, `workflowId`, `state` and `input` from its env (they do not
 * change during a visit) and keeps `split` as it was at the start (the engine's env moves on to the
 * next visit's); `signal` is created lazily (most tasks never read it).
 */
export class AttemptContext<
  R extends ResourceRecord,
  E extends ContextSource<R> = ContextSource<R>,
> implements TaskContext<R> {
  // The fields are declared, not defined, and assigned once in the constructor: a defined class field
  // is written twice ([[Define]] as undefined, then the assignment), which cost a split branch about
  // 6 % in `npm run bench -- split`. The same holds for InlineAttempt (streams/attemptWork.ts).
  /** The env; the run's signal is read from it only when needed (the engine creates it lazily). */
  declare protected readonly env: E
  declare readonly attempt: number
  /** The progress reporter given, or the one {@link makeProgress} built on first read. */
  declare private progressFn: ((data: unknown) => void) | undefined
  declare readonly split: SplitResult | undefined
  /**
   * {@link OWN_SIGNAL}; the higher bits are a subclass's (one field for its booleans and this one: a parked run
   * holds its attempt context).
   */
  declare protected bits: number
  /** The attempt's own controller, once created; linked to the run's signal, it is its own listener. */
  declare private controller: AbortController | undefined
  /** `progress`: the reporter, or `undefined` to build it with {@link makeProgress} when a task first reads it. */
  constructor(env: E, attempt: number, progress: ((data: unknown) => void) | undefined, ownSignal: boolean) {
    this.env = env
    this.attempt = attempt
    this.progressFn = progress
    this.split = env.split
    this.bits = ownSignal ? OWN_SIGNAL : 0
    this.controller = undefined
  }
  get progress(): (data: unknown) => void {
    return (this.progressFn ??= this.makeProgress())
  }
  /** The reporter of a context given none: most tasks never report progress, so it is built on first read. */
  protected makeProgress(): (data: unknown) => void {
    return noProgress
  }
  get res(): Resources<R> {
    return this.env.res
  }
  get workflowId(): string {
    return this.env.workflowId
  }
  get state(): string {
    return this.env.state
  }
  get input(): InputOf<R> {
    // the env holds the value its workflow's codec decoded: the type the brand of R names
    return this.env.input as InputOf<R>
  }
  get signal(): AbortSignal {
    if ((this.bits & OWN_SIGNAL) === 0 && this.env.shielded !== true) return this.env.runSignal
    return this.ensureController().signal
  }
  private ensureController(): AbortController {
    if (this.controller !== undefined) return this.controller
    // a shielded attempt (a saga step) is aborted by its own timeout only
    if (this.env.shielded === true) return (this.controller = new AbortController())
    // it follows the run's signal (aborted at once if that has aborted)
    return (this.controller = new LinkedController(this.env.runSignal))
  }
  abort(reason: CanoError): void {
    const c = this.ensureController()
    if (!c.signal.aborted) c.abort(reason)
  }
  release(): void {
    const c = this.controller
    if (c instanceof LinkedController) c.unlink()
  }
}

/** `AttemptContext.bits`: the attempt has a signal of its own (an attempt timeout aborts it). */
const OWN_SIGNAL = 1

/** @internal */
export const noProgress = (): void => undefined

/**
 * @internal A retry loop that continues one a resumed run had started: its first attempt is number
 * `attempt` (the earlier ones count toward the retry policy), and it times out after `timeoutMs` (what was
 * left of its attempt timeout; `undefined`: the configured one).
 */
export interface ResumedAttempts {
  readonly attempt: number
  readonly timeoutMs: number | undefined
}

/**
 * @internal Runs `attempt` under `config`'s retry loop, breaker, limiter and timeout. Emits the
 * attempt's single value; errors with a `CanoError` (or a {@link CircuitRejection}).
 */
export const runAttempts = <S extends string, R extends ResourceRecord, A>(
  env: AttemptEnv<S, R>,
  config: ResolvedTaskConfig,
  attempt: (ctx: TaskContext<R>) => Observable<A>,
  firstFailure?: { readonly thrown: unknown },
  resumed?: ResumedAttempts,
): Observable<A> =>
  defer(() => {
    const before = resumed === undefined ? 0 : resumed.attempt - 1
    let n = before
    const { emit, now, workflowId, state, taskId } = env
    const progress =
      emit === undefined
        ? noProgress
        : (data: unknown): void => emit({ _tag: 'Progress', workflowId, at: now(), state, taskId, data })
    const { circuitBreaker, rateLimiter, attemptTimeoutMs } = config
    const ownSignal = attemptTimeoutMs !== undefined
    const around = env.around
    /** The previous attempt's error and the delay before the next one (kept only for an `aroundAttempt`). */
    let retry: AttemptScope['retry']
    const one = new Observable<A>((subscriber) => {
      n += 1
      if (n === 1 && firstFailure !== undefined) {
        // attempt 1 already ran on the engine's fast path and failed: report it and let the retry loop decide
        const e = firstFailure.thrown
        const error = isNonRetryable(e) ? e : toCanoError(e)
        if (emit !== undefined)
          emit({ _tag: 'AttemptFailed', workflowId, at: now(), state, taskId, attempt: n, error: toCanoError(error) })
        subscriber.error(error)
        return undefined
      }
      if (env.runSignal.aborted) {
        subscriber.error(toCanoError(env.runSignal.reason ?? cancelledError()))
        return undefined
      }
      // The limiter admits the attempt first; the breaker permit is taken only when the call is about to
      // start, so it covers the call alone: a RateLimited attempt, or a wait for a token (cancelled or not),
      // neither counts on the breaker nor holds a half-open trial slot.
      let gate: Observable<never> = EMPTY
      /** When the wait for a token began (kept only for an `aroundAttempt` to report it). */
      let waitFrom: number | undefined
      if (rateLimiter !== undefined) {
        if (rateLimiter.waits) {
          if (around !== undefined) waitFrom = now()
          gate = defer(() => from(rateLimiter.acquire({ signal: env.runSignal }))).pipe(ignoreElements())
        } else {
          const token = rateLimiter.tryAcquire()
          if (token._tag === 'Left') gate = throwError(() => token.left)
        }
      }
      const ctx = new AttemptContext<R>(env, n, progress, ownSignal)
      let run$ =
        around === undefined
          ? fromAttempt(attempt, ctx, undefined)
          : fromAttempt(attempt, ctx, (start) =>
              around(
                attemptScope(env, ctx.attempt, waitFrom === undefined ? undefined : now() - waitFrom, retry),
                start,
              ),
            )
      if (attemptTimeoutMs !== undefined) {
        // a resumed attempt has what was left of its time; its timeout error names the configured one
        const left = n === before + 1 ? resumed?.timeoutMs : undefined
        run$ = run$.pipe(
          timeoutAttemptRaw({
            timeoutMs: attemptTimeoutMs,
            deadlineMs: left,
            scheduler: env.scheduler,
            onTimeout: (e) => ctx.abort(e),
          }),
        )
      }
      let permit: CircuitPermit | undefined
      if (circuitBreaker !== undefined) {
        const call$ = run$
        run$ = defer(() => {
          const acquired = circuitBreaker.tryAcquire()
          if (acquired._tag === 'Left') return throwError(() => new CircuitRejection(acquired.left))
          permit = acquired.right
          return call$
        })
      }
      let settled = false
      const sub = (gate === EMPTY ? run$ : concat(gate, run$)).subscribe({
        next: (v) => {
          settled = true
          permit?.success()
          subscriber.next(v)
          subscriber.complete()
        },
        error: (e: unknown) => {
          settled = true
          if (isCircuitRejection(e)) {
            // no attempt was made: no AttemptFailed, and the retry loop rethrows it unchanged
            subscriber.error(e)
            return
          }
          permit?.failure()
          const error = isNonRetryable(e) ? e : toCanoError(e)
          if (emit !== undefined)
            emit({ _tag: 'AttemptFailed', workflowId, at: now(), state, taskId, attempt: n, error: toCanoError(error) })
          subscriber.error(error)
        },
      })
      return () => {
        sub.unsubscribe()
        ctx.release()
        if (!settled) permit?.failure()
      }
    })
    return one.pipe(
      retryWithBackoffRaw<A>({
        mode: config.retry,
        attemptsBefore: before,
        random: env.random,
        scheduler: env.scheduler,
        shouldRetry: (e) => !isCircuitRejection(e) && isRetryable(e) && !env.runSignal.aborted && !waitsBeyondTimers(e),
        delayFor: (e, computed) => {
          const err = toCanoError(e)
          return err._tag === 'RateLimited' ? Math.max(0, err.retryAfterMs) : computed
        },
        onRetry:
          emit === undefined && around === undefined
            ? undefined
            : ({ error, attempt: failed, delayMs }) => {
                if (around !== undefined) retry = { delayMs, error: toCanoError(error) }
                if (emit !== undefined)
                  emit({ _tag: 'RetryScheduled', workflowId, at: now(), state, taskId, attempt: failed, delayMs })
              },
      }),
    )
  })

/**
 * A `RateLimited` refusal whose `retryAfterMs` no timer can wait (above 2^31-1 ms, about 24.8 days): the
 * retry loop ends with it, as with a failure it does not retry, rather than wait less than the limiter asked.
 */
const waitsBeyondTimers = (e: unknown): boolean => {
  const error = toCanoError(e)
  return error._tag === 'RateLimited' && error.retryAfterMs > MAX_TIMER_MS
}

/**
 * The attempt's Observable: `attempt(ctx)` subscribed when the attempt starts, inside `enter` (the
 * observers' `aroundAttempt`) when there is one.
 */
const fromAttempt = <R extends ResourceRecord, A>(
  attempt: (ctx: TaskContext<R>) => Observable<A>,
  ctx: TaskContext<R>,
  enter: ((start: () => void) => void) | undefined,
): Observable<A> =>
  (enter === undefined
    ? defer(() => attempt(ctx))
    : new Observable<A>((subscriber) => enter(() => defer(() => attempt(ctx)).subscribe(subscriber)))
  ).pipe(
    take(1),
    throwIfEmpty(() => taskExecutionError(`task for state ${JSON.stringify(ctx.state)} completed without a value`)),
  )
