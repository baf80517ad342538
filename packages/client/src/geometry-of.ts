// The storage geometry of a parsed torrent: the one place the client turns libtorrent's view of a
// torrent (TorrentInfo) into the storage's (pieces and files over the flat byte stream).
import type { TorrentInfo } from '@chunktorrent/ffi'
import { TorrentGeometry, type TorrentGeometryInput } from '@chunktorrent/storage'

/** What `storage.openTorrent` takes for this torrent. */
export function geometryOf(info: TorrentInfo): TorrentGeometryInput {
  return {
    infoHash: info.infoHash,
    name: info.name,
    pieceLength: info.pieceLength,
    totalSize: info.length,
    files: info.files.map((file) => ({
      path: file.path,
      length: file.length,
      offset: file.offset,
      pad: file.pad,
    })),
    magnetLink: info.magnetURI,
  }
}

/** The validated geometry (piece arithmetic) of this torrent. */
export function torrentGeometry(info: TorrentInfo): TorrentGeometry {
  return TorrentGeometry.from(geometryOf(info))
}
