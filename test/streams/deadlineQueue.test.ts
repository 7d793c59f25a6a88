import { expect } from 'chai'
import { asyncScheduler, map, of, Subscription, timer } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'

import { type Deadline, DeadlineQueue, deadlineQueueOf } from '../../streams/internal/deadlineQueue.js'
import { timeoutAttempt } from '../../streams/timeoutAttempt.js'
import { createVirtualClock, type VirtualClock } from '../helpers/virtualTime.js'

/** A deadline recording when (and in which order) it expired. */
const deadline = (name: string, clock: VirtualClock, fired: Array<readonly [string, number]>): Deadline => ({
  deadlineAt: 0,
  deadlineSeq: 0,
  deadlineQueued: false,
  expire: () => void fired.push([name, clock.now()]),
})

describe('deadlineQueue (issue 16)', () => {
  it('expires deadlines in due order, those due at the same instant in the order they were added', () => {
    const clock = createVirtualClock()
    const q = new DeadlineQueue(clock)
    const fired: Array<readonly [string, number]> = []
    for (const [name, ms] of [
      ['a', 30],
      ['b', 10],
      ['c', 20],
      ['d', 10],
      ['e', 0],
    ] as const)
      q.add(deadline(name, clock, fired), ms)
    expect(q.size).to.equal(5)
    // one scheduled action for the five deadlines
    expect(clock.pending()).to.equal(1)
    clock.advanceSync(30)
    expect(fired).to.deep.equal([
      ['e', 0],
      ['b', 10],
      ['d', 10],
      ['c', 20],
      ['a', 30],
    ])
    expect(q.size).to.equal(0)
    expect(clock.pending()).to.equal(0)
  })

  it('never expires a cancelled deadline, and cancels its wake-up once no deadline is left (virtual time)', () => {
    const clock = createVirtualClock()
    const q = new DeadlineQueue(clock)
    const fired: Array<readonly [string, number]> = []
    const a = deadline('a', clock, fired)
    const b = deadline('b', clock, fired)
    q.add(a, 10)
    q.add(b, 20)
    q.cancel(a)
    q.cancel(a) // twice: nothing more
    expect(q.size).to.equal(1)
    expect(clock.pending()).to.equal(1)
    clock.advanceSync(15)
    expect(fired).to.deep.equal([])
    q.cancel(b)
    expect(q.size).to.equal(0)
    expect(clock.pending()).to.equal(0)
    clock.advanceSync(100)
    expect(fired).to.deep.equal([])
    // a cancelled deadline can be queued again
    q.add(a, 5)
    clock.advanceSync(5)
    expect(fired).to.deep.equal([['a', 120]])
  })

  it('re-arms for a deadline due before the armed wake-up, and takes deadlines added while expiring', () => {
    const clock = createVirtualClock()
    const q = new DeadlineQueue(clock)
    const fired: Array<readonly [string, number]> = []
    q.add(deadline('late', clock, fired), 100)
    q.add(deadline('early', clock, fired), 10)
    expect(clock.pending()).to.equal(1)
    q.add(
      {
        ...deadline('chain', clock, fired),
        expire: () => {
          fired.push(['chain', clock.now()])
          q.add(deadline('added while expiring', clock, fired), 5)
        },
      },
      10,
    )
    clock.advanceSync(200)
    expect(fired).to.deep.equal([
      ['early', 10],
      ['chain', 10],
      ['added while expiring', 15],
      ['late', 100],
    ])
    expect(clock.pending()).to.equal(0)
  })

  it('fires a deadline added while expiring before an action scheduled after it for the same instant (adv16c t4)', () => {
    const clock = createVirtualClock()
    const q = new DeadlineQueue(clock)
    const fired: Array<readonly [string, number]> = []
    q.add(
      {
        ...deadline('first', clock, fired),
        expire: () => {
          fired.push(['first', clock.now()])
          // an attempt starting in the expiry: its deadline, then its task's timer, due at the same instant
          q.add(deadline('deadline', clock, fired), 10)
          clock.schedule(() => void fired.push(['timer', clock.now()]), 10)
        },
      },
      10,
    )
    clock.advanceSync(30)
    expect(fired).to.deep.equal([
      ['first', 10],
      ['deadline', 20],
      ['timer', 20],
    ])
    expect(clock.pending()).to.equal(0)
  })

  it('serves many concurrent deadlines behind one wake-up; cancelling most compacts the heap', () => {
    const clock = createVirtualClock()
    const q = new DeadlineQueue(clock)
    const fired: Array<readonly [string, number]> = []
    const all: Deadline[] = []
    // 1 000 deadlines due 1..50 ms out, in a scrambled order
    for (let i = 0; i < 1_000; i++) {
      const d = deadline(String(i), clock, fired)
      all.push(d)
      q.add(d, 1 + ((i * 37) % 50))
    }
    expect(clock.pending()).to.equal(1)
    // cancel 900 of them (every one whose index is not a multiple of 10)
    all.forEach((d, i) => {
      if (i % 10 !== 0) q.cancel(d)
    })
    expect(q.size).to.equal(100)
    for (let t = 0; t < 50; t++) {
      clock.advanceSync(1)
      expect(clock.pending()).to.be.at.most(1)
    }
    const expected = all
      .map((_, i) => i)
      .filter((i) => i % 10 === 0)
      .map((i) => [String(i), 1 + ((i * 37) % 50)] as const)
      .sort((x, y) => x[1] - y[1] || Number(x[0]) - Number(y[0]))
    expect(fired).to.deep.equal(expected)
    expect(clock.pending()).to.equal(0)
  })

  it('is one queue per scheduler; asyncScheduler on a TestScheduler.run clock shares none', () => {
    const clock = createVirtualClock()
    expect(deadlineQueueOf(clock)).to.equal(deadlineQueueOf(clock))
    expect(deadlineQueueOf(clock)).to.not.equal(deadlineQueueOf(createVirtualClock()))
    const real = deadlineQueueOf(asyncScheduler)
    expect(deadlineQueueOf(asyncScheduler)).to.equal(real)
    const sessions: DeadlineQueue[] = []
    const errorsAt: Array<readonly [number, number]> = []
    for (let i = 0; i < 2; i++) {
      // each session's asyncScheduler runs on its own virtual clock from 0: a wake-up armed in one session
      // must not stand in for the next one's
      new TestScheduler((a, b) => void expect(a).to.deep.equal(b)).run(({ flush }) => {
        sessions.push(deadlineQueueOf(asyncScheduler))
        const slow$ = timer(50).pipe(map(() => 'late'))
        const subs = new Subscription()
        for (const ms of [40, 20])
          subs.add(
            slow$.pipe(timeoutAttempt({ timeoutMs: ms })).subscribe({
              error: () => errorsAt.push([i, asyncScheduler.now()]),
            }),
          )
        flush()
        subs.unsubscribe()
      })
    }
    expect(sessions[0]).to.not.equal(sessions[1])
    expect(sessions).to.not.include(real)
    expect(errorsAt).to.deep.equal([
      [0, 20],
      [0, 40],
      [1, 20],
      [1, 40],
    ])
  })

  it('timeoutAttempt: a source that delivers first leaves nothing pending on the scheduler', () => {
    const clock = createVirtualClock()
    const seen: string[] = []
    const subs = new Subscription()
    for (let i = 0; i < 100; i++)
      subs.add(
        of('ok')
          .pipe(timeoutAttempt({ timeoutMs: 10, scheduler: clock }))
          .subscribe((v) => seen.push(v)),
      )
    expect(seen).to.have.length(100)
    expect(clock.pending()).to.equal(0)
    const slow = timer(30, clock).pipe(timeoutAttempt({ timeoutMs: 10, scheduler: clock }))
    const errors: unknown[] = []
    for (let i = 0; i < 100; i++) subs.add(slow.subscribe({ error: (e: unknown) => errors.push(e) }))
    // 100 timers of the sources, one wake-up for the 100 deadlines
    expect(clock.pending()).to.equal(101)
    clock.advanceSync(10)
    expect(errors).to.have.length(100)
    expect(clock.pending()).to.equal(0)
    subs.unsubscribe()
  })

  it('on a Node timer (asyncScheduler): an idle wake-up stays armed, unreferenced after the turn, and is referenced again by the next deadline', async () => {
    const q = deadlineQueueOf(asyncScheduler)
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
    const fired: string[] = []
    const d: Deadline = { deadlineAt: 0, deadlineSeq: 0, deadlineQueued: false, expire: () => void fired.push('d') }
    q.add(d, 60_000)
    expect(q.holdsProcess).to.equal(true)
    q.cancel(d)
    // deadlines that follow each other within a turn toggle nothing
    q.add(d, 60_000)
    q.cancel(d)
    expect(q.holdsProcess).to.equal(true)
    await turn()
    // still armed, but nothing keeps the process alive for it
    expect(q.holdsProcess).to.equal(false)
    q.add(d, 60_000)
    expect(q.holdsProcess).to.equal(true)
    q.cancel(d)
    await turn()
    expect(q.holdsProcess).to.equal(false)
    expect(fired).to.deep.equal([])
  })
})
