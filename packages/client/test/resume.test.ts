// Restart: a client killed (SIGKILL) half-way through a download is started again on the same
// store; it finishes without downloading verified pieces again, and the result is
// byte-identical. Also: a recheck rebuilds the verified set from the stored bytes.
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ChunkStorage } from '@chunktorrent/storage'
import { killAllChildren, LineSplitter, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, expect, it } from 'vitest'
import { TorrentClient } from '../src/index.ts'
import { collect, doneWithin, loopback, makeTorrent, tempDir } from './helpers.ts'

const child = fileURLToPath(new URL('./fixtures/download-child.ts', import.meta.url))
afterAll(() => killAllChildren())

interface ChildEvent {
  event: string
  verified: number
  received?: number
  pieceCount?: number
}

function runChild(
  args: string[],
  until: (event: ChildEvent) => boolean,
): Promise<{ events: ChildEvent[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const events: ChildEvent[] = []
    let killed = false
    let stderr = ''
    const splitter = new LineSplitter()
    proc.stdout.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk.toString('utf8'))) {
        if (!line.startsWith('{')) continue
        const event = JSON.parse(line) as ChildEvent
        events.push(event)
        if (!killed && until(event)) {
          killed = true
          proc.kill('SIGKILL')
        }
      }
    })
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`child timed out; stderr:\n${stderr}`))
    }, 60_000)
    proc.on('exit', (code) => {
      clearTimeout(timer)
      if (!killed && code !== 0) reject(new Error(`child exited ${code}; stderr:\n${stderr}`))
      else resolve({ events, killed })
    })
  })
}

it('SIGKILL at ~50%, restart on the same store: no verified piece downloaded again, bytes identical', async () => {
  const dir = await tempDir('restart')
  try {
    const torrent = await makeTorrent(
      join(dir.path, 'source'),
      'restart.bin',
      [{ path: 'restart.bin', length: 8_000_000 }],
      {
        pieceLength: 65536,
        seed: 31,
      },
    )
    const torrentPath = join(dir.path, 'restart.torrent')
    await writeFile(torrentPath, torrent.bytes)
    const seeder = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'source'),
      role: 'seed',
      uploadRateLimit: 2_000_000,
    })
    const store = join(dir.path, 'store')
    const pieceCount = torrent.info.pieceCount
    const first = await runChild(
      [store, torrentPath, String(seeder.port)],
      (event) => event.verified >= pieceCount / 2,
    )
    expect(first.killed).toBe(true)

    const storage = await ChunkStorage.open({ directory: store })
    const [stored] = await storage.listTorrents()
    await storage.close()
    const verifiedBefore = stored?.verifiedCount ?? 0
    expect(verifiedBefore).toBeGreaterThanOrEqual(pieceCount / 2 - 1)
    expect(verifiedBefore).toBeLessThan(pieceCount)

    const second = await runChild([store, torrentPath, String(seeder.port)], () => false)
    const added = second.events.find((event) => event.event === 'added')
    const done = second.events.find((event) => event.event === 'done')
    expect(added?.verified).toBe(verifiedBefore)
    expect(done?.verified).toBe(pieceCount)
    // Only the missing pieces came over the wire (a few in flight may be fetched twice).
    const missingBytes = (pieceCount - verifiedBefore) * torrent.info.pieceLength
    expect(done?.received).toBeLessThanOrEqual(missingBytes + 8 * torrent.info.pieceLength)
    expect(done?.received).toBeLessThan(torrent.info.length * 0.75)
    await seeder.stop()

    // Byte-identical, read back through a client seeding from the store.
    const client = await TorrentClient.newWithStorage(await ChunkStorage.open({ directory: store }), loopback)
    const seeding = await client.add(torrent.bytes)
    await seeding.done({ signal: AbortSignal.timeout(10_000) })
    const bytes = await collect(seeding.createReadStream(0))
    expect(bytes.equals(await readFile(join(dir.path, 'source', 'restart.bin')))).toBe(true)
    await client.close()
  } finally {
    await dir.remove()
  }
})

it('recheck: hashes what the store holds and repairs the verified set', async () => {
  const dir = await tempDir('recheck')
  try {
    const torrent = await makeTorrent(
      join(dir.path, 'source'),
      'recheck',
      [{ path: 'data.bin', length: 1_000_000 }],
      {
        pieceLength: 32768,
        seed: 32,
      },
    )
    const seeder = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'source'),
      role: 'seed',
    })
    const store = join(dir.path, 'store')
    const client = await TorrentClient.newWithStorage(await ChunkStorage.open({ directory: store }), loopback)
    await doneWithin(
      await client.add(torrent.bytes, { peers: [`127.0.0.1:${seeder.port}`] }),
      30_000,
      'the first download',
    )
    await client.close()
    await seeder.stop()

    // Lose part of the verified set (as if its records were gone), keep the bytes.
    const storage = await ChunkStorage.open({ directory: store })
    const handle = await storage.openTorrent({
      infoHash: torrent.info.infoHash,
      name: torrent.info.name,
      pieceLength: torrent.info.pieceLength,
      totalSize: torrent.info.length,
      files: torrent.info.files,
    })
    const original = await handle.readPiece(3)
    await handle.writePiece(3, original) // re-writing un-verifies the piece; the bytes stay
    await handle.writePiece(7, await handle.readPiece(7))
    expect(await handle.verifiedPieces()).not.toContain(3)
    await handle.close()

    const again = await TorrentClient.newWithStorage(storage, loopback)
    const rechecked = await again.add(torrent.bytes, { recheck: true })
    await doneWithin(rechecked, 30_000, 'the recheck')
    expect(rechecked.status().totalDownload).toBe(0)
    expect(rechecked.verified.size).toBe(torrent.info.pieceCount)
    const [stored] = await storage.listTorrents()
    expect(stored?.verifiedCount).toBe(torrent.info.pieceCount)
    await again.close()
  } finally {
    await dir.remove()
  }
})
