/**
 * Compile-only type tests of the run boundary (issue 12, src/RunBoundary.ts): `ctx.input` is the
 * decoded input type in every handler of every state kind built by the function form of `states`
 * (and `undefined` without an input codec); a wrong output type is a compile error; `orchestrate`,
 * `resume`, `orchestrateTE` and `snapshot$` are typed with and without an output; a run of a workflow
 * with an input codec requires `input`, and one without rejects it; the input brand is never a
 * resource key.
 */
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { type Observable, of } from 'rxjs'

import { type Workflow, workflow } from '../../roots/Workflow.js'
import type { CanoError } from '../../src/CanoError.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { PollOutcome } from '../../src/Poll.js'
import { Resources } from '../../src/Resources.js'
import type { RunOutput, RunResult } from '../../src/RunBoundary.js'
import type { RunState } from '../../src/RunState.js'
import { Branch } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome } from '../../src/Stepped.js'
import { WindowSignal } from '../../src/Stream.js'
import type { TaskContext, WithInput } from '../../src/TaskContext.js'
import { assertType, type Equals } from './helpers.js'

type Step = 'Charge' | 'Route' | 'Wait' | 'Fan' | 'Scan' | 'Load' | 'Nap' | 'Listen' | 'Pay' | 'Done' | 'Failed'

const Order = t.type({ orderId: t.string, cents: t.number }, 'Order')
type Order = t.TypeOf<typeof Order>
const Receipt = t.type({ orderId: t.string, ok: t.boolean }, 'Receipt')
type Receipt = t.TypeOf<typeof Receipt>

/** `exactly<T>()(a)` compiles only when `a` has exactly the type `T` (a value use of `a`, unlike `typeof a`). */
const exactly =
  <T>() =>
  <A>(a: A & ([Equals<A, T>] extends [true] ? unknown : never)): A =>
    a
const isOrder = exactly<Order>()

// -- ctx.input is the decoded input in every state kind -----------------------------------------
const _typed = workflow<Step>()({
  name: 'orders',
  input: Order,
  resources: Resources.of({ fee: 3 }),
  exits: ['Done', 'Failed'],
  output: {
    codec: Receipt,
    at: ({ exit, input, res, workflowId }) => ({
      orderId: isOrder(input).orderId,
      ok: exactly<'Done' | 'Failed'>()(exit) === 'Done' && res.get('fee') > exactly<string>()(workflowId).length,
    }),
  },
  states: ({ task: tk, router, poll, split, stepped, batch, saga, stream, sleep }) => ({
    Charge: tk((ctx) => {
      assertType<Equals<typeof ctx.input, Order>>()
      return ctx.input.cents > 0 ? 'Route' : 'Failed'
    }),
    Route: router(({ input }) => (isOrder(input).cents > 10 ? 'Wait' : 'Fan')),
    Wait: poll(({ input }) => (isOrder(input).cents > 0 ? PollOutcome.ready('Fan') : PollOutcome.pending(10))),
    Fan: split([async ({ input }) => isOrder(input).orderId, Branch.of(async (ctx) => isOrder(ctx.input).cents)], {
      strategy: JoinStrategy.all(),
      join: 'Scan',
    }),
    Scan: stepped({
      cursor: t.number,
      step: ({ input }, c) =>
        (c ?? 0) >= isOrder(input).cents ? StepOutcome.done('Load') : StepOutcome.more((c ?? 0) + 1),
    }),
    Load: batch({
      load: ({ input }) => [isOrder(input).orderId],
      processItem: async (id: string) => id.length,
      finish: (_results, { input }) => (isOrder(input).cents > 0 ? 'Nap' : 'Failed'),
    }),
    Nap: sleep({ wait: ({ input }) => isOrder(input).cents, then: 'Listen' }),
    Listen: stream({
      source: ({ input }) => of(isOrder(input).orderId),
      window: { count: 1 },
      onWindow: (_items, { ctx }) =>
        isOrder(ctx.input).cents > 0 ? WindowSignal.continue() : WindowSignal.stop('Failed'),
      onClose: (_reason, { input }) => (isOrder(input).cents > 0 ? 'Pay' : 'Failed'),
    }),
    Pay: saga({
      output: t.string,
      run: async ({ input }) => ['Done' as const, isOrder(input).orderId],
      compensate: ({ input }, chargeId) => isOrder(input).orderId === exactly<string>()(chargeId),
    }),
  }),
})
assertType<Equals<typeof _typed, Workflow<Step, { fee: number }, Order, Order, Receipt>>>()

// -- the run's result: { state, output } with an output, the exit state without one -------------
assertType<Equals<ReturnType<typeof _typed.orchestrate>, Promise<RunOutput<Step, Receipt>>>>()
assertType<Equals<ReturnType<typeof _typed.resume>, Promise<RunOutput<Step, Receipt>>>>()
assertType<Equals<ReturnType<typeof _typed.orchestrateTE>, TaskEither<CanoError, RunOutput<Step, Receipt>>>>()
assertType<Equals<ReturnType<typeof _typed.snapshot$>, Observable<RunState<Step, Receipt>>>>()

const _plain = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
assertType<Equals<typeof _plain, Workflow<'Go' | 'Done'>>>()
assertType<Equals<ReturnType<typeof _plain.orchestrate>, Promise<'Go' | 'Done'>>>()
assertType<Equals<ReturnType<typeof _plain.resume>, Promise<'Go' | 'Done'>>>()
assertType<Equals<RunResult<'Go' | 'Done', never>, 'Go' | 'Done'>>()
assertType<Equals<ReturnType<typeof _plain.snapshot$>, Observable<RunState<'Go' | 'Done', never>>>>()

// an output with no input codec: ctx.input and the output context's input are undefined
const _outputOnly = workflow<'Go' | 'Done'>()({
  exits: ['Done'],
  output: { codec: t.number, at: ({ input }) => [exactly<undefined>()(input)].length },
  states: ({ task: tk }) => ({
    Go: tk((ctx) => ([exactly<undefined>()(ctx.input)].length > 0 ? 'Done' : 'Go')),
  }),
})
assertType<Equals<ReturnType<typeof _outputOnly.orchestrate>, Promise<RunOutput<'Go' | 'Done', number>>>>()

// -- a wrong output type is a compile error ------------------------------------------------------
const onlyElsewhere = (x: 'Elsewhere'): number => x.length
workflow<'Go' | 'Done'>()({
  exits: ['Done'],
  output: {
    codec: Receipt,
    // @ts-expect-error `ok` must be a boolean, as the codec says
    at: () => ({ orderId: 'o-1', ok: 'yes' }),
  },
  states: { Go: task(() => 'Done' as const) },
})
workflow<'Go' | 'Done'>()({
  exits: ['Done'],
  output: {
    codec: t.number,
    // @ts-expect-error a Promise of a string is not a Promise of a number
    at: async () => 'forty-two',
  },
  states: { Go: task(() => 'Done' as const) },
})
workflow<'Go' | 'Done'>()({
  exits: ['Done'],
  output: {
    codec: t.number,
    // @ts-expect-error 'Elsewhere' is not an exit: the exit is 'Done'
    at: ({ exit }) => onlyElsewhere(exit),
  },
  states: { Go: task(() => 'Done' as const) },
})

// -- a run of a workflow with an input codec requires `input` (the encoded form) -----------------
void _typed.orchestrate('Charge', { input: { orderId: 'o-1', cents: 12 }, workflowId: 'w' })
// @ts-expect-error the input is required
void _typed.orchestrate('Charge')
// @ts-expect-error the input is required
void _typed.orchestrate('Charge', { workflowId: 'w' })
// @ts-expect-error cents must be a number
void _typed.orchestrate('Charge', { input: { orderId: 'o-1', cents: '12' } })
// @ts-expect-error the input is required by run$ too
void _typed.run$('Charge')
// a workflow without an input codec takes no input
void _plain.orchestrate('Go')
// @ts-expect-error no input codec: no input option
void _plain.orchestrate('Go', { input: { orderId: 'o-1' } })

// the encoded form is what a run is given: a codec from ISO strings to Dates takes strings
const DateFromIso = new t.Type<Date, string, unknown>(
  'DateFromIso',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'string' ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.toISOString(),
)
const _dated = workflow<'Go' | 'Done'>()({
  input: DateFromIso,
  exits: ['Done'],
  states: ({ task: tk }) => ({
    Go: tk(({ input }) => (exactly<Date>()(input).getTime() > 0 ? 'Done' : 'Go')),
  }),
})
void _dated.orchestrate('Go', { input: '2026-12-04T00:00:00.000Z' })
// @ts-expect-error a run is given the encoded form (a string), not a Date
void _dated.orchestrate('Go', { input: new Date() })

// -- handlers built at top level fit any workflow; one asking for another input does not -------
const _anyInput = task(() => 'Done' as const)
const _orderTask = task((ctx: TaskContext<WithInput<Order>>) => (ctx.input.cents > 0 ? 'Done' : 'Go'))
workflow<'Go' | 'Done'>()({ input: Order, exits: ['Done'], states: { Go: _anyInput } })
workflow<'Go' | 'Done'>()({ input: Order, exits: ['Done'], states: { Go: _orderTask } })
workflow<'Go' | 'Done'>()({
  input: t.type({ sku: t.string }),
  exits: ['Done'],
  // @ts-expect-error the handler wants an Order, the workflow's input is { sku }
  states: { Go: _orderTask },
})
workflow<'Go' | 'Done'>()({
  exits: ['Done'],
  // @ts-expect-error the handler wants an Order, the workflow has no input codec
  states: { Go: _orderTask },
})
// a top-level handler without a context type reads the input as unknown
task((ctx) => (exactly<unknown>()(ctx.input) === undefined ? ('Done' as const) : ('Go' as const)))

// -- the brand is never a resource key ----------------------------------------------------------
workflow<'Go' | 'Done'>()({
  input: Order,
  resources: Resources.of({ fee: 3 }),
  exits: ['Done'],
  states: ({ task: tk }) => ({
    Go: tk(({ res }) => {
      const key: Parameters<typeof res.get>[0] = 'fee'
      assertType<Equals<typeof key, 'fee'>>()
      return res.get(key) > 0 ? 'Done' : 'Go'
    }),
  }),
})
