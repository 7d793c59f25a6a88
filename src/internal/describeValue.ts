/**
 * @internal A short, never-throwing rendering of an arbitrary value for error messages: strings
 * quoted, other primitives as `String` shows them (`NaN`, `10`, `undefined`) except `-0` and bigints
 * (`10n`), objects as JSON, `[object X]` when they do not serialise (functions included).
 */
export const describeValue = (u: unknown): string => {
  if (typeof u === 'string') return JSON.stringify(u)
  if (typeof u === 'number' && Object.is(u, -0)) return '-0'
  if (typeof u === 'bigint') return `${String(u)}n`
  if (typeof u !== 'object' || u === null)
    return typeof u === 'function' ? Object.prototype.toString.call(u) : String(u)
  try {
    const json = JSON.stringify(u) as string | undefined
    return json === undefined ? Object.prototype.toString.call(u) : json
  } catch {
    return Object.prototype.toString.call(u)
  }
}
