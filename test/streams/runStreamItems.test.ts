/**
 * `runStreamItemsState` in marble tests (RxJS `TestScheduler`, virtual time), driven with a hand-built
 * `StateEnv`: the per-item timeout bounds each item (not the stream), skipped items and their count in
 * `WindowFlushed`, time windows counted in processed items, and the cursor carried by each window.
 */
import { getEventListeners } from 'node:events'

import { expect } from 'chai'
import * as t from 'io-ts'
import { firstValueFrom, from, type SchedulerLike } from 'rxjs'

import { RetryMode } from '../../src/RetryMode.js'
import { WindowSignal } from '../../src/Stream.js'
import { ItemErrorPolicy, streamItems } from '../../src/StreamItems.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { runStreamItemsState } from '../../streams/runStreamItems.js'
import { testScheduler } from '../helpers/virtualTime.js'
import { stateEnvOf } from '../helpers/workEnv.js'

type Step = 'Ingest' | 'Done'

const makeEnv = (scheduler: SchedulerLike) =>
  stateEnvOf<Step>({ state: 'Ingest', scheduler, defaultRetry: RetryMode.none() })

const flushes = (events: ReadonlyArray<WorkflowEvent<Step>>) =>
  events.flatMap((e) => (e._tag === 'WindowFlushed' ? [[e.at, e.window, e.items, e.cursor, e.skipped]] : []))

describe('runStreamItemsState (marbles)', () => {
  it('itemTimeoutMs bounds each item: a slow item times out and is skipped, the stream goes on', () => {
    const ts = testScheduler()
    ts.run(({ cold, expectObservable }) => {
      const { env, events } = makeEnv(ts)
      const state$ = runStreamItemsState(
        streamItems<Step, number, number, number>({
          cursor: t.number,
          source: () => cold('a 9ms b 9ms c 9ms |', { a: 0, b: 1, c: 2 }),
          onItem: (n) => cold(n === 1 ? '50ms x' : '2ms x', { x: { output: n * 10, cursor: n } }),
          itemTimeoutMs: 5,
          onItemError: ItemErrorPolicy.skip(),
          onClose: () => 'Done',
        }),
        env,
      )
      expectObservable(state$).toBe('30ms (d|)', { d: 'Done' })
      ts.flush()
      expect(flushes(events)).to.deep.equal([
        [2, 1, 1, 0, undefined],
        [22, 2, 1, 2, 1],
      ])
    })
  })

  it('a time window holds what was processed in it and commits the cursor of its last item', () => {
    const ts = testScheduler()
    ts.run(({ cold, expectObservable }) => {
      const { env, events } = makeEnv(ts)
      const windows: Array<ReadonlyArray<number>> = []
      const state$ = runStreamItemsState(
        streamItems<Step, number, number, number>({
          cursor: t.number,
          source: () => cold('a 4ms b 4ms c 14ms d 9ms |', { a: 0, b: 1, c: 2, d: 3 }),
          onItem: (n) => ({ output: n, cursor: n }),
          window: { timeMs: 10 },
          onWindow: (outputs) => {
            windows.push(outputs)
            return WindowSignal.continue()
          },
          onClose: () => 'Done',
        }),
        env,
      )
      expectObservable(state$).toBe('35ms (d|)', { d: 'Done' })
      ts.flush()
      // items at 0, 5, 10 and 25: the window opened at 0 closes at 10 (item 2 came first); the one opened at
      // 10 is empty at 20 (re-armed to 30) and flushes [3] at 30; the source completes at 35
      expect(windows).to.deep.equal([[0, 1, 2], [3]])
      expect(flushes(events)).to.deep.equal([
        [10, 1, 3, 2, undefined],
        [30, 2, 1, 3, undefined],
      ])
    })
  })

  it('leaves no listener on the run signal, also when a synchronous source runs the whole stream while subscribed', async () => {
    const ts = testScheduler()
    const { env } = makeEnv(ts)
    for (let i = 0; i < 20; i++)
      await firstValueFrom(
        runStreamItemsState(
          streamItems<Step, number, number, number>({
            cursor: t.number,
            source: () => from([1, 2, 3]),
            onItem: (n) => ({ output: n, cursor: n }),
            onClose: () => 'Done',
          }),
          env,
        ),
      )
    expect(getEventListeners(env.runSignal, 'abort')).to.have.length(0)
  })
})
