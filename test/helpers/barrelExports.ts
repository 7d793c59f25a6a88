/**
 * The public barrel (`roots/index.ts`), or another entry of the package, as the compiler sees it: its
 * exported symbols, each with the symbol it re-exports, read through the TypeScript API with the project's
 * own compiler options. Shared by the public-names tests and the documentation test.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

import ts from 'typescript'

export const ROOT = path.resolve(import.meta.dirname, '../..')
export const BARREL = path.join(ROOT, 'roots', 'index.ts')
/** The entry of the `cano-rx/testing` subpath export. */
export const TESTING_BARREL = path.join(ROOT, 'roots', 'testing.ts')
/** The Node-only subpath entries (`cano-rx/inspector`, …), each a barrel of its own. */
export const SUBPATH_BARRELS: Readonly<Record<string, string>> = {
  'cano-rx/inspector': path.join(ROOT, 'roots', 'inspector.ts'),
}

/** One export of the barrel: its public name and the declaration it stands for. */
export interface BarrelExport {
  readonly name: string
  readonly target: ts.Symbol
}

/** The `cano-rx/otel` entry (roots/otel.ts), a barrel of its own. */
export const OTEL_ENTRY = path.join(ROOT, 'roots', 'otel.ts')

export const barrelExports = (barrel: string = BARREL): ReadonlyArray<BarrelExport> => {
  const configPath = path.join(ROOT, 'tsconfig.json')
  const read = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f))
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'))
  const { options } = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath)
  const program = ts.createProgram({ rootNames: [barrel], options: { ...options, noEmit: true } })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(barrel)
  const module = source === undefined ? undefined : checker.getSymbolAtLocation(source)
  if (module === undefined) throw new Error(`cannot read the exports of ${barrel}`)
  return checker.getExportsOfModule(module).map((exported) => ({
    name: exported.name,
    target: exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported,
  }))
}

/** One entry of the package's `exports` map: its subpath (`.`, `./sqlite`) and the source file it is built from. */
export interface PackageEntry {
  readonly subpath: string
  readonly source: string
}

/**
 * The entries of package.json's `exports` (all but `./package.json`), each with its source: the file
 * its `types` declaration is emitted from (`./dist/roots/sqlite.d.ts` -> `roots/sqlite.ts`).
 */
export const packageEntries = (): ReadonlyArray<PackageEntry> => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    readonly exports: Record<string, string | { readonly types?: string }>
  }
  return Object.entries(pkg.exports).flatMap(([subpath, target]) => {
    if (subpath === './package.json') return []
    const types = typeof target === 'string' ? undefined : target.types
    if (types === undefined || !/^\.\/dist\/.*\.d\.ts$/.test(types))
      throw new Error(`package.json exports ${subpath}: expected a "types" condition under ./dist/`)
    return [{ subpath, source: path.join(ROOT, types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts')) }]
  })
}
