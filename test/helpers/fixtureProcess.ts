/**
 * A test fixture run as a real child process (`node --import tsx FIXTURE ...args`): resolves with its pid
 * and what it printed once it exits 0, rejects with its stderr otherwise.
 */
import { spawn } from 'node:child_process'

/** What a fixture process printed, and its pid. */
export interface FixtureOutcome {
  readonly pid: number
  readonly out: string
}

/** Runs `fixture` with `args` in a child process; see the module comment. */
export const runFixture = (fixture: string, args: ReadonlyArray<string>): Promise<FixtureOutcome> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()))
    proc.on('exit', (code) =>
      code === 0 ? resolve({ pid: proc.pid ?? -1, out }) : reject(new Error(`child exited ${String(code)}: ${err}`)),
    )
  })
