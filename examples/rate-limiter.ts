/**
 * Rate limiters: a single token bucket on a task, and a multi-tier limiter (per second and per minute)
 * whose refusals name the tier that said no.
 *
 *   npx tsx examples/rate-limiter.ts
 *
 * 1. Call (task with `rateLimiter`, 6 runs through a bucket of 2 + 10/s): the first two go at once,
 *    the others wait about 100 ms each.
 * 2. A multi-tier limiter, 3 per second and 4 per 10 seconds: `tryAcquire` is refused by the first tier
 *    that is out of tokens, with the wait it advises. The 10 s tier is a fixed window aligned to the
 *    clock, so this part starts early enough in a window for its two rounds to share it.
 */
import * as E from 'fp-ts/lib/Either.js'

import { createMultiRateLimiter, createRateLimiter, workflow } from '../roots/index.js'

// 1. one bucket: 1 per 100 ms, and 2 at once (capacity tokens + burst)
const bucket = createRateLimiter({ tokens: 1, perMs: 100, burst: 1 })
const call = workflow<'Call' | 'Done'>()({
  exits: ['Done'],
  states: ({ task }) => ({ Call: task(() => 'Done' as const, { rateLimiter: bucket }) }),
})
const started = Date.now()
const finished = await Promise.all(
  Array.from({ length: 6 }, async (_, i) => {
    await call.orchestrate('Call', { workflowId: `call-${i}` })
    return Date.now() - started
  }),
)
const late = finished.filter((ms) => ms >= 90).length
console.log(
  `single: 6 calls, ${6 - late} at once, ${late} paced (last after ${Math.max(...finished) >= 350 ? '~400' : 'too few'} ms)`,
)

// 2. several tiers at once. A fixed window is aligned to the clock (windows start at multiples of
// `perMs`), so part 2 starts with at least 1.5 s left in the current 10 s window: its second round,
// a second later, then still falls inside the window the first round filled
const intoWindow = Date.now() % 10_000
if (intoWindow > 8_500) await new Promise((resolve) => setTimeout(resolve, 10_000 - intoWindow))
const api = createMultiRateLimiter([
  { name: 'per-second', limit: 3, perMs: 1_000 },
  { name: 'per-10s', limit: 4, perMs: 10_000, kind: 'fixedWindow' },
])
for (let i = 1; i <= 5; i++) {
  const r = api.tryAcquire()
  console.log(
    E.isRight(r)
      ? `multi: call ${i} admitted`
      : `multi: call ${i} refused by ${r.left.tier}, retry in ~${Math.round(r.left.retryAfterMs / 100) * 100} ms`,
  )
}
await new Promise((resolve) => setTimeout(resolve, 1_000))
for (const i of [4, 5]) {
  const r = api.tryAcquire()
  console.log(
    E.isRight(r)
      ? `multi: a second later, call ${i} admitted`
      : `multi: a second later, call ${i} refused by ${r.left.tier}`,
  )
}
