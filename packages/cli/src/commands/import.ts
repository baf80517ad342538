// `chunktorrent import <torrent-file> <data-path>`: hash-checks existing plain files against the
// torrent and stores the pieces that pass as chunks (client.seedFrom), then exits, or seeds with
// --seed. The files themselves are only read.
import { access } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { TorrentInfo } from '@chunktorrent/ffi'
import { startEngine, watchCheck } from '../engine.ts'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { waitForUploads } from '../remote.ts'
import { handleInterrupts, unlessInterrupted } from '../signals.ts'
import { readTorrentFile } from '../store.ts'
import { formatBytes } from '../units.ts'
import { followTorrent, type TransferOptions, torrentFields, transferSettings } from './download.ts'

export interface ImportOptions extends TransferOptions {
  seed?: boolean
}

/**
 * The directory holding the torrent's content: `dataPath` itself (it holds "<name>/…" or the
 * single file "<name>"), or its parent when `dataPath` is the content ("…/<name>").
 */
export async function dataRoot(info: TorrentInfo, dataPath: string): Promise<string> {
  const files = info.files.filter((file) => !file.pad)
  const candidates = [resolve(dataPath)]
  if (basename(resolve(dataPath)) === info.name) candidates.push(dirname(resolve(dataPath)))
  let best: { root: string; found: number } | undefined
  for (const root of candidates) {
    let found = 0
    for (const file of files) {
      try {
        await access(join(root, file.path))
        found++
      } catch {
        // missing: its pieces will fail the check
      }
    }
    if (found > 0 && (!best || found > best.found)) best = { root, found }
  }
  if (!best) {
    throw new CliError(
      `${dataPath} holds none of the torrent's files (looked for ${join(dataPath, files[0]?.path ?? info.name)})`,
      { code: 'ERR_DATA_NOT_FOUND' },
    )
  }
  return best.root
}

export async function importData(
  output: Output,
  torrentPath: string,
  dataPath: string,
  options: ImportOptions,
): Promise<number> {
  const settings = transferSettings(options)
  const { bytes, info } = await readTorrentFile(torrentPath)
  const root = await dataRoot(info, dataPath)

  const interruption = handleInterrupts(output)
  // Without --seed nobody needs to reach this process: listen on loopback, any port.
  const engine = await startEngine(output, {
    ...settings,
    listen: options.seed ? settings.listen : '127.0.0.1:0',
    create: true,
  })
  try {
    output.event(
      'importing',
      { infoHash: info.infoHash, name: info.name, dataPath: root, pieceCount: info.pieceCount },
      `Importing "${info.name}" (${info.infoHash}) from ${root}: hashing ${info.pieceCount} pieces of ${formatBytes(info.pieceLength)}...`,
    )
    engine.client.once('torrent', (torrent) => followTorrent(torrent, output))
    const check = watchCheck(engine, info.infoHash)
    const started = Date.now()
    const torrent = await unlessInterrupted(
      engine.client.seedFrom(bytes, root, {
        peers: options.seed ? settings.peers : [],
        signal: interruption.signal,
      }),
      interruption.signal,
    )
    const verified = await check.settled(torrent, interruption.signal)
    await engine.torrents.save(info.infoHash, bytes)
    output.endProgress()
    const missing = info.pieceCount - verified
    output.event(
      'imported',
      {
        ...torrentFields(torrent),
        piecesVerified: verified,
        missing,
        seconds: (Date.now() - started) / 1000,
      },
      missing === 0
        ? `Imported: all ${info.pieceCount} pieces passed and are in the store (${formatBytes(info.length)})`
        : `Imported ${verified}/${info.pieceCount} pieces; ${missing} are missing or damaged in ${root} and were not stored`,
      { always: true },
    )
    try {
      await waitForUploads(output, engine.storage, settings.storeSettings, interruption.signal)
    } catch (error) {
      // Seeding goes on (uploads continue meanwhile); without --seed the pending chunks fail the run.
      if (!options.seed || !(error instanceof CliError) || error.code !== 'ERR_UPLOAD_PENDING') throw error
      output.warning(error.message, error.code)
    }
    if (!options.seed) {
      if (missing === 0) return 0
      throw new CliError(`${missing} of ${info.pieceCount} pieces failed the check`, {
        code: 'ERR_INCOMPLETE',
      })
    }
    output.event(
      'seeding',
      { infoHash: info.infoHash, port: engine.client.port },
      `Seeding from the store on port ${engine.client.port}; press Ctrl-C to stop`,
    )
    await interruption.stopped
    return 0
  } finally {
    output.endProgress()
    await engine.close()
    interruption.dispose()
  }
}
