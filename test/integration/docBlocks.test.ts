/**
 * The Markdown code blocks must run, not only compile (test/docs/examples.test.ts type-checks them). Every
 * ```ts fence of README.md and docs/*.md that can run on its own is written to a fresh, empty folder and run
 * there with Node and tsx, as a reader who pastes it into a new project would: its current directory holds
 * nothing but a `node_modules` link, `'cano-rx'` (and `'cano-rx/<entry>'`) point at this checkout's source,
 * and PostgreSQL is the server at 127.0.0.1:5432. The block passes when it exits 0 within its time limit.
 *
 * A block does not run on its own when it assumes something (a `declare` line), or when the last non-blank line
 * before its fence is `<!-- not-run: <reason> -->`; the reason is required, and the block is still
 * type-checked. `<!-- not-checked -->` blocks are neither checked nor run.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { expect } from 'chai'

import type { Block } from '../helpers/docBlocks.js'
import { fencedBlocks, markdownFiles, ROOT, TS_LANGS } from '../helpers/docBlocks.js'

const TIME_LIMIT_MS = 45_000
const NOT_RUN = /^<!--\s*not-run:(.*)-->$/

/** A Markdown block and why it does not run, when it does not. */
interface DocBlock {
  readonly source: string
  readonly index: number
  readonly lines: Block
  readonly skip: string | undefined
}

const docBlocks = (file: string): DocBlock[] => {
  const source = path.relative(ROOT, file)
  const notes: (string | undefined)[] = []
  const blocks = fencedBlocks(
    readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((text, i) => ({ text, line: i + 1, column: 0 })),
    (lang, previous) => {
      const marker = previous?.trim() ?? ''
      if (!TS_LANGS.has(lang) || marker === '<!-- not-checked -->') return false
      const notRun = NOT_RUN.exec(marker)
      if (notRun !== null) {
        const reason = (notRun[1] ?? '').trim()
        if (reason === '') throw new Error(`${source}: a <!-- not-run: … --> marker without a reason`)
        notes.push(reason)
      } else notes.push(undefined)
      return true
    },
  )
  return blocks.map((lines, i) => {
    const assumes = lines.some((l) => /^declare\s/.test(l.text))
    return {
      source,
      index: i + 1,
      lines,
      skip: notes[i] ?? (assumes ? 'assumes what a `declare` line names' : undefined),
    }
  })
}

/** `'cano-rx'` and `'cano-rx/<entry>'` to this checkout's source files. */
const pointAtSource = (code: string, where: string): string =>
  code.replace(
    /(from\s+|import\s*\(\s*|import\s+)(['"])cano-rx(\/[\w-]+)?\2/g,
    (_m, lead: string, q: string, sub?: string) => {
      const target = path.join(ROOT, 'roots', sub === undefined ? 'index.ts' : `${sub.slice(1)}.ts`)
      if (!existsSync(target)) throw new Error(`${where}: imports 'cano-rx${sub ?? ''}', which has no entry in roots/`)
      return `${lead}${q}${target}${q}`
    },
  )

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
  readonly timedOut: boolean
}

const runBlock = (block: DocBlock): Promise<Exit> => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cano-doc-'))
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
  const where = `${block.source} block #${block.index}`
  writeFileSync(path.join(dir, 'example.ts'), `${pointAtSource(block.lines.map((l) => l.text).join('\n'), where)}\n`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'example.ts'], {
      cwd: dir,
      env: { ...process.env, PGHOST: '127.0.0.1', PGPORT: '5432', PGUSER: 'postgres', PGDATABASE: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, TIME_LIMIT_MS)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
      resolve({ code, signal, output, timedOut })
    })
  })
}

describe('documentation blocks run', function () {
  this.timeout(TIME_LIMIT_MS + 15_000)
  const blocks = markdownFiles().flatMap(docBlocks)

  it('finds blocks that run on their own', () => {
    expect(blocks.filter((b) => b.skip === undefined)).to.have.length.greaterThan(20)
  })

  for (const block of blocks.filter((b) => b.skip === undefined)) {
    const first = block.lines[0]?.line ?? 0
    it(`${block.source}:${first} (block #${block.index}) runs in an empty folder and exits 0`, async () => {
      const exit = await runBlock(block)
      if (exit.timedOut || exit.code !== 0) {
        const how = exit.timedOut ? `still running after ${TIME_LIMIT_MS} ms` : `exit ${exit.code ?? exit.signal}`
        expect.fail(`${block.source}:${first}: ${how}\n${exit.output.slice(-4000)}`)
      }
    })
  }
})
