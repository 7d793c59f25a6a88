/**
 * @internal The group-commit queue shared by the SQL checkpoint adapters (`sqliteCheckpoints`,
 * `postgresCheckpoints`).
 *
 * Appends are queued; one write of everything queued runs on the next turn of the event loop
 * (`setImmediate`), so the appends of concurrent runs that arrive in one tick share one transaction.
 * The adapter's `write` settles every caller of its batch itself (each caller's promise resolves only
 * after the commit that holds its row). A `write` that returns a promise is "in flight": appends that
 * arrive meanwhile wait for it and are written together as soon as it ends. A synchronous `write`
 * (SQLite) is never in flight.
 *
 * @since 0.1.0
 */

/** @internal */
export interface GroupCommitQueue<P> {
  /**
   * Queues `item` and schedules a write, unless one is already scheduled or in flight; with
   * `immediately`, writes what is queued at once instead (no group commit).
   */
  readonly push: (item: P, immediately?: boolean) => void
  /** Writes everything queued now, unless a write is in flight (that one writes the rest when it ends). */
  readonly flush: () => void
  /** Resolves once every item queued before the call has been handed to a write that ended. */
  readonly drain: () => Promise<void>
  /** Removes and returns the items not yet handed to a write. */
  readonly take: () => Array<P>
  /** Whether items are queued and not yet handed to a write. */
  readonly isEmpty: () => boolean
}

/**
 * @internal A group-commit queue around `write`, which receives each batch (never empty) and settles
 * its callers; it must not throw or reject (a failure is the callers' to receive).
 */
export const groupCommitQueue = <P>(write: (batch: ReadonlyArray<P>) => void | Promise<void>): GroupCommitQueue<P> => {
  let pending: Array<P> = []
  let scheduled = false
  let inFlight: Promise<void> | undefined
  /** Items ever queued, and items whose write ended: `drain` waits for a count, not for an empty queue. */
  let queued = 0
  let done = 0

  const flush = (): void => {
    if (inFlight !== undefined || pending.length === 0) return
    const batch = pending
    pending = []
    const writing = write(batch)
    if (writing === undefined) {
      done += batch.length
      return
    }
    const ended = (): void => {
      done += batch.length
      inFlight = undefined
      flush()
    }
    inFlight = writing.then(ended, ended)
  }

  const onTick = (): void => {
    scheduled = false
    flush()
  }

  return {
    push: (item, immediately = false) => {
      pending.push(item)
      queued++
      if (immediately) return flush()
      if (scheduled || inFlight !== undefined) return
      scheduled = true
      setImmediate(onTick)
    },
    flush,
    // only what was queued before the call: writes queued meanwhile (a busy store never empties its
    // queue) must not hold a read or a lease renewal back
    drain: async () => {
      const target = queued
      while (done < target) {
        flush()
        await inFlight
      }
    },
    take: () => {
      const taken = pending.splice(0)
      done += taken.length
      return taken
    },
    isEmpty: () => pending.length === 0,
  }
}
