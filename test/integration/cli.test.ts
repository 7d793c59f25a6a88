/**
 * The `cano-rx` CLI (roots/cli.ts), spawned as a real child process against a real SQLite file and the
 * real PostgreSQL server, with runs made by a real runtime; `watch` also under a pseudo-terminal (tmux)
 * with the screen read back.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import pg from 'pg'

import { createRuntime, type Runtime } from '../../roots/Runtime.js'
import { postgresCheckpoints } from '../../roots/stores/postgresCheckpoints.js'
import { sqliteCheckpoints } from '../../roots/stores/sqliteCheckpoints.js'
import type { RunStore } from '../../src/CheckpointStore.js'
import { cliWorkflows } from './fixtures/cliWorkflows.js'

const CONFIG = 'test/integration/fixtures/cliConfig.ts'
const PG_URL = process.env['CANO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Ran> =>
  new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'roots/cli.ts', ...args],
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null
        done({ code, stdout, stderr })
      },
    )
  })

/** Polls `check` every 50 ms until it returns a value, failing after `ms`. */
const until = async <A>(what: string, ms: number, check: () => A | undefined): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const a = check()
    if (a !== undefined) return a
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('cano-rx CLI (spawned)', function () {
  this.timeout(120_000)
  let dir: string
  let db: string
  let gate: string
  let store: RunStore
  let runtime: Runtime
  let env: Record<string, string>

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cano-cli-'))
    db = join(dir, 'runs.db')
    gate = join(dir, 'gate')
    env = { CANO_CLI_DB: db, CANO_CLI_GATE: gate }
    store = sqliteCheckpoints(db)
    runtime = createRuntime({ store, workflows: cliWorkflows(gate), pollMs: 50, leaseMs: 3_000 })
    await runtime.start('hello', null, { id: 'hello-1' })
    await runtime.start('flaky', null, { id: 'flaky-1' })
    expect((await runtime.result('hello-1')).status).to.equal('completed')
    expect((await runtime.result('flaky-1')).status).to.equal('failed')
  })

  after(async () => {
    await runtime.stop({ graceMs: 0 })
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('runs', () => {
    it('ls prints an aligned table, filtered by --status and --workflow, or JSON', async () => {
      const all = await cli(['runs', 'ls', '--store', `sqlite:${db}`])
      expect(all.code).to.equal(0)
      const lines = all.stdout.trim().split('\n')
      expect(lines[0]).to.match(/^ID\s+WORKFLOW\s+STATUS\s+CREATED\s+UPDATED\s+OWNER$/)
      expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).to.have.deep.members([
        ['hello-1', 'hello', 'completed'],
        ['flaky-1', 'flaky', 'failed'],
      ])
      const header = lines[0] ?? ''
      for (const col of ['WORKFLOW', 'STATUS', 'CREATED']) {
        const at = header.indexOf(col)
        for (const line of lines.slice(1)) expect(line.charAt(at - 1), `${col} in ${line}`).to.equal(' ')
        for (const line of lines.slice(1)) expect(line.charAt(at), `${col} in ${line}`).not.to.equal(' ')
      }
      const failed = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--status', 'failed'])
      expect(failed.stdout.trim().split('\n').slice(1))
        .to.have.length(1)
        .and.to.match(/^flaky-1\s+flaky\s+failed/)
      const hello = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--workflow', 'hello', '--json'])
      const records = JSON.parse(hello.stdout) as ReadonlyArray<{ workflowId: string; status: string }>
      expect(records.map((r) => [r.workflowId, r.status])).to.deep.equal([['hello-1', 'completed']])
    })

    it('ls prints a table of 130 000 runs (spreading the cells into Math.max overflowed the stack)', async () => {
      const big = join(dir, 'big.db')
      const bigStore = sqliteCheckpoints(big)
      const bigRuntime = createRuntime({ store: bigStore, workflows: cliWorkflows(gate), pollMs: 50 })
      await bigRuntime.start('hello', null, { id: 'run-0' })
      await bigRuntime.result('run-0')
      await bigRuntime.stop({ graceMs: 0 })
      await bigStore.close()
      // the one record copied 129 999 times under other ids, in one transaction
      const sql = new Database(big)
      const columns = (sql.prepare('PRAGMA table_info(cano_checkpoints_runs)').all() as Array<{ name: string }>).map(
        (c) => c.name,
      )
      const picked = columns.map((c) => (c === 'workflow_id' ? "'run-' || n.i" : `r.${c}`)).join(', ')
      sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 129999)
         INSERT INTO cano_checkpoints_runs (${columns.join(', ')})
         SELECT ${picked} FROM n, cano_checkpoints_runs r WHERE r.workflow_id = 'run-0'`,
      )
      sql.close()
      const r = await cli(['runs', 'ls', '--store', `sqlite:${big}`])
      expect([r.code, r.stderr]).to.deep.equal([0, ''])
      const lines = r.stdout.trim().split('\n')
      expect(lines).to.have.length(130_001)
      expect(lines[1]).to.match(/^run-\d+\s+hello\s+completed/)
      // 25 of them corrupt: the others listed, the first 20 named, then a count
      const corrupt = new Database(big)
      corrupt.exec(
        `UPDATE cano_checkpoints_runs SET status = 'finished' WHERE workflow_id IN (${Array.from({ length: 25 }, (_, i) => `'run-${String(i + 1)}'`).join(', ')})`,
      )
      corrupt.close()
      const partly = await cli(['runs', 'ls', '--store', `sqlite:${big}`])
      expect(partly.code).to.equal(4)
      expect(partly.stdout.trim().split('\n')).to.have.length(130_001 - 25)
      const said = partly.stderr.trim().split('\n')
      expect(said).to.have.length(21)
      for (const line of said.slice(0, 20))
        expect(line).to.match(/^cano-rx: the record of run run-\d+ cannot be read: .*RunRecord\/status/)
      expect(said[20]).to.equal('cano-rx: … and 5 more unreadable records')
    })

    it('ls takes --status several times (any of them)', async () => {
      const r = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--status', 'failed', '--status', 'completed'])
      expect(r.code).to.equal(0)
      const ids = r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0])
      expect(ids).to.include.members(['hello-1', 'flaky-1'])
      const none = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--status', 'parked', '--json'])
      expect(JSON.parse(none.stdout)).to.deep.equal([])
    })

    it('prints a hostile or very long run id cleaned and cut on a terminal, whole in --json', async () => {
      const hostile = `evil\u001b]0;pwned\u0007\u001b[31mred\nrow\u202e${'x'.repeat(5_000)}`
      await runtime.start('hello', null, { id: hostile })
      await runtime.result(hostile)
      const ls = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--workflow', 'hello'])
      expect(ls.code).to.equal(0)
      // eslint-disable-next-line no-control-regex -- the point: no control character reaches the terminal
      expect(ls.stdout).not.to.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
      const row = ls.stdout.split('\n').find((l) => l.startsWith('evil'))
      expect(row).to.match(/^evil\\u001b\]0;pwned\\u0007\\u001b\[31mred\\nrow\\u202ex+…\s+hello\s+completed/)
      expect(Math.max(...ls.stdout.split('\n').map((l) => l.length))).to.be.below(250)
      const json = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--workflow', 'hello', '--json'])
      const ids = (JSON.parse(json.stdout) as ReadonlyArray<{ workflowId: string }>).map((r) => r.workflowId)
      expect(ids).to.include(hostile)
      const shown = await cli(['runs', 'show', hostile, '--store', `sqlite:${db}`])
      expect(shown.code).to.equal(0)
      // eslint-disable-next-line no-control-regex -- as above
      expect(shown.stdout).not.to.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
      // watch (plain lines, the run has ended): the id cleaned too
      const watched = await cli(['watch', hostile, '--store', `sqlite:${db}`])
      expect(watched.code).to.equal(0)
      // eslint-disable-next-line no-control-regex -- as above
      expect(watched.stdout).not.to.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
      expect(watched.stdout).to.match(/^run evil\\u001b\]0;pwned\\u0007\S* completed$/m)
      const unknown = await cli(['runs', 'show', `${hostile}-nope`, '--store', `sqlite:${db}`])
      expect(unknown.code).to.equal(3)
      expect(unknown.stderr.split('\n')).to.have.length(2) // one line, then the final newline
      expect(unknown.stderr).to.match(/^cano-rx: no run with id evil\\u001b\]0;pwned\\u0007/)
      expect(unknown.stderr.length).to.be.below(300)
    })

    it('show prints the record and its checkpoint log as a timeline', async () => {
      const shown = await cli(['runs', 'show', 'flaky-1', '--store', `sqlite:${db}`])
      expect(shown.code).to.equal(0)
      expect(shown.stdout).to.match(/^id:\s+flaky-1$/m)
      expect(shown.stdout).to.match(/^status:\s+failed$/m)
      expect(shown.stdout).to.match(/^error:\s+\{.*gate closed/m)
      expect(shown.stdout).to.match(/^SEQ\s+AT\s+KIND\s+STATE\s+PAYLOAD$/m)
      expect(shown.stdout).to.match(/^0\s+\S+Z\s+StateEntry\s+Try/m)
      const json = await cli(['runs', 'show', 'flaky-1', '--store', `sqlite:${db}`, '--json'])
      const parsed = JSON.parse(json.stdout) as { record: { status: string }; log: ReadonlyArray<{ kind: string }> }
      expect(parsed.record.status).to.equal('failed')
      expect(parsed.log[0]?.kind).to.equal('StateEntry')
      const completed = await cli(['runs', 'show', 'hello-1', '--store', `sqlite:${db}`])
      expect(completed.stdout).to.match(/^status:\s+completed$/m)
    })

    it('show prints the record of a run whose log has a corrupt row, and the log’s error (exit 4)', async () => {
      await runtime.start('flaky', null, { id: 'corrupt-1' })
      expect((await runtime.result('corrupt-1')).status).to.equal('failed')
      const raw = new Database(db)
      raw.prepare(`UPDATE cano_checkpoints SET payload = '{"trunc' WHERE workflow_id = 'corrupt-1' AND seq = 0`).run()
      raw.close()
      const shown = await cli(['runs', 'show', 'corrupt-1', '--store', `sqlite:${db}`])
      expect(shown.code).to.equal(4)
      expect(shown.stdout).to.match(/^id:\s+corrupt-1$/m)
      expect(shown.stdout).to.match(/^status:\s+failed$/m)
      expect(shown.stdout).to.match(/^log: \(unreadable\)$/m)
      expect(shown.stderr).to.match(/^cano-rx: the log of run corrupt-1 cannot be read: .*sequence 0/)
      const json = await cli(['runs', 'show', 'corrupt-1', '--store', `sqlite:${db}`, '--json'])
      expect(json.code).to.equal(4)
      const parsed = JSON.parse(json.stdout) as { record: { status: string }; logError: string }
      expect(parsed.record.status).to.equal('failed')
      expect(parsed.logError).to.match(/sequence 0/)
    })

    it('ls lists the readable runs when one record is corrupt and names it (exit 4); watch draws a run whose log is corrupt', async () => {
      await runtime.start('hello', null, { id: 'corrupt-record' })
      await runtime.result('corrupt-record')
      const raw = new Database(db)
      const set = raw.prepare(`UPDATE cano_checkpoints_runs SET status = ? WHERE workflow_id = 'corrupt-record'`)
      set.run('finished')
      try {
        const ls = await cli(['runs', 'ls', '--store', `sqlite:${db}`])
        expect(ls.code).to.equal(4)
        expect(ls.stdout).to.match(/^hello-1\s+hello\s+completed/m)
        expect(ls.stdout).not.to.contain('corrupt-record')
        expect(ls.stderr).to.match(/^cano-rx: the record of run corrupt-record cannot be read: .*RunRecord\/status/)
        expect(ls.stderr.trim().split('\n')).to.have.length(1)
        const json = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--json'])
        expect(json.code).to.equal(4)
        const ids = (JSON.parse(json.stdout) as ReadonlyArray<{ workflowId: string }>).map((r) => r.workflowId)
        expect(ids).to.include('hello-1').and.not.include('corrupt-record')
      } finally {
        set.run('completed')
        raw.close()
      }
      // corrupt-1's log has a corrupt row (the test above): watch draws its record and ends with its status
      const watched = await cli(['watch', 'corrupt-1', '--store', `sqlite:${db}`])
      expect(watched.code).to.equal(1)
      expect(watched.stdout).to.match(/^failed \? log unreadable/m)
      expect(watched.stdout).to.match(/^run corrupt-1 failed$/m)
      expect(watched.stderr).to.match(/^cano-rx: the log of run corrupt-1 cannot be read: .*sequence 0/)
    })

    it('ls aligns its columns after wide characters, emoji and combining marks', async () => {
      // each id with the terminal cells it takes (a wide character or an emoji two, a combining mark none)
      const ids: ReadonlyArray<readonly [string, number]> = [
        ['hello-1', 7],
        ['注文-1', 6],
        ['r🚀🚀', 5],
        ['c☕⭐✅', 7],
        ['e\u0301cole', 5],
        ['k\u{1B001}\u{17000}', 5],
        // as wcwidth-based terminals (tmux, xterm) draw a joined sequence: each emoji two cells, the joiners none
        ['fam👨\u200d👩\u200d👧', 9],
      ]
      for (const [id] of ids.slice(1)) {
        await runtime.start('hello', null, { id })
        await runtime.result(id)
      }
      const ls = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--workflow', 'hello'])
      expect(ls.code).to.equal(0)
      const lines = ls.stdout.split('\n')
      // the workflow column starts at the same terminal cell on every line
      const starts = ids.map(([id, cells]) => {
        const line = lines.find((l) => l.startsWith(id + ' '))
        if (line === undefined) return expect.fail(`no line for ${id}`)
        const gap = /^ +/.exec(line.slice(id.length))?.[0].length ?? 0
        expect(line.slice(id.length + gap).startsWith('hello'), line).to.equal(true)
        return cells + gap
      })
      expect(new Set(starts).size, String(starts)).to.equal(1)
    })

    it('show, cancel, clear and resume of an unknown id exit 3', async () => {
      for (const sub of ['show', 'cancel', 'clear', 'resume']) {
        const r = await cli(['runs', sub, 'no-such-run', '--config', CONFIG], env)
        expect([sub, r.code, r.stderr]).to.deep.equal([sub, 3, 'cano-rx: no run with id no-such-run\n'])
      }
    })

    it('cancel requests a live run to stop and refuses an ended one (exit 1)', async () => {
      const ended = await cli(['runs', 'cancel', 'hello-1', '--store', `sqlite:${db}`])
      expect([ended.code, ended.stderr]).to.deep.equal([1, 'cano-rx: run hello-1 already ended (completed)\n'])
      await runtime.start('gated', null, { id: 'cancel-me' })
      const r = await cli(['runs', 'cancel', 'cancel-me', '--store', `sqlite:${db}`])
      expect([r.code, r.stdout]).to.deep.equal([0, 'cancel requested for cancel-me\n'])
      expect((await runtime.result('cancel-me')).status).to.equal('cancelled')
    })

    it("clear empties an ended run's log", async () => {
      await runtime.start('flaky', null, { id: 'hello-clear' })
      await runtime.result('hello-clear')
      expect(await store.loadRun('hello-clear')).to.have.length.above(0)
      const r = await cli(['runs', 'clear', 'hello-clear', '--store', `sqlite:${db}`])
      expect([r.code, r.stdout]).to.deep.equal([0, 'cleared the checkpoint log of hello-clear\n'])
      expect(await store.loadRun('hello-clear')).to.deep.equal([])
      const shown = await cli(['runs', 'show', 'hello-clear', '--store', `sqlite:${db}`])
      expect(shown.stdout).to.contain('log: (empty)')
    })

    it('clear keeps the log of a run claimed again between its read and the clear (fenced), exit 1', async () => {
      await runtime.start('flaky', null, { id: 'clear-race' })
      await runtime.result('clear-race')
      const rows = await store.loadRun('clear-race')
      expect(rows).to.have.length.above(0)
      const r = await cli(['runs', 'clear', 'clear-race', '--config', CONFIG], {
        ...env,
        CANO_CLI_CLAIM_AFTER_GET: 'clear-race',
      })
      expect([r.code, r.stdout, r.stderr]).to.deep.equal([
        1,
        '',
        'cano-rx: run clear-race was claimed again meanwhile: its log is kept\n',
      ])
      expect(await store.loadRun('clear-race')).to.deep.equal(rows)
      expect((await store.runs.get('clear-race'))?.owner).to.equal('another-process')
    })

    it("resume runs a failed run again with the config's workflows (exit 0 once it completes)", async () => {
      const noConfig = await cli(['runs', 'resume', 'flaky-1', '--store', `sqlite:${db}`])
      expect([noConfig.code, noConfig.stderr]).to.deep.equal([
        2,
        'cano-rx: this command needs workflow definitions: give --config\n',
      ])
      writeFileSync(gate, '')
      try {
        const r = await cli(['runs', 'resume', 'flaky-1', '--config', CONFIG], env)
        expect([r.code, r.stdout]).to.deep.equal([0, 'resumed flaky-1\nflaky-1: completed\n'])
      } finally {
        rmSync(gate, { force: true })
      }
      expect((await store.runs.get('flaky-1'))?.status).to.equal('completed')
    })
  })

  describe('runs resume, interrupted', () => {
    it('Ctrl-C hands the run back at once (its lease released) and exits 1', async () => {
      await runtime.start('gated', null, { id: 'resume-int' })
      await cli(['runs', 'cancel', 'resume-int', '--store', `sqlite:${db}`])
      expect((await runtime.result('resume-int')).status).to.equal('cancelled')
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'roots/cli.ts', 'runs', 'resume', 'resume-int', '--config', CONFIG],
        {
          env: { ...process.env, ...env },
        },
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      const exited = new Promise<number | null>((done) => child.on('exit', (c) => done(c)))
      try {
        await until('the resume to start', 30_000, () => (stdout.includes('resumed resume-int') ? true : undefined))
        const held = await store.runs.get('resume-int')
        expect(held?.status).to.equal('running')
        expect(held?.owner).to.not.equal(null)
        child.kill('SIGINT')
        expect(await exited).to.equal(1)
        expect(stderr).to.match(/^cano-rx: interrupted: run resume-int handed back \(\w+\)\n$/)
        // not left owned by the dead process until its lease ends: released at once, and this test's own
        // runtime (a worker on the same file) may take it straight away
        const after = await store.runs.get('resume-int')
        expect(held?.owner).to.match(new RegExp(`^pid-${String(child.pid)}-`))
        expect(after?.owner ?? 'none').to.not.match(new RegExp(`^pid-${String(child.pid)}-`))
        expect(after?.leaseUntil === null || after?.owner === runtime.owner).to.equal(true)
      } finally {
        child.kill()
        await runtime.cancel('resume-int')
      }
    })
  })

  describe('graph', () => {
    it('prints the Mermaid diagram of the named workflow', async () => {
      const r = await cli(['graph', '--workflow', 'gated', '--config', CONFIG], env)
      expect(r.code).to.equal(0)
      expect(r.stdout).to.equal(`${cliWorkflows(gate)['gated']?.workflow.toMermaid() ?? 'none'}\n`)
      expect(r.stdout).to.match(/^stateDiagram/)
      const several = await cli(['graph', '--config', CONFIG], env)
      expect(several.code).to.equal(2)
      expect(several.stderr).to.equal('cano-rx: several workflows: choose one with --workflow (hello, flaky, gated)\n')
      const unknown = await cli(['graph', '--workflow', 'nope', '--config', CONFIG], env)
      expect([unknown.code, unknown.stderr]).to.deep.equal([
        3,
        'cano-rx: no workflow named nope (hello, flaky, gated)\n',
      ])
    })
  })

  describe('errors', () => {
    it('--version (-V) prints the package version, exit 0', async () => {
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string
      }
      for (const flag of ['--version', '-V']) {
        const r = await cli([flag])
        expect([r.code, r.stdout, r.stderr]).to.deep.equal([0, `cano-rx ${version}\n`, ''])
      }
    })

    it('usage errors exit 2', async () => {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [['runs', 'ls'], 'cano-rx: missing --store or --config\n'],
        [['frobnicate'], 'cano-rx: unknown command: frobnicate (see cano-rx --help)\n'],
        [['runs', 'rm', 'x'], 'cano-rx: unknown command: runs rm (see cano-rx --help)\n'],
        [['runs', 'show', '--store', `sqlite:${db}`], 'cano-rx: runs show needs a run id\n'],
        [['runs', 'ls', '--status', 'done', '--store', `sqlite:${db}`], ''],
      ]
      for (const [args, stderr] of cases) {
        const r = await cli(args)
        expect(r.code, args.join(' ')).to.equal(2)
        if (stderr !== '') expect(r.stderr).to.equal(stderr)
        else expect(r.stderr).to.match(/^cano-rx: unknown --status done/)
      }
      // a usage error is reported before the store is opened, even when the store is bad too
      const both = await cli(['runs', 'ls', '--status', 'done', '--store', `sqlite:${join(dir, 'absent.db')}`])
      expect(both.code).to.equal(2)
      expect(both.stderr).to.match(/^cano-rx: unknown --status done/)
      const badPort = await cli(['inspect', '--port', '70000', '--store', 'postgres://127.0.0.1:1/nowhere'])
      expect([badPort.code, badPort.stderr]).to.deep.equal([2, 'cano-rx: bad --port 70000 (an integer 0–65535)\n'])
      const unknownOption = await cli(['runs', 'ls', '--stroe', 'x'])
      expect(unknownOption.code).to.equal(2)
      expect(unknownOption.stderr).to.match(/^cano-rx: Unknown option '--stroe'/)
      expect(unknownOption.stderr).not.to.contain('    at ')
      const flagCases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [
          ['runs', 'ls', '--store', `sqlite:${db}`, '--store', `sqlite:${db}`],
          'cano-rx: --store given more than once\n',
        ],
        [
          ['runs', 'ls', '--workflow', 'a', '--workflow', 'b', '--store', `sqlite:${db}`],
          'cano-rx: --workflow given more than once\n',
        ],
        [
          ['runs', 'ls', '--port', '5', '--store', `sqlite:${db}`],
          'cano-rx: runs ls takes no --port (see cano-rx --help)\n',
        ],
        [
          ['graph', '--status', 'failed', '--config', CONFIG],
          'cano-rx: graph takes no --status (see cano-rx --help)\n',
        ],
        [['watch', 'x', '--json', '--store', `sqlite:${db}`], 'cano-rx: watch takes no --json (see cano-rx --help)\n'],
        [
          ['runs', 'cancel', 'x', '--workflow', 'w', '--store', `sqlite:${db}`],
          'cano-rx: runs cancel takes no --workflow (see cano-rx --help)\n',
        ],
      ]
      for (const [args, stderr] of flagCases) {
        const r = await cli(args, env)
        expect([args.join(' '), r.code, r.stderr]).to.deep.equal([args.join(' '), 2, stderr])
      }
      // an option missing its value: Node's parser says so over several lines; one is printed
      const noValue = await cli(['runs', 'ls', '--store', `sqlite:${db}`, '--status'])
      expect(noValue.code).to.equal(2)
      expect(noValue.stderr).to.match(/^cano-rx: Option '--status <value>' argument missing\n$/)
    })

    it('a missing or foreign SQLite file, a bad URL and an unreachable server exit 4', async () => {
      const missing = join(dir, 'missing.db')
      const r1 = await cli(['runs', 'ls', '--store', `sqlite:${missing}`])
      expect([r1.code, r1.stderr]).to.deep.equal([
        4,
        `cano-rx: no SQLite database at ${missing} (the CLI does not create one)\n`,
      ])
      expect(existsSync(missing)).to.equal(false)
      const text = join(dir, 'notes.txt')
      writeFileSync(text, 'not a database, just some text')
      const r2 = await cli(['runs', 'ls', '--store', `sqlite:${text}`])
      expect([r2.code, r2.stderr]).to.deep.equal([4, `cano-rx: ${text} is not a SQLite database\n`])
      const r3 = await cli(['runs', 'ls', '--store', 'postgres://'])
      expect([r3.code, r3.stderr]).to.deep.equal([4, 'cano-rx: bad PostgreSQL URL (no host): postgres://\n'])
      const r4 = await cli(['runs', 'ls', '--store', 'mysql://localhost/x'])
      expect([r4.code, r4.stderr]).to.deep.equal([
        4,
        'cano-rx: bad store: mysql://localhost/x (expected sqlite:PATH or postgres://…)\n',
      ])
      const r5 = await cli(['runs', 'ls', '--store', 'postgres://postgres@127.0.0.1:1/test'])
      expect(r5.code).to.equal(4)
      expect(r5.stderr).to.match(/^cano-rx: store unreachable: .*ECONNREFUSED/)
    })

    it('a PostgreSQL server that accepts and never answers: exit 4 after the probe timeout, not a hang', async () => {
      const silent = createServer(() => undefined)
      await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done))
      const address = silent.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      try {
        const t0 = Date.now()
        const r = await cli(['runs', 'ls', '--store', `postgres://postgres:s3cret@127.0.0.1:${String(port)}/test`])
        expect(r.code).to.equal(4)
        expect(r.stderr).to.match(/^cano-rx: store unreachable: .*timeout/i)
        expect(r.stderr).not.to.contain('s3cret')
        expect(Date.now() - t0).to.be.below(30_000)
      } finally {
        silent.close()
      }
    })

    it('a bad store URL is shown without its password', async () => {
      const r = await cli(['runs', 'ls', '--store', 'mysql://admin:s3cret@localhost/x'])
      expect([r.code, r.stderr]).to.deep.equal([
        4,
        'cano-rx: bad store: mysql://admin:***@localhost/x (expected sqlite:PATH or postgres://…)\n',
      ])
    })

    it('never turns another SQLite database or a missing PostgreSQL table into a store (exit 4, nothing created)', async () => {
      const other = join(dir, 'other.db')
      const made = new Database(other)
      made.exec('CREATE TABLE notes (body TEXT)')
      made.close()
      const before = readFileSync(other)
      for (const args of [
        ['runs', 'ls'],
        ['runs', 'show', 'x'],
        ['watch', 'x'],
      ]) {
        const r = await cli([...args, '--store', `sqlite:${other}`])
        expect([r.code, r.stderr]).to.deep.equal([
          4,
          `cano-rx: ${other} holds no cano-rx store (no cano_checkpoints table; the CLI does not create one)\n`,
        ])
      }
      expect(readFileSync(other).equals(before)).to.equal(true)
      const check = new Database(other, { readonly: true })
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
      check.close()
      expect(tables).to.deep.equal(['notes'])
      const table = `cano_cli_absent_${process.pid}`
      const r = await cli(['runs', 'ls', '--store', `${PG_URL}?table=${table}`])
      expect([r.code, r.stderr]).to.deep.equal([
        4,
        `cano-rx: no cano-rx store in table ${table} of that database (the CLI does not create one; ?table=NAME names another)\n`,
      ])
      const admin = new pg.Client({ connectionString: PG_URL })
      await admin.connect()
      try {
        const { rows } = await admin.query('SELECT tablename FROM pg_tables WHERE tablename LIKE $1', [`${table}%`])
        expect(rows).to.deep.equal([])
      } finally {
        await admin.end()
      }
      const badName = await cli(['runs', 'ls', '--store', `${PG_URL}?table=a;drop`])
      expect(badName.code).to.equal(4)
      expect(badName.stderr).to.match(/^cano-rx: .*table must be an identifier/)
    })

    it('stops quietly when the reader of its output goes away (no EPIPE stack trace)', async () => {
      const child = spawn(process.execPath, [
        '--import',
        'tsx',
        'roots/cli.ts',
        'runs',
        'show',
        'flaky-1',
        '--store',
        `sqlite:${db}`,
      ])
      // the reader is gone before the CLI writes a byte
      child.stdout.destroy()
      let stderr = ''
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
      const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)))
      expect([code, stderr]).to.deep.equal([0, ''])
    })
  })

  describe('watch', () => {
    it('prints plain progress lines when stdout is not a terminal, and exits 0 on completion', async () => {
      await runtime.start('gated', null, { id: 'watch-plain' })
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'roots/cli.ts', 'watch', 'watch-plain', '--store', `sqlite:${db}`],
        { env: { ...process.env, ...env } },
      )
      let stdout = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
      try {
        await until('the Gate state', 30_000, () => (stdout.includes('running Gate') ? true : undefined))
        expect(stdout).not.to.contain('\x1b[')
        writeFileSync(gate, '')
        expect(await exited).to.equal(0)
        expect(stdout.trim().split('\n').at(-1)).to.equal('run watch-plain completed')
      } finally {
        rmSync(gate, { force: true })
        child.kill()
      }
    })

    it('exits 1 for a run that ends cancelled', async () => {
      await runtime.start('gated', null, { id: 'watch-cancel' })
      const watching = cli(['watch', 'watch-cancel', '--store', `sqlite:${db}`])
      await runtime.cancel('watch-cancel')
      const r = await watching
      expect([r.code, r.stdout.trim().split('\n').at(-1)]).to.deep.equal([1, 'run watch-cancel cancelled'])
    })

    const tmux = (args: ReadonlyArray<string>): string => {
      const r = spawnSync('tmux', args, { encoding: 'utf8' })
      return r.stdout
    }

    const underTmux = async (name: string, command: string, id: string): Promise<void> => {
      const envs = Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
      tmux(['new-session', '-d', '-s', name, '-x', '120', '-y', '30', `${envs} ${command}; echo "exit=$?"; sleep 30`])
      try {
        const screen = (): string => tmux(['capture-pane', '-p', '-t', name])
        const progress = await until('the progress screen', 30_000, () => {
          const s = screen()
          return /state +Gate/.test(s) ? s : undefined
        })
        expect(progress).to.match(new RegExp(`run ${id} +status running`))
        expect(progress).to.match(/^ {2}batch +-$/m)
        writeFileSync(gate, '')
        const final = await until('the outcome', 30_000, () => {
          const s = screen()
          return s.includes('exit=') ? s : undefined
        })
        expect(final).to.match(new RegExp(`run ${id} +status completed`))
        expect(final).to.contain(`run ${id} completed\nexit=0`)
        // redrawn in place: the status block appears once on the screen
        expect(final.match(/ {2}state +/g)).to.have.length(1)
      } finally {
        rmSync(gate, { force: true })
        tmux(['kill-session', '-t', name])
      }
    }

    it('fits its lines to a narrow terminal, and redraws after the terminal is resized (tmux)', async () => {
      const id = `watch-narrow-${'x'.repeat(80)}`
      await runtime.start('gated', null, { id })
      const name = `cano-cli-${process.pid}-n`
      const envs = Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
      const command = `node --import tsx roots/cli.ts watch ${id} --store sqlite:${db}`
      tmux(['new-session', '-d', '-s', name, '-x', '60', '-y', '30', `${envs} ${command}; echo "exit=$?"; sleep 30`])
      try {
        const screen = (): string => tmux(['capture-pane', '-p', '-t', name])
        await until('the progress screen', 30_000, () => (/state +Gate/.test(screen()) ? true : undefined))
        tmux(['resize-window', '-t', name, '-x', '40', '-y', '30'])
        // a few redraws (every 200 ms) at the new width
        await new Promise((r) => setTimeout(r, 1_000))
        const narrow = screen()
        const lines = narrow.split('\n')
        for (const line of lines) expect(line.length, line).to.be.at.most(40)
        // each line of the block once: a line that wrapped left a stale copy above on every redraw
        expect(narrow.match(/^run watch-narrow-x+…/gm), narrow).to.have.length(1)
        expect(narrow.match(/ {2}state +/g), narrow).to.have.length(1)
        writeFileSync(gate, '')
        const final = await until('the outcome', 30_000, () => {
          const s = screen()
          return s.includes('exit=') ? s : undefined
        })
        expect(final).to.contain('exit=0')
      } finally {
        rmSync(gate, { force: true })
        tmux(['kill-session', '-t', name])
      }
    })

    it("Ctrl-C stops the config's runtime, which hands its run back (not left owned by a dead process), exit 130", async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'roots/cli.ts', 'watch', 'watch-int', '--config', CONFIG],
        { env: { ...process.env, ...env, CANO_CLI_RUNTIME: '1', CANO_CLI_START: 'watch-int' } },
      )
      let stdout = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
      try {
        await until('the Gate state', 30_000, () => (stdout.includes('running Gate') ? true : undefined))
        expect((await store.runs.get('watch-int'))?.status).to.equal('running')
        const owner = (await store.runs.get('watch-int'))?.owner ?? ''
        expect(owner).to.match(new RegExp(`^pid-${String(child.pid)}-`))
        child.kill('SIGINT')
        expect(await exited).to.equal(130)
        // handed back: pending, or already claimed by this test's own runtime (a worker on the same store)
        const record = await store.runs.get('watch-int')
        expect(record?.owner ?? null).not.to.equal(owner)
        expect(record?.status).to.be.oneOf(['pending', 'running'])
      } finally {
        child.kill()
        await store.runs.requestCancel('watch-int')
      }
    })

    it('redraws in place under a terminal (tmux), polling the store', async () => {
      await runtime.start('gated', null, { id: 'watch-tty' })
      await underTmux(
        `cano-cli-${process.pid}-a`,
        `node --import tsx roots/cli.ts watch watch-tty --store sqlite:${db}`,
        'watch-tty',
      )
    })

    it("redraws in place under a terminal (tmux), from the events of the config's runtime", async () => {
      await underTmux(
        `cano-cli-${process.pid}-b`,
        `CANO_CLI_RUNTIME=1 CANO_CLI_START=watch-events node --import tsx roots/cli.ts watch watch-events --config ${CONFIG}`,
        'watch-events',
      )
    })
  })
  describe('inspect', () => {
    it("serves the inspector over the config's store and workflows until SIGTERM (exit 0)", async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'roots/cli.ts', 'inspect', '--port', '0', '--config', CONFIG],
        { env: { ...process.env, ...env } },
      )
      let stdout = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)))
      try {
        // wait for both lines (a pipe may deliver them in two chunks)
        const url = await until('the inspector URL and token', 30_000, () =>
          /^token: +\S{16,}$/m.test(stdout) ? /^inspector: (\S+)$/m.exec(stdout)?.[1] : undefined,
        )
        const answer = await fetch(new URL('/api/runs', url), { headers: { Accept: 'application/json' } })
        expect(answer.status).to.equal(200)
        expect(JSON.stringify(await answer.json())).to.contain('hello-1')
        child.kill('SIGTERM')
        expect(await exited).to.equal(0)
      } finally {
        child.kill()
      }
    })

    it('exits 2 at once when it cannot listen (the runtime it built is stopped, nothing left running)', async () => {
      const taken = createServer()
      await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done))
      const address = taken.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      try {
        const t0 = Date.now()
        const r = await cli(['inspect', '--port', String(port), '--config', CONFIG], env)
        expect(r.code).to.equal(2)
        expect(r.stderr).to.match(/^cano-rx: .*cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/)
        expect(r.stderr.split('\n')).to.have.length(2)
        expect(Date.now() - t0).to.be.below(30_000)
      } finally {
        await new Promise((done) => taken.close(done))
      }
    })

    it('rejects a bad --port (exit 2)', async () => {
      const r = await cli(['inspect', '--port', 'http', '--config', CONFIG], env)
      expect([r.code, r.stderr]).to.deep.equal([2, 'cano-rx: bad --port http (an integer 0–65535)\n'])
    })
  })
})

describe('cano-rx CLI on PostgreSQL (spawned)', function () {
  this.timeout(60_000)
  const table = `cano_cli_${process.pid}_${Date.now()}`
  const url = `${PG_URL}?table=${table}`
  let store: RunStore
  let runtime: Runtime

  before(async () => {
    store = postgresCheckpoints({ connectionString: PG_URL, table })
    runtime = createRuntime({ store, workflows: cliWorkflows(''), pollMs: 50 })
    await runtime.start('flaky', null, { id: 'pg-hello' })
    await runtime.result('pg-hello')
  })

  after(async () => {
    await runtime.stop({ graceMs: 0 })
    await store.close()
    const admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    const { rows } = await admin.query<{ tablename: string }>(
      `select tablename from pg_tables where tablename like $1`,
      [`${table}%`],
    )
    for (const r of rows) await admin.query(`drop table if exists "${r.tablename}" cascade`)
    await admin.end()
  })

  it('runs ls, runs show and an unknown id', async () => {
    const ls = await cli(['runs', 'ls', '--store', url])
    expect(ls.code).to.equal(0)
    expect(ls.stdout.trim().split('\n').slice(1))
      .to.have.length(1)
      .and.to.match(/^pg-hello\s+flaky\s+failed/)
    const shown = await cli(['runs', 'show', 'pg-hello', '--store', url])
    expect(shown.code).to.equal(0)
    expect(shown.stdout).to.match(/^0\s+\S+Z\s+StateEntry\s+Try/m)
    const unknown = await cli(['runs', 'show', 'nope', '--store', url])
    expect([unknown.code, unknown.stderr]).to.deep.equal([3, 'cano-rx: no run with id nope\n'])
  })
})
