/**
 * What every state handler carries besides its own function: the retry-loop policy (`config`), the
 * declared targets (`to`) and the task id (`name`). `splitOptions` separates those from a
 * constructor's options.
 *
 * @since 0.1.0
 */
import type { TaskConfig } from './TaskConfig.js'

/**
 * Fields shared by every handler kind.
 *
 * @example
 * import type { HandlerBase } from 'cano-rx'
 * const base: HandlerBase<'Done'> = { config: {}, to: undefined, name: undefined }
 * @category model
 * @since 0.1.0
 */
export interface HandlerBase<S extends string> {
  readonly config: TaskConfig
  /** Declared targets: a return outside them is a `Workflow` error; they draw `toMermaid()`. */
  readonly to: ReadonlyArray<S> | undefined
  /** Task id in events and checkpoint rows; defaults to the state's name. */
  readonly name: string | undefined
}

/**
 * Options every state constructor accepts: a {@link TaskConfig} plus declared targets and a name.
 *
 * @example
 * import { RetryMode, type BaseOptions } from 'cano-rx'
 * const o: BaseOptions<'Next'> = { to: ['Next'], retry: RetryMode.none(), name: 'fetch-page' }
 * @category model
 * @since 0.1.0
 */
export interface BaseOptions<S extends string> extends TaskConfig {
  readonly to?: ReadonlyArray<S>
  readonly name?: string
}

/**
 * @internal Splits `{ to, name, retry, attemptTimeoutMs, circuitBreaker, rateLimiter }` out of a
 * constructor's options; everything else is returned as `rest`.
 */
export const splitOptions = <S extends string, O extends BaseOptions<S>>(
  options: O,
): { readonly base: HandlerBase<S>; readonly rest: Omit<O, keyof BaseOptions<S>> } => {
  const { to, name, retry, attemptTimeoutMs, circuitBreaker, rateLimiter, ...rest } = options
  const config: { -readonly [K in keyof TaskConfig]: TaskConfig[K] } = {}
  if (retry !== undefined) config.retry = retry
  if (attemptTimeoutMs !== undefined) config.attemptTimeoutMs = attemptTimeoutMs
  if (circuitBreaker !== undefined) config.circuitBreaker = circuitBreaker
  if (rateLimiter !== undefined) config.rateLimiter = rateLimiter
  return { base: { config, to, name }, rest }
}
