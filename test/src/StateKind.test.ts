import { expect } from 'chai'
import * as t from 'io-ts'
import { EMPTY } from 'rxjs'

import { batch } from '../../src/Batch.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { poll } from '../../src/Poll.js'
import type { Continuation } from '../../src/Resume.js'
import { RetryMode } from '../../src/RetryMode.js'
import { saga } from '../../src/Saga.js'
import { sleep } from '../../src/Sleep.js'
import { split } from '../../src/Split.js'
import { router, type StateHandler, task } from '../../src/StateHandler.js'
import { kindOf, type KindTag, stateKinds } from '../../src/StateKind.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import { stream, WindowSignal } from '../../src/Stream.js'
import { compileWorkflow } from '../../src/WorkflowDefinition.js'
import { stateRunners } from '../../streams/stateRunners.js'

const tags: ReadonlyArray<KindTag> = ['Task', 'Poll', 'Stepped', 'Timer', 'Batch', 'Stream', 'Split', 'Saga']

/** One valid handler of every kind (and a router), all moving to `Done`. */
const handlers: { readonly [K in KindTag]: StateHandler<'Done'> } & { readonly Router: StateHandler<'Done'> } = {
  Task: task(() => 'Done' as const),
  Router: router(() => 'Done' as const),
  Poll: poll(() => ({ _tag: 'Ready', state: 'Done' as const })),
  Stepped: stepped({ cursor: t.number, step: () => StepOutcome.done('Done' as const) }),
  Timer: sleep({ wait: 10, then: 'Done' }),
  Batch: batch({ load: () => [1], processItem: (n: number) => n, finish: () => 'Done' as const }),
  Stream: stream({
    source: () => EMPTY,
    window: { count: 1 },
    onWindow: () => WindowSignal.continue(),
    onClose: () => 'Done' as const,
  }),
  Split: split([() => 1], { strategy: JoinStrategy.all(), join: 'Done' }),
  Saga: saga({ output: t.number, run: () => ['Done' as const, 1], compensate: () => undefined }),
}

const continuations: ReadonlyArray<Continuation> = [
  { _tag: 'Fresh' },
  { _tag: 'Cursor', cursor: { page: 2 }, step: 2 },
  { _tag: 'Timer', wakeAt: 500 },
  { _tag: 'Stream', position: { windows: 1, items: 3 } },
  { _tag: 'Supersedes', seq: 4 },
  { _tag: 'Timer', wakeAt: 900, poll: { polls: 3, errors: 1, attempt: 2, deadlineAt: null } },
]

describe('StateKind descriptors', () => {
  it('every kind has a descriptor and a runner, under its own tag', () => {
    expect(Object.keys(stateKinds).sort()).to.deep.equal([...tags].sort())
    expect(Object.keys(stateRunners).sort()).to.deep.equal([...tags].sort())
    for (const tag of tags) expect(stateKinds[tag].tag).to.equal(tag)
  })

  it('each valid handler passes its kind’s validation', () => {
    for (const tag of tags)
      expect(
        kindOf(tag).validate(handlers[tag], `state "${tag}"`, () => true),
        tag,
      ).to.equal(undefined)
  })

  it('keeps the validation messages', () => {
    const noRun = { ...handlers.Task, run: 1 } as unknown as StateHandler<string>
    expect(kindOf('Task').validate(noRun, 'state "A"', () => true)?.message).to.equal(
      'state "A": run must be a function',
    )
    const noStep = { ...handlers.Stepped, step: 1 } as unknown as StateHandler<string>
    expect(kindOf('Stepped').validate(noStep, 'state "S"', () => true)?.message).to.equal(
      'state "S": step must be a function',
    )
  })

  it('gives polls and streams no retries by default, every other kind the default policy', () => {
    const retry = Object.fromEntries(tags.map((tag) => [tag, stateKinds[tag].defaultRetry()]))
    expect(retry).to.deep.equal({
      Task: RetryMode.default(),
      Poll: RetryMode.none(),
      Stepped: RetryMode.default(),
      Timer: RetryMode.default(),
      Batch: RetryMode.default(),
      Stream: RetryMode.none(),
      Split: RetryMode.default(),
      Saga: RetryMode.default(),
    })
  })

  it('says which rows a kind writes and under which task id', () => {
    const compiled = compileWorkflow<'Task' | 'Router' | KindTag | 'Done'>({
      exits: ['Done'],
      states: { ...handlers, Stepped: handlers.Stepped },
    })
    if (compiled._tag === 'Left') throw new Error(compiled.left.message)
    const rows = [...compiled.right.states.values()].map((s) => [s.name, s.writesEntry, s.rowTaskId])
    expect(rows).to.deep.equal([
      ['Task', true, 'Task'],
      ['Router', false, 'Router'],
      ['Poll', true, 'Poll'],
      ['Stepped', true, 'Stepped'],
      ['Timer', true, 'Timer'],
      ['Batch', true, 'Batch'],
      ['Stream', true, 'Stream'],
      ['Split', true, ''],
      ['Saga', true, 'Saga'],
    ])
    expect(Object.fromEntries(tags.map((tag) => [tag, stateKinds[tag].persists]))).to.deep.equal({
      Task: [],
      Poll: ['TimerArmed'], // a wait made durable so that its run can park
      Stepped: ['StepCursor'],
      Timer: ['TimerArmed'],
      Batch: [],
      Stream: ['StreamWindow'],
      Split: [],
      Saga: ['CompensationCompletion'],
    })
  })

  it('continues each kind from its own continuation only', () => {
    const table = tags.map((tag) => [tag, continuations.map((c) => kindOf(tag).resume(c) ?? null)])
    expect(Object.fromEntries(table)).to.deep.equal({
      Task: [null, null, null, null, null, null],
      // a poll continues from a timer continuation only when it holds a poll's position
      Poll: [
        null,
        null,
        null,
        null,
        null,
        { wakeAt: 900, position: { polls: 3, errors: 1, attempt: 2, deadlineAt: null } },
      ],
      Stepped: [null, { encoded: { page: 2 }, step: 2 }, null, null, null, null],
      Timer: [null, null, 500, null, null, 900],
      Batch: [null, null, null, null, null, null],
      Stream: [null, null, null, { windows: 1, items: 3 }, null, null],
      Split: [null, null, null, null, null, null],
      Saga: [null, null, null, null, null, null],
    })
  })
})
