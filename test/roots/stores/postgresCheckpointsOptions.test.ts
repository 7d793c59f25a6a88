/**
 * The timeout options of `postgresCheckpoints` (`connectTimeoutMs`, `statementTimeoutMs`): validated
 * at call time (nothing connects, `pg` is not imported), and the driver's timeout errors restated with
 * the option that set them. The behaviour on a real wire is in test/integration/postgresTimeouts.test.ts.
 */
import { expect } from 'chai'

import { withDeadline } from '../../../roots/stores/internal/postgresTimeouts.js'
import type { PostgresPool } from '../../../roots/stores/postgresCheckpoints.js'
import { postgresCheckpoints } from '../../../roots/stores/postgresCheckpoints.js'
import { isCanoFailure } from '../../../src/CanoError.js'

/** A pool that is never called: validation happens before any query. */
const unusedPool: PostgresPool = {
  query: () => Promise.reject(new Error('the pool must not be used by a validation test')),
}

const thrownBy = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e: unknown) {
    return e
  }
  return undefined
}

describe('postgresCheckpoints: timeout options', () => {
  const invalid: ReadonlyArray<readonly [unknown, string]> = [
    [0, '0'],
    [-1, '-1'],
    [-0, '0'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
    [2 ** 31, '2147483648'],
    ['1000', '"1000"'],
    [null, 'null'],
    [true, 'true'],
    [{ ms: 1000 }, '{"ms":1000}'],
  ]

  for (const option of ['connectTimeoutMs', 'statementTimeoutMs'] as const) {
    describe(option, () => {
      for (const [value, shown] of invalid) {
        it(`rejects ${shown} with a Configuration error naming the option`, () => {
          for (const connection of [
            { connectionString: 'postgres://postgres@127.0.0.1:5432/test' },
            { pool: unusedPool },
          ]) {
            const thrown = thrownBy(() => postgresCheckpoints({ ...connection, [option]: value }))
            expect(isCanoFailure(thrown) && thrown.error._tag).to.equal('Configuration')
            expect(isCanoFailure(thrown) && thrown.error.message).to.equal(
              `postgresCheckpoints: ${option} must be an integer in [1, 2147483647], got ${shown}`,
            )
          }
        })
      }

      it('accepts 1, 2147483647 and undefined (the default)', () => {
        for (const value of [1, 2_147_483_647, undefined]) {
          const store = postgresCheckpoints({ pool: unusedPool, [option]: value })
          expect(store.append).to.be.a('function')
        }
      })
    })
  }

  it('names the first invalid option when both are invalid', () => {
    const thrown = thrownBy(() => postgresCheckpoints({ pool: unusedPool, connectTimeoutMs: 0, statementTimeoutMs: 0 }))
    expect(isCanoFailure(thrown) && thrown.error.message).to.match(/^postgresCheckpoints: connectTimeoutMs /)
  })
})

describe('postgresCheckpoints: driver timeout errors', () => {
  const timeouts = { connectTimeoutMs: 200, statementTimeoutMs: 300 }
  const rejected = (e: unknown, ownPool: boolean): Promise<unknown> =>
    withDeadline(
      () => Promise.reject(e),
      timeouts,
      ownPool,
    )('SELECT 1').then(
      () => {
        throw new Error('expected a rejection')
      },
      (thrown: unknown) => thrown,
    )
  const messageOf = (u: unknown): string => (u instanceof Error ? u.message : String(u))

  const cases: ReadonlyArray<readonly [string, Error, string]> = [
    [
      'a connection that did not start up',
      new Error('Connection terminated due to connection timeout'),
      'PostgreSQL did not answer within 200 ms (connectTimeoutMs) while connecting: Connection terminated due to connection timeout',
    ],
    [
      'no free pooled connection',
      new Error('timeout exceeded when trying to connect'),
      'no pooled connection became free within 200 ms (connectTimeoutMs): timeout exceeded when trying to connect',
    ],
    [
      'a statement without an answer',
      new Error('Query read timeout'),
      'PostgreSQL did not answer within 1300 ms (statementTimeoutMs 300 + 1000 ms) after a statement was sent: Query read timeout',
    ],
    [
      'a statement the server cancelled',
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      'PostgreSQL cancelled the statement after 300 ms (statementTimeoutMs): canceling statement due to statement timeout',
    ],
  ]

  for (const [title, error, message] of cases) {
    it(`restates ${title} with the option that set it, keeping the driver's error as the cause`, async () => {
      const thrown = await rejected(error, true)
      expect(messageOf(thrown)).to.equal(message)
      expect((thrown as Error).cause).to.equal(error)
    })

    it(`leaves ${title} as it is on a pool passed by the user (its settings, not the store's)`, async () => {
      expect(await rejected(error, false)).to.equal(error)
    })
  }

  it('leaves other errors as they are', async () => {
    const cancelled = Object.assign(new Error('canceling statement due to user request'), { code: '57014' })
    expect(await rejected(cancelled, true)).to.equal(cancelled)
    expect(await rejected('not an error', true)).to.equal('not an error')
  })

  it('turns a query that throws synchronously into a rejection', async () => {
    const error = new Error('boom')
    const thrown = await withDeadline(
      () => {
        throw error
      },
      timeouts,
      true,
    )('SELECT 1').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(thrown).to.equal(error)
  })
})
