/**
 * Cancellation and total timeout roll a saga back. Reserve and Charge are saga steps; Ship hangs.
 * Run 1 is cancelled through its AbortSignal, run 2 hits `totalTimeoutMs`: in both, the steps done so
 * far are compensated in reverse order (within `compensationTimeoutMs`) and the run ends
 * `Cancelled` / `WorkflowTimeout`.
 *
 *   npx tsx examples/saga-cancel.ts
 */
import * as t from 'io-ts'

import { describeCanoError, isCanoFailure, workflow } from '../roots/index.js'

type Step = 'Reserve' | 'Charge' | 'Ship' | 'Done'

const hang = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))

const flow = workflow<Step>()({
  exits: ['Done'],
  totalTimeoutMs: 300,
  compensationTimeoutMs: 1_000,
  states: ({ saga, task }) => ({
    Reserve: saga({
      output: t.string,
      run: async ({ workflowId }) => ['Charge', `res-${workflowId}`] as const,
      compensate: async (_ctx, reservation) => console.log(`   released ${reservation}`),
    }),
    Charge: saga({
      output: t.number,
      run: async () => ['Ship', 4_200] as const,
      compensate: async (_ctx, cents) => console.log(`   refunded ${cents} cents`),
    }),
    Ship: task(({ signal }) => hang(signal)),
  }),
})

const attempt = async (id: string, signal?: AbortSignal): Promise<void> => {
  console.log(`${id}:`)
  try {
    await flow.orchestrate('Reserve', { workflowId: id, ...(signal === undefined ? {} : { signal }) })
  } catch (e: unknown) {
    if (isCanoFailure(e)) console.log(`   ended ${e.error._tag}: ${describeCanoError(e.error)}`)
    else throw e
  }
}

await attempt('cancelled', AbortSignal.timeout(100)) // the caller gives up after 100 ms
await attempt('timed-out') // the workflow's own total timeout, 300 ms
console.log('both runs rolled back')
