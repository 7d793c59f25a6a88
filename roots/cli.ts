#!/usr/bin/env node
/**
 * The `cano-rx` command line: list, show, cancel, clear and resume runs, print a workflow's diagram,
 * watch a run's progress, and serve the web inspector. See docs/observability.md ("CLI") for the
 * commands, the `--config` module's shape and the exit codes.
 *
 * Exit codes: 0 ok; 1 the run failed or was cancelled (`watch`, `runs resume`) or the action did not
 * happen (`runs cancel` of an ended run, `runs clear` of a live run); 2 usage; 3 unknown run id or
 * workflow; 4 store unreachable, bad URL or not a SQLite database.
 *
 * @since 0.3.0
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

import type { Subscription } from 'rxjs'

import type { CheckpointRow } from '../codecs/CheckpointRow.js'
import { CanoFailure } from '../src/CanoError.js'
import type { RunStore } from '../src/CheckpointStore.js'
import { initialRunState, reduceRunState, type RunState } from '../src/RunState.js'
import { isTerminal, RUN_STATUSES, type RunRecord, type RunRecordStatus } from '../src/RunTable.js'
import { createRuntime, type Runtime, type RuntimeWorkflow } from './Runtime.js'
import { loadPeer } from './stores/internal/connectionShell.js'

// -------------------------------------------------------------------------------------
// errors and output
// -------------------------------------------------------------------------------------

/** Exit codes, as documented. */
const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, store: 4 } as const

class CliError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

const out = (line: string): void => {
  process.stdout.write(line + '\n')
}

/**
 * `s` safe to print on a terminal: control characters (C0, DEL, C1: escape sequences, newlines, bells)
 * and bidirectional overrides shown as `\u….` escapes, so that a run id or an error message can neither
 * move the cursor, retitle the terminal nor break a line or a table row.
 */
const clean = (s: string): string =>
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )

/** `s` cleaned and cut to `max` characters (a trailing `…` when cut). */
const cut = (s: string, max: number): string => {
  const c = clean(s)
  if (c.length <= max) return c
  // never half a surrogate pair before the `…`
  const end = max - 1
  const code = c.charCodeAt(end - 1)
  return c.slice(0, code >= 0xd800 && code <= 0xdbff ? end - 1 : end) + '…'
}

/** A run id or name in a message: cleaned, and cut when very long. */
const shown = (s: string): string => cut(s, 200)

/** Resolves at the first Ctrl-C or `TERM`. */
const interrupted = (): Promise<void> =>
  new Promise<void>((done) => {
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })

const USAGE = `Usage: cano-rx <command> [options]

Commands:
  runs ls [--status S]… [--workflow W] [--json]  list runs, newest first (--status again for several)
  runs show <id> [--json]                       a run's record and its checkpoint log as a timeline
  runs cancel <id>                              ask a run to stop (from any process)
  runs clear <id>                               clear an ended run's checkpoint log
  runs resume <id>                              run a failed/timed-out/cancelled run again here (needs --config)
  graph [--workflow W]                          a workflow's Mermaid diagram (needs --config)
  watch <id>                                    live progress of a run until it ends
  inspect [--port P] [--host H]                 serve the web inspector (needs a runtime: --config)

Store (one of):
  --store sqlite:PATH | postgres://USER@HOST:PORT/DB[?table=NAME]
  --config FILE   an ES module whose default export is a Runtime or { store, workflows }

Other options:
  --help, -h      this text
  --version, -V   the version of cano-rx

Exit codes: 0 ok, 1 run failed/cancelled or action refused, 2 usage, 3 not found, 4 store error.
`

/** This package's version: from its package.json, the first one above this module (its sources or its build). */
const packageVersion = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'cano-rx' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // none here: look further up
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

const STATUSES = RUN_STATUSES

// -------------------------------------------------------------------------------------
// the store and the runtime
// -------------------------------------------------------------------------------------

interface Source {
  readonly store: RunStore | undefined
  readonly workflows: Readonly<Record<string, RuntimeWorkflow>> | undefined
  /** A runtime running in this process (the config's own). */
  readonly runtime: Runtime | undefined
  readonly close: () => Promise<void>
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null

const isRuntime = (u: unknown): u is Runtime =>
  isRecord(u) && typeof u['start'] === 'function' && typeof u['resume'] === 'function' && 'events$' in u

const isRunStore = (u: unknown): u is RunStore =>
  isRecord(u) && typeof u['loadRun'] === 'function' && isRecord(u['runs']) && typeof u['clear'] === 'function'

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const SQLITE_MAGIC = 'SQLite format 3\0'

const openSqlite = async (path: string): Promise<RunStore> => {
  if (!existsSync(path))
    throw new CliError(EXIT.store, `no SQLite database at ${shown(path)} (the CLI does not create one)`)
  if (!statSync(path).isFile()) throw new CliError(EXIT.store, `${shown(path)} is not a file`)
  const fd = openSync(path, 'r')
  const head = Buffer.alloc(16)
  const read = readSync(fd, head, 0, 16, 0)
  closeSync(fd)
  if (read < 16 || head.toString('latin1') !== SQLITE_MAGIC)
    throw new CliError(EXIT.store, `${shown(path)} is not a SQLite database`)
  // the store creates its tables on first use: look for them first, read-only, so that the CLI never
  // turns some other database into a cano-rx store
  const Driver = await loadPeer('cano-rx', 'better-sqlite3', 'npm install better-sqlite3@12', async () => {
    const mod = await import('better-sqlite3')
    return mod.default
  })
  let present: boolean
  try {
    const db = new Driver(path, { readonly: true, fileMustExist: true })
    try {
      present =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cano_checkpoints'").get() !== undefined
    } finally {
      db.close()
    }
  } catch (e) {
    throw new CliError(EXIT.store, `cannot read ${shown(path)}: ${message(e)}`)
  }
  if (!present)
    throw new CliError(
      EXIT.store,
      `${shown(path)} holds no cano-rx store (no cano_checkpoints table; the CLI does not create one)`,
    )
  const { sqliteCheckpoints } = await import('./stores/sqliteCheckpoints.js')
  return sqliteCheckpoints(path)
}

const openPostgres = async (spec: string): Promise<RunStore> => {
  let url: URL
  try {
    url = new URL(spec)
  } catch {
    throw new CliError(EXIT.store, `bad PostgreSQL URL: ${shown(redacted(spec))}`)
  }
  if (url.hostname === '') throw new CliError(EXIT.store, `bad PostgreSQL URL (no host): ${shown(redacted(spec))}`)
  const table = url.searchParams.get('table') ?? undefined
  url.searchParams.delete('table')
  const { postgresCheckpoints } = await import('./stores/postgresCheckpoints.js')
  const connectionString = url.toString()
  let store: RunStore
  try {
    store = postgresCheckpoints({ connectionString, ...(table === undefined ? {} : { table }) })
  } catch (e) {
    // a table name the store refuses
    throw new CliError(EXIT.store, message(e))
  }
  // the store creates its tables on first use: look for the table first, so that a mistyped name is an
  // error rather than a new, empty store
  const name = table ?? 'cano_checkpoints'
  const Client = await loadPeer('cano-rx', 'pg', 'npm install pg', async () => {
    const mod = await import('pg')
    return mod.default.Client
  })
  // a server that accepts the connection and never answers: an error after PROBE_TIMEOUT_MS, not a hang
  const client = new Client({
    connectionString,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  })
  try {
    await client.connect()
    const found = await client.query<{ readonly present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
      name
        .split('.')
        .map((part) => `"${part}"`)
        .join('.'),
    ])
    if (found.rows[0]?.present !== true)
      throw new CliError(
        EXIT.store,
        `no cano-rx store in table ${shown(name)} of that database (the CLI does not create one; ?table=NAME names another)`,
      )
  } catch (e) {
    await store.close().catch(() => undefined)
    if (e instanceof CliError) throw e
    throw new CliError(EXIT.store, `store unreachable: ${message(e)}`)
  } finally {
    await client.end().catch(() => undefined)
  }
  return store
}

/** How long the CLI waits for a PostgreSQL server to answer its first query. */
const PROBE_TIMEOUT_MS = 10_000

/** A store URL as it may be printed: a password in it replaced by `***`. */
const redacted = (spec: string): string => spec.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@')

const openStore = async (spec: string): Promise<RunStore> => {
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length)
    if (path === '') throw new CliError(EXIT.store, 'bad store: sqlite: needs a path (sqlite:PATH)')
    return openSqlite(path)
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) return openPostgres(spec)
  throw new CliError(EXIT.store, `bad store: ${shown(redacted(spec))} (expected sqlite:PATH or postgres://…)`)
}

/** A cheap read that fails when the store cannot be reached or is not a cano-rx store. */
const probe = async (store: RunStore): Promise<void> => {
  try {
    // a corrupt record read here is the commands' to report (`runs ls` names it), not a dead store
    await store.runs.list({ limit: 1, onUnreadable: () => undefined })
  } catch (e) {
    await store.close().catch(() => undefined)
    throw new CliError(EXIT.store, `store unreachable: ${message(e)}`)
  }
}

const loadConfig = async (file: string): Promise<Source> => {
  const path = resolve(file)
  if (!existsSync(path)) throw new CliError(EXIT.usage, `config file not found: ${file}`)
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (e) {
    throw new CliError(EXIT.usage, `cannot load config ${file}: ${message(e)}`)
  }
  const def = mod['default']
  if (isRuntime(def)) {
    const store = isRunStore(mod['store']) ? mod['store'] : undefined
    return {
      store,
      workflows: def.workflows,
      runtime: def,
      close: async () => {
        await def.stop({ graceMs: 0 })
        if (store !== undefined) await store.close()
      },
    }
  }
  if (isRecord(def) && isRunStore(def['store'])) {
    const store = def['store']
    const workflows = isRecord(def['workflows'])
      ? (def['workflows'] as Readonly<Record<string, RuntimeWorkflow>>)
      : undefined
    return { store, workflows, runtime: undefined, close: () => store.close() }
  }
  throw new CliError(EXIT.usage, `config ${file}: the default export must be a Runtime or { store, workflows }`)
}

interface Flags {
  readonly store: string | undefined
  readonly config: string | undefined
}

const openSource = async (flags: Flags): Promise<Source> => {
  if (flags.config !== undefined) {
    const source = await loadConfig(flags.config)
    if (flags.store !== undefined) {
      const store = await openStore(flags.store)
      await probe(store)
      return {
        ...source,
        store,
        close: async () => {
          await source.close()
          await store.close()
        },
      }
    }
    if (source.store !== undefined) await probe(source.store)
    return source
  }
  if (flags.store === undefined) throw new CliError(EXIT.usage, 'missing --store or --config')
  const store = await openStore(flags.store)
  await probe(store)
  return { store, workflows: undefined, runtime: undefined, close: () => store.close() }
}

const needStore = (source: Source): RunStore => {
  if (source.store === undefined)
    throw new CliError(EXIT.usage, 'this command reads the store: give --store, or export `store` from the config')
  return source.store
}

const needWorkflows = (source: Source): Readonly<Record<string, RuntimeWorkflow>> => {
  if (source.workflows === undefined || Object.keys(source.workflows).length === 0)
    throw new CliError(EXIT.usage, 'this command needs workflow definitions: give --config')
  return source.workflows
}

/** The config's runtime, or one built over the store with the config's workflows. */
const needRuntime = (source: Source): { readonly runtime: Runtime; readonly owned: boolean } => {
  if (source.runtime !== undefined) return { runtime: source.runtime, owned: false }
  const workflows = needWorkflows(source)
  return { runtime: createRuntime({ store: needStore(source), workflows }), owned: true }
}

const getRecord = async (store: RunStore, id: string): Promise<RunRecord> => {
  const record = await store.runs.get(id)
  if (record === undefined) throw new CliError(EXIT.notFound, `no run with id ${shown(id)}`)
  return record
}

// -------------------------------------------------------------------------------------
// formatting
// -------------------------------------------------------------------------------------

const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString())

/** The widest a table cell is printed (longer ones are cut with `…`; `--json` has them whole). */
const CELL = 64

/** Characters a terminal draws in no cell: combining and enclosing marks, format characters (a zero-width joiner, a variation selector). */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u
/** Emoji drawn as emoji by default (☕, ✅, ⭐, 🚀, 🟢, 🫠, 🀄…): two cells. */
const EMOJI = /^\p{Emoji_Presentation}$/u

/**
 * The cells a character (one code point) takes in a terminal: 0 for marks and format characters, 2 for
 * the East Asian wide and fullwidth ranges and emoji, else 1.
 */
const cells = (ch: string): number => {
  const code = ch.codePointAt(0) ?? 0
  if (code < 0x300) return 1
  if (ZERO_WIDTH.test(ch)) return 0
  // the East Asian Wide and Fullwidth blocks (Unicode's EastAsianWidth.txt, which JavaScript's regular
  // expressions cannot name)
  return (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2329 && code <= 0x232a) ||
    (code >= 0x2e80 && code <= 0xa4cf) ||
    (code >= 0xa960 && code <= 0xa97f) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe10 && code <= 0xfe19) ||
    (code >= 0xfe30 && code <= 0xfe6f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x16fe0 && code <= 0x16fe4) ||
    (code >= 0x16ff0 && code <= 0x16ff1) ||
    (code >= 0x17000 && code <= 0x18cff) ||
    (code >= 0x18d00 && code <= 0x18d08) ||
    (code >= 0x1aff0 && code <= 0x1b2ff) ||
    (code >= 0x1f200 && code <= 0x1f2ff) ||
    (code >= 0x20000 && code <= 0x3fffd) ||
    EMOJI.test(ch)
    ? 2
    : 1
}

/** The terminal cells `s` takes (a wide character two). */
const widthOf = (s: string): number => {
  let w = 0
  for (const ch of s) w += cells(ch)
  return w
}

const table = (header: ReadonlyArray<string>, given: ReadonlyArray<ReadonlyArray<string>>): string => {
  const rows = given.map((r) => r.map((c) => cut(c, CELL)))
  // a loop, not Math.max(...cells): spreading the cells of 125 000 rows overflowed the stack; columns
  // measured in terminal cells, so that a column after wide characters stays aligned
  const widths = header.map((h) => h.length)
  const measured = rows.map((r) => r.map(widthOf))
  for (const r of measured) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i] ?? 0, r[i] ?? 0)
  const line = (cells: ReadonlyArray<string>, w: ReadonlyArray<number>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - (w[i] ?? 0)))))
      .join('  ')
      .trimEnd()
  return [
    line(
      header,
      header.map((h) => h.length),
    ),
    ...rows.map((r, i) => line(r, measured[i] ?? [])),
  ].join('\n')
}

const short = (u: unknown, max = 60): string => cut(u === null || u === undefined ? '-' : JSON.stringify(u), max)

const timeline = (rows: ReadonlyArray<CheckpointRow>): string =>
  table(
    ['SEQ', 'AT', 'KIND', 'STATE', 'PAYLOAD'],
    rows.map((r) => [String(r.seq), iso(r.at), r.kind, r.state, short(r.payload)]),
  )

// -------------------------------------------------------------------------------------
// commands
// -------------------------------------------------------------------------------------

interface Options extends Flags {
  /** `--status`, repeated for several. */
  readonly status: ReadonlyArray<RunRecordStatus> | undefined
  readonly workflow: string | undefined
  readonly json: boolean
  readonly port: string | undefined
  readonly host: string | undefined
}

const idArg = (positionals: ReadonlyArray<string>, index: number, command: string): string => {
  const id = positionals[index]
  if (id === undefined || id === '') throw new CliError(EXIT.usage, `${command} needs a run id`)
  if (positionals.length > index + 1)
    throw new CliError(EXIT.usage, `unexpected argument: ${shown(positionals[index + 1] ?? '')}`)
  return id
}

const runsLs = async (source: Source, o: Options): Promise<number> => {
  const store = needStore(source)
  // a record that does not decode (a corrupt row) does not hide the others: they are listed, and each
  // unreadable one is named on stderr, with exit code 4
  const unreadable: Array<readonly [string, string]> = []
  let unreadableCount = 0
  const records = await store.runs.list({
    ...(o.status === undefined ? {} : { status: o.status }),
    ...(o.workflow === undefined ? {} : { workflow: o.workflow }),
    onUnreadable: (id, error) => {
      if (unreadableCount++ < MAX_UNREADABLE_SHOWN) unreadable.push([id, error.message])
    },
  })
  if (o.json) out(JSON.stringify(records))
  else
    out(
      table(
        ['ID', 'WORKFLOW', 'STATUS', 'CREATED', 'UPDATED', 'OWNER'],
        records.map((r) => [r.workflowId, r.workflow, r.status, iso(r.createdAt), iso(r.updatedAt), r.owner ?? '-']),
      ),
    )
  for (const [id, why] of unreadable)
    process.stderr.write(`cano-rx: the record of run ${shown(id)} cannot be read: ${cut(why, 1_000)}\n`)
  if (unreadableCount > unreadable.length)
    process.stderr.write(`cano-rx: … and ${String(unreadableCount - unreadable.length)} more unreadable records\n`)
  return unreadableCount === 0 ? EXIT.ok : EXIT.store
}

/** The unreadable records `runs ls` names one by one; past them, a count. */
const MAX_UNREADABLE_SHOWN = 20

const runsShow = async (source: Source, id: string, o: Options): Promise<number> => {
  const store = needStore(source)
  const record = await getRecord(store, id)
  // a log that does not load (a corrupt row) does not hide the record: it is shown, the log's error said
  let log: ReadonlyArray<CheckpointRow> | undefined
  let logError: string | undefined
  try {
    log = await store.loadRun(id)
  } catch (e) {
    logError = message(e)
  }
  if (o.json) {
    out(JSON.stringify(log === undefined ? { record, logError } : { record, log }))
    if (logError !== undefined)
      process.stderr.write(`cano-rx: the log of run ${shown(id)} cannot be read: ${cut(logError, 1_000)}\n`)
    return logError === undefined ? EXIT.ok : EXIT.store
  }
  const fields: ReadonlyArray<readonly [string, string]> = [
    ['id', record.workflowId],
    ['workflow', `${record.workflow} (version ${record.version})`],
    ['status', record.status + (record.cancelRequested && !isTerminal(record.status) ? ' (cancel requested)' : '')],
    ['initial', record.initial],
    ['owner', record.owner ?? '-'],
    ['created', iso(record.createdAt)],
    ['updated', iso(record.updatedAt)],
    ['ended', iso(record.endedAt)],
    ['input', short(record.input, 200)],
    ['output', short(record.output, 200)],
    ['error', short(record.error, 200)],
  ]
  for (const [k, v] of fields) out(`${(k + ':').padEnd(10)}${cut(v, 1_000)}`)
  out('')
  if (log === undefined) {
    out('log: (unreadable)')
    process.stderr.write(`cano-rx: the log of run ${shown(id)} cannot be read: ${cut(logError ?? '', 1_000)}\n`)
    return EXIT.store
  }
  out(log.length === 0 ? 'log: (empty)' : `log (${log.length} rows):\n${timeline(log)}`)
  return EXIT.ok
}

const runsCancel = async (source: Source, id: string): Promise<number> => {
  const store = needStore(source)
  const record = await getRecord(store, id)
  const requested = source.runtime !== undefined ? await source.runtime.cancel(id) : await store.runs.requestCancel(id)
  if (!requested) {
    // it may have ended between the read above and the request: its status now
    const now = (await store.runs.get(id))?.status ?? record.status
    process.stderr.write(`cano-rx: run ${shown(id)} already ended (${now})\n`)
    return EXIT.failed
  }
  out(`cancel requested for ${shown(id)}`)
  return EXIT.ok
}

const runsClear = async (source: Source, id: string): Promise<number> => {
  const store = needStore(source)
  const record = await getRecord(store, id)
  if (!isTerminal(record.status)) {
    process.stderr.write(`cano-rx: run ${shown(id)} is ${record.status}: only an ended run's log can be cleared\n`)
    return EXIT.failed
  }
  // fenced with the record's token: a resume that claims the run after the read above moves the token on,
  // and the clear is refused rather than removing the log of a run executing again
  try {
    await store.clear(id, record.fence)
  } catch (e) {
    if (e instanceof CanoFailure && e.error._tag === 'LeaseLost') {
      process.stderr.write(`cano-rx: run ${shown(id)} was claimed again meanwhile: its log is kept\n`)
      return EXIT.failed
    }
    throw e
  }
  out(`cleared the checkpoint log of ${shown(id)}`)
  return EXIT.ok
}

const runsResume = async (source: Source, id: string): Promise<number> => {
  const store = needStore(source)
  await getRecord(store, id)
  const { runtime, owned } = needRuntime(source)
  // Ctrl-C (or a TERM) while the run executes here: stop the runtime, which hands the run back (its
  // lease released, so another worker, or a later resume, takes it at once) rather than leaving it
  // owned by a dead process until its lease runs out
  const interrupt = interrupted()
  try {
    try {
      await runtime.resume(id)
    } catch (e) {
      process.stderr.write(`cano-rx: cannot resume ${shown(id)}: ${cut(message(e), 2_000)}\n`)
      return EXIT.failed
    }
    out(`resumed ${shown(id)}`)
    const result = await Promise.race([runtime.result(id), interrupt.then(() => undefined)])
    if (result === undefined) {
      await runtime.stop({ graceMs: 0 })
      const now = await runtime.get(id)
      process.stderr.write(`cano-rx: interrupted: run ${shown(id)} handed back (${now?.status ?? 'gone'})\n`)
      return EXIT.failed
    }
    out(`${shown(id)}: ${result.status}`)
    return result.status === 'completed' ? EXIT.ok : EXIT.failed
  } finally {
    if (owned) await runtime.stop({ graceMs: 0 })
  }
}

const graph = (source: Source, o: Options): number => {
  const workflows = needWorkflows(source)
  const names = Object.keys(workflows)
  const name = o.workflow ?? (names.length === 1 ? names[0] : undefined)
  if (name === undefined)
    throw new CliError(EXIT.usage, `several workflows: choose one with --workflow (${names.map(shown).join(', ')})`)
  const entry = workflows[name]
  if (entry === undefined)
    throw new CliError(EXIT.notFound, `no workflow named ${shown(name)} (${names.map(shown).join(', ')})`)
  out(entry.workflow.toMermaid())
  return EXIT.ok
}

// --- watch ---------------------------------------------------------------------------

interface Progress {
  readonly status: string
  readonly state: string
  readonly attempt: string
  readonly batch: string
  readonly branches: string
  readonly cursor: string
  readonly rows: string
}

const bar = (done: number, total: number, width = 20): string => {
  const filled = total <= 0 ? 0 : Math.round((Math.min(done, total) / total) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`
}

const fromRunState = (s: RunState, record: RunRecord | undefined): Progress => ({
  status: record?.status ?? s.status,
  state: s.current ?? '-',
  attempt: `attempt ${s.attempt}, retries ${s.totalRetries}`,
  batch: s.batch === undefined ? '-' : bar(s.batch.done + s.batch.failed, s.batch.total),
  branches:
    s.branches.length === 0
      ? '-'
      : bar(s.branches.filter((b) => b.status !== 'pending' && b.status !== 'running').length, s.branches.length),
  cursor: s.cursor === undefined ? '-' : `step ${s.step} cursor ${short(s.cursor, 40)}`,
  rows: String(s.lastSeq ?? 0),
})

const fromLog = (record: RunRecord, log: ReadonlyArray<CheckpointRow>): Progress => {
  const entries = log.filter((r) => r.kind === 'StateEntry')
  const last = entries[entries.length - 1]
  const sameState = last === undefined ? 0 : entries.filter((r) => r.state === last.state).length
  const cursors = log.filter((r) => r.kind === 'StepCursor')
  const lastCursor = cursors[cursors.length - 1]
  return {
    status: record.status,
    // with no entry row: not started yet (the initial state comes next), or ended and its log cleared
    state: last?.state ?? (isTerminal(record.status) ? '-' : record.initial),
    attempt: `visits ${sameState}`,
    batch: '-',
    branches: '-',
    cursor: lastCursor === undefined ? '-' : `step ${cursors.length} cursor ${short(lastCursor.payload, 40)}`,
    rows: String(log.length),
  }
}

/** What `watch` shows of a run whose log does not load (a corrupt row): its record. */
const fromRecord = (record: RunRecord): Progress => ({
  status: record.status,
  state: '?',
  attempt: 'log unreadable',
  batch: '-',
  branches: '-',
  cursor: '-',
  rows: 'unreadable',
})

const renderProgress = (id: string, p: Progress): ReadonlyArray<string> => [
  `run ${shown(id)}  status ${p.status}`,
  `  state    ${shown(p.state)} (${p.attempt})`,
  `  batch    ${p.batch}`,
  `  branches ${p.branches}`,
  `  stepped  ${p.cursor}`,
  `  log rows ${p.rows}`,
]

/** `line` cut to at most `width` terminal cells (with `…` when cut): a line that wraps breaks the redraw. */
const fitLine = (line: string, width: number): string => {
  if (width <= 0) return ''
  let used = 0
  let end = 0
  // the longest start of the line that leaves a column for the `…`, should the line not fit
  let keep = 0
  for (const ch of line) {
    const w = cells(ch)
    if (used + w > width) return `${line.slice(0, keep)}…`
    used += w
    end += ch.length
    if (used <= width - 1) keep = end
  }
  return line
}

/** Logs whose rows did not load, named once on stderr each (`watch` reads the log again every 200 ms). */
const saidUnreadable = new Set<string>()

/**
 * The progress a run's log shows; a log that does not load (a corrupt row) does not stop `watch`: the
 * record is drawn, and the log's error said once on stderr.
 */
const seedOf = async (store: RunStore, record: RunRecord): Promise<Progress> => {
  try {
    return fromLog(record, await store.loadRun(record.workflowId))
  } catch (e) {
    if (!saidUnreadable.has(record.workflowId)) {
      saidUnreadable.add(record.workflowId)
      process.stderr.write(
        `cano-rx: the log of run ${shown(record.workflowId)} cannot be read: ${cut(message(e), 1_000)}\n`,
      )
    }
    return fromRecord(record)
  }
}

const watch = async (source: Source, id: string): Promise<number> => {
  const tty = process.stdout.isTTY
  let drawn = 0
  let drawnWidth = 0
  let lastPlain = ''
  const draw = (p: Progress): void => {
    const lines = renderProgress(id, p)
    if (tty) {
      // each line fits the terminal (a wrapped line takes rows the cursor-up below does not count); when
      // the terminal's width changed since the last draw, its reflow moved what was drawn: the screen is
      // cleared and drawn again from the top
      const width = process.stdout.columns > 1 ? process.stdout.columns : 80
      const back = drawn === 0 ? '' : width !== drawnWidth ? '\x1b[2J\x1b[H' : `\x1b[${String(drawn)}A`
      process.stdout.write(back + lines.map((l) => `\x1b[2K${fitLine(l, width - 1)}`).join('\n') + '\n\x1b[J')
      drawn = lines.length
      drawnWidth = width
    } else {
      const plain = `${p.status} ${shown(p.state)} ${p.attempt} batch ${p.batch} branches ${p.branches} stepped ${p.cursor}`
      if (plain !== lastPlain) out(plain)
      lastPlain = plain
    }
  }
  const finish = (record: RunRecord): number => {
    out(`run ${shown(id)} ${record.status}`)
    return record.status === 'completed' ? EXIT.ok : EXIT.failed
  }

  const runtime = source.runtime
  if (runtime !== undefined) {
    const first = await runtime.get(id)
    if (first === undefined) throw new CliError(EXIT.notFound, `no run with id ${shown(id)}`)
    let state = initialRunState(id)
    let record: RunRecord = first
    // events before this subscription are gone: until one arrives, the state comes from the log (or the
    // record alone, when the log does not load)
    const seed = source.store === undefined ? undefined : await seedOf(source.store, first)
    const progress = (): Progress =>
      state.current === undefined && seed !== undefined
        ? { ...seed, status: record.status }
        : fromRunState(state, record)
    draw(progress())
    const subs: Array<Subscription> = []
    const ended = new Promise<RunRecord>((done, fail) => {
      subs.push(
        runtime.events$.subscribe((e) => {
          if (e._tag !== 'Run' || e.event.workflowId !== id) return
          state = reduceRunState(state, e.event)
          draw(progress())
        }),
      )
      subs.push(
        runtime.watch(id).subscribe({
          next: (r) => {
            record = r
            draw(progress())
          },
          complete: () => done(record),
          error: fail,
        }),
      )
    })
    try {
      const last = isTerminal(first.status) ? first : await ended
      return finish(last)
    } finally {
      subs.forEach((s) => s.unsubscribe())
    }
  }

  const store = needStore(source)
  for (;;) {
    const record = await getRecord(store, id)
    draw(await seedOf(store, record))
    if (isTerminal(record.status)) return finish(record)
    await new Promise((r) => setTimeout(r, 200))
  }
}

// --- inspect -------------------------------------------------------------------------

const inspect = async (source: Source, o: Options): Promise<number> => {
  const port = o.port === undefined ? 0 : Number(o.port)
  const { runtime, owned } = needRuntime(source)
  try {
    const { serveInspector } = await import('./inspector.js')
    let inspector: Awaited<ReturnType<typeof serveInspector>>
    try {
      inspector = await serveInspector({ runtime, port, ...(o.host === undefined ? {} : { host: o.host }) })
    } catch (e) {
      // a port in use, a host that does not resolve: the options given, not the store
      throw new CliError(EXIT.usage, message(e))
    }
    // one write: a reader waiting for the URL finds the token with it
    out(`inspector: ${inspector.url}\ntoken:     ${inspector.token}`)
    await interrupted()
    await inspector.close()
    return EXIT.ok
  } finally {
    // a runtime built here polls its store until it is stopped: stop it whatever happened
    if (owned) await runtime.stop({ graceMs: 0 })
  }
}

// -------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------

const parse = (argv: ReadonlyArray<string>) => {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      // every string option may come several times here: `--status` is a list, the others are refused twice
      options: {
        store: { type: 'string', multiple: true },
        config: { type: 'string', multiple: true },
        status: { type: 'string', multiple: true },
        workflow: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        port: { type: 'string', multiple: true },
        host: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'V', default: false },
      },
    })
  } catch (e) {
    // Node's own message may run over several lines: the first says what is wrong
    throw new CliError(EXIT.usage, message(e).split('\n')[0] ?? 'bad arguments')
  }
}

/** The options each command takes, beside `--store`, `--config` and `--help`. */
const TAKES: Readonly<Record<string, ReadonlyArray<'status' | 'workflow' | 'json' | 'port' | 'host'>>> = {
  'runs ls': ['status', 'workflow', 'json'],
  'runs show': ['json'],
  'runs cancel': [],
  'runs clear': [],
  'runs resume': [],
  graph: ['workflow'],
  watch: [],
  inspect: ['port', 'host'],
}

/** The one value of an option given at most once. */
const once = (values: ReadonlyArray<string> | undefined, name: string): string | undefined => {
  if (values !== undefined && values.length > 1) throw new CliError(EXIT.usage, `--${name} given more than once`)
  return values?.[0]
}

const run = async (argv: ReadonlyArray<string>): Promise<number> => {
  const { values, positionals } = parse(argv)
  const [command, sub] = positionals
  if (values.version) {
    process.stdout.write(`cano-rx ${packageVersion()}\n`)
    return EXIT.ok
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok
  }
  const known =
    (command === 'runs' && ['ls', 'show', 'cancel', 'clear', 'resume'].includes(sub ?? '')) ||
    ['graph', 'watch', 'inspect'].includes(command)
  if (!known) {
    const what = command === 'runs' ? `runs ${sub ?? ''}`.trim() : command
    throw new CliError(EXIT.usage, `unknown command: ${shown(what)} (see cano-rx --help)`)
  }
  // every usage error is answered before the store is opened: a bad flag is exit 2 whatever the store
  const name = command === 'runs' ? `runs ${sub ?? ''}` : command
  const takes = TAKES[name] ?? []
  for (const flag of ['status', 'workflow', 'json', 'port', 'host'] as const) {
    const given = flag === 'json' ? values.json : values[flag] !== undefined
    if (given && !takes.includes(flag))
      throw new CliError(EXIT.usage, `${name} takes no --${flag} (see cano-rx --help)`)
  }
  const bad = values.status?.find((s) => !STATUSES.includes(s as RunRecordStatus))
  if (bad !== undefined)
    throw new CliError(EXIT.usage, `unknown --status ${shown(bad)} (one of ${STATUSES.join(', ')})`)
  const o: Options = {
    store: once(values.store, 'store'),
    config: once(values.config, 'config'),
    status: values.status as ReadonlyArray<RunRecordStatus> | undefined,
    workflow: once(values.workflow, 'workflow'),
    json: values.json,
    port: once(values.port, 'port'),
    host: once(values.host, 'host'),
  }
  if (o.port !== undefined) {
    const port = Number(o.port)
    if (o.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535)
      throw new CliError(EXIT.usage, `bad --port ${shown(o.port)} (an integer 0–65535)`)
  }
  if (command === 'runs' && sub === 'ls' && positionals.length > 2)
    throw new CliError(EXIT.usage, `unexpected argument: ${shown(positionals[2] ?? '')}`)
  if (command === 'graph' && positionals.length > 1)
    throw new CliError(EXIT.usage, `unexpected argument: ${shown(positionals[1] ?? '')}`)
  const id =
    command === 'runs' && sub !== 'ls'
      ? idArg(positionals, 2, `runs ${sub ?? ''}`)
      : command === 'watch'
        ? idArg(positionals, 1, 'watch')
        : undefined
  const source = await openSource(o)
  // Ctrl-C or TERM: a runtime of the config is stopped (the runs it executes handed back, not left owned
  // by a dead process until their lease runs out) and the store closed, then the exit is 130 / 143;
  // `runs resume` and `inspect` wait for the signal themselves. A second signal exits at once.
  const waitsForSignal = command === 'inspect' || (command === 'runs' && sub === 'resume')
  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGINT' ? 130 : 143
    if (signalled) process.exit(code)
    signalled = true
    void source
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(code))
  }
  if (!waitsForSignal) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
  try {
    if (command === 'graph') return graph(source, o)
    if (command === 'inspect') return await inspect(source, o)
    if (id === undefined) return await runsLs(source, o)
    if (command === 'watch') return await watch(source, id)
    switch (sub) {
      case 'show':
        return await runsShow(source, id, o)
      case 'cancel':
        return await runsCancel(source, id)
      case 'clear':
        return await runsClear(source, id)
      default:
        return await runsResume(source, id)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await source.close().catch(() => undefined)
  }
}

// a reader that stops early (`cano-rx runs ls … | head -1`) closes the pipe: stop quietly, as other
// command-line tools do, rather than with an unhandled EPIPE and its stack trace
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok)
  throw e
})

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    // one line, whatever the message holds (a driver's error, an id with a newline)
    process.stderr.write(`cano-rx: ${cut(message(e), 2_000)}\n`)
    process.exitCode = e instanceof CliError ? e.code : EXIT.store
  },
)
