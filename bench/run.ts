/**
 * Runs every benchmark and prints one table. Compiled first (tsx would add a per-closure helper that
 * distorts timings) and run with --expose-gc:
 *
 *   npm run bench                    all of them
 *   npm run bench -- engine split    only those whose file name starts with one of the words
 *
 * Each run writes bench/results/latest.json and a timestamped copy; `--compare FILE`, `--readme`: see runner.ts.
 */
import { run as checkpoints } from './checkpoints.bench.js'
import { run as circuitBreaker } from './circuitBreaker.bench.js'
import { run as counterparts } from './counterparts.bench.js'
import { run as durable } from './durable.bench.js'
import { run as engine } from './engine.bench.js'
import { run as inspector } from './inspector.bench.js'
import { run as instructions } from './instructions.bench.js'
import type { BenchResult } from './lib.js'
import { run as otel } from './otel.bench.js'
import { run as perRun } from './perRun.bench.js'
import { run as policies } from './policies.bench.js'
import { run as processing } from './processing.bench.js'
import { run as rateLimiter } from './rateLimiter.bench.js'
import { run as retry } from './retry.bench.js'
import { main } from './runner.js'
import { run as runtime } from './runtime.bench.js'
import { run as split } from './split.bench.js'
import { run as stepped } from './stepped.bench.js'
import { run as stream } from './stream.bench.js'

const ALL: ReadonlyArray<readonly [string, () => Promise<BenchResult[]>]> = [
  ['engine', engine],
  ['processing', processing],
  ['split', split],
  ['circuitBreaker', circuitBreaker],
  ['rateLimiter', rateLimiter],
  ['checkpoints', checkpoints],
  ['durable', durable],
  ['runtime', runtime],
  ['otel', otel],
  ['inspector', inspector],
  ['policies', policies],
  ['instructions', instructions],
  ['stepped', stepped],
  ['stream', stream],
  ['perRun', perRun],
  ['counterparts', counterparts],
  ['retry', retry],
]

await main(ALL)
