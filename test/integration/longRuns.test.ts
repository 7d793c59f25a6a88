/**
 * Long runs: a workflow that takes a million transitions in one process. They belong to the integration
 * suite because they take tens of seconds on a loaded machine, not because they touch anything outside
 * the process (the unit suite must stay under 30 s).
 */
import { expect } from 'chai'
import * as t from 'io-ts'

import { workflow } from '../../roots/Workflow.js'
import { StepOutcome, stepped } from '../../src/Stepped.js'

type Step = 'Scan' | 'Report'

describe('stepped: long runs', () => {
  it('runs a million synchronous steps with a flat stack', async function () {
    this.timeout(120_000)
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = Infinity
    const depths: number[] = []
    const flow = workflow<Step>()({
      exits: ['Report'],
      states: {
        Scan: stepped({
          cursor: t.number,
          step: (_ctx, c) => {
            const n = c ?? 0
            if (n % 200_000 === 1) depths.push((new Error().stack ?? '').split('\n').length)
            return n >= 1_000_000 ? StepOutcome.done('Report' as const) : StepOutcome.more(n + 1)
          },
        }),
      },
    })
    try {
      expect(await flow.orchestrate('Scan')).to.equal('Report')
    } finally {
      Error.stackTraceLimit = limit
    }
    expect(depths.length).to.equal(5)
    const steady = depths.slice(1)
    expect(Math.max(...steady) - Math.min(...steady)).to.be.at.most(2)
  })
})
