import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateFiles } from './deterministic-data.ts'
import { compareTrees } from './file-compare.ts'
import { sampleFiles, useScratch } from './test-support.ts'
import { corruptCopy, createTorrent, torrentInfo } from './torrent-files.ts'

const pieceLength = 32768
const contentSize = sampleFiles.reduce((sum, file) => sum + file.length, 0)

describe('createTorrent and torrentInfo', () => {
  const scratch = useScratch()

  async function sample(): Promise<string> {
    const root = await scratch.directory()
    await generateFiles(path.join(root, 'content'), sampleFiles, 'torrent-files')
    return root
  }

  it('v1 multi-file: files in order, the empty one kept, no padding', async () => {
    const root = await sample()
    const torrent = await createTorrent({
      path: path.join(root, 'content'),
      pieceLength,
      version: 'v1',
      comment: 'hi',
    })
    const info = await torrentInfo(torrent)
    expect(info).toMatchObject({
      version: 'v1',
      name: 'content',
      comment: 'hi',
      pieceLength,
      totalSize: contentSize,
      contentSize,
      numPieces: Math.ceil(contentSize / pieceLength),
      lastPieceLength: contentSize % pieceLength || pieceLength,
      infoHashV2: undefined,
    })
    expect(info.infoHash).toMatch(/^[0-9a-f]{40}$/)
    expect(info.infoHashV1).toBe(info.infoHash)
    expect(info.files).toEqual([
      { path: 'content/alpha.bin', length: 1_500_000, offset: 0, pad: false },
      { path: 'content/empty.txt', length: 0, offset: 1_500_000, pad: false },
      { path: 'content/nested/beta.bin', length: 700_001, offset: 1_500_000, pad: false },
      { path: 'content/nested/gamma.bin', length: 65_536, offset: 2_200_001, pad: false },
    ])
    // The v1 info hash is the SHA-1 of the bencoded info dictionary, as it appears in the file.
    const start = torrent.indexOf('4:infod') + 6
    const infoDictionary = torrent.subarray(start, torrent.length - 1)
    expect(createHash('sha1').update(infoDictionary).digest('hex')).toBe(info.infoHash)
  })

  it('the same data gives the same bytes (no creation date)', async () => {
    const root = await sample()
    const options = { path: path.join(root, 'content'), pieceLength, version: 'hybrid' } as const
    expect((await createTorrent(options)).equals(await createTorrent(options))).toBe(true)
    expect((await createTorrent(options)).includes('creation date')).toBe(false)
  })

  it('hybrid and v2: every file starts on a piece boundary, pad files in between', async () => {
    const root = await sample()
    for (const version of ['hybrid', 'v2'] as const) {
      const info = await torrentInfo(
        await createTorrent({ path: path.join(root, 'content'), pieceLength, version }),
      )
      expect(info.version).toBe(version)
      expect(info.infoHashV2).toMatch(/^[0-9a-f]{64}$/)
      expect(info.infoHash).toBe(version === 'v2' ? info.infoHashV2 : info.infoHashV1)
      expect(info.contentSize).toBe(contentSize)
      expect(info.totalSize % pieceLength).toBe(0)
      const real = info.files.filter((file) => !file.pad)
      expect(real.map((file) => file.path)).toEqual(sampleFiles.map((file) => `content/${file.path}`))
      for (const file of real.filter((entry) => entry.length > 0)) expect(file.offset % pieceLength).toBe(0)
      expect(info.files.some((file) => file.pad)).toBe(true)
    }
  })

  it('single file: the torrent is named after the file', async () => {
    const root = await sample()
    const info = await torrentInfo(
      await createTorrent({
        path: path.join(root, 'content/alpha.bin'),
        pieceLength: 16384,
        version: 'hybrid',
      }),
    )
    expect(info.name).toBe('alpha.bin')
    expect(info.files).toEqual([{ path: 'alpha.bin', length: 1_500_000, offset: 0, pad: false }])
  })

  it('refuses bad piece lengths before running python, and empty content in python', async () => {
    const root = await sample()
    await expect(createTorrent({ path: root, pieceLength: 1000, version: 'v1' })).rejects.toThrow(RangeError)
    await expect(createTorrent({ path: root, pieceLength: 8192, version: 'v1' })).rejects.toThrow(RangeError)
    await expect(
      createTorrent({ path: path.join(root, 'content/empty.txt'), pieceLength, version: 'v1' }),
    ).rejects.toMatchObject({ code: 'ERR_PYTHON_FAILED' })
  })
})

describe('corruptCopy', () => {
  const scratch = useScratch()

  it('flips one byte in each listed piece and nothing else', async () => {
    const root = await scratch.directory()
    await generateFiles(path.join(root, 'good/content'), sampleFiles, 'corrupt')
    for (const version of ['v1', 'hybrid'] as const) {
      const torrent = await createTorrent({ path: path.join(root, 'good/content'), pieceLength, version })
      const info = await torrentInfo(torrent)
      const to = path.join(root, `bad-${version}`)
      const pieces = [0, 46, info.numPieces - 1]
      const flipped = await corruptCopy({ torrent: info, from: path.join(root, 'good'), to, pieces })
      expect(flipped.map((byte) => byte.piece)).toEqual(pieces)
      const differences = await compareTrees(path.join(root, 'good/content'), path.join(to, 'content'))
      expect(differences).toHaveLength(pieces.length)
      for (const byte of flipped) {
        const file = info.files.find((entry) => entry.path === byte.file)!
        expect(Math.floor((file.offset + byte.offset) / pieceLength)).toBe(byte.piece)
        const good = await readFile(path.join(root, 'good', byte.file))
        const bad = await readFile(path.join(to, byte.file))
        expect((good[byte.offset] ?? 0) ^ (bad[byte.offset] ?? 0)).toBe(0xff)
      }
      await expect(corruptCopy({ torrent: info, from: root, to, pieces: [info.numPieces] })).rejects.toThrow(
        RangeError,
      )
    }
  })
})
