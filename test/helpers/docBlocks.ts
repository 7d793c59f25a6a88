/**
 * The code blocks of the project's Markdown and TSDoc, shared by the test that type-checks them
 * (test/docs/examples.test.ts) and the one that runs the Markdown ones (test/integration/docBlocks.test.ts).
 */
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'

/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..')

/** One line of example code and where it sits in its source file. */
export interface CodeLine {
  readonly text: string
  /** 1-based line in the source file. */
  readonly line: number
  /** 0-based column in the source file where `text` starts. */
  readonly column: number
}

/** An example as found in a source file; `index` is 1-based within that file. */
export interface Example {
  readonly source: string
  readonly index: number
  readonly lines: ReadonlyArray<CodeLine>
}

/** An example block before it is numbered. */
export type Block = ReadonlyArray<CodeLine>

// -------------------------------------------------------------------------------------
// extraction
// -------------------------------------------------------------------------------------

export const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/
export const TS_LANGS: ReadonlySet<string> = new Set(['ts', 'typescript'])

export const isClosingFence = (text: string, marker: string): boolean => {
  const m = /^\s*(`{3,}|~{3,})\s*$/.exec(text)
  return m?.[1] !== undefined && m[1][0] === marker[0] && m[1].length >= marker.length
}

/**
 * Splits `lines` into the code of its fences. `accept` decides by the fence's language (lower-cased, `''`
 * when bare) and the last non-blank line before the fence. The fence's indentation is removed from its lines.
 */
export const fencedBlocks = (
  lines: Block,
  accept: (lang: string, previous: string | undefined) => boolean,
): Block[] => {
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
    let before = i - 1
    while (before >= 0 && lines[before]?.text.trim() === '') before--
    if (accept(lang, lines[before]?.text)) blocks.push(body)
    i = j
  }
  return blocks
}

/** The ```ts / ```typescript fences of a Markdown text, except those right after `<!-- not-checked -->`. */
export const markdownExamples = (text: string): Block[] =>
  fencedBlocks(
    text.split(/\r?\n/).map((t, i) => ({ text: t, line: i + 1, column: 0 })),
    (lang, previous) => TS_LANGS.has(lang) && previous?.trim() !== '<!-- not-checked -->',
  )

/** README.md and every docs/*.md, in a stable order. */
export const markdownFiles = (): string[] => {
  const docs = path.join(ROOT, 'docs')
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((n) => n.endsWith('.md'))
        .sort()
        .map((n) => path.join(docs, n))
    : []
  return [path.join(ROOT, 'README.md'), ...inDocs].filter((f) => existsSync(f))
}
