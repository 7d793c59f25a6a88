/**
 * @internal A short, never-throwing rendering of an arbitrary value for error messages: JSON where
 * it can be, `undefined` for undefined, `[object X]` otherwise.
 */
export const describeValue = (u: unknown): string => {
  if (u === undefined) return 'undefined'
  if (typeof u === 'string') return JSON.stringify(u)
  try {
    const json = JSON.stringify(u) as string | undefined
    return json === undefined ? Object.prototype.toString.call(u) : json
  } catch {
    return Object.prototype.toString.call(u)
  }
}
