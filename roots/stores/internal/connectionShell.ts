/**
 * @internal The connection shell shared by the SQL checkpoint adapters (`sqliteCheckpoints`,
 * `postgresCheckpoints`): the optional driver imported on first use, the connection opened on first
 * use (a failed open is retried by the next call), the closed state and its error, and the wrapping of
 * driver errors into `CheckpointStore` errors prefixed with the adapter's name.
 *
 * @since 0.1.0
 */
import { CanoFailure, configurationError } from '../../../src/CanoError.js'
import { closedError, describeThrown, driverError, rejectWith } from '../../../src/CheckpointStore.js'

/** @internal */
export interface ConnectionShell<C> {
  /** Whether `close()` was called. */
  readonly isClosed: () => boolean
  /** The open connection, or `undefined` before the first open finished. */
  readonly current: () => C | undefined
  /** Whether an open was started (and has not failed). */
  readonly isOpening: () => boolean
  /** The open connection; the first call opens it, and a call after a failed open tries again. */
  readonly connect: () => Promise<C>
  /** The rejection of an operation on a closed store. */
  readonly rejectClosed: () => Promise<never>
  /** `e` as a `CanoFailure`: kept when it is one, otherwise a driver error of operation `what`. */
  readonly failure: (e: unknown, what: string) => CanoFailure
  /**
   * Runs operation `what`: rejects when the store is closed, waits for `ready` (which connects), then
   * runs `op`; anything `op` throws that is not a `CanoFailure` becomes a driver error naming `what`.
   */
  readonly use: <A>(what: string, ready: () => Promise<C>, op: (c: C) => A | Promise<A>) => Promise<A>
  /** Marks the store closed (once; later calls return at once) and runs `end`, which releases the connection. */
  readonly close: (end: () => Promise<void>) => Promise<void>
}

/** @internal A connection shell for `adapter` around `open`, which opens the connection. */
export const connectionShell = <C>(adapter: string, open: () => Promise<C>): ConnectionShell<C> => {
  let connection: C | undefined
  let opening: Promise<C> | undefined
  let closed = false

  const failure = (e: unknown, what: string): CanoFailure =>
    e instanceof CanoFailure ? e : new CanoFailure(driverError(adapter, what, e))

  const connect = (): Promise<C> => {
    opening ??= open().then(
      (c) => {
        connection = c
        return c
      },
      (e: unknown) => {
        opening = undefined
        throw e
      },
    )
    return opening
  }

  const rejectClosed = (): Promise<never> => rejectWith(closedError(adapter))

  return {
    isClosed: () => closed,
    current: () => connection,
    isOpening: () => opening !== undefined,
    connect,
    rejectClosed,
    failure,
    use: async (what, ready, op) => {
      if (closed) return rejectClosed()
      const c = await ready()
      try {
        return await op(c)
      } catch (e: unknown) {
        throw failure(e, what)
      }
    },
    close: async (end) => {
      if (closed) return
      closed = true
      await end()
      connection = undefined
    },
  }
}

/**
 * @internal Imports an optional peer dependency on first use (`load` is the `import()`); a missing
 * module is a `Configuration` error that names the adapter and the command that installs it.
 */
export const loadPeer = async <A>(
  adapter: string,
  peer: string,
  install: string,
  load: () => Promise<A>,
): Promise<A> => {
  try {
    return await load()
  } catch (e: unknown) {
    throw new CanoFailure(
      configurationError(
        `${adapter} needs the optional peer dependency ${peer}: run \`${install}\` (${describeThrown(e)})`,
      ),
    )
  }
}
