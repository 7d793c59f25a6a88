/**
 * The `split` state kind: branches run concurrently, each through its own retry loop
 * (`attemptWork`, i.e. `runAttempts` with the branch's config), and {@link decideJoin} is asked after
 * every settlement and at the deadline.
 *
 * ```text
 * branches:   0 ---ok              (quorum(2) of 3, timeoutMs 10)
 *             1 -------ok
 *             2 ---------------…   cancelled at 8: its signal aborts with Cancelled('split join decided')
 * events:     TaskStarted[0..2] at 0, SplitBranchSettled 0 at 4, 1 at 8, 2 (Cancelled) at 8
 * state:      -------- Join at 8   (the deadline at 10 is never reached)
 * ```
 *
 * - Concurrency: without a `bulkhead` (or with one no smaller than the branch count) every branch
 *   starts at once, in index order; otherwise `mergeMap` over the indices with the bulkhead as its
 *   concurrency limit. A branch emits `TaskStarted` when it really starts.
 * - Each branch has its own `AbortController`, linked to the run's signal (one listener per split, not
 *   one per branch); its tasks see that signal as `ctx.signal` and the retry loop stops when it aborts.
 * - As soon as the join is decided, the branches still running are unsubscribed and their signals
 *   aborted, every branch not settled is reported `Cancelled` (`SplitBranchSettled`), and the split
 *   moves to its join state with the {@link SplitResult} published, or fails with {@link joinFailure}.
 * - The deadline (`timeoutMs`, on the run's scheduler) starts once every branch has been handed to the
 *   bulkhead. Unsubscribing the state aborts every running branch.
 *
 * @internal
 * @since 0.1.0
 */
import { mergeMap, Observable, queueScheduler, range, subscribeOn, Subscription, timer } from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { cancelledError, toCanoError } from '../src/CanoError.js'
import {
  type BranchFn,
  decideJoin,
  type JoinDecision,
  joinFailure,
  type SplitBranch,
  type SplitHandler,
} from '../src/Split.js'
import type { BranchOutcome } from '../src/SplitResult.js'
import { type ResolvedTaskConfig, resolveTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { attemptWork, type WorkEnv } from './attemptWork.js'
import { CircuitRejection } from './runTask.js'
import { runStateBody, type StateEnv } from './stateRunner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @internal A branch ready to run: its function and resolved config. */
interface BranchPlan<R extends ResourceRecord> {
  readonly run: BranchFn<R>
  readonly config: ResolvedTaskConfig
  /** No attempt timeout, breaker or limiter: attempt 1 may run inline. */
  readonly fast: boolean
}

/** @internal A branch that started and has not settled. */
interface Running {
  readonly controller: AbortController
  /** What the branch's retry loop subscribed to; created on first use. */
  subs: Subscription | undefined
  /** Frees the branch's bulkhead slot. */
  readonly done: (() => void) | undefined
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Runs a `split` state; see the module comment. */
export const runSplitState = <S extends string, R extends ResourceRecord>(
  handler: SplitHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> =>
  runStateBody(env, ({ succeed, fail, add }) => {
    const { strategy } = handler
    const { emit, now, workflowId, state, taskId, runSignal } = env
    const plans = plansOf(handler.branches)
    const total = plans.length
    const incomingSplit = env.split
    const outcomes: Array<BranchOutcome | undefined> = new Array<BranchOutcome | undefined>(total)
    const running: Array<Running | undefined> = new Array<Running | undefined>(total)
    const errors: Array<{ readonly index: number; readonly error: CanoError }> = []
    let succeeded = 0
    let failed = 0
    let decided = false
    let deadlineReached = false
    /** The spawner and the deadline: closed when the join is decided (a later `add` then runs at once). */
    const control = new Subscription()
    // closures change `decided`: read it through a call so control-flow narrowing does not pin it
    const isDecided = (): boolean => decided

    const progress = () => ({ total, succeeded, failed, settled: succeeded + failed, deadlineReached })
    const branchId = (i: number): string => `${taskId}[${i}]`
    const settledEvent = (i: number, outcome: BranchOutcome): WorkflowEvent<S> => ({
      _tag: 'SplitBranchSettled',
      workflowId,
      at: now(),
      state,
      taskId: branchId(i),
      index: i,
      outcome,
    })

    const onRunAbort = (): void => {
      for (const r of running) r?.controller.abort(runSignal.reason)
    }

    /** Unsubscribes every running branch, then aborts its signal with `reason`. */
    const cancelRunning = (reason: unknown, each?: (i: number) => void): void => {
      for (let i = 0; i < total; i++) {
        const r = running[i]
        if (r === undefined) continue
        running[i] = undefined
        ;(r.subs ??= new Subscription()).unsubscribe() // a later add() on a closed subscription runs at once
        r.controller.abort(reason)
        each?.(i)
      }
    }

    const stop = (): void => {
      decided = true
      runSignal.removeEventListener('abort', onRunAbort)
      control.unsubscribe()
    }

    const finish = (decision: Exclude<JoinDecision, 'wait'>): void => {
      stop()
      cancelRunning(cancelledError('split join decided'))
      const cancelled: number[] = []
      for (let i = 0; i < total; i++) {
        if (outcomes[i] !== undefined) continue
        const outcome: BranchOutcome = { _tag: 'Cancelled', index: i }
        outcomes[i] = outcome
        cancelled.push(i)
        if (emit !== undefined) emit(settledEvent(i, outcome))
      }
      if (decision === 'fail') return fail(joinFailure(strategy, state, progress(), errors))
      env.publishSplit({
        state,
        branches: outcomes as ReadonlyArray<BranchOutcome>,
        successes: succeeded,
        failures: failed,
        cancelled,
      })
      succeed(handler.join, 1)
    }

    const settle = (i: number, r: Running, outcome: BranchOutcome): void => {
      if (decided || running[i] !== r) return
      running[i] = undefined
      outcomes[i] = outcome
      if (outcome._tag === 'Succeeded') succeeded += 1
      else if (outcome._tag === 'Failed') {
        failed += 1
        errors.push({ index: i, error: outcome.error })
      }
      if (emit !== undefined) emit(settledEvent(i, outcome))
      const decision = decideJoin(strategy, progress())
      if (decision !== 'wait') finish(decision)
      r.done?.()
    }

    const start = (i: number, done: (() => void) | undefined): void => {
      const plan = plans[i]
      if (decided || plan === undefined) return done?.()
      const controller = new AbortController()
      if (runSignal.aborted) controller.abort(runSignal.reason)
      const r: Running = { controller, subs: undefined, done }
      running[i] = r
      const id = branchId(i)
      if (emit !== undefined) emit({ _tag: 'TaskStarted', workflowId, at: now(), state, taskId: id })
      // a branch that settled or was cancelled reports nothing more
      const branchEmit =
        emit === undefined
          ? undefined
          : (e: WorkflowEvent<S>): void => {
              if (running[i] === r) emit(e)
            }
      const work: WorkEnv<S, R> = {
        workflowId,
        state,
        taskId: id,
        res: env.res,
        runSignal: controller.signal,
        scheduler: env.scheduler,
        random: env.random,
        now,
        emit: branchEmit,
        split: incomingSplit,
        config: plan.config,
        fast: plan.fast,
      }
      attemptWork<S, R, unknown>(work, plan.run, {
        onValue: (value) => settle(i, r, { _tag: 'Succeeded', index: i, value }),
        onError: (thrown) => {
          if (thrown instanceof CircuitRejection) {
            branchEmit?.({ _tag: 'CircuitRejected', workflowId, at: now(), state, taskId: id, error: thrown.error })
            return settle(i, r, { _tag: 'Failed', index: i, error: thrown.error })
          }
          settle(i, r, { _tag: 'Failed', index: i, error: toCanoError(thrown) })
        },
        add: (t) => (r.subs ??= new Subscription()).add(t),
      })
    }

    // the state is unsubscribed (run cancelled, timed out, torn down) before the join was decided
    add(() => {
      if (decided) return
      stop()
      cancelRunning(runSignal.aborted ? runSignal.reason : cancelledError('split cancelled'))
    })

    const initial = decideJoin(strategy, progress())
    if (initial !== 'wait') return finish(initial)
    runSignal.addEventListener('abort', onRunAbort)

    const limit = handler.bulkhead
    if (limit === undefined || limit >= total) {
      for (let i = 0; i < total && !isDecided(); i++) start(i, undefined)
    } else {
      control.add(
        range(0, total)
          .pipe(
            mergeMap(
              (i) =>
                // subscribed through queueScheduler: a slot freed by a branch that settles synchronously starts
                // the next branch after the current one unwinds, instead of inside it (mergeMap would recurse
                // once per consecutive synchronous branch and overflow the stack after a few hundred)
                new Observable<never>((slot) => start(i, () => slot.complete())).pipe(subscribeOn(queueScheduler)),
              limit,
            ),
          )
          .subscribe(),
      )
    }
    if (isDecided() || handler.timeoutMs === undefined) return undefined
    control.add(
      timer(handler.timeoutMs, env.scheduler).subscribe(() => {
        deadlineReached = true
        const decision = decideJoin(strategy, progress())
        finish(decision === 'wait' ? 'fail' : decision)
      }),
    )
    return undefined
  })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** Resolved plans, computed once per branch list. */
const planCache = new WeakMap<object, ReadonlyArray<BranchPlan<ResourceRecord>>>()

const plansOf = <R extends ResourceRecord>(branches: ReadonlyArray<SplitBranch<R>>): ReadonlyArray<BranchPlan<R>> => {
  const cached = planCache.get(branches)
  if (cached !== undefined) return cached
  const plans = branches.map((b): BranchPlan<R> => {
    const config = resolveTaskConfig(b.config)
    return {
      run: b.run,
      config,
      fast:
        config.attemptTimeoutMs === undefined &&
        config.circuitBreaker === undefined &&
        config.rateLimiter === undefined,
    }
  })
  planCache.set(branches, plans as ReadonlyArray<BranchPlan<ResourceRecord>>)
  return plans
}
