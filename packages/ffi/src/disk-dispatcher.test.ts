// Unit tests for the pure parts of the dispatcher: errno mapping and file slices.
import { constants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { errnoOf, makeDiskStorage } from './disk-dispatcher.ts'

describe('errnoOf', () => {
  it('finds the errno in code, syscallCode, errno or a cause; EIO otherwise', () => {
    expect(errnoOf(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toBe(constants.errno.ENOSPC)
    expect(errnoOf({ code: 'ERR_STORAGE_IO', syscallCode: 'EROFS' })).toBe(constants.errno.EROFS)
    expect(errnoOf({ code: 'ERR_X', cause: { code: 'EACCES' } })).toBe(constants.errno.EACCES)
    expect(errnoOf({ errno: -constants.errno.EPERM })).toBe(constants.errno.EPERM)
    expect(errnoOf(new Error('plain'))).toBe(constants.errno.EIO)
    expect(errnoOf('not an error')).toBe(constants.errno.EIO)
    expect(errnoOf({ code: 'SQLITE_FULL' })).toBe(constants.errno.EIO)
  })
})

describe('mapPiece', () => {
  const storage = makeDiskStorage({
    index: 0,
    infoHash: 'a'.repeat(40),
    name: 't',
    savePath: '.',
    pieceLength: 16,
    totalSize: 48,
    pieceCount: 3,
    files: [
      { index: 0, path: 't/a', length: 10, offset: 0, pad: false },
      { index: 1, path: 't/.pad/6', length: 6, offset: 10, pad: true },
      { index: 2, path: 't/empty', length: 0, offset: 16, pad: false },
      { index: 3, path: 't/b', length: 32, offset: 16, pad: false },
    ],
  })

  it('maps a piece onto files, leaving out pad and empty files', () => {
    expect(storage.mapPiece(0)).toEqual([
      { fileIndex: 0, path: 't/a', fileOffset: 0, pieceOffset: 0, length: 10 },
    ])
    expect(storage.mapPiece(1, 4, 8)).toEqual([
      { fileIndex: 3, path: 't/b', fileOffset: 4, pieceOffset: 4, length: 8 },
    ])
    expect(storage.mapPiece(2)).toEqual([
      { fileIndex: 3, path: 't/b', fileOffset: 16, pieceOffset: 0, length: 16 },
    ])
  })

  it('knows piece sizes and refuses indexes out of range', () => {
    expect([storage.pieceSize(0), storage.pieceSize(2), storage.pieceSize(3), storage.pieceSize(-1)]).toEqual(
      [16, 16, 0, 0],
    )
  })
})
