/**
 * `Workflow.toMermaid()` draws diagrams that Mermaid's own parser accepts (mermaid, a dev dependency, run
 * in Node through test/helpers/mermaid.ts) and that show what the workflow declares: one node per state
 * and exit whatever its name, `[*]` to the initial state, each exit to `[*]`, and a note on each state
 * whose targets are not declared. test/helpers/diagramCorpus.ts checks the same for every workflow the
 * rest of the suite builds.
 */
import { readFileSync } from 'node:fs'

import { expect } from 'chai'
import fc from 'fast-check'

import { workflow } from '../../roots/Workflow.js'
import { isCanoFailure } from '../../src/CanoError.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { RetryMode } from '../../src/RetryMode.js'
import { split } from '../../src/Split.js'
import { type StateHandler, task } from '../../src/StateHandler.js'
import { diagramMismatch, mermaidParse, parseStateDiagram } from '../helpers/mermaid.js'

type Handlers = Record<string, StateHandler<string>>

/** A workflow over arbitrary names: `states[name]` lists the declared targets (`undefined`: none declared). */
const flowOf = (states: ReadonlyArray<readonly [string, ReadonlyArray<string> | undefined]>, exits: string[]) => {
  const handlers: Handlers = Object.fromEntries(
    states.map(([name, to]) => [
      name,
      to === undefined ? task(() => exits[0] ?? '') : task(() => to[0] ?? '', { to: [...to] }),
    ]),
  )
  return workflow<string>()({ exits, states: handlers })
}

const HOSTILE: ReadonlyArray<string> = [
  'state',
  'note',
  'class',
  'end',
  'direction',
  'classDef',
  'style',
  'accTitle: x',
  'as',
  '[*]',
  's0',
  'root_start',
  'Fan Out',
  'Fan_Out',
  'Fan-Out',
  '"quoted"',
  'a"b',
  "it's",
  '[bracket]',
  '{brace}',
  '(paren)',
  'A --> B',
  '-->',
  '--',
  '---',
  '%% comment',
  '%%{init: {"theme":"dark"}}%%',
  '#quot;',
  '#35;',
  'a;b',
  'a:b',
  '<script>alert(1)</script>',
  '<b>bold</b>',
  '&amp;',
  '*bold*',
  '_em_',
  '`code`',
  '$$x^2$$',
  '\\n',
  'line\nbreak',
  'carriage\rreturn',
  'tab\there',
  ' leading',
  'trailing ',
  '   ',
  'a|b',
  '~~strike~~',
  'é',
  '日本語',
  '😀',
  '👩‍👩‍👧',
  '\u202Eright-to-left',
  'zero\u200Bwidth',
  'nul\u0000',
  'lone\uD800surrogate',
  'x'.repeat(5_000),
]

describe('toMermaid', () => {
  // loads Mermaid once (about 2 s) before the first diagram
  before(async function () {
    this.timeout(60_000)
    await parseStateDiagram('stateDiagram-v2\n  [*] --> s0')
  })

  it('draws the README workflow: aliases, [*] to the initial state, exits to [*], undeclared targets as notes', async () => {
    type Step = 'Fetch' | 'Enrich' | 'Store' | 'Done' | 'Failed'
    const flow = workflow<Step>()({
      exits: ['Done', 'Failed'],
      states: ({ task, split }) => ({
        Fetch: task(async (): Promise<Step> => 'Enrich', { retry: RetryMode.exponential(3), attemptTimeoutMs: 2_000 }),
        Enrich: split([async () => 'crm', async () => 'billing'], { strategy: JoinStrategy.quorum(2), join: 'Store' }),
        Store: task(({ split: result }) => ((result?.successes ?? 0) >= 2 ? 'Done' : 'Failed')),
      }),
    })
    expect(flow.toMermaid().split('\n')).to.deep.equal([
      'stateDiagram-v2',
      '  state "Fetch" as s0',
      '  state "Enrich" as s1',
      '  state "Store" as s2',
      '  state "Done" as s3',
      '  state "Failed" as s4',
      '  [*] --> s0',
      '  note right of s0 : targets not declared',
      '  s1 --> s2',
      '  note right of s2 : targets not declared',
      '  s3 --> [*]',
      '  s4 --> [*]',
    ])
    // the README shows this very diagram under its headline workflow
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(/```mermaid\n([\s\S]*?)\n```/.exec(readme)?.[1]).to.equal(flow.toMermaid())
    const parsed = await parseStateDiagram(flow.toMermaid())
    expect(parsed.states).to.deep.equal([
      { id: 's0', label: 'Fetch' },
      { id: 's1', label: 'Enrich' },
      { id: 's2', label: 'Store' },
      { id: 's3', label: 'Done' },
      { id: 's4', label: 'Failed' },
    ])
    expect(parsed.edges).to.deep.equal([
      ['[*]', 's0'],
      ['s1', 's2'],
      ['s3', '[*]'],
      ['s4', '[*]'],
    ])
    expect(parsed.notes).to.deep.equal([
      ['s0', 'targets not declared'],
      ['s2', 'targets not declared'],
    ])
  })

  it('points [*] at the initial state it is given, an exit included', async () => {
    const flow = flowOf(
      [
        ['A', ['B']],
        ['B', ['Done']],
      ],
      ['Done'],
    )
    expect(flow.toMermaid({ initial: 'B' })).to.contain('  [*] --> s1\n')
    expect(await diagramMismatch(flow, 'B')).to.equal(undefined)
    expect(await diagramMismatch(flow, 'Done')).to.equal(undefined)
  })

  it('throws a Configuration error naming an initial state that is neither a state nor an exit', () => {
    const flow = flowOf([['A', ['Done']]], ['Done'])
    const thrown = ((): unknown => {
      try {
        flow.toMermaid({ initial: 'Nope' })
      } catch (e: unknown) {
        return e
      }
      return undefined
    })()
    expect(isCanoFailure(thrown) && thrown.error).to.deep.equal({
      _tag: 'Configuration',
      message: 'toMermaid: initial "Nope" is neither a state nor an exit',
    })
  })

  it('draws the same text every time, with aliases in definition order', () => {
    const flow = flowOf(
      [
        ['Zed', ['Alpha']],
        ['Alpha', ['Done']],
      ],
      ['Done'],
    )
    expect(flow.toMermaid()).to.equal(flow.toMermaid())
    expect(flow.toMermaid()).to.contain('  state "Zed" as s0\n  state "Alpha" as s1\n  state "Done" as s2\n')
  })

  it('keeps Fan Out, Fan_Out and Fan-Out three nodes', async () => {
    const flow = flowOf(
      [
        ['Fan Out', ['Fan_Out']],
        ['Fan_Out', ['Fan-Out']],
        ['Fan-Out', ['Done']],
      ],
      ['Done'],
    )
    const parsed = await parseStateDiagram(flow.toMermaid())
    expect(parsed.states.map((s) => s.label)).to.deep.equal(['Fan Out', 'Fan_Out', 'Fan-Out', 'Done'])
    expect(new Set(parsed.states.map((s) => s.id)).size).to.equal(4)
    expect(await diagramMismatch(flow)).to.equal(undefined)
  })

  it('draws a split through its join state', async () => {
    const flow = workflow<'Fan' | 'Join' | 'Done'>()({
      exits: ['Done'],
      states: {
        Fan: split([async () => 1], { strategy: JoinStrategy.all(), join: 'Join' }),
        Join: task(() => 'Done' as const, { to: ['Done'] }),
      },
    })
    expect(flow.toMermaid()).to.contain('  s0 --> s1\n  s1 --> s2\n')
    expect(await diagramMismatch(flow)).to.equal(undefined)
  })

  it('is what Mermaid needs: the old drawing of a state named note failed to parse, this one parses', async () => {
    // cano-rx 0.1 drew ids from names (`note --> Done`): Mermaid reads `note` as a keyword
    const old = ['stateDiagram-v2', '  A --> note', '  note --> Done', '  Done --> [*]'].join('\n')
    let failure = ''
    await mermaidParse(old).catch((e: unknown) => (failure = e instanceof Error ? e.message : String(e)))
    expect(failure).to.match(/^Parse error on line 2/)
    const flow = flowOf(
      [
        ['A', ['note']],
        ['note', ['Done']],
      ],
      ['Done'],
    )
    expect(await mermaidParse(flow.toMermaid())).to.deep.equal({ diagramType: 'stateDiagram', config: {} })
  })

  describe('hostile names', () => {
    // each name as a state (with declared targets, pointed at, and as the initial state) and as an exit
    const names = [...HOSTILE]
    const asStates = flowOf(
      names.map((n, i) => [n, i % 5 === 4 ? undefined : [names[i + 1] ?? 'Done', 'Done']] as const),
      ['Done'],
    )
    const asExits = flowOf([['Start', names]], names)

    it(`draws ${String(names.length)} hostile names as states, each its own node labelled with the name`, async () => {
      expect(await diagramMismatch(asStates)).to.equal(undefined)
    })

    it(`draws ${String(names.length)} hostile names as exits, each its own node labelled with the name`, async () => {
      expect(await diagramMismatch(asExits)).to.equal(undefined)
    })

    it('points [*] at a state whose name is hostile', async () => {
      for (const name of ['state', '[*]', '"quoted"', 'x'.repeat(5_000)]) {
        const flow = flowOf(
          [
            ['A', [name]],
            [name, ['Done']],
          ],
          ['Done'],
        )
        expect(await diagramMismatch(flow, name)).to.equal(undefined)
      }
    })
  })

  it('draws any workflow over any names so that Mermaid parses it as declared (property)', async function () {
    this.timeout(60_000) // 60 diagrams through Mermaid: a few seconds
    const name = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
      fc.constantFrom(...HOSTILE.filter((h) => h.length < 100)),
    )
    const shape = fc.uniqueArray(name, { minLength: 2, maxLength: 8 }).chain((names) =>
      fc.record({
        names: fc.constant(names),
        exitCount: fc.integer({ min: 1, max: names.length - 1 }),
        targets: fc.array(fc.option(fc.uniqueArray(fc.nat(names.length - 1), { minLength: 1, maxLength: 3 })), {
          minLength: names.length,
          maxLength: names.length,
        }),
      }),
    )
    await fc.assert(
      fc.asyncProperty(shape, async ({ names, exitCount, targets }) => {
        const exits = names.slice(0, exitCount)
        const states = names
          .slice(exitCount)
          .map((n, i) => [n, targets[i]?.map((t) => names[t] ?? '') ?? undefined] as const)
        expect(await diagramMismatch(flowOf(states, exits))).to.equal(undefined)
      }),
      { numRuns: 60 },
    )
  })
})
