/** Issue 14 item 8: `runStepped` / `stepUntilDone`, the stepped kind's cursor loop outside a workflow. */
import { expect } from 'chai'
import * as t from 'io-ts'
import { from, toArray } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { CanoFailure, isCanoFailure } from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { StepOutcome } from '../../src/Stepped.js'
import { runStepped, stepUntilDone } from '../../streams/runStepped.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { createVirtualClock } from '../helpers/virtualTime.js'

const errorOf = async (p: Promise<unknown>): Promise<CanoError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  )
  if (!isCanoFailure(e)) throw new Error(`expected a CanoFailure, got ${String(e)}`)
  return e.error
}

/** A cursor whose JSON form is a string: each step sees the decoded `Date`. */
const DateFromString = new t.Type<Date, string, unknown>(
  'DateFromString',
  (u): u is Date => u instanceof Date,
  (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
  (d) => d.toISOString(),
)

describe('runStepped', () => {
  it('feeds each cursor to the next step through its codec, persists it first, and returns the done value', async () => {
    const seen: unknown[] = []
    const persisted: Array<readonly [unknown, number]> = []
    const result = await runStepped({
      cursor: DateFromString,
      step: (_ctx, at) => {
        seen.push(at)
        const day = at?.getUTCDate() ?? 0
        return day >= 3
          ? StepOutcome.done(`stopped on day ${day}`)
          : StepOutcome.more(new Date(Date.UTC(2024, 0, day + 1)))
      },
      persist: async (encoded, step) => {
        persisted.push([encoded, step])
      },
    })
    expect(result).to.equal('stopped on day 3')
    deepStrictEqual(seen, [undefined, new Date('2024-01-01'), new Date('2024-01-02'), new Date('2024-01-03')])
    deepStrictEqual(persisted, [
      ['2024-01-01T00:00:00.000Z', 1],
      ['2024-01-02T00:00:00.000Z', 2],
      ['2024-01-03T00:00:00.000Z', 3],
    ])
  })

  it('resumes from a persisted cursor without repeating the steps before it', async () => {
    const seen: Array<number | undefined> = []
    const persisted: number[] = []
    const total = await runStepped({
      cursor: t.number,
      step: (_ctx, n) => (seen.push(n), (n ?? 0) >= 5 ? StepOutcome.done(n) : StepOutcome.more((n ?? 0) + 1)),
      persist: (_encoded, step) => void persisted.push(step),
      resumeFrom: { encoded: 3, step: 3 },
    })
    deepStrictEqual([total, seen, persisted], [5, [3, 4, 5], [4, 5]])
  })

  it('retries a failing step with the same cursor, in virtual time', async () => {
    const clock = createVirtualClock()
    const log: string[] = []
    let result: unknown
    void runStepped({
      cursor: t.number,
      step: ({ attempt }, n = 0) => {
        log.push(`${n}#${attempt}@${clock.now()}`)
        if (n === 1 && attempt === 1) throw new Error('503')
        return n >= 2 ? StepOutcome.done('ok') : StepOutcome.more(n + 1)
      },
      retry: RetryMode.fixed(2, 30),
      scheduler: clock,
    }).then((r) => (result = r))
    await clock.runUntilIdle()
    deepStrictEqual([log, result], [['0#1@0', '1#1@0', '1#2@30', '2#1@30'], 'ok'])
  })

  it('fails with DecodeFailed for a cursor its codec rejects, and for a bad resume cursor', async () => {
    const bad = await errorOf(
      runStepped({
        cursor: t.number,
        step: () => StepOutcome.more('one' as unknown as number),
        retry: RetryMode.none(),
      }),
    )
    expect(bad._tag).to.equal('DecodeFailed')
    const resumed = await errorOf(
      runStepped({ cursor: t.number, step: () => StepOutcome.done(1), resumeFrom: { encoded: 'x' as never, step: 2 } }),
    )
    expect(resumed._tag).to.equal('DecodeFailed')
    expect(resumed.message).to.contain('resumed cursor of step 2')
  })

  it('fails with a Workflow error when a step answers something else than a StepOutcome', async () => {
    const error = await errorOf(runStepped({ cursor: t.number, step: () => 42 as never, retry: RetryMode.none() }))
    expect(error._tag).to.equal('Workflow')
    expect(error.message).to.equal('step 1 of state "runStepped" returned 42; expected more(cursor) or done(value)')
  })

  const invalid: ReadonlyArray<readonly [string, () => Promise<unknown>, string]> = [
    [
      'cursor',
      () => runStepped({ cursor: {} as never, step: () => StepOutcome.done(1) }),
      'runStepped: cursor must be an io-ts codec (e.g. t.number, t.type({ … }))',
    ],
    ['step', () => runStepped({ cursor: t.number, step: undefined as never }), 'runStepped: step must be a function'],
    [
      'persist',
      () => runStepped({ cursor: t.number, step: () => StepOutcome.done(1), persist: 'db' as never }),
      'runStepped: persist must be a function, got "db"',
    ],
    [
      'resumeFrom.step',
      () => runStepped({ cursor: t.number, step: () => StepOutcome.done(1), resumeFrom: { encoded: 1, step: -1 } }),
      'runStepped: resumeFrom.step must be a non-negative integer, got -1',
    ],
    [
      'resumeFrom',
      () => runStepped({ cursor: t.number, step: () => StepOutcome.done(1), resumeFrom: 4 as never }),
      'runStepped: resumeFrom must be { encoded, step }, got 4',
    ],
    ['options', () => runStepped(null as never), 'runStepped: options must be an object, got null'],
  ]
  for (const [field, run, message] of invalid) {
    it(`rejects an invalid ${field} with a Configuration error naming it`, async () => {
      deepStrictEqual(await errorOf(run()), { _tag: 'Configuration', message })
    })
  }
})

describe('stepUntilDone', () => {
  it('runs one loop per source value, in order, its steps receiving the value', async () => {
    const out: string[] = []
    await new Promise<void>((resolve) =>
      from(['ab', 'xyz'])
        .pipe(
          stepUntilDone({
            cursor: t.number,
            step: (_ctx, i = 0, word: string) =>
              i >= word.length ? StepOutcome.done(`${word}: ${i} letters`) : StepOutcome.more(i + 1),
          }),
          toArray(),
        )
        .subscribe((xs) => {
          out.push(...xs)
          resolve()
        }),
    )
    deepStrictEqual(out, ['ab: 2 letters', 'xyz: 3 letters'])
  })

  it('checks its options when it is created', () => {
    expect(() => stepUntilDone({ cursor: t.number, step: () => StepOutcome.done(1), attemptTimeoutMs: 0 })).to.throw(
      CanoFailure,
      /attemptTimeoutMs/,
    )
  })
})
