/**
 * Table tests of the pure run machine (src/RunMachine.ts), without the engine: every terminal path;
 * cancellation, the total timeout, unsubscription and hand-over in every phase; rollback from every phase;
 * resume into every phase. A last block replays the events each path emits through `reduceRunState`
 * and checks the snapshot's status is the machine's own (`runStatus`).
 */
import { expect } from 'chai'

import type { CanoError } from '../../codecs/CanoError.js'
import {
  cancelledError,
  compensationFailedError,
  configurationError,
  taskExecutionError,
  timeoutError,
  workflowError,
  workflowTimeoutError,
} from '../../src/CanoError.js'
import {
  ABANDON,
  abortReason,
  advanced,
  advanceOwned,
  createRun,
  ENTRY_WRITTEN,
  LOG_CLEARED,
  OUTPUT_PRODUCED,
  RECORDED,
  type RunCommand,
  type RunInput,
  type RunMachine,
  type RunPhase,
  type RunSetup,
  runStatus,
  SET_UP_DONE,
  step,
  terminalEvent,
  type TerminalStatus,
  TORN_DOWN,
  UNSUBSCRIBE,
  UNSUBSCRIBED,
} from '../../src/RunMachine.js'
import { initialRunState, reduceRunState, type RunState, type RunStatus } from '../../src/RunState.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'

type S = 'A' | 'B' | 'Done' | 'Ghost'

/** A run of states A and B (tasks), Done (an exit) and Ghost (neither). */
const setupOf = (over: Partial<RunSetup<S>> = {}): RunSetup<S> => ({
  checkpointed: false,
  manageResources: false,
  listens: false,
  timed: false,
  resumed: undefined,
  role: (s) => (s === 'Done' ? 'Exit' : s === 'Ghost' ? 'Missing' : 'Visit'),
  writesEntry: () => over.checkpointed ?? false,
  produces: false,
  ...over,
})

/** Every feature on: resources, a signal, a total timeout, a store. */
const full = (over: Partial<RunSetup<S>> = {}): RunSetup<S> =>
  setupOf({ checkpointed: true, manageResources: true, listens: true, timed: true, ...over })

const boom = taskExecutionError('boom')
const begin = (initial: S): RunInput<S> => ({ _tag: 'Start', initial })
const START = begin('A')
const cancel: RunInput<S> = { _tag: 'Cancel', error: cancelledError() }
const timeOut: RunInput<S> = { _tag: 'TimeOut', error: workflowTimeoutError(10, 10) }
const settled = (next: S): RunInput<S> => ({ _tag: 'VisitSettled', next })
const visitFailed = (error: CanoError = boom): RunInput<S> => ({ _tag: 'VisitFailed', error })
const rolledBack = (...errors: CanoError[]): RunInput<S> => ({ _tag: 'RolledBack', errors })

interface Trace {
  readonly machine: RunMachine<S>
  /** The commands of each input, in order. */
  readonly commands: ReadonlyArray<ReadonlyArray<RunCommand>>
  /** The phase after each input. */
  readonly phases: ReadonlyArray<RunPhase>
  /** The machine after each input. */
  readonly machines: ReadonlyArray<RunMachine<S>>
}

const drive = (setup: RunSetup<S>, inputs: ReadonlyArray<RunInput<S>>, from?: RunMachine<S>): Trace => {
  let machine = from ?? createRun(setup)
  const commands: RunCommand[][] = []
  const phases: RunPhase[] = []
  const machines: RunMachine<S>[] = []
  for (const input of inputs) {
    const [next, out] = step(machine, input)
    machine = next
    commands.push([...out])
    phases.push(next._tag)
    machines.push(next)
  }
  return { machine, commands, phases, machines }
}

const outcomeOf = (m: RunMachine<S>) => {
  if (m._tag !== 'Ended') throw new Error(`expected Ended, got ${m._tag}`)
  return m.outcome
}

describe('RunMachine', () => {
  describe('terminal paths', () => {
    it('completes at an exit state: RunStarted, the states, the terminal event, the end', () => {
      const t = drive(setupOf(), [START, settled('B'), settled('Done')])
      expect(t.commands).to.deep.equal([
        ['EmitRunStarted', 'Enter', 'StartVisit'],
        // a state with a handler and no entry row: release, enter and visit as one command
        ['Advance'],
        ['StopVisit', 'Enter', 'EmitTerminal', 'End'],
      ])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
      expect(t.machine.transitions).to.equal(3)
      expect(t.machine.current).to.equal('Done')
    })

    it('starts at an exit state: completes after one transition', () => {
      const t = drive(setupOf(), [begin('Done')])
      expect(t.commands).to.deep.equal([['EmitRunStarted', 'Enter', 'EmitTerminal', 'End']])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('with everything on, completes through entry rows, the log clearing and the teardown', () => {
      const t = drive(full(), [
        START,
        SET_UP_DONE,
        ENTRY_WRITTEN,
        settled('Done'),
        ENTRY_WRITTEN,
        LOG_CLEARED,
        TORN_DOWN,
      ])
      expect(t.phases).to.deep.equal([
        'SettingUp',
        'Entering',
        'Visiting',
        'Entering',
        'ClearingLog',
        'TearingDown',
        'Ended',
      ])
      expect(t.commands).to.deep.equal([
        ['EmitRunStarted', 'Listen', 'SetUp'],
        ['ArmTimeout', 'Enter', 'AppendEntry'],
        ['StartVisit'],
        ['StopVisit', 'Enter', 'AppendEntry'],
        ['Unlisten', 'DisarmTimeout', 'ClearLog'],
        ['TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('a router (no entry row) is visited at once even when a store records the run', () => {
      const t = drive(setupOf({ checkpointed: true, writesEntry: (s) => s !== 'A' }), [START])
      expect(t.commands).to.deep.equal([['EmitRunStarted', 'Enter', 'StartVisit']])
    })

    it('fails on a failed visit and keeps the log (nothing to undo)', () => {
      const t = drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, visitFailed(), TORN_DOWN])
      expect(t.commands.slice(3)).to.deep.equal([
        ['StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error: boom })
      expect(t.machine.current).to.equal('A')
    })

    it('fails when the entry row cannot be written', () => {
      const error = taskExecutionError('disk full')
      const t = drive(setupOf({ checkpointed: true }), [START, { _tag: 'EntryFailed', error }])
      expect(t.commands[1]).to.deep.equal(['EmitTerminal', 'End'])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error })
    })

    it('fails when a state goes to an unregistered state, after entering it', () => {
      const t = drive(setupOf(), [START, settled('Ghost')])
      expect(t.commands[1]).to.deep.equal(['StopVisit', 'Enter', 'EmitTerminal', 'End'])
      expect(outcomeOf(t.machine)).to.deep.equal({
        _tag: 'Failed',
        error: workflowError('No task registered for state: "Ghost"', 'Ghost'),
      })
      expect(t.machine.current).to.equal('Ghost')
    })

    it('refuses an initial state that is neither registered nor an exit, before RunStarted', () => {
      const t = drive(full(), [begin('Ghost')])
      expect(t.commands).to.deep.equal([['EmitTerminal', 'End']])
      expect(outcomeOf(t.machine)).to.deep.equal({
        _tag: 'Failed',
        error: configurationError('Initial state "Ghost" is neither registered nor an exit state'),
      })
    })

    it('refuses a run that cannot start: RunFailed with no state, nothing else', () => {
      const error = configurationError('workflowId must be a non-empty string')
      const t = drive(full(), [{ _tag: 'Refuse', error }])
      expect(t.commands).to.deep.equal([['EmitTerminal', 'End']])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error })
      expect(t.machine.current).to.equal(undefined)
    })

    it('a failed setup ends the run with its error: nothing to tear down or roll back', () => {
      const error = taskExecutionError('no db')
      const t = drive(full({ resumed: { state: 'A', undo: true, rollback: undefined } }), [
        START,
        { _tag: 'SetUpFailed', error },
      ])
      expect(t.commands[1]).to.deep.equal(['Unlisten', 'EmitTerminal', 'End'])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error })
    })

    it('a failed teardown breaks the stream', () => {
      const t = drive(setupOf({ manageResources: true }), [
        START,
        SET_UP_DONE,
        settled('Done'),
        { _tag: 'TeardownFailed', error: 'x' },
      ])
      expect(t.commands[3]).to.deep.equal(['Fail'])
      expect(t.machine).to.include({ _tag: 'Broken', error: 'x' })
    })

    it('a fault before the outcome fails the run; one in its ending (even building the terminal event) breaks it', () => {
      const before = drive(setupOf(), [START, { _tag: 'Threw', error: new Error('clock') }])
      expect(before.commands[1]).to.deep.equal(['StopVisit', 'EmitTerminal', 'End'])
      expect(outcomeOf(before.machine)).to.deep.include({ _tag: 'Failed' })
      const ending = drive(setupOf({ checkpointed: true, writesEntry: () => false }), [
        START,
        settled('Done'),
        { _tag: 'Threw', error: 'store' },
      ])
      expect(ending.phases).to.deep.equal(['Visiting', 'ClearingLog', 'Broken'])
      const terminal = drive(setupOf(), [START, settled('Done'), { _tag: 'Threw', error: 'now' }])
      expect(terminal.phases).to.deep.equal(['Visiting', 'Ended', 'Broken'])
      expect(terminal.commands[2]).to.deep.equal(['Fail'])
    })

    it('ignores what a phase does not expect (late visit results, a second Start, results after the end)', () => {
      const t = drive(setupOf(), [START, START, ENTRY_WRITTEN, LOG_CLEARED, TORN_DOWN, SET_UP_DONE])
      expect(t.commands.slice(1)).to.deep.equal([[], [], [], [], []])
      expect(t.phases.every((p) => p === 'Visiting')).to.equal(true)
      const ended = drive(setupOf(), [START, settled('Done'), settled('A'), visitFailed(), cancel, UNSUBSCRIBE])
      expect(ended.commands.slice(2)).to.deep.equal([[], [], [], []])
      expect(ended.machine._tag).to.equal('Ended')
    })
  })

  describe('the output at the exit (issue 12)', () => {
    const produces = (over: Partial<RunSetup<S>> = {}): RunSetup<S> => setupOf({ produces: true, ...over })
    const outputFailed: RunInput<S> = { _tag: 'OutputFailed', error: boom }

    it('reaching an exit produces the output before the run completes', () => {
      const t = drive(produces(), [START, settled('Done'), OUTPUT_PRODUCED])
      expect(t.commands).to.deep.equal([
        ['EmitRunStarted', 'Enter', 'StartVisit'],
        ['StopVisit', 'Enter', 'ProduceOutput'],
        ['EmitTerminal', 'End'],
      ])
      expect(t.phases[1]).to.equal('Producing')
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('with everything on: after the exit row, before the log is cleared and resources are torn down', () => {
      const t = drive(full({ produces: true }), [
        START,
        SET_UP_DONE,
        ENTRY_WRITTEN,
        settled('Done'),
        ENTRY_WRITTEN,
        OUTPUT_PRODUCED,
        LOG_CLEARED,
        TORN_DOWN,
      ])
      expect(t.commands.slice(3)).to.deep.equal([
        ['StopVisit', 'Enter', 'AppendEntry'],
        ['ProduceOutput'],
        ['Unlisten', 'DisarmTimeout', 'ClearLog'],
        ['TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('a run started at an exit produces the output too', () => {
      const t = drive(produces(), [begin('Done'), OUTPUT_PRODUCED])
      expect(t.commands).to.deep.equal([
        ['EmitRunStarted', 'Enter', 'ProduceOutput'],
        ['EmitTerminal', 'End'],
      ])
    })

    it('a failed output fails the run at the exit and keeps the log (nothing to undo)', () => {
      const t = drive(full({ produces: true }), [
        START,
        SET_UP_DONE,
        ENTRY_WRITTEN,
        settled('Done'),
        ENTRY_WRITTEN,
        outputFailed,
        TORN_DOWN,
      ])
      expect(t.commands.slice(5)).to.deep.equal([
        ['Unlisten', 'DisarmTimeout', 'TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error: boom })
      expect(t.machine.current).to.equal('Done')
    })

    it('a failed output rolls a saga stack back, recorded at the exit', () => {
      const t = drive(produces(), [START, RECORDED, settled('Done'), outputFailed])
      expect(t.commands[3]).to.deep.equal(['RollBack'])
      expect(reachedRollback(t)).to.deep.include({ at: 'Done', marker: true })
    })

    it('without an output declaration an exit completes at once; output inputs are ignored elsewhere', () => {
      const t = drive(setupOf(), [START, OUTPUT_PRODUCED, outputFailed, settled('Done'), OUTPUT_PRODUCED])
      expect(t.commands.slice(1)).to.deep.equal([[], [], ['StopVisit', 'Enter', 'EmitTerminal', 'End'], []])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('an output that lands after a cancellation changes nothing', () => {
      const t = drive(produces({ listens: true }), [START, settled('Done'), cancel, OUTPUT_PRODUCED])
      expect(t.commands.slice(2)).to.deep.equal([['Abort', 'Unlisten', 'EmitTerminal', 'End'], []])
      expect(outcomeOf(t.machine)._tag).to.equal('Cancelled')
    })
  })

  describe('interruptions in every phase', () => {
    /** How to reach each phase, from a run with a signal, a total timeout, resources and a store. */
    const reach: Record<RunPhase, () => Trace> = {
      Created: () => drive(full(), []),
      SettingUp: () => drive(full(), [START]),
      Entering: () => drive(full(), [START, SET_UP_DONE]),
      Visiting: () => drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN]),
      Finishing: () => drive(full({ finishesVisit: (s) => s === 'A' }), [START, SET_UP_DONE, ENTRY_WRITTEN, cancel]),
      Producing: () =>
        drive(full({ produces: true }), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('Done'), ENTRY_WRITTEN]),
      RollingBack: () => drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, RECORDED, visitFailed()]),
      ClearingLog: () => drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('Done'), ENTRY_WRITTEN]),
      TearingDown: () =>
        drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('Done'), ENTRY_WRITTEN, LOG_CLEARED]),
      Ended: () =>
        drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('Done'), ENTRY_WRITTEN, LOG_CLEARED, TORN_DOWN]),
      Abandoned: () => drive(full(), [START, SET_UP_DONE, ABANDON]),
      Broken: () =>
        drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('Done'), ENTRY_WRITTEN, { _tag: 'Threw', error: 1 }]),
    }

    it('reaches every phase', () => {
      for (const [phase, go] of Object.entries(reach)) expect(go().machine._tag).to.equal(phase)
    })

    /** [phase after, commands] for cancellation / the total timeout, per phase. */
    const interrupted: Record<RunPhase, readonly [RunPhase, ReadonlyArray<RunCommand>]> = {
      // held until the run proper begins (see the next test)
      Created: ['Created', []],
      SettingUp: ['SettingUp', []],
      // decisive while a state runs: abort, release, keep the log (nothing to undo), tear down
      Entering: ['TearingDown', ['Abort', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      Visiting: ['TearingDown', ['Abort', 'StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      // a visit that finishes first is already waited on: the first interruption wins
      Finishing: ['Finishing', []],
      // the output is being produced at the exit: as decisive as a state
      Producing: ['TearingDown', ['Abort', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      // the outcome is decided: nothing changes
      RollingBack: ['RollingBack', []],
      ClearingLog: ['ClearingLog', []],
      TearingDown: ['TearingDown', []],
      Ended: ['Ended', []],
      Abandoned: ['Abandoned', []],
      Broken: ['Broken', []],
    }

    // the subscriber leaving (issue 13) is a cancellation: the same in every phase, with its own error
    const unsubscribed = { _tag: 'Cancel', error: UNSUBSCRIBED } as const
    for (const [name, input, tag] of [
      ['cancellation', cancel, 'Cancelled'],
      ['the total timeout', timeOut, 'TimedOut'],
      ['unsubscription', UNSUBSCRIBE, 'Cancelled'],
    ] as const)
      for (const [phase, [after, commands]] of Object.entries(interrupted))
        it(`${name} in ${phase}`, () => {
          const before = reach[phase as RunPhase]().machine
          const [next, out] = step(before, input)
          expect(next._tag).to.equal(after)
          expect(out).to.deep.equal(commands)
          const failure = { _tag: tag, error: 'error' in input ? input.error : UNSUBSCRIBED }
          if (before._tag === 'Entering' || before._tag === 'Visiting')
            expect(next).to.deep.include({ outcome: failure, current: 'A' })
          else if (before._tag === 'Producing') expect(next).to.deep.include({ outcome: failure, current: 'Done' })
          else if (before._tag === 'Created' || before._tag === 'SettingUp')
            expect(next).to.deep.equal({ ...before, pending: failure })
          else expect(next).to.equal(before)
        })

    it('an interruption held during setup wins once the setup lands (and a failed setup too)', () => {
      const t = drive(full(), [START, cancel, timeOut, SET_UP_DONE, TORN_DOWN])
      expect(t.commands.slice(1)).to.deep.equal([[], [], ['Abort', 'Unlisten', 'TearDown'], ['EmitTerminal', 'End']])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Cancelled', error: cancelledError() })
      expect(t.machine.current).to.equal(undefined)
      const failed = drive(full(), [START, timeOut, { _tag: 'SetUpFailed', error: boom }])
      expect(failed.commands[2]).to.deep.equal(['Unlisten', 'EmitTerminal', 'End'])
      expect(outcomeOf(failed.machine)._tag).to.equal('TimedOut')
    })

    it('a signal aborted before the start: RunStarted, then Cancelled with no state entered', () => {
      const t = drive(setupOf({ listens: true }), [cancel, START])
      expect(t.commands).to.deep.equal([[], ['EmitRunStarted', 'Listen', 'Abort', 'Unlisten', 'EmitTerminal', 'End']])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Cancelled', error: cancelledError() })
      expect(t.machine.transitions).to.equal(0)
    })

    it('the first interruption wins', () => {
      const t = drive(setupOf({ listens: true, timed: true }), [START, timeOut, cancel])
      expect(outcomeOf(t.machine)._tag).to.equal('TimedOut')
      expect(t.commands[2]).to.deep.equal([])
    })

    it('an unsubscription is the cancellation it stands for: the same commands, RunCancelled with its error', () => {
      const left = drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, UNSUBSCRIBE, TORN_DOWN])
      const cancelled = drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, unsubscribed, TORN_DOWN])
      expect(left.commands).to.deep.equal(cancelled.commands)
      expect(outcomeOf(left.machine)).to.deep.equal({ _tag: 'Cancelled', error: UNSUBSCRIBED })
      expect(UNSUBSCRIBED).to.deep.equal(cancelledError('run unsubscribed (the subscriber left)'))
      // with a saga step on the stack it rolls back, as a cancellation does
      const saga = drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, RECORDED, UNSUBSCRIBE])
      expect(saga.machine._tag).to.equal('RollingBack')
      expect(saga.commands.at(-1)).to.deep.equal(['Abort', 'StopVisit', 'Unlisten', 'DisarmTimeout', 'RollBack'])
      // held during setup, like any interruption, and it wins once the setup lands
      const early = drive(full(), [START, UNSUBSCRIBE, SET_UP_DONE, TORN_DOWN])
      expect(outcomeOf(early.machine)).to.deep.equal({ _tag: 'Cancelled', error: UNSUBSCRIBED })
    })

    /** [phase after, commands] for a hand-over (`Abandon`: parked, lease lost, runtime stopping), per phase. */
    const handedOver: Record<RunPhase, readonly [RunPhase, ReadonlyArray<RunCommand>]> = {
      Created: ['Abandoned', []],
      // the setup in flight is torn down once it lands (next test)
      SettingUp: ['Abandoned', ['Abort', 'Unlisten']],
      Entering: ['Abandoned', ['Abort', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      Visiting: ['Abandoned', ['Abort', 'StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      // the visit that was let finish is released: the subscriber is gone
      Finishing: ['Abandoned', ['Abort', 'StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      Producing: ['Abandoned', ['Abort', 'Unlisten', 'DisarmTimeout', 'TearDown']],
      RollingBack: ['Abandoned', ['Abort', 'StopRollback', 'TearDown']],
      ClearingLog: ['Abandoned', ['Abort', 'TearDown']],
      // the teardown in flight finishes on its own
      TearingDown: ['Abandoned', ['Abort']],
      Ended: ['Ended', []],
      Abandoned: ['Abandoned', []],
      Broken: ['Broken', []],
    }
    for (const [phase, [after, commands]] of Object.entries(handedOver))
      it(`hand-over in ${phase}`, () => {
        const [next, out] = step(reach[phase as RunPhase]().machine, ABANDON)
        expect(next._tag).to.equal(after)
        expect(out).to.deep.equal(commands)
        // nothing is emitted after the run was handed over, whatever arrives
        for (const late of [settled('Done'), visitFailed(), TORN_DOWN, LOG_CLEARED, rolledBack(), cancel, UNSUBSCRIBE])
          expect(step(next, late)[1]).to.deep.equal([])
      })

    describe('a visit that finishes first (a saga step, issue 14)', () => {
      const saga = (over: Partial<RunSetup<S>> = {}): RunSetup<S> => full({ finishesVisit: (s) => s === 'A', ...over })
      const visiting = [START, SET_UP_DONE, ENTRY_WRITTEN] as const

      for (const [name, input, tag] of [
        ['cancellation', cancel, 'Cancelled'],
        ['the total timeout', timeOut, 'TimedOut'],
      ] as const) {
        it(`${name}: the run's signal aborts, the visit goes on; once it finished and was recorded, it is rolled back`, () => {
          const t = drive(saga(), [...visiting, input, RECORDED, settled('B'), rolledBack(), LOG_CLEARED, TORN_DOWN])
          expect(t.phases.slice(3)).to.deep.equal([
            'Finishing',
            'Finishing',
            'RollingBack',
            'ClearingLog',
            'TearingDown',
            'Ended',
          ])
          expect(t.commands.slice(3)).to.deep.equal([
            // no StopVisit: the step in flight goes on
            ['Abort'],
            [],
            ['StopVisit', 'Unlisten', 'DisarmTimeout', 'RollBack'],
            ['ClearLog'],
            ['TearDown'],
            ['EmitTerminal', 'End'],
          ])
          expect(t.machines[3]).to.deep.include({ pending: { _tag: tag, error: input.error }, current: 'A' })
          expect(reachedRollback(t)).to.deep.include({
            at: 'A',
            marker: true,
            failure: { _tag: tag, error: input.error },
          })
          expect(outcomeOf(t.machine)).to.deep.equal({ _tag: tag, error: input.error })
          // the state it finished on is not entered
          expect(t.machine.current).to.equal('A')
        })
      }

      it('a step that fails after the signal ends the run with the interruption, and rolls back what was there', () => {
        const t = drive(saga(), [START, SET_UP_DONE, ENTRY_WRITTEN, RECORDED, cancel, visitFailed()])
        expect(t.commands[5]).to.deep.equal(['StopVisit', 'Unlisten', 'DisarmTimeout', 'RollBack'])
        expect(reachedRollback(t)).to.deep.include({ failure: { _tag: 'Cancelled', error: cancelledError() } })
        const none = drive(saga(), [...visiting, cancel, visitFailed(), TORN_DOWN])
        expect(none.commands[4]).to.deep.equal(['StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown'])
        expect(outcomeOf(none.machine)).to.deep.equal({ _tag: 'Cancelled', error: cancelledError() })
      })

      it('its abort reason is the interruption it waits on; a fault concludes it as a failure', () => {
        const [finishing] = step(drive(saga(), [...visiting]).machine, timeOut)
        expect(abortReason(finishing)).to.deep.equal(timeOut.error)
        const [faulted, out] = step(finishing, { _tag: 'Threw', error: new Error('x') })
        expect(out).to.deep.equal(['StopVisit', 'Unlisten', 'DisarmTimeout', 'TearDown'])
        expect(faulted._tag).to.equal('TearingDown')
      })

      it('other states, and a setup that says nothing, conclude at once', () => {
        const other = drive(saga(), [START, SET_UP_DONE, ENTRY_WRITTEN, settled('B'), ENTRY_WRITTEN, cancel])
        expect(other.phases[5]).to.equal('TearingDown')
        const silent = drive(full(), [...visiting, cancel])
        expect(silent.phases[3]).to.equal('TearingDown')
      })

      it('a snapshot shows the run running while it finishes', () => {
        expect(runStatus(drive(saga(), [...visiting, cancel]).machine)).to.equal('running')
      })
    })

    it('a setup that lands after the run was handed over is torn down; a failed one is not', () => {
      const t = drive(full(), [START, ABANDON, SET_UP_DONE, SET_UP_DONE])
      expect(t.commands.slice(2)).to.deep.equal([['TearDown'], []])
      const failed = drive(full(), [START, ABANDON, { _tag: 'SetUpFailed', error: boom }, SET_UP_DONE])
      expect(failed.commands.slice(2)).to.deep.equal([[], []])
    })
  })

  describe('rollback', () => {
    it('from Visiting: the marker and the drain, a clean rollback clears the log, then teardown', () => {
      const t = drive(full(), [
        START,
        SET_UP_DONE,
        ENTRY_WRITTEN,
        RECORDED,
        settled('B'),
        ENTRY_WRITTEN,
        visitFailed(),
        rolledBack(),
        LOG_CLEARED,
        TORN_DOWN,
      ])
      expect(t.commands.slice(6)).to.deep.equal([
        ['StopVisit', 'Unlisten', 'DisarmTimeout', 'RollBack'],
        ['ClearLog'],
        ['TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(t.phases[6]).to.equal('RollingBack')
      expect(reachedRollback(t)).to.deep.include({ at: 'B', marker: true, teardown: true })
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error: boom })
    })

    it('a dirty rollback keeps the log and ends with CompensationFailed', () => {
      const undo = timeoutError(50)
      const t = drive(setupOf({ checkpointed: true, writesEntry: () => false }), [
        START,
        RECORDED,
        visitFailed(),
        rolledBack(undo),
      ])
      expect(t.commands[3]).to.deep.equal(['EmitTerminal', 'End'])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Failed', error: compensationFailedError([boom, undo]) })
    })

    it('without a store, a clean rollback has no log to clear', () => {
      const t = drive(setupOf(), [START, RECORDED, visitFailed(), rolledBack()])
      expect(t.commands.slice(2)).to.deep.equal([
        ['StopVisit', 'RollBack'],
        ['EmitTerminal', 'End'],
      ])
    })

    it('from Entering (the next entry row fails), from cancellation and from the total timeout', () => {
      const entry = drive(full(), [
        START,
        SET_UP_DONE,
        ENTRY_WRITTEN,
        RECORDED,
        settled('B'),
        { _tag: 'EntryFailed', error: boom },
      ])
      expect(entry.commands[5]).to.deep.equal(['Unlisten', 'DisarmTimeout', 'RollBack'])
      expect(reachedRollback(entry)).to.deep.include({ at: 'B', failure: { _tag: 'Failed', error: boom } })
      for (const input of [cancel, timeOut]) {
        const t = drive(full(), [START, SET_UP_DONE, ENTRY_WRITTEN, RECORDED, input])
        expect(t.commands[4]).to.deep.equal(['Abort', 'StopVisit', 'Unlisten', 'DisarmTimeout', 'RollBack'])
        expect(t.machine).to.deep.include({ _tag: 'RollingBack', at: 'A', marker: true })
      }
    })

    it('from SettingUp: a resumed stack rolls back once the setup lands, recorded at the resume state', () => {
      const resumed = { state: 'B' as const, undo: true, rollback: undefined }
      const t = drive(full({ resumed }), [begin('B'), cancel, SET_UP_DONE])
      expect(t.commands[2]).to.deep.equal(['Abort', 'Unlisten', 'RollBack'])
      expect(t.machine).to.deep.include({ _tag: 'RollingBack', at: 'B', current: undefined, teardown: true })
      // a failed setup does not roll back
      const failed = drive(full({ resumed }), [begin('B'), { _tag: 'SetUpFailed', error: boom }])
      expect(failed.machine._tag).to.equal('Ended')
    })

    it('a completed run does not roll back, whatever its stack', () => {
      const t = drive(setupOf(), [START, RECORDED, settled('Done')])
      expect(outcomeOf(t.machine)._tag).to.equal('Completed')
    })

    it('a rollback that breaks errors the stream', () => {
      const t = drive(setupOf(), [START, RECORDED, visitFailed(), { _tag: 'Threw', error: 'drain' }])
      expect(t.machine._tag).to.equal('Broken')
      expect(t.commands[3]).to.deep.equal(['Fail'])
    })
  })

  describe('resume', () => {
    it('into a task state: RunStarted, RunResumed, then that state runs again', () => {
      const t = drive(setupOf({ resumed: { state: 'B', undo: false, rollback: undefined } }), [begin('B')])
      expect(t.commands[0]).to.deep.equal(['EmitRunStarted', 'EmitRunResumed', 'Enter', 'StartVisit'])
      expect(t.machine).to.deep.include({ _tag: 'Visiting', current: 'B', undo: false })
    })

    it('into an exit state: completes (and clears the log)', () => {
      const t = drive(setupOf({ checkpointed: true, resumed: { state: 'Done', undo: false, rollback: undefined } }), [
        begin('Done'),
        ENTRY_WRITTEN,
        LOG_CLEARED,
      ])
      expect(t.phases).to.deep.equal(['Entering', 'ClearingLog', 'Ended'])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Completed', state: 'Done' })
    })

    it('with a stack: a failure rolls back what the log holds', () => {
      const t = drive(setupOf({ resumed: { state: 'B', undo: true, rollback: undefined } }), [
        begin('B'),
        visitFailed(),
      ])
      expect(t.machine).to.deep.include({ _tag: 'RollingBack', at: 'B', marker: true })
    })

    it('into a rollback in progress: no state runs, no new marker, the original outcome', () => {
      const original = cancelledError('workflow cancelled: shutdown')
      const resumed = { state: 'Ghost' as const, undo: true, rollback: original }
      const t = drive(full({ resumed }), [begin('Ghost'), SET_UP_DONE, rolledBack(), LOG_CLEARED, TORN_DOWN])
      expect(t.commands).to.deep.equal([
        ['EmitRunStarted', 'EmitRunResumed', 'Listen', 'SetUp'],
        ['Unlisten', 'RollBack'],
        ['ClearLog'],
        ['TearDown'],
        ['EmitTerminal', 'End'],
      ])
      expect(t.phases[1]).to.equal('RollingBack')
      expect(reachedRollback(t)).to.deep.include({ at: 'Ghost', marker: false })
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'Cancelled', error: original })
      expect(t.machine.current).to.equal('Ghost')
    })

    it('into a rollback whose stack is already drained: it still concludes the rollback', () => {
      const original = workflowTimeoutError(100, 100)
      const t = drive(setupOf({ resumed: { state: 'A', undo: false, rollback: original } }), [START, rolledBack()])
      expect(t.commands[0]).to.deep.equal(['EmitRunStarted', 'EmitRunResumed', 'RollBack'])
      expect(outcomeOf(t.machine)).to.deep.equal({ _tag: 'TimedOut', error: original })
    })

    it('resumes into every phase a run can be in when it resumes', () => {
      const resumedAt = (over: Partial<RunSetup<S>>): RunPhase =>
        drive(full(over), [begin(over.resumed?.state ?? 'A'), SET_UP_DONE]).machine._tag
      expect(resumedAt({ resumed: { state: 'A', undo: false, rollback: undefined } })).to.equal('Entering')
      expect(
        resumedAt({
          writesEntry: () => false,
          resumed: { state: 'A', undo: false, rollback: undefined },
        }),
      ).to.equal('Visiting')
      expect(
        resumedAt({
          writesEntry: () => false,
          resumed: { state: 'Done', undo: false, rollback: undefined },
        }),
      ).to.equal('ClearingLog')
      expect(resumedAt({ resumed: { state: 'A', undo: true, rollback: boom } })).to.equal('RollingBack')
    })
  })

  describe('RunState agrees with the machine', () => {
    /** The events a driver emits for these commands (what the snapshot is folded from). */
    const eventsOf = (t: Trace, setup: RunSetup<S>, inputs: ReadonlyArray<RunInput<S>>): WorkflowEvent<S>[] => {
      const events: WorkflowEvent<S>[] = []
      let m = createRun(setup)
      let at = 0
      for (const input of inputs) {
        const [next, out] = step(m, input)
        m = next
        for (const c of out) {
          at++
          if (c === 'EmitRunStarted') events.push({ _tag: 'RunStarted', workflowId: 'w', at, initial: 'A' })
          if (c === 'Enter' && m.current !== undefined)
            events.push({ _tag: 'StateEntered', workflowId: 'w', at, state: m.current, transition: m.transitions - 1 })
          if (c === 'EmitTerminal' && m._tag === 'Ended')
            events.push(terminalEvent(m.outcome, 'w', at, m.current, m.transitions))
        }
      }
      expect(m).to.deep.equal(t.machine)
      return events
    }

    const paths: ReadonlyArray<readonly [string, RunSetup<S>, ReadonlyArray<RunInput<S>>]> = [
      ['completed', setupOf(), [START, settled('Done')]],
      ['failed', setupOf(), [START, visitFailed()]],
      ['cancelled', setupOf({ listens: true }), [START, cancel]],
      ['timed out', setupOf({ timed: true }), [START, timeOut]],
      ['refused', setupOf(), [{ _tag: 'Refuse', error: configurationError('no') }]],
      ['rolled back', setupOf(), [START, RECORDED, visitFailed(), rolledBack(timeoutError(5))]],
      ['running', setupOf(), [START, settled('B')]],
      ['pending', setupOf(), []],
    ]
    it('the statuses a snapshot ends in are exactly the machine terminal statuses', () => {
      type Ended = Exclude<RunStatus, 'pending' | 'running'>
      const agree: [TerminalStatus] extends [Ended] ? ([Ended] extends [TerminalStatus] ? true : false) : false = true
      expect(agree).to.equal(true)
    })

    for (const [name, setup, inputs] of paths)
      it(`${name}: the snapshot's status is the machine's`, () => {
        const t = drive(setup, inputs)
        const snapshot = eventsOf(t, setup, inputs).reduce<RunState<S>>(reduceRunState, initialRunState<S>('w'))
        expect(snapshot.status).to.equal(runStatus(t.machine))
        if (t.machine._tag === 'Ended') {
          const outcome = t.machine.outcome
          expect(snapshot.lastError).to.deep.equal(outcome._tag === 'Completed' ? undefined : outcome.error)
          expect(snapshot.current).to.equal(t.machine.current)
        }
      })
  })
})

/** The machine right after the `RollBack` command was issued. */
const reachedRollback = (t: Trace): RunMachine<S> | undefined => {
  const i = t.commands.findIndex((c) => c.includes('RollBack'))
  return i < 0 ? undefined : t.machines[i]
}

describe('advanced (the driver fast path)', () => {
  it('is the VisitSettled step whose one command is Advance, and undefined for every other step', () => {
    const cases: ReadonlyArray<readonly [string, RunSetup<S>, ReadonlyArray<RunInput<S>>, S]> = [
      ['a task after a task', setupOf(), [START], 'B'],
      ['an exit', setupOf(), [START], 'Done'],
      ['an unknown state', setupOf(), [START], 'Ghost'],
      ['a task whose entry writes a row', full(), [START, SET_UP_DONE, ENTRY_WRITTEN], 'B'],
      ['a run that is not visiting', setupOf(), [], 'B'],
      ['a cancelled run', setupOf(), [START, cancel], 'B'],
    ]
    for (const [name, setup, before, next] of cases) {
      const at = drive(setup, before).machine
      const [viaStep, commands] = step(at, settled(next))
      const fast = advanced(at, next)
      // the driver's in-place form: the same machine, written into a copy the test owns
      const owned = { ...at }
      const inPlace = advanceOwned(owned, next)
      if (commands.length === 1 && commands[0] === 'Advance') {
        expect(fast, name).to.deep.equal(viaStep)
        expect(inPlace, name).to.equal(true)
        expect(owned, name).to.deep.equal(viaStep)
      } else {
        expect(fast, name).to.equal(undefined)
        expect(inPlace, name).to.equal(false)
        expect(owned, name).to.deep.equal(at)
      }
    }
    // the first case is the one that takes the fast path
    const first = advanced(drive(setupOf(), [START]).machine, 'B')
    expect(first).to.include({ _tag: 'Visiting', current: 'B', transitions: 2 })
  })
})
