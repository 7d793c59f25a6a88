/**
 * Stream benchmark (issue 14, item 5): the overhead per item of a per-item stream state
 * (`streamItems`: `onItem` per item answering `{ output, cursor }`, windows of 100 outputs, the cursor
 * encoded with its codec at each window) against the window model (`stream`: the same per-item work done
 * inside `onWindow`, windows of 100 items) and against a bare `for await` loop doing the same work and
 * the same windowing over the same source. The source is an async generator of 10 000 numbers (a pull
 * source, read one item at a time), then a synchronous `from(array)` Observable. No checkpoint store, no
 * event listener. Each repeat times the sides back to back (alternating which goes first) over the same
 * source; the figures are the medians over the repeats of ns per item and of the ratios.
 *
 *   npm run bench -- stream
 */
import { pathToFileURL } from 'node:url'

import * as t from 'io-ts'
import { asyncScheduler, firstValueFrom, from, type Observable } from 'rxjs'

import { Resources } from '../src/Resources.js'
import { RetryMode } from '../src/RetryMode.js'
import { stream, type StreamSource, WindowSignal } from '../src/Stream.js'
import { streamItems } from '../src/StreamItems.js'
import { resolveTaskConfig } from '../src/TaskConfig.js'
import type { NoResources } from '../src/TaskContext.js'
import { runStreamItemsState } from '../streams/runStreamItems.js'
import { runStreamState } from '../streams/runStreamState.js'
import type { StateEnv } from '../streams/stateRunner.js'
import { type BenchResult, formatTable, median } from './lib.js'

type St = 'Ingest' | 'Done'

const ITEMS = 10_000
const WINDOW = 100
const REPEATS = 9
const WARMUP = 5

const env: StateEnv<St, NoResources> = {
  workflowId: 'bench',
  state: 'Ingest',
  taskId: 'Ingest',
  res: Resources.empty(),
  runSignal: new AbortController().signal,
  scheduler: asyncScheduler,
  random: Math.random,
  now: () => asyncScheduler.now(),
  emit: undefined,
  split: undefined,
  input: undefined,
  config: resolveTaskConfig({ retry: RetryMode.none() }),
  to: undefined,
  fast: false,
  publishSplit: () => undefined,
}

const data: ReadonlyArray<number> = Array.from({ length: ITEMS }, (_, i) => i)
async function* generate(): AsyncGenerator<number> {
  for (const n of data) yield n
}

/** The per-item work every side does: an output and a cursor. */
const work = (n: number): { readonly output: number; readonly cursor: number } => ({ output: n * 2, cursor: n })
let sink = 0
const flush = (outputs: ReadonlyArray<number>): void => {
  sink += outputs.length
}

const perItem = (source: () => StreamSource<number>) => () =>
  firstValueFrom(
    runStreamItemsState(
      streamItems<St, number, number, number>({
        cursor: t.number,
        source,
        onItem: work,
        window: { count: WINDOW },
        onWindow: (outputs) => {
          flush(outputs)
          return WindowSignal.continue()
        },
        onClose: () => 'Done',
      }),
      env,
    ),
  )

const windowed = (source: () => StreamSource<number>) => () =>
  firstValueFrom(
    runStreamState(
      stream<St, number>({
        source,
        window: { count: WINDOW },
        onWindow: (items) => {
          const outputs: number[] = []
          let cursor = 0
          for (const n of items) {
            const d = work(n)
            outputs.push(d.output)
            cursor = d.cursor
          }
          sink += cursor === -1 ? 1 : 0
          flush(outputs)
          return WindowSignal.continue()
        },
        onClose: () => 'Done',
      }),
      env,
    ),
  )

const bareAsync = async (): Promise<void> => {
  let outputs: number[] = []
  let cursor = 0
  for await (const n of generate()) {
    const d = work(n)
    outputs.push(d.output)
    cursor = d.cursor
    if (outputs.length === WINDOW) {
      flush(outputs)
      outputs = []
    }
  }
  if (outputs.length > 0) flush(outputs)
  sink += cursor === -1 ? 1 : 0
}

const bareObservable = (source: () => Observable<number>) => async (): Promise<void> => {
  let outputs: number[] = []
  await source().forEach((n) => {
    const d = work(n)
    outputs.push(d.output)
    if (outputs.length === WINDOW) {
      flush(outputs)
      outputs = []
    }
  })
  if (outputs.length > 0) flush(outputs)
}

const nsPerItem = async (f: () => Promise<unknown>): Promise<number> => {
  const start = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - start) / ITEMS
}

interface Side {
  readonly name: string
  readonly once: () => Promise<unknown>
}

/** Medians over repeats of each side's ns per item and of each side's ratio to the first (the baseline). */
const compare = async (sides: ReadonlyArray<Side>): Promise<{ ns: number[]; ratios: number[] }> => {
  for (let i = 0; i < WARMUP; i++) for (const s of sides) await s.once()
  const ns: number[][] = sides.map(() => [])
  const ratios: number[][] = sides.map(() => [])
  for (let r = 0; r < REPEATS; r++) {
    const order = r % 2 === 0 ? sides.map((_, i) => i) : sides.map((_, i) => sides.length - 1 - i)
    const got: number[] = sides.map(() => 0)
    for (const i of order) got[i] = await nsPerItem((sides[i] as Side).once)
    got.forEach((v, i) => {
      ns[i]?.push(v)
      ratios[i]?.push(v / (got[0] as number))
    })
  }
  return { ns: ns.map(median), ratios: ratios.map(median) }
}

export const run = async (): Promise<BenchResult[]> => {
  const results: BenchResult[] = []
  const asyncSides: Side[] = [
    { name: 'bare for-await loop (async generator)', once: bareAsync },
    { name: 'window model: stream (async generator)', once: windowed(generate) },
    { name: 'per-item: streamItems (async generator)', once: perItem(generate) },
  ]
  const syncSource = (): Observable<number> => from(data)
  const syncSides: Side[] = [
    { name: 'bare subscribe loop (from(array))', once: bareObservable(syncSource) },
    { name: 'window model: stream (from(array))', once: windowed(syncSource) },
    { name: 'per-item: streamItems (from(array))', once: perItem(syncSource) },
  ]
  for (const sides of [asyncSides, syncSides]) {
    const { ns, ratios } = await compare(sides)
    sides.forEach((s, i) => {
      const base = sides[0] as Side
      results.push({
        name: s.name,
        value: ns[i] as number,
        unit: 'ns/item',
        ...(i === 0 ? {} : { baseline: base.name.split(' (')[0], ratio: ratios[i] as number }),
        note: `${ITEMS} items, windows of ${WINDOW}, median of ${REPEATS}`,
      })
    })
    // per-item against the window model, same source
    const perItemVsWindow = (ratios[2] as number) / (ratios[1] as number)
    results.push({
      name: `  per-item / window model`,
      value: perItemVsWindow,
      unit: 'x',
      note: 'ratio of the medians above',
    })
  }
  if (sink < 0) console.log(sink)
  return results
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(formatTable(await run()))
