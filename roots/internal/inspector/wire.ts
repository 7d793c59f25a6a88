/**
 * @internal What the inspector sends to a browser: any value (progress data, errors with causes, run
 * outputs) as a bounded JSON value. Progress data and error causes are whatever user code put there:
 * they may be circular, hold bigints, functions, `Error` objects, getters that throw, megabyte strings.
 * {@link toWire} never throws and bounds the size of what it returns; the browser renders the result
 * with `textContent` only (escaping is the DOM's), so nothing here escapes HTML.
 */
import type { JsonValue } from '../../../codecs/CheckpointRow.js'
import { cutString } from '../../../src/internal/cutString.js'

/** @internal Bounds of {@link toWire}. */
export interface WireLimits {
  /** Longer strings are cut to this many characters, with a note of their length. */
  readonly maxString: number
  /** Arrays keep this many items and objects this many keys, with a note of how many were left out. */
  readonly maxItems: number
  /** Deeper values become `'[…]'`. */
  readonly maxDepth: number
  /** At most this many values in all (a shared object is counted each time it is reached); the rest become `'[…]'`. */
  readonly maxNodes: number
  /**
   * At most this many bytes of JSON of strings (keys and values, counted as JSON writes them in UTF-8:
   * escaped, a `€` three bytes) in all; past it, strings are cut and then become `'[…]'`. What bounds the
   * JSON of the result (to about this plus one string), whatever the other limits allow together.
   */
  readonly maxBytes: number
}

/** @internal The limits of a value the inspector shows whole (progress, last error, a run's input, output, error). */
export const WIRE_LIMITS: WireLimits = {
  maxString: 2_000,
  maxItems: 50,
  maxDepth: 6,
  maxNodes: 2_000,
  maxBytes: 64_000,
}

/** @internal The limits of an event of a timeline (the page shows at most 4 000 characters of one). */
export const EVENT_LIMITS: WireLimits = {
  maxString: 1_000,
  maxItems: 20,
  maxDepth: 5,
  maxNodes: 300,
  maxBytes: 4_000,
}

/**
 * @internal The bytes `s` takes in JSON text encoded in UTF-8, at most, without its quotes: a control
 * character counted as its six-character escape, a quote or backslash as two, a character past U+007F as
 * its two to four UTF-8 bytes, a lone surrogate as the six-character escape `JSON.stringify` writes.
 */
export const jsonBytes = (s: string): number => {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      if (c < 0x20) n += 5
      else if (c === 0x22 || c === 0x5c) n += 1
    } else if (c < 0x800) n += 1
    else if (c < 0xd800 || c > 0xdfff) n += 2
    else if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // a surrogate pair: four bytes for its two units
      n += 2
      i += 1
    } else n += 5
  }
  return n
}

/**
 * @internal `value` as a JSON value within `limits`: strings cut, arrays and objects shortened, depth
 * and total size bounded, bigints as `'12n'`, `Error`s as `{ name, message }`, functions and symbols described, cycles
 * as `'[circular]'`, a getter or proxy that throws as `'[unreadable]'`. Never throws.
 */
export const toWire = (value: unknown, limits: WireLimits = WIRE_LIMITS): JsonValue => {
  const seen = new Set<object>()
  let nodes = 0
  let bytes = 0
  /** `s` cut to what is left of the budget of bytes, which it spends. */
  const text = (s: string): string => {
    const room = Math.min(limits.maxString, limits.maxBytes - bytes)
    if (room <= 0) return '[…]'
    const cut = cutString(s, room)
    // spent as JSON writes it in UTF-8: a control character takes up to six bytes, a quote two, a `€` three
    bytes += jsonBytes(cut)
    return cut
  }
  const go = (v: unknown, depth: number): JsonValue => {
    if (++nodes > limits.maxNodes) return '[…]'
    switch (typeof v) {
      case 'string':
        return text(v)
      case 'number':
        return Number.isFinite(v) ? v : String(v)
      case 'boolean':
        return v
      case 'bigint':
        return `${v.toString()}n`
      case 'undefined':
        return null
      case 'function':
        return '[function]'
      case 'symbol':
        return text(v.toString())
      case 'object':
        break
    }
    if (v === null) return null
    const obj: object = v
    if (seen.has(obj)) return '[circular]'
    if (depth >= limits.maxDepth) return '[…]'
    seen.add(obj)
    try {
      if (obj instanceof Error) {
        const out: Record<string, JsonValue> = {
          name: go(obj.name, depth + 1),
          message: go(obj.message, depth + 1),
        }
        if (obj.cause !== undefined) out['cause'] = go(obj.cause, depth + 1)
        return out
      }
      if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString()
      if (Array.isArray(obj)) {
        const items: JsonValue[] = obj.slice(0, limits.maxItems).map((x: unknown) => go(x, depth + 1))
        if (obj.length > limits.maxItems) items.push(`… ${String(obj.length - limits.maxItems)} more items`)
        return items
      }
      if (obj instanceof Map || obj instanceof Set) return `[${obj.constructor.name} of ${String(obj.size)}]`
      const out: Record<string, JsonValue> = {}
      const keys = Object.keys(obj)
      let taken = 0
      for (const key of keys.slice(0, limits.maxItems)) {
        if (bytes >= limits.maxBytes) break
        taken += 1
        let field: unknown
        try {
          field = (obj as Record<string, unknown>)[key]
        } catch {
          out[text(key)] = '[unreadable]'
          continue
        }
        out[text(key)] = go(field, depth + 1)
      }
      if (keys.length > taken) out['…'] = `${String(keys.length - taken)} more keys`
      return out
    } catch {
      return '[unreadable]'
    } finally {
      seen.delete(obj)
    }
  }
  return go(value, 0)
}
