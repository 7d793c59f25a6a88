/**
 * The durable runtime on PostgreSQL (issue 12), with real worker processes (`runtime.worker.ts`, forked):
 *
 * 1. runs/s of an I/O-bound workflow (three tasks of 20 ms) with 1, 2 and 4 workers, each at the same
 *    `concurrency`; the 2- and 4-worker figures as ratios to the 1-worker figure of the same repeat;
 * 2. pick-up of an orphaned run: a worker executing a run is SIGKILLed; the time from the kill to another
 *    (already running) worker's claim of it (its fence changes), against the lease;
 * 3. timer wake-up latency: runs whose `sleep` is longer than `parkAfterMs` park (leave memory and their
 *    lease); the time from their wake-up instant to the start of their next state;
 * 4. a worker's heap with 100 000 parked runs in the run table against the same worker on an empty table;
 * 5. claim overhead: claiming runs one by one (`claim` with limit 1, then `finish`) against a bare
 *    `SELECT 1` through the same pool, on a table with only those runs and beside 100 000 parked runs.
 *
 * Every table it creates is dropped at the end.
 *
 *   npx tsc -p tsconfig.bench.json && node --expose-gc .bench-dist/bench/runtime.bench.js
 *
 * `CANO_BENCH_RT_CONCURRENCY` (default `4,8`) lists the per-worker concurrencies of figure 1;
 * `CANO_BENCH_RT_PARTS` (e.g. `throughput,orphan`) runs only some of `throughput`, `orphan`, `timers`,
 * `heap` and `claim`.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'

import pg from 'pg'

import { postgresCheckpoints } from '../roots/stores/postgresCheckpoints.js'
import type { RunStore } from '../src/CheckpointStore.js'
import { type BenchResult, formatTable, isMain, median } from './lib.js'
import type { ParentMessage, WorkerMessage } from './runtime.worker.js'

const PG_URL = process.env['CANO_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const CONCURRENCY = (process.env['CANO_BENCH_RT_CONCURRENCY'] ?? '4,8').split(',').map(Number)
const PARTS = (process.env['CANO_BENCH_RT_PARTS'] ?? 'throughput,orphan,timers,heap,claim').split(',')
/** Runs per worker in one throughput measurement: about 3 s when the fleet scales. */
const RUNS_PER_WORKER = 300
const THROUGHPUT_REPEATS = 3
const WORKER_COUNTS = [1, 2, 4] as const
const ORPHAN_SAMPLES = 8
const ORPHAN_LEASE_MS = 3_000
/** The runtime's default poll (RuntimeOptions.pollMs): how often a worker looks for runs no notification announced. */
const DEFAULT_POLL_MS = 1_000
const PARK_AFTER_MS = 500
const NAPS = 20
const PARKED = 100_000
const CLAIM_RUNS = 200
const CLAIM_REPEATS = 7
const YEAR_MS = 365 * 24 * 3_600_000

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// -------------------------------------------------------------------------------------
// worker processes
// -------------------------------------------------------------------------------------

interface WorkerOptions {
  readonly concurrency?: number
  readonly leaseMs?: number
  readonly pollMs?: number
  readonly parkAfterMs?: number
}

interface Worker {
  readonly owner: string
  readonly child: ChildProcess
  /** The next message of `type` (one asked for with `ask`, or an event). */
  readonly ask: <T extends WorkerMessage['type']>(
    request: ParentMessage,
    type: T,
  ) => Promise<Extract<WorkerMessage, { type: T }>>
  readonly stop: () => Promise<void>
}

const WORKER = fileURLToPath(new URL('./runtime.worker.js', import.meta.url))

/** Forks a worker over `table` and resolves once it is ready; `onMessage` sees its events. */
const startWorker = (
  table: string,
  owner: string,
  o: WorkerOptions,
  onMessage: (m: WorkerMessage) => void = () => undefined,
): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const child = fork(
      WORKER,
      [
        table,
        owner,
        String(o.concurrency ?? 10),
        String(o.leaseMs ?? 30_000),
        String(o.pollMs ?? DEFAULT_POLL_MS),
        String(o.parkAfterMs ?? 60_000),
      ],
      { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    const waiting = new Map<string, Array<(m: WorkerMessage) => void>>()
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') return resolve(worker)
      const next = waiting.get(m.type)?.shift()
      if (next !== undefined) next(m)
      else onMessage(m)
    })
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`worker ${owner} exited with ${String(code)}`))
    })
    const worker: Worker = {
      owner,
      child,
      ask: (request, type) =>
        new Promise((answer) => {
          const list = waiting.get(type) ?? []
          list.push(answer as (m: WorkerMessage) => void)
          waiting.set(type, list)
          child.send(request)
        }),
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.send('stop')
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(killer)
      },
    }
  })

// -------------------------------------------------------------------------------------
// the run table
// -------------------------------------------------------------------------------------

interface Tables {
  readonly pool: pg.Pool
  /** The store's log table; its run table is `<log>_runs`. */
  readonly log: string
  readonly runs: string
  /** A store over the tables (creates them): the parent's `start`s, which notify the workers. */
  readonly store: RunStore
}

const openTables = async (pool: pg.Pool, log: string): Promise<Tables> => {
  const store = postgresCheckpoints({ pool, table: log })
  await store.runs.list({ limit: 1 })
  return { pool, log, runs: `${log}_runs`, store }
}

const truncate = (t: Tables): Promise<unknown> => t.pool.query(`TRUNCATE ${t.log}, ${t.runs}`)

/**
 * Inserts `count` runs of `workflow` in one statement, ids `<prefix><n>`: pending (due now), or parked
 * until `wakeAt`. The columns are those of the run table (roots/stores/postgresCheckpoints.ts).
 */
const insertRuns = async (
  t: Tables,
  o: { readonly prefix: string; readonly count: number; readonly workflow: string; readonly initial: string },
  wakeAt?: number,
): Promise<number> => {
  const now = Date.now()
  await t.pool.query(
    `INSERT INTO ${t.runs} (workflow_id, workflow, version, initial, status, owner, lease_until, fence, wake_at,
       input, output, error, cancel_requested, created_at, updated_at, ended_at, due_at)
     SELECT $1 || g, $2, 0, $3, $4, NULL, NULL, 0, $5::bigint, 'null'::jsonb, 'null'::jsonb, 'null'::jsonb, false,
       $6::bigint, $6::bigint, NULL, COALESCE($5::bigint, $6::bigint)
     FROM generate_series(1, $7::int) AS g`,
    [o.prefix, o.workflow, o.initial, wakeAt === undefined ? 'pending' : 'parked', wakeAt ?? null, now, o.count],
  )
  return now
}

/** Waits until every run whose id starts with `prefix` completed; resolves with the last `ended_at`. */
const allCompleted = async (t: Tables, prefix: string, count: number, timeoutMs = 180_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await t.pool.query<{ done: number; last: string | null }>(
      `SELECT count(*)::int AS done, max(ended_at) AS last FROM ${t.runs}
       WHERE starts_with(workflow_id, $1) AND status = 'completed'`,
      [prefix],
    )
    const r = rows[0]
    if (r !== undefined && r.done >= count && r.last !== null) return Number(r.last)
    if (Date.now() > deadline) throw new Error(`${String(r?.done ?? 0)} of ${String(count)} runs ${prefix}* completed`)
    await sleepMs(50)
  }
}

// -------------------------------------------------------------------------------------
// CPU accounting (Linux /proc): what limits the fleet
// -------------------------------------------------------------------------------------

/** Busy and total jiffies of the whole machine. */
const machineTicks = (): { readonly busy: number; readonly total: number } => {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

/** User + system jiffies of every PostgreSQL process (the server runs on this machine). */
const postgresTicks = (): number => {
  let sum = 0
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue
      const rest = stat.slice(close + 2).split(' ')
      sum += Number(rest[11]) + Number(rest[12]) // utime, stime (fields 14 and 15)
    } catch {
      // the process ended meanwhile
    }
  }
  return sum
}

const TICKS_PER_S = 100 // USER_HZ on Linux

// -------------------------------------------------------------------------------------
// 1. throughput with 1, 2 and 4 workers
// -------------------------------------------------------------------------------------

interface Throughput {
  readonly runsPerS: number
  /**
   * CPU used during the measurement, in cores: the whole machine, PostgreSQL, the workers together, this
   * process (its polls of the table), and everything else on the machine (other users of its 2 cores).
   */
  readonly machine: number
  readonly postgres: number
  readonly workers: number
  readonly others: number
}

const throughputOnce = async (t: Tables, workers: number, concurrency: number, tag: string): Promise<Throughput> => {
  await truncate(t)
  const fleet = await Promise.all(
    Array.from({ length: workers }, (_, i) => startWorker(t.log, `w${String(i)}`, { concurrency })),
  )
  try {
    // warm-up: every worker runs some runs before the measurement (JIT, pool connections)
    const warm = 4 * concurrency * workers
    await insertRuns(t, { prefix: `warm-${tag}-`, count: warm, workflow: 'io', initial: 'A' })
    // statistics as autovacuum keeps them on a table in use: without any, PostgreSQL may plan the claim
    // as a scan and sort of every due run instead of a walk of the due index (bench/README.md)
    await t.pool.query(`ANALYZE ${t.runs}`)
    await t.store.runs.create({ workflowId: `poke-${tag}`, workflow: 'io', version: 0, initial: 'A', input: null })
    await allCompleted(t, `warm-${tag}-`, warm)
    const count = RUNS_PER_WORKER * workers
    const cpu0 = await Promise.all(fleet.map((w) => w.ask('cpu', 'cpu')))
    const m0 = machineTicks()
    const p0 = postgresTicks()
    const own0 = process.cpuUsage()
    const t0 = await insertRuns(t, { prefix: `m-${tag}-`, count, workflow: 'io', initial: 'A' })
    // one run created through the store: its notification makes every worker claim at once
    await t.store.runs.create({ workflowId: `poke2-${tag}`, workflow: 'io', version: 0, initial: 'A', input: null })
    const last = await allCompleted(t, `m-${tag}-`, count)
    const own = process.cpuUsage(own0)
    const m1 = machineTicks()
    const p1 = postgresTicks()
    const cpu1 = await Promise.all(fleet.map((w) => w.ask('cpu', 'cpu')))
    const wallS = (Date.now() - t0) / 1000
    const machine = ((m1.busy - m0.busy) / (m1.total - m0.total)) * cpus().length
    const postgres = (p1 - p0) / TICKS_PER_S / wallS
    const workerCores = cpu1.reduce((a, c, i) => a + c.micros - (cpu0[i]?.micros ?? 0), 0) / 1e6 / wallS
    const self = (own.user + own.system) / 1e6 / wallS
    return {
      runsPerS: count / ((last - t0) / 1000),
      machine,
      postgres,
      workers: workerCores,
      others: Math.max(0, machine - postgres - workerCores - self),
    }
  } finally {
    await Promise.all(fleet.map((w) => w.stop()))
  }
}

const throughput = async (t: Tables, concurrency: number): Promise<BenchResult[]> => {
  const samples = new Map<number, Throughput[]>(WORKER_COUNTS.map((n) => [n, []]))
  const ratios = new Map<number, number[]>(WORKER_COUNTS.map((n) => [n, []]))
  for (let r = 0; r < THROUGHPUT_REPEATS; r++) {
    const round = new Map<number, Throughput>()
    for (const n of WORKER_COUNTS) {
      const s = await throughputOnce(t, n, concurrency, `${String(concurrency)}-${String(r)}-${String(n)}`)
      round.set(n, s)
      samples.get(n)?.push(s)
    }
    const one = round.get(1)?.runsPerS ?? Number.NaN
    for (const n of WORKER_COUNTS) ratios.get(n)?.push((round.get(n)?.runsPerS ?? Number.NaN) / one)
  }
  const cores = (n: number): string => {
    const s = samples.get(n) ?? []
    const f = (k: keyof Throughput): string => median(s.map((x) => x[k])).toFixed(2)
    return `CPU cores: machine ${f('machine')} of ${String(cpus().length)} (PostgreSQL ${f('postgres')}, workers ${f('workers')}, others ${f('others')})`
  }
  const perRun = (n: number): string => {
    const s = samples.get(n) ?? []
    const ms = (k: 'postgres' | 'workers'): string => median(s.map((x) => (x[k] / x.runsPerS) * 1000)).toFixed(1)
    return `CPU per run: PostgreSQL ${ms('postgres')} ms, worker ${ms('workers')} ms`
  }
  return WORKER_COUNTS.map((n) => ({
    name: `${String(n)} worker${n === 1 ? '' : 's'} x concurrency ${String(concurrency)}, io runs (3 tasks of 20 ms)`,
    value: median((samples.get(n) ?? []).map((s) => s.runsPerS)),
    unit: 'runs/s',
    ...(n === 1
      ? {
          note: `${String(RUNS_PER_WORKER)} runs per worker; ideal ${((concurrency * 1000) / (3 * 20)).toFixed(0)} runs/s; ${cores(n)}; ${perRun(n)}`,
        }
      : {
          baseline: '1 worker',
          ratio: median(ratios.get(n) ?? []),
          note: `${n === 4 ? 'target >= 3.2x; ' : ''}median of ${String(THROUGHPUT_REPEATS)} per-repeat ratios; ${cores(n)}; ${perRun(n)}`,
        }),
  }))
}

// -------------------------------------------------------------------------------------
// 2. pick-up of an orphaned run
// -------------------------------------------------------------------------------------

interface RunRow {
  readonly fence: number
  readonly owner: string | null
  readonly status: string
  readonly leaseUntil: number | null
  readonly updatedAt: number
}

const readRun = async (t: Tables, id: string): Promise<RunRow | undefined> => {
  const { rows } = await t.pool.query<{
    fence: string
    owner: string | null
    status: string
    lease_until: string | null
    updated_at: string
  }>(`SELECT fence, owner, status, lease_until, updated_at FROM ${t.runs} WHERE workflow_id = $1`, [id])
  const r = rows[0]
  return r === undefined
    ? undefined
    : {
        fence: Number(r.fence),
        owner: r.owner,
        status: r.status,
        leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
        updatedAt: Number(r.updated_at),
      }
}

const until = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  everyMs: number,
  timeoutMs = 60_000,
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const a = await probe()
    if (a !== undefined) return a
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleepMs(everyMs)
  }
}

interface PickUp {
  /** From the kill to the other worker's claim. */
  readonly pickUpMs: number
  /** From the dead owner's lease expiry to the claim. */
  readonly afterExpiryMs: number
}

const orphanOnce = async (t: Tables, n: number): Promise<PickUp> => {
  await truncate(t)
  const id = `orphan-${String(n)}`
  const opts = { leaseMs: ORPHAN_LEASE_MS }
  const a = await startWorker(t.log, 'A', opts)
  let b: Worker | undefined
  try {
    await t.store.runs.create({ workflowId: id, workflow: 'hold', version: 0, initial: 'Hold', input: null })
    const held = await until(
      'A to claim the run',
      async () => {
        const r = await readRun(t, id)
        return r?.status === 'running' && r.owner === 'A' ? r : undefined
      },
      10,
    )
    b = await startWorker(t.log, 'B', opts)
    // the kill lands at any phase of A's renewals (every leaseMs / 3)
    await sleepMs(200 + Math.random() * (ORPHAN_LEASE_MS / 3))
    const killedAt = Date.now()
    a.child.kill('SIGKILL')
    await sleepMs(50) // a renewal A had sent before it died has committed by now
    const dead = await readRun(t, id)
    if (dead === undefined || dead.fence !== held.fence || dead.leaseUntil === null)
      throw new Error(`run ${id} changed hands before the lease expired`)
    const claimed = await until(
      "B's claim",
      async () => {
        const r = await readRun(t, id)
        return r !== undefined && r.fence > held.fence ? r : undefined
      },
      5,
    )
    if (claimed.owner !== 'B') throw new Error(`run ${id} was claimed by ${String(claimed.owner)}, not B`)
    // updated_at is the claim's own instant (Date.now() of B, the clock of this machine)
    return { pickUpMs: claimed.updatedAt - killedAt, afterExpiryMs: claimed.updatedAt - dead.leaseUntil }
  } finally {
    a.child.kill('SIGKILL')
    await b?.stop()
  }
}

const orphan = async (t: Tables): Promise<BenchResult[]> => {
  const samples: PickUp[] = []
  for (let n = 0; n < ORPHAN_SAMPLES; n++) samples.push(await orphanOnce(t, n))
  const pick = samples.map((s) => s.pickUpMs)
  const over = pick.map((p) => p - ORPHAN_LEASE_MS)
  const expiry = samples.map((s) => s.afterExpiryMs)
  return [
    {
      name: `orphaned run picked up after SIGKILL (lease ${String(ORPHAN_LEASE_MS)} ms, poll ${String(DEFAULT_POLL_MS)} ms)`,
      value: median(pick),
      unit: 'ms',
      baseline: 'lease',
      ratio: median(pick) / ORPHAN_LEASE_MS,
      note: `median of ${String(ORPHAN_SAMPLES)}: ${pick.map((p) => p.toFixed(0)).join(', ')} ms`,
    },
    {
      name: 'pick-up minus the lease',
      value: median(over),
      unit: 'ms',
      note: `max ${Math.max(...over).toFixed(0)} ms; target <= 1000 ms (pick-up <= lease + 1 s)`,
    },
    {
      name: "claim after the dead owner's lease expired",
      value: median(expiry),
      unit: 'ms',
      note: `max ${Math.max(...expiry).toFixed(0)} ms; found by the next poll (pollMs ${String(DEFAULT_POLL_MS)})`,
    },
  ]
}

// -------------------------------------------------------------------------------------
// 3. timer wake-up latency
// -------------------------------------------------------------------------------------

/**
 * Latencies (ms) of nap runs over 2 workers: the time from each run's wake-up instant (reported when it
 * parked) to the start of its next state. `sleeps` are the runs' sleeps, started together; with
 * `oneAtATime` each run is started after the previous one woke, so its wake-up is the only one due.
 */
const napLatencies = async (
  t: Tables,
  prefix: string,
  sleeps: ReadonlyArray<number>,
  oneAtATime: boolean,
): Promise<number[]> => {
  await truncate(t)
  const wakeAt = new Map<string, number>()
  const wokeAt = new Map<string, number>()
  const waiting = new Map<string, () => void>()
  const seen = (m: WorkerMessage): void => {
    if (m.type === 'parked') wakeAt.set(m.id, m.wakeAt)
    if (m.type === 'woke') {
      wokeAt.set(m.id, m.at)
      waiting.get(m.id)?.()
    }
  }
  const fleet = await Promise.all(
    ['n0', 'n1'].map((owner) => startWorker(t.log, owner, { parkAfterMs: PARK_AFTER_MS }, seen)),
  )
  const woke = (id: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (wokeAt.has(id)) return resolve()
      const timeout = setTimeout(() => reject(new Error(`nap run ${id} did not wake`)), 60_000)
      waiting.set(id, () => {
        clearTimeout(timeout)
        resolve()
      })
    })
  try {
    const ids = sleeps.map((ms, i) => `${prefix}${String(i)}:${String(ms)}`)
    const start = (id: string): Promise<unknown> =>
      t.store.runs.create({ workflowId: id, workflow: 'nap', version: 0, initial: 'Nap', input: null })
    if (oneAtATime) for (const id of ids) await start(id).then(() => woke(id))
    else {
      await Promise.all(ids.map(start))
      await Promise.all(ids.map(woke))
    }
    return ids.map((id) => {
      const w = wakeAt.get(id)
      const at = wokeAt.get(id)
      if (w === undefined || at === undefined) throw new Error(`nap run ${id} woke without parking`)
      return at - w
    })
  } finally {
    await Promise.all(fleet.map((w) => w.stop()))
  }
}

const timers = async (t: Tables): Promise<BenchResult[]> => {
  const alone = await napLatencies(
    t,
    'nap-alone-',
    Array.from({ length: NAPS / 2 }, () => PARK_AFTER_MS + 300),
    true,
  )
  const together = await napLatencies(
    t,
    'nap-together-',
    Array.from({ length: NAPS }, (_, i) => 1_000 + 100 * i),
    false,
  )
  const row = (name: string, xs: number[], how: string): BenchResult => ({
    name,
    value: median(xs),
    unit: 'ms',
    note: `max ${Math.max(...xs).toFixed(0)} ms over ${String(xs.length)} runs; ${how}; target <= 100 ms`,
  })
  const setting = `parkAfterMs ${String(PARK_AFTER_MS)}, 2 workers, pollMs ${String(DEFAULT_POLL_MS)}`
  return [
    row(
      'timer wake-up latency, one parked run at a time',
      alone,
      `sleep ${String(PARK_AFTER_MS + 300)} ms, ${setting}`,
    ),
    row(
      `timer wake-up latency, ${String(NAPS)} parked runs, wake-ups 100 ms apart`,
      together,
      `sleeps 1000, 1100, … ms started together, ${setting}`,
    ),
  ]
}

// -------------------------------------------------------------------------------------
// 4. heap with 100 000 parked runs
// -------------------------------------------------------------------------------------

const heapOf = async (w: Worker): Promise<number> => {
  const xs: number[] = []
  for (let i = 0; i < 3; i++) xs.push((await w.ask('heap', 'heap')).bytes)
  return median(xs)
}

const parkedHeap = async (t: Tables): Promise<BenchResult[]> => {
  await truncate(t)
  const pollMs = 200
  const w = await startWorker(t.log, 'h', { pollMs })
  try {
    await sleepMs(5 * pollMs)
    const empty = await heapOf(w)
    const i0 = performance.now()
    await insertRuns(t, { prefix: 'parked-', count: PARKED, workflow: 'nap', initial: 'Nap' }, Date.now() + YEAR_MS)
    const insertMs = performance.now() - i0
    await t.pool.query(`ANALYZE ${t.runs}`)
    await sleepMs(6 * pollMs)
    const full = await heapOf(w)
    return [
      {
        name: 'worker heap: 100 000 parked runs in the table minus an empty table',
        value: (full - empty) / 1e6,
        unit: 'MB',
        note: `after gc, 6 polls of ${String(pollMs)} ms later: ${(empty / 1e6).toFixed(1)} -> ${(full / 1e6).toFixed(1)} MB; target <= 50 MB; inserted in ${insertMs.toFixed(0)} ms`,
      },
    ]
  } finally {
    await w.stop()
  }
}

// -------------------------------------------------------------------------------------
// 5. claim overhead
// -------------------------------------------------------------------------------------

const CLAIM_SETTINGS = {
  fresh: 'a new table (no statistics yet)',
  analyzed: 'the same table after ANALYZE',
  parked: 'beside 100 000 parked runs',
} as const

/**
 * ms per run of claim (limit 1) + finish on `t`, against a bare `SELECT 1` and a bare one-row `UPDATE`
 * (one commit) through the same pool, interleaved repeats. With `analyze`, the table's statistics are
 * refreshed first (autovacuum does it on a table in use).
 */
const claimOverhead = async (t: Tables, setting: keyof typeof CLAIM_SETTINGS): Promise<BenchResult[]> => {
  const { store, pool } = t
  const prefix = `claim-${setting}-`
  await insertRuns(t, { prefix, count: CLAIM_RUNS * (CLAIM_REPEATS + 1), workflow: 'io', initial: 'A' })
  if (setting !== 'fresh') await pool.query(`ANALYZE ${t.runs}`)
  const claimOne = async (): Promise<void> => {
    const [r] = await store.runs.claim('bench', { limit: 1, leaseMs: 30_000, workflows: ['io', 'hold', 'nap'] })
    if (r === undefined) throw new Error('nothing to claim')
    await store.runs.finish(r.workflowId, r.fence, { status: 'completed', output: null, error: null })
  }
  const select1 = async (): Promise<void> => {
    await pool.query('SELECT 1')
  }
  // one row's UPDATE, committed: the floor of a write transaction (the row is one of the runs, ended by then)
  const updateOne = async (): Promise<void> => {
    const { rowCount } = await pool.query(`UPDATE ${t.runs} SET updated_at = updated_at + 1 WHERE workflow_id = $1`, [
      `${prefix}1`,
    ])
    if (rowCount !== 1) throw new Error(`no run ${prefix}1 to update`)
  }
  const time = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = performance.now()
    for (let i = 0; i < CLAIM_RUNS; i++) await fn()
    return (performance.now() - t0) / CLAIM_RUNS
  }
  await time(claimOne) // warm-up
  await time(select1)
  await time(updateOne)
  const claims: number[] = []
  const selects: number[] = []
  const updates: number[] = []
  const ratios: number[] = []
  for (let r = 0; r < CLAIM_REPEATS; r++) {
    const c = await time(claimOne)
    const s = await time(select1)
    const u = await time(updateOne)
    claims.push(c)
    selects.push(s)
    updates.push(u)
    ratios.push(c / s)
  }
  const c = median(claims)
  const s = median(selects)
  const u = median(updates)
  return [
    {
      name: `claim (limit 1) + finish per run, ${CLAIM_SETTINGS[setting]}`,
      value: c,
      unit: 'ms/run',
      baseline: 'SELECT 1',
      ratio: median(ratios),
      note: `target <= 2 ms per run; bare SELECT 1 ${s.toFixed(2)} ms, bare one-row UPDATE (a commit) ${u.toFixed(2)} ms; claim + finish are two commits; median of ${String(CLAIM_REPEATS)} x ${String(CLAIM_RUNS)}`,
    },
  ]
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** Every figure of the module comment, on a table of its own (dropped at the end). */
export const run = async (): Promise<BenchResult[]> => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
  const log = `cano_rtbench_${String(process.pid)}`
  const claimLog = `cano_rtbench_claim_${String(process.pid)}`
  const opened: Tables[] = []
  try {
    const t = await openTables(pool, log)
    opened.push(t)
    const results: BenchResult[] = []
    if (PARTS.includes('throughput')) for (const c of CONCURRENCY) results.push(...(await throughput(t, c)))
    if (PARTS.includes('orphan')) results.push(...(await orphan(t)))
    if (PARTS.includes('timers')) results.push(...(await timers(t)))
    if (PARTS.includes('heap')) results.push(...(await parkedHeap(t))) // leaves the 100 000 parked runs in place
    if (PARTS.includes('claim')) {
      const c = await openTables(pool, claimLog)
      opened.push(c)
      results.push(...(await claimOverhead(c, 'fresh')))
      results.push(...(await claimOverhead(c, 'analyzed')))
      if (PARTS.includes('heap')) results.push(...(await claimOverhead(t, 'parked')))
    }
    return results
  } finally {
    for (const t of opened) await t.store.close()
    for (const name of [log, claimLog]) await pool.query(`DROP TABLE IF EXISTS ${name}, ${name}_runs`)
    await pool.end()
  }
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
