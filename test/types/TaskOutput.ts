/**
 * Compile-only type tests of `TaskOutput` (issue 13): the types accept every output the runtime reads
 * (streams/fromTaskOutput.ts): a value, an `Either`, a Promise of either, an Observable, and a function
 * returning any of these (fp-ts `IO`, `IOEither`, `Task`, `TaskEither`); the state a task returns is still
 * inferred and checked through each form.
 */
import * as E from 'fp-ts/lib/Either.js'
import type { IO } from 'fp-ts/lib/IO.js'
import * as IOE from 'fp-ts/lib/IOEither.js'
import type { Task } from 'fp-ts/lib/Task.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { type Observable, of } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { poll, PollOutcome } from '../../src/Poll.js'
import { Branch } from '../../src/Split.js'
import { task, type TaskHandler } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import type { SettledOutput, TaskOutput } from '../../src/TaskOutput.js'
import { assertType, type Equals } from './helpers.js'

type Step = 'A' | 'B' | 'Done'

// -- every form the interpreter reads is a TaskOutput -----------------------------------------
const value: TaskOutput<Step> = 'A'
const either: TaskOutput<Step> = E.right('A')
const left: TaskOutput<Step> = E.left(new Error('no'))
const promised: TaskOutput<Step> = Promise.resolve('B' as const)
const promisedEither: TaskOutput<Step> = Promise.resolve(E.right<Error, Step>('B'))
const observed: TaskOutput<Step> = of('Done' as const)
const io: IO<Step> = () => 'A'
const ioEither: IOE.IOEither<Error, Step> = IOE.right('B')
const lazy: Task<Step> = () => Promise.resolve('Done')
const taskEither: TE.TaskEither<Error, Step> = TE.right('Done')
const outputs: ReadonlyArray<TaskOutput<Step>> = [
  value,
  either,
  left,
  promised,
  promisedEither,
  observed,
  io,
  ioEither,
  lazy,
  taskEither,
  () => of('A' as const),
]
outputs

// -- and nothing the interpreter does not read --------------------------------------------------
// @ts-expect-error a state outside the union
const _outside: TaskOutput<Step> = 'C'
// @ts-expect-error an Either of a state outside the union
const _outsideEither: TaskOutput<Step> = E.right('C' as const)
// @ts-expect-error a function returning a function is not called twice
const _nested: TaskOutput<Step> = () => () => 'A'
// @ts-expect-error a function taking arguments is not a Task nor an IO
const _withArgs: TaskOutput<Step> = (n: number) => (n > 0 ? 'A' : 'B')
// @ts-expect-error an Observable of an Either is read as it is (its Either is not unwrapped)
const _observedEither: TaskOutput<Step> = of(E.right<Error, Step>('A'))

assertType<
  Equals<
    SettledOutput<Step>,
    Step | E.Either<unknown, Step> | PromiseLike<Step | E.Either<unknown, Step>> | Observable<Step>
  >
>()
assertType<Equals<TaskOutput<Step>, SettledOutput<Step> | (() => SettledOutput<Step>)>>()

// -- a task accepts each form, and infers or checks its state ----------------------------------
const _fromIo = task(() => (): 'B' => 'B')
assertType<Equals<typeof _fromIo, TaskHandler<'B'>>>()
const _fromEither = task(() => E.right<Error, 'Done'>('Done'))
assertType<Equals<typeof _fromEither, TaskHandler<'Done'>>>()
const _fromTask = task<Step>(() => () => Promise.resolve('A'))
assertType<Equals<typeof _fromTask, TaskHandler<Step>>>()

workflow<Step>()({
  exits: ['Done'],
  states: {
    A: task(() => IOE.right<Error, 'B'>('B')),
    B: task(() => Promise.resolve(E.right<Error, 'Done'>('Done'))),
  },
})

workflow<Step>()({
  exits: ['Done'],
  states: {
    // @ts-expect-error an IO returning a state outside the union
    A: task(() => (): 'C' => 'C'),
    B: task(() => 'Done' as const),
  },
})

// the builder form checks the state through each form, too
workflow<Step>()({
  exits: ['Done'],
  states: ({ task: t1 }) => ({
    A: t1(() => E.right('B')),
    B: t1(() => () => Promise.resolve(E.right('Done'))),
  }),
})

// -- the other kinds take TaskOutputs of their own values --------------------------------------
poll<Step>(() => () => E.right(PollOutcome.ready('Done')))
stepped<Step, number>({
  cursor: t.number,
  step: (_ctx, c) => E.right((c ?? 0) > 2 ? StepOutcome.done('Done') : StepOutcome.more((c ?? 0) + 1)),
})
Branch.of(() => (): number => 42)
