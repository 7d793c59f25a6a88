/**
 * @internal Turns a configuration value that a codec of `codecs/Config.ts` rejects into the
 * `Configuration` error that names the field and the value.
 *
 * - `subject` a string (`'state "Fetch": retry.delayMs'`): the message is
 *   `<subject> must be <rule>, got <value>`, where the rule is the codec's name (or `rule` when given)
 *   and the value is rendered by `show` (default {@link describeValue}).
 * - `subject` a function: the message is what it returns for the value (a call site whose wording
 *   differs, e.g. `quorum(n) needs an integer n in [1, 3] (the branch count), got 0`).
 *
 * @since 0.1.0
 */
import type * as t from 'io-ts'

import type { Configuration } from '../../codecs/CanoError.js'
import { configurationError } from '../CanoError.js'
import { describeValue } from './describeValue.js'

/** @internal The `Configuration` error for `value` when `codec` rejects it, otherwise `undefined`. */
export const checkConfig = <A>(
  codec: t.Type<A, unknown>,
  value: unknown,
  subject: string | ((value: unknown) => string),
  show: (value: unknown) => string = describeValue,
  rule: string = codec.name,
): Configuration | undefined => {
  if (codec.is(value)) return undefined
  return configurationError(
    typeof subject === 'string' ? `${subject} must be ${rule}, got ${show(value)}` : subject(value),
  )
}

/** @internal A number as `String` shows it (`-0` as `0`), anything else as {@link describeValue} does. */
export const showNumber = (u: unknown): string => (typeof u === 'number' ? String(u) : describeValue(u))

/** @internal A number as `String` shows it, anything else by its `typeof` (`string`, `object`). */
export const showNumberOrType = (u: unknown): string => (typeof u === 'number' ? String(u) : typeof u)
