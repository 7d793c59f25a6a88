import { setMaxListeners } from 'node:events'

import { expect } from 'chai'
import type { SchedulerLike } from 'rxjs'

import { RetryMode } from '../../src/RetryMode.js'
import type { NoResources, TaskContext } from '../../src/TaskContext.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { attemptWork, type WorkCallbacks } from '../../streams/attemptWork.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { CircuitRejection } from '../../streams/runTask.js'
import { createVirtualClock, flushMicrotasks } from '../helpers/virtualTime.js'
import { workEnvOf } from '../helpers/workEnv.js'

type St = 'Work' | 'Next'

const envOf = workEnvOf

type Seen = readonly [string, unknown, number, number]

/** Callbacks recording what `attemptWork` reports (and when); `release()` drops the work. */
const recorder = (clock: SchedulerLike) => {
  const seen: Seen[] = []
  const teardowns: Array<() => void> = []
  const callbacks: WorkCallbacks<unknown> = {
    onValue: (v, attempts) => seen.push(['value', v, attempts, clock.now()]),
    onError: (e, attempts) => seen.push(['error', e, attempts, clock.now()]),
    add: (t) => {
      if (typeof t === 'function') teardowns.push(t)
      else if (typeof t === 'object') teardowns.push(() => t.unsubscribe())
    },
  }
  return { seen, callbacks, release: () => teardowns.forEach((t) => t()) }
}

const tags = (events: ReadonlyArray<WorkflowEvent<St>>): string[] => events.map((e) => e._tag)

describe('policies inline on attempt 1 (issue 16)', () => {
  describe('circuit breaker', () => {
    it('takes a closed breaker permit inline: the value is reported before attemptWork returns, a failure counts', () => {
      const clock = createVirtualClock()
      const breaker = createCircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 100 }, { scheduler: clock })
      const { env, events } = envOf({ retry: RetryMode.none(), circuitBreaker: breaker }, clock)
      const { seen, callbacks } = recorder(clock)
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      expect(seen).to.deep.equal([['value', 'Next', 1, 0]])
      attemptWork<St, NoResources, unknown>(
        env,
        () => {
          throw new Error('down')
        },
        callbacks,
      )
      attemptWork<St, NoResources, unknown>(
        env,
        () => {
          throw new Error('down')
        },
        callbacks,
      )
      expect(breaker.state._tag).to.equal('Open')
      expect(tags(events)).to.deep.equal(['AttemptFailed', 'AttemptFailed'])
    })

    it('rejects inline when open: CircuitRejection after 1 attempt, no call, no AttemptFailed', () => {
      const clock = createVirtualClock()
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 100 }, { scheduler: clock })
      const trip = breaker.tryAcquire()
      if (trip._tag === 'Right') trip.right.failure()
      const { env, events } = envOf({ retry: RetryMode.fixed(3, 1), circuitBreaker: breaker }, clock)
      const { seen, callbacks } = recorder(clock)
      let calls = 0
      attemptWork<St, NoResources, unknown>(env, () => (calls++, 'Next'), callbacks)
      expect(calls).to.equal(0)
      expect(seen).to.have.length(1)
      const [kind, error, attempts] = seen[0] as Seen
      expect([kind, attempts]).to.deep.equal(['error', 1])
      expect(error).to.be.instanceOf(CircuitRejection)
      expect((error as CircuitRejection).error._tag).to.equal('CircuitOpen')
      expect(events).to.deep.equal([])
    })

    it('runs the half-open probe inline; a second caller meanwhile is rejected; the probe closes the breaker', async () => {
      const clock = createVirtualClock()
      const breaker = createCircuitBreaker(
        { failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 1 },
        { scheduler: clock },
      )
      const trip = breaker.tryAcquire()
      if (trip._tag === 'Right') trip.right.failure()
      await clock.advance(100)
      const { env } = envOf({ retry: RetryMode.none(), circuitBreaker: breaker }, clock)
      const { seen, callbacks } = recorder(clock)
      let resolveProbe: (s: St) => void = () => undefined
      attemptWork<St, NoResources, unknown>(env, () => new Promise<St>((r) => (resolveProbe = r)), callbacks)
      expect(breaker.state._tag).to.equal('HalfOpen')
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      expect(seen.map(([k, e]) => [k, e instanceof CircuitRejection])).to.deep.equal([['error', true]])
      resolveProbe('Next')
      await flushMicrotasks()
      expect(seen.at(-1)).to.deep.equal(['value', 'Next', 1, 100])
      expect(breaker.state._tag).to.equal('Closed')
    })

    it('a half-open probe released unsettled (its run cancelled) counts as a failure and reopens the breaker', async () => {
      const clock = createVirtualClock()
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 100 }, { scheduler: clock })
      const trip = breaker.tryAcquire()
      if (trip._tag === 'Right') trip.right.failure()
      await clock.advance(100)
      const { env } = envOf({ retry: RetryMode.none(), circuitBreaker: breaker }, clock)
      const { seen, callbacks, release } = recorder(clock)
      let resolveProbe: (s: St) => void = () => undefined
      attemptWork<St, NoResources, unknown>(env, () => new Promise<St>((r) => (resolveProbe = r)), callbacks)
      expect(breaker.state._tag).to.equal('HalfOpen')
      release()
      expect(breaker.state._tag).to.equal('Open')
      // the late value is not news, and settles nothing more on the breaker
      resolveProbe('Next')
      await flushMicrotasks()
      expect(seen).to.deep.equal([])
      expect(breaker.state._tag).to.equal('Open')
    })
  })

  describe('rate limiter', () => {
    it('non-waiting: a token that is there is taken inline; without one, RateLimited goes to the retry loop', async () => {
      const clock = createVirtualClock()
      const limiter = createRateLimiter({ tokens: 1, perMs: 100, waits: false, scheduler: clock })
      const { env, events } = envOf({ retry: RetryMode.fixed(2, 1), rateLimiter: limiter }, clock)
      const { seen, callbacks } = recorder(clock)
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      expect(seen).to.deep.equal([['value', 'Next', 1, 0]])
      expect(events).to.deep.equal([])
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      // attempt 1 failed with RateLimited (reported as any attempt), the retry waits its retryAfterMs
      expect(seen).to.have.length(1)
      expect(tags(events)).to.deep.equal(['AttemptFailed', 'RetryScheduled'])
      expect(events[0]?._tag === 'AttemptFailed' ? events[0].error._tag : undefined).to.equal('RateLimited')
      await clock.advance(100)
      expect(seen).to.deep.equal([
        ['value', 'Next', 1, 0],
        ['value', 'Next', 2, 100],
      ])
    })

    it('waiting: a token that is there is taken inline; without one, attempt 1 waits for it (no failure)', async () => {
      const clock = createVirtualClock()
      const limiter = createRateLimiter({ tokens: 1, perMs: 100, scheduler: clock })
      const { env, events } = envOf({ retry: RetryMode.none(), rateLimiter: limiter }, clock)
      const { seen, callbacks } = recorder(clock)
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      expect(seen).to.deep.equal([['value', 'Next', 1, 0]])
      attemptWork<St, NoResources, unknown>(env, () => 'Next', callbacks)
      await flushMicrotasks()
      expect(seen).to.have.length(1)
      expect(limiter.waiting).to.equal(1)
      await clock.advance(100)
      expect(seen).to.deep.equal([
        ['value', 'Next', 1, 0],
        ['value', 'Next', 1, 100],
      ])
      expect(events).to.deep.equal([])
    })
  })

  describe('attempt timeout', () => {
    it('many concurrent inline attempts share one scheduled wake-up; each times out at its own deadline', async () => {
      const clock = createVirtualClock()
      const { env, events } = envOf({ retry: RetryMode.none(), attemptTimeoutMs: 50 }, clock)
      // 200 attempts in flight at once, each linking its signal to the run's
      setMaxListeners(0, env.runSignal)
      const { seen, callbacks } = recorder(clock)
      const reasons: unknown[] = []
      const never = (ctx: TaskContext): Promise<St> => {
        ctx.signal.addEventListener('abort', () => reasons.push((ctx.signal.reason as { _tag: string })._tag))
        return new Promise<St>(() => undefined)
      }
      for (let i = 0; i < 100; i++) attemptWork<St, NoResources, unknown>(env, never, callbacks)
      await clock.advance(10)
      for (let i = 0; i < 100; i++) attemptWork<St, NoResources, unknown>(env, never, callbacks)
      expect(clock.pending()).to.equal(1)
      await clock.advance(40)
      expect(seen.map(([, , , at]) => at)).to.deep.equal(Array.from({ length: 100 }, () => 50))
      await clock.advance(10)
      expect(seen.map(([, , , at]) => at)).to.deep.equal([
        ...Array.from({ length: 100 }, () => 50),
        ...Array.from({ length: 100 }, () => 60),
      ])
      expect(reasons).to.have.length(200)
      expect(new Set(reasons)).to.deep.equal(new Set(['Timeout']))
      expect(tags(events).filter((t) => t === 'AttemptFailed')).to.have.length(200)
      expect(clock.pending()).to.equal(0)
    })

    it('an attempt that settles or is released before its deadline leaves nothing scheduled', async () => {
      const clock = createVirtualClock()
      const { env } = envOf({ retry: RetryMode.none(), attemptTimeoutMs: 50 }, clock)
      const { seen, callbacks, release } = recorder(clock)
      attemptWork<St, NoResources, unknown>(env, () => Promise.resolve<St>('Next'), callbacks)
      expect(clock.pending()).to.equal(1)
      await flushMicrotasks()
      expect(seen).to.deep.equal([['value', 'Next', 1, 0]])
      expect(clock.pending()).to.equal(0)
      attemptWork<St, NoResources, unknown>(env, () => new Promise<St>(() => undefined), callbacks)
      expect(clock.pending()).to.equal(1)
      release()
      expect(clock.pending()).to.equal(0)
      await clock.advance(100)
      expect(seen).to.have.length(1)
    })
  })
})
