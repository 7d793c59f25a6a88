/**
 * Timer: a durable wait (`sleep`). A trial account waits for its grace period, then `afterWait`
 * chooses where to go (cano 0.15's `TimerTask::after_wait`). The wake-up instant is reported as a
 * `TimerArmed` event; with a checkpoint store it is persisted and a resumed run waits only for what is
 * left.
 *
 *   npx tsx examples/timer.ts
 *
 * Signup -> Grace (sleep 300 ms) -> Convert | Expire -> Done
 */
import { workflow } from '../roots/index.js'

type Step = 'Signup' | 'Grace' | 'Convert' | 'Expire' | 'Done'

const paid = new Set<string>()

const trial = workflow<Step>()({
  exits: ['Done'],
  states: ({ task, sleep }) => ({
    Signup: task(({ workflowId }) => {
      // the customer pays during the grace period, 100 ms after signing up
      if (workflowId === 'trial-paying') setTimeout(() => paid.add(workflowId), 100)
      return 'Grace' as const
    }),
    Grace: sleep({
      wait: 300,
      afterWait: ({ workflowId }) => (paid.has(workflowId) ? 'Convert' : 'Expire'),
      to: ['Convert', 'Expire'],
    }),
    Convert: task(() => 'Done' as const),
    Expire: task(() => 'Done' as const),
  }),
})

for (const id of ['trial-paying', 'trial-idle']) {
  const started = Date.now()
  const path: string[] = []
  await trial.run$('Signup', { workflowId: id }).forEach((e) => {
    if (e._tag === 'TimerArmed') console.log(`${id}: wakes up at +${e.wakeAt - started} ms`)
    if (e._tag === 'StateEntered') path.push(e.state)
  })
  console.log(`${id}: ${path.join(' -> ')} after ${Date.now() - started >= 300 ? 'at least 300' : 'less than 300'} ms`)
}
