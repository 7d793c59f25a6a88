import { expect } from 'chai'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'

import { CircuitSnapshot } from '../../codecs/CircuitSnapshot.js'

const epoch = fc.nat()
const arbSnapshot: fc.Arbitrary<CircuitSnapshot> = fc.oneof(
  fc.record({ _tag: fc.constant('Closed' as const), epoch, consecutiveFailures: fc.nat() }),
  fc.record({
    _tag: fc.constant('Open' as const),
    epoch,
    untilMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
  }),
  fc.record({ _tag: fc.constant('HalfOpen' as const), epoch, successes: fc.nat() }),
)

describe('CircuitSnapshot', () => {
  it('round-trips every snapshot through JSON', () => {
    fc.assert(
      fc.property(arbSnapshot, (s) => {
        const wire: unknown = JSON.parse(JSON.stringify(CircuitSnapshot.encode(s)))
        // JSON turns -0 into 0: compare through JSON as well
        expect(CircuitSnapshot.decode(wire)).to.deep.equal(E.right(JSON.parse(JSON.stringify(s))))
      }),
    )
  })

  it('strips unknown fields', () => {
    expect(CircuitSnapshot.decode({ _tag: 'Closed', epoch: 1, consecutiveFailures: 2, extra: true })).to.deep.equal(
      E.right({ _tag: 'Closed', epoch: 1, consecutiveFailures: 2 }),
    )
  })

  it('rejects negative or fractional counters, non-finite deadlines and unknown tags', () => {
    const bad: ReadonlyArray<unknown> = [
      { _tag: 'Closed', epoch: -1, consecutiveFailures: 0 },
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 1.5 },
      { _tag: 'Open', epoch: 0, untilMs: Infinity },
      { _tag: 'Open', epoch: 0 },
      { _tag: 'HalfOpen', epoch: 2 ** 53, successes: 0 },
      { _tag: 'Isolated', epoch: 0 },
      [],
    ]
    for (const u of bad) expect(E.isLeft(CircuitSnapshot.decode(u)), JSON.stringify(u)).to.equal(true)
  })
})
