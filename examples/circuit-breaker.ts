/**
 * Circuit breaker: a flaky upstream behind one breaker shared by two workflows.
 *
 *   npx tsx examples/circuit-breaker.ts
 *
 * The quote service is an in-process fake that answers in 5 ms: its first 3 calls fail with HTTP 503,
 * later calls succeed. Both workflows (`pricing`: Quote -> Done, `checkout`: Reserve -> Done) call it
 * under the same breaker (3 consecutive failures open it for 300 ms, one half-open trial):
 *
 * 1. `quote-1` fails twice (attempt and retry): 2 failures.
 * 2. `checkout-1` fails once, which trips the breaker; its retry is rejected with the raw `CircuitOpen`.
 * 3. `quote-2` and `checkout-2`, at once: both rejected without calling the service.
 * 4. After the 300 ms reset timeout, `quote-3` is the half-open probe; the service is back, so it closes
 *    the breaker, and `checkout-3` runs normally.
 *
 * Every run's events and every breaker transition (`breaker.state$`) are printed; the output is the same
 * on every run. Exits 0 when the breaker ended closed and the last two runs completed.
 */
import { asyncScheduler, firstValueFrom, type Observable, timer } from 'rxjs'

import {
  type CircuitState,
  createCircuitBreaker,
  describeCanoError,
  RetryMode,
  type TaskConfig,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'

/** The fake upstream: 5 ms per call; calls 1-3 fail, the rest succeed. Honours the attempt's signal. */
const quoteService = {
  calls: 0,
  price(symbol: string, signal: AbortSignal): Promise<number> {
    const call = ++this.calls
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (call <= 3) reject(new Error(`quote service: HTTP 503 (call ${call})`))
        else resolve(100 + symbol.length)
      }, 5)
      signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
    })
  },
}

// One clock: the breaker reads the scheduler the runs use for their timers and retries. This is the
// default (`asyncScheduler`, whose clock is `Date.now()`), named here to show where a test would put a
// virtual one (`{ scheduler }` here and in every `run$` options).
const clock = asyncScheduler

// one breaker for every caller of the quote service
const breaker = createCircuitBreaker(
  { failureThreshold: 3, resetTimeoutMs: 300, halfOpenMaxCalls: 1 },
  { scheduler: clock },
)

const describeState = (s: CircuitState): string => {
  switch (s._tag) {
    case 'Closed':
      return `Closed (${s.consecutiveFailures} consecutive failures)`
    case 'Open':
      return `Open for ${breaker.policy.resetTimeoutMs} ms`
    case 'HalfOpen':
      return `HalfOpen (${s.inFlight} trial in flight)`
  }
}
const transitions = breaker.state$.subscribe((t) =>
  console.log(`  [breaker] epoch ${t.epoch}: ${describeState(t.state)}`),
)

const guarded: TaskConfig = { circuitBreaker: breaker, retry: RetryMode.fixed(1, 20), attemptTimeoutMs: 1_000 }

const pricing = workflow<'Quote' | 'Done'>()({
  exits: ['Done'],
  states: ({ task }) => ({
    Quote: task(async ({ signal }) => (await quoteService.price('ACME', signal), 'Done' as const), guarded),
  }),
})

const checkout = workflow<'Reserve' | 'Done'>()({
  exits: ['Done'],
  states: ({ task }) => ({
    Reserve: task(async ({ signal }) => (await quoteService.price('ACME-RESERVE', signal), 'Done' as const), guarded),
  }),
})

const show = (e: WorkflowEvent): string | undefined => {
  switch (e._tag) {
    case 'AttemptFailed':
      return `attempt ${e.attempt} failed: ${describeCanoError(e.error)}`
    case 'RetryScheduled':
      return `retry in ${e.delayMs} ms`
    case 'CircuitRejected':
      return `rejected by the breaker, no attempt made: ${describeCanoError(e.error)}`
    case 'TaskSucceeded':
      return `${e.taskId} succeeded after ${e.attempts} attempt(s)`
    case 'RunCompleted':
      return `completed at ${e.state}`
    case 'RunFailed':
      return `failed: ${describeCanoError(e.error)}`
    default:
      return undefined
  }
}

/** Runs to the end, printing its events; resolves with the terminal event's tag. */
const runAndPrint = async (run$: Observable<WorkflowEvent>): Promise<string> => {
  let last = ''
  let id = ''
  await run$.forEach((e) => {
    id = e.workflowId
    last = e._tag
    const line = show(e)
    if (line !== undefined) console.log(`${id.padEnd(10)} ${line}`)
  })
  return last
}

console.log('-- the service is down: failures add up across both workflows')
await runAndPrint(pricing.run$('Quote', { workflowId: 'quote-1' }))
await runAndPrint(checkout.run$('Reserve', { workflowId: 'checkout-1' }))

console.log('-- the breaker is open: calls fail fast')
const before = quoteService.calls
await Promise.all([
  runAndPrint(pricing.run$('Quote', { workflowId: 'quote-2' })),
  runAndPrint(checkout.run$('Reserve', { workflowId: 'checkout-2' })),
])
console.log(`quote service calls while open: ${quoteService.calls - before}`)

const open = breaker.state
if (open._tag === 'Open') await firstValueFrom(timer(Math.max(0, open.untilMs - clock.now()) + 20, clock))

console.log('-- after the reset timeout: one probe, then closed')
const probe = await runAndPrint(pricing.run$('Quote', { workflowId: 'quote-3' }))
const after = await runAndPrint(checkout.run$('Reserve', { workflowId: 'checkout-3' }))
transitions.unsubscribe()

console.log(`quote service calls in all: ${quoteService.calls}`)
process.exitCode = probe === 'RunCompleted' && after === 'RunCompleted' && breaker.state._tag === 'Closed' ? 0 : 1
