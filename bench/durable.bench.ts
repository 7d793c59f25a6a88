/**
 * Durable throughput of the engine (issue 4): checkpointed transitions per second of one run on
 * SQLite (`synchronous=FULL`) against the floor (one bare `INSERT` per transaction with the same
 * pragmas and row size, in this process), 100 concurrent runs on one SQLite file (group commit)
 * against the single-run figure, runs/s of 1 000 concurrent short runs (20 transitions) against the
 * same short runs one at a time (issue 16), and the first two figures on PostgreSQL against a bare `pg`
 * INSERT loop. Medians of per-repeat ratios; PostgreSQL's one-run figure is the median of per-block ratios,
 * the floor and the run alternating in blocks of 150 (its commit latency drifts too much for 300-row
 * samples taken one after the other: their ratios read 0.48x to 2.62x within one run).
 *
 *   npx tsc -p tsconfig.bench.json && node --expose-gc .bench-dist/bench/durable.bench.js
 *   CANO_BENCH_DURABLE_PARTS=sqlite node --expose-gc .bench-dist/bench/run.js durable   (SQLite only)
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import pg from 'pg'

import { postgresCheckpoints } from '../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../roots/stores/sqliteCheckpoints.js'
import { workflow } from '../roots/Workflow.js'
import type { CheckpointStore } from '../src/CheckpointStore.js'
import { task } from '../src/StateHandler.js'
import { pgFloor, settle, sqliteFloor } from './checkpoints.bench.js'
import { type BenchResult, formatTable, isMain, median, quartiles } from './lib.js'

const REPEATS = 5
/** Which halves run: `sqlite`, `postgres` or both (the default), comma-separated. */
const PARTS = (process.env['CANO_BENCH_DURABLE_PARTS'] ?? 'sqlite,postgres').split(',')
/** The short runs of the 1 000-runs figure: this many transitions each. */
const SHORT = 20
const PG_URL = process.env['CANO_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
/** PostgreSQL's one-run figure: blocks per repeat, each of this many transitions (and as many floor rows). */
const PG_BLOCKS = 8
const PG_BLOCK = 150

type Cycle = 'A' | 'B' | 'C' | 'D' | 'E' | 'Done'
const NEXT: Readonly<Record<Exclude<Cycle, 'Done'>, Cycle>> = { A: 'B', B: 'C', C: 'D', D: 'E', E: 'A' }

/** A 5-state cycle that stops after `transitions` task states. */
const cycle = (store: CheckpointStore) => {
  const left = new Map<string, number>()
  const step =
    (s: Exclude<Cycle, 'Done'>) =>
    async ({ workflowId }: { workflowId: string }): Promise<Cycle> => {
      const n = (left.get(workflowId) ?? 0) - 1
      left.set(workflowId, n)
      return n <= 0 ? 'Done' : NEXT[s]
    }
  const flow = workflow<Cycle>()({
    checkpoints: store,
    exits: ['Done'],
    states: { A: task(step('A')), B: task(step('B')), C: task(step('C')), D: task(step('D')), E: task(step('E')) },
  })
  return (workflowId: string, transitions: number): Promise<Cycle> => {
    left.set(workflowId, transitions)
    return flow.orchestrate('A', { workflowId })
  }
}

/** The lower and upper quartiles of `xs`, as text. */
const spread = (xs: ReadonlyArray<number>): string => {
  const q = quartiles(xs)
  return `${q.q1.toFixed(2)}..${q.q3.toFixed(2)}`
}

const perSecond = (count: number, t0: number): number => count / ((performance.now() - t0) / 1000)

/** Transitions/s of one run (each transition writes its entry row; the exit row and the clear are included). */
const oneRun = async (store: CheckpointStore, transitions: number): Promise<number> => {
  const run = cycle(store)
  await run(`warm-${randomUUID()}`, 50)
  const t0 = performance.now()
  await run(randomUUID(), transitions)
  return perSecond(transitions, t0)
}

/** Aggregate transitions/s of `runs` concurrent runs on one store. */
const manyRuns = async (store: CheckpointStore, runs: number, transitions: number): Promise<number> => {
  const run = cycle(store)
  const t0 = performance.now()
  await Promise.all(Array.from({ length: runs }, () => run(randomUUID(), transitions)))
  return perSecond(runs * transitions, t0)
}

/** Runs/s of `runs` short runs one after another (each alone: its create, rows and finish commit on their own). */
const shortRunsInSequence = async (store: CheckpointStore, runs: number): Promise<number> => {
  const run = cycle(store)
  await run(`warm-${randomUUID()}`, SHORT)
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) await run(randomUUID(), SHORT)
  return perSecond(runs, t0)
}

/** Runs/s of `runs` short runs started together. */
const shortRunsTogether = async (store: CheckpointStore, runs: number): Promise<number> => {
  const run = cycle(store)
  const t0 = performance.now()
  await Promise.all(Array.from({ length: runs }, () => run(randomUUID(), SHORT)))
  return perSecond(runs, t0)
}

const sqlite = async (): Promise<BenchResult[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'cano-rx-durable-'))
  const vsFloor: number[] = []
  const single: number[] = []
  const floor: number[] = []
  const vsSingle: number[] = []
  const many: number[] = []
  const alone: number[] = []
  const thousand: number[] = []
  const vsAlone: number[] = []
  const commitsOfThousand: number[] = []
  let commits = 0
  try {
    for (let r = 0; r < REPEATS; r++) {
      settle()
      const f = sqliteFloor(join(dir, `floor-${r}.db`), 1_000)
      settle()
      const store = sqliteCheckpoints(join(dir, `ours-${r}.db`), { onCommit: () => commits++ })
      const o = await oneRun(store, 1_000)
      settle()
      const m = await manyRuns(store, 100, 40)
      settle()
      const a = await shortRunsInSequence(store, 50)
      settle()
      commits = 0
      const k = await shortRunsTogether(store, 1_000)
      commitsOfThousand.push(commits)
      await store.close()
      floor.push(f)
      single.push(o)
      many.push(m)
      vsFloor.push(o / f)
      vsSingle.push(m / o)
      alone.push(a)
      thousand.push(k)
      vsAlone.push(k / a)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return [
    { name: 'SQLite floor: bare INSERT per transaction (FULL)', value: median(floor), unit: 'rows/s' },
    {
      name: 'SQLite: checkpointed transitions of one run',
      value: median(single),
      unit: 'transitions/s',
      baseline: 'floor',
      ratio: median(vsFloor),
      note: 'target >= 0.7',
    },
    {
      name: 'SQLite: 100 concurrent runs, group commit',
      value: median(many),
      unit: 'transitions/s',
      baseline: 'one run',
      ratio: median(vsSingle),
      note: 'target >= 5x',
    },
    {
      name: `SQLite: short runs (${SHORT} transitions) one at a time`,
      value: median(alone),
      unit: 'runs/s',
      note: '50 runs in sequence',
    },
    {
      name: `SQLite: 1 000 concurrent short runs (${SHORT} transitions)`,
      value: median(thousand),
      unit: 'runs/s',
      baseline: 'one at a time',
      ratio: median(vsAlone),
      note: `target >= 12x; ${Math.round(median(thousand) * SHORT)} transitions/s, ${((median(thousand) * SHORT) / median(single)).toFixed(2)}x one long run's; ${median(commitsOfThousand)} commits reported by onCommit`,
    },
  ]
}

const postgres = async (): Promise<BenchResult[]> => {
  const pool = new pg.Pool({ connectionString: PG_URL })
  const tables: string[] = []
  const vsFloor: number[] = []
  const single: number[] = []
  const floor: number[] = []
  const vsSingle: number[] = []
  const many: number[] = []
  try {
    for (let r = 0; r < REPEATS; r++) {
      const floorTable = `cano_durable_floor_${process.pid}_${r}`
      const oursTable = `cano_durable_ours_${process.pid}_${r}`
      tables.push(floorTable, oursTable)
      const store = postgresCheckpoints({ connectionString: PG_URL, table: oursTable })
      const run = cycle(store)
      await pgFloor(pool, floorTable, 20, 'warm-up')
      await run(`warm-${randomUUID()}`, 50)
      // the floor and one run alternate in short blocks: the server's commit latency drifts over seconds
      // (its own checkpoints, other clients), and blocks a few seconds apart read 0.5x to 2.6x of each other
      const floorBlock = (b: number): Promise<number> => pgFloor(pool, floorTable, PG_BLOCK, `floor-${String(b)}`)
      const oursBlock = async (): Promise<number> => {
        const t0 = performance.now()
        await run(randomUUID(), PG_BLOCK)
        return perSecond(PG_BLOCK, t0)
      }
      let singles = 0
      for (let b = 0; b < PG_BLOCKS; b++) {
        let f: number
        let o: number
        if (b % 2 === 0) {
          f = await floorBlock(b)
          o = await oursBlock()
        } else {
          o = await oursBlock()
          f = await floorBlock(b)
        }
        floor.push(f)
        single.push(o)
        vsFloor.push(o / f)
        singles += o
      }
      const m = await manyRuns(store, 100, 20)
      await store.close()
      many.push(m)
      vsSingle.push(m / (singles / PG_BLOCKS))
    }
  } finally {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS ${t}`)
    await pool.end()
  }
  return [
    { name: 'PostgreSQL floor: bare pg INSERT loop', value: median(floor), unit: 'rows/s' },
    {
      name: 'PostgreSQL: checkpointed transitions of one run',
      value: median(single),
      unit: 'transitions/s',
      baseline: 'floor',
      ratio: median(vsFloor),
      note: `target >= 0.9x; median of ${String(vsFloor.length)} per-block ratios (${String(PG_BLOCKS)} blocks of ${String(PG_BLOCK)} a repeat, floor and run alternating), q1..q3 ${spread(vsFloor)}`,
    },
    {
      name: 'PostgreSQL: 100 concurrent runs',
      value: median(many),
      unit: 'transitions/s',
      baseline: 'one run',
      ratio: median(vsSingle),
    },
  ]
}

/** Runs the durable-throughput benchmarks. */
export const run = async (): Promise<BenchResult[]> => [
  ...(PARTS.includes('sqlite') ? await sqlite() : []),
  ...(PARTS.includes('postgres') ? await postgres() : []),
]

if (isMain(import.meta.url)) console.log(formatTable(await run()))
