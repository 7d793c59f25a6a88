import { expect } from 'chai'
import fc from 'fast-check'

import type { CanoError } from '../../codecs/CanoError.js'
import { configurationError, taskExecutionError, workflowError } from '../../src/CanoError.js'
import { decideJoin, joinFailure, JoinStrategy, requiredSuccesses } from '../../src/JoinStrategy.js'
import { RetryMode } from '../../src/RetryMode.js'
import { branch, split, type SplitHandler, validateSplit } from '../../src/Split.js'
import type { ResourceRecord } from '../../src/TaskContext.js'

// -------------------------------------------------------------------------------------
// the table of issue 3: every strategy x every scenario
// -------------------------------------------------------------------------------------

/** How one branch settles: at `at` ms, with a value or an error (`taskExecutionError('boom{i}')`). */
export interface BranchScript {
  readonly at: number
  readonly ok: boolean
}

/** Three branches (or none) and a join deadline of 100 ms. */
export interface Scenario {
  readonly name: string
  readonly branches: ReadonlyArray<BranchScript>
  readonly timeoutMs: number
}

/** What the split does: where it goes, when, which branches it cancels, and the error message of a failure. */
export interface JoinExpectation {
  readonly outcome: 'proceed' | 'fail'
  readonly at: number
  readonly next: 'Join' | undefined
  readonly cancelled: ReadonlyArray<number>
  readonly message: string | undefined
}

export interface JoinRow {
  readonly strategy: JoinStrategy
  readonly scenario: Scenario
  readonly expected: JoinExpectation
}

const ok = (at: number): BranchScript => ({ at, ok: true })
const err = (at: number): BranchScript => ({ at, ok: false })

export const SCENARIOS = {
  allSucceed: { name: 'all succeed', branches: [ok(10), ok(20), ok(30)], timeoutMs: 100 },
  someFail: { name: 'some fail', branches: [ok(10), err(20), ok(30)], timeoutMs: 100 },
  allFail: { name: 'all fail', branches: [err(10), err(20), err(30)], timeoutMs: 100 },
  deadlineBeforeSatisfied: {
    name: 'deadline hit before satisfied',
    branches: [ok(10), ok(200), ok(300)],
    timeoutMs: 100,
  },
  deadlineAfterSatisfied: { name: 'deadline hit after satisfied', branches: [ok(10), ok(20), ok(300)], timeoutMs: 100 },
  nothingBeforeDeadline: {
    name: 'nothing settles before the deadline',
    branches: [ok(200), ok(300), err(400)],
    timeoutMs: 100,
  },
  empty: { name: 'empty list', branches: [], timeoutMs: 100 },
} as const satisfies Record<string, Scenario>

/** The error branch `i` fails with. */
export const boom = (i: number): CanoError => taskExecutionError(`boom${i}`)

const proceed = (at: number, cancelled: ReadonlyArray<number>): JoinExpectation => ({
  outcome: 'proceed',
  at,
  next: 'Join',
  cancelled,
  message: undefined,
})
const fail = (at: number, cancelled: ReadonlyArray<number>, message: string): JoinExpectation => ({
  outcome: 'fail',
  at,
  next: undefined,
  cancelled,
  message,
})

const TIMEOUT = 'Split task timeout exceeded'
const e = (i: number): string => `task ${i}: Task execution error: boom${i}`
const notMet = (s: number, n: number, strategy: string, errors = ''): string =>
  `Join condition not met: ${s} of ${n} tasks completed successfully, strategy: ${strategy}${errors === '' ? '' : `; errors: ${errors}`}`
const partialNotMet = (s: number, min: number, errors = ''): string =>
  `Partial results condition not met: ${s} completed successfully, ${min} required${errors === '' ? '' : `; errors: ${errors}`}`

const S = SCENARIOS
const { all, any, quorum, percentage, partialResults, partialTimeout } = JoinStrategy

/** Every strategy x every scenario, each outcome written out (`at` in ms; `cancelled` by branch index). */
export const JOIN_TABLE: ReadonlyArray<JoinRow> = [
  // all: proceeds when every branch succeeded, fails at the first failure or at the deadline
  { strategy: all(), scenario: S.allSucceed, expected: proceed(30, []) },
  { strategy: all(), scenario: S.someFail, expected: fail(20, [2], notMet(1, 3, 'All', e(1))) },
  { strategy: all(), scenario: S.allFail, expected: fail(10, [1, 2], notMet(0, 3, 'All', e(0))) },
  { strategy: all(), scenario: S.deadlineBeforeSatisfied, expected: fail(100, [1, 2], TIMEOUT) },
  { strategy: all(), scenario: S.deadlineAfterSatisfied, expected: fail(100, [2], TIMEOUT) },
  { strategy: all(), scenario: S.nothingBeforeDeadline, expected: fail(100, [0, 1, 2], TIMEOUT) },
  { strategy: all(), scenario: S.empty, expected: proceed(0, []) },
  // any: proceeds at the first success, fails when every branch failed
  { strategy: any(), scenario: S.allSucceed, expected: proceed(10, [1, 2]) },
  { strategy: any(), scenario: S.someFail, expected: proceed(10, [1, 2]) },
  { strategy: any(), scenario: S.allFail, expected: fail(30, [], notMet(0, 3, 'Any', `${e(0)}; ${e(1)}; ${e(2)}`)) },
  { strategy: any(), scenario: S.deadlineBeforeSatisfied, expected: proceed(10, [1, 2]) },
  { strategy: any(), scenario: S.deadlineAfterSatisfied, expected: proceed(10, [1, 2]) },
  { strategy: any(), scenario: S.nothingBeforeDeadline, expected: fail(100, [0, 1, 2], TIMEOUT) },
  { strategy: any(), scenario: S.empty, expected: fail(0, [], notMet(0, 0, 'Any')) },
  // quorum(2): proceeds at the second success, fails once a second branch failed
  { strategy: quorum(2), scenario: S.allSucceed, expected: proceed(20, [2]) },
  { strategy: quorum(2), scenario: S.someFail, expected: proceed(30, []) },
  { strategy: quorum(2), scenario: S.allFail, expected: fail(20, [2], notMet(0, 3, 'Quorum(2)', `${e(0)}; ${e(1)}`)) },
  { strategy: quorum(2), scenario: S.deadlineBeforeSatisfied, expected: fail(100, [1, 2], TIMEOUT) },
  { strategy: quorum(2), scenario: S.deadlineAfterSatisfied, expected: proceed(20, [2]) },
  { strategy: quorum(2), scenario: S.nothingBeforeDeadline, expected: fail(100, [0, 1, 2], TIMEOUT) },
  { strategy: quorum(2), scenario: S.empty, expected: fail(0, [], notMet(0, 0, 'Quorum(2)')) },
  // percentage(0.5): ceil(3 * 0.5) = 2 successes out of 3; 0 out of 0
  { strategy: percentage(0.5), scenario: S.allSucceed, expected: proceed(20, [2]) },
  { strategy: percentage(0.5), scenario: S.someFail, expected: proceed(30, []) },
  {
    strategy: percentage(0.5),
    scenario: S.allFail,
    expected: fail(20, [2], notMet(0, 3, 'Percentage(0.5)', `${e(0)}; ${e(1)}`)),
  },
  { strategy: percentage(0.5), scenario: S.deadlineBeforeSatisfied, expected: fail(100, [1, 2], TIMEOUT) },
  { strategy: percentage(0.5), scenario: S.deadlineAfterSatisfied, expected: proceed(20, [2]) },
  { strategy: percentage(0.5), scenario: S.nothingBeforeDeadline, expected: fail(100, [0, 1, 2], TIMEOUT) },
  { strategy: percentage(0.5), scenario: S.empty, expected: proceed(0, []) },
  // partialResults(2): counts successes only, like quorum(2), with its own message
  { strategy: partialResults(2), scenario: S.allSucceed, expected: proceed(20, [2]) },
  { strategy: partialResults(2), scenario: S.someFail, expected: proceed(30, []) },
  {
    strategy: partialResults(2),
    scenario: S.allFail,
    expected: fail(20, [2], partialNotMet(0, 2, `${e(0)}; ${e(1)}`)),
  },
  { strategy: partialResults(2), scenario: S.deadlineBeforeSatisfied, expected: fail(100, [1, 2], TIMEOUT) },
  { strategy: partialResults(2), scenario: S.deadlineAfterSatisfied, expected: proceed(20, [2]) },
  { strategy: partialResults(2), scenario: S.nothingBeforeDeadline, expected: fail(100, [0, 1, 2], TIMEOUT) },
  { strategy: partialResults(2), scenario: S.empty, expected: fail(0, [], partialNotMet(0, 2)) },
  // partialResults(0): satisfied before anything runs
  { strategy: partialResults(0), scenario: S.allSucceed, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.someFail, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.allFail, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.deadlineBeforeSatisfied, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.deadlineAfterSatisfied, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.nothingBeforeDeadline, expected: proceed(0, [0, 1, 2]) },
  { strategy: partialResults(0), scenario: S.empty, expected: proceed(0, []) },
  // partialTimeout: counts successes and failures; waits for every branch or the deadline
  { strategy: partialTimeout(), scenario: S.allSucceed, expected: proceed(30, []) },
  { strategy: partialTimeout(), scenario: S.someFail, expected: proceed(30, []) },
  { strategy: partialTimeout(), scenario: S.allFail, expected: proceed(30, []) },
  { strategy: partialTimeout(), scenario: S.deadlineBeforeSatisfied, expected: proceed(100, [1, 2]) },
  { strategy: partialTimeout(), scenario: S.deadlineAfterSatisfied, expected: proceed(100, [2]) },
  {
    strategy: partialTimeout(),
    scenario: S.nothingBeforeDeadline,
    expected: fail(100, [0, 1, 2], 'PartialTimeout: No tasks completed before timeout'),
  },
  {
    strategy: partialTimeout(),
    scenario: S.empty,
    expected: fail(0, [], 'PartialTimeout: No tasks completed before timeout'),
  },
]

/** A readable title for a row. */
export const rowTitle = (row: JoinRow): string =>
  `${describeStrategy(row.strategy)} x ${row.scenario.name}: ${row.expected.outcome} at ${row.expected.at} ms, cancelled [${row.expected.cancelled.join(', ')}]`

const describeStrategy = (s: JoinStrategy): string => {
  switch (s._tag) {
    case 'Quorum':
      return `quorum(${s.n})`
    case 'Percentage':
      return `percentage(${s.p})`
    case 'PartialResults':
      return `partialResults(${s.min})`
    default:
      return `${s._tag[0]?.toLowerCase() ?? ''}${s._tag.slice(1)}()`
  }
}

/**
 * The split of a scenario replayed through the pure functions alone: `decideJoin` before anything
 * runs, after each settlement in time order, and at the deadline; `joinFailure` for a failure.
 */
const replay = (strategy: JoinStrategy, scenario: Scenario): JoinExpectation => {
  const total = scenario.branches.length
  const settled = new Set<number>()
  const errors: Array<{ index: number; error: CanoError }> = []
  let succeeded = 0
  let failed = 0
  const progress = (deadlineReached: boolean) => ({
    total,
    succeeded,
    failed,
    settled: succeeded + failed,
    deadlineReached,
  })
  const outcome = (decision: 'proceed' | 'fail', at: number, deadlineReached: boolean): JoinExpectation => {
    const cancelled = scenario.branches.map((_, i) => i).filter((i) => !settled.has(i))
    return decision === 'proceed'
      ? proceed(at, cancelled)
      : fail(at, cancelled, joinFailure(strategy, 'Split', progress(deadlineReached), errors).message)
  }
  const first = decideJoin(strategy, progress(false))
  if (first !== 'wait') return outcome(first, 0, false)
  const order = scenario.branches.map((b, index) => ({ ...b, index })).sort((a, b) => a.at - b.at)
  for (const b of order) {
    if (b.at >= scenario.timeoutMs) break
    settled.add(b.index)
    if (b.ok) succeeded += 1
    else {
      failed += 1
      errors.push({ index: b.index, error: boom(b.index) })
    }
    const d = decideJoin(strategy, progress(false))
    if (d !== 'wait') return outcome(d, b.at, false)
  }
  const atDeadline = decideJoin(strategy, progress(true))
  return outcome(atDeadline === 'wait' ? 'fail' : atDeadline, scenario.timeoutMs, true)
}

describe('decideJoin', () => {
  describe('the strategy x scenario table', () => {
    for (const row of JOIN_TABLE) {
      it(rowTitle(row), () => {
        expect(replay(row.strategy, row.scenario)).to.deep.equal(row.expected)
      })
    }
  })

  it('covers every strategy with every scenario', () => {
    const strategies = new Set(JOIN_TABLE.map((r) => JSON.stringify(r.strategy)))
    const scenarios = Object.values(SCENARIOS)
    expect(JOIN_TABLE.length).to.equal(strategies.size * scenarios.length)
    for (const s of strategies)
      expect(JOIN_TABLE.filter((r) => JSON.stringify(r.strategy) === s).map((r) => r.scenario)).to.deep.equal(scenarios)
    expect([...strategies].map((s) => (JSON.parse(s) as JoinStrategy)._tag)).to.deep.equal([
      'All',
      'Any',
      'Quorum',
      'Percentage',
      'PartialResults',
      'PartialResults',
      'PartialTimeout',
    ])
  })

  it('never waits once every branch has settled', () => {
    const strategy = fc.oneof(
      fc.constant(JoinStrategy.all()),
      fc.constant(JoinStrategy.any()),
      fc.nat(30).map(JoinStrategy.quorum),
      fc.double({ min: 0.01, max: 1, noNaN: true }).map(JoinStrategy.percentage),
      fc.nat(30).map(JoinStrategy.partialResults),
      fc.constant(JoinStrategy.partialTimeout()),
    )
    fc.assert(
      fc.property(strategy, fc.nat(30), fc.nat(30), fc.boolean(), (s, succeeded, failed, deadlineReached) => {
        const total = succeeded + failed
        expect(decideJoin(s, { total, succeeded, failed, settled: total, deadlineReached })).to.not.equal('wait')
      }),
    )
  })

  it('never waits at the deadline', () => {
    fc.assert(
      fc.property(fc.nat(10), fc.nat(10), fc.nat(10), fc.nat(12), (succeeded, failed, pending, n) => {
        const total = succeeded + failed + pending
        for (const s of [JoinStrategy.all(), JoinStrategy.quorum(n), JoinStrategy.partialTimeout()])
          expect(
            decideJoin(s, { total, succeeded, failed, settled: succeeded + failed, deadlineReached: true }),
          ).to.not.equal('wait')
      }),
    )
  })

  it('proceeds at the deadline when the strategy is satisfied, unlike cano', () => {
    expect(
      decideJoin(JoinStrategy.quorum(2), { total: 3, succeeded: 2, failed: 0, settled: 2, deadlineReached: true }),
    ).to.equal('proceed')
  })

  it('fails quorum(n) once failures exceed total - n, and waits until then', () => {
    const at = (failed: number) =>
      decideJoin(JoinStrategy.quorum(3), { total: 5, succeeded: 0, failed, settled: failed, deadlineReached: false })
    expect([0, 1, 2, 3].map(at)).to.deep.equal(['wait', 'wait', 'wait', 'fail'])
  })
})

describe('requiredSuccesses', () => {
  it('is ceil(total * p) for percentage, without a rounding error above an integer', () => {
    expect(
      [
        [0.3, 10],
        [0.7, 3],
        [0.5, 3],
        [1, 7],
        [0.01, 1],
        [0.1, 30],
        [0.5, 0],
      ].map(([p, total]) => requiredSuccesses(JoinStrategy.percentage(p ?? 0), total ?? 0)),
    ).to.deep.equal([3, 3, 2, 7, 1, 3, 0])
  })

  it('is total for all, 1 for any, n for quorum and min for partialResults', () => {
    expect([
      requiredSuccesses(JoinStrategy.all(), 4),
      requiredSuccesses(JoinStrategy.any(), 4),
      requiredSuccesses(JoinStrategy.quorum(3), 4),
      requiredSuccesses(JoinStrategy.partialResults(0), 4),
    ]).to.deep.equal([4, 1, 3, 0])
  })
})

describe('joinFailure', () => {
  const progress = { total: 6, succeeded: 1, failed: 5, settled: 6, deadlineReached: false }
  const errors = [4, 0, 5, 1, 2].map((i) => ({ index: i, error: boom(i) }))

  it('lists the first 3 errors in the order they happened, then how many more', () => {
    expect(joinFailure(JoinStrategy.quorum(2), 'FanOut', progress, errors)).to.deep.equal(
      workflowError(
        `Join condition not met: 1 of 6 tasks completed successfully, strategy: Quorum(2); errors: ${e(4)}; ${e(0)}; ${e(5)}; ... and 2 more error(s)`,
        'FanOut',
      ),
    )
  })

  it('writes a whole percentage the way cano debug-prints an f64', () => {
    expect(joinFailure(JoinStrategy.percentage(1), 'FanOut', progress, []).message).to.equal(
      'Join condition not met: 1 of 6 tasks completed successfully, strategy: Percentage(1.0)',
    )
  })

  it('reports the deadline before the counts', () => {
    expect(joinFailure(JoinStrategy.all(), 'FanOut', { ...progress, deadlineReached: true }, errors)).to.deep.equal(
      workflowError('Split task timeout exceeded', 'FanOut'),
    )
  })
})

// -------------------------------------------------------------------------------------
// constructors and validation
// -------------------------------------------------------------------------------------

describe('JoinStrategy', () => {
  it('builds every strategy as tagged data', () => {
    expect([
      JoinStrategy.all(),
      JoinStrategy.any(),
      JoinStrategy.quorum(2),
      JoinStrategy.percentage(0.5),
      JoinStrategy.partialResults(1),
      JoinStrategy.partialTimeout(),
    ]).to.deep.equal([
      { _tag: 'All' },
      { _tag: 'Any' },
      { _tag: 'Quorum', n: 2 },
      { _tag: 'Percentage', p: 0.5 },
      { _tag: 'PartialResults', min: 1 },
      { _tag: 'PartialTimeout' },
    ])
  })
})

describe('split', () => {
  it('stores bare functions as branches with the default config and targets only the join state', () => {
    const f = (): number => 1
    const g = (): number => 2
    const h = split([f, branch(g, { retry: RetryMode.none() })], {
      strategy: JoinStrategy.any(),
      join: 'Join',
      timeoutMs: 50,
      bulkhead: 1,
      name: 'fan-out',
    })
    expect(h).to.deep.equal({
      _tag: 'Split',
      config: {},
      to: ['Join'],
      name: 'fan-out',
      branches: [
        { _tag: 'Branch', run: f, config: {} },
        { _tag: 'Branch', run: g, config: { retry: { _tag: 'None' } } },
      ],
      strategy: { _tag: 'Any' },
      join: 'Join',
      timeoutMs: 50,
      bulkhead: 1,
    })
  })
})

describe('validateSplit', () => {
  const fn = (): number => 1
  const three = [fn, fn, fn]
  const known = (s: string): boolean => s === 'Join' || s === 'Done'
  const check = (h: SplitHandler<string, ResourceRecord>): string | undefined =>
    validateSplit(h, 'state "FanOut"', known)?.message
  const make = (options: Partial<Parameters<typeof split>[1]>, branches: ReadonlyArray<() => unknown> = three) =>
    split(branches, { strategy: JoinStrategy.all(), join: 'Join', ...options })

  it('accepts valid splits, including an empty list for all, percentage and partialResults(0)', () => {
    expect([
      check(make({ strategy: JoinStrategy.quorum(3), timeoutMs: 1_000, bulkhead: 2 })),
      check(make({ strategy: JoinStrategy.percentage(1) })),
      check(make({ strategy: JoinStrategy.partialTimeout(), timeoutMs: 10 })),
      check(make({ join: 'Done' })),
      check(make({}, [])),
      check(make({ strategy: JoinStrategy.percentage(0.5) }, [])),
      check(make({ strategy: JoinStrategy.partialResults(0) }, [])),
    ]).to.deep.equal([undefined, undefined, undefined, undefined, undefined, undefined, undefined])
  })

  const cases: ReadonlyArray<readonly [string, SplitHandler<string, ResourceRecord>, string]> = [
    [
      'quorum(0)',
      make({ strategy: JoinStrategy.quorum(0) }),
      'quorum(n) needs an integer n in [1, 3] (the branch count), got 0',
    ],
    [
      'quorum(n) above the branch count',
      make({ strategy: JoinStrategy.quorum(4) }),
      'quorum(n) needs an integer n in [1, 3] (the branch count), got 4',
    ],
    [
      'a fractional quorum',
      make({ strategy: JoinStrategy.quorum(1.5) }),
      'quorum(n) needs an integer n in [1, 3] (the branch count), got 1.5',
    ],
    [
      'quorum(1) of none',
      make({ strategy: JoinStrategy.quorum(1) }, []),
      'quorum(n) needs an integer n in [1, 0] (the branch count), got 1',
    ],
    ['percentage(0)', make({ strategy: JoinStrategy.percentage(0) }), 'percentage(p) needs p in (0, 1], got 0'],
    [
      'percentage above 1',
      make({ strategy: JoinStrategy.percentage(1.5) }),
      'percentage(p) needs p in (0, 1], got 1.5',
    ],
    [
      'percentage(NaN)',
      make({ strategy: JoinStrategy.percentage(Number.NaN) }),
      'percentage(p) needs p in (0, 1], got NaN',
    ],
    [
      'a negative percentage',
      make({ strategy: JoinStrategy.percentage(-0.5) }),
      'percentage(p) needs p in (0, 1], got -0.5',
    ],
    [
      'a negative partialResults',
      make({ strategy: JoinStrategy.partialResults(-1) }),
      'partialResults(min) needs an integer min in [0, 3] (the branch count), got -1',
    ],
    [
      'partialResults above the branch count',
      make({ strategy: JoinStrategy.partialResults(4) }),
      'partialResults(min) needs an integer min in [0, 3] (the branch count), got 4',
    ],
    [
      'partialTimeout without timeoutMs',
      make({ strategy: JoinStrategy.partialTimeout() }),
      'partialTimeout() needs timeoutMs (it proceeds at the deadline)',
    ],
    [
      'partialTimeout with no branch',
      make({ strategy: JoinStrategy.partialTimeout(), timeoutMs: 10 }, []),
      'partialTimeout() needs at least one branch',
    ],
    ['any with no branch', make({ strategy: JoinStrategy.any() }, []), 'any() needs at least one branch'],
    ['bulkhead 0', make({ bulkhead: 0 }), 'bulkhead must be a positive integer, got 0'],
    ['a negative bulkhead', make({ bulkhead: -2 }), 'bulkhead must be a positive integer, got -2'],
    ['a fractional bulkhead', make({ bulkhead: 1.5 }), 'bulkhead must be a positive integer, got 1.5'],
    ['timeoutMs 0', make({ timeoutMs: 0 }), 'timeoutMs must be a finite number in (0, 2147483647], got 0'],
    ['timeoutMs NaN', make({ timeoutMs: Number.NaN }), 'timeoutMs must be a finite number in (0, 2147483647], got NaN'],
    [
      'timeoutMs beyond a timer',
      make({ timeoutMs: 2 ** 31 }),
      'timeoutMs must be a finite number in (0, 2147483647], got 2147483648',
    ],
    ['an unknown join state', make({ join: 'Nowhere' }), 'join state "Nowhere" is neither a state nor an exit'],
    [
      'a branch that is not a function',
      make({}, [fn, 42 as unknown as () => unknown]),
      'branch 1 must be a function or branch(fn, config), got 42',
    ],
    [
      'a branch with a bad config',
      split([branch(fn, { attemptTimeoutMs: -1 })], { strategy: JoinStrategy.all(), join: 'Join' }),
      'branch 0: attemptTimeoutMs must be a finite number in (0, 2147483647], got -1',
    ],
    [
      'a strategy that is not a JoinStrategy',
      make({ strategy: { _tag: 'Most' } as unknown as JoinStrategy }),
      'strategy must be a JoinStrategy (JoinStrategy.all(), any(), quorum(n), …)',
    ],
  ]
  for (const [title, handler, message] of cases) {
    it(`rejects ${title} as a Configuration error naming the state`, () => {
      expect(validateSplit(handler, 'state "FanOut"', known)).to.deep.equal(
        configurationError(`state "FanOut": ${message}`),
      )
    })
  }
})
