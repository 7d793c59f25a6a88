/**
 * The `CheckpointStore` contract, one parameterised suite run against every adapter: the in-memory
 * store, SQLite on a real temporary file, and PostgreSQL on the real server (a fresh table per test,
 * dropped afterwards). Adapter-specific checks (options, shared handles, raw corruption) follow.
 */
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import pg from 'pg'

import type { CheckpointKind, CheckpointRow, JsonValue } from '../../codecs/CheckpointRow.js'
import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import { type CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpointsOver } from '../../src/CheckpointStore.js'

// -------------------------------------------------------------------------------------
// harness
// -------------------------------------------------------------------------------------

const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A stored row broken by hand, below the adapter, and what the error must name. */
interface Corruption {
  readonly title: string
  readonly seq: number
  readonly field: string
  readonly write: (workflowId: string) => Promise<void>
}

interface Backend {
  readonly store: CheckpointStore
  /** Another handle on the same storage (another connection), for adapters whose storage is shared. */
  readonly reopen?: () => CheckpointStore
  readonly corruptions: ReadonlyArray<Corruption>
  readonly dispose: () => Promise<void>
}

interface Adapter {
  readonly name: string
  readonly setup: () => Promise<void>
  readonly open: () => Promise<Backend>
  readonly teardown: () => Promise<void>
}

/**
 * Rows whose payload is JSON but not what their kind records, each written through `write(id, seq,
 * kind, payload as JSON text)`: the error names the payload's shape and the offending field.
 */
const payloadCorruptions = (
  write: (workflowId: string, seq: number, kind: CheckpointKind, payload: string) => Promise<void>,
): ReadonlyArray<Corruption> => [
  {
    title: 'a StepCursor payload without its step',
    seq: 1,
    field: 'CheckpointRow/payload: CursorPayload/step',
    write: (id) => write(id, 1, 'StepCursor', '{"cursor": {"page": 3}}'),
  },
  {
    title: 'a TimerArmed payload whose wakeAt is text',
    seq: 1,
    field: 'CheckpointRow/payload: TimerPayload/wakeAt',
    write: (id) => write(id, 1, 'TimerArmed', '{"wakeAt": "soon"}'),
  },
  {
    title: 'a StreamWindow payload with a negative item count',
    seq: 1,
    field: 'CheckpointRow/payload: StreamPayload/items',
    write: (id) => write(id, 1, 'StreamWindow', '{"windows": 1, "items": -5}'),
  },
  {
    title: 'a StateEntry payload of no known shape',
    seq: 1,
    field: 'CheckpointRow/payload: StateEntryPayload',
    write: (id) => write(id, 1, 'StateEntry', '{"page": 3}'),
  },
  {
    title: 'a RollbackStarted payload that is not a CanoError',
    seq: 1,
    field: 'CheckpointRow/payload: EncodedCanoError',
    write: (id) => write(id, 1, 'RollbackStarted', '{"nope": 1}'),
  },
  {
    title: 'a CompensationDone payload without undid',
    seq: 1,
    field: 'CheckpointRow/payload: CompensationDonePayload/undid',
    write: (id) => write(id, 1, 'CompensationDone', '{}'),
  },
]

const memory: Adapter = {
  name: 'memoryCheckpoints',
  setup: () => Promise.resolve(),
  open: () => {
    const runs = new Map<string, Map<number, string>>()
    const store = memoryCheckpointsOver(runs)
    const raw = (id: string, seq: number, kind: string, payload: unknown): Promise<void> => {
      const row = { workflowId: id, seq, kind, state: 'B', taskId: 'b', payload, version: 1, at: 0 }
      runs.get(id)?.set(seq, JSON.stringify(row))
      return Promise.resolve()
    }
    return Promise.resolve({
      store,
      corruptions: [
        {
          title: 'a kind that is not a CheckpointKind',
          seq: 1,
          field: 'kind',
          write: (id) => raw(id, 1, 'Teleported', null),
        },
        ...payloadCorruptions((id, seq, kind, payload) => raw(id, seq, kind, JSON.parse(payload))),
      ],
      dispose: () => store.close(),
    })
  },
  teardown: () => Promise.resolve(),
}

const sqliteDir = { path: '' }
const sqlite: Adapter = {
  name: 'sqliteCheckpoints',
  setup: () => {
    sqliteDir.path = mkdtempSync(join(tmpdir(), 'cano-ckpt-conformance-'))
    return Promise.resolve()
  },
  open: () => {
    const file = join(sqliteDir.path, `${randomUUID()}.db`)
    const opened: Array<CheckpointStore> = []
    const openStore = (): CheckpointStore => {
      const s = sqliteCheckpoints(file)
      opened.push(s)
      return s
    }
    const raw = (sql: string, ...params: ReadonlyArray<unknown>): Promise<void> => {
      const db = new Database(file)
      try {
        db.prepare(sql).run(...params)
      } finally {
        db.close()
      }
      return Promise.resolve()
    }
    const insert = 'INSERT INTO cano_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    return Promise.resolve({
      store: openStore(),
      reopen: openStore,
      corruptions: [
        {
          title: 'a kind that is not a CheckpointKind',
          seq: 1,
          field: 'kind',
          write: (id) => raw(insert, id, 1, 'Teleported', 'B', 'b', null, 1, 0),
        },
        {
          title: 'a payload that is not JSON',
          seq: 1,
          field: 'payload',
          write: (id) => raw(insert, id, 1, 'StepCursor', 'B', 'b', '{"page": 3,', 1, 0),
        },
        {
          title: 'a negative version',
          seq: 1,
          field: 'version',
          write: (id) => raw(insert, id, 1, 'StateEntry', 'B', 'b', null, -4, 0),
        },
        ...payloadCorruptions((id, seq, kind, payload) => raw(insert, id, seq, kind, 'B', 'b', payload, 1, 0)),
      ],
      dispose: async () => {
        for (const s of opened) await s.close()
        for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
      },
    })
  },
  teardown: () => {
    rmSync(sqliteDir.path, { recursive: true, force: true })
    return Promise.resolve()
  },
}

const admin: { pool?: pg.Pool } = {}
const postgres: Adapter = {
  name: 'postgresCheckpoints',
  setup: () => {
    admin.pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
    return Promise.resolve()
  },
  open: () => {
    const pool = admin.pool!
    const table = `cano_conformance_${process.pid}_${randomUUID().replace(/-/g, '')}`
    const opened: Array<CheckpointStore> = []
    const store = postgresCheckpoints({ connectionString: PG_URL, table })
    opened.push(store)
    const insert = `INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`
    const raw = async (...params: ReadonlyArray<unknown>): Promise<void> => {
      await store.loadRun('schema-exists') // creates the table
      await pool.query(insert, [...params])
    }
    return Promise.resolve({
      store,
      reopen: () => {
        const s = postgresCheckpoints({ pool, table })
        opened.push(s)
        return s
      },
      corruptions: [
        {
          title: 'a kind that is not a CheckpointKind',
          seq: 1,
          field: 'kind',
          write: (id) => raw(id, 1, 'Teleported', 'B', 'b', null, 1, 0),
        },
        {
          title: 'a negative version',
          seq: 1,
          field: 'version',
          write: (id) => raw(id, 1, 'StateEntry', 'B', 'b', null, -4, 0),
        },
        {
          title: 'a payload holding a JSON number too large for a double',
          seq: 1,
          field: 'payload',
          write: (id) => raw(id, 1, 'StepCursor', 'B', 'b', '{"page": 1e400}', 1, 0),
        },
        ...payloadCorruptions((id, seq, kind, payload) => raw(id, seq, kind, 'B', 'b', payload, 1, 0)),
      ],
      dispose: async () => {
        for (const s of opened) await s.close()
        await pool.query(`DROP TABLE IF EXISTS ${table}`)
      },
    })
  },
  teardown: async () => {
    await admin.pool?.end()
  },
}

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

/** A row; `overrides` may pair a kind with any payload (rows with arbitrary JSON use `CompensationCompletion`). */
const row = (
  workflowId: string,
  seq: number,
  overrides: { readonly [K in keyof CheckpointRow]?: unknown } = {},
): CheckpointRow =>
  ({
    workflowId,
    seq,
    kind: 'StateEntry',
    state: `S${seq}`,
    taskId: `task-${seq}`,
    payload: null,
    version: 1,
    at: 1_700_000_000_000 + seq,
    ...overrides,
  }) as CheckpointRow

/** The `CanoFailure` a promise rejects with (fails the test when it resolves or rejects otherwise). */
const failureOf = async (p: Promise<unknown>): Promise<CanoFailure> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e
    throw e
  }
  throw new Error('expected the promise to reject with a CanoFailure')
}

const conflictMessage = (id: string, seq: number): string =>
  `checkpoint conflict: workflow ${JSON.stringify(id)} already has a row at sequence ${seq}; resume the existing run or clear it before starting a new one`

/** A deterministic shuffle (mulberry32), so a failure replays. */
const shuffled = <A>(xs: ReadonlyArray<A>, seed: number): Array<A> => {
  let s = seed >>> 0
  const random = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

// -------------------------------------------------------------------------------------
// the contract
// -------------------------------------------------------------------------------------

for (const adapter of [memory, sqlite, postgres]) {
  describe(`CheckpointStore contract: ${adapter.name}`, () => {
    let backend: Backend
    let store: CheckpointStore

    before(() => adapter.setup())
    after(() => adapter.teardown())
    beforeEach(async () => {
      backend = await adapter.open()
      store = backend.store
    })
    afterEach(() => backend.dispose())

    describe('append / loadRun', () => {
      it('loads a run ascending by seq whatever the append order', async () => {
        for (const seq of [2, 0, 3, 1]) await store.append(row('order-42', seq))
        const rows = await store.loadRun('order-42')
        expect(rows.map((r) => r.seq)).to.deep.equal([0, 1, 2, 3])
        expect(rows[2]).to.deep.equal(row('order-42', 2))
      })

      it('keeps every field of a row, for every kind', async () => {
        const kinds: ReadonlyArray<CheckpointKind> = [
          'StateEntry',
          'CompensationCompletion',
          'StepCursor',
          'TimerArmed',
          'StreamWindow',
          'RollbackStarted',
          'CompensationDone',
        ]
        // each kind with a payload shaped as the driver writes it
        const payloads: { readonly [K in CheckpointKind]: JsonValue } = {
          StateEntry: { cursor: { page: 2 }, step: 2 },
          CompensationCompletion: { chargeId: 'ch_1' },
          StepCursor: { cursor: { page: 3 }, step: 3 },
          TimerArmed: { wakeAt: 1_750_000_060_000 },
          StreamWindow: { windows: 2, items: 200 },
          RollbackStarted: { _tag: 'TaskExecution', message: 'ship failed' },
          CompensationDone: { undid: 1 },
        }
        const rows = kinds.map((kind, seq) =>
          row('kinds', seq, {
            kind,
            state: `State ${kind}`,
            taskId: kind,
            payload: payloads[kind],
            version: 7,
            at: 1_750_000_000_123 + seq,
          }),
        )
        for (const r of rows) await store.append(r)
        expect(await store.loadRun('kinds')).to.deep.equal(rows)
      })

      it('loads an empty array for an unknown id', async () => {
        await store.append(row('known', 0))
        expect(await store.loadRun('unknown')).to.deep.equal([])
      })

      it('round-trips the largest safe sequence, version and time', async () => {
        const big = row('big', Number.MAX_SAFE_INTEGER, {
          version: Number.MAX_SAFE_INTEGER,
          at: Number.MAX_SAFE_INTEGER,
        })
        await store.append(big)
        expect(await store.loadRun('big')).to.deep.equal([big])
      })

      it('strips fields the codec does not know', async () => {
        const withExtra: CheckpointRow = Object.assign(row('extra', 0), { secret: 'dropped' })
        await store.append(withExtra)
        expect(await store.loadRun('extra')).to.deep.equal([row('extra', 0)])
      })

      it('stores copies: mutating an appended or a loaded row changes nothing', async () => {
        const payload = { items: [1, 2], meta: { page: 1 } }
        const appended = row('copies', 0, { kind: 'CompensationCompletion', payload })
        const pending = store.append(appended)
        payload.items.push(3)
        payload.meta.page = 99
        await pending
        const loaded = await store.loadRun('copies')
        const loadedPayload = loaded[0]!.payload as { items: Array<number> }
        loadedPayload.items.push(4)
        expect((await store.loadRun('copies'))[0]!.payload).to.deep.equal({ items: [1, 2], meta: { page: 1 } })
      })
    })

    describe('duplicates', () => {
      it('rejects a second row at the same (workflowId, seq) and keeps the original', async () => {
        const original = row('order-42', 0, { kind: 'CompensationCompletion', state: 'Fetch', payload: { attempt: 1 } })
        await store.append(original)
        const failure = await failureOf(
          store.append(
            row('order-42', 0, { kind: 'CompensationCompletion', state: 'Charge', payload: { attempt: 2 } }),
          ),
        )
        expect(failure.error).to.deep.equal({ _tag: 'CheckpointStore', message: conflictMessage('order-42', 0) })
        expect(await store.loadRun('order-42')).to.deep.equal([original])
      })

      it('accepts the same seq under another workflow id', async () => {
        await store.append(row('a', 0))
        await store.append(row('b', 0))
        expect(await store.loadRun('b')).to.deep.equal([row('b', 0)])
      })

      it('lets exactly one of two racing same-seq appends win, for every pair', async () => {
        const pairs = Array.from({ length: 20 }, (_, i) => [
          row(`race-${i}`, 0, { taskId: 'first' }),
          row(`race-${i}`, 0, { taskId: 'second' }),
        ])
        const settled = await Promise.allSettled(pairs.flat().map((r) => store.append(r)))
        for (let i = 0; i < pairs.length; i++) {
          const [a, b] = [settled[2 * i]!, settled[2 * i + 1]!]
          expect([a.status, b.status].sort()).to.deep.equal(['fulfilled', 'rejected'])
          const lost = (a.status === 'rejected' ? a : b) as PromiseRejectedResult
          expect(isCanoFailure(lost.reason)).to.equal(true)
          expect((lost.reason as CanoFailure).error.message).to.equal(conflictMessage(`race-${i}`, 0))
          const winner = a.status === 'fulfilled' ? pairs[i]![0]! : pairs[i]![1]!
          expect(await store.loadRun(`race-${i}`)).to.deep.equal([winner])
        }
      })
    })

    describe('clear', () => {
      it('removes only the given run', async () => {
        for (const id of ['keep-1', 'drop', 'keep-2']) for (const seq of [0, 1, 2]) await store.append(row(id, seq))
        await store.clear('drop')
        expect(await store.loadRun('drop')).to.deep.equal([])
        expect(await store.loadRun('keep-1')).to.have.length(3)
        expect(await store.loadRun('keep-2')).to.have.length(3)
      })

      it('resolves for an unknown id', async () => {
        await store.append(row('kept', 0))
        await store.clear('never-seen')
        expect(await store.loadRun('kept')).to.have.length(1)
      })

      it('lets a cleared id start again at seq 0', async () => {
        await store.append(row('again', 0))
        await store.clear('again')
        await store.append(row('again', 0, { state: 'Fresh' }))
        expect(await store.loadRun('again')).to.deep.equal([row('again', 0, { state: 'Fresh' })])
      })
    })

    describe('listRuns', () => {
      it('lists an empty store as no runs', async () => {
        expect(await store.listRuns()).to.deep.equal([])
      })

      it('lists runs with rows left, their last row and row count, ordered by id', async () => {
        await store.append(row('b-run', 0))
        await store.append(
          row('b-run', 1, {
            kind: 'StepCursor',
            state: 'Scan',
            payload: { cursor: null, step: 1 },
            version: 3,
            at: 1_760_000_000_000,
          }),
        )
        await store.append(row('a-run', 0, { state: 'Fetch' }))
        await store.append(row('c-run', 0))
        await store.clear('c-run')
        expect(await store.listRuns()).to.deep.equal([
          {
            workflowId: 'a-run',
            lastSeq: 0,
            lastState: 'Fetch',
            lastKind: 'StateEntry',
            version: 1,
            at: 1_700_000_000_000,
            rows: 1,
          },
          {
            workflowId: 'b-run',
            lastSeq: 1,
            lastState: 'Scan',
            lastKind: 'StepCursor',
            version: 3,
            at: 1_760_000_000_000,
            rows: 2,
          },
        ])
      })
    })

    describe('concurrency', () => {
      it('lands 500 concurrent appends across 20 ids, each run complete and ascending', async () => {
        const ids = Array.from({ length: 20 }, (_, i) => `run-${String(i).padStart(2, '0')}`)
        const rows = ids.flatMap((id) =>
          Array.from({ length: 25 }, (_, seq) =>
            row(id, seq, { kind: 'CompensationCompletion', payload: { id, seq } }),
          ),
        )
        await Promise.all(shuffled(rows, 42).map((r) => store.append(r)))
        for (const id of ids) expect(await store.loadRun(id)).to.deep.equal(rows.filter((r) => r.workflowId === id))
        const runs = await store.listRuns()
        expect(runs.map((r) => [r.workflowId, r.lastSeq, r.rows])).to.deep.equal(ids.map((id) => [id, 24, 25]))
      })

      it('serves concurrent appends, loads and clears of different ids without interference', async () => {
        await Promise.all(Array.from({ length: 10 }, (_, seq) => store.append(row('doomed', seq))))
        await Promise.all([
          ...Array.from({ length: 50 }, (_, seq) => store.append(row('growing', seq))),
          store.clear('doomed'),
          store.loadRun('growing'),
          store.listRuns(),
        ])
        expect(await store.loadRun('doomed')).to.deep.equal([])
        expect((await store.loadRun('growing')).map((r) => r.seq)).to.deep.equal(
          Array.from({ length: 50 }, (_, i) => i),
        )
      })
    })

    describe('payloads', () => {
      const payloads: ReadonlyArray<readonly [string, JsonValue]> = [
        ['null', null],
        ['a nested object', { cursor: { page: 3, seen: ['a', 'b'], filters: { active: true, tags: [] } }, n: -1.5 }],
        ['an array of mixed values', [1, 'two', false, null, { three: [3] }, []]],
        ['unicode text', { text: 'naïve café, 日本語, עברית, emoji 🚀👩‍👩‍👧, combining é', 'clé ✓': '∀x' }],
        ['escapes', { quote: '"', backslash: '\\', newline: 'a\nb\tc', control: '\u0001\u001f' }],
        ['numbers', { zero: 0, tiny: 5e-324, tenth: 0.1, large: 1e21, safe: Number.MAX_SAFE_INTEGER, neg: -42 }],
        ['a string', 'just a string'],
        ['a number', 12.75],
        ['a boolean', true],
        ['an empty object', {}],
        ['a deep chain', JSON.parse(`${'['.repeat(60)}1${']'.repeat(60)}`) as JsonValue],
      ]
      it('round-trips every kind of JSON payload unchanged', async () => {
        const rows = payloads.map(([, payload], seq) =>
          row('payloads', seq, { kind: 'CompensationCompletion', payload }),
        )
        for (const r of rows) await store.append(r)
        const loaded = await store.loadRun('payloads')
        payloads.forEach(([what], i) => expect(loaded[i]!.payload, what).to.deep.equal(rows[i]!.payload))
      })
    })

    describe('row validation', () => {
      const invalid: ReadonlyArray<readonly [string, string, Record<string, unknown>]> = [
        ['a negative seq', 'seq', { seq: -1 }],
        ['a NaN seq', 'seq', { seq: Number.NaN }],
        ['a fractional seq', 'seq', { seq: 1.5 }],
        ['an unsafe integer seq', 'seq', { seq: 2 ** 60 }],
        ['an empty workflowId', 'workflowId', { workflowId: '' }],
        ['a workflowId with a NUL character', 'workflowId', { workflowId: 'a\u0000b' }],
        ['an unknown kind', 'kind', { kind: 'Teleported' }],
        ['a function in the payload', 'payload', { payload: { f: () => 1 } }],
        ['undefined in the payload', 'payload', { payload: { missing: undefined } }],
        ['NaN in the payload', 'payload', { payload: [1, Number.NaN] }],
        ['Infinity in the payload', 'payload', { payload: { x: Number.POSITIVE_INFINITY } }],
        ['a Date in the payload', 'payload', { payload: { when: new Date(0) } }],
        ['an unpaired surrogate in the payload', 'payload', { payload: 'bad \ud800 text' }],
        ['a missing payload', 'payload', { payload: undefined }],
        ['a negative version', 'version', { version: -1 }],
        ['a time that is a string', 'at', { at: '2024-01-01' }],
        ['a state that is a number', 'state', { state: 3 }],
      ]
      for (const [what, field, patch] of invalid) {
        it(`rejects a row with ${what}, naming ${field}, and writes nothing`, async () => {
          const bad = { ...row('validated', 0), ...patch }
          const failure = await failureOf(store.append(bad))
          expect(failure.error._tag).to.equal('CheckpointStore')
          expect(failure.error.message).to.include('nothing written').and.to.include(`CheckpointRow/${field}`)
          expect((failure.error as { cause?: { _tag?: string } }).cause?._tag).to.equal('DecodeFailed')
          expect(await store.loadRun('validated')).to.deep.equal([])
          expect(await store.listRuns()).to.deep.equal([])
        })
      }

      it('rejects a cyclic payload without hanging', async () => {
        const cyclic: Record<string, unknown> = { a: 1 }
        cyclic['self'] = cyclic
        const failure = await failureOf(store.append(row('cyclic', 0, { payload: cyclic })))
        expect(failure.error.message).to.include('CheckpointRow/payload')
        expect(await store.listRuns()).to.deep.equal([])
      })

      it('does not let an invalid row in a concurrent batch fail the valid ones', async () => {
        const results = await Promise.allSettled([
          store.append(row('mixed', 0)),
          store.append({ ...row('mixed', 1), seq: -1 }),
          store.append(row('mixed', 2)),
        ])
        expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled'])
        expect((await store.loadRun('mixed')).map((r) => r.seq)).to.deep.equal([0, 2])
      })
    })

    describe('close', () => {
      it('rejects calls after close, and closing twice is fine', async () => {
        await store.append(row('closing', 0))
        await store.close()
        await store.close()
        for (const call of [
          () => store.append(row('closing', 1)),
          () => store.loadRun('closing'),
          () => store.clear('closing'),
          () => store.listRuns(),
        ]) {
          const failure = await failureOf(call())
          expect(failure.error._tag).to.equal('CheckpointStore')
          expect(failure.error.message).to.include('closed')
        }
      })
    })

    describe('corrupt rows', () => {
      // every adapter's raw storage is reachable: the in-memory store through memoryCheckpointsOver
      it('rejects loadRun with an error naming the run, the seq and the field, for each corruption', async () => {
        for (const [i, corruption] of backend.corruptions.entries()) {
          const id = `corrupt-${i}`
          await store.append(row(id, 0))
          await corruption.write(id)
          const failure = await failureOf(store.loadRun(id))
          expect(failure.error._tag, corruption.title).to.equal('CheckpointStore')
          expect(failure.error.message, corruption.title)
            .to.include(`workflow ${JSON.stringify(id)}`)
            .and.to.include(`sequence ${corruption.seq}`)
            .and.to.include(corruption.field)
          const cause = (failure.error as { cause?: { _tag?: string; errors?: ReadonlyArray<string> } }).cause
          expect(cause?._tag, corruption.title).to.equal('DecodeFailed')
          expect(cause?.errors?.join('\n'), corruption.title).to.include(corruption.field)
        }
        expect(backend.corruptions).to.not.be.empty
      })

      it('keeps serving the other runs after a corrupt row is read', async () => {
        const corruption = backend.corruptions[0]!
        await store.append(row('healthy', 0))
        await store.append(row('broken', 0))
        await corruption.write('broken')
        await failureOf(store.loadRun('broken'))
        expect(await store.loadRun('healthy')).to.deep.equal([row('healthy', 0)])
        await store.clear('broken')
        expect(await store.listRuns()).to.deep.equal([
          {
            workflowId: 'healthy',
            lastSeq: 0,
            lastState: 'S0',
            lastKind: 'StateEntry',
            version: 1,
            at: 1_700_000_000_000,
            rows: 1,
          },
        ])
      })

      it('rejects listRuns naming the run and seq when the last row is corrupt', async () => {
        const corruption = backend.corruptions.find((c) => c.field === 'kind')!
        await store.append(row('broken-last', 0))
        await corruption.write('broken-last')
        const failure = await failureOf(store.listRuns())
        expect(failure.error.message).to.include('workflow "broken-last"').and.to.include(`sequence ${corruption.seq}`)
      })
    })

    describe('shared storage', () => {
      if (adapter === memory) return
      it('sees rows appended through another handle and rejects duplicates across handles', async () => {
        const other = backend.reopen!()
        await store.append(row('shared', 0))
        await other.append(row('shared', 1))
        const failure = await failureOf(other.append(row('shared', 0, { state: 'Intruder' })))
        expect(failure.error.message).to.equal(conflictMessage('shared', 0))
        expect(await store.loadRun('shared')).to.deep.equal([row('shared', 0), row('shared', 1)])
      })

      it('lets exactly one of two handles win each racing seq', async () => {
        const other = backend.reopen!()
        await Promise.all([store.loadRun('warm-up'), other.loadRun('warm-up')])
        const left = Array.from({ length: 50 }, (_, seq) => store.append(row('contended', seq, { taskId: 'left' })))
        const right = Array.from({ length: 50 }, (_, seq) => other.append(row('contended', seq, { taskId: 'right' })))
        const [l, r] = await Promise.all([Promise.allSettled(left), Promise.allSettled(right)])
        const stored = await store.loadRun('contended')
        expect(stored.map((s) => s.seq)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i))
        for (let seq = 0; seq < 50; seq++) {
          const winners = [l[seq]!.status, r[seq]!.status].filter((s) => s === 'fulfilled')
          expect(winners, `seq ${seq}`).to.have.length(1)
          expect(stored[seq]!.taskId).to.equal(l[seq]!.status === 'fulfilled' ? 'left' : 'right')
        }
      })

      it('writes appends made before close', async () => {
        const appended = Promise.all([store.append(row('late', 0)), store.append(row('late', 1))])
        await store.close()
        await appended
        expect(await backend.reopen!().loadRun('late')).to.have.length(2)
      })
    })
  })
}

// -------------------------------------------------------------------------------------
// adapter-specific behaviour
// -------------------------------------------------------------------------------------

describe('sqliteCheckpoints', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cano-ckpt-sqlite-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('creates the parent directory and the file in WAL mode on first use, not at call time', async () => {
    const file = join(dir, 'nested', 'deeper', 'checkpoints.db')
    const store = sqliteCheckpoints(file)
    expect(existsSync(file)).to.equal(false)
    await store.append(row('wal', 0))
    await store.close()
    const db = new Database(file, { readonly: true })
    try {
      expect(db.pragma('journal_mode', { simple: true })).to.equal('wal')
      expect(db.prepare('SELECT count(*) AS n FROM cano_checkpoints').get()).to.deep.equal({ n: 1 })
    } finally {
      db.close()
    }
  })

  it('rejects invalid options at call time with a Configuration error', () => {
    const bad: ReadonlyArray<() => unknown> = [
      () => sqliteCheckpoints(join(dir, 'x.db'), { synchronous: 'EXTRA' as 'FULL' }),
      () => sqliteCheckpoints(join(dir, 'x.db'), { busyTimeoutMs: -1 }),
      () => sqliteCheckpoints(join(dir, 'x.db'), { busyTimeoutMs: Number.NaN }),
      () => sqliteCheckpoints(''),
    ]
    for (const make of bad) {
      let thrown: unknown
      try {
        make()
      } catch (e: unknown) {
        thrown = e
      }
      expect(isCanoFailure(thrown) && thrown.error._tag).to.equal('Configuration')
    }
  })

  it('reports a file it cannot open as a CheckpointStore error, without crashing', async () => {
    const store = sqliteCheckpoints(join(dir, 'not-a-db'))
    // A directory where the file should be: SQLite cannot open it.
    const { mkdirSync } = await import('node:fs')
    mkdirSync(join(dir, 'not-a-db'))
    const failure = await failureOf(store.append(row('x', 0)))
    expect(failure.error._tag).to.equal('CheckpointStore')
    expect(failure.error.message).to.include('sqliteCheckpoints')
    await store.close()
  })

  it('accepts each synchronous mode', async () => {
    for (const synchronous of ['FULL', 'NORMAL', 'OFF'] as const) {
      const store = sqliteCheckpoints(join(dir, `${synchronous}.db`), { synchronous })
      await store.append(row('sync', 0))
      expect(await store.loadRun('sync')).to.have.length(1)
      await store.close()
    }
  })
})

describe('postgresCheckpoints', () => {
  let pool: pg.Pool
  before(() => {
    pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
  })
  after(() => pool.end())

  it('leaves a pool it was given open on close', async () => {
    const table = `cano_given_pool_${process.pid}_${randomUUID().replace(/-/g, '')}`
    const store = postgresCheckpoints({ pool, table })
    try {
      await store.append(row('given', 0))
      await store.close()
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
      expect(rows).to.deep.equal([{ n: '1' }])
    } finally {
      await pool.query(`DROP TABLE IF EXISTS ${table}`)
    }
  })

  it('creates the table with a primary key on (workflow_id, seq) and a jsonb payload', async () => {
    const table = `cano_schema_${process.pid}_${randomUUID().replace(/-/g, '')}`
    const store = postgresCheckpoints({ pool, table })
    try {
      await store.listRuns()
      const { rows: columns } = await pool.query<{ column_name: string; data_type: string }>(
        'SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
        [table],
      )
      expect(columns.map((c) => [c.column_name, c.data_type])).to.deep.equal([
        ['workflow_id', 'text'],
        ['seq', 'bigint'],
        ['kind', 'text'],
        ['state', 'text'],
        ['task_id', 'text'],
        ['payload', 'jsonb'],
        ['version', 'bigint'],
        ['at', 'bigint'],
      ])
      const { rows: key } = await pool.query<{ cols: string }>(
        `SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum)) AS cols
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = $1::regclass AND i.indisprimary`,
        [table],
      )
      expect(key).to.deep.equal([{ cols: 'workflow_id,seq' }])
    } finally {
      await store.close()
      await pool.query(`DROP TABLE IF EXISTS ${table}`)
    }
  })

  it('creates the schema once when many stores start at the same moment', async () => {
    const table = `cano_schema_race_${process.pid}_${randomUUID().replace(/-/g, '')}`
    const stores = Array.from({ length: 8 }, () => postgresCheckpoints({ connectionString: PG_URL, table }))
    try {
      await Promise.all(stores.map((s, i) => s.append(row(`starter-${i}`, 0))))
      expect(await stores[0]!.listRuns()).to.have.length(8)
    } finally {
      for (const s of stores) await s.close()
      await pool.query(`DROP TABLE IF EXISTS ${table}`)
    }
  })

  it('rejects an unsafe table name at call time with a Configuration error', () => {
    for (const table of ['x; DROP TABLE y', 'a.b.c', '"quoted"', '', '1abc']) {
      let thrown: unknown
      try {
        postgresCheckpoints({ pool, table })
      } catch (e: unknown) {
        thrown = e
      }
      expect(isCanoFailure(thrown) && thrown.error._tag, table).to.equal('Configuration')
    }
  })

  it('reports an unreachable server as a CheckpointStore error', async () => {
    const store = postgresCheckpoints({ connectionString: 'postgres://postgres@127.0.0.1:1/none' })
    const failure = await failureOf(store.append(row('x', 0)))
    expect(failure.error._tag).to.equal('CheckpointStore')
    expect(failure.error.message).to.include('postgresCheckpoints')
    await store.close()
  })
})
