/**
 * cano-rx: the public surface, every symbol listed by name.
 *
 * @since 0.1.0
 */
export { CanoErrorCodec, Cause } from '../codecs/CanoError.js'
export { CheckpointKind, CheckpointRow, JsonValue, RunSummary } from '../codecs/CheckpointRow.js'
export { CircuitSnapshot } from '../codecs/CircuitSnapshot.js'
export { fromTaskOutput } from '../streams/fromTaskOutput.js'
export type { RetryInfo, RetryWithBackoffOptions } from '../streams/retryWithBackoff.js'
export { retryWithBackoff } from '../streams/retryWithBackoff.js'
export type { RunOptions } from '../streams/runWorkflow.js'
export type { TimeoutAttemptOptions } from '../streams/timeoutAttempt.js'
export { timeoutAttempt } from '../streams/timeoutAttempt.js'
export {
  batch,
  type BatchHandler,
  type BatchOptions,
  type BatchOutput,
  type BatchProgress,
  isBatchProgress,
  type ItemContext,
  itemErr,
  itemOk,
  type ItemResult,
  validateBatch,
} from './Batch.js'
export type { CanoError, CanoErrorTag } from './CanoError.js'
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
  matchCanoError,
  NonRetryable,
  nonRetryable,
  orphanedCompensationError,
  rateLimitedError,
  resourceDuplicateKeyError,
  resourceNotFoundError,
  resourceTypeMismatchError,
  retryExhaustedError,
  storeError,
  taskExecutionError,
  timeoutError,
  toCanoError,
  workflowError,
  workflowTimeoutError,
  workflowVersionMismatchError,
} from './CanoError.js'
export { postgresCheckpoints, type PostgresCheckpointsOptions, type PostgresPool } from './checkpoints/postgres.js'
export { sqliteCheckpoints, type SqliteCheckpointsOptions } from './checkpoints/sqlite.js'
export {
  checkpointConflictError,
  type CheckpointStore,
  decodeCheckpointRow,
  memoryCheckpoints,
  validateCheckpointRow,
} from './CheckpointStore.js'
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
} from './CircuitBreaker.js'
export {
  circuitTransition,
  createCircuitBreaker,
  defaultCircuitPolicy,
  fromCircuitSnapshot,
  isCircuitRejection,
  toCircuitSnapshot,
} from './CircuitBreaker.js'
export type { BaseOptions, HandlerBase } from './HandlerBase.js'
export type { Degraded, HealthStatus, Healthy, Unhealthy } from './HealthStatus.js'
export {
  degraded,
  healthy,
  isHealthStatus,
  isHealthy,
  matchHealthStatus,
  severityOf,
  unhealthy,
  worstHealth,
} from './HealthStatus.js'
export { MemoryStore } from './MemoryStore.js'
export type { PollErrorPolicy, PollHandler, PollOptions, PollOutcome, PollOutput } from './Poll.js'
export { failFast, pending, poll, ready, retryOnError, validatePoll } from './Poll.js'
export type {
  AcquireOptions,
  LimiterRuntimeOptions,
  LimiterSleep,
  RateLimiter,
  RateLimiterLike,
  RateLimiterOptions,
  RateTier,
  RateTierStatus,
  TokenBucketRate,
  WindowedRateLimiterOptions,
} from './RateLimiter.js'
export { createMultiRateLimiter, createRateLimiter, createWindowedRateLimiter } from './RateLimiter.js'
export type {
  FreshKey,
  Guard,
  LifecycleCheck,
  Resource,
  ResourceKey,
  TeardownFailure,
  ValidResources,
  WithResource,
} from './Resources.js'
export { isResources, Resources } from './Resources.js'
export type { Migrations, ResumePoint, RollbackPoint } from './Resume.js'
export { resumePoint } from './Resume.js'
export type { RetryExponential, RetryFixed, RetryNone } from './RetryMode.js'
export { maxAttempts, retryDelayMs, RetryMode, validateRetryMode } from './RetryMode.js'
export type { RunState, RunStatus } from './RunState.js'
export { initialRunState, reduceRunState } from './RunState.js'
export type { CompensationEntry, RollbackOutcome, SagaHandler, SagaOptions, SagaOutput, SagaResult } from './Saga.js'
export { rollbackOutcome, saga, validateSaga } from './Saga.js'
export type {
  BackoffOptions,
  BackoffPolicy,
  CronSchedule,
  EverySchedule,
  FlowBackoff,
  FlowCompleted,
  FlowIdle,
  FlowInfo,
  FlowRunning,
  FlowStatus,
  FlowTripped,
  FlowUpdate,
  IntervalMode,
  ManualSchedule,
  Schedule,
} from './Schedule.js'
export {
  backoffDelayMs,
  backoffPolicy,
  cron,
  every,
  flowInfoReducer,
  initialFlowInfo,
  isTripped,
  manual,
  nextCronMs,
  nextFixedRateMs,
  validateBackoffPolicy,
  validateSchedule,
} from './Schedule.js'
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
export type {
  Branch,
  BranchFn,
  BranchOutput,
  JoinDecision,
  JoinProgress,
  SplitBranch,
  SplitHandler,
  SplitOptions,
} from './Split.js'
export { branch, decideJoin, joinFailure, JoinStrategy, requiredSuccesses, split, validateSplit } from './Split.js'
export type { BranchOutcome, SplitResult } from './SplitResult.js'
export type { StateHandler, TaskHandler, TaskOptions } from './StateHandler.js'
export type { StateBuilders, UntargetedOptions } from './StateHandler.js'
export { router, task } from './StateHandler.js'
export { stateBuilders } from './StateHandler.js'
export type { StepOutcome, StepOutput, SteppedHandler, SteppedOptions } from './Stepped.js'
export { done, more, stepped, validateStepped } from './Stepped.js'
export {
  type CloseReason,
  continueStream,
  stopStream,
  stream,
  StreamErrorPolicy,
  type StreamHandler,
  type StreamOptions,
  type StreamPosition,
  type StreamSource,
  type StreamWindow,
  validateStream,
  type WindowContext,
  type WindowOutput,
  type WindowSignal,
} from './Stream.js'
export type { ResolvedTaskConfig, TaskConfig } from './TaskConfig.js'
export { resolveTaskConfig, validateTaskConfig } from './TaskConfig.js'
export type { NoResources, ResourceRecord, TaskContext, TaskOutput } from './TaskContext.js'
export type { TimerHandler, TimerOptions, TimerWait } from './Timer.js'
export { timer, validateTimer, wakeAt } from './Timer.js'
export type { Workflow } from './Workflow.js'
export { workflow } from './Workflow.js'
export type { CompiledState, CompiledWorkflow, WorkflowDefinition } from './WorkflowDefinition.js'
export type { StateHandlers } from './WorkflowDefinition.js'
export { compileWorkflow } from './WorkflowDefinition.js'
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
} from './WorkflowEvent.js'
export type { CheckpointAppended, RunResumed, SplitBranchSettled, WindowFlushed } from './WorkflowEvent.js'
export type { Compensated, CompensationFailed, CompensationStarted } from './WorkflowEvent.js'
export { isTerminalEvent } from './WorkflowEvent.js'
export type { WorkflowObserver } from './WorkflowObserver.js'
export { notifyObserver } from './WorkflowObserver.js'
