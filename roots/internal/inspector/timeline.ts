/**
 * @internal One run's recent events, as the inspector keeps them: compact, because it keeps them for
 * every run it follows (a thousand runs in flight, each with hundreds of events) while the engine runs.
 *
 * Why not an array of the events: each event would outlive a few young-generation collections, be copied
 * and promoted, and every store of a young event into an old array is a pointer the collector must follow.
 * Measured on the inspector bench (1 000 runs in flight), keeping the event objects cost about 10 % of the
 * engine's CPU. So the frequent events whose fields are all numbers and known strings (a run's start,
 * state entries, task starts and successes, retries, timers, checkpoint appends, completion without an
 * output) are stored as numbers in one array per run: {@link STRIDE} slots per event, strings as indices
 * into a {@link StringTable} shared by the tracker. An array that holds only numbers has unboxed doubles
 * and no pointers: the collector does not trace it. Any other event (one with an error, a payload, an
 * optional field set, another run's id) is kept as it is, beside the numbers.
 *
 * {@link Timeline.get} rebuilds an event equal to the one pushed, with its keys in the same order as the
 * engine writes them (what `JSON.stringify` and the inspector's wire format see).
 */
import type { CheckpointKind } from '../../../codecs/CheckpointRow.js'
import { CheckpointKind as CheckpointKindCodec } from '../../../codecs/CheckpointRow.js'
import type { WorkflowEvent } from '../../../src/WorkflowEvent.js'

/** @internal Numbers per event: its code, `at`, and up to four fields. */
export const STRIDE = 6

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

/** @internal See the module comment. Events are numbered from 0 (the first pushed); old ones can be dropped. */
export class Timeline {
  /** {@link STRIDE} numbers per event held, oldest first. */
  private nums: number[] = []
  /** The events kept as they are, by number. */
  private kept: Map<number, WorkflowEvent> | undefined
  /** The number of the oldest event held. */
  first = 0
  /** The last state name looked up, and its id: most events of a run name the state it is in. */
  private state = ''
  private stateId = -1

  constructor(
    private readonly workflowId: string,
    private readonly strings: StringTable,
  ) {}

  /** How many events are held. */
  get length(): number {
    return this.nums.length / STRIDE
  }

  /** The number the next event pushed gets. */
  get end(): number {
    return this.first + this.nums.length / STRIDE
  }

  /** The id of `state` (a cache of one name: most events of a run name the state it is in). */
  private idOf(state: string): number {
    if (state === this.state) return this.stateId
    this.state = state
    return (this.stateId = this.strings.id(state))
  }

  /** The id of `taskId`, which is most often its state's name. */
  private taskIdOf(taskId: string, state: string, stateId: number): number {
    return taskId === state ? stateId : this.strings.id(taskId)
  }

  push(e: WorkflowEvent): void {
    const nums = this.nums
    if (e.workflowId === this.workflowId) {
      switch (e._tag) {
        case 'RunStarted':
          nums.push(Code.RunStarted, e.at, this.idOf(e.initial), 0, 0, 0)
          return
        case 'StateEntered':
          nums.push(Code.StateEntered, e.at, this.idOf(e.state), e.transition, 0, 0)
          return
        case 'TaskStarted': {
          const state = this.idOf(e.state)
          if (e.branch === undefined) {
            if (e.branches !== undefined) break
            nums.push(Code.TaskStarted, e.at, state, this.taskIdOf(e.taskId, e.state, state), 0, 0)
          } else {
            if (e.branches === undefined) break
            nums.push(Code.BranchStarted, e.at, state, this.strings.id(e.taskId), e.branch, e.branches)
          }
          return
        }
        case 'TaskSucceeded': {
          const state = this.idOf(e.state)
          const task = this.taskIdOf(e.taskId, e.state, state)
          nums.push(Code.TaskSucceeded, e.at, state, task, e.attempts, this.strings.id(e.next))
          return
        }
        case 'RetryScheduled': {
          if (e.branch !== undefined) break
          const state = this.idOf(e.state)
          nums.push(Code.RetryScheduled, e.at, state, this.taskIdOf(e.taskId, e.state, state), e.attempt, e.delayMs)
          return
        }
        case 'TimerArmed': {
          const state = this.idOf(e.state)
          nums.push(Code.TimerArmed, e.at, state, this.taskIdOf(e.taskId, e.state, state), e.wakeAt, 0)
          return
        }
        case 'CheckpointAppended':
          if (e.latencyMs === undefined) break
          nums.push(Code.CheckpointAppended, e.at, e.seq, kindId(e.kind), this.idOf(e.state), e.latencyMs)
          return
        case 'RunCompleted':
          if (e.output !== undefined) break
          nums.push(Code.RunCompleted, e.at, this.idOf(e.state), e.transitions, 0, 0)
          return
        default:
          break
      }
    }
    ;(this.kept ??= new Map()).set(this.end, e)
    nums.push(Code.Kept, 0, 0, 0, 0, 0)
  }

  /** Event number `n` (from {@link first} to {@link end} excluded), rebuilt; `undefined` outside. */
  get(n: number): WorkflowEvent | undefined {
    const i = (n - this.first) * STRIDE
    if (n < this.first || i >= this.nums.length) return undefined
    const v = this.nums
    const s = this.strings
    const workflowId = this.workflowId
    const at = v[i + 1] as number
    const a = v[i + 2] as number
    const b = v[i + 3] as number
    const c = v[i + 4] as number
    const d = v[i + 5] as number
    switch (v[i]) {
      case Code.Kept:
        return this.kept?.get(n)
      case Code.RunStarted:
        return { _tag: 'RunStarted', workflowId, at, initial: s.string(a) }
      case Code.StateEntered:
        return { _tag: 'StateEntered', workflowId, at, state: s.string(a), transition: b }
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
          seq: a,
          kind: KINDS[b] as CheckpointKind,
          state: s.string(c),
          latencyMs: d,
        }
      case Code.RunCompleted:
        return { _tag: 'RunCompleted', workflowId, at, state: s.string(a), transitions: b }
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

  /** Drops the `k` oldest events. */
  drop(k: number): void {
    const count = Math.min(k, this.length)
    if (count <= 0) return
    this.nums.splice(0, count * STRIDE)
    const kept = this.kept
    if (kept !== undefined) {
      for (let n = this.first; n < this.first + count; n++) kept.delete(n)
      if (kept.size === 0) this.kept = undefined
    }
    this.first += count
  }
}
