/**
 * `postgresCheckpoints` on a wire that stops answering (issue 12, part 7), with real sockets: a TCP
 * server on 127.0.0.1 that accepts connections and never writes a byte, a TCP proxy to the real
 * PostgreSQL that can be frozen mid-session, and the real PostgreSQL with a table lock held by another
 * connection. Every call must end in a `CheckpointStore` error that names the timeout, and `close()`
 * must return.
 */
import { randomUUID } from 'node:crypto'
import net from 'node:net'

import { expect } from 'chai'
import pg from 'pg'

import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { type CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import { stateEntryRow } from '../helpers/stateEntryRow.js'

// -------------------------------------------------------------------------------------
// harness
// -------------------------------------------------------------------------------------

const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** The generous bound within which every rejection and every `close()` below must happen. */
const BOUND_MS = 5000

const row = stateEntryRow

/** `p` or a rejection naming `what` when it has not settled within `ms` (a real timer, cleared on settle). */
const within = <A>(p: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/** The `CanoFailure` `p` rejects with (within {@link BOUND_MS}) and how long that took. */
const failureOf = async (p: Promise<unknown>, what: string): Promise<{ failure: CanoFailure; ms: number }> => {
  const start = Date.now()
  try {
    await within(p, BOUND_MS, what)
  } catch (e: unknown) {
    if (isCanoFailure(e)) return { failure: e, ms: Date.now() - start }
    throw e
  }
  throw new Error(`expected ${what} to reject with a CanoFailure`)
}

/** How long `p` took to resolve (within {@link BOUND_MS}). */
const timed = async (p: Promise<unknown>, what: string): Promise<number> => {
  const start = Date.now()
  await within(p, BOUND_MS, what)
  return Date.now() - start
}

/** A TCP server that accepts and never writes a byte, nor closes its side (`allowHalfOpen`). */
interface SilentServer {
  readonly url: string
  /** The connections accepted so far. */
  readonly accepted: () => number
  /** Resolves once every accepted connection was closed by the client (its FIN or RST arrived). */
  readonly allClosedByClients: () => Promise<void>
  readonly dispose: () => Promise<void>
}

const silentServer = async (): Promise<SilentServer> => {
  const sockets: Array<{ readonly socket: net.Socket; readonly closed: Promise<void> }> = []
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined)
    // Reading (and dropping) what arrives is what lets the client's FIN surface as 'end'.
    socket.resume()
    const closed = new Promise<void>((resolve) => {
      socket.once('end', resolve)
      socket.once('close', () => resolve())
    })
    sockets.push({ socket, closed })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    accepted: () => sockets.length,
    allClosedByClients: async () => {
      await Promise.all(sockets.map((s) => s.closed))
    },
    dispose: async () => {
      for (const s of sockets) s.socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A TCP proxy to the real PostgreSQL. `freeze()` makes it a dead server: from then on it forwards
 * nothing in either direction and never closes a connection (a stalled or partitioned host).
 */
interface Proxy {
  readonly url: string
  readonly freeze: () => void
  /**
   * How many client connections the client still holds open: writes to each up to 4 single bytes, one
   * after the other. The client's kernel resets a connection whose socket the client has closed, so a
   * following write fails (EPIPE); a socket the client still holds, even half-closed, takes the bytes
   * (fewer than a PostgreSQL message header, so `pg` just buffers them).
   */
  readonly clientsStillOpen: () => Promise<number>
  readonly dispose: () => Promise<void>
}

const proxy = async (): Promise<Proxy> => {
  let frozen = false
  const pairs: Array<{ readonly client: net.Socket; readonly upstream: net.Socket; readonly closed: Promise<void> }> =
    []
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: 5432, allowHalfOpen: true })
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
    client.on('data', (d) => {
      if (!frozen) upstream.write(d)
    })
    upstream.on('data', (d) => {
      if (!frozen) client.write(d)
    })
    client.on('end', () => {
      if (!frozen) upstream.end()
    })
    upstream.on('end', () => {
      if (!frozen) client.end()
    })
    pairs.push({ client, upstream, closed })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    freeze: () => {
      frozen = true
    },
    clientsStillOpen: async () => {
      const open = await Promise.all(
        pairs.map(
          ({ client, closed }) =>
            new Promise<boolean>((resolve) => {
              const probe = (left: number): void => {
                if (client.destroyed) return void closed.then(() => resolve(false))
                if (left === 0) return resolve(true)
                client.write(Buffer.from([0]), (e) => {
                  if (e === undefined || e === null) setImmediate(() => probe(left - 1))
                  else void closed.then(() => resolve(false))
                })
              }
              probe(4)
            }),
        ),
      )
      return open.filter(Boolean).length
    },
    dispose: async () => {
      for (const p of pairs) {
        p.client.destroy()
        p.upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const uniqueTable = (what: string): string =>
  `cano_to_${what}_${process.pid}_${randomUUID().replace(/-/g, '').slice(0, 16)}`

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('postgresCheckpoints: timeouts on the wire', () => {
  describe('a server that accepts the connection and never answers', () => {
    let silent: SilentServer
    beforeEach(async () => {
      silent = await silentServer()
    })
    afterEach(() => silent.dispose())

    it('rejects append, loadRun and listRuns naming connectTimeoutMs, and close() returns', async () => {
      const store = postgresCheckpoints({
        connectionString: silent.url,
        connectTimeoutMs: 200,
        statementTimeoutMs: 300,
      })
      const calls: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
        ['append', () => store.append(row('silent', 0))],
        ['loadRun', () => store.loadRun('silent')],
        ['listRuns', () => store.listRuns()],
      ]
      for (const [what, call] of calls) {
        const { failure, ms } = await failureOf(call(), what)
        expect(failure.error._tag, what).to.equal('CheckpointStore')
        expect(failure.error.message, what).to.match(/^postgresCheckpoints: /)
        expect(failure.error.message, what).to.include(
          'PostgreSQL did not answer within 200 ms (connectTimeoutMs) while connecting',
        )
        expect(ms, what).to.be.at.least(190)
      }
      expect(silent.accepted()).to.equal(3)
      await timed(store.close(), 'close()')
      // The store closed every connection it opened (the server never closes its side).
      await within(silent.allClosedByClients(), BOUND_MS, 'the store closing its sockets')
    })

    it('closes while a call is still connecting: the call rejects and close() returns', async () => {
      const store = postgresCheckpoints({
        connectionString: silent.url,
        connectTimeoutMs: 300,
        statementTimeoutMs: 300,
      })
      const pending = failureOf(store.loadRun('silent'), 'loadRun')
      await timed(store.close(), 'close()')
      const { failure } = await pending
      expect(failure.error._tag).to.equal('CheckpointStore')
      expect(failure.error.message).to.include('did not answer within 300 ms (connectTimeoutMs)')
    })

    it('with a pool passed in `pool` (no timeouts of its own), the store’s deadline ends every call', async () => {
      const pool = new pg.Pool({ connectionString: silent.url, max: 4 })
      pool.on('error', () => undefined)
      const store = postgresCheckpoints({ pool, connectTimeoutMs: 200, statementTimeoutMs: 300 })
      try {
        const results = await Promise.all([
          failureOf(store.append(row('silent', 0)), 'append'),
          failureOf(store.loadRun('silent'), 'loadRun'),
          failureOf(store.listRuns(), 'listRuns'),
        ])
        for (const { failure, ms } of results) {
          expect(failure.error._tag).to.equal('CheckpointStore')
          expect(failure.error.message).to.include(
            'PostgreSQL did not answer within 1500 ms (connectTimeoutMs 200 + statementTimeoutMs 300 + 1000 ms)',
          )
          expect(ms).to.be.at.least(1490)
        }
        await timed(store.close(), 'close()')
      } finally {
        // The pool is the test's: its connections never completed, so close them from the server side.
        await silent.dispose()
        await pool.end()
      }
    })
  })

  describe('a server that stops answering mid-session (a frozen proxy to the real PostgreSQL)', () => {
    let wire: Proxy
    let admin: pg.Pool
    let table: string
    beforeEach(async () => {
      wire = await proxy()
      admin = new pg.Pool({ connectionString: PG_URL, max: 2 })
      table = uniqueTable('frozen')
    })
    afterEach(async () => {
      await wire.dispose()
      await admin.query(`DROP TABLE IF EXISTS ${table}`)
      await admin.end()
    })

    it('rejects a statement sent to it naming statementTimeoutMs, and the next call naming connectTimeoutMs', async () => {
      const store = postgresCheckpoints({
        connectionString: wire.url,
        table,
        connectTimeoutMs: 300,
        statementTimeoutMs: 300,
      })
      await store.append(row('frozen', 0))
      expect(await store.loadRun('frozen')).to.have.length(1)
      wire.freeze()

      const append = await failureOf(store.append(row('frozen', 1)), 'append')
      expect(append.failure.error._tag).to.equal('CheckpointStore')
      expect(append.failure.error.message).to.include('append workflow "frozen" at sequence 1')
      expect(append.failure.error.message).to.include(
        'PostgreSQL did not answer within 1300 ms (statementTimeoutMs 300 + 1000 ms) after a statement was sent',
      )

      const load = await failureOf(store.loadRun('frozen'), 'loadRun')
      expect(load.failure.error._tag).to.equal('CheckpointStore')
      expect(load.failure.error.message).to.include('did not answer within 300 ms (connectTimeoutMs) while connecting')

      await timed(store.close(), 'close()')
      expect(await wire.clientsStillOpen()).to.equal(0)
    })

    it('close() returns, and destroys the idle connections the server never lets go', async () => {
      const store = postgresCheckpoints({
        connectionString: wire.url,
        table,
        connectTimeoutMs: 300,
        statementTimeoutMs: 300,
      })
      // Two connections, idle in the pool once these settle.
      await Promise.all([store.append(row('idle', 0)), store.loadRun('other'), store.listRuns()])
      wire.freeze()
      const ms = await timed(store.close(), 'close()')
      expect(ms).to.be.below(BOUND_MS)
      // Ended gracefully, they would stay half-closed, waiting for the server's goodbye, for ever.
      expect(await wire.clientsStillOpen()).to.equal(0)
      // Nothing was lost: the append committed before the freeze.
      const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
      expect(rows).to.deep.equal([{ n: '1' }])
    })
  })

  describe('a statement that runs past statementTimeoutMs on the real PostgreSQL', () => {
    let admin: pg.Pool
    let locker: pg.Client
    let table: string
    beforeEach(async () => {
      admin = new pg.Pool({ connectionString: PG_URL, max: 2 })
      locker = new pg.Client({ connectionString: PG_URL })
      await locker.connect()
      table = uniqueTable('lock')
    })
    afterEach(async () => {
      await locker.end()
      await admin.query(`DROP TABLE IF EXISTS ${table}`)
      await admin.end()
    })

    /** Holds an ACCESS EXCLUSIVE lock on the table in another connection until `release()`. */
    const lockTable = async (): Promise<{ readonly release: () => Promise<void> }> => {
      await locker.query('BEGIN')
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      return {
        release: async () => {
          await locker.query('ROLLBACK')
        },
      }
    }

    it('is cancelled by the server and reported naming statementTimeoutMs; the store keeps working', async () => {
      const store = postgresCheckpoints({
        connectionString: PG_URL,
        table,
        connectTimeoutMs: 2000,
        statementTimeoutMs: 300,
      })
      try {
        await store.append(row('locked', 0))
        const lock = await lockTable()
        try {
          const calls: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
            ['append', () => store.append(row('locked', 1))],
            ['loadRun', () => store.loadRun('locked')],
            ['listRuns', () => store.listRuns()],
          ]
          for (const [what, call] of calls) {
            const { failure, ms } = await failureOf(call(), what)
            expect(failure.error._tag, what).to.equal('CheckpointStore')
            expect(failure.error.message, what).to.include(
              'PostgreSQL cancelled the statement after 300 ms (statementTimeoutMs): canceling statement due to statement timeout',
            )
            expect(ms, what).to.be.at.least(290)
          }
        } finally {
          await lock.release()
        }
        // The server cancelled the statements; the connections are still good.
        await store.append(row('locked', 1))
        expect((await store.loadRun('locked')).map((r) => r.seq)).to.deep.equal([0, 1])
      } finally {
        await store.close()
      }
    })

    it('on a pool passed in `pool` (no statement_timeout), ends in the store’s deadline', async () => {
      const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
      const store = postgresCheckpoints({ pool, table, connectTimeoutMs: 200, statementTimeoutMs: 300 })
      try {
        await store.append(row('locked', 0))
        const lock = await lockTable()
        try {
          const { failure, ms } = await failureOf(store.loadRun('locked'), 'loadRun')
          expect(failure.error._tag).to.equal('CheckpointStore')
          expect(failure.error.message).to.include('load run "locked"')
          expect(failure.error.message).to.include('PostgreSQL did not answer within 1500 ms')
          expect(ms).to.be.at.least(1490)
        } finally {
          await lock.release()
        }
        expect(await store.loadRun('locked')).to.have.length(1)
      } finally {
        await store.close()
        await pool.end()
      }
    })
  })
})
