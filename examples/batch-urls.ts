/**
 * Batch: fetch a list of URLs with at most 4 requests in flight, each URL retried on its own.
 *
 *   npx tsx examples/batch-urls.ts
 *
 * ParseUrls -> FetchUrls (batch) -> Summarise -> Done, or Failed when fewer than half the URLs
 * could be fetched. The "network" is an in-process fake with seeded random latencies and failures, so
 * every run prints the same lines: progress as "done/total", then the summary.
 */
import {
  batch,
  describeCanoError,
  isBatchProgress,
  type ItemResult,
  MemoryStore,
  Resources,
  RetryMode,
  workflow,
  type WorkflowEvent,
} from '../src/index.js'

type Step = 'ParseUrls' | 'FetchUrls' | 'Summarise' | 'Done' | 'Failed'

interface Page {
  readonly url: string
  readonly bytes: number
}

/** mulberry32: a tiny seeded PRNG, so the fake network behaves the same on every run. */
const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** A fake HTTP client: 2-20 ms latency, 30 % transient failures, one host that is always down. */
const createFetcher = (random: () => number) => {
  const calls = new Map<string, number>()
  return {
    calls,
    get: (url: string, signal: AbortSignal): Promise<Page> =>
      new Promise<Page>((resolve, reject) => {
        calls.set(url, (calls.get(url) ?? 0) + 1)
        const latencyMs = 2 + Math.floor(random() * 18)
        const fails = url.includes('down.example') || random() < 0.3
        const timer = setTimeout(() => {
          if (fails) reject(new Error(`${url}: HTTP 503`))
          else resolve({ url, bytes: 1_000 + Math.floor(random() * 9_000) })
        }, latencyMs)
        signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
      }),
  }
}

const fetcher = createFetcher(seeded(42))
const store = new MemoryStore()

const flow = workflow<Step>()({
  resources: Resources.of({ store }),
  exits: ['Done', 'Failed'],
  states: ({ task, batch: bound }) => ({
    ParseUrls: task(({ res }) => {
      const urls = Array.from({ length: 12 }, (_, i) => `https://site${i}.example/index.html`)
      res.get('store').put('urls', [...urls, 'https://down.example/', 'https://site3.example/about'])
      return 'FetchUrls'
    }),
    FetchUrls: bound({
      load: ({ res }) => res.get('store').get('urls') as ReadonlyArray<string>,
      processItem: (url: string, { signal }) => fetcher.get(url, signal),
      finish: (results: ReadonlyArray<ItemResult<Page>>, { res }) => {
        const pages = results.flatMap((r) => (r._tag === 'Ok' ? [r.value] : []))
        res.get('store').put('pages', pages)
        res.get('store').put(
          'errors',
          results.flatMap((r) => (r._tag === 'Err' ? [describeCanoError(r.error)] : [])),
        )
        // the success policy: at least half of the URLs
        return pages.length * 2 >= results.length ? 'Summarise' : 'Failed'
      },
      concurrency: 4,
      itemRetry: RetryMode.fixed(2, 5),
    }),
    Summarise: task(({ res }) => {
      const pages = res.get('store').get('pages') as ReadonlyArray<Page>
      const bytes = pages.reduce((sum, p) => sum + p.bytes, 0)
      console.log(`fetched ${pages.length} pages, ${bytes} bytes`)
      return 'Done'
    }),
  }),
})

const show = (e: WorkflowEvent<Step>): string | undefined => {
  switch (e._tag) {
    case 'StateEntered':
      return `-> ${e.state}`
    case 'Progress':
      return isBatchProgress(e.data) ? `   ${e.data.done}/${e.data.total} (${e.data.failed} failed)` : undefined
    case 'RunCompleted':
      return `final state ${e.state}`
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      return `${e._tag}: ${describeCanoError(e.error)}`
    default:
      return undefined
  }
}

let final: WorkflowEvent<Step> | undefined
flow.run$('ParseUrls', { workflowId: 'crawl-1' }).subscribe({
  next: (e) => {
    final = e
    const line = show(e)
    if (line !== undefined) console.log(line)
  },
  complete: () => {
    for (const error of store.get('errors') as ReadonlyArray<string>) console.log(`   gave up: ${error}`)
    const retried = [...fetcher.calls.values()].filter((n) => n > 1).length
    console.log(`${retried} URLs needed more than one attempt`)
    process.exitCode = final?._tag === 'RunCompleted' && final.state === 'Done' ? 0 : 1
  },
})
