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
}
