/**
 * A poll state with a circuit breaker, a rate limiter, an attempt timeout or an `aroundAttempt`: attempt 1
 * (the whole poll loop) takes its token, its permit and its deadline, and runs inside `aroundAttempt`, as the
 * retry loop does; the events, their order and times, and the effects on the breaker and the limiter are
 * those of the retry loop's path (the expected values were recorded on it).
 */
import { readFileSync, writeFileSync } from 'node:fs'

import { expect } from 'chai'
import { asyncScheduler, concat, defer, ignoreElements, type Observable, takeUntil, timer } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { poll, PollErrorPolicy, PollOutcome } from '../../src/Poll.js'
import { RetryMode } from '../../src/RetryMode.js'
import type { TaskConfig } from '../../src/TaskConfig.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { AttemptScope } from '../../src/WorkflowObserver.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { createVirtualClock, testScheduler } from '../helpers/virtualTime.js'

type Step = 'Wait' | 'Done'

const clock = (): number => asyncScheduler.now()

/** A poll answering from a script, recording the virtual time of each call and whether its signal was aborted. */
const scripted = (script: ReadonlyArray<'error' | number | 'ready'>, calls: Array<number | string>) => {
  let i = 0
  return (ctx: { readonly attempt: number; readonly signal: AbortSignal }) => {
    calls.push(`${ctx.attempt}@${clock()}${ctx.signal.aborted ? ' aborted' : ''}`)
    const next = script[Math.min(i++, script.length - 1)]
    if (next === 'error') throw new Error(`poll error ${i}`)
    return next === 'ready' ? PollOutcome.ready('Done' as const) : PollOutcome.pending(next ?? 0)
  }
}

/** Events as plain data (errors included), to compare with the recorded ones. */
const plain = (events: unknown): unknown => JSON.parse(JSON.stringify(events))

interface Case {
  readonly script: ReadonlyArray<'error' | number | 'ready'>
  readonly config: TaskConfig
  readonly onError?: PollErrorPolicy
  /** The run starts this late (virtual ms). */
  readonly startAt?: number
  /** The run is released this late (virtual ms). */
  readonly releaseAt?: number
  readonly around?: boolean
}

/**
 * Runs one case on the virtual clock: the poll's calls, the events, the scopes `aroundAttempt` saw, when it
 * entered and left, and `after()` read at the end (the breaker or the limiter).
 */
const run = (make: () => { readonly c: Case; readonly after: () => unknown }): unknown => {
  const calls: Array<number | string> = []
  const scopes: AttemptScope[] = []
  const inside: string[] = []
  const events: Array<WorkflowEvent<Step>> = []
  let after: unknown
  testScheduler().run(({ flush }) => {
    // the breaker and the limiter are made here, on the virtual clock (asyncScheduler is patched inside run)
    const m = make()
    const c = m.c
    const run$: Observable<WorkflowEvent<Step>> = workflow<Step>()({
      exits: ['Done'],
      states: {
        Wait: poll(scripted(c.script, calls), {
          ...c.config,
          ...(c.onError === undefined ? {} : { onError: c.onError }),
        }),
      },
      observers:
        c.around === true
          ? [
              {
                aroundAttempt: (scope, start) => {
                  scopes.push(scope)
                  inside.push(`enter ${scope.attempt}@${clock()}`)
                  start()
                  inside.push(`leave ${scope.attempt}@${clock()}`)
                },
              },
            ]
          : [],
    }).run$('Wait', { workflowId: 'pp' })
    const started =
      c.startAt === undefined
        ? run$
        : concat(
            timer(c.startAt).pipe(ignoreElements()),
            defer(() => run$),
          )
    const sub = (c.releaseAt === undefined ? started : started.pipe(takeUntil(timer(c.releaseAt)))).subscribe((e) =>
      events.push(e),
    )
    flush()
    sub.unsubscribe()
    after = m.after()
  })
  return plain({ calls, events, scopes, inside, after })
}

/** A breaker opened at 0 by one failure (it is half-open from `resetTimeoutMs`). */
const openBreaker = (resetTimeoutMs: number) => {
  const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs })
  const trial = breaker.tryAcquire()
  if (trial._tag === 'Right') trial.right.failure()
  return breaker
}

/** The cases, each built inside the virtual clock; `after` is what is left of the breaker or limiter once the run ended. */
const cases: Record<string, () => { readonly c: Case; readonly after: () => unknown }> = {
  'attempt timeout: ready before the deadline': () => ({
    c: { script: [100, 'ready'], config: { attemptTimeoutMs: 250 } },
    after: () => null,
  }),
  'attempt timeout: fires while parked between polls, then the retry restarts the loop': () => ({
    c: { script: [100], config: { attemptTimeoutMs: 250, retry: RetryMode.fixed(1, 5) } },
    after: () => null,
  }),
  'attempt timeout: a failing poll before the deadline retries under the state retry mode': () => ({
    c: { script: [10, 'error', 10, 'ready'], config: { attemptTimeoutMs: 250, retry: RetryMode.fixed(1, 5) } },
    after: () => null,
  }),
  'attempt timeout and retryOnError: errors wait inside the same deadline': () => ({
    c: {
      script: ['error', 'error', 'error', 'ready'],
      config: { attemptTimeoutMs: 25, retry: RetryMode.fixed(1, 0) },
      onError: PollErrorPolicy.retryOnError({ maxErrors: 5, delayMs: 10 }),
    },
    after: () => null,
  }),
  'breaker closed: a ready loop records a success': () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1000 })
    return { c: { script: [10, 'ready'], config: { circuitBreaker: breaker } }, after: () => breaker.toJSON() }
  },
  'breaker closed: a failing loop records a failure and opens it': () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000 })
    return { c: { script: [10, 'error'], config: { circuitBreaker: breaker } }, after: () => breaker.toJSON() }
  },
  'breaker closed: a failing loop, then a retry the opened breaker rejects': () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000 })
    return {
      c: { script: [10, 'error', 'ready'], config: { circuitBreaker: breaker, retry: RetryMode.fixed(2, 5) } },
      after: () => breaker.toJSON(),
    }
  },
  'breaker open: rejects before the first poll': () => {
    const breaker = openBreaker(60_000)
    return { c: { script: [10, 'ready'], config: { circuitBreaker: breaker } }, after: () => breaker.toJSON() }
  },
  'breaker half-open: a trial loop that ends ready closes it': () => {
    const breaker = openBreaker(100)
    return {
      c: { script: [10, 20, 'ready'], config: { circuitBreaker: breaker }, startAt: 150 },
      after: () => breaker.toJSON(),
    }
  },
  'breaker half-open: a trial loop that fails opens it again': () => {
    const breaker = openBreaker(100)
    return {
      c: { script: [10, 'error'], config: { circuitBreaker: breaker }, startAt: 150 },
      after: () => breaker.toJSON(),
    }
  },
  'breaker: a run released while parked counts as a failure': () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000 })
    return {
      c: { script: [100], config: { circuitBreaker: breaker }, releaseAt: 50 },
      after: () => breaker.toJSON(),
    }
  },
  'limiter, not waiting, no token: RateLimited, retried after the refill': () => {
    const limiter = createRateLimiter({ tokens: 1, perMs: 100, waits: false })
    limiter.tryAcquire()
    return {
      c: { script: [10, 'ready'], config: { rateLimiter: limiter, retry: RetryMode.fixed(2, 0) } },
      after: () => limiter.tryAcquire()._tag,
    }
  },
  'limiter, not waiting, a token: the loop runs and spends it': () => {
    const limiter = createRateLimiter({ tokens: 1, perMs: 100, waits: false })
    return { c: { script: [10, 'ready'], config: { rateLimiter: limiter } }, after: () => limiter.tryAcquire()._tag }
  },
  'aroundAttempt: one scope per attempt, each wrapping the start of its loop': () => ({
    c: { script: [10, 'error', 10, 'ready'], config: { retry: RetryMode.fixed(1, 5) }, around: true },
    after: () => null,
  }),
  'all four: breaker, limiter, timeout and aroundAttempt': () => {
    const breaker = createCircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 1000 })
    const limiter = createRateLimiter({ tokens: 5, perMs: 100, waits: false })
    return {
      c: {
        script: [100],
        config: { circuitBreaker: breaker, rateLimiter: limiter, attemptTimeoutMs: 150, retry: RetryMode.fixed(1, 5) },
        around: true,
      },
      after: () => breaker.toJSON(),
    }
  },
}

const FIXTURE = new URL('./PollPolicies.expected.json', import.meta.url)

describe('poll with policies (attempt 1 as the retry loop runs it)', () => {
  const record = process.env['RECORD_POLL_POLICIES'] === '1'
  const recorded: Record<string, unknown> = {}
  const expected = record ? {} : (JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>)
  for (const [name, make] of Object.entries(cases))
    it(name, () => {
      const got = run(make)
      if (record) recorded[name] = got
      else expect(got).to.deep.equal(expected[name])
    })
  if (record) after(() => writeFileSync(FIXTURE, `${JSON.stringify(recorded, null, 2)}\n`))
})

describe('poll with a waiting rate limiter', () => {
  it('takes a token there now at once (waited 0 ms), and waits on the retry loop for one that is not', async () => {
    const clock = createVirtualClock(0)
    const limiter = createRateLimiter({ tokens: 1, perMs: 40, scheduler: clock })
    const scopes: AttemptScope[] = []
    const calls: string[] = []
    let a = 0
    const flow = workflow<'A' | 'B' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: poll(
          () => {
            calls.push(`A@${clock.now()}`)
            return a++ === 0 ? PollOutcome.pending(10) : PollOutcome.ready('B' as const)
          },
          { rateLimiter: limiter },
        ),
        B: poll(() => (calls.push(`B@${clock.now()}`), PollOutcome.ready('Done' as const)), { rateLimiter: limiter }),
      },
      observers: [{ aroundAttempt: (scope, start) => (scopes.push(scope), start()) }],
    })
    const done = { settled: false }
    const result = flow.orchestrate('A', { scheduler: clock }).finally(() => (done.settled = true))
    while (!done.settled) await clock.runUntilIdle(60_000)
    expect(await result).to.equal('Done')
    expect(calls).to.deep.equal(['A@0', 'A@10', 'B@40'])
    expect(scopes.map((s) => [s.state, s.attempt, s.waitedMs, s.at])).to.deep.equal([
      ['A', 1, 0, 0],
      ['B', 1, 30, 40],
    ])
  })
})
