// The storage interface: the small async contract between a torrent engine and whatever keeps the
// bytes. One `Storage` per client holds many torrents; each open torrent is a `TorrentStorage`.
// Optional capabilities are methods a backend may add; engines detect them with `hasCapability`.

import type { TorrentFile, TorrentGeometry, TorrentGeometryInput } from './geometry.ts'

export type { TorrentGeometryInput }

/** Default cache limits of the built-in storages: 1 GiB and 10,000 chunks. */
export const DEFAULT_CACHE_LIMIT_BYTES = 1_073_741_824
export const DEFAULT_CACHE_LIMIT_CHUNKS = 10_000

/** One torrent as the storage remembers it, opened or not. */
export interface StoredTorrent {
  readonly infoHash: string
  readonly name: string
  readonly releaseId: string
  readonly magnetLink: string | undefined
  readonly pieceLength: number
  readonly totalSize: number
  readonly pieceCount: number
  /** Pieces with a verified mapping. */
  readonly verifiedCount: number
  readonly chunkSize: number
  readonly files: readonly TorrentFile[]
  /** Every piece is verified. */
  readonly complete: boolean
  /** An open `TorrentStorage` handle exists in this storage right now. */
  readonly open: boolean
  /** RFC 3339 time the torrent was first opened in this storage. */
  readonly createdAt: string
}

/** The running counters every built-in storage keeps (the counting part of StorageStats). */
export function newStorageCounters() {
  return {
    chunksWritten: 0,
    piecesWritten: 0,
    piecesVerified: 0,
    bytesWritten: 0,
    bytesRead: 0,
    cacheHits: 0,
    cacheMisses: 0,
  }
}

/** A synchronous snapshot of a storage's counters. Counters count since the storage was opened. */
export interface StorageStats {
  readonly torrentCount: number
  readonly openTorrentCount: number
  /** Chunk writes (one per piece-and-chunk overlap written). */
  readonly chunksWritten: number
  readonly piecesWritten: number
  readonly piecesVerified: number
  readonly bytesWritten: number
  readonly bytesRead: number
  /** Chunks held locally (files on disk, or buffers for the memory backend). */
  readonly chunkCount: number
  /** Bytes of the locally held chunks (each counted at its full chunk length). */
  readonly bytesOnDisk: number
  /** Bytes of local chunks pinned by at least one torrent. */
  readonly pinnedBytes: number
  /** Chunk reads served locally. */
  readonly cacheHits: number
  /** Chunk reads that found no local copy. */
  readonly cacheMisses: number
  readonly cacheLimitBytes: number
  readonly cacheLimitChunks: number
  /** The local chunks exceed a cache limit and nothing more can be evicted safely. */
  readonly overLimit: boolean
  /** The remote tier's figures; only for a store with one (ChunkStorage's `remote` option). */
  readonly remote?: RemoteStats
  /** A file-backed store's figures (ChunkStorage): its chunk files' descriptors and datasyncs. */
  readonly files?: FileStats
}

/** What a file-backed store reports in {@link StorageStats.files}. */
export interface FileStats {
  /** The descriptors past which a write that would dirty one more chunk file waits (the option). */
  readonly descriptorBudget: number
  /** Chunk-file descriptors open now, and the most open at once since the store opened. */
  readonly openFiles: number
  readonly peakOpenFiles: number
  /** Chunk-file datasyncs run since the store opened. */
  readonly syncs: number
  /** Datasyncs waiting for a free sync slot now, and the most waiting at once. */
  readonly syncsWaiting: number
  readonly peakSyncsWaiting: number
  /**
   * Piece writes that waited at the descriptor budget before opening one more chunk file (the
   * syncs lagging behind the writes: every dirty chunk keeps a descriptor and a pending sync).
   */
  readonly writesThrottled: number
  /** Milliseconds those writes waited in all, and how many went on when their wait ran out. */
  readonly throttledMs: number
  readonly throttleTimeouts: number
}

/** What a store with a remote tier reports in {@link StorageStats.remote}. */
export interface RemoteStats {
  /** Objects with a confirmed upload, and their bytes (envelopes: chunk + 32 bytes or so each). */
  readonly objects: number
  readonly bytes: number
  /** Complete chunks waiting for, or in, an upload. */
  readonly pendingUploads: number
  /** Uploads confirmed this session, and failed attempts (each one retried with backoff). */
  readonly uploadsDone: number
  readonly uploadsFailed: number
  /** Evicted chunks fetched back from the bucket (read-through), and fetches that failed. */
  readonly fetches: number
  readonly fetchesFailed: number
  /**
   * Writes that waited for room in a full cache (uploads to confirm, then eviction) before
   * creating a chunk file: the cache limit holding while a download outruns the uploads.
   */
  readonly writesDelayed: number
  /** Objects of deleted torrents waiting for, or in, a delete request. */
  readonly pendingDeletions: number
  /** Objects whose deletion was confirmed this session, and failed attempts (each retried with backoff). */
  readonly deletionsDone: number
  readonly deletionsFailed: number
}

export type StorageWarningCode =
  | 'ERR_CACHE_OVER_LIMIT'
  | 'ERR_CHUNK_LOST'
  | 'ERR_REMOTE_UPLOAD_FAILING'
  | 'ERR_REMOTE_DELETE_FAILING'

/**
 * Something the engine should know that is not an operation's failure. `ERR_CACHE_OVER_LIMIT`: the
 * local chunks exceed a limit and nothing can be evicted without losing the only copy (emitted once
 * per crossing). `ERR_CHUNK_LOST`: a chunk file vanished; the pieces it held (`pieces`) were
 * forgotten and must be downloaded again. `ERR_REMOTE_UPLOAD_FAILING`: uploads to the remote tier
 * fail (once per outage, until an upload succeeds again; `cause` is the first failure); they are
 * retried meanwhile. `ERR_REMOTE_DELETE_FAILING`: the same for deleting the objects of deleted torrents.
 */
export interface StorageWarning {
  readonly code: StorageWarningCode
  readonly message: string
  readonly infoHash?: string
  readonly pieces?: readonly number[]
  readonly chunkId?: string
  readonly bytesOnDisk?: number
  readonly chunkCount?: number
  readonly cacheLimitBytes?: number
  readonly cacheLimitChunks?: number
  readonly cause?: unknown
}

/** The events every Storage emits. */
export interface StorageEvents {
  warning: [warning: StorageWarning]
}

/** One storage per client; holds many torrents. */
export interface Storage {
  /** `'chunk'`, `'memory'`, or a custom backend's name. */
  readonly kind: string
  /**
   * Opens (creating on first use) the torrent's storage. Idempotent per info hash: while a handle
   * is open the same handle is returned; a later open returns the stored state. A layout that
   * differs from the stored one throws `ERR_GEOMETRY_MISMATCH`; an invalid one `ERR_INVALID_GEOMETRY`.
   */
  openTorrent(geometry: TorrentGeometryInput): Promise<TorrentStorage>
  /** Every torrent the storage holds, opened or not, sorted by info hash. */
  listTorrents(): Promise<StoredTorrent[]>
  /**
   * Deletes a torrent's data and records, whether it is open (its handle is closed first) or not.
   * Deleting an unknown info hash does nothing.
   */
  deleteTorrent(infoHash: string): Promise<void>
  /** A synchronous snapshot of the counters. */
  stats(): StorageStats
  on(event: 'warning', listener: (warning: StorageWarning) => void): this
  off(event: 'warning', listener: (warning: StorageWarning) => void): this
  /** Closes every handle and releases the storage. Idempotent; other calls afterwards throw `ERR_STORAGE_CLOSED`. */
  close(): Promise<void>
}

export type HashAlgorithm = 'sha1' | 'sha256'

/** One open torrent. Piece indexes are validated: `ERR_PIECE_INDEX_OUT_OF_RANGE`, TypeError if not an integer. */
export interface TorrentStorage {
  readonly infoHash: string
  readonly geometry: TorrentGeometry
  /**
   * Stores a whole piece (exactly `geometry.pieceSize(index)` bytes, else RangeError). The piece is
   * stored but not verified; re-writing a verified piece un-verifies it first. Not durable by
   * itself: a `markVerified` after it resolves makes the bytes durable before the mapping exists.
   */
  writePiece(index: number, data: Uint8Array): Promise<void>
  /**
   * Records that the engine's hash check passed: makes the piece's mapping (durably, bytes first).
   * Throws `ERR_PIECE_NOT_WRITTEN` if the piece was not written. Idempotent.
   */
  markVerified(index: number): Promise<void>
  /**
   * Reads from a verified piece: `length <= 0` reads to the end, a read past the end is cut,
   * `offset === pieceSize` gives an empty Buffer, a larger offset throws `ERR_OFFSET_OUT_OF_RANGE`.
   * An unverified piece throws `ERR_PIECE_NOT_FOUND`; a chunk with no copy `ERR_CHUNK_MISSING`.
   */
  readPiece(index: number, offset?: number, length?: number): Promise<Buffer>
  /** The verified piece indexes, ascending. */
  verifiedPieces(): Promise<number[]>
  /** Forgets a piece, verified or not (its bytes need not be zeroed). Idempotent. */
  clearPiece(index: number): Promise<void>
  /** Releases the handle (unpins its chunks) after in-flight calls settle. Idempotent; calls afterwards throw `ERR_TORRENT_CLOSED`. */
  close(): Promise<void>

  // Optional capabilities, detected with `hasCapability`.

  /** Whatever bytes are stored for a written piece, verified or not; null if nothing is written. */
  readUnverifiedPiece?(index: number): Promise<Buffer | null>
  /** The digest of the bytes stored for a written piece; null if nothing is written. */
  hashPiece?(index: number, algorithm: HashAlgorithm): Promise<Buffer | null>
  /**
   * Reads from a verified piece into the caller's memory, from `offset` (default 0):
   * `min(target.byteLength, pieceSize - offset)` bytes, and resolves to that count. The same rules
   * and errors as readPiece (an offset past the piece `ERR_OFFSET_OUT_OF_RANGE`, an unverified
   * piece `ERR_PIECE_NOT_FOUND`), and a TypeError for a target that is not a Uint8Array. For an
   * engine with its own read buffers: no allocation per read, no garbage left for the collector.
   * Bytes of `target` past the count are left as they were; after a failure its content is undefined.
   */
  readPieceInto?(index: number, target: Uint8Array, offset?: number): Promise<number>
}

/** The optional methods a TorrentStorage may implement. */
export type TorrentStorageCapability = 'readUnverifiedPiece' | 'hashPiece' | 'readPieceInto'

/**
 * Feature detection for optional capabilities: narrows the type when the backend implements the
 * method. `if (hasCapability(torrent, 'hashPiece')) await torrent.hashPiece(0, 'sha1')`.
 */
export function hasCapability<C extends TorrentStorageCapability>(
  torrent: TorrentStorage,
  capability: C,
): torrent is TorrentStorage & Required<Pick<TorrentStorage, C>> {
  return typeof torrent[capability] === 'function'
}
