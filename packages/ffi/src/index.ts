// @chunktorrent/ffi: libtorrent-rasterbar 2.0 sessions for Node.js whose disk I/O can be served
// by JavaScript. The only public entry of the package.
import { addon } from './binding.ts'

export { nativeBinaryPath } from './binding.ts'
export { type LibtorrentErrorCode, TorrentError, type TorrentErrorOptions } from './errors.ts'
export { MemoryDiskIo } from './memory-disk-io.ts'
export {
  type AddedTorrent,
  type AddTorrentOptions,
  Session,
  type SessionEvents,
  type SessionOptions,
  type TorrentOptions,
  type WaitOptions,
} from './session.ts'
export {
  AlertCategory,
  defaultSettings,
  SessionParams,
  type SessionParamsOptions,
  type Settings,
  type SettingValue,
} from './session-params.ts'
export { type CreateTorrentOptions, createTorrent, parseMagnet, parseTorrent } from './torrent-tools.ts'
export type * from './types.ts'

/** The libtorrent version the addon was built with, e.g. "2.0.8.0". */
export const libtorrentVersion: string = addon.libtorrentVersion
