/**
 * Issue 16 item 2: the stepped loop settles synchronous outcomes (plain `StepOutcome`s and `Either`s)
 * inside one `expand` projection, and skips the JSON round trip for the primitive cursor codecs. These
 * tests pin what must not change: the order of steps, cursors and `persist` calls, retries with the same
 * cursor, failures, steps that settle later mixed with ones that do not, what a cursor looks like after
 * its round trip (skipped or not), and resuming from a persisted cursor.
 */
import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { of } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { workflow } from '../../roots/Workflow.js'
import { decodeFailedError, isCanoFailure, taskExecutionError } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'
import type { TaskOutput } from '../../src/TaskOutput.js'
import { runStepped } from '../../streams/runStepped.js'
import { eventsOf, lastEvent } from '../helpers/runEvents.js'

const errorOf = async (p: Promise<unknown>): Promise<CanoError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  )
  if (!isCanoFailure(e)) throw new Error(`expected a CanoFailure, got ${String(e)}`)
  return e.error
}

const count = (c: number | undefined, to: number): StepOutcome<number, number> =>
  (c ?? 0) >= to ? StepOutcome.done(c ?? 0) : StepOutcome.more((c ?? 0) + 1)

describe('stepped: synchronous fast path (issue 16)', () => {
  it('takes Eithers: a Right is the outcome, a Left a failed attempt retried with the same cursor', async () => {
    const seen: Array<number | undefined> = []
    let lefts = 0
    const result = await runStepped({
      cursor: t.number,
      retry: RetryMode.fixed(2, 0),
      step: (_ctx, c) => {
        seen.push(c)
        if (c === 2 && lefts++ < 2) return E.left(new Error('page 2 not ready'))
        return E.right(count(c, 3))
      },
    })
    expect(result).to.equal(3)
    expect(seen).to.deep.equal([undefined, 1, 2, 2, 2, 3])

    const failed = await errorOf(
      runStepped({
        cursor: t.number,
        retry: RetryMode.none(),
        step: (_ctx, c) => (c === 1 ? E.left('gone') : E.right(count(c, 3))),
      }),
    )
    expect(failed).to.deep.equal(taskExecutionError('gone', 'gone'))
  })

  it('fails on a thrown error after the step’s retries, reporting the attempts of that step', async () => {
    let calls = 0
    const flow = workflow<'Scan' | 'Done'>()({
      exits: ['Done'],
      states: {
        Scan: stepped({
          cursor: t.number,
          retry: RetryMode.fixed(1, 0),
          step: (_ctx, c) => {
            calls++
            if ((c ?? 0) >= 5) throw new Error('step 6 exploded')
            return StepOutcome.more((c ?? 0) + 1)
          },
        }),
      },
    })
    const events = await eventsOf(flow.run$('Scan'))
    const end = lastEvent(events)
    expect(end._tag === 'RunFailed' ? end.error : undefined).to.deep.include({ _tag: 'RetryExhausted', attempts: 2 })
    expect(calls).to.equal(7) // steps 1-5, then step 6 twice
    expect(events.filter((e) => e._tag === 'CursorAdvanced')).to.have.length(5)
  })

  it('mixes steps that settle at once with Promises and Observables, in order, with every cursor persisted first', async () => {
    const log: string[] = []
    const result = await runStepped({
      cursor: t.number,
      persist: (encoded, step): TaskOutput<void> => {
        log.push(`persist ${step}:${String(encoded)}`)
        // persists that complete at once and ones that resolve later
        return step % 2 === 0 ? Promise.resolve() : undefined
      },
      step: (_ctx, c): TaskOutput<StepOutcome<number, string>> => {
        const n = c ?? 0
        log.push(`step ${n}`)
        const outcome = n >= 7 ? StepOutcome.done(`counted to ${n}`) : StepOutcome.more(n + 1)
        switch (n % 3) {
          case 0:
            return outcome
          case 1:
            return Promise.resolve(outcome)
          default:
            return of(outcome)
        }
      },
    })
    expect(result).to.equal('counted to 7')
    expect(log).to.deep.equal([
      'step 0',
      'persist 1:1',
      'step 1',
      'persist 2:2',
      'step 2',
      'persist 3:3',
      'step 3',
      'persist 4:4',
      'step 4',
      'persist 5:5',
      'step 5',
      'persist 6:6',
      'step 6',
      'persist 7:7',
      'step 7',
    ])
  })

  it('counts every step, sync or not, in TaskSucceeded and CursorAdvanced', async () => {
    const flow = workflow<'Scan' | 'Done'>()({
      exits: ['Done'],
      states: {
        Scan: stepped({
          cursor: t.number,
          step: (_ctx, c) => {
            const n = c ?? 0
            const outcome = n >= 9 ? StepOutcome.done('Done' as const) : StepOutcome.more(n + 1)
            return n % 4 === 3 ? Promise.resolve(outcome) : outcome
          },
        }),
      },
    })
    const events = await eventsOf(flow.run$('Scan', { workflowId: 'mixed' }))
    expect(events.flatMap((e) => (e._tag === 'CursorAdvanced' ? [e.step] : []))).to.deep.equal([
      1, 2, 3, 4, 5, 6, 7, 8, 9,
    ])
    expect(events.find((e) => e._tag === 'TaskSucceeded')).to.deep.include({ attempts: 10, next: 'Done' })
  })

  it('keeps a flat stack over steps that all resolve later', async () => {
    const depths: number[] = []
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = Infinity
    try {
      await runStepped({
        cursor: t.number,
        step: (_ctx, c) => {
          const n = c ?? 0
          if (n === 10 || n === 4_990) depths.push((new Error().stack ?? '').split('\n').length)
          return Promise.resolve(count(c, 5_000))
        },
      })
    } finally {
      Error.stackTraceLimit = limit
    }
    expect(depths).to.have.length(2)
    expect(depths[1]).to.equal(depths[0])
  })

  it('skips the round trip for primitive codecs only where JSON gives the value back (-0 comes back as 0)', async () => {
    const seen: unknown[] = []
    const persisted: unknown[] = []
    const cursors = [-0, 2.5, 1e21]
    await runStepped({
      cursor: t.number,
      persist: (encoded) => void persisted.push(encoded),
      step: (_ctx, c) => {
        seen.push(c)
        const next = cursors[seen.length - 1]
        return next === undefined ? StepOutcome.done(null) : StepOutcome.more(next)
      },
    })
    expect(seen.slice(1)).to.deep.equal([0, 2.5, 1e21])
    expect(Object.is(seen[1], 0)).to.equal(true)
    // what persist receives is the encoded cursor, before JSON (as before the fast path)
    expect(Object.is(persisted[0], -0)).to.equal(true)

    for (const [codec, cursor] of [
      [t.number, Number.POSITIVE_INFINITY],
      [t.string, 5],
      [t.boolean, 'yes'],
      [t.null, 0],
    ] as const) {
      const error = await errorOf(
        runStepped({
          cursor: codec as t.Type<unknown>,
          step: (_ctx, c) => (c === undefined ? StepOutcome.more(cursor) : StepOutcome.done(c)),
          name: 'prim',
        }),
      )
      expect(error).to.deep.include({ _tag: 'DecodeFailed', codec: codec.name })
      expect(error.message).to.match(/^state "prim", step 1: /)
    }

    const strings: unknown[] = []
    await runStepped({
      cursor: t.string,
      step: (_ctx, c) => {
        strings.push(c)
        return strings.length > 2 ? StepOutcome.done(c) : StepOutcome.more(`${c ?? ''}\ud800é`)
      },
    })
    expect(strings).to.deep.equal([undefined, '\ud800é', '\ud800é\ud800é'])
  })

  it('keeps the round trip for any other codec: the next step sees a decoded copy', async () => {
    const Cursor = t.type({ page: t.number })
    const sent: object[] = []
    const seen: unknown[] = []
    await runStepped({
      cursor: Cursor,
      step: (_ctx, c) => {
        seen.push(c)
        if ((c?.page ?? 0) >= 2) return StepOutcome.done(c)
        const next = { page: (c?.page ?? 0) + 1, scratch: undefined as unknown }
        sent.push(next)
        return StepOutcome.more(next)
      },
    })
    expect(seen.slice(1)).to.deep.equal([{ page: 1 }, { page: 2 }])
    expect(seen[1]).to.not.equal(sent[0])
    expect(Object.keys(seen[1] as object)).to.deep.equal(['page']) // `scratch: undefined` did not survive JSON

    // a union with a primitive member is not a primitive codec: NaN goes through JSON and comes back null
    const unions: unknown[] = []
    await runStepped({
      cursor: t.union([t.number, t.null]),
      step: (_ctx, c) => {
        unions.push(c)
        return c === undefined ? StepOutcome.more(Number.NaN) : StepOutcome.done(c)
      },
    })
    expect(unions).to.deep.equal([undefined, null])
  })

  it('resumes from a persisted cursor: decoded once, numbering on from its step', async () => {
    const seen: unknown[] = []
    const persisted: Array<readonly [unknown, number]> = []
    const result = await runStepped({
      cursor: t.number,
      resumeFrom: { encoded: 40, step: 4 },
      persist: (encoded, step) => void persisted.push([encoded, step]),
      step: (_ctx, c) => {
        seen.push(c)
        return (c ?? 0) >= 60 ? StepOutcome.done(c) : StepOutcome.more((c ?? 0) + 10)
      },
    })
    expect(result).to.equal(60)
    expect(seen).to.deep.equal([40, 50, 60])
    expect(persisted).to.deep.equal([
      [50, 5],
      [60, 6],
    ])

    const Page = t.type({ page: t.number, token: t.string })
    const pages: unknown[] = []
    await runStepped({
      cursor: Page,
      resumeFrom: { encoded: { page: 3, token: 'c' }, step: 3 },
      step: (_ctx, c) => {
        pages.push(c)
        return StepOutcome.done(c)
      },
    })
    expect(pages).to.deep.equal([{ page: 3, token: 'c' }])

    const bad = await errorOf(
      runStepped({
        cursor: t.number,
        resumeFrom: { encoded: 'forty' as unknown as number, step: 4 },
        step: () => StepOutcome.done(0),
        name: 'r',
      }),
    )
    expect(bad).to.deep.equal(
      decodeFailedError(
        'number',
        ['Invalid value "forty" supplied to : number'],
        'state "r", resumed cursor of step 4',
      ),
    )
  })
})
