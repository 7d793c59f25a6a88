/**
 * Type tests of `logObserver`'s sink: the loggers it is meant for fit `LogSink` as they are. pino is not a
 * dependency of this project; its `LogFn` is written here as pino 9's declarations spell it (three
 * overloads, `any` rest arguments written `unknown` here), which is what a `pino()` logger's `info`,
 * `warn`, `error` and `debug` are.
 */
import type { LogFields, LogSink } from '../../src/LogObserver.js'
import { logObserver } from '../../src/LogObserver.js'

/** pino's `LogFn`. */
interface PinoLogFn {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- pino's own signature
  <T extends object>(obj: T, msg?: string, ...args: unknown[]): void
  (obj: unknown, msg?: string, ...args: unknown[]): void
  (msg: string, ...args: unknown[]): void
}

/** The part of pino's `Logger` a sink uses (a real one has more: `level`, `child`, `fatal`, `trace`, …). */
interface PinoLogger {
  level: string
  fatal: PinoLogFn
  error: PinoLogFn
  warn: PinoLogFn
  info: PinoLogFn
  debug: PinoLogFn
  trace: PinoLogFn
  child: (bindings: Record<string, unknown>) => PinoLogger
}

declare const pinoLogger: PinoLogger
export const fromPino: LogSink = pinoLogger
export const fromConsole: LogSink = console
logObserver(pinoLogger)
logObserver(console)

// a logger without debug fits (its debug lines are dropped); one without warn does not
export const noDebug: LogSink = { info: () => undefined, warn: () => undefined, error: () => undefined }
// @ts-expect-error warn is required
export const noWarn: LogSink = { info: () => undefined, error: () => undefined }
// a method that wants more than the fields and the message does not fit
// @ts-expect-error the third parameter is required
export const tooDemanding: LogSink = { ...noDebug, info: (_f: LogFields, _m: string, _extra: number) => undefined }
