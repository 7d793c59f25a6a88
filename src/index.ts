/**
 * cano-rx: the public surface, every symbol listed by name.
 *
 * @since 0.1.0
 */
export { CanoErrorCodec, Cause } from '../codecs/CanoError.js'
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
