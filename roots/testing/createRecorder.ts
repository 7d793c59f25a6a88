/**
 * `createRecorder`: a {@link WorkflowObserver} that keeps every event it sees, with the assertions a
 * workflow test needs: the path of states a run went through (exactly, or as a subsequence), which of the
 * workflow's declared states no run entered, and whether a saga step was compensated. Pass it as one of a
 * run's `observers` (or feed it events yourself: `onEvent` is a plain function).
 *
 * The assertions throw an `Error` named `AssertionError` with `actual` and `expected`, which mocha, Jest,
 * Vitest and node:test print as a diff; the module imports no test framework.
 *
 * @since 0.2.0
 */
import { CanoFailure, configurationError } from '../../src/CanoError.js'
import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import type { WorkflowObserver } from '../../src/WorkflowObserver.js'
import { AssertionFailed, showPath } from './internal/assertionFailed.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What {@link Recorder}'s coverage is measured against: a workflow's declared states (a `Workflow` has
 * both lists).
 *
 * @example
 * import type { DeclaredStates } from 'cano-rx/testing'
 * const declared: DeclaredStates<'Fetch' | 'Done'> = { states: ['Fetch'], exits: ['Done'] }
 * @category model
 * @since 0.2.0
 */
export interface DeclaredStates<S extends string> {
  /** The states with a handler. */
  readonly states: ReadonlyArray<S>
  /** The exit states. */
  readonly exits: ReadonlyArray<S>
}

/**
 * Options of the path assertions.
 *
 * @example
 * import type { PathOptions } from 'cano-rx/testing'
 * const onlyOrder42: PathOptions = { workflowId: 'order-42' }
 * @category model
 * @since 0.2.0
 */
export interface PathOptions {
  /** Only the events of this run (default: every recorded event, in order). */
  readonly workflowId?: string
}

/**
 * Options of {@link Recorder}'s `assertCoverage`.
 *
 * @example
 * import type { CoverageOptions } from 'cano-rx/testing'
 * const options: CoverageOptions<'Fetch' | 'Failed' | 'Done'> = { except: ['Failed'] }
 * @category model
 * @since 0.2.0
 */
export interface CoverageOptions<S extends string> {
  /** Declared states the tests need not enter (an exit kept for emergencies, say). */
  readonly except?: ReadonlyArray<S>
}

/**
 * A recording observer: every event it is handed, and assertions over them. One recorder may watch many
 * runs (coverage is usually measured over several); `path` and the path assertions take a `workflowId`
 * to look at one of them. A resumed run has the same id as the run it continues, so its path continues
 * the crashed run's.
 *
 * @example
 * import { task, workflow } from 'cano-rx'
 * import { createRecorder } from 'cano-rx/testing'
 * const flow = workflow<'Fetch' | 'Store' | 'Done'>()({
 *   exits: ['Done'],
 *   states: { Fetch: task(() => 'Store' as const), Store: task(() => 'Done' as const) },
 * })
 * const rec = createRecorder<'Fetch' | 'Store' | 'Done'>()
 * await flow.orchestrate('Fetch', { observers: [rec] })
 * rec.assertPath(['Fetch', 'Store', 'Done'])
 * rec.assertPathIncludes(['Fetch', 'Done'])
 * rec.assertCoverage(flow)
 * @see {@link createRecorder}
 * @category model
 * @since 0.2.0
 */
export interface Recorder<S extends string = string> extends WorkflowObserver<S> {
  /** Records one event (what a run calls for each of its events; a plain function, so `tap(rec.onEvent)` works too). */
  readonly onEvent: (event: WorkflowEvent<S>) => void
  /** Every event recorded, in order (a copy). */
  readonly events: () => ReadonlyArray<WorkflowEvent<S>>
  /** The events with tag `tag`, narrowed. */
  readonly ofTag: <T extends WorkflowEvent<S>['_tag']>(tag: T) => ReadonlyArray<Extract<WorkflowEvent<S>, { _tag: T }>>
  /** The states entered (`StateEntered`), in order. */
  readonly path: (options?: PathOptions) => ReadonlyArray<S>
  /** The declared states (handlers and exits) no recorded run entered, in declaration order. */
  readonly unvisited: (flow: DeclaredStates<S>) => ReadonlyArray<S>
  /** Throws unless the path is exactly `expected`. */
  readonly assertPath: (expected: ReadonlyArray<S>, options?: PathOptions) => void
  /** Throws unless `expected` appears in the path in this order, other states allowed in between. */
  readonly assertPathIncludes: (expected: ReadonlyArray<S>, options?: PathOptions) => void
  /** Throws unless every declared state (handlers and exits, but `except`) was entered by some recorded run. */
  readonly assertCoverage: (flow: DeclaredStates<S>, options?: CoverageOptions<S>) => void
  /** Throws unless the saga step of `state` was compensated (a `Compensated` event for it). */
  readonly assertCompensated: (state: S, options?: PathOptions) => void
  /** Forgets every event recorded so far. */
  readonly clear: () => void
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Creates an empty {@link Recorder}.
 *
 * @returns a recording observer, to pass in a run's `observers`
 * @example
 * import * as t from 'io-ts'
 * import { RetryMode, saga, task, workflow } from 'cano-rx'
 * import { createRecorder } from 'cano-rx/testing'
 * type Step = 'Charge' | 'Ship' | 'Done'
 * const flow = workflow<Step>()({
 *   exits: ['Done'],
 *   states: {
 *     Charge: saga({ output: t.string, run: async () => ['Ship', 'ch_1'] as const, compensate: async () => undefined }),
 *     Ship: task(async (): Promise<Step> => Promise.reject(new Error('no courier')), { retry: RetryMode.none() }),
 *   },
 * })
 * const rec = createRecorder<Step>()
 * await flow.orchestrate('Charge', { observers: [rec] }).catch(() => undefined)
 * rec.assertPath(['Charge', 'Ship'])
 * rec.assertCompensated('Charge')
 * rec.unvisited(flow) // ['Done']
 * @see {@link Recorder}
 * @category constructors
 * @since 0.2.0
 */
export const createRecorder = <S extends string = string>(): Recorder<S> => {
  let recorded: WorkflowEvent<S>[] = []
  const path = (options?: PathOptions): ReadonlyArray<S> => {
    const id = checkOptions('path', options)
    const states: S[] = []
    for (const e of recorded)
      if (e._tag === 'StateEntered' && (id === undefined || e.workflowId === id)) states.push(e.state)
    return states
  }
  const unvisited = (flow: DeclaredStates<S>): ReadonlyArray<S> => {
    const entered = new Set<string>(path())
    return declaredStates(flow).filter((s) => !entered.has(s))
  }
  return {
    onEvent: (event) => {
      recorded.push(event)
    },
    events: () => [...recorded],
    ofTag: <T extends WorkflowEvent<S>['_tag']>(tag: T) =>
      recorded.filter((e): e is Extract<WorkflowEvent<S>, { _tag: T }> => e._tag === tag),
    path,
    unvisited,
    assertPath: (expected, options) => {
      const actual = path(options)
      if (actual.length === expected.length && actual.every((s, i) => s === expected[i])) return
      throw new AssertionFailed(
        `expected the path ${showPath(expected)}${runLabel(options)}, got ${showPath(actual)}`,
        { actual, expected },
      )
    },
    assertPathIncludes: (expected, options) => {
      const actual = path(options)
      let matched = 0
      for (const s of actual) if (matched < expected.length && s === expected[matched]) matched += 1
      if (matched === expected.length) return
      const missing = expected[matched] ?? ''
      throw new AssertionFailed(
        `expected the path${runLabel(options)} to pass through ${showPath(expected)} in this order, got ${showPath(actual)}: ` +
          (matched === 0
            ? `${JSON.stringify(missing)} was never entered`
            : `no ${JSON.stringify(missing)} after ${showPath(expected.slice(0, matched))}`),
        { actual, expected },
      )
    },
    assertCoverage: (flow, options) => {
      const except = new Set<string>(options?.except ?? [])
      const declared = declaredStates(flow)
      for (const s of except)
        if (!declared.includes(s as S))
          throw new CanoFailure(
            configurationError(
              `assertCoverage: except names ${JSON.stringify(s)}, which the workflow does not declare`,
            ),
          )
      const missing = unvisited(flow).filter((s) => !except.has(s))
      if (missing.length === 0) return
      const covered = declared.filter((s) => !missing.includes(s) && !except.has(s))
      throw new AssertionFailed(
        `expected every declared state to be entered; never entered: ${missing.map((s) => JSON.stringify(s)).join(', ')} ` +
          `(${covered.length} of ${covered.length + missing.length} covered)`,
        { actual: covered, expected: declared.filter((s) => !except.has(s)) },
      )
    },
    assertCompensated: (state, options) => {
      const id = checkOptions('assertCompensated', options)
      const mine = recorded.filter(
        (e) =>
          (e._tag === 'CompensationStarted' || e._tag === 'Compensated' || e._tag === 'CompensationFailed') &&
          e.state === state &&
          (id === undefined || e.workflowId === id),
      )
      if (mine.some((e) => e._tag === 'Compensated')) return
      const failed = mine.find((e) => e._tag === 'CompensationFailed')
      const compensated = recorded.flatMap((e) =>
        e._tag === 'Compensated' && (id === undefined || e.workflowId === id) ? [e.state] : [],
      )
      const why =
        failed?._tag === 'CompensationFailed'
          ? `its compensation failed (${failed.error._tag}: ${failed.error.message})`
          : mine.length > 0
            ? 'its compensation started and never finished'
            : `no compensation of it started (compensated: ${showPath(compensated)})`
      throw new AssertionFailed(
        `expected the saga step of ${JSON.stringify(state)}${runLabel(options)} to be compensated: ${why}`,
        { actual: compensated, expected: [...compensated, state] },
      )
    },
    clear: () => {
      recorded = []
    },
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** The declared states, handlers then exits, each once. */
const declaredStates = <S extends string>(flow: DeclaredStates<S>): ReadonlyArray<S> => [
  ...new Set([...flow.states, ...flow.exits]),
]

const runLabel = (options: PathOptions | undefined): string =>
  options?.workflowId === undefined ? '' : ` of run ${JSON.stringify(options.workflowId)}`

/** The `workflowId` option, checked (a JavaScript caller may pass anything). */
const checkOptions = (what: string, options: PathOptions | undefined): string | undefined => {
  const id: unknown = options?.workflowId
  if (id === undefined || (typeof id === 'string' && id !== '')) return id
  throw new CanoFailure(configurationError(`${what}: workflowId must be a non-empty string, got ${JSON.stringify(id)}`))
}
