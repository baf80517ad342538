// @chunktorrent/client: TorrentClient.newWithStorage(storage) — download into and seed from any
// storage. The only public entry of the package.
export { TorrentError } from '@chunktorrent/ffi'
export {
  type AddOptions,
  type ClientEvents,
  type ClientOptions,
  type ClientStats,
  TorrentClient,
} from './client.ts'
export type { TorrentSource } from './source.ts'
export { StorageDiskIo } from './storage-disk-io.ts'
export {
  type ReadStreamOptions,
  Torrent,
  type TorrentEvents,
  type TorrentFile,
  type TorrentProgress,
  type TorrentState,
} from './torrent.ts'
