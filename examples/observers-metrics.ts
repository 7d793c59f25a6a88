/**
 * Observers and metrics: a `WorkflowObserver` with cano's hooks counts runs, retries and failures, an
 * `onEvent` hook times each state from the event stream, and an observer that throws is reported as
 * `ObserverFailed` without breaking the run.
 *
 *   npx tsx examples/observers-metrics.ts
 */
import { RetryMode, workflow, type WorkflowObserver } from '../roots/index.js'

type Step = 'Fetch' | 'Store' | 'Done'

let calls = 0
const flow = workflow<Step>()({
  exits: ['Done'],
  states: ({ task }) => ({
    // fails on every third call, so some runs retry
    Fetch: task(
      async () => {
        calls += 1
        if (calls % 3 === 0) throw new Error('upstream 503')
        return 'Store' as const
      },
      { retry: RetryMode.fixed(2, 5) },
    ),
    Store: task(() => 'Done' as const),
  }),
})

const counters = { states: 0, retries: 0, successes: 0, failures: 0, observerFailures: 0 }
const durations = new Map<string, number[]>()
const entered = new Map<string, number>()

const metrics: WorkflowObserver<Step> = {
  onStateEnter: () => (counters.states += 1),
  onRetry: () => (counters.retries += 1),
  onTaskSuccess: () => (counters.successes += 1),
  onTaskFailure: () => (counters.failures += 1),
  onEvent: (e) => {
    if (e._tag === 'TaskStarted') entered.set(`${e.workflowId}/${e.taskId}`, e.at)
    if (e._tag === 'TaskSucceeded') {
      const start = entered.get(`${e.workflowId}/${e.taskId}`) ?? e.at
      durations.set(e.taskId, [...(durations.get(e.taskId) ?? []), e.at - start])
    }
  },
}
const broken: WorkflowObserver<Step> = {
  onStateEnter: (s) => {
    if (s === 'Store') throw new Error('dashboard unreachable')
  },
}

// the ObserverFailed events are in the run's own event stream (run$)
for (let i = 0; i < 5; i++)
  await flow.run$('Fetch', { workflowId: `run-${i}`, observers: [metrics, broken] }).forEach((e) => {
    if (e._tag === 'ObserverFailed') counters.observerFailures += 1
  })

console.log(
  `states entered ${counters.states}, retries ${counters.retries}, task successes ${counters.successes}, ` +
    `observer failures ${counters.observerFailures}`,
)
for (const [task, ms] of durations) console.log(`${task}: ${ms.length} runs, max ${Math.max(...ms)} ms`)
console.log('5 runs completed despite a throwing observer')
