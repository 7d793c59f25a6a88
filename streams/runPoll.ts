/**
 * `runPoll` and `pollUntilReady`: the `poll` state kind's loop outside a workflow (cano 0.15's
 * `run_poll_loop`). The loop is the kind's own (`pollLoop` in streams/runPollState.ts) and runs as one
 * attempt of the engine's retry loop, exactly as in a workflow: `PollOutcome.pending(ms)` waits and polls
 * again (resetting the error count), `PollOutcome.ready(value)` ends the loop with `value`, an error ends
 * it under `PollErrorPolicy.failFast()` (the default) or is tolerated up to `maxErrors` in a row under
 * `PollErrorPolicy.retryOnError`, and `maxPolls` caps the calls. `attemptTimeoutMs` bounds the whole loop,
 * `retry` (default `RetryMode.none()`, as cano's poll task) restarts it, and a breaker or limiter guards
 * each loop.
 *
 * @since 0.1.0
 */
import { concatMap, type Observable, type OperatorFunction } from 'rxjs'

import { CanoFailure } from '../src/CanoError.js'
import type { PollErrorPolicy, PollOutcome } from '../src/Poll.js'
import { validatePoll } from '../src/Poll.js'
import { RetryMode } from '../src/RetryMode.js'
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
import { pollLoop } from './runPollState.js'
import type { ResilienceOptions, RunnerContext } from './runResilient.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link runPoll} and {@link pollUntilReady}: the {@link ResilienceOptions} of the loop as a
 * whole, and the poll loop's own.
 *
 * @example
 * import { PollErrorPolicy, type RunPollOptions } from 'cano-rx'
 * const options: RunPollOptions = {
 *   onError: PollErrorPolicy.retryOnError({ maxErrors: 3, delayMs: 500 }),
 *   maxPolls: 120,
 *   attemptTimeoutMs: 60_000,
 * }
 * @category model
 * @since 0.1.0
 */
export interface RunPollOptions extends ResilienceOptions {
  /** What a failed poll does. Default `PollErrorPolicy.failFast()`. */
  readonly onError?: PollErrorPolicy | undefined
  /** Give up (a `TaskExecution` error) after this many polls: a positive integer. Default: no cap. */
  readonly maxPolls?: number | undefined
}

// -------------------------------------------------------------------------------------
// runners
// -------------------------------------------------------------------------------------

/**
 * Polls until `poll` answers `PollOutcome.ready(value)`, waiting what each `PollOutcome.pending(ms)` asks
 * in between (see the module comment for the rules).
 *
 * @param poll one poll; may return its outcome, a Promise, an Observable or a `TaskEither` of it
 * @param options the loop's `onError` and `maxPolls`, and its {@link ResilienceOptions}
 * @returns the ready value; rejects with a `CanoFailure` carrying the `CanoError` (the poll's error,
 *   `TaskExecution` when `maxPolls` ran out, `Timeout`, `Cancelled`, …), and with a
 *   `CanoFailure(Configuration)` naming the option for invalid options
 * @example
 * import { PollOutcome, runPoll } from 'cano-rx'
 * declare const jobStatus: (id: string) => Promise<{ state: 'running' | 'done'; rows: number }>
 * const rows = await runPoll(
 *   async () => {
 *     const job = await jobStatus('j-7')
 *     return job.state === 'done' ? PollOutcome.ready(job.rows) : PollOutcome.pending(1_000)
 *   },
 *   { maxPolls: 300, attemptTimeoutMs: 600_000 },
 * )
 * @category runners
 * @since 0.1.0
 */
export const runPoll = <A>(
  poll: (ctx: RunnerContext) => TaskOutput<PollOutcome<A>>,
  options?: RunPollOptions,
): Promise<A> => {
  let run: PollRun
  try {
    run = pollRun('runPoll', poll, options)
  } catch (e: unknown) {
    return rejected(e)
  }
  return standalonePromise<A>(run.spec, (env, r) =>
    attemptWork<string, NoResources, A>(
      env,
      (ctx) => pollLoop({ ...run.plan, poll }, env, ctx, {}, undefined, true),
      r,
      false,
    ),
  )
}

/**
 * The operator form of {@link runPoll}: for each source value, in order (one loop at a time, as
 * `concatMap`), polls `poll(value, ctx)` until it is ready and emits the ready value. The options are
 * checked when the operator is created (a `CanoFailure(Configuration)` is thrown there); a loop that fails
 * errors the output with the `CanoError`.
 *
 * @param poll one poll for a source value
 * @param options as {@link runPoll}'s
 * @returns an operator from source values to their ready values
 * @example
 * import { from } from 'rxjs'
 * import { PollOutcome, pollUntilReady } from 'cano-rx'
 * declare const exportStatus: (id: string) => Promise<{ url: string | null }>
 * const urls$ = from(['e-1', 'e-2']).pipe(
 *   pollUntilReady(async (id: string) => {
 *     const { url } = await exportStatus(id)
 *     return url === null ? PollOutcome.pending(2_000) : PollOutcome.ready(url)
 *   }),
 * )
 * @category operators
 * @since 0.1.0
 */
export const pollUntilReady = <T, A>(
  poll: (value: T, ctx: RunnerContext) => TaskOutput<PollOutcome<A>>,
  options?: RunPollOptions,
): OperatorFunction<T, A> => {
  const run = pollRun('pollUntilReady', poll, options)
  return concatMap((value: T): Observable<A> =>
    standalone$<A>(run.spec, (env, r) =>
      attemptWork<string, NoResources, A>(
        env,
        (ctx) => pollLoop({ ...run.plan, poll: (c: RunnerContext) => poll(value, c) }, env, ctx, {}, undefined, true),
        r,
        false,
      ),
    ),
  )
}

/** A runner's checked options. */
interface PollRun {
  readonly spec: StandaloneSpec
  readonly plan: { readonly onError: PollErrorPolicy; readonly maxPolls: number | undefined }
}

const pollRun = (where: string, poll: unknown, options: RunPollOptions | undefined): PollRun => {
  if (typeof poll !== 'function') throw invalidOption(where, 'poll', 'a function', poll)
  const spec = standaloneSpec(where, options, RetryMode.none())
  const plan = { onError: options?.onError ?? { _tag: 'FailFast' as const }, maxPolls: options?.maxPolls }
  const bad = validatePoll({ ...plan, poll }, where)
  if (bad !== undefined) throw new CanoFailure(bad)
  return { spec, plan }
}
