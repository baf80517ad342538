// Seeded, reproducible test data: a small random generator, random torrent geometries and piece
// bytes derived from (info hash, piece index, salt). Used by the conformance kit, the crash tests
// and anything else that must replay the same bytes without storing them.

import type { TorrentGeometryInput } from './geometry.ts'

/** A small deterministic generator (mulberry32): `random()` in [0, 1), `integer(n)` in [0, n). */
export function seededRandom(seed: number): { random: () => number; integer: (below: number) => number } {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = state
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296
  }
  return { random, integer: (below: number) => Math.floor(random() * below) }
}

/** Deterministic bytes for piece `index` of a torrent, varied by `salt` (a re-write gets new bytes). */
export function pieceData(infoHash: string, index: number, size: number, salt = 0): Buffer {
  let state = (Number.parseInt(infoHash.slice(0, 8), 16) ^ Math.imul(index + 1, 0x9e3779b1) ^ salt) >>> 0
  const output = Buffer.allocUnsafe(size)
  const words = Math.floor(size / 4)
  for (let word = 0; word < words; word++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    output.writeUInt32LE(state >>> 0, word * 4)
  }
  for (let position = words * 4; position < size; position++)
    output[position] = (state >>> (position % 4)) & 0xff
  return output
}

/** A random hex info hash (v1 or v2 length). */
export function randomInfoHash(integer: (below: number) => number, version: 1 | 2 = 1): string {
  let hash = ''
  for (let position = 0; position < (version === 1 ? 40 : 64); position++) hash += integer(16).toString(16)
  return hash
}

/**
 * A random torrent: piece lengths from 16 KiB powers of two to odd sizes, up to about 3 MiB, split
 * into one to four files, sometimes with a pad file.
 */
export function randomGeometry(integer: (below: number) => number, name = 'random'): TorrentGeometryInput {
  const pieceLengths = [16_384, 32_768, 65_536, 262_144, 1_048_576, 1 + integer(300_000)]
  const pieceLength = pieceLengths[integer(pieceLengths.length)]!
  const totalSize = 1 + integer(Math.min(pieceLength * 24, 3 * 1_048_576))
  const cuts = new Set<number>()
  const fileCount = 1 + integer(4)
  while (cuts.size < fileCount - 1 && totalSize > fileCount) cuts.add(1 + integer(totalSize - 1))
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), totalSize]
  const padIndex = bounds.length > 3 && integer(2) === 0 ? 1 : -1
  const files = bounds.slice(1).map((end, position) => ({
    path: position === padIndex ? `.pad/${end - bounds[position]!}` : `${name}/file-${position}.bin`,
    length: end - bounds[position]!,
    offset: bounds[position]!,
    ...(position === padIndex ? { pad: true } : {}),
  }))
  return { infoHash: randomInfoHash(integer, integer(4) === 0 ? 2 : 1), name, pieceLength, totalSize, files }
}

/** A one-file torrent with the given shape. */
export function simpleGeometry(
  infoHash: string,
  pieceLength: number,
  totalSize: number,
): TorrentGeometryInput {
  return {
    infoHash,
    name: 'simple',
    pieceLength,
    totalSize,
    files: [{ path: 'simple.bin', length: totalSize, offset: 0 }],
  }
}
