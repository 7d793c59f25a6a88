/**
 * Mermaid's own parser, in Node. Mermaid sanitises labels with DOMPurify, which binds to a DOM `window`
 * when its module is evaluated: without one, parsing a diagram with a `state "…" as id` line fails with
 * `DOMPurify.addHook is not a function`. So a jsdom window is made global only while `mermaid` is
 * imported, then removed again (nothing else in the test process sees a `window`). Parsing goes through
 * `mermaid.parse` (what an application calls to validate a diagram) and then reads the parsed graph from
 * the state diagram's database, so tests compare what Mermaid understood, not the text they sent.
 */
import { JSDOM } from 'jsdom'

import { compiledOf } from '../../roots/Workflow.js'

type Mermaid = (typeof import('mermaid'))['default']

/** The note toMermaid draws beside a state whose handler declares no targets. */
const UNDECLARED = 'targets not declared'

let loaded: Promise<Mermaid> | undefined

const loadMermaid = (): Promise<Mermaid> =>
  (loaded ??= (async () => {
    const { window } = new JSDOM('<!doctype html><html><body></body></html>')
    const g = globalThis as { window?: unknown; document?: unknown }
    g.window = window
    g.document = window.document
    try {
      const mermaid = (await import('mermaid')).default
      mermaid.initialize({ startOnLoad: false })
      return mermaid
    } finally {
      delete g.window
      delete g.document
    }
  })())

/** A state diagram as Mermaid parsed it. Node ids are Mermaid's; `[*]` stands for the start and end pseudo-states. */
export interface ParsedDiagram {
  /** Each state node: its id and its label, entity codes (`#34;`) decoded as Mermaid decodes them when it renders. */
  readonly states: ReadonlyArray<{ readonly id: string; readonly label: string }>
  /** Each transition, by node id (`[*]` for the start and end pseudo-states). */
  readonly edges: ReadonlyArray<readonly [string, string]>
  /** Each note: the id of the state it is attached to, and its text. */
  readonly notes: ReadonlyArray<readonly [string, string]>
}

interface RawNode {
  readonly id: string
  readonly label: string
  readonly shape: string
}
interface RawEdge {
  readonly start: string
  readonly end: string
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null

const isRawNode = (u: unknown): u is RawNode =>
  isRecord(u) && typeof u['id'] === 'string' && typeof u['label'] === 'string' && typeof u['shape'] === 'string'

const isRawEdge = (u: unknown): u is RawEdge =>
  isRecord(u) && typeof u['start'] === 'string' && typeof u['end'] === 'string'

/** Mermaid swaps `#34;` for a placeholder before parsing and turns it into `&#34;` in the SVG: decode it here. */
const decodeEntities = (label: string): string =>
  label.replace(/\uFB02\u00B0\u00B0(\d+)\u00B6\u00DF/g, (_, code: string) => String.fromCodePoint(Number(code)))

const readData = (db: unknown): { nodes: RawNode[]; edges: RawEdge[] } => {
  const getData = isRecord(db) ? db['getData'] : undefined
  if (typeof getData !== 'function') throw new Error('the state diagram database has no getData()')
  const data: unknown = getData.call(db)
  const nodes: unknown = isRecord(data) ? data['nodes'] : undefined
  const edges: unknown = isRecord(data) ? data['edges'] : undefined
  if (!Array.isArray(nodes) || !Array.isArray(edges) || !nodes.every(isRawNode) || !edges.every(isRawEdge))
    throw new Error('the state diagram database returned data of an unknown shape')
  return { nodes, edges }
}

/** `mermaid.parse(text)`: what an application calls to validate a diagram (rejects with `Parse error on line …`). */
export const mermaidParse = async (text: string): Promise<unknown> => (await loadMermaid()).parse(text)

/**
 * Parses `text` with Mermaid's parser and returns the graph it understood; rejects with Mermaid's own
 * error (`Parse error on line …`) when the text does not parse, or when it is not a state diagram.
 * `mermaidAPI.getDiagramFromText` runs what `mermaid.parse` runs (Mermaid's preprocessing of front
 * matter, directives and comments, then the diagram's own parser) and hands back the parsed diagram.
 */
export const parseStateDiagram = async (text: string): Promise<ParsedDiagram> => {
  const mermaid = await loadMermaid()
  // mermaidAPI is deprecated for rendering; reading the parsed graph back has no other entry point
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text)
  if (diagram.type !== 'stateDiagram') throw new Error(`not a state diagram: ${diagram.type}`)
  const { nodes, edges } = readData(diagram.db)
  const pseudo = new Set(nodes.filter((n) => n.shape === 'stateStart' || n.shape === 'stateEnd').map((n) => n.id))
  const notes = new Map(nodes.filter((n) => n.shape === 'note').map((n) => [n.id, n.label]))
  const ref = (id: string): string => (pseudo.has(id) ? '[*]' : id)
  return {
    states: nodes.filter((n) => n.shape === 'rect').map((n) => ({ id: n.id, label: decodeEntities(n.label) })),
    edges: edges.filter((e) => !notes.has(e.end)).map((e) => [ref(e.start), ref(e.end)] as const),
    notes: edges.flatMap((e) => {
      const note = notes.get(e.end)
      return note === undefined ? [] : [[e.start, note] as const]
    }),
  }
}

/**
 * What is wrong with the diagram of `flow` as Mermaid parses it (`undefined`: nothing). It must have one
 * node per state and exit, labelled with the name; `[*]` to the initial state (default: the first state);
 * an edge for each declared target; the note `targets not declared` on each state without `to`; and an
 * edge from each exit to `[*]`, and nothing else.
 */
export const diagramMismatch = async (
  flow: { readonly toMermaid: (options?: { readonly initial?: never }) => string },
  initial?: string,
): Promise<string | undefined> => {
  const wf = compiledOf(flow)
  if (wf === undefined) return 'not a workflow built by workflow()'
  const text = initial === undefined ? flow.toMermaid() : flow.toMermaid({ initial: initial as never })
  let parsed: ParsedDiagram
  try {
    parsed = await parseStateDiagram(text)
  } catch (e: unknown) {
    return `Mermaid does not parse it: ${e instanceof Error ? e.message : String(e)}\n${text}`
  }
  const names = [...wf.states.keys(), ...wf.exits]
  const ids = new Map(parsed.states.map((s) => [s.label, s.id]))
  const labels = parsed.states.map((s) => s.label)
  const sorted = (xs: ReadonlyArray<string>): string => JSON.stringify([...xs].sort())
  if (sorted(labels) !== sorted(names) || ids.size !== names.length)
    return `nodes ${JSON.stringify(labels)}, expected one per name of ${JSON.stringify(names)}\n${text}`
  const id = (name: string): string => ids.get(name) ?? `<no node for ${JSON.stringify(name)}>`
  const edges = [
    `[*]>${id(initial ?? names[0] ?? '')}`,
    ...[...wf.states.values()].flatMap((st) =>
      st.to === undefined ? [] : [...st.to].map((t) => `${id(st.name)}>${id(t)}`),
    ),
    ...[...wf.exits].map((x) => `${id(x)}>[*]`),
  ]
  const notes = [...wf.states.values()].filter((st) => st.to === undefined).map((st) => `${id(st.name)}>${UNDECLARED}`)
  const actualEdges = parsed.edges.map(([from, to]) => `${from}>${to}`)
  const actualNotes = parsed.notes.map(([at, note]) => `${at}>${note}`)
  if (sorted(actualEdges) !== sorted(edges)) return `edges ${sorted(actualEdges)}, expected ${sorted(edges)}\n${text}`
  if (sorted(actualNotes) !== sorted(notes)) return `notes ${sorted(actualNotes)}, expected ${sorted(notes)}\n${text}`
  return undefined
}
