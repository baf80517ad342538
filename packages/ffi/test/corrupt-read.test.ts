// A backend that returns corrupt data on a hash read. In seed mode libtorrent verifies each
// piece (reading it back) the first time a peer asks for it; libtorrent 2.0.8 answers a failed
// verification by leaving seed mode with a full recheck (no hash_failed alert on that path),
// after which the bad piece is missing and fetched again from the other seeder. The leecher we
// serve ends with correct bytes and so does the backend.
import { join } from 'node:path'
import { compareTrees, killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, expect, it } from 'vitest'
import { type Alert, MemoryDiskIo } from '../src/index.ts'
import { flatStream, jsSession, makeTorrent, pieceOf, tempDir } from './helpers.ts'

afterAll(() => killAllChildren())

it('corrupt data on a hash read: the piece fails verification, is fetched again, final bytes correct', async () => {
  const dir = await tempDir('corrupt-read')
  const session = (() => {
    const disk = new MemoryDiskIo()
    return { disk, session: jsSession(disk) }
  })()
  try {
    const torrent = await makeTorrent(
      join(dir.path, 'source'),
      'corrupt',
      [{ path: 'corrupt', length: 600_000 }],
      {
        pieceLength: 32768,
        version: 'v1',
        seed: 11,
      },
    )
    const stream = await flatStream(torrent)
    const badPiece = 4
    const pieces = new Map<number, Buffer>()
    for (let piece = 0; piece < torrent.info.pieceCount; piece++) {
      const data = Buffer.from(pieceOf(stream, torrent.info, piece))
      if (piece === badPiece) data[100] = (data[100] ?? 0) ^ 0xff
      pieces.set(piece, data)
    }
    session.disk.torrents.set(torrent.info.infoHash, pieces)
    const goodSeeder = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'source'),
      role: 'seed',
    })
    const alerts: Alert[] = []
    session.session.on('alert', (alert) => alerts.push(alert))
    const { infoHash } = session.session.addTorrent({
      torrent: torrent.bytes,
      seedMode: true,
      peers: [`127.0.0.1:${goodSeeder.port}`],
    })
    const leecher = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'leecher'),
      role: 'leech',
      connect: [`127.0.0.1:${session.session.listenPort()}`],
    })
    await leecher.done(45_000)
    expect(
      await compareTrees(join(dir.path, 'source', 'corrupt'), join(dir.path, 'leecher', 'corrupt')),
    ).toEqual([])
    const bad = () => alerts.findIndex((alert) => alert.type === 'piece_finished' && alert.piece === badPiece)
    const deadline = Date.now() + 30_000
    while (bad() < 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    // The verification failure sent the torrent back to checking; the recheck did not find the
    // bad piece, so it was downloaded again (its piece_finished comes after the check ended).
    const recheck = alerts.findIndex(
      (alert) => alert.type === 'state_changed' && alert.state === 'checking_files',
    )
    const checked = alerts.findLastIndex((alert) => alert.type === 'torrent_checked')
    expect(recheck).toBeGreaterThan(-1)
    expect(bad()).toBeGreaterThan(checked)
    await session.session.diskIdle()
    expect(
      session.disk.torrents
        .get(infoHash)
        ?.get(badPiece)
        ?.equals(pieceOf(stream, torrent.info, badPiece)),
    ).toBe(true)
    await Promise.all([leecher.stop(), goodSeeder.stop()])
  } finally {
    await session.session.close()
    await dir.remove()
  }
})
