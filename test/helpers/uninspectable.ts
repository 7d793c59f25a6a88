/**
 * Values a task may throw that cannot be inspected (adv16c item 5): reading anything of them throws, so
 * every guard, `toCanoError` and every place the engine looks at a thrown value must cope.
 */

/** A revoked `Proxy`: `instanceof`, property reads and `Object.prototype.toString` all throw. */
export const revokedProxy = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

/** An object whose every trap throws (`getPrototypeOf`, `get`, `has`, `ownKeys`, …). */
export const trappedProxy = (): object =>
  new Proxy(
    {},
    new Proxy(
      {},
      {
        get: () => () => {
          throw new Error('trap')
        },
      },
    ),
  )

/** A plain object whose fields (the ones the engine might read) are getters that throw. */
export const throwingGetters = (): object => {
  const o = {}
  for (const key of ['_tag', 'message', 'name', 'cause', 'error', 'stack', 'toJSON', 'then'])
    Object.defineProperty(o, key, {
      enumerable: true,
      get() {
        throw new Error(`getter ${key}`)
      },
    })
  return o
}

/** An `Error` whose `message` and `name` throw. */
export const errorWithThrowingFields = (): Error => {
  const e = new Error('hidden')
  for (const key of ['message', 'name'])
    Object.defineProperty(e, key, {
      get() {
        throw new Error(`getter ${key}`)
      },
    })
  return e
}

/** Every kind above, by name. */
export const uninspectables: ReadonlyArray<readonly [string, () => unknown]> = [
  ['a revoked Proxy', revokedProxy],
  ['a Proxy whose every trap throws', trappedProxy],
  ['an object whose getters throw', throwingGetters],
  ['an Error whose message and name throw', errorWithThrowingFields],
]
