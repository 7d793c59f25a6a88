/**
 * The page of `inspector.bench.ts`, as a separate process (a browser is one): it holds the inspector's
 * list feed and one run's feed open, and records, for every message, how long after the change it
 * carries the message arrived (`Date.now()` here minus the time the server put in it: one machine, one
 * clock). Forked with the inspector's URL and the watched run's id; answers `{ type: 'stats' }` with
 * what it measured since the last `{ type: 'reset' }`.
 */
import { request } from 'node:http'

export type ClientRequest = { readonly type: 'reset' } | { readonly type: 'stats' }
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

const [base, watched] = process.argv.slice(2) as [string, string]
let list: number[] = []
let run: number[] = []
let bytes = 0
let hellos = 0

const open = (path: string, onMessage: (event: string, data: string) => void): void => {
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
  req.end()
}

const hello = (): void => {
  if (++hellos === 2) process.send?.({ type: 'ready' } satisfies ClientMessage)
}

open('api/feed', (event, data) => {
  if (event === 'hello') return hello()
  if (event !== 'runs') return
  const now = Date.now()
  for (const entry of JSON.parse(data) as ReadonlyArray<{ readonly firstAt: number }>) list.push(now - entry.firstAt)
})
open(`api/runs/${encodeURIComponent(watched)}/feed`, (event, data) => {
  if (event === 'hello') return hello()
  if (event !== 'run') return
  const now = Date.now()
  for (const e of (JSON.parse(data) as { readonly events: ReadonlyArray<{ readonly at: number }> }).events)
    run.push(now - e.at)
})

process.on('message', (m: ClientRequest) => {
  if (m.type === 'reset') {
    list = []
    run = []
    bytes = 0
  } else process.send?.({ type: 'stats', list, run, bytes } satisfies ClientMessage)
})
process.on('disconnect', () => process.exit(0))
