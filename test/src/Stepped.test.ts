import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { asyncScheduler, map, timer } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { CanoFailure, configurationError, decodeFailedError, taskExecutionError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { StepOutcome, stepped, validateStepped } from '../../src/Stepped.js'
import { eventsInVirtualTime, eventsOf, lastEvent, timeline } from '../helpers/runEvents.js'

type Step = 'Scan' | 'Report'

/** A cursor codec that is a `Date` in memory and an ISO string on the wire. */
const DateFromISO = new t.Type<Date, string, unknown>(
  'DateFromISO',
  (u): u is Date => u instanceof Date,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const d = new Date(u)
    return Number.isNaN(d.getTime()) ? t.failure(u, c) : t.success(d)
  },
  (d) => d.toISOString(),
)

describe('stepped', () => {
  it('feeds each cursor back until done, starting from undefined, and reports every cursor', async () => {
    const seen: Array<number | undefined> = []
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: ({ stepped: s }) => ({
        Scan: s({
          cursor: t.number,
          step: (_ctx, c) => {
            seen.push(c)
            return (c ?? 0) >= 3 ? StepOutcome.done('Report') : StepOutcome.more((c ?? 0) + 1)
          },
        }),
      }),
    })
    const events = await eventsOf(flow.run$('Scan', { workflowId: 's1' }))
    expect(seen).to.deep.equal([undefined, 1, 2, 3])
    expect(events.flatMap((e) => (e._tag === 'CursorAdvanced' ? [[e.step, e.cursor]] : []))).to.deep.equal([
      [1, 1],
      [2, 2],
      [3, 3],
    ])
    expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Report' })
    const ok = events.find((e) => e._tag === 'TaskSucceeded')
    expect(ok).to.deep.include({ attempts: 4, next: 'Report' })
  })

  it('encodes cursors with the codec and hands the next step the decoded value', async () => {
    const received: unknown[] = []
    const start = new Date('2026-01-01T00:00:00.000Z')
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: DateFromISO,
          step: (_ctx, c) => {
            received.push(c)
            if (c === undefined) return StepOutcome.more(start)
            return c.getUTCDate() >= 3
              ? StepOutcome.done('Report' as const)
              : StepOutcome.more(new Date(c.getTime() + 86_400_000))
          },
        }),
      },
    })
    const events = await eventsOf(flow.run$('Scan'))
    expect(received.slice(1).every((d) => d instanceof Date)).to.equal(true)
    expect(events.flatMap((e) => (e._tag === 'CursorAdvanced' ? [e.cursor] : []))).to.deep.equal([
      '2026-01-01T00:00:00.000Z',
      '2026-01-02T00:00:00.000Z',
      '2026-01-03T00:00:00.000Z',
    ])
  })

  it('fails with DecodeFailed naming the state and step when a cursor does not encode and decode back', async () => {
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: t.number,
          step: (_ctx, c) => (c === undefined ? StepOutcome.more(1) : StepOutcome.more(Number.NaN)),
        }),
      },
    })
    const events = await eventsOf(flow.run$('Scan'))
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
      decodeFailedError('number', ['Invalid value null supplied to : number'], 'state "Scan", step 2'),
    )
  })

  it('retries a failed step on its own, with the same cursor', async () => {
    const seen: Array<number | undefined> = []
    let failures = 0
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: t.number,
          retry: RetryMode.fixed(2, 0),
          step: async (_ctx, c) => {
            seen.push(c)
            if (c === 1 && failures++ === 0) throw new Error('flaky page')
            return (c ?? 0) >= 2 ? StepOutcome.done('Report' as const) : StepOutcome.more((c ?? 0) + 1)
          },
        }),
      },
    })
    expect(await flow.orchestrate('Scan')).to.equal('Report')
    expect(seen).to.deep.equal([undefined, 1, 1, 2])
  })

  it('applies attemptTimeoutMs to each step, not to the whole loop (virtual time)', () => {
    const events = eventsInVirtualTime(() =>
      workflow<Step>()({
        exits: ['Report'],
        states: {
          Scan: stepped({
            cursor: t.number,
            attemptTimeoutMs: 50,
            step: (_ctx, c) =>
              timer(40).pipe(
                map(() => ((c ?? 0) >= 4 ? StepOutcome.done('Report' as const) : StepOutcome.more((c ?? 0) + 1))),
              ),
          }),
        },
      }).run$('Scan', { workflowId: 's2' }),
    )
    expect(timeline(events, ['RunCompleted'])).to.deep.equal([['RunCompleted', 200]])
    expect(asyncScheduler.now()).to.be.a('number')
  })

  it('catches a throwing step like any task (cano 0.12 lets it escape)', async () => {
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: t.number,
          retry: RetryMode.none(),
          step: () => {
            throw new Error('step exploded')
          },
        }),
      },
    })
    const end = lastEvent(await eventsOf(flow.run$('Scan')))
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.equal(
      taskExecutionError('step exploded', new Error('step exploded')),
    )
  })

  it('lets a cancellation and the total timeout through between steps that never wait', async () => {
    const BOUND = 1_000_000 // seconds of steps on any machine: far more than the run is allowed
    let synchronousSteps = 0
    const timed = workflow<Step>()({
      exits: ['Report'],
      totalTimeoutMs: 100,
      states: {
        Scan: stepped({
          cursor: t.number,
          step: (_ctx, c) => {
            synchronousSteps += 1
            return (c ?? 0) >= BOUND ? StepOutcome.done('Report' as const) : StepOutcome.more((c ?? 0) + 1)
          },
        }),
      },
    })
    const timedOut = await timed.orchestrate('Scan').then(
      () => undefined,
      (e: unknown) => (e instanceof CanoFailure ? e.error._tag : e),
    )
    expect(timedOut).to.equal('WorkflowTimeout')
    expect(synchronousSteps).to.be.below(BOUND)

    let immediateSteps = 0
    const ac = new AbortController()
    const cancellable = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: t.number,
          // resolves at once: only microtasks between steps, which never let a timer run
          step: (_ctx, c) => {
            immediateSteps += 1
            return Promise.resolve(
              (c ?? 0) >= BOUND ? StepOutcome.done('Report' as const) : StepOutcome.more((c ?? 0) + 1),
            )
          },
        }),
      },
    })
    setTimeout(() => ac.abort(), 30)
    const cancelled = await cancellable.orchestrate('Scan', { signal: ac.signal }).then(
      () => undefined,
      (e: unknown) => (e instanceof CanoFailure ? e.error._tag : e),
    )
    expect(cancelled).to.equal('Cancelled')
    expect(immediateSteps).to.be.below(BOUND)
  })

  describe('validateStepped', () => {
    it('rejects a cursor that is not an io-ts codec', () => {
      const h = stepped({ cursor: t.number, step: () => StepOutcome.done('Report') })
      expect(validateStepped({ ...h, cursor: JSON.parse('{}') as typeof h.cursor }, 'state "Scan"')).to.deep.equal(
        configurationError('state "Scan": cursor must be an io-ts codec (e.g. t.number, t.type({ … }))'),
      )
      expect(validateStepped(h, 'state "Scan"')).to.equal(undefined)
      expect(E.isRight(t.number.decode(1))).to.equal(true)
    })
  })
})
