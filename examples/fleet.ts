/**
 * A fleet of workers on PostgreSQL: three worker processes run the same runtime over one database; 12
 * runs are started, one worker is killed (SIGKILL) in the middle of its runs, and the others pick those
 * runs up once their lease ends. Prints which worker finished each run.
 *
 *   npx tsx examples/fleet.ts            (PostgreSQL at $CANO_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
 *
 * Each worker is this same file started with `--worker <name>`: all a worker does is `createRuntime`.
 */
import { type ChildProcess, spawn } from 'node:child_process'

import { createRuntime, RetryMode, type RunRecord, task, workflow } from '../roots/index.js'
import { postgresCheckpoints } from '../roots/postgres.js'

const PG_URL = process.env['CANO_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const TABLE = process.env['CANO_FLEET_TABLE'] ?? `cano_fleet_example_${String(process.pid)}`
const LEASE_MS = 1_500

type Step = 'Fetch' | 'Process' | 'Store' | 'Done'
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), reject(new Error('aborted'))), { once: true })
  })

/** Three states of 300 ms each: long enough for a kill to land in the middle of a run. */
const job = workflow<Step>()({
  exits: ['Done'],
  states: {
    Fetch: task(async ({ signal }) => (await pause(300, signal), 'Process' as const), { retry: RetryMode.none() }),
    Process: task(async ({ signal }) => (await pause(300, signal), 'Store' as const)),
    Store: task(async ({ signal }) => (await pause(300, signal), 'Done' as const)),
  },
})

const worker = async (name: string): Promise<void> => {
  const store = postgresCheckpoints({ connectionString: PG_URL, table: TABLE })
  const runtime = createRuntime({
    store,
    workflows: { job: { workflow: job, initial: 'Fetch' } },
    owner: name,
    concurrency: 3,
    leaseMs: LEASE_MS,
    pollMs: 100,
  })
  console.log('READY')
  process.once('SIGTERM', () => {
    void runtime
      .stop({ graceMs: 1_000 })
      .then(() => store.close())
      .then(() => process.exit(0))
  })
}

const main = async (): Promise<void> => {
  const store = postgresCheckpoints({ connectionString: PG_URL, table: TABLE })
  const workers = new Map<string, ChildProcess>()
  const start = (name: string): Promise<void> =>
    new Promise((ready) => {
      const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--worker', name], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, CANO_FLEET_TABLE: TABLE },
      })
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('READY')) ready()
      })
      workers.set(name, child)
    })
  try {
    await Promise.all(['worker-1', 'worker-2', 'worker-3'].map(start))
    console.log('3 workers up; starting 12 runs')
    const ids = Array.from({ length: 12 }, (_, i) => `job-${String(i + 1).padStart(2, '0')}`)
    for (const id of ids)
      await store.runs.create({ workflowId: id, workflow: 'job', version: 0, initial: 'Fetch', input: null })
    // kill worker-2 once it is in the middle of its runs
    await new Promise((r) => setTimeout(r, 500))
    const held = (await store.runs.list({ status: ['running'] })).filter((r) => r.owner === 'worker-2')
    workers.get('worker-2')?.kill('SIGKILL')
    console.log(
      `killed worker-2 (SIGKILL) while it ran ${held.map((r) => r.workflowId).join(', ') || 'nothing yet'}; its runs wait for their lease (${String(LEASE_MS)} ms)`,
    )
    let done: ReadonlyArray<RunRecord> = []
    const until = Date.now() + 30_000
    while (done.length < ids.length && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200))
      done = await store.runs.list({ status: ['completed', 'failed', 'cancelled', 'timedOut'] })
    }
    const rescued = new Set(held.map((r) => r.workflowId))
    for (const r of [...done].sort((a, b) => a.workflowId.localeCompare(b.workflowId)))
      console.log(
        `${r.workflowId}: ${r.status} by ${r.owner ?? '?'}${rescued.has(r.workflowId) ? ` (taken over from worker-2, fence ${String(r.fence)})` : ''}`,
      )
    console.log(
      `${String(done.filter((r) => r.status === 'completed').length)} of ${String(ids.length)} runs completed`,
    )
  } finally {
    for (const child of workers.values()) child.kill('SIGTERM')
    await Promise.all(
      [...workers.values()].map(
        (c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(0) : c.once('exit', r))),
      ),
    )
    const pg = await import('pg')
    const admin = new pg.default.Pool({ connectionString: PG_URL, max: 1 })
    await admin.query(`DROP TABLE IF EXISTS ${TABLE}, ${TABLE}_runs`)
    await admin.end()
    await store.close()
  }
}

const at = process.argv.indexOf('--worker')
if (at >= 0) await worker(process.argv[at + 1] ?? 'worker')
else await main()
