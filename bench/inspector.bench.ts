/**
 * The web inspector's live feed (issue 15): 1 000 runs in flight at once on one runtime (in-memory store,
 * concurrency 1 000, ten states each, every task yielding to the event loop so that the runs interleave),
 * measured three ways, interleaved in each repeat (in rotating order, each after a young-generation gc):
 *
 * - `none`: no inspector;
 * - `served`: `serveInspector` running, no page connected (it follows the runtime's events);
 * - `page`: a page connected, in another process (`inspector.client.ts`, forked: a browser is one), with
 *   the runs list's feed and one run's feed open.
 *
 * Reported: the engine's throughput (state transitions/s) of each, as ratios to `none` of the same repeat
 * (target: `page` within 10 %), and the delivery latency of the feeds to the page, p50 / p99 / max over
 * every message of every repeat (target: p99 <= 250 ms). The list feed coalesces per run (one entry per
 * run per write); its latency is taken from the oldest change folded into each entry, so it is the worst
 * case of the changes that entry carries.
 *
 *   npm run bench -- inspector
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { createRuntime, memoryCheckpoints, type Runtime, task, workflow } from '../roots/index.js'
import { serveInspector } from '../roots/inspector.js'
import { tapperOf } from '../roots/Runtime.js'
import type { ClientMessage, ClientRequest } from './inspector.client.js'
import { type BenchResult, formatTable, gcYoung, isMain, median, quartiles, rotation } from './lib.js'

const RUNS = 1_000
/** Runs per burst: `RUNS` in flight at once, a new one started as each completes. */
const TOTAL = 4_000
const REPEATS = 12
const CLIENT = fileURLToPath(new URL('./inspector.client.js', import.meta.url))

type S = 'S0' | 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6' | 'S7' | 'S8' | 'S9' | 'Done'
/** Transitions of one run: ten states, then the exit. */
const TRANSITIONS = 10

const yieldOnce = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const step = (next: S) => async (): Promise<S> => {
  await yieldOnce()
  return next
}
const flow = workflow<S>()({
  exits: ['Done'],
  states: {
    S0: task(step('S1')),
    S1: task(step('S2')),
    S2: task(step('S3')),
    S3: task(step('S4')),
    S4: task(step('S5')),
    S5: task(step('S6')),
    S6: task(step('S7')),
    S7: task(step('S8')),
    S8: task(step('S9')),
    S9: task(step('Done')),
  },
})

const makeRuntime = (): Runtime =>
  createRuntime({
    store: memoryCheckpoints(),
    workflows: { bench: { workflow: flow, initial: 'S0' } },
    concurrency: RUNS,
    pollMs: 1_000,
  })

/**
 * Starts `RUNS` runs at once, then a new one each time one completes, until `TOTAL` have run (so `RUNS`
 * stay in flight), and resolves with the transitions/s from the first start to the last end. Completions
 * are counted through the runtime's internal tap (what the inspector itself uses), not `events$`: a
 * subscriber to `events$` would make every case pay for a wrapper per event and flatter the ratios.
 */
const burst = (runtime: Runtime, prefix: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const tapper = tapperOf(runtime)
    if (tapper === undefined) return reject(new Error('the bench needs a runtime made by createRuntime'))
    let started = 0
    let completed = 0
    const t0 = process.hrtime.bigint()
    const startOne = (): void => {
      const id = `${prefix}-${String(started++)}`
      runtime.start('bench', null, { id }).catch(reject)
    }
    const untap = tapper({
      run: (_, e) => {
        if (e._tag !== 'RunCompleted') return
        completed += 1
        if (started < TOTAL) startOne()
        else if (completed === TOTAL) {
          untap()
          resolve((TOTAL * TRANSITIONS) / (Number(process.hrtime.bigint() - t0) / 1e9))
        }
      },
      notice: () => undefined,
    })
    for (let i = 0; i < RUNS; i++) startOne()
  })

const startClient = (
  url: string,
  watched: string,
): Promise<{ child: ChildProcess; ask: (m: ClientRequest) => Promise<ClientMessage> }> =>
  new Promise((resolve, reject) => {
    const child = fork(CLIENT, [url, watched], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const waiting: Array<(m: ClientMessage) => void> = []
    child.on('message', (m: ClientMessage) => {
      if (m.type === 'ready') return resolve({ child, ask })
      waiting.shift()?.(m)
    })
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`inspector client exited with ${String(code)}`))
    })
    const ask = (m: ClientRequest): Promise<ClientMessage> =>
      new Promise((done) => {
        if (m.type === 'stats') waiting.push(done)
        child.send(m)
        if (m.type !== 'stats') done({ type: 'ready' })
      })
  })

/** The quartiles and extremes of per-repeat ratios. */
const spreadOf = (xs: ReadonlyArray<number>): string => {
  const q = quartiles(xs)
  return `per-repeat ratios q1..q3 ${q.q1.toFixed(2)}..${q.q3.toFixed(2)}, min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)}`
}

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

type Case = 'none' | 'served' | 'page'
const CASES: ReadonlyArray<Case> = ['none', 'served', 'page']

interface Sample {
  readonly throughput: number
  readonly stats?: ClientMessage
}

/** One burst of `which`, on a runtime of its own (and its inspector, and its page). */
const measureCase = async (which: Case, r: number): Promise<Sample> => {
  const prefix = `${which}-${String(r)}`
  const runtime = makeRuntime()
  if (which === 'none') {
    gcYoung()
    const throughput = await burst(runtime, prefix)
    await runtime.stop({ graceMs: 0 })
    return { throughput }
  }
  const inspector = await serveInspector({ runtime, port: 0 })
  if (which === 'served') {
    gcYoung()
    const throughput = await burst(runtime, prefix)
    await inspector.close()
    await runtime.stop({ graceMs: 0 })
    return { throughput }
  }
  const client = await startClient(inspector.url, `${prefix}-0`)
  await client.ask({ type: 'reset' })
  gcYoung()
  const throughput = await burst(runtime, prefix)
  // the last writes are at most one flush away
  await new Promise((resolve) => setTimeout(resolve, 200))
  const stats = await client.ask({ type: 'stats' })
  client.child.disconnect()
  await inspector.close()
  await runtime.stop({ graceMs: 0 })
  return { throughput, stats }
}

export const run = async (): Promise<BenchResult[]> => {
  const served: number[] = []
  const page: number[] = []
  const none: number[] = []
  const listLatency: number[] = []
  const runLatency: number[] = []
  let bytes = 0
  for (let r = -1; r < REPEATS; r++) {
    // repeat -1 warms every case up and is not counted; the order of the cases rotates, so that no case
    // always comes right after another's garbage
    const samples = new Map<Case, Sample>()
    for (const i of rotation(CASES.length, r + 1)) {
      const which = CASES[i] as Case
      samples.set(which, await measureCase(which, r))
    }
    if (r < 0) continue
    const a = samples.get('none')?.throughput ?? Number.NaN
    none.push(a)
    served.push((samples.get('served')?.throughput ?? Number.NaN) / a)
    page.push((samples.get('page')?.throughput ?? Number.NaN) / a)
    const stats = samples.get('page')?.stats
    if (stats?.type === 'stats') {
      for (const x of stats.list) listLatency.push(x)
      for (const x of stats.run) runLatency.push(x)
      bytes += stats.bytes
    }
  }
  const note = `${String(RUNS)} runs in flight (${String(TOTAL)} per burst) x ${String(TRANSITIONS)} transitions; median of ${String(REPEATS)} per-repeat ratios`
  const lat = (xs: ReadonlyArray<number>): string =>
    `p50 ${String(percentile(xs, 50))} ms, p99 ${String(percentile(xs, 99))} ms, max ${String(xs.reduce((m, x) => Math.max(m, x), -Infinity))} ms over ${String(xs.length)} messages`
  return [
    { name: 'engine throughput, no inspector', value: median(none), unit: 'transitions/s', note },
    {
      name: 'engine throughput, inspector served, no page',
      value: median(served) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(served),
      note: `${note}; ${spreadOf(served)}`,
    },
    {
      name: 'engine throughput, page connected (list + run feed)',
      value: median(page) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(page),
      note: `target >= 0.90x; ${spreadOf(page)}`,
    },
    {
      name: 'list feed delivery to the page, p99',
      value: percentile(listLatency, 99),
      unit: 'ms',
      note: `target <= 250 ms; ${lat(listLatency)}; ${(bytes / REPEATS / 1024).toFixed(0)} KiB per burst`,
    },
    {
      name: 'run feed delivery to the page, p99',
      value: percentile(runLatency, 99),
      unit: 'ms',
      note: `target <= 250 ms; ${lat(runLatency)}`,
    },
  ]
}

if (isMain(import.meta.url)) console.log(formatTable(await run()))
