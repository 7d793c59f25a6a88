/**
 * What a browser gets: an esbuild bundle for `platform: 'browser'` (where any Node built-in an import
 * reaches, `node:fs` or `fs`, fails the build), run in a fresh V8 context that has the web platform's
 * globals and none of Node's (`process`, `Buffer`, `require`, `setImmediate`, `global`), so any Node-only
 * code on the path that runs throws.
 */
import { runInNewContext } from 'node:vm'

import * as esbuild from 'esbuild'

/** Bundles `contents` (an ES module, resolved from `resolveDir`) for the browser as one script; rejects with esbuild's errors. */
export const bundleForBrowser = async (
  contents: string,
  resolveDir: string,
  alias: Record<string, string> = {},
): Promise<{ readonly code: string; readonly inputs: ReadonlyArray<string> }> => {
  const result = await esbuild.build({
    stdin: { contents, resolveDir, loader: 'ts', sourcefile: 'app.ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    alias,
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]?.text
  if (code === undefined) throw new Error('esbuild wrote no bundle')
  return { code, inputs: Object.keys(result.metafile.inputs) }
}

/** The message of each of esbuild's errors, when `build` rejects with them. */
export const buildErrors = (e: unknown): string[] =>
  typeof e === 'object' && e !== null && 'errors' in e && Array.isArray(e.errors)
    ? e.errors.map((x: unknown) => String(typeof x === 'object' && x !== null && 'text' in x ? x.text : x))
    : [String(e)]

/**
 * Runs a bundle with only the web platform's globals; resolves with what it assigned to
 * `globalThis.result` (awaited). Web Crypto is given without `randomUUID` (as on a page served over
 * http), so ids come from `getRandomValues`.
 */
export const runLikeABrowser = async (code: string): Promise<unknown> => {
  const crypto = { getRandomValues: <T extends Uint8Array>(a: T): T => globalThis.crypto.getRandomValues(a) }
  const context: Record<string, unknown> = {
    console,
    crypto,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    structuredClone,
    AbortController,
    AbortSignal,
    Event,
    EventTarget,
    DOMException,
    TextEncoder,
    TextDecoder,
    URL,
    performance,
  }
  context['self'] = context
  context['window'] = context
  runInNewContext(code, context, { filename: 'bundle.js' })
  return await context['result']
}

/**
 * A small browser app over the main entry: a workflow with a `MemoryStore` resource, a retry, a run
 * folded with `reduceRunState`, and a diagram. It sets `globalThis.result`.
 */
export const BROWSER_APP = `
import { initialRunState, MemoryStore, reduceRunState, Resources, RetryMode, task, workflow } from 'cano-rx'
import { lastValueFrom, toArray } from 'rxjs'

type Step = 'Load' | 'Save' | 'Done'
const store = new MemoryStore()
const flow = workflow<Step>()({
  resources: Resources.of({ store }),
  exits: ['Done'],
  states: {
    Load: task(
      async ({ res, attempt }) => {
        if (attempt < 2) throw new Error('flaky')
        res.get('store').put('rows', 3)
        return 'Save' as const
      },
      { retry: RetryMode.fixed(2, 1) },
    ),
    Save: task(() => 'Done' as const),
  },
})

;(globalThis as { result?: unknown }).result = (async () => {
  const events = await lastValueFrom(flow.run$('Load').pipe(toArray()))
  const state = events.reduce(reduceRunState<Step>, initialRunState<Step>(events[0]?.workflowId ?? ''))
  return {
    status: state.status,
    history: state.history,
    totalAttempts: state.totalAttempts,
    frozen: Object.isFrozen(state) && Object.isFrozen(state.history),
    rows: store.get('rows'),
    workflowId: state.workflowId,
    diagram: flow.toMermaid().split('\\n').length,
  }
})()
`
