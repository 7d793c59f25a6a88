import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'

import {
  type CanoError,
  CanoFailure,
  configurationError,
  isCanoFailure,
  resourceDuplicateKeyError,
  resourceNotFoundError,
  resourceTypeMismatchError,
  taskExecutionError,
  toCanoError,
} from '../../src/CanoError.js'
import { HealthStatus } from '../../src/HealthStatus.js'
import { MemoryStore } from '../../src/MemoryStore.js'
import { type Guard, isResources, Resources } from '../../src/Resources.js'

/** The `CanoError` carried by the `CanoFailure` that `f` throws. */
const thrownError = (f: () => unknown): CanoError => {
  try {
    f()
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a CanoFailure, nothing was thrown')
}

/** The `CanoError` carried by the `CanoFailure` that `p` rejects with. */
const rejectedError = async (p: Promise<unknown>): Promise<CanoError> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a CanoFailure, the promise resolved')
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2))

/** A resource whose hooks record `${name}:${hook}` into `calls`, failing where asked. */
const recorder = (
  calls: Array<string>,
  name: string,
  fail: { readonly setup?: unknown; readonly teardown?: unknown } = {},
) => ({
  async setup(): Promise<void> {
    calls.push(`${name}:setup:start`)
    await tick()
    calls.push(`${name}:setup:end`)
    if ('setup' in fail) throw fail.setup
  },
  async teardown(): Promise<void> {
    calls.push(`${name}:teardown:start`)
    await tick()
    calls.push(`${name}:teardown:end`)
    if ('teardown' in fail) throw fail.teardown
  },
})

/** JavaScript callers can pass anything: these bypass the types on purpose. */
const anyRecord = (u: unknown): Record<string, unknown> => u as Record<string, unknown>
const anyKey = (u: unknown): string => u as string
const anyGuard = (u: unknown): Guard<unknown> => u as Guard<unknown>

describe('Resources', () => {
  describe('of', () => {
    it('keeps each value by reference, in the record key order', () => {
      const store = new MemoryStore()
      const api = { baseUrl: 'https://api.example.com' }
      const res = Resources.of({ store, api, retries: 3 })
      expect(res.get('store')).to.equal(store)
      expect(res.get('api')).to.equal(api)
      expect(res.get('store')).to.equal(res.get('store'))
      expect(res.keys()).to.deep.equal(['store', 'api', 'retries'])
    })

    it('returns a frozen value', () => {
      expect(Object.isFrozen(Resources.of({ a: 1 }))).to.equal(true)
    })

    it('does not see later changes to the record it was built from', () => {
      const record: Record<string, unknown> = { a: 1 }
      const res = Resources.of(record)
      record['b'] = 2
      expect(res.keys()).to.deep.equal(['a'])
    })

    it('rejects a value that is not a plain object with a Configuration error', () => {
      expect(thrownError(() => Resources.of(anyRecord(null)))).to.deep.equal(
        configurationError('Resources.of: expected a plain object of resources, got null'),
      )
      expect(thrownError(() => Resources.of(anyRecord([1])))).to.deep.equal(
        configurationError('Resources.of: expected a plain object of resources, got an array'),
      )
      expect(thrownError(() => Resources.of(anyRecord(new Map([['a', 1]]))))).to.deep.equal(
        configurationError('Resources.of: expected a plain object of resources, got an object'),
      )
    })

    it('rejects an empty key with a Configuration error naming it', () => {
      expect(thrownError(() => Resources.of({ '': 1 }))).to.deep.equal(
        configurationError('Resources.of: key must be a non-empty string, got ""'),
      )
    })
  })

  describe('empty', () => {
    it('has no keys', () => {
      expect(Resources.empty().keys()).to.deep.equal([])
    })
  })

  describe('get', () => {
    const loose: Resources<Record<string, unknown>> = Resources.of({ a: 1, nothing: undefined })

    it('throws ResourceNotFound for a key that is not present', () => {
      expect(thrownError(() => loose.get('db'))).to.deep.equal(resourceNotFoundError('db'))
    })

    it('does not find inherited object properties', () => {
      expect(thrownError(() => loose.get('toString'))).to.deep.equal(resourceNotFoundError('toString'))
    })

    it('returns a stored undefined', () => {
      expect(loose.get('nothing')).to.equal(undefined)
    })

    it('throws a Configuration error for a key that is not a non-empty string', () => {
      expect(thrownError(() => loose.get(anyKey(42)))).to.deep.equal(
        configurationError('Resources.get: key must be a non-empty string, got 42'),
      )
      expect(thrownError(() => loose.get(''))).to.deep.equal(
        configurationError('Resources.get: key must be a non-empty string, got ""'),
      )
      expect(thrownError(() => loose.get(anyKey(undefined)))).to.deep.equal(
        configurationError('Resources.get: key must be a non-empty string, got undefined'),
      )
    })

    it('returns the value when an io-ts codec accepts it', () => {
      const settings: unknown = { retries: 3 }
      const res = Resources.of({ settings })
      expect(res.get('settings', t.type({ retries: t.number }))).to.equal(settings)
    })

    it('throws ResourceTypeMismatch naming the codec when an io-ts codec rejects the value', () => {
      const settings: unknown = { retries: 'three' }
      const res = Resources.of({ settings })
      const Settings = t.type({ retries: t.number }, 'Settings')
      expect(thrownError(() => res.get('settings', Settings))).to.deep.equal(
        resourceTypeMismatchError('settings', 'Settings'),
      )
    })

    it('returns the value when a type predicate accepts it, and names the predicate when it does not', () => {
      const isNumber = (u: unknown): u is number => typeof u === 'number'
      const port: unknown = 5432
      const host: unknown = 'db.local'
      const res = Resources.of({ port, host })
      expect(res.get('port', isNumber)).to.equal(5432)
      expect(thrownError(() => res.get('host', isNumber))).to.deep.equal(resourceTypeMismatchError('host', 'isNumber'))
    })

    it('names an anonymous guard "<anonymous guard>"', () => {
      const host: unknown = 'db.local'
      const res = Resources.of({ host })
      expect(
        thrownError(() => res.get('host', { is: (u: unknown): u is number => typeof u === 'number' })),
      ).to.deep.equal(resourceTypeMismatchError('host', '<anonymous guard>'))
    })

    it('throws a Configuration error for a guard that is neither a predicate nor has .is', () => {
      expect(thrownError(() => loose.get('a', anyGuard('number')))).to.deep.equal(
        configurationError('Resources.get: guard must be a type predicate or have an .is(u) method, got "number"'),
      )
    })
  })

  describe('getEither', () => {
    const isNumber = (u: unknown): u is number => typeof u === 'number'
    const res: Resources<Record<string, unknown>> = Resources.of({ port: 5432, host: 'db.local' })

    it('returns Right of the value', () => {
      expect(res.getEither('port', isNumber)).to.deep.equal(E.right(5432))
      expect(res.getEither('host')).to.deep.equal(E.right('db.local'))
    })

    it('returns Left of ResourceNotFound, ResourceTypeMismatch and Configuration errors', () => {
      expect(res.getEither('db')).to.deep.equal(E.left(resourceNotFoundError('db')))
      expect(res.getEither('host', isNumber)).to.deep.equal(E.left(resourceTypeMismatchError('host', 'isNumber')))
      expect(res.getEither('')).to.deep.equal(
        E.left(configurationError('Resources.getEither: key must be a non-empty string, got ""')),
      )
    })

    it('returns Left when the guard throws', () => {
      const boom = new Error('guard exploded')
      const exploding = (_u: unknown): _u is number => {
        throw boom
      }
      expect(res.getEither('port', exploding)).to.deep.equal(E.left(taskExecutionError('guard exploded', boom)))
    })
  })

  describe('has', () => {
    it('tells whether a key is present', () => {
      const res: Resources<Record<string, unknown>> = Resources.of({ a: undefined })
      expect([res.has('a'), res.has('b')]).to.deep.equal([true, false])
    })

    it('throws a Configuration error for a key that is not a non-empty string', () => {
      expect(thrownError(() => Resources.empty().has(anyKey(Symbol('k'))))).to.deep.equal(
        configurationError('Resources.has: key must be a non-empty string, got Symbol(k)'),
      )
    })
  })

  describe('keys', () => {
    it('lists keys in insertion order, record keys first, then each with', () => {
      const res = Resources.of({ b: 1, a: 2 }).with('d', 3).with('c', 4)
      expect(res.keys()).to.deep.equal(['b', 'a', 'd', 'c'])
    })

    it('returns a fresh array each time', () => {
      const res = Resources.of({ a: 1 })
      expect(res.keys()).not.to.equal(res.keys())
    })
  })

  describe('with', () => {
    it('returns new resources with the value added last, leaving the receiver unchanged', () => {
      const store = new MemoryStore()
      const base = Resources.of({ a: 1 })
      const grown = base.with('store', store)
      expect(grown.get('store')).to.equal(store)
      expect(grown.keys()).to.deep.equal(['a', 'store'])
      expect(base.keys()).to.deep.equal(['a'])
    })

    it('throws ResourceDuplicateKey for a key that is already present, leaving the receiver unchanged', () => {
      const base = Resources.of({ db: 1 })
      const key: string = 'db'
      expect(thrownError(() => base.with(key, 2))).to.deep.equal(resourceDuplicateKeyError('db'))
      expect(base.get('db')).to.equal(1)
    })

    it('throws a Configuration error for a key that is not a non-empty string', () => {
      expect(thrownError(() => Resources.empty().with(anyKey(7), 1))).to.deep.equal(
        configurationError('Resources.with: key must be a non-empty string, got 7'),
      )
      expect(thrownError(() => Resources.empty().with('', 1))).to.deep.equal(
        configurationError('Resources.with: key must be a non-empty string, got ""'),
      )
    })
  })

  describe('tryWith', () => {
    it('returns Right of the new resources', () => {
      const added = Resources.of({ a: 1 }).tryWith('b', 2)
      expect(E.isRight(added) ? [added.right.keys(), added.right.get('b')] : added.left).to.deep.equal([['a', 'b'], 2])
    })

    it('returns Left of ResourceDuplicateKey for a duplicate key', () => {
      const key: string = 'a'
      expect(Resources.of({ a: 1 }).tryWith(key, 2)).to.deep.equal(E.left(resourceDuplicateKeyError('a')))
    })

    it('returns Left of a Configuration error for an empty key', () => {
      expect(Resources.empty().tryWith('', 2)).to.deep.equal(
        E.left(configurationError('Resources.with: key must be a non-empty string, got ""')),
      )
    })
  })

  describe('setupAll', () => {
    it('runs setups in insertion order, one at a time, skipping values without a setup hook', async () => {
      const calls: Array<string> = []
      const res = Resources.of({
        a: recorder(calls, 'a'),
        plain: { url: 'x' },
        n: 42,
        nothing: null,
        store: new MemoryStore(),
        notAHook: { setup: 'eager' },
      }).with('b', recorder(calls, 'b'))
      await res.setupAll()
      expect(calls).to.deep.equal(['a:setup:start', 'a:setup:end', 'b:setup:start', 'b:setup:end'])
    })

    it('calls each hook with the resource as `this`', async () => {
      class Pool {
        open = false
        setup(): void {
          this.open = true
        }
      }
      const pool = new Pool()
      await Resources.of({ pool }).setupAll()
      expect(pool.open).to.equal(true)
    })

    it('on a failed setup, tears down the resources already set up in reverse order, not the failed one, and rejects with its error', async () => {
      const calls: Array<string> = []
      const boom = new Error('connection refused')
      const res = Resources.of({
        a: recorder(calls, 'a'),
        b: recorder(calls, 'b'),
        c: recorder(calls, 'c', { setup: boom }),
        d: recorder(calls, 'd'),
      })
      expect(await rejectedError(res.setupAll())).to.deep.equal(toCanoError(boom))
      expect(calls).to.deep.equal([
        'a:setup:start',
        'a:setup:end',
        'b:setup:start',
        'b:setup:end',
        'c:setup:start',
        'c:setup:end',
        'b:teardown:start',
        'b:teardown:end',
        'a:teardown:start',
        'a:teardown:end',
      ])
    })

    it('handles a setup that throws synchronously', async () => {
      const calls: Array<string> = []
      const boom = new Error('sync boom')
      const res = Resources.of({
        a: recorder(calls, 'a'),
        b: {
          setup(): void {
            throw boom
          },
          teardown: () => void calls.push('b:teardown'),
        },
      })
      expect(await rejectedError(res.setupAll())).to.deep.equal(taskExecutionError('sync boom', boom))
      expect(calls).to.deep.equal(['a:setup:start', 'a:setup:end', 'a:teardown:start', 'a:teardown:end'])
    })

    it('keeps the CanoError of a setup that rejects with a CanoFailure or a CanoError', async () => {
      const e1 = configurationError('missing DATABASE_URL')
      const e2 = resourceNotFoundError('secrets')
      expect(
        await rejectedError(Resources.of({ a: { setup: () => Promise.reject(new CanoFailure(e1)) } }).setupAll()),
      ).to.deep.equal(e1)
      const rejectsWithValue = { setup: () => Promise.reject(e2) }
      expect(await rejectedError(Resources.of({ a: rejectsWithValue }).setupAll())).to.deep.equal(e2)
    })

    it('keeps rolling back when a rollback teardown fails, and still rejects with the setup error', async () => {
      const calls: Array<string> = []
      const res = Resources.of({
        a: recorder(calls, 'a'),
        b: recorder(calls, 'b', { teardown: new Error('teardown b failed') }),
        c: recorder(calls, 'c', { setup: 'setup c failed' }),
      })
      expect(await rejectedError(res.setupAll())).to.deep.equal(taskExecutionError('setup c failed', 'setup c failed'))
      expect(calls.filter((c) => c.endsWith(':teardown:end'))).to.deep.equal(['b:teardown:end', 'a:teardown:end'])
    })

    it('resolves for empty resources', async () => {
      await Resources.empty().setupAll()
    })
  })

  describe('teardownAll', () => {
    it('runs teardowns in reverse insertion order, one at a time, and reports no failures', async () => {
      const calls: Array<string> = []
      const res = Resources.of({ a: recorder(calls, 'a'), plain: 1 }).with('b', recorder(calls, 'b'))
      expect(await res.teardownAll()).to.deep.equal([])
      expect(calls).to.deep.equal(['b:teardown:start', 'b:teardown:end', 'a:teardown:start', 'a:teardown:end'])
    })

    it('never stops on a failing teardown: it runs them all and returns the failures in the order they happened', async () => {
      const calls: Array<string> = []
      const boom = new Error('socket hang up')
      const res = Resources.of({
        a: recorder(calls, 'a', { teardown: 'a refused' }),
        b: recorder(calls, 'b'),
        c: recorder(calls, 'c', { teardown: boom }),
        d: {
          teardown(): void {
            calls.push('d:teardown')
            throw new CanoFailure(configurationError('d is misconfigured'))
          },
        },
      })
      expect(await res.teardownAll()).to.deep.equal([
        { key: 'd', error: configurationError('d is misconfigured') },
        { key: 'c', error: taskExecutionError('socket hang up', boom) },
        { key: 'a', error: taskExecutionError('a refused', 'a refused') },
      ])
      expect(calls).to.deep.equal([
        'd:teardown',
        'c:teardown:start',
        'c:teardown:end',
        'b:teardown:start',
        'b:teardown:end',
        'a:teardown:start',
        'a:teardown:end',
      ])
    })
  })

  describe('checkAllHealth', () => {
    it('collects every status in insertion order: no hook is Healthy; a throw, a rejection or a non-status is Unhealthy', async () => {
      const res = Resources.of({
        plain: { url: 'x' },
        slow: { health: () => HealthStatus.degraded('p99 2.3 s') },
        asyncDown: { health: () => Promise.resolve(HealthStatus.unhealthy('connection refused')) },
        throws: {
          health(): HealthStatus {
            throw new Error('probe crashed')
          },
        },
        rejects: { health: () => Promise.reject(new CanoFailure(configurationError('no probe url'))) },
        lies: anyRecord({ health: () => 'ok' }),
      })
      const statuses = await res.checkAllHealth()
      expect([...statuses]).to.deep.equal([
        ['plain', HealthStatus.healthy],
        ['slow', HealthStatus.degraded('p99 2.3 s')],
        ['asyncDown', HealthStatus.unhealthy('connection refused')],
        ['throws', HealthStatus.unhealthy('probe crashed')],
        ['rejects', HealthStatus.unhealthy('no probe url')],
        ['lies', HealthStatus.unhealthy('health() returned "ok", which is not a HealthStatus')],
      ])
    })

    it('runs the checks one at a time', async () => {
      const calls: Array<string> = []
      const probe = (name: string) => ({
        async health(): Promise<HealthStatus> {
          calls.push(`${name}:start`)
          await tick()
          calls.push(`${name}:end`)
          return HealthStatus.healthy
        },
      })
      await Resources.of({ a: probe('a'), b: probe('b') }).checkAllHealth()
      expect(calls).to.deep.equal(['a:start', 'a:end', 'b:start', 'b:end'])
    })
  })

  describe('aggregateHealth', () => {
    const withHealth = (...statuses: ReadonlyArray<HealthStatus>): Resources<Record<string, unknown>> =>
      statuses.reduce<Resources<Record<string, unknown>>>(
        (res, s, i) => res.with(`r${i}`, { health: () => s }),
        Resources.empty(),
      )

    it('is Healthy for empty resources', async () => {
      expect(await Resources.empty().aggregateHealth()).to.deep.equal(HealthStatus.healthy)
    })

    it('is the worst status', async () => {
      expect(
        await withHealth(
          HealthStatus.healthy,
          HealthStatus.degraded('a'),
          HealthStatus.unhealthy('b'),
          HealthStatus.degraded('c'),
        ).aggregateHealth(),
      ).to.deep.equal(HealthStatus.unhealthy('b'))
      expect(
        await withHealth(HealthStatus.healthy, HealthStatus.degraded('a'), HealthStatus.healthy).aggregateHealth(),
      ).to.deep.equal(HealthStatus.degraded('a'))
      expect(await withHealth(HealthStatus.healthy, HealthStatus.healthy).aggregateHealth()).to.deep.equal(
        HealthStatus.healthy,
      )
    })

    it('reports the first of equally bad statuses', async () => {
      expect(
        await withHealth(HealthStatus.degraded('first'), HealthStatus.degraded('second')).aggregateHealth(),
      ).to.deep.equal(HealthStatus.degraded('first'))
      expect(
        await withHealth(
          HealthStatus.degraded('d'),
          HealthStatus.unhealthy('first'),
          HealthStatus.unhealthy('second'),
        ).aggregateHealth(),
      ).to.deep.equal(HealthStatus.unhealthy('first'))
    })
  })
})

describe('isResources', () => {
  it('recognises values built by of, empty and with', () => {
    expect([
      isResources(Resources.of({ a: 1 })),
      isResources(Resources.empty()),
      isResources(Resources.empty().with('a', 1)),
    ]).to.deep.equal([true, true, true])
  })

  it('rejects anything else', () => {
    expect([isResources({ a: 1 }), isResources(null), isResources(new MemoryStore())]).to.deep.equal([
      false,
      false,
      false,
    ])
  })
})
