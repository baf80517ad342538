// The adapter between the ffi job protocol and the storage interface: libtorrent's whole pieces
// go to TorrentStorage.writePiece, reads come from readPiece, and the verified set is the
// storage's own. Storage errors are kept per torrent so the client can give them as `cause`.
import type {
  CheckFilesJob,
  ClearPieceJob,
  DeleteFilesJob,
  DiskIo,
  DiskStorage,
  ReadPieceJob,
  WritePieceJob,
} from '@chunktorrent/ffi'
import { hasCapability, type Storage, type TorrentStorage } from '@chunktorrent/storage'

export interface StorageDiskIoEvents {
  /** A storage call failed for a torrent (the error libtorrent will report as a file error). */
  onStorageError(infoHash: string, error: unknown): void
}

const isNotFound = (error: unknown) =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ERR_PIECE_NOT_FOUND'

export class StorageDiskIo implements DiskIo {
  readonly #storage: Storage
  readonly #events: StorageDiskIoEvents
  /** Open torrent storages by infoHash (opened by the client at add, or here for magnets). */
  readonly #torrents = new Map<string, Promise<TorrentStorage>>()
  /** Writes not yet settled, by infoHash then piece. */
  readonly #writes = new Map<string, Map<number, Promise<void>>>()
  /** The same handles once open, for the callers that must not wait a turn for them. */
  readonly #opened = new Map<string, TorrentStorage>()
  /** Torrents whose next check must hash everything (a recheck or an import). */
  readonly #fullCheck = new Set<string>()

  constructor(storage: Storage, events: StorageDiskIoEvents) {
    this.#storage = storage
    this.#events = events
  }

  /** Opens (or returns) a torrent's storage for the client; libtorrent's open uses the same handle. */
  openTorrent(geometry: Parameters<Storage['openTorrent']>[0]): Promise<TorrentStorage> {
    let opening = this.#torrents.get(geometry.infoHash)
    if (!opening) {
      const current = this.#storage.openTorrent(geometry)
      opening = current
      this.#torrents.set(geometry.infoHash, current)
      current.then(
        (torrent) => {
          if (this.#torrents.get(geometry.infoHash) === current) this.#opened.set(geometry.infoHash, torrent)
        },
        () => {
          if (this.#torrents.get(geometry.infoHash) === current) this.#torrents.delete(geometry.infoHash)
        },
      )
    }
    return opening
  }

  requestFullCheck(infoHash: string): void {
    this.#fullCheck.add(infoHash)
  }

  clearFullCheck(infoHash: string): void {
    this.#fullCheck.delete(infoHash)
  }

  torrent(infoHash: string): Promise<TorrentStorage> | undefined {
    return this.#torrents.get(infoHash)
  }

  /** The torrent's storage if it is open already (no promise to wait for), else undefined. */
  opened(infoHash: string): TorrentStorage | undefined {
    return this.#opened.get(infoHash)
  }

  /** Whether a write of `piece` is in flight. */
  isWriting(infoHash: string, piece: number): boolean {
    return this.#writes.get(infoHash)?.has(piece) === true
  }

  /** Resolves when the write of `piece` (if any is in flight) has settled; rejects if it failed. */
  async written(infoHash: string, piece: number): Promise<void> {
    await this.#writes.get(infoHash)?.get(piece)
  }

  async pendingWrites(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()].flatMap((pieces) => [...pieces.values()]))
  }

  /** Forgets a torrent's handle (after it is closed or deleted). */
  forget(infoHash: string): void {
    this.#torrents.delete(infoHash)
    this.#opened.delete(infoHash)
    this.#writes.delete(infoHash)
  }

  async open(storage: DiskStorage): Promise<void> {
    await this.openTorrent({
      infoHash: storage.infoHash,
      name: storage.name,
      pieceLength: storage.pieceLength,
      totalSize: storage.totalSize,
      files: storage.files.map((file) => ({
        path: file.path,
        length: file.length,
        offset: file.offset,
        pad: file.pad,
      })),
    })
  }

  async writePiece(job: WritePieceJob): Promise<void> {
    const infoHash = job.storage.infoHash
    const write = this.#call(infoHash, async (torrent) => torrent.writePiece(job.piece, job.data))
    let pieces = this.#writes.get(infoHash)
    if (!pieces) {
      pieces = new Map()
      this.#writes.set(infoHash, pieces)
    }
    pieces.set(job.piece, write)
    try {
      await write
    } finally {
      if (pieces.get(job.piece) === write) pieces.delete(job.piece)
    }
  }

  async readPiece(job: ReadPieceJob): Promise<Uint8Array | null> {
    return this.#call(job.storage.infoHash, async (torrent) => {
      try {
        return await torrent.readPiece(job.piece, job.offset, job.length)
      } catch (error) {
        if (!isNotFound(error)) throw error
        // Not verified in the storage: a recheck reading back what was written, or a piece that
        // passed its check a moment ago and is being marked verified now.
        if (hasCapability(torrent, 'readUnverifiedPiece')) {
          const bytes = await torrent.readUnverifiedPiece(job.piece)
          return bytes ? bytes.subarray(job.offset, job.offset + job.length) : null
        }
        return null
      }
    })
  }

  async checkFiles(job: CheckFilesJob): Promise<'ok' | 'need-full-check'> {
    if (this.#fullCheck.has(job.storage.infoHash)) return 'need-full-check'
    if (job.hasResumeData) return 'ok'
    const torrent = await this.#torrents.get(job.storage.infoHash)
    if (!torrent) return 'ok'
    const verified = await torrent.verifiedPieces()
    return verified.length > 0 ? 'need-full-check' : 'ok'
  }

  async clearPiece(job: ClearPieceJob): Promise<void> {
    await this.#call(job.storage.infoHash, (torrent) => torrent.clearPiece(job.piece))
  }

  async deleteFiles(job: DeleteFilesJob): Promise<void> {
    if (job.partfileOnly) return
    const infoHash = job.storage.infoHash
    this.forget(infoHash)
    try {
      await this.#storage.deleteTorrent(infoHash)
    } catch (error) {
      this.#events.onStorageError(infoHash, error)
      throw error
    }
  }

  async #call<T>(infoHash: string, fn: (torrent: TorrentStorage) => Promise<T>): Promise<T> {
    const opening = this.#torrents.get(infoHash)
    try {
      if (!opening) throw Object.assign(new Error(`No open storage for ${infoHash}`), { code: 'EIO' })
      return await fn(await opening)
    } catch (error) {
      this.#events.onStorageError(infoHash, error)
      throw error
    }
  }
}
