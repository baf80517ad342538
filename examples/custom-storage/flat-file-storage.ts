// A third-party storage backend, written only against @chunktorrent/storage's public interface:
// each torrent is ONE sparse file holding its flat byte stream (pieces at their offsets, as the
// geometry lays them out), plus a one-byte-per-piece `verified` file. For a single-file torrent
// the data file *is* the file. It runs the conformance kit in this example's test.
//
// Durability: markVerified syncs the data file first, then writes the verified map to a
// temporary file, syncs it and renames it over the old one (concurrent calls share one write).
// A crash leaves each piece either verified with its bytes on disk, or absent. Written pieces
// that are not verified yet live in memory only: after a restart they are simply absent.
import { EventEmitter } from 'node:events'
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type Storage,
  StorageError,
  type StorageEvents,
  type StorageStats,
  type StoredTorrent,
  TorrentGeometry,
  type TorrentGeometryInput,
  type TorrentStorage,
} from '@chunktorrent/storage'

const ABSENT = 0
const WRITTEN = 1
const VERIFIED = 2

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const isMissing = (error: unknown) => (error as { code?: string }).code === 'ENOENT'

export class FlatFileStorage extends EventEmitter<StorageEvents> implements Storage {
  readonly kind = 'flat-file'
  readonly directory: string
  readonly #open = new Map<string, Promise<FlatFileTorrent>>()
  /** Counters since open, for stats(); the torrents add to them. */
  readonly counters = { piecesWritten: 0, piecesVerified: 0, bytesWritten: 0, bytesRead: 0 }
  #torrentCount: number
  #closed = false

  private constructor(directory: string, torrentCount: number) {
    super()
    this.directory = directory
    this.#torrentCount = torrentCount
  }

  static async open(directory: string): Promise<FlatFileStorage> {
    await mkdir(directory, { recursive: true })
    const torrents = (await readdir(directory)).filter((name) => /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(name))
    return new FlatFileStorage(directory, torrents.length)
  }

  /** Throws ERR_STORAGE_CLOSED after close() (the torrents check it on every call). */
  assertOpen(): void {
    if (this.#closed) throw new StorageError('ERR_STORAGE_CLOSED', 'The storage is closed')
  }

  async openTorrent(input: TorrentGeometryInput): Promise<TorrentStorage> {
    this.assertOpen()
    const geometry = TorrentGeometry.from(input) // validates: ERR_INVALID_GEOMETRY
    const directory = join(this.directory, geometry.infoHash)
    const stored = await readFile(join(directory, 'geometry.json'), 'utf8').catch(() => undefined)
    if (stored !== undefined) {
      const difference = TorrentGeometry.from(JSON.parse(stored)).layoutDifference(geometry)
      if (difference !== undefined) throw new StorageError('ERR_GEOMETRY_MISMATCH', difference)
    }
    let opening = this.#open.get(geometry.infoHash)
    if (!opening) {
      opening = FlatFileTorrent.open(this, geometry, directory, stored === undefined, () =>
        this.#open.delete(geometry.infoHash),
      )
      this.#open.set(geometry.infoHash, opening)
      opening.catch(() => this.#open.delete(geometry.infoHash))
      if (stored === undefined)
        opening.then(
          () => this.#torrentCount++,
          () => {},
        )
    }
    return opening
  }

  async listTorrents(): Promise<StoredTorrent[]> {
    this.assertOpen()
    const list: StoredTorrent[] = []
    for (const infoHash of (await readdir(this.directory)).sort()) {
      const directory = join(this.directory, infoHash)
      const json = await readFile(join(directory, 'geometry.json'), 'utf8').catch(() => undefined)
      if (json === undefined) continue
      const geometry = TorrentGeometry.from(JSON.parse(json))
      const open = this.#open.has(infoHash)
      const verifiedCount = open
        ? ((await (await this.#open.get(infoHash))?.verifiedPieces())?.length ?? 0)
        : (await readVerifiedMap(directory, geometry.pieceCount)).filter((state) => state === VERIFIED).length
      const { name, releaseId, magnetLink, pieceLength, totalSize, pieceCount, chunkSize, files } = geometry
      list.push({
        ...{ infoHash, name, releaseId, magnetLink, pieceLength, totalSize, pieceCount, chunkSize, files },
        verifiedCount,
        complete: verifiedCount === pieceCount,
        open,
        createdAt: new Date(0).toISOString(),
      })
    }
    return list
  }

  async deleteTorrent(infoHash: string): Promise<void> {
    this.assertOpen()
    const opening = this.#open.get(infoHash)
    if (opening) await (await opening.catch(() => undefined))?.close()
    const directory = join(this.directory, infoHash)
    const existed = await readFile(join(directory, 'geometry.json')).then(
      () => true,
      () => false,
    )
    await rm(directory, { recursive: true, force: true })
    if (existed) this.#torrentCount--
  }

  stats(): StorageStats {
    this.assertOpen()
    return {
      torrentCount: this.#torrentCount,
      openTorrentCount: this.#open.size,
      chunksWritten: 0,
      ...this.counters,
      // No chunks and no cache here: one file per torrent, kept until deleted.
      chunkCount: 0,
      bytesOnDisk: 0,
      pinnedBytes: 0,
      cacheHits: 0,
      cacheMisses: 0,
      cacheLimitBytes: Number.MAX_SAFE_INTEGER,
      cacheLimitChunks: Number.MAX_SAFE_INTEGER,
      overLimit: false,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    for (const opening of [...this.#open.values()]) await (await opening.catch(() => undefined))?.close()
    this.#closed = true
  }
}

/** The verified map on disk: one byte per piece, VERIFIED or ABSENT. */
async function readVerifiedMap(directory: string, pieceCount: number): Promise<Uint8Array> {
  const states = new Uint8Array(pieceCount)
  try {
    const bytes = await readFile(join(directory, 'verified'))
    for (let index = 0; index < pieceCount; index++) if (bytes[index] === 1) states[index] = VERIFIED
  } catch (error) {
    if (!isMissing(error)) throw error
  }
  return states
}

class FlatFileTorrent implements TorrentStorage {
  readonly infoHash: string
  readonly geometry: TorrentGeometry
  readonly #storage: FlatFileStorage
  readonly #directory: string
  readonly #data: FileHandle
  /** ABSENT, WRITTEN or VERIFIED per piece; only VERIFIED reaches the disk. */
  readonly #states: Uint8Array
  readonly #pending = new Set<Promise<unknown>>()
  readonly #onClose: () => void
  #persisting: Promise<void> = Promise.resolve()
  #nextPersist: Promise<void> | undefined
  #closed = false

  private constructor(
    storage: FlatFileStorage,
    geometry: TorrentGeometry,
    directory: string,
    data: FileHandle,
    states: Uint8Array,
    onClose: () => void,
  ) {
    this.#storage = storage
    this.geometry = geometry
    this.infoHash = geometry.infoHash
    this.#directory = directory
    this.#data = data
    this.#states = states
    this.#onClose = onClose
  }

  static async open(
    storage: FlatFileStorage,
    geometry: TorrentGeometry,
    directory: string,
    create: boolean,
    onClose: () => void,
  ): Promise<FlatFileTorrent> {
    if (create) {
      await mkdir(directory, { recursive: true })
      const data = await open(join(directory, 'data'), 'w')
      await data.truncate(geometry.totalSize) // sparse: no bytes written yet
      await data.close()
      await writeFile(join(directory, 'geometry.json'), JSON.stringify(geometry))
    }
    const states = await readVerifiedMap(directory, geometry.pieceCount)
    const data = await open(join(directory, 'data'), 'r+')
    return new FlatFileTorrent(storage, geometry, directory, data, states, onClose)
  }

  /** Runs one call: checks the storage and the handle are open, and tracks it for close(). */
  #call<T>(work: () => Promise<T>): Promise<T> {
    let promise: Promise<T>
    try {
      this.#storage.assertOpen()
      if (this.#closed) throw new StorageError('ERR_TORRENT_CLOSED', `The torrent ${this.infoHash} is closed`)
      promise = work()
    } catch (error) {
      return Promise.reject(error)
    }
    this.#pending.add(promise)
    const forget = () => this.#pending.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  /**
   * Writes the verified map (temporary file, sync, rename, directory sync). Callers that arrive
   * while a write runs share the next one, which sees all their changes.
   */
  #persist(): Promise<void> {
    if (this.#nextPersist) return this.#nextPersist
    const next = this.#persisting.then(async () => {
      this.#nextPersist = undefined
      const map = this.#states.map((state) => (state === VERIFIED ? 1 : 0))
      const temporary = join(this.#directory, 'verified.tmp')
      const handle = await open(temporary, 'w')
      try {
        await handle.writeFile(map)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temporary, join(this.#directory, 'verified'))
      await syncPath(this.#directory)
    })
    this.#nextPersist = next
    this.#persisting = next.catch(() => {})
    return next
  }

  writePiece(index: number, data: Uint8Array): Promise<void> {
    return this.#call(async () => {
      const { start } = this.geometry.pieceBounds(index) // ERR_PIECE_INDEX_OUT_OF_RANGE, or a TypeError
      if (!(data instanceof Uint8Array)) throw new TypeError('The piece data must be a Uint8Array')
      const size = this.geometry.pieceSize(index)
      if (data.length !== size) throw new RangeError(`Piece ${index} is ${size} bytes; got ${data.length}`)
      if (this.#states[index] === VERIFIED) {
        // Re-writing a verified piece: the map must stop vouching for it before its bytes change.
        this.#states[index] = WRITTEN
        await this.#persist()
      }
      await this.#data.write(data, 0, data.length, start)
      this.#states[index] = WRITTEN
      this.#storage.counters.piecesWritten++
      this.#storage.counters.bytesWritten += data.length
    })
  }

  markVerified(index: number): Promise<void> {
    return this.#call(async () => {
      this.geometry.assertPieceIndex(index)
      if (this.#states[index] === VERIFIED) return
      if (this.#states[index] !== WRITTEN) {
        throw new StorageError(
          'ERR_PIECE_NOT_WRITTEN',
          `Piece ${index} cannot be marked verified: it was not written`,
        )
      }
      await this.#data.datasync() // the bytes are on disk before the map says "verified"
      if (this.#states[index] !== WRITTEN) {
        throw new StorageError('ERR_PIECE_NOT_WRITTEN', `Piece ${index} was cleared while being verified`)
      }
      this.#states[index] = VERIFIED
      await this.#persist()
      this.#storage.counters.piecesVerified++
    })
  }

  readPiece(index: number, offset = 0, length = 0): Promise<Buffer> {
    return this.#call(async () => {
      const range = this.geometry.readRange(index, offset, length) // the parity read rules and errors
      if (this.#states[index] !== VERIFIED) {
        throw new StorageError('ERR_PIECE_NOT_FOUND', `Piece mapping not found for piece ${index}`)
      }
      const buffer = Buffer.alloc(range.length)
      const { start } = this.geometry.pieceBounds(index)
      await this.#data.read(buffer, 0, range.length, start + range.offset)
      this.#storage.counters.bytesRead += range.length
      return buffer
    })
  }

  verifiedPieces(): Promise<number[]> {
    return this.#call(async () => {
      const pieces: number[] = []
      this.#states.forEach((state, index) => {
        if (state === VERIFIED) pieces.push(index)
      })
      return pieces
    })
  }

  clearPiece(index: number): Promise<void> {
    return this.#call(async () => {
      this.geometry.assertPieceIndex(index)
      const was = this.#states[index]
      this.#states[index] = ABSENT
      if (was === VERIFIED) await this.#persist()
    })
  }

  // An optional capability (the engine finds it with hasCapability): a recheck reads back pieces
  // that were written but not verified yet.
  readUnverifiedPiece(index: number): Promise<Buffer | null> {
    return this.#call(async () => {
      const size = this.geometry.pieceSize(index)
      if (this.#states[index] === ABSENT) return null
      const buffer = Buffer.alloc(size)
      await this.#data.read(buffer, 0, size, this.geometry.pieceBounds(index).start)
      return buffer
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#onClose()
    await Promise.allSettled([...this.#pending])
    await this.#persisting
    await this.#data.close()
  }
}
