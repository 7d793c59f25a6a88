/**
 * `mintWorkflowId`: the one place a run id is made up, for runs started without one
 * (`run$` / `orchestrate` on a workflow without a checkpoint store) and for the scheduler's runs.
 *
 * @internal
 * @since 0.1.0
 */
import type { WorkflowId } from '../codecs/WorkflowId.js'

/**
 * @internal A fresh random id (a UUID from the platform's Web Crypto, present in Node and browsers, see
 * {@link randomUuid});
 * `prefix:uuid` when a prefix is given (the scheduler prefixes its flow's id). A UUID is non-empty and
 * ASCII, and a portable prefix stays portable, so the result is a `WorkflowId`.
 */
export const mintWorkflowId = (prefix?: WorkflowId): WorkflowId => {
  const uuid = randomUuid()
  return (prefix === undefined ? uuid : `${prefix}:${uuid}`) as WorkflowId
}

/** Web Crypto as browsers have it: `randomUUID` only in secure contexts (https, localhost), `getRandomValues` everywhere. */
interface WebCrypto {
  readonly randomUUID?: () => string
  readonly getRandomValues: (array: Uint8Array) => Uint8Array
}

/** @internal A random version-4 UUID: `crypto.randomUUID()` where there is one, else built from `getRandomValues`. */
export const randomUuid = (crypto: WebCrypto = globalThis.crypto): string =>
  crypto.randomUUID?.() ?? uuidFromBytes(crypto.getRandomValues(new Uint8Array(16)))

/** @internal The text of the version-4 (random, RFC 9562) UUID made of 16 random bytes. */
export const uuidFromBytes = (random: Uint8Array): string => {
  const hex = Array.from(random.subarray(0, 16), (b, i) => {
    const v = i === 6 ? (b & 0x0f) | 0x40 : i === 8 ? (b & 0x3f) | 0x80 : b
    return v.toString(16).padStart(2, '0')
  }).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
