/**
 * @internal A short, never-throwing rendering of an arbitrary value for error messages: strings
 * quoted, other primitives as `String` shows them (`NaN`, `10`, `undefined`) except `-0` and bigints
 * (`10n`), objects as JSON, `[object X]` when they do not serialise (functions included), and
 * `[uninspectable object]` / `[uninspectable function]` when even that throws (a revoked `Proxy`, a
 * `Proxy` whose traps throw).
 */
export const describeValue = (u: unknown): string => {
  if (typeof u === 'string') return JSON.stringify(u)
  if (typeof u === 'number' && Object.is(u, -0)) return '-0'
  if (typeof u === 'bigint') return `${String(u)}n`
  if (typeof u !== 'object' || u === null) return typeof u === 'function' ? tagOf(u, 'function') : String(u)
  try {
    const json = JSON.stringify(u) as string | undefined
    if (json !== undefined) return json
  } catch {
    // not serialisable (a cycle, a bigint, a throwing toJSON or getter): its tag below
  }
  return tagOf(u, 'object')
}

/** `[object X]`, or `[uninspectable <kind>]` when reading the tag throws. */
const tagOf = (u: unknown, kind: 'object' | 'function'): string => {
  try {
    return Object.prototype.toString.call(u)
  } catch {
    return `[uninspectable ${kind}]`
  }
}

/**
 * @internal The message of a thrown value, never throwing: an `Error`'s `message` (its `name` when the
 * message is empty), anything else (or an `Error` whose fields cannot be read) through {@link describeValue}.
 */
export const describeThrownValue = (u: unknown): string => {
  try {
    if (u instanceof Error) {
      const message: unknown = u.message
      const name: unknown = u.name
      if (typeof message === 'string' && typeof name === 'string') return message === '' ? name : message
    }
  } catch {
    // a revoked Proxy, a throwing getter: described from the outside
  }
  return describeValue(u)
}
