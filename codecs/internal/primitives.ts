/**
 * The primitive refinements the row and record codecs share (codecs/CheckpointRow.ts,
 * codecs/RunRecord.ts): portable strings (no NUL, no unpaired surrogate: what every store can keep) and
 * safe integers.
 *
 * @internal
 * @since 0.2.0
 */
import * as t from 'io-ts'

import { isPortableString } from './isPortableString.js'

/** @internal A primitive codec that accepts only the values passing `ok`. */
export const refined = <A extends string | number>(
  name: string,
  guard: (u: unknown) => u is A,
  ok: (a: A) => boolean,
): t.Type<A> =>
  new t.Type<A>(
    name,
    (u): u is A => guard(u) && ok(u),
    (u, c) => (guard(u) && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )

export const isNumber = (u: unknown): u is number => typeof u === 'number'
export const isString = (u: unknown): u is string => typeof u === 'string'

/** @internal */
export const PortableString = /*#__PURE__*/ refined('PortableString', isString, isPortableString)
export const NonEmptyString = /*#__PURE__*/ refined(
  'NonEmptyString',
  isString,
  (s) => s.length > 0 && isPortableString(s),
)
export const NonNegativeSafeInteger = /*#__PURE__*/ refined(
  'NonNegativeSafeInteger',
  isNumber,
  (n) => Number.isSafeInteger(n) && n >= 0,
)
export const PositiveSafeInteger = /*#__PURE__*/ refined(
  'PositiveSafeInteger',
  isNumber,
  (n) => Number.isSafeInteger(n) && n > 0,
)
export const EpochMillis = /*#__PURE__*/ refined('EpochMillis', isNumber, (n) => Number.isSafeInteger(n) && n >= 0)
