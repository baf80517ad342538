// Remote-tier benchmark (`node bench/remote.ts`): what the remote tier costs the download path and
// how fast it moves chunks, against s3rver on 127.0.0.1 (the test server: a JavaScript S3, so the
// upload and fetch figures measure the store plus s3rver, not a real bucket).
//
// Phases, each on a fresh store, 256 KiB pieces written BENCH_CONCURRENCY at a time and verified:
//   plain        - no remote tier: the baseline write rate
//   remote       - with a remote tier: the write rate while uploads run, then the time until
//                  flushUploads resolves (the upload rate)
//   remote-hung  - every upload hangs (the endpoint accepts and never answers): the write rate
//   read-through - the remote store's torrent, evicted to a 1-chunk cache, read back in full
// The last line is one JSON object. Environment: BENCH_BYTES (default 128 MiB), BENCH_CONCURRENCY
// (default 8), BENCH_DIR (default .tmp/bench-remote).

import { randomBytes } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ChunkStorage, type ChunkStorageOptions, type TorrentStorage } from '../packages/storage/src/index.ts'
import { startS3 } from '../packages/storage/test/fixtures/s3-server.ts'

const MiB = 1_048_576
const PIECE = 262_144
const { BENCH_BYTES, BENCH_CONCURRENCY, BENCH_DIR } = process.env
const payload = Number(BENCH_BYTES ?? 128 * MiB)
const concurrency = Number(BENCH_CONCURRENCY ?? 8)
const root = resolve(BENCH_DIR ?? join(import.meta.dirname, '..', '.tmp', 'bench-remote'))
const infoHash = 'b12fe1c06bba254a9dc9f519b335aa7c1367a88a'
const geometry = {
  infoHash,
  name: 'bench',
  pieceLength: PIECE,
  totalSize: payload,
  files: [{ path: 'bench.bin', length: payload, offset: 0 }],
}
const pieceCount = Math.ceil(payload / PIECE)
const piece = randomBytes(PIECE)

function mbps(bytes: number, milliseconds: number): number {
  return Math.round((bytes / 1e6 / (milliseconds / 1000)) * 10) / 10
}

async function writeAll(torrent: TorrentStorage): Promise<number> {
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < pieceCount) {
        const index = next++
        const size = torrent.geometry.pieceSize(index)
        // A distinct first byte per piece, so no two chunks are equal.
        const data = size === PIECE ? Buffer.from(piece) : piece.subarray(0, size)
        data.writeUInt32LE(index, 0)
        await torrent.writePiece(index, data)
        await torrent.markVerified(index)
      }
    }),
  )
  return performance.now() - started
}

async function readAll(torrent: TorrentStorage): Promise<number> {
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < pieceCount) await torrent.readPiece(next++)
    }),
  )
  return performance.now() - started
}

const s3 = await startS3()
await rm(root, { recursive: true, force: true })
await mkdir(root, { recursive: true })
const results: Record<string, number> = {}
try {
  await s3.createBucket('chunktorrent-bench')
  const remote = {
    endpoint: s3.endpoint,
    bucket: 'chunktorrent-bench',
    credentials: s3.credentials,
    encryptionKey: randomBytes(32),
  }
  const open = (name: string, extra: Partial<ChunkStorageOptions> = {}) =>
    ChunkStorage.open({ directory: join(root, name), ...extra })

  const plain = await open('plain')
  results.plainWriteMBps = mbps(payload, await writeAll(await plain.openTorrent(geometry)))
  await plain.close()

  const withRemote = await open('remote', { remote, pinOpenTorrents: false })
  const torrent = await withRemote.openTorrent(geometry)
  const writeMs = await writeAll(torrent)
  results.remoteWriteMBps = mbps(payload, writeMs)
  const flushStarted = performance.now()
  await withRemote.flushUploads()
  results.uploadMBps = mbps(payload, writeMs + (performance.now() - flushStarted))
  results.uploadsFailed = withRemote.stats().remote?.uploadsFailed ?? 0
  await withRemote.close()

  s3.mode = 'hang-puts'
  const hung = await open('hung', { remote })
  results.hungWriteMBps = mbps(payload, await writeAll(await hung.openTorrent(geometry)))
  results.hungPendingUploads = hung.stats().remote?.pendingUploads ?? 0
  await hung.close()
  s3.mode = 'up'

  const evicted = await open('remote', { remote, pinOpenTorrents: false, cacheLimitBytes: MiB })
  const reading = await evicted.openTorrent(geometry)
  while (evicted.stats().bytesOnDisk > MiB) await new Promise((resolve) => setTimeout(resolve, 20))
  results.readThroughMBps = mbps(payload, await readAll(reading))
  results.fetches = evicted.stats().remote?.fetches ?? 0
  await evicted.close()
} finally {
  await s3.close()
  await rm(root, { recursive: true, force: true })
}
results.remoteWriteRatio = Math.round((results.remoteWriteMBps! / results.plainWriteMBps!) * 100) / 100
results.hungWriteRatio = Math.round((results.hungWriteMBps! / results.plainWriteMBps!) * 100) / 100
results.peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024)
for (const [name, value] of Object.entries(results)) console.log(`${name.padEnd(20)} ${value}`)
console.log(JSON.stringify({ payload, pieceLength: PIECE, concurrency, ...results }))
