// One store and one TorrentClient for a command, wired to the output: the client's warnings, the
// listening address (and a failure to listen), progress reports, and metadata copies for torrents
// that arrive as magnets. DHT, LSD, UPnP and NAT-PMP stay off (the client's defaults).

import { type Torrent, TorrentClient, type TorrentProgress } from '@chunktorrent/client'
import type { Alert } from '@chunktorrent/ffi'
import type { ChunkStorage } from '@chunktorrent/storage'
import type { Output, ProgressReport } from './output.ts'
import type { StoreSettings } from './remote.ts'
import { addCacheCounters, openStore, TorrentFiles } from './store.ts'

export interface EngineOptions {
  store: string
  /** libtorrent's listen_interfaces, e.g. "0.0.0.0:6881" or "127.0.0.1:0". */
  listen: string
  downloadLimit?: number
  uploadLimit?: number
  utp?: boolean
  /** Create the store if missing (download, import); other commands need an existing one. */
  create: boolean
  /** The cache limit and the remote tier (remote.ts). */
  storeSettings?: StoreSettings
}

export interface Engine {
  storage: ChunkStorage
  client: TorrentClient
  torrents: TorrentFiles
  /** Closes the client (in-flight pieces stored and verified first), then the store. Idempotent. */
  close(): Promise<void>
}

export async function startEngine(output: Output, options: EngineOptions): Promise<Engine> {
  const storage = await openStore(options.store, {
    create: options.create,
    ...(options.storeSettings && { settings: options.storeSettings }),
  })
  let client: TorrentClient
  try {
    client = await TorrentClient.newWithStorage(storage, {
      listen: options.listen,
      progressInterval: output.interactive ? 500 : 1000,
      ...(options.utp === false && { utp: false }),
      ...(options.downloadLimit !== undefined && { downloadLimit: options.downloadLimit }),
      ...(options.uploadLimit !== undefined && { uploadLimit: options.uploadLimit }),
    })
  } catch (error) {
    await storage.close()
    throw error
  }
  output.debug(`store ${options.store} opened (${storage.recovery.piecesForgotten} pieces forgotten at open)`)
  if (storage.recovery.piecesForgotten > 0) {
    output.warning(
      `${storage.recovery.piecesForgotten} pieces were lost from the store since it was last open (chunk files missing); they will be downloaded again`,
      'ERR_CHUNK_LOST',
    )
  }
  const remote = options.storeSettings?.remote !== undefined
  client.on('warning', (warning) =>
    output.warning(
      remote && warning.code === 'ERR_CACHE_OVER_LIMIT'
        ? `${warning.message}; chunks leave the cache once their copies in the remote tier are confirmed`
        : warning.message,
      warning.code,
    ),
  )
  client.session.on('alert', (alert: Alert) => {
    if (alert.type === 'listen_failed') {
      output.warning(
        `Cannot listen on ${alert.address}:${alert.port}: ${alert.error?.message ?? alert.message} (peers can still be dialled)`,
        'ERR_LISTEN_FAILED',
      )
    } else if (alert.type === 'listen_succeeded' && alert.socketType === 0) {
      output.event(
        'listening',
        { address: alert.address, port: alert.port },
        `Listening on ${alert.address?.includes(':') ? `[${alert.address}]` : alert.address}:${alert.port}`,
      )
    }
  })
  let closing: Promise<void> | undefined
  return {
    storage,
    client,
    torrents: new TorrentFiles(options.store),
    close: () => {
      closing ??= (async () => {
        const before = storage.stats()
        await client.close()
        // The store has closed: its counters of this run are final (stats() reads memory only).
        let after = before
        try {
          after = storage.stats()
        } catch {
          // closed stores may refuse; keep the figures from before
        }
        await addCacheCounters(options.store, { cacheHits: after.cacheHits, cacheMisses: after.cacheMisses })
      })()
      return closing
    },
  }
}

/** Adds the report's fields that the client's progress event lacks (wanted bytes, ETA, name). */
export function progressReport(torrent: Torrent, progress: TorrentProgress): ProgressReport {
  let wanted = torrent.length ?? 0
  try {
    wanted = torrent.status().totalWanted
  } catch {
    // removed or closing: keep the torrent's size
  }
  const remaining = Math.max(0, wanted - progress.downloaded)
  const eta = remaining === 0 ? 0 : progress.downloadRate > 0 ? remaining / progress.downloadRate : undefined
  return {
    infoHash: torrent.infoHash,
    name: torrent.name,
    state: progress.state,
    progress: progress.progress,
    downloaded: progress.downloaded,
    wanted,
    received: progress.received,
    uploaded: progress.uploaded,
    downloadRate: progress.downloadRate,
    uploadRate: progress.uploadRate,
    peers: progress.peers,
    piecesVerified: progress.piecesVerified,
    pieceCount: progress.pieceCount,
    eta,
  }
}

/** Keeps the metadata of a torrent added by magnet or info hash once peers have sent it. */
export function keepMetadata(engine: Engine, torrent: Torrent, output: Output): void {
  const save = async () => {
    const bytes = engine.client.session.torrentFile(torrent.infoHash)
    if (bytes) await engine.torrents.save(torrent.infoHash, bytes)
  }
  torrent.once('metadata', () => {
    save().catch((error: unknown) =>
      output.warning(
        `Could not keep a copy of the metadata: ${(error as Error).message}`,
        'ERR_METADATA_COPY',
      ),
    )
  })
}

/**
 * Resolves when libtorrent's check of a torrent (a recheck or an import) is over *and* the client
 * has written its outcome to the store: the Torrent's verified set and the store's count both equal
 * what libtorrent found. Call before the torrent is added (the check can end at once).
 * The client offers no promise for this (see the README's notes).
 */
export function watchCheck(engine: Engine, infoHash: string) {
  let sawChecked = false
  const onAlert = (alert: Alert) => {
    if (alert.type === 'torrent_checked' && alert.infoHash === infoHash) sawChecked = true
  }
  engine.client.session.on('alert', onAlert)
  return {
    /** The pieces libtorrent found good, once the store agrees. */
    async settled(torrent: Torrent, signal: AbortSignal): Promise<number> {
      try {
        for (;;) {
          signal.throwIfAborted()
          // A read the store cannot serve (e.g. an evicted chunk under a wrong key) stops the check.
          if (torrent.state === 'error' && torrent.error) throw torrent.error
          if (sawChecked) {
            const status = engine.client.session.status(infoHash, { pieces: true })
            const have: number[] = []
            status.pieces?.forEach((value, index) => {
              if (value) have.push(index)
            })
            if (status.finished || status.seeding) {
              await torrent.done({ signal })
              return have.length
            }
            const same =
              torrent.verified.size === have.length && have.every((index) => torrent.verified.has(index))
            const stored = (await engine.storage.listTorrents()).find((entry) => entry.infoHash === infoHash)
            if (same && (stored?.verifiedCount ?? 0) === have.length) return have.length
          }
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      } finally {
        engine.client.session.off('alert', onAlert)
      }
    },
  }
}
