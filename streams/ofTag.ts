/**
 * `ofTag`: a pipeable filter over any `_tag` union (a run's {@link WorkflowEvent}s, a runtime's events)
 * that keeps the members with the given tags and narrows the stream's type to them.
 *
 * @since 0.3.0
 */
import { filter, type OperatorFunction } from 'rxjs'

// -------------------------------------------------------------------------------------
// operators
// -------------------------------------------------------------------------------------

/**
 * Keeps the values whose `_tag` is one of `tags`; the result is typed as those members of the union.
 *
 * ```text
 * source:  -s-e-t-e-|      (s: RunStarted, e: StateEntered, t: TaskStarted)
 * result:  ---e---e-|      (ofTag('StateEntered'))
 * ```
 *
 * @param tags - the tags to keep (at least one)
 * @returns an operator from the union `T` to `Extract<T, { _tag: K }>`
 * @example
 * import { ofTag, task, workflow } from 'cano-rx'
 * const flow = workflow<'A' | 'Done'>()({ exits: ['Done'], states: { A: task(() => 'Done' as const) } })
 * flow.run$('A').pipe(ofTag('StateEntered', 'TaskFailed')).subscribe((e) => console.log(e._tag, e.state))
 * @see {@link terminal} for the run's last event
 * @category operators
 * @since 0.3.0
 */
export const ofTag = <T extends { readonly _tag: string }, const K extends T['_tag']>(
  ...tags: readonly [K, ...K[]]
): OperatorFunction<T, Extract<T, { readonly _tag: K }>> => {
  const [only] = tags
  return tags.length === 1
    ? filter((value: T): value is Extract<T, { readonly _tag: K }> => value._tag === only)
    : filter((value: T): value is Extract<T, { readonly _tag: K }> =>
        (tags as ReadonlyArray<string>).includes(value._tag),
      )
}
