// `chunktorrent seed <torrent-file|info-hash>`: serves a torrent the store holds, reading every
// piece from the store, until SIGINT or SIGTERM (then it exits 0: stopping is how seeding ends).
import { progressReport, startEngine } from '../engine.ts'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { handleInterrupts } from '../signals.ts'
import { openStore, requireMetadata, TorrentFiles } from '../store.ts'
import { formatBytes } from '../units.ts'
import { type TransferOptions, torrentFields, transferSettings } from './download.ts'

export async function seed(output: Output, sourceText: string, options: TransferOptions): Promise<number> {
  const settings = transferSettings(options)
  const source = await requireMetadata(sourceText, new TorrentFiles(settings.store))
  const { infoHash } = source.info
  // Seeding needs pieces in the store; say so now rather than seed nothing.
  {
    const storage = await openStore(settings.store, {
      create: false,
      settings: settings.storeSettings,
    })
    try {
      const stored = (await storage.listTorrents()).find((torrent) => torrent.infoHash === infoHash)
      if (!stored || stored.verifiedCount === 0) {
        throw new CliError(
          `The store at ${settings.store} holds no piece of ${infoHash} ("${source.info.name}"): download or import it first`,
          { code: 'ERR_NOT_IN_STORE' },
        )
      }
      if (!stored.complete) {
        output.warning(
          `Only ${stored.verifiedCount}/${stored.pieceCount} pieces are in the store; seeding those (and downloading the rest from peers that have it)`,
          'ERR_INCOMPLETE',
        )
      }
    } finally {
      await storage.close()
    }
  }

  const interruption = handleInterrupts(output)
  const engine = await startEngine(output, { ...settings, create: false })
  try {
    const torrent = await engine.client.add(source.bytes, { peers: settings.peers })
    if (source.from === 'file') await engine.torrents.save(infoHash, source.bytes)
    torrent.on('progress', (progress) => output.progress(progressReport(torrent, progress)))
    torrent.on('warning', (warning) => output.warning(warning.message, warning.code))
    output.event(
      'seeding',
      { ...torrentFields(torrent), port: engine.client.port },
      `Seeding "${torrent.name}" (${torrent.infoHash}, ${formatBytes(torrent.length ?? 0)}) from ${settings.store} on port ${engine.client.port}; press Ctrl-C to stop`,
    )
    await interruption.stopped
    output.endProgress()
    let uploaded = 0
    try {
      uploaded = torrent.status().totalUpload
    } catch {
      // closing
    }
    output.event('stopped', { infoHash, uploaded }, `Stopped: uploaded ${formatBytes(uploaded)} this run`)
    return 0
  } finally {
    output.endProgress()
    await engine.close()
    interruption.dispose()
  }
}
