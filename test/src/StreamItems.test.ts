/**
 * `streamItems` (issue 14, item 5): per-item processing with an application cursor, committed with each
 * window and handed back on resume; the per-item timeout; the per-item error policies; the drain on
 * cancellation and on the total timeout (partial window flushed and committed, bounded by
 * `drainTimeoutMs`); `flushOnCancel` for the window model; the bad-input pass. Every run is in virtual
 * time (a `VirtualTimeScheduler` passed as the run's scheduler), with the in-memory checkpoint store.
 */
import { expect } from 'chai'
import * as t from 'io-ts'
import { interval, map, NEVER, type Observable, take, timer } from 'rxjs'

import { CheckpointRow } from '../../codecs/CheckpointRow.js'
import { workflow } from '../../roots/Workflow.js'
import { configurationError, nonRetryable, taskExecutionError } from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { resumePoint, stateEntry } from '../../src/Resume.js'
import { RetryMode } from '../../src/RetryMode.js'
import { type CloseReason, stream, WindowSignal } from '../../src/Stream.js'
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  ItemErrorPolicy,
  streamItems,
  type StreamItemsOptions,
  validateStreamItems,
} from '../../src/StreamItems.js'
import type { NoResources, ResourceRecord } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { createVirtualClock, type VirtualClock } from '../helpers/virtualTime.js'

type Step = 'Ingest' | 'Done'

/** Records every appended row. */
const recording = (inner: CheckpointStore = memoryCheckpoints()) => {
  const appended: CheckpointRow[] = []
  const store: CheckpointStore = {
    ...inner,
    append: (row) => {
      appended.push(row)
      return inner.append(row)
    },
  }
  const windows = () => appended.filter((r) => r.kind === 'StreamWindow').map((r) => r.payload)
  return { store, inner, windows }
}

/** Subscribes, advances `ms` of virtual time, unsubscribes; the events. */
const runOn = async (clock: VirtualClock, run$: Observable<WorkflowEvent<Step>>, ms: number) => {
  const events: WorkflowEvent<Step>[] = []
  let ended = false
  const sub = run$.subscribe({ next: (e) => events.push(e), complete: () => (ended = true) })
  await clock.advance(ms)
  sub.unsubscribe()
  return { events, ended }
}

const last = (events: ReadonlyArray<WorkflowEvent<Step>>) => events.at(-1) as WorkflowEvent<Step>
const flushedAt = (events: ReadonlyArray<WorkflowEvent<Step>>) =>
  events.flatMap((e) =>
    e._tag === 'WindowFlushed'
      ? [{ at: e.at, window: e.window, items: e.items, cursor: e.cursor, skipped: e.skipped }]
      : [],
  )

/** A flow with one per-item stream state over `options` (plus `store`, `totalTimeoutMs`). */
const flowOf = <T, O>(
  options: StreamItemsOptions<Step, NoResources, T, O, number>,
  store?: CheckpointStore,
  totalTimeoutMs?: number,
) =>
  workflow<Step>()({
    ...(store === undefined ? {} : { checkpoints: store }),
    ...(totalTimeoutMs === undefined ? {} : { totalTimeoutMs }),
    exits: ['Done'],
    states: { Ingest: streamItems(options) },
  })

/** Items 0, 1, 2, … at 10, 20, 30, … after `after` (the committed cursor; `undefined`: from 0). */
const ticks = (clock: VirtualClock, n: number) => (after: number | undefined) =>
  interval(10, clock).pipe(
    map((i) => i + (after === undefined ? 0 : after + 1)),
    take(n - (after === undefined ? 0 : after + 1)),
  )

describe('streamItems', () => {
  describe('constructors', () => {
    it('defaults: one item per window, failFast, no item timeout, a 5 s drain budget, no retries', () => {
      const h = streamItems({
        cursor: t.number,
        source: () => NEVER,
        onItem: (n: number) => ({ output: n, cursor: n }),
        onClose: () => 'Done' as const,
      })
      expect(h).to.deep.include({
        _tag: 'Stream',
        model: 'Items',
        window: { count: 1 },
        onWindow: undefined,
        onItemError: { _tag: 'FailFast' },
        itemTimeoutMs: undefined,
        drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
        config: { retry: RetryMode.none() },
      })
    })

    it('ItemErrorPolicy builds failFast, skip and retry', () => {
      expect([
        ItemErrorPolicy.failFast(),
        ItemErrorPolicy.skip(),
        ItemErrorPolicy.skip({ maxConsecutive: 2 }),
        ItemErrorPolicy.retry(RetryMode.fixed(2, 5)),
        ItemErrorPolicy.retry(RetryMode.none(), { exhausted: 'Skip' }),
      ]).to.deep.equal([
        { _tag: 'FailFast' },
        { _tag: 'Skip', maxConsecutive: undefined },
        { _tag: 'Skip', maxConsecutive: 2 },
        { _tag: 'Retry', retry: RetryMode.fixed(2, 5), exhausted: 'Fail' },
        { _tag: 'Retry', retry: RetryMode.none(), exhausted: 'Skip' },
      ])
    })
  })

  describe('processing, windows and the committed cursor', () => {
    it('processes items one at a time, flushes windows of outputs and commits the last cursor of each (virtual time)', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const seen: Array<[ReadonlyArray<number>, number | undefined, number]> = []
      const opened: Array<number | undefined> = []
      const flow = flowOf(
        {
          cursor: t.number,
          source: (_ctx, after) => {
            opened.push(after)
            return ticks(clock, 5)(after)
          },
          onItem: (n) => ({ output: n * 10, cursor: n }),
          window: { count: 2 },
          onWindow: (outputs, { cursor, window }) => {
            seen.push([outputs, cursor, window])
            return WindowSignal.continue()
          },
          onClose: (reason) => (reason === 'Exhausted' ? 'Done' : 'Ingest'),
        },
        store,
      )
      const { events, ended } = await runOn(clock, flow.run$('Ingest', { workflowId: 's-1', scheduler: clock }), 100)
      expect(ended).to.equal(true)
      expect(opened).to.deep.equal([undefined])
      expect(seen).to.deep.equal([
        [[0, 10], 1, 1],
        [[20, 30], 3, 2],
        [[40], 4, 3],
      ])
      expect(windows()).to.deep.equal([
        { windows: 1, items: 2, itemCursor: 1 },
        { windows: 2, items: 4, itemCursor: 3 },
        { windows: 3, items: 5, itemCursor: 4 },
      ])
      expect(flushedAt(events)).to.deep.equal([
        { at: 20, window: 1, items: 2, cursor: 1, skipped: undefined },
        { at: 40, window: 2, items: 2, cursor: 3, skipped: undefined },
        { at: 50, window: 3, items: 1, cursor: 4, skipped: undefined },
      ])
      expect(last(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
    })

    it('a time window flushes what was processed within timeMs; an AsyncIterable source is pulled one item at a time', async () => {
      const clock = createVirtualClock()
      const pulled: number[] = []
      async function* lines() {
        for (let i = 0; i < 4; i++) {
          pulled.push(i)
          yield i
        }
      }
      const seen: number[][] = []
      const flow = flowOf({
        cursor: t.number,
        source: () => lines(),
        // each item takes 4 ms of virtual time
        onItem: (n) => timer(4, clock).pipe(map(() => ({ output: n, cursor: n }))),
        window: { timeMs: 10 },
        onWindow: (outputs) => {
          seen.push([...outputs])
          return WindowSignal.continue()
        },
        onClose: () => 'Done',
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 's-2', scheduler: clock }), 100)
      // items finish at 4, 8, 12, 16: the window of 10 ms flushes [0, 1] once item 2 (in flight at 10) is done
      expect(seen).to.deep.equal([[0, 1, 2], [3]])
      expect(pulled).to.deep.equal([0, 1, 2, 3])
      expect(last(events)).to.deep.include({ _tag: 'RunCompleted' })
    })

    it('a Stop answer moves to its state without committing the window', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const flow = workflow<'Ingest' | 'Report' | 'Done'>()({
        checkpoints: store,
        exits: ['Done', 'Report'],
        states: {
          Ingest: streamItems({
            cursor: t.number,
            source: () => interval(10, clock),
            onItem: (n: number) => ({ output: n, cursor: n }),
            window: { count: 2 },
            onWindow: (_o, { window }) =>
              window === 2 ? WindowSignal.stop('Report' as const) : WindowSignal.continue(),
            onClose: () => 'Done' as const,
          }),
        },
      })
      const events: WorkflowEvent[] = []
      const sub = flow.run$('Ingest', { workflowId: 's-3', scheduler: clock }).subscribe((e) => events.push(e))
      await clock.advance(100)
      sub.unsubscribe()
      expect(events.at(-1)).to.deep.include({ _tag: 'RunCompleted', state: 'Report', at: 40 })
      expect(windows()).to.deep.equal([{ windows: 1, items: 2, itemCursor: 1 }])
    })
  })

  describe('the per-item timeout', () => {
    it('bounds each onItem call (its signal aborts) and the timeout is an item error under the policy (virtual time)', async () => {
      const clock = createVirtualClock()
      const aborted: Array<[number, boolean]> = []
      const flow = flowOf({
        cursor: t.number,
        source: () => ticks(clock, 3)(undefined),
        // item 1 hangs for 100 ms; the others take 2 ms
        onItem: (n, { signal }) =>
          timer(n === 1 ? 100 : 2, clock).pipe(
            map(() => {
              aborted.push([n, signal.aborted])
              return { output: n, cursor: n }
            }),
          ),
        itemTimeoutMs: 5,
        onItemError: ItemErrorPolicy.skip(),
        window: { count: 1 },
        onClose: () => 'Done',
      })
      let item1Signal: AbortSignal | undefined
      const probe = flowOf({
        cursor: t.number,
        source: () => ticks(clock, 2)(undefined),
        onItem: (n, { signal }) => {
          if (n === 1) item1Signal = signal
          return n === 1 ? NEVER : { output: n, cursor: n }
        },
        itemTimeoutMs: 5,
        onItemError: ItemErrorPolicy.skip(),
        onClose: () => 'Done',
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 't-1', scheduler: clock }), 200)
      // item 1 (at 20) timed out at 25 and was skipped; the stream is not bounded as a whole
      expect(flushedAt(events)).to.deep.equal([
        { at: 12, window: 1, items: 1, cursor: 0, skipped: undefined },
        { at: 32, window: 2, items: 1, cursor: 2, skipped: 1 },
      ])
      expect(aborted).to.deep.equal([
        [0, false],
        [2, false],
      ])
      expect(last(events)).to.deep.include({ _tag: 'RunCompleted', at: 32 })
      const second = await runOn(clock, probe.run$('Ingest', { workflowId: 't-2', scheduler: clock }), 100)
      expect(item1Signal?.aborted).to.equal(true)
      expect(last(second.events)).to.deep.include({ _tag: 'RunCompleted' })
    })

    it('under failFast the timeout fails the state with a Timeout error naming itemTimeoutMs', async () => {
      const clock = createVirtualClock()
      const flow = flowOf({
        cursor: t.number,
        source: () => ticks(clock, 3)(undefined),
        onItem: () => NEVER,
        itemTimeoutMs: 7,
        onClose: () => 'Done',
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 't-3', scheduler: clock }), 100)
      const end = last(events)
      expect(end).to.deep.include({ _tag: 'RunFailed', at: 17 })
      expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.include({ _tag: 'Timeout', timeoutMs: 7 })
    })
  })

  describe('the per-item error policy', () => {
    const failing = (clock: VirtualClock, bad: (n: number, attempt: number) => boolean, calls: string[]) =>
      ({
        cursor: t.number,
        source: () => ticks(clock, 4)(undefined),
        onItem: (n: number, { attempt }: { readonly attempt: number }) => {
          calls.push(`${n}@${clock.now()}#${attempt}`)
          if (bad(n, attempt)) throw new Error(`bad ${n}`)
          return { output: n, cursor: n }
        },
        window: { count: 10 },
        onClose: () => 'Done' as const,
      }) satisfies StreamItemsOptions<Step, NoResources, number, number, number>

    it('failFast fails the state with the first item error', async () => {
      const clock = createVirtualClock()
      const calls: string[] = []
      const flow = flowOf({ ...failing(clock, (n) => n === 1, calls) })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 'p-1', scheduler: clock }), 100)
      expect(calls).to.deep.equal(['0@10#1', '1@20#1'])
      expect(last(events)).to.deep.include({ _tag: 'RunFailed', at: 20 })
    })

    it('skip drops bad items (not committed), and fails at consecutive error maxConsecutive + 1', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const calls: string[] = []
      const tolerant = flowOf({ ...failing(clock, (n) => n === 3, calls), onItemError: ItemErrorPolicy.skip() }, store)
      const { events } = await runOn(clock, tolerant.run$('Ingest', { workflowId: 'p-2', scheduler: clock }), 100)
      expect(last(events)).to.deep.include({ _tag: 'RunCompleted', at: 40 })
      // the skipped last item does not advance the cursor
      expect(windows()).to.deep.equal([{ windows: 1, items: 3, itemCursor: 2 }])
      const strict = flowOf({
        ...failing(clock, (n) => n >= 1, []),
        onItemError: ItemErrorPolicy.skip({ maxConsecutive: 1 }),
      })
      const second = await runOn(clock, strict.run$('Ingest', { workflowId: 'p-3', scheduler: clock }), 100)
      expect(last(second.events)).to.deep.include({ _tag: 'RunFailed' })
      expect(last(second.events).at - 100).to.equal(30) // item 2 is the second consecutive error
    })

    it('retry calls onItem again after the RetryMode delays, then fails or skips when they are used up', async () => {
      const clock = createVirtualClock()
      const calls: string[] = []
      const flow = flowOf({
        ...failing(clock, (n, attempt) => n === 1 && attempt < 3, calls),
        onItemError: ItemErrorPolicy.retry(RetryMode.fixed(2, 3)),
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 'p-4', scheduler: clock }), 100)
      expect(calls.slice(0, 4)).to.deep.equal(['0@10#1', '1@20#1', '1@23#2', '1@26#3'])
      expect(last(events)).to.deep.include({ _tag: 'RunCompleted' })

      const exhausted: string[] = []
      const skipping = flowOf({
        ...failing(clock, (n) => n === 1, exhausted),
        onItemError: ItemErrorPolicy.retry(RetryMode.fixed(1, 3), { exhausted: 'Skip' }),
      })
      const second = await runOn(clock, skipping.run$('Ingest', { workflowId: 'p-5', scheduler: clock }), 100)
      expect(exhausted.filter((c) => c.startsWith('1@')).length).to.equal(2)
      expect(last(second.events)).to.deep.include({ _tag: 'RunCompleted' })
      expect(flushedAt(second.events).map((f) => f.skipped)).to.deep.equal([1])

      const failingFlow = flowOf({
        ...failing(clock, (n) => n === 1, []),
        onItemError: ItemErrorPolicy.retry(RetryMode.fixed(1, 3)),
      })
      const third = await runOn(clock, failingFlow.run$('Ingest', { workflowId: 'p-6', scheduler: clock }), 100)
      expect(last(third.events)).to.deep.include({ _tag: 'RunFailed' })
    })

    it('retry does not repeat a non-retryable error', async () => {
      const clock = createVirtualClock()
      let calls = 0
      const flow = flowOf({
        cursor: t.number,
        source: () => ticks(clock, 2)(undefined),
        onItem: () => {
          calls += 1
          throw nonRetryable(taskExecutionError('poison'))
        },
        onItemError: ItemErrorPolicy.retry(RetryMode.fixed(5, 1)),
        onClose: () => 'Done',
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 'p-7', scheduler: clock }), 100)
      expect(calls).to.equal(1)
      expect(last(events)).to.deep.include({ _tag: 'RunFailed', at: 10 })
    })
  })

  describe('the drain on cancellation and total timeout', () => {
    /** A stream of items every 10 ms, windows of 5, each item taking `itemMs`. */
    const draining = (
      clock: VirtualClock,
      log: string[],
      itemMs = 0,
      extra: Partial<StreamItemsOptions<Step, NoResources, number, number, number>> = {},
    ) =>
      ({
        cursor: t.number,
        source: (_ctx, after) => {
          log.push(`open ${String(after)}`)
          return ticks(clock, 100)(after)
        },
        onItem: (n, { signal }) =>
          itemMs === 0
            ? { output: n, cursor: n }
            : timer(itemMs, clock).pipe(
                map(() => {
                  log.push(`item ${n} done at ${clock.now()} aborted=${signal.aborted}`)
                  return { output: n, cursor: n }
                }),
              ),
        window: { count: 5 },
        onWindow: (outputs, { draining: d }) => {
          log.push(`flush [${outputs.join(',')}] at ${clock.now()}${d ? ' (drain)' : ''}`)
          return WindowSignal.continue()
        },
        onClose: (reason: CloseReason) => {
          log.push(`close ${reason} at ${clock.now()}`)
          return 'Done' as const
        },
        ...extra,
      }) satisfies StreamItemsOptions<Step, NoResources, number, number, number>

    it('cancellation: the partial window is flushed and its cursor committed, onClose cleans up, the run ends Cancelled; a resume reopens at the cursor', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const log: string[] = []
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 75)
      const flow = flowOf(draining(clock, log), store)
      const { events, ended } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'd-1', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(ended).to.equal(true)
      expect(log).to.deep.equal([
        'open undefined',
        'flush [0,1,2,3,4] at 50',
        'flush [5,6] at 75 (drain)',
        'close Cancelled at 75',
      ])
      expect(windows()).to.deep.equal([
        { windows: 1, items: 5, itemCursor: 4 },
        { windows: 2, items: 7, itemCursor: 6 },
      ])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 75, state: 'Ingest' })
      expect(events.some((e) => e._tag === 'TaskFailed' || e._tag === 'TaskSucceeded')).to.equal(false)

      const resumedLog: string[] = []
      const resumed = await runOn(
        clock,
        flowOf(draining(clock, resumedLog), store).resume$('d-1', { scheduler: clock }),
        2_000,
      )
      expect(resumedLog[0]).to.equal('open 6')
      // the resume says where the stream continues: after window 2, 7 items, at the committed cursor
      expect(resumed.events.find((e) => e._tag === 'RunResumed')).to.deep.include({
        state: 'Ingest',
        stream: { windows: 2, items: 7 },
        cursor: 6,
      })
      expect(resumedLog[1]).to.equal(`flush [7,8,9,10,11] at ${200 + 50}`)
      expect(last(resumed.events)).to.deep.include({ _tag: 'RunCompleted' })
    })

    it('an item in flight at the cancellation finishes first (its signal untouched) and is in the drained window', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const log: string[] = []
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 25) // item 1 (20) is in flight until 28
      const flow = flowOf(draining(clock, log, 8), store)
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'd-2', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(log).to.deep.equal([
        'open undefined',
        'item 0 done at 18 aborted=false',
        'item 1 done at 28 aborted=false',
        'flush [0,1] at 28 (drain)',
        'close Cancelled at 28',
      ])
      expect(windows()).to.deep.equal([{ windows: 1, items: 2, itemCursor: 1 }])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 28 })
    })

    it('the total timeout drains the same way and ends TimedOut', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const log: string[] = []
      const flow = flowOf(draining(clock, log), store, 33)
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 'd-3', scheduler: clock }), 200)
      expect(log).to.deep.equal(['open undefined', 'flush [0,1,2] at 33 (drain)', 'close Cancelled at 33'])
      expect(windows()).to.deep.equal([{ windows: 1, items: 3, itemCursor: 2 }])
      expect(last(events)).to.deep.include({ _tag: 'RunTimedOut', at: 33 })
    })

    it('the drain is bounded by drainTimeoutMs: a flush that hangs commits nothing and the run still ends', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 25)
      const flow = flowOf(
        {
          ...draining(clock, []),
          onWindow: (_o, { draining: d }) => (d ? NEVER : WindowSignal.continue()),
          drainTimeoutMs: 40,
        },
        store,
      )
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'd-4', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(windows()).to.deep.equal([])
      const failed = events.find((e) => e._tag === 'TaskFailed')
      expect(failed).to.deep.include({ at: 65 })
      expect(failed?._tag === 'TaskFailed' ? failed.error.message : '').to.contain('drainTimeoutMs')
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 65 })
    })

    it('an item waiting for its next try is not tried again: the drain flushes without it at once', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const log: string[] = []
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 35)
      const flow = flowOf(
        {
          ...draining(clock, log),
          onItem: (n) => {
            if (n === 2) throw new Error('flaky')
            return { output: n, cursor: n }
          },
          onItemError: ItemErrorPolicy.retry(RetryMode.fixed(3, 100)),
        },
        store,
      )
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'd-6', signal: ac.signal, scheduler: clock }),
        300,
      )
      expect(log).to.deep.equal(['open undefined', 'flush [0,1] at 35 (drain)', 'close Cancelled at 35'])
      expect(windows()).to.deep.equal([{ windows: 1, items: 2, itemCursor: 1 }])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 35 })
    })

    it('an empty partial window: nothing to flush, onClose still cleans up', async () => {
      const clock = createVirtualClock()
      const log: string[] = []
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 55)
      const flow = flowOf(draining(clock, log), memoryCheckpoints())
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'd-5', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(log).to.deep.equal(['open undefined', 'flush [0,1,2,3,4] at 50', 'close Cancelled at 55'])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 55 })
    })
  })

  describe('flushOnCancel for the window model', () => {
    it('hands the partial window to onWindow and commits its position before the run ends Cancelled', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const log: string[] = []
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 35)
      const flow = workflow<Step>()({
        checkpoints: store,
        exits: ['Done'],
        states: {
          Ingest: stream({
            source: () => interval(10, clock),
            window: { count: 5 },
            onWindow: (items: ReadonlyArray<number>) => {
              log.push(`window [${items.join(',')}] at ${clock.now()}`)
              return WindowSignal.continue()
            },
            onClose: (reason) => {
              log.push(`close ${reason}`)
              return 'Done' as const
            },
            flushOnCancel: true,
          }),
        },
      })
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'w-1', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(log).to.deep.equal(['window [0,1,2] at 35', 'close Cancelled'])
      expect(windows()).to.deep.equal([{ windows: 1, items: 3 }])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 35 })
    })

    it('without flushOnCancel the partial window is dropped (unchanged behaviour)', async () => {
      const clock = createVirtualClock()
      const { store, windows } = recording()
      const ac = new AbortController()
      clock.schedule(() => ac.abort(), 35)
      const flow = workflow<Step>()({
        checkpoints: store,
        exits: ['Done'],
        states: {
          Ingest: stream({
            source: () => interval(10, clock),
            window: { count: 5 },
            onWindow: () => WindowSignal.continue(),
            onClose: () => 'Done' as const,
          }),
        },
      })
      const { events } = await runOn(
        clock,
        flow.run$('Ingest', { workflowId: 'w-2', signal: ac.signal, scheduler: clock }),
        200,
      )
      expect(windows()).to.deep.equal([])
      expect(last(events)).to.deep.include({ _tag: 'RunCancelled', at: 35 })
    })
  })

  describe('the StreamWindow row', () => {
    const row = (payload: unknown) => ({
      workflowId: 'w',
      seq: 1,
      kind: 'StreamWindow',
      state: 'Ingest',
      taskId: 'Ingest',
      payload,
      version: 0,
      at: 1,
    })
    it('keeps the committed cursor (any JSON value) and reads rows without one as before', () => {
      const withCursor = CheckpointRow.decode(row({ windows: 2, items: 9, itemCursor: { partition: 0, offset: 41 } }))
      expect(withCursor._tag === 'Right' ? withCursor.right.payload : undefined).to.deep.equal({
        windows: 2,
        items: 9,
        itemCursor: { partition: 0, offset: 41 },
      })
      const plain = CheckpointRow.decode(row({ windows: 1, items: 3 }))
      expect(plain._tag === 'Right' ? plain.right.payload : undefined).to.deep.equal({ windows: 1, items: 3 })
    })
    it('a resumed entry row carries the cursor: a second crash before the next window still resumes from it', () => {
      const entry = stateEntry({ _tag: 'Stream', position: { windows: 1, items: 5 }, itemCursor: 4 })
      expect(entry.payload).to.deep.equal({ windows: 1, items: 5, itemCursor: 4 })
      const rows = [
        { ...row(null), seq: 0, kind: 'StateEntry' as const, payload: null },
        { ...row(null), seq: 1, kind: 'StreamWindow' as const, payload: { windows: 1, items: 5, itemCursor: 4 } },
        { ...row(null), seq: 2, kind: 'StateEntry' as const, payload: entry.payload },
      ]
      const point = resumePoint<Step>('w', rows, { version: 0, isKnown: () => true })
      expect(point._tag === 'Right' && point.right._tag === 'State' ? point.right.continues : undefined).to.deep.equal({
        _tag: 'Stream',
        position: { windows: 1, items: 5 },
        itemCursor: 4,
      })
    })

    it('refuses a cursor that is not JSON and a bad position', () => {
      expect(CheckpointRow.decode(row({ windows: 1, items: 3, itemCursor: Number.NaN }))._tag).to.equal('Left')
      expect(CheckpointRow.decode(row({ windows: -1, items: 3, itemCursor: 1 }))._tag).to.equal('Left')
    })
  })

  describe('bad input', () => {
    const base = {
      cursor: t.number,
      source: () => NEVER,
      onItem: (n: number) => ({ output: n, cursor: n }),
      onClose: () => 'Done' as const,
    }
    const where = 'state "Ingest"'
    const check = (over: Record<string, unknown>) => validateStreamItems({ ...streamItems(base), ...over }, where)

    it('rejects itemTimeoutMs 0, negative, NaN and Infinity, and a bad drainTimeoutMs, naming the state and the field', () => {
      for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
        expect(check({ itemTimeoutMs: bad })?.message).to.match(
          /^state "Ingest": itemTimeoutMs must be a finite number/,
        )
      expect(check({ drainTimeoutMs: 0 })?.message).to.match(/^state "Ingest": drainTimeoutMs must be/)
      expect(check({ drainTimeoutMs: Number.NaN })?._tag).to.equal('Configuration')
    })

    it('rejects a cursor that is not a codec, bad windows, functions and policies', () => {
      expect(check({ cursor: undefined })).to.deep.equal(
        configurationError(`${where}: cursor must be an io-ts codec (e.g. t.number, t.type({ … }))`),
      )
      expect(check({ window: { count: 0 } })?.message).to.equal(
        `${where}: window.count must be a positive integer, got 0`,
      )
      expect(check({ onItem: 3 })?.message).to.equal(`${where}: onItem must be a function`)
      expect(check({ onWindow: 'x' })?.message).to.equal(`${where}: onWindow must be a function when given`)
      expect(check({ onItemError: { _tag: 'Nope' } })?.message).to.match(/onItemError must be ItemErrorPolicy/)
      expect(check({ onItemError: ItemErrorPolicy.skip({ maxConsecutive: -1 }) })?.message).to.match(
        /onItemError.maxConsecutive must be a non-negative integer/,
      )
      expect(check({ onItemError: { _tag: 'Retry', retry: undefined, exhausted: 'Fail' } })?.message).to.match(
        /onItemError.retry must be a RetryMode/,
      )
      expect(check({ onItemError: ItemErrorPolicy.retry(RetryMode.fixed(-1, 1)) })?.message).to.match(
        /onItemError: retry.retries must be a non-negative integer/,
      )
    })

    it('a workflow with a bad per-item stream is refused at definition time', () => {
      expect(() =>
        workflow<Step>()({ exits: ['Done'], states: { Ingest: streamItems({ ...base, itemTimeoutMs: -5 }) } }),
      ).to.throw(/state "Ingest": itemTimeoutMs/)
    })

    it('a window stream with a bad flushOnCancel or drainTimeoutMs is refused', () => {
      const w = (over: Record<string, unknown>) =>
        workflow<Step>()({
          exits: ['Done'],
          states: {
            Ingest: {
              ...stream({
                source: () => NEVER,
                window: { count: 1 },
                onWindow: () => WindowSignal.continue(),
                onClose: () => 'Done' as const,
              }),
              ...over,
            } as ReturnType<typeof stream<Step, unknown, ResourceRecord>>,
          },
        })
      expect(() => w({ flushOnCancel: 'yes' })).to.throw(/flushOnCancel must be a boolean/)
      expect(() => w({ drainTimeoutMs: -1 })).to.throw(/drainTimeoutMs must be/)
    })

    it('a committed cursor that no longer decodes fails the resumed run with DecodeFailed naming the state and window', async () => {
      const clock = createVirtualClock()
      const store = memoryCheckpoints()
      const at = 1_000
      const row = (seq: number, kind: CheckpointRow['kind'], payload: unknown) =>
        ({
          workflowId: 'bad-1',
          seq,
          kind,
          state: 'Ingest',
          taskId: 'Ingest',
          payload,
          version: 0,
          at,
        }) as CheckpointRow
      await store.append(row(0, 'StateEntry', null))
      await store.append(row(1, 'StreamWindow', { windows: 2, items: 10, itemCursor: 'not-a-number' }))
      const opened: unknown[] = []
      const flow = flowOf(
        {
          cursor: t.number,
          source: (_ctx, after) => {
            opened.push(after)
            return NEVER
          },
          onItem: (n: number) => ({ output: n, cursor: n }),
          onClose: () => 'Done',
        },
        store,
      )
      const { events } = await runOn(clock, flow.resume$('bad-1', { scheduler: clock }), 10)
      const end = last(events)
      expect(opened).to.deep.equal([])
      expect(end._tag).to.equal('RunFailed')
      const error = end._tag === 'RunFailed' ? end.error : undefined
      expect(error?._tag).to.equal('DecodeFailed')
      expect(error?.message).to.contain('state "Ingest", resumed stream cursor of window 2')
    })

    it('an onItem answer that is not { output, cursor } fails at once with a Workflow error', async () => {
      const clock = createVirtualClock()
      const flow = flowOf({
        cursor: t.number,
        source: () => ticks(clock, 3)(undefined),
        onItem: (n: number) => n as unknown as { output: number; cursor: number },
        onItemError: ItemErrorPolicy.skip(),
        onClose: () => 'Done',
      })
      const { events } = await runOn(clock, flow.run$('Ingest', { workflowId: 'bad-2', scheduler: clock }), 100)
      const end = last(events)
      expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.include({ _tag: 'Workflow' })
    })
  })
})
