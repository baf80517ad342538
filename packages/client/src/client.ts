// TorrentClient: one libtorrent session joined to one storage. Every block a peer sends ends up
// in the storage's pieces (through the ffi's native piece buffer, never as plain files), every
// block a peer asks for is read from it, and the storage's verified set is what the client
// resumes from.
import { EventEmitter } from 'node:events'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type Alert,
  type BridgeStats,
  Session,
  SessionParams,
  type Settings,
  TorrentError,
  type TorrentInfo,
} from '@chunktorrent/ffi'
import type { Storage, StorageStats, StorageWarning, TorrentStorage } from '@chunktorrent/storage'
import { geometryOf } from './geometry-of.ts'
import type { TorrentClientInternals } from './internals.ts'
import { type ResolvedSource, resolveSource, type TorrentSource } from './source.ts'
import { StorageDiskIo } from './storage-disk-io.ts'
import { Torrent, type TorrentProgress, type TorrentState } from './torrent.ts'

export interface ClientOptions {
  /** Where to listen, libtorrent's listen_interfaces: e.g. '127.0.0.1:0' or '0.0.0.0:6881'. Default '0.0.0.0:6881,[::]:6881'. */
  listen?: string
  /** Peer discovery and port mapping; all off unless asked for. */
  dht?: boolean
  lsd?: boolean
  upnp?: boolean
  natpmp?: boolean
  /** uTP besides TCP (default true). */
  utp?: boolean
  /** Session-wide limits in bytes per second (0 = unlimited) and connections. */
  downloadLimit?: number
  uploadLimit?: number
  maxConnections?: number
  /** Milliseconds between progress events (default 1000). */
  progressInterval?: number
  /** Any libtorrent setting by name, applied last. */
  settings?: Settings
  /** Bytes of recently stored or read pieces kept in native memory for peers (default 16 MiB; never less than four of the largest pieces). */
  readCacheBytes?: number
}

export interface AddOptions {
  /** Peers to connect to at once, "host:port". */
  peers?: string[]
  /** Download only these files (indexes into torrent.files). */
  files?: number[]
  /**
   * Start with no file selected, and download nothing until `torrent.selectFiles()` (for a magnet
   * or an info hash whose files are chosen once the metadata is here). Implied by `files` there.
   */
  deselect?: boolean
  /**
   * Pieces in order. Default: in order only when the storage has a remote tier and a cache limit
   * smaller than the torrent (for a magnet, until its metadata says it fits): chunks then fill one
   * after another, upload and leave the cache as the download goes, so the limit holds; out of
   * order, the engine starts chunks all over the torrent and none can leave before it is complete.
   * `false` keeps rarest first whatever the cache.
   */
  sequential?: boolean
  paused?: boolean
  /** Hash everything the storage holds for this torrent and repair its verified set. */
  recheck?: boolean
  downloadLimit?: number
  uploadLimit?: number
  maxConnections?: number
  trackers?: string[]
  /** The storage's owner label for this torrent (ChunkStorage's release_id). */
  releaseId?: string
  signal?: AbortSignal
}

export interface ClientStats {
  torrents: number
  downloadRate: number
  uploadRate: number
  /** The storage's figures (chunks written, bytes on disk, cache hits/misses, pinned bytes…). */
  storage: StorageStats | undefined
  /** The native disk bridge's figures. */
  bridge: BridgeStats
}

export interface ClientEvents {
  torrent: [torrent: Torrent]
  warning: [warning: StorageWarning | TorrentError]
}

interface Entry {
  torrent: Torrent
  peers: string[]
  /** markVerified calls in flight. */
  pending: Set<Promise<unknown>>
  deadlines: Set<number>
  /** In order because the storage's cache is smaller than the torrent (AddOptions.sequential unset). */
  sequentialForCache: boolean
}

const stateOf: Record<string, TorrentState> = {
  checking_files: 'checking',
  checking_resume_data: 'checking',
  downloading_metadata: 'metadata',
  downloading: 'downloading',
  finished: 'seeding',
  seeding: 'seeding',
}

function argumentError(message: string, code = 'ERR_INVALID_ARG_VALUE'): TypeError {
  return Object.assign(new TypeError(message), { code })
}

function checkLimit(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw Object.assign(new RangeError(`${name} must be a non-negative integer`), {
      code: 'ERR_OUT_OF_RANGE',
    })
  }
  return value
}

export class TorrentClient extends EventEmitter<ClientEvents> {
  readonly session: Session
  readonly storage: Storage | undefined
  readonly #diskIo: StorageDiskIo | undefined
  readonly #directory: string | undefined
  readonly #entries = new Map<string, Entry>()
  readonly #storageErrors = new Map<string, unknown>()
  readonly #timer: NodeJS.Timeout
  #closing: Promise<void> | undefined
  readonly #onStorageWarning = (warning: StorageWarning) => this.emit('warning', warning)
  readonly #internals: TorrentClientInternals

  private constructor(storage: Storage | undefined, directory: string | undefined, options: ClientOptions) {
    super()
    const settings = TorrentClient.#settings(options)
    const params = new SessionParams({ settings })
    this.storage = storage
    this.#directory = directory
    if (storage) {
      this.#diskIo = new StorageDiskIo(storage, {
        onStorageError: (infoHash, error) => this.#storageErrors.set(infoHash, error),
      })
      params.setDiskIoConstructor(this.#diskIo)
      this.session = new Session(
        params,
        options.readCacheBytes === undefined ? {} : { readCacheBytes: options.readCacheBytes },
      )
      storage.on('warning', this.#onStorageWarning)
    } else {
      this.session = Session.withDefaultStorage(params)
    }
    this.session.on('alert', (alert) => this.#onAlert(alert))
    this.session.on('warning', (error) =>
      this.emit('warning', new TorrentError(error.message, { code: 'ERR_STORAGE', cause: error })),
    )
    const interval = options.progressInterval ?? 1000
    this.#timer = setInterval(() => this.#emitProgress(), interval)
    this.#timer.unref()
    const client = this
    this.#internals = {
      get session() {
        return client.session
      },
      remove: (torrent, removeOptions) => this.#remove(torrent, removeOptions),
      reconnect: (torrent) => this.#reconnect(torrent),
      prioritize: (torrent, piece, last) => this.#prioritize(torrent, piece, last),
      readPiece: (torrent, piece, offset, length) => this.#readPiece(torrent, piece, offset, length),
    }
  }

  /**
   * The storage has a remote tier and a cache limit below `length` bytes (or the length is not
   * known yet): holding the limit then needs the pieces in order.
   */
  #cacheSmallerThan(length: number | undefined): boolean {
    const stats = this.storage?.stats()
    if (stats?.remote === undefined) return false
    return length === undefined || length > stats.cacheLimitBytes
  }

  /** A client whose torrents live in `storage` (e.g. a ChunkStorage). */
  static async newWithStorage(storage: Storage, options: ClientOptions = {}): Promise<TorrentClient> {
    if (typeof storage !== 'object' || storage === null || typeof storage.openTorrent !== 'function') {
      throw argumentError(
        'newWithStorage expects a Storage (e.g. ChunkStorage.open(...))',
        'ERR_INVALID_ARG_TYPE',
      )
    }
    return new TorrentClient(storage, undefined, TorrentClient.#checkOptions(options))
  }

  /** A client using libtorrent's own files under `directory`, for comparison. */
  static async newWithDefaultStorage(directory: string, options: ClientOptions = {}): Promise<TorrentClient> {
    if (typeof directory !== 'string' || directory.length === 0) {
      throw argumentError('newWithDefaultStorage expects a directory', 'ERR_INVALID_ARG_TYPE')
    }
    return new TorrentClient(undefined, directory, TorrentClient.#checkOptions(options))
  }

  static #checkOptions(options: ClientOptions): ClientOptions {
    if (typeof options !== 'object' || options === null)
      throw argumentError('options must be an object', 'ERR_INVALID_ARG_TYPE')
    if (
      options.listen !== undefined &&
      (typeof options.listen !== 'string' || !/:\d+/.test(options.listen))
    ) {
      throw argumentError(`listen must look like "host:port", got ${JSON.stringify(options.listen)}`)
    }
    checkLimit(options.downloadLimit, 'downloadLimit')
    checkLimit(options.uploadLimit, 'uploadLimit')
    checkLimit(options.maxConnections, 'maxConnections')
    if (options.progressInterval !== undefined) checkLimit(options.progressInterval, 'progressInterval')
    return options
  }

  static #settings(options: ClientOptions): Settings {
    const utp = options.utp ?? true
    return {
      listen_interfaces: options.listen ?? '0.0.0.0:6881,[::]:6881',
      enable_dht: options.dht === true,
      enable_lsd: options.lsd === true,
      enable_upnp: options.upnp === true,
      enable_natpmp: options.natpmp === true,
      enable_incoming_utp: utp,
      enable_outgoing_utp: utp,
      // Pieces are picked in 4 MiB extents of adjacent pieces, so chunks fill (and can be
      // uploaded and evicted) soon after they are started, instead of all chunks at once.
      piece_extent_affinity: true,
      // Seeding: libtorrent's high-performance-seed send buffers, so that enough blocks are being
      // read for each peer to cover the round trip of a piece read through the storage (measured:
      // 190 -> 247 MB/s seeding from a ChunkStorage to one loopback leecher).
      send_buffer_watermark: 3 * 1024 * 1024,
      send_buffer_low_watermark: 1024 * 1024,
      send_buffer_watermark_factor: 150,
      ...(options.downloadLimit !== undefined && { download_rate_limit: options.downloadLimit }),
      ...(options.uploadLimit !== undefined && { upload_rate_limit: options.uploadLimit }),
      ...(options.maxConnections !== undefined && { connections_limit: options.maxConnections }),
      ...options.settings,
    }
  }

  get torrents(): Torrent[] {
    return [...this.#entries.values()].map((entry) => entry.torrent)
  }

  get(infoHash: string): Torrent | undefined {
    return this.#entries.get(infoHash.toLowerCase())?.torrent
  }

  /** The port the session listens on. */
  get port(): number {
    return this.session.listenPort()
  }

  /**
   * Adds a torrent: .torrent bytes or a path to one, a magnet URI, or an info hash. With
   * metadata at hand, the storage is opened first and its verified pieces are handed to
   * libtorrent, so nothing verified is downloaded or hashed again.
   */
  async add(source: TorrentSource, options: AddOptions = {}): Promise<Torrent> {
    this.#open()
    options.signal?.throwIfAborted()
    const resolved = await resolveSource(source)
    const infoHash = resolved.kind === 'torrent' ? resolved.info.infoHash : resolved.infoHash
    if (this.#entries.has(infoHash)) {
      throw new TorrentError(`Torrent ${infoHash} is already in this client`, {
        code: 'ERR_DUPLICATE_TORRENT',
        infoHash,
      })
    }
    let havePieces: number[] | undefined
    if (resolved.kind === 'torrent' && this.#diskIo) {
      const torrentStorage = await this.#diskIo.openTorrent({
        ...geometryOf(resolved.info),
        ...(options.releaseId !== undefined && { releaseId: options.releaseId }),
      })
      havePieces = options.recheck ? undefined : await torrentStorage.verifiedPieces()
      if (options.recheck) this.#diskIo.requestFullCheck(infoHash)
    }
    options.signal?.throwIfAborted()
    this.#open()
    if (this.#entries.has(infoHash)) {
      throw new TorrentError(`Torrent ${infoHash} is already in this client`, {
        code: 'ERR_DUPLICATE_TORRENT',
        infoHash,
      })
    }
    const torrent = new Torrent(
      this.#internals,
      infoHash,
      resolved.kind === 'torrent' ? resolved.info : undefined,
    )
    for (const piece of havePieces ?? []) torrent.verified.add(piece)
    const sequentialForCache =
      options.sequential === undefined &&
      this.#cacheSmallerThan(resolved.kind === 'torrent' ? resolved.info.length : undefined)
    const entry: Entry = {
      torrent,
      peers: options.peers ?? [],
      pending: new Set(),
      deadlines: new Set(),
      sequentialForCache,
    }
    this.#entries.set(infoHash, entry)
    // Files chosen once the metadata is here: none is downloaded before (the engine would request
    // every piece the moment the metadata arrives, before selectFiles could say otherwise).
    const deselect = options.deselect === true || (options.files !== undefined && resolved.kind !== 'torrent')
    if (deselect) torrent.onDeselected()
    try {
      this.session.addTorrent({
        ...TorrentClient.#sessionSource(resolved),
        savePath: this.#directory ?? '.',
        ...(options.peers && { peers: options.peers }),
        ...(options.trackers && { trackers: options.trackers }),
        paused: options.paused === true,
        sequential: options.sequential === true || sequentialForCache,
        deselected: deselect,
        ...(havePieces && { havePieces }),
        ...(options.files &&
          resolved.kind === 'torrent' && {
            filePriorities: TorrentClient.#priorities(torrent, options.files),
          }),
        ...(options.downloadLimit !== undefined && { downloadLimit: options.downloadLimit }),
        ...(options.uploadLimit !== undefined && { uploadLimit: options.uploadLimit }),
        ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
      })
    } catch (error) {
      this.#entries.delete(infoHash)
      throw error
    }
    if (options.paused) torrent.onState('paused')
    if (options.files && resolved.kind !== 'torrent') {
      torrent.once('metadata', () => torrent.selectFiles(options.files ?? []))
    }
    const { signal } = options
    if (signal) {
      const onAbort = () => {
        if (!torrent.isDone && this.#entries.get(infoHash) === entry)
          void this.#remove(torrent, {}).catch(() => {})
      }
      signal.addEventListener('abort', onAbort, { once: true })
      torrent.once('done', () => signal.removeEventListener('abort', onAbort))
    }
    this.emit('torrent', torrent)
    return torrent
  }

  /**
   * Imports existing files (at `dataPath`, the directory holding the torrent's content) into the
   * storage and seeds from it: every piece is written, libtorrent hashes them all, the passing
   * ones become the verified set. Resolves once the check is over.
   */
  async seedFrom(
    torrentFile: TorrentSource,
    dataPath: string,
    options: Omit<AddOptions, 'recheck'> = {},
  ): Promise<Torrent> {
    this.#open()
    if (!this.#diskIo)
      throw new TorrentError('seedFrom needs a client with a storage', { code: 'ERR_NO_STORAGE' })
    const resolved = await resolveSource(torrentFile)
    if (resolved.kind !== 'torrent') {
      throw argumentError('seedFrom needs the .torrent (bytes or path), not a magnet or an info hash')
    }
    const info = resolved.info
    const torrentStorage = await this.#diskIo.openTorrent({
      ...geometryOf(info),
      ...(options.releaseId !== undefined && { releaseId: options.releaseId }),
    })
    for (let piece = 0; piece < info.pieceCount; piece++) {
      options.signal?.throwIfAborted()
      const data = await readPieceFromFiles(info, dataPath, piece, 0, pieceSize(info, piece))
      await torrentStorage.writePiece(piece, data)
    }
    const torrent = await this.add(resolved.bytes, { ...options, recheck: true })
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (torrent.state !== 'checking' && torrent.status().state !== 'checking_files') {
          resolve()
          return
        }
        if (options.signal?.aborted) {
          reject(options.signal.reason)
          return
        }
        setTimeout(check, 50)
      }
      setTimeout(check, 50)
    })
    await this.#settled(torrent.infoHash)
    return torrent
  }

  stats(): ClientStats {
    let downloadRate = 0
    let uploadRate = 0
    if (!this.#closing) {
      for (const entry of this.#entries.values()) {
        try {
          const status = this.session.status(entry.torrent.infoHash)
          downloadRate += status.downloadRate
          uploadRate += status.uploadRate
        } catch {
          // removed meanwhile
        }
      }
    }
    return {
      torrents: this.#entries.size,
      downloadRate,
      uploadRate,
      storage: this.storage?.stats(),
      bridge: this.session.bridgeStats(),
    }
  }

  /**
   * Waits for in-flight pieces to be stored and verified, closes the session, then the storage.
   * Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer)
    for (const entry of this.#entries.values()) {
      try {
        this.session.pause(entry.torrent.infoHash)
      } catch {
        // already gone
      }
    }
    // Let alerts already raised (piece_finished) arrive, then wait for what they started.
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      await this.session.diskIdle()
      await this.#diskIo?.pendingWrites()
      await Promise.allSettled([...this.#entries.values()].flatMap((entry) => [...entry.pending]))
    }
    await this.session.close()
    for (const entry of this.#entries.values()) entry.torrent.onRemoved()
    this.#entries.clear()
    if (this.storage) {
      this.storage.off('warning', this.#onStorageWarning)
      await this.storage.close()
    }
  }

  #open(): void {
    if (this.#closing) throw new TorrentError('The client is closed', { code: 'ERR_CLIENT_CLOSED' })
  }

  static #sessionSource(resolved: ResolvedSource) {
    switch (resolved.kind) {
      case 'torrent':
        return { torrent: resolved.bytes }
      case 'magnet':
        return { magnet: resolved.magnet }
      default:
        return { infoHash: resolved.infoHash }
    }
  }

  static #priorities(torrent: Torrent, files: number[]): number[] {
    const info = torrent.info as TorrentInfo
    const wanted = new Set(torrent.libtorrentFileIndexes(files))
    return info.files.map((file) => (wanted.has(file.index) ? 4 : 0))
  }

  // ---- alerts ----------------------------------------------------------------------------------

  #onAlert(alert: Alert): void {
    const entry = alert.infoHash ? this.#entries.get(alert.infoHash) : undefined
    if (!entry) return
    const { torrent } = entry
    switch (alert.type) {
      case 'metadata_received': {
        const info = this.session.torrentInfo(torrent.infoHash)
        if (info) torrent.onMetadata(info)
        // In order while the size was unknown; a torrent that fits in the cache goes rarest first.
        if (info && entry.sequentialForCache && !this.#cacheSmallerThan(info.length)) {
          entry.sequentialForCache = false
          this.session.setTorrentOptions(torrent.infoHash, { sequential: false })
        }
        break
      }
      case 'piece_finished':
        if (alert.piece !== undefined) this.#verify(entry, alert.piece)
        break
      case 'hash_failed':
        torrent.onUnverified(alert.piece ?? -1)
        torrent.onWarning(
          new TorrentError(`Piece ${alert.piece} failed its hash check and will be downloaded again`, {
            code: 'ERR_HASH_FAILED',
            infoHash: torrent.infoHash,
          }),
        )
        break
      case 'torrent_finished':
        this.#finished(torrent)
        break
      case 'file_prio':
        // A selectFiles is applied: finished already (its files were all here) or downloading.
        torrent.onPrioritiesApplied()
        this.#finished(torrent)
        break
      case 'torrent_checked': {
        // Tracked like a verification, so close() and seedFrom() wait for the repair.
        const work = this.#reconcile(entry).catch((error: unknown) =>
          torrent.onWarning(
            new TorrentError('Could not reconcile the verified set after a check', {
              code: 'ERR_STORAGE',
              cause: error,
              infoHash: torrent.infoHash,
            }),
          ),
        )
        entry.pending.add(work)
        void work.finally(() => entry.pending.delete(work))
        break
      }
      case 'state_changed':
        if (alert.state && stateOf[alert.state]) torrent.onState(stateOf[alert.state] as TorrentState)
        if (alert.state === 'downloading' || alert.state === 'downloading_metadata') torrent.onNotDone()
        break
      case 'file_error':
      case 'torrent_error': {
        if (torrent.state === 'error') break
        const cause = this.#storageErrors.get(torrent.infoHash) ?? alert.error
        this.#storageErrors.delete(torrent.infoHash)
        torrent.onError(
          new TorrentError(
            `Storage error for ${torrent.name ?? torrent.infoHash}: ${alert.error?.message ?? alert.message}`,
            {
              code: 'ERR_STORAGE',
              cause,
              infoHash: torrent.infoHash,
              ...(alert.error && { libtorrent: alert.error }),
            },
          ),
        )
        break
      }
      case 'metadata_failed':
        torrent.onWarning(
          new TorrentError(`Metadata from a peer was invalid: ${alert.error?.message}`, {
            code: 'ERR_INVALID_METADATA',
            infoHash: torrent.infoHash,
          }),
        )
        break
      default:
        break
    }
  }

  /** Marks a piece verified in the storage once its write has settled. */
  #verify(entry: Entry, piece: number): void {
    const infoHash = entry.torrent.infoHash
    if (!this.#diskIo) {
      entry.torrent.onVerified(piece)
      return
    }
    const diskIo = this.#diskIo
    const failed = (error: unknown) => {
      entry.torrent.onWarning(
        new TorrentError(`Could not record piece ${piece} as verified`, {
          code: 'ERR_STORAGE',
          cause: error,
          infoHash,
        }),
      )
    }
    // The common case, hundreds of times a second while a download streams: the write has settled
    // and the storage is open, so the verification is queued at once, with nothing awaited before
    // it (each await kept alive while the commit runs grows the young heap).
    const open = diskIo.opened(infoHash)
    const marking: Promise<unknown> =
      open !== undefined && !diskIo.isWriting(infoHash, piece)
        ? open.markVerified(piece)
        : (async () => {
            await diskIo.written(infoHash, piece)
            const storage = await diskIo.torrent(infoHash)
            if (!storage) return false
            await storage.markVerified(piece)
          })()
    const work: Promise<void> = marking.then(
      (marked) => {
        entry.pending.delete(work)
        if (marked === false) return
        try {
          entry.torrent.onVerified(piece)
        } catch (error) {
          failed(error)
        }
      },
      (error: unknown) => {
        entry.pending.delete(work)
        failed(error)
      },
    )
    entry.pending.add(work)
  }

  async #settled(infoHash: string): Promise<void> {
    const entry = this.#entries.get(infoHash)
    if (!entry) return
    while (entry.pending.size > 0) await Promise.allSettled([...entry.pending])
  }

  /** After a check: the storage's verified set becomes exactly what libtorrent found. */
  async #reconcile(entry: Entry): Promise<void> {
    const { torrent } = entry
    let status: ReturnType<Session['status']>
    try {
      status = this.session.status(torrent.infoHash, { pieces: true })
    } catch {
      return
    }
    const storage: TorrentStorage | undefined = this.#diskIo
      ? await this.#diskIo.torrent(torrent.infoHash)
      : undefined
    this.#diskIo?.clearFullCheck(torrent.infoHash)
    const pieces = status.pieces
    if (pieces) {
      if (storage) {
        const verified = new Set(await storage.verifiedPieces())
        for (let piece = 0; piece < pieces.length; piece++) {
          if (pieces[piece] && !verified.has(piece)) await storage.markVerified(piece).catch(() => {})
          if (!pieces[piece] && verified.has(piece)) await storage.clearPiece(piece).catch(() => {})
        }
      }
      torrent.verified.clear()
      for (let piece = 0; piece < pieces.length; piece++) if (pieces[piece]) torrent.verified.add(piece)
    }
    // Not awaited: this reconciliation is itself one of the pending operations waited for.
    if (status.finished || status.seeding) this.#finished(torrent)
  }

  /**
   * The engine said the torrent is finished: once the storage settled, and if it still is (a
   * finish raised before a selectFiles that wants more does not count), the torrent is done.
   */
  #finished(torrent: Torrent): void {
    void this.#settled(torrent.infoHash).then(() => {
      let status: ReturnType<Session['status']>
      try {
        status = this.session.status(torrent.infoHash)
      } catch {
        return // removed meanwhile
      }
      if (status.finished || status.seeding) torrent.onDone()
    })
  }

  #emitProgress(): void {
    if (this.#closing) return
    for (const { torrent } of this.#entries.values()) {
      if (torrent.listenerCount('progress') === 0) continue
      let status: ReturnType<Session['status']>
      try {
        status = this.session.status(torrent.infoHash)
      } catch {
        continue
      }
      const progress: TorrentProgress = {
        infoHash: torrent.infoHash,
        progress: status.progress,
        downloaded: status.totalWantedDone,
        uploaded: status.allTimeUpload + status.totalUpload,
        received: status.totalDownload,
        downloadRate: status.downloadRate,
        uploadRate: status.uploadRate,
        peers: status.numPeers,
        piecesVerified: torrent.verified.size,
        pieceCount: torrent.pieceCount ?? 0,
        state: torrent.state,
      }
      torrent.emit('progress', progress)
    }
  }

  // ---- what Torrent asks of the client ---------------------------------------------------------

  async #remove(torrent: Torrent, options: { deleteData?: boolean }): Promise<void> {
    const entry = this.#entries.get(torrent.infoHash)
    if (!entry || entry.torrent !== torrent) return
    this.#open()
    await this.session.removeTorrent(torrent.infoHash, { deleteData: options.deleteData === true })
    await this.#settled(torrent.infoHash)
    this.#entries.delete(torrent.infoHash)
    if (this.#diskIo) {
      const storage = this.#diskIo.torrent(torrent.infoHash)
      this.#diskIo.forget(torrent.infoHash)
      if (storage && !options.deleteData) await (await storage.catch(() => undefined))?.close()
      if (options.deleteData) await this.storage?.deleteTorrent(torrent.infoHash)
    }
    torrent.onRemoved()
  }

  #reconnect(torrent: Torrent): void {
    const entry = this.#entries.get(torrent.infoHash)
    for (const peer of entry?.peers ?? []) {
      try {
        this.session.connectPeer(torrent.infoHash, peer)
      } catch {
        // a bad peer was rejected at add already
      }
    }
  }

  #prioritize(torrent: Torrent, piece: number, last: number): void {
    const entry = this.#entries.get(torrent.infoHash)
    if (!entry || torrent.isDone) return
    const window = 8
    for (let index = piece, rank = 0; index <= Math.min(last, piece + window); index++, rank++) {
      if (torrent.verified.has(index) || entry.deadlines.has(index)) continue
      entry.deadlines.add(index)
      try {
        this.session.setPieceDeadline(torrent.infoHash, index, rank * 200)
      } catch {
        return
      }
    }
  }

  async #readPiece(torrent: Torrent, piece: number, offset: number, length: number): Promise<Buffer> {
    if (this.#diskIo) {
      const storage = await this.#diskIo.torrent(torrent.infoHash)
      if (!storage)
        throw new TorrentError('The torrent is not open', {
          code: 'ERR_TORRENT_REMOVED',
          infoHash: torrent.infoHash,
        })
      return storage.readPiece(piece, offset, length)
    }
    const info = torrent.info as TorrentInfo
    return readPieceFromFiles(info, this.#directory as string, piece, offset, length)
  }
}

function pieceSize(info: TorrentInfo, piece: number): number {
  return Math.min(info.pieceLength, info.length - piece * info.pieceLength)
}

/** Reads part of a piece from plain files under `root` (pad files and missing files read as zeros). */
async function readPieceFromFiles(
  info: TorrentInfo,
  root: string,
  piece: number,
  offset: number,
  length: number,
): Promise<Buffer> {
  const out = Buffer.alloc(length)
  const start = piece * info.pieceLength + offset
  const end = start + length
  for (const file of info.files) {
    if (file.pad || file.length === 0) continue
    const fileEnd = file.offset + file.length
    if (fileEnd <= start || file.offset >= end) continue
    const from = Math.max(start, file.offset)
    const to = Math.min(end, fileEnd)
    let handle: Awaited<ReturnType<typeof open>> | undefined
    try {
      handle = await open(join(root, file.path), 'r')
      await handle.read(out, from - start, to - from, from - file.offset)
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error
    } finally {
      await handle?.close()
    }
  }
  return out
}
