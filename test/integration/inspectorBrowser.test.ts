/**
 * The web inspector in a real browser: Debian's Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`), driven
 * by playwright-core, against `serveInspector` over a runtime on a real SQLite file. It checks what a user
 * sees: the page loads with no console error; hostile run ids, state names, progress payloads and error
 * messages (script tags, quotes, event-handler attributes, 10 000-character strings) render as text and
 * never execute; a run started after the page loaded appears within 1 s; the highlighted state follows the
 * run; Cancel on the page (with the token pasted into it) ends the run `cancelled` and rolls its saga back.
 * It saves screenshots (to `CANO_RX_SCREENSHOTS`, default a fresh temporary folder; one of them is
 * docs/img/inspector.png).
 *
 * Nothing is skipped: without Chromium the suite fails, saying how to install it (`.ci/run` does).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import Database from 'better-sqlite3'
import { expect } from 'chai'
import * as t from 'io-ts'
import { type BrowserContext, chromium, type Page } from 'playwright-core'

import { createRuntime, nonRetryable, type RunStore, type Runtime, task, workflow } from '../../roots/index.js'
import { type Inspector, serveInspector } from '../../roots/inspector.js'
import { LIST_LIMIT } from '../../roots/internal/inspector/assets.js'
import { sqliteCheckpoints } from '../../roots/sqlite.js'

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A promise with its resolver, to hold a task until the test lets it go. */
const gate = (): { readonly wait: Promise<void>; readonly open: () => void } => {
  let open = (): void => undefined
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

/** Resolves when `signal` aborts (a task that runs until it is cancelled). */
const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }))

// an order: a saga step (undone on cancel), a task held by a gate, a batch half held by another, a task
// that runs until it is cancelled
type Order = 'Reserve' | 'Charge' | 'Pack' | 'Ship' | 'Done' | 'Failed'
const released: string[] = []
let chargeGate = gate()
let packGate = gate()
const order = workflow<Order>()({
  exits: ['Done', 'Failed'],
  states: ({ task, saga, batch }) => ({
    Reserve: saga({
      output: t.type({ hold: t.string }),
      run: (ctx) => ['Charge' as const, { hold: `hold-${ctx.workflowId}` }],
      compensate: (_ctx, out) => {
        released.push(out.hold)
      },
      to: ['Charge'],
    }),
    Charge: task(
      async (ctx) => {
        ctx.progress({ step: 'waiting for the payment provider' })
        await chargeGate.wait
        return 'Pack' as const
      },
      { to: ['Pack', 'Failed'] },
    ),
    Pack: batch({
      load: () => [1, 2, 3, 4, 5, 6],
      processItem: async (n: number) => {
        if (n > 3) await packGate.wait
        return n
      },
      finish: () => 'Ship' as const,
      concurrency: 6,
      to: ['Ship'],
    }),
    Ship: task(({ signal }) => aborted(signal), { to: ['Done'] }),
  }),
})

// hostile names: a state name, a workflow name, a run id, a progress payload and an error message
const XSS = `"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><svg onload="window.__pwned=3">'`
const LONG = `${XSS}${'long-'.repeat(2_000)}`
type Hostile = typeof XSS | 'Done'
const hostile = workflow<Hostile>()({
  exits: ['Done'],
  states: {
    [XSS]: task(
      (ctx) => {
        ctx.progress({ [XSS]: LONG, quote: `'"\``, nested: { html: '<b>bold</b>' } })
        return Promise.reject(nonRetryable(new Error(LONG)))
      },
      { to: ['Done'] },
    ),
  },
})

const quick = workflow<'Go' | 'Done'>()({ exits: ['Done'], states: { Go: task(() => 'Done' as const) } })
const held = workflow<'Hold' | 'Done'>()({
  exits: ['Done'],
  states: { Hold: task(({ signal }) => aborted(signal), { to: ['Done'] }) },
})

describe('web inspector in Chromium', function () {
  this.timeout(60_000)
  let dir = ''
  let shots = ''
  let store: RunStore | undefined
  let runtime: Runtime | undefined
  let inspector: Inspector | undefined
  let context: BrowserContext | undefined
  let page: Page
  let problems: string[] = []

  before(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`,
      )
    dir = mkdtempSync(join(tmpdir(), 'cano-rx-inspector-'))
    shots = process.env['CANO_RX_SCREENSHOTS'] ?? join(dir, 'screenshots')
    mkdirSync(shots, { recursive: true })
    store = sqliteCheckpoints(join(dir, 'runs.db'))
    runtime = createRuntime({
      store,
      workflows: {
        order: { workflow: order, initial: 'Reserve' },
        [XSS]: { workflow: hostile, initial: XSS },
        quick: { workflow: quick, initial: 'Go' },
        held: { workflow: held, initial: 'Hold' },
      },
      pollMs: 50,
    })
    inspector = await serveInspector({ runtime, port: 0 })
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 860 },
    })
  })

  after(async () => {
    await context?.close()
    await inspector?.close()
    await runtime?.stop({ graceMs: 0 })
    await store?.close()
    if (process.env['CANO_RX_SCREENSHOTS'] === undefined) console.log(`    screenshots kept in ${shots}`)
    else rmSync(join(dir, 'runs.db'), { force: true })
  })

  beforeEach(async () => {
    problems = []
    if (context === undefined) throw new Error('no browser')
    page = await context.newPage()
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  })

  afterEach(async () => {
    await page.close()
    expect(problems, 'console errors or warnings').to.deep.equal([])
  })

  const url = (path = ''): string => {
    if (inspector === undefined) throw new Error('no inspector')
    return inspector.url + path
  }
  const rt = (): Runtime => {
    if (runtime === undefined) throw new Error('no runtime')
    return runtime
  }
  // code that runs in the page is written as strings: this project compiles without the DOM library
  const js = async <T>(expression: string): Promise<T> => await page.evaluate(expression)
  // polled from here: waitForFunction would evaluate the string inside the page, which its CSP forbids
  const until = async (expression: string, timeout = 5_000): Promise<void> => {
    const end = Date.now() + timeout
    while ((await page.evaluate(expression)) !== true) {
      if (Date.now() > end) expect.fail(`not true within ${String(timeout)} ms: ${expression}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  const live = (): Promise<unknown> => page.waitForSelector('#conn.live', { timeout: 5_000 })
  const CURRENT = "document.querySelector('#diagram g.node.current')?.getAttribute('data-state')"
  const rowOf = (id: string): string =>
    `[...document.querySelectorAll('#runs-body tr')].find((tr) => tr.getAttribute('data-run-id') === ${JSON.stringify(id)})`

  it('loads the runs list with no console error', async () => {
    await rt().start('quick', null, { id: 'warm-up' })
    await rt().result('warm-up')
    await page.goto(url())
    await live()
    expect(await page.textContent('h2')).to.equal('Runs')
    const rows = await js<string[]>(
      "[...document.querySelectorAll('#runs-body tr')].map((tr) => tr.getAttribute('data-run-id'))",
    )
    expect(rows).to.include('warm-up')
  })

  it('renders hostile ids, state names, progress and errors as text, never as markup', async () => {
    const id = `${XSS}#?/${'i'.repeat(3_000)}`
    await rt().start(XSS, null, { id })
    expect((await rt().result(id)).status).to.equal('failed')
    await page.goto(url())
    await live()
    const cells = await js<string[]>(`[...${rowOf(id)}.querySelectorAll('td')].map((td) => td.textContent)`)
    expect(cells.slice(0, 4)).to.deep.equal([id, XSS, 'failed', XSS])
    expect(
      await js<number>("document.querySelectorAll('#runs-body script, #runs-body img, #runs-body svg').length"),
    ).to.equal(0)
    // the run page, through the link the list made
    await js<null>(`${rowOf(id)}.querySelector('a').click() ?? null`)
    await page.waitForSelector('#record dl')
    await until("document.querySelector('#timeline-body').childElementCount > 0")
    expect(await page.textContent('#run-id')).to.equal(id)
    expect(await page.textContent('#run-workflow')).to.equal(XSS)
    expect(await js<string>("document.querySelector('#diagram g.node title').textContent")).to.equal(`${XSS} (Task)`)
    expect(await js<string>("document.querySelector('#diagram g.node text').textContent")).to.equal(
      `${XSS.slice(0, 27)}…`,
    )
    expect(await js<string>(`document.querySelector('#diagram g.node').getAttribute('data-state')`)).to.equal(XSS)
    const error = await page.textContent('[data-record="error"]')
    expect(error).to.include(XSS.replace(/"/g, '\\"'))
    const timeline = await page.textContent('#timeline-body')
    expect(timeline).to.include('Progress').and.include('<script>window.__pwned=1</script>')
    const progress = await page.textContent('[data-progress="data"]')
    expect(progress).to.include('<b>bold</b>').and.include(`characters)`).and.include('\'\\"`')
    expect(
      await js<number>("document.querySelectorAll('main script, main img, main iframe, main svg svg').length"),
    ).to.equal(0)
    expect(await js<unknown>('window.__pwned')).to.equal(undefined)
    await page.screenshot({ path: join(shots, 'inspector-hostile.png'), fullPage: true })
  })

  it('lists the other runs when a stored record is corrupt, and names the unreadable one as text', async () => {
    const id = `corrupt-\u202e${XSS}\nFAKE LINE`
    await rt().start('quick', null, { id })
    await rt().result(id)
    const raw = new Database(join(dir, 'runs.db'))
    const set = raw.prepare('UPDATE cano_checkpoints_runs SET status = ? WHERE workflow_id = ?')
    try {
      set.run(XSS, id)
      await page.goto(url())
      await live()
      await page.waitForSelector('#list-unreadable')
      expect(await page.textContent('#list-unreadable p')).to.equal('1 run record cannot be read:')
      // each record its own item, its id whole in a <bdi> (its override and line break stay inside it)
      const items = await js<Array<{ id: string; error: string }>>(
        "[...document.querySelectorAll('#list-unreadable li')].map((li) => ({ id: li.querySelectorAll('bdi')[0].textContent, error: li.querySelectorAll('bdi')[1].textContent }))",
      )
      expect(items.map((i) => i.id)).to.deep.equal([id])
      expect(items[0]?.error).to.include('RunRecord/status')
      expect(await js<string>("getComputedStyle(document.querySelector('#list-unreadable bdi')).whiteSpace")).to.equal(
        'normal',
      )
      expect(await js<number>("document.querySelectorAll('#list-message script, #list-message img').length")).to.equal(
        0,
      )
      expect(await js<boolean>(`${rowOf(id)} === undefined`)).to.equal(true)
      expect(await js<number>("document.querySelectorAll('#runs-body tr').length")).to.be.above(0)
      expect(await js<unknown>('window.__pwned')).to.equal(undefined)
    } finally {
      set.run('completed', id)
      raw.close()
    }
  })

  it('shows a run started after the page loaded within 1 s', async () => {
    await page.goto(url())
    await live()
    const started = Date.now()
    await rt().start('quick', null, { id: 'late-run' })
    await until(`document.querySelector('#runs-body tr[data-run-id="late-run"]') !== null`, 1_000)
    const seen = Date.now() - started
    expect(seen).to.be.below(1_000)
    await page.waitForSelector('#runs-body tr[data-run-id="late-run"][data-status="completed"]', { timeout: 2_000 })
  })

  it('a status filter picked on the page opens its feed again with it: rows come and go live', async () => {
    await page.goto(url())
    await live()
    const reopened = page.waitForResponse((r) =>
      r.url().endsWith('/api/feed?status=running&limit=' + String(LIST_LIMIT)),
    )
    await page.check('input[data-status-filter="running"]')
    expect((await reopened).status()).to.equal(200)
    expect(await js<string>('location.search')).to.equal('?status=running')
    await rt().start('held', null, { id: 'held-1' })
    await until(`${rowOf('held-1')}?.getAttribute('data-status') === 'running'`, 1_000)
    await rt().start('quick', null, { id: 'quick-filtered' })
    expect((await rt().result('quick-filtered')).status).to.equal('completed')
    await rt().cancel('held-1')
    // its end is sent on the running feed: the page drops the row
    await until(`${rowOf('held-1')} === undefined`, 1_000)
    expect(await js<boolean>(`${rowOf('quick-filtered')} === undefined`)).to.equal(true)
    expect(await page.textContent('#run-count')).to.match(/^\d+ runs?$/)
  })

  it('keeps the runs list at its limit while runs pour in', async () => {
    await page.goto(url())
    await live()
    const total = LIST_LIMIT + 60
    for (let i = 0; i < total; i++) await rt().start('quick', null, { id: `flood-${String(i)}` })
    const newest = `flood-${String(total - 1)}`
    await until(`document.querySelector('#runs-body tr[data-run-id="${newest}"]') !== null`, 5_000)
    const ids = await js<string[]>(
      "[...document.querySelectorAll('#runs-body tr')].map((tr) => tr.getAttribute('data-run-id'))",
    )
    // without the bound the page would hold every run it was told of (here more than the limit)
    expect(ids.length).to.equal(LIST_LIMIT)
    expect(new Set(ids).size).to.equal(ids.length)
    expect(ids).to.include(newest)
    expect(await page.textContent('#run-count')).to.equal(`${String(LIST_LIMIT)} runs (the most recent)`)
  })

  it('a burst of more runs than the list holds: the list shows the latest, none of them stale', async () => {
    await page.goto(url())
    await live()
    const total = LIST_LIMIT + 100
    const ids = Array.from({ length: total }, (_, i) => `burst-${String(i)}`)
    await Promise.all(ids.map((id) => rt().start('quick', null, { id })))
    await Promise.all(ids.map((id) => rt().result(id)))
    // every row the page keeps ends completed: a row the feed stopped sending is dropped, not left running
    await until(
      `(() => { const rows = [...document.querySelectorAll('#runs-body tr')]; return rows.length === ${String(LIST_LIMIT)} && rows.every((tr) => tr.getAttribute('data-status') === 'completed') })()`,
      5_000,
    )
    const shown = await js<string[]>(
      "[...document.querySelectorAll('#runs-body tr')].map((tr) => tr.getAttribute('data-run-id'))",
    )
    expect(new Set(shown).size).to.equal(LIST_LIMIT)
    expect(await page.textContent('#run-count')).to.equal(`${String(LIST_LIMIT)} runs (the most recent)`)
  })

  it("opens the runs '.' and '..' (their links go through /run?id=)", async () => {
    await rt().start('held', null, { id: '..' })
    await page.goto(url())
    await live()
    await page.waitForSelector('#runs-body tr[data-run-id=".."]', { timeout: 5_000 })
    await page.click('#runs-body tr[data-run-id=".."] a')
    await live()
    await until(`${CURRENT} === 'Hold'`, 2_000)
    expect(await page.textContent('#run-id')).to.equal('..')
    expect(new URL(page.url()).pathname).to.equal('/run')
    await rt().cancel('..')
    await page.waitForSelector('#run-status [data-status="cancelled"]', { timeout: 5_000 })
  })

  it('a run page opened before its run starts shows the run once it starts', async () => {
    await page.goto(url('runs/early-1'))
    await live()
    await until(`(document.querySelector('#page-message')?.textContent ?? '').includes('no run with id')`)
    // the feed was open before the run started: its first event makes the page read the run
    await rt().start('held', null, { id: 'early-1' })
    await until(`${CURRENT} === 'Hold'`, 2_000)
    expect(await page.textContent('#page-message')).to.equal('')
    expect(await page.textContent('#run-workflow')).to.equal('held')
    await rt().cancel('early-1')
    await page.waitForSelector('#run-status [data-status="cancelled"]', { timeout: 5_000 })
  })

  it('follows the run with the highlighted state, and Cancel ends it cancelled with its saga rolled back', async () => {
    chargeGate = gate()
    packGate = gate()
    const id = 'order-42'
    await page.goto(url())
    await live()
    await rt().start('order', null, { id })
    await page.waitForSelector(`#runs-body tr[data-run-id="${id}"]`, { timeout: 1_000 })
    await page.click(`#runs-body tr[data-run-id="${id}"] a`)
    await live()
    await until(`${CURRENT} === 'Charge'`)
    expect(await page.textContent('#run-status .status')).to.equal('running')
    expect(await page.isDisabled('#resume')).to.equal(true)
    // the highlight follows: Charge -> Pack (half its items held) -> Ship
    chargeGate.open()
    await until(`${CURRENT} === 'Pack'`, 1_000)
    await until(`document.querySelector('progress[data-bar="batch"]')?.value === 3`, 1_000)
    expect(await page.textContent('[data-progress="batch"] .bar-text')).to.equal('3 / 6')
    expect(
      await js<boolean>(`document.querySelector('#diagram g.node[data-state="Charge"]').classList.contains('visited')`),
    ).to.equal(true)
    await page.screenshot({ path: join(shots, 'inspector.png') })
    packGate.open()
    await until(`${CURRENT} === 'Ship'`, 1_000)
    // Cancel needs the token: without it the page says so and nothing happens
    await page.click('#cancel')
    await until(`(document.querySelector('#action-message')?.textContent ?? '').includes('token')`)
    expect((await rt().get(id))?.status).to.equal('running')
    await page.fill('#token', inspector?.token ?? '')
    await page.click('#token-form button')
    await page.click('#cancel')
    await page.waitForSelector('#run-status [data-status="cancelled"]', { timeout: 5_000 })
    const outcome = await rt().result(id)
    expect(outcome.status).to.equal('cancelled')
    expect(released).to.include(`hold-${id}`)
    const tags = await js<string[]>(
      "[...document.querySelectorAll('#timeline-body tr')].map((tr) => tr.getAttribute('data-tag'))",
    )
    expect(tags).to.include.members(['CompensationStarted', 'Compensated', 'RunCancelled'])
    expect(tags.at(-1)).to.equal('RunCancelled')
    expect(await page.isDisabled('#cancel')).to.equal(true)
    await page.screenshot({ path: join(shots, 'inspector-cancelled.png'), fullPage: true })
    const png = readFileSync(join(shots, 'inspector.png'))
    expect(png.subarray(1, 4).toString('latin1')).to.equal('PNG')
  })
})
