// Storage faults: a backend that fails writes (EIO, ENOSPC) pauses the torrent with a file
// error and keeps the process alive; a backend that never answers cannot stop close().
import { constants } from 'node:os'
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { type Alert, MemoryDiskIo, type Session, type WritePieceJob } from '../src/index.ts'
import { jsSession, makeTorrent, tempDir } from './helpers.ts'

let session: Session | undefined
afterEach(async () => {
  await session?.close()
  session = undefined
})
afterAll(() => killAllChildren())

async function seededTorrent(name: string) {
  const dir = await tempDir(name)
  const torrent = await makeTorrent(dir.path, name, [{ path: 'data.bin', length: 1_000_000 }], {
    pieceLength: 32768,
    version: 'v1',
  })
  const seeder = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: dir.path, role: 'seed' })
  return { dir, torrent, seeder }
}

describe('storage faults', () => {
  for (const code of ['EIO', 'ENOSPC'] as const) {
    // libtorrent's policy: EIO pauses the torrent with the error; ENOSPC (like EROFS, EACCES)
    // switches it to upload mode, still seeding what it has.
    it(`${code} on write: file error alert, torrent stopped downloading with that error, process alive`, async () => {
      const { dir, torrent, seeder } = await seededTorrent(`fault-${code.toLowerCase()}`)
      try {
        const disk = new MemoryDiskIo()
        disk.writePiece = (job: WritePieceJob) => {
          if (job.piece === 5) throw Object.assign(new Error(`simulated ${code}`), { code, fileIndex: 0 })
          MemoryDiskIo.prototype.writePiece.call(disk, job)
        }
        session = jsSession(disk)
        const { infoHash } = session.addTorrent({
          torrent: torrent.bytes,
          peers: [`127.0.0.1:${seeder.port}`],
        })
        const alert: Alert = await session.waitForAlert(
          (a) => a.type === 'file_error' && a.infoHash === infoHash,
          {
            timeout: 30_000,
          },
        )
        expect(alert.error?.value).toBe(constants.errno[code])
        expect(alert.operation).toBe('file_write')
        const status = session.status(infoHash)
        if (code === 'EIO') {
          expect(status.paused).toBe(true)
          expect(status.error?.value).toBe(constants.errno[code])
        } else {
          expect(status.uploadMode).toBe(true)
        }
        expect(status.finished).toBe(false)
        // The same session keeps working: the fault cleared, resume finishes the download.
        disk.writePiece = MemoryDiskIo.prototype.writePiece.bind(disk)
        session.resume(infoHash)
        session.connectPeer(infoHash, `127.0.0.1:${seeder.port}`)
        await session.waitForAlert((a) => a.type === 'torrent_finished' && a.infoHash === infoHash, {
          timeout: 30_000,
        })
        expect(session.status(infoHash).error).toBeUndefined()
        await seeder.stop()
      } finally {
        await dir.remove()
      }
    })
  }

  it('a backend that never answers: close() still completes within seconds', async () => {
    const { dir, torrent, seeder } = await seededTorrent('fault-hang')
    try {
      let writes = 0
      const disk = new MemoryDiskIo()
      disk.writePiece = () => {
        writes++
        return new Promise<void>(() => {})
      }
      session = jsSession(disk)
      const { infoHash } = session.addTorrent({ torrent: torrent.bytes, peers: [`127.0.0.1:${seeder.port}`] })
      const deadline = Date.now() + 20_000
      while (writes === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(writes).toBeGreaterThan(0)
      expect(session.bridgeStats().pendingJobs).toBeGreaterThan(0)
      expect(session.status(infoHash).finished).toBe(false)
      const started = Date.now()
      await session.close()
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(() => session?.status(infoHash)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_CLOSED' }))
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })

  it('answers that arrive after close() are ignored', async () => {
    const { dir, torrent, seeder } = await seededTorrent('fault-late')
    try {
      const late: Array<() => void> = []
      const disk = new MemoryDiskIo()
      disk.writePiece = (job) =>
        new Promise<void>((resolve) => {
          late.push(() => {
            MemoryDiskIo.prototype.writePiece.call(disk, job)
            resolve()
          })
        })
      session = jsSession(disk)
      session.addTorrent({ torrent: torrent.bytes, peers: [`127.0.0.1:${seeder.port}`] })
      const deadline = Date.now() + 20_000
      while (late.length === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50))
      await session.close()
      for (const answer of late) answer()
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(session.closed).toBe(true)
      await seeder.stop()
    } finally {
      await dir.remove()
    }
  })
})
