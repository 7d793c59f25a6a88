/**
 * @internal The inspector's HTTP server (node:http, no dependency): the page and its two assets, a JSON
 * API, two Server-Sent Events feeds and two mutations. See docs/observability.md ("Web inspector") for
 * the routes and the security model; in short:
 *
 * - every request must name this server in its `Host` header (`127.0.0.1:PORT`, `localhost:PORT`,
 *   `[::1]:PORT`, the bound host, or one of `allowedHosts`): a DNS-rebinding page gets 403;
 * - a mutation (`POST`) needs `Authorization: Bearer <token>` (401 without, 403 with a wrong one), and
 *   its `Origin`, when sent, must be this server's own (403 otherwise: a cross-site form or fetch);
 * - every response carries a strict Content-Security-Policy (scripts and styles from this server only,
 *   no inline code), `nosniff`, no framing, no referrer; the page renders data with DOM text nodes.
 *
 * The feeds: `/api/feed` sends, every {@link FLUSH_MS} at most, the latest status and state of each run
 * that changed (coalesced per run: a list shows one row per run), only the runs its client's filter and
 * row count can show (a page of 200 rows gets at most 200 entries a write, however many runs change);
 * `/api/runs/:id/feed` sends every event of one run (its timeline), with its progress. A client that does
 * not keep up is not buffered without bound: the list feed only ever holds one entry per run (the runs
 * that changed while its client was blocked are sent once it drains; past {@link MAX_MISSED} its page is
 * told to read the list again), a run feed past {@link MAX_PENDING} events tells its page to reload
 * instead. A run's page (`GET /api/runs/:id`) gets the latest events of its timeline that fit in
 * {@link MAX_TIMELINE_BYTES}.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

import type { JsonValue } from '../../../codecs/CheckpointRow.js'
import { isBatchProgress } from '../../../src/Batch.js'
import { toCanoError } from '../../../src/CanoError.js'
import { cutString } from '../../../src/internal/cutString.js'
import { RUN_STATUSES, type RunRecord, type RunRecordStatus } from '../../../src/RunTable.js'
import type { WorkflowEvent } from '../../../src/WorkflowEvent.js'
import { type Runtime, tapperOf } from '../../Runtime.js'
import { compiledOf } from '../../Workflow.js'
import { INSPECTOR_CSS, INSPECTOR_HTML, INSPECTOR_ICON, INSPECTOR_JS, LIST_LIMIT } from './assets.js'
import { type GraphLayout, graphOf } from './graph.js'
import { nextBirth, RunTracker, type Tracked } from './tracker.js'
import { EVENT_LIMITS, toWire } from './wire.js'

/** The parameters of a list's query (`GET /api/runs`, `GET /api/feed`). */
const LIST_PARAMS: ReadonlyArray<string> = ['status', 'workflow', 'limit']

/** @internal How often the feeds write, at most (ms). */
export const FLUSH_MS = 50
/** @internal A run feed holding more unsent events than this tells its page to reload. */
export const MAX_PENDING = 5_000
/** @internal The largest run feed write (bytes of UTF-8); a larger one is replaced by a reset (the page reloads). */
export const MAX_WRITE = 8 * 1024 * 1024
/**
 * @internal The most bytes of timeline JSON (UTF-8) a run's page gets (`GET /api/runs/:id`): the latest events
 * that fit. Each event is bounded by `toWire`; a few hundred events holding its largest values were not.
 */
export const MAX_TIMELINE_BYTES = 1024 * 1024
/** @internal Run pages kept built (the last one of each of this many runs): reads of an unchanged run share it. */
const PAGE_CACHE = 16
/** @internal A response (not a feed) not written out within this has its connection closed. */
export const RESPONSE_DEADLINE_MS = 30_000
/** @internal Feeds open at once, at most (the oldest is ended for a new one); the server takes 64 connections. */
export const MAX_FEEDS = 32
/** @internal A list client blocked while more runs than this changed gets a reset (its page reads the list again). */
export const MAX_MISSED = 10_000
/** @internal Runs listed by default, and at most. */
const DEFAULT_LIMIT = LIST_LIMIT
const MAX_LIMIT = 1_000
/** The unreadable records (corrupt rows) a list names one by one; past them, only their count. */
const MAX_UNREADABLE_LISTED = 20
const KEEPALIVE_MS = 15_000

const STATUSES = RUN_STATUSES
const TERMINAL: ReadonlySet<RunRecordStatus> = new Set(['completed', 'failed', 'cancelled', 'timedOut'])

/**
 * Content-Security-Policy of every response: nothing but this server's own script, stylesheet, icon and
 * fetches; no inline script or style, no plugins, no base, no forms posting anywhere, no framing.
 */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
}

/** @internal A run's status and state as the list shows them, with when its oldest unsent change came. */
interface LiveRun {
  readonly workflowId: string
  readonly workflow: string
  readonly status: RunRecordStatus
  readonly state: string | null
  readonly at: number
  /** The time of the oldest change folded into this entry since the last write (for latency checks). */
  readonly firstAt: number
}

/** @internal Which runs a list shows: `GET /api/runs` and `GET /api/feed` take the same query. */
interface ListQuery {
  /** Empty: every status. */
  readonly status: ReadonlyArray<RunRecordStatus>
  /** Empty: every workflow. */
  readonly workflow: string
  readonly limit: number
}

/** @internal What a list feed's page shows, as the feed was opened. */
export interface ListView {
  /** `undefined`: every status. */
  readonly statuses: ReadonlySet<RunRecordStatus> | undefined
  /** `undefined`: every workflow. */
  readonly workflow: string | undefined
  /** The rows its list shows at most: a write with more runs than that sends the `limit` that changed last, as the whole list. */
  readonly limit: number
  /**
   * What its page may show without this feed having said so (rows read from `GET /api/runs`): runs
   * tracked before it connected ({@link Tracked.born} below `bornBefore`) whose last list write
   * ({@link Tracked.shownGen}) came before its first (`fromGen`).
   */
  readonly bornBefore: number
  readonly fromGen: number
}

interface ListClient extends ListView {
  readonly res: ServerResponse
  blocked: boolean
  /** The runs that changed while it was blocked: its next write has them (`undefined`: none). */
  missed: Set<Tracked> | undefined
  /** More than {@link MAX_MISSED} runs changed while it was blocked: its next write is a reset. */
  overflow: boolean
}

interface RunClient {
  readonly res: ServerResponse
  readonly workflowId: string
  pending: Array<WorkflowEvent>
  /** The number of the first pending event. */
  pendingFrom: number
  blocked: boolean
}

/** @internal The server's configuration once checked. */
export interface InspectorConfig {
  readonly runtime: Runtime
  readonly token: string
  /** Host header values (lower case, with the port) this server answers. */
  readonly hosts: () => ReadonlySet<string>
}

/** @internal The request handler and feeds of one inspector. */
export class InspectorServer {
  private readonly tracker: RunTracker
  private readonly listClients = new Set<ListClient>()
  /** Every feed open, oldest first. */
  private readonly feeds = new Set<ServerResponse>()
  private readonly runClients = new Map<string, Set<RunClient>>()
  /** Changes each time a run feed opens or closes: a run's `feedsSeen` older than this is looked up again. */
  private feedsGen = 0
  /** The runs changed since the list feed's last write (each once: see `Tracked.listed`). */
  private listDirty: Tracked[] = []
  /** The number of the list feed's next write. */
  private listGen = 0
  private flushTimer: NodeJS.Timeout | undefined
  private readonly keepalive: NodeJS.Timeout
  private readonly tokenDigest: Buffer
  private closed = false

  constructor(private readonly config: InspectorConfig) {
    this.tokenDigest = digest(config.token)
    this.tracker = new RunTracker(tapperOf(config.runtime) ?? config.runtime.events$, Date.now, (run, event, listed) =>
      this.onChange(run, event, listed),
    )
    this.keepalive = setInterval(() => this.ping(), KEEPALIVE_MS)
    this.keepalive.unref()
  }

  /** Wires the handler into `server`. */
  attach(server: Server): void {
    // one request of a connection at a time, each after the previous response is written out: a client
    // pipelining hundreds of reads it never takes holds one response, not hundreds
    const turns = new WeakMap<object, Promise<void>>()
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket
      const turn = (turns.get(socket) ?? Promise.resolve())
        .then(() => this.handle(req, res))
        .catch((e: unknown) => {
          if (!res.headersSent) json(res, 500, { error: cutString(toCanoError(e).message, 2_000) })
          else res.destroy()
        })
        // a feed is written out only when it ends; any other response has RESPONSE_DEADLINE_MS to be taken
        .then(() => writtenOut(res, this.feeds.has(res) ? undefined : RESPONSE_DEADLINE_MS))
      turns.set(socket, turn)
    })
  }

  /** Stops tracking and ends every feed. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.tracker.close()
    clearInterval(this.keepalive)
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    for (const c of this.listClients) c.res.end()
    for (const set of this.runClients.values()) for (const c of set) c.res.end()
    this.listClients.clear()
    this.runClients.clear()
  }

  // -------------------------------------------------------------------------------------
  // routing
  // -------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // what the runtime told the tracker is taken in before anything is read of it (see RunTracker.run)
    this.tracker.drain()
    const host = (req.headers.host ?? '').toLowerCase()
    if (!this.config.hosts().has(host)) return text(res, 403, 'Forbidden: unexpected Host header')
    const url = new URL(req.url ?? '/', 'http://inspector.invalid')
    const parts = routeParts(url)
    const method = req.method ?? 'GET'
    if (method === 'POST') return this.mutate(req, res, parts, host)
    if (method !== 'GET') return json(res, 405, { error: 'method not allowed' }, { Allow: 'GET, POST' })
    const [a, b, c, d, ...rest] = parts
    // a run's page: /runs/<id>, or /run?id=<id> (the ids '.' and '..', which a browser resolves in a path)
    if (
      url.pathname === '/' ||
      url.pathname === '/run' ||
      (a === 'runs' && b !== undefined && b !== '' && c === undefined)
    )
      return asset(res, 'text/html; charset=utf-8', INSPECTOR_HTML)
    if (a === 'assets' && c === undefined) {
      if (b === 'inspector.js') return asset(res, 'text/javascript; charset=utf-8', INSPECTOR_JS)
      if (b === 'inspector.css') return asset(res, 'text/css; charset=utf-8', INSPECTOR_CSS)
      if (b === 'icon.svg') return asset(res, 'image/svg+xml', INSPECTOR_ICON)
    }
    if (url.pathname === '/favicon.ico') return asset(res, 'image/svg+xml', INSPECTOR_ICON)
    if (a === 'api' && b === 'feed' && c === undefined) return this.listFeed(res, url.searchParams)
    if (a === 'api' && b === 'runs' && c === undefined) return this.listRuns(res, url.searchParams)
    if (a === 'api' && b === 'runs' && c !== undefined && rest.length === 0) {
      const id = decodeSegment(c)
      if (id === undefined || id === '') return json(res, 400, { error: 'malformed run id in the path' })
      if (d === undefined) return this.showRun(res, id, url.searchParams.get('absent') === 'empty')
      // a feed may be opened before its run starts (a page that starts a run and watches it from its first
      // event): an id not known yet is not an error here
      if (d === 'feed') return this.runFeed(res, id)
    }
    return json(res, 404, { error: 'not found' })
  }

  private async mutate(req: IncomingMessage, res: ServerResponse, parts: ReadonlyArray<string>, host: string) {
    const origin = req.headers.origin
    if (origin !== undefined && origin !== `http://${host}`)
      return json(res, 403, { error: 'Forbidden: cross-origin request' })
    const site = req.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin' && site !== 'none')
      return json(res, 403, { error: 'Forbidden: cross-site request' })
    const auth = req.headers.authorization
    if (auth === undefined || !auth.startsWith('Bearer '))
      return json(
        res,
        401,
        { error: 'a token is required (Authorization: Bearer <token>)' },
        {
          'WWW-Authenticate': 'Bearer realm="cano-rx inspector"',
        },
      )
    if (!timingSafeEqual(digest(auth.slice('Bearer '.length)), this.tokenDigest))
      return json(res, 403, { error: 'wrong token' })
    const [a, b, c, d, ...rest] = parts
    if (a !== 'api' || b !== 'runs' || c === undefined || rest.length > 0 || (d !== 'cancel' && d !== 'resume'))
      return json(res, 404, { error: 'not found' })
    const id = decodeSegment(c)
    if (id === undefined || id === '') return json(res, 400, { error: 'malformed run id in the path' })
    const { runtime } = this.config
    const record = await runtime.get(id)
    if (record === undefined) return json(res, 404, { error: `no run with id ${JSON.stringify(id)}` })
    if (d === 'cancel') {
      const asked = await runtime.cancel(id)
      return asked
        ? json(res, 200, { ok: true })
        : json(res, 409, { error: `run ${JSON.stringify(id)} has ended already (${record.status})` })
    }
    try {
      const claimed = await runtime.resume(id)
      return json(res, 200, { ok: true, record: wireRecord(claimed) })
    } catch (e: unknown) {
      return json(res, 409, { error: toCanoError(e).message })
    }
  }

  // -------------------------------------------------------------------------------------
  // reads
  // -------------------------------------------------------------------------------------

  private async listRuns(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const query = listQuery(params)
    if (typeof query === 'string') return json(res, 400, { error: query })
    const { status, workflow, limit } = query
    // a record that does not decode (a corrupt row) does not hide the others: the list says which
    const unreadable: Array<{ readonly workflowId: string; readonly error: string }> = []
    let unreadableCount = 0
    const records = await this.config.runtime.list({
      ...(status.length > 0 ? { status: [...status] } : {}),
      ...(workflow !== '' ? { workflow } : {}),
      limit,
      onUnreadable: (workflowId, error) => {
        unreadableCount++
        if (unreadable.length < MAX_UNREADABLE_LISTED)
          unreadable.push({ workflowId: cutString(workflowId, 200), error: cutString(error.message, 1_000) })
      },
    })
    json(res, 200, {
      runs: records.map((r) => this.row(r)),
      workflows: Object.keys(this.config.runtime.workflows),
      statuses: STATUSES,
      ...(unreadableCount === 0 ? {} : { unreadable, unreadableCount }),
    })
  }

  private row(r: RunRecord): JsonValue {
    const live = this.tracker.get(r.workflowId)
    return {
      workflowId: r.workflowId,
      workflow: r.workflow,
      status: statusOf(r, live),
      state: live?.state ?? null,
      createdAt: r.createdAt,
      updatedAt: Math.max(r.updatedAt, live?.at ?? 0),
    }
  }

  /** A run's page: its record, diagram, progress and timeline; an unknown id is 404, or `{ found: false }` with `?absent=empty` (the page's own read: no error logged for a run that has not started yet). */
  private async showRun(res: ServerResponse, id: string, absentIsEmpty: boolean): Promise<void> {
    const record = await this.config.runtime.get(id)
    const live = this.tracker.get(id)
    if (record === undefined && live === undefined)
      return absentIsEmpty
        ? json(res, 200, { found: false, error: `no run with id ${JSON.stringify(id)} yet` })
        : json(res, 404, { error: `no run with id ${JSON.stringify(id)}` })
    // the page of a run that has not changed since it was last built is that page (many reads of a run
    // with large values build it once)
    const key = `${String(live?.born ?? -1)}/${String(live?.end ?? -1)}/${live?.status ?? '-'}/${record === undefined ? '-' : `${record.status}/${String(record.updatedAt)}/${String(record.fence)}/${String(record.cancelRequested)}`}`
    const cached = this.pages.get(id)
    if (cached !== undefined && cached.key === key) return rawJson(res, 200, cached.body)
    const workflow = record?.workflow ?? live?.workflow ?? ''
    const head = JSON.stringify({
      // the tracker's number of the run it follows: a run forgotten and followed again numbers its events
      // from 0 again, and a page that sees another epoch on its feed reads the run again
      epoch: live?.born ?? null,
      record: record === undefined ? null : wireRecord(record),
      status: record === undefined ? (live?.status ?? null) : statusOf(record, live),
      graph: this.graph(workflow, record?.initial) as unknown as JsonValue,
      view: live === undefined ? null : this.view(live),
    })
    const timeline = live === undefined ? 'null' : timelineJson(live.timeline.slice(), live.timeline.first)
    const body = `${head.slice(0, -1)},"timeline":${timeline}}`
    this.pages.delete(id)
    this.pages.set(id, { key, body })
    if (this.pages.size > PAGE_CACHE) {
      const oldest = this.pages.keys().next().value
      if (oldest !== undefined) this.pages.delete(oldest)
    }
    rawJson(res, 200, body)
  }

  /** The last page built of each of the last {@link PAGE_CACHE} runs read, with what it was built from. */
  private readonly pages = new Map<string, { readonly key: string; readonly body: string }>()

  private readonly graphs = new Map<string, GraphLayout | null>()

  private graph(workflow: string, initial: string | undefined): GraphLayout | null {
    const entry = this.config.runtime.workflows[workflow]
    if (entry === undefined) return null
    const start = initial ?? entry.initial
    const key = `${workflow}\u0000${start}`
    let layout = this.graphs.get(key)
    if (layout === undefined) {
      layout = graphOf(workflow, entry.workflow, start) ?? null
      this.graphs.set(key, layout)
    }
    return layout
  }

  /** What the run page's progress bars show. */
  private view(run: Tracked): JsonValue {
    const snap = this.tracker.snapshot(run)
    const entry = this.config.runtime.workflows[run.workflow]
    const compiled = entry === undefined ? undefined : compiledOf(entry.workflow)
    const state = run.state === null ? undefined : compiled?.states.get(run.state)
    const kind =
      state === undefined ? (run.state !== null && compiled?.exits.has(run.state) ? 'Exit' : null) : state.handler._tag
    const retry = state?.config.retry
    const maxRetries =
      retry === undefined ? null : retry._tag === 'None' ? 0 : retry._tag === 'Fixed' ? retry.retries : retry.maxRetries
    const batch = isBatchProgress(snap.progress) ? snap.progress : undefined
    const branches = state?.handler._tag === 'Split' ? state.handler.branches.length : undefined
    return {
      status: run.status,
      state: run.state,
      kind,
      attempt: snap.attempt,
      totalAttempts: snap.totalAttempts,
      totalRetries: snap.totalRetries,
      maxRetries,
      // batch-shaped progress is user data too: only finite numbers are taken from it
      batch:
        batch === undefined
          ? null
          : { done: finite(batch.done), total: finite(batch.total), failed: finite(batch.failed) },
      split:
        branches === undefined
          ? null
          : {
              total: branches,
              settled: run.split?.settled ?? 0,
              succeeded: run.split?.succeeded ?? 0,
              failed: run.split?.failed ?? 0,
              cancelled: run.split?.cancelled ?? 0,
            },
      stepped: kind === 'Stepped' ? { step: snap.step } : null,
      windows: run.windows === undefined ? null : { ...run.windows },
      progress: batch === undefined && snap.progress !== undefined ? toWire(snap.progress) : null,
      history: snap.history.slice(-200),
      rollingBack: snap.rollingBack,
      compensated: snap.compensated,
      compensationFailures: snap.compensationFailures,
      lastError: snap.lastError === undefined ? null : toWire(snap.lastError),
      wakeAt: snap.wakeAt ?? null,
      startedAt: snap.startedAt ?? null,
      finishedAt: snap.finishedAt ?? null,
    }
  }

  // -------------------------------------------------------------------------------------
  // feeds
  // -------------------------------------------------------------------------------------

  private openStream(res: ServerResponse): void {
    // at most MAX_FEEDS feeds at once, the oldest ended first (a page's EventSource opens it again): feeds
    // that read nothing cannot hold every connection the server takes
    const oldest = this.feeds.size >= MAX_FEEDS ? this.feeds.values().next().value : undefined
    if (oldest !== undefined) {
      this.feeds.delete(oldest)
      oldest.end()
    }
    this.feeds.add(res)
    res.on('close', () => this.feeds.delete(res))
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.socket?.setNoDelay(true)
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ now: Date.now() })}\n\n`)
  }

  private listFeed(res: ServerResponse, params: URLSearchParams): void {
    if (this.closed) return json(res, 503, { error: 'the inspector is closing' })
    const query = listQuery(params)
    if (typeof query === 'string') return json(res, 400, { error: query })
    this.openStream(res)
    const client: ListClient = {
      res,
      blocked: false,
      missed: undefined,
      overflow: false,
      statuses: query.status.length === 0 ? undefined : new Set(query.status),
      workflow: query.workflow === '' ? undefined : query.workflow,
      limit: query.limit,
      bornBefore: nextBirth(),
      fromGen: this.listGen,
    }
    this.listClients.add(client)
    res.on('drain', () => {
      client.blocked = false
      this.schedule()
    })
    res.on('close', () => this.listClients.delete(client))
  }

  private runFeed(res: ServerResponse, workflowId: string): void {
    if (this.closed) return json(res, 503, { error: 'the inspector is closing' })
    this.openStream(res)
    const run = this.tracker.get(workflowId)
    const client: RunClient = {
      res,
      workflowId,
      pending: [],
      pendingFrom: run === undefined ? 0 : run.timeline.end,
      blocked: false,
    }
    let set = this.runClients.get(workflowId)
    if (set === undefined) this.runClients.set(workflowId, (set = new Set()))
    this.feedsGen += 1
    set.add(client)
    res.on('drain', () => {
      client.blocked = false
      this.schedule()
    })
    res.on('close', () => {
      set.delete(client)
      if (set.size === 0 && this.runClients.get(workflowId) === set) this.runClients.delete(workflowId)
      this.feedsGen += 1
    })
  }

  /**
   * Called by the tracker for every change: cheap unless a page watches. A run is queued for the list
   * feeds when what a list shows of it changed (`listed`), not on every event: that touched the run once
   * more per event for a field that changes with its state (measured on the inspector bench, a page with
   * either feed open cost the engine ~3 % more than none, the per-event checks on each run's object).
   */
  private onChange(run: Tracked, event: WorkflowEvent | undefined, listed: boolean): void {
    if (listed && this.listClients.size > 0) {
      // one entry per run until the next write: its fields are read then
      if (run.listed !== this.listGen) {
        run.listed = this.listGen
        run.listedAt = run.at
        this.listDirty.push(run)
        this.schedule()
      }
    }
    if (this.runClients.size === 0) return
    // whether the run has a feed open is looked up once per change of the feeds, not per event
    if (run.feedsSeen !== this.feedsGen) {
      run.feedsSeen = this.feedsGen
      run.hasFeed = this.runClients.has(run.workflowId)
    }
    const watchers = run.hasFeed ? this.runClients.get(run.workflowId) : undefined
    if (watchers !== undefined) {
      for (const c of watchers) {
        if (event !== undefined) {
          if (c.pending.length === 0) c.pendingFrom = run.timeline.end - 1
          // bounded while the client is blocked too: past MAX_PENDING the next write is a reset
          if (c.pending.length <= MAX_PENDING) c.pending.push(event)
        }
      }
      this.schedule()
    }
  }

  private schedule(): void {
    if (this.flushTimer !== undefined || this.closed) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flush()
    }, FLUSH_MS)
  }

  private flush(): void {
    this.tracker.drain()
    const dirty = this.listDirty
    if (this.listClients.size > 0) {
      this.listDirty = []
      const gen = dirty.length > 0 ? this.listGen++ : this.listGen
      // each run's entry is written out once per write, whichever clients get it
      const entries = new Map<Tracked, string>()
      const entry = (run: Tracked): string => {
        let text = entries.get(run)
        if (text === undefined) entries.set(run, (text = JSON.stringify(liveRun(run))))
        return text
      }
      for (const c of this.listClients) {
        if (c.blocked) {
          // what it misses is sent once it drains, however many writes it missed (one entry per run)
          if (c.overflow || dirty.length === 0) continue
          const missed = (c.missed ??= new Set())
          for (const run of dirty) missed.add(run)
          if (missed.size > MAX_MISSED) {
            c.missed = undefined
            c.overflow = true
          }
          continue
        }
        let message: string | undefined
        if (c.overflow) {
          c.overflow = false
          message = 'event: reset\ndata: {}\n\n'
        } else if (c.missed !== undefined) {
          const missed = c.missed
          c.missed = undefined
          message = listMessage([...missed, ...dirty.filter((run) => !missed.has(run))], c, entry, missed)
        } else if (dirty.length > 0) message = listMessage(dirty, c, entry)
        if (message !== undefined && !c.res.write(message)) c.blocked = true
      }
      for (const run of dirty) {
        run.shown = run.status
        run.shownGen = gen
      }
    }
    for (const [id, set] of this.runClients) {
      const run = this.tracker.get(id)
      let message: string | undefined
      // an event pending for several feeds of the run is written out once (each has the same number)
      const written = set.size > 1 ? new Map<WorkflowEvent, string>() : undefined
      for (const c of set) {
        if (c.blocked || c.pending.length === 0) continue
        if (c.pending.length > MAX_PENDING) {
          c.pending = []
          if (!c.res.write('event: reset\ndata: {}\n\n')) c.blocked = true
          continue
        }
        const pending = c.pending
        c.pending = []
        // this runs in a timer: nothing here may throw (a value that does not serialise), and no write is
        // built past MAX_WRITE (each event is bounded: the write stops growing there, then is a reset)
        let data: string | undefined
        try {
          message ??= run === undefined ? 'null' : JSON.stringify(this.view(run))
          const parts: string[] = []
          // sizes in bytes, as the socket takes them (a `€` is three)
          let size = Buffer.byteLength(message) + 64
          for (let i = 0; i < pending.length && size <= MAX_WRITE; i++) {
            const event = pending[i] as WorkflowEvent
            let part = written?.get(event)
            if (part === undefined) {
              part = JSON.stringify(wireEvent(event, c.pendingFrom + i))
              written?.set(event, part)
            }
            size += Buffer.byteLength(part) + 1
            parts.push(part)
          }
          data =
            size > MAX_WRITE
              ? undefined
              : `{"epoch":${String(run?.born ?? null)},"events":[${parts.join(',')}],"view":${message}}`
        } catch {
          data = undefined
        }
        const text = data === undefined ? 'event: reset\ndata: {}\n\n' : `event: run\ndata: ${data}\n\n`
        if (!c.res.write(text)) c.blocked = true
      }
    }
  }

  private ping(): void {
    for (const c of this.listClients) c.res.write(': keep-alive\n\n')
    for (const set of this.runClients.values()) for (const c of set) c.res.write(': keep-alive\n\n')
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The segments of a request's path; `/api/run[/feed|/cancel|/resume]?id=<id>` is read as
 * `/api/runs/<id>[/…]` (the page's way to reach the runs `.` and `..`, which a URL's path cannot hold).
 */
const routeParts = (url: URL): ReadonlyArray<string> => {
  const parts = url.pathname.split('/').slice(1)
  const id = url.searchParams.get('id')
  if (parts[0] === 'api' && parts[1] === 'run' && id !== null)
    return ['api', 'runs', encodeURIComponent(id), ...parts.slice(2)]
  return parts
}

/** The query of a list (`status` repeated, `workflow`, `limit`), or what is wrong with it. */
const listQuery = (params: URLSearchParams): ListQuery | string => {
  // a parameter the list does not take is a mistake to report, not to ignore (a misspelt filter would
  // otherwise list every run)
  for (const key of params.keys())
    if (!LIST_PARAMS.includes(key))
      return `unknown parameter ${JSON.stringify(cutString(key, 100))}; one of ${LIST_PARAMS.join(', ')}`
  for (const key of ['workflow', 'limit']) if (params.getAll(key).length > 1) return `${key} given more than once`
  const status = params.getAll('status')
  const bad = status.find((s) => !(STATUSES as ReadonlyArray<string>).includes(s))
  if (bad !== undefined) return `unknown status ${JSON.stringify(cutString(bad, 100))}; one of ${STATUSES.join(', ')}`
  const limitText = params.get('limit')
  const limit = limitText === null || limitText === '' ? DEFAULT_LIMIT : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    return `limit must be an integer in [1, ${String(MAX_LIMIT)}]`
  return { status: status as RunRecordStatus[], workflow: params.get('workflow') ?? '', limit }
}

const liveRun = (run: Tracked): LiveRun => ({
  workflowId: run.workflowId,
  workflow: run.workflow,
  status: run.status,
  state: run.state,
  at: run.at,
  firstAt: run.listedAt,
})

/** A `runs` message of the entries of `chosen` (oldest change first). */
const runsMessage = (chosen: ReadonlyArray<Tracked>, replace: boolean, entry: (run: Tracked) => string): string =>
  `event: runs\ndata: {"replace":${String(replace)},"runs":[${chosen.map(entry).join(',')}]}\n\n`

/**
 * @internal What list client `c` gets of the runs `dirty` changed since the last write (`undefined`: nothing):
 * the runs its filter shows, and those it may be showing that left its filter (its page drops them); a
 * run in `missed` (changed while the client was blocked) is sent whether or not it left the filter.
 * When more runs match than its list shows, only the `c.limit` that changed last (by their last event's
 * time) are sent, oldest first, as its whole list (`replace`): a page of 200 rows is not sent 1 000
 * entries 20 times a second.
 */
export const listMessage = (
  dirty: ReadonlyArray<Tracked>,
  c: ListView,
  entry: (run: Tracked) => string,
  missed?: ReadonlySet<Tracked>,
): string | undefined => {
  const chosen: Tracked[] = []
  const matching: Tracked[] = []
  for (const run of dirty) {
    if (c.workflow !== undefined && run.workflow !== c.workflow) continue
    if (c.statuses === undefined || c.statuses.has(run.status)) {
      matching.push(run)
      chosen.push(run)
    } else if (
      // a run changed while the client was blocked may be on its page in any status: the writes that said
      // which went to the other clients
      missed?.has(run) === true ||
      (run.shown === undefined || run.shownGen < c.fromGen ? run.born < c.bornBefore : c.statuses.has(run.shown))
    )
      // it may be on the page: the page drops it
      chosen.push(run)
  }
  if (matching.length > c.limit) return runsMessage(latest(matching, c.limit), true, entry)
  return chosen.length === 0 ? undefined : runsMessage(chosen, false, entry)
}

/**
 * @internal The `limit` runs of `runs` (more than `limit`) whose last event came last, oldest first, runs
 * of one instant in the order they came in: a stable sort by `at`, then its last `limit` (an `at` that is
 * not a number counts as the oldest). Each run's `at` is read once: a comparison sort read two per
 * comparison, each from a run's block, for every write of a list past its limit (a thousand runs in
 * flight: ~15 000 comparisons per write, twenty writes a second); only the runs kept are sorted.
 */
export const latest = (runs: ReadonlyArray<Tracked>, limit: number): Tracked[] => {
  const n = runs.length
  const ats = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const at = (runs[i] as Tracked).at
    ats[i] = Number.isNaN(at) ? -Infinity : at
  }
  // the limit-th latest time: every run after it is kept, and of the runs at it, the last ones that came
  const threshold = ats.slice().sort()[n - limit] as number
  let after = 0
  let at = 0
  for (let i = 0; i < n; i++)
    if ((ats[i] as number) > threshold) after++
    else if (ats[i] === threshold) at++
  let skip = at - (limit - after)
  const kept: number[] = []
  for (let i = 0; i < n; i++) {
    const x = ats[i] as number
    if (x > threshold || (x === threshold && skip-- <= 0)) kept.push(i)
  }
  kept.sort((i, j) => (ats[i] as number) - (ats[j] as number) || i - j)
  return kept.map((i) => runs[i] as Tracked)
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/** A run's status: the record's when it has ended (it is written before the ending event), else the live one. */
const statusOf = (r: RunRecord, live: Tracked | undefined): RunRecordStatus =>
  live === undefined || TERMINAL.has(r.status) ? r.status : live.status

/**
 * A record as the page gets it: its identifiers whole (a page links and acts by them), what user code
 * produced (input, output, error) bounded.
 */
const wireRecord = (r: RunRecord): JsonValue => ({
  ...r,
  input: toWire(r.input),
  output: toWire(r.output),
  error: toWire(r.error),
})

/** An event as the page gets it: bounded JSON, with its number in the run's timeline. */
const wireEvent = (e: WorkflowEvent, n: number): JsonValue => {
  const wire = toWire(e, EVENT_LIMITS)
  return isRecord(wire) ? { ...wire, n } : { n }
}

/**
 * @internal A run's timeline as its page gets it: `{ first, events }` with the latest of `events` (the first
 * numbered `first`) whose JSON fits in `budget` bytes of UTF-8 (at least the last one; `first` moves on past
 * those left out).
 */
export const timelineJson = (
  events: ReadonlyArray<WorkflowEvent>,
  first: number,
  budget: number = MAX_TIMELINE_BYTES,
): string => {
  const parts: string[] = []
  let size = 0
  let i = events.length - 1
  for (; i >= 0; i--) {
    const e = events[i]
    if (e === undefined) break
    const text = JSON.stringify(wireEvent(e, first + i))
    const bytes = Buffer.byteLength(text) + 1
    if (parts.length > 0 && size + bytes > budget) break
    size += bytes
    parts.push(text)
  }
  parts.reverse()
  return `{"first":${String(first + i + 1)},"events":[${parts.join(',')}]}`
}

const isRecord = (u: JsonValue): u is { readonly [key: string]: JsonValue } =>
  typeof u === 'object' && u !== null && !Array.isArray(u)

const decodeSegment = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

const json = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void => rawJson(res, status, JSON.stringify(body), headers)

const rawJson = (
  res: ServerResponse,
  status: number,
  payload: string,
  headers: Readonly<Record<string, string>> = {},
): void => {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(payload)),
  })
  res.end(payload)
}

const text = (res: ServerResponse, status: number, body: string): void => {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
  })
  res.end(body)
}

const asset = (res: ServerResponse, type: string, body: string): void => {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Length': String(Buffer.byteLength(body)),
  })
  res.end(body)
}

/**
 * @internal Resolves once `res` is written out to the connection (or the connection closed); with `deadlineMs`, a
 * response not written out by then has its connection closed (a client that takes nothing, or a trickle).
 */
export const writtenOut = (res: ServerResponse, deadlineMs: number | undefined): Promise<void> =>
  res.writableFinished || res.destroyed
    ? Promise.resolve()
    : new Promise((resolve) => {
        const timer = deadlineMs === undefined ? undefined : setTimeout(() => res.destroy(), deadlineMs)
        timer?.unref()
        const done = (): void => {
          if (timer !== undefined) clearTimeout(timer)
          resolve()
        }
        res.once('finish', done)
        res.once('close', done)
      })

/** `x` when it is a finite number, else `null` (batch-shaped progress comes from user code). */
const finite = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null)
