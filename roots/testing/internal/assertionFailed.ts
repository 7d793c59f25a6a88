/**
 * @internal The error the assertions of `cano-rx/testing` throw: an `Error` named `AssertionError`, with
 * `actual`, `expected` and `showDiff` when there is something to compare (the fields mocha, Jest, Vitest
 * and node:test read to print a diff). No test framework is imported (and nothing from `node:`), so the
 * module runs under any of them.
 */
export class AssertionFailed extends Error {
  override readonly name = 'AssertionError'
  readonly showDiff: boolean
  readonly actual: unknown
  readonly expected: unknown
  constructor(message: string, compared?: { readonly actual: unknown; readonly expected: unknown }) {
    super(message)
    this.showDiff = compared !== undefined
    this.actual = compared?.actual
    this.expected = compared?.expected
  }
}

/** @internal `"a" → "b" → "c"` (or `(none)`), how paths are printed in messages. */
export const showPath = (states: ReadonlyArray<string>): string =>
  states.length === 0 ? '(none)' : states.map((s) => JSON.stringify(s)).join(' → ')
