// Piece memory: what a burst of downloading leaves free in the native pool goes back to the kernel
// once the session is quiet (down to 16 MiB), instead of staying resident for the life of the
// process. A backend whose writes are slow makes the burst: pieces wait in the write-back buffer
// up to the disk-queue watermark, and are freed when their writes settle.
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, afterEach, expect, it } from 'vitest'
import { type DiskIo, MemoryDiskIo, type Session } from '../src/index.ts'
import { jsSession, makeTorrent, tempDir } from './helpers.ts'

const MiB = 1_048_576
let session: Session | undefined
afterEach(async () => {
  await session?.close()
  session = undefined
})
afterAll(() => killAllChildren())

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

it('free piece memory left by a burst is handed back within seconds, down to 16 MiB', async () => {
  const dir = await tempDir('piece-memory')
  try {
    const torrent = await makeTorrent(dir.path, 'burst', [{ path: 'burst.bin', length: 64 * MiB }], {
      pieceLength: MiB,
      version: 'v1',
      seed: 21,
    })
    const seeder = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: dir.path, role: 'seed' })
    const inner = new MemoryDiskIo()
    // Copies what it stores (the native piece is released when the write settles) and stores slowly.
    const disk: DiskIo = {
      retainsWriteData: false,
      open: (storage) => inner.open(storage),
      async writePiece(job) {
        await sleep(150)
        inner.writePiece({ ...job, data: Buffer.from(job.data) })
      },
      readPiece: (job) => inner.readPiece(job),
      checkFiles: (job) => inner.checkFiles(job),
      clearPiece: (job) => inner.clearPiece(job),
      deleteFiles: (job) => inner.deleteFiles(job),
    }
    session = jsSession(disk, {}, { readCacheBytes: 0 }) // the clean-piece cache keeps its floor only
    const added = session.addTorrent({
      torrent: torrent.bytes,
      savePath: '/nonexistent/never-written',
      peers: [`127.0.0.1:${seeder.port}`],
    })
    let mostFree = 0
    const sampler = setInterval(() => {
      mostFree = Math.max(mostFree, session?.bridgeStats().pieceMemoryFreeBytes ?? 0)
    }, 20)
    try {
      await session.waitForAlert(
        (alert) => alert.type === 'torrent_finished' && alert.infoHash === added.infoHash,
        { timeout: 60_000 },
      )
      await session.diskIdle()
      await sleep(100)
    } finally {
      clearInterval(sampler)
    }
    mostFree = Math.max(mostFree, session.bridgeStats().pieceMemoryFreeBytes ?? 0)
    // The burst: more free memory than the floor (else this test would show nothing).
    expect(mostFree, `most free piece memory seen: ${mostFree} bytes`).toBeGreaterThan(20 * MiB)
    const deadline = Date.now() + 5_000
    while ((session.bridgeStats().pieceMemoryFreeBytes ?? 0) > 16 * MiB && Date.now() < deadline)
      await sleep(100)
    expect(session.bridgeStats().pieceMemoryFreeBytes).toBeLessThanOrEqual(16 * MiB)
    // Every piece was stored (the backend's copy, not the native memory handed back).
    const stored = inner.contents(added.infoHash, torrent.info.length, torrent.info.pieceLength)
    expect(stored.length).toBe(64 * MiB)
    await seeder.stop()
  } finally {
    await dir.remove()
  }
})
