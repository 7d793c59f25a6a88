/**
 * Split / join: an ETL fan-out. Extract customers from three sources in parallel and go on as soon
 * as two of them answered (`quorum(2)`); the third source is flaky and slow, so it is retried once
 * and then cancelled when the quorum is reached (its signal aborts, its timer is cleared). The join
 * state reads what each branch did from `ctx.split` and transforms the rows it got.
 *
 *   npx tsx examples/split-etl.ts
 *
 * Extract (split: crm, billing, legacy) -> Transform -> Load -> Done, or Failed.
 * The sources are in-process fakes with fixed latencies, so every run prints the same lines.
 */
import {
  Branch,
  describeCanoError,
  JoinStrategy,
  MemoryStore,
  Resources,
  RetryMode,
  workflow,
  type WorkflowEvent,
} from '../roots/index.js'

type Step = 'Extract' | 'Transform' | 'Load' | 'Done' | 'Failed'

interface Customer {
  readonly id: number
  readonly name: string
  readonly source: string
}

/** Settles after `ms` with `outcome()` (a throw rejects), unless `signal` aborts first: then rejects with its reason. */
const after = <A>(ms: number, signal: AbortSignal, outcome: () => A): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason as Error)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      try {
        resolve(outcome())
      } catch (e: unknown) {
        reject(e)
      }
    }, ms)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })

/** Three customer sources: two healthy ones, and a legacy one that resets the first connection and then crawls. */
const createSources = () => {
  let legacyCalls = 0
  const rows = (source: string, ids: ReadonlyArray<number>): Customer[] =>
    ids.map((id) => ({ id, name: `customer-${id}`, source }))
  return {
    crm: (signal: AbortSignal) => after(15, signal, () => rows('crm', [1, 2, 3])),
    billing: (signal: AbortSignal) => after(40, signal, () => rows('billing', [2, 3, 4])),
    legacy: (signal: AbortSignal) => {
      legacyCalls += 1
      return legacyCalls === 1
        ? after(5, signal, (): Customer[] => {
            throw new Error('legacy: connection reset')
          })
        : after(5_000, signal, () => rows('legacy', [5]))
    },
  }
}

const store = new MemoryStore()

const flow = workflow<Step>()({
  resources: Resources.of({ sources: createSources(), store }),
  exits: ['Done', 'Failed'],
  states: ({ task, split }) => ({
    Extract: split(
      [
        ({ res, signal }) => res.get('sources').crm(signal),
        ({ res, signal }) => res.get('sources').billing(signal),
        // the flaky source has its own policy: one retry after 20 ms, each attempt bounded to 10 s
        Branch.of(({ res, signal }) => res.get('sources').legacy(signal), {
          retry: RetryMode.fixed(1, 20),
          attemptTimeoutMs: 10_000,
        }),
      ],
      { strategy: JoinStrategy.quorum(2), join: 'Transform', timeoutMs: 1_000 },
    ),
    Transform: task(({ split: result, res }) => {
      if (result === undefined) return 'Failed'
      const byId = new Map<number, Customer>()
      for (const b of result.branches) {
        if (b._tag === 'Succeeded') {
          for (const c of b.value as ReadonlyArray<Customer>) if (!byId.has(c.id)) byId.set(c.id, c)
        } else if (b._tag === 'Failed') console.log(`   branch ${b.index} failed: ${describeCanoError(b.error)}`)
        else console.log(`   branch ${b.index} was cancelled: the quorum did not need it`)
      }
      const customers = [...byId.values()].sort((a, b) => a.id - b.id)
      res.get('store').put('customers', customers)
      console.log(
        `   ${result.successes} of ${result.branches.length} sources answered; ${customers.length} distinct customers`,
      )
      return 'Load'
    }),
    Load: task(({ res }) => {
      const customers = res.get('store').get('customers') as ReadonlyArray<Customer>
      console.log(`   loaded ${customers.map((c) => `${c.id}:${c.source}`).join(', ')}`)
      return 'Done'
    }),
  }),
})

const show = (e: WorkflowEvent<Step>): string | undefined => {
  switch (e._tag) {
    case 'StateEntered':
      return `-> ${e.state}`
    case 'TaskStarted':
      return e.taskId.includes('[') ? `   ${e.taskId} started` : undefined
    case 'AttemptFailed':
      return `   ${e.taskId} attempt ${e.attempt} failed: ${describeCanoError(e.error)}`
    case 'RetryScheduled':
      return `   ${e.taskId} retries in ${e.delayMs} ms`
    case 'SplitBranchSettled':
      return `   ${e.taskId} ${e.outcome._tag.toLowerCase()}`
    case 'RunCompleted':
      return `final state ${e.state}`
    case 'RunFailed':
    case 'RunCancelled':
    case 'RunTimedOut':
      return `${e._tag}: ${describeCanoError(e.error)}`
    default:
      return undefined
  }
}

const started = Date.now()
let final: WorkflowEvent<Step> | undefined
await flow.run$('Extract', { workflowId: 'etl-1' }).forEach((e) => {
  final = e
  const line = show(e)
  if (line !== undefined) console.log(line)
})
console.log(`took ${Date.now() - started < 1_000 ? 'well under a second' : 'too long'}`)
process.exitCode = final?._tag === 'RunCompleted' && final.state === 'Done' ? 0 : 1
