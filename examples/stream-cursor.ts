/**
 * Per-item stream with an application cursor (cano 0.15's `StreamTask`): read a partition of 20 records
 * one at a time, commit the offset with every window of 4, survive a cancellation mid-window, and
 * resume from the committed offset.
 *
 *   npx tsx examples/stream-cursor.ts
 *
 * Run 1 is cancelled while record 9 is processed: the stream drains (record 9 finishes, the partial
 * window [8, 9] is flushed, offset 9 committed), then the run ends `Cancelled`. Run 2 resumes it: the
 * source is reopened after offset 9. Record 13 is poison (always throws) and record 15 is slow the first
 * time (it exceeds `itemTimeoutMs`): the policy retries each item twice, then skips it.
 */
import * as t from 'io-ts'

import {
  describeCanoError,
  isCanoFailure,
  ItemErrorPolicy,
  memoryCheckpoints,
  RetryMode,
  WindowSignal,
  workflow,
} from '../roots/index.js'

interface Record_ {
  readonly offset: number
  readonly amount: number
}

/** The partition: what a Kafka consumer or a file read by position would give. */
const partition: ReadonlyArray<Record_> = Array.from({ length: 20 }, (_, offset) => ({ offset, amount: offset * 10 }))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Reads the records after `after`, one at a time (pulled: never read faster than they are processed). */
async function* read(after: number | undefined): AsyncGenerator<Record_> {
  for (const r of partition.slice(after === undefined ? 0 : after + 1)) {
    await sleep(2)
    yield r
  }
}

const cancel = new AbortController()
let slowOnce = true
const opened: string[] = []
const processed: number[] = []

const flow = workflow<'Consume' | 'Done'>()({
  checkpoints: memoryCheckpoints(),
  exits: ['Done'],
  states: ({ streamItems }) => ({
    Consume: streamItems({
      cursor: t.number, // the offset: persisted with each window, handed back to `source` on resume
      source: (_ctx, after) => {
        opened.push(after === undefined ? 'the start' : `offset ${after}`)
        return read(after)
      },
      onItem: async (r, { signal }) => {
        if (r.offset === 9) cancel.abort() // the operator stops the consumer mid-window
        if (r.offset === 13) throw new Error('poison record')
        if (r.offset === 15 && slowOnce) {
          slowOnce = false
          await sleep(200) // exceeds itemTimeoutMs: its signal aborts, the policy retries it
          if (signal.aborted) throw new Error('aborted')
        }
        processed.push(r.offset)
        return { output: r.amount, cursor: r.offset }
      },
      window: { count: 4 },
      onWindow: (amounts, { window, cursor, draining }) => {
        const total = amounts.reduce((a, b) => a + b, 0)
        console.log(
          `window ${window}: ${amounts.length} records, total ${total}, commit offset ${String(cursor)}${draining ? ' (drain)' : ''}`,
        )
        return WindowSignal.continue()
      },
      onItemError: ItemErrorPolicy.retry(RetryMode.fixed(2, 5), { exhausted: 'Skip' }),
      itemTimeoutMs: 50,
      drainTimeoutMs: 1_000,
      onClose: (reason) => {
        console.log(`stream closed: ${reason}`)
        return 'Done' as const
      },
    }),
  }),
})

try {
  await flow.orchestrate('Consume', { workflowId: 'orders-p0', signal: cancel.signal })
} catch (e: unknown) {
  if (!isCanoFailure(e)) throw e
  console.log(`run 1 ended: ${describeCanoError(e.error)}`)
}
const final = await flow.resume('orders-p0')
console.log(`run 1 opened at ${opened[0] ?? '?'}; run 2 resumed at ${opened[1] ?? '?'}, finished: ${final}`)
console.log(
  `processed ${processed.length} records; skipped: ${partition
    .filter((r) => !processed.includes(r.offset))
    .map((r) => r.offset)
    .join(', ')}`,
)
