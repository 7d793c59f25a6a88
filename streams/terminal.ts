/**
 * `terminal`: the last event of a run (`RunCompleted`, `RunFailed`, `RunCancelled` or `RunTimedOut`),
 * as a pipeable operator that narrows the stream's type.
 *
 * @since 0.3.0
 */
import { filter, type OperatorFunction } from 'rxjs'

import { isTerminalEvent, type TerminalEvent, type WorkflowEvent } from '../src/WorkflowEvent.js'

// -------------------------------------------------------------------------------------
// operators
// -------------------------------------------------------------------------------------

/**
 * Keeps a run's terminal event and drops the rest: one value for one run (it is the run's last), typed
 * {@link TerminalEvent}. The source still runs to its end; for the exit state and output as one value
 * (and a failed run as a `CanoFailure` error), use the workflow's `result$`.
 *
 * ```text
 * source:  -s-e-t-c|      (c: RunCompleted)
 * result:  -------c|
 * ```
 *
 * @returns an operator from `WorkflowEvent<S>` to `TerminalEvent<S>`
 * @example
 * import { lastValueFrom } from 'rxjs'
 * import { task, terminal, workflow } from 'cano-rx'
 * const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * const end = await lastValueFrom(flow.run$('A').pipe(terminal()))
 * if (end._tag !== 'RunCompleted') console.error(end.error.message)
 * @see {@link ofTag} to keep other events
 * @category operators
 * @since 0.3.0
 */
export const terminal = <S extends string>(): OperatorFunction<WorkflowEvent<S>, TerminalEvent<S>> =>
  filter(isTerminalEvent<S>)
