/**
 * `TaskOutput<A>`: what every function the engine calls may return (a task, a router, a split
 * branch, a poll, a step, a saga's forward step and compensation, a batch's `load` / `processItem` /
 * `finish`, a stream's `onWindow` / `onClose`).
 *
 * `streams/fromTaskOutput.ts` holds the one interpreter of such an output, and with it the rules:
 *
 * - a function (an fp-ts `Task`, `IO`, `TaskEither`, `IOEither`) is called once; a throw is the call's
 *   error; what it returns is read by the rules below;
 * - a `PromiseLike` settles with what it resolves to, or fails with what it rejects with;
 * - an `Observable` gives its first value (it is then unsubscribed); its error is the call's error;
 * - anything else is the value, settled synchronously;
 * - a value returned synchronously or resolved by a `PromiseLike` (which is what a `TaskEither`'s
 *   call gives) is unwrapped once if it is an fp-ts `Either`: a `Left` fails the call. An
 *   Observable's values are taken as they are.
 *
 * @since 0.1.0
 */
import type { Either } from 'fp-ts/lib/Either.js'
import type { Observable } from 'rxjs'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a function the engine calls may return, as the interpreter reads it (the module comment): its
 * value `A` as it is; an fp-ts `Either` of it (`IOEither`'s result: a `Left` fails the attempt); a Promise
 * of either; an Observable (first value taken); or a function returning any of these, called once: an
 * fp-ts `Task`, `IO`, `TaskEither` or `IOEither`. A task returns a `TaskOutput<S>` (the next state), a
 * poll a `TaskOutput<PollOutcome<S>>`, a step a `TaskOutput<StepOutcome<C, S>>`, a saga's forward step a
 * `TaskOutput<SagaResult<S, O>>`, a stream's `onWindow` a `TaskOutput<WindowSignal<S>>`, and a split
 * branch or a batch's calls a `TaskOutput` of their value.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import type { IO } from 'fp-ts/lib/IO.js'
 * import type { Task } from 'fp-ts/lib/Task.js'
 * import * as TE from 'fp-ts/lib/TaskEither.js'
 * import { PollOutcome, StepOutcome, type TaskOutput } from 'cano-rx'
 * const later: TaskOutput<'Done'> = Promise.resolve('Done' as const)
 * const checked: TaskOutput<number> = TE.right(42)
 * const either: TaskOutput<'Done'> = E.right('Done' as const)
 * const task: TaskOutput<'Done'> = (): Promise<'Done'> => Promise.resolve('Done')
 * const io: IO<'Done'> = () => 'Done'
 * const fromIo: TaskOutput<'Done'> = io
 * const lazy: Task<number> = () => Promise.resolve(1)
 * const fromTask: TaskOutput<number> = lazy
 * const poll: TaskOutput<PollOutcome<'Done'>> = Promise.resolve(PollOutcome.pending(100))
 * const step: TaskOutput<StepOutcome<number, 'Done'>> = StepOutcome.more(2)
 * @category model
 * @since 0.1.0
 */
export type TaskOutput<A> = SettledOutput<A> | (() => SettledOutput<A>)

/**
 * What a {@link TaskOutput} is once its function (if any) was called: the value, an `Either` of it, a
 * Promise of either, or an Observable of the value.
 *
 * @example
 * import * as E from 'fp-ts/lib/Either.js'
 * import type { SettledOutput } from 'cano-rx'
 * const settled: SettledOutput<'Done'> = Promise.resolve(E.right('Done' as const))
 * @see {@link TaskOutput}
 * @category model
 * @since 0.3.0
 */
export type SettledOutput<A> = A | Either<unknown, A> | PromiseLike<A | Either<unknown, A>> | Observable<A>
