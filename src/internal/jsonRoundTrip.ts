/**
 * @internal JSON round trips through an io-ts codec: what a stepped cursor and a saga output go
 * through before they are persisted, so the next step (or a compensation) sees exactly what a
 * resumed run would read back from a checkpoint row.
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import type { CanoError } from '../../codecs/CanoError.js'
import type { JsonValue } from '../../codecs/CheckpointRow.js'
import { decodeFailedError } from '../CanoError.js'
import { describeThrownValue } from './describeValue.js'

/** @internal A value as stored (`encoded`, a JSON value) and as read back (`decoded`). */
export interface RoundTrip {
  readonly encoded: unknown
  readonly decoded: unknown
}

/**
 * @internal Encodes `value` with `codec`, round-trips it through JSON and decodes it back. `what`
 * names the value in messages (`cursor`, `output`); `where` prefixes them.
 */
export const roundTripJson = (
  codec: t.Type<unknown, unknown>,
  value: unknown,
  where: string,
  what: string,
): E.Either<CanoError, RoundTrip> => {
  let encoded: unknown
  try {
    encoded = codec.encode(value)
  } catch (e: unknown) {
    return E.left(notJson(codec, what, where, e))
  }
  const json = toJson(codec, encoded, where, what)
  return E.isLeft(json) ? json : decodeJson(codec, json.right, where, encoded)
}

/**
 * @internal Encodes `value` with `codec` and round-trips the encoding through JSON: the JSON value a
 * store keeps. `what` and `where` as in {@link roundTripJson}.
 */
export const encodeJson = (
  codec: t.Type<unknown, unknown>,
  value: unknown,
  where: string,
  what: string,
): E.Either<CanoError, JsonValue> => {
  let encoded: unknown
  try {
    encoded = codec.encode(value)
  } catch (e: unknown) {
    return E.left(notJson(codec, what, where, e))
  }
  return toJson(codec, encoded, where, what)
}

/** An encoding through `JSON.stringify` and back. */
const toJson = (
  codec: t.Type<unknown, unknown>,
  encoded: unknown,
  where: string,
  what: string,
): E.Either<CanoError, JsonValue> => {
  try {
    const text = JSON.stringify(encoded) as string | undefined
    if (text === undefined)
      return E.left(decodeFailedError(codec.name, [`the encoded ${what} is not JSON (undefined or a function)`], where))
    return E.right(JSON.parse(text) as JsonValue)
  } catch (e: unknown) {
    return E.left(notJson(codec, what, where, e))
  }
}

const notJson = (codec: t.Type<unknown, unknown>, what: string, where: string, e: unknown): CanoError =>
  decodeFailedError(codec.name, [`the ${what} does not encode to JSON: ${describeThrownValue(e)}`], where)

/** @internal Decodes an encoded (JSON) value; `DecodeFailed` names the codec and `where`. */
export const decodeJson = (
  codec: t.Type<unknown, unknown>,
  json: unknown,
  where: string,
  encoded: unknown = json,
): E.Either<CanoError, RoundTrip> => {
  const decoded = codec.decode(json)
  return E.isRight(decoded)
    ? E.right({ encoded, decoded: decoded.right })
    : E.left(decodeFailedError(codec.name, PathReporter.report(decoded), where))
}
