/**
 * Environments as the engine builds them, recording the events they emit: a `WorkEnv` for the one state
 * `Work` (next: `Next`), shared by the attempt tests (test/streams/attemptWork.test.ts,
 * policiesInline.test.ts), and a `StateEnv` for one state of a state runner's test (batch, stream).
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs'

import { Resources } from '../../src/Resources.js'
import type { RetryMode } from '../../src/RetryMode.js'
import { resolveTaskConfig, runsInline, type TaskConfig } from '../../src/TaskConfig.js'
import type { NoResources } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkEnv } from '../../streams/attemptWork.js'
import type { AttemptEnv } from '../../streams/runTask.js'
import type { StateEnv } from '../../streams/stateRunner.js'

/** The fields every state's environment has, for run `workflowId`, recording its events into `events`. */
const attemptEnvOf = <S extends string>(
  workflowId: string,
  state: S,
  scheduler: SchedulerLike,
  runSignal: AbortSignal,
  events: WorkflowEvent<S>[],
): AttemptEnv<S, NoResources> => ({
  workflowId,
  state,
  taskId: state,
  res: Resources.empty(),
  runSignal,
  scheduler,
  random: () => 0.5,
  now: () => scheduler.now(),
  emit: (e) => events.push(e),
  split: undefined,
  input: undefined,
})

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
    ...attemptEnvOf<WorkState>('w', 'Work', scheduler, new AbortController().signal, events),
    config: resolved,
    fast: runsInline(resolved),
  }
  return { env, events }
}

/** What {@link stateEnvOf} builds a `StateEnv` of. */
export interface StateEnvSpec<S extends string> {
  /** The state run (also its task id). */
  readonly state: S
  readonly config?: TaskConfig
  /** The retry mode the config defaults to (the engine's default when absent). */
  readonly defaultRetry?: RetryMode
  readonly scheduler?: SchedulerLike
  readonly runSignal?: AbortSignal
}

/** A `StateEnv` for `spec.state` of run `wf`, as `runWorkflow` builds one (no split, no declared targets), with its events. */
export const stateEnvOf = <S extends string>(
  spec: StateEnvSpec<S>,
): { readonly env: StateEnv<S, NoResources>; readonly events: WorkflowEvent<S>[] } => {
  const events: WorkflowEvent<S>[] = []
  const env: StateEnv<S, NoResources> = {
    ...attemptEnvOf(
      'wf',
      spec.state,
      spec.scheduler ?? asyncScheduler,
      spec.runSignal ?? new AbortController().signal,
      events,
    ),
    config:
      spec.defaultRetry === undefined
        ? resolveTaskConfig(spec.config ?? {})
        : resolveTaskConfig(spec.config ?? {}, spec.defaultRetry),
    to: undefined,
    fast: false,
    publishSplit: () => undefined,
  }
  return { env, events }
}
