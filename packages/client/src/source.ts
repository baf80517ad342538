// What `client.add()` accepts, resolved into something the session can add: .torrent bytes, a
// path to a .torrent file, a magnet URI, or a bare info hash.
import { readFile } from 'node:fs/promises'
import { parseMagnet, parseTorrent, TorrentError, type TorrentInfo } from '@chunktorrent/ffi'

export type TorrentSource = Uint8Array | string

export type ResolvedSource =
  | { kind: 'torrent'; bytes: Uint8Array; info: TorrentInfo }
  | { kind: 'magnet'; magnet: string; infoHash: string; name?: string }
  | { kind: 'infoHash'; infoHash: string }

const infoHashPattern = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/

export async function resolveSource(source: TorrentSource): Promise<ResolvedSource> {
  if (source instanceof Uint8Array) {
    return { kind: 'torrent', bytes: source, info: parseTorrent(source) }
  }
  if (typeof source !== 'string' || source.length === 0) {
    throw Object.assign(
      new TypeError(
        'A torrent source is .torrent bytes, a path to a .torrent file, a magnet URI or an info hash',
      ),
      {
        code: 'ERR_INVALID_ARG_TYPE',
      },
    )
  }
  if (source.startsWith('magnet:')) {
    const magnet = parseMagnet(source)
    return {
      kind: 'magnet',
      magnet: source,
      infoHash: magnet.infoHash,
      ...(magnet.name && { name: magnet.name }),
    }
  }
  if (infoHashPattern.test(source)) return { kind: 'infoHash', infoHash: source.toLowerCase() }
  let bytes: Buffer
  try {
    bytes = await readFile(source)
  } catch (error) {
    throw new TorrentError(`Cannot read the torrent file ${source}`, {
      code: 'ERR_TORRENT_FILE_NOT_FOUND',
      cause: error,
    })
  }
  return { kind: 'torrent', bytes, info: parseTorrent(bytes) }
}
