/**
 * `fromTaskOutput`: turns whatever a task function returns (a value, a Promise, an Observable or an
 * fp-ts `TaskEither`) into a cold Observable that calls the function on subscription and emits at
 * most one value. A throw, a rejection or a `Left` becomes the error. Synchronous values are
 * delivered synchronously, with no Promise in between.
 *
 * @since 0.1.0
 */
import { isObservable, Observable, type Subscriber, take } from 'rxjs'

/** @internal */
export const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'

/** @internal An fp-ts `Either`, recognised structurally. */
export const isEither = (
  u: unknown,
): u is { readonly _tag: 'Left'; readonly left: unknown } | { readonly _tag: 'Right'; readonly right: unknown } =>
  typeof u === 'object' &&
  u !== null &&
  (((u as { _tag?: unknown })._tag === 'Left' && 'left' in u) ||
    ((u as { _tag?: unknown })._tag === 'Right' && 'right' in u))

/**
 * A cold Observable of the first value `thunk()` produces. A function result is treated as a
 * `TaskEither` (called, and its `Either` unwrapped).
 *
 * @param thunk - the task call; runs on each subscription
 * @returns a cold Observable of at most one value
 * @example
 * import { fromTaskOutput } from './fromTaskOutput.js'
 * fromTaskOutput(() => Promise.resolve('Done')).subscribe((s) => console.log(s)) // 'Done'
 * @see {@link task}, whose functions return a `TaskOutput`
 * @category constructors
 * @since 0.1.0
 */
export const fromTaskOutput = <A>(thunk: () => unknown): Observable<A> =>
  new Observable<A>((subscriber) => {
    let out: unknown
    try {
      out = thunk()
      if (typeof out === 'function') out = (out as () => unknown)()
    } catch (e: unknown) {
      subscriber.error(e)
      return undefined
    }
    const settle = (v: unknown): void => {
      if (isEither(v)) {
        if (v._tag === 'Left') subscriber.error(v.left)
        else {
          subscriber.next(v.right as A)
          subscriber.complete()
        }
        return
      }
      subscriber.next(v as A)
      subscriber.complete()
    }
    if (isObservable(out)) return out.pipe(take(1)).subscribe(subscriber as Subscriber<unknown>)
    if (isThenable(out)) {
      out.then(settle, (e: unknown) => subscriber.error(e))
      return undefined
    }
    settle(out)
    return undefined
  })
