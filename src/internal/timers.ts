/**
 * @internal The largest delay a JS timer can hold (2^31 - 1 ms): defined with the duration codecs in
 * `codecs/Config.ts`, re-exported here for the modules that arm timers.
 */
export { MAX_TIMER_MS } from '../../codecs/Config.js'
