/**
 * A paginated scan with `stepped`: walk a paged API page by page, carrying a typed cursor (the next
 * page token and a running total) that is validated by an io-ts codec at every step. With a
 * checkpoint store, each cursor is persisted before the next page is fetched, so a crashed scan
 * resumes at the last page it finished.
 *
 *   npx tsx examples/stepped-scan.ts
 */
import * as t from 'io-ts'

import { memoryCheckpoints, Resources, RetryMode, StepOutcome, workflow } from '../roots/index.js'

/** A paged API: 7 pages of 25 ids; page 3 fails once. */
const api = {
  failedOnce: false,
  async page(token: number): Promise<{ readonly ids: ReadonlyArray<number>; readonly next: number | null }> {
    await new Promise((r) => setTimeout(r, 5))
    if (token === 3 && !this.failedOnce) {
      this.failedOnce = true
      throw new Error('page 3: connection reset')
    }
    const ids = Array.from({ length: 25 }, (_, i) => token * 25 + i)
    return { ids, next: token < 6 ? token + 1 : null }
  },
}

const Cursor = t.type({ token: t.number, seen: t.number }, 'ScanCursor')

type Step = 'Scan' | 'Report' | 'Done'
let total = 0

const flow = workflow<Step>()({
  resources: Resources.of({ api }),
  checkpoints: memoryCheckpoints(),
  exits: ['Done'],
  states: ({ stepped, task }) => ({
    Scan: stepped({
      cursor: Cursor,
      retry: RetryMode.fixed(2, 50), // a failed page is fetched again, with the same cursor
      step: async ({ res }, cursor) => {
        const { ids, next } = await res.get('api').page(cursor?.token ?? 0)
        const seen = (cursor?.seen ?? 0) + ids.length
        if (next === null) {
          total = seen
          return StepOutcome.done('Report' as const)
        }
        return StepOutcome.more({ token: next, seen })
      },
    }),
    Report: task(() => {
      console.log(`scanned ${total} ids`)
      return 'Done' as const
    }),
  }),
})

const sub = flow.run$('Scan', { workflowId: 'scan-1' }).subscribe((e) => {
  if (e._tag === 'CursorAdvanced') console.log(`step ${e.step}: cursor ${JSON.stringify(e.cursor)}`)
  if (e._tag === 'AttemptFailed')
    console.log(`step failed (attempt ${e.attempt}): ${e.error.message}; retrying the same page`)
  if (e._tag === 'RunCompleted') {
    console.log(`final state ${e.state}`)
    sub.unsubscribe()
  }
})
