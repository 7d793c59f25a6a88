/**
 * `serveInspector` over HTTP, with Node's own `node:http` client (so the tests choose every header,
 * `Host` and `Origin` included): what it binds to, the token, the Host and Origin checks, the security
 * headers, the JSON API with hostile run data, the two Server-Sent Events feeds, cancel and resume.
 * The page itself, in a real browser, is test/integration/inspectorBrowser.test.ts.
 */
import { createServer, request as httpRequest } from 'node:http'
import { type AddressInfo, connect, type Socket } from 'node:net'
import { Script } from 'node:vm'

import { expect } from 'chai'
import fc from 'fast-check'
import * as t from 'io-ts'
import { Subject } from 'rxjs'

import {
  CanoFailure,
  createRuntime,
  JoinStrategy,
  memoryCheckpoints,
  nonRetryable,
  type RunRecordStatus,
  type Runtime,
  type RuntimeEvent,
  task,
  workflow,
  type WorkflowEvent,
} from '../../roots/index.js'
import { type Inspector, serveInspector } from '../../roots/inspector.js'
import { INSPECTOR_HTML, INSPECTOR_JS } from '../../roots/internal/inspector/assets.js'
import { layoutGraph } from '../../roots/internal/inspector/graph.js'
import {
  CSP,
  latest,
  listMessage,
  type ListView,
  timelineJson,
  writtenOut,
} from '../../roots/internal/inspector/server.js'
import { BLOCK_EVENTS, TimelineArena } from '../../roots/internal/inspector/timeline.js'
import { BATCH, MAX_IDLE, nextBirth, RunTracker, TIMELINE, Tracked } from '../../roots/internal/inspector/tracker.js'
import { jsonBytes, toWire } from '../../roots/internal/inspector/wire.js'
import type { TapSlot } from '../../roots/Runtime.js'
import { compiledOf } from '../../roots/Workflow.js'
import { memoryCheckpointsOver } from '../../src/CheckpointStore.js'
import type { StoredRun } from '../../src/memoryRunTable.js'

// -------------------------------------------------------------------------------------
// an HTTP client that sends exactly the headers it is given
// -------------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: string
}

const send = (
  url: string,
  options: { readonly method?: string; readonly headers?: Readonly<Record<string, string>> } = {},
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      )
    })
    req.on('error', reject)
    req.end()
  })

const getJson = async (url: string): Promise<{ readonly status: number; readonly json: unknown }> => {
  const a = await send(url)
  return { status: a.status, json: JSON.parse(a.body) as unknown }
}

/** One Server-Sent Event. */
interface SseEvent {
  readonly event: string
  readonly data: string
  /** When it was read, Date.now(). */
  readonly at: number
}

/** A live SSE connection: its events so far, and a way to wait for one. */
interface Sse {
  readonly events: SseEvent[]
  readonly next: (match: (e: SseEvent) => boolean, timeoutMs?: number) => Promise<SseEvent>
  readonly close: () => void
  /** Whether the server ended the stream. */
  readonly ended: () => boolean
  /** Stops reading (the server's writes back up), and starts again. */
  readonly pause: () => void
  readonly resume: () => void
}

const openSse = (url: string, headers: Readonly<Record<string, string>> = {}): Promise<Sse> =>
  new Promise((resolve, reject) => {
    const events: SseEvent[] = []
    const waiters = new Set<() => void>()
    const req = httpRequest(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE answered ${String(res.statusCode)}`))
      expect(res.headers['content-type']).to.equal('text/event-stream; charset=utf-8')
      res.setEncoding('utf8')
      const emit = (block: string): void => {
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data.push(line.slice(6))
        }
        if (data.length > 0) events.push({ event, data: data.join('\n'), at: Date.now() })
        for (const w of [...waiters]) w()
      }
      let ended = false
      res.on('end', () => (ended = true))
      // the parts of the block being read: a message of megabytes comes in many chunks, each searched once
      // (appending them to one string and searching it again made reading a 30 MB write take seconds)
      let pending: string[] = []
      let endsWithNewline = false
      res.on('data', (chunk: string) => {
        let i = 0
        if (endsWithNewline && chunk.startsWith('\n')) {
          emit(pending.join('').slice(0, -1))
          pending = []
          i = 1
        }
        let cut: number
        while ((cut = chunk.indexOf('\n\n', i)) >= 0) {
          pending.push(chunk.slice(i, cut))
          emit(pending.join(''))
          pending = []
          i = cut + 2
        }
        if (i < chunk.length) pending.push(chunk.slice(i))
        endsWithNewline = i < chunk.length && chunk.endsWith('\n')
      })
      resolve({
        events,
        next: (match, timeoutMs = 2_000) =>
          new Promise<SseEvent>((ok, fail) => {
            let seen = 0
            const check = (): void => {
              for (; seen < events.length; seen++) {
                const e = events[seen]
                if (e !== undefined && match(e)) {
                  waiters.delete(check)
                  clearTimeout(timer)
                  return ok(e)
                }
              }
            }
            const timer = setTimeout(() => {
              waiters.delete(check)
              const got = events.map((e) => ({ ...e, data: e.data.slice(0, 300) }))
              fail(new Error(`no matching SSE event within ${String(timeoutMs)} ms; got ${JSON.stringify(got)}`))
            }, timeoutMs)
            waiters.add(check)
            check()
          }),
        close: () => req.destroy(),
        ended: () => ended,
        pause: () => res.pause(),
        resume: () => res.resume(),
      })
    })
    req.on('error', reject)
    req.end()
  })

// -------------------------------------------------------------------------------------
// fixtures
// -------------------------------------------------------------------------------------

/** Resolves when `signal` aborts (a task that runs until it is cancelled). */
const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }))

const HOSTILE = `"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'`

type Step = 'Fetch' | 'Hold' | 'Done'
const holding = workflow<Step>()({
  exits: ['Done'],
  states: {
    Fetch: task(() => 'Hold' as const, { to: ['Hold'] }),
    Hold: task(({ signal }) => aborted(signal), { to: ['Done'] }),
  },
})
const quick = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })

/** The entries of a list feed's `runs` message. */
const listed = (
  e: SseEvent,
): ReadonlyArray<{ workflowId: string; status: string; state: string | null; firstAt: number }> =>
  (JSON.parse(e.data) as { runs: Array<{ workflowId: string; status: string; state: string | null; firstAt: number }> })
    .runs

const runtimes: Runtime[] = []
const inspectors: Inspector[] = []
const setup = async (
  extra: { readonly token?: string; readonly allowedHosts?: ReadonlyArray<string> } = {},
  workflows: Parameters<typeof createRuntime>[0]['workflows'] = {
    holding: { workflow: holding, initial: 'Fetch' },
    quick: { workflow: quick, initial: 'Go' },
  },
): Promise<{ readonly runtime: Runtime; readonly inspector: Inspector }> => {
  const runtime = createRuntime({ store: memoryCheckpoints(), workflows, pollMs: 20 })
  runtimes.push(runtime)
  const inspector = await serveInspector({ runtime, port: 0, ...extra })
  inspectors.push(inspector)
  return { runtime, inspector }
}
afterEach(async () => {
  await Promise.all(inspectors.map((i) => i.close()))
  await Promise.all(runtimes.map((r) => r.stop({ graceMs: 0 })))
  inspectors.length = 0
  runtimes.length = 0
})

const refusal = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
  } catch (e: unknown) {
    expect(e).to.be.instanceOf(CanoFailure)
    const error = (e as CanoFailure).error
    expect(error._tag).to.equal('Configuration')
    return error.message
  }
  return expect.fail('resolved')
}

const until = async (check: () => Promise<boolean>, timeoutMs = 2_000): Promise<void> => {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) expect.fail(`not true within ${String(timeoutMs)} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('serveInspector', () => {
  it('listens on 127.0.0.1 by default, on the port picked, with a new random token per server', async () => {
    const { inspector } = await setup()
    const other = await setup()
    expect(inspector.host).to.equal('127.0.0.1')
    expect(inspector.port).to.be.greaterThan(0)
    expect(inspector.url).to.equal(`http://127.0.0.1:${String(inspector.port)}/`)
    expect(inspector.token).to.match(/^[A-Za-z0-9_-]{43}$/)
    expect(other.inspector.token).to.not.equal(inspector.token)
    expect(inspector.url).to.not.include(inspector.token)
    const given = await setup({ token: 'a-token-of-my-own-choosing' })
    expect(given.inspector.token).to.equal('a-token-of-my-own-choosing')
  })

  it('refuses bad options with a Configuration error naming them', async () => {
    const { runtime } = await setup()
    expect(await refusal(serveInspector({ runtime: {} as Runtime, port: 0 }))).to.equal(
      'serveInspector: runtime must be a runtime made by createRuntime (a cano-rx 0.3 or later)',
    )
    expect(await refusal(serveInspector({ runtime, port: 70_000 }))).to.equal(
      'serveInspector: port must be an integer in [0, 65535] (0: any free port), got 70000',
    )
    expect(await refusal(serveInspector({ runtime, port: 0, token: 'short' }))).to.equal(
      'serveInspector: token must be 16 to 512 visible ASCII characters (no spaces)',
    )
    expect(await refusal(serveInspector({ runtime, port: 0, host: '' }))).to.equal(
      'serveInspector: host must be a non-empty string, got ""',
    )
    expect(await refusal(serveInspector({ runtime, port: 0, allowedHosts: ['a b'] }))).to.equal(
      'serveInspector: allowedHosts must be a list of host names (optionally with :port)',
    )
    const { inspector } = await setup()
    expect(await refusal(serveInspector({ runtime, port: inspector.port }))).to.equal(
      `serveInspector: cannot listen on 127.0.0.1:${String(inspector.port)} (EADDRINUSE)`,
    )
  })

  it('serves the page and its assets with a strict CSP, and the page has no inline script or style', async () => {
    const { inspector } = await setup()
    for (const [path, type] of [
      ['', 'text/html; charset=utf-8'],
      ['runs/some-id', 'text/html; charset=utf-8'],
      ['assets/inspector.js', 'text/javascript; charset=utf-8'],
      ['assets/inspector.css', 'text/css; charset=utf-8'],
      ['assets/icon.svg', 'image/svg+xml'],
      ['favicon.ico', 'image/svg+xml'],
    ] as const) {
      const a = await send(inspector.url + path)
      expect(a.status, path).to.equal(200)
      expect(a.headers['content-type'], path).to.equal(type)
      expect(a.headers['content-security-policy'], path).to.equal(CSP)
      expect(a.headers['x-content-type-options'], path).to.equal('nosniff')
      expect(a.headers['x-frame-options'], path).to.equal('DENY')
      expect(a.headers['access-control-allow-origin'], path).to.equal(undefined)
    }
    expect(CSP).to.include("script-src 'self'").and.include("default-src 'none'").and.not.include('unsafe')
    expect(INSPECTOR_HTML).to.not.match(/<script(?![^>]*\bsrc=)/)
    expect(INSPECTOR_HTML).to.not.match(/\sstyle=|<style|\son[a-z]+=/i)
  })

  it('the page script parses and writes data with no HTML sink', () => {
    expect(() => new Script(INSPECTOR_JS)).to.not.throw()
    for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function'])
      expect(INSPECTOR_JS, sink).to.not.include(sink)
    expect(INSPECTOR_JS).to.not.match(/setTimeout\(\s*['"]/)
  })

  it('refuses a request whose Host header names another server (DNS rebinding), unless allowed', async () => {
    const { inspector } = await setup({ allowedHosts: ['inspector.internal'] })
    const url = inspector.url + 'api/runs'
    expect((await send(url, { headers: { Host: `evil.example:${String(inspector.port)}` } })).status).to.equal(403)
    expect((await send(url, { headers: { Host: 'localhost:1' } })).status).to.equal(403)
    expect((await send(url, { headers: { Host: `localhost:${String(inspector.port)}` } })).status).to.equal(200)
    expect((await send(url, { headers: { Host: `inspector.internal:${String(inspector.port)}` } })).status).to.equal(
      200,
    )
  })

  it('lists runs with their live state, filtered by status and workflow; bad filters are 400', async () => {
    const { runtime, inspector } = await setup()
    await runtime.start('quick', null, { id: 'q-1' })
    await runtime.result('q-1')
    await runtime.start('holding', null, { id: 'h-1' })
    await until(async () => (await runtime.get('h-1'))?.status === 'running')
    const all = await getJson(inspector.url + 'api/runs')
    expect(all.status).to.equal(200)
    const body = all.json as { runs: Array<{ workflowId: string; status: string; state: string | null }> }
    expect(body.runs.map((r) => r.workflowId).sort()).to.deep.equal(['h-1', 'q-1'])
    expect((await getJson(inspector.url + 'api/runs?status=completed')).json).to.deep.include({
      workflows: ['holding', 'quick'],
    })
    const completed = (await getJson(inspector.url + 'api/runs?status=completed')).json as typeof body
    expect(completed.runs.map((r) => [r.workflowId, r.status, r.state])).to.deep.equal([['q-1', 'completed', 'Done']])
    const holdingRuns = (await getJson(inspector.url + 'api/runs?workflow=holding')).json as typeof body
    expect(holdingRuns.runs.map((r) => r.workflowId)).to.deep.equal(['h-1'])
    const bad = await getJson(inspector.url + 'api/runs?status=%3Cscript%3E')
    expect(bad.status).to.equal(400)
    expect(bad.json).to.deep.equal({
      error: 'unknown status "<script>"; one of pending, running, parked, completed, failed, cancelled, timedOut',
    })
    expect((await send(inspector.url + 'api/runs?limit=0')).status).to.equal(400)
    // the list's query, checked as the feed's: a misspelt filter is refused, not ignored
    expect((await send(inspector.url + 'api/runs?stauts=failed')).status).to.equal(400)
    expect((await send(inspector.url + 'api/runs?limit=1&limit=2')).status).to.equal(400)
    // a very long id travels whole in the path (Node's default head limit, 16 KiB, answered 431)
    const longId = 'L'.repeat(100_000)
    await runtime.start('quick', null, { id: longId })
    await runtime.result(longId)
    const long = await getJson(inspector.url + 'api/runs/' + encodeURIComponent(longId))
    expect(long.status).to.equal(200)
    expect((long.json as { record: { workflowId: string } }).record.workflowId).to.equal(longId)
    expect((await send(inspector.url + 'runs/' + encodeURIComponent(longId))).status).to.equal(200)
    expect((await send(inspector.url + 'api/nothing')).status).to.equal(404)
    expect((await send(inspector.url + 'api/runs/nobody')).status).to.equal(404)
    expect((await send(inspector.url + 'api/runs/%E0%A4%A')).status).to.equal(400)
  })

  it('returns hostile ids, state names, progress and errors as JSON data, bounded, never as markup', async () => {
    type H = typeof HOSTILE | 'Done'
    const circular: Record<string, unknown> = { label: HOSTILE, big: 10n, long: 'x'.repeat(100_000) }
    circular['self'] = circular
    const hostile = workflow<H>()({
      exits: ['Done'],
      states: {
        [HOSTILE]: task(
          (ctx) => {
            ctx.progress(circular)
            return Promise.reject(nonRetryable(new Error(HOSTILE)))
          },
          { to: ['Done'] },
        ),
      },
    })
    const { runtime, inspector } = await setup({}, { [HOSTILE]: { workflow: hostile, initial: HOSTILE } })
    const id = `${HOSTILE}${'y'.repeat(3_000)}`
    await runtime.start(HOSTILE, null, { id })
    expect((await runtime.result(id)).status).to.equal('failed')
    const a = await send(inspector.url + 'api/runs/' + encodeURIComponent(id))
    expect(a.status).to.equal(200)
    expect(a.headers['content-type']).to.equal('application/json; charset=utf-8')
    expect(a.headers['x-content-type-options']).to.equal('nosniff')
    const body = JSON.parse(a.body) as {
      record: { workflowId: string; workflow: string; error: { message: string } }
      graph: { nodes: Array<{ id: string; label: string }> }
      view: { state: string; progress: Record<string, unknown>; lastError: { message: string } }
    }
    expect(body.record.workflowId).to.equal(id)
    expect(body.record.workflow).to.equal(HOSTILE)
    expect(body.record.error.message).to.include(HOSTILE)
    expect(body.graph.nodes.map((n) => n.id)).to.deep.equal([HOSTILE, 'Done'])
    expect(body.graph.nodes[0]?.label).to.equal(`${HOSTILE.slice(0, 27)}…`)
    expect(body.view.state).to.equal(HOSTILE)
    expect(body.view.lastError.message).to.include(HOSTILE)
    expect(body.view.progress).to.deep.equal({
      label: HOSTILE,
      big: '10n',
      long: `${'x'.repeat(2_000)}… (100000 characters)`,
      self: '[circular]',
    })
    // JSON's escaping is the only one the API needs: the page renders it as text
    expect(a.body).to.include('<script>')
  })

  it('needs the token for a mutation: 401 without it, 403 with a wrong one, never taken from the URL', async () => {
    const { runtime, inspector } = await setup()
    await runtime.start('holding', null, { id: 'h-2' })
    await until(async () => (await runtime.get('h-2'))?.status === 'running')
    const cancel = inspector.url + 'api/runs/h-2/cancel'
    const none = await send(cancel, { method: 'POST' })
    expect(none.status).to.equal(401)
    expect(none.headers['www-authenticate']).to.equal('Bearer realm="cano-rx inspector"')
    expect(
      (await send(cancel, { method: 'POST', headers: { Authorization: 'Bearer wrong-token-wrong-token' } })).status,
    ).to.equal(403)
    expect((await send(cancel, { method: 'POST', headers: { Authorization: inspector.token } })).status).to.equal(401)
    expect((await send(`${cancel}?token=${inspector.token}`, { method: 'POST' })).status).to.equal(401)
    expect((await send(cancel)).status).to.equal(404)
    expect((await runtime.get('h-2'))?.status).to.equal('running')
  })

  it('refuses a cross-origin or cross-site mutation even with the token', async () => {
    const { runtime, inspector } = await setup()
    await runtime.start('holding', null, { id: 'h-3' })
    await until(async () => (await runtime.get('h-3'))?.status === 'running')
    const cancel = inspector.url + 'api/runs/h-3/cancel'
    const auth = { Authorization: `Bearer ${inspector.token}` }
    expect(
      (await send(cancel, { method: 'POST', headers: { ...auth, Origin: 'http://evil.example' } })).status,
    ).to.equal(403)
    expect(
      (await send(cancel, { method: 'POST', headers: { ...auth, 'Sec-Fetch-Site': 'cross-site' } })).status,
    ).to.equal(403)
    expect((await runtime.get('h-3'))?.status).to.equal('running')
    const same = await send(cancel, {
      method: 'POST',
      headers: { ...auth, Origin: `http://127.0.0.1:${String(inspector.port)}`, 'Sec-Fetch-Site': 'same-origin' },
    })
    expect(same.status).to.equal(200)
    expect((await runtime.result('h-3')).status).to.equal('cancelled')
    const again = await send(cancel, { method: 'POST', headers: auth })
    expect(again.status).to.equal(409)
    expect(JSON.parse(again.body)).to.deep.equal({ error: 'run "h-3" has ended already (cancelled)' })
  })

  it('resumes a failed run from the API; refusals are 409 with the reason', async () => {
    let broken = true
    const flaky = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: { A: task(() => (broken ? Promise.reject(nonRetryable(new Error('down'))) : ('Done' as const))) },
    })
    const { runtime, inspector } = await setup({}, { flaky: { workflow: flaky, initial: 'A' } })
    await runtime.start('flaky', null, { id: 'f-1' })
    expect((await runtime.result('f-1')).status).to.equal('failed')
    broken = false
    const auth = { Authorization: `Bearer ${inspector.token}` }
    const resumed = await send(inspector.url + 'api/runs/f-1/resume', { method: 'POST', headers: auth })
    expect(resumed.status).to.equal(200)
    expect(JSON.parse(resumed.body)).to.deep.include({ ok: true })
    expect((await runtime.result('f-1')).status).to.equal('completed')
    const refused = await send(inspector.url + 'api/runs/f-1/resume', { method: 'POST', headers: auth })
    expect(refused.status).to.equal(409)
    expect((JSON.parse(refused.body) as { error: string }).error).to.match(/has ended \(completed\)/)
    expect((await send(inspector.url + 'api/runs/nobody/resume', { method: 'POST', headers: auth })).status).to.equal(
      404,
    )
  })

  it('lists the readable runs when a stored record does not decode, and names the unreadable one', async () => {
    const records = new Map<string, StoredRun>()
    const runtime = createRuntime({
      store: memoryCheckpointsOver(new Map(), {}, records),
      workflows: { quick: { workflow: quick, initial: 'Go' } },
      pollMs: 20,
    })
    runtimes.push(runtime)
    const inspector = await serveInspector({ runtime, port: 0 })
    inspectors.push(inspector)
    for (const id of ['ok-1', 'bad-<b>-1']) {
      await runtime.start('quick', null, { id })
      await runtime.result(id)
    }
    const stored = records.get('bad-<b>-1')
    if (stored === undefined) return expect.fail('no record')
    records.set('bad-<b>-1', { ...stored, json: stored.json.replace('"completed"', '"finished"') })
    const listed = await getJson(inspector.url + 'api/runs')
    expect(listed.status).to.equal(200)
    const body = listed.json as {
      runs: ReadonlyArray<{ workflowId: string }>
      unreadableCount: number
      unreadable: ReadonlyArray<{ workflowId: string; error: string }>
    }
    expect(body.runs.map((r) => r.workflowId)).to.deep.equal(['ok-1'])
    expect(body.unreadableCount).to.equal(1)
    expect(body.unreadable.map((u) => u.workflowId)).to.deep.equal(['bad-<b>-1'])
    expect(body.unreadable[0]?.error).to.contain('RunRecord/status')
    // a list with nothing unreadable says nothing of it
    records.set('bad-<b>-1', stored)
    expect((await getJson(inspector.url + 'api/runs')).json).not.to.have.property('unreadableCount')
  })

  it('the list feed brings a run started after the client connected, and its end', async () => {
    const { runtime, inspector } = await setup()
    const feed = await openSse(inspector.url + 'api/feed')
    await feed.next((e) => e.event === 'hello')
    const started = Date.now()
    await runtime.start('quick', null, { id: 'late-1' })
    const ended = await feed.next(
      (e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'late-1' && r.status === 'completed'),
    )
    expect(ended.at - started).to.be.below(1_000)
    expect((JSON.parse(ended.data) as { replace: boolean }).replace).to.equal(false)
    const entry = listed(ended).find((r) => r.workflowId === 'late-1')
    expect(entry).to.deep.include({ workflowId: 'late-1', workflow: 'quick', status: 'completed', state: 'Done' })
    expect(entry?.firstAt).to.be.a('number')
    feed.close()
  })

  it('the list feed sends only what its filter shows, and the runs that leave it', async () => {
    const { runtime, inspector } = await setup()
    const running = await openSse(inspector.url + 'api/feed?status=running&workflow=holding')
    const done = await openSse(inspector.url + 'api/feed?status=completed')
    await Promise.all([running, done].map((f) => f.next((e) => e.event === 'hello')))
    await runtime.start('holding', null, { id: 'h-f' })
    await running.next((e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'h-f' && r.state === 'Hold'))
    await runtime.start('quick', null, { id: 'q-f' })
    await done.next((e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'q-f'))
    await runtime.cancel('h-f')
    // h-f was on the running list: its end is sent there (the page drops the row)
    await running.next(
      (e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'h-f' && r.status === 'cancelled'),
    )
    // a run completed after that: once the completed list has it, it has every earlier write too
    await runtime.start('quick', null, { id: 'q-end' })
    await done.next((e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'q-end'))
    const sent = (f: Sse): string[] =>
      f.events.filter((e) => e.event === 'runs').flatMap((e) => listed(e).map((r) => r.workflowId))
    // the quick runs are not of the holding workflow; the holding run never completed
    expect(sent(running)).to.not.include('q-f')
    expect(sent(done)).to.deep.equal(['q-f', 'q-end'])
    for (const f of [running, done]) f.close()
  })

  it('past its limit, a list write sends the last runs to change, as the whole list', async () => {
    const { runtime, inspector } = await setup()
    const feed = await openSse(inspector.url + 'api/feed?limit=2')
    await feed.next((e) => e.event === 'hello')
    await Promise.all(Array.from({ length: 30 }, (_, i) => runtime.start('quick', null, { id: `burst-${String(i)}` })))
    const replaced = await feed.next((e) => e.event === 'runs' && (JSON.parse(e.data) as { replace: boolean }).replace)
    expect(listed(replaced)).to.have.length(2)
    expect(listed(replaced).map((r) => r.workflowId.slice(0, 6))).to.deep.equal(['burst-', 'burst-'])
    await Promise.all(Array.from({ length: 30 }, (_, i) => runtime.result(`burst-${String(i)}`)))
    // a run started after the burst ended: the write that brings its end comes after every write of the burst
    await runtime.start('quick', null, { id: 'after' })
    await feed.next(
      (e) => e.event === 'runs' && listed(e).some((r) => r.workflowId === 'after' && r.status === 'completed'),
    )
    // no write holds more runs than the list shows
    for (const e of feed.events.filter((x) => x.event === 'runs')) expect(listed(e).length).to.be.at.most(2)
    feed.close()
  })

  it('the list feed refuses a bad query before it opens', async () => {
    const { inspector } = await setup()
    for (const [query, error] of [
      [
        'status=sleeping',
        'unknown status "sleeping"; one of pending, running, parked, completed, failed, cancelled, timedOut',
      ],
      ['limit=0', 'limit must be an integer in [1, 1000]'],
      ['limit=1e9', 'limit must be an integer in [1, 1000]'],
      ['limit=2.5', 'limit must be an integer in [1, 1000]'],
      ['limit=NaN', 'limit must be an integer in [1, 1000]'],
      ['limit=1&limit=2', 'limit given more than once'],
      ['workflow=a&workflow=b', 'workflow given more than once'],
      ['status=', 'unknown status ""; one of pending, running, parked, completed, failed, cancelled, timedOut'],
      ['bogus=1', 'unknown parameter "bogus"; one of status, workflow, limit'],
      ['statuses=failed', 'unknown parameter "statuses"; one of status, workflow, limit'],
    ] as const) {
      const answer = await send(inspector.url + 'api/feed?' + query)
      expect(answer.status, query).to.equal(400)
      expect(answer.headers['content-type']).to.equal('application/json; charset=utf-8')
      expect(JSON.parse(answer.body)).to.deep.equal({ error })
    }
  })

  it('a run feed brings every event of its run, numbered, with the progress view', async () => {
    const { runtime, inspector } = await setup()
    const feed = await openSse(inspector.url + 'api/runs/h-4/feed')
    await feed.next((e) => e.event === 'hello')
    await runtime.start('holding', null, { id: 'h-4' })
    await feed.next(
      (e) => e.event === 'run' && (JSON.parse(e.data) as { view: { state: string } | null }).view?.state === 'Hold',
    )
    await runtime.cancel('h-4')
    await feed.next(
      (e) =>
        e.event === 'run' &&
        (JSON.parse(e.data) as { events: Array<{ _tag: string }> }).events.some((x) => x._tag === 'RunCancelled'),
    )
    const events = feed.events
      .filter((e) => e.event === 'run')
      .flatMap((e) => (JSON.parse(e.data) as { events: Array<{ n: number; _tag: string }> }).events)
    expect(events.map((e) => e.n)).to.deep.equal(events.map((_, i) => i))
    expect(events[0]?._tag).to.equal('RunStarted')
    expect(events.at(-1)?._tag).to.equal('RunCancelled')
    const details = (await getJson(inspector.url + 'api/runs/h-4')).json as {
      timeline: { first: number; events: Array<{ n: number }> }
      status: string
    }
    expect(details.status).to.equal('cancelled')
    expect(details.timeline.events.map((e) => e.n)).to.deep.equal(events.map((e) => e.n))
    feed.close()
  })

  it('batch-shaped progress with values JSON cannot hold: the run feed and the run page carry on (numbers only)', async () => {
    const cyclic: { self?: unknown } = {}
    cyclic.self = cyclic
    const hostile = workflow<'Go' | 'Done'>()({
      exits: ['Done'],
      states: {
        Go: task(
          ({ progress, signal }) => {
            progress({ kind: 'batch', done: 1n, total: cyclic, failed: 0, index: 0 })
            return aborted(signal)
          },
          { to: ['Done'] },
        ),
      },
    })
    const { runtime, inspector } = await setup({}, { hostile: { workflow: hostile, initial: 'Go' } })
    const feed = await openSse(inspector.url + 'api/runs/b-1/feed')
    await feed.next((e) => e.event === 'hello')
    await runtime.start('hostile', null, { id: 'b-1' })
    // before the fix the feed's write threw in its timer (the process died) and the page was a 500
    const shown = await feed.next(
      (e) => e.event === 'run' && (JSON.parse(e.data) as { view: { batch: unknown } | null }).view?.batch != null,
    )
    expect((JSON.parse(shown.data) as { view: { batch: unknown } }).view.batch).to.deep.equal({
      done: null,
      total: null,
      failed: 0,
    })
    const page = await getJson(inspector.url + 'api/runs/b-1')
    expect(page.status).to.equal(200)
    await runtime.cancel('b-1')
    await feed.next(
      (e) =>
        e.event === 'run' &&
        (JSON.parse(e.data) as { events: Array<{ _tag: string }> }).events.some((x) => x._tag === 'RunCancelled'),
    )
    feed.close()
  })

  it('a run feed opened on a run already followed (while another run feed was open) brings its next events', async () => {
    const { runtime, inspector } = await setup()
    // a feed on another run is open: every event of h-6 is checked against the open feeds
    const other = await openSse(inspector.url + 'api/runs/elsewhere/feed')
    await other.next((e) => e.event === 'hello')
    const list = await openSse(inspector.url + 'api/feed')
    await list.next((e) => e.event === 'hello')
    await runtime.start('holding', null, { id: 'h-6' })
    await list.next((e) => e.event === 'runs' && e.data.includes('"state":"Hold"'))
    const feed = await openSse(inspector.url + 'api/runs/h-6/feed')
    await feed.next((e) => e.event === 'hello')
    await runtime.cancel('h-6')
    await feed.next(
      (e) =>
        e.event === 'run' &&
        (JSON.parse(e.data) as { events: Array<{ _tag: string }> }).events.some((x) => x._tag === 'RunCancelled'),
    )
    expect(other.events.filter((e) => e.event === 'run')).to.deep.equal([])
    for (const f of [other, list, feed]) f.close()
  })

  it("a run's page and its feed stay small whatever the run's values: events, progress, error, input", async () => {
    // values of megabytes (2 000 strings of 3 000 control characters: 6 characters of JSON each): before,
    // each event, the progress, the error and the input were each bounded only by their node count (about
    // 48 MB of JSON each), six events made a response of 100 MB, and the feed's write was built whole
    // (seconds of a blocked event loop) before being found too large
    const huge = Array.from({ length: 50 }, () =>
      Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`k${String(k)}`, '\u0001'.repeat(3_000)])),
    )
    const heavy = workflow<'Go' | 'Done'>()({
      exits: ['Done'],
      input: t.unknown,
      states: {
        Go: task(
          async ({ progress }) => {
            for (let i = 0; i < 6; i++) progress({ i, huge })
            await new Promise((r) => setTimeout(r, 100))
            for (let i = 6; i < 12; i++) progress({ i, huge })
            throw nonRetryable(Object.assign(new Error('\u0001'.repeat(3_000)), { cause: huge }))
          },
          { to: ['Done'] },
        ),
      },
    })
    const { runtime, inspector } = await setup({}, { heavy: { workflow: heavy, initial: 'Go' } })
    const feed = await openSse(inspector.url + 'api/runs/big-1/feed')
    await feed.next((e) => e.event === 'hello')
    await runtime.start('heavy', huge, { id: 'big-1' })
    await feed.next(
      (e) =>
        e.event === 'run' &&
        (JSON.parse(e.data) as { events: Array<{ _tag: string }> }).events.some((x) => x._tag === 'RunFailed'),
      5_000,
    )
    const writes = feed.events.filter((e) => e.event === 'run')
    expect(feed.events.filter((e) => e.event === 'reset')).to.deep.equal([])
    for (const w of writes) {
      const { events } = JSON.parse(w.data) as { events: unknown[] }
      for (const e of events) expect(JSON.stringify(e).length).to.be.at.most(6 * 4_000 + 2_000)
    }
    const page = await send(inspector.url + 'api/runs/big-1')
    expect(page.status).to.equal(200)
    expect(page.body.length).to.be.below(4 * 1024 * 1024)
    const body = JSON.parse(page.body) as {
      timeline: { first: number; events: Array<{ n: number; data?: { i: number } }> }
      view: { progress: unknown; lastError: unknown }
      record: { input: unknown; error: unknown }
    }
    expect(body.timeline.events.map((e) => e.data?.i).filter((i) => i !== undefined)).to.deep.equal([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    ])
    for (const value of [body.view.progress, body.view.lastError, body.record.input, body.record.error])
      expect(JSON.stringify(value).length).to.be.at.most(6 * 64_000 + 20_000)
    feed.close()
  })

  it("reaches the runs '.' and '..' through /run?id= and /api/run…?id= (a URL's path cannot hold them)", async () => {
    const { runtime, inspector } = await setup()
    const page = await send(inspector.url + 'run?id=..')
    expect([page.status, page.headers['content-type']]).to.deep.equal([200, 'text/html; charset=utf-8'])
    const feed = await openSse(inspector.url + 'api/run/feed?id=..')
    await feed.next((e) => e.event === 'hello')
    await runtime.start('holding', null, { id: '..' })
    await runtime.start('holding', null, { id: '.' })
    await feed.next((e) => e.event === 'run' && e.data.includes('"workflowId":".."'))
    for (const id of ['.', '..']) {
      const shown = (await getJson(inspector.url + `api/run?id=${encodeURIComponent(id)}`)).json as {
        record: { workflowId: string }
      }
      expect(shown.record.workflowId).to.equal(id)
    }
    const cancel = await send(inspector.url + 'api/run/cancel?id=.', {
      method: 'POST',
      headers: { Authorization: `Bearer ${inspector.token}` },
    })
    expect(cancel.status).to.equal(200)
    expect((await runtime.result('.')).status).to.equal('cancelled')
    expect((await runtime.get('..'))?.status).to.equal('running')
    await runtime.cancel('..')
    feed.close()
  })

  it('answers a connection one request at a time: 300 pipelined reads never taken hold one page, not 300', async () => {
    const big = Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`k${String(k)}`, 'x'.repeat(2_000)]))
    const heavy = workflow<'Go' | 'Done'>()({
      exits: ['Done'],
      states: {
        Go: task(
          ({ progress, signal }) => {
            for (let i = 0; i < 400; i++) progress({ i, big })
            return aborted(signal)
          },
          { to: ['Done'] },
        ),
      },
    })
    const { runtime, inspector } = await setup({}, { heavy: { workflow: heavy, initial: 'Go' } })
    await runtime.start('heavy', null, { id: 'piped' })
    await until(async () => (await send(inspector.url + 'api/runs/piped')).body.includes('"i":399'))
    const one = (await send(inspector.url + 'api/runs/piped')).body.length
    expect(one).to.be.above(500_000)
    global.gc?.()
    const before = process.memoryUsage()
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(inspector.port, '127.0.0.1', () => resolve(s))
      s.on('error', reject)
    })
    socket.pause()
    const head = `GET /api/runs/piped HTTP/1.1\r\nHost: 127.0.0.1:${String(inspector.port)}\r\n\r\n`
    socket.write(head.repeat(300))
    await new Promise((r) => setTimeout(r, 1_500))
    const after = process.memoryUsage()
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
    // before: every response built and buffered at once (300 pages of more than 0.5 MB)
    expect(grown).to.be.below(30 * one)
    // the server still answers others at once
    expect((await send(inspector.url + 'api/runs')).status).to.equal(200)
    socket.destroy()
    await runtime.cancel('piped')
  })

  it('holds at most 32 feeds: a new one ends the oldest (its page opens it again)', async () => {
    const { inspector } = await setup()
    const feeds: Sse[] = []
    for (let i = 0; i < 32; i++) {
      const feed = await openSse(inspector.url + `api/runs/r-${String(i)}/feed`)
      await feed.next((e) => e.event === 'hello')
      feeds.push(feed)
    }
    const first = feeds[0]
    if (first === undefined) throw new Error('no feed')
    expect(first.ended()).to.equal(false)
    const more = await openSse(inspector.url + 'api/feed')
    await more.next((e) => e.event === 'hello')
    await until(async () => first.ended())
    expect(feeds.slice(1).map((f) => f.ended())).to.deep.equal(feeds.slice(1).map(() => false))
    // the API still answers
    expect((await send(inspector.url + 'api/runs')).status).to.equal(200)
    for (const f of [...feeds, more]) f.close()
  })

  it('a run feed and the run page carry the same epoch (the page reads the run again when it changes)', async () => {
    const { runtime, inspector } = await setup()
    const feed = await openSse(inspector.url + 'api/runs/e-1/feed')
    await feed.next((e) => e.event === 'hello')
    const absent = await getJson(inspector.url + 'api/runs/e-1?absent=empty')
    expect(absent).to.deep.equal({ status: 200, json: { found: false, error: 'no run with id "e-1" yet' } })
    expect((await send(inspector.url + 'api/runs/e-1')).status).to.equal(404)
    await runtime.start('holding', null, { id: 'e-1' })
    const message = await feed.next((e) => e.event === 'run')
    const page = (await getJson(inspector.url + 'api/runs/e-1')).json as { epoch: number | null }
    expect(typeof page.epoch).to.equal('number')
    expect((JSON.parse(message.data) as { epoch: number | null }).epoch).to.equal(page.epoch)
    await runtime.cancel('e-1')
    feed.close()
  })

  it('a list client blocked while runs changed gets those changes once it reads again', async () => {
    const { runtime, inspector } = await setup()
    await runtime.start('holding', null, { id: 'x-1' })
    const reader = await openSse(inspector.url + 'api/feed')
    await reader.next((e) => e.event === 'hello')
    // a client that stops reading: writes of ~30 MB (8 runs with ids of 4 million characters; a runtime
    // runs 10 at once) block it
    const stalled = await openSse(inspector.url + 'api/feed')
    await stalled.next((e) => e.event === 'hello')
    stalled.pause()
    const longIds = Array.from({ length: 8 }, (_, i) => `${String(i)}-${'L'.repeat(4_000_000)}`)
    for (const id of longIds) await runtime.start('holding', null, { id })
    await until(async () => reader.events.reduce((n, e) => n + e.data.length, 0) > 32_000_000, 10_000)
    await runtime.cancel('x-1')
    await reader.next(
      (e) => e.event === 'runs' && e.data.includes('"workflowId":"x-1","workflow":"holding","status":"cancelled"'),
    )
    stalled.resume()
    // before the fix the change went to the reading client only: the blocked one kept x-1 running
    await stalled.next(
      (e) => e.event === 'runs' && e.data.includes('"workflowId":"x-1","workflow":"holding","status":"cancelled"'),
      10_000,
    )
    for (const id of longIds) await runtime.cancel(id)
    reader.close()
    stalled.close()
  })

  it('holds at most 64 connections, and reads request heads of at most 1 MiB', async () => {
    const { inspector } = await setup()
    const open: Socket[] = []
    const connected = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(inspector.port, '127.0.0.1', () => resolve(socket))
        socket.on('error', reject)
      })
    // 64 connections sending heads they never finish
    for (let i = 0; i < 64; i++) {
      const socket = await connected()
      socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${String(inspector.port)}\r\nX-Slow: ${'s'.repeat(10_000)}`)
      open.push(socket)
    }
    await new Promise((r) => setTimeout(r, 50))
    // the 65th is closed at once, unanswered
    const extra = await connected()
    const closed = await new Promise<string>((resolve) => {
      let got = ''
      extra.on('data', (c: Buffer) => (got += c.toString('latin1')))
      extra.on('close', () => resolve(got))
      extra.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${String(inspector.port)}\r\n\r\n`)
    })
    expect(closed).to.equal('')
    for (const socket of open) socket.destroy()
    await until(async () => (await send(inspector.url).catch(() => ({ status: 0 }))).status === 200)
    // a head over 1 MiB is refused with 431; one just under it is read
    const over = await send(inspector.url + 'api/runs/' + 'a'.repeat(1_100_000))
    expect(over.status).to.equal(431)
    const under = await send(inspector.url + 'api/runs/' + 'a'.repeat(1_000_000))
    expect(under.status).to.equal(404)
  })

  it('close() ends the feeds and stops listening; it can be called twice', async () => {
    const { inspector } = await setup()
    const feed = await openSse(inspector.url + 'api/feed')
    await inspector.close()
    await inspector.close()
    let error: unknown
    try {
      await send(inspector.url)
    } catch (e: unknown) {
      error = e
    }
    expect(error).to.be.instanceOf(Error)
    feed.close()
  })
})

describe('inspector internals', () => {
  it('a list write sends a client the runs its view shows: filtered, the ones that left it, at most its limit', () => {
    const arena = new TimelineArena()
    const track = (id: string, wf: string, status: RunRecordStatus, shown?: RunRecordStatus): Tracked => {
      const t = new Tracked(id, wf, arena, 0)
      t.status = status
      if (shown !== undefined) {
        t.shown = shown
        t.shownGen = 7
      }
      return t
    }
    // tracked before the client connected, never written: a page may show it from GET /api/runs
    const old = track('old', 'w', 'completed')
    const a = track('a', 'w', 'running')
    const b = track('b', 'w', 'completed', 'running') // written as running: it leaves a running list
    const c = track('c', 'w', 'failed', 'parked') // written as parked: not on a running list
    const d = track('d', 'v', 'running')
    const after = nextBirth()
    const e = track('e', 'w', 'completed') // new since the client connected, never written: not on its page
    const dirty = [old, a, b, c, d, e]
    const ids = (message: string | undefined): { replace: boolean; runs: string[] } | undefined => {
      if (message === undefined) return undefined
      expect(message.startsWith('event: runs\ndata: ')).to.equal(true)
      const body = JSON.parse(message.slice('event: runs\ndata: '.length)) as {
        replace: boolean
        runs: Array<{ workflowId: string }>
      }
      return { replace: body.replace, runs: body.runs.map((r) => r.workflowId) }
    }
    const entry = (run: Tracked): string => JSON.stringify({ workflowId: run.workflowId })
    const view = (v: Partial<ListView>): ListView => ({
      statuses: undefined,
      workflow: undefined,
      limit: 200,
      bornBefore: after,
      fromGen: 0,
      ...v,
    })
    expect(ids(listMessage(dirty, view({}), entry))).to.deep.equal({
      replace: false,
      runs: ['old', 'a', 'b', 'c', 'd', 'e'],
    })
    expect(ids(listMessage(dirty, view({ statuses: new Set(['running']), workflow: 'w' }), entry))).to.deep.equal({
      replace: false,
      runs: ['old', 'a', 'b'],
    })
    // a client that connected after b's write (fromGen 8) cannot know it was shown: b was tracked before it, so it is sent
    expect(
      ids(listMessage(dirty, view({ statuses: new Set(['running']), workflow: 'w', fromGen: 8 }), entry)),
    ).to.deep.equal({ replace: false, runs: ['old', 'a', 'b', 'c'] })
    expect(ids(listMessage(dirty, view({ statuses: new Set(['timedOut']), workflow: 'none' }), entry))).to.equal(
      undefined,
    )
    expect(ids(listMessage([e], view({ statuses: new Set(['running']) }), entry))).to.equal(undefined)
    // more matching runs than the list shows: the last two to change, as the whole list
    expect(ids(listMessage(dirty, view({ limit: 2 }), entry))).to.deep.equal({ replace: true, runs: ['d', 'e'] })
    expect(
      ids(listMessage(dirty, view({ limit: 2, statuses: new Set(['completed', 'failed']) }), entry)),
    ).to.deep.equal({ replace: true, runs: ['c', 'e'] })
    // past the limit, the runs that changed last (by their last event's time), oldest first
    a.at = 10
    expect(ids(listMessage(dirty, view({ limit: 2 }), entry))).to.deep.equal({ replace: true, runs: ['e', 'a'] })
    a.at = 0
    // within the limit: the matching runs and every run the page may show (a and d were tracked before it connected)
    expect(
      ids(listMessage(dirty, view({ limit: 4, statuses: new Set(['completed', 'failed']) }), entry)),
    ).to.deep.equal({ replace: false, runs: ['old', 'a', 'b', 'c', 'd', 'e'] })
  })

  it('a list past its limit keeps the runs that changed last, oldest first, as a stable sort by time would', () => {
    const arena = new TimelineArena()
    fc.assert(
      fc.property(
        // few distinct times, so that many runs share one; the limit below, at or past the list's length
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 2, maxLength: 60 }),
        fc.nat(),
        (times, l) => {
          const runs = times.map((at, i) => new Tracked(`r${String(i)}`, 'w', arena, at))
          const limit = 1 + (l % (runs.length - 1))
          const expected = [...runs].sort((x, y) => x.at - y.at).slice(-limit)
          expect(latest(runs, limit).map((r) => r.workflowId)).to.deep.equal(expected.map((r) => r.workflowId))
        },
      ),
      { numRuns: 500 },
    )
    // a time that is not a number counts as the oldest
    const odd = [new Tracked('nan', 'w', arena, Number.NaN), new Tracked('one', 'w', arena, 1)]
    expect(latest(odd, 1).map((r) => r.workflowId)).to.deep.equal(['one'])
    expect(latest([...odd].reverse(), 1).map((r) => r.workflowId)).to.deep.equal(['one'])
  })

  it('the tracker trims a long timeline but keeps its snapshot whole, and keeps a bounded number of idle runs', () => {
    const events = new Subject<RuntimeEvent>()
    const tracker = new RunTracker(
      events,
      () => 0,
      () => undefined,
    )
    const run = (event: WorkflowEvent): void => events.next({ _tag: 'Run', workflow: 'w', event })
    run({ _tag: 'RunStarted', workflowId: 'long', at: 0, initial: 'A' })
    run({ _tag: 'StateEntered', workflowId: 'long', at: 0, state: 'A', transition: 0 })
    run({ _tag: 'TaskStarted', workflowId: 'long', at: 0, state: 'A', taskId: 'A' })
    for (let i = 0; i < 3 * TIMELINE; i++)
      run({ _tag: 'RetryScheduled', workflowId: 'long', at: i, state: 'A', taskId: 'A', attempt: i + 1, delayMs: 1 })
    const long = tracker.get('long')
    if (long === undefined) return expect.fail('not tracked')
    expect(long.timeline.length).to.be.within(TIMELINE, 2 * TIMELINE)
    expect(long.timeline.end).to.equal(3 + 3 * TIMELINE)
    // the oldest event kept is the one of its number
    expect(long.timeline.get(long.timeline.first)).to.deep.equal({
      _tag: 'RetryScheduled',
      workflowId: 'long',
      at: long.timeline.first - 3,
      state: 'A',
      taskId: 'A',
      attempt: long.timeline.first - 2,
      delayMs: 1,
    })
    expect(tracker.snapshot(long)).to.deep.include({
      totalRetries: 3 * TIMELINE,
      attempt: 1 + 3 * TIMELINE,
      current: 'A',
    })
    for (let i = 0; i <= MAX_IDLE; i++) {
      run({ _tag: 'RunStarted', workflowId: `r${String(i)}`, at: 0, initial: 'A' })
      run({ _tag: 'RunCompleted', workflowId: `r${String(i)}`, at: 1, state: 'A', transitions: 0 })
    }
    expect(tracker.get('r0')).to.equal(undefined)
    expect(tracker.get(`r${String(MAX_IDLE)}`)?.status).to.equal('completed')
    expect(tracker.get('long')?.status).to.equal('running')
    for (let i = 0; i < 2 * MAX_IDLE; i++) {
      run({ _tag: 'RunStarted', workflowId: `q${String(i)}`, at: 0, initial: 'A' })
      run({ _tag: 'RunCompleted', workflowId: `q${String(i)}`, at: 1, state: 'A', transitions: 0 })
    }
    // the blocks of forgotten runs and of the long run's dropped events went back to the arena: each idle
    // run holds one block, the long run those of at most 2 x TIMELINE events
    const arena = (tracker as unknown as { readonly arena: TimelineArena }).arena
    expect(arena.inUse).to.be.at.most(MAX_IDLE + Math.ceil((2 * TIMELINE) / BLOCK_EVENTS) + 1)
    expect(tracker.get('long')?.timeline.get(long.timeline.first)?._tag).to.equal('RetryScheduled')
    tracker.close()
  })

  it('the tracker takes events in by batches: when one is full, at the end of the turn, before a read; in order, each notice with its time', async () => {
    let clock = 100
    const seen: string[] = []
    const tracker = new RunTracker(
      new Subject<RuntimeEvent>(),
      () => clock,
      (run, e) => {
        seen.push(`${run.workflowId}:${e?._tag ?? 'notice'}`)
        if (e?._tag === 'TaskStarted' && e.taskId === 'throws') throw new Error('a listener that throws')
      },
    )
    // one slot per execution, as the runtime gives them
    const slot: TapSlot = { held: undefined }
    const started = (id: string, at: number): void =>
      tracker.run(
        'w',
        { _tag: 'RunStarted', workflowId: id, at, initial: 'A' },
        id === 'a' ? slot : { held: undefined },
      )
    try {
      // queued, not taken in: the listener has heard nothing
      tracker.notice({ _tag: 'Claimed', workflowId: 'a', workflow: 'w', fence: 1 })
      clock = 200
      started('a', 201)
      tracker.run('w', { _tag: 'TaskStarted', workflowId: 'a', at: 202, state: 'A', taskId: 'throws' }, slot)
      tracker.run('w', { _tag: 'StateEntered', workflowId: 'a', at: 203, state: 'B', transition: 1 }, slot)
      expect(seen).to.deep.equal([])
      // a read takes in what came first, in order; the listener's throw stops neither the others nor the caller
      const a = tracker.get('a')
      expect(seen).to.deep.equal(['a:notice', 'a:RunStarted', 'a:TaskStarted', 'a:StateEntered'])
      expect(a?.state).to.equal('B')
      expect(a?.timeline.slice().map((e) => e._tag)).to.deep.equal(['RunStarted', 'TaskStarted', 'StateEntered'])
      // a notice keeps the time it came, not the time it was taken in
      tracker.notice({ _tag: 'Parked', workflowId: 'a', wakeAt: 500 })
      clock = 300
      expect(tracker.get('a')?.status).to.equal('parked')
      expect(tracker.get('a')?.at).to.equal(200)
      // a full batch is taken in at once, without a read
      seen.length = 0
      for (let i = 0; i < BATCH; i++) started(`b${String(i)}`, i)
      expect(seen).to.have.length(BATCH)
      // the rest at the end of the event loop's turn
      started('c', 1)
      expect(seen).to.have.length(BATCH)
      await new Promise((resolve) => setImmediate(resolve))
      expect(seen.at(-1)).to.equal('c:RunStarted')
      // close takes in what is queued
      started('d', 1)
      tracker.close()
      expect(seen.at(-1)).to.equal('d:RunStarted')
    } finally {
      tracker.close()
    }
  })

  it('the tracker drops the least recently active idle run first, never one executing, and its idle queue stays bounded', () => {
    const tracker = new RunTracker(
      new Subject<RuntimeEvent>(),
      () => 0,
      () => undefined,
    )
    // each run's events come with its slot, as the runtime gives them (one per execution)
    const slots = new Map<string, TapSlot>()
    const slotOf = (id: string): TapSlot => {
      const slot = slots.get(id) ?? { held: undefined }
      slots.set(id, slot)
      return slot
    }
    const started = (id: string): void =>
      tracker.run('w', { _tag: 'RunStarted', workflowId: id, at: 0, initial: 'A' }, slotOf(id))
    const ended = (id: string): void =>
      tracker.run('w', { _tag: 'RunCompleted', workflowId: id, at: 1, state: 'A', transitions: 0 }, slotOf(id))
    const parked = (id: string): void => tracker.notice({ _tag: 'Parked', workflowId: id, wakeAt: 10 })
    const claimed = (id: string): void => tracker.notice({ _tag: 'Claimed', workflowId: id, workflow: 'w', fence: 1 })
    // 'busy' executes throughout; 'old' ends first, then comes back (parked, claimed, parked again): it is
    // then the most recently active of the idle runs
    started('busy')
    started('old')
    ended('old')
    for (let i = 0; i < MAX_IDLE - 1; i++) {
      started(`r${String(i)}`)
      ended(`r${String(i)}`)
    }
    claimed('old')
    parked('old')
    // many rests and wakes of the same few runs: their stale queue entries do not pile up
    for (let i = 0; i < 50 * MAX_IDLE; i++) {
      claimed(`r${String(MAX_IDLE - 2)}`)
      parked(`r${String(MAX_IDLE - 2)}`)
    }
    expect(tracker.get('old')?.status).to.equal('parked')
    expect(tracker.get('r0')?.status).to.equal('completed')
    started('new')
    ended('new')
    // one run too many: the least recently active idle one goes (r0), not 'old', not 'busy'
    expect(tracker.get('r0')).to.equal(undefined)
    expect(tracker.get('r1')?.status).to.equal('completed')
    expect(tracker.get('old')?.status).to.equal('parked')
    expect(tracker.get('busy')?.status).to.equal('running')
    for (let i = 0; i < 2 * MAX_IDLE; i++) {
      started(`s${String(i)}`)
      ended(`s${String(i)}`)
    }
    expect(tracker.get('busy')?.status).to.equal('running')
    expect(tracker.get('old')).to.equal(undefined)
    expect(tracker.get(`s${String(2 * MAX_IDLE - 1)}`)?.status).to.equal('completed')
    expect(tracker.get(`s${String(MAX_IDLE - 1)}`)).to.equal(undefined)
    // a slot still holding a run the tracker dropped is not trusted: the run is tracked anew, and kept
    const dropped = slotOf('r1').held
    expect(dropped).to.not.equal(undefined)
    expect(tracker.get('r1')).to.equal(undefined)
    started('r1')
    expect(tracker.get('r1')).to.not.equal(dropped)
    expect(tracker.get('r1')?.status).to.equal('running')
    expect(tracker.get('r1')?.timeline.length).to.equal(1)
    expect(slotOf('r1').held).to.equal(tracker.get('r1'))
    const queue = (tracker as unknown as { readonly idleRuns: ReadonlyArray<unknown> }).idleRuns
    expect(queue.length).to.be.at.most(3 * MAX_IDLE + 1_024)
    tracker.close()
  })

  it('timelineJson keeps the latest events that fit its budget (always the last one), numbered from first', () => {
    const event = (i: number): WorkflowEvent =>
      ({ _tag: 'Progress', workflowId: 'r', state: 'S', at: i, data: 'p'.repeat(90) }) as unknown as WorkflowEvent
    const events = Array.from({ length: 10 }, (_, i) => event(i))
    const all = JSON.parse(timelineJson(events, 100)) as { first: number; events: Array<{ n: number; at: number }> }
    expect(all.first).to.equal(100)
    expect(all.events.map((e) => e.n)).to.deep.equal(events.map((_, i) => 100 + i))
    const one = JSON.stringify((JSON.parse(timelineJson([event(0)], 0)) as { events: unknown[] }).events[0]).length
    const some = JSON.parse(timelineJson(events, 100, 2 * (one + 10))) as {
      first: number
      events: Array<{ n: number; at: number }>
    }
    expect(some.events.map((e) => e.at)).to.deep.equal([8, 9])
    expect(some.first).to.equal(108)
    const last = JSON.parse(timelineJson(events, 0, 1)) as { first: number; events: Array<{ n: number }> }
    expect(last).to.deep.include({ first: 9 })
    expect(last.events.map((e) => e.n)).to.deep.equal([9])
    expect(JSON.parse(timelineJson([], 7))).to.deep.equal({ first: 7, events: [] })
    // the budget is in bytes: events of `€` text fit a third as many
    const euro = (i: number): WorkflowEvent => ({
      _tag: 'Progress',
      workflowId: 'r',
      at: i,
      state: 'S',
      taskId: 'S',
      data: '€'.repeat(900),
    })
    const euros = Array.from({ length: 100 }, (_, i) => euro(i))
    const fitted = timelineJson(euros, 0, 30_000)
    expect(Buffer.byteLength(fitted)).to.be.at.most(30_000 + 100)
    expect((JSON.parse(fitted) as { events: unknown[] }).events.length).to.be.within(9, 11)
  })

  it('a response not written out by its deadline closes its connection; one the client reads is written whole', async () => {
    // more than the kernel's socket buffers take (here up to 32 MiB received and 4 MiB sent on loopback)
    const chunk = Buffer.alloc(1024 * 1024, 'x')
    const size = 128 * chunk.length
    const settled: string[] = []
    // 300 ms for the client that takes nothing; the one that reads gets 10 s to take 128 MiB in this process
    const server = createServer((req, res) => {
      res.setHeader('Content-Length', size)
      for (let i = 0; i < size / chunk.length; i++) res.write(chunk)
      res.end()
      void writtenOut(res, req.url === '/stall' ? 300 : 10_000).then(() => settled.push(req.url ?? ''))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      // a client that sends its request and then takes nothing: the deadline ends the response (without
      // it, neither its 'finish' nor its 'close' would come)
      const stalled = await new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s))
      })
      stalled.write('GET /stall HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      stalled.pause()
      await until(() => Promise.resolve(settled.length === 1), 10_000)
      expect(settled).to.deep.equal(['/stall'])
      // its connection was closed: reading now, it ends after part of the body only
      let taken = 0
      stalled.on('data', (b: Buffer) => (taken += b.length))
      stalled.on('error', () => undefined) // the server's side was destroyed: a reset is fine
      const closed = new Promise<void>((resolve) => stalled.once('close', () => resolve()))
      stalled.resume()
      await closed
      expect(taken).to.be.below(size)
      // a client that reads: the whole body
      const got = await new Promise<number>((resolve, reject) => {
        httpRequest({ port, host: '127.0.0.1', path: '/read' }, (res) => {
          let n = 0
          res.on('data', (b: Buffer) => (n += b.length))
          res.on('end', () => resolve(n))
          res.on('error', reject)
        })
          .on('error', reject)
          .end()
      })
      expect(got).to.equal(size)
      await until(() => Promise.resolve(settled.length === 2))
      expect(settled).to.deep.equal(['/stall', '/read'])
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('toWire spends a budget of bytes over the whole value: its UTF-8 JSON is bounded whatever the shape', () => {
    const wide = Object.fromEntries(
      Array.from({ length: 50 }, (_, k) => [`key-${'k'.repeat(3_000)}-${String(k)}`, '\u0001'.repeat(5_000)]),
    )
    const value = Array.from({ length: 50 }, () => wide)
    const limits = { maxString: 2_000, maxItems: 50, maxDepth: 6, maxNodes: 2_000, maxBytes: 10_000 }
    const json = JSON.stringify(toWire(value, limits))
    // the budget counts bytes as JSON writes them in UTF-8 (a control character six): about the budget,
    // plus one string and the notes of what was cut
    expect(Buffer.byteLength(json)).to.be.at.most(10_000 + 6 * 2_000 + 5_000)
    expect(json).to.contain('more keys')
    // characters past U+007F count their UTF-8 bytes: a `€` three, an emoji (a surrogate pair) four
    for (const ch of ['€', '😀', 'é']) {
      const many = Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`k${String(k)}`, [ch.repeat(3_000)]]))
      const text = JSON.stringify(toWire(many, limits))
      expect(Buffer.byteLength(text), ch).to.be.at.most(10_000 + 4 * 2_000 + 1_000)
    }
    // a lone surrogate counts the six-character escape JSON.stringify writes for it
    expect(jsonBytes('\ud800')).to.equal(Buffer.byteLength(JSON.stringify('\ud800')) - 2)
    for (const s of ['plain', 'q"\\', '\u0001', 'é€😀', '\udc00x', 'a\ud83d'])
      expect(jsonBytes(s), JSON.stringify(s)).to.equal(Buffer.byteLength(JSON.stringify(s)) - 2)
    // a small value is untouched
    expect(toWire({ a: 'x', b: [1, 2] }, limits)).to.deep.equal({ a: 'x', b: [1, 2] })
  })

  it('toWire bounds and describes what JSON cannot hold, and never throws', () => {
    const throwing = {
      get bad(): string {
        throw new Error('no')
      },
    }
    expect(toWire({ a: undefined, f: () => 1, e: new Error('boom'), n: Number.NaN, throwing })).to.deep.equal({
      a: null,
      f: '[function]',
      e: { name: 'Error', message: 'boom' },
      n: 'NaN',
      throwing: { bad: '[unreadable]' },
    })
    expect(toWire(Array.from({ length: 60 }, (_, i) => i))).to.have.length(51)
    const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } }
    expect(JSON.stringify(toWire(deep))).to.equal('{"a":{"b":{"c":{"d":{"e":{"f":"[…]"}}}}}}')
    const shared: Record<string, unknown> = {}
    for (let i = 0; i < 50; i++) shared[`k${String(i)}`] = { x: 1 }
    const wide = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`w${String(i)}`, shared]))
    expect(JSON.stringify(toWire(wide)).length).to.be.below(200_000)
    expect(
      toWire(
        new Proxy(
          {},
          {
            ownKeys: () => {
              throw new Error('trap')
            },
          },
        ),
      ),
    ).to.equal('[unreadable]')
  })

  it('lays the declared graph out in columns from the initial state, unreachable states after', () => {
    type S = 'A' | 'B' | 'C' | 'D' | 'Done' | 'Failed'
    const flow = workflow<S>()({
      exits: ['Done', 'Failed'],
      states: ({ task, split }) => ({
        A: task(() => 'B' as const, { to: ['B', 'Failed'] }),
        B: split([async () => 1, async () => 2, async () => 3], { strategy: JoinStrategy.all(), join: 'A' }),
        C: task(() => 'D' as const),
        D: task(() => 'Done' as const, { to: ['Done'] }),
      }),
    })
    const wf = compiledOf(flow)
    if (wf === undefined) return expect.fail('not compiled')
    const g = layoutGraph('w', wf, 'A')
    const at = (id: string): (typeof g.nodes)[number] => {
      const n = g.nodes.find((x) => x.id === id)
      if (n === undefined) return expect.fail(`no node ${id}`)
      return n
    }
    expect(at('A').x).to.be.below(at('B').x)
    // B and Failed share the second column, centred
    expect(at('B').x + at('B').w / 2).to.be.closeTo(at('Failed').x + at('Failed').w / 2, 1)
    expect(at('B').kind).to.equal('Split')
    expect(at('B').branches).to.equal(3)
    expect(at('C').undeclared).to.equal(true)
    expect(at('C').x).to.be.above(at('B').x)
    expect(at('D').x).to.be.above(at('C').x)
    expect(at('Done').kind).to.equal('Exit')
    expect(g.edges.map((e) => [e.from, e.to, e.undeclared])).to.deep.equal([
      ['A', 'B', false],
      ['A', 'Failed', false],
      ['B', 'A', false],
      ['C', 'C', true],
      ['D', 'Done', false],
    ])
    for (const e of g.edges) expect(e.d).to.match(/^[MC0-9 .,-]+$/)
    expect(g.width).to.be.above(at('Done').x)
  })
})
