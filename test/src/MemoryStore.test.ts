import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'

import {
  type CanoError,
  configurationError,
  isCanoFailure,
  storeError,
  taskExecutionError,
} from '../../src/CanoError.js'
import { HealthStatus } from '../../src/HealthStatus.js'
import { MemoryStore } from '../../src/MemoryStore.js'
import { type Guard, Resources } from '../../src/Resources.js'

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

/** JavaScript callers can pass anything: these bypass the types on purpose. */
const anyKey = (u: unknown): string => u as string
const anyGuard = (u: unknown): Guard<unknown> => u as Guard<unknown>

const isNumber = (u: unknown): u is number => typeof u === 'number'
const Numbers = t.array(t.number)

const keyNotFound = (k: string) => storeError('KeyNotFound', `Key '${k}' not found in store`)
const typeMismatch = (k: string) => storeError('TypeMismatch', `Cannot downcast value for key '${k}' to requested type`)
const badKey = (method: string, shown: string) =>
  configurationError(`MemoryStore.${method}: key must be a non-empty string, got ${shown}`)

describe('MemoryStore', () => {
  describe('get', () => {
    it('returns the stored value itself', () => {
      const store = new MemoryStore()
      const user = { id: 7 }
      store.put('user', user)
      expect(store.get('user')).to.equal(user)
    })

    it('throws KeyNotFound for a missing key', () => {
      expect(thrownError(() => new MemoryStore().get('user'))).to.deep.equal(keyNotFound('user'))
    })

    it('checks the value with an io-ts codec', () => {
      const store = new MemoryStore()
      store.put('ids', [1, 2])
      store.put('names', ['a'])
      expect(store.get('ids', Numbers)).to.deep.equal([1, 2])
      expect(thrownError(() => store.get('names', Numbers))).to.deep.equal(typeMismatch('names'))
    })

    it('checks the value with a type predicate', () => {
      const store = new MemoryStore()
      store.put('n', 1)
      store.put('s', 'one')
      expect(store.get('n', isNumber)).to.equal(1)
      expect(thrownError(() => store.get('s', isNumber))).to.deep.equal(typeMismatch('s'))
    })

    it('throws a Configuration error for a bad key or guard', () => {
      const store = new MemoryStore()
      store.put('n', 1)
      expect(thrownError(() => store.get(anyKey(42)))).to.deep.equal(badKey('get', '42'))
      expect(thrownError(() => store.get(''))).to.deep.equal(badKey('get', '""'))
      expect(thrownError(() => store.get('n', anyGuard({ name: 'no is' })))).to.deep.equal(
        configurationError('MemoryStore.get: guard must be a type predicate or have an .is(u) method, got an object'),
      )
    })
  })

  describe('getEither', () => {
    it('returns Right of the value', () => {
      const store = new MemoryStore()
      store.put('n', 1)
      expect([store.getEither('n'), store.getEither('n', t.number)]).to.deep.equal([E.right(1), E.right(1)])
    })

    it('returns Left of KeyNotFound, TypeMismatch and Configuration errors', () => {
      const store = new MemoryStore()
      store.put('s', 'one')
      expect([store.getEither('x'), store.getEither('s', isNumber), store.getEither(anyKey(null))]).to.deep.equal([
        E.left(keyNotFound('x')),
        E.left(typeMismatch('s')),
        E.left(badKey('getEither', 'null')),
      ])
    })

    it('returns Left when the guard throws', () => {
      const store = new MemoryStore()
      store.put('n', 1)
      const boom = new Error('guard exploded')
      const exploding = (_u: unknown): _u is number => {
        throw boom
      }
      expect(store.getEither('n', exploding)).to.deep.equal(E.left(taskExecutionError('guard exploded', boom)))
    })
  })

  describe('put', () => {
    it('inserts, then replaces, even with a value of another type', () => {
      const store = new MemoryStore()
      store.put('k', 1)
      store.put('k', { now: 'an object' })
      expect([store.get('k'), store.size]).to.deep.equal([{ now: 'an object' }, 1])
    })

    it('stores undefined as a present value', () => {
      const store = new MemoryStore()
      store.put('k', undefined)
      expect([store.containsKey('k'), store.get('k')]).to.deep.equal([true, undefined])
    })

    it('throws a Configuration error for a bad key', () => {
      expect(thrownError(() => new MemoryStore().put(anyKey({}), 1))).to.deep.equal(badKey('put', 'an object'))
    })
  })

  describe('remove', () => {
    it('removes a key, and does nothing for a missing key', () => {
      const store = new MemoryStore()
      store.put('a', 1)
      store.put('b', 2)
      store.remove('a')
      store.remove('never-stored')
      expect(store.keys()).to.deep.equal(['b'])
    })

    it('throws a Configuration error for a bad key', () => {
      expect(thrownError(() => new MemoryStore().remove(''))).to.deep.equal(badKey('remove', '""'))
    })
  })

  describe('append', () => {
    it('creates a one-element array for a missing key', () => {
      const store = new MemoryStore()
      store.append('log', 'first')
      expect(store.get('log')).to.deep.equal(['first'])
    })

    it('adds the item to an existing array without mutating that array', () => {
      const store = new MemoryStore()
      const mine = [1, 2]
      store.put('ids', mine)
      store.append('ids', 3)
      const afterOne = store.get('ids')
      store.append('ids', 4)
      expect([mine, afterOne, store.get('ids')]).to.deep.equal([
        [1, 2],
        [1, 2, 3],
        [1, 2, 3, 4],
      ])
    })

    it('grows an unread array in place but never changes an array already handed out', () => {
      const store = new MemoryStore()
      for (let i = 0; i < 1000; i++) store.append('ids', i)
      const first = store.get('ids') as ReadonlyArray<number>
      store.append('ids', 1000)
      const seenByGuard: unknown[] = []
      const guard = (u: unknown): u is unknown[] => (seenByGuard.push(u), Array.isArray(u))
      const second = store.get('ids', guard)
      store.append('ids', 1001)
      const third = E.getOrElseW(() => [])(store.getEither('ids', t.array(t.number)))
      store.append('ids', 1002)
      expect([first.length, second.length, (seenByGuard[0] as unknown[]).length, third.length]).to.deep.equal([
        1000, 1001, 1001, 1002,
      ])
      expect(store.get('ids')).to.deep.equal(Array.from({ length: 1003 }, (_, i) => i))
    })

    it('appends to a frozen array', () => {
      const store = new MemoryStore()
      store.put('ids', Object.freeze([1]))
      store.append('ids', 2)
      expect(store.get('ids')).to.deep.equal([1, 2])
    })

    it('throws AppendTypeMismatch for a non-array value and leaves the value intact', () => {
      const store = new MemoryStore()
      const config = { retries: 3 }
      store.put('config', config)
      store.put('nothing', undefined)
      expect(thrownError(() => store.append('config', 4))).to.deep.equal(
        storeError('AppendTypeMismatch', "Cannot append to key 'config': existing value is not an array"),
      )
      expect(thrownError(() => store.append('nothing', 4))).to.deep.equal(
        storeError('AppendTypeMismatch', "Cannot append to key 'nothing': existing value is not an array"),
      )
      expect(store.get('config')).to.equal(config)
      expect([config, store.get('nothing'), store.keys()]).to.deep.equal([
        { retries: 3 },
        undefined,
        ['config', 'nothing'],
      ])
    })

    it('throws a Configuration error for a bad key', () => {
      expect(thrownError(() => new MemoryStore().append(anyKey(undefined), 1))).to.deep.equal(
        badKey('append', 'undefined'),
      )
    })
  })

  describe('containsKey', () => {
    it('tells whether a key is present', () => {
      const store = new MemoryStore()
      store.put('a', 1)
      expect([store.containsKey('a'), store.containsKey('b'), store.containsKey('toString')]).to.deep.equal([
        true,
        false,
        false,
      ])
    })

    it('throws a Configuration error for a bad key', () => {
      expect(thrownError(() => new MemoryStore().containsKey(anyKey(1)))).to.deep.equal(badKey('containsKey', '1'))
    })
  })

  describe('keys', () => {
    it('lists keys in insertion order; replacing a value keeps its place', () => {
      const store = new MemoryStore()
      store.put('b', 1)
      store.put('a', 2)
      store.append('c', 3)
      store.put('b', 4)
      expect(store.keys()).to.deep.equal(['b', 'a', 'c'])
    })
  })

  describe('size / isEmpty / clear', () => {
    it('counts keys, and clear removes them all', () => {
      const store = new MemoryStore()
      const before = [store.size, store.isEmpty()]
      store.put('a', 1)
      store.put('b', 2)
      const during = [store.size, store.isEmpty()]
      store.clear()
      expect([before, during, [store.size, store.isEmpty()]]).to.deep.equal([
        [0, true],
        [2, false],
        [0, true],
      ])
    })
  })

  describe('as a resource', () => {
    it('is shared: every holder sees the same data', () => {
      const res = Resources.of({ store: new MemoryStore() })
      res.get('store').append('seen', 'task A')
      res.get('store').append('seen', 'task B')
      expect(res.get('store').get('seen', t.array(t.string))).to.deep.equal(['task A', 'task B'])
    })

    it('has a no-op lifecycle and is Healthy', async () => {
      const store = new MemoryStore()
      store.put('kept', 1)
      const res = Resources.of({ store })
      await res.setupAll()
      const failures = await res.teardownAll()
      expect([failures, [...(await res.checkAllHealth())], store.get('kept')]).to.deep.equal([
        [],
        [['store', HealthStatus.healthy]],
        1,
      ])
    })
  })
})
