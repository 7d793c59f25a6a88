/**
 * Every public export is documented with an example: each name exported by `roots/index.ts` (and by the
 * subpath entries, `roots/inspector.ts`),
 * followed through its re-exports to the declaration, must carry a TSDoc comment with an `@example` tag.
 * Types and interfaces included: their `@example` goes on the type itself. When a name has several
 * declarations (a codec and its type, overloads), one of them carrying the example is enough.
 * `test/docs/examples.test.ts` checks that the examples compile.
 */
import path from 'node:path'

import { expect } from 'chai'
import ts from 'typescript'

import { barrelExports, ROOT, SUBPATH_BARRELS } from '../helpers/barrelExports.js'

/**
 * Exports that had no `@example` when this test was written. The list only shrinks: once one of them gains
 * an example (or stops being exported), the second test below asks for it to be removed from here.
 */
const KNOWN_MISSING: ReadonlySet<string> = new Set<string>([])

interface Export {
  readonly name: string
  /** `file:line` of each declaration. */
  readonly where: ReadonlyArray<string>
  readonly hasDoc: boolean
  readonly hasExample: boolean
}

const publicExports = (): Export[] => {
  return [undefined, ...Object.values(SUBPATH_BARRELS)]
    .flatMap((barrel) => barrelExports(barrel))
    .map(({ name, target }) => {
      const declarations = target.declarations ?? []
      const docs = declarations.flatMap((d) => ts.getJSDocCommentsAndTags(d).filter(ts.isJSDoc))
      return {
        name,
        where: declarations.map((d) => {
          const sf = d.getSourceFile()
          return `${path.relative(ROOT, sf.fileName)}:${sf.getLineAndCharacterOfPosition(d.getStart(sf)).line + 1}`
        }),
        hasDoc: docs.length > 0,
        hasExample: docs.some((doc) => (doc.tags ?? []).some((tag) => tag.tagName.text === 'example')),
      }
    })
}

describe('public exports', () => {
  let exports: Export[] = []

  before(function () {
    this.timeout(60_000)
    exports = publicExports()
  })

  it('roots/index.ts exports something', () => {
    expect(exports).to.not.be.empty
  })

  it('every export of roots/index.ts has TSDoc with an @example', () => {
    const offenders = exports
      .filter((e) => !e.hasExample && !KNOWN_MISSING.has(e.name))
      .map((e) => `  ${e.name} (${e.where.join(', ')}): ${e.hasDoc ? 'TSDoc has no @example' : 'no TSDoc comment'}`)
    if (offenders.length > 0) {
      expect.fail(`${offenders.length} export(s) without an @example:\n${offenders.join('\n')}`)
    }
  })

  it('KNOWN_MISSING lists only exports that still lack an @example', () => {
    const stale = [...KNOWN_MISSING].filter((name) => exports.find((e) => e.name === name)?.hasExample !== false)
    if (stale.length > 0) {
      expect.fail(`remove from KNOWN_MISSING in test/docs/exportsHaveDocs.test.ts: ${stale.join(', ')}`)
    }
  })
})
