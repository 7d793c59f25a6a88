/**
 * The configuration refinements of codecs/Config.ts (each codec accepts exactly its range, its name is
 * the rule error messages state) and checkConfig (src/internal/checkConfig.ts), which turns a rejected
 * value into the Configuration error naming the field and the value.
 */
import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'

import {
  Count,
  integerIn,
  Jitter,
  MAX_TIMER_MS,
  Multiplier,
  NonNegativeInteger,
  optional,
  Percentage,
  PositiveInteger,
  TimerDelay,
  TimerDuration,
} from '../../codecs/Config.js'
import { configurationError } from '../../src/CanoError.js'
import { checkConfig, showNumber, showNumberOrType } from '../../src/internal/checkConfig.js'

const table: ReadonlyArray<{
  readonly codec: t.Type<number, number>
  readonly name: string
  readonly accepts: ReadonlyArray<number>
  readonly rejects: ReadonlyArray<unknown>
}> = [
  {
    codec: TimerDuration,
    name: 'a finite number in (0, 2147483647]',
    accepts: [Number.MIN_VALUE, 0.5, 1, MAX_TIMER_MS],
    rejects: [0, -0, -1, MAX_TIMER_MS + 1, NaN, Infinity, '10', undefined, null],
  },
  {
    codec: TimerDelay,
    name: 'a finite number in [0, 2147483647]',
    accepts: [0, -0, 0.5, MAX_TIMER_MS],
    rejects: [-1, -Number.MIN_VALUE, MAX_TIMER_MS + 1, NaN, Infinity, '0', undefined],
  },
  {
    codec: PositiveInteger,
    name: 'a positive integer',
    accepts: [1, 2, Number.MAX_SAFE_INTEGER],
    rejects: [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity, '1', 1n],
  },
  {
    codec: NonNegativeInteger,
    name: 'a non-negative integer',
    accepts: [0, 1, Number.MAX_SAFE_INTEGER],
    rejects: [-1, 0.5, NaN, Infinity, '0', undefined],
  },
  {
    codec: Count,
    name: 'an integer in [1, 2147483647]',
    accepts: [1, MAX_TIMER_MS],
    rejects: [0, MAX_TIMER_MS + 1, 1.5, NaN, '1'],
  },
  {
    codec: Multiplier,
    name: 'a finite number >= 1',
    accepts: [1, 1.5, 1e300],
    rejects: [0.999, 0, -2, NaN, Infinity, '2'],
  },
  {
    codec: Jitter,
    name: 'a number in [0, 1]',
    accepts: [0, 0.1, 1],
    rejects: [-0.1, 1.01, NaN, Infinity, '0.1'],
  },
  {
    codec: Percentage,
    name: 'a number in (0, 1]',
    accepts: [Number.MIN_VALUE, 0.5, 1],
    rejects: [0, -0.5, 1.01, NaN, '1'],
  },
]

describe('codecs/Config', () => {
  for (const { codec, name, accepts, rejects } of table) {
    describe(name, () => {
      it('is named after its rule', () => expect(codec.name).to.equal(name))
      it('accepts its range, decoding to the same number', () => {
        for (const n of accepts) {
          expect(codec.is(n), String(n)).to.equal(true)
          expect(codec.decode(n)).to.deep.equal(E.right(n))
        }
      })
      it('rejects everything else', () => {
        for (const u of rejects) {
          expect(codec.is(u), String(u)).to.equal(false)
          expect(E.isLeft(codec.decode(u)), String(u)).to.equal(true)
        }
      })
    })
  }

  it('integerIn takes its bounds from the call, inclusive', () => {
    const upToThree = integerIn(1, 3)
    expect(upToThree.name).to.equal('an integer in [1, 3]')
    expect([0, 1, 3, 4, 2.5].map((n) => upToThree.is(n))).to.deep.equal([false, true, true, false, false])
  })

  it('optional also accepts undefined, under the same name', () => {
    const maybe = optional(PositiveInteger)
    expect(maybe.name).to.equal('a positive integer')
    expect([undefined, 3, 0, null].map((u) => maybe.is(u))).to.deep.equal([true, true, false, false])
  })
})

describe('checkConfig', () => {
  it('is undefined for a value the codec accepts', () => {
    expect(checkConfig(TimerDuration, 100, 'state "A": timeoutMs')).to.equal(undefined)
  })

  it('names the field, the rule and the value', () => {
    expect(checkConfig(TimerDuration, 0, 'state "A": timeoutMs')).to.deep.equal(
      configurationError('state "A": timeoutMs must be a finite number in (0, 2147483647], got 0'),
    )
    expect(checkConfig(PositiveInteger, 'x', 'state "A": bulkhead')?.message).to.equal(
      'state "A": bulkhead must be a positive integer, got "x"',
    )
  })

  it('renders the value the way the call site asks', () => {
    expect(checkConfig(TimerDelay, -0.5, 'f', String)?.message).to.equal(
      'f must be a finite number in [0, 2147483647], got -0.5',
    )
    expect(checkConfig(PositiveInteger, -0, 'f', showNumber)?.message).to.equal('f must be a positive integer, got 0')
    expect(checkConfig(PositiveInteger, -0, 'f')?.message).to.equal('f must be a positive integer, got -0')
    expect(checkConfig(TimerDuration, 'soon', 'f', showNumberOrType)?.message).to.equal(
      'f must be a finite number in (0, 2147483647], got string',
    )
  })

  it('takes a rule that words the codec differently', () => {
    expect(checkConfig(TimerDelay, -1, 'wait', String, 'a duration in [0, 2147483647] ms')?.message).to.equal(
      'wait must be a duration in [0, 2147483647] ms, got -1',
    )
  })

  it('takes a whole message for a call site with its own wording', () => {
    expect(checkConfig(Percentage, 0, (p) => `percentage(p) needs p in (0, 1], got ${String(p)}`)).to.deep.equal(
      configurationError('percentage(p) needs p in (0, 1], got 0'),
    )
  })
})
