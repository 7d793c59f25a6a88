/**
 * `createRuntime`'s `schedules` on the in-memory store, in virtual time (test/helpers/virtualTime.ts): the
 * store's clock and every runtime's scheduler are one virtual clock, so each tick lands on its instant.
 * Several runtimes sharing one store stand for a fleet. The same with real processes on PostgreSQL is in
 * test/integration/runtimeSchedules.test.ts.
 */
import { expect } from 'chai'
import * as t from 'io-ts'
import type { Subscription } from 'rxjs'

import {
  CanoFailure,
  checkpointStoreError,
  createRuntime,
  memoryCheckpoints,
  type RunStore,
  type Runtime,
  type RuntimeEvent,
  type RuntimeOptions,
  type RuntimeSchedule,
  Schedule,
  type ScheduledRunEvent,
  scheduledRunId,
  task,
  workflow,
} from '../../roots/index.js'
import { createVirtualClock, flushMicrotasks, type VirtualClock } from '../helpers/virtualTime.js'

const T0 = Date.UTC(2026, 0, 1)
const id = (ms: number): string => scheduledRunId('beat', T0 + ms)

/** Executions of each run, by run id (a task of `beat` counts them). */
let executions = new Map<string, number>()
const beat = workflow<'Beat' | 'Done'>()({
  exits: ['Done'],
  states: {
    Beat: task(({ workflowId }) => {
      executions.set(workflowId, (executions.get(workflowId) ?? 0) + 1)
      return 'Done' as const
    }),
  },
})

/** `beat` with an input codec: a schedule's input is decoded with it. */
const regional = workflow<'Beat' | 'Done'>()({
  input: t.type({ region: t.string }),
  exits: ['Done'],
  states: {
    Beat: task(({ workflowId }) => {
      executions.set(workflowId, (executions.get(workflowId) ?? 0) + 1)
      return 'Done' as const
    }),
  },
})

const every200: RuntimeSchedule = { id: 'beat', workflow: 'beat', schedule: Schedule.every(200) }

interface Started {
  readonly runtime: Runtime
  readonly events: RuntimeEvent[]
  readonly clock: VirtualClock
  /** Ends with the runtime's events$ (at stop). */
  readonly collecting: Subscription
}
const started: Started[] = []

const make = (store: RunStore, clock: VirtualClock, extra: Partial<RuntimeOptions> = {}): Started => {
  const runtime = createRuntime({
    store,
    workflows: { beat: { workflow: beat, initial: 'Beat' } },
    schedules: [every200],
    scheduler: clock,
    pollMs: 100,
    leaseMs: 1_000,
    ...extra,
  })
  const events: RuntimeEvent[] = []
  const collecting = runtime.events$.subscribe((e) => events.push(e))
  const s = { runtime, events, clock, collecting }
  started.push(s)
  return s
}

/** Stops `s`, moving its clock so that a grace period of 0 ends. */
const stop = async (s: Started): Promise<void> => {
  const stopping = s.runtime.stop({ graceMs: 0 })
  await s.clock.advance(0)
  await stopping
}

const ticks = (events: ReadonlyArray<RuntimeEvent>): ScheduledRunEvent[] =>
  events.filter((e): e is ScheduledRunEvent => e._tag === 'Scheduled' || e._tag === 'ScheduleFailed')

const runIds = async (store: RunStore): Promise<string[]> =>
  (await store.runs.list({ workflow: 'beat' })).map((r) => r.workflowId).sort()

const storeOn = (clock: VirtualClock): RunStore => memoryCheckpoints({ now: () => clock.now() })

beforeEach(() => {
  executions = new Map()
})
afterEach(async () => {
  for (const s of started.splice(0)) await stop(s)
})

describe('createRuntime schedules', () => {
  it('records one run per tick on the epoch grid, with the id of its schedule and instant, and executes it', async () => {
    const clock = createVirtualClock(T0 + 50)
    const store = storeOn(clock)
    const { events } = make(store, clock, {
      workflows: { beat: { workflow: regional, initial: 'Beat' } },
      schedules: [{ ...every200, input: { region: 'eu' } }],
    })
    await clock.advance(1_000)
    const expected = [200, 400, 600, 800, 1_000].map(id)
    expect(await runIds(store)).to.deep.equal(expected)
    for (const runId of expected) {
      const record = await store.runs.get(runId)
      expect(record?.status, runId).to.equal('completed')
      expect(record?.input, runId).to.deep.equal({ region: 'eu' })
    }
    expect(ticks(events)).to.deep.equal(
      [200, 400, 600, 800, 1_000].map((ms) => ({
        _tag: 'Scheduled',
        scheduleId: 'beat',
        tickAt: T0 + ms,
        workflowId: id(ms),
        created: true,
      })),
    )
    expect([...executions.values()]).to.deep.equal([1, 1, 1, 1, 1])
  })

  it('two runtimes sharing one store, started at different instants, record each tick once and execute it once', async () => {
    const clock = createVirtualClock(T0 + 50)
    const store = storeOn(clock)
    const a = make(store, clock)
    await clock.advance(80) // b starts 80 ms later: the instants are the same
    const b = make(store, clock)
    await clock.advance(2_000 - 130)
    const instants = Array.from({ length: 10 }, (_, i) => 200 * (i + 1))
    expect(await runIds(store)).to.deep.equal(instants.map(id).sort())
    for (const ms of instants) {
      const seen = [...ticks(a.events), ...ticks(b.events)].filter((e) => e.tickAt === T0 + ms)
      expect(seen.map((e) => e._tag === 'Scheduled' && e.created).sort(), `tick ${ms}`).to.deep.equal([false, true])
    }
    expect([...executions.entries()].sort()).to.deep.equal(instants.map((ms) => [id(ms), 1]).sort())
    const owners = new Set((await store.runs.list({ workflow: 'beat' })).map((r) => r.owner))
    expect([...owners].every((o) => o === a.runtime.owner || o === b.runtime.owner)).to.equal(true)
  })

  it('ticks at cron fire times', async () => {
    const clock = createVirtualClock(T0 + 500)
    const store = storeOn(clock)
    make(store, clock, { schedules: [{ id: 'beat', workflow: 'beat', schedule: Schedule.cron('* * * * * *') }] })
    await clock.advance(3_000)
    expect(await runIds(store)).to.deep.equal([1_000, 2_000, 3_000].map(id))
  })

  describe('missed ticks', () => {
    /** A fleet that ran from T0+50 to T0+650 (ticks 200, 400, 600) and went down until T0+5 050. */
    const downtime = async (): Promise<{ readonly store: RunStore; readonly clock: VirtualClock }> => {
      const clock = createVirtualClock(T0 + 50)
      const store = storeOn(clock)
      const first = make(store, clock)
      await clock.advance(600)
      await stop(first)
      await clock.advance(4_400)
      expect(await runIds(store)).to.deep.equal([200, 400, 600].map(id))
      return { store, clock }
    }

    it("'skip' (the default) gives runs only to ticks after the restart", async () => {
      const { store, clock } = await downtime()
      make(store, clock)
      await clock.advance(200)
      expect(await runIds(store)).to.deep.equal([200, 400, 600, 5_200].map(id))
    })

    it("'latest' records the run of the latest missed tick once, however many runtimes restart", async () => {
      const { store, clock } = await downtime()
      const latest = { ...every200, missed: 'latest' as const }
      const a = make(store, clock, { schedules: [latest] })
      const b = make(store, clock, { schedules: [latest] })
      await clock.advance(0)
      expect(await runIds(store)).to.deep.equal([200, 400, 600, 5_000].map(id))
      const catchUp = [...ticks(a.events), ...ticks(b.events)].filter((e) => e.tickAt === T0 + 5_000)
      expect(catchUp.map((e) => e._tag === 'Scheduled' && e.created).sort()).to.deep.equal([false, true])
      // a third runtime restarting before the next tick finds that run: nothing more
      make(store, clock, { schedules: [latest] })
      await clock.advance(100)
      expect(await runIds(store)).to.deep.equal([200, 400, 600, 5_000].map(id))
      expect(executions.get(id(5_000))).to.equal(1)
      await clock.advance(100)
      expect(await runIds(store)).to.deep.equal([200, 400, 600, 5_000, 5_200].map(id))
    })

    it("'latest' looks back at most retentionMs: an older tick's run may have been pruned", async () => {
      const { store, clock } = await downtime()
      make(store, clock, {
        schedules: [{ ...every200, schedule: Schedule.every(10_000), missed: 'latest' }],
        retentionMs: 1_000,
      })
      await clock.advance(0)
      // the latest tick of every(10 000) at or before T0+5 050 is T0, 5 050 ms old
      expect(await runIds(store)).to.deep.equal([200, 400, 600].map(id))
    })

    it("a stalled process records the ticks it was late for up to leaseMs; older ones are missed ('skip') or the latest runs ('latest')", async () => {
      for (const missed of ['skip', 'latest'] as const) {
        const clock = createVirtualClock(T0 + 50)
        let stalled = 0
        // the process's clock jumps ahead (it was stalled): its next timer fires late by the jump
        const frame = clock.now
        clock.now = () => frame() + stalled
        const store = storeOn(clock)
        make(store, clock, { schedules: [{ ...every200, missed }], leaseMs: 500 })
        await clock.advance(150) // tick 200
        stalled = 1_000
        await clock.advance(200) // the timer of tick 400 fires at 1 400: 400..800 are older than the lease
        // 'latest' also recorded tick 0 at start (the latest tick at or before T0+50)
        const expected = missed === 'skip' ? [200, 1_000, 1_200, 1_400] : [0, 200, 800, 1_000, 1_200, 1_400]
        expect(await runIds(store), missed).to.deep.equal(expected.map(id))
        for (const s of started.splice(0)) await stop(s)
      }
    })
  })

  it('retries a tick whose record failed every pollMs, and reports a tick it could not record within leaseMs', async () => {
    const clock = createVirtualClock(T0 + 50)
    const store = storeOn(clock)
    let failing = new Set<string>([id(200)])
    let tries = 0
    // the store refuses to record the runs in `failing` (a database that is down for them)
    const flaky: RunStore = {
      ...store,
      runs: {
        ...store.runs,
        create: (run) => {
          if (!failing.has(run.workflowId)) return store.runs.create(run)
          tries++
          return Promise.reject(new CanoFailure(checkpointStoreError('connection refused')))
        },
      },
    }
    const { events } = make(flaky, clock, { leaseMs: 450 })
    await clock.advance(150)
    expect(tries).to.equal(1)
    failing = new Set([id(400)])
    await clock.advance(100) // the retry at 300 goes through
    expect(ticks(events)).to.deep.equal([
      { _tag: 'Scheduled', scheduleId: 'beat', tickAt: T0 + 200, workflowId: id(200), created: true },
    ])
    tries = 0
    await clock.advance(1_000)
    // tick 400: tries at 400, 500, 600, 700, 800; the next would be after 400 + 450
    expect(tries).to.equal(5)
    const failed = ticks(events).filter((e) => e._tag === 'ScheduleFailed')
    expect(failed).to.have.length(1)
    expect(failed[0]).to.deep.include({ scheduleId: 'beat', tickAt: T0 + 400, workflowId: id(400) })
    expect(failed[0]?._tag === 'ScheduleFailed' && failed[0].error.message).to.equal('connection refused')
    expect(await runIds(store)).to.deep.equal([200, 600, 800, 1_000, 1_200].map(id))
  })

  it('recovers a scheduled run whose owner stopped renewing its lease, like any other run', async () => {
    // two processes: `paused` freezes (its clock never moves again) while executing the run of tick 200
    const clock = createVirtualClock(T0 + 50)
    const pausedClock = createVirtualClock(T0 + 50)
    const store = storeOn(clock)
    let entered = 0
    const blocksOnce = workflow<'Beat' | 'Done'>()({
      exits: ['Done'],
      states: {
        Beat: task(({ workflowId, signal }) => {
          executions.set(workflowId, (executions.get(workflowId) ?? 0) + 1)
          if (workflowId !== id(200) || entered++ > 0) return 'Done' as const
          return new Promise<'Done'>((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason as Error)),
          )
        }),
      },
    })
    const workflows = { beat: { workflow: blocksOnce, initial: 'Beat' } }
    const paused = make(store, pausedClock, { workflows, leaseMs: 300 })
    await pausedClock.advance(150) // paused records and claims the run of tick 200, then freezes
    const held = await store.runs.get(id(200))
    expect(held?.owner).to.equal(paused.runtime.owner)
    const rescuer = make(store, clock, { workflows, leaseMs: 300 })
    await clock.advance(500)
    const record = await store.runs.get(id(200))
    expect(record?.status).to.equal('completed')
    expect(record?.owner).to.equal(rescuer.runtime.owner)
    expect(record?.fence).to.equal(2)
    expect(executions.get(id(200))).to.equal(2) // the state in flight at the freeze runs again: at-least-once
    // the rescuer found tick 200's run in the table: it did not record it again
    expect(ticks(rescuer.events).find((e) => e.tickAt === T0 + 200)).to.deep.include({ created: false })
  })

  it('stop() stops the tick timers', async () => {
    const clock = createVirtualClock(T0 + 50)
    const store = storeOn(clock)
    const s = make(store, clock)
    await clock.advance(400)
    started.splice(0)
    await stop(s)
    expect(clock.pending()).to.equal(0)
    await clock.advance(2_000)
    expect(await runIds(store)).to.deep.equal([200, 400].map(id))
  })

  describe('stop() with a tick being recorded', () => {
    /** `store`, whose `create` of run `held` waits until the test calls `release` (a slow insert). */
    const holding = (store: RunStore, held: string): { readonly store: RunStore; readonly release: () => void } => {
      let release = (): void => undefined
      const gate = new Promise<void>((resolve) => {
        release = resolve
      })
      return {
        store: {
          ...store,
          runs: {
            ...store.runs,
            create: async (run) => {
              if (run.workflowId === held) await gate
              return store.runs.create(run)
            },
          },
        },
        release: () => release(),
      }
    }
    /** `runtime.stop(options)`, and whether it has resolved. */
    const stopping = (
      runtime: Runtime,
      graceMs: number,
    ): { readonly done: () => boolean; readonly p: Promise<void> } => {
      let done = false
      const p = runtime.stop({ graceMs }).then(() => {
        done = true
      })
      return { done: () => done, p }
    }

    it('reports the tick once its record is done, before events$ completes, and records no tick after', async () => {
      const clock = createVirtualClock(T0 + 50)
      const store = storeOn(clock)
      const { store: slow, release } = holding(store, id(400))
      const s = make(slow, clock)
      started.splice(0)
      await clock.advance(400) // tick 200 recorded (and executed); tick 400's record is held
      expect(ticks(s.events).map((e) => e.tickAt)).to.deep.equal([T0 + 200])
      const stop = stopping(s.runtime, 10_000)
      await clock.advance(300) // the tick instant 600 passes: no tick is planned after stop()
      expect(stop.done()).to.equal(false)
      expect(s.collecting.closed).to.equal(false) // events$ has not completed
      release()
      await flushMicrotasks()
      await stop.p
      expect(ticks(s.events)).to.deep.equal([
        { _tag: 'Scheduled', scheduleId: 'beat', tickAt: T0 + 200, workflowId: id(200), created: true },
        { _tag: 'Scheduled', scheduleId: 'beat', tickAt: T0 + 400, workflowId: id(400), created: true },
      ])
      // reported before events$ completed (it ends the collecting subscription)
      expect(s.collecting.closed).to.equal(true)
      expect(clock.pending()).to.equal(0)
      await clock.advance(2_000)
      // the run of tick 400 is written and left pending for another process; no tick after stop() has one
      expect(await runIds(store)).to.deep.equal([200, 400].map(id))
      expect((await store.runs.get(id(400)))?.status).to.equal('pending')
    })

    it('does not wait for a record that never ends beyond graceMs', async () => {
      const clock = createVirtualClock(T0 + 50)
      const store = storeOn(clock)
      const { store: slow } = holding(store, id(400))
      const s = make(slow, clock)
      started.splice(0)
      await clock.advance(400)
      const stop = stopping(s.runtime, 500)
      await clock.advance(499)
      expect(stop.done()).to.equal(false)
      await clock.advance(1)
      await stop.p
      expect(s.collecting.closed).to.equal(true)
      expect(ticks(s.events).map((e) => e.tickAt)).to.deep.equal([T0 + 200])
      expect(clock.pending()).to.equal(0)
    })

    it('makes no retry of a failed record after stop(): the tick is reported failed at once', async () => {
      const clock = createVirtualClock(T0 + 50)
      const store = storeOn(clock)
      let tries = 0
      const flaky: RunStore = {
        ...store,
        runs: {
          ...store.runs,
          create: () => {
            tries++
            return Promise.reject(new CanoFailure(checkpointStoreError('connection refused')))
          },
        },
      }
      const s = make(flaky, clock)
      started.splice(0)
      await clock.advance(150) // tick 200's record failed; its retry waits for 300
      expect(tries).to.equal(1)
      const stop = stopping(s.runtime, 10_000)
      await flushMicrotasks()
      expect(stop.done()).to.equal(true) // nothing was in flight: stop() did not use its grace
      await stop.p
      const failed = ticks(s.events)
      expect(failed.map((e) => [e._tag, e.tickAt])).to.deep.equal([['ScheduleFailed', T0 + 200]])
      expect(failed[0]?._tag === 'ScheduleFailed' && failed[0].error.message).to.equal('connection refused')
      await clock.advance(2_000)
      expect(tries).to.equal(1)
      expect(clock.pending()).to.equal(0)
    })
  })

  it('refuses bad schedules with a Configuration error naming the schedule', () => {
    const refusal = (schedules: unknown): string => {
      try {
        createRuntime({
          store: memoryCheckpoints(),
          workflows: { beat: { workflow: beat, initial: 'Beat' } },
          schedules: schedules as ReadonlyArray<RuntimeSchedule>,
        })
      } catch (e: unknown) {
        expect(e).to.be.instanceOf(CanoFailure)
        expect((e as CanoFailure).error._tag).to.equal('Configuration')
        return (e as CanoFailure).error.message
      }
      throw new Error('accepted')
    }
    expect(refusal([{ ...every200, workflow: 'other' }])).to.equal(
      'createRuntime: schedule "beat": workflow "other" is not registered (known: "beat")',
    )
    expect(refusal([every200, every200])).to.equal(
      'createRuntime: schedule "beat" is declared twice: schedule ids must be unique',
    )
    expect(refusal([{ ...every200, schedule: Schedule.manual() }])).to.match(/a manual schedule has no ticks/)
    expect(refusal([{ ...every200, id: 42 }])).to.match(/^createRuntime: schedules\[0\]: id must be a non-empty string/)
  })
})
