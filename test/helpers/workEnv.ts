/**
 * A `WorkEnv` for the one state `Work` (next: `Next`), as the engine builds one, recording the events it
 * emits: shared by the attempt tests (test/streams/attemptWork.test.ts, policiesInline.test.ts).
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs'

import { Resources } from '../../src/Resources.js'
import { resolveTaskConfig, runsInline, type TaskConfig } from '../../src/TaskConfig.js'
import type { NoResources } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkEnv } from '../../streams/attemptWork.js'

/** The states of the attempt tests. */
export type WorkState = 'Work' | 'Next'

/** A `WorkEnv` as the engine builds one for `config` on `scheduler`, with the events it emits. */
export const workEnvOf = (
  config: TaskConfig,
  scheduler: SchedulerLike = asyncScheduler,
): { readonly env: WorkEnv<WorkState, NoResources>; readonly events: WorkflowEvent<WorkState>[] } => {
  const events: WorkflowEvent<WorkState>[] = []
  const resolved = resolveTaskConfig(config)
  const env: WorkEnv<WorkState, NoResources> = {
    workflowId: 'w',
    state: 'Work',
    taskId: 'Work',
    res: Resources.empty(),
    runSignal: new AbortController().signal,
    scheduler,
    random: () => 0.5,
    now: () => scheduler.now(),
    emit: (e) => events.push(e),
    split: undefined,
    input: undefined,
    config: resolved,
    fast: runsInline(resolved),
  }
  return { env, events }
}
