/**
 * `injectFaults`: deterministic failures for tests. Wraps a task function (a `task`, a split branch, a
 * `stepped` step, a saga's `run` or `compensate`, a batch's `processItem`: anything that receives a context
 * with `attempt` and `signal`) so that chosen attempts fail in a chosen way instead of calling it:
 *
 * - {@link Fault}`.fail(error)`: the attempt returns a Promise rejected with `error`;
 * - `Fault.throw(thrown)`: the attempt throws `thrown` synchronously;
 * - `Fault.hang()`: the attempt never settles by itself; it rejects with its signal's reason when its signal
 *   aborts, so an `attemptTimeoutMs` times it out (a `Timeout` error), and cancelling the run ends it.
 *
 * The attempt is the one the engine numbers (`ctx.attempt`, 1-based), so the same plan gives the same
 * failures in every run, concurrent runs included. `{ count: 'call' }` counts the wrapper's own calls
 * instead (1-based, across every run that uses the wrapper).
 *
 * @since 0.2.0
 */
import { CanoFailure, configurationError } from '../../src/CanoError.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How one attempt fails: `Fail` rejects with `error`, `Throw` throws `thrown`, `Hang` waits for its signal
 * to abort (an attempt timeout, a cancellation).
 *
 * @example
 * import { Fault } from 'cano-rx/testing'
 * const faults: ReadonlyArray<Fault> = [Fault.fail(new Error('503')), Fault.throw(new TypeError('bug')), Fault.hang()]
 * @see {@link injectFaults}
 * @category model
 * @since 0.2.0
 */
export type Fault =
  | { readonly _tag: 'Fail'; readonly error: unknown }
  | { readonly _tag: 'Throw'; readonly thrown: unknown }
  | { readonly _tag: 'Hang' }

/**
 * Which attempts fail and how: an object keyed by attempt number (`{ 1: Fault.fail(e), 2: Fault.hang() }`),
 * or a function of the attempt number (`undefined`: the attempt runs the wrapped function).
 *
 * @example
 * import { Fault, type FaultPlan } from 'cano-rx/testing'
 * const firstTwo: FaultPlan = { 1: Fault.fail(new Error('503')), 2: Fault.fail(new Error('503')) }
 * const everyOther: FaultPlan = (attempt) => (attempt % 2 === 1 ? Fault.hang() : undefined)
 * @see {@link injectFaults}
 * @category model
 * @since 0.2.0
 */
export type FaultPlan = { readonly [attempt: number]: Fault } | ((attempt: number) => Fault | undefined)

/**
 * Options of {@link injectFaults}.
 *
 * @example
 * import type { InjectFaultsOptions } from 'cano-rx/testing'
 * const byCall: InjectFaultsOptions = { count: 'call' }
 * @category model
 * @since 0.2.0
 */
export interface InjectFaultsOptions {
  /**
   * What the plan's numbers count: `'attempt'` (default), the context's `attempt`; `'call'`, the
   * wrapper's own calls, 1-based (for a function called without a task context).
   */
  readonly count?: 'attempt' | 'call'
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The {@link Fault} constructors.
 *
 * @example
 * import { cancelledError } from 'cano-rx'
 * import { Fault } from 'cano-rx/testing'
 * const unavailable = Fault.fail(new Error('503 Service Unavailable')) // a rejected Promise
 * const bug = Fault.throw(new TypeError('x is undefined'))            // a synchronous throw
 * const stuck = Fault.hang()                                          // times out under attemptTimeoutMs
 * const asValue = Fault.fail(cancelledError('upstream went away'))     // any value may be the error
 * @category constructors
 * @since 0.2.0
 */
export const Fault = {
  /** The attempt returns a Promise rejected with `error`. */
  fail: (error: unknown): Fault => ({ _tag: 'Fail', error }),
  /** The attempt throws `thrown` synchronously. */
  throw: (thrown: unknown): Fault => ({ _tag: 'Throw', thrown }),
  /** The attempt settles only when its signal aborts, rejecting with the signal's reason. */
  hang: (): Fault => HANG,
} as const

const HANG: Fault = { _tag: 'Hang' }

/**
 * Wraps `fn` so the attempts `plan` names fail as it says, without calling `fn`; every other attempt calls
 * `fn` unchanged. The context is found among the arguments (the first object with a numeric `attempt`), so
 * a batch's `processItem(item, ctx)` is wrapped the same way as a `task(ctx)`.
 *
 * @param fn - the function to wrap
 * @param plan - which attempts fail, and how ({@link FaultPlan})
 * @param options - `count: 'call'` to number the wrapper's calls instead of the context's attempts
 * @returns `fn` with the faults injected
 * @throws {@link CanoFailure} with a `Configuration` error for a plan key that is not a positive integer or
 *   a fault that is not a {@link Fault} (when wrapping), and for a call without a task context under
 *   `count: 'attempt'` (when called)
 * @example
 * import { RetryMode, task, workflow } from 'cano-rx'
 * import { Fault, injectFaults } from 'cano-rx/testing'
 * const fetchOrder = async () => 'Done' as const
 * const flow = workflow<'Fetch' | 'Done'>()({
 *   exits: ['Done'],
 *   states: {
 *     // attempt 1 is refused, attempt 2 hangs until its 100 ms timeout, attempt 3 calls fetchOrder
 *     Fetch: task(injectFaults(fetchOrder, { 1: Fault.fail(new Error('503')), 2: Fault.hang() }), {
 *       retry: RetryMode.fixed(2, 10),
 *       attemptTimeoutMs: 100,
 *     }),
 *   },
 * })
 * @see {@link Fault}
 * @category constructors
 * @since 0.2.0
 */
export const injectFaults = <A extends ReadonlyArray<unknown>, R>(
  fn: (...args: A) => R,
  plan: FaultPlan,
  options: InjectFaultsOptions = {},
): ((...args: A) => R | Promise<never>) => {
  const faultAt = checkPlan(plan)
  const byCall = checkCount(options.count) === 'call'
  let calls = 0
  return (...args: A): R | Promise<never> => {
    calls += 1
    const ctx = contextOf(args)
    let n = calls
    if (!byCall) {
      if (ctx === undefined)
        throw new CanoFailure(
          configurationError(
            "injectFaults: the wrapped function was called without a task context (an argument with a numeric attempt); pass { count: 'call' } to number its calls instead",
          ),
        )
      n = ctx.attempt
    }
    const fault = faultAt(n)
    if (fault === undefined) return fn(...args)
    switch (fault._tag) {
      case 'Fail':
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the error the test chose, as is (a CanoError value, a string…)
        return Promise.reject(fault.error)
      case 'Throw':
        throw fault.thrown
      case 'Hang':
        return hang(ctx?.signal)
    }
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

interface AttemptContextLike {
  readonly attempt: number
  readonly signal: AbortSignal | undefined
}

/** The first argument with a numeric `attempt`: a task context or a batch item context. */
const contextOf = (args: ReadonlyArray<unknown>): AttemptContextLike | undefined => {
  for (const a of args) {
    if (typeof a !== 'object' || a === null || !('attempt' in a) || typeof a.attempt !== 'number') continue
    const attempt = a.attempt
    // read the signal only when needed: a task context builds it on first read
    return {
      attempt,
      get signal(): AbortSignal | undefined {
        const signal: unknown = 'signal' in a ? a.signal : undefined
        return signal instanceof AbortSignal ? signal : undefined
      },
    }
  }
  return undefined
}

/** A Promise that rejects with `signal`'s reason when it aborts (never, without a signal). */
const hang = (signal: AbortSignal | undefined): Promise<never> =>
  new Promise<never>((_resolve, reject) => {
    if (signal === undefined) return
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the signal's reason, as the engine gave it
    const abort = (): void => reject(signal.reason)
    if (signal.aborted) return abort()
    signal.addEventListener('abort', abort, { once: true })
  })

const isFault = (u: unknown): u is Fault =>
  typeof u === 'object' &&
  u !== null &&
  '_tag' in u &&
  (u._tag === 'Hang' || (u._tag === 'Fail' && 'error' in u) || (u._tag === 'Throw' && 'thrown' in u))

/** The plan as a function, its keys and faults checked once. */
const checkPlan = (given: FaultPlan): ((n: number) => Fault | undefined) => {
  if (typeof given === 'function')
    return (n) => {
      const fault: unknown = given(n)
      if (fault === undefined || isFault(fault)) return fault
      throw new CanoFailure(
        configurationError(`injectFaults: the plan returned ${JSON.stringify(fault)} for attempt ${n}, not a Fault`),
      )
    }
  const plan: unknown = given // a JavaScript caller may pass anything
  if (typeof plan !== 'object' || plan === null)
    throw new CanoFailure(
      configurationError(
        `injectFaults: the plan must be an object keyed by attempt or a function, got ${String(plan)}`,
      ),
    )
  const faults = new Map<number, Fault>()
  for (const [key, fault] of Object.entries(plan)) {
    const n = Number(key)
    if (!Number.isInteger(n) || n < 1 || String(n) !== key)
      throw new CanoFailure(
        configurationError(`injectFaults: plan keys are attempt numbers (integers from 1), got ${JSON.stringify(key)}`),
      )
    if (!isFault(fault))
      throw new CanoFailure(
        configurationError(
          `injectFaults: the plan's entry for attempt ${n} is not a Fault (use Fault.fail, Fault.throw or Fault.hang)`,
        ),
      )
    faults.set(n, fault)
  }
  return (n) => faults.get(n)
}

const checkCount = (count: unknown): 'attempt' | 'call' => {
  if (count === undefined || count === 'attempt') return 'attempt'
  if (count === 'call') return 'call'
  throw new CanoFailure(
    configurationError(`injectFaults: count must be 'attempt' or 'call', got ${JSON.stringify(count)}`),
  )
}
