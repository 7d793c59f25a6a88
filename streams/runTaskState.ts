/**
 * The `task` / `router` state kind: the handler's function through {@link attemptWork}.
 *
 * @internal
 * @since 0.1.0
 */
import type { Observable } from 'rxjs'

import type { TaskHandler } from '../src/StateHandler.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import { attemptWork } from './attemptWork.js'
import { runStateBody, type StateEnv, type StateFrame } from './stateRunner.js'

/** @internal Runs a `task` or `router` state. */
export const runTaskState = <S extends string, R extends ResourceRecord>(
  handler: TaskHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> => runStateBody(env, (frame) => attemptWork<S, R, unknown>(env, handler.run, frame))

/**
 * @internal The body of a task visit as the engine's run loop starts it (`frame.startWith(taskBody,
 * handler.run)`): no Observable and no closure per visit.
 */
export const taskBody = <S extends string, R extends ResourceRecord>(
  frame: StateFrame<S, R>,
  run: TaskHandler<S, R>['run'],
): void => attemptWork<S, R, unknown>(frame.visitEnv, run, frame)
