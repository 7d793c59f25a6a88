/** Type tests for `retryAsync` (issue 16): the result type is what `fn` resolves with. */
import { retryAsync } from '../../roots/index.js'

export const fromPromise: Promise<number> = retryAsync(async () => 1)
export const fromValue: Promise<string> = retryAsync(() => 'row')
export const fromObject: Promise<{ readonly id: string }> = retryAsync((attempt: number) =>
  Promise.resolve({ id: String(attempt) }),
)
// @ts-expect-error the result is a number, not a string
export const wrong: Promise<string> = retryAsync(async () => 1)
