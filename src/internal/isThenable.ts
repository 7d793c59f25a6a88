/** @internal Whether `u` is a Promise or any other object with a `then` method. */
export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'
