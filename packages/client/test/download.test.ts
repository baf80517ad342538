// End to end into ChunkStorage from real peers: a magnet download, seeding to independent
// leechers, geometries where pieces and chunks disagree, file selection, and streaming while
// downloading.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChunkStorage } from '@chunktorrent/storage'
import {
  compareTrees,
  killAllChildren,
  startAria2Leecher,
  startLibtorrentPeer,
} from '@chunktorrent/test-peers'
import { afterAll, describe, expect, it } from 'vitest'
import { TorrentClient } from '../src/index.ts'
import {
  chunkClient,
  collect,
  doneWithin,
  expectSameFiles,
  indexRows,
  listTree,
  loopback,
  makeTorrent,
  seededTorrent,
  tempDir,
} from './helpers.ts'

afterAll(() => killAllChildren())

describe('download into ChunkStorage', () => {
  it('magnet link from a python3-libtorrent seeder: bytes equal, chunks and mappings stored, no plain copy', async () => {
    const dir = await tempDir('magnet')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'album',
        [
          { path: 'track-01.flac', length: 1_300_000 },
          { path: 'track-02.flac', length: 900_001 },
          { path: 'cover.jpg', length: 70_000 },
        ],
        { pieceLength: 65536, seed: 21 },
      )
      const seeder = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'source'),
        role: 'seed',
      })
      const storeDirectory = join(dir.path, 'store')
      const storage = await ChunkStorage.open({ directory: storeDirectory })
      const client = await TorrentClient.newWithStorage(storage, loopback)
      const added = await client.add(`magnet:?xt=urn:btih:${torrent.info.infoHash}`, {
        peers: [`127.0.0.1:${seeder.port}`],
      })
      const metadata = new Promise<void>((resolve) => added.once('metadata', resolve))
      await doneWithin(added, 45_000, 'magnet download')
      await metadata
      expect(added.name).toBe('album')
      expect(added.files.map((file) => file.path)).toEqual([
        'album/cover.jpg',
        'album/track-01.flac',
        'album/track-02.flac',
      ])
      for (const [index, file] of added.files.entries()) {
        const expected = await readFile(join(dir.path, 'source', file.path))
        expect((await collect(added.createReadStream(index))).equals(expected)).toBe(true)
      }
      const stats = client.stats()
      expect(stats.storage?.piecesVerified).toBe(torrent.info.pieceCount)
      await client.close()
      await seeder.stop()

      const { mappings, chunkIds } = indexRows(storeDirectory, torrent.info.infoHash)
      expect(mappings).toBe(torrent.info.pieceCount)
      const files = await listTree(storeDirectory)
      const chunkFiles = files.filter((file) => file.endsWith('.enc'))
      expect(chunkFiles.length).toBe(Math.ceil(torrent.info.length / (1024 * 1024)))
      for (const id of chunkIds) expect(chunkFiles.some((file) => file.endsWith(`${id}.enc`))).toBe(true)
      // Nothing but the index and the chunks: no plain copy of any file.
      expect(files.filter((file) => !file.endsWith('.enc') && !file.startsWith('index.db'))).toEqual([])
      expect(
        await listTree(process.cwd()).then((all) => all.filter((file) => file.includes('track-01'))),
      ).toEqual([])
    } finally {
      await dir.remove()
    }
  })

  it('seeds from the store to python3-libtorrent and aria2c leechers', async () => {
    const dir = await tempDir('seed')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'archive',
        [
          { path: 'part-a.bin', length: 2_500_000 },
          { path: 'part-b.bin', length: 123_457 },
        ],
        { pieceLength: 262144, seed: 22 },
      )
      const seeder = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'source'),
        role: 'seed',
      })
      const first = await TorrentClient.newWithStorage(
        await ChunkStorage.open({ directory: join(dir.path, 'store') }),
        loopback,
      )
      await (await first.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`] })).done({
        signal: AbortSignal.timeout(45_000),
      })
      await first.close()
      await seeder.stop()

      // A new client on the same store: it resumes as a seed, and every byte it sends is read
      // from the chunk files (nothing is in native memory yet).
      const storage = await ChunkStorage.open({ directory: join(dir.path, 'store') })
      const client = await TorrentClient.newWithStorage(storage, loopback)
      const added = await client.add(torrent.bytes)
      await doneWithin(added, 10_000, 'resume as a seed from the store')
      expect(added.status().seeding).toBe(true)
      expect(added.status().totalDownload).toBe(0)

      const leecher = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'leecher'),
        role: 'leech',
        connect: [`127.0.0.1:${client.port}`],
      })
      const aria2 = await startAria2Leecher({ torrent: torrent.bytes, savePath: join(dir.path, 'aria2') })
      added.connectPeer(`127.0.0.1:${aria2.port}`)
      await Promise.all([leecher.done(45_000), aria2.done(45_000)])
      expect(
        await compareTrees(join(dir.path, 'source', 'archive'), join(dir.path, 'leecher', 'archive')),
      ).toEqual([])
      expect(
        await compareTrees(join(dir.path, 'source', 'archive'), join(dir.path, 'aria2', 'archive')),
      ).toEqual([])
      expect(client.stats().storage?.bytesRead).toBeGreaterThan(0)
      await Promise.all([leecher.stop(), aria2.stop()])
      await client.close()
    } finally {
      await dir.remove()
    }
  })

  for (const { name, pieceLength, version } of [
    { name: 'hybrid v1+v2, 64 KiB pieces', pieceLength: 65536, version: 'hybrid' as const },
    { name: 'v2, 32 KiB pieces', pieceLength: 32768, version: 'v2' as const },
    { name: '4 MiB pieces spanning chunks', pieceLength: 4 * 1024 * 1024, version: 'v1' as const },
    { name: '16 KiB pieces, many per chunk', pieceLength: 16384, version: 'v1' as const },
  ]) {
    it(`geometry: ${name}`, async () => {
      const dir = await tempDir('geometry')
      try {
        const { torrent, seeder, source } = await seededTorrent(
          dir.path,
          'geo',
          [
            { path: 'a.bin', length: 3_000_000 },
            { path: 'b.bin', length: 2_222_222 },
          ],
          { pieceLength, version, seed: 23 },
        )
        const storeDirectory = join(dir.path, 'store')
        const { client } = await chunkClient(storeDirectory)
        const added = await client.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`] })
        await doneWithin(added, 45_000, `geometry ${name}: download`)
        await expectSameFiles(added, source)
        await client.close()
        await seeder.stop()
        expect(indexRows(storeDirectory, torrent.info.infoHash).mappings).toBe(torrent.info.pieceCount)
      } finally {
        await dir.remove()
      }
    })
  }

  it('file selection downloads only the chosen file; the geometry stays whole', async () => {
    const dir = await tempDir('select')
    try {
      const { torrent, seeder } = await seededTorrent(
        dir.path,
        'picks',
        [
          { path: 'one.bin', length: 1_000_000 },
          { path: 'two.bin', length: 1_000_000 },
          { path: 'three.bin', length: 1_000_000 },
        ],
        { pieceLength: 65536, seed: 24 },
      )
      const { storage, client } = await chunkClient(join(dir.path, 'store'))
      const added = await client.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`], files: [1] })
      expect(added.files[1]?.path).toBe('picks/three.bin')
      await doneWithin(added, 45_000, 'file selection download')
      const expected = await readFile(join(dir.path, 'source', 'picks', 'three.bin'))
      expect((await collect(added.createReadStream('picks/three.bin'))).equals(expected)).toBe(true)
      const status = added.status()
      expect(status.totalWanted).toBeLessThan(torrent.info.length)
      expect(added.verified.size).toBeLessThan(torrent.info.pieceCount)
      const [stored] = await storage.listTorrents()
      expect(stored?.totalSize).toBe(torrent.info.length)
      await client.close()
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })

  it('a magnet with files: nothing else is requested, even before the metadata is here', async () => {
    const dir = await tempDir('select-magnet')
    try {
      // Small pieces and a fast loopback peer: without deselection, the engine requests every
      // piece the moment the metadata arrives, before the selection can be applied.
      const { torrent, seeder } = await seededTorrent(
        dir.path,
        'picks',
        [
          { path: 'one.bin', length: 400_000 },
          { path: 'two.bin', length: 300_000 },
        ],
        { pieceLength: 16_384, seed: 25 },
      )
      const { storage, client } = await chunkClient(join(dir.path, 'store'))
      const added = await client.add(`magnet:?xt=urn:btih:${torrent.info.infoHash}`, {
        peers: [`127.0.0.1:${seeder.port}`],
        files: [1],
      })
      await doneWithin(added, 45_000, 'magnet with files download')
      const expected = await readFile(join(dir.path, 'source', 'picks', 'two.bin'))
      expect((await collect(added.createReadStream('picks/two.bin'))).equals(expected)).toBe(true)
      // Only the pieces holding two.bin (the one shared with one.bin included) were written.
      const geometry = added.geometry!
      const wanted = geometry.piecesOfRange(400_000, 700_000).length
      expect(storage.stats().piecesWritten).toBe(wanted)
      await client.close()
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })

  it('createReadStream returns correct bytes of a middle file before the torrent completes', async () => {
    const dir = await tempDir('stream')
    try {
      const { torrent, seeder } = await seededTorrent(
        dir.path,
        'movie',
        [
          { path: 'intro.bin', length: 1_500_000 },
          { path: 'feature.bin', length: 3_000_000 },
          { path: 'credits.bin', length: 1_500_000 },
        ],
        { pieceLength: 32768, seed: 25, uploadRateLimit: 1_500_000 },
      )
      const { client } = await chunkClient(join(dir.path, 'store'))
      const added = await client.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`] })
      const index = added.files.findIndex((file) => file.path === 'movie/feature.bin')
      const expected = await readFile(join(dir.path, 'source', 'movie', 'feature.bin'))
      const start = 1_000_000
      const end = 1_400_000
      const bytes = await collect(added.createReadStream(index, { start, end }))
      expect(added.isDone).toBe(false)
      expect(bytes.equals(expected.subarray(start, end + 1))).toBe(true)
      await client.close()
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })
})
