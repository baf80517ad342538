// ChunkStorage: torrents stored as fixed-size chunk files under one directory, indexed by SQLite.
// Pieces are written in place into the chunks that cover them; a piece becomes readable only once
// its chunk files are fsynced and its mapping row is committed, so a crash never leaves a verified
// piece over missing or partial bytes.

import { createHash, randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mkdir, open, opendir, readFile, rename, unlink } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { ChunkIndex, type RemoteDeletion, type TorrentRow } from './chunk-index.ts'
import { DrainWaiters } from './drain-waiters.ts'
import { argumentOutOfRange, invalidArgumentType, StorageError, toStorageError } from './errors.ts'
import { type ChunkFile, FileHandleCache, type FileLease, readFully } from './file-handles.ts'
import {
  DEFAULT_CHUNK_SIZE,
  type PieceRange,
  TorrentGeometry,
  type TorrentGeometryInput,
} from './geometry.ts'
import { parseObjectLocation } from './object-key.ts'
import { PieceLocks } from './piece-locks.ts'
import { releaseBuffer } from './release-buffer.ts'
import { DELETE_BATCH_LIMIT, RemoteTier, type RemoteTierOptions } from './remote-tier.ts'
import {
  DEFAULT_CACHE_LIMIT_BYTES,
  DEFAULT_CACHE_LIMIT_CHUNKS,
  type HashAlgorithm,
  newStorageCounters,
  type RemoteStats,
  type Storage,
  type StorageEvents,
  type StorageStats,
  type StorageWarning,
  type StoredTorrent,
  type TorrentStorage,
} from './storage.ts'

export interface ChunkStorageOptions {
  /** The store's directory (created if missing): `index.db` and `chunks/<id>.enc` live here. */
  directory: string
  /** Bytes per chunk for torrents added from now on; default 1 MiB. Stored torrents keep theirs. */
  chunkSize?: number
  /** Local chunk bytes before eviction starts; default 1 GiB. */
  cacheLimitBytes?: number
  /** Local chunk count before eviction starts; default 10,000. */
  cacheLimitChunks?: number
  /** Chunk files kept open between calls; default 64. */
  openFileLimit?: number
  /**
   * Chunk-file descriptors the store holds at most while its datasyncs lag behind the writes
   * (a chunk file with unsynced writes keeps its descriptor until a datasync through it, so that a
   * write-back error is seen): a write that would open one more chunk file past it waits for a
   * sync to close one, 2 s at most. Default: a quarter of the process's open-file limit (Linux's
   * `/proc/self/limits`), at least 4 × openFileLimit; elsewhere 8 × openFileLimit. At least
   * 2 × openFileLimit. A smaller budget costs download speed when the disk syncs slower than the
   * peers send (the kernel writes back fewer pages at once).
   */
  descriptorBudget?: number
  /**
   * A remote tier (an S3-compatible bucket): every complete chunk is uploaded there, encrypted,
   * after which it may be evicted from the local cache and is fetched back when read.
   */
  remote?: RemoteTierOptions
  /**
   * Whether an open torrent pins its chunks (default true: the parity behaviour, nothing of an
   * active torrent leaves the cache). With a remote tier, `false` lets the uploaded chunks of open
   * torrents be evicted too, so that the cache limit holds while a torrent larger than the cache
   * downloads or seeds; reads fetch them back. Pins already stored are then released at open.
   */
  pinOpenTorrents?: boolean
  /**
   * With a remote tier and `pinOpenTorrents: false`: whether a write that needs a new chunk in a
   * full cache waits for uploads and eviction to make room (default true: the cache stays within
   * its limit plus about one chunk, and a download runs at the pace of the uploads). `false`: writes
   * never wait; while a download outruns the uploads the cache grows past the limit
   * (ERR_CACHE_OVER_LIMIT), then shrinks back to it as uploads are confirmed. Writes never wait
   * while uploads fail or hang, whatever this says.
   */
  holdCacheLimit?: boolean
}

/** What the startup sweep found and repaired. */
export interface RecoveryReport {
  /** Chunk files on disk that no index row claimed (left by a crash or a failed unlink), removed. */
  readonly orphanFilesRemoved: number
  /** Chunks the index expected on disk whose files were gone. */
  readonly missingChunks: number
  /** Pieces forgotten because a chunk they needed was gone (verified or only written). */
  readonly piecesForgotten: number
}

const DEFAULT_OPEN_FILE_LIMIT = 64
/**
 * Datasyncs at once: all of libuv's thread pool but one thread, kept for piece writes and reads.
 * Read when a store opens, not when this module loads: a program may size the pool (set
 * UV_THREADPOOL_SIZE) after its imports, before its first asynchronous call, as the CLI does.
 */
function syncParallelism(): number {
  return Math.max(1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1)
}
/** Background fsyncs of the chunks directory, at most one per this many milliseconds. */
const DIRECTORY_SYNC_DELAY_MS = 25
/** A group commit waits for in-flight piece writes at most this long, */
const COMMIT_DELAY_MS = 100
/** or until this many bytes of pieces wait for it. */
const COMMIT_BATCH_BYTES = 64 * 1_048_576
/** The default descriptorBudget: this share of the process's open-file limit, */
const DESCRIPTOR_BUDGET_SHARE = 1 / 4
/** and at least this many descriptors per file kept open (openFileLimit), or this many without a limit to read. */
const MIN_DESCRIPTORS_PER_OPEN_FILE = 4
const FALLBACK_DESCRIPTORS_PER_OPEN_FILE = 8
/** A write past the descriptor budget waits this long at most (a slow disk slows it, never stops it). */
const DESCRIPTOR_WAIT_MS = 2_000
/** A write waiting for room in the cache re-checks at least this often, */
const ROOM_RECHECK_MS = 200
/** and stops waiting when no upload was confirmed for this long (a hung endpoint). */
const ROOM_STALL_MS = 10_000
/**
 * A write waiting for room waits at most this long for the verdicts of pieces just written (they
 * may complete a chunk). It never waits for pieces still to come: the engine may be unable to
 * deliver them while its disk budget is held by the waiting writes.
 */
const VERDICT_WAIT_MS = 1_000
/** ERR_CACHE_OVER_LIMIT at most this often while the cache hovers at its limit. */
const OVER_LIMIT_WARNING_INTERVAL_MS = 60_000
const INDEX_FILE = 'index.db'
const CHUNKS_DIRECTORY = 'chunks'
const chunkFilePattern = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.enc$/
/** A chunk being fetched back from the remote tier, renamed to `<id>.enc` once complete and synced. */
const fetchFilePattern = /^[0-9a-f-]{36}\.fetch$/

interface ChunkRecord {
  readonly id: string
  readonly index: number
  readonly length: number
  /** A local file holds the chunk. */
  local: boolean
  /** A copy of the current bytes exists in the remote tier. */
  uploaded: boolean
  /** Writes completed in this session, and how many of them a datasync covered (-1: unknown). */
  writeSequence: number
  syncedSequence: number
  /** A datasync in flight, covering writes up to `syncingSequence`. */
  syncing: Promise<void> | undefined
  syncingSequence: number
  /** Why the last datasync failed (its unverified pieces were forgotten). */
  syncError: Error | undefined
  activeWriters: number
  /** Reads in flight (#readSpan): the chunk is not evicted meanwhile. */
  activeReaders: number
  removal: Promise<void> | undefined
}

interface TorrentState {
  readonly id: string
  readonly geometry: TorrentGeometry
  readonly chunks: Array<ChunkRecord | undefined>
  readonly written: Uint8Array
  readonly verified: Uint8Array
  verifiedCount: number
  readonly locks: PieceLocks
  readonly inFlight: Set<Promise<unknown>>
  /** Pieces written in this session whose verdict (markVerified or clearPiece) has not come yet. */
  readonly awaitingVerdict: Set<number>
  handle: ChunkTorrentStorage
  closed: boolean
  closing: Promise<void> | undefined
}

/** What a torrent handle may ask of its storage (kept off ChunkStorage's public surface). */
interface TorrentOperations {
  writePiece(state: TorrentState, index: number, data: Uint8Array): Promise<void>
  markVerified(state: TorrentState, index: number): Promise<void>
  readPiece(state: TorrentState, index: number, offset?: number, length?: number): Promise<Buffer>
  verifiedPieces(state: TorrentState): Promise<number[]>
  clearPiece(state: TorrentState, index: number): Promise<void>
  readUnverifiedPiece(state: TorrentState, index: number): Promise<Buffer | null>
  readPieceInto(state: TorrentState, index: number, target: Uint8Array, offset?: number): Promise<number>
  hashPiece(state: TorrentState, index: number, algorithm: HashAlgorithm): Promise<Buffer | null>
  close(state: TorrentState): Promise<void>
}

interface VerifyRequest {
  readonly state: TorrentState
  readonly index: number
  /** The piece's exclusive hold, when the request took it itself (else its lock task holds it). */
  readonly release: (() => void) | undefined
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** Named moments inside operations where a test may crash the process (or stall it). */
export type CrashPoint =
  | 'before-datasync'
  | 'after-unmap-before-overwrite'
  | 'after-span-write'
  | 'after-chunk-write'
  | 'after-sync-before-commit'
  | 'after-delete-before-unlink'
  | 'after-unlocal-before-unlink'
type TestHooks = Partial<Record<CrashPoint, () => void | Promise<void>>>
const testHooks = new WeakMap<ChunkStorage, TestHooks>()

/** For crash tests only: runs `hooks[point]` when an operation reaches that point. */
export function setTestHooks(storage: ChunkStorage, hooks: TestHooks): void {
  testHooks.set(storage, hooks)
}

function pieceNotFound(index: number): StorageError {
  return new StorageError('ERR_PIECE_NOT_FOUND', `Piece mapping not found for piece ${index}`)
}

function chunkMissing(id: string): StorageError {
  return new StorageError('ERR_CHUNK_MISSING', `Chunk ${id} not in cache`)
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw argumentOutOfRange(`${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** The process's soft limit on open files, from Linux's /proc/self/limits; undefined elsewhere or unlimited. */
async function processOpenFileLimit(): Promise<number | undefined> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '')
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1]
  return soft === undefined ? undefined : Number(soft)
}

async function defaultDescriptorBudget(openFileLimit: number): Promise<number> {
  const limit = await processOpenFileLimit()
  if (limit === undefined) return FALLBACK_DESCRIPTORS_PER_OPEN_FILE * openFileLimit
  return Math.max(MIN_DESCRIPTORS_PER_OPEN_FILE * openFileLimit, Math.floor(limit * DESCRIPTOR_BUDGET_SHARE))
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function checkInfoHash(infoHash: unknown): asserts infoHash is string {
  if (typeof infoHash !== 'string') throw invalidArgumentType('The info hash must be a string')
}

/**
 * The SQLite-indexed chunk store. `await ChunkStorage.open({ directory })`, then `openTorrent`.
 * Emits `warning` events ({@link StorageWarning}).
 */
export class ChunkStorage extends EventEmitter<StorageEvents> implements Storage {
  readonly kind = 'chunk'
  readonly directory: string
  /** Chunk size given to torrents added from now on. */
  readonly chunkSize: number
  readonly cacheLimitBytes: number
  readonly cacheLimitChunks: number
  /** Open torrents pin their chunks ({@link ChunkStorageOptions.pinOpenTorrents}). */
  readonly pinOpenTorrents: boolean
  /** Writes wait for room in a full cache ({@link ChunkStorageOptions.holdCacheLimit}). */
  readonly holdCacheLimit: boolean
  /** What the startup sweep found. */
  readonly recovery: RecoveryReport

  readonly #index: ChunkIndex
  readonly #remote: RemoteTier | undefined
  /** Chunk ids waiting for an upload (with their lengths), and those being uploaded. */
  readonly #uploadQueue = new Map<string, number>()
  /** Chunk ids being uploaded, with the generation of the bytes read. */
  readonly #uploading = new Map<string, number>()
  #uploadsRunning = 0
  readonly #uploadsActive = new Set<Promise<void>>()
  /** Aborted by close(): stops uploads and fetches in flight. */
  readonly #uploadAbort = new AbortController()
  /** Bumped by every write or removal of a chunk: an upload of older bytes is not recorded. */
  readonly #chunkGeneration = new Map<string, number>()
  readonly #fetches = new Map<string, Promise<void>>()
  readonly #uploadWaiters = new DrainWaiters()
  /** deleteTorrent calls in progress, by info hash. */
  readonly #torrentDeletions = new Map<string, Promise<void>>()
  #remoteDirty = true
  /** An upload failed and none succeeded since (the warning was emitted). */
  #uploadsFailing = false
  #remoteTotals = { objects: 0, bytes: 0 }
  readonly #remoteCounters = {
    uploadsDone: 0,
    uploadsFailed: 0,
    fetches: 0,
    fetchesFailed: 0,
    writesDelayed: 0,
  }
  readonly #operations: TorrentOperations = {
    writePiece: (state, index, data) => this.#track(state, () => this.#writePiece(state, index, data)),
    markVerified: (state, index) => this.#track(state, () => this.#markVerified(state, index)),
    readPiece: (state, index, offset, length) =>
      this.#track(state, () => this.#readPiece(state, index, offset, length)),
    verifiedPieces: (state) => this.#track(state, () => this.#verifiedPieces(state)),
    clearPiece: (state, index) => this.#track(state, () => this.#clearPiece(state, index)),
    readUnverifiedPiece: (state, index) => this.#track(state, () => this.#readUnverifiedPiece(state, index)),
    readPieceInto: (state, index, target, offset) =>
      this.#track(state, () => this.#readPieceInto(state, index, target, offset)),
    hashPiece: (state, index, algorithm) =>
      this.#track(state, () => this.#hashPiece(state, index, algorithm)),
    close: (state) => this.#closeTorrent(state, true),
  }
  readonly #chunksDirectory: string
  readonly #files: FileHandleCache
  readonly #open = new Map<string, TorrentState>()
  readonly #chunkOwners = new Map<string, { state: TorrentState; record: ChunkRecord }>()
  readonly #accessTimes = new Map<string, number>()
  #verifyQueue: VerifyRequest[] = []
  #verifyQueueBytes = 0
  #committing = false
  /** writePiece calls running in any torrent, and a callback waiting for one to finish. */
  #writesInFlight = 0
  #writeFinished: (() => void) | undefined
  /** Datasyncs running, the ones waiting for a slot, and those nobody awaits (of full chunks). */
  #syncsRunning = 0
  readonly #syncParallelism = syncParallelism()
  readonly #backgroundSyncs = new Set<Promise<void>>()
  readonly #syncWaiters: Array<() => void> = []
  #peakSyncsWaiting = 0
  #syncs = 0
  /** Writes waiting at the descriptor budget, the wakes they left; how many waited, how long, how many gave up. */
  #descriptorWaiting = 0
  #descriptorWakes: Array<() => void> = []
  #writesThrottled = 0
  #throttledMs = 0
  #throttleTimeouts = 0
  /** Writes past the wait that have not opened their file yet (each may open one more). */
  #descriptorsReserved = 0
  /** Descriptors past which a write waits before opening one more chunk file. */
  readonly #descriptorBudget: number
  /**
   * Chunk files created (the first count is 1: files of an earlier session may not be synced), and
   * how many of those creations a directory fsync covers, as for a chunk's writes.
   */
  #directorySequence = 1
  #directorySyncedSequence = 0
  #directorySyncing: Promise<void> | undefined
  #directorySyncingSequence = 0
  #directorySyncTimer: NodeJS.Timeout | undefined
  #localChunks: number
  #localBytes: number
  #torrentCount: number
  #pinnedBytes = 0
  #pinnedDirty = true
  #overLimit = false
  #evictionMayHelp = true
  /** Writes waiting for eviction to make room in the cache (see #waitForRoom). */
  #roomWaiters: Array<() => void> = []
  /** Writes waiting in #waitForRoom, and the room (bytes below the limit) the largest one needs. */
  #roomWaiting = 0
  /** Sum of the open torrents' awaitingVerdict sets. */
  #awaitingVerdicts = 0
  #overLimitWarnedAt = Number.NEGATIVE_INFINITY
  #roomWanted = 0
  #lastUploadConfirmed = 0
  #eviction: Promise<void> | undefined
  #closed = false
  #closing: Promise<void> | undefined
  readonly #counters = newStorageCounters()

  private constructor(
    options: Required<
      Omit<
        ChunkStorageOptions,
        'openFileLimit' | 'descriptorBudget' | 'remote' | 'pinOpenTorrents' | 'holdCacheLimit'
      >
    >,
    openFileLimit: number,
    descriptorBudget: number,
    index: ChunkIndex,
    recovery: RecoveryReport,
    remote: RemoteTier | undefined,
    pinOpenTorrents: boolean,
    holdCacheLimit: boolean,
  ) {
    super()
    this.#remote = remote
    this.pinOpenTorrents = pinOpenTorrents
    this.holdCacheLimit = holdCacheLimit
    this.directory = options.directory
    this.chunkSize = options.chunkSize
    this.cacheLimitBytes = options.cacheLimitBytes
    this.cacheLimitChunks = options.cacheLimitChunks
    this.recovery = recovery
    this.#index = index
    this.#chunksDirectory = join(options.directory, CHUNKS_DIRECTORY)
    this.#files = new FileHandleCache(
      openFileLimit,
      (id) => this.#isDirty(id),
      (id, handle) => this.#syncBeforeClose(id, handle),
      () => this.#wakeIfRoom(),
    )
    this.#descriptorBudget = descriptorBudget
    const totals = index.totals()
    this.#localChunks = totals.chunkCount
    this.#localBytes = totals.bytes
    this.#torrentCount = index.allTorrents().length
  }

  /**
   * Opens (creating) a store: takes its lock (`ERR_STORE_LOCKED` if another ChunkStorage has the
   * directory), then sweeps chunk files the index does not reference and forgets pieces whose
   * chunk files are gone (see {@link ChunkStorage.recovery}).
   */
  static async open(options: ChunkStorageOptions): Promise<ChunkStorage> {
    if (typeof options !== 'object' || options === null)
      throw invalidArgumentType('The options must be an object')
    if (typeof options.directory !== 'string' || options.directory.length === 0) {
      throw invalidArgumentType('options.directory must be a non-empty string')
    }
    const settings = {
      directory: options.directory,
      chunkSize: positiveInteger(options.chunkSize, 'chunkSize', DEFAULT_CHUNK_SIZE),
      cacheLimitBytes: positiveInteger(options.cacheLimitBytes, 'cacheLimitBytes', DEFAULT_CACHE_LIMIT_BYTES),
      cacheLimitChunks: positiveInteger(
        options.cacheLimitChunks,
        'cacheLimitChunks',
        DEFAULT_CACHE_LIMIT_CHUNKS,
      ),
    }
    const openFileLimit = positiveInteger(options.openFileLimit, 'openFileLimit', DEFAULT_OPEN_FILE_LIMIT)
    const descriptorBudget = positiveInteger(
      options.descriptorBudget,
      'descriptorBudget',
      await defaultDescriptorBudget(openFileLimit),
    )
    if (descriptorBudget < 2 * openFileLimit) {
      throw argumentOutOfRange(
        `descriptorBudget must be at least 2 × openFileLimit (${2 * openFileLimit}), got ${descriptorBudget}`,
      )
    }
    if (options.pinOpenTorrents !== undefined && typeof options.pinOpenTorrents !== 'boolean') {
      throw invalidArgumentType('options.pinOpenTorrents must be a boolean')
    }
    const pinOpenTorrents = options.pinOpenTorrents ?? true
    if (options.holdCacheLimit !== undefined && typeof options.holdCacheLimit !== 'boolean') {
      throw invalidArgumentType('options.holdCacheLimit must be a boolean')
    }
    const holdCacheLimit = options.holdCacheLimit ?? true
    const chunksDirectory = join(settings.directory, CHUNKS_DIRECTORY)
    try {
      await mkdir(chunksDirectory, { recursive: true })
    } catch (error) {
      throw toStorageError(error, `Creating ${chunksDirectory}`)
    }
    // The key and the options are checked before the store is locked.
    const remote = options.remote === undefined ? undefined : await RemoteTier.create(options.remote)
    let index: ChunkIndex
    try {
      index = ChunkIndex.open(join(settings.directory, INDEX_FILE))
    } catch (error) {
      remote?.destroy()
      throw error
    }
    let storage: ChunkStorage
    try {
      const recovery = await sweep(index, chunksDirectory)
      storage = new ChunkStorage(
        settings,
        openFileLimit,
        descriptorBudget,
        index,
        recovery,
        remote,
        pinOpenTorrents,
        holdCacheLimit,
      )
    } catch (error) {
      index.close()
      remote?.destroy()
      throw toStorageError(error, 'Sweeping the store')
    }
    storage.#resumeUploads()
    storage.#resumeDeletions()
    // A store opened over its limit (a lower limit than last time) evicts what it may.
    storage.#checkLimits()
    return storage
  }

  // Remote tier

  /**
   * Complete chunks left without a remote copy by an earlier session (closed or killed
   * mid-upload, or an endpoint that was down) are queued again.
   */
  #resumeUploads(): void {
    if (this.#remote === undefined) return
    const byTorrent = new Map<string, Array<{ id: string; chunk_index: number; length: number }>>()
    for (const chunk of this.#index.localChunksNotUploaded()) {
      let list = byTorrent.get(chunk.torrent_id)
      if (list === undefined) {
        list = []
        byTorrent.set(chunk.torrent_id, list)
      }
      list.push(chunk)
    }
    if (byTorrent.size === 0) return
    for (const row of this.#index.allTorrents()) {
      const chunks = byTorrent.get(row.id)
      if (chunks === undefined) continue
      const geometry = storedGeometry(row)
      const verified = new Set(this.#index.mappingsOf(row.id).map((mapping) => mapping.piece_index))
      for (const chunk of chunks) {
        if (chunk.chunk_index >= geometry.chunkCount) continue
        const pieces = geometry.piecesOfChunk(chunk.chunk_index)
        if (pieces.length > 0 && pieces.every(({ pieceIndex }) => verified.has(pieceIndex))) {
          this.#enqueueUpload(chunk.id, chunk.length)
        }
      }
    }
  }

  /** A chunk whose every piece is verified is queued for upload (its id only: bytes are read later). */
  #uploadIfComplete(state: TorrentState, record: ChunkRecord): void {
    if (this.#remote === undefined || record.uploaded || !record.local) return
    for (const { pieceIndex } of state.geometry.piecesOfChunk(record.index)) {
      if (state.verified[pieceIndex] === 0) return
    }
    this.#enqueueUpload(record.id, record.length)
  }

  #enqueueUpload(id: string, length: number): void {
    if (this.#remote === undefined || this.#closed) return
    // An upload of these very bytes is running already.
    if (this.#uploading.get(id) === (this.#chunkGeneration.get(id) ?? 0)) return
    this.#uploadQueue.set(id, length)
    this.#pumpUploads()
  }

  #pumpUploads(): void {
    const remote = this.#remote
    if (remote === undefined) return
    while (!this.#closed && this.#uploadsRunning < remote.uploadConcurrency && this.#uploadQueue.size > 0) {
      const [id, length] = this.#uploadQueue.entries().next().value as [string, number]
      // The same chunk is never uploaded twice at once: it waits for the running upload.
      if (this.#uploading.has(id)) {
        const next = [...this.#uploadQueue.keys()].find((key) => !this.#uploading.has(key))
        if (next === undefined) return
        const nextLength = this.#uploadQueue.get(next)!
        this.#uploadQueue.delete(next)
        this.#startUpload(remote, next, nextLength)
        continue
      }
      this.#uploadQueue.delete(id)
      this.#startUpload(remote, id, length)
    }
  }

  #startUpload(remote: RemoteTier, id: string, length: number): void {
    this.#uploadsRunning++
    this.#uploading.set(id, this.#chunkGeneration.get(id) ?? 0)
    const running = this.#upload(remote, id, length)
      .catch(() => {})
      .finally(() => {
        this.#uploadsRunning--
        this.#uploading.delete(id)
        this.#uploadsActive.delete(running)
        this.#pumpUploads()
        this.#notifyFlushWaiters()
      })
    this.#uploadsActive.add(running)
  }

  /**
   * Uploads one chunk: reads it from disk (never held in memory while queued), seals it, puts it,
   * and records the object, unless the chunk was written meanwhile (then it is queued again if
   * still complete). A failed attempt is retried with exponential backoff until it succeeds or
   * the store closes.
   */
  async #upload(remote: RemoteTier, id: string, length: number): Promise<void> {
    const signal = this.#uploadAbort.signal
    for (let attempt = 0; !this.#closed; attempt++) {
      const generation = this.#chunkGeneration.get(id) ?? 0
      let bytes: Buffer
      try {
        bytes = await readFile(this.#chunkPath(id))
      } catch {
        return // The chunk was removed (cleared, deleted, evicted): nothing to upload.
      }
      if (bytes.length !== length) return
      try {
        const { location, size } = await remote.put(id, bytes, signal).finally(() => releaseBuffer(bytes))
        if (this.#closed || this.#index.closed) return
        if ((this.#chunkGeneration.get(id) ?? 0) !== generation) return // written again: re-queued by its commit
        try {
          this.#index.markUploaded(id, location, size, remote.keyId)
        } catch {
          return // The chunk's row is gone (its torrent was deleted).
        }
        const owner = this.#chunkOwners.get(id)
        if (owner !== undefined) owner.record.uploaded = true
        this.#remoteCounters.uploadsDone++
        this.#lastUploadConfirmed = performance.now()
        this.#uploadsFailing = false
        this.#remoteDirty = true
        this.#evictionMayHelp = true
        this.#checkLimits()
        return
      } catch (error) {
        if (this.#closed) return
        this.#remoteCounters.uploadsFailed++
        if (!this.#uploadsFailing) {
          this.#uploadsFailing = true
          this.#wakeRoomWaiters()
          this.#warn({
            code: 'ERR_REMOTE_UPLOAD_FAILING',
            message: `Uploads to s3://${remote.bucket} fail (${(error as Error).message}); retrying with backoff`,
            chunkId: id,
            cause: error,
          })
        }
      }
      await this.#retryDelay(remote, attempt, signal)
    }
  }

  #notifyFlushWaiters(): void {
    if (this.#uploadQueue.size > 0 || this.#uploadsRunning > 0) return
    this.#uploadWaiters.releaseAll()
  }

  /**
   * Resolves when every complete chunk known so far has a confirmed remote copy (immediately
   * without a remote tier). Rejects with the signal's reason when `signal` aborts, and with
   * `ERR_STORAGE_CLOSED` when the store closes first. Uploads keep retrying meanwhile: with an
   * endpoint that is down this waits until it is back.
   */
  flushUploads(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen()
    const { signal } = options
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#uploadQueue.size === 0 && this.#uploadsRunning === 0) return Promise.resolve()
    return this.#uploadWaiters.wait(signal)
  }

  // Remote deletions: the objects of deleted torrents (rows of `remote_deletions`)

  /** Objects waiting for a delete request (location → chunk id), in request order. */
  readonly #deletionQueue = new Map<string, string | null>()
  /** Objects in a delete request, or waiting to retry one. */
  readonly #deleting = new Set<string>()
  readonly #deletionWorkers = new Set<Promise<void>>()
  readonly #deletionWaiters = new DrainWaiters()
  /** A delete failed and none succeeded since (the warning was emitted). */
  #deletionsFailing = false
  readonly #deletionCounters = { deletionsDone: 0, deletionsFailed: 0 }

  /** Deletions recorded by an earlier session (or by one without the remote tier) are queued again. */
  #resumeDeletions(): void {
    if (this.#remote === undefined) return
    this.#enqueueDeletions(this.#index.pendingDeletions())
  }

  /** Uploads in flight of these chunks: their objects may land after the rows are gone. */
  #uploadsInFlight(chunks: ReadonlyArray<{ id: string }>): RemoteDeletion[] {
    const remote = this.#remote
    if (remote === undefined) return []
    return chunks
      .filter((chunk) => this.#uploading.has(chunk.id))
      .map((chunk) => ({ location: remote.locationFor(chunk.id), chunk_id: chunk.id }))
  }

  /** Queues recorded deletions (only with a remote tier: without one, the rows wait for a later session). */
  #enqueueDeletions(deletions: readonly RemoteDeletion[]): void {
    if (this.#remote === undefined || this.#closed) return
    for (const { location, chunk_id } of deletions) {
      // A row that is not an s3:// location was not written by this package: it stays, untouched.
      if (parseObjectLocation(location) === undefined || this.#deleting.has(location)) continue
      this.#deletionQueue.set(location, chunk_id)
    }
    this.#pumpDeletions()
  }

  #pumpDeletions(): void {
    const remote = this.#remote
    if (remote === undefined) return
    while (
      !this.#closed &&
      this.#deletionWorkers.size < remote.deleteConcurrency &&
      this.#deletionQueue.size > 0
    ) {
      const worker = this.#deletionWorker(remote)
        .catch(() => {})
        .finally(() => {
          this.#deletionWorkers.delete(worker)
          this.#notifyDeletionWaiters()
          this.#pumpDeletions()
        })
      this.#deletionWorkers.add(worker)
    }
  }

  /**
   * Takes up to one request's worth of queued deletions; not those of a chunk whose upload is
   * still in flight (a delete before its PUT lands would leak the object): they wait for it.
   */
  #takeDeletionBatch(): Array<[string, string | null]> {
    const batch: Array<[string, string | null]> = []
    for (const entry of this.#deletionQueue) {
      if (entry[1] !== null && this.#uploading.has(entry[1])) continue
      batch.push(entry)
      if (batch.length === DELETE_BATCH_LIMIT) break
    }
    for (const [location] of batch) {
      this.#deletionQueue.delete(location)
      this.#deleting.add(location)
    }
    return batch
  }

  /**
   * One of `deleteConcurrency` workers: sends batches of deletions until the queue is empty. A
   * row is removed once its delete is confirmed (a missing object counts); failed ones are
   * retried with exponential backoff, by this worker, until they succeed or the store closes.
   */
  async #deletionWorker(remote: RemoteTier): Promise<void> {
    const signal = this.#uploadAbort.signal
    let batch: Array<[string, string | null]> = []
    for (let attempt = 0; !this.#closed; ) {
      if (batch.length === 0) batch = this.#takeDeletionBatch()
      if (batch.length === 0) {
        // What is left waits for uploads of the same chunks to settle.
        if (this.#deletionQueue.size === 0 || this.#uploadsActive.size === 0) return
        await Promise.race([...this.#uploadsActive])
        continue
      }
      const locations = batch.map(([location]) => location)
      let failures: Map<string, Error>
      try {
        failures = await remote.deleteObjects(locations, signal)
      } catch (error) {
        const failure = toStorageError(error, `Deleting ${locations.length} object(s) from the remote tier`)
        failures = new Map(locations.map((location) => [location, failure]))
      }
      const confirmed = locations.filter((location) => !failures.has(location))
      if (confirmed.length > 0 && !this.#index.closed) {
        try {
          this.#index.forgetDeletions(confirmed)
        } catch {
          // The rows stay; the next session deletes those objects again, which is harmless.
        }
        this.#deletionCounters.deletionsDone += confirmed.length
        this.#deletionsFailing = false
      }
      for (const location of confirmed) this.#deleting.delete(location)
      batch = batch.filter(([location]) => failures.has(location))
      if (batch.length === 0) {
        attempt = 0
        this.#notifyDeletionWaiters()
        continue
      }
      if (this.#closed) break
      this.#deletionCounters.deletionsFailed += batch.length
      if (!this.#deletionsFailing) {
        this.#deletionsFailing = true
        const first = failures.get(batch[0]![0])!
        this.#warn({
          code: 'ERR_REMOTE_DELETE_FAILING',
          message: `Deleting objects of deleted torrents from s3://${remote.bucket} fails (${first.message}); retrying with backoff`,
          cause: first,
        })
      }
      await this.#retryDelay(remote, attempt++, signal)
    }
    // Closed: what is left stays recorded for the next session.
    for (const [location] of batch) this.#deleting.delete(location)
  }

  /** Waits a retry delay: exponential with jitter, cut short when the store closes. */
  #retryDelay(remote: RemoteTier, attempt: number, signal: AbortSignal): Promise<void> {
    const delay = Math.min(remote.retryMaxDelayMs, remote.retryBaseDelayMs * 2 ** Math.min(attempt, 20))
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve()
      const timer = setTimeout(done, delay * (0.75 + Math.random() / 2))
      function done() {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
    })
  }

  #notifyDeletionWaiters(): void {
    if (this.#deletionQueue.size > 0 || this.#deleting.size > 0) return
    this.#deletionWaiters.releaseAll()
  }

  /**
   * Resolves when the bucket confirmed the deletion of every object of the torrents deleted so far
   * (and of those an earlier session left pending); immediately without a remote tier, whose
   * pending rows wait for a session with one. Rejects with the signal's reason when `signal`
   * aborts, and with `ERR_STORAGE_CLOSED` when the store closes first. Failed deletes keep
   * retrying meanwhile: with an endpoint that is down this waits until it is back.
   */
  flushDeletions(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#assertOpen()
    const { signal } = options
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#deletionQueue.size === 0 && this.#deleting.size === 0) return Promise.resolve()
    return this.#deletionWaiters.wait(signal)
  }

  /** Fetches an evicted chunk back from the remote tier into the cache; one fetch per chunk at a time. */
  #fetchChunk(record: ChunkRecord): Promise<void> {
    let fetching = this.#fetches.get(record.id)
    if (fetching === undefined) {
      fetching = this.#fetchChunkNow(record).finally(() => this.#fetches.delete(record.id))
      this.#fetches.set(record.id, fetching)
    }
    return fetching
  }

  async #fetchChunkNow(record: ChunkRecord): Promise<void> {
    const remote = this.#remote!
    let bytes: Buffer
    try {
      bytes = await remote.get(record.id, record.length, this.#uploadAbort.signal)
    } catch (error) {
      this.#remoteCounters.fetchesFailed++
      throw error
    }
    if (record.local) return
    const temporary = join(this.#chunksDirectory, `${record.id}.fetch`)
    try {
      const handle = await open(temporary, 'w')
      try {
        let done = 0
        while (done < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, done)
          done += bytesWritten
        }
        await handle.datasync()
      } finally {
        await handle.close()
        releaseBuffer(bytes) // written (or failed): the fetched bytes are not kept in memory
      }
      await rename(temporary, this.#chunkPath(record.id))
    } catch (error) {
      await unlink(temporary).catch(() => {})
      throw toStorageError(error, `Storing chunk ${record.id} fetched from the remote tier`)
    }
    this.#remoteCounters.fetches++
    this.#accessTimes.set(record.id, Date.now())
    this.#fileCreated()
    // A chunk fetched back has its copy in the bucket: eviction can make room again (a pass that
    // found nothing earlier is not the last word while reads bring chunks back).
    this.#evictionMayHelp = true
    this.#becomeLocal(record)
  }

  // Storage

  async openTorrent(input: TorrentGeometryInput): Promise<TorrentStorage> {
    this.#assertOpen()
    const requested = TorrentGeometry.from(input, this.chunkSize)
    const current = this.#open.get(requested.infoHash)
    if (current !== undefined && !current.closed) {
      const difference = current.geometry.layoutDifference(requested)
      if (difference !== undefined) throw mismatch(requested.infoHash, difference)
      return current.handle
    }
    if (current?.closing !== undefined) await current.closing
    this.#assertOpen()
    const again = this.#open.get(requested.infoHash)
    if (again !== undefined) return this.openTorrent(input)
    return this.#loadTorrent(input, requested)
  }

  #loadTorrent(input: TorrentGeometryInput, requested: TorrentGeometry): TorrentStorage {
    const now = Date.now()
    let row = this.#index.torrentByInfoHash(requested.infoHash)
    let geometry = requested
    if (row === undefined) {
      row = {
        id: randomUUID(),
        release_id: requested.releaseId,
        info_hash: requested.infoHash,
        magnet_link: requested.magnetLink ?? null,
        torrent_name: requested.name,
        total_size_bytes: requested.totalSize,
        piece_length: requested.pieceLength,
        num_pieces: requested.pieceCount,
        is_seeding: 0,
        created_at: new Date(now).toISOString(),
        chunk_size: requested.chunkSize,
        files_json: JSON.stringify(requested.files),
      }
      this.#index.insertTorrent(row)
      this.#torrentCount++
    } else {
      const stored = storedGeometry(row)
      const difference = stored.layoutDifference(requested)
      if (difference !== undefined) throw mismatch(requested.infoHash, difference)
      geometry = TorrentGeometry.from(
        {
          ...input,
          releaseId: input.releaseId ?? row.release_id,
          magnetLink: input.magnetLink ?? row.magnet_link ?? undefined,
        },
        row.chunk_size,
      )
      if (
        geometry.releaseId !== row.release_id ||
        (geometry.magnetLink ?? null) !== row.magnet_link ||
        geometry.name !== row.torrent_name
      ) {
        this.#index.updateTorrentLabels(
          row.id,
          geometry.releaseId,
          geometry.magnetLink ?? null,
          geometry.name,
        )
      }
    }
    const state: TorrentState = {
      id: row.id,
      geometry,
      chunks: new Array<ChunkRecord | undefined>(geometry.chunkCount).fill(undefined),
      written: new Uint8Array(geometry.pieceCount),
      verified: new Uint8Array(geometry.pieceCount),
      verifiedCount: 0,
      locks: new PieceLocks(),
      inFlight: new Set(),
      awaitingVerdict: new Set(),
      handle: undefined as unknown as ChunkTorrentStorage,
      closed: false,
      closing: undefined,
    }
    state.handle = new ChunkTorrentStorage(this.#operations, state)
    for (const chunk of this.#index.chunksOf(row.id)) {
      if (chunk.chunk_index >= geometry.chunkCount) continue
      const record: ChunkRecord = {
        id: chunk.id,
        index: chunk.chunk_index,
        length: chunk.length,
        local: chunk.is_local === 1,
        uploaded: chunk.uploaded === 1,
        // Whether an earlier session synced this file is unknown: -1 makes the next commit sync it.
        writeSequence: 0,
        syncedSequence: -1,
        syncing: undefined,
        syncingSequence: 0,
        syncError: undefined,
        activeWriters: 0,
        activeReaders: 0,
        removal: undefined,
      }
      state.chunks[chunk.chunk_index] = record
    }
    for (const pieceIndex of this.#index.writtenPiecesOf(row.id)) {
      if (pieceIndex < geometry.pieceCount) state.written[pieceIndex] = 1
    }
    const invalidMappings: number[] = []
    for (const mapping of this.#index.mappingsOf(row.id)) {
      if (this.#mappingMatches(state, mapping)) {
        state.verified[mapping.piece_index] = 1
        state.written[mapping.piece_index] = 1
        state.verifiedCount++
      } else {
        invalidMappings.push(mapping.piece_index)
      }
    }
    if (invalidMappings.length > 0) {
      this.#index.durably(() => {
        for (const pieceIndex of invalidMappings) this.#index.deleteMapping(row.id, pieceIndex)
      })
    }
    if (this.pinOpenTorrents) this.#index.pinTorrent(row.id, new Date(now).toISOString())
    else this.#index.unpinTorrent(row.id)
    this.#pinnedDirty = true
    this.#evictionMayHelp = true
    this.#open.set(geometry.infoHash, state)
    for (const record of state.chunks)
      if (record !== undefined) this.#chunkOwners.set(record.id, { state, record })
    return state.handle
  }

  /** A mapping row is trusted only if it names the chunks the geometry says, all held somewhere. */
  #mappingMatches(
    state: TorrentState,
    mapping: {
      piece_index: number
      chunk_ids: string
      start_byte_in_first_chunk: number
      end_byte_in_last_chunk: number
    },
  ): boolean {
    const spans = state.geometry.chunksOfPiece(mapping.piece_index)
    if (spans.length === 0) return false
    const records = spans.map((span) => state.chunks[span.chunkIndex])
    if (records.some((record) => record === undefined || (!record.local && !record.uploaded))) return false
    const expected = JSON.stringify(records.map((record) => record!.id))
    return (
      mapping.chunk_ids === expected &&
      mapping.start_byte_in_first_chunk === spans[0]!.start &&
      mapping.end_byte_in_last_chunk === spans[spans.length - 1]!.end
    )
  }

  async listTorrents(): Promise<StoredTorrent[]> {
    this.#assertOpen()
    return this.#index.allTorrents().map((row) => {
      const geometry = storedGeometry(row)
      return {
        infoHash: row.info_hash,
        name: row.torrent_name,
        releaseId: row.release_id,
        magnetLink: row.magnet_link ?? undefined,
        pieceLength: row.piece_length,
        totalSize: row.total_size_bytes,
        pieceCount: row.num_pieces,
        verifiedCount: row.verified_count,
        chunkSize: row.chunk_size,
        files: geometry.files,
        complete: row.verified_count === row.num_pieces,
        open: this.#open.has(row.info_hash),
        createdAt: row.created_at,
      }
    })
  }

  async deleteTorrent(infoHash: string): Promise<void> {
    this.#assertOpen()
    checkInfoHash(infoHash)
    // Concurrent deletes of one torrent share the one in progress (each would count it gone).
    let deleting = this.#torrentDeletions.get(infoHash)
    if (deleting === undefined) {
      deleting = this.#deleteTorrent(infoHash).finally(() => this.#torrentDeletions.delete(infoHash))
      this.#torrentDeletions.set(infoHash, deleting)
    }
    return deleting
  }

  async #deleteTorrent(infoHash: string): Promise<void> {
    const state = this.#open.get(infoHash)
    if (state !== undefined) await this.#closeTorrent(state, true)
    this.#assertOpen()
    const row = this.#index.torrentByInfoHash(infoHash)
    if (row === undefined) return
    const chunks = this.#index.chunksOf(row.id)
    for (const chunk of chunks) await this.#files.drop(chunk.id)
    // The rows go first, durably, and in the same transaction the remote objects to delete are
    // recorded (a crash never leaks one); then the files. A crash in between leaves orphans for
    // the sweep. The objects are deleted in the background (flushDeletions waits for them).
    const deletions = this.#index.deleteTorrent(row.id, this.#uploadsInFlight(chunks))
    this.#torrentCount--
    this.#remoteDirty = true
    for (const chunk of chunks) {
      this.#uploadQueue.delete(chunk.id)
      this.#chunkGeneration.set(chunk.id, (this.#chunkGeneration.get(chunk.id) ?? 0) + 1)
    }
    this.#enqueueDeletions(deletions)
    this.#pinnedDirty = true
    await this.#crashPoint('after-delete-before-unlink')
    const local = chunks.filter((chunk) => chunk.is_local === 1)
    for (const chunk of local) {
      this.#localChunks--
      this.#localBytes -= chunk.length
      this.#accessTimes.delete(chunk.id)
    }
    for (let start = 0; start < local.length; start += 32) {
      await Promise.all(
        local.slice(start, start + 32).map((chunk) =>
          // A file that cannot be removed now is no longer referenced; the next startup sweep removes it.
          unlink(this.#chunkPath(chunk.id)).catch(() => {}),
        ),
      )
    }
    this.#refreshLimitState()
  }

  stats(): StorageStats {
    this.#assertOpen()
    if (this.#pinnedDirty) {
      this.#pinnedBytes = this.#index.pinnedBytes()
      this.#pinnedDirty = false
    }
    return {
      torrentCount: this.#torrentCount,
      openTorrentCount: this.#open.size,
      ...this.#counters,
      chunkCount: this.#localChunks,
      bytesOnDisk: this.#localBytes,
      pinnedBytes: this.#pinnedBytes,
      cacheLimitBytes: this.cacheLimitBytes,
      cacheLimitChunks: this.cacheLimitChunks,
      overLimit: this.#overLimit,
      ...(this.#remote === undefined ? {} : { remote: this.#remoteStats() }),
      files: {
        descriptorBudget: this.#descriptorBudget,
        openFiles: this.#files.descriptors,
        peakOpenFiles: this.#files.peakDescriptors,
        syncs: this.#syncs,
        syncsWaiting: this.#syncWaiters.length,
        peakSyncsWaiting: this.#peakSyncsWaiting,
        writesThrottled: this.#writesThrottled,
        throttledMs: Math.round(this.#throttledMs),
        throttleTimeouts: this.#throttleTimeouts,
      },
    }
  }

  #remoteStats(): RemoteStats {
    if (this.#remoteDirty) {
      this.#remoteTotals = this.#index.remoteTotals()
      this.#remoteDirty = false
    }
    return {
      ...this.#remoteTotals,
      pendingUploads: this.#uploadQueue.size + this.#uploadsRunning,
      ...this.#remoteCounters,
      pendingDeletions: this.#deletionQueue.size + this.#deleting.size,
      ...this.#deletionCounters,
    }
  }

  /**
   * Closes every open torrent handle (keeping their pins: they are still active for the next
   * session), waits for pending work and releases the store's lock. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    this.#closed = true
    this.#wakeDescriptorWaiters()
    this.#closing = (async () => {
      // Uploads in flight stop; the next open queues the complete chunks without a remote copy.
      this.#uploadAbort.abort()
      this.#uploadQueue.clear()
      this.#uploadWaiters.rejectAll(closedStorage())
      // Deletions too: their rows stay, and the next open with the remote tier resumes them.
      this.#deletionQueue.clear()
      this.#deletionWaiters.rejectAll(closedStorage())
      await Promise.all([...this.#open.values()].map((state) => this.#closeTorrent(state, false)))
      while (this.#uploadsActive.size > 0) await Promise.allSettled([...this.#uploadsActive])
      while (this.#fetches.size > 0) await Promise.allSettled([...this.#fetches.values()])
      while (this.#deletionWorkers.size > 0) await Promise.allSettled([...this.#deletionWorkers])
      this.#remote?.destroy()
      while (this.#committing) await new Promise((resolve) => setImmediate(resolve))
      clearTimeout(this.#directorySyncTimer)
      this.#directorySyncTimer = undefined
      while (this.#backgroundSyncs.size > 0) await Promise.all([...this.#backgroundSyncs])
      if (this.#eviction !== undefined) await this.#eviction
      // Uploads confirmed while that pass ran may let more chunks go (its follow-up pass does not
      // run once closed): one last pass, so the cache is within its limit when close resolves.
      if (this.#remote !== undefined && this.#isOverLimit()) await this.#evict()
      await this.#files.closeAll(false)
      try {
        this.#flushAccessTimes()
      } finally {
        this.#index.close()
      }
    })()
    return this.#closing
  }

  // Torrent operations (called by ChunkTorrentStorage)

  /** Tracks a call so that closing the torrent waits for it. */
  #track<T>(state: TorrentState, operation: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedStorage())
    if (state.closed) return Promise.reject(closedTorrent(state.geometry.infoHash))
    const promise = operation()
    state.inFlight.add(promise)
    const forget = () => state.inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }

  async #writePiece(state: TorrentState, index: number, data: Uint8Array): Promise<void> {
    const size = state.geometry.pieceSize(index)
    if (!(data instanceof Uint8Array)) throw invalidArgumentType('The piece data must be a Uint8Array')
    if (data.length !== size) {
      throw argumentOutOfRange(`Piece ${index} is ${size} bytes; got ${data.length} bytes`)
    }
    this.#writesInFlight++
    try {
      await this.#writePieceLocked(state, index, data)
    } finally {
      this.#writesInFlight--
      this.#writeFinished?.()
    }
  }

  async #writePieceLocked(state: TorrentState, index: number, data: Uint8Array): Promise<void> {
    await state.locks.exclusive(index, async () => {
      if (state.verified[index] === 1) {
        // The mapping vouches for the old bytes: it must be gone, on disk, before any byte changes.
        this.#index.durably(() => this.#index.deleteMapping(state.id, index))
        this.#unverify(state, index)
        await this.#crashPoint('after-unmap-before-overwrite')
      }
      const spans = state.geometry.chunksOfPiece(index)
      const records = spans.map((span) => this.#chunkForWrite(state, span.chunkIndex))
      try {
        await Promise.all(
          spans.map((span, position) =>
            this.#writeSpan(
              state,
              records[position]!,
              data,
              span.pieceOffset,
              span.end - span.start,
              span.start,
            ),
          ),
        )
      } catch (error) {
        if (state.written[index] === 1) {
          state.written[index] = 0
          this.#index.defer(() => this.#index.unmarkWritten(state.id, index))
        }
        throw toStorageError(error, `Writing piece ${index}`)
      } finally {
        for (const record of records) record.activeWriters--
      }
      await this.#crashPoint('after-chunk-write')
      if (state.written[index] === 0) {
        state.written[index] = 1
        this.#index.defer(() => this.#index.markWritten(state.id, index))
      }
      this.#counters.piecesWritten++
      if (!state.awaitingVerdict.has(index)) {
        state.awaitingVerdict.add(index)
        this.#awaitingVerdicts++
      }
    })
  }

  /**
   * Resolves once a datasync that started after write number `target` of the chunk succeeded.
   * Shares a sync in flight that covers it; runs on one of #syncParallelism slots.
   */
  #ensureSynced(state: TorrentState, record: ChunkRecord, target: number): Promise<void> {
    if (record.syncedSequence >= target) return Promise.resolve()
    if (record.syncing !== undefined && record.syncingSequence >= target) return record.syncing
    const previous = record.syncing
    const sequence = record.writeSequence
    const syncing = (async () => {
      if (previous !== undefined) await previous.catch(() => {})
      if (record.syncedSequence >= target) return
      await this.#syncSlot(async () => {
        if (record.syncedSequence >= target) return
        try {
          await this.#syncChunk(record, sequence)
        } catch (error) {
          const failure = toStorageError(error, `Syncing chunk ${record.id}`)
          record.syncError = failure
          this.#syncFailed(state, record)
          throw failure
        }
      })
    })()
    record.syncing = syncing
    record.syncingSequence = sequence
    const settle = () => {
      if (record.syncing === syncing) {
        record.syncing = undefined
        record.syncingSequence = 0
      }
    }
    syncing.then(settle, settle)
    return syncing
  }

  async #syncSlot<T>(task: () => Promise<T>): Promise<T> {
    if (this.#syncsRunning < this.#syncParallelism) this.#syncsRunning++
    else {
      await new Promise<void>((resolve) => {
        this.#syncWaiters.push(resolve)
        if (this.#syncWaiters.length > this.#peakSyncsWaiting)
          this.#peakSyncsWaiting = this.#syncWaiters.length
      })
    }
    try {
      return await task()
    } finally {
      const next = this.#syncWaiters.shift()
      if (next !== undefined) next()
      else this.#syncsRunning--
    }
  }

  #overDescriptorBudget(): boolean {
    return this.#files.descriptors + this.#descriptorsReserved >= this.#descriptorBudget
  }

  /**
   * Before a write opens one more chunk-file descriptor: waits while the store's descriptors (open, or
   * reserved by writes on their way to opening one) are at their budget, until one closes, the
   * store closes or DESCRIPTOR_WAIT_MS pass (then the write goes on regardless), and reserves one
   * in the same step as the last check, so that the writers a close wakes pass one by one. What
   * closes them depends on no write: the commits' syncs of pieces already written, and the file
   * cache's sync-then-close of dirty files past twice its limit (started here, as no open or
   * release may come while every write waits). The caller ends the reservation once its file is
   * open, through #endReservation.
   */
  async #reserveDescriptor(): Promise<void> {
    if (this.#overDescriptorBudget()) {
      this.#writesThrottled++
      this.#descriptorWaiting++
      const started = performance.now()
      const deadline = started + DESCRIPTOR_WAIT_MS
      try {
        while (this.#overDescriptorBudget() && !this.#closed) {
          const remaining = deadline - performance.now()
          if (remaining <= 0) {
            this.#throttleTimeouts++
            break
          }
          // A trim may close clean files at once, before this write waits for a wake: look again.
          this.#files.trim()
          if (!this.#overDescriptorBudget()) break
          await wakeableDelay(remaining, (wake) => this.#descriptorWakes.push(wake))
        }
      } finally {
        this.#descriptorWaiting--
        this.#throttledMs += performance.now() - started
      }
    }
    this.#descriptorsReserved++
  }

  #endReservation(): void {
    this.#descriptorsReserved--
    // Its file was open already: the place it held is free for a waiting write.
    this.#wakeIfRoom()
  }

  /** After a close or a reservation's end: the waiting writes re-check once there is room. */
  #wakeIfRoom(): void {
    if (this.#descriptorWakes.length > 0 && !this.#overDescriptorBudget()) this.#wakeDescriptorWaiters()
  }

  #wakeDescriptorWaiters(): void {
    const wakes = this.#descriptorWakes
    this.#descriptorWakes = []
    for (const wake of wakes) wake()
  }

  #chunkForWrite(state: TorrentState, chunkIndex: number): ChunkRecord {
    let record = state.chunks[chunkIndex]
    if (record === undefined) {
      const created: ChunkRecord = {
        id: randomUUID(),
        index: chunkIndex,
        length: state.geometry.chunkLength(chunkIndex),
        local: false,
        uploaded: false,
        writeSequence: 0,
        syncedSequence: 0,
        syncing: undefined,
        syncingSequence: 0,
        syncError: undefined,
        activeWriters: 0,
        activeReaders: 0,
        removal: undefined,
      }
      record = created
      state.chunks[chunkIndex] = created
      this.#chunkOwners.set(created.id, { state, record: created })
      const now = Date.now()
      this.#index.defer(() => {
        this.#index.insertChunk(state.id, created.id, chunkIndex, created.length, now)
        if (this.pinOpenTorrents) this.#index.pinChunk(created.id, state.id, new Date(now).toISOString())
      })
    }
    record.activeWriters++
    return record
  }

  async #writeSpan(
    state: TorrentState,
    record: ChunkRecord,
    data: Uint8Array,
    dataOffset: number,
    length: number,
    position: number,
  ): Promise<void> {
    while (record.removal !== undefined) await record.removal
    // A write that opens one more descriptor (its file is not in the cache: new, closed, or being
    // synced to close) waits at the descriptor budget and holds its place in it until the file is
    // open. The acquire below comes in the same step as this check for a local chunk.
    const reserves = !this.#files.holds(record.id)
    if (reserves) await this.#reserveDescriptor()
    let lease: FileLease
    try {
      // An evicted chunk holds other verified pieces: it comes back before any byte changes.
      if (!record.local && record.uploaded && this.#remote !== undefined) await this.#fetchChunk(record)
      this.#chunkGeneration.set(record.id, (this.#chunkGeneration.get(record.id) ?? 0) + 1)
      if (record.uploaded) {
        this.#remoteDirty = true
        record.uploaded = false
        this.#index.defer(() => this.#index.forgetUpload(record.id))
      }
      if (!record.local) {
        await this.#admitChunk(record)
        lease = await this.#files.acquire(record.id, this.#chunkPath(record.id), true)
        this.#fileCreated()
      } else {
        try {
          lease = await this.#files.acquire(record.id, this.#chunkPath(record.id), false)
        } catch (error) {
          if (!isNotFound(error)) throw error
          // The file vanished under us: what it held is lost; start it again.
          this.#chunkLost(state, record)
          lease = await this.#files.acquire(record.id, this.#chunkPath(record.id), true)
          this.#fileCreated()
        }
      }
    } finally {
      if (reserves) this.#endReservation()
    }
    try {
      let done = 0
      while (done < length) {
        const { bytesWritten } = await lease.handle.write(
          data,
          dataOffset + done,
          length - done,
          position + done,
        )
        done += bytesWritten
      }
    } finally {
      // Dirty before the lease goes (even after a failed write: bytes may have changed): the
      // release may close the handle, and a dirty one is synced through its descriptor first.
      record.writeSequence++
      lease.release()
    }
    await this.#crashPoint('after-span-write')
    this.#counters.chunksWritten++
    this.#counters.bytesWritten += length
    this.#accessTimes.set(record.id, Date.now())
  }

  /**
   * A chunk file was created: its directory entry is synced in the background soon (at most one
   * background directory fsync per DIRECTORY_SYNC_DELAY_MS; a commit that needs it sooner runs it).
   */
  #fileCreated(): void {
    this.#directorySequence++
    if (this.#directorySyncTimer !== undefined) return
    this.#directorySyncTimer = setTimeout(() => {
      this.#directorySyncTimer = undefined
      this.#backgroundDirectorySync()
    }, DIRECTORY_SYNC_DELAY_MS)
    this.#directorySyncTimer.unref()
  }

  #backgroundDirectorySync(): void {
    const background = this.#ensureDirectorySynced(this.#directorySequence).catch(() => {})
    this.#backgroundSyncs.add(background)
    background.finally(() => this.#backgroundSyncs.delete(background))
  }

  /** Resolves once an fsync of the chunks directory that started after creation `target` succeeded. */
  #ensureDirectorySynced(target: number): Promise<void> {
    if (this.#directorySyncedSequence >= target) return Promise.resolve()
    if (this.#directorySyncing !== undefined && this.#directorySyncingSequence >= target) {
      return this.#directorySyncing
    }
    const previous = this.#directorySyncing
    const syncing = (async () => {
      if (previous !== undefined) await previous.catch(() => {})
      if (this.#directorySyncedSequence >= target) return
      await this.#syncSlot(async () => {
        if (this.#directorySyncedSequence >= target) return
        // Every creation counted so far is covered: the sync starts after them.
        const sequence = this.#directorySequence
        await syncDirectory(this.#chunksDirectory)
        this.#directorySyncedSequence = Math.max(this.#directorySyncedSequence, sequence)
      })
    })()
    this.#directorySyncing = syncing
    this.#directorySyncingSequence = this.#directorySequence
    const settle = () => {
      if (this.#directorySyncing === syncing) this.#directorySyncing = undefined
    }
    syncing.then(settle, settle)
    return syncing
  }

  #becomeLocal(record: ChunkRecord): void {
    record.local = true
    record.syncedSequence = record.writeSequence
    this.#localChunks++
    this.#localBytes += record.length
    this.#pinnedDirty = true
    this.#index.defer(() => this.#index.setChunkLocal(record.id, true))
    this.#checkLimits()
  }

  #verdictCame(state: TorrentState, index: number): void {
    if (state.awaitingVerdict.delete(index)) this.#awaitingVerdicts--
  }

  /**
   * Queues the piece for the next group commit. Hundreds of verifications wait for each commit
   * while a download streams, so the common path allocates one promise and one request: the
   * piece's hold is taken without a task when it is free, and released by the commit.
   */
  #markVerified(state: TorrentState, index: number): Promise<void> {
    try {
      state.geometry.assertPieceIndex(index)
    } catch (error) {
      return Promise.reject(error)
    }
    const release = state.locks.tryExclusive(index)
    if (release !== undefined) return this.#queueVerify(state, index, release)
    // A read or a write holds the piece: wait for it, holding the piece until the commit answers.
    return state.locks.exclusive(index, () => this.#queueVerify(state, index, undefined))
  }

  #queueVerify(state: TorrentState, index: number, release: (() => void) | undefined): Promise<void> {
    const verified = state.verified[index] === 1
    if (verified || state.written[index] === 0) {
      release?.()
      this.#verdictCame(state, index)
      if (verified) return Promise.resolve()
      return Promise.reject(
        new StorageError(
          'ERR_PIECE_NOT_WRITTEN',
          `Piece ${index} cannot be marked verified: it was not written (or was cleared)`,
        ),
      )
    }
    return new Promise<void>((resolve, reject) => {
      this.#verifyQueue.push({ state, index, release, resolve, reject })
      this.#verifyQueueBytes += state.geometry.pieceSize(index)
      if (!this.#committing) {
        this.#committing = true
        queueMicrotask(() => void this.#commitLoop())
      }
    })
  }

  /** The commit's answer to a verification: the piece's hold released, then the caller told. */
  #answer(request: VerifyRequest, failure: Error | undefined): void {
    request.release?.()
    this.#verdictCame(request.state, request.index)
    if (failure === undefined) request.resolve()
    else request.reject(failure)
  }

  /**
   * Group commit: every markVerified that arrives while a commit runs joins the next one, and while
   * piece writes are still in flight (the engine is streaming) a commit waits for them, up to
   * COMMIT_DELAY_MS or COMMIT_BATCH_BYTES, so that each chunk file tends to be synced once, full.
   * A caller with nothing else in flight is committed at once. A commit datasyncs each chunk file
   * written since its last sync (several in parallel: the file system folds them into one journal
   * commit), fsyncs the chunks directory if files were created, and only then inserts all the
   * mapping rows in one transaction. Chunks are synced here only, in these bursts, never one by one
   * as they fill: syncs trickling in between the writes each cost a journal commit of their own and
   * hold libuv threads the writes need (measured: a 1 GiB write on a busy machine took ~25% longer).
   */
  async #commitLoop(): Promise<void> {
    try {
      while (this.#verifyQueue.length > 0) {
        await this.#gatherBatch()
        const batch = this.#verifyQueue
        this.#verifyQueue = []
        this.#verifyQueueBytes = 0
        await this.#commitBatch(batch)
      }
    } finally {
      this.#committing = false
      this.#wakeRoomWaiters()
    }
  }

  async #gatherBatch(): Promise<void> {
    const deadline = performance.now() + COMMIT_DELAY_MS
    // Writes waiting for room in the cache wait for this commit (it completes chunks to upload).
    while (
      this.#writesInFlight > this.#roomWaiting + this.#descriptorWaiting &&
      this.#verifyQueueBytes < COMMIT_BATCH_BYTES &&
      !this.#closed
    ) {
      const remaining = deadline - performance.now()
      if (remaining <= 0) return
      await wakeableDelay(remaining, (wake) => {
        this.#writeFinished = wake
      })
      this.#writeFinished = undefined
    }
  }

  async #commitBatch(batch: VerifyRequest[]): Promise<void> {
    const toSync = new Map<ChunkRecord, TorrentState>()
    for (const request of batch) {
      for (const span of request.state.geometry.chunksOfPiece(request.index)) {
        const record = request.state.chunks[span.chunkIndex]!
        if (record.syncedSequence < record.writeSequence) toSync.set(record, request.state)
      }
    }
    const failures = new Map<ChunkRecord, Error>()
    const directoryTarget = this.#directorySequence
    let directoryFailure: Error | undefined
    await Promise.all([
      ...[...toSync].map(async ([record, state]) => {
        try {
          await this.#ensureSynced(state, record, record.writeSequence)
        } catch (error) {
          failures.set(record, toStorageError(error, `Syncing chunk ${record.id}`))
        }
      }),
      (async () => {
        try {
          await this.#ensureDirectorySynced(directoryTarget)
        } catch (error) {
          directoryFailure = toStorageError(error, `Syncing ${this.#chunksDirectory}`)
        }
      })(),
    ])
    await this.#crashPoint('after-sync-before-commit')
    const ready: VerifyRequest[] = []
    for (const request of batch) {
      let failure = directoryFailure
      for (const span of request.state.geometry.chunksOfPiece(request.index)) {
        const record = request.state.chunks[span.chunkIndex]!
        failure ??= failures.get(record)
        // A background sync of the chunk failed meanwhile and forgot this unverified piece.
        if (request.state.written[request.index] === 0) failure ??= record.syncError
      }
      if (request.state.written[request.index] === 0) {
        failure ??= new StorageError(
          'ERR_PIECE_NOT_WRITTEN',
          `Piece ${request.index} was forgotten before its commit`,
        )
      }
      if (failure !== undefined) this.#answer(request, failure)
      else ready.push(request)
    }
    if (ready.length === 0) return
    try {
      this.#index.transaction(() => {
        for (const { state, index } of ready) {
          const spans = state.geometry.chunksOfPiece(index)
          this.#index.upsertMapping(
            {
              torrentId: state.id,
              pieceIndex: index,
              chunkIds: spans.map((span) => state.chunks[span.chunkIndex]!.id),
              startByteInFirstChunk: spans[0]!.start,
              endByteInLastChunk: spans[spans.length - 1]!.end,
            },
            randomUUID(),
          )
        }
        const completed = new Set<TorrentState>()
        for (const { state, index } of ready) {
          if (state.verified[index] === 0 && state.verifiedCount + 1 === state.geometry.pieceCount) {
            completed.add(state)
          }
        }
        for (const state of completed) this.#index.setSeeding(state.id, true)
      })
    } catch (error) {
      const failure = toStorageError(error, 'Committing verified pieces')
      for (const request of ready) this.#answer(request, failure)
      return
    }
    for (const { state, index } of ready) {
      if (state.verified[index] === 0) {
        state.verified[index] = 1
        state.verifiedCount++
        this.#counters.piecesVerified++
      }
    }
    if (this.#remote !== undefined) {
      for (const { state, index } of ready) {
        for (const span of state.geometry.chunksOfPiece(index)) {
          this.#uploadIfComplete(state, state.chunks[span.chunkIndex]!)
        }
      }
    }
    for (const request of ready) this.#answer(request, undefined)
  }

  async #syncChunk(record: ChunkRecord, target: number): Promise<void> {
    const lease = await this.#files.acquire(record.id, this.#chunkPath(record.id), false)
    try {
      await this.#datasync(lease.handle)
    } finally {
      lease.release()
    }
    record.syncedSequence = Math.max(record.syncedSequence, target)
  }

  /** Every chunk file's datasync, counted (stats().files.syncs). */
  async #datasync(handle: ChunkFile): Promise<void> {
    await this.#crashPoint('before-datasync')
    this.#syncs++
    await handle.datasync()
  }

  /** The chunk has writes of this session no datasync covered yet. */
  #isDirty(id: string): boolean {
    const record = this.#chunkOwners.get(id)?.record
    return record !== undefined && record.writeSequence > Math.max(record.syncedSequence, 0)
  }

  /**
   * Closing a handle with unsynced writes (only when the cache overflows with dirty handles): sync
   * first, so that a write-back error is not lost with the descriptor.
   */
  async #syncBeforeClose(id: string, handle: ChunkFile): Promise<void> {
    const owner = this.#chunkOwners.get(id)
    if (owner === undefined || !this.#isDirty(id)) return
    const { state, record } = owner
    const target = record.writeSequence
    await this.#syncSlot(async () => {
      if (record.syncedSequence >= target) return
      try {
        await this.#datasync(handle)
        record.syncedSequence = Math.max(record.syncedSequence, target)
      } catch (error) {
        record.syncError = toStorageError(error, `Syncing chunk ${record.id}`)
        this.#syncFailed(state, record)
      }
    })
  }

  /**
   * A datasync failed: the kernel may have dropped the dirty pages and will not report it twice,
   * so every written-but-unverified piece of the chunk is forgotten (to be written again).
   */
  #syncFailed(state: TorrentState, record: ChunkRecord): void {
    for (const { pieceIndex } of state.geometry.piecesOfChunk(record.index)) {
      if (state.written[pieceIndex] === 1 && state.verified[pieceIndex] === 0) {
        state.written[pieceIndex] = 0
        this.#index.defer(() => this.#index.unmarkWritten(state.id, pieceIndex))
      }
    }
  }

  async #readPiece(state: TorrentState, index: number, offset = 0, length = 0): Promise<Buffer> {
    state.geometry.assertPieceIndex(index)
    if (state.verified[index] === 0) throw pieceNotFound(index)
    const range = state.geometry.readRange(index, offset, length)
    const output = Buffer.allocUnsafe(range.length)
    await this.#readVerified(state, index, range, output)
    return output
  }

  async #readPieceInto(state: TorrentState, index: number, target: Uint8Array, offset = 0): Promise<number> {
    state.geometry.assertPieceIndex(index)
    if (!(target instanceof Uint8Array)) throw invalidArgumentType('The read target must be a Uint8Array')
    if (state.verified[index] === 0) throw pieceNotFound(index)
    const whole = state.geometry.readRange(index, offset, 0)
    const range = { offset: whole.offset, length: Math.min(whole.length, target.byteLength) }
    await this.#readVerified(state, index, range, target)
    return range.length
  }

  /**
   * Reads `range` of a verified piece into `output` under a shared hold of the piece: taken at once
   * when nobody re-writes or clears it (the hot path: no queueing, no closure promise), else queued.
   */
  #readVerified(state: TorrentState, index: number, range: PieceRange, output: Uint8Array): Promise<void> {
    const read = (): Promise<void> => {
      if (state.verified[index] === 0) return Promise.reject(pieceNotFound(index))
      const reading = range.length > 0 ? this.#readInto(state, index, range, output, true) : Promise.resolve()
      return reading.then(() => {
        this.#counters.bytesRead += range.length
      })
    }
    const release = state.locks.tryShared(index)
    if (release === undefined) return state.locks.shared(index, read)
    let reading: Promise<void>
    try {
      reading = read()
    } catch (error) {
      release()
      return Promise.reject(error)
    }
    return reading.then(release, (error: unknown) => {
      release()
      throw error
    })
  }

  async #readUnverifiedPiece(state: TorrentState, index: number): Promise<Buffer | null> {
    const size = state.geometry.pieceSize(index)
    return state.locks.shared(index, async () => {
      if (state.written[index] === 0) return null
      const output = Buffer.allocUnsafe(size)
      try {
        await this.#readInto(state, index, { offset: 0, length: size }, output, false)
      } catch (error) {
        if (StorageError.isInstance(error) && error.code === 'ERR_CHUNK_MISSING') return null
        throw error
      }
      this.#counters.bytesRead += size
      return output
    })
  }

  async #hashPiece(state: TorrentState, index: number, algorithm: HashAlgorithm): Promise<Buffer | null> {
    if (algorithm !== 'sha1' && algorithm !== 'sha256') {
      throw invalidArgumentType(`The hash algorithm must be 'sha1' or 'sha256', got ${String(algorithm)}`)
    }
    const bytes = await this.#readUnverifiedPiece(state, index)
    return bytes === null ? null : createHash(algorithm).update(bytes).digest()
  }

  /** Fills `output` with `range` of the piece, one read per chunk it spans (may throw synchronously). */
  #readInto(
    state: TorrentState,
    index: number,
    range: PieceRange,
    output: Uint8Array,
    strict: boolean,
  ): Promise<void> {
    const end = range.offset + range.length
    const spans = state.geometry.chunksOfPiece(index)
    const only = spans.length === 1 ? spans[0]! : undefined
    if (only !== undefined) {
      // One chunk holds the whole piece (pieces no larger than chunks): no fan-out.
      const position = only.start + range.offset - only.pieceOffset
      return this.#readSpan(state, state.chunks[only.chunkIndex], output, 0, range.length, position, strict)
    }
    const reads: Promise<void>[] = []
    for (const span of spans) {
      const from = Math.max(span.pieceOffset, range.offset)
      const to = Math.min(span.pieceOffset + (span.end - span.start), end)
      if (from >= to) continue
      reads.push(
        this.#readSpan(
          state,
          state.chunks[span.chunkIndex],
          output,
          from - range.offset,
          to - from,
          span.start + (from - span.pieceOffset),
          strict,
        ),
      )
    }
    // Settled, all of them, before it settles: a failed span must not leave a sibling still
    // writing into the caller's buffer (readPieceInto's target) after the error was returned.
    return Promise.allSettled(reads).then((results) => {
      for (const result of results) if (result.status === 'rejected') throw result.reason
    })
  }

  async #readSpan(
    state: TorrentState,
    record: ChunkRecord | undefined,
    output: Uint8Array,
    outputOffset: number,
    length: number,
    position: number,
    strict: boolean,
  ): Promise<void> {
    if (record === undefined) {
      this.#counters.cacheMisses++
      throw chunkMissing('unknown')
    }
    // A chunk with a read in flight is not evicted under it (a read-through fetch, then eviction
    // before the read opens the file, would otherwise make concurrent reads thrash and fail).
    record.activeReaders++
    try {
      let lease: FileLease | undefined
      for (let attempt = 0; lease === undefined; attempt++) {
        if (!record.local) {
          this.#counters.cacheMisses++
          // Read-through: an evicted chunk with a remote copy is fetched back into the cache.
          if (!record.uploaded || attempt > 1) throw chunkMissing(record.id)
          if (this.#remote === undefined) {
            throw new StorageError(
              'ERR_CHUNK_MISSING',
              `Chunk ${record.id} not in cache (its copy is in the remote tier: open the store with the remote option)`,
            )
          }
          await this.#fetchChunk(record)
          continue
        }
        try {
          // Its handle, or the file opened now on this thread; a handle still opening is awaited.
          const path = this.#chunkPath(record.id)
          lease =
            this.#files.tryAcquire(record.id, path) ?? (await this.#files.acquire(record.id, path, false))
        } catch (error) {
          if (!isNotFound(error)) throw toStorageError(error, `Opening chunk ${record.id}`)
          // The parity rule: a chunk whose file is gone loses its cache entry and reports a miss.
          this.#evictEntry(record)
          if (!record.uploaded) {
            this.#counters.cacheMisses++
            this.#chunkLost(state, record)
            throw chunkMissing(record.id)
          }
        }
      }
      this.#counters.cacheHits++
      let done = 0
      try {
        done = await readFully(lease.handle, output, outputOffset, length, position)
      } catch (error) {
        throw toStorageError(error, `Reading chunk ${record.id}`)
      } finally {
        lease.release()
      }
      if (done < length) {
        if (strict) {
          throw new StorageError(
            'ERR_CHUNK_TRUNCATED',
            `Chunk ${record.id} ends ${length - done} bytes short of the verified data it should hold`,
          )
        }
        output.fill(0, outputOffset + done, outputOffset + length)
      }
      this.#accessTimes.set(record.id, Date.now())
    } finally {
      this.#readDone(record)
    }
  }

  #readDone(record: ChunkRecord): void {
    record.activeReaders--
    // Eviction skipped this chunk while it was read: it may go now.
    if (record.activeReaders === 0 && record.uploaded && this.#isOverLimit()) {
      this.#evictionMayHelp = true
      this.#checkLimits()
    }
  }

  async #clearPiece(state: TorrentState, index: number): Promise<void> {
    state.geometry.assertPieceIndex(index)
    this.#verdictCame(state, index)
    await state.locks.exclusive(index, async () => {
      if (state.verified[index] === 1) {
        this.#index.durably(() => {
          this.#index.deleteMapping(state.id, index)
          this.#index.unmarkWritten(state.id, index)
        })
        this.#unverify(state, index)
      } else if (state.written[index] === 1) {
        this.#index.defer(() => this.#index.unmarkWritten(state.id, index))
      }
      state.written[index] = 0
      const removals: Promise<void>[] = []
      for (const span of state.geometry.chunksOfPiece(index)) {
        const removal = this.#removeChunkIfEmpty(state, span.chunkIndex)
        if (removal !== undefined) removals.push(removal)
      }
      await Promise.all(removals)
    })
  }

  /** A chunk no written piece uses any more is deleted (its id stays, for a later write). */
  #removeChunkIfEmpty(state: TorrentState, chunkIndex: number): Promise<void> | undefined {
    const record = state.chunks[chunkIndex]
    if (record === undefined || !record.local || record.activeWriters > 0 || record.removal !== undefined) {
      return undefined
    }
    for (const { pieceIndex } of state.geometry.piecesOfChunk(chunkIndex)) {
      if (state.written[pieceIndex] === 1) return undefined
    }
    this.#evictEntry(record)
    this.#chunkGeneration.set(record.id, (this.#chunkGeneration.get(record.id) ?? 0) + 1)
    const path = this.#chunkPath(record.id)
    const removal = (async () => {
      await this.#files.drop(record.id)
      await this.#crashPoint('after-unlocal-before-unlink')
      await unlink(path).catch(() => {})
    })().finally(() => {
      record.removal = undefined
    })
    record.removal = removal
    return removal
  }

  /** The local copy of a chunk is gone (or going): accounting and the index say so. */
  #evictEntry(record: ChunkRecord): void {
    if (!record.local) return
    record.local = false
    record.syncedSequence = record.writeSequence
    this.#localChunks--
    this.#localBytes -= record.length
    this.#pinnedDirty = true
    this.#accessTimes.delete(record.id)
    this.#index.defer(() => this.#index.setChunkLocal(record.id, false))
    void this.#files.drop(record.id)
    this.#refreshLimitState()
  }

  /**
   * A chunk's only copy is gone: every piece it held is forgotten (durably, before anything is
   * written again in its place) and the engine is told which ones, to download them again.
   */
  #chunkLost(state: TorrentState, record: ChunkRecord): void {
    const pieces = state.geometry
      .piecesOfChunk(record.index)
      .map((span) => span.pieceIndex)
      .filter((pieceIndex) => state.written[pieceIndex] === 1)
    if (pieces.length === 0) return
    this.#index.durably(() => {
      for (const pieceIndex of pieces) {
        this.#index.deleteMapping(state.id, pieceIndex)
        this.#index.unmarkWritten(state.id, pieceIndex)
      }
    })
    for (const pieceIndex of pieces) {
      if (state.verified[pieceIndex] === 1) this.#unverify(state, pieceIndex)
      state.written[pieceIndex] = 0
    }
    this.#warn({
      code: 'ERR_CHUNK_LOST',
      message: `Chunk ${record.id} of torrent ${state.geometry.infoHash} is gone; pieces ${pieces.join(', ')} must be downloaded again`,
      infoHash: state.geometry.infoHash,
      chunkId: record.id,
      pieces,
    })
  }

  #unverify(state: TorrentState, index: number): void {
    if (state.verified[index] === 0) return
    const wasComplete = state.verifiedCount === state.geometry.pieceCount
    state.verified[index] = 0
    state.verifiedCount--
    if (wasComplete) this.#index.defer(() => this.#index.setSeeding(state.id, false))
  }

  async #verifiedPieces(state: TorrentState): Promise<number[]> {
    const pieces: number[] = []
    for (let index = 0; index < state.verified.length; index++)
      if (state.verified[index] === 1) pieces.push(index)
    return pieces
  }

  /** Closes a torrent handle once its calls settle; `unpin` releases its pins (a torrent's own close). */
  #closeTorrent(state: TorrentState, unpin: boolean): Promise<void> {
    if (state.closing !== undefined) return state.closing
    state.closed = true
    state.closing = (async () => {
      while (state.inFlight.size > 0) await Promise.allSettled([...state.inFlight])
      this.#awaitingVerdicts -= state.awaitingVerdict.size
      state.awaitingVerdict.clear()
      for (const record of state.chunks) {
        if (record === undefined) continue
        while (record.syncing !== undefined) await record.syncing.catch(() => {})
        await this.#files.drop(record.id)
        this.#chunkOwners.delete(record.id)
      }
      if (unpin && !this.#index.closed) {
        this.#index.unpinTorrent(state.id)
        this.#pinnedDirty = true
        this.#evictionMayHelp = true
        this.#checkLimits()
      }
      this.#open.delete(state.geometry.infoHash)
    })()
    return state.closing
  }

  // Cache limits

  #isOverLimit(): boolean {
    return this.#localBytes > this.cacheLimitBytes || this.#localChunks > this.cacheLimitChunks
  }

  /** Another local chunk of `bytes` would take the cache past a limit. */
  #lacksRoomFor(bytes: number): boolean {
    return this.#localBytes + bytes > this.cacheLimitBytes || this.#localChunks + 1 > this.cacheLimitChunks
  }

  /** Over a limit, or without the room a waiting write needs for its new chunk. */
  #needsEviction(): boolean {
    return this.#roomWanted === 0 ? this.#isOverLimit() : this.#lacksRoomFor(this.#roomWanted)
  }

  #refreshLimitState(): void {
    if (!this.#isOverLimit()) this.#overLimit = false
  }

  /**
   * Over a limit, evicts least recently used chunks that are unpinned and held elsewhere. When
   * nothing qualifies (always, until a remote tier exists), it warns once and stops: it never
   * loops and never deletes the only copy of a chunk.
   */
  #checkLimits(): void {
    if (!this.#isOverLimit()) this.#overLimit = false
    if (!this.#needsEviction() || this.#eviction !== undefined || this.#closed) return
    // A pass that found nothing to evict is not repeated until something changes (an upload, an
    // unpin); the first crossing of the limit always runs one, to warn.
    if (!this.#evictionMayHelp && (this.#overLimit || !this.#isOverLimit())) return
    this.#evictionMayHelp = false
    this.#eviction = this.#evict().finally(() => {
      this.#eviction = undefined
      // Something freed more chunks while this eviction ran (an unpin, an upload): go again.
      if (this.#evictionMayHelp && !this.#closed) this.#checkLimits()
    })
  }

  async #evict(): Promise<void> {
    try {
      this.#flushAccessTimes()
      // Without a remote tier in this session, an evicted chunk could not be read back.
      const candidates = this.#remote === undefined ? [] : this.#index.evictionCandidates(1_000)
      for (const candidate of candidates) {
        if (!this.#needsEviction()) break
        const owner = this.#chunkOwners.get(candidate.id)
        if (owner !== undefined) {
          const { record } = owner
          if (
            record.activeWriters > 0 ||
            record.activeReaders > 0 ||
            record.removal !== undefined ||
            !record.local ||
            !record.uploaded
          )
            continue
          this.#evictEntry(record)
        } else {
          this.#localChunks--
          this.#localBytes -= candidate.length
          this.#pinnedDirty = true
          this.#index.defer(() => this.#index.setChunkLocal(candidate.id, false))
        }
        await this.#files.drop(candidate.id)
        await unlink(this.#chunkPath(candidate.id)).catch(() => {})
      }
    } catch {
      // Eviction is best effort; the limit state below still tells the truth.
    }
    if (this.#isOverLimit()) {
      if (!this.#overLimit) {
        this.#overLimit = true
        const now = performance.now()
        if (now - this.#overLimitWarnedAt >= OVER_LIMIT_WARNING_INTERVAL_MS) {
          this.#overLimitWarnedAt = now
          this.#warn({
            code: 'ERR_CACHE_OVER_LIMIT',
            message:
              `Local chunks (${this.#localChunks} chunks, ${this.#localBytes} bytes) exceed the cache limit ` +
              `(${this.cacheLimitChunks} chunks, ${this.cacheLimitBytes} bytes) and nothing more can be evicted ` +
              'without deleting the only copy of a chunk',
            bytesOnDisk: this.#localBytes,
            chunkCount: this.#localChunks,
            cacheLimitBytes: this.cacheLimitBytes,
            cacheLimitChunks: this.cacheLimitChunks,
          })
        }
      }
    } else {
      this.#overLimit = false
    }
    this.#wakeRoomWaiters()
  }

  /** Makes a chunk local before its file is created, once there is room for it if the limit is held. */
  async #admitChunk(record: ChunkRecord): Promise<void> {
    if (this.#remote !== undefined && !this.pinOpenTorrents && this.holdCacheLimit) {
      await this.#waitForRoom(record)
    } else {
      this.#becomeLocal(record)
    }
  }

  /**
   * Holds the cache limit while a torrent larger than the cache downloads: before a new chunk file
   * is created in a full cache, the write evicts for it, then waits for uploads to confirm and
   * eviction to make room, so that the download runs at the pace of the uploads. It waits only
   * while that can help (verifications, commits, uploads or an eviction under way) and the
   * endpoint answers (an upload confirmed within ROOM_STALL_MS). When uploads fail or hang, or
   * nothing under way could free room, the write goes ahead and the cache grows past the limit,
   * with the ERR_CACHE_OVER_LIMIT warning. The chunk becomes local in the same turn as the last
   * check, so that writers woken together do not all take the same room.
   */
  async #waitForRoom(record: ChunkRecord): Promise<void> {
    const started = performance.now()
    this.#roomWaiting++
    this.#roomWanted = Math.max(this.#roomWanted, record.length)
    this.#writeFinished?.() // a group commit gathering a batch no longer waits for this write
    try {
      await this.#waitForRoomLoop(record, started)
    } finally {
      if (--this.#roomWaiting === 0) this.#roomWanted = 0
    }
  }

  async #waitForRoomLoop(record: ChunkRecord, started: number): Promise<void> {
    // Evicting the least recently used uploaded chunks may make the room at once.
    this.#checkLimits()
    if (this.#eviction !== undefined) await this.#eviction
    let delayed = false
    while (
      !this.#closed &&
      !this.#uploadsFailing &&
      performance.now() - Math.max(started, this.#lastUploadConfirmed) < ROOM_STALL_MS &&
      // Something under way may make room: pieces written and awaiting their verdict, and
      // verifications to commit (they may complete chunks), uploads (they let chunks be evicted),
      // an eviction.
      ((this.#awaitingVerdicts > 0 && performance.now() - started < VERDICT_WAIT_MS) ||
        this.#verifyQueue.length > 0 ||
        this.#committing ||
        this.#uploadQueue.size > 0 ||
        this.#uploadsRunning > 0 ||
        this.#eviction !== undefined) &&
      this.#lacksRoomFor(record.length)
    ) {
      if (!delayed) this.#remoteCounters.writesDelayed++
      delayed = true
      await wakeableDelay(ROOM_RECHECK_MS, (wake) => this.#roomWaiters.push(wake))
      this.#checkLimits()
    }
    // The room is taken in the same turn as the last check, before any other waiter runs.
    if (!record.local) this.#becomeLocal(record)
  }

  #wakeRoomWaiters(): void {
    if (this.#roomWaiters.length === 0) return
    const waiters = this.#roomWaiters
    this.#roomWaiters = []
    for (const waiter of waiters) waiter()
  }

  #flushAccessTimes(): void {
    if (this.#accessTimes.size === 0 || this.#index.closed) return
    const times = [...this.#accessTimes]
    this.#accessTimes.clear()
    this.#index.touchChunks(times)
  }

  // Helpers

  #warn(warning: StorageWarning): void {
    try {
      this.emit('warning', warning)
    } catch {
      // A listener's exception must not break a storage operation.
    }
  }

  #chunkPath(id: string): string {
    // The directory is normalized (joined once at open) and an id is a UUID: no join per open.
    return `${this.#chunksDirectory}${sep}${id}.enc`
  }

  #assertOpen(): void {
    if (this.#closed) throw closedStorage()
  }

  async #crashPoint(point: CrashPoint): Promise<void> {
    const hook = testHooks.get(this)?.[point]
    if (hook !== undefined) await hook()
  }
}

/** Resolves after `milliseconds`, or as soon as the function handed to `register` is called. */
function wakeableDelay(milliseconds: number, register: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(wake, milliseconds)
    function wake() {
      clearTimeout(timer)
      resolve()
    }
    register(wake)
  })
}

/** The handle the engine holds for one open torrent of a ChunkStorage. */
class ChunkTorrentStorage implements TorrentStorage {
  readonly infoHash: string
  readonly geometry: TorrentGeometry
  readonly #operations: TorrentOperations
  readonly #state: TorrentState

  constructor(operations: TorrentOperations, state: TorrentState) {
    this.#operations = operations
    this.#state = state
    this.infoHash = state.geometry.infoHash
    this.geometry = state.geometry
  }

  writePiece(index: number, data: Uint8Array): Promise<void> {
    return this.#operations.writePiece(this.#state, index, data)
  }

  markVerified(index: number): Promise<void> {
    return this.#operations.markVerified(this.#state, index)
  }

  readPiece(index: number, offset?: number, length?: number): Promise<Buffer> {
    return this.#operations.readPiece(this.#state, index, offset, length)
  }

  verifiedPieces(): Promise<number[]> {
    return this.#operations.verifiedPieces(this.#state)
  }

  clearPiece(index: number): Promise<void> {
    return this.#operations.clearPiece(this.#state, index)
  }

  readUnverifiedPiece(index: number): Promise<Buffer | null> {
    return this.#operations.readUnverifiedPiece(this.#state, index)
  }

  readPieceInto(index: number, target: Uint8Array, offset?: number): Promise<number> {
    return this.#operations.readPieceInto(this.#state, index, target, offset)
  }

  hashPiece(index: number, algorithm: HashAlgorithm): Promise<Buffer | null> {
    return this.#operations.hashPiece(this.#state, index, algorithm)
  }

  close(): Promise<void> {
    return this.#operations.close(this.#state)
  }
}

function closedStorage(): StorageError {
  return new StorageError('ERR_STORAGE_CLOSED', 'The storage is closed')
}

function closedTorrent(infoHash: string): StorageError {
  return new StorageError('ERR_TORRENT_CLOSED', `The torrent ${infoHash} is closed in this storage`)
}

function mismatch(infoHash: string, difference: string): StorageError {
  return new StorageError(
    'ERR_GEOMETRY_MISMATCH',
    `Torrent ${infoHash} is stored with a different layout: ${difference}`,
  )
}

function storedGeometry(row: TorrentRow): TorrentGeometry {
  return TorrentGeometry.from(
    {
      infoHash: row.info_hash,
      name: row.torrent_name,
      pieceLength: row.piece_length,
      totalSize: row.total_size_bytes,
      files: JSON.parse(row.files_json),
      releaseId: row.release_id,
      magnetLink: row.magnet_link ?? undefined,
    },
    row.chunk_size,
  )
}

/**
 * The startup sweep: removes chunk files no index row claims (a crash between creating a file
 * and committing its row, or between deleting rows and unlinking), and, for rows whose file is
 * gone, marks the chunk absent and forgets the pieces that needed it, in one durable commit.
 */
async function sweep(index: ChunkIndex, chunksDirectory: string): Promise<RecoveryReport> {
  const expected = new Map(index.localChunks().map((chunk) => [chunk.id, chunk]))
  const found = new Set<string>()
  let orphanFilesRemoved = 0
  const directory = await opendir(chunksDirectory)
  for await (const entry of directory) {
    if (fetchFilePattern.test(entry.name)) {
      await unlink(join(chunksDirectory, entry.name)).catch(() => {})
      continue
    }
    const match = chunkFilePattern.exec(entry.name)
    if (match === null) continue
    const id = match[1]!
    if (expected.has(id)) {
      found.add(id)
    } else {
      await unlink(join(chunksDirectory, entry.name)).catch((error) => {
        if (!isNotFound(error)) throw error
      })
      orphanFilesRemoved++
    }
  }
  const missing = [...expected.values()].filter((chunk) => !found.has(chunk.id))
  let piecesForgotten = 0
  if (missing.length > 0) {
    const torrents = new Map(index.allTorrents().map((row) => [row.id, row]))
    const written = new Map<string, Set<number>>()
    const geometries = new Map<string, TorrentGeometry>()
    index.durably(() => {
      for (const chunk of missing) {
        index.setChunkLocal(chunk.id, false)
        // Evicted (a crash between the unlink and the index write): the bucket still holds it.
        if (chunk.uploaded === 1) continue
        const row = torrents.get(chunk.torrent_id)
        if (row === undefined) continue
        let pieces = written.get(row.id)
        if (pieces === undefined) {
          pieces = new Set([
            ...index.writtenPiecesOf(row.id),
            ...index.mappingsOf(row.id).map((m) => m.piece_index),
          ])
          written.set(row.id, pieces)
        }
        let geometry = geometries.get(row.id)
        if (geometry === undefined) {
          geometry = storedGeometry(row)
          geometries.set(row.id, geometry)
        }
        for (const { pieceIndex } of geometry.piecesOfChunk(chunk.chunk_index)) {
          if (!pieces.has(pieceIndex)) continue
          pieces.delete(pieceIndex)
          index.deleteMapping(row.id, pieceIndex)
          index.unmarkWritten(row.id, pieceIndex)
          piecesForgotten++
        }
      }
    })
  }
  if (orphanFilesRemoved > 0) await syncDirectory(chunksDirectory)
  return { orphanFilesRemoved, missingChunks: missing.length, piecesForgotten }
}
