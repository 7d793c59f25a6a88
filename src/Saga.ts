/**
 * `saga`: a compensatable state. Its forward step `run(ctx)` changes an external system and returns
 * the next state together with an `output`; `compensate(ctx, output)` undoes that change from the
 * output alone (it may run in another process, after a resume). On forward success the output is
 * encoded with the state's io-ts codec, round-tripped through JSON, pushed on the run's compensation
 * stack and, with a checkpoint store, written as a `CompensationCompletion` row before the run moves
 * on.
 *
 * When the run later fails, is cancelled or times out, the engine rolls back: it writes a
 * `RollbackStarted` row, then drains the stack last-in first-out, attempting every entry even when
 * one fails, each bounded by its own timeout and retried per `compensateRetry`; each finished
 * compensation writes a `CompensationDone` row. A run killed during a rollback resumes the rollback
 * (it does not re-run the failed state) and never runs a finished compensation twice.
 *
 * Outcomes ({@link rollbackOutcome}, cano's reference 2.13): a clean rollback ends with the original
 * error and clears the checkpoint log; any compensation failure ends with `CompensationFailed`
 * (the original error first, then each compensation error in drain order) and keeps the log; a
 * failure with nothing on the stack ends with the original error and keeps the log (the run stays
 * resumable). Compensators are keyed by state, so two states sharing one task never share one; an
 * entry whose state has no compensator any more is `OrphanedCompensation`, carrying the stored output.
 *
 * @since 0.1.0
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type * as t from 'io-ts'
import type { Observable } from 'rxjs'

import type { CanoError, Configuration } from '../codecs/CanoError.js'
import { optional, TimerDuration } from '../codecs/Config.js'
import { compensationFailedError, configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import { checkConfig, showNumberOrType } from './internal/checkConfig.js'
import { RetryMode, validateRetryMode } from './RetryMode.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a saga's forward step answers: the next state and the output its compensation needs.
 *
 * @example
 * import type { SagaResult } from 'cano-rx'
 * const r: SagaResult<'Ship', { readonly chargeId: string }> = ['Ship', { chargeId: 'ch_1' }]
 * @category model
 * @since 0.1.0
 */
export type SagaResult<S extends string, O> = readonly [next: S, output: O]

/**
 * What a saga's `run` may return: a {@link SagaResult} as a value, a Promise, an Observable (first
 * value) or a `TaskEither`.
 *
 * @example
 * import type { SagaOutput } from 'cano-rx'
 * const later: SagaOutput<'Ship', number> = Promise.resolve(['Ship', 42] as const)
 * @category model
 * @since 0.1.0
 */
export type SagaOutput<S extends string, O> =
  | SagaResult<S, O>
  | PromiseLike<SagaResult<S, O>>
  | Observable<SagaResult<S, O>>
  | TaskEither<unknown, SagaResult<S, O>>

/**
 * A `saga` state (see the module comment).
 *
 * @example
 * import * as t from 'io-ts'
 * import { saga, type SagaHandler } from 'cano-rx'
 * const h: SagaHandler<'Ship'> = saga({
 *   output: t.string,
 *   run: async () => ['Ship', 'ch_1'] as const,
 *   compensate: async (_ctx, chargeId) => console.log('refund', chargeId),
 * })
 * @category model
 * @since 0.1.0
 */
export interface SagaHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Saga'
  /** io-ts codec of the output; its `name` appears in `DecodeFailed` errors. */
  readonly output: t.Type<unknown, unknown>
  readonly run: (ctx: TaskContext<R>) => SagaOutput<S, unknown>
  /** Its result is unwrapped like a task's (see {@link SagaOptions}'s `compensate`) and ignored. */
  readonly compensate: (ctx: TaskContext<R>, output: unknown) => unknown
  /** Bounds each compensation attempt; `undefined`: the state's `attemptTimeoutMs`, if any. */
  readonly compensateTimeoutMs: number | undefined
  /** Retry policy of the compensation. */
  readonly compensateRetry: RetryMode
}

/**
 * Options of {@link saga}: the forward step, its output codec and its compensation, plus the
 * {@link BaseOptions} of the forward step (`retry`, `attemptTimeoutMs`, `circuitBreaker`,
 * `rateLimiter`, `to`, `name`).
 *
 * @example
 * import * as t from 'io-ts'
 * import { RetryMode, type SagaOptions } from 'cano-rx'
 * const Charge = t.type({ chargeId: t.string, cents: t.number })
 * const o: SagaOptions<'Ship', Record<never, never>, t.TypeOf<typeof Charge>, t.OutputOf<typeof Charge>> = {
 *   output: Charge,
 *   run: async () => ['Ship', { chargeId: 'ch_1', cents: 1_999 }],
 *   compensate: async (_ctx, charge) => console.log('refund', charge.chargeId),
 *   compensateTimeoutMs: 5_000,
 *   compensateRetry: RetryMode.fixed(2, 500),
 * }
 * @category model
 * @since 0.1.0
 */
export interface SagaOptions<S extends string, R extends ResourceRecord, O, A = O> extends BaseOptions<S> {
  /** io-ts codec of the output: it is stored encoded (JSON) and decoded again before compensating. */
  readonly output: t.Type<O, A>
  /** The forward step: returns the next state and the output. Retried per `retry` (default: cano's). */
  readonly run: (ctx: TaskContext<R>) => SagaOutput<S, O>
  /**
   * Undoes the forward step from its output alone; must be idempotent (a crash between the undo and
   * its `CompensationDone` row runs it again on resume). It may return nothing, a Promise, an
   * Observable (its first value or its completion ends it) or a `TaskEither` (a `Left` fails it); a
   * throw, a rejection or an error fails it, and any value is ignored. Its `ctx.signal` is its own:
   * cancelling the run does not abort it, its timeout does.
   */
  readonly compensate: (ctx: TaskContext<R>, output: O) => unknown
  /** Bounds each compensation attempt, in (0, 2^31-1] ms. Default: the state's `attemptTimeoutMs`, else none. */
  readonly compensateTimeoutMs?: number
  /** Retry policy of the compensation. Default `RetryMode.none()`: one attempt, as cano. */
  readonly compensateRetry?: RetryMode
}

/**
 * One entry of a run's compensation stack: a finished forward step of `state`, with its output as
 * stored (`encoded`) and the `seq` of its `CompensationCompletion` row (`undefined` without a store).
 *
 * @example
 * import type { CompensationEntry } from 'cano-rx'
 * const e: CompensationEntry = { state: 'Charge', taskId: 'Charge', encoded: { chargeId: 'ch_1' }, seq: 3 }
 * @category model
 * @since 0.1.0
 */
export interface CompensationEntry {
  readonly state: string
  readonly taskId: string
  /** The output as its codec encoded it (a JSON value); what `OrphanedCompensation` carries. */
  readonly encoded: unknown
  /** `seq` of the `CompensationCompletion` row, when there is a store. */
  readonly seq: number | undefined
}

/**
 * How a rollback ended: the error the run ends with, and whether its checkpoint log is cleared.
 *
 * @example
 * import { rollbackOutcome, taskExecutionError, type RollbackOutcome } from 'cano-rx'
 * const clean: RollbackOutcome = rollbackOutcome(taskExecutionError('ship failed'), [])
 * @category model
 * @since 0.1.0
 */
export interface RollbackOutcome {
  /** The original error (clean rollback) or `CompensationFailed` (dirty rollback). */
  readonly error: CanoError
  /** `true` after a clean rollback: nothing is left to recover. */
  readonly clearLog: boolean
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A compensatable state. The forward step runs through the retry loop like a task; its output is
 * kept (and checkpointed) so that `compensate` can undo it if the run fails later.
 *
 * @example
 * import * as t from 'io-ts'
 * import { saga } from 'cano-rx'
 * declare const payments: { charge: (cents: number) => Promise<string>; refund: (chargeId: string) => Promise<void> }
 * const Charge = t.type({ chargeId: t.string })
 * const charge = saga({
 *   output: Charge,
 *   run: async () => ['Ship' as const, { chargeId: await payments.charge(1_999) }],
 *   compensate: (_ctx, { chargeId }) => payments.refund(chargeId),
 *   compensateTimeoutMs: 10_000,
 * })
 * @see {@link rollbackOutcome} for how a rollback ends
 * @category constructors
 * @since 0.1.0
 */
export const saga = <S extends string, O, A = O, R extends ResourceRecord = NoResources>(
  options: SagaOptions<S, R, O, A>,
): SagaHandler<S, R> => {
  const { base, rest } = splitOptions<S, SagaOptions<S, R, O, A>>(options)
  return {
    _tag: 'Saga',
    ...base,
    output: rest.output as t.Type<unknown, unknown>,
    run: rest.run,
    compensate: rest.compensate as (ctx: TaskContext<R>, output: unknown) => unknown,
    compensateTimeoutMs: rest.compensateTimeoutMs,
    compensateRetry: rest.compensateRetry ?? RetryMode.none(),
  }
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * How a rollback that compensated something ends (cano's reference 2.13): with no compensation error
 * the run ends with `original` and its log is cleared; otherwise with `CompensationFailed` listing
 * `original` first, then each compensation error in drain order, and the log is kept for recovery.
 * (A failure with an empty stack rolls nothing back: it ends with `original` and keeps the log.)
 *
 * @param original - the error that started the rollback
 * @param errors - the compensation errors, in drain (last-in first-out) order
 * @returns the run's final error and whether to clear the log
 * @example
 * import { rollbackOutcome, taskExecutionError, timeoutError } from 'cano-rx'
 * rollbackOutcome(taskExecutionError('ship failed'), []).clearLog // true
 * rollbackOutcome(taskExecutionError('ship failed'), [timeoutError(50)]).error._tag // 'CompensationFailed'
 * @category destructors
 * @since 0.1.0
 */
export const rollbackOutcome = (original: CanoError, errors: ReadonlyArray<CanoError>): RollbackOutcome =>
  errors.length === 0
    ? { error: original, clearLog: true }
    : { error: compensationFailedError([original, ...errors]), clearLog: false }

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a saga handler's own options; the error names `where`.
 *
 * @param h - the handler (may come from untyped code)
 * @param where - prefixes the message (e.g. `state "Charge"`)
 * @returns the `Configuration` error, or `undefined` when the handler is valid
 * @example
 * import * as t from 'io-ts'
 * import { saga, validateSaga } from 'cano-rx'
 * validateSaga(saga({ output: t.string, run: () => ['Done', 'x'] as const, compensate: () => undefined, compensateTimeoutMs: 0 }), 'state "Charge"')?.message
 * // 'state "Charge": compensateTimeoutMs must be a finite number in (0, 2147483647], got 0'
 * @category validation
 * @since 0.1.0
 */
export const validateSaga = (h: SagaHandler<string, ResourceRecord>, where: string): Configuration | undefined => {
  if (typeof h.run !== 'function') return configurationError(`${where}: run must be a function`)
  if (typeof h.compensate !== 'function') return configurationError(`${where}: compensate must be a function`)
  const c = h.output as Partial<t.Type<unknown, unknown>> | undefined
  if (c === undefined || typeof c.decode !== 'function' || typeof c.encode !== 'function')
    return configurationError(`${where}: output must be an io-ts codec (e.g. t.string, t.type({ … }))`)
  const timeout = checkConfig(
    optional(TimerDuration),
    h.compensateTimeoutMs,
    `${where}: compensateTimeoutMs`,
    showNumberOrType,
  )
  if (timeout !== undefined) return timeout
  const retry: unknown = h.compensateRetry
  if (typeof retry !== 'object' || retry === null)
    return configurationError(`${where}: compensateRetry must be a RetryMode (use RetryMode.none/fixed/exponential)`)
  return validateRetryMode(retry as RetryMode, `${where}: compensateRetry`)
}
