/**
 * Runs every benchmark and prints one table. Compiled first (tsx would add a per-closure helper that
 * distorts timings) and run with --expose-gc:
 *
 *   npm run bench                    all of them
 *   npm run bench -- engine split    only those whose file name starts with one of the words
 */
import { run as checkpoints } from './checkpoints.bench.js'
import { run as circuitBreaker } from './circuitBreaker.bench.js'
import { run as durable } from './durable.bench.js'
import { run as engine } from './engine.bench.js'
import { run as inspector } from './inspector.bench.js'
import { type BenchResult, formatTable } from './lib.js'
import { run as otel } from './otel.bench.js'
import { run as processing } from './processing.bench.js'
import { run as rateLimiter } from './rateLimiter.bench.js'
import { run as runtime } from './runtime.bench.js'
import { run as split } from './split.bench.js'

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
  ['policies', async () => (await import('./policies.bench.js')).run()],
  ['stepped', async () => (await import('./stepped.bench.js')).run()],
  ['stream', () => import('./stream.bench.js').then((m) => m.run())],
]

const only = process.argv.slice(2)
const chosen = only.length === 0 ? ALL : ALL.filter(([name]) => only.some((w) => name.startsWith(w)))
console.log(
  `node ${process.version}, ${String((await import('node:os')).cpus().length)} cores, ${new Date().toISOString()}`,
)
for (const [name, run] of chosen) {
  console.log(`\n## ${name}`)
  console.log(formatTable(await run()))
}
