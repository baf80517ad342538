// `chunktorrent info <torrent-file|magnet|info-hash>`: what a torrent is — names, hashes, sizes,
// pieces, files, trackers — without touching the network. An info hash is looked up in the store.
import type { TorrentInfo } from '@chunktorrent/ffi'
import { parseMagnet } from '@chunktorrent/ffi'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { resolveSource, storeDirectory, TorrentFiles } from '../store.ts'
import { formatBytes } from '../units.ts'

export function describeTorrent(info: TorrentInfo) {
  const files = info.files.filter((file) => !file.pad)
  return {
    infoHash: info.infoHash,
    ...(info.infoHashV1 && { infoHashV1: info.infoHashV1 }),
    ...(info.infoHashV2 && { infoHashV2: info.infoHashV2 }),
    version: info.version,
    name: info.name,
    length: files.reduce((sum, file) => sum + file.length, 0),
    pieceLength: info.pieceLength,
    pieceCount: info.pieceCount,
    lastPieceLength: info.lastPieceLength,
    private: info.private,
    comment: info.comment,
    createdBy: info.createdBy,
    ...(info.created !== undefined && { created: new Date(info.created * 1000).toISOString() }),
    announce: info.announce,
    urlList: info.urlList,
    magnetURI: info.magnetURI,
    files: files.map((file, index) => ({ index, path: file.path, length: file.length, offset: file.offset })),
  }
}

export async function info(output: Output, sourceText: string, options: { store?: string }): Promise<number> {
  const source = await resolveSource(sourceText, new TorrentFiles(storeDirectory(options.store)))
  if (source.kind === 'infoHash') {
    throw new CliError(`No metadata for ${source.infoHash} in the store: pass the .torrent file`, {
      code: 'ERR_NO_METADATA',
    })
  }
  if (source.kind === 'magnet') {
    const magnet = parseMagnet(source.uri)
    const fields = {
      infoHash: magnet.infoHash,
      ...(magnet.infoHashV1 && { infoHashV1: magnet.infoHashV1 }),
      ...(magnet.infoHashV2 && { infoHashV2: magnet.infoHashV2 }),
      name: magnet.name,
      announce: magnet.announce,
      peers: magnet.peers,
      urlList: magnet.urlList,
    }
    if (output.json) {
      output.document({ kind: 'magnet', ...fields })
      return 0
    }
    output.line(`magnet link (no metadata: sizes and files come from peers)`)
    output.line(`name:       ${magnet.name ?? '(none)'}`)
    output.line(`info hash:  ${magnet.infoHash}`)
    if (magnet.infoHashV2 && magnet.infoHashV2 !== magnet.infoHash)
      output.line(`v2 hash:    ${magnet.infoHashV2}`)
    for (const tracker of magnet.announce) output.line(`tracker:    ${tracker}`)
    for (const peer of magnet.peers) output.line(`peer:       ${peer}`)
    return 0
  }
  const described = describeTorrent(source.info)
  if (output.json) {
    output.document({ kind: 'torrent', ...described })
    return 0
  }
  const rows: Array<[string, string | undefined]> = [
    ['name', described.name],
    ['info hash', `${described.infoHash} (${described.version})`],
    ['v1 hash', described.infoHashV1 !== described.infoHash ? described.infoHashV1 : undefined],
    ['v2 hash', described.infoHashV2 !== described.infoHash ? described.infoHashV2 : undefined],
    [
      'size',
      `${formatBytes(described.length)} (${described.length} bytes) in ${described.files.length} file(s)`,
    ],
    [
      'pieces',
      `${described.pieceCount} of ${formatBytes(described.pieceLength)} (last ${formatBytes(described.lastPieceLength)})`,
    ],
    ['private', described.private ? 'yes' : 'no'],
    ['created', described.created],
    ['created by', described.createdBy || undefined],
    ['comment', described.comment || undefined],
    ...described.announce.map((tracker): [string, string] => ['tracker', tracker]),
    ...described.urlList.map((url): [string, string] => ['web seed', url]),
    ['magnet', described.magnetURI],
  ]
  for (const [label, value] of rows) if (value !== undefined) output.line(`${`${label}:`.padEnd(12)}${value}`)
  output.line('files:')
  const width = String(described.files.length - 1).length
  for (const file of described.files) {
    output.line(
      `  ${String(file.index).padStart(width)}  ${formatBytes(file.length).padStart(10)}  ${file.path}`,
    )
  }
  return 0
}
