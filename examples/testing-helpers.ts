/**
 * Testing helpers (`cano-rx/testing`): a recording observer with path assertions, attempt-failure
 * injection and virtual time. A workflow with a one-hour sleep and a flaky first attempt runs in
 * milliseconds, and the exact virtual instants are checked.
 *
 *   npx tsx examples/testing-helpers.ts
 */
import { deepStrictEqual, strictEqual } from 'node:assert'

import { RetryMode, workflow } from '../roots/index.js'
import { createRecorder, Fault, injectFaults, virtualTime } from '../roots/testing.js'

type Step = 'Charge' | 'Wait' | 'Notify' | 'Done'

const flow = workflow<Step>()({
  exits: ['Done'],
  states: ({ task, sleep }) => ({
    // attempt 1 is refused, attempt 2 runs the real code
    Charge: task(
      injectFaults(async () => 'Wait' as const, { 1: Fault.fail(new Error('503')) }),
      { retry: RetryMode.fixed(2, 1_000) },
    ),
    Wait: sleep({ wait: 3_600_000, then: 'Notify' }),
    Notify: task(() => 'Done' as const),
  }),
})

const started = Date.now()
const t = virtualTime()
const rec = createRecorder<Step>()
const events = await t.runUntilDone(
  flow.run$('Charge', { workflowId: 'order-7', scheduler: t.scheduler, observers: [rec] }),
)

rec.assertPath(['Charge', 'Wait', 'Notify', 'Done'])
deepStrictEqual(
  events.filter((e) => e._tag === 'StateEntered').map((e) => e.at),
  [0, 1_000, 3_601_000, 3_601_000],
)
strictEqual(t.now(), 3_601_000)
console.log(`path ${rec.path().join(' -> ')}`)
console.log(`virtual time ${t.now()} ms, real time ${Date.now() - started < 5_000 ? 'under 5 s' : 'too long'}`)
console.log('all assertions passed')
