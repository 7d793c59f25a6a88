/**
 * `MemoryStore`: cano's in-process key-value store, a shared mutable map from string keys to any
 * values. Tasks of one run (and of every run that shares the same {@link Resources}) hand data to each
 * other through it: put it in the resources once, read and write it from any task.
 *
 * It is a plain resource (no lifecycle hooks). Values are kept by reference, except that
 * {@link MemoryStore.append} never mutates a stored array: it stores a new one (copy-on-write). A
 * value's type is checked only when the reader passes a guard (a type predicate or an io-ts codec),
 * which is how the Rust `get::<T>` type check (`TypeMismatch`) is reproduced.
 *
 * Failures are `Store` {@link CanoError}s with cano's reasons and messages (`KeyNotFound`,
 * `TypeMismatch`, `AppendTypeMismatch`), or `Configuration` for a key that is not a non-empty string.
 * Throwing methods throw them wrapped in a {@link CanoFailure}; `getEither` returns them.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'

import type { CanoError } from './CanoError.js'
import { CanoFailure, storeError, toCanoError } from './CanoError.js'
import { checkGuard, checkKey, type Guard, passesGuard } from './Resources.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A shared, mutable, in-memory map from non-empty string keys to values (cano's `MemoryStore`).
 * Every holder of the same instance sees the same data; keys are listed in insertion order.
 *
 * @example
 * import * as t from 'io-ts'
 * import { MemoryStore } from 'cano-rx'
 * const store = new MemoryStore()
 * store.put('user', { id: 7, name: 'Ada' })
 * store.append('log', 'fetched user 7')
 * const user = store.get('user', t.type({ id: t.number, name: t.string })) // typed { id: number; name: string }
 * const lines = store.get('log', t.array(t.string)) // ['fetched user 7']
 * @see {@link Resources} to share it between tasks
 * @category model
 * @since 0.1.0
 */
export class MemoryStore {
  readonly #map = new Map<string, unknown>()
  /** Arrays built by `append` that no caller has seen yet: safe to grow in place (amortised O(1)). */
  readonly #unseen = new WeakSet<unknown[]>()

  // -----------------------------------------------------------------------------------
  // destructors
  // -----------------------------------------------------------------------------------

  /**
   * The value under `key`. Without a guard it is `unknown`; with one (a type predicate or an io-ts
   * codec) it must pass, and it is typed accordingly.
   *
   * @param key - a non-empty string
   * @param guard - optional type predicate or io-ts codec the value must satisfy
   * @returns the stored value itself (not a copy)
   * @throws {@link CanoFailure} with `Store` `KeyNotFound` (`Key 'k' not found in store`) for a missing
   *   key, `Store` `TypeMismatch` (`Cannot downcast value for key 'k' to requested type`) when the guard
   *   rejects the value, `Configuration` for a bad key or guard
   * @example
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * store.put('count', 3)
   * const isNumber = (u: unknown): u is number => typeof u === 'number'
   * const n: number = store.get('count', isNumber)
   * const raw: unknown = store.get('count')
   * @see {@link MemoryStore.getEither} for the non-throwing form
   * @category destructors
   * @since 0.1.0
   */
  get(key: string): unknown
  get<T>(key: string, guard: Guard<T>): T
  get(key: string, guard?: Guard<unknown>): unknown {
    const result = this.#lookup('MemoryStore.get', key, guard)
    if (E.isLeft(result)) throw new CanoFailure(result.left)
    return result.right
  }

  /**
   * {@link MemoryStore.get} that never throws: errors (including a guard that throws) come back as a
   * `Left`.
   *
   * @param key - a non-empty string
   * @param guard - optional type predicate or io-ts codec the value must satisfy
   * @returns `Right` of the value, or `Left` of the `Store` / `Configuration` error
   * @example
   * import * as E from 'fp-ts/lib/Either.js'
   * import { pipe } from 'fp-ts/lib/function.js'
   * import * as t from 'io-ts'
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * const total = pipe(
   *   store.getEither('total', t.number),
   *   E.getOrElse(() => 0),
   * ) // 0: the key is missing
   * @category destructors
   * @since 0.1.0
   */
  getEither(key: string): E.Either<CanoError, unknown>
  getEither<T>(key: string, guard: Guard<T>): E.Either<CanoError, T>
  getEither(key: string, guard?: Guard<unknown>): E.Either<CanoError, unknown> {
    try {
      return this.#lookup('MemoryStore.getEither', key, guard)
    } catch (e: unknown) {
      return E.left(toCanoError(e))
    }
  }

  /**
   * Is there a value under `key`?
   *
   * @param key - a non-empty string
   * @returns whether the key is present (even if its value is `undefined`)
   * @throws {@link CanoFailure} with `Configuration` for a bad key
   * @example
   * import { MemoryStore } from 'cano-rx'
   * new MemoryStore().containsKey('x') // false
   * @category destructors
   * @since 0.1.0
   */
  containsKey(key: string): boolean {
    return this.#map.has(this.#key('MemoryStore.containsKey', key))
  }

  /**
   * The keys, in insertion order (cano lists them unordered).
   *
   * @returns a fresh array of keys
   * @example
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * store.put('a', 1)
   * store.put('b', 2)
   * store.keys() // ['a', 'b']
   * @category destructors
   * @since 0.1.0
   */
  keys(): ReadonlyArray<string> {
    return [...this.#map.keys()]
  }

  /**
   * The number of keys.
   *
   * @example
   * import { MemoryStore } from 'cano-rx'
   * new MemoryStore().size // 0
   * @category destructors
   * @since 0.1.0
   */
  get size(): number {
    return this.#map.size
  }

  /**
   * Is the store empty?
   *
   * @returns `true` when there are no keys
   * @example
   * import { MemoryStore } from 'cano-rx'
   * new MemoryStore().isEmpty() // true
   * @category destructors
   * @since 0.1.0
   */
  isEmpty(): boolean {
    return this.#map.size === 0
  }

  // -----------------------------------------------------------------------------------
  // combinators
  // -----------------------------------------------------------------------------------

  /**
   * Stores `value` under `key`, replacing any previous value (of any type).
   *
   * @param key - a non-empty string
   * @param value - any value, kept by reference
   * @throws {@link CanoFailure} with `Configuration` for a bad key
   * @example
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * store.put('status', 'fetching')
   * store.put('status', { done: true })
   * @category combinators
   * @since 0.1.0
   */
  put(key: string, value: unknown): void {
    this.#map.set(this.#key('MemoryStore.put', key), value)
  }

  /**
   * Removes `key`; does nothing when it is missing.
   *
   * @param key - a non-empty string
   * @throws {@link CanoFailure} with `Configuration` for a bad key
   * @example
   * import { MemoryStore } from 'cano-rx'
   * new MemoryStore().remove('never-stored') // no error
   * @category combinators
   * @since 0.1.0
   */
  remove(key: string): void {
    this.#map.delete(this.#key('MemoryStore.remove', key))
  }

  /**
   * Appends `item` to the array under `key`. A missing key gets `[item]`. An existing array is
   * **not mutated**: a new array `[...existing, item]` replaces it (copy-on-write), so
   * an array you stored or read earlier keeps its contents. An array that only `append` has built and
   * no caller has read yet grows in place, so a run of appends costs amortised O(1) each. Any other existing value is an error and
   * stays in place, untouched.
   *
   * @param key - a non-empty string
   * @param item - the element to add
   * @throws {@link CanoFailure} with `Store` `AppendTypeMismatch`
   *   (`Cannot append to key 'k': existing value is not an array`), or `Configuration` for a bad key
   * @example
   * import * as t from 'io-ts'
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * store.append('ids', 1)
   * store.append('ids', 2)
   * const ids = store.get('ids', t.array(t.number)) // [1, 2]
   * @category combinators
   * @since 0.1.0
   */
  append(key: string, item: unknown): void {
    const k = this.#key('MemoryStore.append', key)
    if (!this.#map.has(k)) {
      const fresh = [item]
      this.#unseen.add(fresh)
      this.#map.set(k, fresh)
      return
    }
    const existing: unknown = this.#map.get(k)
    if (!Array.isArray(existing)) {
      throw new CanoFailure(
        storeError('AppendTypeMismatch', `Cannot append to key '${k}': existing value is not an array`),
      )
    }
    if (this.#unseen.has(existing)) {
      existing.push(item)
      return
    }
    const copy = [...(existing as ReadonlyArray<unknown>), item]
    this.#unseen.add(copy)
    this.#map.set(k, copy)
  }

  /**
   * Removes every key.
   *
   * @example
   * import { MemoryStore } from 'cano-rx'
   * const store = new MemoryStore()
   * store.put('a', 1)
   * store.clear()
   * store.isEmpty() // true
   * @category combinators
   * @since 0.1.0
   */
  clear(): void {
    this.#map.clear()
  }

  // -----------------------------------------------------------------------------------
  // utils
  // -----------------------------------------------------------------------------------

  #key(where: string, key: unknown): string {
    const bad = checkKey(where, key)
    if (bad !== undefined) throw new CanoFailure(bad)
    return key as string
  }

  #lookup(where: string, key: unknown, guard: unknown): E.Either<CanoError, unknown> {
    const bad = checkKey(where, key) ?? checkGuard(where, guard)
    if (bad !== undefined) return E.left(bad)
    const k = key as string
    if (!this.#map.has(k)) return E.left(storeError('KeyNotFound', `Key '${k}' not found in store`))
    const value: unknown = this.#map.get(k)
    // handed out (or shown to a guard): the next append copies it, so the caller's array never changes
    if (Array.isArray(value)) this.#unseen.delete(value)
    if (guard !== undefined && !passesGuard(guard as Guard<unknown>, value)) {
      return E.left(storeError('TypeMismatch', `Cannot downcast value for key '${k}' to requested type`))
    }
    return E.right(value)
  }
}
