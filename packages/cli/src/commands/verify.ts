// `chunktorrent verify <info-hash>`: hashes every piece the store holds for a torrent
// (client.add(…, { recheck: true })) and repairs the verified set: pieces whose bytes fail are
// dropped (the next download fetches them again). `rm`: deletes a torrent from the store (with a
// remote tier, its objects in the bucket too, waited for like download waits for its uploads), or
// with --keep-data only forgets it (its pieces stay, unpinned, and a later add resumes from them).
import { isInfoHash } from '../arguments.ts'
import { startEngine, watchCheck } from '../engine.ts'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { type RemoteFlags, storeSettings, waitForDeletions } from '../remote.ts'
import { handleInterrupts, unlessInterrupted } from '../signals.ts'
import { openStore, requireMetadata, resolveSource, storeDirectory, TorrentFiles } from '../store.ts'
import { formatBytes } from '../units.ts'
import { followTorrent } from './download.ts'

export async function verify(
  output: Output,
  sourceText: string,
  options: { store?: string } & RemoteFlags,
): Promise<number> {
  const store = storeDirectory(options.store)
  // With a remote tier, evicted chunks are fetched back to be hashed.
  const settings = storeSettings(store, options)
  const source = await requireMetadata(sourceText, new TorrentFiles(store))
  const { infoHash, pieceCount, name } = source.info

  const interruption = handleInterrupts(output)
  // No peers and a loopback port: a recheck must not download anything.
  const engine = await startEngine(output, {
    store,
    listen: '127.0.0.1:0',
    create: false,
    storeSettings: settings,
  })
  try {
    const stored = (await engine.storage.listTorrents()).find((entry) => entry.infoHash === infoHash)
    if (!stored) {
      throw new CliError(`The store at ${store} does not hold ${infoHash} ("${name}")`, {
        code: 'ERR_NOT_IN_STORE',
      })
    }
    const before = stored.verifiedCount
    output.event(
      'checking',
      { infoHash, name, pieceCount, piecesVerified: before },
      `Checking "${name}" (${infoHash}): hashing what the store holds (${before}/${pieceCount} pieces marked verified)...`,
    )
    engine.client.once('torrent', (torrent) => followTorrent(torrent, output))
    const check = watchCheck(engine, infoHash)
    const torrent = await unlessInterrupted(
      engine.client.add(source.bytes, { recheck: true }),
      interruption.signal,
    )
    const verified = await check.settled(torrent, interruption.signal)
    output.endProgress()
    const dropped = Math.max(0, before - verified)
    const found = Math.max(0, verified - before)
    output.event(
      'verified',
      { infoHash, name, pieceCount, before, piecesVerified: verified, dropped, found },
      dropped > 0
        ? `Repaired: ${dropped} stored piece(s) failed the check and were dropped; ${verified}/${pieceCount} verified (download the torrent again to fetch them)`
        : `OK: ${verified}/${pieceCount} pieces verified${found > 0 ? ` (${found} more than before)` : ''}`,
      { always: true },
    )
    if (dropped > 0) {
      throw new CliError(`${dropped} piece(s) of ${infoHash} were damaged or missing in the store`, {
        code: 'ERR_DAMAGED',
      })
    }
    return 0
  } finally {
    output.endProgress()
    await engine.close()
    interruption.dispose()
  }
}

export async function rm(
  output: Output,
  sourceText: string,
  options: { store?: string; keepData?: boolean } & RemoteFlags,
): Promise<number> {
  const store = storeDirectory(options.store)
  const settings = storeSettings(store, options)
  const torrents = new TorrentFiles(store)
  let infoHash = sourceText.toLowerCase()
  if (!isInfoHash(sourceText)) {
    const source = await resolveSource(sourceText, torrents)
    infoHash = source.kind === 'torrent' ? source.info.infoHash : source.infoHash
  }
  const storage = await openStore(store, { create: false, settings })
  const interruption = handleInterrupts(output)
  const onWarning = (warning: { message: string; code: string }) =>
    output.warning(warning.message, warning.code)
  storage.on('warning', onWarning)
  try {
    const stored = (await storage.listTorrents()).find((entry) => entry.infoHash === infoHash)
    const hadCopy = await torrents.has(infoHash)
    if (!stored && !hadCopy) {
      throw new CliError(`The store at ${store} does not hold ${infoHash}`, { code: 'ERR_NOT_IN_STORE' })
    }
    const name = stored?.name ?? infoHash
    if (options.keepData) {
      if (stored) {
        // Opening and closing the torrent's handle releases its pins: its chunks may be evicted
        // once they have a copy elsewhere, and stay readable until then.
        const handle = await storage.openTorrent({
          infoHash: stored.infoHash,
          name: stored.name,
          pieceLength: stored.pieceLength,
          totalSize: stored.totalSize,
          files: stored.files.map((file) => ({ ...file })),
          releaseId: stored.releaseId,
          ...(stored.magnetLink !== undefined && { magnetLink: stored.magnetLink }),
        })
        await handle.close()
      }
      await torrents.remove(infoHash)
      output.event(
        'removed',
        { infoHash, name, keepData: true, piecesVerified: stored?.verifiedCount ?? 0 },
        `Forgot "${name}" (${infoHash}): its ${stored?.verifiedCount ?? 0} verified pieces stay in the store, unpinned; adding the torrent again resumes from them`,
        { always: true },
      )
      return 0
    }
    const before = storage.stats().bytesOnDisk
    await storage.deleteTorrent(infoHash)
    await torrents.remove(infoHash)
    const freed = Math.max(0, before - storage.stats().bytesOnDisk)
    output.event(
      'removed',
      { infoHash, name, keepData: false, freed },
      `Removed "${name}" (${infoHash}) from the store; ${formatBytes(freed)} freed`,
      { always: true },
    )
    // The torrent's objects in the bucket (and any an earlier run left pending) go before it exits.
    await waitForDeletions(output, storage, settings, interruption.signal)
    return 0
  } finally {
    storage.off('warning', onWarning)
    await storage.close()
    interruption.dispose()
  }
}
