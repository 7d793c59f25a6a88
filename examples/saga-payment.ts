/**
 * Saga: a payment that is undone when shipping fails.
 *
 *   npx tsx examples/saga-payment.ts
 *
 * Reserve (saga: reserve stock) -> Validate -> Charge (saga: charge the card) -> Ship (the carrier
 * refuses the parcel) -> the run rolls back last-in first-out: the charge is refunded, then the
 * reservation is released, and the run ends with the carrier's error. Every event is printed the
 * moment it happens; the in-memory checkpoint store shows the rows a durable store would keep
 * (`CompensationCompletion` after each saga step, `RollbackStarted`, then one `CompensationDone` per
 * undo). The failure is the expected outcome: the script prints it and exits 0.
 */
import * as t from 'io-ts'
import { lastValueFrom, tap } from 'rxjs'

import {
  describeCanoError,
  memoryCheckpoints,
  nonRetryable,
  Resources,
  RetryMode,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'

type Step = 'Reserve' | 'Validate' | 'Charge' | 'Ship' | 'Done'

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** In-process fakes of the three systems the order touches. */
const warehouse = {
  stock: new Map([['sku-7', 5]]),
  async reserve(sku: string, qty: number): Promise<string> {
    await pause(20)
    this.stock.set(sku, (this.stock.get(sku) ?? 0) - qty)
    return `res_${sku}_${qty}`
  },
  async release(sku: string, qty: number): Promise<void> {
    await pause(20)
    this.stock.set(sku, (this.stock.get(sku) ?? 0) + qty)
  },
}
const payments = {
  charged: new Map<string, number>(),
  async charge(cents: number): Promise<string> {
    await pause(30)
    const id = `ch_${this.charged.size + 1}`
    this.charged.set(id, cents)
    return id
  },
  /** Idempotent: refunding an unknown or refunded charge does nothing. */
  async refund(chargeId: string): Promise<void> {
    await pause(30)
    this.charged.delete(chargeId)
  },
}
const carrier = {
  async ship(): Promise<string> {
    await pause(10)
    throw nonRetryable(new Error('carrier refused the parcel: address not deliverable'))
  },
}

const Reservation = t.type({ reservationId: t.string, sku: t.string, qty: t.number })
const Payment = t.type({ chargeId: t.string, cents: t.number })

const flow = workflow<Step>()({
  resources: Resources.of({ warehouse, payments, carrier }),
  checkpoints: memoryCheckpoints(),
  exits: ['Done'],
  states: ({ saga, task }) => ({
    Reserve: saga({
      output: Reservation,
      run: async ({ res }) => {
        const reservationId = await res.get('warehouse').reserve('sku-7', 2)
        return ['Validate', { reservationId, sku: 'sku-7', qty: 2 }]
      },
      compensate: ({ res }, r) => res.get('warehouse').release(r.sku, r.qty),
    }),
    Validate: task(async () => 'Charge' as const),
    Charge: saga({
      output: Payment,
      run: async ({ res }) => ['Ship', { chargeId: await res.get('payments').charge(4_990), cents: 4_990 }],
      compensate: ({ res }, p) => res.get('payments').refund(p.chargeId),
      compensateTimeoutMs: 5_000,
      compensateRetry: RetryMode.fixed(2, 100),
    }),
    Ship: task(async ({ res }) => (await res.get('carrier').ship(), 'Done' as const), { retry: RetryMode.none() }),
  }),
})

const started = Date.now()
const show = (e: WorkflowEvent<Step>): string => {
  const at = `+${String(Date.now() - started).padStart(4)} ms  ${e._tag.padEnd(20)}`
  switch (e._tag) {
    case 'StateEntered':
      return `${at} ${e.state}`
    case 'TaskSucceeded':
      return `${at} ${e.state} -> ${e.next}`
    case 'TaskFailed':
      return `${at} ${e.state}: ${describeCanoError(e.error)}`
    case 'CheckpointAppended':
      return `${at} row ${e.seq} ${e.kind} (${e.state})`
    case 'CompensationStarted':
      return `${at} undoing ${e.state} (completion row ${String(e.seq)})`
    case 'Compensated':
      return `${at} ${e.state} undone`
    case 'CompensationFailed':
      return `${at} ${e.state} could not be undone: ${describeCanoError(e.error)}`
    case 'RunCompleted':
      return `${at} final state ${e.state}`
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      return `${at} ${describeCanoError(e.error)}`
    default:
      return at
  }
}

const main = async (): Promise<void> => {
  const end = await lastValueFrom(
    flow.run$('Reserve', { workflowId: 'order-42' }).pipe(
      tap((e) => {
        if (e._tag !== 'TaskStarted' && e._tag !== 'RunStarted' && e._tag !== 'AttemptFailed') console.log(show(e))
      }),
    ),
  )
  // the run's failure is the expected outcome here: the order could not ship, so nothing it did is left behind
  if (end._tag === 'RunFailed') console.log(`rolled back: ${end.error.message}`)
  console.log(`stock of sku-7: ${String(warehouse.stock.get('sku-7'))} (was 5), open charges: ${payments.charged.size}`)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
