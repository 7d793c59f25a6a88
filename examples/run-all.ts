/**
 * Runs every example as its own process and checks that it exits 0 and prints what it should.
 *
 *   npm run examples
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Example {
  readonly file: string
  readonly args?: ReadonlyArray<string>
  /** Text the output must contain. */
  readonly expect: string
}

export const EXAMPLES: ReadonlyArray<Example> = [
  { file: 'quickstart.ts', expect: 'final state Done' },
  { file: 'stepped-scan.ts', expect: 'scanned 175 ids' },
  { file: 'poll-job.ts', expect: 'final state Done' },
  { file: 'batch-urls.ts', expect: 'final state Done' },
  { file: 'stream-events.ts', expect: 'final state Done' },
  { file: 'split-etl.ts', expect: 'final state Done' },
  { file: 'scheduler.ts', args: ['--duration-ms', '2500'], expect: 'stopped' },
  { file: 'circuit-breaker.ts', expect: 'closed' },
  { file: 'saga-payment.ts', expect: 'rolled back: carrier refused the parcel' },
  { file: 'fleet.ts', expect: '12 of 12 runs completed' },
  { file: 'router.ts', expect: 'o-3: Route -> Review -> Done' },
  { file: 'timer.ts', expect: 'trial-idle: Signup -> Grace -> Expire -> Done after at least 300 ms' },
  { file: 'rate-limiter.ts', expect: 'a second later, call 5 refused by per-10s' },
  { file: 'saga-cancel.ts', expect: 'released res-timed-out' },
  { file: 'join-strategies.ts', expect: 'partialTimeout()   proceeds: 2 succeeded, 1 failed, 1 cancelled' },
  { file: 'bulkhead.ts', expect: '6 branches, at most 2 at once' },
  { file: 'partial-results.ts', expect: 'cheapest initech at 990 cents' },
  { file: 'observers-metrics.ts', expect: 'observer failures 5' },
  { file: 'custom-store.ts', expect: 'resumed run: Done; ran Load' },
  { file: 'testing-helpers.ts', expect: 'all assertions passed' },
  { file: 'tour.ts', expect: 'total 342' },
  { file: 'stream-cursor.ts', expect: 'run 2 resumed at offset 9, finished: Done' },
]

/** Runs one example in its own process (quick-start database under `tmp`). */
export const runExample = (
  e: Example,
  tmp: string,
): Promise<{ readonly ok: boolean; readonly detail: string; readonly ms: number }> =>
  new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, e.file), ...(e.args ?? [])], {
      env: { ...process.env, CANO_QUICKSTART_DB: join(tmp, 'quickstart.db') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const ok = code === 0 && out.includes(e.expect)
      const detail = ok ? '' : `exit ${String(code ?? signal)}; expected "${e.expect}" in:\n${out}`
      resolve({ ok, detail, ms: Date.now() - started })
    })
  })

const main = async (): Promise<void> => {
  const tmp = mkdtempSync(join(tmpdir(), 'cano-rx-examples-'))
  let failed = 0
  for (const e of EXAMPLES) {
    const r = await runExample(e, tmp)
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${e.file.padEnd(20)} ${String(r.ms).padStart(6)} ms`)
    if (!r.ok) {
      failed += 1
      console.log(r.detail)
    }
  }
  rmSync(tmp, { recursive: true, force: true })
  console.log(`examples: ${EXAMPLES.length - failed} ok, ${failed} failing`)
  process.exitCode = failed === 0 ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) await main()
