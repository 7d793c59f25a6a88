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

import { barrelExports, OTEL_ENTRY, SUBPATH_BARRELS, TESTING_BARREL } from '../helpers/barrelExports.js'

/** Exports with a runtime value (functions, namespaces, codecs, classes), sorted. */
const RUNTIME: ReadonlyArray<string> = [
  'BackoffPolicy',
  'Branch',
  'CanoErrorCodec',
  'CanoFailure',
  'Cause',
  'CheckpointKind',
  'CheckpointRow',
  'CircuitSample',
  'CircuitSnapshot',
  'HealthStatus',
  'ItemErrorPolicy',
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
  'createSamplingCircuitBreaker',
  'createScheduler',
  'createWindowedRateLimiter',
  'decideJoin',
  'decodeCheckpointRow',
  'decodeFailedError',
  'defaultCircuitPolicy',
  'defaultSamplingCircuitPolicy',
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
  'logObserver',
  'matchCanoError',
  'matchCanoErrorOrElse',
  'matchCanoErrorW',
  'matchHealthStatus',
  'memoryCheckpoints',
  'nonRetryable',
  'ofTag',
  'orphanedCompensationError',
  'poll',
  'pollUntilReady',
  'processBatch',
  'rateLimitedError',
  'reduceRunState',
  'resilient',
  'resourceDuplicateKeyError',
  'resourceNotFoundError',
  'resourceTypeMismatchError',
  'retryAsync',
  'retryExhaustedError',
  'retryWithBackoff',
  'router',
  'runBatch',
  'runOwnedError',
  'runPoll',
  'runResilient',
  'runStepped',
  'saga',
  'samplingTrips',
  'scheduledRunId',
  'severityOf',
  'sleep',
  'split',
  'stepUntilDone',
  'stepped',
  'storeError',
  'stream',
  'streamItems',
  'task',
  'taskExecutionError',
  'terminal',
  'timeoutAttempt',
  'timeoutError',
  'toCanoError',
  'toCanoFailure',
  'toCircuitSnapshot',
  'validateCheckpointRow',
  'wakeAt',
  'workflow',
  'workflowEither',
  'workflowError',
  'workflowTimeoutError',
  'workflowVersionMismatchError',
  'worstHealth',
]

/** Exports that are types only, sorted. */
const TYPES: ReadonlyArray<string> = [
  'AcquireOptions',
  'AttemptFailed',
  'AttemptScope',
  'BackoffOptions',
  'BaseOptions',
  'BatchHandler',
  'BatchItems',
  'BatchOptions',
  'BatchProgress',
  'BranchFn',
  'BranchOutcome',
  'BranchProgress',
  'BranchStatus',
  'CanoError',
  'CanoErrorCases',
  'CanoErrorTag',
  'CanoFailureContext',
  'CheckpointAppended',
  'CheckpointClearFailed',
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
  'CircuitWindowStats',
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
  'ItemDone',
  'ItemWindowContext',
  'JoinDecision',
  'JoinProgress',
  'LifecycleCheck',
  'LimiterRuntimeOptions',
  'LogFields',
  'LogLevel',
  'LogMethod',
  'LogObserverOptions',
  'LogSink',
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
  'PollPosition',
  'Progress',
  'RateLimiter',
  'RateLimiterLike',
  'RateLimiterOptions',
  'RateRequest',
  'RateReservation',
  'RateReservationStatus',
  'RateTier',
  'RateTierStatus',
  'ResilienceOptions',
  'Resource',
  'ResourceKey',
  'ResourceRecord',
  'ResumePoint',
  'ResumeRollback',
  'ResumeState',
  'RetryAsyncOptions',
  'RetryExponential',
  'RetryFixed',
  'RetryInfo',
  'RetryNone',
  'RetryScheduled',
  'RetryWithBackoffOptions',
  'RollbackPoint',
  'RunArgs',
  'RunBatchOptions',
  'RunCancelled',
  'RunCompleted',
  'RunEnding',
  'RunFailed',
  'RunFilter',
  'RunInfo',
  'RunNotes',
  'RunNotesPayload',
  'RunOptions',
  'RunOutput',
  'RunPollOptions',
  'RunRecord',
  'RunRecordStatus',
  'RunResult',
  'RunResumed',
  'RunStarted',
  'RunState',
  'RunStatus',
  'RunSteppedOptions',
  'RunStore',
  'RunTable',
  'RunTimedOut',
  'RunUpdate',
  'RunnerContext',
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
  'SamplingCircuitBreaker',
  'SamplingCircuitPolicy',
  'SchedulableWorkflow',
  'ScheduledEvent',
  'ScheduledRunEvent',
  'Scheduler',
  'SchedulerOptions',
  'ScopedLimiterOptions',
  'SettledOutput',
  'SleepHandler',
  'SleepOptions',
  'SleepWait',
  'SplitBranch',
  'SplitBranchSettled',
  'SplitHandler',
  'SplitOptions',
  'SplitResult',
  'StateBuilders',
  'StateEntered',
  'StateEntryPayload',
  'StateHandler',
  'StateHandlers',
  'StepUntilDoneOptions',
  'SteppedHandler',
  'SteppedOptions',
  'SteppedResumePoint',
  'SteppedRunOptions',
  'StopOptions',
  'StopResult',
  'StreamHandler',
  'StreamItemContext',
  'StreamItemsHandler',
  'StreamItemsOptions',
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
  'TraceIds',
  'Unhealthy',
  'UntargetedOptions',
  'UntargetedSleepOptions',
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

/** The `cano-rx/testing` entry (roots/testing.ts): its runtime exports, sorted. */
const TESTING_RUNTIME: ReadonlyArray<string> = ['Fault', 'createRecorder', 'injectFaults', 'virtualTime']

/** The `cano-rx/testing` entry: its type-only exports, sorted. */
const TESTING_TYPES: ReadonlyArray<string> = [
  'CoverageOptions',
  'DeclaredStates',
  'FaultPlan',
  'InjectFaultsOptions',
  'PathOptions',
  'Recorder',
  'RunUntilOptions',
  'VirtualTime',
  'VirtualTimeOptions',
]

describe('public names (roots/testing.ts, the cano-rx/testing entry)', function () {
  this.timeout(60_000)
  const values: string[] = []
  const types: string[] = []
  for (const { name, target } of barrelExports(TESTING_BARREL))
    (target.flags & ts.SymbolFlags.Value ? values : types).push(name)

  it('exports exactly the listed runtime and type-only names (edit the lists to change them)', () => {
    expect(TESTING_RUNTIME).to.deep.equal(sorted(TESTING_RUNTIME))
    expect(TESTING_TYPES).to.deep.equal(sorted(TESTING_TYPES))
    expect(sorted(values)).to.deep.equal(TESTING_RUNTIME)
    expect(sorted(types)).to.deep.equal(TESTING_TYPES)
  })

  it('has at run time exactly the listed runtime names', async () => {
    const runtime: Record<string, unknown> = await import('../../roots/testing.js')
    expect(sorted(Object.keys(runtime))).to.deep.equal(TESTING_RUNTIME)
  })

  it('is a subpath export of the package, beside the main entry', async () => {
    const { readFile } = await import('node:fs/promises')
    const pkg: unknown = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'))
    expect(pkg).to.have.nested.property('exports.\\./testing').that.deep.equals({
      types: './dist/roots/testing.d.ts',
      default: './dist/roots/testing.js',
    })
  })

  it('shares no name with the main entry or with rxjs', () => {
    const rxjsFunctions = Object.keys(rxjs).filter((n) => /^[a-z]/.test(n))
    const main = new Set([...RUNTIME, ...TYPES, ...rxjsFunctions])
    expect([...TESTING_RUNTIME, ...TESTING_TYPES].filter((n) => main.has(n))).to.deep.equal([])
  })
})

/** The `cano-rx/otel` entry (roots/otel.ts): its names, runtime and type-only, sorted. */
const OTEL_RUNTIME: ReadonlyArray<string> = ['otelObserver']
const OTEL_TYPES: ReadonlyArray<string> = ['OtelObserver', 'OtelOptions']

describe('public names (roots/otel.ts, the cano-rx/otel entry)', function () {
  this.timeout(60_000)

  it('exports exactly the listed names (edit OTEL_RUNTIME / OTEL_TYPES to add or remove one)', () => {
    const values: string[] = []
    const types: string[] = []
    for (const { name, target } of barrelExports(OTEL_ENTRY))
      (target.flags & ts.SymbolFlags.Value ? values : types).push(name)
    expect(sorted(values)).to.deep.equal(OTEL_RUNTIME)
    expect(sorted(types)).to.deep.equal(OTEL_TYPES)
  })

  it('has at run time exactly the listed runtime names', async () => {
    const runtime: Record<string, unknown> = await import('../../roots/otel.js')
    expect(sorted(Object.keys(runtime))).to.deep.equal(OTEL_RUNTIME)
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
