/**
 * @internal `dueHeap`: a binary min-heap of (due time, workflow id) entries, ordered by due time, then id
 * (the order a claim takes runnable runs in). The in-memory run table pushes an entry on every write of
 * a runnable record and checks an entry against the record when it pops it, so entries go stale rather
 * than being removed.
 */

/** @internal One entry: the run `workflowId` is due at `dueAt`. */
export interface DueEntry {
  readonly dueAt: number
  readonly workflowId: string
}

/** @internal The heap's operations. */
export interface DueHeap {
  readonly push: (dueAt: number, workflowId: string) => void
  /** The earliest entry, or `undefined` when empty. */
  readonly peek: () => DueEntry | undefined
  /** Removes the earliest entry. */
  readonly pop: () => void
  readonly size: () => number
  readonly clear: () => void
}

const before = (a: DueEntry, b: DueEntry): boolean =>
  a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.workflowId < b.workflowId)

/** @internal An empty heap. */
export const dueHeap = (): DueHeap => {
  const items: DueEntry[] = []
  const at = (i: number): DueEntry => items[i] as DueEntry

  const up = (from: number): void => {
    let i = from
    const item = at(i)
    while (i > 0) {
      const parent = (i - 1) >>> 1
      if (!before(item, at(parent))) break
      items[i] = at(parent)
      i = parent
    }
    items[i] = item
  }

  const down = (from: number): void => {
    let i = from
    const n = items.length
    const item = at(i)
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && before(at(right), at(left)) ? right : left
      if (!before(at(child), item)) break
      items[i] = at(child)
      i = child
    }
    items[i] = item
  }

  return {
    push: (dueAt, workflowId) => {
      items.push({ dueAt, workflowId })
      up(items.length - 1)
    },
    peek: () => items[0],
    pop: () => {
      const last = items.pop()
      if (last === undefined || items.length === 0) return
      items[0] = last
      down(0)
    },
    size: () => items.length,
    clear: () => {
      items.length = 0
    },
  }
}
