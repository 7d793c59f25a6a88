/**
 * A tour of the processing models in one workflow: task, poll, batch, stepped, stream and split, one
 * state each, passing a running total through a `MemoryStore`.
 *
 *   npx tsx examples/tour.ts
 *
 * Start (task) -> Wait (poll) -> Square (batch) -> Page (stepped) -> Ingest (stream) -> Fan (split) -> Done
 */
import * as t from 'io-ts'
import { from } from 'rxjs'

import {
  JoinStrategy,
  MemoryStore,
  PollOutcome,
  Resources,
  StepOutcome,
  WindowSignal,
  workflow,
} from '../roots/index.js'

type Step = 'Start' | 'Wait' | 'Square' | 'Page' | 'Ingest' | 'Fan' | 'Sum' | 'Done'

const store = new MemoryStore()
store.put('total', 0)
const add = (kind: string, n: number): void => {
  store.put('total', (store.get('total') as number) + n)
  console.log(`${kind.padEnd(8)} +${n}`)
}
let polls = 0

const flow = workflow<Step>()({
  resources: Resources.of({ store }),
  exits: ['Done'],
  states: ({ task, poll, batch, stepped, stream, split }) => ({
    // task: one unit of work, then the next state
    Start: task(() => (add('task', 1), 'Wait' as const)),
    // poll: ask until ready, waiting between answers
    Wait: poll(() =>
      ++polls < 3 ? PollOutcome.pending(10) : (add('poll', polls), PollOutcome.ready('Square' as const)),
    ),
    // batch: load items, process them concurrently, then decide from the results
    Square: batch({
      load: () => [1, 2, 3],
      processItem: async (n: number) => n * n,
      finish: (results) => {
        add(
          'batch',
          results.reduce((sum, r) => sum + (r._tag === 'Ok' ? r.value : 0), 0),
        )
        return 'Page' as const
      },
      concurrency: 2,
    }),
    // stepped: a loop with a typed, persisted cursor
    Page: stepped({
      cursor: t.number,
      step: async (_ctx, page) => {
        const next = (page ?? 0) + 1
        if (next < 4) return StepOutcome.more(next)
        add('stepped', next)
        return StepOutcome.done('Ingest' as const)
      },
    }),
    // stream: items from an Observable or AsyncIterable, handled in windows
    Ingest: stream({
      source: () => from([5, 5, 5, 5]),
      window: { count: 2 },
      onWindow: async (items: ReadonlyArray<number>) => (
        add(
          'stream',
          items.reduce((a, b) => a + b, 0),
        ),
        WindowSignal.continue()
      ),
      onClose: () => 'Fan' as const,
    }),
    // split: branches in parallel, joined by a strategy
    Fan: split([async () => 100, async () => 200], { strategy: JoinStrategy.all(), join: 'Sum' }),
    Sum: task(({ split: r }) => {
      add(
        'split',
        (r?.branches ?? []).reduce((s, b) => s + (b._tag === 'Succeeded' ? (b.value as number) : 0), 0),
      )
      return 'Done' as const
    }),
  }),
})

await flow.orchestrate('Start')
console.log(`total ${String(store.get('total'))}`)
