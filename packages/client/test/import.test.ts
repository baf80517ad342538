// seedFrom: existing plain files are hashed against the torrent and stored as chunks; the store
// then seeds on its own (the originals are deleted first) to an independent leecher.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ChunkStorage } from '@chunktorrent/storage'
import { compareTrees, generateFiles, killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, expect, it } from 'vitest'
import { TorrentClient } from '../src/index.ts'
import { loopback, makeTorrent, tempDir } from './helpers.ts'

afterAll(() => killAllChildren())

it('seedFrom imports existing files, then seeds from the store alone', async () => {
  const dir = await tempDir('import')
  try {
    const files = [
      { path: 'one.bin', length: 900_000 },
      { path: 'two.bin', length: 1_100_000 },
    ]
    const torrent = await makeTorrent(join(dir.path, 'originals'), 'imported', files, {
      pieceLength: 32768,
      seed: 51,
    })
    const storage = await ChunkStorage.open({ directory: join(dir.path, 'store') })
    const client = await TorrentClient.newWithStorage(storage, loopback)
    const seeding = await client.seedFrom(torrent.bytes, join(dir.path, 'originals'))
    await seeding.done({ signal: AbortSignal.timeout(20_000) })
    expect(seeding.verified.size).toBe(torrent.info.pieceCount)
    expect((await storage.listTorrents())[0]?.verifiedCount).toBe(torrent.info.pieceCount)

    await rm(join(dir.path, 'originals'), { recursive: true })
    const leecher = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'leecher'),
      role: 'leech',
      connect: [`127.0.0.1:${client.port}`],
    })
    await leecher.done(30_000)
    await leecher.stop()
    // Regenerate the originals to compare against (the same seed gives the same bytes).
    await generateFiles(
      join(dir.path, 'expected'),
      files.map((file) => ({ ...file, path: `imported/${file.path}` })),
      51,
    )
    expect(
      await compareTrees(join(dir.path, 'expected', 'imported'), join(dir.path, 'leecher', 'imported')),
    ).toEqual([])
    await client.close()
  } finally {
    await dir.remove()
  }
})

it('seedFrom keeps only pieces that pass: a damaged file is repaired from a peer', async () => {
  const dir = await tempDir('import-damaged')
  try {
    const torrent = await makeTorrent(
      join(dir.path, 'good'),
      'fixme.bin',
      [{ path: 'fixme.bin', length: 1_000_000 }],
      {
        pieceLength: 32768,
        seed: 52,
      },
    )
    // A second copy with different bytes in its second half.
    await generateFiles(join(dir.path, 'damaged'), [{ path: 'fixme.bin', length: 1_000_000 }], 52)
    const { open } = await import('node:fs/promises')
    const handle = await open(join(dir.path, 'damaged', 'fixme.bin'), 'r+')
    await handle.write(Buffer.alloc(300_000, 7), 0, 300_000, 600_000)
    await handle.close()
    const seeder = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'good'),
      role: 'seed',
    })
    const client = await TorrentClient.newWithStorage(
      await ChunkStorage.open({ directory: join(dir.path, 'store') }),
      loopback,
    )
    const imported = await client.seedFrom(torrent.bytes, join(dir.path, 'damaged'), {
      peers: [`127.0.0.1:${seeder.port}`],
    })
    const damagedPieces = Math.floor(899_999 / 32768) - Math.floor(600_000 / 32768) + 1
    expect(imported.verified.size).toBe(torrent.info.pieceCount - damagedPieces)
    await imported.done({ signal: AbortSignal.timeout(30_000) })
    expect(imported.verified.size).toBe(torrent.info.pieceCount)
    const received = imported.status().totalDownload
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThanOrEqual((damagedPieces + 2) * 32768)
    await client.close()
    await seeder.stop()
  } finally {
    await dir.remove()
  }
})
