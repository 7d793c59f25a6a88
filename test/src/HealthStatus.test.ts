import { expect } from 'chai'

import {
  HealthStatus,
  isHealthStatus,
  isHealthy,
  matchHealthStatus,
  severityOf,
  worstHealth,
} from '../../src/HealthStatus.js'

describe('healthy', () => {
  it('is a frozen Healthy value', () => {
    expect([HealthStatus.healthy, Object.isFrozen(HealthStatus.healthy)]).to.deep.equal([{ _tag: 'Healthy' }, true])
  })
})

describe('degraded', () => {
  it('builds a Degraded value with its reason', () => {
    expect(HealthStatus.degraded('slow')).to.deep.equal({ _tag: 'Degraded', reason: 'slow' })
  })
})

describe('unhealthy', () => {
  it('builds an Unhealthy value with its reason', () => {
    expect(HealthStatus.unhealthy('down')).to.deep.equal({ _tag: 'Unhealthy', reason: 'down' })
  })
})

describe('isHealthStatus', () => {
  it('accepts the three shapes and rejects anything else', () => {
    const candidates: ReadonlyArray<unknown> = [
      HealthStatus.healthy,
      HealthStatus.degraded('x'),
      HealthStatus.unhealthy('y'),
      { _tag: 'Degraded' },
      { _tag: 'Unhealthy', reason: 1 },
      { _tag: 'Ok' },
      'Healthy',
      null,
      undefined,
    ]
    expect(candidates.map(isHealthStatus)).to.deep.equal([true, true, true, false, false, false, false, false, false])
  })
})

describe('isHealthy', () => {
  it('is true only for Healthy', () => {
    expect(
      [HealthStatus.healthy, HealthStatus.degraded('x'), HealthStatus.unhealthy('y')].map(isHealthy),
    ).to.deep.equal([true, false, false])
  })
})

describe('matchHealthStatus', () => {
  it('calls the case of the tag, with the reason', () => {
    const show = matchHealthStatus({
      Healthy: () => 'ok',
      Degraded: (reason) => `degraded: ${reason}`,
      Unhealthy: (reason) => `unhealthy: ${reason}`,
    })
    expect(
      [HealthStatus.healthy, HealthStatus.degraded('slow'), HealthStatus.unhealthy('down')].map(show),
    ).to.deep.equal(['ok', 'degraded: slow', 'unhealthy: down'])
  })
})

describe('severityOf', () => {
  it('orders Healthy < Degraded < Unhealthy', () => {
    expect(
      [HealthStatus.healthy, HealthStatus.degraded('x'), HealthStatus.unhealthy('y')].map(severityOf),
    ).to.deep.equal([0, 1, 2])
  })
})

describe('worstHealth', () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<HealthStatus>, HealthStatus]> = [
    [[], HealthStatus.healthy],
    [[HealthStatus.healthy, HealthStatus.healthy], HealthStatus.healthy],
    [[HealthStatus.healthy, HealthStatus.degraded('a'), HealthStatus.healthy], HealthStatus.degraded('a')],
    [[HealthStatus.degraded('first'), HealthStatus.degraded('second')], HealthStatus.degraded('first')],
    [
      [
        HealthStatus.degraded('a'),
        HealthStatus.unhealthy('first'),
        HealthStatus.degraded('b'),
        HealthStatus.unhealthy('second'),
      ],
      HealthStatus.unhealthy('first'),
    ],
  ]
  cases.forEach(([input, expected]) => {
    it(`is ${JSON.stringify(expected)} for ${JSON.stringify(input)}`, () => {
      expect(worstHealth(input)).to.deep.equal(expected)
    })
  })

  it('accepts any iterable, such as the values of a Map', () => {
    const statuses = new Map<string, HealthStatus>([
      ['a', HealthStatus.degraded('a')],
      ['b', HealthStatus.unhealthy('b')],
    ])
    expect(worstHealth(statuses.values())).to.deep.equal(HealthStatus.unhealthy('b'))
  })
})
