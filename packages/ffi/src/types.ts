// The shapes that cross the package boundary: torrent metadata, status, alerts, and the disk
// job protocol a JavaScript storage backend implements (DiskIo).
import type { LibtorrentErrorCode } from './errors.ts'

export interface TorrentFileEntry {
  /** libtorrent's file index (pad files included). */
  index: number
  /** Path inside the torrent, including the torrent's name for multi-file torrents. */
  path: string
  name: string
  length: number
  /** Offset of the file in the torrent's flat byte stream. */
  offset: number
  pad: boolean
}

export interface TorrentInfo {
  infoHash: string
  infoHashV1?: string
  infoHashV2?: string
  version: 'v1' | 'v2' | 'hybrid'
  name: string
  pieceLength: number
  pieceCount: number
  lastPieceLength: number
  /** Total size of the flat byte stream, pad files included. */
  length: number
  private: boolean
  comment: string
  createdBy: string
  created?: number
  announce: string[]
  urlList: string[]
  files: TorrentFileEntry[]
  /** The bencoded info dictionary. */
  info: Buffer
  magnetURI: string
}

export interface MagnetInfo {
  infoHash: string
  infoHashV1?: string
  infoHashV2?: string
  name?: string
  announce: string[]
  peers: string[]
  urlList: string[]
}

export type TorrentState =
  | 'checking_files'
  | 'downloading_metadata'
  | 'downloading'
  | 'finished'
  | 'seeding'
  | 'checking_resume_data'
  | 'unknown'

export interface TorrentStatus {
  infoHash: string
  name: string
  state: TorrentState
  progress: number
  paused: boolean
  seeding: boolean
  finished: boolean
  hasMetadata: boolean
  sequential: boolean
  uploadMode: boolean
  totalDone: number
  totalWanted: number
  totalWantedDone: number
  /** Payload bytes received this session. */
  totalDownload: number
  totalUpload: number
  allTimeDownload: number
  allTimeUpload: number
  downloadRate: number
  uploadRate: number
  numPeers: number
  numSeeds: number
  numPieces: number
  savePath: string
  error?: LibtorrentErrorCode
  errorFile?: number
  /** One byte per piece, 1 = have; only when asked for. */
  pieces?: Buffer
}

export interface PeerInfo {
  address: string
  client: string
  seed: boolean
  progress: number
  downloadRate: number
  uploadRate: number
  totalDownload: number
  totalUpload: number
}

export interface BridgeStats {
  jobsToJs?: number
  batches?: number
  piecesWritten?: number
  readsFromCache?: number
  pieceFetches?: number
  queueFull?: number
  hashes?: number
  pendingJobs?: number
  storingBytes?: number
  cacheBytes?: number
  /**
   * Free piece memory kept resident for reuse (process-wide). Once no piece has been allocated for
   * a second (the sessions are quiet), what is above 16 MiB is handed back to the kernel.
   */
  pieceMemoryFreeBytes?: number
}

/** An alert as libtorrent raised it, copied into a plain object. `type` drops the `_alert` suffix. */
export interface Alert {
  type: string
  category: number
  message: string
  infoHash?: string
  torrentName?: string
  peer?: string
  piece?: number
  state?: TorrentState
  previousState?: TorrentState
  error?: LibtorrentErrorCode
  file?: string
  operation?: string
  fileIndex?: number
  newName?: string
  resumeData?: Buffer
  address?: string
  port?: number
  socketType?: number
  storagePath?: string
  url?: string
  warning?: number
}

export type RawAlert = Alert

// ---- the disk job protocol -------------------------------------------------------------------

/** A torrent's storage as libtorrent opened it: geometry over the flat byte stream. */
export interface DiskStorageInfo {
  index: number
  infoHash: string
  name: string
  savePath: string
  pieceLength: number
  totalSize: number
  pieceCount: number
  files: Array<{ index: number; path: string; length: number; offset: number; pad: boolean }>
}

/** A piece range mapped onto one file (pad files are skipped). */
export interface FileSlice {
  fileIndex: number
  path: string
  /** Offset inside the file. */
  fileOffset: number
  /** Offset inside the piece. */
  pieceOffset: number
  length: number
}

export interface DiskStorage extends DiskStorageInfo {
  pieceSize(piece: number): number
  /** Maps a range of a piece onto the files it covers, in order, pad files left out. */
  mapPiece(piece: number, offset?: number, length?: number): FileSlice[]
}

interface JobBase {
  id: number
  storage: DiskStorage
}
export interface WritePieceJob extends JobBase {
  type: 'write'
  piece: number
  /**
   * The whole piece, complete, sharing native memory (no copy). Valid until the returned promise
   * settles, then released at once — unless the DiskIo sets `retainsWriteData`, in which case it
   * is immutable and lives as long as the backend holds it.
   */
  data: Buffer
  readonly slices: FileSlice[]
}
export interface ReadPieceJob extends JobBase {
  type: 'read'
  piece: number
  offset: number
  length: number
  readonly slices: FileSlice[]
}
export interface CheckFilesJob extends JobBase {
  type: 'check'
  /** libtorrent was given resume data (a have-pieces set, or seed mode) for this torrent. */
  hasResumeData: boolean
}
export interface ClearPieceJob extends JobBase {
  type: 'clear'
  piece: number
}
export interface DeleteFilesJob extends JobBase {
  type: 'delete'
  /** Only libtorrent's part file was to be deleted, not the data. */
  partfileOnly: boolean
}
export interface MoveStorageJob extends JobBase {
  type: 'move'
  path: string
  flags: number
}
export interface RenameFileJob extends JobBase {
  type: 'rename'
  fileIndex: number
  name: string
}
export interface FilePrioritiesJob extends JobBase {
  type: 'priority'
  priorities: number[]
}
export interface StorageJob extends JobBase {
  type: 'release' | 'stop'
}

export type DiskJob =
  | WritePieceJob
  | ReadPieceJob
  | CheckFilesJob
  | ClearPieceJob
  | DeleteFilesJob
  | MoveStorageJob
  | RenameFileJob
  | FilePrioritiesJob
  | StorageJob

type Answer<T> = T | Promise<T>

/**
 * A storage backend for a session, in JavaScript. libtorrent's blocks never reach it: pieces are
 * gathered, hashed and handed over whole in native code. Methods may answer synchronously or
 * with a Promise; a thrown error (or rejection) is reported to libtorrent as a storage error:
 * `error.code` (or a `cause`'s) such as 'EIO' or 'ENOSPC' picks the errno (default EIO), and
 * `error.fileIndex` the file. Jobs for one torrent may run concurrently, except that open runs
 * first, and clear, release, stop, delete, move, rename, priority and close run only after every
 * job issued before them has settled.
 */
export interface DiskIo {
  /**
   * True if writePiece keeps `job.data` itself (an in-memory backend) rather than copying what it
   * needs before its promise settles. Otherwise the piece's memory is released as soon as the
   * write settles, so storing pieces puts no load on the garbage collector.
   */
  readonly retainsWriteData?: boolean
  /** A torrent's storage was created (metadata is known). */
  open?(storage: DiskStorage): Answer<void>
  /** Store a whole, complete piece. libtorrent's hash verdict arrives separately (alerts). */
  writePiece(job: WritePieceJob): Answer<void>
  /** Read `length` bytes at `offset` of a piece (always a whole piece today); null when the piece is not stored. */
  readPiece(job: ReadPieceJob): Answer<Uint8Array | null>
  /** 'need-full-check' makes libtorrent hash every piece (reading them back); default 'ok'. */
  checkFiles?(job: CheckFilesJob): Answer<'ok' | 'need-full-check'>
  /** A piece failed its hash check: forget what was stored for it. */
  clearPiece?(job: ClearPieceJob): Answer<void>
  releaseFiles?(job: StorageJob): Answer<void>
  stopTorrent?(job: StorageJob): Answer<void>
  deleteFiles?(job: DeleteFilesJob): Answer<void>
  /** Returns the new save path (default: the requested one). */
  moveStorage?(job: MoveStorageJob): Answer<string | undefined>
  renameFile?(job: RenameFileJob): Answer<void>
  setFilePriorities?(job: FilePrioritiesJob): Answer<void>
  /** The torrent left the session; no job for this storage follows. */
  close?(storage: DiskStorage): Answer<void>
}

export interface RawJob {
  id: number
  type: DiskJob['type'] | 'open' | 'close'
  storage: number
  info?: DiskStorageInfo
  piece?: number
  offset?: number
  length?: number
  data?: Buffer
  hasResumeData?: boolean
  partfileOnly?: boolean
  path?: string
  flags?: number
  fileIndex?: number
  name?: string
  priorities?: number[]
}
