/**
 * fp-ts's typed deep equality: `actual` and `expected` share one type parameter, so comparing
 * values of unrelated types is a compile error rather than a runtime diff. Uses chai's `deep.equal`.
 */
import { expect } from 'chai'

export const deepStrictEqual = <A>(actual: A, expected: A): void => {
  expect(actual).to.deep.equal(expected)
}
