// Session: one libtorrent session. Alerts are drained on the JavaScript thread and emitted as
// plain objects; with a DiskIo on the params, every storage job goes to it through the
// dispatcher. An open session keeps the event loop alive until close(), like a server.
import { EventEmitter, on } from 'node:events'
import { addon, type NativeAddTorrent, type NativeSession, type NativeSink } from './binding.ts'
import { DiskDispatcher } from './disk-dispatcher.ts'
import { argumentError, TorrentError } from './errors.ts'
import type { SessionParams, Settings, SettingValue } from './session-params.ts'
import type { Alert, BridgeStats, DiskStorage, PeerInfo, TorrentInfo, TorrentStatus } from './types.ts'
import { checkInfoHash, checkInteger, checkOptionalInteger, parsePeer } from './validate.ts'

export interface AddTorrentOptions {
  /** The .torrent file's bytes. Exactly one of torrent, magnet and infoHash. */
  torrent?: Uint8Array
  magnet?: string
  infoHash?: string
  /** libtorrent's save path (used by default storage; passed to a DiskIo as `savePath`). */
  savePath?: string
  /** libtorrent resume data (bencoded), e.g. from saveResumeData(). */
  resumeData?: Uint8Array
  name?: string
  trackers?: string[]
  /** Peers to connect to at once: "host:port" or { host, port }. */
  peers?: Array<string | { host: string; port: number }>
  paused?: boolean
  /** Trust that all data is there; pieces are verified when first requested. */
  seedMode?: boolean
  sequential?: boolean
  /**
   * Every file not given in `filePriorities` starts at priority 0 (don't download): for a magnet
   * whose files are chosen once the metadata is here, so that nothing is requested before.
   */
  deselected?: boolean
  /** Pieces the storage already holds, verified (needs torrent bytes). */
  havePieces?: Iterable<number>
  filePriorities?: number[]
  uploadLimit?: number
  downloadLimit?: number
  maxConnections?: number
  maxUploads?: number
}

export interface AddedTorrent {
  infoHash: string
  infoHashV1?: string
  infoHashV2?: string
}

export interface TorrentOptions {
  sequential?: boolean
  /** Bytes per second; 0 = unlimited. */
  uploadLimit?: number
  downloadLimit?: number
  maxConnections?: number
  maxUploads?: number
}

export interface WaitOptions {
  signal?: AbortSignal
  /** Milliseconds; default none. */
  timeout?: number
}

export interface SessionOptions {
  /** Bytes of recently stored or read pieces kept in native memory for serving peers (default 16 MiB; never less than four of the largest pieces). */
  readCacheBytes?: number
}

export interface SessionEvents {
  alert: [alert: Alert]
  /** A DiskIo failed where no torrent could be told (open, close, priorities). */
  warning: [error: Error]
}

interface Waiter {
  match(alert: Alert): boolean
  resolve(alert: Alert): void
}

export class Session extends EventEmitter<SessionEvents> {
  readonly #native: NativeSession
  readonly #dispatcher: DiskDispatcher | undefined
  readonly #waiters = new Set<Waiter>()
  #closing: Promise<void> | undefined
  /** Keeps the sink (held only weakly by native code) alive as long as the session. */
  readonly #sink: NativeSink

  constructor(params: SessionParams, options: SessionOptions = {}) {
    super()
    if (!params || typeof params !== 'object' || !('native' in params)) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'Session expects a SessionParams')
    }
    const diskIo = buildingWithDefaultStorage ? undefined : params.diskIo
    const readCacheBytes = checkOptionalInteger(options.readCacheBytes, 'readCacheBytes', 0)
    let dispatcher: DiskDispatcher | undefined
    this.#sink = {
      onDiskJobs: (jobs) => dispatcher?.dispatch(jobs),
      onAlerts: (alerts) => this.#onAlerts(alerts),
    }
    this.#native = new addon.NativeSession(params.native, this.#sink, {
      jsDisk: diskIo !== undefined,
      readCacheBytes,
    })
    if (diskIo) {
      dispatcher = new DiskDispatcher(
        diskIo,
        this.#native,
        { onError: (error) => this.emit('warning', error) },
        addon.detachBuffer,
      )
    }
    this.#dispatcher = dispatcher
  }

  /** A session using libtorrent's own file storage under each torrent's savePath, for comparison. */
  static withDefaultStorage(params: SessionParams, options: SessionOptions = {}): Session {
    buildingWithDefaultStorage = true
    try {
      return new Session(params, options)
    } finally {
      buildingWithDefaultStorage = false
    }
  }

  get usesJsDisk(): boolean {
    return this.#dispatcher !== undefined
  }

  get closed(): boolean {
    return this.#closing !== undefined
  }

  #open(): NativeSession {
    if (this.#closing) throw new TorrentError('The session is closed', { code: 'ERR_SESSION_CLOSED' })
    return this.#native
  }

  addTorrent(options: AddTorrentOptions): AddedTorrent {
    const native = this.#open()
    if (typeof options !== 'object' || options === null) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'addTorrent expects an options object')
    }
    const sources = [options.torrent, options.magnet, options.infoHash].filter(
      (source) => source !== undefined,
    )
    if (sources.length !== 1) {
      throw argumentError(
        'type',
        'ERR_INVALID_ARG_VALUE',
        'addTorrent needs exactly one of torrent, magnet, infoHash',
      )
    }
    if (options.torrent !== undefined && !(options.torrent instanceof Uint8Array)) {
      throw argumentError(
        'type',
        'ERR_INVALID_ARG_TYPE',
        'torrent must be the .torrent bytes (Buffer or Uint8Array)',
      )
    }
    if (
      options.magnet !== undefined &&
      (typeof options.magnet !== 'string' || !options.magnet.startsWith('magnet:'))
    ) {
      throw new TorrentError(`Invalid magnet link: ${String(options.magnet).slice(0, 80)}`, {
        code: 'ERR_INVALID_MAGNET',
      })
    }
    const request: NativeAddTorrent = {
      savePath: options.savePath ?? '.',
      ...(options.torrent && { torrent: options.torrent }),
      ...(options.magnet && { magnet: options.magnet }),
      ...(options.infoHash !== undefined && { infoHash: checkInfoHash(options.infoHash) }),
      ...(options.resumeData && { resumeData: options.resumeData }),
      ...(options.name !== undefined && { name: String(options.name) }),
      ...(options.trackers && { trackers: options.trackers.map(String) }),
      ...(options.peers && { peers: options.peers.map(parsePeer) }),
      paused: options.paused === true,
      seedMode: options.seedMode === true,
      sequential: options.sequential === true,
      deselected: options.deselected === true,
      ...(options.havePieces && {
        havePieces: [...options.havePieces].map((piece) => checkInteger(piece, 'havePieces[]', 0)),
      }),
      ...(options.filePriorities && {
        filePriorities: options.filePriorities.map((priority) =>
          checkInteger(priority, 'filePriorities[]', 0, 7),
        ),
      }),
      ...limits(options),
    }
    return native.addTorrent(request)
  }

  /** Removes a torrent; resolves once libtorrent has removed it (and deleted its data if asked). */
  async removeTorrent(infoHash: string, options: { deleteData?: boolean } = {}): Promise<void> {
    const native = this.#open()
    const key = checkInfoHash(infoHash)
    const removed = this.waitForAlert((alert) => alert.infoHash === key && alert.type === 'torrent_removed')
    const deleted = options.deleteData
      ? this.waitForAlert(
          (alert) =>
            alert.infoHash === key &&
            (alert.type === 'torrent_deleted' || alert.type === 'torrent_delete_failed'),
        )
      : undefined
    native.removeTorrent(key, options.deleteData === true)
    await removed
    const outcome = await deleted
    if (outcome?.type === 'torrent_delete_failed') {
      throw new TorrentError(`Deleting the data of ${key} failed: ${outcome.error?.message}`, {
        code: 'ERR_DELETE_FAILED',
        infoHash: key,
        ...(outcome.error && { libtorrent: outcome.error }),
      })
    }
  }

  pause(infoHash: string, options: { graceful?: boolean } = {}): void {
    this.#open().pauseTorrent(checkInfoHash(infoHash), options.graceful === true)
  }

  /** Resumes a paused torrent, clearing a storage error first (so it retries). */
  resume(infoHash: string): void {
    this.#open().resumeTorrent(checkInfoHash(infoHash))
  }

  connectPeer(infoHash: string, peer: string | { host: string; port: number }): void {
    const native = this.#open()
    const { host, port } = parsePeer(peer)
    native.connectPeer(checkInfoHash(infoHash), host, port)
  }

  status(infoHash: string, options: { pieces?: boolean } = {}): TorrentStatus {
    return this.#open().status(checkInfoHash(infoHash), options.pieces === true)
  }

  torrents(): string[] {
    return this.#open().torrents()
  }

  setFilePriorities(infoHash: string, priorities: number[]): void {
    const native = this.#open()
    if (!Array.isArray(priorities))
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'priorities must be an array')
    native.setFilePriorities(
      checkInfoHash(infoHash),
      priorities.map((priority) => checkInteger(priority, 'priority', 0, 7)),
    )
  }

  filePriorities(infoHash: string): number[] {
    return this.#open().filePriorities(checkInfoHash(infoHash))
  }

  /** Asks for `piece` within `deadlineMs` (streaming); libtorrent picks it ahead of others. */
  setPieceDeadline(infoHash: string, piece: number, deadlineMs: number): void {
    const native = this.#open()
    native.setPieceDeadline(
      checkInfoHash(infoHash),
      checkInteger(piece, 'piece', 0),
      checkInteger(deadlineMs, 'deadlineMs', 0, 2 ** 31 - 1),
    )
  }

  resetPieceDeadline(infoHash: string, piece: number): void {
    const native = this.#open()
    native.resetPieceDeadline(checkInfoHash(infoHash), checkInteger(piece, 'piece', 0))
  }

  clearPieceDeadlines(infoHash: string): void {
    this.#open().clearPieceDeadlines(checkInfoHash(infoHash))
  }

  setTorrentOptions(infoHash: string, options: TorrentOptions): void {
    const native = this.#open()
    const key = checkInfoHash(infoHash)
    native.setTorrentOptions(key, {
      ...(options.sequential !== undefined && { sequential: options.sequential === true }),
      ...limits(options),
    })
  }

  /** Hashes every piece again (reading it back from storage) and rebuilds what the torrent has. */
  forceRecheck(infoHash: string): void {
    this.#open().forceRecheck(checkInfoHash(infoHash))
  }

  /** libtorrent's resume data for a torrent (bencoded, with the info dictionary). */
  async saveResumeData(infoHash: string, options: WaitOptions = {}): Promise<Buffer> {
    const native = this.#open()
    const key = checkInfoHash(infoHash)
    const answer = this.waitForAlert(
      (alert) =>
        alert.infoHash === key &&
        (alert.type === 'save_resume_data' || alert.type === 'save_resume_data_failed'),
      options,
    )
    native.saveResumeData(key)
    const alert = await answer
    if (alert.type === 'save_resume_data_failed' || !alert.resumeData) {
      throw new TorrentError(`Saving resume data of ${key} failed: ${alert.error?.message ?? 'no data'}`, {
        code: 'ERR_SAVE_RESUME_DATA',
        infoHash: key,
        ...(alert.error && { libtorrent: alert.error }),
      })
    }
    return alert.resumeData
  }

  /** The .torrent file bytes, once metadata is known. */
  torrentFile(infoHash: string): Buffer | undefined {
    return this.#open().torrentFile(checkInfoHash(infoHash))
  }

  torrentInfo(infoHash: string): TorrentInfo | undefined {
    return this.#open().torrentInfo(checkInfoHash(infoHash))
  }

  peers(infoHash: string): PeerInfo[] {
    return this.#open().peers(checkInfoHash(infoHash))
  }

  applySettings(settings: Settings): void {
    const native = this.#open()
    if (typeof settings !== 'object' || settings === null) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'settings must be an object')
    }
    native.applySettings(settings)
  }

  getSetting(name: string): SettingValue {
    return this.#open().getSetting(name)
  }

  listenPort(): number {
    return this.#open().listenPort()
  }

  /** Figures from the JavaScript disk bridge (jobs, batches, cache). */
  bridgeStats(): BridgeStats {
    return this.#native.bridgeStats()
  }

  /** Storages the DiskIo currently serves, by libtorrent storage index. */
  get diskStorages(): ReadonlyMap<number, DiskStorage> {
    return this.#dispatcher?.storages ?? new Map()
  }

  /** Resolves when every disk job handed to the DiskIo so far has settled. */
  async diskIdle(): Promise<void> {
    await this.#dispatcher?.idle()
  }

  /** The next alert that satisfies `match` (alerts already delivered are not looked at). */
  waitForAlert(match: (alert: Alert) => boolean, options: WaitOptions = {}): Promise<Alert> {
    return new Promise<Alert>((resolve, reject) => {
      const { signal, timeout } = options
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      let timer: NodeJS.Timeout | undefined
      const cleanup = () => {
        this.#waiters.delete(waiter)
        if (timer) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        match,
        resolve: (alert) => {
          cleanup()
          resolve(alert)
        },
      }
      const onAbort = () => {
        cleanup()
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined) {
        timer = setTimeout(() => {
          cleanup()
          reject(new TorrentError(`No matching alert within ${timeout} ms`, { code: 'ERR_TIMEOUT' }))
        }, timeout)
      }
      this.#waiters.add(waiter)
    })
  }

  /** Every alert from now on, as an async iterator (end it with break or the signal). */
  async *alerts(options: { signal?: AbortSignal } = {}): AsyncGenerator<Alert> {
    for await (const [alert] of on(this, 'alert', options.signal ? { signal: options.signal } : {})) {
      yield alert as Alert
    }
  }

  /**
   * An open session keeps itself and the event loop alive, like a listening server, even when
   * the program holds no reference to it. unref() lets the process exit while it is open and lets
   * a session the program dropped be garbage collected (which closes it); ref() undoes it.
   */
  unref(): this {
    if (!this.#closing) this.#native.unref()
    return this
  }

  ref(): this {
    if (!this.#closing) this.#native.ref()
    return this
  }

  /**
   * Fails outstanding disk jobs, stops libtorrent (its thread is joined off the main thread) and
   * releases native resources. Idempotent; every other method throws ERR_SESSION_CLOSED after.
   */
  close(): Promise<void> {
    this.#closing ??= this.#native.close()
    return this.#closing
  }

  #onAlerts(alerts: Alert[]): void {
    for (const alert of alerts) {
      for (const waiter of this.#waiters) {
        if (waiter.match(alert)) waiter.resolve(alert)
      }
      this.emit('alert', alert)
    }
  }
}

let buildingWithDefaultStorage = false

function limits(options: TorrentOptions): Partial<NativeAddTorrent> {
  const out: Partial<NativeAddTorrent> = {}
  const upload = checkOptionalInteger(options.uploadLimit, 'uploadLimit', 0, 2 ** 31 - 1)
  const download = checkOptionalInteger(options.downloadLimit, 'downloadLimit', 0, 2 ** 31 - 1)
  const connections = checkOptionalInteger(options.maxConnections, 'maxConnections', 2, 2 ** 24)
  const uploads = checkOptionalInteger(options.maxUploads, 'maxUploads', 1, 2 ** 24)
  if (upload !== undefined) out.uploadLimit = upload === 0 ? -1 : upload
  if (download !== undefined) out.downloadLimit = download === 0 ? -1 : download
  if (connections !== undefined) out.maxConnections = connections
  if (uploads !== undefined) out.maxUploads = uploads
  return out
}
