/**
 * Router: a state that only decides where to go. Orders are routed by amount and country; the router
 * does no work, so it has no retries of its own (cano's `RouterTask`).
 *
 *   npx tsx examples/router.ts
 *
 * Route -> Express | Standard | Review -> Done
 */
import { Resources, workflow } from '../roots/index.js'

type Step = 'Route' | 'Express' | 'Standard' | 'Review' | 'Done'

interface Order {
  readonly id: string
  readonly cents: number
  readonly country: string
}

const run = async (order: Order): Promise<string> => {
  const visited: Step[] = []
  const flow = workflow<Step>()({
    resources: Resources.of({ order }),
    exits: ['Done'],
    states: ({ router, task }) => ({
      Route: router(
        ({ res }) => {
          const { cents, country } = res.get('order')
          if (cents > 100_000) return 'Review'
          return country === 'PT' ? 'Express' : 'Standard'
        },
        { to: ['Express', 'Standard', 'Review'] },
      ),
      Express: task(() => 'Done' as const),
      Standard: task(() => 'Done' as const),
      Review: task(() => 'Done' as const),
    }),
  })
  await flow.orchestrate('Route', { observers: [{ onStateEnter: (s) => visited.push(s) }] })
  return `${order.id}: ${visited.join(' -> ')}`
}

for (const order of [
  { id: 'o-1', cents: 2_500, country: 'PT' },
  { id: 'o-2', cents: 2_500, country: 'FR' },
  { id: 'o-3', cents: 250_000, country: 'PT' },
]) {
  console.log(await run(order))
}
console.log('routed 3 orders')
