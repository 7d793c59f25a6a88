/**
 * Type-test helpers. Files in `test/types/` are compiled by `tsc --noEmit`, never run:
 * `assertType<Equals<typeof run$, Observable<Cursor<number>>>>()` fails to compile when the types differ,
 * and `// @ts-expect-error` marks the negative cases.
 */

/** `true` when `A` and `B` are the same type (not merely mutually assignable: `any` and `unknown` differ). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the deferred conditionals are the trick
export type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false

/** Compiles only when `_T` is `true`; pair it with {@link Equals}. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the parameter is the assertion
export const assertType = <_T extends true>(): void => undefined

// The helpers check themselves.
assertType<Equals<1, 1>>()
assertType<Equals<{ readonly a: string }, { readonly a: string }>>()
// @ts-expect-error number is wider than 1
assertType<Equals<1, number>>()
// @ts-expect-error any is not unknown
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the point of the check
assertType<Equals<any, unknown>>()
// @ts-expect-error readonly matters
assertType<Equals<{ readonly a: string }, { a: string }>>()
