// The piece/chunk arithmetic, case by case (a table of edge cases with hand-computed spans), then
// as properties over seeded random geometries, then the validation of what callers pass in.

import { describe, expect, it } from 'vitest'
import { StorageError } from './errors.ts'
import { DEFAULT_CHUNK_SIZE, TorrentGeometry, type TorrentGeometryInput } from './geometry.ts'
import { randomGeometry, seededRandom } from './seeded-data.ts'

const hash = 'a'.repeat(40)
const MiB = 1_048_576
const KiB = 1_024

function single(pieceLength: number, totalSize: number): TorrentGeometryInput {
  return {
    infoHash: hash,
    name: 't',
    pieceLength,
    totalSize,
    files: [{ path: 'f', length: totalSize, offset: 0 }],
  }
}

type Span = [chunkIndex: number, start: number, end: number, pieceOffset: number]

interface Case {
  name: string
  pieceLength: number
  totalSize: number
  chunkSize: number
  pieceCount: number
  lastPieceLength: number
  chunkCount: number
  lastChunkLength: number
  pieces: Record<number, Span[]>
}

const cases: Case[] = [
  {
    name: 'pieces smaller than chunks, one straddling a chunk boundary',
    pieceLength: 30,
    totalSize: 250,
    chunkSize: 100,
    pieceCount: 9,
    lastPieceLength: 10,
    chunkCount: 3,
    lastChunkLength: 50,
    pieces: {
      0: [[0, 0, 30, 0]],
      2: [[0, 60, 90, 0]],
      3: [
        [0, 90, 100, 0],
        [1, 0, 20, 10],
      ],
      8: [[2, 40, 50, 0]],
      9: [],
    },
  },
  {
    name: 'pieces equal to chunks, last piece and last chunk short',
    pieceLength: 100,
    totalSize: 250,
    chunkSize: 100,
    pieceCount: 3,
    lastPieceLength: 50,
    chunkCount: 3,
    lastChunkLength: 50,
    pieces: { 0: [[0, 0, 100, 0]], 1: [[1, 0, 100, 0]], 2: [[2, 0, 50, 0]], 3: [] },
  },
  {
    name: 'pieces larger than chunks, not aligned to them',
    pieceLength: 250,
    totalSize: 600,
    chunkSize: 100,
    pieceCount: 3,
    lastPieceLength: 100,
    chunkCount: 6,
    lastChunkLength: 100,
    pieces: {
      0: [
        [0, 0, 100, 0],
        [1, 0, 100, 100],
        [2, 0, 50, 200],
      ],
      1: [
        [2, 50, 100, 0],
        [3, 0, 100, 50],
        [4, 0, 100, 150],
      ],
      2: [[5, 0, 100, 0]],
    },
  },
  {
    name: 'pieces straddling every chunk boundary',
    pieceLength: 150,
    totalSize: 300,
    chunkSize: 100,
    pieceCount: 2,
    lastPieceLength: 150,
    chunkCount: 3,
    lastChunkLength: 100,
    pieces: {
      0: [
        [0, 0, 100, 0],
        [1, 0, 50, 100],
      ],
      1: [
        [1, 50, 100, 0],
        [2, 0, 100, 50],
      ],
    },
  },
  {
    name: 'a one-byte torrent',
    pieceLength: 16 * KiB,
    totalSize: 1,
    chunkSize: DEFAULT_CHUNK_SIZE,
    pieceCount: 1,
    lastPieceLength: 1,
    chunkCount: 1,
    lastChunkLength: 1,
    pieces: { 0: [[0, 0, 1, 0]], 1: [] },
  },
  {
    name: '256 KiB pieces in 1 MiB chunks',
    pieceLength: 256 * KiB,
    totalSize: 2 * MiB + 100,
    chunkSize: MiB,
    pieceCount: 9,
    lastPieceLength: 100,
    chunkCount: 3,
    lastChunkLength: 100,
    pieces: { 5: [[1, 256 * KiB, 512 * KiB, 0]], 8: [[2, 0, 100, 0]] },
  },
  {
    name: '4 MiB pieces over 1 MiB chunks, last chunk short',
    pieceLength: 4 * MiB,
    totalSize: 6 * MiB + 512 * KiB,
    chunkSize: MiB,
    pieceCount: 2,
    lastPieceLength: 2 * MiB + 512 * KiB,
    chunkCount: 7,
    lastChunkLength: 512 * KiB,
    pieces: {
      1: [
        [4, 0, MiB, 0],
        [5, 0, MiB, MiB],
        [6, 0, 512 * KiB, 2 * MiB],
      ],
    },
  },
  {
    name: 'a piece both starting and ending inside chunks',
    pieceLength: 70,
    totalSize: 210,
    chunkSize: 50,
    pieceCount: 3,
    lastPieceLength: 70,
    chunkCount: 5,
    lastChunkLength: 10,
    pieces: {
      1: [
        [1, 20, 50, 0],
        [2, 0, 40, 30],
      ],
      2: [
        [2, 40, 50, 0],
        [3, 0, 50, 10],
        [4, 0, 10, 60],
      ],
    },
  },
]

describe('TorrentGeometry arithmetic', () => {
  for (const example of cases) {
    it(example.name, () => {
      const geometry = TorrentGeometry.from(single(example.pieceLength, example.totalSize), example.chunkSize)
      expect(geometry).toMatchObject({
        pieceCount: example.pieceCount,
        lastPieceLength: example.lastPieceLength,
        chunkCount: example.chunkCount,
        lastChunkLength: example.lastChunkLength,
      })
      for (const [index, spans] of Object.entries(example.pieces)) {
        const expected = spans.map(([chunkIndex, start, end, pieceOffset]) => ({
          chunkIndex,
          start,
          end,
          pieceOffset,
        }))
        expect(geometry.chunksOfPiece(Number(index)), `piece ${index}`).toEqual(expected)
      }
    })
  }

  it('maps the chunks of a piece mirror-wise to the pieces of a chunk', () => {
    const geometry = TorrentGeometry.from(single(70, 210), 50)
    expect(geometry.piecesOfChunk(2)).toEqual([
      { pieceIndex: 1, start: 30, end: 70, chunkOffset: 0 },
      { pieceIndex: 2, start: 0, end: 10, chunkOffset: 40 },
    ])
    expect(geometry.piecesOfChunk(4)).toEqual([{ pieceIndex: 2, start: 60, end: 70, chunkOffset: 0 }])
    expect(geometry.piecesOfChunk(5)).toEqual([])
    expect(geometry.piecesOfChunk(-1)).toEqual([])
  })

  it('maps an out-of-range piece index to nothing and rejects it at the boundary', () => {
    const geometry = TorrentGeometry.from(single(100, 250), 100)
    expect(geometry.chunksOfPiece(3)).toEqual([])
    expect(geometry.chunksOfPiece(-1)).toEqual([])
    for (const index of [3, -1, 1_000_000]) {
      const error = captureError(() => geometry.pieceSize(index))
      expect(StorageError.isInstance(error)).toBe(true)
      expect(error).toMatchObject({ code: 'ERR_PIECE_INDEX_OUT_OF_RANGE' })
    }
    expect(() => geometry.pieceSize(1.5)).toThrow(TypeError)
    expect(() => geometry.chunksOfPiece(Number.NaN)).toThrow(TypeError)
    expect(() => geometry.chunkLength(3)).toThrow(RangeError)
    expect(geometry.pieceBounds(2)).toEqual({ start: 200, end: 250 })
  })

  it('applies the read rules of the parity spec', () => {
    const geometry = TorrentGeometry.from(single(100, 250), 100)
    const table: Array<[index: number, offset: number, length: number, result: [number, number] | string]> = [
      [0, 0, 0, [0, 100]],
      [0, 10, -5, [10, 90]],
      [0, 10, 20, [10, 20]],
      [0, 90, 20, [90, 10]],
      [0, 100, 5, [100, 0]],
      [2, 50, 0, [50, 0]],
      [2, 49, 100, [49, 1]],
      [0, 101, 1, 'Offset 101 exceeds piece size 100'],
      [2, 51, 0, 'Offset 51 exceeds piece size 50'],
    ]
    for (const [index, offset, length, result] of table) {
      if (typeof result === 'string') {
        const error = captureError(() => geometry.readRange(index, offset, length))
        expect(error).toMatchObject({ code: 'ERR_OFFSET_OUT_OF_RANGE', message: result })
      } else {
        expect(geometry.readRange(index, offset, length)).toEqual({ offset: result[0], length: result[1] })
      }
    }
    expect(() => geometry.readRange(0, -1)).toThrow(RangeError)
    expect(() => geometry.readRange(0, 0, 0.5)).toThrow(TypeError)
  })

  it('maps a byte range of the stream to the pieces covering it', () => {
    const geometry = TorrentGeometry.from(single(100, 250), 64)
    const table: Array<[start: number, end: number, spans: Array<[number, number, number, number]>]> = [
      [0, 0, []],
      [250, 250, []],
      [
        0,
        250,
        [
          [0, 0, 100, 0],
          [1, 0, 100, 100],
          [2, 0, 50, 200],
        ],
      ],
      [10, 20, [[0, 10, 20, 0]]],
      [
        99,
        101,
        [
          [0, 99, 100, 0],
          [1, 0, 1, 1],
        ],
      ],
      [100, 200, [[1, 0, 100, 0]]],
      [
        199,
        250,
        [
          [1, 99, 100, 0],
          [2, 0, 50, 1],
        ],
      ],
      [249, 250, [[2, 49, 50, 0]]],
    ]
    for (const [start, end, spans] of table) {
      expect(geometry.piecesOfRange(start, end)).toEqual(
        spans.map(([pieceIndex, from, to, rangeOffset]) => ({
          pieceIndex,
          start: from,
          end: to,
          rangeOffset,
        })),
      )
    }
    expect(captureError(() => geometry.piecesOfRange(0, 251))).toMatchObject({
      code: 'ERR_OFFSET_OUT_OF_RANGE',
    })
    expect(captureError(() => geometry.piecesOfRange(-1, 10))).toMatchObject({
      code: 'ERR_OFFSET_OUT_OF_RANGE',
    })
    expect(() => geometry.piecesOfRange(20, 10)).toThrow(RangeError)
    expect(() => geometry.piecesOfRange(0.5, 10)).toThrow(TypeError)
    // Over random ranges the spans tile the range exactly.
    const { integer } = seededRandom(7)
    for (let round = 0; round < 200; round++) {
      const start = integer(251)
      const end = start + integer(251 - start)
      let covered = 0
      for (const span of geometry.piecesOfRange(start, end)) {
        expect(span.rangeOffset).toBe(covered)
        expect(span.pieceIndex * 100 + span.start).toBe(start + covered)
        expect(span.end).toBeLessThanOrEqual(geometry.pieceSize(span.pieceIndex))
        covered += span.end - span.start
      }
      expect(covered).toBe(end - start)
    }
  })

  it('tiles every piece and every chunk exactly, over random geometries', () => {
    const { integer } = seededRandom(42)
    const problems: string[] = []
    for (let round = 0; round < 200; round++) {
      const chunkSize = [997, 16 * KiB, 40_007, MiB][integer(4)]!
      const geometry = TorrentGeometry.from(randomGeometry(integer), chunkSize)
      const where = `round ${round} (piece ${geometry.pieceLength}, total ${geometry.totalSize}, chunk ${chunkSize})`
      let covered = 0
      for (let index = 0; index < geometry.pieceCount; index++) {
        const { start, end } = geometry.pieceBounds(index)
        let pieceOffset = 0
        for (const span of geometry.chunksOfPiece(index)) {
          const length = span.end - span.start
          if (span.pieceOffset !== pieceOffset) problems.push(`${where}: piece ${index} has a gap`)
          if (span.chunkIndex * chunkSize + span.start !== start + pieceOffset)
            problems.push(`${where}: misplaced`)
          if (span.end > geometry.chunkLength(span.chunkIndex) || length <= 0)
            problems.push(`${where}: bad span`)
          const mirror = geometry.piecesOfChunk(span.chunkIndex).find((entry) => entry.pieceIndex === index)
          if (
            mirror === undefined ||
            mirror.start !== span.pieceOffset ||
            mirror.end !== span.pieceOffset + length ||
            mirror.chunkOffset !== span.start
          ) {
            problems.push(`${where}: chunk ${span.chunkIndex} does not mirror piece ${index}`)
          }
          pieceOffset += length
        }
        if (pieceOffset !== end - start) problems.push(`${where}: piece ${index} is not covered`)
        covered += pieceOffset
      }
      if (covered !== geometry.totalSize) problems.push(`${where}: the pieces cover ${covered} bytes`)
      let chunkBytes = 0
      for (let chunkIndex = 0; chunkIndex < geometry.chunkCount; chunkIndex++) {
        for (const span of geometry.piecesOfChunk(chunkIndex)) chunkBytes += span.end - span.start
      }
      if (chunkBytes !== geometry.totalSize) problems.push(`${where}: the chunks cover ${chunkBytes} bytes`)
    }
    expect(problems).toEqual([])
  })
})

describe('TorrentGeometry validation', () => {
  const valid = single(16 * KiB, 40_000)

  it('accepts v1 and v2 info hashes, pad files and implicit padding between files', () => {
    expect(TorrentGeometry.from(valid).version).toBe(1)
    expect(TorrentGeometry.from({ ...valid, infoHash: 'b'.repeat(64) }).version).toBe(2)
    const padded = TorrentGeometry.from({
      ...valid,
      totalSize: 32 * KiB + 5,
      files: [
        { path: 'a', length: 100, offset: 0 },
        { path: '.pad/16284', length: 16_284, offset: 100, pad: true },
        { path: 'b', length: 10, offset: 16 * KiB },
        { path: 'c', length: 5, offset: 32 * KiB },
        { path: 'empty', length: 0, offset: 32 * KiB + 5 },
      ],
    })
    expect(padded.files.map((file) => file.pad)).toEqual([false, true, false, false, false])
    expect(padded.releaseId).toBe(hash)
    expect(TorrentGeometry.from({ ...valid, releaseId: 'release-1' }).releaseId).toBe('release-1')
  })

  const invalid: Array<[string, Partial<TorrentGeometryInput>]> = [
    ['a zero-length torrent', { totalSize: 0, files: [{ path: 'f', length: 0, offset: 0 }] }],
    ['an uppercase info hash', { infoHash: 'A'.repeat(40) }],
    ['a 39-character info hash', { infoHash: 'a'.repeat(39) }],
    ['a non-hex info hash', { infoHash: 'g'.repeat(40) }],
    ['an empty name', { name: '' }],
    ['a zero piece length', { pieceLength: 0 }],
    ['a fractional piece length', { pieceLength: 1.5 }],
    ['a negative total size', { totalSize: -1 }],
    ['a NaN total size', { totalSize: Number.NaN }],
    ['no files', { files: [] }],
    ['files shorter than the torrent (the selected files only)', { totalSize: 50_000 }],
    ['a file past the total size', { files: [{ path: 'f', length: 40_001, offset: 0 }] }],
    [
      'overlapping files',
      {
        files: [
          { path: 'a', length: 20_001, offset: 0 },
          { path: 'b', length: 20_000, offset: 20_000 },
        ],
      },
    ],
    ['a file without a path', { files: [{ path: '', length: 40_000, offset: 0 }] }],
    ['a negative file length', { files: [{ path: 'f', length: -1, offset: 0 }] }],
    [
      'a non-boolean pad flag',
      { files: [{ path: 'f', length: 40_000, offset: 0, pad: 1 as unknown as boolean }] },
    ],
  ]
  for (const [name, change] of invalid) {
    it(`rejects ${name} with ERR_INVALID_GEOMETRY`, () => {
      const error = captureError(() => TorrentGeometry.from({ ...valid, ...change }))
      expect(StorageError.isInstance(error), String(error)).toBe(true)
      expect(error).toMatchObject({ code: 'ERR_INVALID_GEOMETRY' })
    })
  }

  it('rejects a non-object with a TypeError and a bad chunk size with a RangeError', () => {
    expect(() => TorrentGeometry.from(null as unknown as TorrentGeometryInput)).toThrow(TypeError)
    expect(() => TorrentGeometry.from(valid, 0)).toThrow(RangeError)
    expect(() => TorrentGeometry.from(valid, 1.5)).toThrow(RangeError)
  })

  it('names the first layout difference', () => {
    const stored = TorrentGeometry.from(valid)
    expect(stored.layoutDifference(TorrentGeometry.from({ ...valid, name: 'renamed' }))).toBeUndefined()
    expect(stored.layoutDifference(TorrentGeometry.from({ ...valid, pieceLength: 32 * KiB }))).toMatch(
      /pieceLength/,
    )
    expect(
      stored.layoutDifference(
        TorrentGeometry.from({
          ...valid,
          files: [
            { path: 'a', length: 1, offset: 0 },
            { path: 'b', length: 39_999, offset: 1 },
          ],
        }),
      ),
    ).toMatch(/files/)
    expect(TorrentGeometry.from(stored.toJSON(), stored.chunkSize).layoutDifference(stored)).toBeUndefined()
  })
})

function captureError(run: () => unknown): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}
