/**
 * Quick start: an order workflow with a flaky payment gateway.
 *
 *   npm start
 *
 * FetchOrder -> Reserve -> Charge (fails twice, retried with exponential backoff) -> Notify -> Done.
 * Every event is printed the moment it happens, then the final state.
 */
import { describeCanoError, Resources, RetryMode, workflow, type WorkflowEvent } from '../src/index.js'

type Step = 'FetchOrder' | 'Reserve' | 'Charge' | 'Notify' | 'Done' | 'Rejected'

/** A payment gateway that answers 503 twice before it accepts. */
const gateway = {
  calls: 0,
  charge(amountCents: number): Promise<string> {
    this.calls += 1
    return this.calls <= 2
      ? Promise.reject(new Error(`gateway answered 503 (call ${this.calls})`))
      : Promise.resolve(`ch_${amountCents}_${this.calls}`)
  },
}

const order = { id: 'order-42', items: 3, amountCents: 12_900 }

const flow = workflow<Step>()({
  resources: Resources.of({ gateway, order }),
  exits: ['Done', 'Rejected'],
  states: ({ task }) => ({
    FetchOrder: task(({ res }) => (res.get('order').items > 0 ? 'Reserve' : 'Rejected'), {
      to: ['Reserve', 'Rejected'],
    }),
    Reserve: task(async () => {
      await new Promise((r) => setTimeout(r, 50))
      return 'Charge' as const
    }),
    Charge: task(
      async ({ res, progress }) => {
        const chargeId = await res.get('gateway').charge(res.get('order').amountCents)
        progress({ chargeId })
        return 'Notify' as const
      },
      {
        retry: RetryMode.exponentialCustom({
          maxRetries: 4,
          baseDelayMs: 100,
          multiplier: 2,
          maxDelayMs: 1_000,
          jitter: 0.1,
        }),
        attemptTimeoutMs: 2_000,
      },
    ),
    Notify: task(() => 'Done'),
  }),
  totalTimeoutMs: 30_000,
})

const started = Date.now()
const show = (e: WorkflowEvent<Step>): string => {
  const t = `+${String(Date.now() - started).padStart(4)} ms`
  switch (e._tag) {
    case 'StateEntered':
      return `${t}  ${e._tag.padEnd(15)} ${e.state}`
    case 'TaskStarted':
    case 'TaskSucceeded':
      return `${t}  ${e._tag.padEnd(15)} ${e.taskId}${e._tag === 'TaskSucceeded' ? ` -> ${e.next} (${e.attempts} attempt(s))` : ''}`
    case 'AttemptFailed':
      return `${t}  ${e._tag.padEnd(15)} ${e.taskId} attempt ${e.attempt}: ${describeCanoError(e.error)}`
    case 'RetryScheduled':
      return `${t}  ${e._tag.padEnd(15)} ${e.taskId} retry in ${e.delayMs} ms`
    case 'Progress':
      return `${t}  ${e._tag.padEnd(15)} ${e.taskId} ${JSON.stringify(e.data)}`
    case 'RunCompleted':
      return `${t}  ${e._tag.padEnd(15)} final state ${e.state} after ${e.transitions} transitions`
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      return `${t}  ${e._tag.padEnd(15)} ${describeCanoError(e.error)}`
    default:
      return `${t}  ${e._tag}`
  }
}

const run = flow.run$('FetchOrder', { workflowId: order.id }).subscribe({
  next: (e) => console.log(show(e)),
  complete: () => {
    console.log('run finished')
    run.unsubscribe()
  },
})
