/**
 * @internal The largest delay a JS timer can hold (2^31 - 1 ms, about 24.8 days): the upper bound of
 * every duration option (timeouts, delays, intervals, reset timeouts) that becomes a timer.
 */
export const MAX_TIMER_MS = 2_147_483_647
