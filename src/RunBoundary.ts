/**
 * `RunBoundary`: what crosses a run's boundary. A workflow may declare an `input` codec and an `output`
 * declaration; a run is then (workflow, id, input) → (exit state, output):
 *
 * - the input is given per run (`orchestrate(initial, { input })`), in its encoded (JSON) form, and
 *   decoded before anything runs: bad input ends the run `RunFailed` with a `DecodeFailed` error whose
 *   messages name the field (the io-ts path), and nothing is written to the store. The decoded value
 *   is round-tripped through JSON, so `ctx.input` is exactly what a resumed run decodes again from its
 *   stored encoding;
 * - the output is produced at the exit (after the exit state is reached, before the log is cleared and
 *   resources are torn down) by the declaration's `at` function, encoded with its codec and carried on
 *   `RunCompleted` (`output`, the encoded JSON value). A throwing `at` or a value the codec rejects fails
 *   the run like a failing state would (a saga stack rolls back; the log is kept, so a resume produces
 *   the output again).
 *
 * Workflows without codecs run as before: `ctx.input` is `undefined`, `RunCompleted` has no `output`
 * and `orchestrate` resolves with the exit state.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

import type { CanoError } from '../codecs/CanoError.js'
import type { JsonValue } from '../codecs/CheckpointRow.js'
import { configurationError, decodeFailedError, isCanoError, isCanoFailure, taskExecutionError } from './CanoError.js'
import { describeThrownValue, describeValue } from './internal/describeValue.js'
import { decodeJson, encodeJson } from './internal/jsonRoundTrip.js'
import type { Resources } from './Resources.js'
import type { InputOf, ResourceRecord } from './TaskContext.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a workflow's output function receives at the exit.
 *
 * @example
 * import type { OutputContext, WithInput } from 'cano-rx'
 * const receipt = ({ exit, input, workflowId }: OutputContext<'Done' | 'Failed', WithInput<{ orderId: string }>>) =>
 *   ({ orderId: input.orderId, ok: exit === 'Done', run: workflowId })
 * @see {@link OutputDeclaration}
 * @category model
 * @since 0.2.0
 */
export interface OutputContext<X extends string, R extends ResourceRecord> {
  /** The exit state the run reached. */
  readonly exit: X
  /** The run's decoded input (`undefined` in a workflow without an input codec). */
  readonly input: InputOf<R>
  /** The workflow's resources (still set up: the output is produced before the teardown). */
  readonly res: Resources<R>
  /** The run's id. */
  readonly workflowId: string
  /** Aborts when the run is cancelled or times out while the output is being produced. */
  readonly signal: AbortSignal
}

/**
 * A workflow's output: its io-ts codec (whose encoded form is JSON) and the function that produces it
 * once the run reaches an exit. The function's return is checked against the codec's type at compile
 * time; at run time the value is encoded with the codec and round-tripped through JSON, and a failure
 * (a throw, a rejection, a value the codec rejects) fails the run.
 *
 * @example
 * import * as t from 'io-ts'
 * import type { OutputDeclaration, WithInput } from 'cano-rx'
 * const Receipt = t.type({ orderId: t.string, charged: t.boolean })
 * const output: OutputDeclaration<t.TypeOf<typeof Receipt>, 'Done' | 'Refunded', WithInput<{ orderId: string }>> = {
 *   codec: Receipt,
 *   at: ({ exit, input }) => ({ orderId: input.orderId, charged: exit === 'Done' }),
 * }
 * @see {@link OutputContext}
 * @category model
 * @since 0.2.0
 */
export interface OutputDeclaration<O, X extends string, R extends ResourceRecord> {
  /** Encodes the output (carried on `RunCompleted`, kept with the run) and decodes it for the caller. */
  readonly codec: t.Type<O, unknown>
  /** Produces the output at the exit: a value or a Promise of one. */
  readonly at: (ctx: OutputContext<X, R>) => NoInfer<O> | Promise<NoInfer<O>>
}

/**
 * What a completed run of a workflow with an output declaration resolves with: its exit state and its
 * decoded output.
 *
 * @example
 * import type { RunOutput } from 'cano-rx'
 * const r: RunOutput<'Done', { readonly receipt: string }> = { state: 'Done', output: { receipt: 'r-1' } }
 * @see {@link RunResult}
 * @category model
 * @since 0.2.0
 */
export interface RunOutput<S extends string, O> {
  readonly state: S
  readonly output: O
}

/**
 * What `orchestrate`, `resume` and `orchestrateTE` resolve with: the exit state `S` for a workflow
 * without an output declaration (`O` is `never`), a {@link RunOutput} for one with.
 *
 * @example
 * import type { RunResult } from 'cano-rx'
 * const plain: RunResult<'Done', never> = 'Done'
 * const typed: RunResult<'Done', number> = { state: 'Done', output: 42 }
 * @category model
 * @since 0.2.0
 */
export type RunResult<S extends string, O> = [O] extends [never] ? S : RunOutput<S, O>

/**
 * @internal The run-table seam (issue 12): what a runtime hands a run beyond its public options. The run
 * table fills it; nothing else should.
 *
 * - `input`: a resumed run's encoded input, as the run table kept it (decoded like a fresh run's input;
 *   `resume` takes no `input` option of its own);
 * - `recordOutput`: called (for a workflow with an output declaration) with the encoded output once it is
 *   produced at the exit `exit`, before the log is cleared and resources are torn down; the run completes
 *   once it resolves, and a rejection fails the run (a `CanoError` as it is, anything else a
 *   `CheckpointStore` error).
 */
export interface RunTableSeam {
  readonly input?: JsonValue
  readonly recordOutput?: (encoded: JsonValue, exit: string) => Promise<void>
}

/**
 * A workflow's output declaration with its types erased: what a compiled workflow keeps.
 *
 * @example
 * import * as t from 'io-ts'
 * import type { CompiledOutput } from './RunBoundary.js'
 * const erased: CompiledOutput = { codec: t.number as t.Type<unknown, unknown, unknown>, at: () => 1 }
 * @category model
 * @since 0.2.0
 */
export interface CompiledOutput {
  readonly codec: t.Type<unknown, unknown>
  readonly at: (ctx: OutputContext<string, ResourceRecord>) => unknown
}

/** @internal An input decoded for a run: the value tasks see and its encoding (what a run table keeps). */
export interface DecodedInput {
  readonly decoded: unknown
  readonly encoded: JsonValue
}

/** @internal An output produced at the exit: its encoding (on `RunCompleted`) and the decoded value. */
export interface ProducedOutput {
  readonly encoded: JsonValue
  readonly decoded: unknown
}

// -------------------------------------------------------------------------------------
// validation
// -------------------------------------------------------------------------------------

const isCodec = (u: unknown): u is t.Type<unknown, unknown> =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as Partial<t.Type<unknown>>).decode === 'function' &&
  typeof (u as Partial<t.Type<unknown>>).encode === 'function' &&
  typeof (u as Partial<t.Type<unknown>>).is === 'function'

/** @internal `Configuration` error when a definition's `name` is present and not a non-empty string. */
export const checkName = (name: unknown): CanoError | undefined =>
  name === undefined || (typeof name === 'string' && name !== '')
    ? undefined
    : configurationError(`name must be a non-empty string, got ${describeValue(name)}`)

/** @internal `Configuration` error when a definition's `input` is present and not an io-ts codec. */
export const checkInputCodec = (input: unknown): CanoError | undefined =>
  input === undefined || isCodec(input)
    ? undefined
    : configurationError(`input must be an io-ts codec (e.g. t.type({ … })), got ${describeValue(input)}`)

/** @internal `Configuration` error when a definition's `output` is present and not `{ codec, at }`. */
export const checkOutput = (output: unknown): CanoError | undefined => {
  if (output === undefined) return undefined
  if (typeof output !== 'object' || output === null)
    return configurationError(`output must be an object { codec, at }, got ${describeValue(output)}`)
  const { codec, at } = output as { readonly codec?: unknown; readonly at?: unknown }
  if (!isCodec(codec))
    return configurationError(`output.codec must be an io-ts codec (e.g. t.type({ … })), got ${describeValue(codec)}`)
  if (typeof at !== 'function')
    return configurationError(`output.at must be a function producing the output, got ${describeValue(at)}`)
  return undefined
}

// -------------------------------------------------------------------------------------
// input
// -------------------------------------------------------------------------------------

/**
 * @internal Decodes the input a run was given with the workflow's codec: absent, rejected by the codec
 * (the messages name the field) or not encodable to JSON is a `DecodeFailed` error. `resumed`: the input
 * came back from the run table.
 */
export const decodeInput = (
  codec: t.Type<unknown, unknown>,
  given: unknown,
  workflowId: string,
  resumed: boolean,
  /** How the caller passes an input, for the message when none was given. */
  passIt = 'pass { input } to orchestrate / run$ / snapshot$',
): E.Either<CanoError, DecodedInput> => {
  const where = `input of run ${JSON.stringify(workflowId)}`
  if (given === undefined)
    return E.left(
      decodeFailedError(
        codec.name,
        [
          resumed
            ? 'no input to resume with: this workflow declares an input codec, and the run table holds no input for the run'
            : `no input given: this workflow declares an input codec; ${passIt}`,
        ],
        where,
      ),
    )
  let decoded: t.Validation<unknown>
  try {
    decoded = codec.decode(given)
  } catch (e: unknown) {
    // a value nested deeper than the codec's recursion can walk: a DecodeFailed, not a RangeError
    return E.left(decodeFailedError(codec.name, [describeThrownValue(e)], where))
  }
  if (E.isLeft(decoded))
    return E.left(
      decodeFailedError(
        codec.name,
        resumed && given === null
          ? [
              'no input to resume with: this workflow declares an input codec that does not take null, and the run table holds null for the run (recorded without an input)',
            ]
          : PathReporter.report(decoded),
        where,
      ),
    )
  return roundTrip(codec, decoded.right, where, 'input')
}

/** @internal `Configuration` error for an `input` given to a workflow that declares no input codec. */
export const unexpectedInput = (): CanoError =>
  configurationError('this workflow declares no input codec: run it without the input option (or declare `input`)')

// -------------------------------------------------------------------------------------
// output
// -------------------------------------------------------------------------------------

/** @internal Where an output is produced, for messages: `output at exit "Done"`. */
export const outputWhere = (exit: string): string => `output at exit ${JSON.stringify(exit)}`

/**
 * @internal The error of an output function that threw or rejected: a `CanoError` (or `CanoFailure`) as
 * it is, anything else a `TaskExecution` error naming the exit.
 */
export const outputFailed = (exit: string, thrown: unknown): CanoError => {
  if (isCanoError(thrown)) return thrown
  if (isCanoFailure(thrown)) return thrown.error
  const message = describeThrownValue(thrown)
  return taskExecutionError(`${outputWhere(exit)}: the output function failed: ${message}`, thrown)
}

/** @internal Encodes an output with its codec and reads it back: a value the codec rejects is `DecodeFailed`. */
export const encodeOutput = (
  codec: t.Type<unknown, unknown>,
  value: unknown,
  exit: string,
): E.Either<CanoError, ProducedOutput> => roundTrip(codec, value, outputWhere(exit), 'output')

/**
 * @internal Decodes the output a `RunCompleted` event carries (the run encoded it and checked that it
 * decodes, so this fails only for an event built by hand).
 */
export const decodeOutput = (codec: t.Type<unknown, unknown>, encoded: unknown): E.Either<CanoError, unknown> =>
  E.map((trip: { readonly decoded: unknown }) => trip.decoded)(decodeJson(codec, encoded, 'run output'))

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const roundTrip = (
  codec: t.Type<unknown, unknown>,
  value: unknown,
  where: string,
  what: string,
): E.Either<CanoError, { readonly encoded: JsonValue; readonly decoded: unknown }> => {
  const json = encodeJson(codec, value, where, what)
  if (E.isLeft(json)) return json
  const back = decodeJson(codec, json.right, where)
  return E.isLeft(back) ? back : E.right({ encoded: json.right, decoded: back.right.decoded })
}
