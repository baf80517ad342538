// Shared pieces of the ffi integration tests: loopback-only session settings, deterministic
// torrents made on disk, and the torrent's flat byte stream for comparisons.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type FileSpec, makeTorrentContent, tempDirectory } from '@chunktorrent/test-peers'
import {
  type DiskIo,
  parseTorrent,
  Session,
  type SessionOptions,
  SessionParams,
  type Settings,
  type TorrentInfo,
} from '../src/index.ts'

/** Loopback only, no DHT/LSD/UPnP/NAT-PMP, TCP only, quick reconnects. */
export const loopbackSettings: Settings = {
  listen_interfaces: '127.0.0.1:0',
  enable_dht: false,
  enable_lsd: false,
  enable_upnp: false,
  enable_natpmp: false,
  enable_incoming_utp: false,
  enable_outgoing_utp: false,
  allow_multiple_connections_per_ip: true,
  min_reconnect_time: 1,
  max_failcount: 1000,
  user_agent: 'chunktorrent-test',
}

export function jsSession(diskIo: DiskIo, settings: Settings = {}, options: SessionOptions = {}): Session {
  const params = new SessionParams({ settings: { ...loopbackSettings, ...settings } })
  params.setDiskIoConstructor(diskIo)
  return new Session(params, options)
}

export const tempDir = tempDirectory

export interface TestTorrent {
  /** Save path holding the data (the directory that contains the torrent's name). */
  root: string
  bytes: Buffer
  info: TorrentInfo
}

/** Generates `files` under `root/name` and a torrent for them. */
export async function makeTorrent(
  root: string,
  name: string,
  files: FileSpec[],
  options: { pieceLength: number; version: 'v1' | 'v2' | 'hybrid'; seed?: number },
): Promise<TestTorrent> {
  const bytes = await makeTorrentContent(root, name, files, options)
  return { root, bytes, info: parseTorrent(bytes) }
}

/** The torrent's flat byte stream read from its files (pad files as zeros). */
export async function flatStream(torrent: TestTorrent): Promise<Buffer> {
  const out = Buffer.alloc(torrent.info.length)
  for (const file of torrent.info.files) {
    if (file.pad || file.length === 0) continue
    const data = await readFile(join(torrent.root, file.path))
    data.copy(out, file.offset)
  }
  return out
}

export function pieceOf(stream: Buffer, info: TorrentInfo, piece: number): Buffer {
  const start = piece * info.pieceLength
  return stream.subarray(start, Math.min(start + info.pieceLength, info.length))
}

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
