/**
 * `TaskOutput<A>`: what every function the engine calls may return (a task, a router, a split
 * branch, a poll, a step, a saga's forward step and compensation, a batch's `load` / `processItem` /
 * `finish`, a stream's `onWindow` / `onClose`).
 *
 * `streams/fromTaskOutput.ts` holds the one interpreter of such an output, and with it the rules:
 *
 * - a function is taken for a `TaskEither` and called once; a throw is the call's error;
 * - a `PromiseLike` settles with what it resolves to, or fails with what it rejects with;
 * - an `Observable` gives its first value (it is then unsubscribed); its error is the call's error;
 * - anything else is the value, settled synchronously;
 * - a value returned synchronously or resolved by a `PromiseLike` (which is what a `TaskEither`'s
 *   call gives) is unwrapped once if it is an fp-ts `Either`: a `Left` fails the call. An
 *   Observable's values are taken as they are.
 *
 * @since 0.1.0
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { Observable } from 'rxjs'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a function the engine calls may return: its value `A` as it is, a Promise, an Observable
 * (first value taken) or an fp-ts `TaskEither` (a `Left` fails the attempt). A task returns a
 * `TaskOutput<S>` (the next state), a poll a `TaskOutput<PollOutcome<S>>`, a step a
 * `TaskOutput<StepOutcome<C, S>>`, a saga's forward step a `TaskOutput<SagaResult<S, O>>`, a
 * stream's `onWindow` a `TaskOutput<WindowSignal<S>>`, and a split branch or a batch's calls a
 * `TaskOutput` of their value.
 *
 * @example
 * import { PollOutcome, StepOutcome, type TaskOutput } from 'cano-rx'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * const later: TaskOutput<'Done'> = Promise.resolve('Done' as const)
 * const checked: TaskOutput<number> = TE.right(42)
 * const poll: TaskOutput<PollOutcome<'Done'>> = Promise.resolve(PollOutcome.pending(100))
 * const step: TaskOutput<StepOutcome<number, 'Done'>> = StepOutcome.more(2)
 * @category model
 * @since 0.1.0
 */
export type TaskOutput<A> = A | PromiseLike<A> | Observable<A> | TaskEither<unknown, A>
