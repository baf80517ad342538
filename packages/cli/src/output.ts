// What the user sees. Three forms of the same events: a live progress line on a terminal, plain
// lines when the output is a file or a pipe, and with --json one JSON object per line on stdout
// (the README lists the events). Warnings and errors always go to stderr as one line.
import type { Writable } from 'node:stream'
import { describeError } from './errors.ts'
import { formatBytes, formatDuration, formatRate } from './units.ts'

export interface OutputOptions {
  json?: boolean
  quiet?: boolean
  verbose?: boolean
}

export interface OutputStreams {
  stdout: Writable & { isTTY?: boolean; columns?: number }
  stderr: Writable
}

/** One progress report: the client's progress event plus what the view needs. */
export interface ProgressReport {
  infoHash: string
  name: string | undefined
  state: string
  progress: number
  /** Bytes of the wanted files verified and stored. */
  downloaded: number
  /** Bytes of the wanted files. */
  wanted: number
  /** Payload bytes received from peers in this run. */
  received: number
  uploaded: number
  downloadRate: number
  uploadRate: number
  peers: number
  piecesVerified: number
  pieceCount: number
  /** Seconds to the end at the current rate; undefined when unknown. */
  eta: number | undefined
}

/** Seconds between plain progress lines (a terminal line is redrawn at every report). */
const plainInterval = 5_000

export class Output {
  readonly json: boolean
  readonly quiet: boolean
  readonly verbose: boolean
  readonly #stdout: OutputStreams['stdout']
  readonly #stderr: Writable
  #barShown = false
  #lastPlain = 0

  constructor(options: OutputOptions, streams: OutputStreams = process) {
    this.json = options.json === true
    this.quiet = options.quiet === true
    this.verbose = options.verbose === true
    this.#stdout = streams.stdout
    this.#stderr = streams.stderr
  }

  /** A live line is drawn only on a terminal, and not in JSON mode. */
  get interactive(): boolean {
    return !this.json && this.#stdout.isTTY === true
  }

  /**
   * An event: with --json, `{ "event": name, "time": …, …fields }` on stdout; otherwise the human
   * line, if any (suppressed by --quiet unless `always`).
   */
  event(name: string, fields: Record<string, unknown>, human?: string, options: { always?: boolean } = {}) {
    if (this.json) {
      this.#stdout.write(`${JSON.stringify({ event: name, time: new Date().toISOString(), ...fields })}\n`)
      return
    }
    if (human !== undefined && (!this.quiet || options.always)) this.line(human)
  }

  /** A line of the human output (tables, summaries); nothing in JSON mode. */
  line(text: string): void {
    if (this.json) return
    this.#clearBar()
    this.#stdout.write(`${text}\n`)
  }

  /** A JSON document on its own line (ls, info, stats in --json mode). */
  document(value: unknown): void {
    this.#stdout.write(`${JSON.stringify(value)}\n`)
  }

  warning(message: string, code: string | undefined): void {
    if (this.json) this.event('warning', { code, message })
    this.#clearBar()
    this.#stderr.write(`chunktorrent: warning: ${message}${code ? ` (${code})` : ''}\n`)
  }

  /** The error line (and the stack with --verbose); in JSON mode an `error` event too. */
  error(error: unknown): void {
    const { message, code } = describeError(error)
    if (this.json) this.event('error', { code, message })
    this.#clearBar()
    this.#stderr.write(`chunktorrent: error: ${message} (${code})\n`)
    if (this.verbose && error instanceof Error && error.stack) {
      this.#stderr.write(`${error.stack}\n`)
      let cause = error.cause
      while (cause instanceof Error) {
        this.#stderr.write(`caused by: ${cause.stack ?? cause.message}\n`)
        cause = cause.cause
      }
    }
  }

  /** Extra detail for --verbose (stderr, so it never mixes with results or JSON). */
  debug(message: string): void {
    if (!this.verbose) return
    this.#clearBar()
    this.#stderr.write(`chunktorrent: ${message}\n`)
  }

  progress(report: ProgressReport): void {
    if (this.json) {
      this.event('progress', { ...report })
      return
    }
    if (this.quiet) return
    if (this.interactive) {
      // A pseudo-terminal may report 0 columns: then $COLUMNS, else 80.
      const text = progressLine(report, this.#stdout.columns || Number(process.env.COLUMNS) || 80)
      this.#stdout.write(`\r\u001b[2K${text}`)
      this.#barShown = true
      return
    }
    const now = Date.now()
    if (now - this.#lastPlain < plainInterval) return
    this.#lastPlain = now
    this.#stdout.write(`${progressLine(report, 0)}\n`)
  }

  /** Ends a live line (before the process prints its last lines or exits). */
  endProgress(): void {
    this.#clearBar()
  }

  #clearBar(): void {
    if (!this.#barShown) return
    this.#stdout.write('\r\u001b[2K')
    this.#barShown = false
  }
}

/**
 * "42.3% [=======>      ] 12.3 MiB/29.1 MiB  3.20 MiB/s  2 peers  ETA 5s". `columns` 0: no bar
 * (plain lines). Seeding shows upload instead.
 */
export function progressLine(report: ProgressReport, columns: number): string {
  const peers = `${report.peers} peer${report.peers === 1 ? '' : 's'}`
  if (report.state === 'seeding') {
    return `seeding  up ${formatRate(report.uploadRate)}  ${formatBytes(report.uploaded)} uploaded  ${peers}`
  }
  const percent = `${(report.progress * 100).toFixed(1).padStart(5)}%`
  const state = report.state === 'downloading' ? '' : `${report.state}  `
  const sizes = `${formatBytes(report.downloaded)}/${formatBytes(report.wanted)}`
  const tail = `${state}${sizes}  ${formatRate(report.downloadRate)}  ${peers}  ETA ${formatDuration(report.eta)}`
  if (columns <= 0) return `${percent}  ${tail}`
  const room = columns - percent.length - tail.length - 5
  if (room < 10) return `${percent}  ${tail}`.slice(0, Math.max(columns - 1, 1))
  const width = Math.min(room, 40)
  const filled = Math.min(width, Math.floor(report.progress * width))
  const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`
  return `${percent} [${bar}] ${tail}`
}
