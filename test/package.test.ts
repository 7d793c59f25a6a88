/**
 * The published package works from the outside, tested on the tarball `npm pack` makes (what the
 * registry would serve). `npm pack` builds `dist/` itself (the `prepack` script, which empties it
 * first), as on a fresh clone; the tarball is unpacked into a fresh project's `node_modules/cano-rx`,
 * exactly as npm lays a package out, beside this repository's copies of the peer dependencies
 * (linked, so the test needs no network). Then:
 * - the tarball holds the build, its sources (every source map's sources resolve inside it), both
 *   licences, the README and the metadata a registry page shows;
 * - a strict ESM TypeScript consumer type-checks against the emitted declarations with
 *   `skipLibCheck: false` (no declaration refers to something `stripInternal` removed) and runs: a
 *   workflow, a run on `cano-rx/sqlite` with a real SQLite file, snapshots still frozen after the
 *   application turned immer's auto-freeze off;
 * - a CommonJS script `require`s `cano-rx` and `cano-rx/sqlite` (require(esm), Node >= 20.19) and runs;
 * - a CommonJS TypeScript consumer type-checks under `module: nodenext` and `node20` and runs;
 * - the main entry bundles for the browser with esbuild and a small app runs with web globals only.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'

import { expect } from 'chai'

import { BROWSER_APP, bundleForBrowser, runLikeABrowser } from './helpers/browserBundle.js'

const ROOT = resolve(import.meta.dirname, '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const PEERS = ['rxjs', 'fp-ts', 'io-ts', 'immer', 'croner', 'tslib', 'better-sqlite3', 'pg', '@opentelemetry/api']

/** Runs `tsc -p <dir>`; fails the test with the compiler's output when it reports anything. */
const typeCheck = (dir: string): void => {
  const r = spawnSync(process.execPath, [TSC, '-p', dir], { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) expect.fail(`${relative(tmpdir(), dir)} does not type-check against the package:\n${r.stdout}`)
}

/** Runs a script with node; resolves with its stdout, failing the test when it exits non-zero or writes to stderr. */
const runNode = (file: string): string => {
  const r = spawnSync(process.execPath, [file], { cwd: dirname(file), encoding: 'utf8' })
  expect(r.stderr, `stderr of ${file}`).to.equal('')
  expect(r.status, `exit code of ${file}`).to.equal(0)
  return r.stdout.trim()
}

const writeJson = (file: string, value: unknown): void => writeFileSync(file, JSON.stringify(value, null, 2))

/** Every file under `dir`, as paths relative to it with `/`. */
const filesUnder = (dir: string, prefix = ''): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  )

describe('the packed package', function () {
  this.timeout(180_000)
  let dir = ''
  let pkg = ''
  let files: string[] = []

  before(() => {
    // no build beforehand: `npm pack` on a fresh clone must build (the `prepack` script), and a stale
    // file left in `dist/` must not be shipped
    rmSync(join(ROOT, 'dist'), { recursive: true, force: true })
    mkdirSync(join(ROOT, 'dist', 'roots'), { recursive: true })
    writeFileSync(join(ROOT, 'dist', 'roots', 'stale.js'), 'throw new Error("a file of an older build")\n')
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-consumer-'))
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as ReadonlyArray<{ readonly filename: string }>
    const tarball = join(dir, packed[0]?.filename ?? '')
    pkg = join(dir, 'node_modules', 'cano-rx')
    mkdirSync(pkg, { recursive: true })
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true })
    execFileSync('tar', ['xzf', tarball, '-C', pkg, '--strip-components=1'])
    files = filesUnder(pkg).sort()
    for (const dep of PEERS)
      if (existsSync(join(ROOT, 'node_modules', dep))) {
        mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true })
        symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir')
      }
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  describe('contents', () => {
    it('holds the build, its sources, both licences, the README and package.json, and nothing else', () => {
      const outside = files.filter(
        (f) =>
          !/^dist\/(roots|src|streams|codecs)\/.+\.(js|d\.ts|js\.map|d\.ts\.map)$/.test(f) &&
          !/^(roots|src|streams|codecs)\/.+\.ts$/.test(f) &&
          !['package.json', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE'].includes(f),
      )
      expect(outside).to.deep.equal([])
      // what an older build left in dist/ is gone: prepack empties it before it builds
      expect(files).to.not.include('dist/roots/stale.js')
      expect(files).to.include('dist/roots/cli.js')
      for (const entry of ['index', 'sqlite', 'postgres'])
        expect(files).to.include.members([`dist/roots/${entry}.js`, `dist/roots/${entry}.d.ts`, `roots/${entry}.ts`])
      expect(files.some((f) => f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('docs/'))).to.equal(
        false,
      )
    })

    it('ships the sources of every source map, and a map for every module', () => {
      const maps = files.filter((f) => f.endsWith('.map'))
      expect(maps.length).to.be.above(100)
      const missing = maps.flatMap((map) => {
        const { sources } = JSON.parse(readFileSync(join(pkg, map), 'utf8')) as { readonly sources: string[] }
        return sources
          .map((s) => relative(pkg, resolve(pkg, dirname(map), s)))
          .filter((s) => !files.includes(s))
          .map((s) => `${map} -> ${s}`)
      })
      expect(missing).to.deep.equal([])
      for (const js of files.filter((f) => f.endsWith('.js'))) {
        const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(pkg, js), 'utf8'))?.[1]
        expect(url !== undefined && files.includes(relative(pkg, resolve(pkg, dirname(js), url))), js).to.equal(true)
      }
    })

    it('carries both licences and the metadata a registry page shows', () => {
      expect(readFileSync(join(pkg, 'LICENSE-MIT'), 'utf8')).to.match(
        /^MIT License\n\nCopyright \(c\) the cano-rx authors\n/,
      )
      expect(readFileSync(join(pkg, 'LICENSE-APACHE'), 'utf8')).to.match(/Apache License\s+Version 2\.0, January 2004/)
      const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>
      expect(meta).to.deep.include({
        license: 'MIT OR Apache-2.0',
        repository: { type: 'git', url: 'git+https://github.com/cano-rx/cano-rx.git' },
        homepage: 'https://github.com/cano-rx/cano-rx#readme',
        bugs: { url: 'https://github.com/cano-rx/cano-rx/issues' },
      })
      expect(meta['keywords']).to.include.members(['workflow', 'rxjs', 'fp-ts'])
      expect(readFileSync(join(pkg, 'README.md'), 'utf8')).to.equal(readFileSync(join(ROOT, 'README.md'), 'utf8'))
    })
  })

  describe('the cano-rx bin', () => {
    it('is declared, starts with a shebang, and `npx cano-rx --help` runs it', () => {
      const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>
      expect(meta['bin']).to.deep.equal({ 'cano-rx': './dist/roots/cli.js' })
      const bin = join(pkg, 'dist', 'roots', 'cli.js')
      expect(readFileSync(bin, 'utf8')).to.match(/^#!\/usr\/bin\/env node\n/)
      // what `npm install` does for a bin: a link in node_modules/.bin and the executable bit
      mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true })
      symlinkSync('../cano-rx/dist/roots/cli.js', join(dir, 'node_modules', '.bin', 'cano-rx'))
      chmodSync(bin, 0o755)
      const r = spawnSync('npx', ['--no-install', 'cano-rx', '--help'], { cwd: dir, encoding: 'utf8' })
      expect([r.status, r.stderr]).to.deep.equal([0, ''])
      expect(r.stdout).to.match(/^Usage: cano-rx <command> \[options\]/)
      const missing = spawnSync('npx', ['--no-install', 'cano-rx', 'runs', 'ls'], { cwd: dir, encoding: 'utf8' })
      expect([missing.status, missing.stderr]).to.deep.equal([2, 'cano-rx: missing --store or --config\n'])
    })
  })

  describe('an ESM TypeScript consumer', () => {
    let esm = ''
    before(() => {
      esm = join(dir, 'esm')
      mkdirSync(esm)
      writeJson(join(esm, 'package.json'), { name: 'esm-consumer', type: 'module', private: true })
      writeJson(join(esm, 'tsconfig.json'), {
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
      })
      writeFileSync(
        join(esm, 'main.ts'),
        [
          "import { setAutoFreeze } from 'immer'",
          "import { JoinStrategy, Resources, RetryMode, workflow } from 'cano-rx'",
          "import { sqliteCheckpoints } from 'cano-rx/sqlite'",
          "import { postgresCheckpoints, type PostgresPool } from 'cano-rx/postgres'",
          "import { serveInspector } from 'cano-rx/inspector'",
          "if (typeof serveInspector !== 'function') throw new Error('cano-rx/inspector has no serveInspector')",
          "import { lastValueFrom, toArray } from 'rxjs'",
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
          '// the application turns immer auto-freeze off for its own state: our snapshots stay frozen',
          'setAutoFreeze(false)',
          "const snapshots = await lastValueFrom(flow.snapshot$('A', { workflowId: 'frozen' }).pipe(toArray()))",
          "console.log(snapshots.every((s) => Object.isFrozen(s) && Object.isFrozen(s.history)) ? 'frozen' : 'thawed')",
          'const durable = workflow<S>()({',
          "  checkpoints: sqliteCheckpoints('.cano/db.sqlite'),",
          "  exits: ['Done'],",
          "  states: ({ task }) => ({ A: task(() => 'B'), B: task(() => 'Done') }),",
          '})',
          "console.log(await durable.orchestrate('A', { workflowId: 'on-sqlite' }))",
          'const pool: PostgresPool | undefined = undefined',
          "console.log(typeof postgresCheckpoints, pool ?? 'no pool')",
        ].join('\n'),
      )
    })

    it('type-checks against the emitted declarations and runs: a workflow, a SQLite store, frozen snapshots', () => {
      typeCheck(esm)
      expect(runNode(join(esm, 'out', 'main.js')).split('\n')).to.deep.equal([
        'Done',
        'frozen',
        'Done',
        'function no pool',
      ])
      expect(existsSync(join(esm, 'out', '.cano', 'db.sqlite'))).to.equal(true)
    })
  })

  describe('a CommonJS consumer (require of ES modules, Node >= 20.19)', () => {
    it('runs a script that requires cano-rx and cano-rx/sqlite', () => {
      const cjs = join(dir, 'cjs')
      mkdirSync(cjs)
      writeJson(join(cjs, 'package.json'), { name: 'cjs-consumer', private: true })
      writeFileSync(
        join(cjs, 'main.js'),
        [
          "const { task, workflow } = require('cano-rx')",
          "const { sqliteCheckpoints } = require('cano-rx/sqlite')",
          "const flow = workflow()({ exits: ['Done'], states: { A: task(() => 'Done') } })",
          "flow.orchestrate('A').then((s) => console.log(s, typeof sqliteCheckpoints))",
        ].join('\n'),
      )
      expect(runNode(join(cjs, 'main.js'))).to.equal('Done function')
    })

    it('requires every entry point the package exports, and imports each of them as ESM', () => {
      const meta = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
      const entries = Object.keys(meta.exports)
        .filter((k) => k !== './package.json')
        .map((k) => (k === '.' ? 'cano-rx' : `cano-rx/${k.slice(2)}`))
      expect(entries).to.include.members(['cano-rx', 'cano-rx/sqlite', 'cano-rx/inspector', 'cano-rx/otel'])
      const each = join(dir, 'each')
      mkdirSync(each)
      writeJson(join(each, 'package.json'), { name: 'each-entry', private: true })
      const list = JSON.stringify(entries)
      writeFileSync(
        join(each, 'required.cjs'),
        `for (const e of ${list}) console.log(e, Object.keys(require(e)).length > 0)\n`,
      )
      writeFileSync(
        join(each, 'imported.mjs'),
        `for (const e of ${list}) console.log(e, Object.keys(await import(e)).length > 0)\n`,
      )
      const expected = entries.map((e) => `${e} true`)
      expect(runNode(join(each, 'required.cjs')).split('\n')).to.deep.equal(expected)
      expect(runNode(join(each, 'imported.mjs')).split('\n')).to.deep.equal(expected)
    })

    for (const module of ['nodenext', 'node20']) {
      it(`type-checks a CommonJS TypeScript project (module: ${module}) and runs it`, () => {
        const cts = join(dir, `cts-${module}`)
        mkdirSync(cts)
        writeJson(join(cts, 'package.json'), { name: 'cts-consumer', private: true })
        writeJson(join(cts, 'tsconfig.json'), {
          compilerOptions: {
            target: 'ES2022',
            module,
            moduleResolution: 'nodenext',
            strict: true,
            skipLibCheck: false,
            types: ['node'],
            outDir: 'out',
          },
          files: ['main.ts'],
        })
        writeFileSync(
          join(cts, 'main.ts'),
          [
            "import { task, workflow, type RunState } from 'cano-rx'",
            "import { sqliteCheckpoints } from 'cano-rx/sqlite'",
            "const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })",
            "const first: RunState<'A' | 'Done'>['status'] = 'pending'",
            "void flow.orchestrate('A').then((s: 'A' | 'Done') => console.log(s, first, typeof sqliteCheckpoints))",
          ].join('\n'),
        )
        typeCheck(cts)
        expect(readFileSync(join(cts, 'out', 'main.js'), 'utf8')).to.contain('require("cano-rx")')
        expect(runNode(join(cts, 'out', 'main.js'))).to.equal('Done pending function')
      })
    }
  })

  describe('a browser app', () => {
    it('bundles the main entry with esbuild for the browser (no Node built-in) and runs with web globals only', async () => {
      const app = join(dir, 'browser')
      mkdirSync(app)
      const { code, inputs } = await bundleForBrowser(BROWSER_APP, app)
      expect(inputs.some((i) => i.includes('node_modules/cano-rx/dist/roots/index.js'))).to.equal(true)
      expect(await runLikeABrowser(code)).to.deep.include({
        status: 'completed',
        totalAttempts: 3,
        frozen: true,
        rows: 3,
      })
    })
  })
})
