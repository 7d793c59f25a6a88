/**
 * @internal Following an `AbortSignal` with one `abort` listener per signal, however many follow it.
 *
 * A service passes one shutdown signal to every run it starts; a batch's items and a split's branches
 * link their own signals to one parent; a rate limiter's waiters share their caller's signal. With one
 * listener each, a signal followed by more than ten at once made Node print a
 * `MaxListenersExceededWarning` ("possible EventTarget memory leak") although nothing leaked, and each
 * listener cost an `EventTarget` entry (a listener record and its bookkeeping). Here the first follower of
 * a signal adds the one listener, later ones join a `Set`, and the last one to leave removes the
 * listener, so a long-lived signal keeps nothing once its followers are gone. The caller's signal is not
 * touched otherwise (its listener limit is left alone: a leak of the caller's own is still reported).
 *
 * When the signal aborts, the followers are called in the order they started following, each once; one
 * that throws does not keep the others from hearing it (its error is reported as an uncaught exception
 * on a microtask, as an `EventTarget` listener's would be).
 */

/** @internal What follows a signal: told once, when it aborts. */
export interface AbortFollower {
  handleEvent(event: Event): void
}

/** The followers of one signal, and its one listener. */
class Followers implements AbortFollower {
  readonly set = new Set<AbortFollower>()
  constructor(private readonly signal: AbortSignal) {}

  handleEvent(event: Event): void {
    bySignal.delete(this.signal)
    const followers = [...this.set]
    this.set.clear()
    for (const f of followers) {
      try {
        f.handleEvent(event)
      } catch (e: unknown) {
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }
}

const bySignal = new WeakMap<AbortSignal, Followers>()

/**
 * @internal `follower` hears `signal`'s abort (once). Following a signal that has aborted already does
 * nothing: check `signal.aborted` first. Following twice is following once.
 */
export const follow = (signal: AbortSignal, follower: AbortFollower): void => {
  if (signal.aborted) return
  let followers = bySignal.get(signal)
  if (followers === undefined) {
    followers = new Followers(signal)
    bySignal.set(signal, followers)
    signal.addEventListener('abort', followers, { once: true })
  }
  followers.set.add(follower)
}

/** @internal `follower` no longer hears `signal` (a no-op if it did not follow it, or it has aborted). */
export const unfollow = (signal: AbortSignal, follower: AbortFollower): void => {
  const followers = bySignal.get(signal)
  if (followers === undefined || !followers.set.delete(follower) || followers.set.size > 0) return
  bySignal.delete(signal)
  signal.removeEventListener('abort', followers)
}

/** @internal How many follow `signal` now (for tests). */
export const followersOf = (signal: AbortSignal): number => bySignal.get(signal)?.set.size ?? 0

/**
 * @internal An `AbortController` linked to a parent signal: it aborts with the parent's reason when the
 * parent aborts (at once if it has already), following it as above, until {@link LinkedController.unlink}.
 * It is its own follower: no closure per link.
 */
export class LinkedController extends AbortController implements AbortFollower {
  #parent: AbortSignal | undefined
  constructor(parent: AbortSignal) {
    super()
    if (parent.aborted) this.abort(parent.reason)
    else {
      this.#parent = parent
      follow(parent, this)
    }
  }
  /** The parent aborted. */
  handleEvent(): void {
    const parent = this.#parent
    this.#parent = undefined
    if (parent !== undefined) this.abort(parent.reason)
  }
  /** Stops following the parent (a no-op once it aborted or after the first call). */
  unlink(): void {
    const parent = this.#parent
    this.#parent = undefined
    if (parent !== undefined) unfollow(parent, this)
  }
}
