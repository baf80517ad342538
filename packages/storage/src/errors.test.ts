// The error class: codes, causes, the OS error code of failed calls, and the cross-copy check.

import { describe, expect, it } from 'vitest'
import { isChunktorrentError, StorageError, toStorageError } from './errors.ts'

describe('StorageError', () => {
  it('carries a code, a message and a cause', () => {
    const cause = new Error('inner')
    const error = new StorageError('ERR_PIECE_NOT_FOUND', 'Piece mapping not found for piece 3', { cause })
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({ name: 'StorageError', code: 'ERR_PIECE_NOT_FOUND', cause })
    expect(StorageError.isInstance(error)).toBe(true)
    expect(isChunktorrentError(error)).toBe(true)
  })

  it('is recognised across copies of the package through the Symbol.for markers', () => {
    const foreign = Object.assign(new Error('from another copy'), { code: 'ERR_CHUNK_MISSING' })
    Object.defineProperty(foreign, Symbol.for('chunktorrent.error'), { value: true })
    expect(isChunktorrentError(foreign)).toBe(true)
    expect(StorageError.isInstance(foreign)).toBe(false)
    Object.defineProperty(foreign, Symbol.for('chunktorrent.error.StorageError'), { value: true })
    expect(StorageError.isInstance(foreign)).toBe(true)
    expect(StorageError.isInstance(new Error('plain'))).toBe(false)
    expect(StorageError.isInstance(null)).toBe(false)
    expect(StorageError.isInstance('ERR_CHUNK_MISSING')).toBe(false)
  })

  it('wraps failed OS and SQLite calls as ERR_STORAGE_IO with the errno string', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    const wrapped = toStorageError(enospc, 'Writing piece 1') as StorageError
    expect(wrapped).toMatchObject({ code: 'ERR_STORAGE_IO', syscallCode: 'ENOSPC', cause: enospc })
    expect(wrapped.message).toMatch(/^Writing piece 1 failed: ENOSPC/)
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    expect(toStorageError(full, 'x')).toMatchObject({ syscallCode: 'ENOSPC' })
    const ioError = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' })
    expect(toStorageError(ioError, 'x')).toMatchObject({ syscallCode: 'EIO' })
    expect(toStorageError('odd', 'x')).toMatchObject({ code: 'ERR_STORAGE_IO', syscallCode: undefined })
    const passthrough = new StorageError('ERR_CHUNK_MISSING', 'Chunk x not in cache')
    expect(toStorageError(passthrough, 'x')).toBe(passthrough)
    const argument = new RangeError('bad')
    expect(toStorageError(argument, 'x')).toBe(argument)
  })
})
