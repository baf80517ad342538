// `chunktorrent create <path> -o <file.torrent>`: makes a .torrent for a file or a directory
// (libtorrent hashes it off the main thread), v1 by default, v2 or hybrid on request.
import { writeFile } from 'node:fs/promises'
import { createTorrent, parseTorrent } from '@chunktorrent/ffi'
import { CliError, usageError } from '../errors.ts'
import type { Output } from '../output.ts'
import { formatBytes, parseSize } from '../units.ts'

export interface CreateOptions {
  output: string
  pieceLength?: string
  v1?: boolean
  v2?: boolean
  hybrid?: boolean
  tracker?: string[]
  webSeed?: string[]
  comment?: string
  private?: boolean
}

const trackerProtocols = new Set(['http:', 'https:', 'udp:', 'ws:', 'wss:'])

function checkUrl(text: string, name: string, protocols: Set<string>): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usageError(`${name}: "${text}" is not a URL`, 'ERR_INVALID_URL')
  }
  if (!protocols.has(url.protocol)) {
    throw usageError(
      `${name}: "${text}" must use ${[...protocols].map((protocol) => protocol.slice(0, -1)).join(', ')}`,
      'ERR_INVALID_URL',
    )
  }
  return text
}

export async function create(output: Output, path: string, options: CreateOptions): Promise<number> {
  const versions = (['v1', 'v2', 'hybrid'] as const).filter((version) => options[version])
  if (versions.length > 1) {
    throw usageError(`--${versions.join(', --')} exclude each other: pick one`, 'ERR_CONFLICTING_OPTIONS')
  }
  const version = versions[0] ?? 'v1'
  let pieceLength: number | undefined
  if (options.pieceLength !== undefined) {
    pieceLength = parseSize(options.pieceLength, { name: '--piece-length', min: 16_384, max: 2 ** 30 })
    if ((pieceLength & (pieceLength - 1)) !== 0) {
      throw usageError(
        `--piece-length: ${options.pieceLength} is not a power of two (examples: 16k, 256KiB, 4M)`,
        'ERR_INVALID_SIZE',
      )
    }
  }
  if (options.output.length === 0) throw usageError('--output: an empty path')
  const trackers = (options.tracker ?? []).map((url) => checkUrl(url, '--tracker', trackerProtocols))
  const webSeeds = (options.webSeed ?? []).map((url) =>
    checkUrl(url, '--web-seed', new Set(['http:', 'https:'])),
  )

  const bytes = await createTorrent(path, {
    version,
    trackers,
    webSeeds,
    ...(pieceLength !== undefined && { pieceLength }),
    ...(options.comment !== undefined && { comment: options.comment }),
    ...(options.private && { private: true }),
    creator: 'chunktorrent',
  })
  const info = parseTorrent(bytes)
  if (options.output === '-') {
    process.stdout.write(bytes)
    return 0
  }
  try {
    await writeFile(options.output, bytes)
  } catch (error) {
    throw new CliError(`Cannot write ${options.output}: ${(error as Error).message}`, {
      code: 'ERR_WRITE_FAILED',
      cause: error,
    })
  }
  const files = info.files.filter((file) => !file.pad)
  output.event(
    'created',
    {
      output: options.output,
      infoHash: info.infoHash,
      ...(info.infoHashV1 && { infoHashV1: info.infoHashV1 }),
      ...(info.infoHashV2 && { infoHashV2: info.infoHashV2 }),
      version: info.version,
      name: info.name,
      length: files.reduce((sum, file) => sum + file.length, 0),
      files: files.length,
      pieceLength: info.pieceLength,
      pieceCount: info.pieceCount,
      magnetURI: info.magnetURI,
    },
    `Created ${options.output}: "${info.name}" ${info.infoHash} (${info.version}), ${files.length} file(s), ${formatBytes(files.reduce((sum, file) => sum + file.length, 0))}, ${info.pieceCount} pieces of ${formatBytes(info.pieceLength)}`,
    { always: true },
  )
  return 0
}
