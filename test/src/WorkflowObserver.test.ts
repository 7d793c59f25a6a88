/**
 * The observer hooks beyond the one-event-one-hook mapping (issue 14): split branches are tasks to the
 * hooks (`name[i]`), and a log that could not be cleared is reported (`onCheckpointClearFailed`).
 */
import { expect } from 'chai'
import * as t from 'io-ts'
import { map, timer } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { nonRetryable, taskExecutionError } from '../../src/CanoError.js'
import { type CheckpointStore, memoryCheckpoints } from '../../src/CheckpointStore.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { RetryMode } from '../../src/RetryMode.js'
import { saga } from '../../src/Saga.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { notifyObserver, type WorkflowObserver } from '../../src/WorkflowObserver.js'
import { eventsInVirtualTime, eventsOf, lastEvent } from '../helpers/runEvents.js'

/** An observer writing each task hook as one line. */
const taskHooks = (lines: string[]): WorkflowObserver => ({
  onTaskStart: (id, state) => lines.push(`start ${id} (${state})`),
  onTaskSuccess: (id, state) => lines.push(`success ${id} (${state})`),
  onTaskFailure: (id, error, state) => lines.push(`failure ${id} (${state}): ${error.message}`),
})

/** The log part of a real in-memory store: without its run table, runs are not owned and clear their own log. */
const logOnly = (): CheckpointStore & { readonly close: () => Promise<void> } => {
  const { runs: _runs, ...log } = memoryCheckpoints()
  return log
}

describe('WorkflowObserver', () => {
  it('the other observers hear an ObserverFailed (not the one that threw), never after the terminal event, with no loop', async () => {
    const flow = workflow<'Work' | 'Done'>()({ exits: ['Done'], states: { Work: task(() => 'Done' as const) } })
    const heard: Array<Array<string>> = [[], [], []]
    const observers: ReadonlyArray<WorkflowObserver<'Work' | 'Done'>> = [
      {
        onEvent: (e) => heard[0]?.push(e._tag === 'ObserverFailed' ? `failed:${String(e.observer)}` : e._tag),
        onStateEnter: (state) => {
          if (state === 'Work') throw new Error('dashboard unreachable')
        },
      },
      {
        // it throws on every ObserverFailed it hears: that is not reported again (else 1 and 2 would loop)
        onEvent: (e) => {
          heard[1]?.push(e._tag === 'ObserverFailed' ? `failed:${String(e.observer)}` : e._tag)
          if (e._tag === 'ObserverFailed') throw new Error('cannot report')
        },
      },
      {
        onEvent: (e) => heard[2]?.push(e._tag === 'ObserverFailed' ? `failed:${String(e.observer)}` : e._tag),
        // a failure while the terminal event is delivered: reported on run$, heard by no observer after it
        onRunEnd: () => {
          throw new Error('late')
        },
      },
    ]
    const events = await eventsOf(flow.run$('Work', { observers }))
    const tags = events.map((e) => (e._tag === 'ObserverFailed' ? `failed:${String(e.observer)}` : e._tag))
    // as on run$, where an ObserverFailed comes before the event whose delivery failed
    expect(tags).to.deep.equal([
      'RunStarted',
      'failed:0',
      'StateEntered',
      'TaskStarted',
      'TaskSucceeded',
      'StateEntered',
      'failed:2',
      'RunCompleted',
    ])
    expect(heard[0]).to.deep.equal([
      'RunStarted',
      'StateEntered',
      'TaskStarted',
      'TaskSucceeded',
      'StateEntered',
      'RunCompleted',
    ])
    for (const h of [heard[1], heard[2]])
      expect(h).to.deep.equal([
        'RunStarted',
        'failed:0',
        'StateEntered',
        'TaskStarted',
        'TaskSucceeded',
        'StateEntered',
        'RunCompleted',
      ])
  })

  describe('split branches are tasks to the hooks, with cano ids name[i] (issue 14)', () => {
    type Fan = 'Fan' | 'Join' | 'Done'
    const fanned = (name?: string) =>
      workflow<Fan>()({
        exits: ['Done'],
        states: {
          Fan: split(
            [
              () => timer(10).pipe(map(() => 'a')),
              Branch.of(
                () =>
                  timer(20).pipe(
                    map(() => {
                      throw new Error('b broke')
                    }),
                  ),
                { retry: RetryMode.none() },
              ),
              () => timer(30).pipe(map(() => 'c')),
              // still running when quorum(2) is decided at 30: cancelled, neither hook
              () => timer(99).pipe(map(() => 'd')),
            ],
            { strategy: JoinStrategy.quorum(2), join: 'Join', ...(name === undefined ? {} : { name }) },
          ),
          Join: task(() => 'Done' as const),
        },
      })

    it('each branch starts, then succeeds or fails as it settles; a branch the join cancelled reports neither (virtual time)', () => {
      const lines: string[] = []
      const events = eventsInVirtualTime(() => fanned().run$('Fan', { observers: [taskHooks(lines)] }))
      expect(lines).to.deep.equal([
        'start Fan (Fan)',
        'start Fan[0] (Fan)',
        'start Fan[1] (Fan)',
        'start Fan[2] (Fan)',
        'start Fan[3] (Fan)',
        'success Fan[0] (Fan)',
        'failure Fan[1] (Fan): b broke',
        'success Fan[2] (Fan)',
        'success Fan (Fan)',
        'start Join (Join)',
        'success Join (Join)',
      ])
      // the hooks follow the SplitBranchSettled events, in the order the branches settled
      expect(
        events.flatMap((e) => (e._tag === 'SplitBranchSettled' ? [`${e.taskId} ${e.outcome._tag} ${e.at}`] : [])),
      ).to.deep.equal(['Fan[0] Succeeded 10', 'Fan[1] Failed 20', 'Fan[2] Succeeded 30', 'Fan[3] Cancelled 30'])
    })

    it("a named split's branches are name[i]", () => {
      const lines: string[] = []
      eventsInVirtualTime(() => fanned('fetch-pages').run$('Fan', { observers: [taskHooks(lines)] }))
      expect(lines.filter((l) => l.includes('['))).to.deep.equal([
        'start fetch-pages[0] (Fan)',
        'start fetch-pages[1] (Fan)',
        'start fetch-pages[2] (Fan)',
        'start fetch-pages[3] (Fan)',
        'success fetch-pages[0] (Fan)',
        'failure fetch-pages[1] (Fan): b broke',
        'success fetch-pages[2] (Fan)',
      ])
    })

    it('a failed join still reports every branch that failed or succeeded before it', () => {
      const lines: string[] = []
      const flow = workflow<Fan>()({
        exits: ['Done'],
        states: {
          Fan: split([() => 'a', Branch.of(() => Promise.reject(new Error('no')), { retry: RetryMode.none() })], {
            strategy: JoinStrategy.all(),
            join: 'Join',
          }),
          Join: task(() => 'Done' as const),
        },
      })
      return flow.orchestrate('Fan', { observers: [taskHooks(lines)] }).then(
        () => expect.fail('the join fails'),
        () =>
          expect(lines.filter((l) => l.includes('['))).to.deep.equal([
            // branch 0 answers synchronously: it settles before branch 1 starts
            'start Fan[0] (Fan)',
            'success Fan[0] (Fan)',
            'start Fan[1] (Fan)',
            'failure Fan[1] (Fan): no',
          ]),
      )
    })

    it('notifyObserver maps each settlement: Succeeded, Failed, and nothing for Cancelled', () => {
      const lines: string[] = []
      const base = { workflowId: 'w', at: 0, state: 'Fan' } as const
      for (const outcome of [
        { _tag: 'Succeeded', index: 0, value: 1 },
        { _tag: 'Failed', index: 1, error: taskExecutionError('x') },
        { _tag: 'Cancelled', index: 2 },
      ] as const)
        notifyObserver(taskHooks(lines), {
          ...base,
          _tag: 'SplitBranchSettled',
          taskId: `Fan[${outcome.index}]`,
          index: outcome.index,
          outcome,
        })
      expect(lines).to.deep.equal(['success Fan[0] (Fan)', 'failure Fan[1] (Fan): x'])
    })
  })

  describe('onCheckpointClearFailed (issue 14)', () => {
    it('a completed run whose log cannot be cleared still completes, and reports it once', async () => {
      const store = logOnly()
      const failures: string[] = []
      const flow = workflow<'A' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: { A: task(() => 'Done' as const) },
      })
      const events = await eventsOf(
        flow.run$('A', {
          workflowId: 'clear-1',
          observers: [
            {
              // the store goes away after the exit row is durable: its clear then fails for real
              onEvent: (e) => {
                if (e._tag === 'CheckpointAppended' && e.state === 'Done') void store.close()
              },
              onCheckpointClearFailed: (id, error) => failures.push(`${id}: ${error._tag}: ${error.message}`),
            },
          ],
        }),
      )
      expect(failures).to.have.length(1)
      expect(failures[0]).to.match(/^clear-1: CheckpointStore: clear the checkpoint log of run "clear-1": .*closed/)
      const tags = events.map((e) => e._tag)
      expect(tags.slice(-2)).to.deep.equal(['CheckpointClearFailed', 'RunCompleted'])
      const cleared = events.find(
        (e): e is Extract<WorkflowEvent<'A' | 'Done'>, { _tag: 'CheckpointClearFailed' }> =>
          e._tag === 'CheckpointClearFailed',
      )
      expect(cleared?.error._tag === 'CheckpointStore' ? cleared.error.cause : undefined).to.not.equal(undefined)
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunCompleted', state: 'Done' })
    })

    it('after a clean rollback too: the run ends with its original error, the clear failure is reported', async () => {
      const store = logOnly()
      const failures: string[] = []
      const original = taskExecutionError('ship failed')
      const flow = workflow<'Charge' | 'Ship' | 'Done'>()({
        checkpoints: store,
        exits: ['Done'],
        states: {
          Charge: saga({ output: t.number, run: () => ['Ship' as const, 1], compensate: () => undefined }),
          Ship: task(
            () => {
              throw nonRetryable(original)
            },
            { retry: RetryMode.none() },
          ),
        },
      })
      const events = await eventsOf(
        flow.run$('Charge', {
          workflowId: 'clear-2',
          observers: [
            {
              onEvent: (e) => {
                if (e._tag === 'CheckpointAppended' && e.kind === 'CompensationDone') void store.close()
              },
              onCheckpointClearFailed: (id) => failures.push(id),
            },
          ],
        }),
      )
      expect(failures).to.deep.equal(['clear-2'])
      expect(lastEvent(events)).to.deep.include({ _tag: 'RunFailed', error: original })
    })

    it('a store whose clear throws instead of rejecting is reported the same way; a clear that works reports nothing', async () => {
      const inner = logOnly()
      const throwing: CheckpointStore = {
        ...inner,
        clear: () => {
          throw new Error('clear is not supported')
        },
      }
      const flow = (store: CheckpointStore) =>
        workflow<'A' | 'Done'>()({ checkpoints: store, exits: ['Done'], states: { A: task(() => 'Done' as const) } })
      const seen: string[] = []
      const observer: WorkflowObserver = { onCheckpointClearFailed: (_id, e) => seen.push(e.message) }
      expect(await flow(throwing).orchestrate('A', { workflowId: 'clear-3', observers: [observer] })).to.equal('Done')
      expect(seen).to.deep.equal(['clear the checkpoint log of run "clear-3": clear is not supported'])
      expect(await flow(logOnly()).orchestrate('A', { workflowId: 'clear-4', observers: [observer] })).to.equal('Done')
      expect(seen).to.have.length(1)
    })
  })
})
