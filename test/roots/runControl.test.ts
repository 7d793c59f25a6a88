/**
 * `RunControl` (roots/internal/ownedRun.ts): how a runtime reaches a run it executes. What is asked
 * before the run starts reaches it as it starts; a hand-over wins over a cancel asked before it.
 */
import { expect } from 'chai'

import { RunControl } from '../../roots/internal/ownedRun.js'

const recorder = (): { readonly seen: string[]; readonly run: { requestCancel(): void; handOver(): void } } => {
  const seen: string[] = []
  return { seen, run: { requestCancel: () => seen.push('cancel'), handOver: () => seen.push('handOver') } }
}

describe('RunControl', () => {
  it('reaches an attached run at once', () => {
    const control = new RunControl()
    const { seen, run } = recorder()
    control.attach(run)
    expect(seen).to.deep.equal([])
    control.cancel()
    control.handOver()
    expect(seen).to.deep.equal(['cancel', 'handOver'])
  })

  it('holds a cancel asked before the run started and applies it as it attaches', () => {
    const control = new RunControl()
    control.cancel()
    const { seen, run } = recorder()
    control.attach(run)
    expect(seen).to.deep.equal(['cancel'])
  })

  it('a hand-over asked before the start is applied alone: a handed-over run is not cancelled', () => {
    const control = new RunControl()
    control.cancel()
    control.handOver()
    const { seen, run } = recorder()
    control.attach(run)
    expect(seen).to.deep.equal(['handOver'])
  })
})
