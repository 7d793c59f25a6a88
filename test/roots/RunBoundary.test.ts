/**
 * The run boundary (issue 12, src/RunBoundary.ts): a workflow's input codec and output declaration, run
 * by the real engine. The input is decoded before anything runs (bad or missing input: `RunFailed` with
 * `DecodeFailed` naming the field, nothing in the store) and is `ctx.input` in every state kind; the
 * output is produced at the exit (before the log is cleared and resources are torn down), carried
 * encoded on `RunCompleted` and decoded by `orchestrate`, `orchestrateTE`, `resume` and `snapshot$`;
 * a failing output function or codec fails the run. Workflows without codecs run as before.
 */
import { expect } from 'chai'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { lastValueFrom, type Observable, of, toArray } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import type { CanoError } from '../../src/CanoError.js'
import { configurationError, isCanoFailure, taskExecutionError } from '../../src/CanoError.js'
import { memoryCheckpoints } from '../../src/CheckpointStore.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { PollOutcome } from '../../src/Poll.js'
import { Resources } from '../../src/Resources.js'
import { RetryMode } from '../../src/RetryMode.js'
import type { RunOptions } from '../../src/RunOptions.js'
import { initialRunState, reduceRunState, type RunState } from '../../src/RunState.js'
import { task } from '../../src/StateHandler.js'
import { StepOutcome } from '../../src/Stepped.js'
import { WindowSignal } from '../../src/Stream.js'
import type { RunCompleted, WorkflowEvent } from '../../src/WorkflowEvent.js'

const collect = <S extends string>(o: Observable<WorkflowEvent<S>>): Promise<WorkflowEvent<S>[]> =>
  lastValueFrom(o.pipe(toArray()))

const rejectionOf = async (p: Promise<unknown>): Promise<CanoError> => {
  try {
    await p
  } catch (e: unknown) {
    if (isCanoFailure(e)) return e.error
    throw new Error(`expected a CanoFailure, got ${String(e)}`)
  }
  throw new Error('expected a rejection')
}

const lastOf = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>): WorkflowEvent<S> => {
  const e = events.at(-1)
  if (e === undefined) throw new Error('no events')
  return e
}

/** An ISO date string decoded to a `Date`: the decoded input differs from what a run is given. */
const DateFromIso = new t.Type<Date, string, unknown>(
  'DateFromIso',
  (u): u is Date => u instanceof Date,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const d = new Date(u)
    return Number.isNaN(d.getTime()) ? t.failure(u, c) : t.success(d)
  },
  (d) => d.toISOString(),
)

/** `t.strict` drops unknown keys: the input tasks see is the decoded (and re-encoded) one. */
const Order = t.strict({ orderId: t.string, cents: t.number, placedAt: DateFromIso }, 'Order')
type Order = t.TypeOf<typeof Order>
const Receipt = t.strict({ orderId: t.string, total: t.number, at: DateFromIso }, 'Receipt')

const ORDER_JSON = { orderId: 'o-1', cents: 1_250, placedAt: '2026-12-04T10:00:00.000Z' }
const ORDER: Order = { orderId: 'o-1', cents: 1_250, placedAt: new Date('2026-12-04T10:00:00.000Z') }

type Kinds = 'Task' | 'Route' | 'Poll' | 'Fan' | 'Join' | 'Scan' | 'Batch' | 'Nap' | 'Listen' | 'Pay' | 'Done'

describe('run boundary (issue 12)', () => {
  describe('ctx.input', () => {
    it('is the decoded input in every state kind, in split branches and in the output function', async () => {
      const seen: Array<[string, unknown]> = []
      const see =
        (where: string) =>
        (input: unknown): void =>
          void seen.push([where, input])
      const flow = workflow<Kinds>()({
        input: Order,
        exits: ['Done'],
        output: {
          codec: t.number,
          at: ({ input }) => {
            see('output')(input)
            return input.cents
          },
        },
        states: ({ task: tk, router, poll, split, stepped, batch, sleep, stream, saga }) => ({
          Task: tk(({ input }) => (see('task')(input), 'Route')),
          Route: router(({ input }) => (see('router')(input), 'Poll')),
          Poll: poll(({ input }) => (see('poll')(input), PollOutcome.ready('Fan'))),
          Fan: split([({ input }) => see('branch 0')(input), ({ input }) => see('branch 1')(input)], {
            strategy: JoinStrategy.all(),
            join: 'Join',
          }),
          Join: tk(({ input }) => (see('join')(input), 'Scan')),
          Scan: stepped({
            cursor: t.number,
            step: ({ input }, c) => (
              see(`step ${c ?? 0}`)(input),
              c === 1 ? StepOutcome.done('Batch') : StepOutcome.more(1)
            ),
          }),
          Batch: batch({
            load: ({ input }) => (see('batch load')(input), [1, 2]),
            processItem: (n: number) => n * 2,
            finish: (_results, { input }) => (see('batch finish')(input), 'Nap'),
          }),
          Nap: sleep({ wait: ({ input }) => (see('sleep')(input), 1), then: 'Listen' }),
          Listen: stream({
            source: ({ input }) => (see('stream source')(input), of(1)),
            window: { count: 1 },
            onWindow: (_items, { ctx }) => (see('stream window')(ctx.input), WindowSignal.continue()),
            onClose: (_reason, { input }) => (see('stream close')(input), 'Pay'),
          }),
          Pay: saga({
            output: t.string,
            run: ({ input }) => (see('saga')(input), ['Done', 'charge-1'] as const),
            compensate: () => undefined,
          }),
        }),
      })
      const withExtra = { ...ORDER_JSON, extra: 'dropped' }
      const result = await flow.orchestrate('Task', { input: withExtra })
      expect(result).to.deep.equal({ state: 'Done', output: 1_250 })
      expect(seen.map(([where]) => where)).to.deep.equal([
        'task',
        'router',
        'poll',
        'branch 0',
        'branch 1',
        'join',
        'step 0',
        'step 1',
        'batch load',
        'batch finish',
        'sleep',
        'stream source',
        'stream window',
        'stream close',
        'saga',
        'output',
      ])
      // decoded (a Date, not the ISO string), the unknown key stripped, the same value everywhere
      for (const [, input] of seen) expect(input).to.deep.equal(ORDER)
    })

    it('is the decoded input in a saga compensation', async () => {
      const compensated: unknown[] = []
      const flow = workflow<'Pay' | 'Ship' | 'Done'>()({
        input: Order,
        exits: ['Done'],
        states: ({ task: tk, saga }) => ({
          Pay: saga({
            output: t.string,
            run: () => ['Ship', 'charge-1'] as const,
            compensate: ({ input }) => void compensated.push(input),
          }),
          Ship: tk(
            () => {
              throw new Error('no stock')
            },
            { retry: RetryMode.none() },
          ),
        }),
      })
      const error = await rejectionOf(flow.orchestrate('Pay', { input: ORDER_JSON }))
      expect(error).to.deep.include({ _tag: 'TaskExecution', message: 'no stock' })
      expect(compensated).to.deep.equal([ORDER])
    })

    it('is undefined in a workflow without an input codec', async () => {
      const seen: unknown[] = ['not read']
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        states: { A: task(({ input }) => (seen.splice(0, 1, input), 'Done' as const)) },
      })
      expect(await flow.orchestrate('A')).to.equal('Done')
      expect(seen).to.deep.equal([undefined])
    })
  })

  describe('input decoding', () => {
    const checkpointed = () => {
      const store = memoryCheckpoints()
      let ran = 0
      const flow = workflow<'A' | 'Done'>()({
        input: Order,
        checkpoints: store,
        exits: ['Done'],
        states: {
          A: task(() => {
            ran += 1
            return 'Done' as const
          }),
        },
      })
      return { store, flow, ran: () => ran }
    }

    it('bad input ends the run RunFailed with DecodeFailed naming the field, and writes nothing', async () => {
      const { store, flow, ran } = checkpointed()
      const bad = { ...ORDER_JSON, cents: 'twelve' }
      const error = await rejectionOf(flow.orchestrate('A', { workflowId: 'bad-1', input: bad as never }))
      expect(error._tag).to.equal('DecodeFailed')
      if (error._tag !== 'DecodeFailed') return
      expect(error.codec).to.equal('Order')
      expect(error.errors).to.deep.equal(['Invalid value "twelve" supplied to : Order/cents: number'])
      expect(error.message).to.equal(
        'input of run "bad-1": Order rejected the value: Invalid value "twelve" supplied to : Order/cents: number',
      )
      // the event stream sees one RunFailed and nothing else; nothing ran, nothing was written
      const events = await collect(flow.run$('A', { workflowId: 'bad-2', input: { ...ORDER_JSON, placedAt: 'soon' } }))
      expect(events.map((e) => e._tag)).to.deep.equal(['RunFailed'])
      const failed = lastOf(events)
      expect(failed).to.deep.include({ workflowId: 'bad-2', state: undefined })
      expect(
        failed._tag === 'RunFailed' && failed.error._tag === 'DecodeFailed' ? failed.error.errors : [],
      ).to.deep.equal(['Invalid value "soon" supplied to : Order/placedAt: DateFromIso'])
      expect(ran()).to.equal(0)
      expect(await store.loadRun('bad-1')).to.deep.equal([])
      expect(await store.loadRun('bad-2')).to.deep.equal([])
      expect(await store.listRuns()).to.deep.equal([])
    })

    it('a workflow with an input codec run without input fails the same way, with a clear message', async () => {
      const { store, flow, ran } = checkpointed()
      const options = { workflowId: 'none-1' } as RunOptions<'A' | 'Done'> & { readonly input: never }
      const error = await rejectionOf(flow.orchestrate('A', options))
      expect(error).to.deep.include({ _tag: 'DecodeFailed', codec: 'Order' })
      expect(error.message).to.equal(
        'input of run "none-1": Order rejected the value: no input given: this workflow declares an input codec; pass { input } to orchestrate / run$ / snapshot$',
      )
      const te = await flow.orchestrateTE('A', options)()
      expect(E.isLeft(te) && te.left._tag).to.equal('DecodeFailed')
      expect(ran()).to.equal(0)
      expect(await store.listRuns()).to.deep.equal([])
    })

    it('input that does not encode back to JSON is refused too', async () => {
      const Loose = new t.Type<unknown, unknown, unknown>(
        'Loose',
        (_u): _u is unknown => true,
        t.success,
        () => () => 1,
      )
      const flow = workflow<'A' | 'Done'>()({
        input: Loose,
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
      })
      const error = await rejectionOf(flow.orchestrate('A', { workflowId: 'fn', input: 1 }))
      expect(error.message).to.equal(
        'input of run "fn": Loose rejected the value: the encoded input is not JSON (undefined or a function)',
      )
    })

    it('an input given to a workflow without an input codec is a Configuration error', async () => {
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      const options = { input: { orderId: 'o-1' } } as RunOptions<'A' | 'Done'>
      expect(await rejectionOf(flow.orchestrate('A', options))).to.deep.equal(
        configurationError(
          'this workflow declares no input codec: run it without the input option (or declare `input`)',
        ),
      )
    })

    it('resume decodes the input the run table kept, and refuses a run whose record holds none', async () => {
      const store = memoryCheckpoints()
      const seen: unknown[] = []
      let crash = true
      const flow = workflow<'A' | 'B' | 'Done'>()({
        input: Order,
        checkpoints: store,
        exits: ['Done'],
        output: { codec: t.string, at: ({ input }) => input.orderId },
        states: ({ task: tk }) => ({
          A: tk(() => 'B'),
          B: tk(
            ({ input }) => {
              seen.push(input)
              if (crash) throw new Error('crash')
              return 'Done'
            },
            { retry: RetryMode.none() },
          ),
        }),
      })
      await rejectionOf(flow.orchestrate('A', { workflowId: 'r-1', input: ORDER_JSON }))
      expect((await store.loadRun('r-1')).length).to.be.greaterThan(0)
      // the run table kept the input in its encoded form
      expect((await store.runs.get('r-1'))?.input).to.deep.equal(ORDER_JSON)
      const given = { input: ORDER_JSON } as Omit<RunOptions<'A' | 'B' | 'Done'>, 'workflowId'>
      expect(await rejectionOf(flow.resume('r-1', given))).to.deep.equal(
        configurationError('resume takes no input option: a resumed run decodes the input its run table kept'),
      )
      crash = false
      expect(await flow.resume('r-1')).to.deep.equal({ state: 'Done', output: 'o-1' })
      expect(seen).to.deep.equal([ORDER, ORDER])
      // a run recorded without an input (by hand here) cannot be resumed by a workflow that needs one
      await store.runs.create({ workflowId: 'r-2', workflow: '', version: 0, initial: 'A', input: null })
      await store.append({
        workflowId: 'r-2',
        seq: 0,
        kind: 'StateEntry',
        state: 'A',
        taskId: 'A',
        payload: null,
        version: 0,
        at: 0,
      })
      const refused = await rejectionOf(flow.resume('r-2'))
      expect(refused.message).to.equal(
        'input of run "r-2": Order rejected the value: no input to resume with: this workflow declares an input codec that does not take null, and the run table holds null for the run (recorded without an input)',
      )
      expect((await store.runs.get('r-2'))?.status).to.equal('failed')
    })
  })

  describe('output', () => {
    type Step = 'Charge' | 'Done' | 'Refunded'
    /** `wrong`: what the output function returns instead of the receipt (a value the codec rejects, cast). */
    const receiptFlow = (wrong?: unknown) =>
      workflow<Step>()({
        name: 'orders',
        input: Order,
        exits: ['Done', 'Refunded'],
        output: {
          codec: Receipt,
          at: ({ exit, input }) =>
            wrong !== undefined
              ? (wrong as t.TypeOf<typeof Receipt>)
              : { orderId: input.orderId, total: exit === 'Done' ? input.cents : 0, at: input.placedAt },
        },
        states: ({ task: tk }) => ({ Charge: tk(({ input }) => (input.cents > 0 ? 'Done' : 'Refunded')) }),
      })
    const RECEIPT = { orderId: 'o-1', total: 1_250, at: new Date('2026-12-04T10:00:00.000Z') }
    const RECEIPT_JSON = { orderId: 'o-1', total: 1_250, at: '2026-12-04T10:00:00.000Z' }

    it('is carried encoded on RunCompleted and decoded by orchestrate, orchestrateTE and snapshot$', async () => {
      const flow = receiptFlow()
      expect(flow.name).to.equal('orders')
      expect(flow.input).to.equal(Order)
      expect(flow.output).to.equal(Receipt)
      const events = await collect(flow.run$('Charge', { workflowId: 'o', input: ORDER_JSON }))
      const { at: _at, ...completed } = lastOf(events) as RunCompleted<Step>
      expect(completed).to.deep.equal({
        _tag: 'RunCompleted',
        workflowId: 'o',
        state: 'Done',
        transitions: 2,
        output: RECEIPT_JSON,
      })
      expect(await flow.orchestrate('Charge', { input: ORDER_JSON })).to.deep.equal({ state: 'Done', output: RECEIPT })
      expect(await flow.orchestrateTE('Charge', { input: { ...ORDER_JSON, cents: 0 } })()).to.deep.equal(
        E.right({ state: 'Refunded', output: { ...RECEIPT, total: 0 } }),
      )
      const snapshots = await lastValueFrom(flow.snapshot$('Charge', { input: ORDER_JSON }).pipe(toArray()))
      expect(snapshots.slice(0, -1).every((s) => s.output === undefined)).to.equal(true)
      expect(snapshots.at(-1)).to.deep.include({ status: 'completed', current: 'Done', output: RECEIPT })
    })

    it('reduceRunState alone keeps the encoded output RunCompleted carries', async () => {
      const events = await collect(receiptFlow().run$('Charge', { workflowId: 'r', input: ORDER_JSON }))
      const last = events.reduce<RunState<Step>>(reduceRunState, initialRunState<Step>('r'))
      expect(last).to.deep.include({ status: 'completed', output: RECEIPT_JSON })
    })

    it('is produced after the exit is reached, before the log is cleared and resources are torn down', async () => {
      const store = memoryCheckpoints()
      const order: string[] = []
      const recorded: unknown[] = []
      const flow = workflow<'A' | 'Done'>()({
        checkpoints: store,
        resources: Resources.of({ db: { teardown: () => void order.push('teardown') } }),
        exits: ['Done'],
        output: {
          codec: t.type({ rows: t.number }),
          at: async ({ exit, workflowId }) => {
            order.push(`output at ${exit}`)
            return { rows: (await store.loadRun(workflowId)).length }
          },
        },
        states: { A: task(() => 'Done' as const) },
        observers: [{ onStateEnter: (s) => void order.push(`enter ${s}`) }],
      })
      const result = await flow.orchestrate('A', {
        workflowId: 'w',
        runTable: { recordOutput: async (encoded, exit) => void recorded.push([encoded, exit]) },
      })
      // the rows of A and of the exit Done were still in the log when the output was produced
      expect(result).to.deep.equal({ state: 'Done', output: { rows: 2 } })
      expect(recorded).to.deep.equal([[{ rows: 2 }, 'Done']])
      expect(order).to.deep.equal(['enter A', 'enter Done', 'output at Done', 'teardown'])
      expect(await store.loadRun('w')).to.deep.equal([])
    })

    it('an output function that throws or rejects fails the run; the log is kept and a resume produces it', async () => {
      const store = memoryCheckpoints()
      let fail: 'throw' | 'reject' | undefined = 'throw'
      const flow = workflow<'A' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        output: {
          codec: t.number,
          at: () => {
            if (fail === 'throw') throw new Error('ledger down')
            if (fail === 'reject') return Promise.reject(new Error('ledger slow'))
            return 42
          },
        },
        states: { A: task(() => 'Done' as const) },
      })
      const events = await collect(flow.run$('A', { workflowId: 'f' }))
      const failed = lastOf(events)
      expect(failed._tag).to.equal('RunFailed')
      expect(failed).to.deep.include({
        state: 'Done',
        error: taskExecutionError(
          'output at exit "Done": the output function failed: ledger down',
          new Error('ledger down'),
        ),
      })
      expect((await store.loadRun('f')).map((r) => r.state)).to.deep.equal(['A', 'Done'])
      fail = 'reject'
      expect((await rejectionOf(flow.resume('f'))).message).to.equal(
        'output at exit "Done": the output function failed: ledger slow',
      )
      fail = undefined
      expect(await flow.resume('f')).to.deep.equal({ state: 'Done', output: 42 })
      expect(await store.loadRun('f')).to.deep.equal([])
    })

    it('an output the codec rejects fails the run with DecodeFailed naming the field', async () => {
      const flow = receiptFlow({ orderId: 'o-1', total: 'lots', at: new Date(0) })
      const error = await rejectionOf(flow.orchestrate('Charge', { input: ORDER_JSON }))
      expect(error).to.deep.equal({
        _tag: 'DecodeFailed',
        codec: 'Receipt',
        errors: ['Invalid value "lots" supplied to : Receipt/total: number'],
        message:
          'output at exit "Done": Receipt rejected the value: Invalid value "lots" supplied to : Receipt/total: number',
      })
    })

    it('a failed output rolls a saga stack back, like a failing state', async () => {
      const refunds: string[] = []
      const flow = workflow<'Pay' | 'Done'>()({
        exits: ['Done'],
        output: {
          codec: t.number,
          at: () => {
            throw new Error('no receipt')
          },
        },
        states: ({ saga }) => ({
          Pay: saga({
            output: t.string,
            run: () => ['Done', 'ch-1'] as const,
            compensate: (_ctx, id) => void refunds.push(id),
          }),
        }),
      })
      expect((await rejectionOf(flow.orchestrate('Pay'))).message).to.equal(
        'output at exit "Done": the output function failed: no receipt',
      )
      expect(refunds).to.deep.equal(['ch-1'])
    })

    it('a run table hook that rejects fails the run with a CheckpointStore error', async () => {
      const flow = receiptFlow()
      const error = await rejectionOf(
        flow.orchestrate('Charge', {
          workflowId: 'h',
          input: ORDER_JSON,
          runTable: { recordOutput: () => Promise.reject(new Error('disk full')) },
        }),
      )
      expect(error).to.deep.include({
        _tag: 'CheckpointStore',
        message: 'record the output of run "h": disk full',
      })
    })

    it('a cancellation while the output is produced aborts its signal and ends the run Cancelled', async () => {
      const ac = new AbortController()
      let aborted: unknown
      const flow = workflow<'A' | 'Done'>()({
        exits: ['Done'],
        output: {
          codec: t.number,
          at: ({ signal }) =>
            new Promise<number>((resolve) => {
              signal.addEventListener('abort', () => {
                aborted = signal.reason
                resolve(1)
              })
              ac.abort()
            }),
        },
        states: { A: task(() => 'Done' as const) },
      })
      const events = await collect(flow.run$('A', { signal: ac.signal }))
      expect(lastOf(events)._tag).to.equal('RunCancelled')
      expect(aborted).to.deep.include({ _tag: 'Cancelled' })
    })
  })

  describe('workflows without codecs', () => {
    it('run as before: no output on RunCompleted, orchestrate resolves with the exit state', async () => {
      const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      expect(flow.name).to.equal(undefined)
      expect(flow.input).to.equal(undefined)
      expect(flow.output).to.equal(undefined)
      const completed = lastOf(await collect(flow.run$('A', { workflowId: 'p' })))
      expect(Object.keys(completed).sort()).to.deep.equal(['_tag', 'at', 'state', 'transitions', 'workflowId'])
      expect(await flow.orchestrate('A')).to.equal('Done')
      expect(await flow.orchestrateTE('A')()).to.deep.equal(E.right('Done'))
      const last = (await lastValueFrom(flow.snapshot$('A').pipe(toArray()))).at(-1)
      expect(last).to.deep.include({ status: 'completed', output: undefined })
    })
  })

  describe('definition', () => {
    const bad = (def: object): string => {
      try {
        workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) }, ...def })
      } catch (e: unknown) {
        if (isCanoFailure(e)) return e.error.message
      }
      return 'accepted'
    }

    it('refuses a bad name, input codec or output declaration with a Configuration error naming it', () => {
      expect(bad({ name: '' })).to.equal('name must be a non-empty string, got ""')
      expect(bad({ input: { decode: 1 } })).to.match(/^input must be an io-ts codec/)
      expect(bad({ output: t.number })).to.match(/^output\.codec must be an io-ts codec/)
      expect(bad({ output: { codec: t.number } })).to.equal(
        'output.at must be a function producing the output, got undefined',
      )
      expect(bad({ output: { codec: 'number', at: () => 1 } })).to.match(/^output\.codec must be an io-ts codec/)
      expect(bad({ output: 5 })).to.equal('output must be an object { codec, at }, got 5')
      expect(bad({ name: 'orders', input: t.number, output: { codec: t.number, at: () => 1 } })).to.equal('accepted')
    })
  })
})
