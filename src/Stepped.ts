/**
 * `stepped`: a resumable loop with a cursor. `step(ctx, cursor)` receives `undefined` on the first
 * call and returns `StepOutcome.more(nextCursor)` to be called again or `StepOutcome.done(state)` to move on. Each cursor
 * is encoded with the state's io-ts codec (a cursor that does not encode and decode back is a
 * `DecodeFailed` error naming the state and the step), reported as a `CursorAdvanced` event, and,
 * with a checkpoint store, persisted before the next step so a resumed run continues from it. Each
 * step runs through the retry loop on its own (a retry repeats that step with the same cursor) and
 * `attemptTimeoutMs` bounds each step.
 *
 * @since 0.1.0
 */
import type * as t from 'io-ts'

import type { Configuration } from '../codecs/CanoError.js'
import { configurationError } from './CanoError.js'
import { type BaseOptions, type HandlerBase, splitOptions } from './HandlerBase.js'
import type { NoResources, ResourceRecord, TaskContext } from './TaskContext.js'
import type { TaskOutput } from './TaskOutput.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What one step answers: go on from `cursor`, or move to `state`. In a workflow `S` is a state name; the
 * standalone `runStepped` / `stepUntilDone` take any value as the result (`state` holds it).
 *
 * @example
 * import { StepOutcome } from 'cano-rx'
 * const next = (page: number): StepOutcome<number, 'Report'> => (page >= 9 ? StepOutcome.done('Report') : StepOutcome.more(page + 1))
 * @category model
 * @since 0.1.0
 */
export type StepOutcome<C, S> =
  { readonly _tag: 'More'; readonly cursor: C } | { readonly _tag: 'Done'; readonly state: S }

/**
 * A `stepped` state over cursors of type `C` (stored as `O`).
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, stepped, type SteppedHandler } from 'cano-rx'
 * const h: SteppedHandler<'Done'> = stepped({ cursor: t.number, step: (_ctx, c: number | undefined) => ((c ?? 0) >= 3 ? StepOutcome.done('Done') : StepOutcome.more((c ?? 0) + 1)) })
 * @category model
 * @since 0.1.0
 */
export interface SteppedHandler<S extends string, R extends ResourceRecord = NoResources> extends HandlerBase<S> {
  readonly _tag: 'Stepped'
  /** io-ts codec of the cursor; its `name` appears in `DecodeFailed` errors. */
  readonly cursor: t.Type<unknown, unknown>
  readonly step: (ctx: TaskContext<R>, cursor: unknown) => TaskOutput<StepOutcome<unknown, S>>
}

/**
 * Options of {@link stepped}.
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, type SteppedOptions } from 'cano-rx'
 * const o: SteppedOptions<'Done', Record<never, never>, number, number> = {
 *   cursor: t.number,
 *   step: (_ctx, c) => ((c ?? 0) > 5 ? StepOutcome.done('Done') : StepOutcome.more((c ?? 0) + 1)),
 * }
 * @category model
 * @since 0.1.0
 */
export interface SteppedOptions<S extends string, R extends ResourceRecord, C, O> extends BaseOptions<S> {
  readonly cursor: t.Type<C, O>
  readonly step: (ctx: TaskContext<R>, cursor: C | undefined) => TaskOutput<StepOutcome<C, S>>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Go on with `cursor`.
 *
 * @example
 * import { StepOutcome } from 'cano-rx'
 * const m = StepOutcome.more({ page: 2, token: 'abc' })
 * @category constructors
 * @since 0.1.0
 */
const more = <C>(cursor: C): StepOutcome<C, never> => ({ _tag: 'More', cursor })

/**
 * Leave the loop for `state` (in a workflow), or finish with `value` (a standalone `runStepped`). A
 * string keeps its literal type, so `StepOutcome.done('Report')` is a `StepOutcome<never, 'Report'>`.
 *
 * @example
 * import { StepOutcome } from 'cano-rx'
 * const d = StepOutcome.done('Report')
 * const total = StepOutcome.done({ pages: 12, rows: 1_180 }) // for runStepped: the loop's result
 * @category constructors
 * @since 0.1.0
 */
const done: { <S extends string>(state: S): StepOutcome<never, S>; <A>(value: A): StepOutcome<never, A> } = <A>(
  state: A,
): StepOutcome<never, A> => ({ _tag: 'Done', state })

/**
 * Builds a {@link StepOutcome}: `StepOutcome.more(cursor)` (run another step from `cursor`) or
 * `StepOutcome.done(state)` (leave the loop for `state`).
 *
 * @example
 * import { StepOutcome } from 'cano-rx'
 * const next = (page: number) => (page >= 9 ? StepOutcome.done('Report') : StepOutcome.more(page + 1))
 * @category constructors
 * @since 0.1.0
 */
export const StepOutcome = { more, done } as const

/**
 * A resumable cursor loop. The default config retries each step (cano's `TaskConfig::default()`).
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, stepped } from 'cano-rx'
 * const Page = t.type({ page: t.number, token: t.union([t.string, t.null]) })
 * const scan = stepped({
 *   cursor: Page,
 *   step: async (_ctx, c) => {
 *     const page = c?.page ?? 0
 *     return page >= 9 ? StepOutcome.done('Report' as const) : StepOutcome.more({ page: page + 1, token: null })
 *   },
 * })
 * @category constructors
 * @since 0.1.0
 */
export const stepped = <S extends string, C, O = C, R extends ResourceRecord = NoResources>(
  options: SteppedOptions<S, R, C, O>,
): SteppedHandler<S, R> => {
  const { base, rest } = splitOptions<S, SteppedOptions<S, R, C, O>>(options)
  return {
    _tag: 'Stepped',
    ...base,
    cursor: rest.cursor as t.Type<unknown, unknown>,
    step: rest.step as (ctx: TaskContext<R>, cursor: unknown) => TaskOutput<StepOutcome<unknown, S>>,
  }
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

/**
 * Checks a stepped handler's own options; the error names `where`.
 *
 * @example
 * import * as t from 'io-ts'
 * import { StepOutcome, stepped } from 'cano-rx'
 * import { validateStepped } from './Stepped.js'
 * validateStepped(stepped({ cursor: t.number, step: () => StepOutcome.done('Done') }), 'state "Scan"') // undefined
 * @category validation
 * @since 0.1.0
 */
export const validateStepped = (
  h: { readonly cursor: unknown; readonly step: unknown },
  where: string,
): Configuration | undefined => {
  if (typeof h.step !== 'function') return configurationError(`${where}: step must be a function`)
  const c = h.cursor as Partial<t.Type<unknown, unknown>> | undefined
  if (c === undefined || typeof c.decode !== 'function' || typeof c.encode !== 'function')
    return configurationError(`${where}: cursor must be an io-ts codec (e.g. t.number, t.type({ … }))`)
  return undefined
}
