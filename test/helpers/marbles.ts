/**
 * The one `TestScheduler` factory for marble tests: values and subscriptions are compared
 * with chai's `deep.equal`, so a failure prints a structural diff. Use it as
 * `testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => { … })`.
 */
import { expect } from 'chai'
import { TestScheduler } from 'rxjs/testing'

export const testScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected)
  })
