// Shared pieces of the client's integration tests: loopback-only options, deterministic torrents
// on disk, and a look into a ChunkStorage's SQLite index.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { parseTorrent, type TorrentInfo } from '@chunktorrent/ffi'
import { ChunkStorage } from '@chunktorrent/storage'
import {
  type FileSpec,
  type LibtorrentPeer,
  makeTorrentContent,
  startLibtorrentPeer,
  tempDirectory,
} from '@chunktorrent/test-peers'
import { type ClientOptions, type Torrent, TorrentClient } from '../src/index.ts'

export const loopback: ClientOptions = {
  listen: '127.0.0.1:0',
  utp: false,
  progressInterval: 200,
  settings: { allow_multiple_connections_per_ip: true, min_reconnect_time: 1, max_failcount: 1000 },
}

export const tempDir = tempDirectory

export interface TestTorrent {
  /** The directory holding the content (the torrent's name inside it). */
  root: string
  bytes: Buffer
  info: TorrentInfo
}

export async function makeTorrent(
  root: string,
  name: string,
  files: FileSpec[],
  options: { pieceLength: number; version?: 'v1' | 'v2' | 'hybrid'; seed?: number },
): Promise<TestTorrent> {
  const bytes = await makeTorrentContent(root, name, files, options)
  return { root, bytes, info: parseTorrent(bytes) }
}

/** Rows of the index: mappings per piece for a torrent. */
export function indexRows(
  storeDirectory: string,
  infoHash: string,
): { mappings: number; chunkIds: string[] } {
  const database = new DatabaseSync(join(storeDirectory, 'index.db'), { readOnly: true })
  try {
    const torrent = database.prepare('SELECT id FROM torrents WHERE info_hash = ?').get(infoHash) as
      | { id: string }
      | undefined
    if (!torrent) return { mappings: 0, chunkIds: [] }
    const rows = database
      .prepare('SELECT chunk_ids FROM torrent_piece_mappings WHERE torrent_id = ?')
      .all(torrent.id) as Array<{ chunk_ids: string }>
    const chunkIds = new Set<string>()
    for (const row of rows) for (const id of JSON.parse(row.chunk_ids) as string[]) chunkIds.add(id)
    return { mappings: rows.length, chunkIds: [...chunkIds] }
  } finally {
    database.close()
  }
}

/** Every file below `root`, relative, recursively. */
export async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true })
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
}

export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A torrent generated under `<root>/source` and a python3-libtorrent seeder for it. */
export async function seededTorrent(
  root: string,
  name: string,
  files: FileSpec[],
  options: { pieceLength: number; version?: 'v1' | 'v2' | 'hybrid'; seed?: number; uploadRateLimit?: number },
): Promise<{ torrent: TestTorrent; seeder: LibtorrentPeer; source: string }> {
  const source = join(root, 'source')
  const torrent = await makeTorrent(source, name, files, options)
  const seeder = await startLibtorrentPeer({
    torrent: torrent.bytes,
    savePath: source,
    role: 'seed',
    ...(options.uploadRateLimit !== undefined && { uploadRateLimit: options.uploadRateLimit }),
  })
  return { torrent, seeder, source }
}

/**
 * torrent.done() within `ms`, or an error that says which step hung and where the torrent stood
 * (its state, progress, peers and verified pieces), so a timeout in CI explains itself.
 */
export async function doneWithin(torrent: Torrent, ms: number, step: string): Promise<void> {
  try {
    await torrent.done({ signal: AbortSignal.timeout(ms) })
  } catch (error) {
    if ((error as Error).name !== 'TimeoutError') throw error
    let status: string
    try {
      const { state, progress, numPeers, totalDownload } = torrent.status()
      status = JSON.stringify({ state, progress, numPeers, totalDownload })
    } catch (statusError) {
      status = String(statusError)
    }
    throw new Error(
      `${step}: not done within ${ms} ms; client state ${torrent.state}, ` +
        `${torrent.verified.size}/${torrent.pieceCount} pieces verified, libtorrent ${status}`,
      { cause: error },
    )
  }
}

/** A client on a ChunkStorage in `directory`, loopback only. */
export async function chunkClient(
  directory: string,
): Promise<{ storage: ChunkStorage; client: TorrentClient }> {
  const storage = await ChunkStorage.open({ directory })
  return { storage, client: await TorrentClient.newWithStorage(storage, loopback) }
}

/** Every file of `torrent`, read back through createReadStream, equals the one under `source`. */
export async function expectSameFiles(torrent: Torrent, source: string): Promise<void> {
  for (const [index, file] of torrent.files.entries()) {
    const expected = await readFile(join(source, file.path))
    if (!(await collect(torrent.createReadStream(index))).equals(expected)) {
      throw new Error(`${file.path} differs from the source`)
    }
  }
}
