/**
 * Waiting for a background job with `poll`: the poll function answers `PollOutcome.pending(delayMs)` with an
 * adaptive delay while the job runs, tolerates two consecutive errors of the status endpoint, and
 * moves on with `PollOutcome.ready(state)` when the job is done.
 *
 *   npx tsx examples/poll-job.ts
 */
import { poll, PollErrorPolicy, PollOutcome, task, workflow } from '../roots/index.js'

type Step = 'Submit' | 'WaitForJob' | 'Process' | 'Done'

/** A job that makes 20 % progress per status call; the status endpoint fails on call 2. */
const job = { progress: 0, calls: 0 }
const status = async (): Promise<number> => {
  await new Promise((r) => setTimeout(r, 5))
  job.calls += 1
  if (job.calls === 2) throw new Error('status endpoint answered 502')
  job.progress = Math.min(100, job.progress + 20)
  return job.progress
}

const flow = workflow<Step>()({
  exits: ['Done'],
  states: {
    Submit: task(() => 'WaitForJob' as const),
    WaitForJob: poll(
      async ({ progress }) => {
        const pct = await status()
        progress({ pct })
        // poll faster as the job nears the end
        return pct >= 100 ? PollOutcome.ready('Process' as const) : PollOutcome.pending(pct < 50 ? 60 : 20)
      },
      { onError: PollErrorPolicy.retryOnError({ maxErrors: 2, delayMs: 30 }), maxPolls: 50, attemptTimeoutMs: 10_000 },
    ),
    Process: task(() => 'Done' as const),
  },
})

const sub = flow.run$('Submit', { workflowId: 'job-7' }).subscribe((e) => {
  if (e._tag === 'Progress') console.log(`job at ${String((e.data as { pct: number }).pct)} %`)
  if (e._tag === 'RunCompleted') {
    console.log(`final state ${e.state} after ${job.calls} status calls`)
    sub.unsubscribe()
  }
})
