/**
 * The package's entries besides the main one (roots/index.ts, listed in test/roots/index.test.ts): each
 * subpath of package.json's `exports` and exactly the names it exports. The Node-only stores live here,
 * so that the main entry runs in browsers (test/roots/browser.test.ts).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'

import { expect } from 'chai'
import ts from 'typescript'

import { barrelExports, packageEntries, ROOT } from '../helpers/barrelExports.js'

/** Each entry's exports: values, then types only, sorted (the main entry's are in test/roots/index.test.ts). */
const ENTRIES: Readonly<Record<string, { readonly values: string[]; readonly types: string[] }>> = {
  './postgres': { values: ['postgresCheckpoints'], types: ['PostgresCheckpointsOptions', 'PostgresPool'] },
  './sqlite': { values: ['sqliteCheckpoints'], types: ['SqliteCheckpointsOptions'] },
}

describe('package entries', function () {
  this.timeout(60_000)
  const entries = packageEntries()

  it('maps every subpath of package.json exports to a source file in roots/', () => {
    for (const e of entries) {
      expect(existsSync(e.source), e.subpath).to.equal(true)
      expect(path.relative(ROOT, path.dirname(e.source))).to.equal('roots')
    }
    expect(entries.find((e) => e.subpath === '.')?.source).to.equal(path.join(ROOT, 'roots', 'index.ts'))
  })

  for (const [subpath, expected] of Object.entries(ENTRIES)) {
    it(`cano-rx${subpath.slice(1)} exports exactly ${[...expected.values, ...expected.types].join(', ')}`, async () => {
      const entry = entries.find((e) => e.subpath === subpath)
      if (entry === undefined) return expect.fail(`package.json exports has no ${subpath}`)
      const values: string[] = []
      const types: string[] = []
      for (const { name, target } of barrelExports(entry.source))
        (target.flags & ts.SymbolFlags.Value ? values : types).push(name)
      expect({ values: values.sort(), types: types.sort() }).to.deep.equal(expected)
      const runtime = (await import(entry.source)) as Record<string, unknown>
      expect(Object.keys(runtime).sort()).to.deep.equal(expected.values)
    })
  }
})
