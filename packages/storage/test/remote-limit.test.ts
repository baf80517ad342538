// The cache limit with a remote tier while writes outrun uploads (a download faster than the
// bucket): writes wait for uploads and eviction so the local cache stays within the limit plus
// one chunk, and stop waiting when the endpoint is down (the limit is exceeded, with a warning).
// A real S3 API over HTTP (s3rver behind the test proxy, slowed down per PUT) on 127.0.0.1.

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ChunkStorage, type StorageWarning, type TorrentStorage } from '../src/index.ts'
import { pieceData, simpleGeometry } from '../src/seeded-data.ts'
import { startS3, type TestS3 } from './fixtures/s3-server.ts'

const CHUNK = 64 * 1_024
const PIECE = 16 * 1_024
const TOTAL = 16 * CHUNK // 16 chunks, 64 pieces
const PIECES = TOTAL / PIECE
const LIMIT = 4 * CHUNK
const INFO_HASH = 'd12fe1c06bba254a9dc9f519b335aa7c1367a88a'

let s3: TestS3
let bucketCount = 0
const stores: ChunkStorage[] = []
const directories: string[] = []

beforeAll(async () => {
  s3 = await startS3()
})

afterAll(async () => {
  await s3?.close()
})

afterEach(async () => {
  s3.mode = 'up'
  s3.putDelayMs = 0
  for (const storage of stores.splice(0)) await storage.close()
  for (const path of directories.splice(0)) await rm(path, { recursive: true, force: true })
})

async function openStore(options: { holdCacheLimit?: boolean } = {}): Promise<ChunkStorage> {
  const bucket = `chunktorrent-limit-${++bucketCount}`
  await s3.createBucket(bucket)
  const directory = await mkdtemp(join(tmpdir(), 'chunktorrent-limit-'))
  directories.push(directory)
  const storage = await ChunkStorage.open({
    directory,
    chunkSize: CHUNK,
    cacheLimitBytes: LIMIT,
    pinOpenTorrents: false,
    ...options,
    remote: {
      endpoint: s3.endpoint,
      bucket,
      credentials: s3.credentials,
      encryptionKey: randomBytes(32),
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 200,
      requestTimeoutMs: 5_000,
      uploadConcurrency: 2,
    },
  })
  stores.push(storage)
  return storage
}

/** Writes and verifies every piece in order, 8 at a time (an engine's window), sampling the cache. */
async function download(storage: ChunkStorage, torrent: TorrentStorage): Promise<number> {
  let peak = 0
  let next = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < PIECES) {
        const index = next++
        await torrent.writePiece(index, pieceData(INFO_HASH, index, PIECE))
        peak = Math.max(peak, storage.stats().bytesOnDisk)
        await torrent.markVerified(index)
      }
    }),
  )
  return peak
}

/** Eviction brings the cache back to its limit within 10 s once the uploads are confirmed. */
async function shrinksToLimit(storage: ChunkStorage): Promise<void> {
  const deadline = Date.now() + 10_000
  while (storage.stats().bytesOnDisk > LIMIT && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  expect(storage.stats().bytesOnDisk).toBeLessThanOrEqual(LIMIT)
}

async function expectReadsBack(torrent: TorrentStorage): Promise<void> {
  for (let index = 0; index < PIECES; index++) {
    expect(
      (await torrent.readPiece(index)).equals(pieceData(INFO_HASH, index, PIECE)),
      `piece ${index}`,
    ).toBe(true)
  }
}

describe('ChunkStorage cache limit with a slow remote tier', () => {
  it('holds the limit (plus one chunk) while writes outrun uploads, and loses nothing', async () => {
    s3.putDelayMs = 100
    const storage = await openStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const peak = await download(storage, torrent)
    expect(peak).toBeLessThanOrEqual(LIMIT + CHUNK)
    const stats = storage.stats()
    expect(stats.remote?.writesDelayed).toBeGreaterThan(0)
    expect(stats.bytesOnDisk).toBeLessThanOrEqual(LIMIT + CHUNK)
    // Hovering at the limit (one chunk over at most) warns once, not at every crossing.
    expect(warnings.filter((warning) => warning.code === 'ERR_CACHE_OVER_LIMIT').length).toBeLessThanOrEqual(
      1,
    )
    s3.putDelayMs = 0
    await storage.flushUploads()
    expect(storage.stats().remote).toMatchObject({ objects: TOTAL / CHUNK, pendingUploads: 0 })
    await expectReadsBack(torrent)
    expect(storage.stats().bytesOnDisk).toBeLessThanOrEqual(LIMIT + CHUNK)
  })

  it('with holdCacheLimit: false, writes never wait: the cache grows past the limit, then shrinks to it', async () => {
    s3.putDelayMs = 100
    const storage = await openStore({ holdCacheLimit: false })
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const peak = await download(storage, torrent)
    expect(peak).toBeGreaterThan(LIMIT + CHUNK)
    expect(storage.stats().remote?.writesDelayed).toBe(0)
    s3.putDelayMs = 0
    await storage.flushUploads()
    await shrinksToLimit(storage)
    await expectReadsBack(torrent)
  })

  it('closes within the limit: the last uploads confirmed let their chunks go before close resolves', async () => {
    const storage = await openStore()
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    s3.mode = 'fail'
    await download(storage, torrent) // uploads fail: the writes go past the limit
    s3.mode = 'up'
    await storage.flushUploads()
    await storage.close()
    stores.splice(stores.indexOf(storage), 1)
    // Opened without the remote tier, the store evicts nothing: this is what close left on disk.
    const reopened = await ChunkStorage.open({ directory: storage.directory })
    stores.push(reopened)
    expect(reopened.stats().bytesOnDisk).toBeLessThanOrEqual(LIMIT)
  })

  it('stops waiting when the endpoint is down: the writes complete past the limit, with a warning', async () => {
    const storage = await openStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    s3.mode = 'fail'
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const started = performance.now()
    await download(storage, torrent)
    expect(performance.now() - started).toBeLessThan(8_000)
    expect(storage.stats().bytesOnDisk).toBe(TOTAL)
    expect(warnings.map((warning) => warning.code)).toEqual(
      expect.arrayContaining(['ERR_REMOTE_UPLOAD_FAILING', 'ERR_CACHE_OVER_LIMIT']),
    )
    // The endpoint comes back: everything is uploaded and the cache shrinks to the limit.
    s3.mode = 'up'
    await storage.flushUploads()
    await shrinksToLimit(storage)
    await expectReadsBack(torrent)
  })
})
