// The client's controls and its errors: bad sources, duplicates, abort signals, pause/resume,
// remove with and without the data, stats, close twice.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChunkStorage, MemoryStorage } from '@chunktorrent/storage'
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, describe, expect, it } from 'vitest'
import { TorrentClient, TorrentError } from '../src/index.ts'
import { loopback, makeTorrent, tempDir } from './helpers.ts'

afterAll(() => killAllChildren())

describe('bad input', () => {
  it('bad sources, options and duplicates are typed errors', async () => {
    const client = await TorrentClient.newWithStorage(new MemoryStorage(), loopback)
    try {
      await expect(client.add(Buffer.from('not a torrent'))).rejects.toMatchObject({
        code: 'ERR_INVALID_TORRENT',
      })
      await expect(client.add('magnet:?xt=urn:btih:xyz')).rejects.toMatchObject({
        code: 'ERR_INVALID_MAGNET',
      })
      await expect(client.add('/no/such/file.torrent')).rejects.toMatchObject({
        code: 'ERR_TORRENT_FILE_NOT_FOUND',
      })
      await expect(client.add('')).rejects.toBeInstanceOf(TypeError)
      const error = await client.add(Buffer.from('d4:infoi1ee')).catch((caught: unknown) => caught)
      expect(TorrentError.isInstance(error)).toBe(true)
      const hash = 'd'.repeat(40)
      const added = await client.add(hash, { paused: true })
      expect(added.infoHash).toBe(hash)
      expect(added.state).toBe('paused')
      await expect(client.add(hash.toUpperCase())).rejects.toMatchObject({ code: 'ERR_DUPLICATE_TORRENT' })
      await expect(client.add(hash, { signal: AbortSignal.abort() })).rejects.toThrow()
      expect(() => added.createReadStream(0)).toThrow(expect.objectContaining({ code: 'ERR_NO_METADATA' }))
    } finally {
      await client.close()
    }
    await expect(TorrentClient.newWithStorage({} as never)).rejects.toBeInstanceOf(TypeError)
    await expect(
      TorrentClient.newWithStorage(new MemoryStorage(), { listen: 'nonsense' }),
    ).rejects.toBeInstanceOf(TypeError)
    await expect(
      TorrentClient.newWithStorage(new MemoryStorage(), { downloadLimit: -1 }),
    ).rejects.toBeInstanceOf(RangeError)
  })
})

describe('controls', () => {
  it('pause, resume, remove keeping the data, then remove deleting it; close twice', async () => {
    const dir = await tempDir('controls')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'ctl.bin',
        [{ path: 'ctl.bin', length: 3_000_000 }],
        {
          pieceLength: 32768,
          seed: 61,
        },
      )
      const torrentPath = join(dir.path, 'ctl.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const seeder = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'source'),
        role: 'seed',
        uploadRateLimit: 1_500_000,
      })
      const storage = await ChunkStorage.open({ directory: join(dir.path, 'store') })
      const client = await TorrentClient.newWithStorage(storage, loopback)
      const added = await client.add(torrentPath, { peers: [`127.0.0.1:${seeder.port}`] })
      await new Promise<void>((resolve) => added.once('piece', () => resolve()))
      added.pause()
      expect(added.state).toBe('paused')
      expect(added.status().paused).toBe(true)
      added.resume()
      await added.done({ signal: AbortSignal.timeout(30_000) })
      expect(client.stats()).toMatchObject({ torrents: 1 })
      expect(client.stats().storage?.piecesVerified).toBeGreaterThan(0)

      await added.remove()
      expect(client.torrents).toEqual([])
      let stored = await storage.listTorrents()
      expect(stored[0]?.verifiedCount).toBe(torrent.info.pieceCount)

      const again = await client.add(torrent.bytes)
      await again.done({ signal: AbortSignal.timeout(10_000) })
      expect(again.status().totalDownload).toBe(0)
      await again.remove({ deleteData: true })
      stored = await storage.listTorrents()
      expect(stored).toEqual([])
      expect(client.stats().storage?.chunkCount).toBe(0)

      const closing = client.close()
      expect(client.close()).toBe(closing)
      await closing
      await expect(client.add(torrent.bytes)).rejects.toMatchObject({ code: 'ERR_CLIENT_CLOSED' })
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })

  it('done({ signal }) rejects when aborted; the download goes on', async () => {
    const dir = await tempDir('abort')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'abort.bin',
        [{ path: 'abort.bin', length: 2_000_000 }],
        {
          pieceLength: 32768,
          seed: 62,
        },
      )
      const seeder = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'source'),
        role: 'seed',
        uploadRateLimit: 1_000_000,
      })
      const client = await TorrentClient.newWithStorage(new MemoryStorage(), loopback)
      const added = await client.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`] })
      const controller = new AbortController()
      const waiting = added.done({ signal: controller.signal })
      controller.abort(new Error('stop waiting'))
      await expect(waiting).rejects.toThrow('stop waiting')
      await added.done({ signal: AbortSignal.timeout(30_000) })
      expect(added.verified.size).toBe(torrent.info.pieceCount)
      await client.close()
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })
})
