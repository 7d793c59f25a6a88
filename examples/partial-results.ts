/**
 * Partial results: price quotes from six suppliers, two of which fail. `partialResults(3)` proceeds
 * as soon as three quotes are in and cancels the rest; the join state picks the cheapest from
 * `ctx.split`. With `partialResults(5)` the same split fails as soon as five can no longer succeed.
 *
 *   npx tsx examples/partial-results.ts
 */
import { Branch, describeCanoError, isCanoFailure, JoinStrategy, RetryMode, workflow } from '../roots/index.js'

const quote =
  (supplier: string, cents: number | undefined, ms: number) =>
  ({ signal }: { readonly signal: AbortSignal }): Promise<{ supplier: string; cents: number }> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => (cents === undefined ? reject(new Error(`${supplier} is down`)) : resolve({ supplier, cents })),
        ms,
      )
      signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('not needed'))), { once: true })
    })

const suppliers = [
  quote('acme', 1_250, 10),
  quote('globex', undefined, 15),
  quote('initech', 990, 20),
  quote('umbrella', undefined, 25),
  quote('hooli', 1_100, 30),
  quote('stark', 1_500, 500),
].map((q) => Branch.of(q, { retry: RetryMode.none() }))

const cheapest = (min: number) =>
  workflow<'Quote' | 'Pick' | 'Done'>()({
    exits: ['Done'],
    states: ({ split, task }) => ({
      Quote: split(suppliers, { strategy: JoinStrategy.partialResults(min), join: 'Pick', timeoutMs: 1_000 }),
      Pick: task(({ split: r }) => {
        const quotes = (r?.branches ?? []).flatMap((b) =>
          b._tag === 'Succeeded' ? [b.value as { supplier: string; cents: number }] : [],
        )
        const best = quotes.reduce((a, b) => (b.cents < a.cents ? b : a))
        console.log(`partialResults(${min}): ${quotes.length} quotes, cheapest ${best.supplier} at ${best.cents} cents`)
        return 'Done' as const
      }),
    }),
  })

await cheapest(3).orchestrate('Quote')
await cheapest(5)
  .orchestrate('Quote')
  .catch((e: unknown) => console.log(`partialResults(5): ${isCanoFailure(e) ? describeCanoError(e.error) : String(e)}`))
