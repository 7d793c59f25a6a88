/**
 * Documentation examples must compile. Every `@example` block (and every ```ts fence) in the
 * TSDoc of `codecs/`, `src/`, `streams/` and `roots/`, and every ```ts fence of `README.md` and `docs/*.md`, becomes a
 * virtual module `<file>__example_<n>.ts` next to its source. All of them are type-checked in one
 * `ts.createProgram` with the project's compiler options, `'cano-rx'` mapped to `roots/index.ts` (`'cano-rx/inspector'` to
 * `roots/inspector.ts`).
 *
 * Writing examples:
 * - An `@example` body is compiled as it is, unless it contains fences: then only its ```ts, ```typescript
 *   and bare ``` fences are. Text on the `@example` line itself is a title and is not compiled.
 * - Each example is its own ES module (top-level `await` works); import what you use from `'cano-rx'` and
 *   `declare const` anything the example only assumes. Unused locals are allowed.
 * - In Markdown, only ```ts / ```typescript fences are compiled; put `<!-- not-checked -->` on the line
 *   right before a fence to skip it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

import { expect } from 'chai'
import ts from 'typescript'

const ROOT = path.resolve(import.meta.dirname, '../..')
const TS_ROOTS = ['codecs', 'src', 'streams', 'roots']

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** One line of example code and where it sits in its source file. */
interface CodeLine {
  readonly text: string
  /** 1-based line in the source file. */
  readonly line: number
  /** 0-based column in the source file where `text` starts. */
  readonly column: number
}

/** An example as found in a source file; `index` is 1-based within that file. */
interface Example {
  readonly source: string
  readonly index: number
  readonly lines: ReadonlyArray<CodeLine>
}

/** An example block before it is numbered. */
type Block = ReadonlyArray<CodeLine>

// -------------------------------------------------------------------------------------
// extraction
// -------------------------------------------------------------------------------------

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/
const TS_LANGS: ReadonlySet<string> = new Set(['ts', 'typescript'])

const isClosingFence = (text: string, marker: string): boolean => {
  const m = /^\s*(`{3,}|~{3,})\s*$/.exec(text)
  return m?.[1] !== undefined && m[1][0] === marker[0] && m[1].length >= marker.length
}

/**
 * Splits `lines` into the code of its fences. `accept` decides by the fence's language (lower-cased, `''`
 * when bare) and the line before the fence. The fence's indentation is removed from its lines.
 */
const fencedBlocks = (lines: Block, accept: (lang: string, previous: string | undefined) => boolean): Block[] => {
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]?.text ?? '')
    if (open === null) continue
    const indent = open[1]?.length ?? 0
    const marker = open[2] ?? '```'
    const lang = (open[3] ?? '').toLowerCase()
    const body: CodeLine[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const l = lines[j]
      if (l === undefined || isClosingFence(l.text, marker)) break
      const cut = Math.min(indent, /^\s*/.exec(l.text)?.[0].length ?? 0)
      body.push({ text: l.text.slice(cut), line: l.line, column: l.column + cut })
    }
    if (accept(lang, lines[i - 1]?.text)) blocks.push(body)
    i = j
  }
  return blocks
}

const hasFence = (lines: Block): boolean => lines.some((l) => FENCE.test(l.text))

/** Every `/** … *\/` comment of a TypeScript file, found through the parser so strings never count. */
const docComments = (sf: ts.SourceFile): ts.CommentRange[] => {
  const found = new Map<number, ts.CommentRange>()
  const collect = (pos: number): void => {
    for (const c of ts.getLeadingCommentRanges(sf.text, pos) ?? []) {
      if (c.kind === ts.SyntaxKind.MultiLineCommentTrivia && sf.text.startsWith('/**', c.pos)) found.set(c.pos, c)
    }
  }
  const visit = (node: ts.Node): void => {
    collect(node.pos)
    collect(node.end)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return [...found.values()].sort((a, b) => a.pos - b.pos)
}

/** The lines of a doc comment with `/**`, `*\/` and the leading ` * ` removed, keeping source positions. */
const commentLines = (sf: ts.SourceFile, c: ts.CommentRange): CodeLine[] => {
  const start = sf.getLineAndCharacterOfPosition(c.pos)
  const raw = sf.text.slice(c.pos, c.end).split(/\r?\n/)
  return raw.map((text, i) => {
    let column = i === 0 ? start.character : 0
    let rest = text
    if (i === 0) {
      rest = rest.slice(3)
      column += 3
    }
    if (i === raw.length - 1) rest = rest.replace(/\s*\*\/$/, '')
    const prefix = i === 0 ? (/^ ?/.exec(rest)?.[0] ?? '') : (/^\s*\*(?!\/) ?/.exec(rest)?.[0] ?? '')
    return { text: rest.slice(prefix.length), line: start.line + i + 1, column: column + prefix.length }
  })
}

const TAG = /^@(\w+)/

/** The example blocks of one doc comment: each `@example` tag, and the ```ts fences outside them. */
const commentExamples = (lines: Block): Block[] => {
  const blocks: { readonly at: number; readonly block: Block }[] = []
  const outside: CodeLine[] = []
  let example: CodeLine[] | undefined
  let exampleAt = 0
  let fence: string | undefined
  const flush = (): void => {
    if (example === undefined) return
    const body = hasFence(example) ? fencedBlocks(example, (lang) => lang === '' || TS_LANGS.has(lang)) : [example]
    for (const block of body) blocks.push({ at: exampleAt, block })
    example = undefined
  }
  for (const l of lines) {
    if (fence === undefined) {
      const tag = TAG.exec(l.text)
      if (tag !== null) {
        flush()
        if (tag[1] === 'example') {
          example = []
          exampleAt = l.line
        }
        continue
      }
      fence = FENCE.exec(l.text)?.[2]
    } else if (isClosingFence(l.text, fence)) {
      fence = undefined
    }
    if (example !== undefined) example.push(l)
    else outside.push(l)
  }
  flush()
  for (const block of fencedBlocks(outside, (lang) => TS_LANGS.has(lang))) {
    blocks.push({ at: block[0]?.line ?? 0, block })
  }
  return blocks
    .sort((a, b) => a.at - b.at)
    .map((b) => trimBlank(b.block))
    .filter((b) => b.length > 0)
}

const trimBlank = (block: Block): Block => {
  let from = 0
  let to = block.length
  while (from < to && block[from]?.text.trim() === '') from++
  while (to > from && block[to - 1]?.text.trim() === '') to--
  return block.slice(from, to)
}

/** The example blocks of a TypeScript source text. */
const tsDocExamples = (fileName: string, text: string): Block[] => {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS)
  return docComments(sf).flatMap((c) => commentExamples(commentLines(sf, c)))
}

/** The ```ts / ```typescript fences of a Markdown text, except those right after `<!-- not-checked -->`. */
const markdownExamples = (text: string): Block[] =>
  fencedBlocks(
    text.split(/\r?\n/).map((t, i) => ({ text: t, line: i + 1, column: 0 })),
    (lang, previous) => TS_LANGS.has(lang) && previous?.trim() !== '<!-- not-checked -->',
  )

// -------------------------------------------------------------------------------------
// the project's examples
// -------------------------------------------------------------------------------------

const toPosix = (p: string): string => p.split(path.sep).join('/')

const tsFilesUnder = (dir: string): string[] => {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const full = path.join(dir, e.name)
      if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFilesUnder(full)
      return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : []
    })
}

const markdownFiles = (): string[] => {
  const docs = path.join(ROOT, 'docs')
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((n) => n.endsWith('.md'))
        .sort()
        .map((n) => path.join(docs, n))
    : []
  return [path.join(ROOT, 'README.md'), ...inDocs].filter((f) => existsSync(f))
}

const projectExamples = (): Example[] => {
  const number = (file: string, blocks: Block[]): Example[] =>
    blocks.map((lines, i) => ({ source: toPosix(path.relative(ROOT, file)), index: i + 1, lines }))
  return [
    ...TS_ROOTS.flatMap((r) => tsFilesUnder(path.join(ROOT, r))).flatMap((f) =>
      number(f, tsDocExamples(f, readFileSync(f, 'utf8'))),
    ),
    ...markdownFiles().flatMap((f) => number(f, markdownExamples(readFileSync(f, 'utf8')))),
  ]
}

// -------------------------------------------------------------------------------------
// type-checking
// -------------------------------------------------------------------------------------

const virtualPath = (e: Example): string => toPosix(path.join(ROOT, `${e.source}__example_${e.index}.ts`))

const compilerOptions = (): ts.CompilerOptions => {
  const configPath = path.join(ROOT, 'tsconfig.json')
  const read = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f))
  if (read.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath)
  if (parsed.errors.length > 0) {
    throw new Error(parsed.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'))
  }
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    noUnusedLocals: false,
    noUnusedParameters: false,
    baseUrl: ROOT,
    paths: { 'cano-rx': ['./roots/index.ts'], 'cano-rx/inspector': ['./roots/inspector.ts'] },
  }
}

const describeDiagnostic = (d: ts.Diagnostic, e: Example | undefined): string => {
  const message = `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n    ')}`
  if (e === undefined || d.file === undefined || d.start === undefined) {
    const where = d.file === undefined ? '' : `${toPosix(path.relative(ROOT, d.file.fileName))}: `
    return `${where}${message}`
  }
  const at = d.file.getLineAndCharacterOfPosition(d.start)
  const line = e.lines[at.line]
  if (line === undefined) return `${e.source} example #${e.index} (end of example): ${message}`
  return [
    `${e.source}:${line.line}:${line.column + at.character + 1} example #${e.index}, line ${at.line + 1}: ${message}`,
    `    > ${line.text}`,
  ].join('\n')
}

/** Type-checks all examples in one program; the result maps a source file to its failures. */
const checkExamples = (
  examples: ReadonlyArray<Example>,
): { readonly global: string[]; readonly bySource: Map<string, string[]> } => {
  const options = compilerOptions()
  const virtual = new Map(examples.map((e) => [virtualPath(e), e]))
  const text = (e: Example): string => `${e.lines.map((l) => l.text).join('\n')}\nexport {}\n`
  const base = ts.createCompilerHost(options)
  const host: ts.CompilerHost = {
    ...base,
    fileExists: (f) => virtual.has(f) || base.fileExists(f),
    readFile: (f) => {
      const e = virtual.get(f)
      return e === undefined ? base.readFile(f) : text(e)
    },
    getSourceFile: (f, languageVersion, onError, shouldCreate) => {
      const e = virtual.get(f)
      return e === undefined
        ? base.getSourceFile(f, languageVersion, onError, shouldCreate)
        : ts.createSourceFile(f, text(e), languageVersion, true, ts.ScriptKind.TS)
    },
  }
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host })
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) =>
    describeDiagnostic(d, undefined),
  )
  const bySource = new Map<string, string[]>()
  for (const [fileName, e] of virtual) {
    const sf = program.getSourceFile(fileName)
    const diagnostics =
      sf === undefined
        ? [`${e.source} example #${e.index}: not part of the program`]
        : [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) =>
            describeDiagnostic(d, e),
          )
    bySource.set(e.source, [...(bySource.get(e.source) ?? []), ...diagnostics])
  }
  return { global, bySource }
}

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('documentation examples', () => {
  const examples = projectExamples()
  const sources = [...new Set(examples.map((e) => e.source))]
  let result: ReturnType<typeof checkExamples> | undefined

  before(function () {
    this.timeout(60_000)
    result = checkExamples(examples)
  })

  it('finds examples to check', () => {
    expect(examples).to.not.be.empty
  })

  it('type-checks them with valid compiler options', () => {
    expect(result?.global.join('\n')).to.equal('')
  })

  for (const source of sources) {
    it(`examples in ${source} compile`, () => {
      const failures = result?.bySource.get(source) ?? []
      if (failures.length > 0) {
        expect.fail(`${failures.length} diagnostic(s) in the examples of ${source}:\n${failures.join('\n')}`)
      }
    })
  }
})

describe('example extraction', () => {
  const texts = (blocks: Block[]): string[] => blocks.map((b) => b.map((l) => l.text).join('\n'))

  it('takes each @example body up to the next tag, keeping indentation and source lines', () => {
    const src = [
      '/**',
      ' * Summary.',
      ' *',
      ' * @example',
      " * import { f } from 'cano-rx'",
      ' * const g = f({',
      ' *   a: 1,',
      ' * })',
      ' * @since 0.1.0',
      ' */',
      'export const f = 1',
    ].join('\n')
    const blocks = tsDocExamples('a.ts', src)
    expect(texts(blocks)).to.deep.equal(["import { f } from 'cano-rx'\nconst g = f({\n  a: 1,\n})"])
    expect(blocks[0]?.[2]).to.deep.equal({ text: '  a: 1,', line: 7, column: 3 })
  })

  it('compiles only the ts fences of an @example that has fences, and ts fences outside @example', () => {
    const src = [
      '/**',
      ' * ```text',
      ' * @example inside a fence is not a tag',
      ' * ```',
      ' * ```ts',
      ' * const described = 1',
      ' * ```',
      ' * @example Title text',
      ' * ```ts',
      ' * const a = 1',
      ' * ```',
      ' * ```sh',
      ' * npm test',
      ' * ```',
      ' */',
      'export const f = 1',
    ].join('\n')
    expect(texts(tsDocExamples('a.ts', src))).to.deep.equal(['const described = 1', 'const a = 1'])
  })

  it('reads single-line doc comments and ignores /** inside strings', () => {
    const src = "const s = '/** @example nope */'\n/** @example */\nexport const f = s"
    expect(texts(tsDocExamples('a.ts', src))).to.deep.equal([])
    expect(texts(tsDocExamples('a.ts', '/**\n * @example\n * f() */\nexport const f = 1'))).to.deep.equal(['f()'])
  })

  it('takes ts fences from Markdown, skipping other languages and <!-- not-checked --> blocks', () => {
    const md = [
      '# Title',
      '```ts',
      'const a = 1',
      '```',
      '```sh',
      'npm test',
      '```',
      '```text',
      'a -> b',
      '```',
      '<!-- not-checked -->',
      '```ts',
      'const broken: number = "x"',
      '```',
      '- item',
      '  ```typescript',
      '  const b = 2',
      '  ```',
    ].join('\n')
    const blocks = markdownExamples(md)
    expect(texts(blocks)).to.deep.equal(['const a = 1', 'const b = 2'])
    expect(blocks[1]?.[0]).to.deep.equal({ text: 'const b = 2', line: 17, column: 2 })
  })
})
