/**
 * `cano-rx/inspector`: a web inspector for a {@link Runtime}, served by Node's own `node:http` (no
 * dependency, every asset from the package, no CDN). Open its `url` in a browser: a list of runs that
 * updates live (Server-Sent Events) with filters by status and workflow; a page per run with the
 * workflow's state diagram and the current state highlighted, progress bars (batch items, split
 * branches, stepped cursor, retries), the event timeline, and buttons to cancel or resume the run.
 *
 * Safe by default: it listens on 127.0.0.1 only; it answers only requests whose `Host` names it (a
 * DNS-rebinding page is refused); cancel and resume need the server's token in an `Authorization:
 * Bearer` header (pasted once into the page's Token field) and a same-origin `Origin`; every response
 * carries a strict Content-Security-Policy; the page renders run data as text only. See
 * docs/observability.md, "Web inspector".
 *
 * Node only: import it from `cano-rx/inspector`, not from `cano-rx`.
 *
 * @since 0.3.0
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { isIP } from 'node:net'

import { CanoFailure, configurationError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import { InspectorServer } from './internal/inspector/server.js'
import type { Runtime } from './Runtime.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Options of {@link serveInspector}.
 *
 * @example
 * import { createRuntime, memoryCheckpoints, task, workflow } from 'cano-rx'
 * import type { InspectorOptions } from 'cano-rx/inspector'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * const runtime = createRuntime({ store: memoryCheckpoints(), workflows: { hello: { workflow: flow, initial: 'Go' } } })
 * const options: InspectorOptions = { runtime, port: 7233 }
 * @category model
 * @since 0.3.0
 */
export interface InspectorOptions {
  /** The runtime to inspect: its runs are listed from its store, its events are followed live. */
  readonly runtime: Runtime
  /** The TCP port; `0` picks a free one (read it from the returned {@link Inspector}). */
  readonly port: number
  /**
   * The address to listen on. Default `'127.0.0.1'` (this machine only). Another address exposes the
   * runs list and run pages (not cancel or resume: those need the token) to whoever reaches it: list the
   * names browsers will use in `allowedHosts`.
   */
  readonly host?: string
  /**
   * The token cancel and resume require, at least 16 visible ASCII characters. Default: 32 random bytes,
   * base64url, new for each server.
   */
  readonly token?: string
  /**
   * Further `Host` header values to answer (`'inspector.internal'` or `'inspector.internal:8080'`), for a
   * server reached through a name or a proxy. Requests naming any other host are refused (403).
   * Default: only `127.0.0.1`, `localhost`, `[::1]` and `host`, with the server's port.
   */
  readonly allowedHosts?: ReadonlyArray<string>
}

/**
 * A running inspector: where it is, the token its page needs for cancel and resume, and how to stop it.
 *
 * @example
 * import type { Inspector } from 'cano-rx/inspector'
 * const announce = (i: Inspector): string => `inspector at ${i.url} (token ${i.token})`
 * @category model
 * @since 0.3.0
 */
export interface Inspector {
  /** The page's address, `http://127.0.0.1:PORT/` (IPv6 hosts in brackets). It never holds the token. */
  readonly url: string
  /** The address it listens on. */
  readonly host: string
  /** The port it listens on (the one picked when `port` was `0`). */
  readonly port: number
  /** The token cancel and resume require (the one given, or the random one). */
  readonly token: string
  /** Stops the server: ends the live feeds, closes every connection, stops following the runtime. Idempotent. */
  readonly close: () => Promise<void>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const TOKEN = /^[\x21-\x7e]{16,512}$/

/** The largest request head the inspector reads (its request line holds a run id, percent-encoded). */
const MAX_HEAD = 1024 * 1024
/**
 * At most this many connections at once (a browser opens at most 6 to one server): with {@link MAX_HEAD}
 * and {@link HEAD_TIMEOUT_MS} they bound what unfinished request heads can hold.
 */
const MAX_CONNECTIONS = 64
/** A request head not received whole within this is answered 408 and its connection closed. */
const HEAD_TIMEOUT_MS = 10_000
/** A connection idle this long (nothing it reads or takes) is closed. */
const IDLE_TIMEOUT_MS = 30_000

/**
 * Serves the web inspector of `options.runtime` on `options.host` (default 127.0.0.1) and
 * `options.port`. Resolves once it listens. The runtime is not stopped by `close()`, nor the server by
 * `runtime.stop()` (the list still reads the store; the live feeds go quiet).
 *
 * @param options - see {@link InspectorOptions}
 * @returns the running {@link Inspector}
 * @throws {@link CanoFailure} (a rejection) with a `Configuration` error naming the option for a value
 *   that is not a runtime, a port outside [0, 65535], an empty host, a token that is too short or not
 *   printable ASCII, or an address it cannot listen on (in use, not local)
 * @example
 * import { createRuntime, memoryCheckpoints, task, workflow } from 'cano-rx'
 * import { serveInspector } from 'cano-rx/inspector'
 * const flow = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
 * const runtime = createRuntime({ store: memoryCheckpoints(), workflows: { hello: { workflow: flow, initial: 'Go' } } })
 * const inspector = await serveInspector({ runtime, port: 7233 })
 * console.log(`open ${inspector.url} and paste the token ${inspector.token} to cancel or resume runs`)
 * // later
 * await inspector.close()
 * await runtime.stop()
 * @category constructors
 * @since 0.3.0
 */
export const serveInspector = async (options: InspectorOptions): Promise<Inspector> => {
  const fail = (message: string): CanoFailure => new CanoFailure(configurationError(`serveInspector: ${message}`))
  if (typeof options !== 'object' || (options as unknown) === null) throw fail('options must be an object')
  const { runtime, port } = options
  if (!isRuntime(runtime)) throw fail('runtime must be a runtime made by createRuntime (a cano-rx 0.3 or later)')
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw fail(`port must be an integer in [0, 65535] (0: any free port), got ${describeValue(port)}`)
  const host = options.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host.trim() === '')
    throw fail(`host must be a non-empty string, got ${describeValue(host)}`)
  const token = options.token ?? randomBytes(32).toString('base64url')
  if (typeof token !== 'string' || !TOKEN.test(token))
    throw fail('token must be 16 to 512 visible ASCII characters (no spaces)')
  const given: unknown = options.allowedHosts ?? []
  if (!Array.isArray(given) || given.some((h) => typeof h !== 'string' || h.trim() === '' || /[\s/@]/.test(h)))
    throw fail('allowedHosts must be a list of host names (optionally with :port)')
  const extra = given as ReadonlyArray<string>

  // a run id reaches the page whole, in its path (`/runs/<id>`, `/api/runs/<id>`): Node's default 16 KiB
  // for a request's head refused ids of a few thousand characters with 431. Heads that large are held
  // only by a bounded number of connections, for a bounded time (200 sockets sending unfinished 4 MiB
  // heads held 1.8 GB)
  const server = createServer({
    maxHeaderSize: MAX_HEAD,
    headersTimeout: HEAD_TIMEOUT_MS,
    requestTimeout: 3 * HEAD_TIMEOUT_MS,
    connectionsCheckingInterval: 1_000,
  })
  server.maxConnections = MAX_CONNECTIONS
  // a connection with nothing read or written for this long is closed: a client that takes no response
  // (the feeds write a keep-alive every 15 s, so a live page is never idle that long)
  server.timeout = IDLE_TIMEOUT_MS
  let hosts: ReadonlySet<string> = new Set()
  const inspector = new InspectorServer({ runtime, token, hosts: () => hosts })
  inspector.attach(server)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e: unknown) {
    inspector.close()
    const code =
      typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : describeValue(e)
    throw fail(`cannot listen on ${host}:${String(port)} (${code})`)
  }
  const address = server.address()
  const bound = typeof address === 'object' && address !== null ? address.port : port
  const hostPart = isIP(host) === 6 ? `[${host}]` : host
  // an unspecified address listens everywhere: the page is opened through the loopback
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : hostPart
  hosts = new Set(
    [
      `127.0.0.1:${String(bound)}`,
      `localhost:${String(bound)}`,
      `[::1]:${String(bound)}`,
      `${hostPart}:${String(bound)}`,
    ]
      .concat(extra.map((h) => (/:\d+$/.test(h) && !h.endsWith(']') ? h : `${h}:${String(bound)}`)))
      .map((h) => h.toLowerCase()),
  )
  let closing: Promise<void> | undefined
  return Object.freeze({
    url: `http://${urlHost}:${String(bound)}/`,
    host,
    port: bound,
    token,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        inspector.close()
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  })
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const isRuntime = (u: unknown): u is Runtime => {
  if (typeof u !== 'object' || u === null) return false
  const r = u as { readonly [K in keyof Runtime]?: unknown }
  return (
    typeof r.list === 'function' &&
    typeof r.get === 'function' &&
    typeof r.cancel === 'function' &&
    typeof r.resume === 'function' &&
    typeof r.events$ === 'object' &&
    typeof r.workflows === 'object' &&
    r.workflows !== null
  )
}
