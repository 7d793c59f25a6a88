/**
 * Compile-only type tests of `workflow`, `task` and `router` (issue 2): the compiler rejects a
 * non-exit state without a handler, a handler returning a state outside the union, an exit outside
 * the union, and a return outside declared targets; resources are typed in the builder form.
 */
import * as TE from 'fp-ts/lib/TaskEither.js'
import { of } from 'rxjs'

import { type Workflow, workflow } from '../../roots/Workflow.js'
import { Resources } from '../../src/Resources.js'
import { router, task, type TaskHandler } from '../../src/StateHandler.js'
import { assertType, type Equals } from './helpers.js'

type Step = 'Fetch' | 'Parse' | 'Done' | 'Failed'

// -- a complete definition compiles, and the result is typed by the union -------------------
const _flow = workflow<Step>()({
  exits: ['Done', 'Failed'],
  states: {
    Fetch: task(async () => 'Parse' as const),
    Parse: router(() => 'Done'),
  },
})
assertType<Equals<typeof _flow, Workflow<Step>>>()
assertType<Equals<ReturnType<typeof _flow.orchestrate>, Promise<Step>>>()

// -- every task output form is accepted ------------------------------------------------------
workflow<Step>()({
  exits: ['Done', 'Failed'],
  states: {
    Fetch: task(() => of('Parse' as const)),
    Parse: task(() => TE.right<Error, 'Done'>('Done')),
  },
})

// -- a non-exit state without a handler is a compile error -----------------------------------
workflow<Step>()({
  exits: ['Done', 'Failed'],
  // @ts-expect-error Parse has no handler
  states: { Fetch: task(() => 'Parse' as const) },
})

// -- a handler returning a state outside the union is a compile error ------------------------
workflow<Step>()({
  exits: ['Done', 'Failed'],
  states: {
    Fetch: task(() => 'Parse' as const),
    // @ts-expect-error 'Shipped' is not a Step
    Parse: task(() => 'Shipped' as const),
  },
})

// -- an exit outside the union is a compile error --------------------------------------------
workflow<Step>()({
  // @ts-expect-error 'Gone' is not a Step
  exits: ['Done', 'Gone'],
  states: {
    Fetch: task(() => 'Parse' as const),
    Parse: task(() => 'Done' as const),
    Failed: task(() => 'Done' as const),
  },
})

// -- declared targets narrow the return type ------------------------------------------------
const _narrowed = task(() => 'Parse' as const, { to: ['Parse', 'Failed'] })
assertType<Equals<typeof _narrowed, TaskHandler<'Parse' | 'Failed'>>>()
// @ts-expect-error 'Done' is not among the declared targets
task(() => 'Done' as const, { to: ['Parse', 'Failed'] })

// -- the builder form types resources and checks returns without annotations ----------------
workflow<Step>()({
  resources: Resources.of({ api: { ok: (): boolean => true }, limit: 3 }),
  exits: ['Done', 'Failed'],
  states: ({ task: t, router: r }) => ({
    Fetch: t(async ({ res }) => (res.get('api').ok() ? ('Parse' as const) : ('Failed' as const))),
    Parse: r(({ res }) => (res.get('limit') > 2 ? 'Done' : 'Failed'), { to: ['Done', 'Failed'] }),
  }),
})

workflow<Step>()({
  resources: Resources.of({ limit: 3 }),
  exits: ['Done', 'Failed'],
  states: ({ task: t }) => ({
    Fetch: t(({ res }) => {
      // @ts-expect-error 'nope' is not a resource key
      res.get('nope')
      return 'Parse'
    }),
    // @ts-expect-error 'Elsewhere' is not a Step
    Parse: t(() => 'Elsewhere'),
  }),
})
