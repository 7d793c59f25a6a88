/**
 * `createRuntime` on the in-memory store: starting (idempotent by id), results, the run table's view,
 * claims and recovery of runs whose lease ended, cancellation, parking and stopping. The fleet
 * behaviour with real processes is in test/integration/runtimeFleet.test.ts.
 */
import { expect } from 'chai'
import * as t from 'io-ts'
import { filter, firstValueFrom, toArray } from 'rxjs'

import {
  CanoFailure,
  createRuntime,
  memoryCheckpoints,
  nonRetryable,
  type RunStore,
  type Runtime,
  type RuntimeEvent,
  task,
  workflow,
  type WorkflowEvent,
} from '../../roots/index.js'
import { type RuntimeEventTap, tapperOf, type TapSlot } from '../../roots/Runtime.js'
import { memoryCheckpointsOver } from '../../src/CheckpointStore.js'
import type { StoredRun } from '../../src/memoryRunTable.js'

type Step = 'A' | 'B' | 'Done'

const quick = workflow<Step>()({
  exits: ['Done'],
  states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
})

/** Resolves when `signal` aborts (a task that runs until it is cancelled). */
const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }))

const runtimes: Runtime[] = []
const make = (store: RunStore, extra: Partial<Parameters<typeof createRuntime>[0]> = {}): Runtime => {
  const rt = createRuntime({
    store,
    workflows: { quick: { workflow: quick, initial: 'A' } },
    pollMs: 20,
    leaseMs: 300,
    ...extra,
  })
  runtimes.push(rt)
  return rt
}
afterEach(async () => {
  await Promise.all(runtimes.map((r) => r.stop({ graceMs: 0 })))
  runtimes.length = 0
})

describe('createRuntime', () => {
  it('start refuses an input nested deeper than its codec can walk with a DecodeFailed, not a RangeError', async () => {
    type Tree = number | ReadonlyArray<Tree>
    const Tree: t.Type<Tree> = t.recursion('Tree', () => t.union([t.number, t.readonlyArray(Tree)]))
    const deepFlow = workflow<'A' | 'Done'>()({
      input: Tree,
      exits: ['Done'],
      states: { A: task(() => 'Done' as const) },
    })
    const rt = make(memoryCheckpoints(), { workflows: { deep: { workflow: deepFlow, initial: 'A' } } })
    let deep: Tree = 1
    for (let i = 0; i < 200_000; i++) deep = [deep]
    let thrown: unknown
    try {
      await rt.start('deep', deep, { id: 'deep-1' })
    } catch (e: unknown) {
      thrown = e
    }
    expect(thrown).to.be.instanceOf(CanoFailure)
    expect((thrown as CanoFailure).error._tag).to.equal('DecodeFailed')
    expect((thrown as CanoFailure).error.message).to.contain('input of run "deep-1"')
    expect(await rt.get('deep-1')).to.equal(undefined)
  })

  it('a run whose input codec takes null runs with null: a null input is an input, not none', async () => {
    const seen: unknown[] = []
    const nullable = workflow<'A' | 'Done'>()({
      input: t.union([t.null, t.type({ n: t.number })]),
      exits: ['Done'],
      states: {
        A: task(({ input }) => {
          seen.push(input)
          return 'Done' as const
        }),
      },
    })
    const rt = make(memoryCheckpoints(), { workflows: { nullable: { workflow: nullable, initial: 'A' } } })
    await rt.start('nullable', null, { id: 'n-1' })
    expect((await rt.result('n-1')).status).to.equal('completed')
    await rt.start('nullable', { n: 2 }, { id: 'n-2' })
    expect((await rt.result('n-2')).status).to.equal('completed')
    expect(seen).to.deep.equal([null, { n: 2 }])
    // no input at all for a codec that needs one: the message says how runtime.start takes it
    let thrown: unknown
    try {
      await rt.start('nullable', undefined, { id: 'n-3' })
    } catch (e: unknown) {
      thrown = e
    }
    expect((thrown as CanoFailure).error.message)
      .to.contain('no input given')
      .and.contain('pass it as runtime.start(name, input)')
    expect(await rt.get('n-3')).to.equal(undefined)
  })

  it('a due run whose record does not decode holds no other run back: it is reported once as RunUnreadable, never executed', async () => {
    const records = new Map<string, StoredRun>()
    const store = memoryCheckpointsOver(new Map(), {}, records)
    // the corrupt run is the oldest due, with room for one run at a time
    for (const id of ['broken', 'waiting']) {
      await store.runs.create({ workflowId: id, workflow: 'quick', version: 0, initial: 'A', input: null })
    }
    const stored = records.get('broken')
    if (stored === undefined) return expect.fail('no record')
    records.set('broken', { ...stored, json: stored.json.replace('"pending"', '"finished"') })
    const rt = make(store, { concurrency: 1 })
    const unreadable: Array<Extract<RuntimeEvent, { _tag: 'RunUnreadable' }>> = []
    const sub = rt.events$.subscribe((e) => {
      if (e._tag === 'RunUnreadable') unreadable.push(e)
    })
    expect((await rt.result('waiting')).status).to.equal('completed')
    await rt.start('quick', null, { id: 'later' })
    expect((await rt.result('later')).status).to.equal('completed')
    expect(unreadable.map((e) => [e.workflowId, e.error._tag])).to.deep.equal([['broken', 'DecodeFailed']])
    expect(unreadable[0]?.error.message).to.contain('RunRecord/status')
    // left for repair: still in the table, and not executed
    expect(records.get('broken')?.json).to.contain('"finished"')
    sub.unsubscribe()
  })

  it('starts a run, executes it and records its outcome', async () => {
    const store = memoryCheckpoints()
    const rt = make(store)
    const { workflowId, created } = await rt.start('quick', null, { id: 'q-1' })
    expect(workflowId).to.equal('q-1')
    expect(created).to.equal(true)
    const outcome = await rt.result('q-1')
    expect(outcome.status).to.equal('completed')
    expect(outcome.record.owner).to.equal(rt.owner)
    expect(await store.loadRun('q-1')).to.deep.equal([])
    expect((await rt.list({ status: ['completed'] })).map((r) => r.workflowId)).to.deep.equal(['q-1'])
  })

  it('a second start with the same id returns the existing run and never executes it twice', async () => {
    let runs = 0
    const counted = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => (runs++, 'B' as const)), B: task(() => 'Done' as const) },
    })
    const rt = make(memoryCheckpoints(), { workflows: { counted: { workflow: counted, initial: 'A' } } })
    const first = await rt.start('counted', null, { id: 'once' })
    const second = await rt.start('counted', null, { id: 'once' })
    expect([first.created, second.created]).to.deep.equal([true, false])
    await rt.result('once')
    const third = await rt.start('counted', null, { id: 'once' })
    expect(third.created).to.equal(false)
    expect(runs).to.equal(1)
  })

  it('gives an internal tap one slot per run execution, the same for every event of it, and new ones when the taps change', async () => {
    let open = (): void => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const gated = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => 'B' as const), B: task(() => gate.then(() => 'Done' as const)) },
    })
    const rt = make(memoryCheckpoints(), { workflows: { gated: { workflow: gated, initial: 'A' } } })
    const tapper = tapperOf(rt)
    if (tapper === undefined) throw new Error('createRuntime made a runtime with no tapper')
    /** Each event a tap saw: its run, what its slot held when it came, and the slot. */
    type Seen = { readonly id: string; readonly held: unknown; readonly slot: TapSlot }
    const recorder = (into: Seen[], onEvent: (e: WorkflowEvent) => void = () => undefined): RuntimeEventTap => ({
      run: (_, e, slot) => {
        into.push({ id: e.workflowId, held: slot.held, slot })
        slot.held = e.workflowId
        onEvent(e)
      },
      notice: () => undefined,
    })
    const first: Seen[] = []
    // both runs wait in B (its task started) before the second tap comes
    const inB = new Set<string>()
    let bothWaiting = (): void => undefined
    const waiting = new Promise<void>((resolve) => (bothWaiting = resolve))
    const untapFirst = tapper(
      recorder(first, (e) => {
        if (e._tag === 'TaskStarted' && e.state === 'B') inB.add(e.workflowId)
        if (inB.size === 2) bothWaiting()
      }),
    )
    await rt.start('gated', null, { id: 'g-1' })
    await rt.start('gated', null, { id: 'g-2' })
    await waiting
    const beforeChange = first.length
    const second: Seen[] = []
    const untapSecond = tapper(recorder(second))
    open()
    await Promise.all([rt.result('g-1'), rt.result('g-2')])
    untapFirst()
    untapSecond()
    for (const id of ['g-1', 'g-2']) {
      const before = first.slice(0, beforeChange).filter((s) => s.id === id)
      const after = first.slice(beforeChange).filter((s) => s.id === id)
      expect(before.length, id).to.be.greaterThan(1)
      expect(after.length, id).to.be.greaterThan(1)
      // one slot for the events before the second tap came, empty at the run's first event only
      expect(new Set(before.map((s) => s.slot)).size).to.equal(1)
      expect(before.map((s) => s.held)).to.deep.equal([undefined, ...before.slice(1).map(() => id)])
      // the taps changed: a new, empty slot, kept for the rest of the run
      expect(new Set(after.map((s) => s.slot)).size).to.equal(1)
      expect(after[0]?.slot).to.not.equal(before[0]?.slot)
      expect(after.map((s) => s.held)).to.deep.equal([undefined, ...after.slice(1).map(() => id)])
      // the second tap's slot is its own
      const theirs = second.filter((s) => s.id === id)
      expect(theirs.length).to.equal(after.length)
      expect(new Set(theirs.map((s) => s.slot)).size).to.equal(1)
      expect(theirs[0]?.slot).to.not.equal(after[0]?.slot)
    }
    // two runs, two slots
    expect(first.find((s) => s.id === 'g-1')?.slot).to.not.equal(first.find((s) => s.id === 'g-2')?.slot)
  })

  it('stop({ graceMs: 0 }) abandons its runs at once and still writes their releases before it resolves', async () => {
    const store = memoryCheckpoints()
    // a store whose releases take a while (a network round trip)
    const slow: RunStore = {
      ...store,
      runs: {
        ...store.runs,
        release: async (...args) => {
          await new Promise((resolve) => setTimeout(resolve, 30))
          return store.runs.release(...args)
        },
      },
    }
    const waiting = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(({ signal }) => aborted(signal)), B: task(() => 'Done' as const) },
    })
    const rt = make(slow, { workflows: { waiting: { workflow: waiting, initial: 'A' } } })
    await rt.start('waiting', null, { id: 'held' })
    await firstValueFrom(rt.events$.pipe(filter((e) => e._tag === 'Run' && e.event._tag === 'TaskStarted')))
    expect((await store.runs.get('held'))?.owner).to.equal(rt.owner)
    await rt.stop({ graceMs: 0 })
    const after = await store.runs.get('held')
    expect([after?.status, after?.owner]).to.deep.equal(['pending', null])
  })

  it('records a failed run with its error', async () => {
    const failing = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => Promise.reject(nonRetryable(new Error('boom')))), B: task(() => 'Done' as const) },
    })
    const rt = make(memoryCheckpoints(), { workflows: { failing: { workflow: failing, initial: 'A' } } })
    await rt.start('failing', null, { id: 'f-1' })
    const outcome = await rt.result('f-1')
    expect(outcome.status).to.equal('failed')
    expect(outcome.error).to.deep.include({ _tag: 'TaskExecution' })
  })

  it('recovers a run whose owner died (its lease ended) exactly once', async () => {
    const store = memoryCheckpoints()
    // a run claimed by a process that is gone: its lease runs out after 50 ms
    await store.runs.create({
      workflowId: 'orphan',
      workflow: 'quick',
      version: 0,
      initial: 'A',
      input: null,
      owner: 'dead-process',
      leaseMs: 50,
    })
    const a = make(store)
    const b = make(store)
    const outcome = await a.result('orphan')
    expect(outcome.status).to.equal('completed')
    expect([a.owner, b.owner]).to.include(outcome.record.owner)
    expect(outcome.record.fence).to.equal(2)
  })

  it('cancels a running run from another runtime: the owner aborts it and it ends cancelled', async () => {
    const store = memoryCheckpoints()
    const blocking = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(({ signal }) => aborted(signal)), B: task(() => 'Done' as const) },
    })
    const owner = make(store, { workflows: { blocking: { workflow: blocking, initial: 'A' } } })
    const other = make(store, { workflows: { blocking: { workflow: blocking, initial: 'A' } }, concurrency: 1 })
    const entered = firstValueFrom(
      owner.events$.pipe(filter((e) => e._tag === 'Run' && e.event._tag === 'TaskStarted')),
    )
    await owner.start('blocking', null, { id: 'c-1' })
    await entered
    expect(await other.cancel('c-1')).to.equal(true)
    const outcome = await other.result('c-1')
    expect(outcome.status).to.equal('cancelled')
    expect(await other.cancel('c-1')).to.equal(false)
  })

  it('cancels a run whose saga step is in flight: the step finishes, is recorded, then compensated (issue 14)', async () => {
    const store = memoryCheckpoints()
    let release = (): void => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const log: string[] = []
    const paying = workflow<'Charge' | 'Ship' | 'Done'>()({
      exits: ['Done'],
      states: ({ saga: s, task: tk }) => ({
        Charge: s({
          output: t.string,
          // lands after the cancel request: the charge happens whatever the run's signal says
          run: async ({ signal }) => {
            await gate
            log.push(`charged (signal aborted: ${String(signal.aborted)})`)
            return ['Ship', 'ch_1'] as const
          },
          compensate: (_ctx, id) => void log.push(`refunded ${id}`),
        }),
        Ship: tk(() => (log.push('shipped'), 'Done' as const)),
      }),
    })
    const rt = make(store, { workflows: { paying: { workflow: paying, initial: 'Charge' } } })
    const entered = firstValueFrom(rt.events$.pipe(filter((e) => e._tag === 'Run' && e.event._tag === 'TaskStarted')))
    await rt.start('paying', null, { id: 'pay-1' })
    await entered
    expect(await rt.cancel('pay-1')).to.equal(true)
    release()
    const outcome = await rt.result('pay-1')
    expect(outcome.status).to.equal('cancelled')
    expect(log).to.deep.equal(['charged (signal aborted: false)', 'refunded ch_1'])
    expect(await store.loadRun('pay-1')).to.deep.equal([])
  })

  it('cancels a pending run: the worker that claims it ends it cancelled without running a state', async () => {
    const store = memoryCheckpoints()
    let ran = false
    const watched = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => ((ran = true), 'B' as const)), B: task(() => 'Done' as const) },
    })
    await store.runs.create({ workflowId: 'p-1', workflow: 'watched', version: 0, initial: 'A', input: null })
    // this runtime does not run `watched`: the run stays pending until a worker that does comes up
    const bystander = make(store)
    expect(await bystander.cancel('p-1')).to.equal(true)
    const worker = make(store, { workflows: { watched: { workflow: watched, initial: 'A' } } })
    expect((await worker.result('p-1')).status).to.equal('cancelled')
    expect(ran).to.equal(false)
  })

  it('resume() runs a failed run again from its log: the failed state runs again, the finished ones do not', async () => {
    const visits: string[] = []
    let broken = true
    const flaky = workflow<Step>()({
      exits: ['Done'],
      states: {
        A: task(() => (visits.push('A'), 'B' as const)),
        B: task(() => {
          visits.push('B')
          return broken ? Promise.reject(nonRetryable(new Error('upstream down'))) : ('Done' as const)
        }),
      },
    })
    const store = memoryCheckpoints()
    const rt = make(store, { workflows: { flaky: { workflow: flaky, initial: 'A' } } })
    await rt.start('flaky', null, { id: 'r-1' })
    expect((await rt.result('r-1')).status).to.equal('failed')
    broken = false
    const claimed = await rt.resume('r-1')
    expect(claimed).to.deep.include({ workflowId: 'r-1', status: 'running', owner: rt.owner, fence: 2, error: null })
    const outcome = await rt.result('r-1')
    expect(outcome.status).to.equal('completed')
    expect(visits).to.deep.equal(['A', 'B', 'B'])
    expect(await store.loadRun('r-1')).to.deep.equal([])
  })

  it('resume() refuses an unknown id, a completed run, a run cancelled before it started and a run whose log was cleared', async () => {
    const store = memoryCheckpoints()
    const rt = make(store)
    const refusal = (p: Promise<unknown>): Promise<{ readonly tag: string; readonly message: string }> =>
      p.then(
        () => expect.fail('resume resolved'),
        (e: unknown) => {
          expect(e).to.be.instanceOf(CanoFailure)
          const error = (e as CanoFailure).error
          return { tag: error._tag, message: error.message }
        },
      )
    expect(await refusal(rt.resume('nobody'))).to.deep.equal({
      tag: 'Configuration',
      message: 'runtime.resume: no run with id "nobody"',
    })
    await rt.start('quick', null, { id: 'done-1' })
    await rt.result('done-1')
    expect((await refusal(rt.resume('done-1'))).tag).to.equal('CheckpointStore')
    await store.runs.create({ workflowId: 'x-1', workflow: 'quick', version: 0, initial: 'A', input: null })
    await rt.cancel('x-1')
    expect((await rt.result('x-1')).status).to.equal('cancelled')
    // cancelled while pending: it never ran, so it has no log to continue from
    expect(await refusal(rt.resume('x-1'))).to.deep.equal({
      tag: 'CheckpointStore',
      message:
        'runtime.resume: run "x-1" ended cancelled with no checkpoint log (cleared by a clean rollback, or never written): nothing to resume',
    })
    // a failed run whose log is gone (a clean rollback clears it)
    const { record } = await store.runs.create({
      workflowId: 'f-2',
      workflow: 'quick',
      version: 0,
      initial: 'A',
      input: null,
      owner: 'someone',
      leaseMs: 60_000,
    })
    await store.runs.finish('f-2', record.fence, { status: 'failed', output: null, error: null })
    expect(await refusal(rt.resume('f-2'))).to.deep.equal({
      tag: 'CheckpointStore',
      message:
        'runtime.resume: run "f-2" ended failed with no checkpoint log (cleared by a clean rollback, or never written): nothing to resume',
    })
  })

  it('resume() runs a cancelled run again from its log, its old cancel request dropped', async () => {
    let attempts = 0
    let waiting: () => void = () => undefined
    const inB = new Promise<void>((resolve) => (waiting = resolve))
    const visits: string[] = []
    const blocking = workflow<Step>()({
      exits: ['Done'],
      states: {
        A: task(() => (visits.push('A'), 'B' as const)),
        // the first execution waits until it is cancelled; the resumed one goes on
        B: task(async ({ signal }) => {
          visits.push('B')
          if (++attempts === 1) {
            waiting()
            await aborted(signal)
          }
          return 'Done' as const
        }),
      },
    })
    const store = memoryCheckpoints()
    const rt = make(store, { workflows: { blocking: { workflow: blocking, initial: 'A' } } })
    await rt.start('blocking', null, { id: 'c-1' })
    await inB
    expect(await rt.cancel('c-1')).to.equal(true)
    expect((await rt.result('c-1')).status).to.equal('cancelled')
    expect(await store.runs.get('c-1')).to.include({ status: 'cancelled', cancelRequested: true })
    const claimed = await rt.resume('c-1')
    expect(claimed).to.include({ status: 'running', owner: rt.owner, cancelRequested: false })
    const outcome = await rt.result('c-1')
    expect(outcome.status).to.equal('completed')
    // A is not run again: the resumed run continues from its log, at B
    expect(visits).to.deep.equal(['A', 'B', 'B'])
  })

  it('workflows is the registry it was given, read-only', () => {
    const rt = make(memoryCheckpoints())
    expect(Object.keys(rt.workflows)).to.deep.equal(['quick'])
    expect(rt.workflows['quick']?.workflow).to.equal(quick)
    expect(rt.workflows['quick']?.initial).to.equal('A')
    expect(Object.isFrozen(rt.workflows)).to.equal(true)
  })

  it('parks a long sleep out of memory and resumes it at its wake-up', async () => {
    type Nap = 'Before' | 'Wait' | 'After' | 'Done'
    const visits: string[] = []
    const napping = workflow<Nap>()({
      exits: ['Done'],
      states: ({ sleep }) => ({
        Before: task(() => (visits.push('Before'), 'Wait' as const)),
        Wait: sleep({ wait: 250, then: 'After' }),
        After: task(() => (visits.push('After'), 'Done' as const)),
      }),
    })
    const store = memoryCheckpoints()
    const rt = make(store, { workflows: { napping: { workflow: napping, initial: 'Before' } }, parkAfterMs: 100 })
    const parked = firstValueFrom(
      rt.events$.pipe(filter((e): e is Extract<RuntimeEvent, { readonly _tag: 'Parked' }> => e._tag === 'Parked')),
    )
    await rt.start('napping', null, { id: 'nap-1' })
    const notice = await parked
    const record = await rt.get('nap-1')
    expect(record?.status).to.equal('parked')
    expect(record?.owner).to.equal(null)
    expect(record?.wakeAt).to.equal(notice.wakeAt)
    const outcome = await rt.result('nap-1')
    expect(outcome.status).to.equal('completed')
    expect(visits).to.deep.equal(['Before', 'After'])
  })

  it('stop() lets runs in flight finish within the grace, then releases the rest for another worker', async () => {
    const store = memoryCheckpoints()
    const slow = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(({ signal }) => aborted(signal)), B: task(() => 'Done' as const) },
    })
    const first = make(store, { workflows: { slow: { workflow: slow, initial: 'A' } } })
    const events: RuntimeEvent[] = []
    const collecting = first.events$.subscribe((e) => events.push(e))
    const started = firstValueFrom(
      first.events$.pipe(filter((e) => e._tag === 'Run' && e.event._tag === 'TaskStarted')),
    )
    await first.start('slow', null, { id: 's-1' })
    await started
    await first.stop({ graceMs: 30 })
    const record = await store.runs.get('s-1')
    expect(record?.status).to.equal('pending')
    expect(record?.owner).to.equal(null)
    expect(events.map((e) => e._tag)).to.include('Released')
    // the state in flight had written its entry row: the next worker resumes it
    expect((await store.loadRun('s-1')).length).to.be.greaterThan(0)
    collecting.unsubscribe()
  })

  it('stop() waits for a claim in flight and releases the runs it brings back before it resolves', async () => {
    const store = memoryCheckpoints()
    // the claim is written at once but answers only when let go: the run is claimed while stop() is asked
    let letGo: () => void = () => undefined
    const held = new Promise<void>((resolve) => (letGo = resolve))
    let claims = 0
    const slowClaims: RunStore = {
      ...store,
      runs: {
        ...store.runs,
        claim: async (owner, options) => {
          const records = await store.runs.claim(owner, options)
          if (records.length > 0) {
            claims++
            await held
          }
          return records
        },
      },
    }
    const rt = make(slowClaims)
    await rt.start('quick', null, { id: 'c-1' })
    while (claims === 0) await new Promise((r) => setTimeout(r, 1))
    expect((await store.runs.get('c-1'))?.status).to.equal('running')
    const stopping = rt.stop({ graceMs: 5_000 })
    let stopped = false
    void stopping.then(() => (stopped = true))
    // stop() has not resolved while the claim is in flight
    await new Promise((r) => setTimeout(r, 20))
    expect(stopped).to.equal(false)
    letGo()
    await stopping
    // the claimed run went back: pending, no owner, never executed (a store closed now loses nothing)
    const record = await store.runs.get('c-1')
    expect(record?.status).to.equal('pending')
    expect(record?.owner).to.equal(null)
    expect(await store.loadRun('c-1')).to.deep.equal([])
  })

  it('events$ carries the events of the runs it executes, tagged with the workflow name', async () => {
    const rt = make(memoryCheckpoints())
    const collected = firstValueFrom(
      rt.events$.pipe(
        filter((e) => e._tag === 'Run' && e.event._tag === 'RunCompleted'),
        toArray(),
      ),
    )
    await rt.start('quick', null, { id: 'ev-1' })
    await rt.result('ev-1')
    await rt.stop()
    const done = await collected
    expect(done).to.have.length(1)
    expect(done[0]).to.deep.include({ workflow: 'quick' })
  })

  it('refuses bad options with a Configuration error naming them', () => {
    const store = memoryCheckpoints()
    const bad = (o: unknown): string => {
      try {
        createRuntime(o as Parameters<typeof createRuntime>[0])
      } catch (e: unknown) {
        expect(e).to.be.instanceOf(CanoFailure)
        return (e as CanoFailure).error.message
      }
      throw new Error('accepted')
    }
    const workflows = { quick: { workflow: quick, initial: 'A' } }
    expect(bad(undefined)).to.match(/options must be an object/)
    expect(bad({ workflows })).to.match(/run table/)
    expect(bad({ store, workflows: {} })).to.match(/at least one workflow/)
    expect(bad({ store, workflows: { x: { workflow: {}, initial: 'A' } } })).to.match(/built with workflow\(\)/)
    expect(bad({ store, workflows: { x: { workflow: quick, initial: 'Nope' } } })).to.match(/initial "Nope"/)
    for (const concurrency of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3'])
      expect(bad({ store, workflows, concurrency })).to.match(/concurrency must be a positive integer/)
    for (const leaseMs of [0, -5, Number.NaN, 1.5, 1e12]) expect(bad({ store, workflows, leaseMs })).to.match(/leaseMs/)
    // the run table's own bounds: a value accepted here is never refused by a claim later
    expect(bad({ store, workflows, concurrency: 20_000 })).to.match(
      /concurrency must be a positive integer up to 10000/,
    )
    expect(bad({ store, workflows, pollMs: 2 ** 31 })).to.match(
      /pollMs must be a positive integer number of milliseconds/,
    )
    expect(bad({ store, workflows, owner: '' })).to.match(/owner must be a non-empty string/)
    const other = workflow<Step>()({
      exits: ['Done'],
      checkpoints: memoryCheckpoints(),
      states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
    })
    expect(bad({ store, workflows: { other: { workflow: other, initial: 'A' } } })).to.match(
      /checkpoint store of its own/,
    )
  })

  it('start refuses an unknown workflow name and a bad id, writing nothing', async () => {
    const store = memoryCheckpoints()
    const rt = make(store)
    await rt.start('nope').then(
      () => expect.fail('accepted'),
      (e: unknown) => expect((e as CanoFailure).error.message).to.match(/no workflow named "nope" \(known: quick\)/),
    )
    await rt.start('quick', null, { id: '' }).then(
      () => expect.fail('accepted'),
      (e: unknown) => expect((e as CanoFailure).error._tag).to.equal('Configuration'),
    )
    expect(await store.runs.list()).to.deep.equal([])
  })
})

describe('runs outside a runtime, on a store with a run table', () => {
  it('resume is refused with RunOwned while another owner holds a live lease', async () => {
    const store = memoryCheckpoints()
    const flow = workflow<Step>()({
      exits: ['Done'],
      checkpoints: store,
      states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
    })
    await store.runs.create({
      workflowId: 'held',
      workflow: '',
      version: 0,
      initial: 'A',
      input: null,
      owner: 'someone-else',
      leaseMs: 60_000,
    })
    await store.append(
      { workflowId: 'held', seq: 0, kind: 'StateEntry', state: 'A', taskId: 'A', payload: null, version: 0, at: 0 },
      1,
    )
    const refused = await flow.resume('held').then(
      () => undefined,
      (e: unknown) => (e as CanoFailure).error,
    )
    expect(refused?._tag).to.equal('RunOwned')
    expect(refused?.message).to.include('someone-else')
  })

  it('refuses a bad leaseMs run option before anything is written', async () => {
    const store = memoryCheckpoints()
    const flow = workflow<Step>()({
      exits: ['Done'],
      checkpoints: store,
      states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
    })
    for (const leaseMs of [0, -1, 1.5, Number.NaN, 2 ** 31, '100']) {
      const refused = await flow.orchestrate('A', { workflowId: 'l-1', leaseMs: leaseMs as number }).then(
        () => undefined,
        (e: unknown) => (e as CanoFailure).error,
      )
      expect(refused?.message, String(leaseMs)).to.match(
        /^run option leaseMs must be an integer in \[1, 2147483647\], got /,
      )
    }
    expect(await store.runs.list()).to.deep.equal([])
  })

  it('orchestrate records the run and its outcome', async () => {
    const store = memoryCheckpoints()
    const flow = workflow<Step>()({
      exits: ['Done'],
      checkpoints: store,
      states: { A: task(() => 'B' as const), B: task(() => 'Done' as const) },
    })
    expect(await flow.orchestrate('A', { workflowId: 'o-1' })).to.equal('Done')
    const record = await store.runs.get('o-1')
    expect(record?.status).to.equal('completed')
    expect(await store.loadRun('o-1')).to.deep.equal([])
  })
})
