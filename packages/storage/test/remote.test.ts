// The remote tier against a real S3 API over HTTP (s3rver behind a counting proxy, started here on
// 127.0.0.1) with the real AWS SDK: uploads after verify, envelopes not plaintext, eviction under a
// small cache limit, read-through, one fetch for concurrent reads, tampered objects, a dead endpoint,
// restarts mid-upload, no needless re-upload, two stores sharing a bucket, and the key sources.
// Deleting a torrent deletes its objects: in the background, recorded first, retried while the
// endpoint is down, resumed after a restart, never another store's objects. The cache limit while
// writes outrun the uploads (a slow endpoint), and while the endpoint is down.

import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { setTestHooks } from '../src/chunk-storage.ts'
import {
  ChunkStorage,
  type ChunkStorageOptions,
  decodeEnvelope,
  objectKeyFor,
  parseEnvelope,
  type RemoteTierOptions,
  StorageError,
  type StorageWarning,
  type TorrentStorage,
} from '../src/index.ts'
import { pieceData, simpleGeometry } from '../src/seeded-data.ts'
import { startS3, type TestS3 } from './fixtures/s3-server.ts'

const KiB = 1_024
const CHUNK = 64 * KiB
const PIECE = 16 * KiB
const TOTAL = 8 * CHUNK // 8 chunks, 32 pieces
const PIECES = TOTAL / PIECE
const INFO_HASH = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
const OTHER_HASH = 'a12fe1c06bba254a9dc9f519b335aa7c1367a88b'

let s3: TestS3
let bucket: string
let bucketCount = 0
let directory: string
const key = randomBytes(32)
const stores: ChunkStorage[] = []
const directories: string[] = []

beforeAll(async () => {
  s3 = await startS3()
})

afterAll(async () => {
  await s3?.close()
})

beforeEach(async () => {
  s3.mode = 'up'
  s3.requests.length = 0
  bucket = `chunktorrent-test-${++bucketCount}`
  await s3.createBucket(bucket)
  directory = await newDirectory()
})

afterEach(async () => {
  s3.mode = 'up'
  s3.putDelayMs = 0
  for (const storage of stores.splice(0)) await storage.close()
  for (const path of directories.splice(0)) await rm(path, { recursive: true, force: true })
})

async function newDirectory(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'chunktorrent-remote-'))
  directories.push(path)
  return path
}

function remoteOptions(extra: Partial<RemoteTierOptions> = {}): RemoteTierOptions {
  return {
    endpoint: s3.endpoint,
    bucket,
    region: 'us-east-1',
    credentials: s3.credentials,
    encryptionKey: key,
    retryBaseDelayMs: 20,
    retryMaxDelayMs: 200,
    requestTimeoutMs: 5_000,
    ...extra,
  }
}

async function openStore(
  options: Partial<ChunkStorageOptions> = {},
  remote: Partial<RemoteTierOptions> = {},
): Promise<ChunkStorage> {
  const storage = await ChunkStorage.open({
    directory,
    chunkSize: CHUNK,
    ...options,
    remote: remoteOptions(remote),
  })
  stores.push(storage)
  return storage
}

async function closeStore(storage: ChunkStorage): Promise<void> {
  stores.splice(stores.indexOf(storage), 1)
  await storage.close()
}

function range(count: number, from = 0): number[] {
  return Array.from({ length: count }, (_, index) => from + index)
}

async function writeAndVerify(torrent: TorrentStorage, pieces: number[]): Promise<void> {
  await Promise.all(
    pieces.map(async (index) => {
      await torrent.writePiece(index, pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index)))
      await torrent.markVerified(index)
    }),
  )
}

async function expectReadsBack(torrent: TorrentStorage, pieces: number[]): Promise<void> {
  for (const index of pieces) {
    const expected = pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index))
    expect((await torrent.readPiece(index)).equals(expected), `piece ${index}`).toBe(true)
  }
}

function query<T>(path: string, sql: string): T[] {
  const database = new Database(join(path, 'index.db'), { readonly: true })
  try {
    return database.prepare(sql).all() as T[]
  } finally {
    database.close()
  }
}

/**
 * Stores a and b on one bucket, each with a one-chunk cache: a holds INFO_HASH, b holds the same
 * torrent and OTHER_HASH; every piece verified, every chunk uploaded (24 objects).
 */
async function twoStoresSharingTheBucket() {
  const a = await openStore({ cacheLimitBytes: CHUNK })
  const b = await ChunkStorage.open({
    directory: await newDirectory(),
    chunkSize: CHUNK,
    cacheLimitBytes: CHUNK,
    remote: remoteOptions(),
  })
  stores.push(b)
  const ta = await a.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
  const tb = await b.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL)) // the same torrent in both
  const tc = await b.openTorrent(simpleGeometry(OTHER_HASH, PIECE, TOTAL))
  await Promise.all([
    writeAndVerify(ta, range(PIECES)),
    writeAndVerify(tb, range(PIECES)),
    writeAndVerify(tc, range(PIECES)),
  ])
  await Promise.all([a.flushUploads(), b.flushUploads()])
  expect(await s3.listKeys(bucket)).toHaveLength(24)
  return { a, b, ta, tb, tc }
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * The chunk ids by chunk index, while the store is open (its index is locked): read from the
 * bucket, each object's plaintext identifying its chunk.
 */
async function chunkIds(infoHash = INFO_HASH): Promise<string[]> {
  const ids: string[] = []
  for (const objectKey of await s3.listKeys(bucket)) {
    const plaintext = decodeEnvelope(await s3.getObject(bucket, objectKey), key).plaintext
    for (let chunkIndex = 0; chunkIndex < TOTAL / CHUNK; chunkIndex++) {
      if (plaintext.subarray(0, PIECE).equals(pieceData(infoHash, chunkIndex * 4, PIECE))) {
        ids[chunkIndex] = objectKey.split('/').pop()!.replace('.enc', '')
      }
    }
  }
  return ids
}

const puts = () => s3.requests.filter((line) => line.startsWith('PUT ') && line.endsWith('.enc'))
const gets = (id?: string) =>
  s3.requests.filter(
    (line) => line.startsWith('GET ') && line.endsWith(id === undefined ? '.enc' : `${id}.enc`),
  )

/** A store whose torrent was written, uploaded, closed (unpinned) and evicted down to the limit. */
async function evictedStore(limitChunks = 2): Promise<ChunkStorage> {
  const storage = await openStore({ cacheLimitBytes: limitChunks * CHUNK })
  const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
  await writeAndVerify(torrent, range(PIECES))
  await storage.flushUploads()
  await torrent.close()
  await until(() => storage.stats().bytesOnDisk <= limitChunks * CHUNK, 'eviction')
  return storage
}

describe('ChunkStorage with a remote tier', () => {
  it('uploads a chunk once all its pieces are verified, under the parity key, and records it', async () => {
    const storage = await openStore({}, { prefix: 'store-a/' })
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    // Three of chunk 0's four pieces: not complete, nothing uploaded.
    await writeAndVerify(torrent, [0, 1, 2])
    await torrent.writePiece(3, pieceData(INFO_HASH, 3, PIECE)) // written, not verified
    await storage.flushUploads()
    expect(puts()).toEqual([])
    expect(storage.stats().remote).toMatchObject({ objects: 0, pendingUploads: 0, uploadsDone: 0 })
    await torrent.markVerified(3)
    await storage.flushUploads()
    const stats = storage.stats()
    await closeStore(storage)
    const [id] = query<{ id: string }>(directory, 'SELECT id FROM chunks WHERE chunk_index = 0').map(
      (row) => row.id,
    )
    const key = `store-a/${objectKeyFor(id!)}`
    expect(key).toMatch(/^store-a\/chunks\/[0-9a-f]{2}\/[0-9a-f-]{2}\/[0-9a-f-]{36}\.enc$/)
    expect(await s3.listKeys(bucket)).toEqual([key])
    const rows = query<{ chunk_id: string; location: string; size_bytes: number; key_id: string }>(
      directory,
      'SELECT chunk_id, location, size_bytes, key_id FROM chunk_uploads',
    )
    const object = await s3.getObject(bucket, key)
    expect(rows).toEqual([
      { chunk_id: id, location: `s3://${bucket}/${key}`, size_bytes: object.length, key_id: 'master' },
    ])
    expect(stats.remote).toMatchObject({
      objects: 1,
      bytes: object.length,
      pendingUploads: 0,
      uploadsDone: 1,
      uploadsFailed: 0,
    })
  })

  it('stores envelopes, not plaintext: AES-256-GCM with a fresh nonce, the key id, and the key nowhere in the index', async () => {
    const storage = await openStore()
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await storage.flushUploads()
    const keys = await s3.listKeys(bucket)
    expect(keys).toHaveLength(8)
    const nonces = new Set<string>()
    const ids = await chunkIds()
    for (const [chunkIndex, id] of ids.entries()) {
      const object = await s3.getObject(bucket, objectKeyFor(id))
      const parts = parseEnvelope(object)
      expect(parts.keyId).toBe('master')
      expect(parts.nonce).toHaveLength(12)
      nonces.add(parts.nonce.toString('hex'))
      const plaintext = Buffer.concat(
        range(4, chunkIndex * 4).map((index) => pieceData(INFO_HASH, index, PIECE)),
      )
      expect(object.includes(plaintext.subarray(0, 64))).toBe(false)
      expect(decodeEnvelope(object, key).plaintext.equals(plaintext)).toBe(true)
    }
    expect(nonces.size).toBe(8)
    await closeStore(storage)
    const index = await readFile(join(directory, 'index.db'))
    expect(index.includes(key)).toBe(false)
    expect(index.includes(Buffer.from(key.toString('hex')))).toBe(false)
  })

  it('evicts uploaded, unpinned chunks down to a small cache limit, least recently used first', async () => {
    const storage = await evictedStore(2)
    const stats = storage.stats()
    expect(stats.bytesOnDisk).toBeLessThanOrEqual(2 * CHUNK)
    expect(stats.chunkCount).toBeLessThanOrEqual(2)
    expect(stats.overLimit).toBe(false)
    expect((await readdir(join(directory, 'chunks'))).filter((name) => name.endsWith('.enc')).length).toBe(
      stats.chunkCount,
    )
    expect(stats.remote).toMatchObject({ objects: 8, pendingUploads: 0 })
  })

  it('keeps chunks not yet uploaded, and pinned chunks, whatever the limit', async () => {
    const storage = await openStore({ cacheLimitBytes: CHUNK })
    s3.mode = 'fail'
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    expect(storage.stats().bytesOnDisk).toBe(TOTAL)
    await torrent.close()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(storage.stats().bytesOnDisk).toBe(TOTAL) // the only copies
    expect(storage.stats().overLimit).toBe(true)
    s3.mode = 'up'
    await storage.flushUploads()
    await until(() => storage.stats().bytesOnDisk <= CHUNK, 'eviction after the uploads')
  })

  it('with pinOpenTorrents: false, holds the cache limit while a torrent larger than it is open', async () => {
    const storage = await openStore({ cacheLimitBytes: 2 * CHUNK, pinOpenTorrents: false })
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    let peak = 0
    for (let chunkIndex = 0; chunkIndex < TOTAL / CHUNK; chunkIndex++) {
      await writeAndVerify(torrent, range(4, chunkIndex * 4))
      await storage.flushUploads()
      await until(() => storage.stats().bytesOnDisk <= 2 * CHUNK, 'eviction')
      peak = Math.max(peak, storage.stats().bytesOnDisk)
    }
    expect(peak).toBeLessThanOrEqual(2 * CHUNK)
    expect(storage.stats()).toMatchObject({ pinnedBytes: 0, overLimit: false })
    // Reads of the open torrent fetch evicted chunks back, and the limit still holds afterwards.
    await expectReadsBack(torrent, range(PIECES))
    await until(() => storage.stats().bytesOnDisk <= 2 * CHUNK, 'eviction after the reads')
    expect(storage.stats().remote?.fetches).toBeGreaterThanOrEqual(6)
    // Re-writing a piece of an evicted chunk fetches the chunk first: its other pieces survive.
    await writeAndVerify(torrent, [1])
    await expectReadsBack(torrent, range(4))
  })

  it('evicts again what concurrent reads fetched back while an eviction ran', async () => {
    const storage = await openStore({ cacheLimitBytes: CHUNK, pinOpenTorrents: false })
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await storage.flushUploads()
    await until(() => storage.stats().bytesOnDisk <= CHUNK, 'eviction after the uploads')
    // Every chunk read back at once: fetches land while eviction passes run.
    const reads = await Promise.all(range(PIECES).map((index) => torrent.readPiece(index)))
    expect(reads.every((bytes, index) => bytes.equals(pieceData(INFO_HASH, index, PIECE)))).toBe(true)
    expect(storage.stats().remote?.fetches).toBeGreaterThanOrEqual(7)
    await until(() => storage.stats().bytesOnDisk <= CHUNK, 'eviction after the reads', 5_000)
  })

  it('reads evicted chunks through from the bucket and puts them back in the cache', async () => {
    const storage = await evictedStore(2)
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    s3.requests.length = 0
    await expectReadsBack(torrent, range(PIECES))
    const fetched = gets().length
    expect(fetched).toBeGreaterThanOrEqual(6)
    expect(storage.stats().remote?.fetches).toBe(fetched)
    // Back in the cache (pinned by the open torrent): read again without the bucket.
    s3.mode = 'fail'
    await expectReadsBack(torrent, range(PIECES))
    expect(gets()).toHaveLength(fetched)
  })

  it('fetches a chunk once for concurrent reads of it', async () => {
    const storage = await evictedStore(1)
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const ids = await chunkIds()
    const local = new Set((await readdir(join(directory, 'chunks'))).map((name) => name.replace('.enc', '')))
    const evicted = ids.findIndex((id) => !local.has(id))
    s3.requests.length = 0
    const pieces = range(4, evicted * 4)
    const reads = await Promise.all(pieces.flatMap((index) => range(5).map(() => torrent.readPiece(index))))
    for (const [position, bytes] of reads.entries()) {
      const index = pieces[Math.floor(position / 5)]!
      expect(bytes.equals(pieceData(INFO_HASH, index, PIECE))).toBe(true)
    }
    expect(gets(ids[evicted])).toHaveLength(1)
  })

  it('refuses a tampered or truncated object with a typed error, never data', async () => {
    const storage = await evictedStore(0 + 1)
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const ids = await chunkIds()
    const local = new Set((await readdir(join(directory, 'chunks'))).map((name) => name.replace('.enc', '')))
    const evicted = ids.map((id, index) => ({ id, index })).filter(({ id }) => !local.has(id))
    const [first, second, third] = evicted
    const original = await s3.getObject(bucket, objectKeyFor(first!.id))
    const altered = Buffer.from(original)
    altered[altered.length - 40]! ^= 1
    await s3.putObject(bucket, objectKeyFor(first!.id), altered)
    await expect(torrent.readPiece(first!.index * 4)).rejects.toMatchObject({
      name: 'StorageError',
      code: 'ERR_ENVELOPE_AUTH',
    })
    const secondObject = await s3.getObject(bucket, objectKeyFor(second!.id))
    await s3.putObject(bucket, objectKeyFor(second!.id), secondObject.subarray(0, 20))
    await expect(torrent.readPiece(second!.index * 4)).rejects.toMatchObject({
      code: 'ERR_ENVELOPE_TRUNCATED',
    })
    // A valid envelope of the wrong length (another chunk's bytes, short) is refused too.
    const short = (await import('../src/envelope.ts')).encodeEnvelope(Buffer.alloc(100), key)
    await s3.putObject(bucket, objectKeyFor(third!.id), short)
    await expect(torrent.readPiece(third!.index * 4)).rejects.toMatchObject({ code: 'ERR_REMOTE_CORRUPT' })
    // Restoring the object makes the chunk readable again: the failure left nothing behind.
    await s3.putObject(bucket, objectKeyFor(first!.id), original)
    await expectReadsBack(torrent, range(4, first!.index * 4))
    expect(storage.stats().remote?.fetchesFailed).toBe(3)
  })

  it('detects a wrong key on the first read with a clear error', async () => {
    const storage = await evictedStore(1)
    await closeStore(storage)
    const wrong = await openStore({ cacheLimitBytes: CHUNK }, { encryptionKey: randomBytes(32) })
    const torrent = await wrong.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const ids = await chunkIds()
    const local = new Set((await readdir(join(directory, 'chunks'))).map((name) => name.replace('.enc', '')))
    const evicted = ids.findIndex((id) => !local.has(id))
    const error = await torrent.readPiece(evicted * 4).catch((caught: unknown) => caught)
    expect(StorageError.isInstance(error)).toBe(true)
    expect(error).toMatchObject({ code: 'ERR_ENVELOPE_AUTH' })
    expect((error as Error).message).toMatch(/encryption key is wrong/)
  })

  it('keeps writing while the endpoint is down, and catches up when it returns', async () => {
    const storage = await openStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    await s3.stop()
    try {
      const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
      const started = performance.now()
      await writeAndVerify(torrent, range(PIECES))
      expect(performance.now() - started).toBeLessThan(5_000)
      await expectReadsBack(torrent, range(PIECES))
      await until(() => (storage.stats().remote?.uploadsFailed ?? 0) > 0, 'a failed upload')
      expect(storage.stats().remote?.pendingUploads).toBe(8)
      const controller = new AbortController()
      const flushing = storage.flushUploads({ signal: controller.signal })
      controller.abort(new Error('gave up'))
      await expect(flushing).rejects.toThrow('gave up')
    } finally {
      await s3.start()
    }
    await storage.flushUploads()
    expect(storage.stats().remote).toMatchObject({ objects: 8, pendingUploads: 0, uploadsDone: 8 })
    expect(warnings.map((warning) => warning.code)).toEqual(['ERR_REMOTE_UPLOAD_FAILING'])
    expect(warnings[0]).toMatchObject({ code: 'ERR_REMOTE_UPLOAD_FAILING', cause: { code: 'ERR_REMOTE_IO' } })
    expect(await s3.listKeys(bucket)).toHaveLength(8)
  })

  it('runs a bounded number of uploads, and loses nothing when closed mid-upload: the next open uploads the rest', async () => {
    s3.mode = 'hang-puts'
    const first = await openStore({}, { uploadConcurrency: 2 })
    const torrent = await first.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    // A hung endpoint holds nothing back: every piece is written, verified and readable.
    await writeAndVerify(torrent, range(PIECES))
    await expectReadsBack(torrent, range(PIECES))
    await until(() => puts().length >= 2, 'uploads in flight')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(puts()).toHaveLength(2) // bounded: uploadConcurrency
    expect(first.stats().remote?.pendingUploads).toBe(8)
    await closeStore(first)
    s3.mode = 'up'
    const second = await openStore({ cacheLimitBytes: CHUNK })
    expect(second.stats().remote?.pendingUploads).toBe(8)
    await second.flushUploads()
    expect(second.stats().remote).toMatchObject({ objects: 8, uploadsDone: 8 })
    // Evictable now, and every piece reads back through the bucket.
    const reopened = await second.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await reopened.close()
    await until(() => second.stats().bytesOnDisk <= CHUNK, 'eviction')
    const again = await second.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await expectReadsBack(again, range(PIECES))
  })

  it('a vanished file of an uploaded chunk loses nothing: the sweep keeps its pieces, reads fetch it', async () => {
    const first = await openStore()
    const torrent = await first.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await first.flushUploads()
    await closeStore(first)
    const [gone] = query<{ id: string }>(directory, 'SELECT id FROM chunks WHERE chunk_index = 2').map(
      (row) => row.id,
    )
    await rm(join(directory, 'chunks', `${gone}.enc`))
    await writeFile(join(directory, 'chunks', `${gone}.fetch`), 'half a fetch') // left by a crash
    const second = await openStore()
    expect(second.recovery).toMatchObject({ missingChunks: 1, piecesForgotten: 0, orphanFilesRemoved: 0 })
    expect(await readdir(join(directory, 'chunks'))).not.toContain(`${gone}.fetch`)
    const reopened = await second.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    expect(await reopened.verifiedPieces()).toEqual(range(PIECES))
    await expectReadsBack(reopened, range(PIECES))
    expect(second.stats().remote?.fetches).toBe(1)
  })

  it('evicts at open when the store is over a lower limit than last time', async () => {
    const first = await openStore()
    const torrent = await first.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await first.flushUploads()
    await torrent.close()
    await closeStore(first)
    const second = await openStore({ cacheLimitBytes: 2 * CHUNK })
    await until(() => second.stats().bytesOnDisk <= 2 * CHUNK, 'eviction at open')
  })

  it('without the remote option, evicted chunks stay in the bucket and nothing more is evicted', async () => {
    const storage = await evictedStore(2)
    const before = storage.stats().bytesOnDisk
    await closeStore(storage)
    const plain = await ChunkStorage.open({ directory, chunkSize: CHUNK, cacheLimitBytes: CHUNK })
    stores.push(plain)
    const torrent = await plain.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    expect(await torrent.verifiedPieces()).toEqual(range(PIECES))
    const local = new Set((await readdir(join(directory, 'chunks'))).map((name) => name.replace('.enc', '')))
    const ids = await chunkIds()
    const evicted = ids.findIndex((id) => !local.has(id))
    const error = await torrent.readPiece(evicted * 4).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'ERR_CHUNK_MISSING' })
    expect((error as Error).message).toMatch(
      /^Chunk [0-9a-f-]{36} not in cache \(its copy is in the remote tier/,
    )
    await torrent.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(plain.stats()).toMatchObject({ bytesOnDisk: before, overLimit: true })
    expect(plain.stats().remote).toBeUndefined()
    await expect(plain.flushUploads()).resolves.toBeUndefined()
  })

  it('does not upload again what the bucket already holds', async () => {
    const first = await openStore()
    const torrent = await first.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await first.flushUploads()
    expect(puts()).toHaveLength(8)
    await closeStore(first)
    const second = await openStore()
    expect(second.stats().remote).toMatchObject({ objects: 8, pendingUploads: 0 })
    const reopened = await second.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await expectReadsBack(reopened, range(PIECES))
    await second.flushUploads()
    expect(puts()).toHaveLength(8)
    // Re-writing a piece makes its chunk's remote copy stale: that chunk (only) goes up again.
    await reopened.writePiece(5, pieceData(INFO_HASH, 5, PIECE))
    await reopened.markVerified(5)
    await second.flushUploads()
    expect(puts()).toHaveLength(9)
  })

  it('(fixture) lists a bucket of more than 1,000 keys', async () => {
    const keys = Array.from({ length: 1_003 }, (_, index) => `many/${String(index).padStart(4, '0')}`)
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(
        keys.slice(start, start + 50).map((name) => s3.putObject(bucket, name, Buffer.from(name))),
      )
    }
    expect(await s3.listKeys(bucket)).toEqual(keys)
  })

  it('lets two stores share one bucket', async () => {
    const { a, b, ta, tb, tc } = await twoStoresSharingTheBucket()
    for (const torrent of [ta, tb, tc]) await torrent.close()
    await until(() => a.stats().bytesOnDisk <= CHUNK && b.stats().bytesOnDisk <= CHUNK, 'eviction')
    const ra = await a.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const rb = await b.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const rc = await b.openTorrent(simpleGeometry(OTHER_HASH, PIECE, TOTAL))
    await expectReadsBack(ra, range(PIECES))
    await expectReadsBack(rb, range(PIECES))
    await expectReadsBack(rc, range(PIECES))
  })

  it('takes the key from the option, a key file or CHUNKTORRENT_ENCRYPTION_KEY, and refuses a bad one', async () => {
    const hex = key.toString('hex')
    const keyFile = join(directory, '..', `${directory.split('/').pop()}.key`)
    directories.push(keyFile)
    await writeFile(keyFile, `${hex}\n`)
    const base = { directory, chunkSize: CHUNK }
    const fromFile = await ChunkStorage.open({
      ...base,
      remote: { ...remoteOptions(), encryptionKey: undefined, encryptionKeyFile: keyFile },
    })
    await fromFile.close()
    const saved = process.env.CHUNKTORRENT_ENCRYPTION_KEY
    try {
      process.env.CHUNKTORRENT_ENCRYPTION_KEY = hex
      const fromEnvironment = await ChunkStorage.open({
        ...base,
        remote: { ...remoteOptions(), encryptionKey: undefined },
      })
      await fromEnvironment.close()
      process.env.CHUNKTORRENT_ENCRYPTION_KEY = 'abc'
      const error = await ChunkStorage.open({
        ...base,
        remote: { ...remoteOptions(), encryptionKey: undefined },
      }).catch((caught: unknown) => caught)
      expect(error).toMatchObject({ code: 'ERR_REMOTE_KEY' })
      expect((error as Error).message).not.toContain('abc')
      delete process.env.CHUNKTORRENT_ENCRYPTION_KEY
      await expect(
        ChunkStorage.open({ ...base, remote: { ...remoteOptions(), encryptionKey: undefined } }),
      ).rejects.toMatchObject({ code: 'ERR_REMOTE_KEY' })
      await expect(
        ChunkStorage.open({ ...base, remote: { ...remoteOptions(), encryptionKey: randomBytes(16) } }),
      ).rejects.toMatchObject({ code: 'ERR_REMOTE_KEY' })
    } finally {
      if (saved === undefined) delete process.env.CHUNKTORRENT_ENCRYPTION_KEY
      else process.env.CHUNKTORRENT_ENCRYPTION_KEY = saved
    }
  })

  it('resolves flushUploads at once without pending uploads, and rejects it on close', async () => {
    const storage = await openStore()
    await storage.flushUploads()
    s3.mode = 'fail'
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(4))
    const flushing = storage.flushUploads().catch((error: unknown) => error)
    await closeStore(storage)
    expect(await flushing).toMatchObject({ code: 'ERR_STORAGE_CLOSED' })
  })
})

describe('deleting a torrent with a remote tier', () => {
  const pendingRows = (path = directory) =>
    query<{ location: string; chunk_id: string }>(path, 'SELECT location, chunk_id FROM remote_deletions')
  /** DeleteObjects (`POST /<bucket>/?delete`, shown as `POST /<bucket>`) and DeleteObject requests. */
  const deleteRequests = () =>
    s3.requests
      .map((line) => (line === `POST /${bucket}/` ? `POST /${bucket}` : line))
      .filter((line) => line === `POST /${bucket}` || line.startsWith(`DELETE /${bucket}/`))

  /** A store (left open) whose torrent is written and uploaded. */
  async function uploadedStore(
    options: Partial<ChunkStorageOptions> = {},
    remote: Partial<RemoteTierOptions> = {},
  ): Promise<ChunkStorage> {
    const storage = await openStore(options, remote)
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await storage.flushUploads()
    return storage
  }

  it('deletes the objects of the torrent from the bucket, in one request, and forgets them', async () => {
    const storage = await uploadedStore({}, { prefix: 'store-a' })
    const keys = await s3.listKeys(bucket)
    expect(keys).toHaveLength(8)
    s3.requests.length = 0
    await storage.deleteTorrent(INFO_HASH) // resolves without waiting for the bucket
    expect(storage.stats().remote).toMatchObject({ objects: 0, bytes: 0 })
    await storage.flushDeletions()
    expect(await s3.listKeys(bucket)).toEqual([])
    expect(deleteRequests()).toEqual([`POST /${bucket}`]) // DeleteObjects: up to 1,000 keys each
    expect(storage.stats().remote).toMatchObject({
      pendingDeletions: 0,
      deletionsDone: 8,
      deletionsFailed: 0,
    })
    await closeStore(storage)
    expect(pendingRows()).toEqual([])
  })

  it('records the deletions in the transaction that deletes the rows: a crash right after leaks nothing', async () => {
    const storage = await uploadedStore()
    const keys = await s3.listKeys(bucket)
    // What is on disk the moment the rows are deleted (before any file is unlinked or any object
    // deleted) is what a crash there would leave: a copy of the index files taken then.
    const snapshot = await newDirectory()
    setTestHooks(storage, {
      'after-delete-before-unlink': async () => {
        for (const name of await readdir(directory)) {
          if (name.startsWith('index.db')) await copyFile(join(directory, name), join(snapshot, name))
        }
      },
    })
    await storage.deleteTorrent(INFO_HASH)
    expect(query(snapshot, 'SELECT id FROM torrents')).toEqual([])
    expect(query(snapshot, 'SELECT id FROM chunks')).toEqual([])
    const rows = pendingRows(snapshot)
    expect(rows.map((row) => row.location).sort()).toEqual(keys.map((name) => `s3://${bucket}/${name}`))
    for (const row of rows) expect(row.location.endsWith(`/${row.chunk_id}.enc`)).toBe(true)
    await storage.flushDeletions()
    expect(await s3.listKeys(bucket)).toEqual([])
  })

  it('deletes the stale object of a chunk written again and deleted before its next upload', async () => {
    const first = await uploadedStore()
    expect(await s3.listKeys(bucket)).toHaveLength(8)
    const torrent = await first.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await s3.stop()
    try {
      // The chunk's object no longer matches its bytes, and its new upload cannot happen.
      await torrent.writePiece(5, pieceData(INFO_HASH, 5, PIECE))
      await torrent.markVerified(5)
      expect(first.stats().remote).toMatchObject({ objects: 7, pendingUploads: 1 })
      await closeStore(first)
    } finally {
      await s3.start()
    }
    expect(pendingRows()).toEqual([])
    // Deleted before that upload, by a session without the remote tier (no upload in flight).
    const plain = await ChunkStorage.open({ directory, chunkSize: CHUNK })
    stores.push(plain)
    await plain.deleteTorrent(INFO_HASH)
    await closeStore(plain)
    expect(pendingRows()).toHaveLength(8) // the 7 current objects and the stale one
    const again = await openStore()
    await again.flushDeletions()
    expect(await s3.listKeys(bucket)).toEqual([])
    await closeStore(again)
    expect(query(directory, 'SELECT location FROM stale_uploads')).toEqual([])
  })

  it('forgets the stale object once the next upload overwrote it in place', async () => {
    const storage = await uploadedStore()
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await torrent.writePiece(5, pieceData(INFO_HASH, 5, PIECE))
    await torrent.markVerified(5)
    await storage.flushUploads()
    await closeStore(storage)
    expect(query(directory, 'SELECT location FROM stale_uploads')).toEqual([])
    expect(query(directory, 'SELECT location FROM chunk_uploads')).toHaveLength(8)
  })

  it('with the endpoint down, the rows stay and nothing waits; the objects go once it is back', async () => {
    const storage = await uploadedStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    await s3.stop()
    try {
      const started = performance.now()
      await storage.deleteTorrent(INFO_HASH)
      expect(performance.now() - started).toBeLessThan(2_000)
      // The store goes on working meanwhile.
      const other = await storage.openTorrent(simpleGeometry(OTHER_HASH, PIECE, TOTAL))
      await writeAndVerify(other, range(4))
      await expectReadsBack(other, range(4))
      await until(() => (storage.stats().remote?.deletionsFailed ?? 0) >= 8, 'a failed delete')
      expect(storage.stats().remote?.pendingDeletions).toBe(8)
      const controller = new AbortController()
      const flushing = storage.flushDeletions({ signal: controller.signal })
      controller.abort(new Error('gave up'))
      await expect(flushing).rejects.toThrow('gave up')
      expect(await s3.listKeys(bucket)).toHaveLength(8)
    } finally {
      await s3.start()
    }
    await storage.flushDeletions()
    expect(storage.stats().remote).toMatchObject({ pendingDeletions: 0, deletionsDone: 8 })
    expect(warnings.map((warning) => warning.code)).toContain('ERR_REMOTE_DELETE_FAILING')
    expect(warnings.filter((warning) => warning.code === 'ERR_REMOTE_DELETE_FAILING')).toHaveLength(1)
    await storage.flushUploads()
    // Only the other torrent's one chunk is left.
    expect(await s3.listKeys(bucket)).toHaveLength(1)
  })

  it('resumes pending deletions at the next open with the remote tier; a store opened without one keeps them', async () => {
    const first = await uploadedStore()
    await closeStore(first)
    const keys = await s3.listKeys(bucket)
    expect(keys).toHaveLength(8)
    // Deleted by a session without the remote tier: recorded, not attempted.
    const plain = await ChunkStorage.open({ directory, chunkSize: CHUNK })
    stores.push(plain)
    s3.requests.length = 0
    await plain.deleteTorrent(INFO_HASH)
    await expect(plain.flushDeletions()).resolves.toBeUndefined()
    await closeStore(plain)
    expect(pendingRows()).toHaveLength(8)
    expect(s3.requests).toEqual([])
    // Opened again without it: the rows stay.
    const again = await ChunkStorage.open({ directory, chunkSize: CHUNK })
    stores.push(again)
    await closeStore(again)
    expect(pendingRows()).toHaveLength(8)
    // With the tier, but the endpoint failing: attempted, kept.
    s3.mode = 'fail'
    const failing = await openStore()
    expect(failing.stats().remote?.pendingDeletions).toBe(8)
    await until(() => (failing.stats().remote?.deletionsFailed ?? 0) > 0, 'a failed delete')
    await closeStore(failing)
    expect(pendingRows()).toHaveLength(8)
    expect(await s3.listKeys(bucket)).toEqual(keys)
    // Up again: the next open deletes them.
    s3.mode = 'up'
    const resumed = await openStore()
    await resumed.flushDeletions()
    expect(resumed.stats().remote).toMatchObject({ pendingDeletions: 0, deletionsDone: 8 })
    expect(await s3.listKeys(bucket)).toEqual([])
    await closeStore(resumed)
    expect(pendingRows()).toEqual([])
  })

  it('deletes only its own objects: another store sharing the bucket keeps all of its own', async () => {
    const { a, b, tb, tc } = await twoStoresSharingTheBucket()
    await a.deleteTorrent(INFO_HASH)
    await a.flushDeletions()
    expect(a.stats().remote).toMatchObject({ deletionsDone: 8, pendingDeletions: 0 })
    const left = await s3.listKeys(bucket)
    expect(left).toHaveLength(16)
    // B's torrents, evicted down to one chunk, read back in full through the bucket.
    await tb.close()
    await tc.close()
    await until(() => b.stats().bytesOnDisk <= CHUNK, 'eviction')
    const rb = await b.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    const rc = await b.openTorrent(simpleGeometry(OTHER_HASH, PIECE, TOTAL))
    await expectReadsBack(rb, range(PIECES))
    await expectReadsBack(rc, range(PIECES))
    await b.close()
    stores.splice(stores.indexOf(b), 1)
    const locations = query<{ location: string }>(b.directory, 'SELECT location FROM chunk_uploads')
    expect(locations.map((row) => row.location).sort()).toEqual(left.map((name) => `s3://${bucket}/${name}`))
  })

  it('an upload in flight when its torrent is deleted: the delete waits for it, so no object is left', async () => {
    s3.mode = 'hang-puts'
    const storage = await openStore({}, { uploadConcurrency: 2 })
    const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
    await writeAndVerify(torrent, range(PIECES))
    await until(() => puts().length >= 2, 'uploads in flight')
    s3.requests.length = 0
    await storage.deleteTorrent(INFO_HASH)
    // The two chunks being uploaded are recorded; the six still queued never reach the bucket.
    expect(storage.stats().remote).toMatchObject({ pendingDeletions: 2 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(deleteRequests()).toEqual([]) // not before the uploads settle
    s3.mode = 'up' // the hung uploads fail; their chunks are gone, so they are not retried
    await storage.flushDeletions()
    expect(deleteRequests().length).toBeGreaterThanOrEqual(1) // one per upload settled, or both at once
    expect(await s3.listKeys(bucket)).toEqual([])
    expect(storage.stats().remote).toMatchObject({ pendingUploads: 0, pendingDeletions: 0, deletionsDone: 2 })
    await closeStore(storage)
    expect(pendingRows()).toEqual([])
  })

  it('an upload whose PUT lands after the torrent is deleted: its object is deleted after it lands', async () => {
    s3.putDelayMs = 1_000 // each PUT reaches s3rver a second after it was sent
    try {
      const storage = await openStore({}, { uploadConcurrency: 8 })
      const torrent = await storage.openTorrent(simpleGeometry(INFO_HASH, PIECE, TOTAL))
      await writeAndVerify(torrent, range(PIECES))
      await until(() => puts().length === 8, 'every upload sent')
      await storage.deleteTorrent(INFO_HASH)
      expect(storage.stats().remote?.pendingDeletions).toBe(8)
      await storage.flushDeletions()
      expect(await s3.listKeys(bucket)).toEqual([])
      await closeStore(storage)
      expect(pendingRows()).toEqual([])
    } finally {
      s3.putDelayMs = 0
    }
  })

  it('falls back to one DeleteObject per object on a server without DeleteObjects', async () => {
    const storage = await uploadedStore()
    s3.mode = 'no-multi-delete'
    s3.requests.length = 0
    await storage.deleteTorrent(INFO_HASH)
    await storage.flushDeletions()
    expect(await s3.listKeys(bucket)).toEqual([])
    const requests = deleteRequests()
    expect(requests[0]).toBe(`POST /${bucket}`)
    expect(requests.slice(1)).toHaveLength(8)
    expect(requests.slice(1).every((line) => line.startsWith(`DELETE /${bucket}/chunks/`))).toBe(true)
    expect(storage.stats().remote).toMatchObject({ deletionsDone: 8, deletionsFailed: 0 })
  })

  it('counts objects already gone as deleted, and opens a store from before remote_deletions', async () => {
    const storage = await uploadedStore()
    await closeStore(storage)
    // An index written before the table existed.
    const database = new Database(join(directory, 'index.db'))
    database.exec('DROP TABLE remote_deletions')
    database.close()
    const reopened = await openStore()
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3.credentials,
    })
    for (const name of (await s3.listKeys(bucket)).slice(0, 3)) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: name }))
    }
    client.destroy()
    await reopened.deleteTorrent(INFO_HASH)
    await reopened.flushDeletions()
    expect(reopened.stats().remote).toMatchObject({ deletionsDone: 8, deletionsFailed: 0 })
    expect(await s3.listKeys(bucket)).toEqual([])
  })
})

// The cache limit while writes outrun uploads (a download faster than the bucket): writes wait for
// uploads and eviction so the cache stays within the limit plus one chunk, and stop waiting when
// the endpoint is down (the limit is exceeded, with a warning).
const LIMIT = 4 * CHUNK
const LIMIT_TOTAL = 16 * CHUNK // 16 chunks, 64 pieces
const LIMIT_PIECES = LIMIT_TOTAL / PIECE
const LIMIT_HASH = 'd12fe1c06bba254a9dc9f519b335aa7c1367a88a'

function openLimitedStore(options: { holdCacheLimit?: boolean } = {}): Promise<ChunkStorage> {
  return openStore({ cacheLimitBytes: LIMIT, pinOpenTorrents: false, ...options }, { uploadConcurrency: 2 })
}

/** Writes and verifies every piece in order, 8 at a time (an engine's window), sampling the cache. */
async function downloadAll(storage: ChunkStorage, torrent: TorrentStorage): Promise<number> {
  let peak = 0
  let next = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < LIMIT_PIECES) {
        const index = next++
        await torrent.writePiece(index, pieceData(LIMIT_HASH, index, PIECE))
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

async function expectAllReadBack(torrent: TorrentStorage): Promise<void> {
  for (let index = 0; index < LIMIT_PIECES; index++) {
    expect(
      (await torrent.readPiece(index)).equals(pieceData(LIMIT_HASH, index, PIECE)),
      `piece ${index}`,
    ).toBe(true)
  }
}

describe('ChunkStorage cache limit with a slow remote tier', () => {
  it('holds the limit (plus one chunk) while writes outrun uploads, and loses nothing', async () => {
    s3.putDelayMs = 100
    const storage = await openLimitedStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    const torrent = await storage.openTorrent(simpleGeometry(LIMIT_HASH, PIECE, LIMIT_TOTAL))
    const peak = await downloadAll(storage, torrent)
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
    expect(storage.stats().remote).toMatchObject({ objects: LIMIT_TOTAL / CHUNK, pendingUploads: 0 })
    await expectAllReadBack(torrent)
    expect(storage.stats().bytesOnDisk).toBeLessThanOrEqual(LIMIT + CHUNK)
  })

  it('with holdCacheLimit: false, writes never wait: the cache grows past the limit, then shrinks to it', async () => {
    s3.putDelayMs = 100
    const storage = await openLimitedStore({ holdCacheLimit: false })
    const torrent = await storage.openTorrent(simpleGeometry(LIMIT_HASH, PIECE, LIMIT_TOTAL))
    const peak = await downloadAll(storage, torrent)
    expect(peak).toBeGreaterThan(LIMIT + CHUNK)
    expect(storage.stats().remote?.writesDelayed).toBe(0)
    s3.putDelayMs = 0
    await storage.flushUploads()
    await shrinksToLimit(storage)
    await expectAllReadBack(torrent)
  })

  it('closes within the limit: the last uploads confirmed let their chunks go before close resolves', async () => {
    const storage = await openLimitedStore()
    const torrent = await storage.openTorrent(simpleGeometry(LIMIT_HASH, PIECE, LIMIT_TOTAL))
    s3.mode = 'fail'
    await downloadAll(storage, torrent) // uploads fail: the writes go past the limit
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
    const storage = await openLimitedStore()
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    s3.mode = 'fail'
    const torrent = await storage.openTorrent(simpleGeometry(LIMIT_HASH, PIECE, LIMIT_TOTAL))
    const started = performance.now()
    await downloadAll(storage, torrent)
    expect(performance.now() - started).toBeLessThan(8_000)
    expect(storage.stats().bytesOnDisk).toBe(LIMIT_TOTAL)
    expect(warnings.map((warning) => warning.code)).toEqual(
      expect.arrayContaining(['ERR_REMOTE_UPLOAD_FAILING', 'ERR_CACHE_OVER_LIMIT']),
    )
    // The endpoint comes back: everything is uploaded and the cache shrinks to the limit.
    s3.mode = 'up'
    await storage.flushUploads()
    await shrinksToLimit(storage)
    await expectAllReadBack(torrent)
  })
})
