/**
 * The `stepped` state kind: an RxJS `expand` feeds each cursor back into the next step until a step
 * answers `StepOutcome.done(state)`. Each step is one unit of work under the retry loop (a retry repeats that
 * step with the same cursor; `attemptTimeoutMs` bounds each step). Every `StepOutcome.more(cursor)` is encoded
 * with the state's io-ts codec, round-tripped through JSON and decoded back (so the next step sees
 * exactly what a resumed run would see), reported as `CursorAdvanced`, and handed to `persist`
 * (the checkpoint hook) before the next step starts. Steps are subscribed through `queueScheduler`,
 * so a million synchronous steps run with a flat stack; and at least every {@link YIELD_EVERY_MS} of
 * steps that never wait (synchronous, or resolving at once), the next step is subscribed on the run's
 * scheduler instead, so the event loop gets a turn: a cancellation or the total timeout interrupts
 * the loop at the next step boundary rather than after the last step.
 *
 * @internal
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import {
  concat,
  defer,
  EMPTY,
  expand,
  filter,
  mergeMap,
  Observable,
  of,
  queueScheduler,
  subscribeOn,
  take,
  throwError,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { workflowError } from '../src/CanoError.js'
import { describeValue } from '../src/internal/describeValue.js'
import { decodeJson, roundTripJson } from '../src/internal/jsonRoundTrip.js'
import type { StepOutcome, SteppedHandler } from '../src/Stepped.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import { attemptWork } from './attemptWork.js'
import { runStateBody, type Settle, type StateEnv } from './stateRunner.js'

/** @internal Where a stepped state starts and how it persists cursors. */
export interface SteppedHooks {
  /** The encoded cursor a resumed run continues from (steps before it are not repeated). */
  readonly resumeCursor?: { readonly encoded: unknown; readonly step: number } | undefined
  /** Persists an encoded cursor before the next step; the Observable completes when it is durable. */
  readonly persist?: ((encoded: unknown, step: number) => Observable<never>) | undefined
}

/**
 * How long a stepped loop runs steps back to back before it lets the event loop take a turn (real
 * time, whatever the run's scheduler: it bounds how long the loop can hold the thread).
 */
const YIELD_EVERY_MS = 50

type Loop =
  | { readonly _tag: 'Step'; readonly cursor: unknown; readonly step: number }
  | { readonly _tag: 'Done'; readonly state: unknown; readonly steps: number }

/** A `StepOutcome`; `anyValue: false` (a workflow) wants a state name in `done`. */
const isStepOutcome = (u: unknown, anyValue: boolean): u is StepOutcome<unknown, unknown> => {
  if (typeof u !== 'object' || u === null) return false
  const o = u as { _tag?: unknown; state?: unknown }
  return (
    (o._tag === 'More' && 'cursor' in o) ||
    (o._tag === 'Done' && (anyValue ? 'state' in o : typeof o.state === 'string'))
  )
}

/** @internal What the step loop reads of its handler (a `SteppedHandler`, or a standalone `runStepped`'s options). */
export type SteppedPlan<R extends ResourceRecord> = Pick<SteppedHandler<string, R>, 'cursor'> & {
  readonly step: (ctx: TaskContext<R>, cursor: unknown) => unknown
}

/** @internal Encodes `cursor`, round-trips it through JSON and decodes it back. */
export const roundTripCursor = (
  codec: SteppedHandler<string, ResourceRecord>['cursor'],
  cursor: unknown,
  where: string,
): E.Either<CanoError, { readonly encoded: unknown; readonly decoded: unknown }> =>
  roundTripJson(codec, cursor, where, 'cursor')

/** @internal Decodes an encoded (JSON) cursor; `DecodeFailed` names the codec and `where`. */
export const decodeCursor = (
  codec: SteppedHandler<string, ResourceRecord>['cursor'],
  json: unknown,
  where: string,
  encoded: unknown = json,
): E.Either<CanoError, { readonly encoded: unknown; readonly decoded: unknown }> =>
  decodeJson(codec, json, where, encoded)

/** @internal Runs a `stepped` state. */
export const runSteppedState = <S extends string, R extends ResourceRecord>(
  handler: SteppedHandler<S, R>,
  env: StateEnv<S, R>,
  hooks: SteppedHooks = {},
): Observable<S> => runStateBody(env, (settle) => steppedLoop(handler, env, hooks, settle))

/**
 * @internal The step loop, settling through `settle` with the `done` value and the number of steps.
 * `anyValue` (the standalone runners) takes any value as the result; otherwise (a workflow) it must be
 * a state name.
 */
export const steppedLoop = <S extends string, R extends ResourceRecord>(
  handler: SteppedPlan<R>,
  env: StateEnv<S, R>,
  hooks: SteppedHooks,
  settle: Settle,
  anyValue = false,
): void => {
  const label = JSON.stringify(env.state)
  let seed: Loop = { _tag: 'Step', cursor: undefined, step: 0 }
  if (hooks.resumeCursor !== undefined) {
    const { encoded, step } = hooks.resumeCursor
    const back = decodeCursor(handler.cursor, encoded, `state ${label}, resumed cursor of step ${step}`)
    if (E.isLeft(back)) return settle.fail(back.left)
    seed = { _tag: 'Step', cursor: back.right.decoded, step }
  }

  // the attempts of the step that failed the state, for the run's failure context
  let failedAttempts: number | undefined
  const stepOnce = (cursor: unknown, step: number): Observable<Loop> =>
    new Observable<unknown>((sub) =>
      attemptWork<S, R, unknown>(env, (ctx) => handler.step(ctx, cursor), {
        onValue: (v) => {
          sub.next(v)
          sub.complete()
        },
        onError: (e, attempts) => {
          failedAttempts = attempts
          sub.error(e)
        },
        add: (t) => sub.add(t),
      }),
    ).pipe(
      take(1),
      mergeMap((outcome): Observable<Loop> => {
        const n = step + 1
        if (!isStepOutcome(outcome, anyValue))
          return throwError(() =>
            workflowError(
              `step ${n} of state ${label} returned ${describeValue(outcome)}; expected more(cursor) or done(${anyValue ? 'value' : 'state'})`,
              env.state,
            ),
          )
        if (outcome._tag === 'Done') return of({ _tag: 'Done', state: outcome.state, steps: n })
        const trip = roundTripCursor(handler.cursor, outcome.cursor, `state ${label}, step ${n}`)
        if (E.isLeft(trip)) return throwError(() => trip.left)
        if (env.emit !== undefined)
          env.emit({
            _tag: 'CursorAdvanced',
            workflowId: env.workflowId,
            at: env.now(),
            state: env.state,
            taskId: env.taskId,
            step: n,
            cursor: trip.right.encoded,
          })
        const next: Loop = { _tag: 'Step', cursor: trip.right.decoded, step: n }
        // the cursor is durable before the next step starts
        return hooks.persist === undefined ? of(next) : concat(hooks.persist(trip.right.encoded, n), of(next))
      }),
    )

  let lastYield = performance.now()
  const nextStep = (l: Loop): Observable<Loop> => {
    if (l._tag !== 'Step') return EMPTY
    const step$ = defer(() => stepOnce(l.cursor, l.step))
    const now = performance.now()
    if (now - lastYield < YIELD_EVERY_MS) return step$.pipe(subscribeOn(queueScheduler))
    lastYield = now
    return step$.pipe(subscribeOn(env.scheduler))
  }

  settle.add(
    of(seed)
      .pipe(
        expand(nextStep),
        filter((l): l is Extract<Loop, { _tag: 'Done' }> => l._tag === 'Done'),
        take(1),
      )
      .subscribe({
        next: (d) => settle.succeed(d.state, d.steps),
        error: (e: unknown) => settle.fail(e, failedAttempts),
      }),
  )
}
