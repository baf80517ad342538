// How the command fails: every error ends as one line (message and code) and an exit code. The
// CLI's own errors say which exit code they mean; errors from the other packages keep their code
// (TorrentError, StorageError, Node's) and are failures, except argument mistakes.

/** Exit codes, as documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** 128 + SIGINT. */
  interrupted: 130,
  /** 128 + SIGTERM. */
  terminated: 143,
} as const

/** A failure the CLI itself detects, with a code in the packages' `ERR_…` style. */
export class CliError extends Error {
  readonly code: string
  readonly exitCode: number

  constructor(message: string, options: { code: string; exitCode?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CliError'
    this.code = options.code
    this.exitCode = options.exitCode ?? ExitCode.failure
  }
}

/** The command line is wrong: a bad value, a missing argument, options that exclude each other. */
export function usageError(message: string, code = 'ERR_USAGE'): CliError {
  return new CliError(message, { code, exitCode: ExitCode.usage })
}

/** Thrown where a long command stops because of SIGINT or SIGTERM. */
export class Interrupted extends Error {
  readonly signal: NodeJS.Signals

  constructor(signal: NodeJS.Signals) {
    super(`Interrupted by ${signal}`)
    this.name = 'Interrupted'
    this.signal = signal
  }
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : undefined
}

/** Codes of argument errors the packages throw before doing anything (a bad value on the command line). */
const usageCodes = new Set([
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_OUT_OF_RANGE',
  'ERR_INVALID_INFO_HASH',
  'ERR_INVALID_PEER',
  'ERR_INVALID_MAGNET',
])

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode
  if (error instanceof Interrupted)
    return error.signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted
  const code = codeOf(error)
  if ((error instanceof TypeError || error instanceof RangeError) && code && usageCodes.has(code))
    return ExitCode.usage
  if (code === 'ERR_INVALID_MAGNET') return ExitCode.usage
  return ExitCode.failure
}

/** One line: the message, then the code in parentheses; a cause's message is added when it says more. */
export function describeError(error: unknown): { message: string; code: string } {
  if (!(error instanceof Error)) return { message: String(error), code: 'ERR_UNKNOWN' }
  const code = codeOf(error) ?? 'ERR_UNKNOWN'
  let message = error.message.split('\n')[0] ?? error.message
  const cause = error.cause
  if (cause instanceof Error && cause.message && !message.includes(cause.message)) {
    message += `: ${cause.message.split('\n')[0]}`
  }
  return { message, code }
}
