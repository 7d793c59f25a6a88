/**
 * The public surface of cano-rx is a deliberate list: every runtime export and every type export of the
 * barrel (roots/index.ts), sorted. Adding, removing or renaming a public name means editing the lists
 * below in the same change. The type-level lists come from the TypeScript API (a name that is both a value
 * and a type, like `RetryMode` or `CheckpointRow`, is in the runtime list); the runtime list is also
 * checked against the module the barrel compiles to. No public name is spelled like an rxjs operator or
 * creation function (`timer`, `every`, ...), so `import { ... } from 'rxjs'` beside cano-rx never clashes.
 */

import { expect } from 'chai'
import * as rxjs from 'rxjs'
import ts from 'typescript'

import { barrelExports, SUBPATH_BARRELS } from '../helpers/barrelExports.js'

/** Exports with a runtime value (functions, namespaces, codecs, classes), sorted. */
const RUNTIME: ReadonlyArray<string> = [
  'BackoffPolicy',
  'Branch',
  'CanoErrorCodec',
  'CanoFailure',
  'Cause',
  'CheckpointKind',
  'CheckpointRow',
  'CircuitSnapshot',
  'HealthStatus',
  'ItemResult',
  'JoinStrategy',
  'JsonValue',
  'MemoryStore',
  'NonRetryable',
  'PollErrorPolicy',
  'PollOutcome',
  'Resources',
  'RetryMode',
  'RunSummary',
  'Schedule',
  'StepOutcome',
  'StreamErrorPolicy',
  'WindowSignal',
  'backoffDelayMs',
  'batch',
  'cancelledError',
  'categoryOf',
  'checkpointConflictError',
  'checkpointStoreError',
  'circuitOpenError',
  'circuitTransition',
  'compensationFailedError',
  'configurationError',
  'createCircuitBreaker',
  'createMultiRateLimiter',
  'createRateLimiter',
  'createRuntime',
  'createScheduler',
  'createWindowedRateLimiter',
  'decideJoin',
  'decodeCheckpointRow',
  'decodeFailedError',
  'defaultCircuitPolicy',
  'describeCanoError',
  'fromCircuitSnapshot',
  'genericError',
  'hasTag',
  'initialRunState',
  'isBatchProgress',
  'isCanoError',
  'isCanoFailure',
  'isCircuitRejection',
  'isHealthStatus',
  'isHealthy',
  'isNonRetryable',
  'isResources',
  'isRetryable',
  'isTerminalEvent',
  'isTripped',
  'leaseLostError',
  'matchCanoError',
  'matchHealthStatus',
  'memoryCheckpoints',
  'nonRetryable',
  'orphanedCompensationError',
  'poll',
  'postgresCheckpoints',
  'rateLimitedError',
  'reduceRunState',
  'resourceDuplicateKeyError',
  'resourceNotFoundError',
  'resourceTypeMismatchError',
  'retryExhaustedError',
  'retryWithBackoff',
  'router',
  'runOwnedError',
  'saga',
  'scheduledRunId',
  'severityOf',
  'sleep',
  'split',
  'sqliteCheckpoints',
  'stepped',
  'storeError',
  'stream',
  'task',
  'taskExecutionError',
  'timeoutAttempt',
  'timeoutError',
  'toCanoError',
  'toCircuitSnapshot',
  'validateCheckpointRow',
  'wakeAt',
  'workflow',
  'workflowError',
  'workflowTimeoutError',
  'workflowVersionMismatchError',
  'worstHealth',
]

/** Exports that are types only, sorted. */
const TYPES: ReadonlyArray<string> = [
  'AcquireOptions',
  'AttemptFailed',
  'BackoffOptions',
  'BaseOptions',
  'BatchHandler',
  'BatchOptions',
  'BatchProgress',
  'BranchFn',
  'BranchOutcome',
  'CanoError',
  'CanoErrorTag',
  'CheckpointAppended',
  'CheckpointPayloads',
  'CheckpointRowOf',
  'CheckpointStore',
  'CircuitBreaker',
  'CircuitBreakerLike',
  'CircuitBreakerOptions',
  'CircuitEvent',
  'CircuitPermit',
  'CircuitPolicy',
  'CircuitRejected',
  'CircuitState',
  'CircuitTransition',
  'CloseReason',
  'ClosedCircuit',
  'Compensated',
  'CompensationDonePayload',
  'CompensationEntry',
  'CompensationFailed',
  'CompensationStarted',
  'Continuation',
  'CronSchedule',
  'CursorAdvanced',
  'CursorPayload',
  'Degraded',
  'EncodedCanoError',
  'EventBase',
  'EverySchedule',
  'FlowBackoff',
  'FlowCompleted',
  'FlowConfig',
  'FlowIdle',
  'FlowInfo',
  'FlowRunning',
  'FlowStatus',
  'FlowTeardownFailure',
  'FlowTripped',
  'FreshKey',
  'Guard',
  'HalfOpenCircuit',
  'HandlerBase',
  'Healthy',
  'InputOf',
  'IntervalMode',
  'ItemContext',
  'JoinDecision',
  'JoinProgress',
  'LifecycleCheck',
  'LimiterRuntimeOptions',
  'ManualSchedule',
  'MemoryCheckpointsOptions',
  'Migrations',
  'MissedTicks',
  'NewRun',
  'NoResources',
  'ObserverFailed',
  'OpenCircuit',
  'OutputContext',
  'OutputDeclaration',
  'OverlapPolicy',
  'PermitFailed',
  'PermitRequested',
  'PermitSucceeded',
  'PollHandler',
  'PollOptions',
  'PostgresCheckpointsOptions',
  'PostgresPool',
  'Progress',
  'RateLimiter',
  'RateLimiterLike',
  'RateLimiterOptions',
  'RateTier',
  'RateTierStatus',
  'Resource',
  'ResourceKey',
  'ResourceRecord',
  'ResumePoint',
  'ResumeRollback',
  'ResumeState',
  'RetryExponential',
  'RetryFixed',
  'RetryInfo',
  'RetryNone',
  'RetryScheduled',
  'RetryWithBackoffOptions',
  'RollbackPoint',
  'RunArgs',
  'RunCancelled',
  'RunCompleted',
  'RunEnding',
  'RunFailed',
  'RunFilter',
  'RunOptions',
  'RunOutput',
  'RunRecord',
  'RunRecordStatus',
  'RunResult',
  'RunResumed',
  'RunStarted',
  'RunState',
  'RunStatus',
  'RunStore',
  'RunTable',
  'RunTimedOut',
  'RunningScheduler',
  'Runtime',
  'RuntimeEvent',
  'RuntimeOptions',
  'RuntimeResult',
  'RuntimeSchedule',
  'RuntimeWorkflow',
  'SagaHandler',
  'SagaOptions',
  'SagaResult',
  'SchedulableWorkflow',
  'ScheduledEvent',
  'ScheduledRunEvent',
  'Scheduler',
  'SchedulerOptions',
  'SleepHandler',
  'SleepOptions',
  'SleepWait',
  'SplitBranch',
  'SplitBranchSettled',
  'SplitHandler',
  'SplitOptions',
  'SplitResult',
  'SqliteCheckpointsOptions',
  'StateBuilders',
  'StateEntered',
  'StateEntryPayload',
  'StateHandler',
  'StateHandlers',
  'SteppedHandler',
  'SteppedOptions',
  'StopOptions',
  'StopResult',
  'StreamHandler',
  'StreamOptions',
  'StreamPayload',
  'StreamPosition',
  'StreamSource',
  'StreamWindow',
  'SupersedesPayload',
  'TaskConfig',
  'TaskContext',
  'TaskFailed',
  'TaskHandler',
  'TaskOptions',
  'TaskOutput',
  'TaskStarted',
  'TaskSucceeded',
  'TeardownFailure',
  'TerminalEvent',
  'TimeoutAttemptOptions',
  'TimerArmed',
  'TimerPayload',
  'TokenBucketRate',
  'Unhealthy',
  'UntargetedOptions',
  'ValidResources',
  'WindowContext',
  'WindowFlushed',
  'WindowedRateLimiterOptions',
  'WithInput',
  'WithResource',
  'Workflow',
  'WorkflowDefinition',
  'WorkflowEvent',
  'WorkflowObserver',
]

const sorted = (names: Iterable<string>): string[] => [...names].sort()

/** The barrel's exports as the compiler sees them, split into values and types only. */
const splitExports = (): { readonly values: string[]; readonly types: string[] } => {
  const values: string[] = []
  const types: string[] = []
  for (const { name, target } of barrelExports()) (target.flags & ts.SymbolFlags.Value ? values : types).push(name)
  return { values: sorted(values), types: sorted(types) }
}

describe('public names (roots/index.ts)', function () {
  this.timeout(60_000)
  const exported = splitExports()

  it('the lists below are sorted and disjoint', () => {
    expect(RUNTIME).to.deep.equal(sorted(RUNTIME))
    expect(TYPES).to.deep.equal(sorted(TYPES))
    expect(RUNTIME.filter((n) => TYPES.includes(n))).to.deep.equal([])
  })

  it('exports exactly the listed runtime names (edit RUNTIME to add or remove one)', () => {
    expect(exported.values).to.deep.equal(RUNTIME)
  })

  it('exports exactly the listed type-only names (edit TYPES to add or remove one)', () => {
    expect(exported.types).to.deep.equal(TYPES)
  })

  it('has at run time exactly the listed runtime names', async () => {
    const runtime: Record<string, unknown> = await import('../../roots/index.js')
    expect(sorted(Object.keys(runtime))).to.deep.equal(RUNTIME)
  })

  it('names nothing like an rxjs operator or creation function', () => {
    const rxjsFunctions = new Set(
      Object.entries(rxjs)
        .filter(([name, value]) => typeof value === 'function' && /^[a-z]/.test(name))
        .map(([name]) => name),
    )
    expect(rxjsFunctions.has('timer'), 'the check sees rxjs').to.equal(true)
    expect([...RUNTIME, ...TYPES].filter((n) => rxjsFunctions.has(n))).to.deep.equal([])
  })
})

/** The public names of each Node-only subpath entry: runtime names, then type-only names, sorted. */
const SUBPATHS: Readonly<
  Record<string, { readonly runtime: ReadonlyArray<string>; readonly types: ReadonlyArray<string> }>
> = {
  'cano-rx/inspector': { runtime: ['serveInspector'], types: ['Inspector', 'InspectorOptions'] },
}

describe('public names of the subpath entries', function () {
  this.timeout(60_000)

  it('every subpath entry has its list, and package.json exports it', async () => {
    expect(Object.keys(SUBPATHS)).to.deep.equal(Object.keys(SUBPATH_BARRELS))
    const { readFile } = await import('node:fs/promises')
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, unknown>
    }
    for (const name of Object.keys(SUBPATHS))
      expect(pkg.exports, name).to.have.property(`.${name.slice('cano-rx'.length)}`)
  })

  for (const [name, expected] of Object.entries(SUBPATHS)) {
    it(`${name} exports exactly its listed names`, async () => {
      const file = SUBPATH_BARRELS[name]
      if (file === undefined) return expect.fail(`no barrel for ${name}`)
      const values: string[] = []
      const types: string[] = []
      for (const { name: n, target } of barrelExports(file))
        (target.flags & ts.SymbolFlags.Value ? values : types).push(n)
      expect(sorted(values)).to.deep.equal(expected.runtime)
      expect(sorted(types)).to.deep.equal(expected.types)
      const runtime = (await import(file)) as Record<string, unknown>
      expect(sorted(Object.keys(runtime))).to.deep.equal(expected.runtime)
    })
  }
})
