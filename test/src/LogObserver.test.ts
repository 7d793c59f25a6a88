import { Console } from 'node:console'
import { PassThrough } from 'node:stream'

import { expect } from 'chai'
import { Subject } from 'rxjs'

import { workflow } from '../../roots/Workflow.js'
import { batch } from '../../src/Batch.js'
import { CanoFailure, nonRetryable } from '../../src/CanoError.js'
import { JoinStrategy } from '../../src/JoinStrategy.js'
import { type LogFields, logObserver, type LogSink } from '../../src/LogObserver.js'
import { RetryMode } from '../../src/RetryMode.js'
import { Branch, split } from '../../src/Split.js'
import { task } from '../../src/StateHandler.js'

/** A logger that records each call as `[level, fields without at, message]`. */
const recordingLogger = (withDebug = true) => {
  const lines: Array<[string, Record<string, unknown>, string]> = []
  const at = (level: string) => (fields: LogFields, message: string) => {
    const { at: _at, ...rest } = fields
    lines.push([level, rest, message])
  }
  const sink: LogSink = withDebug
    ? { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
    : { info: at('info'), warn: at('warn'), error: at('error') }
  return { sink, lines }
}

describe('logObserver', () => {
  it('logs an ObserverFailed of another observer at warn; cuts error messages and bounds outputs', async () => {
    const { sink, lines } = recordingLogger()
    const huge = 'm'.repeat(100_000)
    const flow = workflow<'Work' | 'Fail' | 'Done'>()({
      exits: ['Done'],
      states: {
        Work: task(() => 'Fail' as const, { to: ['Fail'] }),
        Fail: task((): Promise<'Done'> => Promise.reject(nonRetryable(new Error(huge))), { to: ['Done'] }),
      },
    })
    const broken = {
      onStateEnter: (state: string) => {
        if (state === 'Work') throw new Error('dashboard unreachable')
      },
    }
    await flow
      .orchestrate('Work', { workflowId: 'obs-1', observers: [broken, logObserver(sink)] })
      .catch(() => undefined)
    const failed = lines.find(([, fields]) => fields['event'] === 'ObserverFailed')
    expect(failed?.[0]).to.equal('warn')
    expect(failed?.[1]).to.deep.include({ observer: 0, workflowId: 'obs-1' })
    expect((failed?.[1]['error'] as { message: string }).message).to.contain('dashboard unreachable')
    const taskFailed = lines.find(([, fields]) => fields['event'] === 'TaskFailed')
    const message = (taskFailed?.[1]['error'] as { message: string }).message
    expect(message.length).to.be.at.most(4096 + 30)
    expect(message).to.match(/… \(\d+ characters\)$/)
  })

  it('checks its arguments: a Configuration CanoFailure naming what is wrong', () => {
    const sink: LogSink = { info: () => undefined, warn: () => undefined, error: () => undefined }
    const cases: ReadonlyArray<readonly [unknown, unknown, RegExp]> = [
      [null, undefined, /^logObserver: logger must be a logger \(pino, console, or a LogSink\), got null/],
      [{}, undefined, /^logObserver: logger must have info\(fields, message\)/],
      [{ info: () => undefined, warn: () => undefined }, undefined, /^logObserver: logger must have error/],
      [{ ...sink, debug: 1 }, undefined, /^logObserver: logger\.debug must be a function when present/],
      [
        { ...sink, isLevelEnabled: 'yes' },
        undefined,
        /^logObserver: logger\.isLevelEnabled must be a function when present, got "yes"/,
      ],
      [sink, null, /^logObserver: options must be an object, got null/],
      [sink, { traceOf: 5 }, /^logObserver: traceOf must be a function, got 5/],
      [sink, { levels: 'loud' }, /^logObserver: levels must be an object/],
      [
        sink,
        { levels: { RunStarted: 'loud' } },
        /^logObserver: levels\.RunStarted must be one of debug, info, warn, error, off, got "loud"/,
      ],
      [sink, { levels: { Nope: 'info' } }, /^logObserver: levels: no event is called "Nope"/],
      [sink, { levels: { toString: 'info' } }, /^logObserver: levels: no event is called "toString"/],
    ]
    for (const [logger, options, message] of cases) {
      let thrown: unknown
      try {
        logObserver(logger as LogSink, options as undefined)
      } catch (e: unknown) {
        thrown = e
      }
      expect(thrown, String(message)).to.be.instanceOf(CanoFailure)
      expect((thrown as CanoFailure).error._tag).to.equal('Configuration')
      expect((thrown as CanoFailure).error.message).to.match(message)
    }
    expect(() => logObserver(console, { levels: { RunAbandoned: 'off' } })).to.not.throw()
  })

  it('writes a RunAbandoned line with its at, like every other line', () => {
    const lines: LogFields[] = []
    const sink: LogSink = { info: (f) => void lines.push(f), warn: () => undefined, error: () => undefined }
    const before = Date.now()
    logObserver(sink).onAbandon?.('left-1')
    expect(lines).to.have.length(1)
    expect(lines[0]).to.include({ event: 'RunAbandoned', workflowId: 'left-1' })
    expect(lines[0]?.['at']).to.be.a('number').within(before, Date.now())
  })

  it('writes one structured line per event, at cano’s levels, with the run id', async () => {
    const { sink, lines } = recordingLogger()
    let calls = 0
    const flow = workflow<'Fetch' | 'Done'>()({
      exits: ['Done'],
      states: {
        Fetch: task(
          () => {
            if (++calls < 2) throw new Error('503')
            return 'Done' as const
          },
          { retry: RetryMode.fixed(1, 1) },
        ),
      },
      observers: [logObserver(sink)],
    })
    await flow.orchestrate('Fetch', { workflowId: 'log-1' })
    expect(lines).to.deep.equal([
      ['info', { event: 'RunStarted', workflowId: 'log-1', initial: 'Fetch' }, 'run started'],
      [
        'debug',
        { event: 'StateEntered', workflowId: 'log-1', state: 'Fetch', transition: 0 },
        'workflow entered state',
      ],
      ['debug', { event: 'TaskStarted', workflowId: 'log-1', state: 'Fetch', taskId: 'Fetch' }, 'task started'],
      [
        'warn',
        {
          event: 'AttemptFailed',
          workflowId: 'log-1',
          state: 'Fetch',
          taskId: 'Fetch',
          attempt: 1,
          error: { tag: 'TaskExecution', message: '503' },
        },
        'task attempt failed',
      ],
      [
        'warn',
        { event: 'RetryScheduled', workflowId: 'log-1', state: 'Fetch', taskId: 'Fetch', attempt: 1, delayMs: 1 },
        'task retry',
      ],
      [
        'info',
        { event: 'TaskSucceeded', workflowId: 'log-1', state: 'Fetch', taskId: 'Fetch', attempts: 2, next: 'Done' },
        'task succeeded',
      ],
      ['debug', { event: 'StateEntered', workflowId: 'log-1', state: 'Done', transition: 1 }, 'workflow entered state'],
      ['info', { event: 'RunCompleted', workflowId: 'log-1', state: 'Done', transitions: 2 }, 'run completed'],
    ])
  })

  it('adds the trace ids traceOf gives, takes levels over the defaults, drops debug without a debug method', async () => {
    const { sink, lines } = recordingLogger(false)
    let release: (n: number) => void = () => undefined
    const later = new Promise<number>((resolve) => (release = resolve))
    const flow = workflow<'FanOut' | 'Done'>()({
      exits: ['Done'],
      states: {
        // branch 1 fails at once, branch 0 answers once that is settled: the any-join waits for it
        FanOut: split(
          [() => later, Branch.of(() => Promise.reject(new Error('branch down')), { retry: RetryMode.none() })],
          {
            strategy: JoinStrategy.any(),
            join: 'Done',
          },
        ),
      },
      observers: [
        { onEvent: (e) => (e._tag === 'SplitBranchSettled' && e.index === 1 ? release(1) : undefined) },
        logObserver(sink, {
          levels: { SplitBranchSettled: 'info', RunStarted: 'off' },
          traceOf: (id) => (id === 'log-2' ? { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) } : undefined),
        }),
      ],
    })
    await flow.orchestrate('FanOut', { workflowId: 'log-2' })
    const ids = { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) }
    expect(lines.map(([level, f]) => [level, f['event']])).to.deep.equal([
      ['warn', 'AttemptFailed'],
      ['info', 'SplitBranchSettled'],
      ['info', 'SplitBranchSettled'],
      ['info', 'TaskSucceeded'],
      ['info', 'RunCompleted'],
    ])
    expect(lines.every(([, f]) => f['trace_id'] === ids.trace_id && f['span_id'] === ids.span_id)).to.equal(true)
    const settled = lines.filter(([, f]) => f['event'] === 'SplitBranchSettled').map(([, f]) => f)
    expect(settled).to.deep.equal([
      {
        event: 'SplitBranchSettled',
        workflowId: 'log-2',
        state: 'FanOut',
        taskId: 'FanOut[1]',
        index: 1,
        outcome: 'Failed',
        error: { tag: 'TaskExecution', message: 'branch down' },
        ...ids,
      },
      {
        event: 'SplitBranchSettled',
        workflowId: 'log-2',
        state: 'FanOut',
        taskId: 'FanOut[0]',
        index: 0,
        outcome: 'Succeeded',
        ...ids,
      },
    ])
  })

  it('writes one terminal line for a run whose subscriber left (a cancellation), and no abandon line', () => {
    const { sink, lines } = recordingLogger()
    const flow = workflow<'Wait' | 'Done'>()({
      exits: ['Done'],
      states: { Wait: task(() => new Subject<'Done'>()) },
      observers: [logObserver(sink, { levels: { StateEntered: 'off', TaskStarted: 'off', RunStarted: 'off' } })],
    })
    flow.run$('Wait', { workflowId: 'log-3' }).subscribe().unsubscribe()
    expect(lines.map(([level, fields]) => [level, fields['event']])).to.deep.equal([['warn', 'RunCancelled']])
  })

  it('builds no line for a level the logger says it drops (pino’s isLevelEnabled)', () => {
    const written: Array<[string, LogFields]> = []
    const asked: string[] = []
    const sink: LogSink = {
      debug: (f) => void written.push(['debug', f]),
      info: (f) => void written.push(['info', f]),
      warn: (f) => void written.push(['warn', f]),
      error: (f) => void written.push(['error', f]),
      isLevelEnabled: (level) => {
        asked.push(level)
        return level !== 'debug'
      },
    }
    // a Progress payload whose serialisation would be seen: a toJSON that counts its calls
    let serialised = 0
    const data = { toJSON: () => ((serialised += 1), { n: 1 }) }
    const observer = logObserver(sink)
    observer.onEvent?.({ _tag: 'Progress', workflowId: 'lvl-1', at: 0, state: 'S', taskId: 'S', data })
    expect(written).to.deep.equal([])
    expect(serialised, 'the debug line was not built').to.equal(0)
    observer.onEvent?.({ _tag: 'RunStarted', workflowId: 'lvl-1', at: 1, initial: 'S' })
    expect(written.map(([level, f]) => [level, f.event])).to.deep.equal([['info', 'RunStarted']])
    expect(asked).to.deep.equal(['debug', 'info'])
    logObserver(sink, { levels: { Progress: 'warn' } }).onEvent?.({
      _tag: 'Progress',
      workflowId: 'lvl-1',
      at: 2,
      state: 'S',
      taskId: 'S',
      data,
    })
    expect(serialised).to.equal(1)
    expect(written.at(-1)?.[1]['data']).to.equal(data)
  })

  it('passes Progress data and stepped cursors through a never-throwing projection: small JSON as is, else a bounded string', async () => {
    const { sink, lines } = recordingLogger()
    const small = { done: 3, total: 10 }
    const cyclic: { name: string; self?: unknown } = { name: 'loop' }
    cyclic.self = cyclic
    const huge = 'x'.repeat(100_000)
    const flow = workflow<'Fetch' | 'Done'>()({
      exits: ['Done'],
      states: {
        Fetch: task(({ progress }) => {
          progress(small)
          progress(cyclic)
          progress(10n)
          progress({ rows: 10n })
          progress(huge)
          return 'Done' as const
        }),
      },
      observers: [logObserver(sink, { levels: { Progress: 'info' } })],
    })
    await flow.orchestrate('Fetch', { workflowId: 'log-5' })
    const data = lines.filter(([, f]) => f['event'] === 'Progress').map(([, f]) => f['data'])
    expect(data).to.have.length(5)
    expect(data[0]).to.equal(small)
    expect(data.slice(1, 4)).to.deep.equal(['[object Object]', '10n', '[object Object]'])
    const cut = data[4] as string
    expect(cut).to.equal(`"${'x'.repeat(4095)}…`)
    expect(cut).to.have.length(4097)
    // what pino's serializer does with a line: it never throws now
    for (const [, fields] of lines) expect(() => JSON.stringify(fields)).to.not.throw()
    // a stepped state's cursor, the same way
    const observer = logObserver(sink)
    const advanced = (cursor: unknown): unknown => {
      observer.onEvent?.({
        _tag: 'CursorAdvanced',
        workflowId: 'log-5',
        at: 0,
        state: 'Scan',
        taskId: 'Scan',
        step: 1,
        cursor,
      })
      return lines.at(-1)?.[1]['cursor']
    }
    const page = { page: 2 }
    expect(advanced(page)).to.equal(page)
    expect(advanced(10n)).to.equal('10n')
    expect(advanced(cyclic)).to.equal('[object Object]')
    expect(advanced(['y'.repeat(5_000)])).to.equal(`["${'y'.repeat(4094)}…`)
  })

  it('writes a failed batch item’s error in its Progress data as { tag, message }', async () => {
    const { sink, lines } = recordingLogger()
    const flow = workflow<'Load' | 'Done'>()({
      exits: ['Done'],
      states: {
        Load: batch({
          load: () => [1, 2],
          processItem: (n: number) => {
            if (n === 2) throw new Error('bad item')
            return n
          },
          finish: () => 'Done' as const,
        }),
      },
      observers: [logObserver(sink)],
    })
    await flow.orchestrate('Load', { workflowId: 'log-6' })
    expect(lines.filter(([, f]) => f['event'] === 'Progress').map(([, f]) => f['data'])).to.deep.equal([
      { kind: 'batch', done: 1, total: 2, failed: 0, index: 0 },
      { kind: 'batch', done: 2, total: 2, failed: 1, index: 1, error: { tag: 'TaskExecution', message: 'bad item' } },
    ])
  })

  it('fits console: one line per event on its streams, errors and warnings on stderr', async () => {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let out = ''
    let err = ''
    stdout.on('data', (d: Buffer) => (out += d.toString()))
    stderr.on('data', (d: Buffer) => (err += d.toString()))
    const konsole = new Console({ stdout, stderr, colorMode: false, inspectOptions: { breakLength: Infinity } })
    const flow = workflow<'Go' | 'Done'>()({
      exits: ['Done'],
      states: {
        Go: task(
          () => {
            throw new Error('nope')
          },
          { retry: RetryMode.none() },
        ),
      },
      observers: [logObserver(konsole)],
    })
    await flow.orchestrate('Go', { workflowId: 'log-4' }).catch(() => undefined)
    await new Promise((r) => setImmediate(r))
    expect(out.trim().split('\n')).to.deep.equal([
      `{ event: 'RunStarted', workflowId: 'log-4', at: ${atOf(out, 0)}, initial: 'Go' } run started`,
      `{ event: 'StateEntered', workflowId: 'log-4', at: ${atOf(out, 1)}, state: 'Go', transition: 0 } workflow entered state`,
      `{ event: 'TaskStarted', workflowId: 'log-4', at: ${atOf(out, 2)}, state: 'Go', taskId: 'Go' } task started`,
    ])
    expect(
      err
        .trim()
        .split('\n')
        .map((l) => l.replace(/at: \d+/, 'at: T')),
    ).to.deep.equal([
      "{ event: 'AttemptFailed', workflowId: 'log-4', at: T, state: 'Go', taskId: 'Go', attempt: 1, error: { tag: 'TaskExecution', message: 'nope' } } task attempt failed",
      "{ event: 'TaskFailed', workflowId: 'log-4', at: T, state: 'Go', taskId: 'Go', error: { tag: 'TaskExecution', message: 'nope' } } task failed",
      "{ event: 'RunFailed', workflowId: 'log-4', at: T, state: 'Go', error: { tag: 'TaskExecution', message: 'nope' }, transitions: 1, attempt: 1 } run failed",
    ])
  })
})

/** The `at` printed on line `n` of `out`. */
const atOf = (out: string, n: number): string => /at: (\d+)/.exec(out.trim().split('\n')[n] ?? '')?.[1] ?? '?'
