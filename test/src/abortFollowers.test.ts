/**
 * One `abort` listener per signal however many follow it (src/internal/abortFollowers.ts): the module,
 * then what a user sees. A service passes one shutdown signal to every run, a batch runs its items 30 at a
 * time, a rate limiter's callers share a signal: each used to add a listener of its own, and past ten on
 * one signal Node printed a `MaxListenersExceededWarning` ("possible EventTarget memory leak") although
 * nothing leaked. Every case here checks the warning is not printed, that the signal holds one listener
 * while followed and none after, and that aborting still reaches every follower.
 */
import { getEventListeners } from 'node:events'

import { expect } from 'chai'

import { batch, createRateLimiter, isCanoFailure, retryAsync, RetryMode, task, workflow } from '../../roots/index.js'
import { follow, followersOf, LinkedController, unfollow } from '../../src/internal/abortFollowers.js'

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

/** The `MaxListenersExceededWarning`s Node emits while `body` runs (warnings are emitted on a later tick). */
const leakWarnings = async (body: () => Promise<void>): Promise<string[]> => {
  const seen: string[] = []
  const onWarning = (w: Error): void => {
    if (w.name === 'MaxListenersExceededWarning') seen.push(w.message)
  }
  process.on('warning', onWarning)
  try {
    await body()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', onWarning)
  }
  return seen
}

/** A promise and its resolver. */
const gate = (): { readonly promise: Promise<void>; readonly open: () => void } => {
  let open = (): void => undefined
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

describe('abort followers', () => {
  it('adds one listener for many followers, calls each once in order on abort, and removes it when the last leaves', () => {
    const ac = new AbortController()
    const heard: number[] = []
    const followers = Array.from({ length: 25 }, (_, i) => ({ handleEvent: () => heard.push(i) }))
    for (const f of followers) follow(ac.signal, f)
    follow(ac.signal, followers[3] as (typeof followers)[number]) // twice is once
    expect(listeners(ac.signal)).to.equal(1)
    expect(followersOf(ac.signal)).to.equal(25)
    for (const f of followers.slice(0, 5)) unfollow(ac.signal, f)
    unfollow(ac.signal, { handleEvent: () => undefined }) // one that never followed
    expect(followersOf(ac.signal)).to.equal(20)
    ac.abort()
    expect(heard).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 5))
    expect(listeners(ac.signal)).to.equal(0)
    expect(followersOf(ac.signal)).to.equal(0)
    // after the abort: following does nothing, unfollowing is harmless
    follow(ac.signal, followers[0] as (typeof followers)[number])
    unfollow(ac.signal, followers[0] as (typeof followers)[number])
    expect(listeners(ac.signal)).to.equal(0)

    const quiet = new AbortController()
    for (const f of followers) follow(quiet.signal, f)
    for (const f of followers) unfollow(quiet.signal, f)
    expect(listeners(quiet.signal)).to.equal(0)
    quiet.abort()
    expect(heard).to.have.length(20)
  })

  it('a follower that throws does not keep the others from hearing the abort; its error is reported uncaught', async () => {
    const ac = new AbortController()
    const heard: string[] = []
    follow(ac.signal, { handleEvent: () => heard.push('a') })
    follow(ac.signal, {
      handleEvent: () => {
        throw new Error('follower broke')
      },
    })
    follow(ac.signal, { handleEvent: () => heard.push('c') })
    // mocha's own handler is put aside while the error is expected, then put back
    const saved = process.listeners('uncaughtException')
    process.removeAllListeners('uncaughtException')
    const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve))
    try {
      ac.abort()
      expect(heard).to.deep.equal(['a', 'c'])
      expect(((await uncaught) as Error).message).to.equal('follower broke')
    } finally {
      for (const l of saved) process.on('uncaughtException', l)
    }
  })

  it('a LinkedController aborts with its parent, at once if the parent has, and stops following on unlink', () => {
    const parent = new AbortController()
    const linked = new LinkedController(parent.signal)
    const unlinked = new LinkedController(parent.signal)
    unlinked.unlink()
    unlinked.unlink()
    expect(followersOf(parent.signal)).to.equal(1)
    parent.abort('stop')
    expect(linked.signal.aborted).to.equal(true)
    expect(linked.signal.reason).to.equal('stop')
    expect(unlinked.signal.aborted).to.equal(false)
    const late = new LinkedController(parent.signal)
    expect(late.signal.reason).to.equal('stop')
    expect(listeners(parent.signal)).to.equal(0)
  })

  it('30 runs given one shutdown signal: no leak warning, one listener while they run and none after, and an abort cancels them all', async () => {
    const hold = gate()
    const flow = workflow<'Wait' | 'Done'>()({
      exits: ['Done'],
      states: {
        Wait: task(async () => {
          await hold.promise
          return 'Done' as const
        }),
      },
    })
    const finished = new AbortController()
    const warnings = await leakWarnings(async () => {
      const runs = Array.from({ length: 30 }, (_, i) =>
        flow.orchestrate('Wait', { workflowId: `shared-${String(i)}`, signal: finished.signal }),
      )
      await new Promise((resolve) => setImmediate(resolve))
      expect(listeners(finished.signal)).to.equal(1)
      expect(followersOf(finished.signal)).to.equal(30)
      hold.open()
      expect(await Promise.all(runs)).to.deep.equal(Array.from({ length: 30 }, () => 'Done'))
    })
    expect(warnings).to.deep.equal([])
    expect(listeners(finished.signal)).to.equal(0)

    const shutdown = new AbortController()
    const never = gate()
    const stuck = workflow<'Wait' | 'Done'>()({
      exits: ['Done'],
      states: {
        Wait: task(async () => {
          await never.promise
          return 'Done' as const
        }),
      },
    })
    const cancelled = await leakWarnings(async () => {
      const runs = Array.from({ length: 30 }, (_, i) =>
        stuck.orchestrate('Wait', { workflowId: `stop-${String(i)}`, signal: shutdown.signal }).then(
          () => 'completed',
          (e: unknown) => (isCanoFailure(e) ? e.error._tag : 'other'),
        ),
      )
      await new Promise((resolve) => setImmediate(resolve))
      shutdown.abort()
      expect(await Promise.all(runs)).to.deep.equal(Array.from({ length: 30 }, () => 'Cancelled'))
    })
    expect(cancelled).to.deep.equal([])
    expect(listeners(shutdown.signal)).to.equal(0)
  })

  it('a batch of 30 items at once, each reading its signal: no leak warning, and cancelling the run aborts every item', async () => {
    const hold = gate()
    const aborted: number[] = []
    const flow = workflow<'Items' | 'Done'>()({
      exits: ['Done'],
      states: {
        Items: batch({
          load: () => Array.from({ length: 30 }, (_, i) => i),
          concurrency: 30,
          processItem: async (n: number, { signal }) => {
            signal.addEventListener('abort', () => aborted.push(n))
            await hold.promise
            return n
          },
          finish: () => 'Done' as const,
        }),
      },
    })
    const ac = new AbortController()
    const warnings = await leakWarnings(async () => {
      const run = flow.orchestrate('Items', { workflowId: 'batch-30', signal: ac.signal }).then(
        () => 'completed',
        (e: unknown) => (isCanoFailure(e) ? e.error._tag : 'other'),
      )
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
      ac.abort()
      expect(await run).to.equal('Cancelled')
    })
    expect(warnings).to.deep.equal([])
    expect([...aborted].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i))
    expect(listeners(ac.signal)).to.equal(0)
  })

  it('30 callers of a rate limiter waiting with one signal: one listener, all rejected on abort; none left once served', async () => {
    // one token an hour, taken first: every later caller waits
    const limiter = createRateLimiter({ tokens: 1, perMs: 3_600_000 })
    await limiter.acquire()
    const ac = new AbortController()
    const warnings = await leakWarnings(async () => {
      const waiting = Array.from({ length: 30 }, () =>
        limiter.acquire({ signal: ac.signal }).then(
          () => 'granted',
          (e: unknown) => (isCanoFailure(e) ? e.error._tag : 'other'),
        ),
      )
      expect(listeners(ac.signal)).to.equal(1)
      ac.abort()
      expect(await Promise.all(waiting)).to.deep.equal(Array.from({ length: 30 }, () => 'Cancelled'))
    })
    expect(warnings).to.deep.equal([])
    expect(listeners(ac.signal)).to.equal(0)
  })

  it('30 retryAsync calls sharing a signal, all in their retry delays: no leak warning, all end at the abort', async () => {
    const ac = new AbortController()
    const inDelay = gate()
    let failures = 0
    const warnings = await leakWarnings(async () => {
      const calls = Array.from({ length: 30 }, () =>
        retryAsync(
          () => {
            if (++failures === 30) inDelay.open()
            return Promise.reject(new Error('not yet'))
          },
          { mode: RetryMode.fixed(3, 3_600_000), signal: ac.signal },
        ).then(
          () => 'succeeded',
          (e: unknown) => (isCanoFailure(e) ? e.error._tag : 'other'),
        ),
      )
      await inDelay.promise
      await new Promise((resolve) => setImmediate(resolve))
      ac.abort()
      expect(await Promise.all(calls)).to.deep.equal(Array.from({ length: 30 }, () => 'Cancelled'))
    })
    expect(warnings).to.deep.equal([])
  })

  it('retryAsync calls on one long-lived signal keep one listener on it, however many have run (as the README says)', async () => {
    const ac = new AbortController()
    expect(listeners(ac.signal)).to.equal(0)
    for (let i = 0; i < 2_000; i++) await retryAsync(() => i, { mode: RetryMode.fixed(1, 1), signal: ac.signal })
    expect(listeners(ac.signal)).to.equal(1)
    const concurrent = await Promise.all(
      Array.from({ length: 200 }, (_, i) => retryAsync(() => i, { mode: RetryMode.none(), signal: ac.signal })),
    )
    expect(concurrent).to.have.length(200)
    expect(listeners(ac.signal)).to.equal(1)
  })
})
