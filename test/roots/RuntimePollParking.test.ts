/**
 * A runtime parks a run whose `poll` waits longer than `parkAfterMs` (issue 12 item 5), in virtual time
 * (test/helpers/virtualTime.ts: the store's clock, the runtimes' scheduler and the workflow's scheduler
 * are one clock): the poll reports `TimerArmed` and appends a `TimerArmed` row holding its loop's
 * position, the owner releases the lease with the wake-up, and at the wake-up a runtime claims the run and
 * the poll goes on with its counts, its attempt and what was left of its attempt timeout. The same with
 * real SQLite and PostgreSQL stores and processes is in test/integration/pollParking.test.ts.
 */
import { expect } from 'chai'
import type { Subscription } from 'rxjs'

import type { CheckpointRow } from '../../codecs/CheckpointRow.js'
import {
  createRuntime,
  memoryCheckpoints,
  PollOutcome,
  RetryMode,
  type RunStore,
  type Runtime,
  type RuntimeEvent,
  type RuntimeOptions,
  task,
  workflow,
} from '../../roots/index.js'
import { createVirtualClock, type VirtualClock } from '../helpers/virtualTime.js'

const T0 = Date.UTC(2026, 0, 1)

type Step = 'Before' | 'Wait' | 'Done'

interface Harness {
  readonly clock: VirtualClock
  readonly store: RunStore
  /** The virtual instants (ms after T0) of the poll's calls, with their attempt. */
  readonly calls: Array<readonly [number, number]>
}

/**
 * A workflow that polls by `script` (a delay answers `pending`, `'ready'` moves on, `'error'` throws),
 * every wait on `clock`.
 */
const polling = (
  h: Harness,
  script: ReadonlyArray<number | 'ready' | 'error'>,
  options: { readonly maxPolls?: number; readonly attemptTimeoutMs?: number; readonly retry?: RetryMode } = {},
) => {
  let i = 0
  return workflow<Step>()({
    scheduler: h.clock,
    exits: ['Done'],
    states: ({ poll }) => ({
      Before: task(() => 'Wait' as const),
      Wait: poll(({ attempt }) => {
        h.calls.push([h.clock.now() - T0, attempt])
        const next = script[Math.min(i++, script.length - 1)]
        if (next === 'error') throw new Error('status service down')
        return next === 'ready' ? PollOutcome.ready('Done' as const) : PollOutcome.pending(next ?? 0)
      }, options),
    }),
  })
}

const started: Array<{ readonly runtime: Runtime; readonly clock: VirtualClock; readonly sub: Subscription }> = []

const runtime = (
  h: Harness,
  flow: ReturnType<typeof polling>,
  events: RuntimeEvent[],
  extra: Partial<RuntimeOptions> = {},
): Runtime => {
  const rt = createRuntime({
    store: h.store,
    workflows: { watcher: { workflow: flow, initial: 'Before' } },
    scheduler: h.clock,
    pollMs: 100,
    leaseMs: 1_000,
    parkAfterMs: 1_000,
    ...extra,
  })
  started.push({ runtime: rt, clock: h.clock, sub: rt.events$.subscribe((e) => events.push(e)) })
  return rt
}

const stop = async (rt: Runtime, clock: VirtualClock): Promise<void> => {
  const stopping = rt.stop({ graceMs: 0 })
  await clock.advance(0)
  await stopping
}

afterEach(async () => {
  for (const s of started.splice(0)) {
    await stop(s.runtime, s.clock)
    s.sub.unsubscribe()
  }
})

const harness = (): Harness => {
  const clock = createVirtualClock(T0)
  return { clock, store: memoryCheckpoints({ now: () => clock.now() }), calls: [] }
}

/** The run events of `events` for the state `Wait`, as [tag, ms after T0, wakeAt - T0]. */
const waits = (events: ReadonlyArray<RuntimeEvent>): Array<readonly [string, number]> =>
  events.flatMap((e) =>
    e._tag === 'Run' && e.event._tag === 'TimerArmed' ? [[e.event._tag, e.event.wakeAt - T0] as const] : [],
  )

const timerRows = (rows: ReadonlyArray<CheckpointRow>) =>
  rows.filter((r) => r.kind === 'TimerArmed').map((r) => ({ state: r.state, payload: r.payload }))

describe('createRuntime parks long poll delays (virtual time)', () => {
  it('makes a poll delay past parkAfterMs durable, parks the run, and resumes the loop at its wake-up elsewhere', async () => {
    const h = harness()
    const flow = polling(h, [200, 5_000, 'ready'])
    const eventsA: RuntimeEvent[] = []
    const a = runtime(h, flow, eventsA)
    await a.start('watcher', null, { id: 'w-1' })
    await h.clock.advance(300)
    // the short delay (200 ms) waited in memory; the long one (5 s) is durable and the run parked
    expect(h.calls).to.deep.equal([
      [0, 1],
      [200, 1],
    ])
    expect(waits(eventsA)).to.deep.equal([['TimerArmed', 5_200]])
    expect(eventsA.filter((e) => e._tag === 'Parked')).to.deep.equal([
      { _tag: 'Parked', workflowId: 'w-1', wakeAt: T0 + 5_200 },
    ])
    const record = await h.store.runs.get('w-1')
    expect(record).to.include({ status: 'parked', owner: null, leaseUntil: null, wakeAt: T0 + 5_200 })
    expect(timerRows(await h.store.loadRun('w-1'))).to.deep.equal([
      { state: 'Wait', payload: { wakeAt: T0 + 5_200, poll: { polls: 2, errors: 0, attempt: 1, deadlineAt: null } } },
    ])
    // the runtime that parked it leaves; another, started later, takes it at its wake-up
    await stop(a, h.clock)
    const eventsB: RuntimeEvent[] = []
    const b = runtime(h, flow, eventsB)
    await h.clock.advance(4_800) // T0 + 5 100: not yet due
    expect(h.calls).to.have.length(2)
    expect(eventsB.filter((e) => e._tag === 'Claimed')).to.deep.equal([])
    await h.clock.advance(200) // past the wake-up
    expect(h.calls).to.deep.equal([
      [0, 1],
      [200, 1],
      [5_200, 1],
    ])
    const outcome = await b.result('w-1')
    expect(outcome.status).to.equal('completed')
    expect(outcome.record.owner).to.equal(b.owner)
    expect(outcome.record.fence).to.equal(2)
    expect(eventsB.filter((e) => e._tag === 'Claimed').map((e) => e._tag)).to.deep.equal(['Claimed'])
  })

  it('resumes with the persisted poll count: maxPolls counts the polls made before the park', async () => {
    const h = harness()
    // 2 polls allowed: one before the park, one after; the third call is never made
    const flow = polling(h, [5_000, 10, 'ready'], { maxPolls: 2 })
    const events: RuntimeEvent[] = []
    const rt = runtime(h, flow, events)
    await rt.start('watcher', null, { id: 'w-2' })
    await h.clock.advance(6_000)
    expect(h.calls.map(([at]) => at)).to.deep.equal([0, 5_000])
    const outcome = await rt.result('w-2')
    expect(outcome.status).to.equal('failed')
    expect(JSON.stringify(outcome.error)).to.include('was not ready after 2 polls')
  })

  it('resumes in the persisted attempt, with what was left of its attempt timeout', async () => {
    const h = harness()
    // attempt 1 fails at once; attempt 2 (after 100 ms) parks for 5 s with 10 s of its timeout left, then
    // keeps answering pending(4 000): in memory its timeout ends 10 s after attempt 2 started
    const flow = polling(h, ['error', 5_000, 4_000], {
      retry: RetryMode.fixed(1, 100),
      attemptTimeoutMs: 10_000,
    })
    const events: RuntimeEvent[] = []
    const rt = runtime(h, flow, events)
    await rt.start('watcher', null, { id: 'w-3' })
    await h.clock.advance(200)
    expect(timerRows(await h.store.loadRun('w-3'))).to.deep.equal([
      {
        state: 'Wait',
        payload: { wakeAt: T0 + 5_100, poll: { polls: 1, errors: 0, attempt: 2, deadlineAt: T0 + 10_100 } },
      },
    ])
    await h.clock.advance(12_000)
    // after the park: polls at 5 100 and 9 100 (the next one, at 13 100, is past the deadline)
    expect(h.calls).to.deep.equal([
      [0, 1],
      [100, 2],
      [5_100, 2],
      [9_100, 2],
    ])
    const outcome = await rt.result('w-3')
    expect(outcome.status).to.equal('failed')
    // the retry policy allowed 2 attempts: the resumed one was the last
    expect(outcome.error).to.deep.include({ _tag: 'RetryExhausted', attempts: 2 })
    expect(JSON.stringify(outcome.error)).to.include('"timeoutMs":10000')
  })

  it('parks attempt 1 with its attempt deadline, and resumes it with what was left of its timeout', async () => {
    const h = harness()
    // attempt 1 parks for 5 s with its timeout ending at 10 s, then keeps answering pending(4 000)
    const flow = polling(h, [5_000, 4_000], { attemptTimeoutMs: 10_000 })
    const events: RuntimeEvent[] = []
    const rt = runtime(h, flow, events)
    await rt.start('watcher', null, { id: 'w-3b' })
    await h.clock.advance(100)
    expect(timerRows(await h.store.loadRun('w-3b'))).to.deep.equal([
      {
        state: 'Wait',
        payload: { wakeAt: T0 + 5_000, poll: { polls: 1, errors: 0, attempt: 1, deadlineAt: T0 + 10_000 } },
      },
    ])
    await h.clock.advance(12_000)
    // after the park: polls at 5 000 and 9 000 (the next one, at 13 000, is past the deadline)
    expect(h.calls).to.deep.equal([
      [0, 1],
      [5_000, 1],
      [9_000, 1],
    ])
    const outcome = await rt.result('w-3b')
    expect(outcome.status).to.equal('failed')
    expect(outcome.error).to.deep.include({ _tag: 'Timeout', timeoutMs: 10_000 })
  })

  it('waits in memory for a delay within parkAfterMs, and for one the attempt timeout cuts short', async () => {
    const h = harness()
    const flow = polling(h, [1_000, 3_000, 'ready'], { attemptTimeoutMs: 2_500 })
    const events: RuntimeEvent[] = []
    const rt = runtime(h, flow, events)
    await rt.start('watcher', null, { id: 'w-4' })
    await h.clock.advance(4_000)
    // 1 000 ms is not past the threshold; 3 000 ms would end after the attempt's deadline (2 500 ms)
    expect(waits(events)).to.deep.equal([])
    expect(events.filter((e) => e._tag === 'Parked')).to.deep.equal([])
    expect(timerRows(await h.store.loadRun('w-4'))).to.deep.equal([])
    const outcome = await rt.result('w-4')
    expect(outcome.status).to.equal('failed')
    expect(outcome.error).to.deep.include({ _tag: 'Timeout', timeoutMs: 2_500 })
  })
})
