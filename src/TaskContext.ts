/**
 * `TaskContext`: what every task function receives (typed resources, the abort signal, the attempt
 * number, the run id and state, progress reporting). What it may return is a `TaskOutput`
 * (src/TaskOutput.ts).
 *
 * @since 0.1.0
 */
import type { Resources } from './Resources.js'
import type { SplitResult } from './SplitResult.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The resource record of a workflow with no resources.
 *
 * @example
 * import type { NoResources } from 'cano-rx'
 * const none: NoResources = {}
 * @category model
 * @since 0.1.0
 */
export type NoResources = { readonly [K in never]: never }

/**
 * Any record of resources.
 *
 * @example
 * import type { ResourceRecord } from 'cano-rx'
 * const r: ResourceRecord = { db: { query: () => 1 } }
 * @category model
 * @since 0.1.0
 */
export type ResourceRecord = Record<string, unknown>

/** The brand key of {@link WithInput}: a type-level symbol only (no value carries it). */
declare const INPUT: unique symbol

/**
 * The decoded input type `I` of a workflow, carried inside a resource record type as a brand so that
 * every handler type (`TaskHandler<S, R>`, `SagaHandler<S, R>`, …) types `ctx.input` without a type
 * parameter of its own. The function form of `states` hands builders bound to `R & WithInput<I>`;
 * a reusable handler may ask for an input by typing its context `TaskContext<{ db: Db } & WithInput<Order>>`.
 * The key is a `unique symbol`, so it is never a resource key (`res.get` accepts string keys only).
 *
 * @example
 * import { task, type TaskContext, type WithInput } from 'cano-rx'
 * interface Order { readonly orderId: string }
 * const charge = task((ctx: TaskContext<WithInput<Order>>) => (ctx.input.orderId === '' ? 'Failed' : 'Done'))
 * @see {@link InputOf}
 * @category model
 * @since 0.2.0
 */
export type WithInput<I> = { readonly [INPUT]: I }

/**
 * The input type a resource record `R` carries ({@link WithInput}); `unknown` when it carries none (a
 * handler built at top level without a context type fits any workflow, whatever its input).
 *
 * @example
 * import type { InputOf, WithInput } from 'cano-rx'
 * type A = InputOf<{ db: number } & WithInput<{ orderId: string }>> // { orderId: string }
 * type B = InputOf<{ db: number }> // unknown
 * @category model
 * @since 0.2.0
 */
export type InputOf<R> = R extends { readonly [INPUT]: infer I } ? I : unknown

/**
 * What a task function receives.
 *
 * @example
 * import { task, type TaskContext } from 'cano-rx'
 * const fetchPage = async (ctx: TaskContext<{ baseUrl: string }>) => {
 *   ctx.progress({ attempt: ctx.attempt })
 *   const res = await fetch(ctx.res.get('baseUrl'), { signal: ctx.signal })
 *   return res.ok ? ('Parse' as const) : ('Failed' as const)
 * }
 * const handler = task(fetchPage)
 * @category model
 * @since 0.1.0
 */
export interface TaskContext<R extends ResourceRecord = NoResources> {
  /** The workflow's typed resources. */
  readonly res: Resources<R>
  /** Aborts on cancellation, on the total timeout and on this attempt's timeout; `reason` is the `CanoError`. */
  readonly signal: AbortSignal
  /** 1-based attempt number within the retry loop. */
  readonly attempt: number
  /** The run's id. */
  readonly workflowId: string
  /** The state being run. */
  readonly state: string
  /** Emits a `Progress` event carrying `data` into the run's event stream. */
  readonly progress: (data: unknown) => void
  /** In the state a split joins into (and only there): what the split's branches did. */
  readonly split: SplitResult | undefined
  /**
   * The run's decoded input (the workflow's `input` codec decoded what the run was given; a resumed run
   * decodes it again from what its run table holds). `undefined` in a workflow without an input codec.
   */
  readonly input: InputOf<R>
}
