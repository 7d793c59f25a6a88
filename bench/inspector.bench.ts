/**
 * The web inspector's live feed (issue 15): 1 000 runs in flight at once on one runtime (in-memory store,
 * concurrency 1 000, ten states each, every task yielding to the event loop so that the runs interleave),
 * measured three ways, interleaved in each repeat:
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

import { filter, firstValueFrom, scan } from 'rxjs'

import { createRuntime, memoryCheckpoints, type Runtime, task, workflow } from '../roots/index.js'
import { serveInspector } from '../roots/inspector.js'
import type { ClientMessage, ClientRequest } from './inspector.client.js'
import { type BenchResult, formatTable, isMain, median } from './lib.js'

const RUNS = 1_000
const REPEATS = 5
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

/** Starts `RUNS` runs at once and resolves with the transitions/s from the first start to the last end. */
const burst = async (runtime: Runtime, prefix: string): Promise<number> => {
  const ended = firstValueFrom(
    runtime.events$.pipe(
      filter((e) => e._tag === 'Run' && e.event._tag === 'RunCompleted'),
      scan((n) => n + 1, 0),
      filter((n) => n === RUNS),
    ),
  )
  const t0 = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: RUNS }, (_, i) => runtime.start('bench', null, { id: `${prefix}-${String(i)}` })),
  )
  await ended
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  return (RUNS * TRANSITIONS) / seconds
}

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

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

export const run = async (): Promise<BenchResult[]> => {
  const served: number[] = []
  const page: number[] = []
  const none: number[] = []
  const listLatency: number[] = []
  const runLatency: number[] = []
  let bytes = 0
  for (let r = -1; r < REPEATS; r++) {
    // repeat -1 warms the JIT up and is not counted
    const baseline = makeRuntime()
    const a = await burst(baseline, `none-${String(r)}`)
    await baseline.stop({ graceMs: 0 })

    const quiet = makeRuntime()
    const quietInspector = await serveInspector({ runtime: quiet, port: 0 })
    const b = await burst(quiet, `served-${String(r)}`)
    await quietInspector.close()
    await quiet.stop({ graceMs: 0 })

    const watchedRuntime = makeRuntime()
    const inspector = await serveInspector({ runtime: watchedRuntime, port: 0 })
    const prefix = `page-${String(r)}`
    const client = await startClient(inspector.url, `${prefix}-0`)
    await client.ask({ type: 'reset' })
    const c = await burst(watchedRuntime, prefix)
    // the last writes are at most one flush away
    await new Promise((resolve) => setTimeout(resolve, 200))
    const stats = await client.ask({ type: 'stats' })
    client.child.disconnect()
    await inspector.close()
    await watchedRuntime.stop({ graceMs: 0 })
    if (r < 0) continue
    none.push(a)
    served.push(b / a)
    page.push(c / a)
    if (stats.type === 'stats') {
      listLatency.push(...stats.list)
      runLatency.push(...stats.run)
      bytes += stats.bytes
    }
  }
  const note = `${String(RUNS)} runs in flight x ${String(TRANSITIONS)} transitions; median of ${String(REPEATS)} per-repeat ratios`
  const lat = (xs: ReadonlyArray<number>): string =>
    `p50 ${String(percentile(xs, 50))} ms, p99 ${String(percentile(xs, 99))} ms, max ${String(Math.max(...xs))} ms over ${String(xs.length)} messages`
  return [
    { name: 'engine throughput, no inspector', value: median(none), unit: 'transitions/s', note },
    {
      name: 'engine throughput, inspector served, no page',
      value: median(served) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(served),
      note,
    },
    {
      name: 'engine throughput, page connected (list + run feed)',
      value: median(page) * median(none),
      unit: 'transitions/s',
      baseline: 'none',
      ratio: median(page),
      note: `target >= 0.90x; per-repeat ratios ${page.map((x) => x.toFixed(2)).join(', ')}`,
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
