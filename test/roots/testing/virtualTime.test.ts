import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'
import { mergeMap, throwError, timer } from 'rxjs'

import { sqliteCheckpoints } from '../../../roots/stores/sqliteCheckpoints.js'
import { createRecorder } from '../../../roots/testing/createRecorder.js'
import { Fault, injectFaults } from '../../../roots/testing/injectFaults.js'
import { virtualTime } from '../../../roots/testing/virtualTime.js'
import { workflow } from '../../../roots/Workflow.js'
import { isCanoFailure, retryExhaustedError, taskExecutionError } from '../../../src/CanoError.js'
import { memoryCheckpoints, type RunStore } from '../../../src/CheckpointStore.js'
import { MemoryStore } from '../../../src/MemoryStore.js'
import { poll, PollOutcome } from '../../../src/Poll.js'
import { Resources } from '../../../src/Resources.js'
import { RetryMode } from '../../../src/RetryMode.js'
import { sleep } from '../../../src/Sleep.js'
import { task } from '../../../src/StateHandler.js'
import type { WorkflowEvent } from '../../../src/WorkflowEvent.js'
import { testScheduler } from '../../helpers/virtualTime.js'

/** One turn of the event loop, as a Promise-based client library takes between request and answer. */
const hop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A Promise-based resource: each call takes `hops` event-loop turns, like a client library would. */
const ledger = (hops: number) => ({
  entries: [] as string[],
  async write(entry: string): Promise<number> {
    for (let i = 0; i < hops; i++) await hop()
    this.entries.push(entry)
    return this.entries.length
  },
})

type Step = 'Charge' | 'Wait' | 'Notify' | 'Done'

/**
 * Charge (attempt 1 refused, retried after 1 s; every attempt has a 500 ms timeout) → Wait (a 60 s durable
 * timer) → Notify → Done, with a checkpoint store, a MemoryStore and a Promise-based resource.
 */
const orderFlow = (checkpoints: RunStore, book = ledger(5), kv = new MemoryStore()) =>
  workflow<Step>()({
    resources: Resources.of({ ledger: book, kv }),
    exits: ['Done'],
    checkpoints,
    totalTimeoutMs: 3_600_000,
    states: ({ task }) => ({
      Charge: task(
        injectFaults(
          async ({ res }) => {
            res.get('kv').put('charged', await res.get('ledger').write('charge'))
            return 'Wait' as const
          },
          { 1: Fault.fail(taskExecutionError('503')) },
        ),
        { retry: RetryMode.fixed(2, 1_000), attemptTimeoutMs: 500 },
      ),
      Wait: sleep({ wait: 60_000, then: 'Notify' }),
      Notify: task(async ({ res }) => ((await res.get('ledger').write('notified')) > 1 ? 'Done' : 'Notify')),
    }),
  })

const timeline = (events: ReadonlyArray<WorkflowEvent<Step>>): Array<[string, number, string]> =>
  events
    .filter((e) => ['StateEntered', 'AttemptFailed', 'RetryScheduled', 'TimerArmed', 'RunCompleted'].includes(e._tag))
    .map((e) => [e._tag, e.at, 'state' in e && e.state !== undefined ? e.state : ''])

const EXPECTED_TIMELINE: Array<[string, number, string]> = [
  ['StateEntered', 0, 'Charge'],
  ['AttemptFailed', 0, 'Charge'],
  ['RetryScheduled', 0, 'Charge'],
  ['StateEntered', 1_000, 'Wait'],
  ['TimerArmed', 1_000, 'Wait'],
  ['StateEntered', 61_000, 'Notify'],
  ['StateEntered', 61_000, 'Done'],
  ['RunCompleted', 61_000, 'Done'],
]

/** The rows the run appended (each durable when its event is emitted): kind, state, virtual instant. */
const appended = (events: ReadonlyArray<WorkflowEvent<Step>>, startMs = 0): Array<[string, string, number]> =>
  events.flatMap((e) =>
    e._tag === 'CheckpointAppended' ? [[e.kind, e.state, e.at - startMs] as [string, string, number]] : [],
  )

const EXPECTED_ROWS: Array<[string, string, number]> = [
  ['StateEntry', 'Charge', 0],
  ['StateEntry', 'Wait', 1_000],
  ['TimerArmed', 'Wait', 1_000],
  ['StateEntry', 'Notify', 61_000],
  ['StateEntry', 'Done', 61_000],
]

const configurationOf = async (f: () => unknown): Promise<unknown> => {
  try {
    await f()
  } catch (e: unknown) {
    return isCanoFailure(e) ? e.error : e
  }
  return undefined
}

describe('virtualTime', () => {
  it('runs a workflow whose store and resources await Promises to the end, at exact virtual instants', async () => {
    const book = ledger(5)
    const kv = new MemoryStore()
    const store = memoryCheckpoints()
    const flow = orderFlow(store, book, kv)
    const t = virtualTime()
    const rec = createRecorder<Step>()
    const events = await t.runUntilDone(
      flow.run$('Charge', { workflowId: 'order-1', scheduler: t.scheduler, observers: [rec] }),
    )
    expect(timeline(events)).to.deep.equal(EXPECTED_TIMELINE)
    rec.assertPath(['Charge', 'Wait', 'Notify', 'Done'])
    expect([book.entries, kv.get('charged'), t.now(), t.pending()]).to.deep.equal([
      ['charge', 'notified'],
      1,
      61_000,
      0,
    ])
    expect(appended(events)).to.deep.equal(EXPECTED_ROWS)
    expect(await store.runs.get('order-1')).to.deep.include({ status: 'completed' })
  })

  it('where TestScheduler.run + flush leaves the same run stuck at its first await, before its first event', () => {
    const events: WorkflowEvent<Step>[] = []
    testScheduler().run(({ flush }) => {
      const sub = orderFlow(memoryCheckpoints())
        .run$('Charge', { workflowId: 'order-2' })
        .subscribe((e) => events.push(e))
      flush()
      sub.unsubscribe()
    })
    expect(events).to.deep.equal([]) // it awaits the run table's record of the run first
  })

  it('runs a workflow on a real SQLite file in virtual time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cano-rx-virtual-'))
    const store = sqliteCheckpoints(join(dir, 'runs.db'))
    try {
      const t = virtualTime({ startMs: Date.UTC(2030, 0, 1) })
      const start = t.now()
      const events = await t.runUntilDone(
        orderFlow(store).run$('Charge', { workflowId: 'order-3', scheduler: t.scheduler }),
      )
      expect(timeline(events).map(([tag, at, state]) => [tag, at - start, state])).to.deep.equal(EXPECTED_TIMELINE)
      expect(appended(events, start)).to.deep.equal(EXPECTED_ROWS)
      expect(await store.runs.get('order-3')).to.deep.include({ status: 'completed' })
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('drives a Promise API too: orchestrate resolves, a failed run rejects with its CanoFailure', async () => {
    const t = virtualTime()
    const final = await t.runUntilDone(
      orderFlow(memoryCheckpoints()).orchestrate('Charge', { workflowId: 'order-4', scheduler: t.scheduler }),
    )
    expect([final, t.now()]).to.deep.equal(['Done', 61_000])
    const failing = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: task(
          injectFaults(
            async () => 'Done' as const,
            () => Fault.fail(taskExecutionError('down')),
          ),
          {
            retry: RetryMode.fixed(2, 10_000),
          },
        ),
      },
    })
    const u = virtualTime()
    const reason: unknown = await u
      .runUntilDone(failing.orchestrate('A', { scheduler: u.scheduler }))
      .catch((e: unknown) => e)
    expect(isCanoFailure(reason) ? reason.error : reason).to.deep.equal(
      retryExhaustedError(3, taskExecutionError('down')),
    )
    expect(u.now()).to.equal(20_000)
  })

  it('advance(ms) moves time step by step and fires exactly the timers due', async () => {
    const flow = workflow<'Wait' | 'Done'>()({
      exits: ['Done'],
      states: { Wait: sleep({ wait: 1_000, then: 'Done' }) },
    })
    const t = virtualTime()
    const rec = createRecorder<'Wait' | 'Done'>()
    const sub = flow.run$('Wait', { workflowId: 'w', scheduler: t.scheduler, observers: [rec] }).subscribe()
    try {
      await t.advance(999)
      expect([t.now(), t.pending(), rec.path()]).to.deep.equal([999, 1, ['Wait']])
      await t.advance(1)
      expect([t.now(), t.pending(), rec.path()]).to.deep.equal([1_000, 0, ['Wait', 'Done']])
      await t.advance(5_000)
      expect(t.now()).to.equal(6_000)
    } finally {
      sub.unsubscribe()
    }
  })

  it('runUntilIdle fires timer after timer until none is left, or up to maxMs', async () => {
    const t = virtualTime()
    const fired: number[] = []
    for (const ms of [30, 10, 20]) t.scheduler.schedule(() => void fired.push(t.now()), ms)
    await t.runUntilIdle({ maxMs: 25 })
    expect([fired, t.pending()]).to.deep.equal([[10, 20], 1])
    await t.runUntilIdle()
    expect([fired, t.pending()]).to.deep.equal([[10, 20, 30], 0])
  })

  it('never fires a timer while a file-system read is in flight', async () => {
    const flow = workflow<'Read' | 'Done'>()({
      exits: ['Done'],
      states: {
        Read: task(
          async () => {
            for (let i = 0; i < 3; i++) await readFile(import.meta.filename)
            return 'Done' as const
          },
          { retry: RetryMode.none(), attemptTimeoutMs: 1 },
        ),
      },
    })
    const t = virtualTime()
    const events = await t.runUntilDone(flow.run$('Read', { workflowId: 'fs', scheduler: t.scheduler }))
    expect([events.at(-1)?._tag, t.now()]).to.deep.equal(['RunCompleted', 0])
  })

  it('never fires a timer while a resource is between event-loop turns', async () => {
    const book = ledger(50)
    const flow = workflow<'Write' | 'Done'>()({
      resources: Resources.of({ book }),
      exits: ['Done'],
      states: ({ task }) => ({
        Write: task(async ({ res }) => ((await res.get('book').write('x')) === 1 ? 'Done' : 'Write'), {
          retry: RetryMode.none(),
          attemptTimeoutMs: 1,
        }),
      }),
    })
    const t = virtualTime()
    const events = await t.runUntilDone(flow.run$('Write', { workflowId: 'hops', scheduler: t.scheduler }))
    expect([events.at(-1)?._tag, book.entries]).to.deep.equal(['RunCompleted', ['x']])
  })

  it('rejects with the error of an Observable that errors', async () => {
    const t = virtualTime()
    const boom = new Error('boom')
    const reason: unknown = await t
      .runUntilDone(timer(5, t.scheduler).pipe(mergeMap(() => throwError(() => boom))))
      .catch((e: unknown) => e)
    expect([reason, t.now()]).to.deep.equal([boom, 5])
  })

  it('rejects, and unsubscribes the run, when it waits on nothing the clock drives', async () => {
    let aborted: unknown
    const flow = workflow<'Stuck' | 'Done'>()({
      exits: ['Done'],
      states: {
        Stuck: task(({ signal }) => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason as unknown
          })
          return new Promise<'Done'>(() => undefined)
        }),
      },
    })
    const t = virtualTime()
    const reason: unknown = await t
      .runUntilDone(flow.run$('Stuck', { workflowId: 's', scheduler: t.scheduler }), { stallMs: 20 })
      .catch((e: unknown) => e)
    expect(reason).to.be.instanceOf(Error).with.property('name', 'AssertionError')
    expect((reason as Error).message).to.match(
      /^runUntilDone: the source is not done, no virtual timer is pending and nothing happened for 20 real ms/,
    )
    expect(aborted, 'the run was unsubscribed: its signal fired').to.not.equal(undefined)
  })

  it('rejects when the source is not done within maxMs or maxTimers', async () => {
    const forever = workflow<'Poll' | 'Done'>()({
      exits: ['Done'],
      states: { Poll: poll(() => PollOutcome.pending(1_000)) },
    })
    const t = virtualTime()
    const late: unknown = await t
      .runUntilDone(forever.run$('Poll', { workflowId: 'p', scheduler: t.scheduler }), { maxMs: 10_500 })
      .catch((e: unknown) => e)
    expect((late as Error).message).to.equal(
      'runUntilDone: not done after 10500 virtual ms (now 10000 ms; the next timer is due at 11000 ms)',
    )
    const u = virtualTime()
    const busy: unknown = await u
      .runUntilDone(forever.run$('Poll', { workflowId: 'q', scheduler: u.scheduler }), { maxTimers: 3 })
      .catch((e: unknown) => e)
    expect((busy as Error).message).to.equal(
      'runUntilDone: not done after firing 3 timers (now 3000 ms): does the source ever complete?',
    )
  })

  it('gives up settling when something keeps the event loop busy', async () => {
    let spinning = true
    const spin = (): void => {
      if (spinning) setImmediate(spin)
    }
    spin()
    const t = virtualTime({ settleTimeoutMs: 20 })
    const reason: unknown = await t.settle().catch((e: unknown) => e)
    spinning = false
    expect((reason as Error).message).to.match(/^virtualTime: the program did not settle within 20 real ms/)
  })

  it('refuses bad options with a Configuration error naming them', async () => {
    const t = virtualTime()
    expect(await configurationOf(() => virtualTime({ startMs: Number.NaN }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'virtualTime: startMs must be a finite number >= 0, got NaN',
    })
    expect(await configurationOf(() => t.advance(-1))).to.deep.equal({
      _tag: 'Configuration',
      message: 'advance: ms must be a finite number >= 0, got -1',
    })
    expect(await configurationOf(() => t.runUntilIdle({ maxTimers: 1.5 }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'runUntilIdle: maxTimers must be a positive integer, got 1.5',
    })
    expect(await configurationOf(() => t.runUntilDone(42 as unknown as Promise<number>))).to.deep.equal({
      _tag: 'Configuration',
      message: 'runUntilDone: source must be an Observable or a Promise, got 42',
    })
  })
})
