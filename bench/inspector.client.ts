/**
 * The page of `inspector.bench.ts`, as a separate process (a browser is one), forked once and kept for
 * every repeat, as a page stays open (a process forked right before each timed burst would time its own
 * start-up and the fork's copy-on-write faults in the engine's process, not a page). Asked to `open` an
 * inspector, it holds its list feed and one run's feed open and records, for every message, how long
 * after the change it carries the message arrived (`Date.now()` here minus the time the server put in it:
 * one machine, one clock; `FEEDS=list` or `FEEDS=run` in its environment opens that feed only); `stats`
 * answers with what it measured since that `open`; `close` ends the feeds.
 */
import { type ClientRequest as HttpRequest, request } from 'node:http'

export type ClientRequest =
  | { readonly type: 'open'; readonly url: string; readonly watched: string }
  | { readonly type: 'stats' }
  | { readonly type: 'close' }
export type ClientMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'stats'
      /** Per list entry: receipt minus the time of the oldest change folded into it. */
      readonly list: ReadonlyArray<number>
      /** Per event of the watched run: receipt minus the event's time. */
      readonly run: ReadonlyArray<number>
      readonly bytes: number
    }
  | { readonly type: 'closed' }

let list: number[] = []
let run: number[] = []
let bytes = 0
let hellos = 0
let open: HttpRequest[] = []

const feed = (base: string, path: string, onMessage: (event: string, data: string) => void): HttpRequest => {
  const req = request(base + path, { headers: { Accept: 'text/event-stream' } }, (res) => {
    let buffer = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      bytes += chunk.length
      buffer += chunk
      let cut: number
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        let event = 'message'
        let data = ''
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data += line.slice(6)
        }
        onMessage(event, data)
      }
    })
  })
  // the server closing the feed at the end of a repeat is expected
  req.on('error', () => undefined)
  req.end()
  return req
}

/** The feeds to open: both, or (to look into one) `FEEDS=list` or `FEEDS=run`. */
const FEEDS = (process.env['FEEDS'] ?? 'list,run').split(',')
if (FEEDS.length === 0 || !FEEDS.every((f) => f === 'list' || f === 'run'))
  throw new Error(`FEEDS must list list and/or run, got ${String(process.env['FEEDS'])}`)

/** Ready once every feed opened has said hello. */
const hello = (): void => {
  if (++hellos === open.length) process.send?.({ type: 'ready' } satisfies ClientMessage)
}

const openFeeds = (base: string, watched: string): void => {
  list = []
  run = []
  bytes = 0
  hellos = 0
  open = []
  if (FEEDS.includes('list'))
    open.push(
      feed(base, 'api/feed', (event, data) => {
        if (event === 'hello') return hello()
        if (event !== 'runs') return
        const now = Date.now()
        for (const entry of (JSON.parse(data) as { readonly runs: ReadonlyArray<{ readonly firstAt: number }> }).runs)
          list.push(now - entry.firstAt)
      }),
    )
  if (FEEDS.includes('run'))
    open.push(
      feed(base, `api/runs/${encodeURIComponent(watched)}/feed`, (event, data) => {
        if (event === 'hello') return hello()
        if (event !== 'run') return
        const now = Date.now()
        for (const e of (JSON.parse(data) as { readonly events: ReadonlyArray<{ readonly at: number }> }).events)
          run.push(now - e.at)
      }),
    )
}

process.on('message', (m: ClientRequest) => {
  if (m.type === 'open') openFeeds(m.url, m.watched)
  else if (m.type === 'stats') process.send?.({ type: 'stats', list, run, bytes } satisfies ClientMessage)
  else {
    for (const req of open) req.destroy()
    open = []
    process.send?.({ type: 'closed' } satisfies ClientMessage)
  }
})
process.on('disconnect', () => process.exit(0))
process.send?.({ type: 'ready' } satisfies ClientMessage)
