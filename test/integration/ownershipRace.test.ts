/**
 * Run ownership under races between real processes (issue 12): two processes start, or resume, one run id
 * at the same instant and 20–400 ms apart, on a SQLite file and on PostgreSQL. Exactly one executes the
 * run; the other is refused with a clear error (`RunOwned` naming the owner, or the existing run's
 * conflict, or the ended run); no state runs twice. The tasks log each execution to a file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'
import pg from 'pg'

import { type RunStore } from '../../roots/index.js'
import { postgresCheckpoints } from '../../roots/postgres.js'
import { sqliteCheckpoints } from '../../roots/sqlite.js'
import { type FixtureOutcome, runFixture } from '../helpers/fixtureProcess.js'

const FIXTURE = join(import.meta.dirname, 'fixtures', 'raceWorkflow.ts')
const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

type Outcome = FixtureOutcome
const child = (args: ReadonlyArray<string>): Promise<Outcome> => runFixture(FIXTURE, args)

/** The two processes' outcomes and the log of executed states. */
const race = async (
  modes: readonly [string, string],
  target: string,
  logFile: string,
  id: string,
  gapMs: number,
): Promise<{ readonly outcomes: Outcome[]; readonly executed: string[] }> => {
  const at = Date.now() + 1_500 // both children are up and connected by then
  const outcomes = await Promise.all([
    child([modes[0], target, logFile, id, String(at)]),
    child([modes[1], target, logFile, id, String(at + gapMs)]),
  ])
  const executed = existsSync(logFile)
    ? readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : []
  return { outcomes, executed }
}

/** One executed the run, the other was refused clearly; every state ran once, by the executor. */
const checkOneExecutor = (outcomes: Outcome[], executed: string[], already: ReadonlyArray<string> = []): void => {
  const done = outcomes.filter((o) => o.out.startsWith('DONE'))
  const refused = outcomes.filter((o) => o.out.startsWith('REFUSED'))
  expect(done, outcomes.map((o) => o.out).join(' | ')).to.have.length(1)
  expect(refused, outcomes.map((o) => o.out).join(' | ')).to.have.length(1)
  expect(refused[0]?.out).to.match(
    /^REFUSED (RunOwned: .*owned by "pid-\d+-|CheckpointStore: .*(conflict|has ended|exists))/,
  )
  const states = executed.filter((l) => !already.includes(l)).map((l) => l.split(' ')[1])
  expect(states.length, executed.join(', ')).to.equal(new Set(states).size)
  const executor = String(done[0]?.pid)
  expect(executed.filter((l) => !already.includes(l)).every((l) => l.startsWith(`${executor} `))).to.equal(true)
}

const GAPS = [0, 20, 100, 400]

describe('ownership races between processes (real processes)', function () {
  this.timeout(120_000)

  const suite = (name: string, open: () => Promise<{ store: RunStore; target: string; drop: () => Promise<void> }>) =>
    describe(name, () => {
      let dir: string
      let env: { store: RunStore; target: string; drop: () => Promise<void> }
      beforeEach(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cano-race-'))
        env = await open()
      })
      afterEach(async () => {
        await env.drop()
        rmSync(dir, { recursive: true, force: true })
      })

      for (const gap of GAPS) {
        it(`two processes start one id ${String(gap)} ms apart: one executes, the other is refused, no state runs twice`, async () => {
          const { outcomes, executed } = await race(
            ['start', 'start'],
            env.target,
            join(dir, 'log'),
            `s-${String(gap)}`,
            gap,
          )
          checkOneExecutor(outcomes, executed)
          expect(executed.map((l) => l.split(' ')[1])).to.deep.equal(['S0', 'S1', 'S2', 'S3'])
        })

        it(`two processes resume one crashed run ${String(gap)} ms apart: one executes, the other is refused, no state runs twice`, async () => {
          const id = `r-${String(gap)}`
          // a run that crashed in S2: its record is running under a lease that has ended, its log reaches S2
          await env.store.runs.create({
            workflowId: id,
            workflow: '',
            version: 0,
            initial: 'S0',
            input: null,
            owner: 'crashed',
            leaseMs: 1,
          })
          for (const [seq, state] of ['S0', 'S1', 'S2'].entries())
            await env.store.append(
              { workflowId: id, seq, kind: 'StateEntry', state, taskId: state, payload: null, version: 0, at: 0 },
              1,
            )
          const { outcomes, executed } = await race(['resume', 'resume'], env.target, join(dir, 'log'), id, gap)
          checkOneExecutor(outcomes, executed)
          expect(executed.map((l) => l.split(' ')[1])).to.deep.equal(['S2', 'S3'])
          expect((await env.store.runs.get(id))?.status).to.equal('completed')
        })
      }
    })

  suite('on one SQLite file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cano-race-db-')), 'race.db')
    const store = sqliteCheckpoints(file, { busyTimeoutMs: 10_000 })
    return { store, target: `sqlite:${file}`, drop: () => store.close() }
  })

  suite('on PostgreSQL', async () => {
    const table = `race_${String(process.pid)}_${String(Date.now())}`
    const store = postgresCheckpoints({ connectionString: PG_URL, table })
    await store.listRuns()
    return {
      store,
      target: `postgres:${table}`,
      drop: async () => {
        await store.close()
        const admin = new pg.Pool({ connectionString: PG_URL, max: 1 })
        await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_runs`)
        await admin.end()
      },
    }
  })
})
