/**
 * Join strategies: one split of four branches (answering after 10, 20, 30 and 40 ms; the third
 * fails, with no retry) joined by each strategy in turn. Each line shows when the join decided and how many branches
 * succeeded, failed or were cancelled because the strategy no longer needed them. The deadline is 35 ms.
 *
 *   npx tsx examples/join-strategies.ts
 */
import { Branch, describeCanoError, isCanoFailure, JoinStrategy, RetryMode, workflow } from '../roots/index.js'

type Step = 'Fan' | 'Join' | 'Done'

const branch =
  (ms: number, fails = false) =>
  ({ signal }: { readonly signal: AbortSignal }): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => (fails ? reject(new Error(`branch ${ms} failed`)) : resolve(ms)), ms)
      signal.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('cancelled'))), { once: true })
    })

const strategies: ReadonlyArray<readonly [string, JoinStrategy]> = [
  ['all', JoinStrategy.all()],
  ['any', JoinStrategy.any()],
  ['quorum(2)', JoinStrategy.quorum(2)],
  ['percentage(0.5)', JoinStrategy.percentage(0.5)],
  ['partialResults(3)', JoinStrategy.partialResults(3)],
  ['partialTimeout()', JoinStrategy.partialTimeout()],
]

for (const [name, strategy] of strategies) {
  const flow = workflow<Step>()({
    exits: ['Done'],
    states: ({ split, task }) => ({
      Fan: split([branch(10), branch(20), Branch.of(branch(30, true), { retry: RetryMode.none() }), branch(40)], {
        strategy,
        join: 'Join',
        timeoutMs: 35,
      }),
      Join: task(({ split: r }) => {
        const count = (tag: string): number => r?.branches.filter((b) => b._tag === tag).length ?? 0
        console.log(
          `${name.padEnd(18)} proceeds: ${count('Succeeded')} succeeded, ${count('Failed')} failed, ${count('Cancelled')} cancelled`,
        )
        return 'Done' as const
      }),
    }),
  })
  await flow
    .orchestrate('Fan')
    .catch((e: unknown) =>
      console.log(`${name.padEnd(18)} fails: ${isCanoFailure(e) ? describeCanoError(e.error) : String(e)}`),
    )
}
console.log('every strategy tried')
