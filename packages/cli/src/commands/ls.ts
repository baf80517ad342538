// `chunktorrent ls`: the torrents the store holds, with how much of each is verified. `stats`: the
// store's own figures (chunk files, bytes on disk, pins, cache limits, what the last open repaired).
import type { Output } from '../output.ts'
import { type RemoteFlags, remoteFigures, storeSettings } from '../remote.ts'
import { loadCacheCounters, openStore, storeDirectory, storeExists, TorrentFiles } from '../store.ts'
import { formatBytes } from '../units.ts'

export async function ls(output: Output, options: { store?: string }): Promise<number> {
  const store = storeDirectory(options.store)
  if (!(await storeExists(store))) {
    output.line(`No torrents: there is no store at ${store} yet`)
    return 0
  }
  const storage = await openStore(store, { create: false })
  const torrents = new TorrentFiles(store)
  try {
    const list = await storage.listTorrents()
    const rows = await Promise.all(
      list.map(async (entry) => ({
        infoHash: entry.infoHash,
        name: entry.name,
        length: entry.files.filter((file) => !file.pad).reduce((sum, file) => sum + file.length, 0),
        pieceCount: entry.pieceCount,
        piecesVerified: entry.verifiedCount,
        complete: entry.complete,
        torrentFile: await torrents.has(entry.infoHash),
        createdAt: entry.createdAt,
      })),
    )
    if (output.json) {
      for (const row of rows) output.document(row)
      return 0
    }
    if (rows.length === 0) {
      output.line(`No torrents in ${store}`)
      return 0
    }
    const hashWidth = Math.max(...rows.map((row) => row.infoHash.length))
    output.line(`${'INFO HASH'.padEnd(hashWidth)}  ${'DONE'.padStart(6)}  ${'SIZE'.padStart(10)}  NAME`)
    for (const row of rows) {
      const done = row.complete ? '100%' : `${((row.piecesVerified / row.pieceCount) * 100).toFixed(1)}%`
      output.line(
        `${row.infoHash.padEnd(hashWidth)}  ${done.padStart(6)}  ${formatBytes(row.length).padStart(10)}  ${row.name}${row.torrentFile ? '' : '  (no .torrent kept)'}`,
      )
    }
    return 0
  } finally {
    await storage.close()
  }
}

export async function stats(output: Output, options: { store?: string } & RemoteFlags): Promise<number> {
  const store = storeDirectory(options.store)
  const settings = storeSettings(store, options)
  const storage = await openStore(store, { create: false, settings })
  try {
    const list = await storage.listTorrents()
    const figures = storage.stats()
    const remote = remoteFigures(storage)
    const counters = await loadCacheCounters(store)
    const summary = {
      store,
      torrents: list.length,
      complete: list.filter((entry) => entry.complete).length,
      piecesVerified: list.reduce((sum, entry) => sum + entry.verifiedCount, 0),
      chunkCount: figures.chunkCount,
      bytesOnDisk: figures.bytesOnDisk,
      pinnedBytes: figures.pinnedBytes,
      cacheLimitBytes: figures.cacheLimitBytes,
      cacheLimitChunks: figures.cacheLimitChunks,
      overLimit: figures.overLimit,
      cacheHits: counters.cacheHits + figures.cacheHits,
      cacheMisses: counters.cacheMisses + figures.cacheMisses,
      remote:
        remote === undefined
          ? null
          : {
              location: settings.remoteName,
              objects: remote.objects,
              bytes: remote.bytes,
              pendingUploads: remote.pendingUploads,
              pendingDeletions: remote.pendingDeletions,
            },
      recovery: storage.recovery,
    }
    if (output.json) {
      output.document(summary)
      return 0
    }
    const { recovery } = storage
    output.line(`store:        ${store}`)
    output.line(
      `torrents:     ${summary.torrents} (${summary.complete} complete, ${summary.piecesVerified} pieces verified)`,
    )
    output.line(`chunks:       ${summary.chunkCount} files, ${formatBytes(summary.bytesOnDisk)} on disk`)
    output.line(`pinned:       ${formatBytes(summary.pinnedBytes)} (chunks of torrents in use)`)
    output.line(
      `cache limit:  ${formatBytes(summary.cacheLimitBytes)} or ${summary.cacheLimitChunks} chunks${summary.overLimit ? ' — over the limit (nothing can be evicted safely)' : ''}`,
    )
    output.line(
      summary.remote === null
        ? 'remote:       none (no --remote-bucket and no "remote" in the config file)'
        : `remote:       ${summary.remote.objects} objects, ${formatBytes(summary.remote.bytes)} in ${summary.remote.location}; ${summary.remote.pendingUploads} chunk(s) pending upload, ${summary.remote.pendingDeletions} object(s) pending deletion`,
    )
    output.line(
      `cache:        ${summary.cacheHits} hits, ${summary.cacheMisses} misses (chunk reads by every command run on this store; a miss is a fetch from the bucket)`,
    )
    output.line(
      `at open:      ${recovery.orphanFilesRemoved} orphan chunk files removed, ${recovery.missingChunks} chunks missing, ${recovery.piecesForgotten} pieces forgotten`,
    )
    return 0
  } finally {
    await storage.close()
  }
}
