/**
 * Parking a run in a long `poll` delay on the real stores (issue 12 item 5): a runtime on a real SQLite
 * file, then on the real PostgreSQL server, runs a workflow whose poll answers `pending` for longer than
 * `parkAfterMs`. The run leaves that worker (its lease released, its record `parked` with the wake-up, the
 * poll's position in a `TimerArmed` row) and a second runtime, with a store connection of its own, claims
 * it at the wake-up and completes it, the poll going on with its persisted count.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'
import pg from 'pg'
import { filter, firstValueFrom } from 'rxjs'

import {
  createRuntime,
  PollOutcome,
  type RunStore,
  type Runtime,
  type RuntimeEvent,
  task,
  workflow,
} from '../../roots/index.js'
import { postgresCheckpoints } from '../../roots/postgres.js'
import { sqliteCheckpoints } from '../../roots/sqlite.js'

const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const DELAY_MS = 1_500

type Step = 'Submit' | 'AwaitExport' | 'Download' | 'Done'

/** A call of the poll: when, in which attempt. */
interface Call {
  readonly at: number
  readonly attempt: number
}

const exporting = (calls: Call[]) =>
  workflow<Step>()({
    exits: ['Done'],
    states: ({ poll }) => ({
      Submit: task(() => 'AwaitExport' as const),
      // pending once for longer than parkAfterMs, then ready; at most 2 polls: a resumed loop that forgot
      // its first poll would be allowed a third
      AwaitExport: poll(
        ({ attempt }) => {
          calls.push({ at: Date.now(), attempt })
          return calls.length === 1 ? PollOutcome.pending(DELAY_MS) : PollOutcome.ready('Download' as const)
        },
        { maxPolls: 2 },
      ),
      Download: task(() => 'Done' as const),
    }),
  })

const parkedIn = (rt: Runtime): Promise<Extract<RuntimeEvent, { readonly _tag: 'Parked' }>> =>
  firstValueFrom(
    rt.events$.pipe(filter((e): e is Extract<RuntimeEvent, { readonly _tag: 'Parked' }> => e._tag === 'Parked')),
  )

/** Runs the scenario on two stores (one per runtime) over the same database. */
const parkAndResumeElsewhere = async (openStore: () => RunStore): Promise<void> => {
  const calls: Call[] = []
  const flow = exporting(calls)
  const workflows = { export: { workflow: flow, initial: 'Submit' as const } }
  const storeA = openStore()
  const storeB = openStore()
  const a = createRuntime({ store: storeA, workflows, parkAfterMs: 200, pollMs: 100, leaseMs: 5_000 })
  let b: Runtime | undefined
  try {
    const parked = parkedIn(a)
    const startedAt = Date.now()
    await a.start('export', null, { id: 'export-1' })
    const notice = await parked
    // the run left worker A: no owner, no lease, parked until the poll's next call
    const record = await storeB.runs.get('export-1')
    expect(record).to.include({ status: 'parked', owner: null, leaseUntil: null, wakeAt: notice.wakeAt })
    expect(notice.wakeAt - startedAt).to.be.within(DELAY_MS, DELAY_MS + 1_000)
    const timers = (await storeB.loadRun('export-1')).filter((r) => r.kind === 'TimerArmed')
    expect(timers.map((r) => [r.state, r.payload])).to.deep.equal([
      ['AwaitExport', { wakeAt: notice.wakeAt, poll: { polls: 1, errors: 0, attempt: 1, deadlineAt: null } }],
    ])
    await a.stop({ graceMs: 0 })
    b = createRuntime({ store: storeB, workflows, parkAfterMs: 200, pollMs: 100, leaseMs: 5_000 })
    const outcome = await b.result('export-1')
    expect(outcome.status).to.equal('completed')
    expect(outcome.record.owner).to.equal(b.owner)
    expect(outcome.record.fence).to.equal(2)
    // two polls in all: the second at the wake-up (found by B's poll, within its 100 ms)
    expect(calls).to.have.length(2)
    expect(calls[1]?.at).to.be.within(notice.wakeAt, notice.wakeAt + 1_000)
    expect(calls.map((c) => c.attempt)).to.deep.equal([1, 1])
    expect(await storeB.loadRun('export-1')).to.deep.equal([])
  } finally {
    await a.stop({ graceMs: 0 })
    await b?.stop({ graceMs: 0 })
    await storeA.close()
    await storeB.close()
  }
}

describe('a run parked in a long poll delay, on the real stores', function () {
  this.timeout(30_000)

  it('SQLite: leaves its worker, and another runtime on the same file completes it at the wake-up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cano-poll-park-'))
    try {
      const file = join(dir, 'runs.db')
      await parkAndResumeElsewhere(() => sqliteCheckpoints(file))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('PostgreSQL: leaves its worker, and another runtime on the same table completes it at the wake-up', async () => {
    const table = `cano_pollpark_${process.pid}_${randomUUID().replace(/-/g, '').slice(0, 12)}`
    const admin = new pg.Pool({ connectionString: PG_URL, max: 2 })
    try {
      await parkAndResumeElsewhere(() => postgresCheckpoints({ connectionString: PG_URL, table }))
    } finally {
      await admin.query(`DROP TABLE IF EXISTS "${table}", "${table}_runs"`)
      await admin.end()
    }
  })
})
