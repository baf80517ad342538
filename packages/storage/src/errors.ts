// Errors of the storage package: one class with a string `code` and a `cause`, recognisable
// across copies of the package through a `Symbol.for` marker, plus the argument errors
// (TypeError / RangeError carrying a Node-style `code`) thrown before any work starts.

const errorMarker = Symbol.for('chunktorrent.error')
const storageErrorMarker = Symbol.for('chunktorrent.error.StorageError')

/** Every code a {@link StorageError} can carry. */
export type StorageErrorCode =
  | 'ERR_PIECE_NOT_FOUND'
  | 'ERR_PIECE_NOT_WRITTEN'
  | 'ERR_PIECE_INDEX_OUT_OF_RANGE'
  | 'ERR_OFFSET_OUT_OF_RANGE'
  | 'ERR_CHUNK_MISSING'
  | 'ERR_CHUNK_TRUNCATED'
  | 'ERR_INVALID_GEOMETRY'
  | 'ERR_GEOMETRY_MISMATCH'
  | 'ERR_STORE_LOCKED'
  | 'ERR_STORE_INCOMPATIBLE'
  | 'ERR_STORAGE_CLOSED'
  | 'ERR_TORRENT_CLOSED'
  | 'ERR_STORAGE_IO'
  | 'ERR_ENVELOPE_TRUNCATED'
  | 'ERR_ENVELOPE_MALFORMED'
  | 'ERR_ENVELOPE_AUTH'
  | 'ERR_REMOTE_IO'
  | 'ERR_REMOTE_CORRUPT'
  | 'ERR_REMOTE_KEY'
  | 'ERR_REMOTE_ABORTED'
  | 'ERR_REMOTE_UNAVAILABLE'

export interface StorageErrorOptions {
  cause?: unknown
  /** The OS error code (`'ENOSPC'`, `'EIO'`, …) when an operating-system call failed. */
  syscallCode?: string
}

/**
 * The one error class of the storage package. `code` says what went wrong; for failed file-system
 * or SQLite calls the code is `ERR_STORAGE_IO`, `cause` is the original error and `syscallCode`
 * its OS error code (`'ENOSPC'`, `'EIO'`, `'EROFS'`, `'EACCES'`, …).
 */
export class StorageError extends Error {
  readonly code: StorageErrorCode
  readonly syscallCode: string | undefined

  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'StorageError'
    Object.defineProperty(this, errorMarker, { value: true })
    Object.defineProperty(this, storageErrorMarker, { value: true })
    this.code = code
    this.syscallCode = options.syscallCode
  }

  /** True for a StorageError from any copy of this package (a plain `instanceof` is not). */
  static isInstance(value: unknown): value is StorageError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[errorMarker] === true &&
      (value as Record<symbol, unknown>)[storageErrorMarker] === true
    )
  }
}

/** True for an error of any chunktorrent package (they share the `chunktorrent.error` marker). */
export function isChunktorrentError(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[errorMarker] === true
  )
}

/** A TypeError with a Node-style code, for arguments of the wrong type. */
export function invalidArgumentType(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

/** A RangeError with a Node-style code, for arguments of the right type but a wrong value. */
export function argumentOutOfRange(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' })
}

const sqliteToSyscall: Record<string, string> = {
  SQLITE_FULL: 'ENOSPC',
  SQLITE_READONLY: 'EROFS',
  SQLITE_PERM: 'EACCES',
  SQLITE_CANTOPEN: 'EACCES',
  SQLITE_IOERR: 'EIO',
  SQLITE_CORRUPT: 'EIO',
  SQLITE_NOTADB: 'EIO',
}

/** The OS error code behind a Node fs error or a better-sqlite3 error, if any. */
export function syscallCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return undefined
  if (/^E[A-Z0-9]+$/.test(code)) return code
  if (code.startsWith('SQLITE_')) {
    if (code.startsWith('SQLITE_IOERR')) return 'EIO'
    if (code.startsWith('SQLITE_READONLY')) return 'EROFS'
    if (code.startsWith('SQLITE_CANTOPEN')) return 'EACCES'
    return sqliteToSyscall[code]
  }
  return undefined
}

/**
 * Wraps a failed OS or SQLite call as `ERR_STORAGE_IO`, keeping the original error as `cause`
 * and its errno string as `syscallCode`. StorageErrors and argument errors pass through.
 */
export function toStorageError(error: unknown, what: string): Error {
  if (StorageError.isInstance(error) || error instanceof TypeError || error instanceof RangeError) {
    return error
  }
  const syscallCode = syscallCodeOf(error)
  const detail = error instanceof Error ? error.message : String(error)
  return new StorageError('ERR_STORAGE_IO', `${what} failed: ${detail}`, { cause: error, syscallCode })
}
