/**
 * `cano-rx/testing`: helpers for testing workflows, every symbol listed by name. A recording observer with
 * path, coverage and compensation assertions ({@link createRecorder}), deterministic attempt failures
 * ({@link injectFaults}) and a virtual clock that keeps working when a store or a resource awaits a Promise
 * ({@link virtualTime}). It imports no test framework: the assertions throw an `Error` named
 * `AssertionError` that mocha, Jest, Vitest and node:test all report.
 *
 * @since 0.2.0
 */
export {
  type CoverageOptions,
  createRecorder,
  type DeclaredStates,
  type PathOptions,
  type Recorder,
} from './testing/createRecorder.js'
export { Fault, type FaultPlan, injectFaults, type InjectFaultsOptions } from './testing/injectFaults.js'
export { type RunUntilOptions, type VirtualTime, virtualTime, type VirtualTimeOptions } from './testing/virtualTime.js'
