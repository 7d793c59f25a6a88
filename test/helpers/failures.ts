/**
 * Test helpers for streams that error with a `CanoFailure`. chai's `deep.equal` compares `Error`s by
 * name and message only, so marble tests map each error to plain data first: `failures(result$)` errors
 * with `{ CanoFailure: error }` (the `CanoError` it carries) when the error is a `CanoFailure`, and with
 * `{ NotACanoFailure: e }` otherwise; `failure(error)` is the expected value.
 */
import { catchError, type Observable, throwError } from 'rxjs'

import type { CanoError } from '../../codecs/CanoError.js'
import { CanoFailure, isCanoFailure } from '../../src/CanoError.js'

/** What {@link failures} errors with for a `CanoFailure` carrying `error`. */
export const failure = (error: CanoError): { readonly CanoFailure: CanoError } => ({ CanoFailure: error })

/** `source$` with its error mapped to plain data (see the module comment). */
export const failures = <T>(source$: Observable<T>): Observable<T> =>
  source$.pipe(
    catchError((e: unknown) =>
      throwError(() =>
        isCanoFailure(e) && e instanceof CanoFailure && e.stack !== undefined
          ? failure(e.error)
          : { NotACanoFailure: e },
      ),
    ),
  )
