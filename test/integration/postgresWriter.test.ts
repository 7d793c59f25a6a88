/**
 * `postgresCheckpoints`' own connection (the "writer", checked out of the pool the store made and given
 * back after ~100-200 ms without a statement), against the real PostgreSQL: a store used in bursts with
 * idle periods between them gets the same pooled client back each time, and must not leave a listener
 * on it per check-out (a leak that Node reports as a `MaxListenersExceededWarning` after ten).
 */
import { randomUUID } from 'node:crypto'

import { expect } from 'chai'
import pg from 'pg'

import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { stateEntryRow } from '../helpers/stateEntryRow.js'

const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

const row = stateEntryRow

/** Resolves after `ms` of real time: the writer is given back on a real timer of the store's. */
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe("postgresCheckpoints: the store's own connection over idle periods (real PostgreSQL)", () => {
  it('leaves no listener behind on a pooled client it checks out again and again', async () => {
    const table = `writer_${randomUUID().replace(/-/g, '').slice(0, 12)}`
    const store = postgresCheckpoints({ connectionString: PG_URL, table })
    const warnings: Error[] = []
    const onWarning = (w: Error): void => {
      if (w.name === 'MaxListenersExceededWarning') warnings.push(w)
    }
    process.on('warning', onWarning)
    try {
      // 16 bursts, each followed by an idle period longer than the store's idle check (two periods of
      // 100 ms): the writer is given back after each and checked out again by the next burst
      for (let burst = 0; burst < 16; burst++) {
        await store.append(row('bursty', burst))
        await pause(350)
      }
      // warnings are emitted on the next tick
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.map((w) => w.message)).to.deep.equal([])
      const log = await store.loadRun('bursty')
      expect(log.map((r) => r.seq)).to.deep.equal(Array.from({ length: 16 }, (_, i) => i))
    } finally {
      process.off('warning', onWarning)
      await store.close()
      const admin = new pg.Pool({ connectionString: PG_URL, max: 1 })
      await admin.query(`DROP TABLE IF EXISTS ${table}`)
      await admin.end()
    }
  })
})
