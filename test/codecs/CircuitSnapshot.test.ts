import { expect } from 'chai'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'

import { CircuitSnapshot } from '../../codecs/CircuitSnapshot.js'

const epoch = fc.nat()
const arbSample = fc.record({
  startMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
  successes: fc.nat(),
  failures: fc.nat(),
})
const arbSnapshot: fc.Arbitrary<CircuitSnapshot> = fc.oneof(
  fc.record({ _tag: fc.constant('Closed' as const), epoch, consecutiveFailures: fc.nat() }),
  fc.record({
    _tag: fc.constant('Closed' as const),
    epoch,
    consecutiveFailures: fc.nat(),
    samples: fc.array(arbSample, { maxLength: 5 }),
  }),
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

  it('decodes a closed snapshot written before samples existed as it was (issue 14)', () => {
    const old = { _tag: 'Closed', epoch: 4, consecutiveFailures: 2 }
    const decoded = CircuitSnapshot.decode(old)
    expect(decoded).to.deep.equal(E.right(old))
    if (E.isRight(decoded)) expect('samples' in decoded.right).to.equal(false)
  })

  it('strips unknown fields of samples too', () => {
    expect(
      CircuitSnapshot.decode({
        _tag: 'Closed',
        epoch: 0,
        consecutiveFailures: 0,
        samples: [{ startMs: 5, successes: 1, failures: 2, bucket: 7 }],
      }),
    ).to.deep.equal(
      E.right({
        _tag: 'Closed',
        epoch: 0,
        consecutiveFailures: 0,
        samples: [{ startMs: 5, successes: 1, failures: 2 }],
      }),
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
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: [{ startMs: 0, successes: 0.5, failures: 0 }] },
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: [{ startMs: Infinity, successes: 0, failures: 0 }] },
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: [{ successes: 0, failures: 0 }] },
      { _tag: 'Closed', epoch: 0, consecutiveFailures: 0, samples: 'none' },
      [],
    ]
    for (const u of bad) expect(E.isLeft(CircuitSnapshot.decode(u)), JSON.stringify(u)).to.equal(true)
  })
})
