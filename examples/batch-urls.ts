/**
 * Batch: fetch a list of URLs with at most 4 requests in flight, each URL retried on its own.
 *
 *   npx tsx examples/batch-urls.ts
 *
 * ParseUrls -> FetchUrls (batch) -> Summarise -> Done, or Failed when fewer than half the URLs
 * could be fetched. The "network" is an in-process fake whose latencies and failures are pseudo-random
 * but derived from each URL and attempt, so every run prints the same lines: progress as "done/total",
 * then the summary.
 */
import {
  describeCanoError,
  isBatchProgress,
  type ItemResult,
  MemoryStore,
  Resources,
  RetryMode,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'

type Step = 'ParseUrls' | 'FetchUrls' | 'Summarise' | 'Done' | 'Failed'

interface Page {
  readonly url: string
  readonly bytes: number
}

/** FNV-1a plus a final mix: a stable pseudo-random number in [0, 1) per key, the same on every run. */
const chance = (key: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return ((h ^ (h >>> 16)) >>> 0) / 4_294_967_296
}

/**
 * A fake HTTP client: 2-20 ms latency, about 30 % transient failures, one host that is always down.
 * Whether an attempt fails depends only on the URL and the attempt number, never on timing.
 */
const createFetcher = () => {
  const calls = new Map<string, number>()
  return {
    calls,
    get: (url: string, attempt: number, signal: AbortSignal): Promise<Page> =>
      new Promise<Page>((resolve, reject) => {
        calls.set(url, (calls.get(url) ?? 0) + 1)
        const latencyMs = 2 + Math.floor(chance(`${url}#${attempt}#latency`) * 18)
        const fails = url.includes('down.example') || chance(`${url}#${attempt}`) < 0.3
        const timer = setTimeout(() => {
          if (fails) reject(new Error(`${url}: HTTP 503`))
          else resolve({ url, bytes: 1_000 + Math.floor(chance(url) * 9_000) })
        }, latencyMs)
        signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
      }),
  }
}

const fetcher = createFetcher()
const store = new MemoryStore()

const flow = workflow<Step>()({
  resources: Resources.of({ store }),
  exits: ['Done', 'Failed'],
  states: ({ task, batch }) => ({
    ParseUrls: task(({ res }) => {
      const urls = Array.from({ length: 12 }, (_, i) => `https://site${i}.example/index.html`)
      res.get('store').put('urls', [...urls, 'https://down.example/', 'https://site3.example/about'])
      return 'FetchUrls'
    }),
    FetchUrls: batch({
      load: ({ res }) => res.get('store').get('urls') as ReadonlyArray<string>,
      processItem: (url: string, { attempt, signal }) => fetcher.get(url, attempt, signal),
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
      return isBatchProgress(e.data) ? `   ${e.data.done}/${e.data.total}` : undefined
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
await flow.run$('ParseUrls', { workflowId: 'crawl-1' }).forEach((e) => {
  final = e
  const line = show(e)
  if (line !== undefined) console.log(line)
})
for (const error of store.get('errors') as ReadonlyArray<string>) console.log(`gave up: ${error}`)
const retried = [...fetcher.calls.values()].filter((n) => n > 1).length
console.log(`${retried} URLs needed more than one attempt`)
process.exitCode = final?._tag === 'RunCompleted' && final.state === 'Done' ? 0 : 1
