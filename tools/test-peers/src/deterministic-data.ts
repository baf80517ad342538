// Reproducible test content: every file is the AES-128-CTR keystream keyed by a hash of the seed
// and the file's relative path, so the same seed gives the same bytes on every machine, any byte
// range can be recomputed without reading the file, and a gigabyte streams in bounded memory.

import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, open } from 'node:fs/promises'
import path from 'node:path'

export interface FileSpec {
  /** Relative path below the root, with `/` separators, e.g. `album/track-01.bin`. */
  path: string
  /** Length in bytes; zero makes an empty file. */
  length: number
}

export type Seed = number | string

const chunkSize = 1 << 20
const zeros = Buffer.alloc(chunkSize)

function checkRelativePath(relativePath: string): string {
  if (typeof relativePath !== 'string' || relativePath === '') {
    throw new TypeError('file path must be a non-empty string')
  }
  const normalized = path.posix.normalize(relativePath)
  if (path.posix.isAbsolute(normalized) || normalized.startsWith('../') || normalized === '..') {
    throw new RangeError(`file path must stay below the root: ${relativePath}`)
  }
  return normalized
}

function checkLength(length: number, what: string): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${length}`)
  }
}

// AES-128 rather than AES-256: about twice as fast (3 GB/s against 1.3 GB/s on one core here),
// and the content only has to look random, not resist an attacker.
function keyFor(seed: Seed, relativePath: string): Buffer {
  return createHash('sha256')
    .update(`chunktorrent-test-peers\0${String(seed)}\0${checkRelativePath(relativePath)}`)
    .digest()
    .subarray(0, 16)
}

/** A keystream positioned at `offset`: the counter block is offset / 16, then offset % 16 bytes skipped. */
function keystreamAt(seed: Seed, relativePath: string, offset: number) {
  const counter = BigInt(Math.floor(offset / 16))
  const iv = Buffer.alloc(16)
  iv.writeBigUInt64BE(counter >> 64n, 0)
  iv.writeBigUInt64BE(counter & 0xffff_ffff_ffff_ffffn, 8)
  const cipher = createCipheriv('aes-128-ctr', keyFor(seed, relativePath), iv)
  const skip = offset % 16
  if (skip > 0) cipher.update(zeros.subarray(0, skip))
  return cipher
}

/**
 * The bytes `generateFiles` writes for `relativePath` with `seed`, from `offset` for `length`
 * bytes, computed without touching the disk.
 */
export function expectedBytes(seed: Seed, relativePath: string, offset: number, length: number): Buffer {
  checkLength(offset, 'offset')
  checkLength(length, 'length')
  const cipher = keystreamAt(seed, relativePath, offset)
  const parts: Buffer[] = []
  for (let done = 0; done < length; done += chunkSize) {
    parts.push(cipher.update(zeros.subarray(0, Math.min(chunkSize, length - done))))
  }
  return Buffer.concat(parts, length)
}

/**
 * Writes each file below `root` (directories created as needed) with deterministic pseudo-random
 * content. Streams 1 MiB at a time, computing the next chunk while the previous one is written.
 */
export async function generateFiles(root: string, files: FileSpec[], seed: Seed): Promise<void> {
  for (const file of files) checkLength(file.length, `length of ${file.path}`)
  for (const file of files) {
    const relativePath = checkRelativePath(file.path)
    const target = path.join(root, ...relativePath.split('/'))
    await mkdir(path.dirname(target), { recursive: true })
    const handle = await open(target, 'w')
    try {
      const cipher = keystreamAt(seed, relativePath, 0)
      let pending: Promise<unknown> = Promise.resolve()
      for (let position = 0; position < file.length; position += chunkSize) {
        const data = cipher.update(zeros.subarray(0, Math.min(chunkSize, file.length - position)))
        await pending
        pending = handle.write(data, 0, data.length, position)
      }
      await pending
    } finally {
      await handle.close()
    }
  }
}

export interface GeneratedFileMismatch {
  path: string
  /** `missing`, `length` (size differs) or `content` (first differing byte at `offset`). */
  problem: 'missing' | 'length' | 'content'
  offset?: number
  actualLength?: number
}

/**
 * Checks files below `root` against what `generateFiles(root, files, seed)` would write,
 * streaming, and returns every mismatch (an empty array means all files are right).
 */
export async function verifyGeneratedFiles(
  root: string,
  files: FileSpec[],
  seed: Seed,
): Promise<GeneratedFileMismatch[]> {
  const mismatches: GeneratedFileMismatch[] = []
  const buffer = Buffer.alloc(chunkSize)
  for (const file of files) {
    const relativePath = checkRelativePath(file.path)
    let handle: Awaited<ReturnType<typeof open>>
    try {
      handle = await open(path.join(root, ...relativePath.split('/')), 'r')
    } catch {
      mismatches.push({ path: file.path, problem: 'missing' })
      continue
    }
    try {
      const { size } = await handle.stat()
      if (size !== file.length) {
        mismatches.push({ path: file.path, problem: 'length', actualLength: size })
        continue
      }
      const cipher = keystreamAt(seed, relativePath, 0)
      for (let position = 0; position < file.length; position += chunkSize) {
        const length = Math.min(chunkSize, file.length - position)
        const { bytesRead } = await handle.read(buffer, 0, length, position)
        const expected = cipher.update(zeros.subarray(0, length))
        const actual = buffer.subarray(0, bytesRead)
        if (bytesRead !== length || !actual.equals(expected)) {
          let index = 0
          while (index < bytesRead && actual[index] === expected[index]) index++
          mismatches.push({ path: file.path, problem: 'content', offset: position + index })
          break
        }
      }
    } finally {
      await handle.close()
    }
  }
  return mismatches
}
