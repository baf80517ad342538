// .torrent files made and read by an independent implementation (python3-libtorrent), so the
// project's own creator and parser are checked against something they do not share code with,
// plus a corrupt copy of a torrent's data for tests of hash failures.

import { cp, mkdir, open } from 'node:fs/promises'
import path from 'node:path'
import { TestPeerError } from './errors.ts'
import { runPython, scripts } from './python.ts'

export type TorrentVersion = 'v1' | 'v2' | 'hybrid'

export interface CreateTorrentOptions {
  /** A file (single-file torrent) or a directory (multi-file torrent named after it). */
  path: string
  /** Power of two, at least 16 KiB (libtorrent's rule for every version). */
  pieceLength: number
  version: TorrentVersion
  comment?: string
  timeoutMs?: number
}

/**
 * Builds a torrent for `path` with libtorrent and returns the bencoded bytes. The data is
 * hashed from disk; to seed it, give the peer the parent directory of `path` as `savePath`.
 * The output has no `creation date`, so the same input always gives the same bytes.
 * Files are sorted by path (lt.add_files would list them in readdir order, which varies between
 * file systems); v2 and hybrid torrents get pad files so that every file starts on a piece
 * boundary, v1 torrents none. A zero-length file is kept (libtorrent refuses a torrent whose total
 * size is zero).
 */
export async function createTorrent(options: CreateTorrentOptions): Promise<Buffer> {
  const { pieceLength, version } = options
  if (!Number.isInteger(pieceLength) || pieceLength < 16384 || (pieceLength & (pieceLength - 1)) !== 0) {
    throw new RangeError(`pieceLength must be a power of two of at least 16384, got ${pieceLength}`)
  }
  if (version !== 'v1' && version !== 'v2' && version !== 'hybrid') {
    throw new TypeError(`version must be 'v1', 'v2' or 'hybrid', got ${String(version)}`)
  }
  const args = [
    scripts.torrent,
    'create',
    '--path',
    path.resolve(options.path),
    '--piece-length',
    String(pieceLength),
    '--version',
    version,
  ]
  if (options.comment) args.push('--comment', options.comment)
  const { stdout } = await runPython(args, { timeoutMs: options.timeoutMs ?? 120_000 })
  return stdout
}

export interface TorrentFileEntry {
  /** Path including the torrent name as first component, `/`-separated (as parse-torrent). */
  path: string
  length: number
  /** Offset of the file in the torrent's byte space (pad files included). */
  offset: number
  /** A BEP 47 pad file: zeros that are never written to disk. */
  pad: boolean
}

export interface TorrentInfo {
  /** The v1 info hash (40 hex), or for a v2-only torrent the full v2 info hash (64 hex). */
  infoHash: string
  infoHashV1: string | undefined
  infoHashV2: string | undefined
  version: TorrentVersion
  name: string
  comment: string
  private: boolean
  pieceLength: number
  lastPieceLength: number
  numPieces: number
  /** Size of the torrent's byte space, pad files included. */
  totalSize: number
  /** Bytes of real content, pad files excluded. */
  contentSize: number
  files: TorrentFileEntry[]
}

/** Describes a torrent as libtorrent sees it, for cross-checking another parser. */
export async function torrentInfo(
  torrent: Buffer,
  options: { timeoutMs?: number } = {},
): Promise<TorrentInfo> {
  const { stdout } = await runPython([scripts.torrent, 'info'], {
    input: torrent,
    timeoutMs: options.timeoutMs ?? 30_000,
  })
  const raw = JSON.parse(stdout.toString('utf8')) as Omit<TorrentInfo, 'contentSize'> & {
    infoHashV1: string | null
    infoHashV2: string | null
  }
  return {
    ...raw,
    infoHashV1: raw.infoHashV1 ?? undefined,
    infoHashV2: raw.infoHashV2 ?? undefined,
    contentSize: raw.files.reduce((sum, file) => sum + (file.pad ? 0 : file.length), 0),
  }
}

export interface CorruptCopyOptions {
  /** The torrent whose data is copied. */
  torrent: Buffer | TorrentInfo
  /** Save path holding the good data (the directory that contains the torrent's name). */
  from: string
  /** Save path for the copy; created if needed. */
  to: string
  /** Piece indexes to damage: one byte in the middle of each piece's real content is inverted. */
  pieces: number[]
}

export interface CorruptedByte {
  piece: number
  /** File path as in `TorrentInfo.files`, relative to the save path. */
  file: string
  /** Offset inside that file. */
  offset: number
}

/**
 * Copies a torrent's data from one save path to another and flips one byte in each listed piece,
 * so a seeder pointed at the copy uploads pieces that fail their hash. Returns where the bytes
 * were flipped. Use it with `startLibtorrentPeer({ role: 'seed', skipHashCheck: true })`:
 * libtorrent's own `seed_mode` verifies each piece before its first upload and would never send
 * the bad data.
 */
export async function corruptCopy(options: CorruptCopyOptions): Promise<CorruptedByte[]> {
  const info = Buffer.isBuffer(options.torrent) ? await torrentInfo(options.torrent) : options.torrent
  const pieces = [...new Set(options.pieces)]
  for (const piece of pieces) {
    if (!Number.isInteger(piece) || piece < 0 || piece >= info.numPieces) {
      throw new RangeError(`piece ${piece} is outside 0..${info.numPieces - 1}`)
    }
  }
  await mkdir(options.to, { recursive: true })
  await cp(path.join(options.from, info.name), path.join(options.to, info.name), { recursive: true })

  const corrupted: CorruptedByte[] = []
  for (const piece of pieces) {
    const start = piece * info.pieceLength
    const end = Math.min(start + info.pieceLength, info.totalSize)
    // The real (non-pad) bytes of this piece, file by file.
    const spans = info.files
      .filter((file) => !file.pad && file.length > 0)
      .map((file) => ({
        file,
        from: Math.max(start, file.offset),
        to: Math.min(end, file.offset + file.length),
      }))
      .filter((span) => span.from < span.to)
    const span = spans[Math.floor(spans.length / 2)]
    if (!span) {
      throw new TestPeerError('ERR_CORRUPT_COPY', `piece ${piece} holds only padding; nothing to corrupt`)
    }
    const offset = Math.floor((span.from + span.to) / 2) - span.file.offset
    const target = path.join(options.to, ...span.file.path.split('/'))
    const handle = await open(target, 'r+')
    try {
      const byte = Buffer.alloc(1)
      await handle.read(byte, 0, 1, offset)
      byte[0] = (byte[0] ?? 0) ^ 0xff
      await handle.write(byte, 0, 1, offset)
    } finally {
      await handle.close()
    }
    corrupted.push({ piece, file: span.file.path, offset })
  }
  return corrupted
}
