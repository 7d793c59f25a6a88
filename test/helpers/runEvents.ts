/**
 * Test helpers for whole-run assertions: collect a run's events in virtual time or real time.
 */
import { lastValueFrom, type Observable, toArray } from 'rxjs'

import type { WorkflowEvent } from '../../src/WorkflowEvent.js'
import { testScheduler } from './virtualTime.js'

/** Runs `make()` inside `TestScheduler.run`, flushes virtual time, and returns every event emitted. */
export const eventsInVirtualTime = <S extends string>(make: () => Observable<WorkflowEvent<S>>): WorkflowEvent<S>[] => {
  const events: WorkflowEvent<S>[] = []
  testScheduler().run(({ flush }) => {
    const sub = make().subscribe((e) => events.push(e))
    flush()
    sub.unsubscribe()
  })
  return events
}

/** Collects a run's events in real time. */
export const eventsOf = <S extends string>(run$: Observable<WorkflowEvent<S>>): Promise<WorkflowEvent<S>[]> =>
  lastValueFrom(run$.pipe(toArray()))

/** `[tag, at]` pairs of the events whose tag is in `tags`. */
export const timeline = <S extends string>(
  events: ReadonlyArray<WorkflowEvent<S>>,
  tags: ReadonlyArray<WorkflowEvent<S>['_tag']>,
): Array<[string, number]> => events.filter((e) => tags.includes(e._tag)).map((e) => [e._tag, e.at])

/** The terminal event of a run. */
export const lastEvent = <S extends string>(events: ReadonlyArray<WorkflowEvent<S>>): WorkflowEvent<S> => {
  const e = events.at(-1)
  if (e === undefined) throw new Error('no events')
  return e
}
