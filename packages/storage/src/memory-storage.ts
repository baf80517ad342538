// MemoryStorage: the storage interface kept in memory, for tests, short-lived sessions and as the
// reference model of the semantics. It cuts torrents into chunks with the same geometry as the
// chunk store, so its stats and edge cases match; nothing survives the process.

import { createHash, randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { argumentOutOfRange, invalidArgumentType, StorageError } from './errors.ts'
import { DEFAULT_CHUNK_SIZE, TorrentGeometry, type TorrentGeometryInput } from './geometry.ts'
import {
  DEFAULT_CACHE_LIMIT_BYTES,
  DEFAULT_CACHE_LIMIT_CHUNKS,
  type HashAlgorithm,
  newStorageCounters,
  type Storage,
  type StorageEvents,
  type StorageStats,
  type StorageWarning,
  type StoredTorrent,
  type TorrentStorage,
} from './storage.ts'

export interface MemoryStorageOptions {
  /** Bytes per chunk; default 1 MiB. */
  chunkSize?: number
  /** Bytes held before the over-limit warning; default 1 GiB. Nothing is ever evicted. */
  cacheLimitBytes?: number
  /** Chunks held before the over-limit warning; default 10,000. */
  cacheLimitChunks?: number
}

interface MemoryTorrent {
  readonly id: string
  geometry: TorrentGeometry
  readonly chunks: Array<Buffer | undefined>
  readonly written: Uint8Array
  readonly verified: Uint8Array
  verifiedCount: number
  readonly createdAt: string
  handle: MemoryTorrentStorage | undefined
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw argumentOutOfRange(`${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** The storage interface in memory. `new MemoryStorage()`, then `openTorrent`. */
export class MemoryStorage extends EventEmitter<StorageEvents> implements Storage {
  readonly kind = 'memory'
  readonly chunkSize: number
  readonly cacheLimitBytes: number
  readonly cacheLimitChunks: number
  readonly #torrents = new Map<string, MemoryTorrent>()
  #closed = false
  #overLimit = false
  #localChunks = 0
  #localBytes = 0
  readonly #counters = newStorageCounters()

  constructor(options: MemoryStorageOptions = {}) {
    super()
    this.chunkSize = positiveInteger(options.chunkSize, 'chunkSize', DEFAULT_CHUNK_SIZE)
    this.cacheLimitBytes = positiveInteger(
      options.cacheLimitBytes,
      'cacheLimitBytes',
      DEFAULT_CACHE_LIMIT_BYTES,
    )
    this.cacheLimitChunks = positiveInteger(
      options.cacheLimitChunks,
      'cacheLimitChunks',
      DEFAULT_CACHE_LIMIT_CHUNKS,
    )
  }

  async openTorrent(input: TorrentGeometryInput): Promise<TorrentStorage> {
    this.#assertOpen()
    const requested = TorrentGeometry.from(input, this.chunkSize)
    const stored = this.#torrents.get(requested.infoHash)
    if (stored !== undefined) {
      const difference = stored.geometry.layoutDifference(requested)
      if (difference !== undefined) {
        throw new StorageError(
          'ERR_GEOMETRY_MISMATCH',
          `Torrent ${requested.infoHash} is stored with a different layout: ${difference}`,
        )
      }
      if (stored.handle !== undefined) return stored.handle
      stored.geometry = TorrentGeometry.from(
        {
          ...input,
          releaseId: input.releaseId ?? stored.geometry.releaseId,
          magnetLink: input.magnetLink ?? stored.geometry.magnetLink,
        },
        stored.geometry.chunkSize,
      )
      stored.handle = new MemoryTorrentStorage(this.#operations, stored)
      return stored.handle
    }
    const torrent: MemoryTorrent = {
      id: randomUUID(),
      geometry: requested,
      chunks: new Array<Buffer | undefined>(requested.chunkCount).fill(undefined),
      written: new Uint8Array(requested.pieceCount),
      verified: new Uint8Array(requested.pieceCount),
      verifiedCount: 0,
      createdAt: new Date().toISOString(),
      handle: undefined,
    }
    torrent.handle = new MemoryTorrentStorage(this.#operations, torrent)
    this.#torrents.set(requested.infoHash, torrent)
    return torrent.handle
  }

  async listTorrents(): Promise<StoredTorrent[]> {
    this.#assertOpen()
    return [...this.#torrents.values()]
      .sort((a, b) => (a.geometry.infoHash < b.geometry.infoHash ? -1 : 1))
      .map(({ geometry, verifiedCount, createdAt, handle }) => ({
        infoHash: geometry.infoHash,
        name: geometry.name,
        releaseId: geometry.releaseId,
        magnetLink: geometry.magnetLink,
        pieceLength: geometry.pieceLength,
        totalSize: geometry.totalSize,
        pieceCount: geometry.pieceCount,
        verifiedCount,
        chunkSize: geometry.chunkSize,
        files: geometry.files,
        complete: verifiedCount === geometry.pieceCount,
        open: handle !== undefined,
        createdAt,
      }))
  }

  async deleteTorrent(infoHash: string): Promise<void> {
    this.#assertOpen()
    if (typeof infoHash !== 'string') throw invalidArgumentType('The info hash must be a string')
    const torrent = this.#torrents.get(infoHash)
    if (torrent === undefined) return
    if (torrent.handle !== undefined) torrent.handle.closed = true
    torrent.handle = undefined
    for (const chunk of torrent.chunks) {
      if (chunk === undefined) continue
      this.#localChunks--
      this.#localBytes -= chunk.length
    }
    this.#torrents.delete(infoHash)
    this.#checkLimits()
  }

  stats(): StorageStats {
    this.#assertOpen()
    let pinnedBytes = 0
    for (const torrent of this.#torrents.values()) {
      if (torrent.handle === undefined) continue
      for (const chunk of torrent.chunks) pinnedBytes += chunk?.length ?? 0
    }
    return {
      torrentCount: this.#torrents.size,
      openTorrentCount: [...this.#torrents.values()].filter((torrent) => torrent.handle !== undefined).length,
      ...this.#counters,
      chunkCount: this.#localChunks,
      bytesOnDisk: this.#localBytes,
      pinnedBytes,
      cacheLimitBytes: this.cacheLimitBytes,
      cacheLimitChunks: this.cacheLimitChunks,
      overLimit: this.#overLimit,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const torrent of this.#torrents.values()) {
      if (torrent.handle !== undefined) torrent.handle.closed = true
      torrent.handle = undefined
    }
    this.#torrents.clear()
  }

  readonly #operations: MemoryOperations = {
    check: (torrent, handle) => {
      this.#assertOpen()
      if (handle.closed || torrent.handle !== handle) {
        throw new StorageError(
          'ERR_TORRENT_CLOSED',
          `The torrent ${torrent.geometry.infoHash} is closed in this storage`,
        )
      }
    },
    writePiece: (torrent, index, data) => {
      const { geometry } = torrent
      const size = geometry.pieceSize(index)
      if (!(data instanceof Uint8Array)) throw invalidArgumentType('The piece data must be a Uint8Array')
      if (data.length !== size)
        throw argumentOutOfRange(`Piece ${index} is ${size} bytes; got ${data.length} bytes`)
      this.#unverify(torrent, index)
      for (const span of geometry.chunksOfPiece(index)) {
        let chunk = torrent.chunks[span.chunkIndex]
        if (chunk === undefined) {
          chunk = Buffer.alloc(geometry.chunkLength(span.chunkIndex))
          torrent.chunks[span.chunkIndex] = chunk
          this.#localChunks++
          this.#localBytes += chunk.length
          this.#checkLimits()
        }
        chunk.set(data.subarray(span.pieceOffset, span.pieceOffset + span.end - span.start), span.start)
        this.#counters.chunksWritten++
        this.#counters.bytesWritten += span.end - span.start
      }
      torrent.written[index] = 1
      this.#counters.piecesWritten++
    },
    markVerified: (torrent, index) => {
      torrent.geometry.assertPieceIndex(index)
      if (torrent.written[index] === 0) {
        throw new StorageError(
          'ERR_PIECE_NOT_WRITTEN',
          `Piece ${index} cannot be marked verified: it was not written (or was cleared)`,
        )
      }
      if (torrent.verified[index] === 1) return
      torrent.verified[index] = 1
      torrent.verifiedCount++
      this.#counters.piecesVerified++
    },
    readPiece: (torrent, index, offset, length) => {
      torrent.geometry.assertPieceIndex(index)
      if (torrent.verified[index] === 0) {
        throw new StorageError('ERR_PIECE_NOT_FOUND', `Piece mapping not found for piece ${index}`)
      }
      const range = torrent.geometry.readRange(index, offset, length)
      const output = Buffer.alloc(range.length)
      this.#copyPiece(torrent, index, range.offset, output)
      this.#counters.bytesRead += range.length
      return output
    },
    readPieceInto: (torrent, index, target, offset) => {
      torrent.geometry.assertPieceIndex(index)
      if (!(target instanceof Uint8Array)) throw invalidArgumentType('The read target must be a Uint8Array')
      if (torrent.verified[index] === 0) {
        throw new StorageError('ERR_PIECE_NOT_FOUND', `Piece mapping not found for piece ${index}`)
      }
      const range = torrent.geometry.readRange(index, offset, 0)
      const length = Math.min(range.length, target.byteLength)
      this.#copyPiece(torrent, index, range.offset, target.subarray(0, length))
      this.#counters.bytesRead += length
      return length
    },
    readUnverifiedPiece: (torrent, index) => {
      const size = torrent.geometry.pieceSize(index)
      if (torrent.written[index] === 0) return null
      this.#counters.bytesRead += size
      const output = Buffer.alloc(size)
      this.#copyPiece(torrent, index, 0, output)
      return output
    },
    clearPiece: (torrent, index) => {
      const { geometry } = torrent
      geometry.assertPieceIndex(index)
      this.#unverify(torrent, index)
      torrent.written[index] = 0
      for (const span of geometry.chunksOfPiece(index)) {
        const chunk = torrent.chunks[span.chunkIndex]
        if (chunk === undefined) continue
        if (geometry.piecesOfChunk(span.chunkIndex).some((piece) => torrent.written[piece.pieceIndex] === 1))
          continue
        torrent.chunks[span.chunkIndex] = undefined
        this.#localChunks--
        this.#localBytes -= chunk.length
      }
      this.#checkLimits()
    },
    close: (torrent, handle) => {
      handle.closed = true
      if (torrent.handle === handle) torrent.handle = undefined
    },
  }

  /** Copies `output.byteLength` bytes of the piece, from `offset`, into `output`. */
  #copyPiece(torrent: MemoryTorrent, index: number, offset: number, output: Uint8Array): void {
    const end = offset + output.byteLength
    for (const span of torrent.geometry.chunksOfPiece(index)) {
      const from = Math.max(span.pieceOffset, offset)
      const to = Math.min(span.pieceOffset + span.end - span.start, end)
      if (from >= to) continue
      const chunk = torrent.chunks[span.chunkIndex]
      if (chunk === undefined) {
        this.#counters.cacheMisses++
        throw new StorageError('ERR_CHUNK_MISSING', `Chunk ${torrent.id}/${span.chunkIndex} not in cache`)
      }
      this.#counters.cacheHits++
      const chunkFrom = span.start + (from - span.pieceOffset)
      chunk.copy(output, from - offset, chunkFrom, chunkFrom + (to - from))
    }
  }

  #unverify(torrent: MemoryTorrent, index: number): void {
    if (torrent.verified[index] === 0) return
    torrent.verified[index] = 0
    torrent.verifiedCount--
  }

  #checkLimits(): void {
    const over = this.#localBytes > this.cacheLimitBytes || this.#localChunks > this.cacheLimitChunks
    if (over && !this.#overLimit) {
      this.#overLimit = true
      const warning: StorageWarning = {
        code: 'ERR_CACHE_OVER_LIMIT',
        message:
          `Chunks in memory (${this.#localChunks} chunks, ${this.#localBytes} bytes) exceed the cache limit ` +
          `(${this.cacheLimitChunks} chunks, ${this.cacheLimitBytes} bytes); nothing is evicted`,
        bytesOnDisk: this.#localBytes,
        chunkCount: this.#localChunks,
        cacheLimitBytes: this.cacheLimitBytes,
        cacheLimitChunks: this.cacheLimitChunks,
      }
      try {
        this.emit('warning', warning)
      } catch {
        // A listener's exception must not break a storage operation.
      }
    } else if (!over) {
      this.#overLimit = false
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StorageError('ERR_STORAGE_CLOSED', 'The storage is closed')
  }
}

interface MemoryOperations {
  check(torrent: MemoryTorrent, handle: MemoryTorrentStorage): void
  writePiece(torrent: MemoryTorrent, index: number, data: Uint8Array): void
  markVerified(torrent: MemoryTorrent, index: number): void
  readPiece(torrent: MemoryTorrent, index: number, offset?: number, length?: number): Buffer
  readUnverifiedPiece(torrent: MemoryTorrent, index: number): Buffer | null
  readPieceInto(torrent: MemoryTorrent, index: number, target: Uint8Array, offset?: number): number
  clearPiece(torrent: MemoryTorrent, index: number): void
  close(torrent: MemoryTorrent, handle: MemoryTorrentStorage): void
}

class MemoryTorrentStorage implements TorrentStorage {
  readonly infoHash: string
  readonly geometry: TorrentGeometry
  closed = false
  readonly #operations: MemoryOperations
  readonly #torrent: MemoryTorrent

  constructor(operations: MemoryOperations, torrent: MemoryTorrent) {
    this.#operations = operations
    this.#torrent = torrent
    this.infoHash = torrent.geometry.infoHash
    this.geometry = torrent.geometry
  }

  async #run<T>(operation: () => T): Promise<T> {
    this.#operations.check(this.#torrent, this)
    return operation()
  }

  writePiece(index: number, data: Uint8Array): Promise<void> {
    return this.#run(() => this.#operations.writePiece(this.#torrent, index, data))
  }

  markVerified(index: number): Promise<void> {
    return this.#run(() => this.#operations.markVerified(this.#torrent, index))
  }

  readPiece(index: number, offset?: number, length?: number): Promise<Buffer> {
    return this.#run(() => this.#operations.readPiece(this.#torrent, index, offset, length))
  }

  verifiedPieces(): Promise<number[]> {
    return this.#run(() => {
      const pieces: number[] = []
      for (let index = 0; index < this.#torrent.verified.length; index++) {
        if (this.#torrent.verified[index] === 1) pieces.push(index)
      }
      return pieces
    })
  }

  clearPiece(index: number): Promise<void> {
    return this.#run(() => this.#operations.clearPiece(this.#torrent, index))
  }

  readUnverifiedPiece(index: number): Promise<Buffer | null> {
    return this.#run(() => this.#operations.readUnverifiedPiece(this.#torrent, index))
  }

  readPieceInto(index: number, target: Uint8Array, offset?: number): Promise<number> {
    return this.#run(() => this.#operations.readPieceInto(this.#torrent, index, target, offset))
  }

  async hashPiece(index: number, algorithm: HashAlgorithm): Promise<Buffer | null> {
    if (algorithm !== 'sha1' && algorithm !== 'sha256') {
      throw invalidArgumentType(`The hash algorithm must be 'sha1' or 'sha256', got ${String(algorithm)}`)
    }
    const bytes = await this.readUnverifiedPiece(index)
    return bytes === null ? null : createHash(algorithm).update(bytes).digest()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.#operations.close(this.#torrent, this)
  }
}
