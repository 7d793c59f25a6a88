/**
 * Type tests for `Resources`, `MemoryStore` and `HealthStatus` (compiled by `tsc --noEmit`, never run).
 */
import type { Either } from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'

import type { CanoError } from '../../src/CanoError.js'
import { type Degraded, HealthStatus, type Healthy, isHealthy } from '../../src/HealthStatus.js'
import { MemoryStore } from '../../src/MemoryStore.js'
import { type Resource, type ResourceKey, Resources, type TeardownFailure } from '../../src/Resources.js'
import { assertType, type Equals } from './helpers.js'

interface Client {
  readonly baseUrl: string
  readonly fetchJson: (path: string) => Promise<unknown>
}
declare const client: Client

class Pool implements Resource {
  open = false
  async setup(): Promise<void> {
    await Promise.resolve()
    this.open = true
  }
  teardown(): void {
    this.open = false
  }
  health(): HealthStatus {
    return this.open ? HealthStatus.healthy : HealthStatus.unhealthy('closed')
  }
}

// -------------------------------------------------------------------------------------
// Resources.of / get
// -------------------------------------------------------------------------------------

const res = Resources.of({ store: new MemoryStore(), api: client })
assertType<Equals<typeof res, Resources<{ store: MemoryStore; api: Client }>>>()
assertType<Equals<ReturnType<typeof res.get<'store'>>, MemoryStore>>()
const _api = res.get('api')
assertType<Equals<typeof _api, Client>>()
assertType<Equals<ResourceKey<{ store: MemoryStore; api: Client }>, 'store' | 'api'>>()
assertType<Equals<ReturnType<typeof res.keys>, ReadonlyArray<string>>>()

// @ts-expect-error 'db' is not a key of this record
res.get('db')
// @ts-expect-error keys are strings
res.get(1)
// @ts-expect-error `has` takes a string
res.has(1)

// -------------------------------------------------------------------------------------
// covariance: more resources stand in for fewer (a task that needs { api } runs in a workflow with more)
// -------------------------------------------------------------------------------------

export const fewer: Resources<{ api: Client }> = res
export const none: ReturnType<typeof Resources.empty> = res
const needsApi = (r: Resources<{ api: Client }>): Client => r.get('api')
needsApi(res)
// @ts-expect-error 'api' is missing
needsApi(Resources.empty())
// @ts-expect-error 'api' has the wrong type
needsApi(Resources.of({ api: 'https://api.example.com' }))

// -------------------------------------------------------------------------------------
// guards narrow
// -------------------------------------------------------------------------------------

declare const parsed: unknown
declare const maybePool: Pool | undefined
const loose = Resources.of({ settings: parsed, pool: maybePool })
const Settings = t.type({ retries: t.number })
const _settings = loose.get('settings', Settings)
assertType<Equals<typeof _settings, { retries: number }>>()
const isPool = (u: unknown): u is Pool => u instanceof Pool
const _pool = loose.get('pool', isPool)
assertType<Equals<typeof _pool, Pool>>()
const _unguarded = loose.get('pool')
assertType<Equals<typeof _unguarded, Pool | undefined>>()
const _either = loose.getEither('settings', Settings)
assertType<Equals<typeof _either, Either<CanoError, { retries: number }>>>()
// @ts-expect-error a guard must accept `unknown`
loose.get('settings', (u: string): u is 'x' => u === 'x')
// @ts-expect-error a string is not a guard
loose.get('settings', 'Settings')

// -------------------------------------------------------------------------------------
// with / tryWith
// -------------------------------------------------------------------------------------

const _grown = Resources.empty().with('store', new MemoryStore()).with('api', client)
assertType<Equals<typeof _grown, typeof res>>()
// @ts-expect-error nothing is declared in empty resources
Resources.empty().get('store')
// @ts-expect-error 'store' is already declared
res.with('store', new MemoryStore())
// @ts-expect-error 'api' is already declared
res.tryWith('api', client)
const dynamicKey: string = 'other'
const _tried = res.tryWith(dynamicKey, 1)
assertType<
  Equals<typeof _tried, Either<CanoError, Resources<{ store: MemoryStore; api: Client } & Record<string, unknown>>>>
>()
declare const unionKey: 'a' | 'b'
const _union = res.with(unionKey, 1)
assertType<Equals<typeof _union, Resources<{ store: MemoryStore; api: Client } & Record<string, unknown>>>>()
const _tried2 = res.tryWith('retries', 3) // literals widen, as in an object literal
assertType<Equals<typeof _tried2, Either<CanoError, Resources<{ store: MemoryStore; api: Client; retries: number }>>>>()

// a record with a string index signature accepts any key at compile time (the duplicate is caught at run time)
declare const wide: Resources<Record<string, unknown>>
wide.with('anything', 1)
assertType<Equals<ReturnType<typeof wide.get<'x'>>, unknown>>()

// -------------------------------------------------------------------------------------
// lifecycle hooks are checked
// -------------------------------------------------------------------------------------

Resources.of({ pool: new Pool() })
Resources.of({
  conn: {
    setup: () => Promise.resolve(42),
    teardown: async () => {
      await Promise.resolve()
    },
  },
}) // results are ignored
Resources.of({ config: { setup: 'eager', health: 'n/a' } }) // data fields that happen to share a hook's name
Resources.of({ optional: { health: (_verbose?: boolean) => HealthStatus.degraded('slow') } })
Resources.of({ asyncHealth: { health: async () => Promise.resolve(HealthStatus.healthy) } })
Resources.of({ n: 1, s: 'text', nothing: null, fn: () => 1 })

// @ts-expect-error health must return a HealthStatus
Resources.of({ db: { health: () => 'ok' } })
// @ts-expect-error setup must be callable without arguments
Resources.of({ db: { setup: (url: string) => url.length } })
// @ts-expect-error teardown must be callable without arguments
Resources.empty().with('db', { teardown: (force: boolean) => force })
// @ts-expect-error health must resolve to a HealthStatus
Resources.empty().with('db', { health: async () => Promise.resolve({ ok: true }) })

// -------------------------------------------------------------------------------------
// lifecycle results
// -------------------------------------------------------------------------------------

assertType<Equals<ReturnType<typeof res.setupAll>, Promise<void>>>()
assertType<Equals<ReturnType<typeof res.teardownAll>, Promise<ReadonlyArray<TeardownFailure>>>>()
assertType<Equals<ReturnType<typeof res.checkAllHealth>, Promise<ReadonlyMap<string, HealthStatus>>>>()
assertType<Equals<ReturnType<typeof res.aggregateHealth>, Promise<HealthStatus>>>()

// -------------------------------------------------------------------------------------
// HealthStatus
// -------------------------------------------------------------------------------------

assertType<Equals<typeof HealthStatus.healthy, Healthy>>()
assertType<Equals<ReturnType<typeof HealthStatus.degraded>, Degraded>>()
declare const status: HealthStatus
if (isHealthy(status)) assertType<Equals<typeof status, Healthy>>()
// @ts-expect-error a reason is required
HealthStatus.degraded()

// -------------------------------------------------------------------------------------
// MemoryStore
// -------------------------------------------------------------------------------------

const store = new MemoryStore()
const _raw = store.get('k')
assertType<Equals<typeof _raw, unknown>>()
const _ids = store.get('ids', t.array(t.number))
assertType<Equals<typeof _ids, Array<number>>>()
const _name = store.get('name', (u: unknown): u is string => typeof u === 'string')
assertType<Equals<typeof _name, string>>()
const _total = store.getEither('total', t.number)
assertType<Equals<typeof _total, Either<CanoError, number>>>()
assertType<Equals<typeof store.size, number>>()
assertType<Equals<ReturnType<typeof store.keys>, ReadonlyArray<string>>>()
// @ts-expect-error keys are strings
store.put(1, 'x')
// @ts-expect-error size is read-only
store.size = 3
