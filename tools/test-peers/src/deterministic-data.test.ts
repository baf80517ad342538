import { readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectedBytes, generateFiles, verifyGeneratedFiles } from './deterministic-data.ts'
import { compareTrees, filesEqual, firstDifference, sha1OfFile } from './file-compare.ts'
import { sampleFiles, useScratch } from './test-support.ts'

describe('generateFiles', () => {
  const scratch = useScratch()

  it('writes the same bytes for the same seed, whatever the root', async () => {
    const first = await scratch.directory()
    const second = await scratch.directory()
    await generateFiles(first, sampleFiles, 'fixed seed')
    await generateFiles(second, sampleFiles, 'fixed seed')
    expect(await compareTrees(first, second)).toEqual([])
    for (const file of sampleFiles) {
      expect((await stat(path.join(first, file.path))).size).toBe(file.length)
    }
    // Pinned, so a change to the generator (which would silently change every fixture) fails here.
    expect(await sha1OfFile(path.join(first, 'nested/gamma.bin'))).toMatchInlineSnapshot(
      `"966272e2b70a79c50b75ff86fe45b4e85f8f806d"`,
    )
    expect(expectedBytes(1, 'a', 0, 16).toString('hex')).toMatchInlineSnapshot(
      `"2c6b700e3576c9d7ecd7ebab376bfa55"`,
    )
  })

  it('differs between seeds and between paths', async () => {
    const root = await scratch.directory()
    await generateFiles(
      root,
      [
        { path: 'a', length: 4096 },
        { path: 'b', length: 4096 },
      ],
      1,
    )
    const other = await scratch.directory()
    await generateFiles(other, [{ path: 'a', length: 4096 }], 2)
    expect(await filesEqual(path.join(root, 'a'), path.join(root, 'b'))).toBe(false)
    expect(await filesEqual(path.join(root, 'a'), path.join(other, 'a'))).toBe(false)
    // A number and its string are the same seed.
    expect(expectedBytes(7, 'a', 0, 64)).toEqual(expectedBytes('7', 'a', 0, 64))
  })

  it('recomputes any byte range without reading the file', async () => {
    const root = await scratch.directory()
    const length = 3 * (1 << 20) + 12_345 // several chunks and a ragged end
    await generateFiles(root, [{ path: 'x/y.bin', length }], 99)
    const content = await readFile(path.join(root, 'x/y.bin'))
    expect(expectedBytes(99, 'x/y.bin', 0, length).equals(content)).toBe(true)
    for (const [offset, size] of [
      [0, 1],
      [15, 2],
      [17, 100],
      [(1 << 20) - 3, 10],
      [length - 5, 5],
      [2_000_003, 1_100_000],
    ] as const) {
      expect(expectedBytes(99, 'x/y.bin', offset, size).equals(content.subarray(offset, offset + size))).toBe(
        true,
      )
    }
  })

  it('verifies generated files and reports where they differ', async () => {
    const root = await scratch.directory()
    await generateFiles(root, sampleFiles, 5)
    expect(await verifyGeneratedFiles(root, sampleFiles, 5)).toEqual([])
    const alpha = path.join(root, 'alpha.bin')
    const content = await readFile(alpha)
    content[1_234_567] = (content[1_234_567] ?? 0) ^ 1
    await writeFile(alpha, content)
    await writeFile(path.join(root, 'nested/gamma.bin'), 'short')
    expect(await verifyGeneratedFiles(root, [...sampleFiles, { path: 'gone', length: 1 }], 5)).toEqual([
      { path: 'alpha.bin', problem: 'content', offset: 1_234_567 },
      { path: 'nested/gamma.bin', problem: 'length', actualLength: 5 },
      { path: 'gone', problem: 'missing' },
    ])
  })

  it('compares trees and files', async () => {
    const first = await scratch.directory()
    const second = await scratch.directory()
    await generateFiles(first, sampleFiles, 3)
    await generateFiles(
      second,
      [...sampleFiles.slice(1), { path: 'alpha.bin', length: 10 }, { path: 'more', length: 1 }],
      3,
    )
    expect(await compareTrees(first, second)).toEqual([
      'length: alpha.bin is 10, expected 1500000',
      'extra: more',
    ])
    expect(await firstDifference(path.join(first, 'alpha.bin'), path.join(second, 'alpha.bin'))).toBe(10)
  })

  it('rejects paths that leave the root and bad lengths', async () => {
    const root = await scratch.directory()
    await expect(generateFiles(root, [{ path: '../escape', length: 1 }], 1)).rejects.toThrow(RangeError)
    await expect(generateFiles(root, [{ path: '/abs', length: 1 }], 1)).rejects.toThrow(RangeError)
    await expect(generateFiles(root, [{ path: 'a', length: -1 }], 1)).rejects.toThrow(RangeError)
  })
})
