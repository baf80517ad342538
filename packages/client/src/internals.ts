// What a Torrent needs from its client (kept out of the public API).
import type { Session } from '@chunktorrent/ffi'
import type { Torrent } from './torrent.ts'

export interface TorrentClientInternals {
  readonly session: Session
  remove(torrent: Torrent, options: { deleteData?: boolean }): Promise<void>
  reconnect(torrent: Torrent): void
  /** Asks for `piece` (and a few after it, up to `last`) ahead of the others. */
  prioritize(torrent: Torrent, piece: number, last: number): void
  readPiece(torrent: Torrent, piece: number, offset: number, length: number): Promise<Buffer>
}
