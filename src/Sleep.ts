/**
 * `sleep`: a durable wait (a durable timer). The state waits for a duration or until an instant, then moves to
 * `then`, or to the state `afterWait` chooses once the wait is over (cano 0.15's `TimerTask::after_wait`).
 * The wake-up instant is computed once, when the state is entered, and reported as a `TimerArmed` event
 * (with a checkpoint store it is persisted), so a resumed run waits only for what is left, then calls
 * `afterWait` (again, if a crash interrupted it: the wait itself is never repeated); cancellation
 * interrupts the wait at once. Beyond cano 0.12.
 *
 * @since 0.1.0
 */
import type { Configuration } from '../codecs/CanoError.js'
import { MAX_TIMER_MS, TimerDelay } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import type { HandlerBase } from './HandlerBase.js'
import { checkConfig } from './internal/checkConfig.js'
import { describeValue } from './internal/describeValue.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How long to wait: a number is a duration in milliseconds, a `Date` an instant. A function computes
 * it from the context when the state is entered.
 *
 * @example
 * import type { SleepWait } from 'cano-rx'
 * const inAMinute: SleepWait = 60_000
 * const atNoon: SleepWait = new Date('2030-01-01T12:00:00Z')
 * @category model
 * @since 0.1.0
 */
export type SleepWait = number | Date

/**
 * A `sleep` state: exactly one of `then` and `afterWait` is set.
 *
 * @example
 * import { sleep, type SleepHandler } from 'cano-rx'
 * const h: SleepHandler<'Remind'> = sleep({ wait: 5_000, then: 'Remind' })
 * @category model
 * @since 0.1.0
 */
export interface SleepHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Timer'
  readonly wait: SleepWait | ((ctx: TaskContext<R>) => SleepWait)
  /** The state after the wait; `undefined` when `afterWait` chooses it. */
  readonly then: S | undefined
  /**
   * Chooses the state after the wait, like a task's function (a value, a Promise, an Observable or a
   * `TaskEither`; one attempt, as cano's timer); `undefined` with `then`. @since 0.3.0
   */
  readonly afterWait: ((ctx: TaskContext<R>) => TaskOutput<S>) | undefined
}

/**
 * Options of {@link sleep}: a `wait`, then either the fixed next state `then` or an `afterWait`
 * function that chooses it once the wait is over (its targets declared with `to`, like a task's).
 *
 * @example
 * import type { SleepOptions } from 'cano-rx'
 * const fixed: SleepOptions<'Next'> = { wait: 1_000, then: 'Next' }
 * const chosen: SleepOptions<'Next' | 'GiveUp'> = {
 *   wait: 1_000,
 *   afterWait: () => (Math.random() > 0.5 ? 'Next' : 'GiveUp'),
 *   to: ['Next', 'GiveUp'],
 * }
 * @category model
 * @since 0.1.0
 */
export type SleepOptions<S extends string, R extends ResourceRecord = NoResources> =
  SleepThenOptions<S, R> | SleepAfterWaitOptions<S, R>

/** What both forms of {@link SleepOptions} take. */
interface SleepCommon<R extends ResourceRecord> {
  /** How long to wait, or a function of the context computing it when the state is entered. */
  readonly wait: SleepWait | ((ctx: TaskContext<R>) => SleepWait)
  /** Task id in events and checkpoint rows; defaults to the state's name. */
  readonly name?: string
}

/** {@link SleepOptions} with a fixed next state. */
interface SleepThenOptions<S extends string, R extends ResourceRecord> extends SleepCommon<R> {
  /** The state after the wait (its only target). */
  readonly then: S
  readonly afterWait?: undefined
  readonly to?: undefined
}

/**
 * {@link SleepOptions} without declared targets: what the overload of {@link sleep} that does not
 * narrow takes (options with `to` take the narrowing one, so a return outside `to` is a compile error).
 *
 * @example
 * import type { UntargetedSleepOptions } from 'cano-rx'
 * const o: UntargetedSleepOptions<'Next' | 'Stop'> = { wait: 500, afterWait: () => 'Next' }
 * @category model
 * @since 0.3.0
 */
export type UntargetedSleepOptions<S extends string, R extends ResourceRecord = NoResources> =
  SleepThenOptions<S, R> | (SleepAfterWaitOptions<S, R> & { readonly to?: undefined })

/** {@link SleepOptions} whose next state `afterWait` chooses. */
interface SleepAfterWaitOptions<S extends string, R extends ResourceRecord> extends SleepCommon<R> {
  readonly then?: undefined
  /**
   * Called once the wait is over (after a resume too: only what was left of the wait is waited first);
   * returns the next state as a task does. One attempt: a throw or rejection fails the state.
   */
  readonly afterWait: (ctx: TaskContext<R>) => TaskOutput<S>
  /** Declared targets: the return type narrows to them, a return outside them is a `Workflow` error. */
  readonly to?: ReadonlyArray<S>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Waits, then moves to `then`, or to the state `afterWait` returns (called once the wait is over).
 * The wait survives a resume (only the remainder is waited). With `afterWait` and `to`, the return
 * type narrows to the declared targets, as for {@link task}.
 *
 * @example
 * import { sleep } from 'cano-rx'
 * const coolDown = sleep({ wait: 30_000, then: 'Retry' as const })
 * const untilMidnight = sleep({ wait: () => new Date(new Date().setUTCHours(24, 0, 0, 0)), then: 'Report' as const })
 * declare const queue: { depth: () => Promise<number> }
 * const backOff = sleep({
 *   wait: 60_000,
 *   afterWait: async () => ((await queue.depth()) > 1_000 ? 'Shed' : 'Drain'),
 *   to: ['Shed', 'Drain'],
 * })
 * @category constructors
 * @since 0.1.0
 */
export function sleep<T extends string, R extends ResourceRecord = NoResources>(
  options: SleepCommon<R> & {
    readonly then?: undefined
    readonly afterWait: (ctx: TaskContext<R>) => TaskOutput<NoInfer<T>>
    readonly to: ReadonlyArray<T>
  },
): SleepHandler<T, R>
export function sleep<S extends string, R extends ResourceRecord = NoResources>(
  options: UntargetedSleepOptions<S, R>,
): SleepHandler<S, R>
export function sleep<S extends string, R extends ResourceRecord>(options: SleepOptions<S, R>): SleepHandler<S, R> {
  return makeSleep(options)
}

/** @internal {@link sleep} without its overloads (the state builders call it). */
export const makeSleep = <S extends string, R extends ResourceRecord>(
  options: SleepOptions<S, R>,
): SleepHandler<S, R> => {
  const { wait, name } = options
  if (options.afterWait !== undefined)
    return { _tag: 'Timer', wait, then: options.then, afterWait: options.afterWait, config: {}, to: options.to, name }
  return { _tag: 'Timer', wait, then: options.then, afterWait: undefined, config: {}, to: [options.then], name }
}

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/** The rule of a numeric `wait`, as its error message states it. */
const WAIT_RULE = `a duration in [0, ${MAX_TIMER_MS}] ms`

/**
 * The wake-up instant (epoch ms) for a wait computed at `now`, or a `Configuration` error for a
 * negative, NaN or too long duration and an invalid date. An instant in the past wakes at once.
 *
 * @example
 * import { wakeAt } from 'cano-rx'
 * wakeAt(5_000, 1_000, 'state "Wait"') // { _tag: 'Right', right: 6_000 }
 * @category destructors
 * @since 0.1.0
 */
export const wakeAt = (
  wait: unknown,
  now: number,
  where: string,
): { readonly _tag: 'Right'; readonly right: number } | { readonly _tag: 'Left'; readonly left: Configuration } => {
  if (typeof wait === 'number') {
    const invalid = checkConfig(TimerDelay, wait, `${where}: wait`, String, WAIT_RULE)
    if (invalid !== undefined) return { _tag: 'Left', left: invalid }
    return { _tag: 'Right', right: now + wait }
  }
  if (wait instanceof Date) {
    const at = wait.getTime()
    if (Number.isNaN(at)) return { _tag: 'Left', left: configurationError(`${where}: wait is an invalid Date`) }
    return { _tag: 'Right', right: at }
  }
  return { _tag: 'Left', left: configurationError(`${where}: wait must be a number of milliseconds or a Date`) }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a timer handler's own options; the error names `where`.
 *
 * @example
 * import { sleep } from 'cano-rx'
 * import { validateSleep } from './Sleep.js'
 * validateSleep(sleep({ wait: -1, then: 'Next' }), 'state "Wait"')?.message
 * // 'state "Wait": wait must be a duration in [0, 2147483647] ms, got -1'
 * @category validation
 * @since 0.1.0
 */
export const validateSleep = (h: SleepHandler<string, ResourceRecord>, where: string): Configuration | undefined => {
  const afterWait: unknown = h.afterWait
  if (afterWait !== undefined) {
    if (h.then !== undefined)
      return configurationError(`${where}: give then or afterWait, not both (afterWait chooses the next state)`)
    if (typeof afterWait !== 'function')
      return configurationError(
        `${where}: afterWait must be a function returning the next state, got ${describeValue(afterWait)}`,
      )
  } else if (typeof h.then !== 'string' || h.then === '')
    return configurationError(`${where}: then must be a state name (or give afterWait to choose it after the wait)`)
  if (typeof h.wait === 'function') return undefined
  const checked = wakeAt(h.wait, 0, where)
  return checked._tag === 'Left' ? checked.left : undefined
}
