/**
 * A custom checkpoint store: the `CheckpointStore` interface implemented over a JSON file (one file,
 * rewritten on each append: fine for a demo, not for production). A run is interrupted in its third
 * state, then resumed from the file: the states before it do not run again.
 *
 *   npx tsx examples/custom-store.ts
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import * as E from 'fp-ts/lib/Either.js'

import {
  CanoFailure,
  checkpointConflictError,
  CheckpointRow,
  type CheckpointStore,
  checkpointStoreError,
  type RunSummary,
  workflow,
} from '../roots/index.js'

const jsonFileCheckpoints = (file: string): CheckpointStore => {
  let closed = false
  const read = (): CheckpointRow[] => {
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown[]
      return raw.map((r) => {
        const row = CheckpointRow.decode(r)
        if (E.isLeft(row)) throw new CanoFailure(checkpointStoreError(`row in ${file} does not decode`))
        return row.right
      })
    } catch (e: unknown) {
      if ((e as { code?: string }).code === 'ENOENT') return []
      throw e
    }
  }
  const write = (rows: ReadonlyArray<CheckpointRow>): void => writeFileSync(file, JSON.stringify(rows))
  const open = (): void => {
    if (closed) throw new CanoFailure(checkpointStoreError('store is closed'))
  }
  return {
    append: async (row) => {
      open()
      const rows = read()
      if (rows.some((r) => r.workflowId === row.workflowId && r.seq === row.seq))
        throw new CanoFailure(checkpointConflictError(row.workflowId, row.seq))
      write([...rows, row])
    },
    loadRun: async (id) => (
      open(),
      read()
        .filter((r) => r.workflowId === id)
        .sort((a, b) => a.seq - b.seq)
    ),
    clear: async (id) => (open(), write(read().filter((r) => r.workflowId !== id))),
    listRuns: async () => {
      open()
      const byRun = new Map<string, CheckpointRow[]>()
      for (const r of read()) byRun.set(r.workflowId, [...(byRun.get(r.workflowId) ?? []), r])
      return [...byRun.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([workflowId, rows]): RunSummary => {
          const last = rows.reduce((a, b) => (b.seq > a.seq ? b : a))
          const { seq, state, kind, version, at } = last
          return { workflowId, lastSeq: seq, lastState: state, lastKind: kind, version, at, rows: rows.length }
        })
    },
    close: async () => {
      closed = true
    },
  }
}

const dir = mkdtempSync(join(tmpdir(), 'cano-rx-custom-store-'))
const store = jsonFileCheckpoints(join(dir, 'checkpoints.json'))
let crash = true
const ran: string[] = []

type Step = 'Fetch' | 'Transform' | 'Load' | 'Done'
const flow = workflow<Step>()({
  checkpoints: store,
  exits: ['Done'],
  states: ({ task }) => ({
    Fetch: task(() => (ran.push('Fetch'), 'Transform' as const)),
    Transform: task(() => (ran.push('Transform'), 'Load' as const)),
    Load: task(({ signal }) => {
      ran.push('Load')
      // the first time, the process "dies" here: the run is abandoned with its log kept
      return crash
        ? new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
        : 'Done'
    }),
  }),
})

const controller = new AbortController()
const first = flow.orchestrate('Fetch', { workflowId: 'etl-1', signal: controller.signal }).catch(() => 'interrupted')
setTimeout(() => controller.abort(), 100)
console.log(`first run: ${await first}; ran ${ran.join(', ')}`)
console.log(`stored runs: ${(await store.listRuns()).map((r) => `${r.workflowId} at ${r.lastState}`).join(', ')}`)

crash = false
ran.length = 0
const state = await flow.resume('etl-1')
console.log(`resumed run: ${state}; ran ${ran.join(', ')}`)
console.log(`stored runs after it: ${(await store.listRuns()).length}`)
await store.close()
rmSync(dir, { recursive: true, force: true })
