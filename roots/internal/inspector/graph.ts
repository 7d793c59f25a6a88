/**
 * @internal The inspector's state diagram: a workflow's declared graph (the same one `toMermaid()` draws:
 * each state's declared targets, a split's join, the exits) laid out in columns for an SVG the browser
 * builds with DOM calls. The layout is computed here, in plain TypeScript, so the page only places
 * boxes and paths.
 *
 * Layout: columns by breadth-first distance from the run's initial state along declared edges (the
 * states it cannot reach, through a state without declared targets say, are laid out the same way from
 * the first of them in definition order, in the columns after); rows in definition order. A forward
 * edge is a curve from the right side of its source to the left side of its target; an edge down its
 * column goes from bottom to top, one up its column arcs on the right; an edge to an earlier column
 * arcs over the boxes, from top to top; a state's edge to itself is a loop on its top. A state without declared targets gets a dashed loop: where it goes is not known in advance.
 */
import type { ResourceRecord } from '../../../src/TaskContext.js'
import type { CompiledWorkflow } from '../../../src/WorkflowDefinition.js'
import { compiledOf } from '../../Workflow.js'

/** @internal One state of the diagram. */
export interface GraphNode {
  /** The state's name (the full string; the page shows `label` and keeps `id` in a tooltip). */
  readonly id: string
  /** The name as shown: at most {@link MAX_LABEL} characters. */
  readonly label: string
  /** The handler's kind (`Task`, `Split`, `Stepped`, …), `Exit` for an exit state. */
  readonly kind: string
  readonly initial: boolean
  /** No declared targets: the state may go anywhere. */
  readonly undeclared: boolean
  /** Branch count of a split state. */
  readonly branches?: number
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
}

/** @internal One declared transition, with its SVG path (`d`). */
export interface GraphEdge {
  readonly from: string
  readonly to: string
  readonly d: string
  /** The dashed loop of a state without declared targets. */
  readonly undeclared: boolean
}

/** @internal A laid-out diagram. */
export interface GraphLayout {
  readonly workflow: string
  readonly nodes: ReadonlyArray<GraphNode>
  readonly edges: ReadonlyArray<GraphEdge>
  readonly width: number
  readonly height: number
}

/** @internal Labels longer than this are cut (the full name stays in the tooltip). */
export const MAX_LABEL = 28
/** @internal The width of one character of the diagram's monospace font, in SVG units. */
const CHAR_W = 7.4
const NODE_H = 34
const PAD_X = 14
const COL_GAP = 70
const ROW_GAP = 26
const MARGIN = 14
/** Room above the first row for the arcs of backward edges and loops. */
const TOP = 70

const labelOf = (name: string): string => (name.length <= MAX_LABEL ? name : `${name.slice(0, MAX_LABEL - 1)}…`)

/**
 * @internal The laid-out diagram of the workflow registered as `name` (`flow` as a runtime registry holds
 * it), its runs starting in `initial`; `undefined` when `flow` was not built with `workflow()`.
 */
export const graphOf = (name: string, flow: unknown, initial: string): GraphLayout | undefined => {
  const wf = compiledOf(flow)
  return wf === undefined ? undefined : layoutGraph(name, wf, initial)
}

/** @internal The laid-out diagram of a compiled workflow. See the module comment. */
export const layoutGraph = (
  name: string,
  wf: CompiledWorkflow<string, ResourceRecord>,
  initial: string,
): GraphLayout => {
  const order: string[] = [...wf.states.keys()]
  for (const x of wf.exits) if (!wf.states.has(x)) order.push(x)
  const targets = (s: string): ReadonlyArray<string> => [...(wf.states.get(s)?.to ?? [])]
  // breadth-first columns from the initial state; what it cannot reach is laid out the same way, from
  // the first state not placed yet (in definition order), in the columns after
  const column = new Map<string, number>()
  const place = (root: string, at: number): void => {
    column.set(root, at)
    const queue = [root]
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i] as string
      const c = column.get(s) ?? 0
      for (const t of targets(s))
        if (!column.has(t)) {
          column.set(t, c + 1)
          queue.push(t)
        }
    }
  }
  if (order.includes(initial)) place(initial, 0)
  for (const s of order) if (!column.has(s)) place(s, column.size === 0 ? 0 : Math.max(...column.values()) + 1)
  const columns = Math.max(...column.values()) + 1
  const widths = new Array<number>(columns).fill(0)
  const rows = new Array<number>(columns).fill(0)
  const boxW = (s: string): number => Math.round(2 * PAD_X + CHAR_W * Math.max(4, labelOf(s).length))
  for (const s of order) {
    const c = column.get(s) ?? 0
    widths[c] = Math.max(widths[c] ?? 0, boxW(s))
  }
  const colX: number[] = []
  let x = MARGIN
  for (let c = 0; c < columns; c++) {
    colX.push(x)
    x += (widths[c] ?? 0) + COL_GAP
  }
  const nodes: GraphNode[] = []
  const byId = new Map<string, GraphNode>()
  for (const s of order) {
    const c = column.get(s) ?? 0
    const row = rows[c] ?? 0
    rows[c] = row + 1
    const st = wf.states.get(s)
    const handler = st?.handler
    const node: GraphNode = {
      id: s,
      label: labelOf(s),
      kind: handler === undefined ? 'Exit' : handler._tag,
      initial: s === initial,
      undeclared: st !== undefined && st.to === undefined,
      ...(handler?._tag === 'Split' ? { branches: handler.branches.length } : {}),
      x: (colX[c] ?? 0) + Math.round(((widths[c] ?? 0) - boxW(s)) / 2),
      y: TOP + row * (NODE_H + ROW_GAP),
      w: boxW(s),
      h: NODE_H,
    }
    nodes.push(node)
    byId.set(s, node)
  }
  const edges: GraphEdge[] = []
  for (const s of order) {
    const from = byId.get(s)
    const st = wf.states.get(s)
    if (from === undefined || st === undefined) continue
    if (st.to === undefined) {
      edges.push({ from: s, to: s, d: loop(from), undeclared: true })
      continue
    }
    for (const t of st.to) {
      const to = byId.get(t)
      if (to === undefined) continue
      edges.push({ from: s, to: t, d: edgePath(from, to, column), undeclared: false })
    }
  }
  const width = Math.max(...nodes.map((n) => n.x + n.w)) + MARGIN
  const height = Math.max(...nodes.map((n) => n.y + n.h)) + MARGIN
  return { workflow: name, nodes, edges, width, height }
}

const loop = (n: GraphNode): string => {
  const a = n.x + n.w * 0.35
  const b = n.x + n.w * 0.65
  return `M ${fmt(a)} ${fmt(n.y)} C ${fmt(a - 8)} ${fmt(n.y - 34)}, ${fmt(b + 8)} ${fmt(n.y - 34)}, ${fmt(b)} ${fmt(n.y)}`
}

const edgePath = (from: GraphNode, to: GraphNode, column: ReadonlyMap<string, number>): string => {
  if (from.id === to.id) return loop(from)
  const cf = column.get(from.id) ?? 0
  const ct = column.get(to.id) ?? 0
  if (ct > cf) {
    const x1 = from.x + from.w
    const y1 = from.y + from.h / 2
    const x2 = to.x
    const y2 = to.y + to.h / 2
    const dx = Math.max(20, (x2 - x1) / 2)
    return `M ${fmt(x1)} ${fmt(y1)} C ${fmt(x1 + dx)} ${fmt(y1)}, ${fmt(x2 - dx)} ${fmt(y2)}, ${fmt(x2)} ${fmt(y2)}`
  }
  if (ct === cf && to.y > from.y) {
    // down the column
    const x1 = from.x + from.w / 2
    const x2 = to.x + to.w / 2
    const y1 = from.y + from.h
    const y2 = to.y
    const dy = Math.max(10, (y2 - y1) / 2)
    return `M ${fmt(x1)} ${fmt(y1)} C ${fmt(x1)} ${fmt(y1 + dy)}, ${fmt(x2)} ${fmt(y2 - dy)}, ${fmt(x2)} ${fmt(y2)}`
  }
  if (ct === cf) {
    // up the column: an arc on its right
    const x = Math.max(from.x + from.w, to.x + to.w)
    const y1 = from.y + from.h / 2
    const y2 = to.y + to.h / 2
    return `M ${fmt(from.x + from.w)} ${fmt(y1)} C ${fmt(x + 40)} ${fmt(y1)}, ${fmt(x + 40)} ${fmt(y2)}, ${fmt(to.x + to.w)} ${fmt(y2)}`
  }
  // backward: an arc over the boxes, higher the farther it goes
  const x1 = from.x + from.w / 2
  const x2 = to.x + to.w / 2
  const y1 = from.y
  const y2 = to.y
  const lift = Math.min(TOP - 8, 24 + 12 * Math.abs(cf - ct))
  const top = Math.min(y1, y2) - lift
  return `M ${fmt(x1)} ${fmt(y1)} C ${fmt(x1)} ${fmt(top)}, ${fmt(x2)} ${fmt(top)}, ${fmt(x2)} ${fmt(y2)}`
}

const fmt = (n: number): string => String(Math.round(n * 10) / 10)
