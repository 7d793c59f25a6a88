/**
 * @internal JSON round trips through an io-ts codec: what a stepped cursor and a saga output go
 * through before they are persisted, so the next step (or a compensation) sees exactly what a
 * resumed run would read back from a checkpoint row.
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import type { CanoError } from '../../codecs/CanoError.js'
import { decodeFailedError } from '../CanoError.js'
import { describeValue } from './describeValue.js'

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
  let json: unknown
  try {
    encoded = codec.encode(value)
    const text = JSON.stringify(encoded) as string | undefined
    if (text === undefined)
      return E.left(decodeFailedError(codec.name, [`the encoded ${what} is not JSON (undefined or a function)`], where))
    json = JSON.parse(text)
  } catch (e: unknown) {
    return E.left(
      decodeFailedError(
        codec.name,
        [`the ${what} does not encode to JSON: ${e instanceof Error ? e.message : describeValue(e)}`],
        where,
      ),
    )
  }
  return decodeJson(codec, json, where, encoded)
}

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
