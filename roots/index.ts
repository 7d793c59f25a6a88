/**
 * cano-rx: the public surface, every symbol listed by name. It runs wherever JavaScript does (Node,
 * browsers, workers): nothing here imports a Node built-in, and run ids come from Web Crypto. The
 * Node-only checkpoint stores are their own entries: `cano-rx/sqlite` (roots/sqlite.ts) and
 * `cano-rx/postgres` (roots/postgres.ts).
 *
 * @since 0.1.0
 */
export { CanoErrorCodec, Cause } from '../codecs/CanoError.js'
export type {
  CheckpointPayloads,
  CheckpointRowOf,
  CompensationDonePayload,
  CursorPayload,
  EncodedCanoError,
  PollPosition,
  StateEntryPayload,
  StreamPayload,
  SupersedesPayload,
  TimerPayload,
} from '../codecs/CheckpointRow.js'
export type { RunNotesPayload } from '../codecs/CheckpointRow.js'
export { CheckpointKind, CheckpointRow, JsonValue, RunSummary } from '../codecs/CheckpointRow.js'
export { CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
export { CircuitSample } from '../codecs/CircuitSnapshot.js'
export type { BackoffOptions } from '../src/BackoffPolicy.js'
export { backoffDelayMs, BackoffPolicy, isTripped } from '../src/BackoffPolicy.js'
export {
  batch,
  type BatchHandler,
  type BatchOptions,
  type BatchProgress,
  isBatchProgress,
  type ItemContext,
  ItemResult,
} from '../src/Batch.js'
export type { CanoError, CanoErrorCases, CanoErrorTag, CanoFailureContext } from '../src/CanoError.js'
export {
  cancelledError,
  CanoFailure,
  categoryOf,
  checkpointStoreError,
  circuitOpenError,
  compensationFailedError,
  configurationError,
  decodeFailedError,
  describeCanoError,
  genericError,
  hasTag,
  isCanoError,
  isCanoFailure,
  isNonRetryable,
  isRetryable,
  leaseLostError,
  matchCanoError,
  matchCanoErrorOrElse,
  matchCanoErrorW,
  NonRetryable,
  nonRetryable,
  orphanedCompensationError,
  rateLimitedError,
  resourceDuplicateKeyError,
  resourceNotFoundError,
  resourceTypeMismatchError,
  retryExhaustedError,
  runOwnedError,
  storeError,
  taskExecutionError,
  timeoutError,
  toCanoError,
  toCanoFailure,
  workflowError,
  workflowTimeoutError,
  workflowVersionMismatchError,
} from '../src/CanoError.js'
export {
  checkpointConflictError,
  type CheckpointStore,
  decodeCheckpointRow,
  memoryCheckpoints,
  type MemoryCheckpointsOptions,
  type RunStore,
  validateCheckpointRow,
} from '../src/CheckpointStore.js'
export type {
  CircuitBreaker,
  CircuitBreakerLike,
  CircuitBreakerOptions,
  CircuitEvent,
  CircuitPermit,
  CircuitPolicy,
  CircuitState,
  CircuitTransition,
  ClosedCircuit,
  HalfOpenCircuit,
  OpenCircuit,
  PermitFailed,
  PermitRequested,
  PermitSucceeded,
} from '../src/CircuitBreaker.js'
export type { CircuitWindowStats, SamplingCircuitBreaker, SamplingCircuitPolicy } from '../src/CircuitBreaker.js'
export {
  circuitTransition,
  defaultCircuitPolicy,
  fromCircuitSnapshot,
  isCircuitRejection,
  toCircuitSnapshot,
} from '../src/CircuitBreaker.js'
export { defaultSamplingCircuitPolicy, samplingTrips } from '../src/CircuitBreaker.js'
export type {
  FlowBackoff,
  FlowCompleted,
  FlowIdle,
  FlowInfo,
  FlowRunning,
  FlowStatus,
  FlowTripped,
} from '../src/FlowInfo.js'
export type { BaseOptions, HandlerBase } from '../src/HandlerBase.js'
export type { Degraded, Healthy, Unhealthy } from '../src/HealthStatus.js'
export {
  HealthStatus,
  isHealthStatus,
  isHealthy,
  matchHealthStatus,
  severityOf,
  worstHealth,
} from '../src/HealthStatus.js'
export type { JoinDecision, JoinProgress } from '../src/JoinStrategy.js'
export { decideJoin, JoinStrategy } from '../src/JoinStrategy.js'
export type { LogFields, LogLevel, LogMethod, LogObserverOptions, LogSink, TraceIds } from '../src/LogObserver.js'
export { logObserver } from '../src/LogObserver.js'
export { MemoryStore } from '../src/MemoryStore.js'
export type { PollHandler, PollOptions } from '../src/Poll.js'
export { poll, PollErrorPolicy, PollOutcome } from '../src/Poll.js'
export type {
  AcquireOptions,
  LimiterRuntimeOptions,
  RateLimiter,
  RateLimiterLike,
  RateLimiterOptions,
  RateTier,
  RateTierStatus,
  TokenBucketRate,
  WindowedRateLimiterOptions,
} from '../src/RateLimiter.js'
export type { RateRequest, RateReservation, RateReservationStatus, ScopedLimiterOptions } from '../src/RateLimiter.js'
export type {
  FreshKey,
  Guard,
  LifecycleCheck,
  Resource,
  ResourceKey,
  TeardownFailure,
  ValidResources,
  WithResource,
} from '../src/Resources.js'
export { isResources, Resources } from '../src/Resources.js'
export type {
  Continuation,
  Migrations,
  ResumePoint,
  ResumeRollback,
  ResumeState,
  RollbackPoint,
} from '../src/Resume.js'
export type { RunNotes } from '../src/Resume.js'
export type { RetryExponential, RetryFixed, RetryNone } from '../src/RetryMode.js'
export { RetryMode } from '../src/RetryMode.js'
export type { OutputContext, OutputDeclaration, RunOutput, RunResult } from '../src/RunBoundary.js'
export type { RunArgs, RunOptions } from '../src/RunOptions.js'
export type { BatchItems, BranchProgress, BranchStatus, RunState, RunStatus } from '../src/RunState.js'
export { initialRunState, reduceRunState } from '../src/RunState.js'
export type { NewRun, RunEnding, RunFilter, RunRecord, RunRecordStatus, RunTable } from '../src/RunTable.js'
export type { MissedTicks, RuntimeSchedule, ScheduledRunEvent } from '../src/RuntimeSchedule.js'
export { scheduledRunId } from '../src/RuntimeSchedule.js'
export type { CompensationEntry, SagaHandler, SagaOptions, SagaResult } from '../src/Saga.js'
export { saga } from '../src/Saga.js'
export type { CronSchedule, EverySchedule, IntervalMode, ManualSchedule } from '../src/Schedule.js'
export { Schedule } from '../src/Schedule.js'
export type { SleepHandler, SleepOptions, SleepWait, UntargetedSleepOptions } from '../src/Sleep.js'
export { sleep, wakeAt } from '../src/Sleep.js'
export type { BranchFn, SplitBranch, SplitHandler, SplitOptions } from '../src/Split.js'
export { Branch, split } from '../src/Split.js'
export type { BranchOutcome, SplitResult } from '../src/SplitResult.js'
export type { StateHandler, TaskHandler, TaskOptions } from '../src/StateHandler.js'
export type { StateBuilders, UntargetedOptions } from '../src/StateHandler.js'
export { router, task } from '../src/StateHandler.js'
export type { SteppedHandler, SteppedOptions } from '../src/Stepped.js'
export { StepOutcome, stepped } from '../src/Stepped.js'
export {
  type CloseReason,
  stream,
  StreamErrorPolicy,
  type StreamHandler,
  type StreamOptions,
  type StreamPosition,
  type StreamSource,
  type StreamWindow,
  type WindowContext,
  WindowSignal,
} from '../src/Stream.js'
export {
  type ItemDone,
  ItemErrorPolicy,
  type ItemWindowContext,
  type StreamItemContext,
  streamItems,
  type StreamItemsHandler,
  type StreamItemsOptions,
} from '../src/StreamItems.js'
export type { TaskConfig } from '../src/TaskConfig.js'
export type { InputOf, NoResources, ResourceRecord, TaskContext, WithInput } from '../src/TaskContext.js'
export type { SettledOutput, TaskOutput } from '../src/TaskOutput.js'
export type { WorkflowDefinition } from '../src/WorkflowDefinition.js'
export type { StateHandlers } from '../src/WorkflowDefinition.js'
export type {
  AttemptFailed,
  CircuitRejected,
  CursorAdvanced,
  EventBase,
  ObserverFailed,
  Progress,
  RetryScheduled,
  RunCancelled,
  RunCompleted,
  RunFailed,
  RunStarted,
  RunTimedOut,
  StateEntered,
  TaskFailed,
  TaskStarted,
  TaskSucceeded,
  TerminalEvent,
  TimerArmed,
  WorkflowEvent,
} from '../src/WorkflowEvent.js'
export type { CheckpointAppended, RunResumed, SplitBranchSettled, WindowFlushed } from '../src/WorkflowEvent.js'
export type { Compensated, CompensationFailed, CompensationStarted } from '../src/WorkflowEvent.js'
export type { CheckpointClearFailed } from '../src/WorkflowEvent.js'
export { isTerminalEvent } from '../src/WorkflowEvent.js'
export type { WorkflowObserver } from '../src/WorkflowObserver.js'
export type { AttemptScope, RunInfo } from '../src/WorkflowObserver.js'
export { createCircuitBreaker } from '../streams/createCircuitBreaker.js'
export { createSamplingCircuitBreaker } from '../streams/createCircuitBreaker.js'
export { createMultiRateLimiter, createRateLimiter, createWindowedRateLimiter } from '../streams/createRateLimiter.js'
export { ofTag } from '../streams/ofTag.js'
export { retryAsync, type RetryAsyncOptions } from '../streams/retryAsync.js'
export type { RetryInfo, RetryWithBackoffOptions } from '../streams/retryWithBackoff.js'
export { retryWithBackoff } from '../streams/retryWithBackoff.js'
export { processBatch, runBatch, type RunBatchOptions } from '../streams/runBatch.js'
export { pollUntilReady, runPoll, type RunPollOptions } from '../streams/runPoll.js'
export { type ResilienceOptions, resilient, type RunnerContext, runResilient } from '../streams/runResilient.js'
export {
  runStepped,
  type RunSteppedOptions,
  type SteppedResumePoint,
  type SteppedRunOptions,
  stepUntilDone,
  type StepUntilDoneOptions,
} from '../streams/runStepped.js'
export { terminal } from '../streams/terminal.js'
export type { TimeoutAttemptOptions } from '../streams/timeoutAttempt.js'
export { timeoutAttempt } from '../streams/timeoutAttempt.js'
export type { Runtime, RuntimeEvent, RuntimeOptions, RuntimeResult, RuntimeWorkflow } from './Runtime.js'
export { createRuntime } from './Runtime.js'
export type {
  FlowConfig,
  FlowTeardownFailure,
  OverlapPolicy,
  RunningScheduler,
  SchedulableWorkflow,
  ScheduledEvent,
  Scheduler,
  SchedulerOptions,
  StopOptions,
  StopResult,
} from './Scheduler.js'
export { createScheduler } from './Scheduler.js'
export type { RunUpdate, Workflow } from './Workflow.js'
export { workflow, workflowEither } from './Workflow.js'
