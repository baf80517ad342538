// One error class for everything the engine reports: a string `code` (ERR_…), a `cause`, and
// libtorrent's own error_code where there is one. `isInstance` works across copies of the
// package (a Symbol.for marker rather than instanceof).
const marker = Symbol.for('chunktorrent.error')

export interface LibtorrentErrorCode {
  category: string
  value: number
  message: string
}

export interface TorrentErrorOptions {
  code: string
  cause?: unknown
  libtorrent?: LibtorrentErrorCode
  infoHash?: string
}

export class TorrentError extends Error {
  readonly code: string
  readonly libtorrent: LibtorrentErrorCode | undefined
  readonly infoHash: string | undefined
  readonly [marker] = true

  constructor(message: string, options: TorrentErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TorrentError'
    this.code = options.code
    this.libtorrent = options.libtorrent
    this.infoHash = options.infoHash
  }

  static isInstance(value: unknown): value is TorrentError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true
  }
}

/** A TypeError or RangeError with a Node-style `code`, thrown before native code runs. */
export function argumentError(kind: 'type' | 'range', code: string, message: string): TypeError | RangeError {
  const error = kind === 'type' ? new TypeError(message) : new RangeError(message)
  Object.defineProperty(error, 'code', { value: code, enumerable: true })
  return error
}
