// Small conveniences every integration test needs: a scratch directory that removes itself, and
// deterministic content with a torrent for it (what ffi, client and cli tests all start from).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FileSpec, generateFiles, type Seed } from './deterministic-data.ts'
import { createTorrent, type TorrentVersion } from './torrent-files.ts'

export interface TempDirectory {
  path: string
  remove(): Promise<void>
}

/** A new directory under the system's temp directory, named `chunktorrent-<prefix>-…`. */
export async function tempDirectory(prefix: string): Promise<TempDirectory> {
  const path = await mkdtemp(join(tmpdir(), `chunktorrent-${prefix}-`))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

export interface TorrentContentOptions {
  pieceLength: number
  version?: TorrentVersion
  seed?: Seed
}

/**
 * Generates `files` under `root/<name>/` — or the single file `root/<name>` when `files` is one
 * entry whose path is `name` — and returns a torrent for them made by libtorrent.
 */
export async function makeTorrentContent(
  root: string,
  name: string,
  files: FileSpec[],
  options: TorrentContentOptions,
): Promise<Buffer> {
  const single = files.length === 1 && files[0]?.path === name
  await generateFiles(
    root,
    files.map((file) => ({ ...file, path: single ? file.path : `${name}/${file.path}` })),
    options.seed ?? 1,
  )
  return createTorrent({
    path: join(root, name),
    pieceLength: options.pieceLength,
    version: options.version ?? 'v1',
  })
}
