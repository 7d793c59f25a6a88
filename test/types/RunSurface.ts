/**
 * Compile-only type tests of the run surfaces of issue 13: `result$`, `events`, `watch$` and their
 * `resume…` counterparts, `resumeTE`, `workflowEither`, and the `ofTag` / `terminal` operators that
 * narrow a run's event stream.
 */
import type * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import type { Observable } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { type RunUpdate, type Workflow, workflow, workflowEither } from '../../roots/Workflow.js'
import type { RunOutput } from '../../src/RunBoundary.js'
import type { RunState } from '../../src/RunState.js'
import { task } from '../../src/StateHandler.js'
import type { StateEntered, TaskFailed, TerminalEvent, WorkflowEvent } from '../../src/WorkflowEvent.js'
import { ofTag } from '../../streams/ofTag.js'
import { terminal } from '../../streams/terminal.js'
import { assertType, type Equals } from './helpers.js'

type Step = 'A' | 'Done'
const flow = workflow<Step>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })

// -- one value: the exit state (with an output, the state and the output) ----------------------
assertType<Equals<ReturnType<typeof flow.result$>, Observable<Step>>>()
assertType<Equals<ReturnType<typeof flow.resumeResult$>, Observable<Step>>>()
const _withOutput = workflow<Step>()({
  exits: ['Done'],
  output: { codec: t.type({ n: t.number }), at: () => ({ n: 1 }) },
  states: { A: task(() => 'Done' as const) },
})
assertType<Equals<ReturnType<typeof _withOutput.result$>, Observable<RunOutput<Step, { n: number }>>>>()

// -- the iterable, the paired stream, the TaskEithers -------------------------------------------
assertType<Equals<ReturnType<typeof flow.events>, AsyncIterable<WorkflowEvent<Step>>>>()
assertType<Equals<ReturnType<typeof flow.resumeEvents>, AsyncIterable<WorkflowEvent<Step>>>>()
assertType<Equals<ReturnType<typeof flow.watch$>, Observable<RunUpdate<Step>>>>()
assertType<Equals<RunUpdate<Step>['snapshot'], RunState<Step, never>>>()
assertType<Equals<ReturnType<typeof _withOutput.resumeWatch$>, Observable<RunUpdate<Step, { n: number }>>>>()
assertType<Equals<ReturnType<typeof flow.resumeTE>, TaskEither<CanoError, Step>>>()

// -- an input codec makes the options (and their input) required on every start surface ---------
const withInput = workflow<Step>()({
  exits: ['Done'],
  input: t.type({ id: t.string }),
  states: { A: task(() => 'Done' as const) },
})
withInput.result$('A', { input: { id: 'x' } })
withInput.events('A', { input: { id: 'x' } })
withInput.watch$('A', { input: { id: 'x' } })
// @ts-expect-error the input is required
withInput.result$('A')
// @ts-expect-error the input is required
withInput.events('A')
// @ts-expect-error the input is required
withInput.watch$('A')
// resuming takes no input: the run table kept it
// @ts-expect-error no input option on a resume
withInput.resumeResult$('id', { input: { id: 'x' } })

// -- workflowEither: the same workflow, as an Either --------------------------------------------
const _defined = workflowEither<Step>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
assertType<Equals<typeof _defined, E.Either<CanoError, Workflow<Step>>>>()
workflowEither<Step>()({
  exits: ['Done'],
  // @ts-expect-error A has no handler: still a compile error
  states: {},
})

// -- ofTag and terminal narrow --------------------------------------------------------------------
const _entered = flow.run$('A').pipe(ofTag('StateEntered'))
assertType<Equals<typeof _entered, Observable<StateEntered<Step>>>>()
const _some = flow.run$('A').pipe(ofTag('StateEntered', 'TaskFailed'))
assertType<Equals<typeof _some, Observable<StateEntered<Step> | TaskFailed<Step>>>>()
const _ends = flow.run$('A').pipe(terminal())
assertType<Equals<typeof _ends, Observable<TerminalEvent<Step>>>>()
// @ts-expect-error not an event tag
flow.run$('A').pipe(ofTag('StateEnterd'))
