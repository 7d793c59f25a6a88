/**
 * Issue 16 item 4: `retryAsync`, the Promise-level retry loop. Waits go through the injectable `sleep`
 * (it records the delays and resolves at once, or never, or on demand); one test uses the real
 * `setTimeout` with 1 ms waits and counts attempts, another a 10-minute real wait that only an abort
 * can end.
 */
import { expect } from 'chai'

import type { CanoError } from '../../codecs/CanoError.js'
import {
  CanoFailure,
  circuitOpenError,
  isCanoFailure,
  nonRetryable,
  retryExhaustedError,
  toCanoError,
} from '../../src/CanoError.js'
import { RetryMode } from '../../src/RetryMode.js'
import { retryAsync, type RetryAsyncOptions } from '../../streams/retryAsync.js'
import type { RetryInfo } from '../../streams/retryWithBackoff.js'

/** Exponential 10 ms, x2, no jitter: waits 10, 20, 40 ms. */
const exp10 = RetryMode.exponentialCustom({
  maxRetries: 3,
  baseDelayMs: 10,
  multiplier: 2,
  maxDelayMs: 1_000,
  jitter: 0,
})

/** What the Promise rejected with, which must be a `CanoFailure`. */
const failureOf = async (p: Promise<unknown>): Promise<CanoError> => {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (x: unknown) => x,
  )
  if (!isCanoFailure(e)) throw new Error(`expected a CanoFailure, got ${String(e)}`)
  return e.error
}

/** A `sleep` that records each delay and resolves at once. */
const recordingSleep = (): { readonly waits: number[]; readonly sleep: NonNullable<RetryAsyncOptions['sleep']> } => {
  const waits: number[] = []
  return {
    waits,
    sleep: (ms) => {
      waits.push(ms)
      return Promise.resolve()
    },
  }
}

/** A function that fails `failures` times with `error`, then resolves with `value`; records its arguments. */
const flaky = <A>(failures: number, value: A, error: unknown = new Error('down')) => {
  const calls: Array<readonly [number, AbortSignal | undefined]> = []
  const fn = async (attempt: number, signal: AbortSignal | undefined): Promise<A> => {
    calls.push([attempt, signal])
    if (calls.length <= failures) throw error
    return value
  }
  return { fn, calls }
}

describe('retryAsync', () => {
  it('resolves with the first success without waiting; fn gets attempt 1 and no signal', async () => {
    const { waits, sleep } = recordingSleep()
    const { fn, calls } = flaky(0, 'row')
    expect(await retryAsync(fn, { mode: exp10, sleep })).to.equal('row')
    expect(calls).to.deep.equal([[1, undefined]])
    expect(waits).to.deep.equal([])
  })

  it('takes a function that returns a plain value or throws synchronously', async () => {
    expect(await retryAsync(() => 42)).to.equal(42)
    let n = 0
    const { sleep } = recordingSleep()
    const value = await retryAsync(
      () => {
        if (++n < 3) throw new Error('not yet')
        return n
      },
      { mode: RetryMode.fixed(5, 1), sleep },
    )
    expect(value).to.equal(3)
  })

  it('retries per the mode, waiting its delays, and passes the attempt number', async () => {
    const { waits, sleep } = recordingSleep()
    const { fn, calls } = flaky(3, 'ok')
    expect(await retryAsync(fn, { mode: exp10, sleep })).to.equal('ok')
    expect(calls.map(([attempt]) => attempt)).to.deep.equal([1, 2, 3, 4])
    expect(waits).to.deep.equal([10, 20, 40])
  })

  it('rejects with RetryExhausted carrying the attempts and the last error as a CanoError', async () => {
    const { waits, sleep } = recordingSleep()
    const last = new Error('still down')
    const { fn, calls } = flaky(99, 'never', last)
    const error = await failureOf(retryAsync(fn, { mode: exp10, sleep }))
    expect(error).to.deep.equal(retryExhaustedError(4, toCanoError(last)))
    expect(calls).to.have.length(4)
    expect(waits).to.deep.equal([10, 20, 40])
  })

  it('uses RetryMode.default() without a mode: 4 attempts, about 100, 200 and 400 ms', async () => {
    const { waits, sleep } = recordingSleep()
    const { fn, calls } = flaky(99, 'never')
    const error = await failureOf(retryAsync(fn, { sleep, random: () => 0.5 }))
    expect(error).to.deep.include({ _tag: 'RetryExhausted', attempts: 4 })
    expect(calls).to.have.length(4)
    expect(waits).to.deep.equal([100, 200, 400])
  })

  it('with RetryMode.none() rejects with the error itself, as a CanoFailure, after one attempt', async () => {
    const err = new Error('boom')
    const { fn, calls } = flaky(1, 'never', err)
    const rejected = await retryAsync(fn, { mode: RetryMode.none() }).catch((e: unknown) => e)
    expect(rejected).to.be.instanceOf(CanoFailure)
    expect((rejected as CanoFailure).error).to.deep.equal(toCanoError(err))
    expect(calls).to.have.length(1)
  })

  it('stops at once when shouldRetry answers false, and on a nonRetryable error by default', async () => {
    const { waits, sleep } = recordingSleep()
    const seen: unknown[] = []
    const first = flaky(99, 'never', 'fatal')
    const error = await failureOf(
      retryAsync(first.fn, {
        mode: exp10,
        sleep,
        shouldRetry: (e) => {
          seen.push(e)
          return e !== 'fatal'
        },
      }),
    )
    expect(error).to.deep.equal(toCanoError('fatal'))
    expect(seen).to.deep.equal(['fatal'])
    expect(first.calls).to.have.length(1)

    const inner = new Error('bad input')
    const second = flaky(99, 'never', nonRetryable(inner))
    expect(await failureOf(retryAsync(second.fn, { mode: exp10, sleep }))).to.deep.equal(toCanoError(inner))
    expect(second.calls).to.have.length(1)
    expect(waits).to.deep.equal([])
  })

  it('calls onRetry before each wait with the error, the failed attempts so far and the delay', async () => {
    const log: string[] = []
    const infos: RetryInfo[] = []
    const errors = [new Error('a'), new Error('b')]
    let n = 0
    const value = await retryAsync(
      async () => {
        log.push(`call ${n + 1}`)
        const e = errors[n++]
        if (e !== undefined) throw e
        return 'done'
      },
      {
        mode: exp10,
        onRetry: (i) => {
          infos.push(i)
          log.push(`onRetry ${i.attempt}`)
        },
        sleep: (ms) => {
          log.push(`sleep ${ms}`)
          return Promise.resolve()
        },
      },
    )
    expect(value).to.equal('done')
    expect(infos).to.deep.equal([
      { error: errors[0], attempt: 1, delayMs: 10 },
      { error: errors[1], attempt: 2, delayMs: 20 },
    ])
    expect(log).to.deep.equal(['call 1', 'onRetry 1', 'sleep 10', 'call 2', 'onRetry 2', 'sleep 20', 'call 3'])
  })

  it('waits the delay delayFor chooses, given the computed one', async () => {
    const { waits, sleep } = recordingSleep()
    const computed: number[] = []
    const limited = circuitOpenError('open')
    const { fn } = flaky(1, 'ok', limited)
    const delayFor = (_e: unknown, ms: number): number => {
      computed.push(ms)
      return 7
    }
    expect(await retryAsync(fn, { mode: RetryMode.fixed(2, 100), sleep, delayFor })).to.equal('ok')
    expect(computed).to.deep.equal([100])
    expect(waits).to.deep.equal([7])
  })

  it('waits with a real timer by default (1 ms waits, counted attempts)', async () => {
    const { fn, calls } = flaky(2, 'ok')
    expect(await retryAsync(fn, { mode: RetryMode.fixed(2, 1) })).to.equal('ok')
    expect(calls).to.have.length(3)
  })

  describe('signal', () => {
    it('ends a wait at once with Cancelled; no attempt follows; fn and sleep receive the signal', async () => {
      const controller = new AbortController()
      const slept: Array<AbortSignal | undefined> = []
      const { fn, calls } = flaky(99, 'never')
      const p = retryAsync(fn, {
        mode: exp10,
        signal: controller.signal,
        // a wait that never ends by itself
        sleep: (_ms, signal) => {
          slept.push(signal)
          return new Promise<void>(() => undefined)
        },
        onRetry: () => queueMicrotask(() => controller.abort()),
      })
      expect(await failureOf(p)).to.deep.equal({ _tag: 'Cancelled', message: 'retryAsync cancelled' })
      expect(calls).to.deep.equal([[1, controller.signal]])
      expect(slept).to.deep.equal([controller.signal])
    })

    it('ends a real 10-minute wait at once (the timer is cleared)', async () => {
      const controller = new AbortController()
      const { fn, calls } = flaky(99, 'never')
      const p = retryAsync(fn, {
        mode: RetryMode.fixed(1, 600_000),
        signal: controller.signal,
        onRetry: () => setImmediate(() => controller.abort()),
      })
      expect(await failureOf(p)).to.deep.include({ _tag: 'Cancelled' })
      expect(calls).to.have.length(1)
    })

    it('rejects with the reason when the signal is aborted with a CanoError', async () => {
      const controller = new AbortController()
      const reason = circuitOpenError('shut down')
      const { fn } = flaky(99, 'never')
      const p = retryAsync(fn, {
        mode: exp10,
        signal: controller.signal,
        sleep: () => new Promise<void>(() => undefined),
        onRetry: () => queueMicrotask(() => controller.abort(reason)),
      })
      expect(await failureOf(p)).to.equal(reason)
    })

    it('abandons the attempt in flight: rejects at once, and its later failure starts no retry', async () => {
      const controller = new AbortController()
      let fail: (e: unknown) => void = () => undefined
      let calls = 0
      const p = retryAsync(
        () => {
          calls++
          return new Promise<string>((_resolve, reject) => (fail = reject))
        },
        { mode: RetryMode.fixed(3, 0), signal: controller.signal, sleep: () => Promise.resolve() },
      )
      controller.abort()
      expect(await failureOf(p)).to.deep.include({ _tag: 'Cancelled' })
      fail(new Error('late'))
      await new Promise((resolve) => setImmediate(resolve))
      expect(calls).to.equal(1)
    })

    it('does not call fn when the signal is already aborted', async () => {
      let calls = 0
      const p = retryAsync(() => ++calls, { signal: AbortSignal.abort() })
      expect(await failureOf(p)).to.deep.include({ _tag: 'Cancelled' })
      expect(calls).to.equal(0)
    })

    it('one signal shared by calls in flight: an abort rejects those still running, not those settled', async () => {
      const controller = new AbortController()
      const signal = controller.signal
      const settled = await retryAsync(() => 'early', { signal })
      const pending = [1, 2, 3].map((n) =>
        retryAsync(() => new Promise<number>(() => undefined), { signal, mode: RetryMode.fixed(1, 0) }).then(
          () => `resolved ${n}`,
          (e: unknown) => (isCanoFailure(e) ? e.error._tag : 'not a CanoFailure'),
        ),
      )
      const done = await retryAsync(() => Promise.resolve('done'), { signal })
      controller.abort()
      expect([settled, done]).to.deep.equal(['early', 'done'])
      expect(await Promise.all(pending)).to.deep.equal(['Cancelled', 'Cancelled', 'Cancelled'])
      expect(await failureOf(retryAsync(() => 'late', { signal }))).to.deep.include({ _tag: 'Cancelled' })
    })

    it('retries a synchronous throw and a plain value or a thenable like a Promise, with a signal too', async () => {
      const signal = new AbortController().signal
      for (const options of [{ sleep: () => Promise.resolve() }, { sleep: () => Promise.resolve(), signal }]) {
        let n = 0
        const syncThrow = (): string => {
          if (++n === 1) throw new Error('down')
          return 'plain'
        }
        expect(await retryAsync(syncThrow, options)).to.equal('plain')
        let m = 0
        const thenable = (): PromiseLike<string> => ({
          then: (ok, ko) => Promise.resolve(++m === 1 ? Promise.reject(new Error('down')) : 'thenable').then(ok, ko),
        })
        expect(await retryAsync(thenable, options)).to.equal('thenable')
        expect([n, m]).to.deep.equal([2, 2])
      }
    })

    it('resolves as without a signal when nothing aborts', async () => {
      const controller = new AbortController()
      const { sleep, waits } = recordingSleep()
      const { fn } = flaky(1, 'ok')
      expect(await retryAsync(fn, { mode: exp10, signal: controller.signal, sleep })).to.equal('ok')
      expect(waits).to.deep.equal([10])
    })
  })

  describe('bad input', () => {
    const configuration = async (p: Promise<unknown>): Promise<string> => {
      const error = await failureOf(p)
      if (error._tag !== 'Configuration') throw new Error(`expected a Configuration error, got ${error._tag}`)
      return error.message
    }
    const ok = (): string => 'never called'

    it('rejects (never throws) with a Configuration error naming a bad mode', async () => {
      expect(await configuration(retryAsync(ok, { mode: RetryMode.fixed(-1, 10) }))).to.equal(
        'retryAsync (mode): retry.retries must be a non-negative integer, got -1',
      )
      expect(await configuration(retryAsync(ok, { mode: RetryMode.fixed(2, Number.NaN) }))).to.match(
        /^retryAsync \(mode\): retry\.delayMs must be a finite number in \[0, 2147483647\], got NaN$/,
      )
      expect(
        await configuration(
          retryAsync(ok, {
            mode: RetryMode.exponentialCustom({
              maxRetries: 2,
              baseDelayMs: -5,
              multiplier: 2,
              maxDelayMs: 100,
              jitter: 0,
            }),
          }),
        ),
      ).to.contain('retry.baseDelayMs must be')
      expect(await configuration(retryAsync(ok, { mode: 'fixed' as unknown as RetryMode }))).to.equal(
        'retryAsync: mode must be a RetryMode, got "fixed"',
      )
      expect(await configuration(retryAsync(ok, { mode: { _tag: 'Sometimes' } as unknown as RetryMode }))).to.contain(
        'retry is not a RetryMode',
      )
    })

    it('agrees with validateRetryMode at the edges of every field', async () => {
      const exp = (p: Partial<Parameters<typeof RetryMode.exponentialCustom>[0]>): RetryMode =>
        RetryMode.exponentialCustom({ maxRetries: 1, baseDelayMs: 1, multiplier: 1, maxDelayMs: 1, jitter: 0, ...p })
      const valid = [
        RetryMode.none(),
        RetryMode.fixed(0, 0),
        RetryMode.fixed(1, 2_147_483_647),
        exp({ maxRetries: 0, baseDelayMs: 0, maxDelayMs: 0 }),
        exp({ multiplier: 1, jitter: 1 }),
        exp({ multiplier: 1e9, maxDelayMs: 2_147_483_647 }),
      ]
      for (const mode of valid) expect(await retryAsync(() => 'ok', { mode })).to.equal('ok')
      const invalid = [
        RetryMode.fixed(1.5, 10),
        RetryMode.fixed(Number.MAX_SAFE_INTEGER + 1, 10),
        RetryMode.fixed(1, 2_147_483_648),
        RetryMode.fixed(1, -0.5),
        RetryMode.fixed(1, Number.POSITIVE_INFINITY),
        exp({ maxRetries: -1 }),
        exp({ baseDelayMs: Number.NaN }),
        exp({ maxDelayMs: -1 }),
        exp({ multiplier: 0.5 }),
        exp({ multiplier: Number.POSITIVE_INFINITY }),
        exp({ jitter: 1.01 }),
        exp({ jitter: -0.1 }),
        exp({ jitter: Number.NaN }),
        { _tag: 'Fixed', retries: '3', delayMs: 10 } as unknown as RetryMode,
      ]
      for (const mode of invalid) {
        const message = await configuration(retryAsync(ok, { mode }))
        expect(message).to.match(/^retryAsync \(mode\): retry\.\w+ must be /)
      }
    })

    it('rejects a delayFor that returns NaN or a negative delay, before waiting', async () => {
      for (const bad of [Number.NaN, -5]) {
        const { sleep, waits } = recordingSleep()
        const { fn, calls } = flaky(99, 'never')
        const message = await configuration(retryAsync(fn, { mode: exp10, sleep, delayFor: () => bad }))
        expect(message).to.match(/^retryAsync: delayFor must return a finite number in \[0, 2147483647\], got/)
        expect(calls).to.have.length(1)
        expect(waits).to.deep.equal([])
      }
    })

    it('rejects a fn, a callback, a signal or options of the wrong kind', async () => {
      /** A value of the wrong kind, where the types want another. */
      const asAny = (u: unknown): never => u as never
      expect(await configuration(retryAsync(asAny(42)))).to.equal('retryAsync: fn must be a function, got 42')
      expect(await configuration(retryAsync(ok, asAny(null)))).to.equal(
        'retryAsync: options must be an object, got null',
      )
      expect(await configuration(retryAsync(ok, { onRetry: asAny('log') }))).to.equal(
        'retryAsync: onRetry must be a function, got "log"',
      )
      expect(await configuration(retryAsync(ok, { sleep: asAny(5) }))).to.equal(
        'retryAsync: sleep must be a function, got 5',
      )
      expect(await configuration(retryAsync(ok, { signal: asAny({}) }))).to.contain(
        'retryAsync: signal must be an AbortSignal',
      )
    })

    it('rejects with what a hook throws, as a CanoFailure', async () => {
      const { fn } = flaky(99, 'never')
      const hookError = new Error('hook broke')
      const error = await failureOf(
        retryAsync(fn, {
          mode: exp10,
          sleep: () => Promise.resolve(),
          onRetry: () => {
            throw hookError
          },
        }),
      )
      expect(error).to.deep.equal(toCanoError(hookError))
    })
  })
})
