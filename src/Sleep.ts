/**
 * `sleep`: a durable wait (a durable timer). The state waits for a duration or until an instant, then moves to
 * `then`. The wake-up instant is computed once, when the state is entered, and reported as a
 * `TimerArmed` event (with a checkpoint store it is persisted), so a resumed run waits only for
 * what is left; cancellation interrupts the wait at once. Beyond cano 0.12.
 *
 * @since 0.1.0
 */
import type { Configuration } from '../codecs/CanoError.js'
import { MAX_TIMER_MS, TimerDelay } from '../codecs/Config.js'
import { configurationError } from './CanoError.js'
import type { HandlerBase } from './HandlerBase.js'
import { checkConfig } from './internal/checkConfig.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'

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
 * A `sleep` state.
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
  readonly then: S
}

/**
 * Options of {@link sleep}.
 *
 * @example
 * import type { SleepOptions } from 'cano-rx'
 * const o: SleepOptions<'Next'> = { wait: 1_000, then: 'Next' }
 * @category model
 * @since 0.1.0
 */
export interface SleepOptions<S extends string, R extends ResourceRecord = NoResources> {
  readonly wait: SleepWait | ((ctx: TaskContext<R>) => SleepWait)
  readonly then: S
  readonly name?: string
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Waits, then moves to `then`. The wait survives a resume (only the remainder is waited).
 *
 * @example
 * import { sleep } from 'cano-rx'
 * const coolDown = sleep({ wait: 30_000, then: 'Retry' as const })
 * const untilMidnight = sleep({ wait: () => new Date(new Date().setUTCHours(24, 0, 0, 0)), then: 'Report' as const })
 * @category constructors
 * @since 0.1.0
 */
export const sleep = <S extends string, R extends ResourceRecord = NoResources>(
  options: SleepOptions<S, R>,
): SleepHandler<S, R> => ({
  _tag: 'Timer',
  wait: options.wait,
  then: options.then,
  config: {},
  to: [options.then],
  name: options.name,
})

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
  if (typeof h.then !== 'string' || h.then === '') return configurationError(`${where}: then must be a state name`)
  if (typeof h.wait === 'function') return undefined
  const checked = wakeAt(h.wait, 0, where)
  return checked._tag === 'Left' ? checked.left : undefined
}
