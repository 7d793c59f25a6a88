/**
 * @internal One run's recent events, as the inspector keeps them: compact, because it keeps them for
 * every run it follows (a thousand runs in flight, each with hundreds of events) while the engine runs.
 *
 * Why not an array of the events: each event would outlive a few young-generation collections, be copied
 * and promoted, and every store of a young event into an old array is a pointer the collector must follow.
 * Measured on the inspector bench (1 000 runs in flight), keeping the event objects cost about 10 % of the
 * engine's CPU. So the frequent events whose fields are all numbers and known strings (a run's start,
 * state entries, task starts and successes, retries, timers, checkpoint appends, completion without an
 * output) are stored as numbers: {@link STRIDE} slots per event (a head packing the event's code and two
 * string ids, its `at`, two more fields), strings as indices into a {@link StringTable} shared by the
 * tracker. The numbers live in blocks of {@link BLOCK_EVENTS} events cut from large `Float64Array` pages
 * that every timeline of a tracker shares (a {@link TimelineArena}): a typed array's numbers live outside
 * the JavaScript heap, so the collector neither traces nor copies them, and a run costs no typed array of
 * its own (allocating one, an `ArrayBuffer` with its backing store, then growing it, was a quarter of the
 * tracker's work per event). A run's blocks go back to the arena when its oldest events are dropped or
 * the run is forgotten ({@link Timeline.release}). Any other event (one with an error, a payload, an
 * optional field set, another run's id) is kept as it is, beside the numbers.
 *
 * {@link Timeline.get} rebuilds an event equal to the one pushed, with its keys in the same order as the
 * engine writes them (what `JSON.stringify` and the inspector's wire format see).
 */
import type { CheckpointKind } from '../../../codecs/CheckpointRow.js'
import { CheckpointKind as CheckpointKindCodec } from '../../../codecs/CheckpointRow.js'
import type {
  CheckpointAppended,
  RetryScheduled,
  RunCompleted,
  RunStarted,
  StateEntered,
  TaskStarted,
  TaskSucceeded,
  TimerArmed,
  WorkflowEvent,
} from '../../../src/WorkflowEvent.js'

/** @internal Numbers per event: a head (the event's code and two string ids, packed), `at`, and two fields. */
export const STRIDE = 4

/** Codes of the events kept as numbers; `Kept` marks an event kept as it is. */
const Code = {
  Kept: 0,
  RunStarted: 1,
  StateEntered: 2,
  TaskStarted: 3,
  BranchStarted: 4,
  TaskSucceeded: 5,
  RetryScheduled: 6,
  TimerArmed: 7,
  CheckpointAppended: 8,
  RunCompleted: 9,
} as const

/**
 * A head packs the code (4 bits) and two string ids, `a` (20 bits) and `b` (28 bits): 52 bits, exact in
 * a double. An event naming a string whose id does not fit (over a million distinct names) is kept as it is.
 */
const A_LIMIT = 2 ** 20
const B_LIMIT = 2 ** 28
const A_SHIFT = 16
const B_SHIFT = 2 ** 24
/** @internal Events per block: a timeline holds its numbers in blocks of this many events. */
export const BLOCK_EVENTS = 32
const BLOCK_SHIFT = 5
const BLOCK_MASK = BLOCK_EVENTS - 1
const BLOCK_SLOTS = BLOCK_EVENTS * STRIDE
/** Blocks per page of an arena (one `Float64Array` of 64 KiB). */
const PAGE_BLOCKS = 64
const PAGE_SHIFT = 6
const PAGE_MASK = PAGE_BLOCKS - 1
/** The page of a timeline that holds no block yet. */
const NO_PAGE = new Float64Array(0)

/**
 * `x` as the engine's events hold it: a whole number in the small-integer range as a small integer (`| 0`),
 * anything else as it is. A number read from a `Float64Array` is a double; stored as is into a rebuilt
 * event's `transition` or `seq`, where the engine's events of the same shape hold small integers, it made
 * V8 widen that field of the shape for every event of the process: once a page had a run open, the
 * engine's own first read of each event (`onEvent`) took ~12 % of its time, for the rest of the process.
 */
const asEngine = (x: number): number =>
  x <= 0x3fffffff && x >= -0x40000000 && Number.isInteger(x) && !Object.is(x, -0) ? x | 0 : x

/** The checkpoint kinds, by id. */
const KINDS: ReadonlyArray<CheckpointKind> = Object.keys(CheckpointKindCodec.keys) as CheckpointKind[]
const STATE_ENTRY = KINDS.indexOf('StateEntry')
/** The id of a checkpoint kind (the frequent one first). */
const kindId = (kind: CheckpointKind): number => (kind === 'StateEntry' ? STATE_ENTRY : KINDS.indexOf(kind))

/** @internal Strings (state names, task ids, checkpoint kinds) as small numbers, shared by a tracker's timelines. */
export class StringTable {
  private readonly ids = new Map<string, number>()
  private readonly strings: string[] = []

  id(s: string): number {
    let id = this.ids.get(s)
    if (id === undefined) {
      id = this.strings.length
      this.strings.push(s)
      this.ids.set(s, id)
    }
    return id
  }

  string(id: number): string {
    return this.strings[id] as string
  }

  /** How many strings are held (they are never dropped: names of states and tasks are few). */
  get size(): number {
    return this.strings.length
  }
}

/**
 * @internal The numbers of a tracker's timelines: pages of {@link PAGE_BLOCKS} blocks, each block room
 * for {@link BLOCK_EVENTS} events, handed to timelines and taken back. Pages are made as needed and kept
 * (the tracker bounds how many runs it holds, so how many blocks are in use at once is bounded too);
 * blocks given back are handed out again first.
 */
export class TimelineArena {
  private readonly pages: Array<Float64Array<ArrayBuffer>> = []
  /** Each block's successor in its timeline (-1: none), so a timeline holds two block ids, not an array. */
  private next = new Int32Array(PAGE_BLOCKS)
  /** Blocks given back, handed out again last-in first-out. */
  private readonly free: number[] = []
  /** Blocks ever made (their ids are 0 to `made` - 1). */
  private made = 0

  /**
   * By a state's id, the state a task of it went to last (its name and id): a state goes on to the same
   * one most of the time, and a `TaskSucceeded` found it here rather than in the string table's map.
   */
  private readonly nextNames: string[] = []
  private readonly nextIds: number[] = []

  constructor(readonly strings: StringTable = new StringTable()) {}

  /** The id of `next`, which a task of the state numbered `state` went to. */
  nextOf(state: number, next: string): number {
    const names = this.nextNames
    if (state < names.length && names[state] === next) return this.nextIds[state] as number
    const id = this.strings.id(next)
    while (names.length <= state) {
      names.push('')
      this.nextIds.push(-1)
    }
    names[state] = next
    this.nextIds[state] = id
    return id
  }

  /** A block to write to (its id), with no successor. */
  take(): number {
    let block = this.free.pop()
    if (block === undefined) {
      block = this.made++
      if ((block & PAGE_MASK) === 0) {
        this.pages.push(new Float64Array(PAGE_BLOCKS * BLOCK_SLOTS))
        if (this.made + PAGE_BLOCKS > this.next.length) {
          const grown = new Int32Array(2 * this.next.length)
          grown.set(this.next)
          this.next = grown
        }
      }
    }
    this.next[block] = -1
    return block
  }

  /** Takes `block` back: its numbers may be overwritten by any timeline from now on. */
  give(block: number): void {
    this.free.push(block)
  }

  /** Makes `block` the successor of `before`. */
  link(before: number, block: number): void {
    this.next[before] = block
  }

  /** The successor of `block` (-1: none). */
  after(block: number): number {
    return this.next[block] as number
  }

  /** The page that holds `block`. */
  page(block: number): Float64Array<ArrayBuffer> {
    return this.pages[block >>> PAGE_SHIFT] as Float64Array<ArrayBuffer>
  }

  /** Where `block` starts in its page. */
  static offset(block: number): number {
    return (block & PAGE_MASK) * BLOCK_SLOTS
  }

  /** Blocks handed out and not given back. */
  get inUse(): number {
    return this.made - this.free.length
  }

  /** Pages made (each of {@link PAGE_BLOCKS} blocks). */
  get pageCount(): number {
    return this.pages.length
  }
}

/** @internal See the module comment. Events are numbered from 0 (the first pushed); old ones can be dropped. */
export class Timeline {
  /*
   * The fields are declared cold first, then those written or read for every event (the tracker's
   * {@link Tracked} declares its own per-event fields first, right after these): an object's fields lie
   * in the order they are declared, and the engine's thread touches a thousand runs' objects in turn, so
   * the fewer cache lines an event touches the better.
   */
  /**
   * The arena's blocks holding this run's numbers: the oldest (`head`, whose first event is number `base`)
   * to the one being written (`tail`), linked in the arena; -1 when none.
   */
  private head = -1
  private tail = -1
  private base = 0
  /** The events kept as they are, by number. */
  private kept: Map<number, WorkflowEvent> | undefined = undefined
  /**
   * What {@link at} says when no event came since (`setAt` is the {@link end} it was set at), and the `at` of
   * the last event once no block holds it: the `at` of an event is read from its block, not written to a
   * field of its own for every event (a double field is a box of its own: replayed, that write was 15 % of
   * the tracker's work per event).
   */
  private setAtValue: number
  private setAtEnd = 0
  /*
   * Set from the constructor's `at` (a time: a double), not from a literal 0: a field that first holds a
   * small integer and later a double changes representation, and V8 then migrates every object of the
   * class alive (the first time a tracker dropped a run, ~2 000 runs' objects, each a runtime call, and
   * the optimised code that assumed the old layout thrown away).
   */
  private lastAt: number
  /** The page of the block being written, where the next event goes in it, and where that block ends. */
  private page = NO_PAGE
  private cursor = 0
  private limit = 0
  /** The number of the oldest event held. */
  first = 0
  /** The number the next event pushed gets. */
  end = 0
  /** The last state name looked up, and its id: most events of a run name the state it is in. */
  private lastState = ''
  private lastStateId = -1

  constructor(
    readonly workflowId: string,
    private readonly arena: TimelineArena,
    at = 0,
  ) {
    this.setAtValue = at
    this.lastAt = at
  }

  /**
   * When the last event pushed came (its `at`), or the time last set (the tracker sets it when the
   * runtime tells it of the run), whichever came last.
   */
  get at(): number {
    if (this.end === this.setAtEnd) return this.setAtValue
    return this.page === NO_PAGE ? this.lastAt : this.lastWrittenAt()
  }

  /** The `at` of the last event written, in the block being written (there is one). */
  private lastWrittenAt(): number {
    return this.page[this.cursor - STRIDE + 1] as number
  }

  set at(at: number) {
    this.setAtValue = at
    this.setAtEnd = this.end
  }

  /** How many events are held. */
  get length(): number {
    return this.end - this.first
  }

  /** The id of `state` (a cache of one name: most events of a run name the state it is in). */
  private idOf(state: string): number {
    if (state === this.lastState) return this.lastStateId
    this.lastState = state
    return (this.lastStateId = this.arena.strings.id(state))
  }

  /** The id of `taskId`, which is most often its state's name. */
  private taskIdOf(taskId: string, state: string, stateId: number): number {
    return taskId === state ? stateId : this.arena.strings.id(taskId)
  }

  /** Appends one event's numbers; `false` (nothing written) when an id does not fit in its head. */
  private put(code: number, at: number, a: number, b: number, c: number, d: number): boolean {
    if (a >= A_LIMIT || b >= B_LIMIT) return false
    let i = this.cursor
    let page = this.page
    if (i === this.limit) {
      const arena = this.arena
      const block = arena.take()
      if (this.tail < 0) this.head = block
      else arena.link(this.tail, block)
      this.tail = block
      this.page = page = arena.page(block)
      i = TimelineArena.offset(block)
      this.limit = i + BLOCK_SLOTS
    }
    page[i] = code + a * A_SHIFT + b * B_SHIFT
    page[i + 1] = at
    page[i + 2] = c
    page[i + 3] = d
    this.cursor = i + STRIDE
    this.end += 1
    return true
  }

  /** Appends `e`. */
  push(e: WorkflowEvent): void {
    if (e.workflowId !== this.workflowId || !this.encode(e)) this.keep(e)
  }

  /**
   * Appends `e` as numbers if it is of a frequent kind with nothing else set; `false` (nothing written)
   * otherwise. The tracker, which reads each event's `_tag` once for its own switch, calls the encoder of
   * the kind directly (see {@link Timeline.runStarted}).
   */
  private encode(e: WorkflowEvent): boolean {
    const tag = e._tag
    switch (tag) {
      case 'RunStarted':
        return this.runStarted(e)
      case 'StateEntered':
        return this.stateEntered(e)
      case 'TaskStarted':
        return this.taskStarted(e)
      case 'TaskSucceeded':
        return this.taskSucceeded(e)
      case 'RetryScheduled':
        return this.retryScheduled(e)
      case 'TimerArmed':
        return this.timerArmed(e)
      case 'CheckpointAppended':
        return this.checkpointAppended(e)
      case 'RunCompleted':
        return this.runCompleted(e)
      default:
        return false
    }
  }

  /*
   * The encoders of the frequent kinds, one per kind: each appends its event as numbers and answers
   * `true`, or writes nothing and answers `false` (an optional field set: keep it with {@link keep}).
   * Each reads the fields of one kind of event only: the engine's events come in a dozen shapes, and a
   * field read where any kind may come is a megamorphic load (~70 instructions under callgrind, four of
   * them per event when one function read `_tag`, `workflowId` and `at` for every kind).
   */

  runStarted(e: RunStarted<string>): boolean {
    return this.put(Code.RunStarted, e.at, this.idOf(e.initial), 0, 0, 0)
  }

  stateEntered(e: StateEntered<string>): boolean {
    return this.put(Code.StateEntered, e.at, this.idOf(e.state), 0, e.transition, 0)
  }

  taskStarted(e: TaskStarted<string>): boolean {
    const state = this.idOf(e.state)
    if (e.branch === undefined) {
      if (e.branches !== undefined) return false
      return this.put(Code.TaskStarted, e.at, state, this.taskIdOf(e.taskId, e.state, state), 0, 0)
    }
    if (e.branches === undefined) return false
    return this.put(Code.BranchStarted, e.at, state, this.arena.strings.id(e.taskId), e.branch, e.branches)
  }

  taskSucceeded(e: TaskSucceeded<string>): boolean {
    const state = this.idOf(e.state)
    const task = this.taskIdOf(e.taskId, e.state, state)
    // the run's next events name the state it goes to: it becomes the name looked up last
    const next = this.arena.nextOf(state, e.next)
    this.lastState = e.next
    this.lastStateId = next
    return this.put(Code.TaskSucceeded, e.at, state, task, e.attempts, next)
  }

  retryScheduled(e: RetryScheduled<string>): boolean {
    if (e.branch !== undefined) return false
    const state = this.idOf(e.state)
    return this.put(Code.RetryScheduled, e.at, state, this.taskIdOf(e.taskId, e.state, state), e.attempt, e.delayMs)
  }

  timerArmed(e: TimerArmed<string>): boolean {
    const state = this.idOf(e.state)
    return this.put(Code.TimerArmed, e.at, state, this.taskIdOf(e.taskId, e.state, state), e.wakeAt, 0)
  }

  checkpointAppended(e: CheckpointAppended<string>): boolean {
    if (e.latencyMs === undefined) return false
    return this.put(Code.CheckpointAppended, e.at, this.idOf(e.state), kindId(e.kind), e.seq, e.latencyMs)
  }

  runCompleted(e: RunCompleted<string>): boolean {
    if (e.output !== undefined) return false
    return this.put(Code.RunCompleted, e.at, this.idOf(e.state), 0, e.transitions, 0)
  }

  /** Appends `e` as it is (an event no encoder takes). */
  keep(e: WorkflowEvent): void {
    ;(this.kept ??= new Map()).set(this.end, e)
    // its `at` is held beside it (read back as the run's last `at`; the event itself is what `get` gives)
    this.put(Code.Kept, e.at, 0, 0, 0, 0)
  }

  /** Event number `n` (from {@link first} to {@link end} excluded), rebuilt; `undefined` outside. */
  get(n: number): WorkflowEvent | undefined {
    if (n < this.first || n >= this.end) return undefined
    const k = n - this.base
    let block = this.head
    for (let hops = k >>> BLOCK_SHIFT; hops > 0; hops--) block = this.arena.after(block)
    const v = this.arena.page(block)
    const i = TimelineArena.offset(block) + (k & BLOCK_MASK) * STRIDE
    const s = this.arena.strings
    const workflowId = this.workflowId
    const head = v[i] as number
    const at = v[i + 1] as number
    const c = asEngine(v[i + 2] as number)
    const d = asEngine(v[i + 3] as number)
    const code = head % A_SHIFT
    const a = Math.floor(head / A_SHIFT) % A_LIMIT
    const b = Math.floor(head / B_SHIFT)
    switch (code) {
      case Code.Kept:
        return this.kept?.get(n)
      case Code.RunStarted:
        return { _tag: 'RunStarted', workflowId, at, initial: s.string(a) }
      case Code.StateEntered:
        return { _tag: 'StateEntered', workflowId, at, state: s.string(a), transition: c }
      case Code.TaskStarted:
        return { _tag: 'TaskStarted', workflowId, at, state: s.string(a), taskId: s.string(b) }
      case Code.BranchStarted:
        return { _tag: 'TaskStarted', workflowId, at, state: s.string(a), taskId: s.string(b), branch: c, branches: d }
      case Code.TaskSucceeded:
        return {
          _tag: 'TaskSucceeded',
          workflowId,
          at,
          state: s.string(a),
          taskId: s.string(b),
          attempts: c,
          next: s.string(d),
        }
      case Code.RetryScheduled:
        return {
          _tag: 'RetryScheduled',
          workflowId,
          at,
          state: s.string(a),
          taskId: s.string(b),
          attempt: c,
          delayMs: d,
        }
      case Code.TimerArmed:
        return { _tag: 'TimerArmed', workflowId, at, state: s.string(a), taskId: s.string(b), wakeAt: c }
      case Code.CheckpointAppended:
        return {
          _tag: 'CheckpointAppended',
          workflowId,
          at,
          seq: c,
          kind: KINDS[b] as CheckpointKind,
          state: s.string(a),
          latencyMs: d,
        }
      case Code.RunCompleted:
        return { _tag: 'RunCompleted', workflowId, at, state: s.string(a), transitions: c }
      default:
        return undefined
    }
  }

  /** The events from number `from` (at least {@link first}) to the end, rebuilt. */
  slice(from: number = this.first): WorkflowEvent[] {
    const out: WorkflowEvent[] = []
    for (let n = Math.max(from, this.first); n < this.end; n++) {
      const e = this.get(n)
      if (e !== undefined) out.push(e)
    }
    return out
  }

  /** Drops the `k` oldest events; the blocks that held only dropped events go back to the arena. */
  drop(k: number): void {
    const count = Math.min(k, this.length)
    if (count <= 0) return
    const kept = this.kept
    if (kept !== undefined) {
      for (let n = this.first; n < this.first + count; n++) kept.delete(n)
      if (kept.size === 0) this.kept = undefined
    }
    this.first += count
    // a block wholly before `first` is free; the block being written never is (it holds `end` - 1, or
    // is full and the next event takes a new one)
    const arena = this.arena
    for (let done = (this.first - this.base) >>> BLOCK_SHIFT; done > 0 && this.head >= 0; done--) {
      const block = this.head
      this.head = block === this.tail ? -1 : arena.after(block)
      arena.give(block)
      this.base += BLOCK_EVENTS
    }
    if (this.head < 0) this.forget()
  }

  /**
   * Gives every block back to the arena and holds no event from now on (numbers keep counting from
   * `end`): the tracker calls this when it forgets the run.
   */
  release(): void {
    const arena = this.arena
    for (let block = this.head; block >= 0; block = block === this.tail ? -1 : arena.after(block)) arena.give(block)
    this.kept = undefined
    this.first = this.end
    this.forget()
  }

  /** Holds no block: the next event takes a new one, numbered from `end`. */
  private forget(): void {
    // the last event's `at`, read before its block is left (given back, it is another timeline's to write)
    if (this.page !== NO_PAGE) this.lastAt = this.lastWrittenAt()
    this.head = this.tail = -1
    this.base = this.end
    this.page = NO_PAGE
    this.cursor = this.limit = 0
  }
}
