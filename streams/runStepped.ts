/**
 * `runStepped` and `stepUntilDone`: the `stepped` state kind's cursor loop outside a workflow (cano
 * 0.15's `run_stepped`). The loop is the kind's own (`steppedLoop` in streams/runSteppedState.ts): each
 * step runs under the engine's retry loop (`retry` repeats that step with the same cursor, default
 * `RetryMode.default()` as a stepped task; `attemptTimeoutMs` bounds each step; a breaker or limiter
 * guards each step), `StepOutcome.more(cursor)` feeds the next step, `StepOutcome.done(value)` ends the
 * loop with `value`. Every cursor is encoded with the `cursor` codec, round-tripped through JSON and
 * decoded back (skipped for the primitive codecs where the trip is the identity), so each step sees what
 * a resumed loop would see; `persist(encoded, step)` is awaited before the next step starts, and
 * `resumeFrom` starts the loop from a persisted cursor: a standalone loop can be made durable with
 * whatever store the caller has.
 *
 * @since 0.1.0
 */
import type * as t from 'io-ts'
import { concatMap, ignoreElements, type Observable, type OperatorFunction } from 'rxjs'

import { NonNegativeInteger } from '../codecs/Config.js'
import { CanoFailure } from '../src/CanoError.js'
import { RetryMode } from '../src/RetryMode.js'
import { type StepOutcome, validateStepped } from '../src/Stepped.js'
import type { NoResources } from '../src/TaskContext.js'
import type { TaskOutput } from '../src/TaskOutput.js'
import { fromTaskOutput } from './fromTaskOutput.js'
import {
  checkCallback,
  invalidOption,
  rejected,
  type RunnerBody,
  standalone$,
  standalonePromise,
  type StandaloneSpec,
  standaloneSpec,
} from './internal/standalone.js'
import type { ResilienceOptions, RunnerContext } from './runResilient.js'
import { type SteppedHooks, steppedLoop, type SteppedPlan } from './runSteppedState.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where a resumed {@link runStepped} loop starts: the encoded cursor `persist` received and its step
 * number (steps before it are not repeated).
 *
 * @example
 * import type { SteppedResumePoint } from 'cano-rx'
 * const from: SteppedResumePoint<number> = { encoded: 40, step: 4 }
 * @category model
 * @since 0.1.0
 */
export interface SteppedResumePoint<O> {
  readonly encoded: O
  /** The number of steps already run: a non-negative integer. */
  readonly step: number
}

/**
 * What {@link runStepped} and {@link stepUntilDone} share: the cursor codec, persistence and resumption,
 * and the {@link ResilienceOptions} of each step.
 *
 * @example
 * import * as t from 'io-ts'
 * import type { SteppedRunOptions } from 'cano-rx'
 * declare const save: (encoded: number, step: number) => Promise<void>
 * const options: SteppedRunOptions<number, number> = { cursor: t.number, persist: save, attemptTimeoutMs: 5_000 }
 * @category model
 * @since 0.1.0
 */
export interface SteppedRunOptions<C, O> extends ResilienceOptions {
  /** io-ts codec of the cursor; its `name` appears in `DecodeFailed` errors. */
  readonly cursor: t.Type<C, O>
  /** Persists each encoded cursor before the next step starts; a failure fails the loop. Default: none. */
  readonly persist?: ((encoded: O, step: number) => TaskOutput<unknown>) | undefined
  /** Start from a persisted cursor instead of `undefined`. Default: the start. */
  readonly resumeFrom?: SteppedResumePoint<O> | undefined
}

/**
 * Options of {@link runStepped}: {@link SteppedRunOptions} and the step.
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, type RunSteppedOptions } from 'cano-rx'
 * const count: RunSteppedOptions<number, number, string> = {
 *   cursor: t.number,
 *   step: (_ctx, n = 0) => (n >= 3 ? StepOutcome.done(`counted to ${n}`) : StepOutcome.more(n + 1)),
 * }
 * @category model
 * @since 0.1.0
 */
export interface RunSteppedOptions<C, O, A> extends SteppedRunOptions<C, O> {
  /** One step from `cursor` (`undefined` for the first step of a fresh loop). */
  readonly step: (ctx: RunnerContext, cursor: C | undefined) => TaskOutput<StepOutcome<C, A>>
}

/**
 * Options of {@link stepUntilDone}: {@link SteppedRunOptions} and a step that also receives the source
 * value its loop runs for.
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, type StepUntilDoneOptions } from 'cano-rx'
 * const pages: StepUntilDoneOptions<string, number, number, number> = {
 *   cursor: t.number,
 *   step: (_ctx, page = 0, _query) => (page >= 4 ? StepOutcome.done(page) : StepOutcome.more(page + 1)),
 * }
 * @category model
 * @since 0.1.0
 */
export interface StepUntilDoneOptions<T, C, O, A> extends SteppedRunOptions<C, O> {
  /** One step from `cursor` of the loop run for the source value `value`. */
  readonly step: (ctx: RunnerContext, cursor: C | undefined, value: T) => TaskOutput<StepOutcome<C, A>>
}

// -------------------------------------------------------------------------------------
// runners
// -------------------------------------------------------------------------------------

/**
 * Runs `step` from cursor to cursor until it answers `StepOutcome.done(value)` (see the module comment).
 *
 * @param options the cursor codec, the step, `persist`, `resumeFrom`, and each step's {@link ResilienceOptions}
 * @returns the done value; rejects with a `CanoFailure` carrying the `CanoError` (the step's failure after
 *   its retries, a `DecodeFailed` cursor, a `Workflow` error for an answer that is not a `StepOutcome`,
 *   `Cancelled`, …), and with a `CanoFailure(Configuration)` naming the option for invalid options
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, runStepped } from 'cano-rx'
 * declare const fetchPage: (token: string | null) => Promise<{ rows: number; next: string | null }>
 * const Cursor = t.type({ token: t.union([t.string, t.null]), rows: t.number })
 * const rows = await runStepped({
 *   cursor: Cursor,
 *   step: async (_ctx, c) => {
 *     const page = await fetchPage(c?.token ?? null)
 *     const total = (c?.rows ?? 0) + page.rows
 *     return page.next === null ? StepOutcome.done(total) : StepOutcome.more({ token: page.next, rows: total })
 *   },
 * })
 * @category runners
 * @since 0.1.0
 */
export const runStepped = <C, A, O = C>(options: RunSteppedOptions<C, O, A>): Promise<A> => {
  let run: SteppedRun
  try {
    run = steppedRun('runStepped', options)
  } catch (e: unknown) {
    return rejected(e)
  }
  const step = options.step as SteppedPlan<NoResources>['step']
  return standalonePromise<A>(run.spec, loopBody({ cursor: run.cursor, step }, run.hooks))
}

/**
 * The operator form of {@link runStepped}: for each source value, in order (one loop at a time, as
 * `concatMap`), runs a loop whose steps receive that value, and emits its done value. The options are
 * checked when the operator is created (a `CanoFailure(Configuration)` is thrown there).
 *
 * @param options as {@link runStepped}'s, with a step that also receives the source value
 * @returns an operator from source values to the done values of their loops
 * @example
 * import * as t from 'io-ts'
 * import { from } from 'rxjs'
 * import { StepOutcome, stepUntilDone } from 'cano-rx'
 * declare const countPage: (table: string, page: number) => Promise<number>
 * const totals$ = from(['users', 'orders']).pipe(
 *   stepUntilDone({
 *     cursor: t.type({ page: t.number, total: t.number }),
 *     step: async (_ctx, c, table: string) => {
 *       const page = c?.page ?? 0
 *       const n = await countPage(table, page)
 *       return n === 0 ? StepOutcome.done({ table, total: c?.total ?? 0 }) : StepOutcome.more({ page: page + 1, total: (c?.total ?? 0) + n })
 *     },
 *   }),
 * )
 * @category operators
 * @since 0.1.0
 */
export const stepUntilDone = <T, C, A, O = C>(options: StepUntilDoneOptions<T, C, O, A>): OperatorFunction<T, A> => {
  const run = steppedRun('stepUntilDone', options)
  const { step } = options
  return concatMap((value: T): Observable<A> =>
    standalone$<A>(
      run.spec,
      loopBody(
        {
          cursor: run.cursor,
          step: (ctx, cursor) => step(ctx, cursor as C | undefined, value),
        },
        run.hooks,
      ),
    ),
  )
}

/** A runner's checked options. */
interface SteppedRun {
  readonly spec: StandaloneSpec
  readonly cursor: t.Type<unknown, unknown>
  readonly hooks: SteppedHooks
}

const loopBody =
  <A>(plan: SteppedPlan<NoResources>, hooks: SteppedHooks): RunnerBody<A> =>
  (env, run) =>
    steppedLoop(plan, env, hooks, run, true)

const steppedRun = (where: string, options: unknown): SteppedRun => {
  if (typeof options !== 'object' || options === null) throw invalidOption(where, 'options', 'an object', options)
  const o = options as Partial<StepUntilDoneOptions<unknown, unknown, unknown, unknown>>
  const bad = validateStepped({ cursor: o.cursor, step: o.step }, where)
  if (bad !== undefined) throw new CanoFailure(bad)
  const persist = o.persist
  const badPersist = checkCallback(where, 'persist', persist)
  if (badPersist !== undefined) throw badPersist
  const resume: unknown = o.resumeFrom
  if (resume !== undefined) {
    if (typeof resume !== 'object' || resume === null || !('encoded' in resume))
      throw invalidOption(where, 'resumeFrom', '{ encoded, step }', resume)
    const step = (resume as { readonly step?: unknown }).step
    if (!NonNegativeInteger.is(step)) throw invalidOption(where, 'resumeFrom.step', NonNegativeInteger.name, step)
  }
  const spec = standaloneSpec(where, options, RetryMode.default())
  const hooks: SteppedHooks = {
    resumeCursor: o.resumeFrom,
    persist:
      persist === undefined
        ? undefined
        : (encoded, step) => fromTaskOutput<unknown>(() => persist(encoded, step)).pipe(ignoreElements()),
  }
  return { spec, cursor: o.cursor as t.Type<unknown, unknown>, hooks }
}
