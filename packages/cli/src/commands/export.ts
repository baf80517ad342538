// `chunktorrent export <info-hash> <out-dir>`: writes stored files out as plain files. Every name
// comes from the torrent, so every path is checked first (safe-path.ts) and nothing is written
// unless all of them are safe; each file is written under a temporary name, then renamed.
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Torrent } from '@chunktorrent/client'
import type { TorrentInfo } from '@chunktorrent/ffi'
import { parseFileSelection, selectFiles } from '../arguments.ts'
import { startEngine } from '../engine.ts'
import { CliError } from '../errors.ts'
import type { Output } from '../output.ts'
import { type RemoteFlags, storeSettings } from '../remote.ts'
import { assertRealDirectoryInside, planOutputPaths, resolveInside } from '../safe-path.ts'
import { handleInterrupts, unlessInterrupted } from '../signals.ts'
import { requireMetadata, storeDirectory, TorrentFiles } from '../store.ts'
import { formatBytes } from '../units.ts'

export interface ExportOptions extends RemoteFlags {
  store?: string
  files?: string[]
}

/** Files (indexes into torrent.files) with a piece the store does not hold. */
function incompleteFiles(torrent: Torrent, info: TorrentInfo, indexes: number[]): number[] {
  if (torrent.verified.size === info.pieceCount) return []
  const geometry = torrent.geometry
  if (geometry === undefined) return indexes
  return indexes.filter((index) => {
    const file = torrent.files[index]
    if (!file) return true
    return geometry
      .piecesOfRange(file.offset, file.offset + file.length)
      .some(({ pieceIndex }) => !torrent.verified.has(pieceIndex))
  })
}

export async function exportFiles(
  output: Output,
  sourceText: string,
  outDirectory: string,
  options: ExportOptions,
): Promise<number> {
  const store = storeDirectory(options.store)
  const settings = storeSettings(store, options)
  const selection = parseFileSelection(options.files ?? [])
  const source = await requireMetadata(sourceText, new TorrentFiles(store))
  const info = source.info
  const files = info.files.filter((file) => !file.pad)
  const indexes = selection ? selectFiles(selection, files) : files.map((_, index) => index)
  // Every name is checked before anything is opened or written.
  const planned = planOutputPaths(indexes.map((index) => files[index]?.path ?? ''))
  for (const [position, index] of indexes.entries()) {
    const original = files[index]?.path.split('/').join(sep)
    if (planned[position] !== original) {
      output.warning(
        `The torrent's file name ${JSON.stringify(files[index]?.path)} is written as ${JSON.stringify(planned[position])}`,
        'ERR_RENAMED_PATH',
      )
    }
  }
  const root = resolve(outDirectory)

  const interruption = handleInterrupts(output)
  const engine = await startEngine(output, {
    store,
    listen: '127.0.0.1:0',
    create: false,
    storeSettings: settings,
  })
  let partial: string | undefined
  try {
    const stored = (await engine.storage.listTorrents()).find((entry) => entry.infoHash === info.infoHash)
    if (!stored) {
      throw new CliError(`The store at ${store} does not hold ${info.infoHash} ("${info.name}")`, {
        code: 'ERR_NOT_IN_STORE',
      })
    }
    // Paused, no peers: nothing is downloaded, reads come from the store alone.
    const torrent = await engine.client.add(source.bytes, { paused: true })
    const incomplete = incompleteFiles(torrent, info, indexes)
    if (incomplete.length > 0) {
      const names = incomplete.map((index) => `${index}: ${files[index]?.path}`).slice(0, 5)
      throw new CliError(
        `${incomplete.length} of the selected files are not complete in the store (${names.join(', ')}${incomplete.length > 5 ? ', …' : ''}); download them first or pick others with --files`,
        { code: 'ERR_INCOMPLETE' },
      )
    }
    await mkdir(root, { recursive: true })
    let total = 0
    for (const [position, index] of indexes.entries()) {
      const file = torrent.files[index]
      const relativePath = planned[position]
      if (!file || relativePath === undefined) continue
      const target = resolveInside(root, relativePath)
      await mkdir(dirname(target), { recursive: true })
      await assertRealDirectoryInside(root, dirname(target))
      partial = join(dirname(target), `.${process.pid}.chunktorrent-part`)
      await unlessInterrupted(
        pipeline(
          torrent.createReadStream(index, { signal: interruption.signal }),
          createWriteStream(partial, { flags: 'wx' }),
        ),
        interruption.signal,
      )
      await rename(partial, target)
      partial = undefined
      total += file.length
      output.event(
        'file',
        { index, path: file.path, output: target, length: file.length },
        `${target} (${formatBytes(file.length)})`,
      )
    }
    output.event(
      'exported',
      { infoHash: info.infoHash, name: info.name, files: indexes.length, length: total, directory: root },
      `Exported ${indexes.length} file(s), ${formatBytes(total)}, to ${root}`,
      { always: true },
    )
    return 0
  } finally {
    if (partial) await rm(partial, { force: true })
    await engine.close()
    interruption.dispose()
  }
}
