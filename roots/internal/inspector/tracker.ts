/**
 * @internal What the inspector remembers of the runs its runtime executes: for each run seen in
 * `runtime.events$`, its live status and state, its recent events (the timeline) and what the progress
 * bars need. The work done per event is small and constant (an array push, a few field writes): it runs
 * on the engine's thread, for every event of every run, whether a page is open or not, in batches (the
 * runtime's tap only queues each event: see {@link RunTracker.run}). Events are kept in a
 * compact {@link Timeline} per run (numbers, not objects: see its module comment). What costs more
 * (folding events into a {@link RunState} with `reduceRunState`) is done when a page asks, or when a
 * long run's timeline is trimmed (each event is folded once).
 *
 * Bounds: a run keeps its last {@link TIMELINE} to 2 x {@link TIMELINE} events (older ones are folded
 * into its snapshot and dropped); at most {@link MAX_IDLE} runs that are not executing (ended, parked,
 * released) are kept, the least recently active dropped first. A run executing here is always kept.
 */
import type { Observable } from 'rxjs'

import { initialRunState, reduceRunState, type RunState } from '../../../src/RunState.js'
import type { RunRecordStatus } from '../../../src/RunTable.js'
import type { WorkflowEvent } from '../../../src/WorkflowEvent.js'
import type { RuntimeEvent, RuntimeEventTap, RuntimeTapper, TapSlot } from '../../Runtime.js'
import { Timeline, TimelineArena } from './timeline.js'

/** @internal Events a run's timeline keeps at least. */
export const TIMELINE = 500
/** @internal Runs not executing here that are kept. */
export const MAX_IDLE = 1_000
/**
 * @internal Events (and notices) queued at most before the tracker takes them in (see {@link RunTracker.run}):
 * the queue is taken in when full, at the end of the event loop's turn, and before anything is read.
 */
export const BATCH = 256

/** The status each ending event other than a completion leaves a run in. */
const ENDED = { RunFailed: 'failed', RunCancelled: 'cancelled', RunTimedOut: 'timedOut' } as const

/** Runs tracked so far in this process: each {@link Tracked} gets the next number. */
let births = 0

/** @internal The number the next run tracked gets: a run numbered below it was tracked before now. */
export const nextBirth = (): number => births

/** @internal The branches of the split state being run, settled so far. */
export interface SplitCount {
  settled: number
  succeeded: number
  failed: number
  cancelled: number
}

/**
 * @internal One run as the inspector tracks it. Mutable: owned by the {@link RunTracker}. It is its own
 * {@link Timeline} (the run's recent events, numbered from 0, the run's first event seen here;
 * `timeline.first` is the oldest kept): one object per run rather than two, as the tracker holds thousands.
 */
export class Tracked extends Timeline {
  // fields read or written for every event first (see the comment at the top of Timeline's fields)
  /** Forgotten by its tracker (a runtime's slot may still hold it: it must be looked up again). */
  dropped = false
  /** The server's run feeds: whether one is open on this run, as of the server's feed generation `feedsSeen`. */
  feedsSeen = -1
  hasFeed = false
  /** The server's list feed: the number of the write this run is queued for (-1: none yet). */
  listed = -1
  status: RunRecordStatus = 'running'
  /** The state being run (or the exit reached); `null` before the first `StateEntered` seen. */
  state: string | null = null
  split: SplitCount | undefined = undefined
  /** The last `WindowFlushed` of the current `stream` state. */
  windows: { readonly window: number; readonly items: number } | undefined = undefined
  readonly workflow: string
  /** When the oldest change not yet written came; a time from the start (see `Timeline.lastAt`: not a literal 0). */
  listedAt: number
  /** The number of the `RunStarted` the snapshot folds from (a resumed run starts a new one). */
  segment = 0
  /** The snapshot of the events before `folded`, from `segment` on; made when first folded into. */
  snap: RunState | undefined = undefined
  folded = 0
  /** The status the list feed last wrote for this run (`undefined`: never written), and the number of that write. */
  shown: RunRecordStatus | undefined = undefined
  shownGen = -1
  /** Its number in the order runs were first tracked (see {@link nextBirth}). */
  readonly born = births++
  /** The tracker's idle queue: this run's mark in it (its latest entry), 0 while it executes here. */
  idleMark = 0

  constructor(
    workflowId: string,
    workflow: string,
    arena: TimelineArena,
    /** When the last event came (the event's `at`, or the tracker's clock for a runtime notice). */
    at: number,
  ) {
    super(workflowId, arena, at)
    this.workflow = workflow
    this.listedAt = at
  }

  /** The run's recent events: the run itself. */
  get timeline(): Timeline {
    return this
  }
}

/**
 * @internal Called after each change of a run: `event` is the workflow event, if the change was one;
 * `listed` says whether what the runs list shows of the run (its status and state) may have changed: a
 * notice, a run's start, a state entered, its end. The other events (a task started, a checkpoint, a
 * retry: most of them) change only its timeline and its `at`, which a list entry reads when it is next
 * written.
 */
export type TrackerListener = (run: Tracked, event: WorkflowEvent | undefined, listed: boolean) => void

/** @internal See the module comment. */
export class RunTracker implements RuntimeEventTap {
  private readonly runs = new Map<string, Tracked>()
  /**
   * Runs not executing here, least recently active first: a queue of runs and the mark each had when
   * queued (from `idleHead` on). A run queued again (active, then idle again) gets a new mark; its older
   * entries are stale and skipped. No Map work per ended run: this runs on the engine's thread.
   */
  private idleRuns: Tracked[] = []
  private idleMarks: number[] = []
  private idleHead = 0
  /** Runs idle now (entries that are not stale), and the last mark given. */
  private idleCount = 0
  private idleSeq = 0
  private readonly stop: () => void
  /** The names the timelines refer to and the numbers they hold, shared by all of them. */
  private readonly arena = new TimelineArena()
  /** The run of the last event (a run's events come in short bursts): saves a lookup per event. */
  private last: Tracked | undefined
  /**
   * What came and is not taken in yet, three entries each: a run's event as its workflow's name, the
   * event and its tap slot (or `undefined`); a notice as the time it came, the notice and `undefined`.
   * A new array per batch: a young array holding young events costs the collector nothing to track.
   */
  private queue: unknown[] = new Array<unknown>(3 * BATCH)
  /** Entries used in `queue` (three per event). */
  private queued = 0
  /** The end of the loop's turn, when the queue is taken in (set while something is queued). */
  private turn: NodeJS.Immediate | undefined
  private closed = false

  /**
   * `source`: the runtime's direct tap when it has one (no Subject fan-out, no wrapper per event: this
   * runs for every event of every run), else its `events$`.
   */
  constructor(
    source: Observable<RuntimeEvent> | RuntimeTapper,
    private readonly now: () => number,
    private readonly listener: TrackerListener,
  ) {
    if (typeof source === 'function')
      // the tracker is the tap: its `run` is called per event, with no arrow in between
      this.stop = source(this)
    else {
      const sub = source.subscribe({ next: (e) => this.notice(e) })
      this.stop = () => sub.unsubscribe()
    }
  }

  get(workflowId: string): Tracked | undefined {
    this.drain()
    return this.runs.get(workflowId)
  }

  /** The run's snapshot, folded up to its last event. */
  snapshot(run: Tracked): RunState {
    this.drain()
    this.fold(run, run.end)
    return run.snap ?? initialRunState(run.workflowId)
  }

  /** Stops following the runtime (what came before is taken in). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stop()
    if (this.turn !== undefined) clearImmediate(this.turn)
    this.turn = undefined
    this.drain()
  }

  /**
   * A run's event, from the runtime's tap (or `events$`). It is queued, not taken in here: the tracker
   * takes in a batch of events at a time ({@link BATCH}, or what came by the end of the event loop's turn),
   * and before anything of it is read. Queued, an event costs three stores; taken in a batch, the
   * tracker's code and the runs it touches stay in the processor's caches from one event to the next
   * instead of being evicted by the engine's steps between them (and evicting the engine's). Measured on
   * the inspector bench, builds alternating: the engine with an inspector read 0.95x-0.98x of none (a
   * page connected 0.91x-0.96x) with batches, 0.90x-0.95x (0.86x-0.93x) taking each event in at once.
   */
  run(workflow: string, e: WorkflowEvent, slot: TapSlot | undefined): void {
    this.enqueue(workflow, e, slot)
  }

  /** A notice of the runtime, or (from `events$`) a run's event wrapped: queued as `run` queues an event. */
  notice(e: RuntimeEvent): void {
    if (e._tag === 'Run') this.run(e.workflow, e.event, undefined)
    else this.enqueue(this.now(), e, undefined)
  }

  /** Queues one entry (see `queue`): the end of the turn is asked for by the first, a full queue taken in. */
  private enqueue(head: string | number, item: WorkflowEvent | RuntimeEvent, slot: TapSlot | undefined): void {
    const queue = this.queue
    const n = this.queued
    queue[n] = head
    queue[n + 1] = item
    queue[n + 2] = slot
    this.queued = n + 3
    if (n === 0) this.endOfTurn()
    else if (n + 3 === queue.length) this.drain()
  }

  private endOfTurn(): void {
    if (this.turn !== undefined || this.closed) return
    this.turn = setImmediate(() => {
      this.turn = undefined
      this.drain()
    })
    // a tracker does not keep the process alive
    this.turn.unref()
  }

  /**
   * Takes in what is queued, in order. A failure to take in one event (a listener that throws) does not
   * stop the others, nor reach the engine or the loop: what follows is taken in.
   */
  drain(): void {
    const n = this.queued
    if (n === 0) return
    const queue = this.queue
    this.queue = new Array<unknown>(3 * BATCH)
    this.queued = 0
    for (let i = 0; i < n; i += 3) {
      const head = queue[i]
      try {
        if (typeof head === 'string')
          this.take(head, queue[i + 1] as WorkflowEvent, queue[i + 2] as TapSlot | undefined)
        else this.takeNotice(head as number, queue[i + 1] as RuntimeEvent)
      } catch {
        // see above
      }
    }
  }

  private takeNotice(at: number, e: RuntimeEvent): void {
    switch (e._tag) {
      case 'Claimed':
        return this.noticed(at, e.workflowId, e.workflow, 'running')
      case 'Parked':
        return this.noticed(at, e.workflowId, undefined, 'parked')
      case 'Released':
        return this.noticed(at, e.workflowId, undefined, 'pending')
      default:
        return // schedule ticks: their runs show up when they are claimed
    }
  }

  private noticed(at: number, workflowId: string, workflow: string | undefined, status: RunRecordStatus): void {
    const run = this.runs.get(workflowId) ?? (workflow === undefined ? undefined : this.track(workflowId, workflow))
    if (run === undefined) return
    run.status = status
    run.at = at
    if (status === 'running') this.wake(run)
    else this.rest(run)
    this.listener(run, undefined, true)
  }

  private track(workflowId: string, workflow: string): Tracked {
    const run = new Tracked(workflowId, workflow, this.arena, this.now())
    this.runs.set(workflowId, run)
    return run
  }

  /**
   * A run's event taken in: called for every event of every run the runtime executes (see the module comment).
   * `slot` (the runtime's tap slot of this execution) holds the run once found, so that an event costs
   * no lookup by id in a map of a thousand runs (replayed: ~10 % of the tracker's work per event); every
   * event of an execution is of its run (one slot per execution), so the slot's run is not checked
   * against the event's id. A run the tracker dropped is marked, and looked up again. The event's
   * `_tag` is read once, and every other field inside the case of its kind (see {@link Timeline.runStarted}):
   * a field read here for any kind of event is a megamorphic load.
   */
  private take(workflow: string, e: WorkflowEvent, slot: TapSlot | undefined): void {
    let run: Tracked
    if (slot !== undefined) {
      const held = slot.held as Tracked | undefined
      if (held !== undefined && !held.dropped) run = held
      else slot.held = run = this.find(e.workflowId, workflow)
    } else {
      const held = this.last
      const id = e.workflowId
      if (held !== undefined && held.workflowId === id && !held.dropped) run = held
      else this.last = run = this.find(id, workflow)
    }
    if (run.length >= 2 * TIMELINE) {
      this.fold(run, run.first + TIMELINE)
      run.drop(TIMELINE)
    }
    // the run was found by the event's id: its timeline need not check it
    const tag = e._tag
    // whether what a runs list shows of the run (its status, its state) changed
    let listed = false
    switch (tag) {
      case 'RunStarted':
        if (!run.runStarted(e)) run.keep(e)
        // a new execution (a resumed run starts again): its snapshot folds from here
        run.segment = run.end - 1
        run.snap = undefined
        run.folded = run.segment
        run.status = 'running'
        run.split = undefined
        run.windows = undefined
        this.wake(run)
        listed = true
        break
      case 'StateEntered':
        if (!run.stateEntered(e)) run.keep(e)
        run.status = 'running'
        run.state = e.state
        run.split = undefined
        run.windows = undefined
        listed = true
        break
      case 'TaskStarted':
        if (!run.taskStarted(e)) run.keep(e)
        break
      case 'TaskSucceeded':
        if (!run.taskSucceeded(e)) run.keep(e)
        break
      case 'CheckpointAppended':
        if (!run.checkpointAppended(e)) run.keep(e)
        break
      case 'RetryScheduled':
        if (!run.retryScheduled(e)) run.keep(e)
        break
      case 'TimerArmed':
        if (!run.timerArmed(e)) run.keep(e)
        break
      case 'SplitBranchSettled': {
        run.keep(e)
        const split = (run.split ??= { settled: 0, succeeded: 0, failed: 0, cancelled: 0 })
        split.settled += 1
        if (e.outcome._tag === 'Succeeded') split.succeeded += 1
        else if (e.outcome._tag === 'Failed') split.failed += 1
        else split.cancelled += 1
        break
      }
      case 'WindowFlushed':
        run.keep(e)
        run.windows = { window: e.window, items: e.items }
        break
      case 'RunCompleted':
        if (!run.runCompleted(e)) run.keep(e)
        run.state = e.state
        this.ended(run, 'completed')
        listed = true
        break
      case 'RunFailed':
      case 'RunCancelled':
      case 'RunTimedOut':
        run.keep(e)
        this.ended(run, ENDED[tag])
        listed = true
        break
      default:
        run.keep(e)
        break
    }
    this.listener(run, e, listed)
  }

  /** The run has ended here with `status`. */
  private ended(run: Tracked, status: RunRecordStatus): void {
    run.status = status
    this.rest(run)
  }

  /** The run of `workflowId`, tracked from now on if it was not. */
  private find(workflowId: string, workflow: string): Tracked {
    return this.runs.get(workflowId) ?? this.track(workflowId, workflow)
  }

  /** The run is not executing here any more: it is kept among the idle runs, the oldest of which go. */
  private rest(run: Tracked): void {
    if (run.idleMark === 0) this.idleCount += 1
    run.idleMark = ++this.idleSeq
    this.idleRuns.push(run)
    this.idleMarks.push(run.idleMark)
    while (this.idleCount > MAX_IDLE) {
      const oldest = this.idleRuns[this.idleHead] as Tracked
      const mark = this.idleMarks[this.idleHead] as number
      this.idleHead += 1
      if (oldest.idleMark !== mark) continue // stale: queued again since, or executing
      oldest.idleMark = 0
      this.idleCount -= 1
      this.runs.delete(oldest.workflowId)
      oldest.release()
      oldest.dropped = true
    }
    // the queue is compacted now and then, not on every removal: the consumed head is cut off, stale
    // entries (runs that rest and wake again and again) dropped when they outnumber the live ones
    const held = this.idleRuns.length - this.idleHead
    if (held > 2 * this.idleCount + 1_024) this.compactIdle()
    else if (this.idleHead > 1_024 && this.idleHead * 2 > this.idleRuns.length) {
      this.idleRuns = this.idleRuns.slice(this.idleHead)
      this.idleMarks = this.idleMarks.slice(this.idleHead)
      this.idleHead = 0
    }
  }

  /** Keeps the live entries of the idle queue only, in order. */
  private compactIdle(): void {
    const runs: Tracked[] = []
    const marks: number[] = []
    for (let i = this.idleHead; i < this.idleRuns.length; i++) {
      const run = this.idleRuns[i] as Tracked
      const mark = this.idleMarks[i] as number
      if (run.idleMark === mark) {
        runs.push(run)
        marks.push(mark)
      }
    }
    this.idleRuns = runs
    this.idleMarks = marks
    this.idleHead = 0
  }

  /** The run executes here (again): it is no longer among the idle runs (its queue entries go stale). */
  private wake(run: Tracked): void {
    if (run.idleMark === 0) return
    run.idleMark = 0
    this.idleCount -= 1
  }

  /** Folds the run's events numbered below `upTo` (from its segment on) into its snapshot. */
  private fold(run: Tracked, upTo: number): void {
    for (let n = Math.max(run.folded, run.segment); n < upTo; n++) {
      const e = run.get(n)
      if (e !== undefined) run.snap = reduceRunState(run.snap ?? initialRunState(run.workflowId), e)
    }
    run.folded = Math.max(run.folded, upTo)
  }
}
