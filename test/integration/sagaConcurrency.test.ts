/**
 * Sagas under concurrency (issue 5): 40 runs at once charge one shared in-memory account three times
 * (+100 each) and fail at a point swept over every position; completed runs must leave +300,
 * rolled-back runs must leave 0, and the balance must never go below 0. Also: cancellation and the
 * total timeout during saga runs still compensate, fire the in-flight task's signal, and end the run
 * `Cancelled` / `WorkflowTimeout`.
 */
import { expect } from 'chai'
import * as t from 'io-ts'

import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure, nonRetryable } from '../../src/CanoError.js'
import { memoryCheckpoints } from '../../src/CheckpointStore.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import { eventsOf, lastEvent } from '../helpers/runEvents.js'

type Step = 'Charge1' | 'Charge2' | 'Charge3' | 'Ship' | 'Done'

/**
 * One account shared by every run: a running balance, per-run ledgers, and the lowest balance ever
 * seen (overall and within any one run).
 */
const createAccount = () => {
  let balance = 0
  let lowest = 0
  const perRun = new Map<string, number>()
  const charges = new Map<string, number>()
  let nextCharge = 0
  const move = (run: string, amount: number): void => {
    balance += amount
    const mine = (perRun.get(run) ?? 0) + amount
    perRun.set(run, mine)
    lowest = Math.min(lowest, balance, mine)
  }
  return {
    charge: (run: string, amount: number): string => {
      const id = `ch_${nextCharge++}`
      charges.set(id, amount)
      move(run, amount)
      return id
    },
    /** Idempotent: a charge is refunded at most once. */
    refund: (run: string, chargeId: string): void => {
      const amount = charges.get(chargeId)
      if (amount === undefined) return
      charges.delete(chargeId)
      move(run, -amount)
    },
    balance: () => balance,
    lowest: () => lowest,
    of: (run: string) => perRun.get(run) ?? 0,
  }
}

const pause = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)))
const Charge = t.type({ chargeId: t.string })

describe('sagas under concurrency', function () {
  this.timeout(60_000)

  it('40 concurrent runs against one account: +300 per completed run, 0 per rolled-back run, never below 0', async () => {
    const account = createAccount()
    const store = memoryCheckpoints()
    /** positions 0..2: the n-th charge fails; 3: shipping fails after all three; 4: nothing fails */
    const failAt = new Map<string, number>()
    const flow = workflow<Step>()({
      resources: Resources.of({ account }),
      checkpoints: store,
      exits: ['Done'],
      states: ({ saga, task }) => {
        const charge = (n: number, next: Step) =>
          saga({
            output: Charge,
            retry: RetryMode.none(),
            run: async ({ res, workflowId }) => {
              await pause()
              if (failAt.get(workflowId) === n) throw nonRetryable(new Error(`charge ${n} declined`))
              return [next, { chargeId: res.get('account').charge(workflowId, 100) }]
            },
            compensate: async ({ res, workflowId }, { chargeId }) => {
              await pause()
              res.get('account').refund(workflowId, chargeId)
            },
          })
        return {
          Charge1: charge(0, 'Charge2'),
          Charge2: charge(1, 'Charge3'),
          Charge3: charge(2, 'Ship'),
          Ship: task(
            async ({ workflowId }) => {
              await pause()
              if (failAt.get(workflowId) === 3) throw nonRetryable(new Error('carrier refused the parcel'))
              return 'Done' as const
            },
            { retry: RetryMode.none() },
          ),
        }
      },
    })
    const ids = Array.from({ length: 40 }, (_, i) => `order-${i}`)
    ids.forEach((id, i) => failAt.set(id, i % 5))
    const results = await Promise.all(
      ids.map((workflowId) =>
        flow.orchestrate('Charge1', { workflowId }).then(
          (s) => ({ workflowId, ok: true as const, detail: s }),
          (e: unknown) => ({ workflowId, ok: false as const, detail: isCanoFailure(e) ? e.error.message : String(e) }),
        ),
      ),
    )
    const completed = results.filter((r) => r.ok)
    const rolledBack = results.filter((r) => !r.ok)
    expect(completed.length).to.equal(8)
    expect(rolledBack.length).to.equal(32)
    for (const r of completed) expect(account.of(r.workflowId), r.workflowId).to.equal(300)
    for (const r of rolledBack) {
      expect(account.of(r.workflowId), r.workflowId).to.equal(0)
      // a clean rollback returns the original error unchanged
      expect(r.detail).to.match(/^(charge [0-2] declined|carrier refused the parcel)$/)
    }
    expect(account.balance()).to.equal(300 * completed.length)
    expect(account.lowest()).to.be.at.least(0)
    // completed runs and clean rollbacks clear their logs; a run that failed before any charge had nothing to
    // undo and keeps its log (an empty stack leaves the run resumable: src/Saga.ts, rollbackOutcome)
    const kept = (await store.listRuns()).map((r) => r.workflowId).sort()
    expect(kept).to.deep.equal(ids.filter((id) => failAt.get(id) === 0).sort())
  })

  it('cancelling saga runs mid-flight fires the in-flight signal, compensates, and ends Cancelled', async () => {
    const account = createAccount()
    const signalsFired: string[] = []
    const flow = workflow<Step>()({
      resources: Resources.of({ account }),
      exits: ['Done'],
      states: ({ saga, task }) => {
        const charge = (next: Step) =>
          saga({
            output: Charge,
            run: async ({ res, workflowId }) => {
              await pause()
              return [next, { chargeId: res.get('account').charge(workflowId, 100) }]
            },
            compensate: async ({ res, workflowId, signal }, { chargeId }) => {
              expect(signal.aborted).to.equal(false)
              await pause()
              res.get('account').refund(workflowId, chargeId)
            },
          })
        return {
          Charge1: charge('Charge2'),
          Charge2: charge('Charge3'),
          Charge3: charge('Ship'),
          Ship: task(
            ({ signal, workflowId }) =>
              new Promise<'Done'>((_, reject) =>
                signal.addEventListener('abort', () => {
                  signalsFired.push(workflowId)
                  reject(signal.reason as Error)
                }),
              ),
          ),
        }
      },
    })
    const runs = Array.from({ length: 10 }, (_, i) => {
      const ac = new AbortController()
      const workflowId = `cancel-${i}`
      return eventsOf(
        flow.run$('Charge1', {
          workflowId,
          signal: ac.signal,
          observers: [{ onStateEnter: (s) => (s === 'Ship' ? setTimeout(() => ac.abort(), 2) : undefined) }],
        }),
      ).then((events) => ({ workflowId, events }))
    })
    for (const { workflowId, events } of await Promise.all(runs)) {
      expect(lastEvent(events)._tag, workflowId).to.equal('RunCancelled')
      expect(events.filter((e) => e._tag === 'Compensated').length).to.equal(3)
      expect(account.of(workflowId)).to.equal(0)
    }
    expect(signalsFired.length).to.equal(10)
    expect(account.balance()).to.equal(0)
    expect(account.lowest()).to.be.at.least(0)
  })

  it('a total timeout during saga runs fires the in-flight signal, compensates, and ends WorkflowTimeout', async () => {
    const account = createAccount()
    let fired = 0
    const flow = workflow<Step>()({
      resources: Resources.of({ account }),
      totalTimeoutMs: 80,
      exits: ['Done'],
      states: ({ saga, task }) => {
        const charge = (next: Step) =>
          saga({
            output: Charge,
            run: ({ res, workflowId }) => [next, { chargeId: res.get('account').charge(workflowId, 100) }],
            compensate: async ({ res, workflowId }, { chargeId }) => {
              await pause()
              res.get('account').refund(workflowId, chargeId)
            },
          })
        return {
          Charge1: charge('Charge2'),
          Charge2: charge('Charge3'),
          Charge3: charge('Ship'),
          Ship: task(
            ({ signal }) =>
              new Promise<'Done'>((resolve) => {
                signal.addEventListener('abort', () => (fired += 1))
                setTimeout(() => resolve('Done'), 5_000).unref()
              }),
          ),
        }
      },
    })
    const ends = await Promise.all(
      Array.from({ length: 10 }, (_, i) => eventsOf(flow.run$('Charge1', { workflowId: `slow-${i}` }))),
    )
    for (const events of ends) {
      const end = lastEvent(events)
      expect(end._tag).to.equal('RunTimedOut')
      expect(end._tag === 'RunTimedOut' ? end.error._tag : undefined).to.equal('WorkflowTimeout')
      expect(events.filter((e) => e._tag === 'Compensated').length).to.equal(3)
    }
    expect(fired).to.equal(10)
    expect(account.balance()).to.equal(0)
  })
})
