/**
 * `runResilient` and `resilient`: the engine's retry loop outside a workflow. One call runs under a retry
 * mode, a per-attempt timeout, a circuit breaker and a rate limiter, with the options of a task
 * (`TaskConfig`: `retry`, `attemptTimeoutMs`, `circuitBreaker`, `rateLimiter`) and the same code path: the
 * work goes through `attemptWork` (streams/attemptWork.ts), the function every task kind runs through,
 * so a standalone call and a task attempt behave alike (a limiter admits each attempt before the breaker
 * gives it a permit, a breaker's rejection consumes no attempt and is not retried, a `RateLimited`
 * refusal waits its `retryAfterMs`, a `nonRetryable` error or a `Configuration` error is not retried).
 *
 * `runResilient(fn, options)` is a Promise: the value, or a rejection with a `CanoFailure` carrying the
 * `CanoError` (`RetryExhausted` when retries were allowed and ran out, `Timeout`, `CircuitOpen`,
 * `RateLimited`, `Cancelled`, or the attempt's own error as a `TaskExecution`). `resilient(options)` is
 * the same as a pipeable operator: each subscription to the source is one attempt (its first value is the
 * result), and the operator errors with the `CanoError`.
 *
 * @since 0.1.0
 */
import type { MonoTypeOperatorFunction, Observable, SchedulerLike } from 'rxjs'

import { RetryMode } from '../src/RetryMode.js'
import type { TaskConfig } from '../src/TaskConfig.js'
import type { NoResources } from '../src/TaskContext.js'
import type { TaskOutput } from '../src/TaskOutput.js'
import { attemptWork } from './attemptWork.js'
import {
  invalidOption,
  rejected,
  standalone$,
  standalonePromise,
  type StandaloneSpec,
  standaloneSpec,
} from './internal/standalone.js'
import type { RetryInfo } from './retryWithBackoff.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a standalone runner's function receives on each attempt.
 *
 * @example
 * import { runResilient, type RunnerContext } from 'cano-rx'
 * const fetchRow = ({ signal, attempt }: RunnerContext) => fetch(`https://example.org/row?try=${attempt}`, { signal })
 * const response = await runResilient(fetchRow)
 * @category model
 * @since 0.1.0
 */
export interface RunnerContext {
  /**
   * Aborts when this attempt times out (`attemptTimeoutMs`), when the caller's `signal` aborts, and when
   * the run is no longer wanted (its Observable was unsubscribed).
   */
  readonly signal: AbortSignal
  /** 1-based attempt number. */
  readonly attempt: number
}

/**
 * Options of the standalone runners: a {@link TaskConfig} (`retry`, `attemptTimeoutMs`, `circuitBreaker`,
 * `rateLimiter`, checked as a task's are) plus what a workflow run would otherwise provide.
 *
 * @example
 * import { createCircuitBreaker, createRateLimiter, RetryMode, type ResilienceOptions } from 'cano-rx'
 * const options: ResilienceOptions = {
 *   retry: RetryMode.exponential(3),
 *   attemptTimeoutMs: 2_000,
 *   circuitBreaker: createCircuitBreaker({ failureThreshold: 5 }),
 *   rateLimiter: createRateLimiter({ ratePerSec: 10 }),
 *   signal: AbortSignal.timeout(30_000),
 * }
 * @category model
 * @since 0.1.0
 */
export interface ResilienceOptions extends TaskConfig {
  /** Aborting it stops the run: the attempt's signal aborts and the run fails with `Cancelled`. */
  readonly signal?: AbortSignal | undefined
  /**
   * The clock and what the waits (retry delays, timeouts, polls) are scheduled on. Default
   * `asyncScheduler`; pass the scheduler of the breaker and limiter (a virtual one in tests).
   */
  readonly scheduler?: SchedulerLike | undefined
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: (() => number) | undefined
  /** Called before each retry's wait, with the failed attempt's error (a `CanoError`) and the delay. */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /** The name error messages give the work (as a state's name). Default: the runner's name. */
  readonly name?: string | undefined
}

// -------------------------------------------------------------------------------------
// runners
// -------------------------------------------------------------------------------------

/**
 * Runs `fn` under a retry mode, a per-attempt timeout, a circuit breaker and a rate limiter, like the
 * attempts of a task (see the module comment for the rules and the errors). `retry` defaults to
 * `RetryMode.default()` (exponential, 3 retries), a task's default; the other policies are off unless given.
 *
 * @param fn the work; called once per attempt with a {@link RunnerContext}; may return a value, a Promise,
 *   an Observable (first value) or a `TaskEither`
 * @param options the policies (a `TaskConfig`), `signal`, `scheduler`, `random`, `onRetry`, `name`
 * @returns the value of the first attempt that succeeds; rejects with a `CanoFailure` carrying the
 *   `CanoError`, and with a `CanoFailure(Configuration)` naming the option for invalid options
 * @example
 * import { createCircuitBreaker, createRateLimiter, RetryMode, runResilient } from 'cano-rx'
 * const breaker = createCircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000 })
 * const limiter = createRateLimiter({ ratePerSec: 10 })
 * const quote = await runResilient(
 *   async ({ signal }) => (await fetch('https://example.org/quote', { signal })).json() as Promise<{ price: number }>,
 *   { retry: RetryMode.exponential(3), attemptTimeoutMs: 2_000, circuitBreaker: breaker, rateLimiter: limiter },
 * )
 * @category runners
 * @since 0.1.0
 */
export const runResilient = <A>(fn: (ctx: RunnerContext) => TaskOutput<A>, options?: ResilienceOptions): Promise<A> => {
  let spec: StandaloneSpec
  try {
    spec = resilientSpec('runResilient', fn, options)
  } catch (e: unknown) {
    return rejected(e)
  }
  return standalonePromise<A>(spec, (env, run) => attemptWork<string, NoResources, A>(env, fn, run))
}

/**
 * The operator form of {@link runResilient}: each subscription to the source is one attempt, whose first
 * value is the result; a failed attempt is retried by subscribing again. The options are checked when the
 * operator is created (a `CanoFailure(Configuration)` is thrown there).
 *
 * ```text
 * source:  -#  (fails), then -a|                 retry RetryMode.fixed(2, 10)
 * result:  -  10ms -(a|)
 * ```
 *
 * @param options as {@link runResilient}'s
 * @returns an operator that emits the source's first value, or errors with the `CanoError`
 * @example
 * import { defer, from } from 'rxjs'
 * import { createCircuitBreaker, resilient, RetryMode } from 'cano-rx'
 * const breaker = createCircuitBreaker()
 * const row$ = defer(() => from(fetch('https://example.org/row/1'))).pipe(
 *   resilient({ retry: RetryMode.fixed(2, 100), attemptTimeoutMs: 1_000, circuitBreaker: breaker }),
 * )
 * @category operators
 * @since 0.1.0
 */
export const resilient = <T>(options?: ResilienceOptions): MonoTypeOperatorFunction<T> => {
  const spec = resilientSpec('resilient', undefined, options)
  return (source: Observable<T>) =>
    standalone$<T>(spec, (env, run) => attemptWork<string, NoResources, T>(env, () => source, run))
}

const resilientSpec = (where: string, fn: unknown, options: ResilienceOptions | undefined): StandaloneSpec => {
  if (where === 'runResilient' && typeof fn !== 'function') throw invalidOption(where, 'fn', 'a function', fn)
  return standaloneSpec(where, options, RetryMode.default())
}
