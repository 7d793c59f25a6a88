/**
 * The scheduler runs under virtual time: a `TestScheduler` whose `now()` is a real epoch (`BASE` plus
 * the frame), advanced with `advanceTo` / `advanceBy` (set `maxFrames`, `flush()`, set the frame).
 * Tasks are synchronous or return Observables on that scheduler, so a run of "5 minutes" is
 * `timer(5 * MIN, ts)`. Only the last test uses real time.
 */
import { expect } from 'chai'
import { Cron } from 'croner'
import {
  EMPTY,
  filter,
  firstValueFrom,
  map,
  NEVER,
  type Observable,
  type Subscription,
  throwError,
  timer,
  toArray,
} from 'rxjs'
import type { TestScheduler } from 'rxjs/testing'

import {
  createScheduler,
  type FlowConfig,
  type RunningScheduler,
  type SchedulableWorkflow,
  type ScheduledEvent,
  type SchedulerOptions,
} from '../../roots/Scheduler.js'
import { workflow } from '../../roots/Workflow.js'
import {
  cancelledError,
  type CanoError,
  CanoFailure,
  configurationError,
  isCanoFailure,
  taskExecutionError,
  workflowError,
  workflowTimeoutError,
} from '../../src/CanoError.js'
import { type FlowInfo, initialFlowInfo } from '../../src/FlowInfo.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import { Schedule } from '../../src/Schedule.js'
import { task } from '../../src/StateHandler.js'
import { isTerminalEvent, type WorkflowEvent } from '../../src/WorkflowEvent.js'
import { deepStrictEqual } from '../helpers/deepStrictEqual.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { flushMicrotasks } from '../helpers/virtualTime.js'

// -------------------------------------------------------------------------------------
// helpers
// -------------------------------------------------------------------------------------

type Step = 'Go' | 'Done'

const SEC = 1_000
const MIN = 60 * SEC
const HOUR = 60 * MIN
const BASE = Date.UTC(2026, 0, 1)

interface VirtualTime {
  readonly ts: TestScheduler
  /** Runs every action due up to epoch `ms`, then sets the clock to `ms`. */
  readonly advanceTo: (ms: number) => void
  readonly advanceBy: (ms: number) => void
}

/** A TestScheduler whose `now()` is `base + frame`. */
const virtualTime = (base = BASE): VirtualTime => {
  const ts = testScheduler()
  ts.now = () => base + ts.frame
  const advanceTo = (ms: number): void => {
    ts.maxFrames = ms - base
    ts.flush()
    ts.frame = ms - base
  }
  return { ts, advanceTo, advanceBy: (ms) => advanceTo(ts.now() + ms) }
}

/** A workflow whose only task succeeds after `ms` of virtual time (at once when `ms` is undefined). */
const succeeding = (ts: TestScheduler, ms?: number): SchedulableWorkflow<Step> =>
  workflow<Step>()({
    exits: ['Done'],
    states: {
      Go: task((): 'Done' | Observable<'Done'> => (ms === undefined ? 'Done' : timer(ms, ts).pipe(map(() => 'Done'))), {
        retry: RetryMode.none(),
      }),
    },
    scheduler: ts,
  })

/** A workflow whose only task throws `error` synchronously. */
const failing = (ts: TestScheduler, error: CanoError = taskExecutionError('boom')): SchedulableWorkflow<Step> =>
  workflow<Step>()({
    exits: ['Done'],
    states: {
      Go: task(
        (): 'Done' => {
          throw new CanoFailure(error)
        },
        { retry: RetryMode.none() },
      ),
    },
    scheduler: ts,
  })

/** A workflow whose task never ends and records the signal it was given. */
const hanging = (ts: TestScheduler, signals: AbortSignal[]): SchedulableWorkflow<Step> =>
  workflow<Step>()({
    exits: ['Done'],
    states: {
      Go: task(
        ({ signal }) => {
          signals.push(signal)
          return NEVER
        },
        { retry: RetryMode.none() },
      ),
    },
    scheduler: ts,
  })

/** A structural workflow with a hand-written `run$`, to reach paths the engine never takes. */
const fake = (run$: () => Observable<WorkflowEvent>): SchedulableWorkflow => ({
  states: ['Go'],
  exits: ['Done'],
  resources: Resources.empty(),
  run$,
})

const flow = (
  id: string,
  wf: SchedulableWorkflow,
  schedule: Schedule,
  extra: Partial<FlowConfig> = {},
): FlowConfig => ({
  id,
  workflow: wf,
  initial: 'Go',
  schedule,
  ...extra,
})

const start = (options: SchedulerOptions): Promise<RunningScheduler> => createScheduler(options).start()

/** Records the start time of every run of flow `id` (in ms after `from`), from `status$`. */
const recordStarts = (
  h: RunningScheduler,
  id: string,
  from = BASE,
): { readonly starts: number[]; readonly sub: Subscription } => {
  const starts: number[] = []
  let seen = 0
  const sub = h.status$.subscribe((infos) => {
    const info = infos.find((i) => i.id === id)
    if (info !== undefined && info.runCount > seen) {
      seen = info.runCount
      starts.push((info.lastRun ?? Number.NaN) - from)
    }
  })
  return { starts, sub }
}

const failureOf = async (p: Promise<unknown>): Promise<CanoFailure> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a rejection')
}

const thrownBy = (f: () => unknown): CanoFailure => {
  try {
    f()
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a throw')
}

/** Stops with no grace: in-flight runs are aborted at once (the grace timer is virtual, so the clock must move). */
const stopNow = async (h: RunningScheduler, vt: VirtualTime): Promise<void> => {
  const stopping = h.stop({ graceMs: 0 })
  vt.advanceBy(0)
  await stopping
}

/** Tracks whether a Promise has settled, without awaiting it. */
const track = <A>(p: Promise<A>): { readonly settled: () => boolean } => {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  return { settled: () => done }
}

const info = (id: string, fields: Partial<FlowInfo>): FlowInfo => ({ ...initialFlowInfo(id), ...fields })

// -------------------------------------------------------------------------------------
// tests
// -------------------------------------------------------------------------------------

describe('createScheduler', () => {
  describe('validation', () => {
    const { ts } = virtualTime()
    const ok = succeeding(ts)

    it("throws cano's Configuration error for a duplicate id", () => {
      const e = thrownBy(() =>
        createScheduler({ flows: [flow('a', ok, Schedule.manual()), flow('a', ok, Schedule.every(SEC))] }),
      )
      deepStrictEqual(e.error, configurationError("Flow 'a' already exists"))
    })

    it('names the flow whose interval is not positive', () => {
      const e = thrownBy(() => createScheduler({ flows: [flow('health', ok, Schedule.every(0))] }))
      deepStrictEqual(
        e.error,
        configurationError('flow "health": schedule.intervalMs must be a finite number in (0, 2147483647], got 0'),
      )
    })

    it('names the flow whose cron expression does not parse, with croner’s reason', () => {
      const reason = ((): string => {
        try {
          new Cron('0 0 25 * * *', { paused: true })
          return ''
        } catch (err: unknown) {
          return (err as Error).message
        }
      })()
      const e = thrownBy(() => createScheduler({ flows: [flow('report', ok, Schedule.cron('0 0 25 * * *'))] }))
      deepStrictEqual(e.error, configurationError(`flow "report": Invalid cron expression: "0 0 25 * * *" (${reason})`))
    })

    it('names the flow whose initial state is neither a state nor an exit', () => {
      const e = thrownBy(() =>
        createScheduler({ flows: [{ id: 'etl', workflow: ok, initial: 'Nowhere', schedule: Schedule.manual() }] }),
      )
      deepStrictEqual(
        e.error,
        configurationError('flow "etl": Initial state "Nowhere" is neither registered nor an exit state'),
      )
    })

    it('names the flow whose workflow is not a workflow', () => {
      const notAWorkflow = { states: ['Go'], exits: ['Done'] } as unknown as SchedulableWorkflow
      const e = thrownBy(() => createScheduler({ flows: [flow('etl', notAWorkflow, Schedule.manual())] }))
      deepStrictEqual(e.error, configurationError('flow "etl": workflow must be built with workflow<S>()(…)'))
    })

    it('names the flow whose backoff or overlap policy is invalid', () => {
      deepStrictEqual(
        thrownBy(() => createScheduler({ flows: [flow('etl', ok, Schedule.manual(), { backoff: { multiplier: 0 } })] }))
          .error,
        configurationError('flow "etl": backoff.multiplier must be a finite number >= 1, got 0'),
      )
      deepStrictEqual(
        thrownBy(() =>
          createScheduler({ flows: [flow('etl', ok, Schedule.manual(), { overlap: 'parallel' as 'skip' })] }),
        ).error,
        configurationError(`flow "etl": overlap must be 'skip' or 'queue', got "parallel"`),
      )
    })

    it('rejects an id that is not a non-empty string, by position', () => {
      const e = thrownBy(() =>
        createScheduler({ flows: [flow('a', ok, Schedule.manual()), flow('', ok, Schedule.manual())] }),
      )
      deepStrictEqual(e.error, configurationError('flows[1]: id must be a non-empty string, got ""'))
    })

    it('rejects an id that cannot prefix a run id (a NUL character), naming it', () => {
      const e = thrownBy(() => createScheduler({ flows: [flow('a\u0000b', ok, Schedule.manual())] }))
      deepStrictEqual(
        e.error,
        configurationError(
          'flows[0]: id "a\\u0000b" cannot prefix a run id: it contains a NUL character or an unpaired UTF-16 surrogate',
        ),
      )
    })

    it('lists the ids in registration order and runs nothing before start', () => {
      let runs = 0
      const counted = fake(() => {
        runs++
        return EMPTY
      })
      const s = createScheduler({
        flows: [flow('b', counted, Schedule.every(SEC)), flow('a', counted, Schedule.manual())],
        scheduler: ts,
      })
      expect(s.ids).to.deep.equal(['b', 'a'])
      expect(runs).to.equal(0)
    })
  })

  describe('start', () => {
    const lifecycle = (log: string[], key: string, failSetup = false) =>
      Resources.of({
        [key]: {
          setup: () => {
            log.push(`setup ${key}`)
            if (failSetup) throw new CanoFailure(taskExecutionError(`${key} is down`))
          },
          teardown: () => void log.push(`teardown ${key}`),
        },
      })
    const withResources = (res: Resources<Record<string, unknown>>): SchedulableWorkflow<Step> =>
      workflow<Step>()({ resources: res, exits: ['Done'], states: { Go: task(() => 'Done' as const) } })

    it('sets resources up once in registration order and tears them down once, last first, at stop', async () => {
      const { ts } = virtualTime()
      const log: string[] = []
      const a = withResources(lifecycle(log, 'a'))
      const b = withResources(lifecycle(log, 'b'))
      const h = await start({
        flows: [
          flow('one', a, Schedule.manual()),
          flow('two', b, Schedule.manual()),
          flow('three', a, Schedule.manual()),
        ],
        scheduler: ts,
      })
      await h.trigger('one')
      await h.trigger('three')
      expect(log).to.deep.equal(['setup a', 'setup b'])
      deepStrictEqual(await h.stop(), { aborted: [], teardownFailures: [], teardownTimedOut: false })
      expect(log).to.deep.equal(['setup a', 'setup b', 'teardown b', 'teardown a'])
    })

    it('rolls back what was set up, last first, and rejects with the failed setup’s error', async () => {
      const { ts } = virtualTime()
      const log: string[] = []
      const s = createScheduler({
        flows: [
          flow('a', withResources(lifecycle(log, 'a')), Schedule.manual()),
          flow('b', withResources(lifecycle(log, 'b')), Schedule.manual()),
          flow('c', withResources(lifecycle(log, 'c', true)), Schedule.manual()),
          flow('d', withResources(lifecycle(log, 'd')), Schedule.manual()),
        ],
        scheduler: ts,
      })
      const e = await failureOf(s.start())
      deepStrictEqual(e.error, taskExecutionError('c is down'))
      expect(log).to.deep.equal(['setup a', 'setup b', 'setup c', 'teardown b', 'teardown a'])
    })

    it('refuses a second start', async () => {
      const { ts } = virtualTime()
      const s = createScheduler({ flows: [], scheduler: ts })
      const h = await s.start()
      deepStrictEqual((await failureOf(s.start())).error, workflowError('Scheduler already started'))
      await h.stop()
    })
  })

  describe('interval flows', () => {
    it('fixed delay: runs at start, then interval after each run ends (runs of 5 min every 60 min)', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({ flows: [flow('etl', succeeding(ts, 5 * MIN), Schedule.every(HOUR))], scheduler: ts })
      const { starts, sub } = recordStarts(h, 'etl')
      advanceTo(BASE + 6 * HOUR)
      expect(starts.map((t) => t / MIN)).to.deep.equal([0, 65, 130, 195, 260, 325])
      deepStrictEqual(
        h.status('etl'),
        info('etl', { status: { _tag: 'Completed' }, runCount: 6, lastRun: BASE + 325 * MIN }),
      )
      sub.unsubscribe()
      await h.stop()
    })

    it('fixed rate: runs on the grid from start whatever the run time (runs of 5 min every 60 min)', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [flow('etl', succeeding(ts, 5 * MIN), Schedule.every(HOUR, { mode: 'fixedRate' }))],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'etl')
      advanceTo(BASE + 6 * HOUR - 1)
      expect(starts.map((t) => t / MIN)).to.deep.equal([0, 60, 120, 180, 240, 300])
      sub.unsubscribe()
      await h.stop()
    })

    it('fixed rate: skips and counts the ticks that come while a run of 90 min is in flight', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [flow('etl', succeeding(ts, 90 * MIN), Schedule.every(HOUR, { mode: 'fixedRate' }))],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'etl')
      advanceTo(BASE + 6 * HOUR - 1)
      expect(starts.map((t) => t / MIN)).to.deep.equal([0, 120, 240])
      // ticks at 60, 180 and 300 came while a run was in flight
      deepStrictEqual(
        h.status('etl'),
        info('etl', { status: { _tag: 'Completed' }, runCount: 3, lastRun: BASE + 240 * MIN, skippedTicks: 3 }),
      )
      sub.unsubscribe()
      await h.stop()
    })

    it("fixed rate with overlap 'queue': a tick that comes during a run runs when it completes", async () => {
      const vt = virtualTime()
      const { ts, advanceTo } = vt
      const h = await start({
        flows: [
          flow('etl', succeeding(ts, 90 * MIN), Schedule.every(HOUR, { mode: 'fixedRate' }), { overlap: 'queue' }),
        ],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'etl')
      advanceTo(BASE + 6 * HOUR - 1)
      // 60 is queued and runs at 90; 120 runs at 180; 180 (during 180-270) is queued and runs at 270, so 240 finds one queued
      expect(starts.map((t) => t / MIN)).to.deep.equal([0, 90, 180, 270])
      deepStrictEqual(
        h.status('etl'),
        info('etl', { status: { _tag: 'Running' }, runCount: 4, lastRun: BASE + 270 * MIN, skippedTicks: 1 }),
      )
      sub.unsubscribe()
      await stopNow(h, vt)
    })
  })

  describe('cron flows', () => {
    it('fires at each next time in the time zone, across the spring-forward change', async () => {
      const base = Date.UTC(2026, 2, 27, 12)
      const { ts, advanceTo } = virtualTime(base)
      const h = await start({
        flows: [flow('report', succeeding(ts), Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }))],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'report', 0)
      advanceTo(Date.UTC(2026, 2, 31, 12))
      // 02:30 CET = 01:30Z; 2026-03-29 02:30 does not exist: 03:00 CEST = 01:00Z; then 02:30 CEST = 00:30Z
      expect(starts.map((t) => new Date(t).toISOString())).to.deep.equal([
        '2026-03-28T01:30:00.000Z',
        '2026-03-29T01:00:00.000Z',
        '2026-03-30T00:30:00.000Z',
        '2026-03-31T00:30:00.000Z',
      ])
      sub.unsubscribe()
      await h.stop()
    })

    it('fires once on the repeated hour when the clocks go back', async () => {
      const base = Date.UTC(2026, 9, 23, 12)
      const { ts, advanceTo } = virtualTime(base)
      const h = await start({
        flows: [flow('report', succeeding(ts), Schedule.cron('0 30 2 * * *', { timezone: 'Europe/Berlin' }))],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'report', 0)
      advanceTo(Date.UTC(2026, 9, 26, 12))
      expect(starts.map((t) => new Date(t).toISOString())).to.deep.equal([
        '2026-10-24T00:30:00.000Z',
        '2026-10-25T00:30:00.000Z',
        '2026-10-26T01:30:00.000Z',
      ])
      sub.unsubscribe()
      await h.stop()
    })

    it('reads 5-field expressions and does not fire at start', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({ flows: [flow('q', succeeding(ts), Schedule.cron('*/15 * * * *'))], scheduler: ts })
      const { starts, sub } = recordStarts(h, 'q')
      advanceTo(BASE + HOUR)
      expect(starts.map((t) => t / MIN)).to.deep.equal([15, 30, 45, 60])
      sub.unsubscribe()
      await h.stop()
    })

    it('skips and counts the ticks that come while the flow is running (runs of 150 s every minute)', async () => {
      const vt = virtualTime()
      const { ts, advanceTo } = vt
      const h = await start({
        flows: [flow('c', succeeding(ts, 150 * SEC), Schedule.cron('0 * * * * *'))],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'c')
      advanceTo(BASE + 10 * MIN)
      // runs 1:00-3:30, 4:00-6:30, 7:00-9:30, 10:00-; ticks 2, 3, 5, 6, 8, 9 skipped
      expect(starts.map((t) => t / MIN)).to.deep.equal([1, 4, 7, 10])
      expect(h.status('c')?.skippedTicks).to.equal(6)
      sub.unsubscribe()
      await stopNow(h, vt)
    })

    it('skips the ticks that fall inside a backoff window', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [
          flow('c', failing(ts), Schedule.cron('0 * * * * *'), {
            backoff: { initialMs: 90 * SEC, multiplier: 1, jitter: 0 },
          }),
        ],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'c')
      advanceTo(BASE + 6 * MIN)
      // each failure opens a 90 s window: a run every other minute
      expect(starts.map((t) => t / MIN)).to.deep.equal([1, 3, 5])
      expect(h.status('c')?.skippedTicks).to.equal(0)
      sub.unsubscribe()
      await h.stop()
    })
  })

  describe('backoff', () => {
    const boom = taskExecutionError('boom')
    const policy = { initialMs: 10 * SEC, multiplier: 2, maxDelayMs: MIN, jitter: 0, streakLimit: 5 }

    it('stretches the wait after each failure, caps it, then trips', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [flow('etl', failing(ts, boom), Schedule.every(SEC), { backoff: policy })],
        scheduler: ts,
      })
      const { starts, sub } = recordStarts(h, 'etl')
      advanceTo(BASE + HOUR)
      // waits of 10 s, 20 s, 40 s, then 60 s (capped); the fifth failure trips
      expect(starts.map((t) => t / SEC)).to.deep.equal([0, 10, 30, 70, 130])
      deepStrictEqual(
        h.status('etl'),
        info('etl', {
          status: { _tag: 'Tripped', streak: 5, lastError: boom },
          runCount: 5,
          lastRun: BASE + 130 * SEC,
          failureStreak: 5,
          lastError: boom,
        }),
      )
      deepStrictEqual(
        (await failureOf(h.trigger('etl'))).error,
        workflowError("Flow 'etl' is tripped — call reset() before triggering"),
      )
      sub.unsubscribe()
      await h.stop()
    })

    it('runs again at the next tick after a reset', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [flow('etl', failing(ts, boom), Schedule.every(SEC), { backoff: policy })],
        scheduler: ts,
      })
      advanceTo(BASE + HOUR)
      expect(h.status('etl')?.status._tag).to.equal('Tripped')
      await h.reset('etl')
      deepStrictEqual(h.status('etl'), info('etl', { runCount: 5, lastRun: BASE + 130 * SEC }))
      advanceTo(BASE + HOUR + SEC)
      deepStrictEqual(
        h.status('etl'),
        info('etl', {
          status: { _tag: 'Backoff', until: BASE + HOUR + 11 * SEC, streak: 1, lastError: boom },
          runCount: 6,
          lastRun: BASE + HOUR + SEC,
          failureStreak: 1,
          nextEligible: BASE + HOUR + 11 * SEC,
          lastError: boom,
        }),
      )
      await h.stop()
    })

    it('lets a manual trigger run during a backoff window', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [flow('etl', failing(ts, boom), Schedule.manual(), { backoff: { jitter: 0 } })],
        scheduler: ts,
      })
      await h.trigger('etl')
      advanceTo(BASE + 100)
      expect(h.status('etl')?.status).to.deep.equal({ _tag: 'Backoff', until: BASE + SEC, streak: 1, lastError: boom })
      await h.trigger('etl')
      deepStrictEqual(
        h.status('etl'),
        info('etl', {
          status: { _tag: 'Backoff', until: BASE + 100 + 2 * SEC, streak: 2, lastError: boom },
          runCount: 2,
          lastRun: BASE + 100,
          failureStreak: 2,
          nextEligible: BASE + 100 + 2 * SEC,
          lastError: boom,
        }),
      )
      await h.stop()
    })

    it('draws the jitter from the injected random source', async () => {
      const { ts } = virtualTime()
      const h = await start({
        flows: [flow('etl', failing(ts, boom), Schedule.manual(), { backoff: { jitter: 0.5 } })],
        scheduler: ts,
        random: () => 0,
      })
      await h.trigger('etl')
      expect(h.status('etl')?.nextEligible).to.equal(BASE + 500)
      await h.stop()
    })

    it('resets the streak after a success', async () => {
      const { ts, advanceTo } = virtualTime()
      let calls = 0
      const flaky = workflow<Step>()({
        exits: ['Done'],
        states: {
          Go: task(
            (): 'Done' => {
              if (++calls === 1) throw new CanoFailure(boom)
              return 'Done'
            },
            { retry: RetryMode.none() },
          ),
        },
      })
      const h = await start({
        flows: [flow('etl', flaky, Schedule.every(SEC), { backoff: { jitter: 0 } })],
        scheduler: ts,
      })
      advanceTo(BASE + SEC)
      deepStrictEqual(
        h.status('etl'),
        info('etl', { status: { _tag: 'Completed' }, runCount: 2, lastRun: BASE + SEC, lastError: boom }),
      )
      await h.stop()
    })
  })

  describe('failures', () => {
    it('never leaves a flow Running when its run$ throws, errors or ends without a terminal event', async () => {
      const { ts } = virtualTime()
      const kaboom = new Error('kaboom')
      const h = await start({
        flows: [
          flow(
            'throws',
            fake(() => {
              throw kaboom
            }),
            Schedule.manual(),
          ),
          flow(
            'errors',
            fake(() => throwError(() => kaboom)),
            Schedule.manual(),
          ),
          flow(
            'empty',
            fake(() => EMPTY),
            Schedule.manual(),
          ),
        ],
        scheduler: ts,
        random: () => 0.5,
      })
      for (const id of ['throws', 'errors', 'empty']) await h.trigger(id)
      expect(h.list().map((i) => [i.status._tag, i.lastError])).to.deep.equal([
        ['Backoff', taskExecutionError('kaboom', kaboom)],
        ['Backoff', taskExecutionError('kaboom', kaboom)],
        ['Backoff', workflowError('run ended without a terminal event')],
      ])
      await h.stop()
    })

    it('backs off after a task that rejects', async () => {
      const { ts } = virtualTime()
      const rejecting = workflow<Step>()({
        exits: ['Done'],
        states: { Go: task(() => Promise.reject(taskExecutionError('nope')), { retry: RetryMode.none() }) },
      })
      const h = await start({ flows: [flow('r', rejecting, Schedule.manual())], scheduler: ts })
      const ended = firstValueFrom(h.events$.pipe(filter((e) => isTerminalEvent(e.event))))
      await h.trigger('r')
      expect((await ended).event._tag).to.equal('RunFailed')
      expect(h.status('r')?.lastError).to.deep.equal(taskExecutionError('nope'))
      expect(h.status('r')?.status._tag).to.equal('Backoff')
      await h.stop()
    })

    it("applies the workflow's total timeout to scheduled runs", async () => {
      const { ts, advanceTo } = virtualTime()
      const slow = workflow<Step>()({
        exits: ['Done'],
        states: { Go: task(() => NEVER, { retry: RetryMode.none() }) },
        totalTimeoutMs: 30 * SEC,
        scheduler: ts,
      })
      const h = await start({
        flows: [flow('slow', slow, Schedule.every(HOUR), { backoff: { jitter: 0 } })],
        scheduler: ts,
      })
      advanceTo(BASE + 30 * SEC)
      deepStrictEqual(
        h.status('slow'),
        info('slow', {
          status: {
            _tag: 'Backoff',
            until: BASE + 31 * SEC,
            streak: 1,
            lastError: workflowTimeoutError(30 * SEC, 30 * SEC),
          },
          runCount: 1,
          lastRun: BASE,
          failureStreak: 1,
          nextEligible: BASE + 31 * SEC,
          lastError: workflowTimeoutError(30 * SEC, 30 * SEC),
        }),
      )
      await h.stop()
    })
  })

  describe('trigger, reset and cancel', () => {
    it("refuse with cano's texts: unknown id, already running, not running", async () => {
      const vt = virtualTime()
      const { ts } = vt
      const h = await start({ flows: [flow('m', succeeding(ts, MIN), Schedule.manual())], scheduler: ts })
      const errors = [
        (await failureOf(h.trigger('nope'))).error,
        (await failureOf(h.reset('nope'))).error,
        (await failureOf(h.cancel('nope'))).error,
        (await failureOf(h.cancel('m'))).error,
      ]
      await h.trigger('m')
      errors.push((await failureOf(h.trigger('m'))).error, (await failureOf(h.reset('m'))).error)
      expect(errors).to.deep.equal([
        workflowError("No workflow registered with id 'nope'"),
        workflowError("No workflow registered with id 'nope'"),
        workflowError("No workflow registered with id 'nope'"),
        workflowError("Flow 'm' is not running"),
        workflowError("Flow 'm' is already running"),
        workflowError("Flow 'm' is already running"),
      ])
      await stopNow(h, vt)
    })

    it('cancel aborts the run’s signal and returns the flow to Idle without counting a failure', async () => {
      const { ts } = virtualTime()
      const signals: AbortSignal[] = []
      const h = await start({ flows: [flow('m', hanging(ts, signals), Schedule.manual())], scheduler: ts })
      const events: ScheduledEvent[] = []
      const sub = h.events$.subscribe((e) => events.push(e))
      await h.trigger('m')
      expect(h.status('m')?.status._tag).to.equal('Running')
      await h.cancel('m')
      expect(signals.map((s) => s.aborted)).to.deep.equal([true])
      deepStrictEqual(h.status('m'), info('m', { runCount: 1, lastRun: BASE }))
      const last = events.at(-1)
      expect(last?.flowId).to.equal('m')
      expect(last?.event._tag).to.equal('RunCancelled')
      expect(last?.event._tag === 'RunCancelled' ? last.event.error : undefined).to.deep.equal(
        cancelledError("Flow 'm' cancelled"),
      )
      sub.unsubscribe()
      await h.stop()
    })

    it('refuse everything but status after stop', async () => {
      const { ts } = virtualTime()
      const h = await start({ flows: [flow('m', succeeding(ts), Schedule.manual())], scheduler: ts })
      await h.stop()
      expect([
        (await failureOf(h.trigger('m'))).error,
        (await failureOf(h.reset('m'))).error,
        (await failureOf(h.cancel('m'))).error,
      ]).to.deep.equal([
        workflowError('Scheduler not running — call start() before trigger()'),
        workflowError('Scheduler not running — call start() before reset()'),
        workflowError('Scheduler not running — call start() before cancel()'),
      ])
      deepStrictEqual(h.list(), [info('m', {})])
    })
  })

  describe('status$ and events$', () => {
    it('replays the current infos and completes at stop', async () => {
      const { ts } = virtualTime()
      const h = await start({
        flows: [flow('a', succeeding(ts), Schedule.manual()), flow('b', succeeding(ts), Schedule.manual())],
        scheduler: ts,
      })
      await h.trigger('b')
      const all = firstValueFrom(h.status$.pipe(toArray()))
      await h.stop()
      deepStrictEqual(await all, [
        [info('a', {}), info('b', { status: { _tag: 'Completed' }, runCount: 1, lastRun: BASE })],
      ])
    })

    it('tags every event of every run with its flow id', async () => {
      const { ts } = virtualTime()
      const h = await start({ flows: [flow('m', succeeding(ts), Schedule.manual())], scheduler: ts })
      const all = firstValueFrom(h.events$.pipe(toArray()))
      await h.trigger('m')
      await h.stop()
      const untimed = (await all).map(({ flowId, event }) => {
        const { at: _at, workflowId: _id, ...rest } = event
        return { flowId, ...rest }
      })
      expect(untimed).to.deep.equal([
        { flowId: 'm', _tag: 'RunStarted', initial: 'Go' },
        { flowId: 'm', _tag: 'StateEntered', state: 'Go', transition: 0 },
        { flowId: 'm', _tag: 'TaskStarted', state: 'Go', taskId: 'Go' },
        { flowId: 'm', _tag: 'TaskSucceeded', state: 'Go', taskId: 'Go', attempts: 1, next: 'Done' },
        { flowId: 'm', _tag: 'StateEntered', state: 'Done', transition: 1 },
        { flowId: 'm', _tag: 'RunCompleted', state: 'Done', transitions: 2 },
      ])
    })
  })

  describe('stop', () => {
    it('lets an in-flight run finish within the grace period', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({ flows: [flow('etl', succeeding(ts, 5 * MIN), Schedule.every(HOUR))], scheduler: ts })
      advanceTo(BASE + MIN)
      const stopping = h.stop({ graceMs: 10 * MIN })
      const t = track(stopping)
      advanceTo(BASE + 5 * MIN - 1)
      await flushMicrotasks()
      expect(t.settled()).to.equal(false)
      advanceTo(BASE + 5 * MIN)
      deepStrictEqual(await stopping, { aborted: [], teardownFailures: [], teardownTimedOut: false })
      deepStrictEqual(h.status('etl'), info('etl', { status: { _tag: 'Completed' }, runCount: 1, lastRun: BASE }))
      // no tick runs after stop
      advanceTo(BASE + 3 * HOUR)
      expect(h.status('etl')?.runCount).to.equal(1)
    })

    it('aborts a hung run when the grace period ends and resolves then', async () => {
      const { ts, advanceTo } = virtualTime()
      const signals: AbortSignal[] = []
      const h = await start({ flows: [flow('hung', hanging(ts, signals), Schedule.every(HOUR))], scheduler: ts })
      advanceTo(BASE)
      const stopping = h.stop({ graceMs: 5 * SEC, marginMs: 500 })
      const t = track(stopping)
      advanceTo(BASE + 5 * SEC - 1)
      await flushMicrotasks()
      expect([t.settled(), signals[0]?.aborted, h.status('hung')?.status._tag]).to.deep.equal([false, false, 'Running'])
      advanceTo(BASE + 5 * SEC)
      deepStrictEqual(await stopping, { aborted: ['hung'], teardownFailures: [], teardownTimedOut: false })
      expect(signals.map((s) => s.aborted)).to.deep.equal([true])
      deepStrictEqual(h.status('hung'), info('hung', { runCount: 1, lastRun: BASE }))
    })

    it('drops a run that ignores its signal half-way through the margin', async () => {
      const { ts, advanceTo } = virtualTime()
      const h = await start({
        flows: [
          flow(
            'stuck',
            fake(() => NEVER),
            Schedule.manual(),
          ),
        ],
        scheduler: ts,
      })
      await h.trigger('stuck')
      const stopping = h.stop({ graceMs: SEC, marginMs: 200 })
      const t = track(stopping)
      advanceTo(BASE + 1_099)
      await flushMicrotasks()
      expect([t.settled(), h.status('stuck')?.status._tag]).to.deep.equal([false, 'Running'])
      advanceTo(BASE + 1_100)
      deepStrictEqual(await stopping, { aborted: ['stuck'], teardownFailures: [], teardownTimedOut: false })
      expect(h.status('stuck')?.status._tag).to.equal('Idle')
    })

    it('resolves at graceMs + marginMs when a teardown hangs, and reports teardown failures', async () => {
      const { ts, advanceTo } = virtualTime()
      const hangs = Resources.of({ pool: { teardown: () => new Promise<void>(() => undefined) } })
      const breaks = Resources.of({ db: { teardown: () => Promise.reject(taskExecutionError('socket hang up')) } })
      const wf = (res: Resources<Record<string, unknown>>): SchedulableWorkflow<Step> =>
        workflow<Step>()({ resources: res, exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
      const h = await start({
        flows: [flow('a', wf(hangs), Schedule.manual()), flow('b', wf(breaks), Schedule.manual())],
        scheduler: ts,
      })
      const stopping = h.stop({ graceMs: SEC, marginMs: 200 })
      const t = track(stopping)
      advanceTo(BASE + 1_199)
      await flushMicrotasks()
      expect(t.settled()).to.equal(false)
      advanceTo(BASE + 1_200)
      deepStrictEqual(await stopping, {
        aborted: [],
        teardownFailures: [{ flowId: 'b', key: 'db', error: taskExecutionError('socket hang up') }],
        teardownTimedOut: true,
      })
    })

    it('returns the same result to a second call', async () => {
      const { ts } = virtualTime()
      const h = await start({ flows: [], scheduler: ts })
      const first = h.stop({ graceMs: 10 })
      expect(h.stop({ graceMs: 99 })).to.equal(first)
      deepStrictEqual(await first, { aborted: [], teardownFailures: [], teardownTimedOut: false })
    })

    it('rejects invalid options without stopping', async () => {
      const { ts } = virtualTime()
      const h = await start({ flows: [flow('m', succeeding(ts), Schedule.manual())], scheduler: ts })
      deepStrictEqual(
        (await failureOf(h.stop({ graceMs: -1 }))).error,
        configurationError('stop: graceMs must be a finite number in [0, 2147483647], got -1'),
      )
      await h.trigger('m')
      await h.stop()
    })
  })

  describe('in real time', () => {
    it('runs an interval flow every 20 ms and stops', async function () {
      this.timeout(5_000)
      const ping = workflow<Step>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
      const h = await start({ flows: [flow('ping', ping, Schedule.every(20))] })
      const infos = await firstValueFrom(h.status$.pipe(filter((all) => (all[0]?.runCount ?? 0) >= 3)))
      const result = await h.stop({ graceMs: 100 })
      deepStrictEqual(result, { aborted: [], teardownFailures: [], teardownTimedOut: false })
      expect(infos[0]?.failureStreak).to.equal(0)
      expect(h.status('ping')?.status._tag).to.equal('Completed')
    })
  })
})
