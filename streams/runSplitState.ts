/**
 * The `split` state kind: branches run concurrently, each through its own retry loop (`runAttempts`
 * with the branch's config), and {@link decideJoin} is asked before anything runs, after every
 * settlement and at the deadline.
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
 * - Each branch has a signal of its own, linked to the run's signal (through one listener per split,
 *   not one per branch). Attempt 1 of a branch without attempt timeout, breaker or limiter runs
 *   inline (like `attemptWork`'s fast path) with a context whose signal is created only if the branch
 *   reads it: building an `AbortSignal` costs about 3 µs, more than the rest of a branch. A failure,
 *   or any configured policy, goes through `runAttempts` with an env whose `runSignal` is the
 *   branch's own `AbortController`'s.
 * - As soon as the join is decided, the signals of the branches still running abort (reason
 *   `Cancelled: split join decided`) and their retry loops are unsubscribed; every branch not settled
 *   is reported `Cancelled` (`SplitBranchSettled`), then the split moves to its join state with the
 *   {@link SplitResult} published, or fails with {@link joinFailure}. Nothing a cancelled branch does
 *   afterwards is reported.
 * - The deadline (`timeoutMs`, on the run's scheduler) starts once every branch has been handed to the
 *   bulkhead. Unsubscribing the state aborts every running branch.
 *
 * @internal
 * @since 0.1.0
 */
import {
  mergeMap,
  Observable,
  queueScheduler,
  range,
  subscribeOn,
  Subscription,
  take,
  type TeardownLogic,
  throwIfEmpty,
  timer,
} from 'rxjs'

import type { CanoError } from '../codecs/CanoError.js'
import { cancelledError, taskExecutionError, toCanoError } from '../src/CanoError.js'
import { decideJoin, type JoinDecision, joinFailure } from '../src/JoinStrategy.js'
import type { Resources } from '../src/Resources.js'
import type { BranchFn, SplitBranch, SplitHandler } from '../src/Split.js'
import type { BranchOutcome, SplitResult } from '../src/SplitResult.js'
import { type ResolvedTaskConfig, resolveTaskConfig } from '../src/TaskConfig.js'
import type { ResourceRecord, TaskContext } from '../src/TaskContext.js'
import type { WorkflowEvent } from '../src/WorkflowEvent.js'
import { fromTaskOutput, isEither, isThenable } from './fromTaskOutput.js'
import { type AttemptEnv, CircuitRejection, noProgress, runAttempts } from './runTask.js'
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
  /** The context of an inline attempt 1. */
  ctx: BranchContext<ResourceRecord> | undefined
  /** The branch's signal once its retry loop runs. */
  controller: AbortController | undefined
  /** What the branch subscribed to; created on first use. */
  subs: Subscription | undefined
  /** Frees the branch's bulkhead slot. */
  readonly done: (() => void) | undefined
}

/**
 * @internal The context of an inline first attempt. Its `signal` is built on first read; an abort
 * before that is remembered, so a branch that reads its signal only after being cancelled (or after
 * the run was) gets it already aborted.
 */
class BranchContext<R extends ResourceRecord> implements TaskContext<R> {
  readonly attempt = 1
  private controller: AbortController | undefined
  private abortedBeforeRead: { readonly reason: unknown } | undefined
  constructor(
    readonly res: Resources<R>,
    readonly workflowId: string,
    readonly state: string,
    readonly progress: (data: unknown) => void,
    readonly split: SplitResult | undefined,
    private readonly runSignal: AbortSignal,
  ) {}
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController()
      this.controller = controller
      if (this.abortedBeforeRead !== undefined) controller.abort(this.abortedBeforeRead.reason)
      else if (this.runSignal.aborted) controller.abort(this.runSignal.reason)
    }
    return this.controller.signal
  }
  abort(reason: unknown): void {
    if (this.controller === undefined) this.abortedBeforeRead ??= { reason }
    else this.controller.abort(reason)
  }
}

// -------------------------------------------------------------------------------------
// run
// -------------------------------------------------------------------------------------

/** @internal Runs a `split` state; see the module comment. */
export const runSplitState = <S extends string, R extends ResourceRecord>(
  handler: SplitHandler<S, R>,
  env: StateEnv<S, R>,
): Observable<S> =>
  runStateBody(env, (frame) => {
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
    /** Events of branch `i` while it runs as `r`; a branch that settled or was cancelled reports nothing more. */
    const emitFor =
      emit === undefined
        ? undefined
        : (i: number, r: Running) =>
            (e: WorkflowEvent<S>): void => {
              if (running[i] === r) emit(e)
            }

    const abortBranch = (r: Running, reason: unknown): void => {
      r.ctx?.abort(reason)
      r.controller?.abort(reason)
    }
    const onRunAbort = (): void => {
      for (const r of running) if (r !== undefined) abortBranch(r, runSignal.reason)
    }

    /**
     * Aborts every running branch's signal with `reason`, then unsubscribes it. Abort first: an attempt
     * context unlinks its signal from the branch's when unsubscribed. Whatever the abort triggers
     * synchronously is ignored, as the branch is no longer `running`.
     */
    const cancelRunning = (reason: unknown): void => {
      for (let i = 0; i < total; i++) {
        const r = running[i]
        if (r === undefined) continue
        running[i] = undefined
        abortBranch(r, reason)
        ;(r.subs ??= new Subscription()).unsubscribe() // a later add() on a closed subscription runs at once
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
      if (decision === 'fail') return frame.fail(joinFailure(strategy, state, progress(), errors))
      env.publishSplit({
        state,
        branches: outcomes as ReadonlyArray<BranchOutcome>,
        successes: succeeded,
        failures: failed,
        cancelled,
      })
      frame.succeed(handler.join, 1)
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

    const addTo = (r: Running, t: TeardownLogic): void => (r.subs ??= new Subscription()).add(t)

    /** Runs the branch's retry loop, picking up a failed inline attempt 1 when there was one. */
    const retryLoop = (
      i: number,
      r: Running,
      plan: BranchPlan<R>,
      firstFailure?: { readonly thrown: unknown },
    ): void => {
      if (running[i] !== r) return
      const controller = new AbortController()
      if (runSignal.aborted) controller.abort(runSignal.reason)
      r.controller = controller
      const branchEmit = emitFor?.(i, r)
      const work: AttemptEnv<S, R> = {
        workflowId,
        state,
        taskId: branchId(i),
        res: env.res,
        runSignal: controller.signal,
        scheduler: env.scheduler,
        random: env.random,
        now,
        emit: branchEmit,
        split: incomingSplit,
      }
      addTo(
        r,
        runAttempts(
          work,
          plan.config,
          (ctx: TaskContext<R>) => fromTaskOutput<unknown>(() => plan.run(ctx)),
          firstFailure,
        ).subscribe({
          next: (value) => settle(i, r, { _tag: 'Succeeded', index: i, value }),
          error: (thrown: unknown) => {
            if (thrown instanceof CircuitRejection) {
              branchEmit?.({
                _tag: 'CircuitRejected',
                workflowId,
                at: now(),
                state,
                taskId: branchId(i),
                error: thrown.error,
              })
              return settle(i, r, { _tag: 'Failed', index: i, error: thrown.error })
            }
            settle(i, r, { _tag: 'Failed', index: i, error: toCanoError(thrown) })
          },
        }),
      )
    }

    const start = (i: number, done: (() => void) | undefined): void => {
      const plan = plans[i]
      if (decided || plan === undefined) return done?.()
      const r: Running = { ctx: undefined, controller: undefined, subs: undefined, done }
      running[i] = r
      if (emit !== undefined) emit({ _tag: 'TaskStarted', workflowId, at: now(), state, taskId: branchId(i) })
      if (!plan.fast) return retryLoop(i, r, plan)

      // attempt 1 inline
      const branchEmit = emitFor?.(i, r)
      const report =
        branchEmit === undefined
          ? noProgress
          : (data: unknown): void =>
              branchEmit({ _tag: 'Progress', workflowId, at: now(), state, taskId: branchId(i), data })
      const ctx = new BranchContext<R>(env.res, workflowId, state, report, incomingSplit, runSignal)
      r.ctx = ctx
      const retry = (thrown: unknown): void => retryLoop(i, r, plan, { thrown })
      let out: unknown
      try {
        out = plan.run(ctx)
        if (typeof out === 'function') out = (out as () => unknown)() // a TaskEither
      } catch (thrown: unknown) {
        return retry(thrown)
      }
      const onValue = (v: unknown): void => {
        if (!isEither(v)) settle(i, r, { _tag: 'Succeeded', index: i, value: v })
        else if (v._tag === 'Right') settle(i, r, { _tag: 'Succeeded', index: i, value: v.right })
        else retry(v.left)
      }
      if (isThenable(out)) {
        out.then(onValue, retry)
        return undefined
      }
      if (typeof out !== 'object' || out === null) return onValue(out)
      const first = out
      addTo(
        r,
        fromTaskOutput<unknown>(() => first)
          .pipe(
            take(1),
            throwIfEmpty(() =>
              taskExecutionError(`branch ${i} of split state ${JSON.stringify(state)} completed without a value`),
            ),
          )
          .subscribe({ next: onValue, error: retry }),
      )
      return undefined
    }

    // the state is unsubscribed (run cancelled, timed out, torn down) before the join was decided
    frame.add(() => {
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
const planCache = new WeakMap<object, unknown>()

const plansOf = <R extends ResourceRecord>(branches: ReadonlyArray<SplitBranch<R>>): ReadonlyArray<BranchPlan<R>> => {
  const cached = planCache.get(branches)
  if (cached !== undefined) return cached as ReadonlyArray<BranchPlan<R>>
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
  planCache.set(branches, plans)
  return plans
}
