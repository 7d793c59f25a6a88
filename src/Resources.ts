/**
 * `Resources`: the typed, immutable record of everything a workflow's tasks share: stores, clients,
 * pools, circuit breakers, configuration. Tasks read it through `ctx.res.get('db')`, typed `R['db']`.
 *
 * A resource is any value. It may also declare lifecycle hooks (cano's `Resource` trait), found by
 * duck typing: `setup()`, `teardown()` and `health()`. `setupAll()` runs the setups in insertion order
 * and rolls back the ones that succeeded when one fails; `teardownAll()` runs the teardowns in reverse
 * order and never stops on an error; `checkAllHealth()` / `aggregateHealth()` collect health checks.
 * The engine runs setup and teardown around every `orchestrate` / `resume` call (once per scheduler
 * start / stop); it never calls `health()` on its own.
 *
 * Lookups that go wrong are {@link CanoError}s: `ResourceNotFound` for a missing key,
 * `ResourceTypeMismatch` when a guard rejects the stored value, `ResourceDuplicateKey` when a key is
 * added twice, `Configuration` for a key that is not a non-empty string. Throwing methods throw them
 * wrapped in a {@link CanoFailure}; `getEither` and `tryWith` return them in an fp-ts `Either`.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'

import type { Configuration } from '../codecs/CanoError.js'
import type { CanoError } from './CanoError.js'
import {
  CanoFailure,
  configurationError,
  resourceDuplicateKeyError,
  resourceNotFoundError,
  resourceTypeMismatchError,
  toCanoError,
} from './CanoError.js'
import { HealthStatus, isHealthStatus, worstHealth } from './HealthStatus.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The lifecycle hooks a resource may declare (cano's `Resource` trait). All three are optional, and a
 * value without any of them (a plain object, a string, a `MemoryStore`) is a valid resource.
 *
 * - `setup()` runs before a run starts; a throw or rejection aborts the run.
 * - `teardown()` runs after the run; errors are collected, never thrown.
 * - `health()` is called only by `checkAllHealth()` / `aggregateHealth()`; missing means `Healthy`.
 *
 * Hooks are found by duck typing: a property with one of these names is called (as a method, so
 * `this` is the resource) when it is a function, and ignored otherwise. At compile time,
 * {@link Resources.of} and {@link Resources.with} reject a hook that needs arguments, and a `health`
 * hook that does not return a {@link HealthStatus}; the value returned by `setup` / `teardown` is
 * awaited and ignored.
 *
 * @example
 * import { HealthStatus, type Resource, Resources } from 'cano-rx'
 * class Pool implements Resource {
 *   open = false
 *   async setup(): Promise<void> { this.open = true }
 *   async teardown(): Promise<void> { this.open = false }
 *   health() { return this.open ? HealthStatus.healthy : HealthStatus.unhealthy('pool closed') }
 * }
 * const res = Resources.of({ db: new Pool() })
 * @see {@link Resources}
 * @category model
 * @since 0.1.0
 */
export interface Resource {
  setup?(): void | Promise<void>
  teardown?(): void | Promise<void>
  health?(): HealthStatus | Promise<HealthStatus>
}

/**
 * A runtime check that narrows `unknown` to `T`: a type predicate, or anything with an
 * `.is(u)` method, such as an io-ts codec (`t.Type`) or an `io-ts/lib/Guard.js` guard. Its `name`
 * (the codec's name, or the predicate function's name) appears in `ResourceTypeMismatch` messages.
 *
 * @example
 * import * as t from 'io-ts'
 * import type { Guard } from 'cano-rx'
 * const byCodec: Guard<{ readonly url: string }> = t.type({ url: t.string })
 * const byPredicate: Guard<string> = (u: unknown): u is string => typeof u === 'string'
 * @category model
 * @since 0.1.0
 */
export type Guard<T> =
  ((u: unknown) => u is T) | { readonly is: (u: unknown) => u is T; readonly name?: string | undefined }

/**
 * The string keys of a resource record `R`.
 *
 * @example
 * import type { ResourceKey } from 'cano-rx'
 * type K = ResourceKey<{ db: number; api: string }> // 'db' | 'api'
 * @category model
 * @since 0.1.0
 */
export type ResourceKey<R> = Extract<keyof R, string>

/** `unknown` when the hook `K` of `V` is absent, not a function, or assignable to `F`; otherwise `{ K?: F }`. */
type HookCheck<V, K extends string, F> = V extends object
  ? K extends keyof V
    ? NonNullable<V[K]> extends (...args: never[]) => unknown
      ? NonNullable<V[K]> extends F
        ? unknown
        : { readonly [P in K]?: F }
      : unknown
    : unknown
  : unknown

/**
 * `unknown` for a value whose lifecycle hooks (if any) have the right shape; otherwise the shape the
 * offending hook must have, so that intersecting it with the value makes the compiler point at it.
 * `setup` and `teardown` must be callable without arguments; `health` must return a
 * {@link HealthStatus} or a Promise of one.
 *
 * @example
 * import type { LifecycleCheck } from 'cano-rx'
 * type Ok = LifecycleCheck<{ setup: () => Promise<void> }> // unknown
 * @category model
 * @since 0.1.0
 */
export type LifecycleCheck<V> = HookCheck<V, 'setup', () => unknown> &
  HookCheck<V, 'teardown', () => unknown> &
  HookCheck<V, 'health', () => HealthStatus | Promise<HealthStatus>>

/**
 * {@link LifecycleCheck} applied to every value of a resource record.
 *
 * @example
 * import type { ValidResources } from 'cano-rx'
 * type Checked = ValidResources<{ db: { health: () => string } }> // { db: { health?: () => HealthStatus | Promise<HealthStatus> } }
 * @category model
 * @since 0.1.0
 */
export type ValidResources<R> = { readonly [K in keyof R]: LifecycleCheck<R[K]> }

/**
 * `unknown` when `K` may be added to `R`, `never` when `R` already declares it (so `with` on a known
 * key does not compile). A record with a `string` index signature accepts any key at compile time;
 * the duplicate is then caught at run time.
 *
 * @example
 * import type { FreshKey } from 'cano-rx'
 * type Yes = FreshKey<{ db: number }, 'api'> // unknown
 * type No = FreshKey<{ db: number }, 'db'> // never
 * @category model
 * @since 0.1.0
 */
export type FreshKey<R, K extends string> = string extends keyof R ? unknown : K extends keyof R ? never : unknown

/** `true` when `K` is one string literal (not `string`, not a union). */
type IsSingleKey<K extends string> = string extends K
  ? false
  : [K] extends [(K extends unknown ? (k: K) => void : never) extends (k: infer I) => void ? I : never]
    ? true
    : false

/**
 * A primitive literal widened to its primitive type (`3` to `number`, `'x'` to `string`, `true` to
 * `boolean`), as TypeScript widens the properties of an object literal: `with('retries', 3)` declares
 * `retries: number`, exactly as `of({ retries: 3 })` does.
 */
type Widen<V> = V extends string
  ? string
  : V extends number
    ? number
    : V extends boolean
      ? boolean
      : V extends bigint
        ? bigint
        : V

/**
 * The record `R` with `V` added under `K`, flattened (so `of({ a }).with('b', b)` has the same type
 * as `of({ a, b })`). When `K` is not a single literal (a `string`, a union), the compiler cannot know
 * which key was added, so the result is `R & Record<string, unknown>`: known keys keep their types
 * and any other key reads as `unknown`.
 *
 * @example
 * import type { WithResource } from 'cano-rx'
 * type R = WithResource<{ db: number }, 'api', string> // { db: number; api: string }
 * type D = WithResource<{ db: number }, string, string> // { db: number } & Record<string, unknown>
 * @category model
 * @since 0.1.0
 */
export type WithResource<R, K extends string, V> =
  IsSingleKey<K> extends true
    ? { [P in keyof (R & { [Q in K]: V })]: (R & { [Q in K]: V })[P] }
    : R & Record<string, unknown>

/** The record type of `Resources.empty()`: no keys. */
type NoResources = { readonly [K in never]: never }

/**
 * One teardown that failed, as reported by {@link Resources.teardownAll}.
 *
 * @example
 * import type { TeardownFailure } from 'cano-rx'
 * const report = (fs: ReadonlyArray<TeardownFailure>) => fs.map((f) => `${f.key}: ${f.error.message}`)
 * @category model
 * @since 0.1.0
 */
export interface TeardownFailure {
  readonly key: string
  readonly error: CanoError
}

/**
 * An immutable, typed record of resources, in insertion order. Build it with {@link Resources.of} or
 * {@link Resources.empty} and {@link Resources.with}; read it with {@link Resources.get}. Values are
 * kept by reference: the same object comes back from every `get`, so a mutable resource (a
 * `MemoryStore`, a pool) is shared by every task of every run that uses this `Resources`.
 *
 * @example
 * import { MemoryStore, Resources } from 'cano-rx'
 * const api = { baseUrl: 'https://api.example.com', fetchJson: async (path: string): Promise<unknown> => ({ path }) }
 * const res = Resources.of({ store: new MemoryStore(), api })
 * res.get('store').put('last', 42)
 * const base: string = res.get('api').baseUrl
 * @see {@link Resource} for the lifecycle hooks
 * @category model
 * @since 0.1.0
 */
export class Resources<R extends Record<string, unknown>> {
  readonly #entries: ReadonlyMap<string, unknown>

  private constructor(entries: ReadonlyMap<string, unknown>) {
    this.#entries = entries
    Object.defineProperty(this, BRAND, { value: true })
    Object.freeze(this)
  }

  // -----------------------------------------------------------------------------------
  // constructors
  // -----------------------------------------------------------------------------------

  /**
   * Resources from a plain record, in the record's key order (JavaScript puts integer-like keys
   * first; use {@link Resources.with} to control the order of lifecycle calls precisely).
   *
   * @param resources - a plain object mapping each key to its resource
   * @returns the typed resources
   * @throws {@link CanoFailure} with a `Configuration` error when `resources` is not a plain object or
   *   has an empty key
   * @example
   * import { MemoryStore, Resources } from 'cano-rx'
   * const res = Resources.of({ store: new MemoryStore(), config: { region: 'eu-west-1' } })
   * @category constructors
   * @since 0.1.0
   */
  static of<R extends Record<string, unknown>>(resources: R & ValidResources<R>): Resources<R> {
    const record: unknown = resources
    if (!isPlainRecord(record)) {
      throw new CanoFailure(
        configurationError(`Resources.of: expected a plain object of resources, got ${showKey(record)}`),
      )
    }
    const entries = new Map<string, unknown>()
    for (const [key, value] of Object.entries(record)) {
      const bad = checkKey('Resources.of', key)
      if (bad !== undefined) throw new CanoFailure(bad)
      entries.set(key, value)
    }
    return new Resources<R>(entries)
  }

  /**
   * No resources (cano's `Resources::empty()`), for workflows whose tasks need none, or as the start
   * of a chain of {@link Resources.with}.
   *
   * @returns resources with no keys
   * @example
   * import { MemoryStore, Resources } from 'cano-rx'
   * const none = Resources.empty()
   * const one = Resources.empty().with('store', new MemoryStore())
   * @category constructors
   * @since 0.1.0
   */
  static empty(): Resources<NoResources> {
    return new Resources<NoResources>(new Map())
  }

  // -----------------------------------------------------------------------------------
  // destructors
  // -----------------------------------------------------------------------------------

  /**
   * The resource under `key`, the same value on every call. With a `guard`, the stored value must
   * pass it, and the result is narrowed to the guarded type.
   *
   * @param key - a key of `R`
   * @param guard - optional type predicate or io-ts codec the value must satisfy
   * @returns the resource, typed `R[K]` (narrowed by the guard when one is given)
   * @throws {@link CanoFailure} with `ResourceNotFound` for a missing key, `ResourceTypeMismatch` when
   *   the guard rejects the value, `Configuration` when the key is not a non-empty string or the guard
   *   is neither a predicate nor has `.is`
   * @example
   * import * as t from 'io-ts'
   * import { Resources } from 'cano-rx'
   * const parsed: unknown = JSON.parse('{"retries":3}')
   * const res = Resources.of({ endpoint: 'https://api.example.com', settings: parsed })
   * const url: string = res.get('endpoint')
   * const settings: { retries: number } = res.get('settings', t.type({ retries: t.number }))
   * @see {@link Resources.getEither} for the non-throwing form
   * @category destructors
   * @since 0.1.0
   */
  get<K extends ResourceKey<R>>(key: K): R[K]
  get<K extends ResourceKey<R>, T>(key: K, guard: Guard<T>): R[K] & T
  get(key: string, guard?: Guard<unknown>): unknown {
    return orThrow(this.#lookup('Resources.get', key, guard))
  }

  /**
   * {@link Resources.get} that returns its error instead of throwing it.
   *
   * @param key - a key of `R`
   * @param guard - optional type predicate or io-ts codec the value must satisfy
   * @returns `Right` of the resource, or `Left` of `ResourceNotFound` / `ResourceTypeMismatch` / `Configuration`
   * @example
   * import * as E from 'fp-ts/lib/Either.js'
   * import { Resources } from 'cano-rx'
   * const isNumber = (u: unknown): u is number => typeof u === 'number'
   * const port = Resources.of({ port: 5432 }).getEither('port', isNumber) // E.right(5432)
   * const size = E.isRight(port) ? port.right : 0
   * @category destructors
   * @since 0.1.0
   */
  getEither<K extends ResourceKey<R>>(key: K): E.Either<CanoError, R[K]>
  getEither<K extends ResourceKey<R>, T>(key: K, guard: Guard<T>): E.Either<CanoError, R[K] & T>
  getEither(key: string, guard?: Guard<unknown>): E.Either<CanoError, unknown> {
    try {
      return this.#lookup('Resources.getEither', key, guard)
    } catch (e: unknown) {
      return E.left(toCanoError(e)) // a guard that throws
    }
  }

  /**
   * Is there a resource under `key`?
   *
   * @param key - any non-empty string
   * @returns whether the key is present
   * @throws {@link CanoFailure} with `Configuration` when `key` is not a non-empty string
   * @example
   * import { Resources } from 'cano-rx'
   * Resources.of({ db: 1 }).has('db') // true
   * @category destructors
   * @since 0.1.0
   */
  has(key: string): boolean {
    const bad = checkKey('Resources.has', key)
    if (bad !== undefined) throw new CanoFailure(bad)
    return this.#entries.has(key)
  }

  /**
   * The keys, in insertion order (the order in which `setupAll` runs). Typed `string`: resources with
   * more keys may stand in for resources with fewer (`Resources` is covariant in `R`), so the runtime
   * keys can be a superset of `keyof R`.
   *
   * @returns a fresh array of keys
   * @example
   * import { Resources } from 'cano-rx'
   * Resources.of({ db: 1 }).with('api', 2).keys() // ['db', 'api']
   * @category destructors
   * @since 0.1.0
   */
  keys(): ReadonlyArray<string> {
    return [...this.#entries.keys()]
  }

  // -----------------------------------------------------------------------------------
  // combinators
  // -----------------------------------------------------------------------------------

  /**
   * New resources with `value` added under `key`, last in lifecycle order. The receiver is unchanged.
   * A key the type already declares does not compile; a duplicate the compiler cannot see throws.
   *
   * @param key - a non-empty string not yet present
   * @param value - the resource
   * @returns resources typed `R & { [key]: V }`
   * @throws {@link CanoFailure} with `ResourceDuplicateKey` when `key` is present, `Configuration`
   *   when it is not a non-empty string
   * @example
   * import { MemoryStore, Resources } from 'cano-rx'
   * const res = Resources.empty().with('store', new MemoryStore()).with('retries', 3)
   * const n: number = res.get('retries')
   * @see {@link Resources.tryWith} for the non-throwing form
   * @category combinators
   * @since 0.1.0
   */
  with<K extends string, V>(
    key: K & FreshKey<R, K>,
    value: V & LifecycleCheck<V>,
  ): Resources<WithResource<R, K, Widen<V>>> {
    return orThrow(this.tryWith<K, V>(key, value))
  }

  /**
   * {@link Resources.with} that returns its error instead of throwing it.
   *
   * @param key - a non-empty string not yet present
   * @param value - the resource
   * @returns `Right` of the new resources, or `Left` of `ResourceDuplicateKey` / `Configuration`
   * @example
   * import * as E from 'fp-ts/lib/Either.js'
   * import { Resources } from 'cano-rx'
   * const key: string = 'api'
   * const res = Resources.of({ api: 1 }).tryWith(key, 2)
   * if (E.isLeft(res)) console.log(res.left._tag) // 'ResourceDuplicateKey'
   * @category combinators
   * @since 0.1.0
   */
  tryWith<K extends string, V>(
    key: K & FreshKey<R, K>,
    value: V & LifecycleCheck<V>,
  ): E.Either<CanoError, Resources<WithResource<R, K, Widen<V>>>> {
    const k: unknown = key
    const bad = checkKey('Resources.with', k)
    if (bad !== undefined) return E.left(bad)
    if (this.#entries.has(key)) return E.left(resourceDuplicateKeyError(key))
    const entries = new Map(this.#entries)
    entries.set(key, value)
    return E.right(new Resources<WithResource<R, K, Widen<V>>>(entries))
  }

  // -----------------------------------------------------------------------------------
  // lifecycle
  // -----------------------------------------------------------------------------------

  /**
   * Runs every `setup()` hook, one at a time, in insertion order. When the setup of resource N fails,
   * the teardowns of resources N-1 … 0 run (in that order, errors ignored), the failed resource is
   * not torn down, and the call rejects with the setup error.
   *
   * @returns a Promise that resolves when every setup has succeeded
   * @throws {@link CanoFailure} (as a rejection) carrying the failed setup's error through `toCanoError`
   * @example
   * import { Resources } from 'cano-rx'
   * const calls: string[] = []
   * const res = Resources.of({ db: { setup: () => void calls.push('db up'), teardown: () => void calls.push('db down') } })
   * await res.setupAll()
   * await res.teardownAll()
   * @see {@link Resources.teardownAll}
   * @category lifecycle
   * @since 0.1.0
   */
  async setupAll(): Promise<void> {
    const done: Array<readonly [string, unknown]> = []
    for (const entry of this.#entries) {
      try {
        await callHook(entry[1], 'setup')
      } catch (e: unknown) {
        await teardownEach(done)
        throw new CanoFailure(toCanoError(e))
      }
      done.push(entry)
    }
  }

  /**
   * Runs every `teardown()` hook, one at a time, in reverse insertion order. A failing teardown
   * never stops the others: its error is collected and the call never rejects.
   *
   * @returns the failures, in the order they happened (empty when all teardowns succeeded)
   * @example
   * import { Resources } from 'cano-rx'
   * const res = Resources.of({ db: { teardown: () => Promise.reject(new Error('socket hang up')) } })
   * const failures = await res.teardownAll() // [{ key: 'db', error: { _tag: 'TaskExecution', message: 'socket hang up', … } }]
   * @category lifecycle
   * @since 0.1.0
   */
  teardownAll(): Promise<ReadonlyArray<TeardownFailure>> {
    return teardownEach([...this.#entries])
  }

  /**
   * Runs every `health()` hook, one at a time, in insertion order. A resource without one is
   * `Healthy`; a hook that throws, rejects or returns something other than a {@link HealthStatus}
   * counts as `Unhealthy`, with the error's message as the reason.
   *
   * @returns each key's status, in insertion order
   * @example
   * import { HealthStatus, Resources } from 'cano-rx'
   * const res = Resources.of({ cache: { health: () => HealthStatus.degraded('cold') }, config: { region: 'eu' } })
   * const statuses = await res.checkAllHealth() // Map { 'cache' => Degraded('cold'), 'config' => Healthy }
   * @category lifecycle
   * @since 0.1.0
   */
  async checkAllHealth(): Promise<ReadonlyMap<string, HealthStatus>> {
    const statuses = new Map<string, HealthStatus>()
    for (const [key, value] of this.#entries) {
      let status: HealthStatus
      try {
        const called = await callHook(value, 'health')
        status =
          called === undefined
            ? HealthStatus.healthy
            : isHealthStatus(called.result)
              ? called.result
              : HealthStatus.unhealthy(`health() returned ${showKey(called.result)}, which is not a HealthStatus`)
      } catch (e: unknown) {
        status = HealthStatus.unhealthy(toCanoError(e).message)
      }
      statuses.set(key, status)
    }
    return statuses
  }

  /**
   * The worst status of {@link Resources.checkAllHealth}: on a tie the first resource (in insertion
   * order) wins; no resources at all is `Healthy`.
   *
   * @returns the aggregate status
   * @example
   * import { HealthStatus, Resources } from 'cano-rx'
   * const res = Resources.of({ a: { health: () => HealthStatus.degraded('slow') }, b: { health: () => HealthStatus.unhealthy('down') } })
   * const overall = await res.aggregateHealth() // { _tag: 'Unhealthy', reason: 'down' }
   * @see {@link worstHealth}
   * @category lifecycle
   * @since 0.1.0
   */
  async aggregateHealth(): Promise<HealthStatus> {
    return worstHealth((await this.checkAllHealth()).values())
  }

  // -----------------------------------------------------------------------------------
  // utils
  // -----------------------------------------------------------------------------------

  #lookup(where: string, key: unknown, guard: unknown): E.Either<CanoError, unknown> {
    const bad = checkKey(where, key) ?? checkGuard(where, guard)
    if (bad !== undefined) return E.left(bad)
    const k = key as string
    if (!this.#entries.has(k)) return E.left(resourceNotFoundError(k))
    const value = this.#entries.get(k)
    const g = guard as Guard<unknown> | undefined
    if (g !== undefined && !passesGuard(g, value)) return E.left(resourceTypeMismatchError(k, guardName(g)))
    return E.right(value)
  }
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * Is `u` a {@link Resources}? Checks a brand shared by every copy of cano-rx, not `instanceof`.
 *
 * @param u - any value
 * @returns `true` for values built by `Resources.of` / `empty` / `with`
 * @example
 * import { isResources, Resources } from 'cano-rx'
 * isResources(Resources.empty()) // true
 * isResources({ db: 1 }) // false
 * @category guards
 * @since 0.1.0
 */
export const isResources = (u: unknown): u is Resources<Record<string, unknown>> =>
  typeof u === 'object' && u !== null && (u as { readonly [BRAND]?: unknown })[BRAND] === true

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** @internal Brand checked by {@link isResources}; `Symbol.for` so duplicated package copies agree. */
const BRAND: unique symbol = Symbol.for('cano-rx/Resources')

/** @internal A short, safe rendering of an arbitrary key for error messages. */
export const showKey = (u: unknown): string => {
  if (typeof u === 'string') return JSON.stringify(u)
  if (Array.isArray(u)) return 'an array'
  if (typeof u === 'function') return 'a function'
  if (typeof u === 'object' && u !== null) return 'an object'
  return String(u)
}

/** @internal `Configuration` error when `key` is not a non-empty string; `where` names the method. */
export const checkKey = (where: string, key: unknown): Configuration | undefined =>
  typeof key === 'string' && key !== ''
    ? undefined
    : configurationError(`${where}: key must be a non-empty string, got ${showKey(key)}`)

/** @internal `Configuration` error when `guard` is present but is neither a predicate nor has `.is`. */
export const checkGuard = (where: string, guard: unknown): Configuration | undefined =>
  guard === undefined ||
  typeof guard === 'function' ||
  (typeof guard === 'object' && guard !== null && typeof (guard as { readonly is?: unknown }).is === 'function')
    ? undefined
    : configurationError(`${where}: guard must be a type predicate or have an .is(u) method, got ${showKey(guard)}`)

/** @internal Runs a guard (predicate or `.is`). */
export const passesGuard = (guard: Guard<unknown>, u: unknown): boolean =>
  typeof guard === 'function' ? guard(u) : guard.is(u)

/** @internal The name a guard reports in error messages. */
const guardName = (guard: Guard<unknown>): string => {
  const name: unknown = guard.name
  return typeof name === 'string' && name !== '' ? name : '<anonymous guard>'
}

type Hook = 'setup' | 'teardown' | 'health'

/** @internal Calls hook `name` of `value` as a method if it is a function; `undefined` otherwise. Throws what the hook throws. */
const callHook = async (value: unknown, name: Hook): Promise<{ readonly result: unknown } | undefined> => {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return undefined
  const hook = (value as Readonly<Record<Hook, unknown>>)[name]
  if (typeof hook !== 'function') return undefined
  const result: unknown = await (hook as (this: unknown) => unknown).call(value)
  return { result }
}

/** @internal LIFO teardown over `entries`, collecting failures. */
const teardownEach = async (entries: ReadonlyArray<readonly [string, unknown]>): Promise<Array<TeardownFailure>> => {
  const failures: Array<TeardownFailure> = []
  for (const [key, value] of [...entries].reverse()) {
    try {
      await callHook(value, 'teardown')
    } catch (e: unknown) {
      failures.push({ key, error: toCanoError(e) })
    }
  }
  return failures
}

const isPlainRecord = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const orThrow = <A>(e: E.Either<CanoError, A>): A => {
  if (E.isLeft(e)) throw new CanoFailure(e.left)
  return e.right
}
