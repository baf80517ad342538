// Geometry: the one place that knows where pieces, chunks and files sit on a torrent's flat byte
// stream (all files concatenated, pad files included). Every offset the storage uses comes from
// here, with the exact arithmetic of the parity spec, and indexes are validated at this boundary.

import { argumentOutOfRange, invalidArgumentType, StorageError } from './errors.ts'

/** Default chunk size: 1 MiB. */
export const DEFAULT_CHUNK_SIZE = 1_048_576
/** The 16 KiB unit peers request on the wire. */
export const BLOCK_SIZE = 16_384

/** One file of the torrent as the caller describes it (parse-torrent field names). */
export interface TorrentFileInput {
  path: string
  length: number
  /** Byte offset of the file in the torrent's flat byte stream. */
  offset: number
  /** A BEP 47 pad file. */
  pad?: boolean
}

/** What a caller knows about a torrent when opening it in a storage. */
export interface TorrentGeometryInput {
  /** Lowercase hex: 40 characters (v1, SHA-1) or 64 (v2, SHA-256). */
  infoHash: string
  name: string
  /** Bytes per piece, > 0. The last piece may be shorter. */
  pieceLength: number
  /** The whole torrent's flat byte stream, pad files included (never the selected files only); > 0. */
  totalSize: number
  /** In stream order; they must not overlap, and the last one ends at `totalSize`. */
  files: TorrentFileInput[]
  /** Free caller label (the parity spec's `release_id`); default: the info hash. */
  releaseId?: string
  magnetLink?: string
}

export interface TorrentFile {
  readonly path: string
  readonly length: number
  readonly offset: number
  readonly pad: boolean
}

/** A piece's share of one chunk. `start`/`end` are relative to the chunk (end exclusive). */
export interface ChunkSpan {
  readonly chunkIndex: number
  readonly start: number
  readonly end: number
  /** Where this span begins inside the piece. */
  readonly pieceOffset: number
}

/** A chunk's share of one piece. `start`/`end` are relative to the piece (end exclusive). */
export interface PieceSpan {
  readonly pieceIndex: number
  readonly start: number
  readonly end: number
  /** Where this span begins inside the chunk. */
  readonly chunkOffset: number
}

/** A piece's share of a byte range of the stream. `start`/`end` are relative to the piece (end exclusive). */
export interface RangeSpan {
  readonly pieceIndex: number
  readonly start: number
  readonly end: number
  /** Where this span begins inside the range. */
  readonly rangeOffset: number
}

/** A byte range inside one piece, after the read rules were applied. */
export interface PieceRange {
  readonly offset: number
  readonly length: number
}

const infoHashPattern = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

function invalid(message: string): StorageError {
  return new StorageError('ERR_INVALID_GEOMETRY', message)
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function assertInteger(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalidArgumentType(`${name} must be an integer, got ${String(value)}`)
  }
}

/**
 * The validated, immutable layout of one torrent over pieces and chunks. Fields follow
 * parse-torrent (`pieceLength`, `lastPieceLength`, `files[]` with `path`, `length`, `offset`).
 */
export class TorrentGeometry {
  readonly infoHash: string
  readonly name: string
  readonly releaseId: string
  readonly magnetLink: string | undefined
  /** 1 for a 40-character info hash, 2 for a 64-character one. */
  readonly version: 1 | 2
  readonly pieceLength: number
  readonly totalSize: number
  readonly pieceCount: number
  readonly lastPieceLength: number
  readonly chunkSize: number
  readonly chunkCount: number
  readonly lastChunkLength: number
  readonly files: readonly TorrentFile[]

  private constructor(input: TorrentGeometryInput, files: TorrentFile[], chunkSize: number) {
    this.infoHash = input.infoHash
    this.name = input.name
    this.releaseId = input.releaseId ?? input.infoHash
    this.magnetLink = input.magnetLink
    this.version = input.infoHash.length === 40 ? 1 : 2
    this.pieceLength = input.pieceLength
    this.totalSize = input.totalSize
    this.pieceCount = Math.ceil(input.totalSize / input.pieceLength)
    this.lastPieceLength = input.totalSize - (this.pieceCount - 1) * input.pieceLength
    this.chunkSize = chunkSize
    this.chunkCount = Math.ceil(input.totalSize / chunkSize)
    this.lastChunkLength = input.totalSize - (this.chunkCount - 1) * chunkSize
    this.files = Object.freeze(files.map((file) => Object.freeze(file)))
    Object.freeze(this)
  }

  /**
   * Validates a caller's description of a torrent. Throws a StorageError `ERR_INVALID_GEOMETRY`
   * for a wrong value (a zero-length torrent, a bad info hash, files that overlap or do not end at
   * `totalSize`, …), a TypeError when `input` is not an object, a RangeError for a bad chunk size.
   */
  static from(input: TorrentGeometryInput, chunkSize: number = DEFAULT_CHUNK_SIZE): TorrentGeometry {
    if (typeof input !== 'object' || input === null) {
      throw invalidArgumentType('The torrent geometry must be an object')
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
      throw argumentOutOfRange(`chunkSize must be a positive integer, got ${String(chunkSize)}`)
    }
    const { infoHash, name, pieceLength, totalSize, files, releaseId, magnetLink } = input
    if (typeof infoHash !== 'string' || !infoHashPattern.test(infoHash)) {
      throw invalid(`infoHash must be 40 or 64 lowercase hex characters, got ${JSON.stringify(infoHash)}`)
    }
    if (typeof name !== 'string' || name.length === 0) throw invalid('name must be a non-empty string')
    if (!isCount(pieceLength) || pieceLength === 0) {
      throw invalid(`pieceLength must be a positive integer, got ${String(pieceLength)}`)
    }
    if (!isCount(totalSize))
      throw invalid(`totalSize must be a non-negative integer, got ${String(totalSize)}`)
    if (totalSize === 0) throw invalid('A zero-length torrent has no pieces to store (totalSize is 0)')
    if (releaseId !== undefined && typeof releaseId !== 'string') throw invalid('releaseId must be a string')
    if (magnetLink !== undefined && typeof magnetLink !== 'string')
      throw invalid('magnetLink must be a string')
    if (!Array.isArray(files) || files.length === 0) throw invalid('files must be a non-empty array')
    const normalized: TorrentFile[] = []
    let end = 0
    for (const [position, file] of files.entries()) {
      if (typeof file !== 'object' || file === null) throw invalid(`files[${position}] must be an object`)
      if (typeof file.path !== 'string' || file.path.length === 0) {
        throw invalid(`files[${position}].path must be a non-empty string`)
      }
      if (!isCount(file.length)) throw invalid(`files[${position}].length must be a non-negative integer`)
      if (!isCount(file.offset)) throw invalid(`files[${position}].offset must be a non-negative integer`)
      if (file.pad !== undefined && typeof file.pad !== 'boolean') {
        throw invalid(`files[${position}].pad must be a boolean`)
      }
      if (file.offset < end) {
        throw invalid(
          `files[${position}] starts at ${file.offset}, inside the previous file (which ends at ${end})`,
        )
      }
      end = file.offset + file.length
      if (end > totalSize) {
        throw invalid(
          `files[${position}] ends at ${end}, past totalSize ${totalSize} (totalSize is the whole torrent)`,
        )
      }
      normalized.push({ path: file.path, length: file.length, offset: file.offset, pad: file.pad === true })
    }
    if (end !== totalSize) {
      throw invalid(
        `The files end at byte ${end} but totalSize is ${totalSize} (totalSize is the whole torrent)`,
      )
    }
    return new TorrentGeometry(
      { infoHash, name, pieceLength, totalSize, files, releaseId, magnetLink },
      normalized,
      chunkSize,
    )
  }

  /** Throws `ERR_PIECE_INDEX_OUT_OF_RANGE` unless `0 <= index < pieceCount` (TypeError if not an integer). */
  assertPieceIndex(index: number): void {
    assertInteger(index, 'The piece index')
    if (index < 0 || index >= this.pieceCount) {
      throw new StorageError(
        'ERR_PIECE_INDEX_OUT_OF_RANGE',
        `Piece index ${index} is out of range (the torrent has ${this.pieceCount} pieces)`,
      )
    }
  }

  /** Bytes in piece `index` (the last one may be short). Validates the index. */
  pieceSize(index: number): number {
    this.assertPieceIndex(index)
    return index === this.pieceCount - 1 ? this.lastPieceLength : this.pieceLength
  }

  /** Start and end (exclusive) of piece `index` in the flat byte stream. Validates the index. */
  pieceBounds(index: number): { start: number; end: number } {
    this.assertPieceIndex(index)
    const start = index * this.pieceLength
    return { start, end: Math.min(start + this.pieceLength, this.totalSize) }
  }

  /** Bytes in chunk `chunkIndex` (the last one may be short). */
  chunkLength(chunkIndex: number): number {
    assertInteger(chunkIndex, 'The chunk index')
    if (chunkIndex < 0 || chunkIndex >= this.chunkCount) {
      throw argumentOutOfRange(
        `Chunk index ${chunkIndex} is out of range (the torrent has ${this.chunkCount} chunks)`,
      )
    }
    return chunkIndex === this.chunkCount - 1 ? this.lastChunkLength : this.chunkSize
  }

  /**
   * The chunks holding piece `index`, in stream order, each with the chunk-relative byte range
   * the piece occupies. A piece index outside the torrent maps to nothing (an empty list).
   */
  chunksOfPiece(index: number): ChunkSpan[] {
    assertInteger(index, 'The piece index')
    if (index < 0 || index >= this.pieceCount) return []
    const pieceStart = index * this.pieceLength
    const pieceEnd = Math.min((index + 1) * this.pieceLength, this.totalSize)
    const spans: ChunkSpan[] = []
    const first = Math.floor(pieceStart / this.chunkSize)
    const last = Math.floor((pieceEnd - 1) / this.chunkSize)
    for (let chunkIndex = first; chunkIndex <= last; chunkIndex++) {
      const chunkStart = chunkIndex * this.chunkSize
      const chunkEnd = Math.min(chunkStart + this.chunkSize, this.totalSize)
      const start = Math.max(pieceStart, chunkStart) - chunkStart
      const end = Math.min(pieceEnd, chunkEnd) - chunkStart
      if (start < end) spans.push({ chunkIndex, start, end, pieceOffset: chunkStart + start - pieceStart })
    }
    return spans
  }

  /**
   * The mirror of {@link chunksOfPiece}: the pieces overlapping chunk `chunkIndex`, each with the
   * piece-relative byte range the chunk holds. A chunk index outside the torrent maps to nothing.
   */
  piecesOfChunk(chunkIndex: number): PieceSpan[] {
    assertInteger(chunkIndex, 'The chunk index')
    if (chunkIndex < 0 || chunkIndex >= this.chunkCount) return []
    const chunkStart = chunkIndex * this.chunkSize
    const chunkEnd = Math.min(chunkStart + this.chunkSize, this.totalSize)
    const spans: PieceSpan[] = []
    const first = Math.floor(chunkStart / this.pieceLength)
    const last = Math.floor((chunkEnd - 1) / this.pieceLength)
    for (let pieceIndex = first; pieceIndex <= last; pieceIndex++) {
      const pieceStart = pieceIndex * this.pieceLength
      const pieceEnd = Math.min(pieceStart + this.pieceLength, this.totalSize)
      const start = Math.max(chunkStart, pieceStart) - pieceStart
      const end = Math.min(chunkEnd, pieceEnd) - pieceStart
      if (start < end) spans.push({ pieceIndex, start, end, chunkOffset: pieceStart + start - chunkStart })
    }
    return spans
  }

  /**
   * The pieces overlapping bytes `[start, end)` of the flat stream (a file's bytes are
   * `[file.offset, file.offset + file.length)`), in order, each with the piece-relative range to
   * read. An empty range maps to nothing; a range outside `[0, totalSize]` throws
   * `ERR_OFFSET_OUT_OF_RANGE`, and `end < start` or a non-integer is a RangeError or TypeError.
   */
  piecesOfRange(start: number, end: number): RangeSpan[] {
    assertInteger(start, 'The range start')
    assertInteger(end, 'The range end')
    if (end < start) throw argumentOutOfRange(`The range end ${end} is before its start ${start}`)
    if (start < 0 || end > this.totalSize) {
      throw new StorageError(
        'ERR_OFFSET_OUT_OF_RANGE',
        `The range ${start}-${end} is outside the torrent's ${this.totalSize} bytes`,
      )
    }
    const spans: RangeSpan[] = []
    if (start === end) return spans
    const first = Math.floor(start / this.pieceLength)
    const last = Math.floor((end - 1) / this.pieceLength)
    for (let pieceIndex = first; pieceIndex <= last; pieceIndex++) {
      const pieceStart = pieceIndex * this.pieceLength
      const pieceEnd = Math.min(pieceStart + this.pieceLength, this.totalSize)
      const from = Math.max(start, pieceStart)
      const to = Math.min(end, pieceEnd)
      spans.push({ pieceIndex, start: from - pieceStart, end: to - pieceStart, rangeOffset: from - start })
    }
    return spans
  }

  /**
   * Applies the parity spec's read rules to `readPiece(index, offset, length)`: `length <= 0`
   * reads to the end of the piece, a read past the end is cut at the end, `offset` equal to the
   * piece size gives an empty range, a larger offset throws `ERR_OFFSET_OUT_OF_RANGE`
   * ("Offset X exceeds piece size Y"). A negative offset is a RangeError.
   */
  readRange(index: number, offset = 0, length = 0): PieceRange {
    const size = this.pieceSize(index)
    assertInteger(offset, 'The offset')
    assertInteger(length, 'The length')
    if (offset < 0) throw argumentOutOfRange(`The offset must not be negative, got ${offset}`)
    if (offset > size) {
      throw new StorageError('ERR_OFFSET_OUT_OF_RANGE', `Offset ${offset} exceeds piece size ${size}`)
    }
    const available = size - offset
    return { offset, length: length <= 0 ? available : Math.min(length, available) }
  }

  /**
   * Compares the layout (piece length, total size, files' lengths, offsets and pad flags) with
   * another description of the same torrent. Returns a sentence naming the first difference, or
   * undefined when the two lay the bytes out identically.
   */
  layoutDifference(other: TorrentGeometry): string | undefined {
    if (other.pieceLength !== this.pieceLength) {
      return `pieceLength ${other.pieceLength} differs from the stored ${this.pieceLength}`
    }
    if (other.totalSize !== this.totalSize) {
      return `totalSize ${other.totalSize} differs from the stored ${this.totalSize}`
    }
    if (other.files.length !== this.files.length) {
      return `${other.files.length} files differ from the stored ${this.files.length}`
    }
    for (const [position, file] of this.files.entries()) {
      const theirs = other.files[position]!
      if (theirs.length !== file.length || theirs.offset !== file.offset || theirs.pad !== file.pad) {
        return `files[${position}] (${theirs.offset}+${theirs.length}) differs from the stored (${file.offset}+${file.length})`
      }
    }
    return undefined
  }

  /** A plain description that {@link TorrentGeometry.from} accepts again. */
  toJSON(): TorrentGeometryInput & { chunkSize: number } {
    return {
      infoHash: this.infoHash,
      name: this.name,
      pieceLength: this.pieceLength,
      totalSize: this.totalSize,
      files: this.files.map((file) => ({ ...file })),
      releaseId: this.releaseId,
      ...(this.magnetLink === undefined ? {} : { magnetLink: this.magnetLink }),
      chunkSize: this.chunkSize,
    }
  }
}
