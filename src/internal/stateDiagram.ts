/**
 * `stateDiagram`: a workflow's declared transitions as a Mermaid `stateDiagram-v2` (what
 * `Workflow.toMermaid` returns). Every state gets an alias (`s0`, `s1`, … in definition order, then the
 * exits in their order) and its real name as a label, so no name can clash with Mermaid's keywords
 * (`state`, `note`, `class`, `end`, `direction`) or with another name that would read the same as an id
 * (`Fan Out` and `Fan_Out` stay two nodes). Labels are escaped with Mermaid's numeric entity codes
 * (`#34;` for `"`), which it decodes when it renders.
 *
 * ```text
 * stateDiagram-v2
 *   state "Fetch" as s0
 *   state "Store" as s1
 *   state "Done" as s2
 *   [*] --> s0
 *   s0 --> s1
 *   note right of s1 : targets not declared
 *   s2 --> [*]
 * ```
 *
 * @internal
 * @since 0.2.0
 */

/** @internal What the diagram is drawn from: the states in definition order, with their declared targets. */
export interface DiagramInput {
  /** The states with a handler, in definition order; `to` is `undefined` when the handler declares no targets. */
  readonly states: ReadonlyArray<{ readonly name: string; readonly to: Iterable<string> | undefined }>
  /** The exit states, in definition order. */
  readonly exits: Iterable<string>
  /** The state `[*]` points at. */
  readonly initial: string
}

/** @internal The note drawn beside a state whose handler declares no targets. */
export const UNDECLARED_NOTE = 'targets not declared'

/**
 * Characters that mean something to Mermaid or to the Markdown its labels go through: the quote that
 * ends a label, `#` (entity codes), `%` (comments and `%%{…}%%` directives), HTML, emphasis, code,
 * KaTeX (`$$`), the statement separators, and every control, format or line-separator character.
 */
const UNSAFE = /["#$%&*:;<>[\\\]_`{|}~]|[\p{C}\p{Zl}\p{Zp}]/gu

const entity = (c: string): string => `#${String(c.codePointAt(0))};`

/**
 * @internal A state name as a Mermaid label: unsafe characters and leading or trailing white space
 * (which Mermaid would trim) become numeric entity codes; letters, digits, other scripts and emoji stay.
 */
export const mermaidLabel = (name: string): string => {
  const [, lead = '', core = '', trail = ''] = /^(\s*)([\s\S]*?)(\s*)$/u.exec(name) ?? []
  const all = (s: string): string => Array.from(s, entity).join('')
  return `${all(lead)}${core.replace(UNSAFE, entity)}${all(trail)}`
}

/** @internal The Mermaid `stateDiagram-v2` text of `input` (see the module comment). */
export const stateDiagram = (input: DiagramInput): string => {
  const ids = new Map<string, string>()
  const declare = (name: string): void => {
    if (!ids.has(name)) ids.set(name, `s${String(ids.size)}`)
  }
  for (const s of input.states) declare(s.name)
  for (const x of input.exits) declare(x)
  const id = (name: string): string => {
    declare(name)
    return ids.get(name) ?? ''
  }
  const body: string[] = [`  [*] --> ${id(input.initial)}`]
  for (const s of input.states) {
    if (s.to === undefined) body.push(`  note right of ${id(s.name)} : ${UNDECLARED_NOTE}`)
    else for (const t of s.to) body.push(`  ${id(s.name)} --> ${id(t)}`)
  }
  for (const x of input.exits) body.push(`  ${id(x)} --> [*]`)
  const declarations = [...ids].map(([name, alias]) => `  state "${mermaidLabel(name)}" as ${alias}`)
  return ['stateDiagram-v2', ...declarations, ...body].join('\n')
}
