// parseTorrent, parseMagnet and createTorrent, validated here and done by libtorrent.
import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { addon } from './binding.ts'
import { argumentError, TorrentError } from './errors.ts'
import type { MagnetInfo, TorrentInfo } from './types.ts'

/** Parses .torrent bytes (v1, v2 or hybrid). Malformed input throws TorrentError ERR_INVALID_TORRENT. */
export function parseTorrent(bytes: Uint8Array): TorrentInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw argumentError(
      'type',
      'ERR_INVALID_ARG_TYPE',
      'parseTorrent expects the .torrent bytes (Buffer or Uint8Array)',
    )
  }
  return addon.parseTorrent(bytes)
}

/** Parses a magnet URI. Malformed input throws TorrentError ERR_INVALID_MAGNET. */
export function parseMagnet(uri: string): MagnetInfo {
  if (typeof uri !== 'string')
    throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'parseMagnet expects a string')
  if (!uri.startsWith('magnet:')) {
    throw new TorrentError(`Invalid magnet link: ${uri.slice(0, 80)}`, { code: 'ERR_INVALID_MAGNET' })
  }
  return addon.parseMagnet(uri)
}

export interface CreateTorrentOptions {
  /** A power of two, at least 16 KiB; default: libtorrent picks one from the total size. */
  pieceLength?: number
  /** Default 'v1' (the most widely supported). */
  version?: 'v1' | 'v2' | 'hybrid'
  trackers?: string[]
  webSeeds?: string[]
  comment?: string
  creator?: string
  private?: boolean
}

/** Creates a .torrent for a file or a directory (hashing it off the main thread). */
export async function createTorrent(path: string, options: CreateTorrentOptions = {}): Promise<Buffer> {
  if (typeof path !== 'string' || path.length === 0) {
    throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'createTorrent expects a file or directory path')
  }
  const { pieceLength = 0, version = 'v1' } = options
  if (
    !Number.isInteger(pieceLength) ||
    (pieceLength !== 0 && (pieceLength < 16384 || (pieceLength & (pieceLength - 1)) !== 0))
  ) {
    throw argumentError(
      'range',
      'ERR_OUT_OF_RANGE',
      `pieceLength must be a power of two of at least 16384, got ${pieceLength}`,
    )
  }
  if (!['v1', 'v2', 'hybrid'].includes(version)) {
    throw argumentError(
      'range',
      'ERR_INVALID_ARG_VALUE',
      `version must be 'v1', 'v2' or 'hybrid', got ${String(version)}`,
    )
  }
  const absolute = resolve(path)
  try {
    await stat(absolute)
  } catch (error) {
    throw new TorrentError(`Cannot read ${absolute}`, { code: 'ERR_PATH_NOT_FOUND', cause: error })
  }
  return addon.createTorrent(absolute, {
    pieceLength,
    version,
    trackers: options.trackers ?? [],
    webSeeds: options.webSeeds ?? [],
    ...(options.comment !== undefined && { comment: options.comment }),
    ...(options.creator !== undefined && { creator: options.creator }),
    private: options.private === true,
  })
}
