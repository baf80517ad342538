// Seeding from the JavaScript backend to independent leechers (python3-libtorrent and aria2c):
// every byte they receive comes from DiskIo.readPiece, and their files equal the source.
import { join } from 'node:path'
import {
  compareTrees,
  killAllChildren,
  startAria2Leecher,
  startLibtorrentPeer,
} from '@chunktorrent/test-peers'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { MemoryDiskIo, type Session, type SessionOptions } from '../src/index.ts'
import { flatStream, jsSession, makeTorrent, pieceOf, type TestTorrent, tempDir } from './helpers.ts'

let session: Session | undefined
afterEach(async () => {
  await session?.close()
  session = undefined
})
afterAll(() => killAllChildren())

/** A MemoryDiskIo already holding every piece, and a session seeding from it. */
async function seedFromMemory(
  torrent: TestTorrent,
  options: SessionOptions = {},
): Promise<{ session: Session; disk: MemoryDiskIo; reads: () => number }> {
  const stream = await flatStream(torrent)
  const disk = new MemoryDiskIo()
  const pieces = new Map<number, Buffer>()
  for (let piece = 0; piece < torrent.info.pieceCount; piece++)
    pieces.set(piece, Buffer.from(pieceOf(stream, torrent.info, piece)))
  disk.torrents.set(torrent.info.infoHash, pieces)
  let reads = 0
  const readPiece = disk.readPiece.bind(disk)
  disk.readPiece = (job) => {
    reads++
    return readPiece(job)
  }
  const seeding = jsSession(disk, {}, options)
  seeding.addTorrent({
    torrent: torrent.bytes,
    savePath: '/nonexistent',
    havePieces: Array.from({ length: torrent.info.pieceCount }, (_, index) => index),
  })
  await seeding
    .waitForAlert((alert) => alert.type === 'torrent_checked', { timeout: 10_000 })
    .catch(() => undefined)
  return { session: seeding, disk, reads: () => reads }
}

/** A python3-libtorrent leecher downloads `name` from the seeding session; its copy must equal the source. */
async function leechAndCompare(
  seeding: Session,
  torrent: TestTorrent,
  root: string,
  name: string,
): Promise<void> {
  const leecher = await startLibtorrentPeer({
    torrent: torrent.bytes,
    savePath: join(root, 'leecher'),
    role: 'leech',
    connect: [`127.0.0.1:${seeding.listenPort()}`],
  })
  try {
    await leecher.done(45_000)
    expect(await compareTrees(join(root, 'source', name), join(root, 'leecher', name))).toEqual([])
  } finally {
    await leecher.stop()
  }
}

describe('seeding from a JavaScript backend', () => {
  it('a python3-libtorrent leecher gets identical files', async () => {
    const dir = await tempDir('seed-lt')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'collection',
        [
          { path: 'one.bin', length: 1_500_000 },
          { path: 'two.bin', length: 333_333 },
        ],
        { pieceLength: 65536, version: 'hybrid', seed: 3 },
      )
      const seeded = await seedFromMemory(torrent)
      session = seeded.session
      expect(session.status(torrent.info.infoHash).seeding).toBe(true)
      await leechAndCompare(session, torrent, dir.path, 'collection')
      expect(seeded.reads()).toBeGreaterThan(0)
      expect(seeded.reads()).toBeLessThanOrEqual(torrent.info.pieceCount)
    } finally {
      await dir.remove()
    }
  })

  it('a read cache smaller than a piece still fetches each piece once, not once per block', async () => {
    const dir = await tempDir('seed-small-cache')
    try {
      // 1 MiB pieces (64 blocks each) against readCacheBytes 0: the cache keeps a few pieces anyway.
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'big-pieces',
        [{ path: 'big.bin', length: 6 * 1_048_576 + 12_345 }],
        { pieceLength: 1_048_576, version: 'v1', seed: 9 },
      )
      const seeded = await seedFromMemory(torrent, { readCacheBytes: 0 })
      session = seeded.session
      await leechAndCompare(session, torrent, dir.path, 'big-pieces')
      // Once per piece, or a few again after eviction; without the floor it was once per block (64x).
      expect(seeded.reads()).toBeGreaterThanOrEqual(torrent.info.pieceCount)
      expect(seeded.reads()).toBeLessThanOrEqual(2 * torrent.info.pieceCount)
    } finally {
      await dir.remove()
    }
  })

  it('an aria2c leecher gets an identical file', async () => {
    const dir = await tempDir('seed-aria2')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'single.bin',
        [{ path: 'single.bin', length: 2_000_001 }],
        {
          pieceLength: 32768,
          version: 'v1',
          seed: 4,
        },
      )
      const seeded = await seedFromMemory(torrent)
      session = seeded.session
      const leecher = await startAria2Leecher({ torrent: torrent.bytes, savePath: join(dir.path, 'aria2') })
      session.connectPeer(torrent.info.infoHash, `127.0.0.1:${leecher.port}`)
      await leecher.done(45_000)
      const differences = await compareTrees(
        join(dir.path, 'source', 'single.bin'),
        join(dir.path, 'aria2', 'single.bin'),
      )
      expect(differences).toEqual([])
      expect(seeded.reads()).toBeGreaterThan(0)
      await leecher.stop()
    } finally {
      await dir.remove()
    }
  })
})
