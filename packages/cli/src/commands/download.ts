// `chunktorrent download <torrent-file|magnet|info-hash>`: downloads into the chunk store with a
// live progress line, then exits (or seeds with --seed). Interrupted, it closes the client so the
// pieces already verified stay in the store and the next run resumes from them.
import type { Torrent } from '@chunktorrent/client'
import { parseAddress, parseFileSelection, selectFiles } from '../arguments.ts'
import { keepMetadata, progressReport, startEngine } from '../engine.ts'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { type RemoteFlags, remoteFigures, storeSettings, waitForUploads } from '../remote.ts'
import { handleInterrupts, unlessInterrupted } from '../signals.ts'
import { resolveSource, storeDirectory, TorrentFiles } from '../store.ts'
import { formatBytes, formatRate, parseRate } from '../units.ts'

export interface TransferOptions extends RemoteFlags {
  store?: string
  listen: string
  peer?: string[]
  maxDownload?: string
  maxUpload?: string
  utp: boolean
}

export interface DownloadOptions extends TransferOptions {
  files?: string[]
  seed?: boolean
  sequential?: boolean
}

/** The options download, seed and import share, checked (usage errors) before anything starts. */
export function transferSettings(options: TransferOptions) {
  const store = storeDirectory(options.store)
  return {
    store,
    storeSettings: storeSettings(store, options),
    listen: parseAddress(options.listen, { name: '--listen', allowPortZero: true }).text,
    peers: (options.peer ?? []).map((peer) => parseAddress(peer, { name: '--peer' }).text),
    ...(options.maxDownload !== undefined && {
      downloadLimit: parseRate(options.maxDownload, { name: '--max-download' }),
    }),
    ...(options.maxUpload !== undefined && {
      uploadLimit: parseRate(options.maxUpload, { name: '--max-upload' }),
    }),
    utp: options.utp,
  }
}

/** The fields every torrent event carries. */
export function torrentFields(torrent: Torrent) {
  return {
    infoHash: torrent.infoHash,
    name: torrent.name,
    length: torrent.length,
    pieceLength: torrent.pieceLength,
    pieceCount: torrent.pieceCount,
    piecesVerified: torrent.verified.size,
    files: torrent.files.map((file, index) => ({ index, path: file.path, length: file.length })),
  }
}

/** Reports progress and warnings of a torrent through the output. */
export function followTorrent(torrent: Torrent, output: Output): void {
  torrent.on('progress', (progress) => output.progress(progressReport(torrent, progress)))
  torrent.on('warning', (warning) => output.warning(warning.message, warning.code))
}

export async function download(
  output: Output,
  sourceText: string,
  options: DownloadOptions,
): Promise<number> {
  const settings = transferSettings(options)
  const selection = parseFileSelection(options.files ?? [])
  const source = await resolveSource(sourceText, new TorrentFiles(settings.store))
  if (source.kind === 'infoHash' && settings.peers.length === 0) {
    throw new CliError(
      `No metadata for ${source.infoHash} in the store: give the .torrent file or a magnet link, or --peer to fetch the metadata from`,
      { code: 'ERR_NO_METADATA' },
    )
  }
  const files =
    selection && source.kind === 'torrent'
      ? selectFiles(
          selection,
          source.info.files.filter((file) => !file.pad),
        )
      : undefined

  const interruption = handleInterrupts(output)
  const engine = await startEngine(output, { ...settings, create: true })
  let torrent: Torrent | undefined
  try {
    // With a remote tier and a cache smaller than the torrent, the client itself downloads in
    // order (its default), so the cache limit holds; --sequential asks for order in any case.
    torrent = await engine.client.add(source.kind === 'torrent' ? source.bytes : sourceText, {
      peers: settings.peers,
      ...(files && { files }),
      // A selection for a magnet applies once the metadata is here; nothing is downloaded before.
      ...(selection && source.kind !== 'torrent' && { deselect: true }),
      ...(options.sequential && { sequential: true }),
    })
    const added = torrent
    if (source.kind === 'torrent') {
      if (source.from === 'file') await engine.torrents.save(added.infoHash, source.bytes)
    } else {
      keepMetadata(engine, added, output)
      output.event(
        'metadata-wait',
        { infoHash: added.infoHash },
        `Fetching the metadata of ${added.infoHash} from peers...`,
      )
    }
    // A selection by pattern for a magnet can only be checked once the metadata is here.
    const selectionFailed = new Promise<never>((_, reject) => {
      if (!selection || source.kind === 'torrent') return
      added.once('metadata', () => {
        try {
          added.selectFiles(selectFiles(selection, added.files))
        } catch (error) {
          reject(error)
        }
      })
    })
    const announce = () =>
      output.event(
        'added',
        torrentFields(added),
        `Downloading "${added.name}" (${added.infoHash}): ${formatBytes(added.length ?? 0)} in ${added.files.length} file(s), ${added.verified.size}/${added.pieceCount} pieces already stored; store ${settings.store}`,
      )
    if (added.info) announce()
    else added.once('metadata', announce)
    followTorrent(added, output)

    const started = Date.now()
    await unlessInterrupted(Promise.race([added.done(), selectionFailed]), interruption.signal)
    output.endProgress()
    const seconds = (Date.now() - started) / 1000
    const status = added.status()
    output.event(
      'done',
      {
        ...torrentFields(added),
        seconds,
        downloaded: status.totalWantedDone,
        received: status.totalDownload,
        stats: engine.client.stats(),
        ...(settings.storeSettings.remote && { remote: remoteFigures(engine.storage) }),
      },
      status.totalDownload === 0
        ? `Complete: "${added.name}" was already in the store (${formatBytes(status.totalWantedDone)})`
        : `Done: "${added.name}" ${formatBytes(status.totalWantedDone)} in ${seconds.toFixed(1)} s; received ${formatBytes(status.totalDownload)} at ${formatRate(status.totalDownload / Math.max(seconds, 0.001))}`,
      { always: true },
    )
    try {
      await waitForUploads(output, engine.storage, settings.storeSettings, interruption.signal)
    } catch (error) {
      // Seeding goes on (uploads continue meanwhile); without --seed the pending chunks fail the run.
      if (!options.seed || !(error instanceof CliError) || error.code !== 'ERR_UPLOAD_PENDING') throw error
      output.warning(error.message, error.code)
    }
    if (!options.seed) return 0
    output.event('seeding', { infoHash: added.infoHash }, 'Seeding from the store; press Ctrl-C to stop')
    await interruption.stopped
    return 0
  } finally {
    output.endProgress()
    await engine.close()
    interruption.dispose()
    if (torrent) {
      output.event(
        'closed',
        { infoHash: torrent.infoHash, piecesVerified: torrent.verified.size, pieceCount: torrent.pieceCount },
        interruption.signal.aborted && !torrent.isDone
          ? `Closed: ${torrent.verified.size}/${torrent.pieceCount ?? '?'} pieces are in the store; run the same command to resume`
          : undefined,
      )
    }
  }
}
