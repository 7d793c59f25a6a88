/**
 * @internal The wire timeouts of `postgresCheckpoints`, so that a server that accepts the connection
 * and never answers ends in an error instead of a hang:
 *
 * - the options `connectTimeoutMs` and `statementTimeoutMs`: defaults and validation;
 * - the settings of a pool the store creates (`connectionTimeoutMillis`, the server-side
 *   `statement_timeout`, and the driver's `query_timeout` a little later, so that the server's own
 *   cancellation normally arrives first and the connection stays usable);
 * - a deadline on every query the store sends, whatever the pool (one passed by the user too), and the
 *   driver's own timeout errors restated with the option that set them;
 * - the end of a pool the store created that does not wait for a server that never answers: after a
 *   grace, the sockets still open are destroyed.
 *
 * @since 0.2.0
 */
import type pg from 'pg'

import type { Configuration } from '../../../codecs/CanoError.js'
import { Count, MAX_TIMER_MS } from '../../../codecs/Config.js'
import { checkConfig, showNumber } from '../../../src/internal/checkConfig.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal The two timeouts, validated. */
export interface WireTimeouts {
  readonly connectTimeoutMs: number
  readonly statementTimeoutMs: number
}

/** @internal One query of a pool (`pg.Pool#query`'s shape with positional parameters). */
export type Query<R> = (text: string, values?: Array<unknown>) => Promise<R>

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/** @internal The default of `connectTimeoutMs`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** @internal The default of `statementTimeoutMs`. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000

/**
 * @internal How long past `statementTimeoutMs` the driver still waits for an answer before it drops
 * the connection (`query_timeout`): the time for the server's own cancellation to arrive.
 */
export const READ_GRACE_MS = 1000

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @internal The timeouts of `options` with their defaults, or the `Configuration` error naming the
 * first invalid one (each must be an integer number of milliseconds in [1, 2^31-1]).
 */
export const wireTimeouts = (
  adapter: string,
  options: { readonly connectTimeoutMs?: unknown; readonly statementTimeoutMs?: unknown },
): WireTimeouts | Configuration => {
  const { connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS, statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS } = options
  const invalid =
    checkConfig(Count, connectTimeoutMs, `${adapter}: connectTimeoutMs`, showNumber) ??
    checkConfig(Count, statementTimeoutMs, `${adapter}: statementTimeoutMs`, showNumber)
  if (invalid !== undefined) return invalid
  return { connectTimeoutMs: connectTimeoutMs as number, statementTimeoutMs: statementTimeoutMs as number }
}

/** @internal The `pg.Pool` settings that apply `timeouts` to a pool the store creates. */
export const poolSettings = (
  timeouts: WireTimeouts,
): Pick<pg.PoolConfig, 'connectionTimeoutMillis' | 'statement_timeout' | 'query_timeout'> => ({
  connectionTimeoutMillis: timeouts.connectTimeoutMs,
  statement_timeout: timeouts.statementTimeoutMs,
  query_timeout: readTimeoutMs(timeouts),
})

/**
 * @internal `query` with a deadline: a call that has not settled within {@link callDeadlineMs} rejects
 * with an error that says PostgreSQL did not answer (the call itself is left to the pool, which a pool
 * the store created ends by its own timeouts). With `ownPool`, the driver's timeout errors are restated
 * with the option that set them; a pool passed by the user keeps its own messages.
 */
export const withDeadline =
  <R>(query: Query<R>, timeouts: WireTimeouts, ownPool: boolean): Query<R> =>
  (text, values) => {
    const deadline = callDeadlineMs(timeouts)
    // one promise and one timer per query (this runs on every statement of the hot path)
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `PostgreSQL did not answer within ${deadline} ms (connectTimeoutMs ${timeouts.connectTimeoutMs} + statementTimeoutMs ${timeouts.statementTimeoutMs} + ${READ_GRACE_MS} ms): the server is unreachable, stalled or overloaded`,
            ),
          ),
        deadline,
      )
      const failed = (e: unknown): void => {
        clearTimeout(timer)
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the driver's rejection, as it came
        reject(ownPool ? restated(e, timeouts) : e)
      }
      try {
        query(text, values).then((r) => {
          clearTimeout(timer)
          resolve(r)
        }, failed)
      } catch (e: unknown) {
        failed(e)
      }
    })
  }

/** @internal Remembers the connected clients of `pool` until their connection ends, for {@link endPool}. */
export const trackClients = (pool: pg.Pool): void => {
  const clients = new Set<pg.Client>()
  live.set(pool, clients)
  pool.on('connect', (client) => {
    clients.add(client)
    client.once('end', () => clients.delete(client))
  })
}

/**
 * @internal Ends `pool` (created by the store, with {@link trackClients}) and waits at most `graceMs`
 * for its connections to close: after that (a server that never acknowledges the goodbye, or a query
 * still running), the sockets still open are destroyed, which fails the queries still on them. Clients
 * still connecting are ended by the pool's own `connectionTimeoutMillis`.
 */
export const endPool = async (pool: pg.Pool, graceMs: number): Promise<void> => {
  const clients = [...(live.get(pool) ?? [])]
  const ended = pool.end()
  const closed = Promise.all([
    ended,
    ...clients.map((c) => new Promise<void>((resolve) => c.once('end', () => resolve()))),
  ])
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs)
    }),
  ])
  clearTimeout(timer)
  if (late) for (const c of live.get(pool) ?? []) c.connection.stream.destroy()
  await ended
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The pools made by the store and their connected clients. */
const live = new WeakMap<pg.Pool, Set<pg.Client>>()

/** A sum of durations as one timer can hold it (a longer timer would fire at once). */
const capped = (ms: number): number => Math.min(ms, MAX_TIMER_MS)

/** The driver's `query_timeout`. */
const readTimeoutMs = (t: WireTimeouts): number => capped(t.statementTimeoutMs + READ_GRACE_MS)

/**
 * @internal The deadline of one call: getting a connection, then the statement, then the grace; later
 * than every timeout of a pool the store creates, so those report first.
 */
export const callDeadlineMs = (t: WireTimeouts): number =>
  capped(t.connectTimeoutMs + t.statementTimeoutMs + READ_GRACE_MS)

/** The driver's timeout errors (pg 8) restated with the option that set them; anything else as is. */
const restated = (e: unknown, t: WireTimeouts): unknown => {
  if (!(e instanceof Error)) return e
  const m = e.message
  const code = (e as { readonly code?: unknown }).code
  const say = (text: string): Error => new Error(`${text}: ${m}`, { cause: e })
  // pg-pool: a new connection that did not complete its start-up in connectionTimeoutMillis.
  if (m === 'Connection terminated due to connection timeout')
    return say(`PostgreSQL did not answer within ${t.connectTimeoutMs} ms (connectTimeoutMs) while connecting`)
  // pg-pool: no pooled connection became free in connectionTimeoutMillis.
  if (m === 'timeout exceeded when trying to connect')
    return say(`no pooled connection became free within ${t.connectTimeoutMs} ms (connectTimeoutMs)`)
  // pg: query_timeout, the server did not answer a statement it was sent.
  if (m === 'Query read timeout')
    return say(
      `PostgreSQL did not answer within ${readTimeoutMs(t)} ms (statementTimeoutMs ${t.statementTimeoutMs} + ${READ_GRACE_MS} ms) after a statement was sent`,
    )
  // SQLSTATE 57014 query_canceled, raised by statement_timeout.
  if (code === '57014' && m.includes('statement timeout'))
    return say(`PostgreSQL cancelled the statement after ${t.statementTimeoutMs} ms (statementTimeoutMs)`)
  return e
}
