import { expect } from 'chai'
import { lastValueFrom, toArray } from 'rxjs'

import { Fault, injectFaults } from '../../../roots/testing/injectFaults.js'
import { virtualTime } from '../../../roots/testing/virtualTime.js'
import { workflow } from '../../../roots/Workflow.js'
import { batch, type ItemContext } from '../../../src/Batch.js'
import {
  cancelledError,
  isCanoFailure,
  retryExhaustedError,
  taskExecutionError,
  timeoutError,
} from '../../../src/CanoError.js'
import { RetryMode } from '../../../src/RetryMode.js'
import { task } from '../../../src/StateHandler.js'
import type { TaskContext } from '../../../src/TaskContext.js'
import type { WorkflowEvent } from '../../../src/WorkflowEvent.js'

const failures = (events: ReadonlyArray<WorkflowEvent>): Array<[number, unknown]> =>
  events.flatMap((e) => (e._tag === 'AttemptFailed' ? [[e.attempt, e.error] as [number, unknown]] : []))

const configurationOf = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e: unknown) {
    return isCanoFailure(e) ? e.error : e
  }
  return undefined
}

describe('injectFaults', () => {
  it('fails attempt 1 with a rejection and attempt 2 with a throw, then calls the function', async () => {
    let calls = 0
    const flow = workflow<'Fetch' | 'Done'>()({
      exits: ['Done'],
      states: {
        Fetch: task(
          injectFaults(
            async ({ attempt }) => {
              calls += 1
              return attempt === 3 ? ('Done' as const) : ('Fetch' as const)
            },
            { 1: Fault.fail(taskExecutionError('503')), 2: Fault.throw(new TypeError('bug')) },
          ),
          { retry: RetryMode.fixed(2, 0) },
        ),
      },
    })
    const events = await lastValueFrom(flow.run$('Fetch', { workflowId: 'f' }).pipe(toArray()))
    expect(failures(events)).to.deep.equal([
      [1, taskExecutionError('503')],
      [2, { _tag: 'TaskExecution', message: 'bug', cause: new TypeError('bug') }],
    ])
    expect([calls, events.at(-1)?._tag]).to.deep.equal([1, 'RunCompleted'])
  })

  it('hangs an attempt until its attempt timeout, at exactly attemptTimeoutMs (virtual time)', async () => {
    const t = virtualTime()
    const flow = workflow<'Fetch' | 'Done'>()({
      exits: ['Done'],
      states: {
        Fetch: task(
          injectFaults(async () => 'Done' as const, { 1: Fault.hang(), 2: Fault.hang() }),
          { retry: RetryMode.fixed(1, 50), attemptTimeoutMs: 1_000 },
        ),
      },
    })
    const events = await t.runUntilDone(flow.run$('Fetch', { workflowId: 'h', scheduler: t.scheduler }))
    const timeline = events
      .filter((e) => e._tag === 'AttemptFailed' || e._tag === 'RunFailed')
      .map((e) => [e._tag, e.at, 'error' in e ? e.error : undefined])
    expect(timeline).to.deep.equal([
      ['AttemptFailed', 1_000, timeoutError(1_000)],
      ['AttemptFailed', 2_050, timeoutError(1_000)],
      ['RunFailed', 2_050, retryExhaustedError(2, timeoutError(1_000))],
    ])
  })

  it("a hung attempt rejects with its signal's reason when the run is cancelled", async () => {
    const ac = new AbortController()
    const hung = injectFaults(
      async (_ctx: TaskContext) => 'Done' as const,
      () => Fault.hang(),
    )
    const reasons: unknown[] = []
    const flow = workflow<'Wait' | 'Done'>()({
      exits: ['Done'],
      states: {
        Wait: task(
          (ctx) => {
            const attempt = hung(ctx)
            attempt.catch((e: unknown) => reasons.push(e))
            return attempt
          },
          { retry: RetryMode.none() },
        ),
      },
    })
    const t = virtualTime()
    const run = t.runUntilDone(flow.run$('Wait', { workflowId: 'c', signal: ac.signal, scheduler: t.scheduler }))
    await t.settle()
    expect(reasons).to.deep.equal([])
    ac.abort()
    const events = await run
    expect(events.at(-1)?._tag).to.equal('RunCancelled')
    expect(reasons).to.deep.equal([cancelledError()])
  })

  it('gives every run the same faults, concurrent runs included (the engine numbers the attempts)', async () => {
    const flow = workflow<'A' | 'Done'>()({
      exits: ['Done'],
      states: {
        A: task(
          injectFaults(
            async () => 'Done' as const,
            (attempt) => (attempt <= 2 ? Fault.fail(timeoutError(1)) : undefined),
          ),
          { retry: RetryMode.fixed(3, 0) },
        ),
      },
    })
    const runs = await Promise.all(
      ['x', 'y', 'z'].map((workflowId) => lastValueFrom(flow.run$('A', { workflowId }).pipe(toArray()))),
    )
    expect(runs.map((events) => failures(events).map(([n]) => n))).to.deep.equal([
      [1, 2],
      [1, 2],
      [1, 2],
    ])
  })

  it("wraps a batch's processItem(item, ctx): the context is found among the arguments", async () => {
    const seen: Array<[number, number]> = []
    const flow = workflow<'Load' | 'Done'>()({
      exits: ['Done'],
      states: {
        Load: batch({
          load: () => [10, 20],
          processItem: injectFaults(
            (n: number, ctx: ItemContext) => {
              seen.push([n, ctx.attempt])
              return n
            },
            { 1: Fault.fail(taskExecutionError('flaky')) },
          ),
          itemRetry: RetryMode.fixed(1, 0),
          finish: (results) => (results.every((r) => r._tag === 'Ok') ? ('Done' as const) : ('Load' as const)),
        }),
      },
    })
    await flow.orchestrate('Load', { workflowId: 'b' })
    expect(seen).to.deep.equal([
      [10, 2],
      [20, 2],
    ])
  })

  it("numbers the wrapper's own calls under count: 'call'", async () => {
    const plain = injectFaults(
      (n: number) => n * 2,
      { 2: Fault.throw(new RangeError('second call')) },
      { count: 'call' },
    )
    expect(plain(1)).to.equal(2)
    expect(() => plain(2)).to.throw(RangeError, 'second call')
    expect(plain(3)).to.equal(6)
    const rejecting = injectFaults(async () => 'ok', { 1: Fault.fail('refused') }, { count: 'call' })
    let reason: unknown
    await rejecting().catch((e: unknown) => (reason = e))
    expect([reason, await rejecting()]).to.deep.equal(['refused', 'ok'])
  })

  it('refuses a call without a task context, a bad plan and a bad count, naming what is wrong', () => {
    const noContext = injectFaults((n: number) => n, { 1: Fault.hang() })
    expect(configurationOf(() => noContext(1))).to.deep.include({ _tag: 'Configuration' })
    expect((configurationOf(() => noContext(1)) as { message: string }).message).to.match(
      /called without a task context .* count: 'call'/,
    )
    expect(configurationOf(() => injectFaults(() => 1, { 0: Fault.hang() }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'injectFaults: plan keys are attempt numbers (integers from 1), got "0"',
    })
    expect(configurationOf(() => injectFaults(() => 1, { 1: { _tag: 'Boom' } as unknown as Fault }))).to.deep.equal({
      _tag: 'Configuration',
      message:
        "injectFaults: the plan's entry for attempt 1 is not a Fault (use Fault.fail, Fault.throw or Fault.hang)",
    })
    expect(configurationOf(() => injectFaults(() => 1, {}, { count: 'calls' as 'call' }))).to.deep.equal({
      _tag: 'Configuration',
      message: `injectFaults: count must be 'attempt' or 'call', got "calls"`,
    })
    const badFunction = injectFaults(
      (_ctx: { attempt: number }) => 1,
      () => 'fail' as unknown as Fault,
    )
    expect(configurationOf(() => badFunction({ attempt: 1 }))).to.deep.equal({
      _tag: 'Configuration',
      message: 'injectFaults: the plan returned "fail" for attempt 1, not a Fault',
    })
  })
})
