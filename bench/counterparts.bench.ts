/**
 * Counterparts of cano's criterion benches that had none here (issue 16), each through `compareCases`
 * (a warm-up and a gc before every timed sample, rotating order, medians of per-repeat ratios):
 *
 * - concurrent task execution (cano's `concurrent_node_execution`): a split of 2/5/10/20 no-op branches
 *   run by `orchestrate`, and 100 concurrent `orchestrate` runs, against `Promise.all` of the same functions;
 * - store and resource operations (`store_performance`, `resource_performance`): `MemoryStore` put/get/append
 *   against a bare `Map`; `Resources.get` against a property read; `Resources.with` (insert) against an object
 *   spread. SQLite appends are in `checkpoints.bench.ts`;
 * - a circuit breaker shared by 16/64/256 concurrent tasks through the retry loop (`circuit_performance`):
 *   `runResilient` with `RetryMode.exponential(3)` and one shared breaker, against the same calls without it.
 *
 *   npm run bench -- counterparts
 */
import { workflow } from '../roots/Workflow.js'
import { JoinStrategy } from '../src/JoinStrategy.js'
import { MemoryStore } from '../src/MemoryStore.js'
import { Resources } from '../src/Resources.js'
import { RetryMode } from '../src/RetryMode.js'
import { split } from '../src/Split.js'
import { task } from '../src/StateHandler.js'
import { createCircuitBreaker } from '../streams/createCircuitBreaker.js'
import { runResilient } from '../streams/runResilient.js'
import { baselineRow, type BenchResult, caseRow, compareCases, formatTable, isMain } from './lib.js'

const REPEATS = 7
const NEVER = Symbol('never')

const noop = async (): Promise<number> => 1
const loop = (n: number, f: () => unknown) => async (): Promise<void> => {
  for (let i = 0; i < n; i++) await f()
}

// -------------------------------------------------------------------------------------
// concurrent task execution
// -------------------------------------------------------------------------------------

const concurrentTasks = async (): Promise<BenchResult[]> => {
  const rows: BenchResult[] = []
  const SPLITS = 500
  for (const n of [2, 5, 10, 20]) {
    const fns = Array.from({ length: n }, () => noop)
    const flow = workflow<'Fan' | 'Done'>()({
      exits: ['Done'],
      states: { Fan: split(fns, { strategy: JoinStrategy.all(), join: 'Done' }) },
    })
    const c = await compareCases({
      baseline: {
        name: `Promise.all of ${String(n)} functions`,
        run: loop(SPLITS, () => Promise.all(fns.map((f) => f()))),
        ops: SPLITS,
      },
      cases: [
        {
          name: `orchestrate: split of ${String(n)} branches`,
          run: loop(SPLITS, () => flow.orchestrate('Fan')),
          ops: SPLITS,
        },
      ],
      repeats: REPEATS,
    })
    rows.push(
      baselineRow(c.baseline, { unit: 'ns/op' }),
      caseRow(c.cases[0]!, 'Promise.all', { unit: 'ns/run', note: 'a whole run: setup, the split, teardown' }),
    )
  }
  const one = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(async () => 'Done' as const) } })
  const RUNS = 100
  const c = await compareCases({
    baseline: {
      name: `Promise.all of ${String(RUNS)} async functions`,
      run: loop(50, () => Promise.all(Array.from({ length: RUNS }, async () => 'Done'))),
      ops: 50,
    },
    cases: [
      {
        name: `${String(RUNS)} concurrent orchestrate runs (1 state)`,
        run: loop(50, () => Promise.all(Array.from({ length: RUNS }, () => one.orchestrate('A')))),
        ops: 50,
      },
    ],
    repeats: REPEATS,
  })
  rows.push(baselineRow(c.baseline, { unit: 'ns/batch' }), caseRow(c.cases[0]!, 'Promise.all', { unit: 'ns/batch' }))
  return rows
}

// -------------------------------------------------------------------------------------
// store and resources
// -------------------------------------------------------------------------------------

const OPS = 100_000

const storeAndResources = async (): Promise<BenchResult[]> => {
  const keys = Array.from({ length: 100 }, (_, i) => `k${String(i)}`)
  const map = new Map<string, unknown>()
  const store = new MemoryStore()
  for (const k of keys) {
    map.set(k, 1)
    store.put(k, 1)
  }
  let sink: unknown
  const put = await compareCases({
    baseline: {
      name: 'Map.set',
      run: () => {
        for (let i = 0; i < OPS; i++) map.set(keys[i % 100]!, i)
      },
      ops: OPS,
    },
    cases: [
      {
        name: 'MemoryStore.put',
        run: () => {
          for (let i = 0; i < OPS; i++) store.put(keys[i % 100]!, i)
        },
        ops: OPS,
      },
      {
        name: 'MemoryStore.get',
        run: () => {
          for (let i = 0; i < OPS; i++) sink = store.get(keys[i % 100]!)
        },
        ops: OPS,
      },
      {
        name: 'Map.get',
        run: () => {
          for (let i = 0; i < OPS; i++) sink = map.get(keys[i % 100]!)
        },
        ops: OPS,
      },
    ],
    repeats: REPEATS,
  })
  const APPENDS = 10_000
  const append = await compareCases({
    baseline: {
      name: 'array push under a Map key',
      run: () => {
        const m = new Map<string, unknown[]>()
        for (let i = 0; i < APPENDS; i++) {
          const a = m.get('list')
          if (a === undefined) m.set('list', [i])
          else a.push(i)
        }
      },
      ops: APPENDS,
    },
    cases: [
      {
        name: 'MemoryStore.append',
        run: () => {
          const s = new MemoryStore()
          for (let i = 0; i < APPENDS; i++) s.append('list', i)
        },
        ops: APPENDS,
      },
    ],
    repeats: REPEATS,
  })
  const plain = { store, api: 1, retries: 3 }
  const res = Resources.of(plain)
  const get = await compareCases({
    baseline: {
      name: 'property read',
      run: () => {
        for (let i = 0; i < OPS; i++) sink = plain.api
      },
      ops: OPS,
    },
    cases: [
      {
        name: 'Resources.get',
        run: () => {
          for (let i = 0; i < OPS; i++) sink = res.get('api')
        },
        ops: OPS,
      },
    ],
    repeats: REPEATS,
  })
  const INSERTS = 10_000
  const insert = await compareCases({
    baseline: {
      name: 'object spread with one more key',
      run: () => {
        for (let i = 0; i < INSERTS; i++) sink = { ...plain, extra: i }
      },
      ops: INSERTS,
    },
    cases: [
      {
        name: 'Resources.with (insert)',
        run: () => {
          for (let i = 0; i < INSERTS; i++) sink = res.with('extra', i)
        },
        ops: INSERTS,
      },
    ],
    repeats: REPEATS,
  })
  if (sink === NEVER) console.log(sink) // keeps the reads observable
  const [storePut, storeGet, mapGet] = put.cases as [typeof put.baseline, typeof put.baseline, typeof put.baseline]
  return [
    baselineRow(put.baseline, { unit: 'ns/op' }),
    caseRow(storePut, 'Map.set', { unit: 'ns/op' }),
    baselineRow(mapGet, { unit: 'ns/op' }),
    {
      ...caseRow(storeGet, 'Map.get', { unit: 'ns/op' }),
      ratio: storeGet.ns / mapGet.ns,
      samples: storeGet.samples.map((x, r) => x / mapGet.samples[r]!),
    },
    baselineRow(append.baseline, { unit: 'ns/op' }),
    caseRow(append.cases[0]!, 'array push', { unit: 'ns/op' }),
    baselineRow(get.baseline, { unit: 'ns/op' }),
    caseRow(get.cases[0]!, 'property read', { unit: 'ns/op' }),
    baselineRow(insert.baseline, { unit: 'ns/op' }),
    caseRow(insert.cases[0]!, 'object spread', {
      unit: 'ns/op',
      note: 'checks the key and the lifecycle hooks, copies the record',
    }),
  ]
}

// -------------------------------------------------------------------------------------
// a breaker shared by concurrent tasks through the retry loop
// -------------------------------------------------------------------------------------

const sharedBreaker = async (): Promise<BenchResult[]> => {
  const rows: BenchResult[] = []
  const BATCHES = 20
  const retry = RetryMode.exponential(3)
  for (const n of [16, 64, 256]) {
    const breaker = createCircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 30_000 })
    const batch = (withBreaker: boolean) => (): Promise<unknown> =>
      Promise.all(
        Array.from({ length: n }, () =>
          runResilient(noop, withBreaker ? { retry, circuitBreaker: breaker } : { retry }),
        ),
      )
    const c = await compareCases({
      baseline: {
        name: `${String(n)} concurrent runResilient, retry only`,
        run: loop(BATCHES, batch(false)),
        ops: BATCHES * n,
      },
      cases: [
        {
          name: `${String(n)} concurrent runResilient, one shared breaker`,
          run: loop(BATCHES, batch(true)),
          ops: BATCHES * n,
        },
      ],
      repeats: REPEATS,
    })
    rows.push(
      baselineRow(c.baseline, { unit: 'ns/task' }),
      caseRow(c.cases[0]!, 'retry only', {
        unit: 'ns/task',
        note: `overhead ${(c.cases[0]!.ns - c.baseline.ns).toFixed(0)} ns per task`,
      }),
    )
  }
  return rows
}

/** Runs the counterpart benchmarks. */
export const run = async (): Promise<BenchResult[]> => [
  ...(await concurrentTasks()),
  ...(await storeAndResources()),
  ...(await sharedBreaker()),
]

if (isMain(import.meta.url)) console.log(formatTable(await run()))
