// The store the commands share: where it is (--store, CHUNKTORRENT_STORE, ~/.chunktorrent), opening
// it with clear errors, and the CLI's own copy of each added torrent's metadata
// (`<store>/torrents/<infoHash>.torrent`), so a later `seed`, `verify` or `export` needs only the
// info hash. Also what a "torrent" argument names: a .torrent file, a magnet link, an info hash.
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseMagnet, parseTorrent, TorrentError, type TorrentInfo } from '@chunktorrent/ffi'
import { ChunkStorage, StorageError } from '@chunktorrent/storage'
import { isInfoHash } from './arguments.ts'
import { CliError, usageError } from './errors.ts'
import type { StoreSettings } from './remote.ts'

/** --store, else $CHUNKTORRENT_STORE, else ~/.chunktorrent. */
export function storeDirectory(option: string | undefined, environment = process.env): string {
  if (option !== undefined && option.length === 0) throw usageError('--store: an empty path')
  const chosen = option ?? (environment.CHUNKTORRENT_STORE || undefined) ?? join(homedir(), '.chunktorrent')
  return resolve(chosen)
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

export function storeExists(directory: string): Promise<boolean> {
  return exists(join(directory, 'index.db'))
}

/**
 * Opens the chunk store. `create: false` (for commands that only read) fails on a directory that
 * holds no store instead of making one.
 */
export async function openStore(
  directory: string,
  options: { create: boolean; settings?: StoreSettings },
): Promise<ChunkStorage> {
  if (!options.create && !(await storeExists(directory))) {
    throw new CliError(`No store at ${directory} (nothing was downloaded or imported there)`, {
      code: 'ERR_NO_STORE',
    })
  }
  try {
    const settings = options.settings
    return await ChunkStorage.open({
      directory,
      ...(settings?.cacheLimitBytes !== undefined && { cacheLimitBytes: settings.cacheLimitBytes }),
      ...(settings?.remote !== undefined && { remote: settings.remote }),
      ...(settings?.pinOpenTorrents !== undefined && { pinOpenTorrents: settings.pinOpenTorrents }),
    })
  } catch (error) {
    if (StorageError.isInstance(error) && error.code === 'ERR_REMOTE_KEY') {
      // The storage's message names where the key came from, never the key.
      throw new CliError(error.message, { code: 'ERR_REMOTE_KEY', exitCode: 2, cause: error })
    }
    if (StorageError.isInstance(error) && error.code === 'ERR_STORE_LOCKED') {
      throw new CliError(
        `The store at ${directory} is in use by another process (a running download or seed?)`,
        { code: 'ERR_STORE_LOCKED', cause: error },
      )
    }
    throw error
  }
}

/** The CLI's copies of torrent metadata, one `<infoHash>.torrent` per torrent, beside the store's index. */
export class TorrentFiles {
  readonly directory: string

  constructor(storeDirectory: string) {
    this.directory = join(storeDirectory, 'torrents')
  }

  path(infoHash: string): string {
    return join(this.directory, `${infoHash.toLowerCase()}.torrent`)
  }

  async load(infoHash: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(infoHash))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  has(infoHash: string): Promise<boolean> {
    return exists(this.path(infoHash))
  }

  /** Writes the copy atomically (a temporary name, then rename). */
  async save(infoHash: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.directory, { recursive: true })
    const target = this.path(infoHash)
    const temporary = `${target}.${process.pid}.tmp`
    await writeFile(temporary, bytes)
    await rename(temporary, target)
  }

  async remove(infoHash: string): Promise<boolean> {
    const had = await this.has(infoHash)
    await rm(this.path(infoHash), { force: true })
    return had
  }
}

/** What a torrent argument named, resolved as far as the store allows. */
export type Source =
  | { kind: 'torrent'; bytes: Buffer; info: TorrentInfo; from: 'file' | 'store' }
  | { kind: 'magnet'; uri: string; infoHash: string; name: string | undefined }
  | { kind: 'infoHash'; infoHash: string }

/** Reads and parses a .torrent file; a missing file or bad bytes fail with the path in the message. */
export async function readTorrentFile(path: string): Promise<{ bytes: Buffer; info: TorrentInfo }> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? 'no such file (and it is not a magnet link or an info hash)'
        : code === 'EISDIR'
          ? 'it is a directory'
          : ((error as Error).message ?? String(error))
    throw new CliError(`Cannot read the torrent file ${path}: ${reason}`, {
      code: 'ERR_TORRENT_FILE_NOT_FOUND',
      cause: error,
    })
  }
  try {
    return { bytes, info: parseTorrent(bytes) }
  } catch (error) {
    if (TorrentError.isInstance(error)) {
      throw new TorrentError(`${path} is not a valid torrent: ${error.message}`, {
        code: error.code,
        cause: error,
      })
    }
    throw error
  }
}

/**
 * A .torrent path, a magnet link or an info hash. Magnets and info hashes become the stored
 * metadata when the store has a copy (`torrents` may be undefined when there is no store).
 */
export async function resolveSource(text: string, torrents: TorrentFiles | undefined): Promise<Source> {
  const fromStore = async (infoHash: string): Promise<Source | undefined> => {
    const bytes = await torrents?.load(infoHash)
    return bytes ? { kind: 'torrent', bytes, info: parseTorrent(bytes), from: 'store' } : undefined
  }
  if (text.startsWith('magnet:')) {
    const magnet = parseMagnet(text)
    return (
      (await fromStore(magnet.infoHash)) ?? {
        kind: 'magnet',
        uri: text,
        infoHash: magnet.infoHash,
        name: magnet.name,
      }
    )
  }
  if (isInfoHash(text)) {
    const infoHash = text.toLowerCase()
    return (await fromStore(infoHash)) ?? { kind: 'infoHash', infoHash }
  }
  return { kind: 'torrent', ...(await readTorrentFile(text)), from: 'file' }
}

/** The metadata of a torrent the store must already know (seed, verify, export). */
export async function requireMetadata(
  text: string,
  torrents: TorrentFiles,
): Promise<Extract<Source, { kind: 'torrent' }>> {
  const source = await resolveSource(text, torrents)
  if (source.kind !== 'torrent') {
    throw new CliError(
      `No metadata for ${source.infoHash} in ${torrents.directory}: pass the .torrent file instead`,
      { code: 'ERR_NO_METADATA' },
    )
  }
  return source
}

/** Cache hits and misses of every command run on the store, kept in `<store>/cache-counters.json`. */
export interface CacheCounters {
  cacheHits: number
  cacheMisses: number
}

function countersPath(storeDirectory: string): string {
  return join(storeDirectory, 'cache-counters.json')
}

export async function loadCacheCounters(storeDirectory: string): Promise<CacheCounters> {
  try {
    const value = JSON.parse(await readFile(countersPath(storeDirectory), 'utf8')) as Partial<CacheCounters>
    const count = (number: unknown) =>
      Number.isSafeInteger(number) && (number as number) >= 0 ? (number as number) : 0
    return { cacheHits: count(value.cacheHits), cacheMisses: count(value.cacheMisses) }
  } catch {
    return { cacheHits: 0, cacheMisses: 0 }
  }
}

/** Adds a run's counters to the store's totals (best effort: the figures are informative). */
export async function addCacheCounters(storeDirectory: string, run: CacheCounters): Promise<void> {
  if (run.cacheHits === 0 && run.cacheMisses === 0) return
  try {
    const total = await loadCacheCounters(storeDirectory)
    const target = countersPath(storeDirectory)
    const temporary = `${target}.${process.pid}.tmp`
    await writeFile(
      temporary,
      `${JSON.stringify({ cacheHits: total.cacheHits + run.cacheHits, cacheMisses: total.cacheMisses + run.cacheMisses })}\n`,
    )
    await rename(temporary, target)
  } catch {
    // a read-only store directory: the totals are not kept
  }
}
