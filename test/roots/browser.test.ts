/**
 * The main entry runs in a browser: bundled by esbuild for `platform: 'browser'` from the sources (no
 * Node built-in may be reached) and run in a context with the web platform's globals only
 * (test/helpers/browserBundle.ts). test/package.test.ts does the same with the packed tarball.
 */
import path from 'node:path'

import { expect } from 'chai'

import { BROWSER_APP, buildErrors, bundleForBrowser, runLikeABrowser } from '../helpers/browserBundle.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const FROM_SOURCES = { 'cano-rx': path.join(ROOT, 'roots', 'index.ts') }

describe('the main entry in a browser', function () {
  this.timeout(60_000)

  it('bundles and loads everything it exports, reaching no Node built-in', async () => {
    const { code, inputs } = await bundleForBrowser(
      "import * as cano from 'cano-rx'\n;(globalThis as { result?: unknown }).result = Promise.resolve(Object.keys(cano))",
      ROOT,
      FROM_SOURCES,
    )
    expect(inputs.filter((i) => /(^|\/)node:|better-sqlite3|\/pg\//.test(i))).to.deep.equal([])
    expect(inputs).to.include('roots/index.ts')
    const inNode = Object.keys(await import('../../roots/index.js'))
    expect(await runLikeABrowser(code)).to.have.members(inNode)
  })

  it('runs a workflow with a MemoryStore and folds it with reduceRunState, ids from getRandomValues', async () => {
    const { code } = await bundleForBrowser(BROWSER_APP, ROOT, FROM_SOURCES)
    const result = await runLikeABrowser(code)
    expect(result).to.deep.include({
      status: 'completed',
      history: ['Load', 'Save', 'Done'],
      totalAttempts: 3,
      frozen: true,
      rows: 3,
      diagram: 8,
    })
    expect((result as { workflowId: string }).workflowId).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/)
  })

  it('cannot bundle the SQLite entry for the browser: it is Node-only, and says so at build time', async () => {
    const failure = await bundleForBrowser("export { sqliteCheckpoints } from 'cano-rx/sqlite'", ROOT, {
      'cano-rx/sqlite': path.join(ROOT, 'roots', 'sqlite.ts'),
    }).then(
      () => [],
      (e: unknown) => buildErrors(e),
    )
    expect(failure).to.include('Could not resolve "node:fs/promises"')
  })
})
