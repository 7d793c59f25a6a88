import { expect } from 'chai'
import { asyncScheduler, map, Observable, timer } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import {
  CanoFailure,
  configurationError,
  nonRetryable,
  taskExecutionError,
  timeoutError,
  workflowError,
} from '../../src/CanoError.js'
import { poll, PollErrorPolicy, PollOutcome, validatePoll } from '../../src/Poll.js'
import { RetryMode } from '../../src/RetryMode.js'
import { createCircuitBreaker } from '../../streams/createCircuitBreaker.js'
import { createRateLimiter } from '../../streams/createRateLimiter.js'
import { eventsInVirtualTime, lastEvent, timeline } from '../helpers/runEvents.js'

type Step = 'Wait' | 'Done'

/** The virtual clock inside `TestScheduler.run` (asyncScheduler is patched there). */
const clock = (): number => asyncScheduler.now()

/** A poll function answering from a script, recording the virtual time of each call. */
const scripted = (script: ReadonlyArray<'error' | number | 'ready'>, calls: number[], now: () => number) => {
  let i = 0
  return () => {
    calls.push(now())
    const next = script[Math.min(i++, script.length - 1)]
    if (next === 'error') throw new Error(`poll error ${i}`)
    return next === 'ready' ? PollOutcome.ready('Done' as const) : PollOutcome.pending(next ?? 0)
  }
}

describe('poll', () => {
  it('waits each pending delay on the scheduler, then moves to the ready state', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: ({ poll: p }) => ({ Wait: p(scripted([100, 200, 'ready'], calls, clock)) }),
      }).run$('Wait', { workflowId: 'p1' }),
    )
    expect(calls).to.deep.equal([0, 100, 300])
    expect(timeline(events, ['TaskSucceeded', 'RunCompleted'])).to.deep.equal([
      ['TaskSucceeded', 300],
      ['RunCompleted', 300],
    ])
  })

  it('fails at the first error under failFast (the default) without retrying', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({ exits: ['Done'], states: { Wait: poll(scripted(['error', 'ready'], calls, clock)) } }).run$(
        'Wait',
        {
          workflowId: 'p2',
        },
      ),
    )
    expect(calls).to.deep.equal([0])
    expect(lastEvent(events)).to.deep.include({ _tag: 'RunFailed', state: 'Wait' })
    expect(events.filter((e) => e._tag === 'RetryScheduled')).to.deep.equal([])
  })

  it('tolerates maxErrors consecutive errors and fails on the next one', () => {
    const ok: number[] = []
    const okEvents = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(scripted(['error', 'error', 'ready'], ok, clock), {
            onError: PollErrorPolicy.retryOnError({ maxErrors: 2 }),
          }),
        },
      }).run$('Wait', { workflowId: 'p3' }),
    )
    expect(lastEvent(okEvents)._tag).to.equal('RunCompleted')
    expect(ok).to.deep.equal([0, 0, 0]) // cano re-polls at once after an error

    const bad: number[] = []
    const badEvents = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(scripted(['error', 'error', 'error', 'ready'], bad, clock), {
            onError: PollErrorPolicy.retryOnError({ maxErrors: 2 }),
          }),
        },
      }).run$('Wait', { workflowId: 'p4' }),
    )
    expect(bad.length).to.equal(3)
    const end = lastEvent(badEvents)
    expect(end._tag === 'RunFailed' ? end.error.message : '').to.equal('poll error 3')
  })

  it('resets the consecutive-error count on pending', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(scripted(['error', 'error', 10, 'error', 'error', 'ready'], calls, clock), {
            onError: PollErrorPolicy.retryOnError({ maxErrors: 2 }),
          }),
        },
      }).run$('Wait', { workflowId: 'p5' }),
    )
    expect(lastEvent(events)._tag).to.equal('RunCompleted')
    expect(calls).to.deep.equal([0, 0, 0, 10, 10, 10])
  })

  it('waits delayMs between erroring polls when asked (beyond cano)', () => {
    const calls: number[] = []
    eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(scripted(['error', 'error', 'ready'], calls, clock), {
            onError: PollErrorPolicy.retryOnError({ maxErrors: 5, delayMs: 50 }),
          }),
        },
      }).run$('Wait', { workflowId: 'p6' }),
    )
    expect(calls).to.deep.equal([0, 50, 100])
  })

  it('ends the loop at a nonRetryable error whatever retryOnError tolerates', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(
            () => {
              calls.push(clock())
              throw nonRetryable(new Error('job deleted'))
            },
            { onError: PollErrorPolicy.retryOnError({ maxErrors: 5 }) },
          ),
        },
      }).run$('Wait', { workflowId: 'p6b' }),
    )
    expect(calls).to.deep.equal([0])
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error.message : '').to.equal('job deleted')
  })

  it('yields to the event loop between polls even at pending(0), so a cancellation gets through', async () => {
    let calls = 0
    const ac = new AbortController()
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: {
        Wait: poll(
          () => {
            calls += 1
            return PollOutcome.pending(0)
          },
          { maxPolls: 1_000_000 },
        ),
      },
    })
    const run = flow.orchestrate('Wait', { workflowId: 'p6c', signal: ac.signal })
    setImmediate(() => ac.abort())
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).to.be.instanceOf(CanoFailure)
    expect(error instanceof CanoFailure ? error.error._tag : '').to.equal('Cancelled')
    expect(calls).to.be.below(1_000)
  })

  it('gives up after maxPolls polls', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({ exits: ['Done'], states: { Wait: poll(scripted([0], calls, clock), { maxPolls: 5 }) } }).run$(
        'Wait',
        {
          workflowId: 'p7',
        },
      ),
    )
    expect(calls.length).to.equal(5)
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
      taskExecutionError('poll for state "Wait" was not ready after 5 polls'),
    )
  })

  it('bounds the whole loop with attemptTimeoutMs', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(scripted([100], calls, clock), { attemptTimeoutMs: 250 }) },
      }).run$('Wait', { workflowId: 'p8' }),
    )
    expect(calls).to.deep.equal([0, 100, 200])
    expect(lastEvent(events)).to.deep.equal({
      _tag: 'RunFailed',
      workflowId: 'p8',
      at: 250,
      state: 'Wait',
      error: timeoutError(250),
      transitions: 1,
      attempt: 1,
    })
  })

  it('fails a timed-out loop with Timeout even when its poll ends on the abort (adv16c t1b)', () => {
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: {
          Wait: poll(
            (ctx) =>
              new Observable<never>((subscriber) => {
                ctx.signal.addEventListener('abort', () => subscriber.error(new Error('aborted')), { once: true })
              }),
            { attemptTimeoutMs: 50, retry: RetryMode.fixed(1, 0) },
          ),
        },
      }).run$('Wait', { workflowId: 'p8t' }),
    )
    expect(events.flatMap((e) => (e._tag === 'AttemptFailed' ? [[e.attempt, e.at, e.error]] : []))).to.deep.equal([
      [1, 50, timeoutError(50)],
      [2, 100, timeoutError(50)],
    ])
  })

  it('consults its circuit breaker: an open breaker rejects the loop before the first poll', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() => {
      const breaker = createCircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 })
      const trial = breaker.tryAcquire()
      if (trial._tag === 'Right') trial.right.failure()
      return workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(scripted([10, 'ready'], calls, clock), { circuitBreaker: breaker }) },
      }).run$('Wait', { workflowId: 'p8b' })
    })
    expect(calls).to.deep.equal([])
    expect(timeline(events, ['CircuitRejected', 'TaskFailed', 'RunFailed'])).to.deep.equal([
      ['CircuitRejected', 0],
      ['TaskFailed', 0],
      ['RunFailed', 0],
    ])
  })

  it('takes a token from its rate limiter per attempt: a limiter that ran dry fails the loop with RateLimited', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() => {
      const limiter = createRateLimiter({ tokens: 1, perMs: 60_000, waits: false })
      limiter.tryAcquire()
      return workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(scripted([10, 'ready'], calls, clock), { rateLimiter: limiter }) },
      }).run$('Wait', { workflowId: 'p8c' })
    })
    expect(calls).to.deep.equal([])
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error._tag : end._tag).to.equal('RateLimited')
  })

  it('restarts the loop from scratch on each retry when retries are configured', () => {
    const calls: number[] = []
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(scripted([10, 'error', 10, 'ready'], calls, clock), { retry: RetryMode.fixed(1, 5) }) },
      }).run$('Wait', { workflowId: 'p9' }),
    )
    expect(calls).to.deep.equal([0, 10, 15, 25])
    expect(lastEvent(events)._tag).to.equal('RunCompleted')
  })

  it('fails with a Workflow error, without retrying, on an outcome that is neither ready nor pending', () => {
    let calls = 0
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(() => (calls++, PollOutcome.pending(-5)), { retry: RetryMode.fixed(3, 1) }) },
      }).run$('Wait', { workflowId: 'p10' }),
    )
    expect(calls).to.equal(1)
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
      workflowError(
        'poll for state "Wait" returned {"_tag":"Pending","delayMs":-5}; expected PollOutcome.ready(state) or PollOutcome.pending(delayMs) with a delay in [0, 2147483647]',
        'Wait',
      ),
    )
  })

  it('accepts Promise and Observable poll results', async () => {
    let n = 0
    const flow = workflow<Step>()({
      exits: ['Done'],
      states: { Wait: poll(async () => (++n < 3 ? PollOutcome.pending(0) : PollOutcome.ready('Done' as const))) },
    })
    expect(await flow.orchestrate('Wait')).to.equal('Done')
    expect(n).to.equal(3)
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Done'],
        states: { Wait: poll(() => timer(30).pipe(map(() => PollOutcome.ready('Done' as const)))) },
      }).run$('Wait', { workflowId: 'p11' }),
    )
    expect(timeline(events, ['RunCompleted'])).to.deep.equal([['RunCompleted', 30]])
  })

  describe('validatePoll', () => {
    it('rejects bad options, naming the state', () => {
      const where = 'state "Wait"'
      expect(
        validatePoll(
          poll(() => PollOutcome.ready('Done'), { maxPolls: 0 }),
          where,
        ),
      ).to.deep.equal(configurationError('state "Wait": maxPolls must be a positive integer, got 0'))
      expect(
        validatePoll(
          poll(() => PollOutcome.ready('Done'), { onError: PollErrorPolicy.retryOnError({ maxErrors: -1 }) }),
          where,
        )?.message,
      ).to.equal('state "Wait": onError.maxErrors must be a non-negative integer, got -1')
      expect(
        validatePoll(
          poll(() => PollOutcome.ready('Done'), {
            onError: PollErrorPolicy.retryOnError({ maxErrors: 1, delayMs: Number.NaN }),
          }),
          where,
        )?.message,
      ).to.match(/onError.delayMs must be a finite number/)
      expect(
        validatePoll(
          poll(() => PollOutcome.ready('Done'), { onError: PollErrorPolicy.failFast() }),
          where,
        ),
      ).to.equal(undefined)
    })
  })
})
