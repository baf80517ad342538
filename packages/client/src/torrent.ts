// Torrent: one torrent of a TorrentClient — its metadata in parse-torrent's names, events with one
// naming scheme, done(), streaming reads, and the controls (pause, resume, remove, file selection).
import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import { TorrentError, type TorrentInfo, type TorrentStatus } from '@chunktorrent/ffi'
import type { TorrentGeometry } from '@chunktorrent/storage'
import { torrentGeometry } from './geometry-of.ts'
import type { TorrentClientInternals } from './internals.ts'

export interface TorrentFile {
  /** Path inside the torrent, including the torrent's name (as parse-torrent gives it). */
  path: string
  name: string
  length: number
  /** Offset in the torrent's flat byte stream. */
  offset: number
}

export interface TorrentProgress {
  infoHash: string
  /** 0..1 of the wanted bytes. */
  progress: number
  downloaded: number
  uploaded: number
  /** Payload bytes received this session. */
  received: number
  downloadRate: number
  uploadRate: number
  peers: number
  piecesVerified: number
  pieceCount: number
  state: TorrentState
}

export type TorrentState = 'metadata' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'error'

export interface TorrentEvents {
  metadata: []
  progress: [progress: TorrentProgress]
  /** A piece passed libtorrent's hash check and is stored, verified. */
  piece: [index: number]
  done: []
  warning: [warning: TorrentError]
  error: [error: TorrentError]
}

export interface ReadStreamOptions {
  /** First byte of the file to read (default 0). */
  start?: number
  /** Last byte of the file to read, inclusive (default: the end of the file). */
  end?: number
  signal?: AbortSignal
}

export class Torrent extends EventEmitter<TorrentEvents> {
  readonly infoHash: string
  #info: TorrentInfo | undefined
  #geometry: TorrentGeometry | undefined
  #files: TorrentFile[] = []
  readonly #client: TorrentClientInternals
  /** Pieces verified and stored (from the storage at add, then from piece events). */
  readonly verified = new Set<number>()
  #state: TorrentState = 'metadata'
  #error: TorrentError | undefined
  #done = false
  /** Added with no file selected, and selectFiles not called yet. */
  #deselected = false
  /**
   * selectFiles calls the engine has not applied yet (a round trip through the disk backend): a
   * finish reported meanwhile is about the old selection.
   */
  #priorityUpdates = 0
  #doneWaiters: Array<{ resolve(): void; reject(error: unknown): void }> = []
  #removed = false

  /** @internal */
  constructor(client: TorrentClientInternals, infoHash: string, info: TorrentInfo | undefined) {
    super()
    this.#client = client
    this.infoHash = infoHash
    if (info) this.setInfo(info)
  }

  get name(): string | undefined {
    return this.#info?.name
  }

  /** The torrent's files, pad files left out; indexes match createReadStream. */
  get files(): readonly TorrentFile[] {
    return this.#files
  }

  get length(): number | undefined {
    return this.#info?.length
  }

  get pieceLength(): number | undefined {
    return this.#info?.pieceLength
  }

  get pieceCount(): number | undefined {
    return this.#info?.pieceCount
  }

  get info(): TorrentInfo | undefined {
    return this.#info
  }

  /** The piece and chunk arithmetic of this torrent (undefined until the metadata is here). */
  get geometry(): TorrentGeometry | undefined {
    return this.#info === undefined ? undefined : this.#geometryOf(this.#info)
  }

  #geometryOf(info: TorrentInfo): TorrentGeometry {
    this.#geometry ??= torrentGeometry(info)
    return this.#geometry
  }

  get state(): TorrentState {
    return this.#state
  }

  get error(): TorrentError | undefined {
    return this.#error
  }

  get isDone(): boolean {
    return this.#done
  }

  /** libtorrent's status of the torrent right now. */
  status(): TorrentStatus {
    return this.#client.session.status(this.infoHash)
  }

  /** Resolves once every wanted piece is verified and stored; rejects on a torrent error. */
  done(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#done) return Promise.resolve()
    if (this.#error) return Promise.reject(this.#error)
    if (this.#removed)
      return Promise.reject(
        new TorrentError('The torrent was removed', { code: 'ERR_TORRENT_REMOVED', infoHash: this.infoHash }),
      )
    return new Promise<void>((resolve, reject) => {
      const { signal } = options
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      const onAbort = () => {
        this.#doneWaiters = this.#doneWaiters.filter((entry) => entry !== waiter)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#doneWaiters.push(waiter)
    })
  }

  pause(): void {
    this.#client.session.pause(this.infoHash)
    this.#setState('paused')
  }

  /** Resumes a paused torrent, or retries one stopped by a storage error. */
  resume(): void {
    this.#error = undefined
    this.#client.session.resume(this.infoHash)
    this.#client.reconnect(this)
    this.#setState(this.#done ? 'seeding' : 'downloading')
  }

  async remove(options: { deleteData?: boolean } = {}): Promise<void> {
    await this.#client.remove(this, options)
  }

  connectPeer(peer: string): void {
    this.#client.session.connectPeer(this.infoHash, peer)
  }

  /** Downloads only these files (indexes into `files`); the others get priority 0. */
  selectFiles(indexes: number[]): void {
    const info = this.#requireInfo()
    this.#deselected = false
    this.#priorityUpdates++
    const wanted = new Set(indexes.map((index) => this.#libtorrentFileIndex(index)))
    this.#client.session.setFilePriorities(
      this.infoHash,
      info.files.map((file) => (wanted.has(file.index) ? 4 : 0)),
    )
    this.#done = false
  }

  setLimits(limits: { downloadLimit?: number; uploadLimit?: number; maxConnections?: number }): void {
    this.#client.session.setTorrentOptions(this.infoHash, limits)
  }

  /**
   * A readable stream of a file's bytes (or a range), served from the storage. Pieces not yet
   * downloaded are asked for first (piece deadlines) and the stream waits for them, so it can be
   * read while the torrent downloads.
   */
  createReadStream(file: number | string, options: ReadStreamOptions = {}): Readable {
    const info = this.#requireInfo()
    const index =
      typeof file === 'number'
        ? file
        : this.#files.findIndex((entry) => entry.path === file || entry.name === file)
    const entry = this.#files[index]
    if (!entry) {
      throw Object.assign(new RangeError(`No file ${JSON.stringify(file)} in torrent ${this.infoHash}`), {
        code: 'ERR_FILE_NOT_FOUND',
      })
    }
    const start = options.start ?? 0
    const end = Math.min(options.end ?? entry.length - 1, entry.length - 1)
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start - 1) {
      throw Object.assign(
        new RangeError(`Invalid range ${start}-${end} for a file of ${entry.length} bytes`),
        { code: 'ERR_OUT_OF_RANGE' },
      )
    }
    // The file's bytes [from, to) of the stream, as the pieces that cover them.
    const spans = this.#geometryOf(info).piecesOfRange(entry.offset + start, entry.offset + end + 1)
    const last = spans.at(-1)?.pieceIndex ?? 0
    const torrent = this
    const client = this.#client
    async function* read(): AsyncGenerator<Buffer> {
      for (const { pieceIndex, start: offset, end: spanEnd } of spans) {
        client.prioritize(torrent, pieceIndex, last)
        await torrent.#waitForPiece(pieceIndex, options.signal)
        yield await client.readPiece(torrent, pieceIndex, offset, spanEnd - offset)
      }
    }
    return Readable.from(read(), { objectMode: false, ...(options.signal && { signal: options.signal }) })
  }

  async #waitForPiece(piece: number, signal: AbortSignal | undefined): Promise<void> {
    while (!this.verified.has(piece)) {
      if (this.#removed)
        throw new TorrentError('The torrent was removed', {
          code: 'ERR_TORRENT_REMOVED',
          infoHash: this.infoHash,
        })
      if (this.#error) throw this.#error
      signal?.throwIfAborted()
      await new Promise<void>((resolve) => {
        const onPiece = (index: number) => {
          if (index === piece) finish()
        }
        const finish = () => {
          this.off('piece', onPiece)
          this.off('error', finish)
          signal?.removeEventListener('abort', finish)
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(finish, 1000)
        this.on('piece', onPiece)
        this.on('error', finish)
        signal?.addEventListener('abort', finish, { once: true })
      })
    }
  }

  #requireInfo(): TorrentInfo {
    if (!this.#info) {
      throw new TorrentError('The torrent has no metadata yet (wait for the metadata event)', {
        code: 'ERR_NO_METADATA',
        infoHash: this.infoHash,
      })
    }
    return this.#info
  }

  #libtorrentFileIndex(index: number): number {
    const info = this.#requireInfo()
    const entry = this.#files[index]
    if (!Number.isInteger(index) || !entry) {
      throw Object.assign(new RangeError(`File index ${index} out of range (0..${this.#files.length - 1})`), {
        code: 'ERR_OUT_OF_RANGE',
      })
    }
    const match = info.files.find(
      (file) => !file.pad && file.offset === entry.offset && file.path === entry.path,
    )
    return match?.index ?? index
  }

  /** @internal */
  libtorrentFileIndexes(indexes: number[]): number[] {
    return indexes.map((index) => this.#libtorrentFileIndex(index))
  }

  // ---- fed by the client ----------------------------------------------------------------------

  /** @internal */
  setInfo(info: TorrentInfo): void {
    this.#info = info
    this.#geometry = undefined
    this.#files = info.files
      .filter((file) => !file.pad)
      .map((file) => ({ path: file.path, name: file.name, length: file.length, offset: file.offset }))
    if (this.#state === 'metadata') this.#state = 'downloading'
  }

  /** @internal */
  onMetadata(info: TorrentInfo): void {
    this.setInfo(info)
    this.emit('metadata')
  }

  /** @internal */
  onVerified(piece: number): void {
    this.verified.add(piece)
    this.emit('piece', piece)
  }

  /** @internal */
  onUnverified(piece: number): void {
    this.verified.delete(piece)
  }

  /** @internal */
  onDeselected(): void {
    this.#deselected = true
  }

  /** @internal The engine applied a selectFiles (file_prio alert). */
  onPrioritiesApplied(): void {
    if (this.#priorityUpdates > 0) this.#priorityUpdates--
  }

  /** @internal */
  onDone(): void {
    // Nothing selected yet, or a new selection on its way: finished with the old one is not done.
    if (this.#deselected || this.#priorityUpdates > 0) return
    if (this.#done) return // torrent_finished and the check after it may both say so
    this.#done = true
    this.#setState('seeding')
    const waiters = this.#doneWaiters
    this.#doneWaiters = []
    for (const waiter of waiters) waiter.resolve()
    this.emit('done')
  }

  /** @internal */
  onNotDone(): void {
    this.#done = false
  }

  /** @internal */
  onError(error: TorrentError): void {
    this.#error = error
    this.#setState('error')
    const waiters = this.#doneWaiters
    this.#doneWaiters = []
    for (const waiter of waiters) waiter.reject(error)
    // 'error' without a listener would throw: the error is also on done() and torrent.error.
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  /** @internal */
  onWarning(warning: TorrentError): void {
    this.emit('warning', warning)
  }

  /** @internal */
  onState(state: TorrentState): void {
    if (this.#state === 'error' || this.#state === 'paused') {
      if (state !== 'checking') return
    }
    this.#setState(state)
  }

  /** @internal */
  onRemoved(): void {
    this.#removed = true
    const waiters = this.#doneWaiters
    this.#doneWaiters = []
    const error = new TorrentError('The torrent was removed', {
      code: 'ERR_TORRENT_REMOVED',
      infoHash: this.infoHash,
    })
    for (const waiter of waiters) waiter.reject(error)
  }

  #setState(state: TorrentState): void {
    this.#state = state
  }
}
