/**
 * Bulkhead: a split of six 50 ms branches with `bulkhead: 2` runs at most two at once. The peak
 * concurrency is measured, and each branch's start is reported when its slot opens (`TaskStarted`).
 *
 *   npx tsx examples/bulkhead.ts
 */
import { JoinStrategy, workflow } from '../roots/index.js'

let running = 0
let peak = 0
const work = async (): Promise<void> => {
  running += 1
  peak = Math.max(peak, running)
  await new Promise((resolve) => setTimeout(resolve, 50))
  running -= 1
}

const flow = workflow<'Fan' | 'Done'>()({
  exits: ['Done'],
  states: ({ split }) => ({
    Fan: split(
      Array.from({ length: 6 }, () => work),
      { strategy: JoinStrategy.all(), join: 'Done', bulkhead: 2 },
    ),
  }),
})

let first: number | undefined
await flow.run$('Fan').forEach((e) => {
  if (e._tag === 'TaskStarted' && e.taskId.includes('[')) {
    first ??= Date.now()
    console.log(`${e.taskId} starts at +${Math.round((Date.now() - first) / 50) * 50} ms`)
  }
})
console.log(`6 branches, at most ${peak} at once`)
