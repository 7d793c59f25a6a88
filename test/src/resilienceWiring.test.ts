/**
 * Issue 6, engine side: `TaskConfig.circuitBreaker` and `TaskConfig.rateLimiter` as a workflow sees them
 * (streams/runTask.ts `runAttempts`, streams/stateRunner.ts, src/TaskConfig.ts). One clock: the breaker,
 * the limiters and the run all read and wait on one RxJS scheduler. Synchronous scenarios run inside
 * `TestScheduler.run`, where the default `asyncScheduler` of all three is virtual. A limiter that waits
 * resolves a Promise, so those scenarios pass one `createVirtualClock()` (test/helpers/virtualTime.ts) as
 * the `scheduler` of the limiter, the breaker and the run, and advance it with the Promises drained.
 */
import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import { asyncScheduler, concatMap, map, mergeMap, NEVER, type Observable, Subscription, throwError, timer } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  CanoFailure,
  circuitOpenError,
  isCanoFailure,
  rateLimitedError,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
} from '../../src/CanoError.js'
import type { CircuitBreakerLike, CircuitState } from '../../src/CircuitBreaker.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import type { RateLimiterLike } from '../../src/RateLimiter.js'
import { RetryMode } from '../../src/RetryMode.js'
import { sleep as timerState } from '../../src/Sleep.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import { validateTaskConfig } from '../../src/TaskConfig.js'
import type { TaskOutput } from '../../src/TaskOutput.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { createCircuitBreaker, createSamplingCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { eventsOf, lastEvent, timeline } from '../helpers/runEvents.js'
import { uninspectables } from '../helpers/uninspectable.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { createVirtualClock, flushMicrotasks } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

type Step = 'A' | 'Done'

/**
 * The virtual clock inside `TestScheduler.run` (and the real one outside): the clock of the default
 * `asyncScheduler` that the breaker, the limiters and the run share there.
 */
const vnow = (): number => asyncScheduler.now()

const OPEN = circuitOpenError('circuit breaker open: rejecting call')
const TRIALS_EXHAUSTED = circuitOpenError('circuit breaker half-open: trial slot exhausted')

/** Drops the timestamps so whole event lists compare with deep.equal. */
const untimed = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>): unknown[] =>
  events.map((e) => {
    const { at: _at, ...rest } = e
    return rest
  })

/** An upstream call that fails with `message` after `ms` of virtual time. */
const failsAfter = (ms: number, message = 'upstream 503'): Observable<never> =>
  timer(ms).pipe(mergeMap(() => throwError(() => new Error(message))))

/** Runs started at virtual instants, their events collected; `stop()` unsubscribes whatever is left. */
const runs = <S extends string>() => {
  const events: WorkflowEvent<S>[] = []
  const subs = new Subscription()
  return {
    events,
    /** Subscribes to `run$` at virtual time `atMs`. */
    start: (atMs: number, run$: Observable<WorkflowEvent<S>>): void => {
      subs.add(
        timer(atMs)
          .pipe(concatMap(() => run$))
          .subscribe((e) => events.push(e)),
      )
    },
    /** The events of run `id`. */
    of: (id: string): WorkflowEvent<S>[] => events.filter((e) => e.workflowId === id),
    stop: (): void => subs.unsubscribe(),
  }
}

/** The error of a run's terminal `RunFailed` / `RunCancelled` event. */
const endError = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>): CanoError | string => {
  const e = lastEvent(events)
  return e._tag === 'RunFailed' || e._tag === 'RunCancelled' ? e.error : e._tag
}

/** Opens `breaker` (threshold 1) by failing one permit. */
const tripOnce = (breaker: CircuitBreakerLike): void => {
  const acquired = breaker.tryAcquire()
  if (E.isLeft(acquired)) throw new Error('expected a permit')
  acquired.right.failure()
}

// -------------------------------------------------------------------------------------
// circuit breaker
// -------------------------------------------------------------------------------------

describe('TaskConfig.circuitBreaker in a workflow', () => {
  it('rejects with the raw CircuitOpen before any attempt: no attempt used, no retry, no RetryExhausted', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 })
      tripOnce(breaker)
      let calls = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(() => (calls++, 'Done' as const), { retry: RetryMode.fixed(3, 10), circuitBreaker: breaker }),
        },
      })
      const r = runs<Step>()
      r.start(5, flow.run$('A', { workflowId: 'r' }))
      flush()
      r.stop()
      expect(untimed(r.events)).to.deep.equal([
        { _tag: 'RunStarted', workflowId: 'r', initial: 'A' },
        { _tag: 'StateEntered', workflowId: 'r', state: 'A', transition: 0 },
        { _tag: 'TaskStarted', workflowId: 'r', state: 'A', taskId: 'A' },
        { _tag: 'CircuitRejected', workflowId: 'r', state: 'A', taskId: 'A', error: OPEN },
        { _tag: 'TaskFailed', workflowId: 'r', state: 'A', taskId: 'A', error: OPEN },
        // rejected at attempt 1: the attempt it failed at, none was made
        { _tag: 'RunFailed', workflowId: 'r', state: 'A', error: OPEN, transitions: 1, attempt: 1 },
      ])
      expect(r.events.map((e) => e.at)).to.deep.equal([5, 5, 5, 5, 5, 5]) // failed fast: no retry delay
      expect(calls).to.equal(0)
      expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 1_000 })
    })
  })

  it('makes orchestrate reject with a CanoFailure carrying the raw CircuitOpen', async () => {
    const clock = createVirtualClock()
    const breaker = createCircuitBreaker({ failureThreshold: 1 }, { scheduler: clock })
    tripOnce(breaker)
    clock.advanceSync(10)
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => 'Done' as const, { retry: RetryMode.exponential(5), circuitBreaker: breaker }) },
    })
    const outcome = await flow.orchestrate('A').then(
      () => 'resolved',
      (e: unknown) => (isCanoFailure(e) ? e.error : e),
    )
    expect(outcome).to.deep.equal(OPEN)
  })

  it('ends the retry loop at the next attempt with the raw CircuitOpen when the breaker trips mid-loop', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1_000 })
      let calls = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            () => {
              calls += 1
              throw new Error(`down ${calls}`)
            },
            { retry: RetryMode.fixed(5, 10), circuitBreaker: breaker },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'loop' }))
      flush()
      r.stop()
      // attempt 1 at 0 fails (1 failure); attempt 2 at 10 fails (2: Open until 1010); attempt 3 at 20 is rejected
      expect(
        timeline(r.events, ['AttemptFailed', 'RetryScheduled', 'CircuitRejected', 'TaskFailed', 'RunFailed']),
      ).to.deep.equal([
        ['AttemptFailed', 0],
        ['RetryScheduled', 0],
        ['AttemptFailed', 10],
        ['RetryScheduled', 10], // cano fires on_retry before the sleep, so the last retry is announced too
        ['CircuitRejected', 20],
        ['TaskFailed', 20],
        ['RunFailed', 20],
      ])
      expect(calls).to.equal(2)
      expect(endError(r.events)).to.deep.equal(OPEN)
      expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 1_010 })
    })
  })

  it('counts a timed-out attempt as a failure', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1_000 })
      const signals: AbortSignal[] = []
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            ({ signal }) => {
              signals.push(signal)
              return NEVER
            },
            { attemptTimeoutMs: 50, retry: RetryMode.fixed(3, 0), circuitBreaker: breaker },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'slow' }))
      flush()
      r.stop()
      // attempts 1 and 2 time out at 50 and 100; the second timeout trips the breaker; attempt 3 is rejected
      const failures = r.events.flatMap((e) => (e._tag === 'AttemptFailed' ? [[e.attempt, e.at, e.error]] : []))
      expect(failures).to.deep.equal([
        [1, 50, timeoutError(50)],
        [2, 100, timeoutError(50)],
      ])
      expect(signals.map((s) => s.aborted)).to.deep.equal([true, true])
      expect(timeline(r.events, ['CircuitRejected', 'RunFailed'])).to.deep.equal([
        ['CircuitRejected', 100],
        ['RunFailed', 100],
      ])
      expect(endError(r.events)).to.deep.equal(OPEN)
      expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 1_100 })
    })
  })

  it('is shared by workflows and concurrent runs: trips after failureThreshold failures across them, then rejects all', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 1_000 })
      const upstream: Array<[string, number]> = []
      const call = (who: string): Observable<never> => {
        upstream.push([who, vnow()])
        return failsAfter(10)
      }
      const config = { retry: RetryMode.none(), circuitBreaker: breaker }
      const orders = workflow<'Charge' | 'Done'>()({
        exits: ['Done'],
        states: { Charge: task(({ workflowId }) => call(workflowId), config) },
      })
      const refunds = workflow<'Refund' | 'Done'>()({
        exits: ['Done'],
        states: { Refund: task(({ workflowId }) => call(workflowId), config) },
      })
      const r = runs<string>()
      // four calls in flight at once; they all fail at 10
      r.start(0, orders.run$('Charge', { workflowId: 'order-1' }))
      r.start(0, refunds.run$('Refund', { workflowId: 'refund-1' }))
      r.start(0, orders.run$('Charge', { workflowId: 'order-2' }))
      r.start(0, refunds.run$('Refund', { workflowId: 'refund-2' }))
      // after the trip, both workflows fail fast
      r.start(20, orders.run$('Charge', { workflowId: 'order-3' }))
      r.start(20, refunds.run$('Refund', { workflowId: 'refund-3' }))
      flush()
      r.stop()
      expect(upstream).to.deep.equal([
        ['order-1', 0],
        ['refund-1', 0],
        ['order-2', 0],
        ['refund-2', 0],
      ])
      const down = taskExecutionError('upstream 503', new Error('upstream 503'))
      for (const id of ['order-1', 'refund-1', 'order-2', 'refund-2']) expect(endError(r.of(id))).to.deep.equal(down)
      for (const id of ['order-3', 'refund-3']) {
        expect(endError(r.of(id))).to.deep.equal(OPEN)
        expect(r.of(id).map((e) => e._tag)).to.include('CircuitRejected')
        expect(lastEvent(r.of(id)).at).to.equal(20)
      }
      // the third failure tripped it at 10; the fourth, of the Closed epoch, was ignored (no fresh deadline)
      expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 1_010 })
    })
  })

  it('lets one half-open probe through after resetTimeoutMs and closes on its success', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 1 })
      const transitions: Array<[CircuitState['_tag'], number]> = []
      const watching = breaker.state$.subscribe((t) => transitions.push([t.state._tag, t.at]))
      const upstream: number[] = []
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            () => {
              upstream.push(vnow())
              // down for the first call, then healthy with 20 ms latency
              return upstream.length === 1 ? failsAfter(0) : timer(20).pipe(map(() => 'Done' as const))
            },
            { retry: RetryMode.none(), circuitBreaker: breaker },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'fails' })) // trips: Open until 100
      r.start(50, flow.run$('A', { workflowId: 'early' })) // rejected: still open
      r.start(100, flow.run$('A', { workflowId: 'probe' })) // half-open trial, succeeds at 120
      r.start(110, flow.run$('A', { workflowId: 'second' })) // rejected: the only trial slot is taken
      r.start(130, flow.run$('A', { workflowId: 'after' })) // closed again
      flush()
      r.stop()
      watching.unsubscribe()
      expect(transitions).to.deep.equal([
        ['Closed', 0],
        ['Open', 0],
        ['HalfOpen', 100],
        ['Closed', 120],
      ])
      expect(upstream).to.deep.equal([0, 100, 130])
      expect(endError(r.of('early'))).to.deep.equal(OPEN)
      expect(endError(r.of('second'))).to.deep.equal(TRIALS_EXHAUSTED)
      expect(timeline(r.of('probe'), ['RunCompleted'])).to.deep.equal([['RunCompleted', 120]])
      expect(timeline(r.of('after'), ['RunCompleted'])).to.deep.equal([['RunCompleted', 150]])
      expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 3, consecutiveFailures: 0 })
    })
  })

  it('counts a call abandoned by an unsubscribed run as a failure', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 })
      let signal: AbortSignal | undefined
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            (ctx) => {
              signal = ctx.signal
              return NEVER
            },
            { circuitBreaker: breaker },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'abandoned' }))
      const stopping = timer(30).subscribe(() => r.stop())
      flush()
      stopping.unsubscribe()
      expect(signal?.aborted).to.equal(true)
      expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 1_030 })
    })
  })

  it('retries a CircuitOpen thrown by the task body itself like any other error (cano 2.3)', () => {
    testScheduler().run(({ flush }) => {
      let calls = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            () => {
              calls += 1
              // what a body that calls breaker.withPermit itself sees when that breaker is open
              if (calls < 3) throw new CanoFailure(OPEN)
              return 'Done' as const
            },
            { retry: RetryMode.fixed(3, 10) },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'body' }))
      flush()
      r.stop()
      expect(calls).to.equal(3)
      expect(r.events.map((e) => e._tag)).not.to.include('CircuitRejected')
      expect(lastEvent(r.events)).to.include({ _tag: 'RunCompleted', at: 20 })
    })
  })

  it('does not count a RateLimited attempt as a breaker failure (the upstream was never called)', () => {
    testScheduler().run(({ flush }) => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1_000 })
      const limiter = createRateLimiter({ tokens: 1, perMs: 1_000, waits: false })
      let calls = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(() => (calls++, 'Done' as const), {
            retry: RetryMode.none(),
            circuitBreaker: breaker,
            rateLimiter: limiter,
          }),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'first' }))
      r.start(0, flow.run$('A', { workflowId: 'limited' }))
      r.start(0, flow.run$('A', { workflowId: 'limited-too' }))
      flush()
      r.stop()
      expect(calls).to.equal(1)
      expect(endError(r.of('limited'))).to.deep.equal(rateLimitedError('default', 1_000))
      expect(endError(r.of('limited-too'))).to.deep.equal(rateLimitedError('default', 1_000))
      expect(breaker.state).to.deep.equal({ _tag: 'Closed', epoch: 0, consecutiveFailures: 0 })
    })
  })

  it('holds no permit while waiting for the limiter: a cancelled waiter neither charges the breaker nor takes a trial slot', async () => {
    const clock = createVirtualClock()
    const breaker = createCircuitBreaker(
      { failureThreshold: 1, resetTimeoutMs: 100 },
      { scheduler: clock, snapshot: { _tag: 'HalfOpen', epoch: 2, successes: 0 } },
    )
    const limiter = createRateLimiter({ tokens: 1, perMs: 1_000, scheduler: clock })
    expect(E.isRight(limiter.tryAcquire())).to.equal(true) // the bucket is now empty
    let calls = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: {
        A: task(() => (calls++, 'Done' as const), { circuitBreaker: breaker, rateLimiter: limiter }),
      },
    })
    const ac = new AbortController()
    const run = eventsOf(flow.run$('A', { workflowId: 'waiting', signal: ac.signal, scheduler: clock }))
    await flushMicrotasks()
    expect(limiter.waiting).to.equal(1)
    expect(breaker.state).to.deep.equal({ _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 0 })
    ac.abort()
    const events = await run
    expect(endError(events)).to.deep.equal(cancelledError())
    expect(calls).to.equal(0)
    expect(breaker.state).to.deep.equal({ _tag: 'HalfOpen', epoch: 2, successes: 0, inFlight: 0 })
  })
})

describe('a sampling breaker as TaskConfig.circuitBreaker (issue 14)', () => {
  it('counts the attempts of every run in its window, opens on the rate, then rejects raw', async () => {
    const clock = createVirtualClock()
    const breaker = createSamplingCircuitBreaker(
      { failureRate: 0.5, minimumCalls: 4, windowMs: 10_000, resetTimeoutMs: 5_000 },
      { scheduler: clock },
    )
    let calls = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: {
        A: task(
          ({ workflowId }) => {
            calls++
            if (workflowId.startsWith('bad')) throw new Error('upstream 503')
            return 'Done' as const
          },
          { retry: RetryMode.none(), circuitBreaker: breaker },
        ),
      },
    })
    const run = (id: string): Promise<unknown> =>
      flow.orchestrate('A', { workflowId: id, scheduler: clock }).catch((e: unknown) => (e as CanoFailure).error)
    expect(await run('good-1')).to.equal('Done')
    expect(await run('good-2')).to.equal('Done')
    await run('bad-1') // 1 of 3
    expect(breaker.state._tag).to.equal('Closed')
    await run('bad-2') // 2 of 4: open
    expect(breaker.state).to.deep.equal({ _tag: 'Open', epoch: 1, untilMs: 5_000 })
    const events = await eventsOf(flow.run$('A', { workflowId: 'good-3', scheduler: clock }))
    expect(endError(events)).to.deep.equal(OPEN)
    expect(events.some((e) => e._tag === 'CircuitRejected')).to.equal(true)
    expect(calls).to.equal(4)
  })
})

// -------------------------------------------------------------------------------------
// rate limiter
// -------------------------------------------------------------------------------------

describe('TaskConfig.rateLimiter in a workflow', () => {
  it('fails the attempt with RateLimited (tier, retry-after) when the limiter does not wait, and retries exactly that much later', () => {
    testScheduler().run(({ flush }) => {
      const limiter = createRateLimiter({ tokens: 1, perMs: 1_000, name: 'api', waits: false })
      const calls: Array<[string, number, number]> = []
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: {
          A: task(
            ({ workflowId, attempt }) => {
              calls.push([workflowId, attempt, vnow()])
              return 'Done' as const
            },
            { retry: RetryMode.fixed(3, 5), rateLimiter: limiter },
          ),
        },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'first' })) // takes the only token
      r.start(250, flow.run$('A', { workflowId: 'second' })) // a quarter of a token is back: 750 ms to go
      flush()
      r.stop()
      const limited = rateLimitedError('api', 750)
      expect(
        r.of('second').flatMap((e): unknown[][] => {
          if (e._tag === 'AttemptFailed') return [[e._tag, e.at, e.attempt, e.error]]
          if (e._tag === 'RetryScheduled') return [[e._tag, e.at, e.attempt, e.delayMs]]
          if (e._tag === 'TaskSucceeded') return [[e._tag, e.at, e.attempts]]
          return []
        }),
      ).to.deep.equal([
        ['AttemptFailed', 250, 1, limited],
        ['RetryScheduled', 250, 1, 750], // the retry-after, not RetryMode.fixed's 5 ms
        ['TaskSucceeded', 1_000, 2],
      ])
      expect(limited).to.include({ tier: 'api', retryAfterMs: 750 })
      expect(calls).to.deep.equal([
        ['first', 1, 0],
        ['second', 2, 1_000], // attempt 1 never reached the task
      ])
    })
  })

  it('wraps the last RateLimited in RetryExhausted when the retries run out', () => {
    testScheduler().run(({ flush }) => {
      // any object of the RateLimiterLike shape will do: this one is out of quota for good
      const exhausted: RateLimiterLike = {
        waits: false,
        tryAcquire: () => E.left(rateLimitedError('daily-quota', 60_000)),
        acquire: () => Promise.resolve(),
      }
      let calls = 0
      const flow = workflow<Step>()({
        exits: ['Done'],
        states: { A: task(() => (calls++, 'Done' as const), { retry: RetryMode.fixed(2, 5), rateLimiter: exhausted }) },
      })
      const r = runs<Step>()
      r.start(0, flow.run$('A', { workflowId: 'starved' }))
      flush()
      r.stop()
      expect(timeline(r.events, ['AttemptFailed', 'RunFailed'])).to.deep.equal([
        ['AttemptFailed', 0],
        ['AttemptFailed', 60_000],
        ['AttemptFailed', 120_000],
        ['RunFailed', 120_000],
      ])
      expect(endError(r.events)).to.deep.equal(retryExhaustedError(3, rateLimitedError('daily-quota', 60_000)))
      expect(calls).to.equal(0)
    })
  })

  it('delays attempts to hold its rate when it waits: 25 runs through a 10/s limiter (virtual time)', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ ratePerSec: 10, scheduler: clock })
    const started: Array<[string, number]> = []
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: {
        A: task(({ workflowId }) => (started.push([workflowId, clock.now()]), 'Done' as const), {
          rateLimiter: limiter,
        }),
      },
    })
    const ids = Array.from({ length: 25 }, (_, i) => `run-${i}`)
    const results = Promise.all(ids.map((workflowId) => flow.orchestrate('A', { workflowId, scheduler: clock })))
    await clock.runUntilIdle()
    expect(await results).to.deep.equal(ids.map(() => 'Done'))
    // the bucket starts full (10 at once), then one token every 100 ms, first come first served
    expect(started).to.deep.equal(ids.map((id, i) => [id, i < 10 ? 0 : (i - 9) * 100]))
    expect(limiter.waiting).to.equal(0)
  })

  it('holds the rate across the states of one run too', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ tokens: 2, perMs: 1_000, scheduler: clock })
    const at: number[] = []
    let left = 6
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => (at.push(clock.now()), --left === 0 ? 'Done' : 'A'), { rateLimiter: limiter }) },
    })
    const result = flow.orchestrate('A', { scheduler: clock })
    await clock.runUntilIdle()
    expect(await result).to.equal('Done')
    expect(at).to.deep.equal([0, 0, 500, 1_000, 1_500, 2_000])
  })

  it('stops waiting when the run is cancelled: RunCancelled, the waiter leaves the queue, the task never runs', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ tokens: 1, perMs: 60_000, scheduler: clock })
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
    let calls = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => (calls++, 'Done' as const), { rateLimiter: limiter }) },
    })
    const ac = new AbortController()
    const run = eventsOf(flow.run$('A', { workflowId: 'c', signal: ac.signal, scheduler: clock }))
    await flushMicrotasks()
    expect([limiter.waiting, clock.pending()]).to.deep.equal([1, 1])
    ac.abort()
    const events = await run
    expect(lastEvent(events)).to.deep.include({ _tag: 'RunCancelled', state: 'A', error: cancelledError() })
    expect(events.map((e) => e._tag)).not.to.include('TaskSucceeded')
    expect([limiter.waiting, clock.pending(), calls]).to.deep.equal([0, 0, 0])
    // the token the cancelled run waited for is still there for the next caller
    await clock.advance(60_000)
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
  })

  it('stops waiting when totalTimeoutMs expires: RunTimedOut, the waiter leaves the queue', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ tokens: 1, perMs: 60_000, scheduler: clock })
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
    let calls = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      totalTimeoutMs: 5, // on the same virtual clock: at 5 ms, long before the token is back (60 s)
      states: { A: task(() => (calls++, 'Done' as const), { rateLimiter: limiter }) },
    })
    const run = eventsOf(flow.run$('A', { workflowId: 't', scheduler: clock }))
    await clock.advance(5)
    const events = await run
    expect(lastEvent(events)._tag).to.equal('RunTimedOut')
    expect([limiter.waiting, clock.pending(), calls]).to.deep.equal([0, 0, 0])
  })

  it('stops waiting when run$ is unsubscribed', async () => {
    const clock = createVirtualClock()
    const limiter = createRateLimiter({ tokens: 1, perMs: 60_000, scheduler: clock })
    expect(E.isRight(limiter.tryAcquire())).to.equal(true)
    let calls = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { A: task(() => (calls++, 'Done' as const), { rateLimiter: limiter }) },
    })
    const sub = flow.run$('A', { scheduler: clock }).subscribe()
    await flushMicrotasks()
    expect(limiter.waiting).to.equal(1)
    sub.unsubscribe()
    await flushMicrotasks()
    expect([limiter.waiting, clock.pending(), calls]).to.deep.equal([0, 0, 0])
  })
})

// -------------------------------------------------------------------------------------
// one clock
// -------------------------------------------------------------------------------------

describe('one clock: the breaker, a waiting limiter, retries and a timer state on one scheduler', () => {
  it('keeps every instant exact on one virtual clock', async () => {
    type Flow = 'Call' | 'CoolDown' | 'Done'
    const clock = createVirtualClock()
    const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 50 }, { scheduler: clock })
    const limiter = createRateLimiter({ tokens: 1, perMs: 1_000, scheduler: clock })
    const transitions: Array<[CircuitState['_tag'], number]> = []
    const watching = breaker.state$.subscribe((t) => transitions.push([t.state._tag, t.at]))
    const calls: number[] = []
    const flow = workflow<Flow>()({
      exits: ['Done'],
      states: {
        Call: task(
          () => {
            calls.push(clock.now())
            if (calls.length === 1) throw new Error('flaky')
            return 'CoolDown' as const
          },
          { retry: RetryMode.fixed(3, 100), rateLimiter: limiter, circuitBreaker: breaker },
        ),
        CoolDown: timerState({ wait: 250, then: 'Done' as const }),
      },
    })
    const run = eventsOf(flow.run$('Call', { workflowId: 'one-clock', scheduler: clock }))
    await clock.runUntilIdle()
    const events = await run
    watching.unsubscribe()
    // attempt 1 at 0 takes the only token and fails: the breaker opens until 50; the retry is due at 100,
    // waits for the next token (1 000), and is the half-open trial that closes the breaker
    expect(calls).to.deep.equal([0, 1_000])
    expect(timeline(events, ['AttemptFailed', 'RetryScheduled', 'TaskSucceeded', 'RunCompleted'])).to.deep.equal([
      ['AttemptFailed', 0],
      ['RetryScheduled', 0],
      ['TaskSucceeded', 1_000],
      ['TaskSucceeded', 1_250], // the timer state
      ['RunCompleted', 1_250],
    ])
    expect(transitions).to.deep.equal([
      ['Closed', 0],
      ['Open', 0],
      ['HalfOpen', 1_000],
      ['Closed', 1_000],
    ])
    expect([clock.now(), clock.pending(), limiter.waiting]).to.deep.equal([1_250, 0, 0])
  })
})

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

describe('a task that throws a value that cannot be inspected (adv16c item 5)', () => {
  const outputs: ReadonlyArray<readonly [string, (u: unknown) => TaskOutput<'Done'>]> = [
    [
      'throws',
      (u) => {
        throw u
      },
    ],
    ['rejects', (u) => Promise.reject(u)],
    ['errors', (u) => throwError(() => u)],
    ['returns a Left', (u) => E.left(u)],
  ]
  for (const [title, make] of uninspectables)
    it(`ends the run with a TaskExecution error describing ${title}, under every policy, and crashes nothing`, async () => {
      for (const [how, output] of outputs) {
        const flow = workflow<'A' | 'B' | 'Done'>()({
          exits: ['Done'],
          states: {
            // inline attempt 1 with a breaker and a deadline, then the retry loop
            A: task(() => output(make()), {
              retry: RetryMode.fixed(1, 0),
              attemptTimeoutMs: 60_000,
              circuitBreaker: createCircuitBreaker(),
            }),
            B: split([Branch.of(() => output(make()), { retry: RetryMode.fixed(1, 0) })], {
              join: 'Done',
              strategy: JoinStrategy.all(),
            }),
          },
        })
        for (const start of ['A', 'B'] as const) {
          const end = lastEvent(await eventsOf(flow.run$(start, { workflowId: `u-${how}-${start}` })))
          const error = end._tag === 'RunFailed' ? end.error : undefined
          const inner = error?._tag === 'RetryExhausted' ? error.last : error
          // the split fails its join: the branch's error is in its message
          const described = start === 'A' ? inner?._tag : error?.message.includes('Task execution error')
          expect([how, start, end._tag, described]).to.deep.equal([
            how,
            start,
            'RunFailed',
            start === 'A' ? 'TaskExecution' : true,
          ])
        }
      }
    })
})

describe('a run cancelled with a reason that cannot be inspected', () => {
  for (const [title, make] of uninspectables)
    it(`ends Cancelled when its signal aborts with ${title}`, async () => {
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: {
          A: task(
            ({ signal }) =>
              new Promise<'Done'>((_, reject) => signal.addEventListener('abort', () => reject(new Error('stop')))),
          ),
        },
      })
      const controller = new AbortController()
      const events = eventsOf(flow.run$('A', { workflowId: 'u-cancel', signal: controller.signal }))
      await Promise.resolve()
      controller.abort(make())
      const end = lastEvent(await events)
      expect(end._tag).to.equal('RunCancelled')
    })
})

describe('validateTaskConfig: circuitBreaker and rateLimiter', () => {
  const definitionError = (config: Record<string, unknown>): string => {
    try {
      workflow<Step>()({ exits: ['Done'], states: { A: task(() => 'Done' as const, config as never) } })
    } catch (e: unknown) {
      if (isCanoFailure(e) && e.error._tag === 'Configuration') return e.error.message
      throw e
    }
    throw new Error('expected a Configuration error')
  }
  const limiterLike = (overrides: Record<string, unknown>): Record<string, unknown> => {
    const real = createRateLimiter({ ratePerSec: 1 })
    return {
      tryAcquire: () => real.tryAcquire(),
      acquire: () => real.acquire(),
      waits: true,
      ...overrides,
    }
  }

  it('rejects a breaker that is not a breaker at definition time, naming the state', () => {
    expect(definitionError({ circuitBreaker: {} })).to.equal(
      'state "A": circuitBreaker must be a circuit breaker (createCircuitBreaker()): tryAcquire is not a function',
    )
    expect(definitionError({ circuitBreaker: { tryAcquire: true } })).to.match(/^state "A": circuitBreaker must be/)
    expect(definitionError({ circuitBreaker: 'breaker' })).to.match(/^state "A": circuitBreaker must be/)
    expect(definitionError({ circuitBreaker: null })).to.match(/^state "A": circuitBreaker must be/)
    expect(definitionError({ circuitBreaker: createRateLimiter({ ratePerSec: 1 }) })).to.equal(
      'state "A": circuitBreaker must be a circuit breaker (createCircuitBreaker()), got a rate limiter',
    )
  })

  it('rejects a limiter without tryAcquire, acquire or a boolean waits at definition time, naming the state', () => {
    expect(definitionError({ rateLimiter: limiterLike({ acquire: undefined }) })).to.equal(
      'state "A": rateLimiter must be a rate limiter (createRateLimiter()): acquire is not a function',
    )
    expect(definitionError({ rateLimiter: limiterLike({ tryAcquire: 1 }) })).to.equal(
      'state "A": rateLimiter must be a rate limiter (createRateLimiter()): tryAcquire is not a function',
    )
    expect(definitionError({ rateLimiter: limiterLike({ waits: undefined }) })).to.equal(
      'state "A": rateLimiter must be a rate limiter (createRateLimiter()): waits is not a boolean',
    )
    expect(definitionError({ rateLimiter: limiterLike({ waits: 'yes' }) })).to.match(/waits is not a boolean$/)
    expect(definitionError({ rateLimiter: createCircuitBreaker() })).to.equal(
      'state "A": rateLimiter must be a rate limiter (createRateLimiter()): acquire is not a function',
    )
    expect(definitionError({ rateLimiter: 10 })).to.match(/^state "A": rateLimiter must be a rate limiter/)
  })

  it('accepts any object of the right shape, and the real factories', () => {
    expect(validateTaskConfig({ rateLimiter: limiterLike({}) }, 'x')).to.equal(undefined)
    expect(validateTaskConfig({ rateLimiter: limiterLike({ waits: false }) }, 'x')).to.equal(undefined)
    expect(
      validateTaskConfig(
        { circuitBreaker: createCircuitBreaker(), rateLimiter: createRateLimiter({ ratePerSec: 5 }) },
        'x',
      ),
    ).to.equal(undefined)
    const custom = { tryAcquire: () => E.left(OPEN) }
    expect(validateTaskConfig({ circuitBreaker: custom }, 'x')).to.equal(undefined)
  })
})
