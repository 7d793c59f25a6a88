/**
 * Every example under examples/ runs in its own process, exits 0 and prints what it should, so the
 * examples the README and docs point at never rot.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { expect } from 'chai'

import { EXAMPLES, runExample } from '../examples/run-all.js'

describe('examples', function () {
  this.timeout(90_000)
  let tmp = ''
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'cano-rx-examples-'))
  })
  after(() => rmSync(tmp, { recursive: true, force: true }))

  for (const e of EXAMPLES) {
    it(`examples/${e.file} runs to the end and prints "${e.expect}"`, async () => {
      const r = await runExample(e, tmp)
      expect(r.ok, r.detail).to.equal(true)
    })
  }
})
