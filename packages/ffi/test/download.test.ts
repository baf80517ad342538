// Downloads from a real python3-libtorrent seeder (default storage) into the JavaScript
// in-memory backend, for v1, hybrid and v2 multi-file torrents and through a magnet link.
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { MemoryDiskIo, type Session } from '../src/index.ts'
import { flatStream, jsSession, makeTorrent, tempDir } from './helpers.ts'

const files = [
  { path: 'a.bin', length: 700_000 },
  { path: 'empty.txt', length: 0 },
  { path: 'sub/b.bin', length: 1_234_567 },
  { path: 'sub/c.bin', length: 40_000 },
]

let session: Session | undefined
afterEach(async () => {
  await session?.close()
  session = undefined
})
afterAll(() => killAllChildren())

describe('download into a JavaScript backend', () => {
  for (const version of ['v1', 'hybrid', 'v2'] as const) {
    it(`${version} multi-file torrent, every byte verified`, async () => {
      const dir = await tempDir(`download-${version}`)
      try {
        const torrent = await makeTorrent(dir.path, 'album', files, { pieceLength: 65536, version, seed: 7 })
        const payload = torrent.info.files
          .filter((file) => !file.pad)
          .reduce((sum, file) => sum + file.length, 0)
        expect(payload % torrent.info.pieceLength).not.toBe(0)
        const seeder = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: dir.path, role: 'seed' })
        const disk = new MemoryDiskIo()
        session = jsSession(disk)
        const added = session.addTorrent({
          torrent: torrent.bytes,
          savePath: '/nonexistent/never-written',
          peers: [`127.0.0.1:${seeder.port}`],
        })
        expect(added.infoHash).toBe(torrent.info.infoHash)
        await session.waitForAlert(
          (alert) => alert.type === 'torrent_finished' && alert.infoHash === added.infoHash,
          {
            timeout: 45_000,
          },
        )
        await session.diskIdle()
        const expected = await flatStream(torrent)
        const stored = disk.contents(added.infoHash, torrent.info.length, torrent.info.pieceLength)
        expect(stored.equals(expected)).toBe(true)
        expect(session.status(added.infoHash).seeding).toBe(true)
        const stats = session.bridgeStats()
        expect(stats.piecesWritten).toBe(torrent.info.pieceCount)
        await seeder.stop()
      } finally {
        await dir.remove()
      }
    })
  }

  it('magnet link: metadata from the peer, then the data', async () => {
    const dir = await tempDir('magnet')
    try {
      const torrent = await makeTorrent(dir.path, 'magnet-album', files, {
        pieceLength: 32768,
        version: 'v1',
        seed: 9,
      })
      const seeder = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: dir.path, role: 'seed' })
      const disk = new MemoryDiskIo()
      session = jsSession(disk)
      const added = session.addTorrent({
        magnet: `magnet:?xt=urn:btih:${torrent.info.infoHash}`,
        savePath: '/nonexistent',
        peers: [`127.0.0.1:${seeder.port}`],
      })
      await session
        .waitForAlert((alert) => alert.type === 'metadata_received' && alert.infoHash === added.infoHash, {
          timeout: 30_000,
        })
        .catch(async (error: unknown) => {
          // Seen once in CI (not reproduced in 12 runs): say where both sides stood.
          const ours = JSON.stringify(session?.status(added.infoHash))
          const theirs = JSON.stringify(
            await seeder.status(5_000).catch((statusError) => String(statusError)),
          )
          throw new Error(`no metadata within 30 s; our torrent ${ours}; the seeder ${theirs}`, {
            cause: error,
          })
        })
      await session.waitForAlert(
        (alert) => alert.type === 'torrent_finished' && alert.infoHash === added.infoHash,
        {
          timeout: 45_000,
        },
      )
      await session.diskIdle()
      const stored = disk.contents(added.infoHash, torrent.info.length, torrent.info.pieceLength)
      expect(stored.equals(await flatStream(torrent))).toBe(true)
      expect(session.torrentInfo(added.infoHash)?.name).toBe('magnet-album')
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })
})
