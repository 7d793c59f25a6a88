/**
 * The published package works from the outside: `npm run build` emits `dist/` with declarations, and
 * a strict consumer project importing `cano-rx` and `cano-rx/inspector` through the `exports` map type-checks against those
 * declarations with `skipLibCheck: false` (so no declaration refers to something `stripInternal` removed)
 * and runs a workflow from the built JavaScript.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

import { expect } from 'chai'

const ROOT = resolve(import.meta.dirname, '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

describe('the built package', function () {
  this.timeout(180_000)
  let dir = ''
  before(() => {
    execFileSync(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe' })
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-consumer-'))
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true })
    symlinkSync(ROOT, join(dir, 'node_modules', 'cano-rx'), 'dir')
    for (const dep of ['rxjs', 'fp-ts', 'io-ts', 'immer', 'tslib'])
      try {
        symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir')
      } catch {
        // not installed (tslib): not needed
      }
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir')
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    )
    writeFileSync(
      join(dir, 'main.ts'),
      [
        "import { JoinStrategy, Resources, RetryMode, workflow } from 'cano-rx'",
        "import { serveInspector } from 'cano-rx/inspector'",
        "if (typeof serveInspector !== 'function') throw new Error('cano-rx/inspector has no serveInspector')",
        "type S = 'A' | 'B' | 'Done'",
        'const flow = workflow<S>()({',
        '  resources: Resources.of({ n: 1 }),',
        "  exits: ['Done'],",
        '  states: ({ task, split }) => ({',
        "    A: task(({ res }) => (res.get('n') > 0 ? 'B' : 'Done'), { retry: RetryMode.none() }),",
        "    B: split([async () => 1, async () => 2], { strategy: JoinStrategy.all(), join: 'Done' }),",
        '  }),',
        '})',
        "console.log(await flow.orchestrate('A', { workflowId: 'consumer' }))",
      ].join('\n'),
    )
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('type-checks a strict consumer against the emitted declarations and runs it', () => {
    try {
      execFileSync(process.execPath, [TSC, '-p', dir], { cwd: dir, stdio: 'pipe' })
    } catch (e: unknown) {
      const out = e instanceof Error && 'stdout' in e ? String((e as { stdout: unknown }).stdout) : String(e)
      expect.fail(`the consumer does not type-check against dist/:\n${out}`)
    }
    const printed = execFileSync(process.execPath, [join(dir, 'out', 'main.js')], { cwd: dir }).toString()
    expect(printed.trim()).to.equal('Done')
  })
})
