/**
 * Stream: consume an event feed in windows of 10 events or 50 ms, whichever fills first, and stop
 * after 6 windows.
 *
 *   npx tsx examples/stream-events.ts
 *
 * Ingest (stream) -> Report -> Done. The feed is an async generator that emits bursts of events with
 * 80 ms pauses, so windows close on the count during a burst and on the timer during a pause. It is
 * pulled only while a window is filling: while `onWindow` works, nothing more is read. The pauses are
 * 30 ms longer than the window time, so the output is the same on every run.
 */
import {
  describeCanoError,
  MemoryStore,
  Resources,
  WindowSignal,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'

type Step = 'Ingest' | 'Report' | 'Done'

interface FeedEvent {
  readonly id: number
  readonly kind: 'click' | 'view' | 'purchase'
}

const KINDS: ReadonlyArray<FeedEvent['kind']> = ['view', 'click', 'view', 'purchase', 'view']
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Bursts of 25, 12, 3 and 30 events, each followed by an 80 ms pause; counts what was pulled. */
const feed = { pulled: 0 }
async function* events(): AsyncGenerator<FeedEvent> {
  let id = 0
  for (const burst of [25, 12, 3, 30]) {
    for (let i = 0; i < burst; i++) {
      feed.pulled += 1
      yield { id, kind: KINDS[id % KINDS.length] ?? 'view' }
      id += 1
    }
    await sleep(80)
  }
}

const WINDOWS = 6
const store = new MemoryStore()

const flow = workflow<Step>()({
  resources: Resources.of({ store }),
  exits: ['Done'],
  states: ({ task, stream }) => ({
    Ingest: stream({
      source: () => events(),
      window: { count: 10, timeMs: 50 },
      onWindow: async (items: ReadonlyArray<FeedEvent>, { window, ctx }) => {
        const purchases = items.filter((e) => e.kind === 'purchase').length
        const first = items[0]?.id ?? 0
        console.log(
          `window ${window}: ${items.length} events (#${first}-#${first + items.length - 1}), ${purchases} purchase(s), closed by ${items.length === 10 ? 'count' : 'time'}`,
        )
        ctx.res.get('store').append('purchases', purchases)
        return window >= WINDOWS ? WindowSignal.stop('Report') : WindowSignal.continue()
      },
      onClose: (reason) => {
        console.log(`feed closed: ${reason}`)
        return 'Report'
      },
    }),
    Report: task(({ res }) => {
      const perWindow = res.get('store').get('purchases') as ReadonlyArray<number>
      console.log(`${perWindow.length} windows, ${perWindow.reduce((a, b) => a + b, 0)} purchases`)
      return 'Done'
    }),
  }),
})

let flushed = 0
let final: WorkflowEvent<Step> | undefined
await flow.run$('Ingest', { workflowId: 'feed-1' }).forEach((e) => {
  final = e
  if (e._tag === 'WindowFlushed') flushed += 1
  if (e._tag === 'RunFailed') console.log(`run failed: ${describeCanoError(e.error)}`)
})
console.log(`${flushed} WindowFlushed events; ${feed.pulled} events pulled from the feed`)
console.log(`final state ${final?._tag === 'RunCompleted' ? final.state : 'none'}`)
process.exitCode = final?._tag === 'RunCompleted' && final.state === 'Done' ? 0 : 1
