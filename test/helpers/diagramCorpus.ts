/**
 * The diagram corpus: every workflow the suite builds is drawn with `toMermaid()` and fed to Mermaid's
 * real parser (test/helpers/mermaid.ts) after the last test, which fails the run naming the diagram when
 * one does not parse or does not show the workflow's states and declared transitions.
 *
 * A mocha root-hook plugin (the `require` entry of .mocharc.json and .mocharc.integration.json). mocha
 * loads test files with `require` (require(esm), compiled by tsx), so every test file shares one module
 * cache: loading this plugin first puts roots/Workflow.ts in that cache with `workflow` wrapped to record
 * what it returns, before any test file is loaded. Nothing in roots/ or src/ knows about it.
 */
import { createRequire } from 'node:module'

import type * as Real from '../../roots/Workflow.js'

const require = createRequire(import.meta.url)
const REAL = require.resolve('../../roots/Workflow.ts')
const cached = require.cache[REAL]
const real = require(REAL) as typeof Real

const built: Array<Real.Workflow<string>> = []

/** `workflow` from roots/Workflow.ts, recording each workflow it returns. */
const recording: typeof real.workflow = <S extends string>() => {
  const define = real.workflow<S>()
  return ((definition: Parameters<typeof define>[0]) => {
    const flow = define(definition)
    built.push(flow as unknown as Real.Workflow<string>)
    return flow
  }) as typeof define
}

const entry = require.cache[REAL]
if (cached !== undefined || entry === undefined)
  throw new Error('diagram corpus: roots/Workflow.ts must be loaded first by this plugin (is it the first `require`?)')
entry.exports = { ...real, workflow: recording }

/** Below this many tests, a run that built no workflow is not suspicious (one file run on its own). */
const SUSPICIOUS_AFTER = 100

const checkCorpus = async (tests: number): Promise<void> => {
  if (built.length === 0 && tests >= SUSPICIOUS_AFTER)
    throw new Error(`diagram corpus: ${tests} tests built no workflow: the recorder is not in place`)
  // loaded only now: it imports roots/Workflow.ts, which must enter the module cache through this plugin
  const { diagramMismatch } = require('./mermaid.ts') as typeof import('./mermaid.js')
  const distinct = new Map(built.map((flow) => [flow.toMermaid(), flow]))
  const failures: string[] = []
  for (const flow of distinct.values()) {
    const mismatch = await diagramMismatch(flow)
    if (mismatch !== undefined) failures.push(mismatch)
  }
  if (failures.length > 0)
    throw new Error(`${failures.length} of ${distinct.size} diagrams are wrong:\n\n${failures.join('\n\n')}`)
  console.log(`  diagram corpus: ${distinct.size} distinct diagrams of ${built.length} workflows parse in Mermaid`)
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(300_000)
    await checkCorpus(this.test?.parent?.total() ?? 0)
  },
}
