/**
 * The README's list of events names every event of the `WorkflowEvent` union, so a new event cannot land
 * without being listed where users look for it.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

import { expect } from 'chai'

import { ROOT } from '../helpers/docBlocks.js'

const eventTags = (): string[] =>
  [...readFileSync(path.join(ROOT, 'src/WorkflowEvent.ts'), 'utf8').matchAll(/^\s*readonly _tag: '(\w+)'$/gm)].map(
    (m) => m[1] ?? '',
  )

describe('README event list', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const tags = eventTags()

  it('finds the event tags of src/WorkflowEvent.ts', () => {
    expect(tags).to.include.members(['RunStarted', 'RunCompleted', 'CompensationFailed'])
  })

  for (const tag of tags) {
    it(`names ${tag}`, () => {
      expect(readme.includes(`\`${tag}\``), `README.md does not name the event \`${tag}\``).to.equal(true)
    })
  }
})
