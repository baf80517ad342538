// Storage benchmark (`pnpm bench:storage`): writes BENCH_BYTES (default 1 GiB) of pieces through
// ChunkStorage (write + markVerified, as an engine does) and reads them all back, against plain fs
// writes and reads of the same bytes to one file in the same run, for 256 KiB and 4 MiB pieces.
// Prints MB/s, the ratios, disk bytes / payload and peak RSS; the last line is one JSON object.
//
// Environment: BENCH_BYTES (payload per piece size), BENCH_DIR (default .tmp/bench-storage),
// BENCH_CONCURRENCY (piece writes or reads in flight, default 8), BENCH_ROUNDS (default 2: fs and
// store runs alternate, the best of each is kept, which damps a noisy disk), BENCH_PIECE_LENGTHS
// (bytes, comma separated). Like an engine, the store run bounds the pieces it holds (writes in flight) but does
// not hold a piece's buffer while its verification commits: markVerified calls overlap the next
// writes, so the store's group commit fsyncs many pieces at once.

import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ChunkStorage } from '../packages/storage/src/index.ts'

const MiB = 1_048_576
const payload = Number(process.env.BENCH_BYTES ?? 1_073_741_824)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const pieceLengths = (process.env.BENCH_PIECE_LENGTHS ?? `${256 * 1024},${4 * MiB}`).split(',').map(Number)
const root = resolve(process.env.BENCH_DIR ?? join(import.meta.dirname, '..', '.tmp', 'bench-storage'))
const targets = { writeRatio: 0.8, readRatio: 0.8, diskRatio: 1.01, peakRssMB: 200 }

if (!Number.isSafeInteger(payload) || payload <= 0)
  throw new RangeError(`BENCH_BYTES must be a positive integer`)

// Piece bytes come from a 16 MiB random pool, each piece a view at its own offset: no copy, no
// generation cost inside the timed loops, and the same bytes for the file and the store.
const pool = randomBytes(16 * MiB)
function pieceView(index: number, size: number): Buffer {
  const offset = ((index * 7_919 * 4_096) % (pool.length - size + 1)) & ~4_095
  return pool.subarray(offset, offset + size)
}

/** Runs `task(0..count-1)` with at most `limit` in flight. */
async function window(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
}

async function diskBytes(path: string): Promise<{ allocated: number; apparent: number }> {
  const info = await lstat(path)
  if (!info.isDirectory()) return { allocated: info.blocks * 512, apparent: info.size }
  let allocated = 0
  let apparent = 0
  for (const entry of await readdir(path)) {
    const child = await diskBytes(join(path, entry))
    allocated += child.allocated
    apparent += child.apparent
  }
  return { allocated, apparent }
}

const megabytesPerSecond = (bytes: number, milliseconds: number) => bytes / 1e6 / (milliseconds / 1000)
const round = (value: number, digits = 3) => Number(value.toFixed(digits))

interface Timings {
  plainWrittenMs: number
  plainWriteMs: number
  storeWriteMs: number
  plainReadMs: number
  storeReadMs: number
}

async function benchRound(
  pieceLength: number,
  directory: string,
  keepStore: boolean,
  storeFirst: boolean,
): Promise<Timings & { mismatches: number }> {
  const pieceCount = Math.ceil(payload / pieceLength)
  const sizeOf = (index: number) =>
    index === pieceCount - 1 ? payload - (pieceCount - 1) * pieceLength : pieceLength
  await rm(directory, { recursive: true, force: true })
  await mkdir(directory, { recursive: true })
  const plainPath = join(directory, 'plain.bin')
  const storeDirectory = join(directory, 'store')
  const geometry = {
    infoHash: 'b'.repeat(40),
    name: 'bench',
    pieceLength,
    totalSize: payload,
    files: [{ path: 'bench.bin', length: payload, offset: 0 }],
  }

  // Plain fs: positional writes of the same pieces into one file, then one fsync (durable, like the store).
  let started = performance.now()
  const plain = await open(plainPath, 'w')
  await window(pieceCount, concurrency, async (index) => {
    await plain.write(pieceView(index, sizeOf(index)), 0, sizeOf(index), index * pieceLength)
  })
  const plainWrittenMs = performance.now() - started
  await plain.sync()
  await plain.close()
  const plainWriteMs = performance.now() - started

  // ChunkStorage: writePiece, then markVerified (fsync of the chunks, then the mapping row), open to close.
  started = performance.now()
  let storage = await ChunkStorage.open({ directory: storeDirectory, cacheLimitBytes: 2 * payload + MiB })
  let torrent = await storage.openTorrent(geometry)
  const verifications: Promise<void>[] = []
  await window(pieceCount, concurrency, async (index) => {
    await torrent.writePiece(index, pieceView(index, sizeOf(index)))
    verifications.push(torrent.markVerified(index))
  })
  await Promise.all(verifications)
  await storage.close()
  const storeWriteMs = performance.now() - started

  // Reads, piece by piece, each into a fresh buffer (as readPiece returns one). The order of the two
  // loops alternates by round: the first loop in a process pays for faulting in fresh buffer memory.
  const plainReader = await open(plainPath, 'r')
  storage = await ChunkStorage.open({ directory: storeDirectory })
  torrent = await storage.openTorrent(geometry)
  let checksum = 0
  let storeChecksum = 0
  const readPlain = async () => {
    const begin = performance.now()
    await window(pieceCount, concurrency, async (index) => {
      const buffer = Buffer.allocUnsafe(sizeOf(index))
      await plainReader.read(buffer, 0, buffer.length, index * pieceLength)
      checksum += buffer[buffer.length - 1]!
    })
    return performance.now() - begin
  }
  const readStore = async () => {
    const begin = performance.now()
    await window(pieceCount, concurrency, async (index) => {
      const buffer = await torrent.readPiece(index)
      storeChecksum += buffer[buffer.length - 1]!
    })
    return performance.now() - begin
  }
  let plainReadMs: number
  let storeReadMs: number
  if (storeFirst) {
    storeReadMs = await readStore()
    plainReadMs = await readPlain()
  } else {
    plainReadMs = await readPlain()
    storeReadMs = await readStore()
  }
  await plainReader.close()
  await rm(plainPath)

  // Untimed: every 16th piece compared byte for byte, and the checksums of the timed loops.
  let mismatches = checksum === storeChecksum ? 0 : 1
  for (let index = 0; index < pieceCount; index += 16) {
    if (!(await torrent.readPiece(index)).equals(pieceView(index, sizeOf(index)))) mismatches++
  }
  await storage.close()
  if (!keepStore) await rm(directory, { recursive: true, force: true })
  return { plainWrittenMs, plainWriteMs, storeWriteMs, plainReadMs, storeReadMs, mismatches }
}

async function benchOne(pieceLength: number) {
  const directory = join(root, `pieces-${pieceLength}`)
  const best: Timings = {
    plainWrittenMs: Infinity,
    plainWriteMs: Infinity,
    storeWriteMs: Infinity,
    plainReadMs: Infinity,
    storeReadMs: Infinity,
  }
  let mismatches = 0
  for (let round = 0; round < rounds; round++) {
    const timings = await benchRound(pieceLength, directory, round === rounds - 1, round % 2 === 1)
    mismatches += timings.mismatches
    for (const key of Object.keys(best) as Array<keyof Timings>) best[key] = Math.min(best[key], timings[key])
  }
  const storeDirectory = join(directory, 'store')
  const disk = await diskBytes(storeDirectory)
  const storage = await ChunkStorage.open({ directory: storeDirectory })
  const chunks = storage.stats().chunkCount
  await storage.close()
  await rm(directory, { recursive: true, force: true })
  return {
    pieceLength,
    pieces: Math.ceil(payload / pieceLength),
    payloadBytes: payload,
    fsWriteMBps: round(megabytesPerSecond(payload, best.plainWriteMs), 1),
    fsWriteNoSyncMBps: round(megabytesPerSecond(payload, best.plainWrittenMs), 1),
    storeWriteMBps: round(megabytesPerSecond(payload, best.storeWriteMs), 1),
    writeRatio: round(best.plainWriteMs / best.storeWriteMs),
    writeRatioNoSync: round(best.plainWrittenMs / best.storeWriteMs),
    fsReadMBps: round(megabytesPerSecond(payload, best.plainReadMs), 1),
    storeReadMBps: round(megabytesPerSecond(payload, best.storeReadMs), 1),
    readRatio: round(best.plainReadMs / best.storeReadMs),
    diskBytes: disk.allocated,
    diskApparentBytes: disk.apparent,
    diskRatio: round(disk.allocated / payload, 4),
    chunks,
    mismatches,
  }
}

await mkdir(root, { recursive: true })
const results = []
for (const pieceLength of pieceLengths) {
  const result = await benchOne(pieceLength)
  results.push(result)
  console.log(
    `${(pieceLength / 1024).toString().padStart(5)} KiB pieces x ${result.pieces}: ` +
      `write ${result.storeWriteMBps} MB/s vs fs ${result.fsWriteMBps} MB/s (with fsync; ${result.fsWriteNoSyncMBps} without) ` +
      `= ${result.writeRatio}; read ${result.storeReadMBps} MB/s vs fs ${result.fsReadMBps} MB/s = ${result.readRatio}; ` +
      `disk ${result.diskRatio} x payload${result.mismatches > 0 ? `; ${result.mismatches} MISMATCHES` : ''}`,
  )
}
await rm(root, { recursive: true, force: true })
const peakRssMB = round((process.resourceUsage().maxRSS * 1024) / MiB, 1)
const pass =
  results.every(
    (result) =>
      result.mismatches === 0 &&
      result.writeRatio >= targets.writeRatio &&
      result.readRatio >= targets.readRatio &&
      result.diskRatio <= targets.diskRatio,
  ) && peakRssMB < targets.peakRssMB
console.log(`peak RSS ${peakRssMB} MB; targets ${pass ? 'met' : 'NOT met'}`)
console.log(
  JSON.stringify({
    bench: 'storage',
    payloadBytes: payload,
    concurrency,
    rounds,
    node: process.version,
    results,
    peakRssMB,
    targets,
    pass,
  }),
)
