/**
 * The public barrel (`roots/index.ts`) as the compiler sees it: its exported symbols, each with the symbol
 * it re-exports, read through the TypeScript API with the project's own compiler options. Shared by the
 * public-names test and the documentation test.
 */
import path from 'node:path'

import ts from 'typescript'

export const ROOT = path.resolve(import.meta.dirname, '../..')
export const BARREL = path.join(ROOT, 'roots', 'index.ts')
/** The Node-only subpath entries (`cano-rx/inspector`, …), each a barrel of its own. */
export const SUBPATH_BARRELS: Readonly<Record<string, string>> = {
  'cano-rx/inspector': path.join(ROOT, 'roots', 'inspector.ts'),
}

/** One export of the barrel: its public name and the declaration it stands for. */
export interface BarrelExport {
  readonly name: string
  readonly target: ts.Symbol
}

export const barrelExports = (barrelPath: string = BARREL): ReadonlyArray<BarrelExport> => {
  const configPath = path.join(ROOT, 'tsconfig.json')
  const read = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f))
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'))
  const { options } = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath)
  const program = ts.createProgram({ rootNames: [barrelPath], options: { ...options, noEmit: true } })
  const checker = program.getTypeChecker()
  const barrel = program.getSourceFile(barrelPath)
  const module = barrel === undefined ? undefined : checker.getSymbolAtLocation(barrel)
  if (module === undefined) throw new Error(`cannot read the exports of ${barrelPath}`)
  return checker.getExportsOfModule(module).map((exported) => ({
    name: exported.name,
    target: exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported,
  }))
}
