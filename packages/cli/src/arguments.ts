// Checks of the command line's own values — addresses, info hashes, file selections — so that a
// mistake is a usage error (exit 2) with a message, before a store is opened or a peer dialled.
import { isIP } from 'node:net'
import { matchesGlob } from 'node:path'
import { usageError } from './errors.ts'

const infoHashPattern = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/

export function isInfoHash(text: string): boolean {
  return infoHashPattern.test(text)
}

export function parseInfoHash(text: string): string {
  if (!isInfoHash(text)) {
    throw usageError(`"${text}" is not an info hash (40 or 64 hex digits)`, 'ERR_INVALID_INFO_HASH')
  }
  return text.toLowerCase()
}

export interface Address {
  host: string
  port: number
  /** "host:port", IPv6 hosts in brackets, as libtorrent wants it. */
  text: string
}

/**
 * "IP:PORT" ("127.0.0.1:6881", "[::1]:6881"). Names are not resolved: the engine dials addresses.
 * `allowPortZero` for listening ("pick a free port").
 */
export function parseAddress(text: string, options: { name: string; allowPortZero?: boolean }): Address {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const host = match ? (match[1] ?? match[2] ?? '') : ''
  const version = isIP(host)
  const port = match ? Number(match[3]) : Number.NaN
  const minimum = options.allowPortZero ? 0 : 1
  if (
    !match ||
    version === 0 ||
    (match[1] !== undefined && version !== 6) ||
    (match[2] !== undefined && version !== 4)
  ) {
    throw usageError(
      `${options.name}: "${text}" is not an IP address and port (examples: 127.0.0.1:6881, [::1]:6881)`,
      'ERR_INVALID_ADDRESS',
    )
  }
  if (!(port >= minimum && port <= 65_535)) {
    throw usageError(
      `${options.name}: port ${match[3]} is out of range (${minimum}-65535)`,
      'ERR_INVALID_ADDRESS',
    )
  }
  return { host, port, text: version === 6 ? `[${host}]:${port}` : `${host}:${port}` }
}

/** What `--files` asked for: indexes ("0,2,5-7") and glob patterns ("*.flac", "cd1/**"). */
export interface FileSelection {
  indexes: number[]
  patterns: string[]
}

const indexListPattern = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/

/** Parses every `--files` value; indexes and ranges, or else a glob. */
export function parseFileSelection(values: readonly string[]): FileSelection | undefined {
  if (values.length === 0) return undefined
  const selection: FileSelection = { indexes: [], patterns: [] }
  for (const value of values) {
    if (value.length === 0) throw usageError('--files: an empty selection', 'ERR_INVALID_FILES')
    if (!indexListPattern.test(value)) {
      selection.patterns.push(value)
      continue
    }
    for (const part of value.split(',')) {
      const [from, to = from] = part.split('-').map(Number) as [number, number?]
      if (to < from) throw usageError(`--files: the range ${part} is backwards`, 'ERR_INVALID_FILES')
      if (to - from > 1_000_000)
        throw usageError(`--files: the range ${part} is too large`, 'ERR_INVALID_FILES')
      for (let index = from; index <= to; index++) selection.indexes.push(index)
    }
  }
  return selection
}

/**
 * The file indexes a selection picks from a torrent's files. A pattern without "/" matches file
 * names; with "/", the path (with or without the torrent's top directory). Indexes out of range
 * and patterns that match nothing are usage errors.
 */
export function selectFiles(selection: FileSelection, files: readonly { path: string }[]): number[] {
  const chosen = new Set<number>()
  for (const index of selection.indexes) {
    if (index >= files.length) {
      throw usageError(
        `--files: there is no file ${index} (the torrent has ${files.length}: 0-${files.length - 1})`,
        'ERR_INVALID_FILES',
      )
    }
    chosen.add(index)
  }
  for (const pattern of selection.patterns) {
    let matched = false
    for (const [index, file] of files.entries()) {
      const parts = file.path.split('/')
      const candidates = pattern.includes('/')
        ? [file.path, parts.slice(1).join('/')].filter((candidate) => candidate.length > 0)
        : [parts.at(-1) ?? file.path]
      if (candidates.some((candidate) => matchesGlob(candidate, pattern))) {
        chosen.add(index)
        matched = true
      }
    }
    if (!matched) throw usageError(`--files: no file matches "${pattern}"`, 'ERR_INVALID_FILES')
  }
  return [...chosen].sort((a, b) => a - b)
}

/** Collects a repeatable option's values (commander's argParser). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}
