// Streaming checks that a download ended up byte-identical to its source: a hash of one file,
// a comparison of two files, and a comparison of two directory trees. Memory stays bounded, so
// the same helpers serve a 1 GiB benchmark and a 1 MiB unit test.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import path from 'node:path'

const chunkSize = 1 << 20

/** Hex digest of a file (`sha1` unless told otherwise), read as a stream. */
export async function hashFile(filePath: string, algorithm = 'sha1'): Promise<string> {
  const hash = createHash(algorithm)
  for await (const chunk of createReadStream(filePath, { highWaterMark: chunkSize })) {
    hash.update(chunk as Buffer)
  }
  return hash.digest('hex')
}

/** SHA-1 of a file as hex. */
export function sha1OfFile(filePath: string): Promise<string> {
  return hashFile(filePath, 'sha1')
}

/**
 * Offset of the first byte where two files differ, the shorter length when one is a prefix of
 * the other, or `-1` when they are identical.
 */
export async function firstDifference(first: string, second: string): Promise<number> {
  const [a, b] = await Promise.all([open(first, 'r'), open(second, 'r')])
  try {
    const [statA, statB] = await Promise.all([a.stat(), b.stat()])
    const common = Math.min(statA.size, statB.size)
    const bufferA = Buffer.alloc(chunkSize)
    const bufferB = Buffer.alloc(chunkSize)
    for (let position = 0; position < common; position += chunkSize) {
      const length = Math.min(chunkSize, common - position)
      const [readA, readB] = await Promise.all([
        a.read(bufferA, 0, length, position),
        b.read(bufferB, 0, length, position),
      ])
      const sliceA = bufferA.subarray(0, readA.bytesRead)
      const sliceB = bufferB.subarray(0, readB.bytesRead)
      if (!sliceA.equals(sliceB)) {
        let index = 0
        while (index < length && sliceA[index] === sliceB[index]) index++
        return position + index
      }
    }
    return statA.size === statB.size ? -1 : common
  } finally {
    await Promise.all([a.close(), b.close()])
  }
}

/** True when both files have the same length and bytes. */
export async function filesEqual(first: string, second: string): Promise<boolean> {
  return (await firstDifference(first, second)) === -1
}

async function listFiles(root: string): Promise<Map<string, number>> {
  const files = new Map<string, number>()
  const walk = async (directory: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`
      const full = path.join(directory, entry.name)
      if (entry.isDirectory()) await walk(full, relative)
      else files.set(relative, (await stat(full)).size)
    }
  }
  const rootStat = await stat(root)
  if (rootStat.isDirectory()) await walk(root, '')
  else files.set('', rootStat.size)
  return files
}

/**
 * Compares two files or directory trees and describes every difference (`missing: x`,
 * `extra: x`, `length: x`, `content: x at N`); an empty array means they are identical.
 * Directories are compared by the files they contain; empty directories are ignored.
 */
export async function compareTrees(expected: string, actual: string): Promise<string[]> {
  const [expectedFiles, actualFiles] = await Promise.all([listFiles(expected), listFiles(actual)])
  const differences: string[] = []
  const join = (root: string, relative: string) => (relative === '' ? root : path.join(root, relative))
  for (const [relative, size] of expectedFiles) {
    const actualSize = actualFiles.get(relative)
    const name = relative === '' ? path.basename(expected) : relative
    if (actualSize === undefined) differences.push(`missing: ${name}`)
    else if (actualSize !== size) differences.push(`length: ${name} is ${actualSize}, expected ${size}`)
    else {
      const offset = await firstDifference(join(expected, relative), join(actual, relative))
      if (offset !== -1) differences.push(`content: ${name} at ${offset}`)
    }
  }
  for (const relative of actualFiles.keys()) {
    if (!expectedFiles.has(relative)) differences.push(`extra: ${relative}`)
  }
  return differences
}
