/**
 * @internal The exponential-jitter delay shared by `retryDelayMs` (src/RetryMode.ts) and
 * `backoffDelayMs` (src/BackoffPolicy.ts), in whole milliseconds:
 * `min(maxDelayMs, baseMs * multiplier^exponent * (1 + jitter * (2 * random() - 1)))`, floored at 0.
 * The jitter is applied before the cap, so the result never exceeds `maxDelayMs`; `random` is called
 * only when `jitter` is not 0. Never `NaN`: a 0 ms base or a 0 jitter factor waits 0 ms even once
 * `multiplier^exponent` overflows (0 * Infinity is NaN), and an overflowing product waits `maxDelayMs`.
 */
export const exponentialDelayMs = (
  baseMs: number,
  multiplier: number,
  exponent: number,
  maxDelayMs: number,
  jitter: number,
  random: () => number,
): number => {
  const raw = baseMs * Math.pow(multiplier, exponent)
  const factor = jitter === 0 ? 1 : 1 + jitter * (2 * random() - 1)
  const jittered = baseMs === 0 || factor === 0 ? 0 : raw * factor
  const capped = Math.min(maxDelayMs, Number.isNaN(jittered) ? maxDelayMs : jittered)
  return Math.max(0, Math.trunc(capped))
}
