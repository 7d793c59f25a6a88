/**
 * The inspector's compact timeline (roots/internal/inspector/timeline.ts): every event it is given comes
 * back equal, keys in the same order (what JSON and the page see), whether it was stored as numbers or
 * kept as it was; and, run end to end through a runtime, the timeline of every kind of state equals the
 * events the runtime emitted.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import * as t from 'io-ts'
import { of } from 'rxjs'

import {
  createRuntime,
  JoinStrategy,
  memoryCheckpoints,
  PollOutcome,
  RetryMode,
  StepOutcome,
  WindowSignal,
  workflow,
} from '../../roots/index.js'
import { BLOCK_EVENTS, Timeline, TimelineArena } from '../../roots/internal/inspector/timeline.js'
import { RunTracker } from '../../roots/internal/inspector/tracker.js'
import { tapperOf } from '../../roots/Runtime.js'
import { taskExecutionError } from '../../src/CanoError.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'

const W = 'run-1'
const SAMPLES: ReadonlyArray<WorkflowEvent> = [
  { _tag: 'RunStarted', workflowId: W, at: 1_796_425_681_456, initial: 'A' },
  { _tag: 'StateEntered', workflowId: W, at: 1_796_425_681_456.5, state: 'A', transition: 0 },
  { _tag: 'CheckpointAppended', workflowId: W, at: 2, seq: 0, kind: 'StateEntry', state: 'A', latencyMs: 1.25 },
  { _tag: 'TaskStarted', workflowId: W, at: 3, state: 'A', taskId: 'A' },
  { _tag: 'TaskStarted', workflowId: W, at: 3, state: 'Fan', taskId: 'Fan[2]', branch: 2, branches: 3 },
  { _tag: 'RetryScheduled', workflowId: W, at: 4, state: 'A', taskId: 'A', attempt: 1, delayMs: 100 },
  { _tag: 'TimerArmed', workflowId: W, at: 5, state: 'Nap', taskId: 'Nap', wakeAt: 1_796_425_781_456 },
  { _tag: 'TaskSucceeded', workflowId: W, at: 6, state: 'A', taskId: 'A', attempts: 2, next: 'Done' },
  { _tag: 'RunCompleted', workflowId: W, at: 7, state: 'Done', transitions: 2 },
  // kept as they are: optional fields set, payloads, errors, another run's id, odd numbers
  { _tag: 'RunCompleted', workflowId: W, at: 7, state: 'Done', transitions: 2, output: { receipt: 'r-1' } },
  { _tag: 'CheckpointAppended', workflowId: W, at: 2, seq: 1, kind: 'StateEntry', state: 'A' },
  { _tag: 'RetryScheduled', workflowId: W, at: 4, state: 'Fan', taskId: 'Fan[0]', attempt: 1, delayMs: 1, branch: 0 },
  { _tag: 'TaskStarted', workflowId: 'another', at: 3, state: 'A', taskId: 'A' },
  { _tag: 'Progress', workflowId: W, at: 8, state: 'A', taskId: 'A', data: { done: 1, note: '<script>' } },
  {
    _tag: 'AttemptFailed',
    workflowId: W,
    at: 9,
    state: 'A',
    taskId: 'A',
    attempt: 1,
    error: taskExecutionError('boom'),
  },
  { _tag: 'StateEntered', workflowId: W, at: Number.NaN, state: '"quoted" <b>', transition: -0 },
]

describe('inspector timeline', () => {
  it('gives back every event equal and with its keys in the same order, numbered from 0', () => {
    const timeline = new Timeline(W, new TimelineArena())
    for (const e of SAMPLES) timeline.push(e)
    expect(timeline.length).to.equal(SAMPLES.length)
    expect(timeline.end).to.equal(SAMPLES.length)
    SAMPLES.forEach((e, n) => {
      const back = timeline.get(n)
      expect(back, `event ${String(n)} (${e._tag})`).to.deep.equal(e)
      expect(JSON.stringify(back)).to.equal(JSON.stringify(e))
      expect(Object.keys(back ?? {})).to.deep.equal(Object.keys(e))
    })
    expect(timeline.get(-1)).to.equal(undefined)
    expect(timeline.get(SAMPLES.length)).to.equal(undefined)
    expect(JSON.stringify(timeline.slice())).to.equal(JSON.stringify(SAMPLES))
  })

  it('gives back numbers of every size exactly: small integers, large ones, fractions, negative zero', () => {
    // a rebuilt event's whole numbers in the small-integer range are made small integers again (what the
    // engine's events hold); everything else must come back unchanged
    const events: WorkflowEvent[] = [
      { _tag: 'StateEntered', workflowId: W, at: 1, state: 'A', transition: 2 ** 30 - 1 },
      { _tag: 'StateEntered', workflowId: W, at: 2, state: 'A', transition: 2 ** 30 },
      { _tag: 'StateEntered', workflowId: W, at: 3, state: 'A', transition: -(2 ** 30) },
      { _tag: 'StateEntered', workflowId: W, at: 4, state: 'A', transition: -(2 ** 30) - 1 },
      {
        _tag: 'CheckpointAppended',
        workflowId: W,
        at: 5,
        seq: 2 ** 40,
        kind: 'StateEntry',
        state: 'A',
        latencyMs: 0.25,
      },
      { _tag: 'CheckpointAppended', workflowId: W, at: 6, seq: 0, kind: 'StateEntry', state: 'A', latencyMs: -0 },
      { _tag: 'RetryScheduled', workflowId: W, at: 7, state: 'A', taskId: 'A', attempt: 3, delayMs: 1.5e300 },
      { _tag: 'RunCompleted', workflowId: W, at: 8, state: 'A', transitions: Number.MAX_SAFE_INTEGER },
    ]
    const timeline = new Timeline(W, new TimelineArena())
    for (const e of events) timeline.push(e)
    const back = timeline.slice()
    expect(back).to.deep.equal(events)
    const latency = back[5]
    expect(latency?._tag === 'CheckpointAppended' && Object.is(latency.latencyMs, -0)).to.equal(true)
  })

  it('drops its oldest events and keeps the numbers of the others', () => {
    const arena = new TimelineArena()
    const timeline = new Timeline(W, arena)
    for (let round = 0; round < 3; round++) for (const e of SAMPLES) timeline.push(e)
    timeline.drop(SAMPLES.length + 3)
    expect(timeline.first).to.equal(SAMPLES.length + 3)
    expect(timeline.length).to.equal(2 * SAMPLES.length - 3)
    expect(timeline.get(SAMPLES.length + 2)).to.equal(undefined)
    expect(JSON.stringify(timeline.slice())).to.equal(JSON.stringify([...SAMPLES.slice(3), ...SAMPLES]))
    expect(JSON.stringify(timeline.slice(2 * SAMPLES.length))).to.equal(JSON.stringify(SAMPLES))
    timeline.drop(10 * SAMPLES.length)
    expect(timeline.length).to.equal(0)
    expect(timeline.first).to.equal(3 * SAMPLES.length)
    expect(timeline.slice()).to.deep.equal([])
    // names are shared, not repeated per event
    expect(arena.strings.size).to.be.below(20)
    timeline.drop(0)
    timeline.drop(-1)
    expect(timeline.first).to.equal(3 * SAMPLES.length)
  })

  it('keeps an event as it is when a name it holds has an id too large to pack, and still gives it back', () => {
    const arena = new TimelineArena()
    const strings = arena.strings
    // a million distinct names (ids 0 .. 2^20 - 1) fill the range a head packs for its first id
    for (let i = 0; i < 2 ** 20; i++) strings.id(`n${String(i)}`)
    const timeline = new Timeline(W, arena)
    const late: WorkflowEvent = { _tag: 'StateEntered', workflowId: W, at: 1, state: 'late', transition: 3 }
    const known: WorkflowEvent = { _tag: 'StateEntered', workflowId: W, at: 2, state: 'n7', transition: 4 }
    const task: WorkflowEvent = { _tag: 'TaskStarted', workflowId: W, at: 3, state: 'n8', taskId: 'late-task' }
    for (const e of [late, known, task]) timeline.push(e)
    expect(timeline.slice()).to.deep.equal([late, known, task])
    // the late names were kept as the events themselves: the same objects come back
    expect(timeline.get(0)).to.equal(late)
    expect(timeline.get(1)).to.not.equal(known)
    expect(timeline.get(2)).to.deep.equal(task)
  })

  it('shares one arena between timelines: pushes, drops and releases in any order lose or mix no event', () => {
    type Op =
      | { readonly _tag: 'push'; readonly t: number; readonly e: number; readonly times: number }
      | { readonly _tag: 'drop'; readonly t: number; readonly k: number }
      | { readonly _tag: 'release'; readonly t: number }
    const T = 4
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          _tag: fc.constant('push' as const),
          t: fc.nat({ max: T - 1 }),
          e: fc.nat({ max: SAMPLES.length - 1 }),
          times: fc.integer({ min: 1, max: 3 * BLOCK_EVENTS }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          _tag: fc.constant('drop' as const),
          t: fc.nat({ max: T - 1 }),
          k: fc.integer({ min: -1, max: 4 * BLOCK_EVENTS }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant('release' as const), t: fc.nat({ max: T - 1 }) }) },
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const arena = new TimelineArena()
        const timelines = Array.from({ length: T }, () => new Timeline(W, arena))
        // the model: each timeline's events held, and the number of its oldest
        const model = Array.from({ length: T }, () => ({ first: 0, events: [] as WorkflowEvent[] }))
        for (const o of ops) {
          const timeline = timelines[o.t] as Timeline
          const m = model[o.t] as { first: number; events: WorkflowEvent[] }
          if (o._tag === 'push') {
            for (let i = 0; i < o.times; i++) {
              const e = SAMPLES[(o.e + i) % SAMPLES.length] as WorkflowEvent
              timeline.push(e)
              m.events.push(e)
            }
          } else if (o._tag === 'drop') {
            timeline.drop(o.k)
            const k = Math.max(0, Math.min(o.k, m.events.length))
            m.events.splice(0, k)
            m.first += k
          } else {
            timeline.release()
            m.first += m.events.length
            m.events = []
          }
          timelines.forEach((tl, i) => {
            const mi = model[i] as { first: number; events: WorkflowEvent[] }
            expect(tl.first).to.equal(mi.first)
            expect(tl.end).to.equal(mi.first + mi.events.length)
            expect(JSON.stringify(tl.slice())).to.equal(JSON.stringify(mi.events))
          })
          // a timeline holds at most one block more than its events fill
          const bound = model.reduce((n, mi) => n + Math.ceil(mi.events.length / BLOCK_EVENTS) + 1, 0)
          expect(arena.inUse).to.be.at.most(bound)
        }
        for (const tl of timelines) tl.release()
        expect(arena.inUse).to.equal(0)
      }),
      { numRuns: 200 },
    )
  })

  it('gives back the state each task went to when a state goes on to a different one each time, across runs', () => {
    // the arena remembers, per state, where its task went last: a different next (or another run's) must not reuse it
    const arena = new TimelineArena()
    const runs = [new Timeline('a', arena), new Timeline('b', arena)]
    const pushed: WorkflowEvent[][] = [[], []]
    const nexts = ['Left', 'Right', 'Right', 'Done', 'Left', 'Mid-' + 'dle', 'Middle']
    nexts.forEach((next, i) => {
      const r = i % 2
      const e: WorkflowEvent = {
        _tag: 'TaskSucceeded',
        workflowId: r === 0 ? 'a' : 'b',
        at: i,
        state: 'Route',
        taskId: 'Route',
        attempts: 1,
        next,
      }
      const entered: WorkflowEvent = {
        _tag: 'StateEntered',
        workflowId: r === 0 ? 'a' : 'b',
        at: i,
        state: next,
        transition: i,
      }
      runs[r]?.push(e)
      runs[r]?.push(entered)
      pushed[r]?.push(e, entered)
    })
    expect(runs[0]?.slice()).to.deep.equal(pushed[0])
    expect(runs[1]?.slice()).to.deep.equal(pushed[1])
  })

  it('says when the last event came, or the time set after it, whichever came last, blocks dropped or not', () => {
    const arena = new TimelineArena()
    const run = new Timeline('a', arena, 5)
    expect(run.at).to.equal(5)
    run.push({ _tag: 'StateEntered', workflowId: 'a', at: 7, state: 'S', transition: 0 })
    expect(run.at).to.equal(7)
    // an event kept as it is
    run.push({ _tag: 'Progress', workflowId: 'a', at: 8.5, state: 'S', taskId: 'S', data: { done: 1 } })
    expect(run.at).to.equal(8.5)
    run.at = 3 // set after the last event (a runtime's notice): it is the last, earlier or not
    expect(run.at).to.equal(3)
    for (let i = 0; i < 2 * BLOCK_EVENTS; i++)
      run.push({ _tag: 'StateEntered', workflowId: 'a', at: 100 + i, state: 'S', transition: i })
    expect(run.at).to.equal(100 + 2 * BLOCK_EVENTS - 1)
    run.drop(run.length) // every block given back
    const other = new Timeline('b', arena)
    for (let i = 0; i < 3 * BLOCK_EVENTS; i++)
      other.push({ _tag: 'StateEntered', workflowId: 'b', at: -1, state: 'T', transition: i })
    expect(run.at).to.equal(100 + 2 * BLOCK_EVENTS - 1)
    run.release()
    expect(run.at).to.equal(100 + 2 * BLOCK_EVENTS - 1)
    run.push({ _tag: 'StateEntered', workflowId: 'a', at: 500, state: 'S', transition: 0 })
    expect(run.at).to.equal(500)
  })

  it("gives a forgotten run's blocks back to the arena, which hands them out again", () => {
    const arena = new TimelineArena()
    const a = new Timeline('a', arena)
    for (let i = 0; i < 3 * BLOCK_EVENTS; i++)
      a.push({ _tag: 'StateEntered', workflowId: 'a', at: i, state: 'S', transition: i })
    expect(arena.inUse).to.equal(3)
    a.release()
    expect(arena.inUse).to.equal(0)
    const b = new Timeline('b', arena)
    for (let i = 0; i < 3 * BLOCK_EVENTS; i++)
      b.push({ _tag: 'StateEntered', workflowId: 'b', at: i, state: 'T', transition: i })
    // the same blocks were handed out again, and a's numbers did not leak into b
    expect(arena.pageCount).to.equal(1)
    expect(b.get(0)).to.deep.equal({ _tag: 'StateEntered', workflowId: 'b', at: 0, state: 'T', transition: 0 })
    expect(a.length).to.equal(0)
    expect(a.end).to.equal(3 * BLOCK_EVENTS)
    expect(a.get(0)).to.equal(undefined)
  })

  it('holds exactly what the runtime emitted, for every kind of state', async () => {
    type K = 'Task' | 'Route' | 'Poll' | 'Fan' | 'Scan' | 'Batch' | 'Nap' | 'Listen' | 'Pay' | 'Done'
    let polls = 0
    let failures = 0
    const flow = workflow<K>()({
      exits: ['Done'],
      states: ({ task, router, poll, split, stepped, batch, sleep, stream, saga }) => ({
        Task: task(() => (failures++ < 1 ? Promise.reject(new Error('once')) : 'Route'), {
          retry: RetryMode.fixed(2, 1),
        }),
        Route: router(() => 'Poll'),
        Poll: poll(() => (++polls >= 2 ? PollOutcome.ready('Fan') : PollOutcome.pending(1))),
        Fan: split([() => 1, () => Promise.resolve(2), () => 3], { strategy: JoinStrategy.all(), join: 'Scan' }),
        Scan: stepped({
          cursor: t.number,
          step: (_ctx, c) => (c === 2 ? StepOutcome.done('Batch') : StepOutcome.more((c ?? 0) + 1)),
        }),
        Batch: batch({ load: () => [1, 2, 3], processItem: (n: number) => n * 2, finish: () => 'Nap' }),
        Nap: sleep({ wait: 1, then: 'Listen' }),
        Listen: stream({
          source: () => of(1, 2),
          window: { count: 1 },
          onWindow: () => WindowSignal.continue(),
          onClose: () => 'Pay',
        }),
        Pay: saga({ output: t.string, run: () => ['Done', 'receipt-1'] as const, compensate: () => undefined }),
      }),
    })
    const runtime = createRuntime({
      store: memoryCheckpoints(),
      workflows: { all: { workflow: flow, initial: 'Task' } },
    })
    const tapper = tapperOf(runtime)
    if (tapper === undefined) return expect.fail('createRuntime gives a tapper')
    const emitted: WorkflowEvent[] = []
    const untap = tapper({ run: (_, e) => emitted.push(e), notice: () => undefined })
    // what the tracker says changed what a runs list shows (a notice, a start, a state, an end), per kind
    const listed = new Map<string, boolean>()
    const tracker = new RunTracker(tapper, Date.now, (_, e, changed) => {
      const kind = e?._tag ?? 'notice'
      if (listed.has(kind) && listed.get(kind) !== changed) expect.fail(`${kind} both listed and not`)
      listed.set(kind, changed)
    })
    try {
      await runtime.start('all', null, { id: 'everything' })
      const result = await runtime.result('everything')
      expect(result.status).to.equal('completed')
      const tracked = tracker.get('everything')
      if (tracked === undefined) return expect.fail('not tracked')
      const tags = new Set(emitted.map((e) => e._tag))
      for (const tag of ['RetryScheduled', 'TimerArmed', 'SplitBranchSettled', 'CursorAdvanced', 'WindowFlushed'])
        expect(tags.has(tag as WorkflowEvent['_tag']), tag).to.equal(true)
      expect(tracked.timeline.first).to.equal(0)
      expect(JSON.stringify(tracked.timeline.slice())).to.equal(JSON.stringify(emitted))
      const kinds = (changed: boolean): string[] => [...listed].filter(([, c]) => c === changed).map(([k]) => k)
      expect(kinds(true).sort()).to.deep.equal(['RunCompleted', 'RunStarted', 'StateEntered', 'notice'])
      // every other kind this run emitted reached the listener, as a change of its timeline only
      expect(kinds(false).sort()).to.deep.equal(
        [...tags].filter((tag) => !['RunCompleted', 'RunStarted', 'StateEntered'].includes(tag)).sort(),
      )
    } finally {
      untap()
      tracker.close()
      await runtime.stop()
    }
  })
})
