/**
 * The README is also the package's page on the npm registry, where a relative link (`docs/poll.md`)
 * leads nowhere: every link in README.md is absolute or an anchor of the README itself, and every link
 * into this repository (`https://github.com/cano-rx/cano-rx/blob/main/<path>#<anchor>`) names a file or
 * folder that exists, and a heading that exists in it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

import { expect } from 'chai'

const ROOT = path.resolve(import.meta.dirname, '../..')
const REPO = 'https://github.com/cano-rx/cano-rx/'

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

const anchorsOf = (markdown: string): Set<string> =>
  new Set([...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug((m[1] ?? '').replace(/`/g, ''))))

/** The targets of the Markdown links of `markdown` outside code fences. */
const linksOf = (markdown: string): string[] =>
  [...markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '')

describe('README links', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const links = linksOf(readme)

  it('finds links to check', () => {
    expect(links.length).to.be.above(10)
  })

  it('are absolute URLs or anchors of the README (relative links break on the npm registry page)', () => {
    const relative = links.filter((l) => !/^https:\/\//.test(l) && !l.startsWith('#'))
    expect(relative, `write them as ${REPO}blob/main/<path>`).to.deep.equal([])
  })

  it('point at headings that exist, in the README and in the files of this repository they name', () => {
    const own = anchorsOf(readme)
    const broken = links.flatMap((link) => {
      if (link.startsWith('#')) return own.has(link.slice(1)) ? [] : [link]
      if (!link.startsWith(REPO)) return []
      const m = /^(blob|tree|raw)\/main\/([^#]+)(?:#(.*))?$/.exec(link.slice(REPO.length))
      const file = path.join(ROOT, m?.[2] ?? '')
      if (m === null || !existsSync(file) || statSync(file).isDirectory() !== (m[1] === 'tree')) return [link]
      const anchor = m[3]
      return anchor === undefined || anchorsOf(readFileSync(file, 'utf8')).has(anchor) ? [] : [link]
    })
    expect(broken).to.deep.equal([])
  })
})
