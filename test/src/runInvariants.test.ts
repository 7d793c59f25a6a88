/**
 * Property tests of the run driver: random workflows (synchronous, Promise, Observable, throwing and
 * rejecting tasks, slow tasks that give up when their signal fires, timers, short stepped loops) run with random cancellation and total timeouts, in
 * real time. Whatever happens, every run keeps the driver's invariants: one terminal event, last;
 * observers see exactly what `run$` sees; resources set up at most once and torn down once if set up;
 * no listener left on the caller's signal; `orchestrate` agrees with `run$` when nothing interrupts.
 */
import { getEventListeners } from 'node:events'

import { expect } from 'chai'
import fc from 'fast-check'
import * as t from 'io-ts'
import { lastValueFrom, of, throwError, toArray } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { CanoFailure } from '../../src/CanoError.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import { sleep } from '../../src/Sleep.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'

type Step = 'S0' | 'S1' | 'S2' | 'S3' | 'Done'
const WORK: ReadonlyArray<Exclude<Step, 'Done'>> = ['S0', 'S1', 'S2', 'S3']
const TERMINAL = new Set(['RunCompleted', 'RunFailed', 'RunCancelled', 'RunTimedOut'])

type Kind = 'sync' | 'promise' | 'observable' | 'throw' | 'reject' | 'slow' | 'timer' | 'stepped'

interface Plan {
  readonly kinds: ReadonlyArray<Kind>
  /** Next state of each state, as an index into WORK; after `budget` visits every state goes to Done. */
  readonly next: ReadonlyArray<number>
  readonly budget: number
  readonly resources: boolean
  /** Abort the caller's signal after this many ms (undefined: never; 0: before the run starts). */
  readonly abortAfterMs: number | undefined
  readonly totalTimeoutMs: number | undefined
}

const plans: fc.Arbitrary<Plan> = fc.record({
  kinds: fc.array(
    fc.constantFrom<Kind>('sync', 'promise', 'observable', 'throw', 'reject', 'slow', 'timer', 'stepped'),
    {
      minLength: 4,
      maxLength: 4,
    },
  ),
  next: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
  budget: fc.integer({ min: 0, max: 12 }),
  resources: fc.boolean(),
  abortAfterMs: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  totalTimeoutMs: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
})

/** The workflow a plan describes, with a log of resource setups and teardowns. */
const build = (plan: Plan, seen: WorkflowEvent<Step>[] | undefined) => {
  const log: string[] = []
  let visits = 0
  const target = (i: number): Step => (++visits > plan.budget ? 'Done' : (WORK[plan.next[i] ?? 0] ?? 'Done'))
  const stateOf = (kind: Kind, i: number) => {
    switch (kind) {
      case 'sync':
        return task(() => target(i), { retry: RetryMode.none() })
      case 'promise':
        return task(() => Promise.resolve().then(() => target(i)), { retry: RetryMode.none() })
      case 'observable':
        return task(() => of(target(i)), { retry: RetryMode.none() })
      case 'throw':
        return task(
          (): Step => {
            throw new Error(`throw in ${i}`)
          },
          { retry: RetryMode.fixed(1, 0) },
        )
      case 'reject':
        return task(() => throwError(() => new Error(`reject in ${i}`)), { retry: RetryMode.none() })
      case 'slow':
        // 2 ms of work that gives up (rejects) when its signal fires
        return task(
          (ctx) =>
            new Promise<Step>((resolve, reject) => {
              const h = setTimeout(() => resolve(target(i)), 2)
              ctx.signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(h)
                  reject(new Error('aborted'))
                },
                { once: true },
              )
            }),
          { retry: RetryMode.none() },
        )
      case 'timer':
        // a timer's target is fixed at definition: it ends the run, so a cycle of timers cannot run forever
        return sleep({ wait: 1, then: 'Done' })
      case 'stepped':
        return stepped({
          cursor: t.number,
          step: (_ctx, c: number | undefined) =>
            (c ?? 0) >= 3 ? StepOutcome.done(target(i)) : StepOutcome.more((c ?? 0) + 1),
        })
    }
  }
  const flow = workflow<Step>()({
    exits: ['Done'],
    ...(plan.resources
      ? {
          resources: Resources.of({
            r: { setup: () => void log.push('setup'), teardown: () => void log.push('teardown') },
          }),
        }
      : {}),
    ...(plan.totalTimeoutMs === undefined ? {} : { totalTimeoutMs: plan.totalTimeoutMs }),
    ...(seen === undefined ? {} : { observers: [{ onEvent: (e: WorkflowEvent<Step>) => seen.push(e) }] }),
    states: {
      S0: stateOf(plan.kinds[0] ?? 'sync', 0),
      S1: stateOf(plan.kinds[1] ?? 'sync', 1),
      S2: stateOf(plan.kinds[2] ?? 'sync', 2),
      S3: stateOf(plan.kinds[3] ?? 'sync', 3),
    },
  })
  return { flow, log }
}

const signalFor = (plan: Plan): AbortController => {
  const ac = new AbortController()
  if (plan.abortAfterMs === 0) ac.abort()
  else if (plan.abortAfterMs !== undefined) setTimeout(() => ac.abort(), plan.abortAfterMs)
  return ac
}

describe('run driver invariants (random workflows, real time)', () => {
  it('every run$ ends with exactly one terminal event, last, and observers see the same events', async function () {
    this.timeout(60_000)
    await fc.assert(
      fc.asyncProperty(plans, async (plan) => {
        const seen: WorkflowEvent<Step>[] = []
        const { flow, log } = build(plan, seen)
        const ac = signalFor(plan)
        const events = await lastValueFrom(flow.run$('S0', { workflowId: 'inv', signal: ac.signal }).pipe(toArray()))
        await new Promise((r) => setImmediate(r))
        expect(events[0]?._tag).to.equal('RunStarted')
        expect(events.filter((e) => TERMINAL.has(e._tag))).to.have.length(1)
        expect(TERMINAL.has(events.at(-1)?._tag ?? '')).to.equal(true)
        expect(seen).to.deep.equal(events)
        const end = events.at(-1)
        if (end?._tag === 'RunCompleted')
          expect(end.transitions).to.equal(events.filter((e) => e._tag === 'StateEntered').length)
        if (plan.resources) {
          const setups = log.filter((l) => l === 'setup').length
          expect(setups).to.equal(1)
          expect(log).to.deep.equal(['setup', 'teardown'])
        } else expect(log).to.deep.equal([])
        expect(getEventListeners(ac.signal, 'abort')).to.have.length(0)
      }),
      { numRuns: 150 },
    )
  })

  it('orchestrate agrees with run$ when nothing interrupts the run', async function () {
    this.timeout(60_000)
    await fc.assert(
      fc.asyncProperty(
        plans.map((p) => ({ ...p, abortAfterMs: undefined, totalTimeoutMs: undefined })),
        async (plan) => {
          const viaEvents = await lastValueFrom(build(plan, undefined).flow.run$('S0', { workflowId: 'a' }))
          const viaPromise = await build(plan, undefined)
            .flow.orchestrate('S0', { workflowId: 'b' })
            .then(
              (s) => ({ _tag: 'RunCompleted', state: s }),
              (e: unknown) => ({ _tag: 'RunFailed', error: e instanceof CanoFailure ? e.error : e }),
            )
          expect(viaPromise._tag).to.equal(viaEvents._tag)
          if (viaEvents._tag === 'RunCompleted')
            expect(viaPromise).to.deep.equal({ _tag: 'RunCompleted', state: viaEvents.state })
          if (viaEvents._tag === 'RunFailed') expect(viaPromise).to.deep.include({ error: viaEvents.error })
        },
      ),
      { numRuns: 150 },
    )
  })
})
