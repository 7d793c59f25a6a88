/**
 * @internal `s` cut to `max` characters (never between the halves of a surrogate pair), with its length
 * noted: `abc… (12345 characters)`. What the log lines, the spans and the inspector do with a string
 * user code made (an error's message, a progress value) that may hold megabytes.
 */
export const cutString = (s: string, max: number): string => {
  if (s.length <= max) return s
  let end = max
  const code = s.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end -= 1
  return `${s.slice(0, end)}… (${String(s.length)} characters)`
}
