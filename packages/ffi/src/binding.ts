// The only module that touches the raw addon: it finds the binary (a prebuild shipped in the
// package, else a local build), registers TorrentError with it, and types what it exports.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { TorrentError } from './errors.ts'
import type {
  BridgeStats,
  MagnetInfo,
  PeerInfo,
  RawAlert,
  RawJob,
  TorrentInfo,
  TorrentStatus,
} from './types.ts'

export interface NativeSessionParams {
  applySettings(settings: Record<string, string | number | boolean>): void
  getSetting(name: string): string | number | boolean
}

export interface NativeSink {
  onDiskJobs(jobs: RawJob[]): void
  onAlerts(alerts: RawAlert[]): void
}

export interface NativeAddTorrent {
  torrent?: Uint8Array
  magnet?: string
  infoHash?: string
  resumeData?: Uint8Array
  savePath: string
  name?: string
  trackers?: string[]
  peers?: Array<{ host: string; port: number }>
  paused?: boolean
  seedMode?: boolean
  sequential?: boolean
  uploadMode?: boolean
  deselected?: boolean
  havePieces?: number[]
  filePriorities?: number[]
  uploadLimit?: number
  downloadLimit?: number
  maxConnections?: number
  maxUploads?: number
}

export interface NativeTorrentOptions {
  sequential?: boolean
  uploadLimit?: number
  downloadLimit?: number
  maxConnections?: number
  maxUploads?: number
}

export interface NativeSession {
  addTorrent(options: NativeAddTorrent): { infoHash: string; infoHashV1?: string; infoHashV2?: string }
  removeTorrent(infoHash: string, deleteData: boolean): void
  pauseTorrent(infoHash: string, graceful: boolean): void
  resumeTorrent(infoHash: string): void
  connectPeer(infoHash: string, host: string, port: number): void
  status(infoHash: string, withPieces: boolean): TorrentStatus
  torrents(): string[]
  setFilePriorities(infoHash: string, priorities: number[]): void
  filePriorities(infoHash: string): number[]
  setPieceDeadline(infoHash: string, piece: number, deadlineMs: number): void
  resetPieceDeadline(infoHash: string, piece: number): void
  clearPieceDeadlines(infoHash: string): void
  setTorrentOptions(infoHash: string, options: NativeTorrentOptions): void
  forceRecheck(infoHash: string): void
  saveResumeData(infoHash: string): void
  torrentFile(infoHash: string): Buffer | undefined
  torrentInfo(infoHash: string): TorrentInfo | undefined
  peers(infoHash: string): PeerInfo[]
  applySettings(settings: Record<string, string | number | boolean>): void
  getSetting(name: string): string | number | boolean
  listenPort(): number
  completeJob(
    id: number,
    errno: number,
    fileIndex: number,
    result: Uint8Array | string | null | undefined,
    status: number,
  ): void
  bridgeStats(): BridgeStats
  ref(): void
  unref(): void
  close(): Promise<void>
  isClosed(): boolean
}

export interface NativeCreateTorrentOptions {
  pieceLength: number
  version: 'v1' | 'v2' | 'hybrid'
  trackers: string[]
  webSeeds: string[]
  comment?: string
  creator?: string
  private: boolean
}

interface Addon {
  NativeSessionParams: new (settings?: Record<string, string | number | boolean>) => NativeSessionParams
  NativeSession: new (
    params: NativeSessionParams,
    sink: NativeSink,
    options: { jsDisk: boolean; readCacheBytes?: number },
  ) => NativeSession
  parseTorrent(bytes: Uint8Array): TorrentInfo
  parseMagnet(uri: string): MagnetInfo
  createTorrent(path: string, options: NativeCreateTorrentOptions): Promise<Buffer>
  setErrorClass(errorClass: typeof TorrentError): void
  /** Releases the native memory a Buffer shares, now; false if it could not. */
  detachBuffer(buffer: Uint8Array): boolean
  libtorrentVersion: string
}

const require = createRequire(import.meta.url)
const packageRoot = fileURLToPath(new URL('..', import.meta.url))

function load(): { addon: Addon; path: string } {
  const nodeGypBuild = require('node-gyp-build') as ((dir: string) => unknown) & { path(dir: string): string }
  try {
    const path = nodeGypBuild.path(packageRoot)
    return { addon: require(path) as Addon, path }
  } catch (error) {
    throw new TorrentError(
      `No chunktorrent native binary for ${process.platform}-${process.arch} (Node ${process.version}). ` +
        'Prebuilds ship for linux-x64; elsewhere build from source: install libtorrent-rasterbar-dev (2.0), ' +
        'libboost-dev, pkg-config and a C++17 compiler, then run `npx node-gyp rebuild` in the @chunktorrent/ffi package.',
      { code: 'ERR_NATIVE_BINARY_MISSING', cause: error },
    )
  }
}

const loaded = load()
loaded.addon.setErrorClass(TorrentError)

export const addon: Addon = loaded.addon
/** Absolute path of the native binary that was loaded (a prebuild, or build/Release). */
export const nativeBinaryPath: string = loaded.path
