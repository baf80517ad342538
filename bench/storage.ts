// Storage benchmark (`pnpm bench:storage`): writes BENCH_BYTES (default 1 GiB) of pieces through
// ChunkStorage (writePiece + markVerified, as an engine does) and reads them all back, against
// plain fs writes and reads of the same bytes to one file, for 256 KiB and 4 MiB pieces. Prints
// MB/s, the ratios, disk bytes / payload and peak RSS; the last line is one JSON object.
//
// A third side, the layout, writes and reads the same bytes with plain fs in the store's own layout
// (one file per chunk, a datasync per file, no index and no locks), so the report tells the
// layout's share of the gap to one plain file (layout vs fs) from the store's own (store vs layout).
//
// Each measured phase runs in its own child process (fs, store and layout writes and reads),
// so every phase starts from the same state and reports its own peak RSS; rounds alternate the
// order (the reads, ~0.1 s each, run several times per round) and the best time of each phase is
// kept, which damps a noisy machine (the ratios of those bests are judged against the targets; the
// median of each pair's own ratio is printed beside them). Before each phase a `sync` writes back
// what the previous one left dirty, so no phase pays for another's writeback.
//
// The plain fs side writes the pieces with positional writes and ends with one fsync (durable, like
// the store). The store side bounds the pieces in flight (writes) like an engine bounds its piece
// buffers, but does not hold a piece while its verification commits. Both sides read into buffers
// of their own, one per read in flight (the store through readPieceInto), as an engine does.
//
// Two effects of the machine, not of either side, are kept out of the write phases (both measured
// here, on a VM whose root file system is ext4 without a journal):
// - Page cache into memory the host has not backed: a gigabyte written into guest pages the host
//   reclaimed (free page reporting) took 3-10 s instead of 0.4-0.8 s. Before each write phase an
//   untimed scratch file of payload + 1/8 is written and deleted, so the phase writes into pages
//   that were just in use, whichever side it is (the fs side went from 0.7-7.9 s to 0.68-0.79 s).
// - On ext4 without a journal, creating an inode skips every inode of its group deleted in the last
//   1-5 minutes, one inode-table lookup each: 1,024 creates took 500-900 ms after a store was
//   deleted, 185 ms otherwise (40-60 ms on ext4 with a journal, where the check does not exist).
//   The store creates 1,024 chunk files per gigabyte, the fs side one file, so no round deletes a
//   store before the end of the run (when the free disk allows: two payloads, the store's and the
//   layout's, per round, piece size and pool size); a run started right after another pays for the
//   stores that one deleted at its end.
//
// Environment: BENCH_BYTES (payload per piece size), BENCH_PIECE_LENGTHS (bytes, comma separated;
// default 262144,4194304), BENCH_CONCURRENCY (writes or reads in flight, default 8), BENCH_ROUNDS
// (default 3), BENCH_READ_REPEATS (the read phases' runs per round, default 5), BENCH_DIR (default
// .tmp/bench-storage), BENCH_UV_THREADPOOL_SIZES (comma separated libuv thread pool sizes to run
// every phase with; default: the environment's, else 4,16: Node's own size and the one the CLI
// asks for).

import { execFile } from 'node:child_process'
import { createCipheriv } from 'node:crypto'
import { closeSync, openSync, read } from 'node:fs'
import { type FileHandle, lstat, mkdir, open, readdir, readFile, rm, statfs } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ChunkStorage } from '../packages/storage/src/index.ts'
import { warmMemory } from './lib/disk.ts'

const MiB = 1_048_576
/** The store's default openFileLimit, which the layout side keeps to as well. */
const STORE_OPEN_FILE_LIMIT = 64
const {
  BENCH_BYTES,
  BENCH_CONCURRENCY,
  BENCH_ROUNDS,
  BENCH_READ_REPEATS,
  BENCH_PIECE_LENGTHS,
  BENCH_DIR,
  BENCH_CHUNK_SIZE,
} = process.env
const { BENCH_UV_THREADPOOL_SIZES, UV_THREADPOOL_SIZE } = process.env
const payload = Number(BENCH_BYTES ?? 1_073_741_824)
const concurrency = Number(BENCH_CONCURRENCY ?? 8)
const rounds = Number(BENCH_ROUNDS ?? 3)
const readRepeats = Number(BENCH_READ_REPEATS ?? 5)
for (const [name, value] of [
  ['BENCH_ROUNDS', rounds],
  ['BENCH_READ_REPEATS', readRepeats],
] as const) {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${value}`)
}
const pieceLengths = (BENCH_PIECE_LENGTHS ?? `${256 * 1024},${4 * MiB}`).split(',').map(Number)
const root = resolve(BENCH_DIR ?? join(import.meta.dirname, '..', '.tmp', 'bench-storage'))
const targets = { writeRatio: 0.8, readRatio: 0.8, diskRatio: 1.01, peakRssMB: 200 }
const poolSizes = (BENCH_UV_THREADPOOL_SIZES ?? UV_THREADPOOL_SIZE ?? '4,16').split(',').map(Number)

type Phase = 'fs-write' | 'store-write' | 'layout-write' | 'fs-read' | 'store-read' | 'layout-read'
interface PhaseResult {
  milliseconds: number
  /** For fs-write: the time until the last write, before the fsync. */
  writtenMilliseconds?: number
  /** CPU time (user + system, every thread) of the timed part. */
  cpuMilliseconds: number
  /** The share of the timed part the JavaScript thread was busy. */
  eventLoopUtilization: number
  peakRssMB: number
  checksum?: number
  mismatches?: number
  /**
   * Reads: the same reads once more, untimed above. For the store, through a second store on the
   * same directory whose openFileLimit exceeds the chunk count, after a pass that opened every
   * chunk file: the per-read cost without the per-chunk opens and closes.
   */
  warmMilliseconds?: number
}

// Piece bytes: an 8 MiB pseudo-random pool from AES-CTR with a fixed key (the same in every
// process), each piece a view at its own offset: no copy and no generation inside the timed loops.
const pool = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16)).update(
  Buffer.alloc(8 * MiB),
)
function pieceView(index: number, size: number): Buffer {
  const offset = ((index * 7_919 * 4_096) % (pool.length - size + 1)) & ~4_095
  return pool.subarray(offset, offset + size)
}

/** The store's chunk size (default 1 MiB, the store's own): the layout phases cut the stream alike. */
const CHUNK = Number(BENCH_CHUNK_SIZE ?? MiB)

/** One positional read through the thread pool (the callback API, as the store's reads). */
function readAt(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolveRead, reject) => {
    read(fd, buffer, offset, length, position, (error, bytesRead) => {
      if (error !== null) reject(error)
      else resolveRead(bytesRead)
    })
  })
}

/**
 * The chunk spans of `size` bytes at `start` of the byte stream, as the store cuts them: the chunk,
 * where the span starts in the piece, its length, and where it starts in the chunk.
 */
function* chunkSpans(start: number, size: number) {
  for (let at = start; at < start + size; at = (Math.floor(at / CHUNK) + 1) * CHUNK) {
    const end = Math.min(start + size, (Math.floor(at / CHUNK) + 1) * CHUNK)
    yield {
      chunk: Math.floor(at / CHUNK),
      pieceOffset: at - start,
      length: end - at,
      chunkOffset: at % CHUNK,
    }
  }
}

/** Runs `task(0..count-1)` with at most `limit` in flight; `worker` tells which of them runs it. */
async function window(
  count: number,
  limit: number,
  task: (index: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0
  const run = async (worker: number) => {
    while (next < count) await task(next++, worker)
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, (_, worker) => run(worker)))
}

/**
 * The readers' own buffers, one per read in flight, reused from piece to piece as an engine reuses
 * its disk buffers: the store reads into them (readPieceInto), the fs side too, so neither leaves
 * a piece of garbage per read for the collector.
 */
function readBuffers(pieceLength: number): Buffer[] {
  return Array.from({ length: concurrency }, () => Buffer.allocUnsafeSlow(pieceLength))
}

function geometryFor(pieceLength: number) {
  return {
    infoHash: 'b'.repeat(40),
    name: 'bench',
    pieceLength,
    totalSize: payload,
    files: [{ path: 'bench.bin', length: payload, offset: 0 }],
  }
}

async function runPhase(phase: Phase, pieceLength: number, directory: string): Promise<PhaseResult> {
  const pieceCount = Math.ceil(payload / pieceLength)
  const sizeOf = (index: number) =>
    index === pieceCount - 1 ? payload - (pieceCount - 1) * pieceLength : pieceLength
  const plainPath = join(directory, 'plain.bin')
  const storeDirectory = join(directory, 'store')
  const peak = () => Math.round(process.resourceUsage().maxRSS / 1024)
  let started = performance.now()
  let cpuStart = process.cpuUsage()
  let loopStart = performance.eventLoopUtilization()
  // Main-thread and thread-pool CPU of the timed part (user + system), in milliseconds.
  const cpu = () => {
    const { user, system } = process.cpuUsage(cpuStart)
    return Math.round((user + system) / 1000)
  }
  // The share of the timed part the JavaScript thread was busy (not waiting for I/O).
  const loop = () => Number(performance.eventLoopUtilization(loopStart).utilization.toFixed(3))
  // The figures of the timed part, taken when it ends.
  const figures = () => ({
    milliseconds: performance.now() - started,
    cpuMilliseconds: cpu(),
    eventLoopUtilization: loop(),
    peakRssMB: peak(),
  })
  if (phase === 'fs-write') {
    const plain = await open(plainPath, 'w')
    await window(pieceCount, concurrency, async (index) => {
      await plain.write(pieceView(index, sizeOf(index)), 0, sizeOf(index), index * pieceLength)
    })
    const writtenMilliseconds = performance.now() - started
    await plain.sync()
    await plain.close()
    return { ...figures(), writtenMilliseconds }
  }
  if (phase === 'store-write') {
    const storage = await ChunkStorage.open({
      directory: storeDirectory,
      chunkSize: CHUNK,
      cacheLimitBytes: 2 * payload + CHUNK,
    })
    const torrent = await storage.openTorrent(geometryFor(pieceLength))
    const verifications: Promise<void>[] = []
    await window(pieceCount, concurrency, async (index) => {
      await torrent.writePiece(index, pieceView(index, sizeOf(index)))
      verifications.push(torrent.markVerified(index))
    })
    await Promise.all(verifications)
    await storage.close()
    return figures()
  }
  if (phase === 'layout-write') {
    // The store's layout with plain fs: one file per chunk, created at its first write (through the
    // pool, as the store creates them), the same positional writes, then one datasync per file,
    // as many at once as the store runs, and an fsync of the directory. No index, no locks.
    const layout = join(directory, 'layout')
    await mkdir(layout)
    const files = new Map<number, Promise<FileHandle>>()
    const fileOf = (chunk: number) => {
      let file = files.get(chunk)
      if (file === undefined) {
        file = open(join(layout, `${chunk}.enc`), 'w+')
        files.set(chunk, file)
      }
      return file
    }
    await window(pieceCount, concurrency, async (index) => {
      const data = pieceView(index, sizeOf(index))
      const writes: Promise<unknown>[] = []
      for (const span of chunkSpans(index * pieceLength, data.length)) {
        const file = await fileOf(span.chunk)
        writes.push(file.write(data, span.pieceOffset, span.length, span.chunkOffset))
      }
      await Promise.all(writes)
    })
    const handles = await Promise.all(files.values())
    let next = 0
    const syncsAtOnce = Math.max(1, (Number(UV_THREADPOOL_SIZE) || 4) - 1)
    await Promise.all(
      Array.from({ length: syncsAtOnce }, async () => {
        while (next < handles.length) await handles[next++]!.datasync()
      }),
    )
    const directoryHandle = await open(layout, 'r')
    await directoryHandle.sync()
    await directoryHandle.close()
    await Promise.all(handles.map((handle) => handle.close()))
    return figures()
  }
  if (phase === 'layout-read') {
    // The same reads from the layout's chunk files with plain fs: each file opened on this thread
    // at its first read (as the store opens them), one read per chunk span, and at most as many
    // kept open as the store keeps (its default openFileLimit): the oldest unused one is closed
    // when one more opens. (Keeping all 1,024 open costs ~30 ms per GiB here in fd-table growth,
    // which the store never pays.)
    const layout = join(directory, 'layout')
    const descriptors = new Map<number, { fd: number; reading: number }>()
    const acquire = (chunk: number) => {
      let entry = descriptors.get(chunk)
      if (entry === undefined) {
        entry = { fd: openSync(join(layout, `${chunk}.enc`), 'r'), reading: 0 }
        descriptors.set(chunk, entry)
        for (const [old, other] of descriptors) {
          if (descriptors.size <= STORE_OPEN_FILE_LIMIT) break
          if (other.reading > 0) continue
          closeSync(other.fd)
          descriptors.delete(old)
        }
      }
      entry.reading++
      return entry
    }
    const buffers = readBuffers(pieceLength)
    let checksum = 0
    await window(pieceCount, concurrency, async (index, worker) => {
      const buffer = buffers[worker]!
      const size = sizeOf(index)
      const reads: Promise<unknown>[] = []
      for (const span of chunkSpans(index * pieceLength, size)) {
        const entry = acquire(span.chunk)
        reads.push(
          readAt(entry.fd, buffer, span.pieceOffset, span.length, span.chunkOffset).finally(() => {
            entry.reading--
          }),
        )
      }
      await Promise.all(reads)
      checksum += buffer[size - 1]!
    })
    const result = { ...figures(), checksum }
    for (const { fd } of descriptors.values()) closeSync(fd)
    return result
  }
  if (phase === 'fs-read') {
    const plain = await open(plainPath, 'r')
    let checksum = 0
    const buffers = readBuffers(pieceLength)
    const readAll = () =>
      window(pieceCount, concurrency, async (index, worker) => {
        const buffer = buffers[worker]!.subarray(0, sizeOf(index))
        await plain.read(buffer, 0, buffer.length, index * pieceLength)
        checksum += buffer[buffer.length - 1]!
      })
    await readAll()
    const timed = figures()
    const firstChecksum = checksum
    const warmStarted = performance.now()
    await readAll()
    const warmMilliseconds = performance.now() - warmStarted
    await plain.close()
    return { ...timed, checksum: firstChecksum, warmMilliseconds }
  }
  const storage = await ChunkStorage.open({ directory: storeDirectory, chunkSize: CHUNK })
  const torrent = await storage.openTorrent(geometryFor(pieceLength))
  let checksum = 0
  const buffers = readBuffers(pieceLength)
  started = performance.now()
  cpuStart = process.cpuUsage()
  loopStart = performance.eventLoopUtilization()
  await window(pieceCount, concurrency, async (index, worker) => {
    const buffer = buffers[worker]!
    const length = await torrent.readPieceInto(index, buffer)
    checksum += buffer[length - 1]!
  })
  const timed = figures()
  // Untimed: every 16th piece compared byte for byte, through readPiece as well.
  let mismatches = 0
  for (let index = 0; index < pieceCount; index += 16) {
    if (!(await torrent.readPiece(index)).equals(pieceView(index, sizeOf(index)))) mismatches++
  }
  const chunkCount = storage.stats().chunkCount
  await storage.close()
  // Untimed above: every chunk file opened, then the same reads timed again.
  const warm = await ChunkStorage.open({
    directory: storeDirectory,
    chunkSize: CHUNK,
    openFileLimit: chunkCount + 16,
  })
  const warmTorrent = await warm.openTorrent(geometryFor(pieceLength))
  const readAll = () =>
    window(pieceCount, concurrency, async (index, worker) => {
      await warmTorrent.readPieceInto(index, buffers[worker]!)
    })
  await readAll()
  const warmStarted = performance.now()
  await readAll()
  const warmMilliseconds = performance.now() - warmStarted
  await warm.close()
  return { ...timed, checksum, mismatches, warmMilliseconds }
}

function inChild(
  phase: Phase,
  pieceLength: number,
  directory: string,
  poolSize: number,
): Promise<PhaseResult> {
  return new Promise((resolvePhase, reject) => {
    execFile(
      process.execPath,
      [import.meta.filename, '--phase', phase, String(pieceLength), directory],
      { maxBuffer: 1 << 20, env: { ...process.env, UV_THREADPOOL_SIZE: String(poolSize) } },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`${phase} failed: ${stderr || error.message}`))
        else resolvePhase(JSON.parse(stdout.trim().split('\n').pop()!) as PhaseResult)
      },
    )
  })
}

/**
 * The page cache the kernel holds in 2 MiB folios, in MiB (FileHugePages of /proc/meminfo; NaN
 * where the kernel does not report it). Read before and after a write phase, its growth is the
 * share of the phase's bytes cached in 2 MiB folios rather than 4 KiB pages.
 */
async function pageCacheHugeMiB(): Promise<number> {
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '')
  const kibibytes = /^FileHugePages:\s+(\d+) kB/m.exec(meminfo)?.[1]
  return kibibytes === undefined ? Number.NaN : Number(kibibytes) / 1024
}

/** `sync`: writes every dirty page of the system back to disk. */
function flushDirtyPages(): Promise<void> {
  return new Promise((resolveSync, reject) => {
    execFile('sync', (error) => (error === null ? resolveSync() : reject(error)))
  })
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const megabytesPerSecond = (milliseconds: number) => payload / 1e6 / (milliseconds / 1000)
const round = (value: number, digits = 3) => Number(value.toFixed(digits))

async function benchOne(pieceLength: number, poolSize: number, keepStores: boolean) {
  const base = join(root, `pieces-${pieceLength}-${poolSize}`)
  const best = {
    fsWritten: Infinity,
    fsWrite: Infinity,
    storeWrite: Infinity,
    fsRead: Infinity,
    storeRead: Infinity,
    fsReadWarm: Infinity,
    storeReadWarm: Infinity,
    layoutWrite: Infinity,
    layoutRead: Infinity,
  }
  const peakRss = {
    'fs-write': 0,
    'store-write': 0,
    'layout-write': 0,
    'fs-read': 0,
    'store-read': 0,
    'layout-read': 0,
  }
  // Each round's store/fs ratios (the phases of one round run back to back, in alternating order).
  const pairRatios = { write: [] as number[], read: [] as number[] }
  // The last round's: MiB of page cache in 2 MiB folios each write phase left (see pageCacheHugeMiB).
  const hugeFolios: Record<string, number> = {}
  let mismatches = 0
  let disk = { allocated: 0, apparent: 0 }
  let chunks = 0
  for (let round = 0; round < rounds; round++) {
    // Each round in a directory of its own. Its plain file goes at the end of the round; its store
    // at the end of the run when the disk allows it, so that no store's chunk files are created
    // right after another's were deleted.
    const directory = join(base, `round-${round}`)
    if (!keepStores && round > 0) await rm(join(base, `round-${round - 1}`), { recursive: true, force: true })
    await mkdir(directory, { recursive: true })
    const writes: Phase[] = ['fs-write', 'store-write', 'layout-write']
    const reads: Phase[] = ['fs-read', 'store-read', 'layout-read']
    if (round % 2 === 1) {
      writes.reverse()
      reads.reverse()
    }
    const results = new Map<Phase, PhaseResult>()
    const runOne = async (phase: Phase) => {
      // Every phase starts with no dirty pages left by the one before (untimed): otherwise the
      // kernel's writeback of the previous gigabyte lands on whichever phase runs next.
      await flushDirtyPages()
      if (phase.endsWith('-write')) await warmMemory(directory, payload)
      const hugeBefore = await pageCacheHugeMiB()
      const result = await inChild(phase, pieceLength, directory, poolSize)
      results.set(phase, result)
      if (phase.endsWith('-write')) hugeFolios[phase] = Math.round((await pageCacheHugeMiB()) - hugeBefore)
      peakRss[phase] = Math.max(peakRss[phase], result.peakRssMB)
    }
    for (const phase of writes) await runOne(phase)
    const fsWrite = results.get('fs-write')!
    best.fsWritten = Math.min(best.fsWritten, fsWrite.writtenMilliseconds!)
    best.fsWrite = Math.min(best.fsWrite, fsWrite.milliseconds)
    best.storeWrite = Math.min(best.storeWrite, results.get('store-write')!.milliseconds)
    best.layoutWrite = Math.min(best.layoutWrite, results.get('layout-write')!.milliseconds)
    pairRatios.write.push(fsWrite.milliseconds / results.get('store-write')!.milliseconds)
    // The reads take ~0.1 s each from the page cache, where one preempted thread moves a figure
    // by 20-40%: each round runs them readRepeats times, in alternating order, every time in
    // fresh processes, and every repeat is one more pair for the median and one more try for the
    // bests. The writes (seconds each, and a gigabyte of disk) run once per round.
    for (let repeat = 0; repeat < readRepeats; repeat++) {
      for (const phase of repeat % 2 === 1 ? [...reads].reverse() : reads) await runOne(phase)
      best.fsRead = Math.min(best.fsRead, results.get('fs-read')!.milliseconds)
      best.storeRead = Math.min(best.storeRead, results.get('store-read')!.milliseconds)
      best.fsReadWarm = Math.min(best.fsReadWarm, results.get('fs-read')!.warmMilliseconds!)
      best.storeReadWarm = Math.min(best.storeReadWarm, results.get('store-read')!.warmMilliseconds!)
      best.layoutRead = Math.min(best.layoutRead, results.get('layout-read')!.milliseconds)
      pairRatios.read.push(results.get('fs-read')!.milliseconds / results.get('store-read')!.milliseconds)
      mismatches += results.get('store-read')!.mismatches!
      if (results.get('store-read')!.checksum !== results.get('fs-read')!.checksum) mismatches++
      if (results.get('layout-read')!.checksum !== results.get('fs-read')!.checksum) mismatches++
    }
    await rm(join(directory, 'plain.bin'), { force: true })
    disk = await diskBytes(join(directory, 'store'))
    const storage = await ChunkStorage.open({ directory: join(directory, 'store'), chunkSize: CHUNK })
    chunks = storage.stats().chunkCount
    await storage.close()
  }
  return {
    pieceLength,
    uvThreadpoolSize: poolSize,
    pieces: Math.ceil(payload / pieceLength),
    payloadBytes: payload,
    fsWriteMBps: round(megabytesPerSecond(best.fsWrite), 1),
    fsWriteNoSyncMBps: round(megabytesPerSecond(best.fsWritten), 1),
    storeWriteMBps: round(megabytesPerSecond(best.storeWrite), 1),
    writeRatio: round(best.fsWrite / best.storeWrite),
    writeRatioPairMedian: round(median(pairRatios.write)),
    writeRatioNoSync: round(best.fsWritten / best.storeWrite),
    fsReadMBps: round(megabytesPerSecond(best.fsRead), 1),
    storeReadMBps: round(megabytesPerSecond(best.storeRead), 1),
    readRatio: round(best.fsRead / best.storeRead),
    readRatioPairMedian: round(median(pairRatios.read)),
    /** With every chunk file already open: the store's per-read cost without opens and closes. */
    readRatioWarm: round(best.fsReadWarm / best.storeReadWarm),
    /**
     * The store's layout written and read with plain fs (one file per chunk, no index): the share
     * of the gap that is the layout's (layout vs fs) and the store's own (store vs layout).
     */
    layoutWriteMBps: round(megabytesPerSecond(best.layoutWrite), 1),
    layoutReadMBps: round(megabytesPerSecond(best.layoutRead), 1),
    layoutWriteRatio: round(best.fsWrite / best.layoutWrite),
    layoutReadRatio: round(best.fsRead / best.layoutRead),
    storeVsLayoutWrite: round(best.layoutWrite / best.storeWrite),
    storeVsLayoutRead: round(best.layoutRead / best.storeRead),
    /**
     * MiB of page cache in 2 MiB folios that each write phase made (the last round's). The plain
     * file is cached in 2 MiB folios, a 1 MiB chunk file in 4 KiB pages (no folio outgrows its
     * file); 2 MiB chunks are cached in 2 MiB folios too and read no closer to the plain file
     * (measured: 0.69 vs 0.66 with 1 MiB chunks), so the read gap is not the page cache's shape.
     */
    pageCacheHugeMiB: hugeFolios,
    diskBytes: disk.allocated,
    diskApparentBytes: disk.apparent,
    diskRatio: round(disk.allocated / payload, 4),
    chunks,
    peakRssMB: peakRss,
    mismatches,
  }
}

if (process.argv[2] === '--phase') {
  const [phase, pieceLength, directory] = process.argv.slice(3) as [Phase, string, string]
  console.log(JSON.stringify(await runPhase(phase, Number(pieceLength), directory)))
} else {
  if (!Number.isSafeInteger(payload) || payload <= 0)
    throw new RangeError('BENCH_BYTES must be a positive integer')
  if (!Number.isSafeInteger(CHUNK) || CHUNK <= 0)
    throw new RangeError('BENCH_CHUNK_SIZE must be a positive integer')
  // Leftovers of an interrupted run would be opened as this run's stores.
  await rm(root, { recursive: true, force: true })
  await mkdir(root, { recursive: true })
  // Keeping every round's store (and layout files) until the end needs two payloads per round, piece
  // size and pool size,
  // plus the plain file and the scratch file; otherwise each round deletes the one before (said on
  // stderr).
  const { bavail, bsize } = await statfs(root)
  const storesBytes = 2 * rounds * pieceLengths.length * poolSizes.length * payload * 1.01
  const keepStores = bavail * bsize > storesBytes + 2.5 * payload
  if (!keepStores) {
    process.stderr.write(
      `bench:storage: ${Math.round((bavail * bsize) / MiB)} MiB free in ${root}: each round deletes the one before\n`,
    )
  }
  const results = []
  for (const poolSize of poolSizes) {
    for (const pieceLength of pieceLengths) {
      const result = await benchOne(pieceLength, poolSize, keepStores)
      results.push(result)
      console.log(
        `${(pieceLength / 1024).toString().padStart(5)} KiB pieces x ${result.pieces}, ${poolSize} libuv threads: ` +
          `write ${result.storeWriteMBps} MB/s vs fs ${result.fsWriteMBps} MB/s (fsync at the end; ` +
          `${result.fsWriteNoSyncMBps} without) = ${result.writeRatio} (per round median ${result.writeRatioPairMedian}); ` +
          `read ${result.storeReadMBps} MB/s vs fs ${result.fsReadMBps} MB/s = ${result.readRatio} (per round median ${result.readRatioPairMedian}; chunk files open ${result.readRatioWarm}); ` +
          `layout (a file per chunk, plain fs) write ${result.layoutWriteRatio} / read ${result.layoutReadRatio} of fs, store vs layout write ${result.storeVsLayoutWrite} / read ${result.storeVsLayoutRead}; ` +
          `page cache in 2 MiB folios after writes fs/store/layout ${['fs-write', 'store-write', 'layout-write'].map((phase) => result.pageCacheHugeMiB[phase]).join('/')} MiB; ` +
          `disk ${result.diskRatio} x payload; peak RSS store ${result.peakRssMB['store-write']}/${result.peakRssMB['store-read']} MB` +
          (result.mismatches > 0 ? `; ${result.mismatches} MISMATCHES` : ''),
      )
    }
  }
  await rm(root, { recursive: true, force: true })
  const storePeakRssMB = Math.max(
    ...results.flatMap((result) => [result.peakRssMB['store-write'], result.peakRssMB['store-read']]),
  )
  const meetsFor = (poolSize: number) => {
    const subset = results.filter((result) => result.uvThreadpoolSize === poolSize)
    const peak = Math.max(
      ...subset.flatMap((result) => [result.peakRssMB['store-write'], result.peakRssMB['store-read']]),
    )
    return {
      writeRatio: subset.every((result) => result.writeRatio >= targets.writeRatio),
      readRatio: subset.every((result) => result.readRatio >= targets.readRatio),
      diskRatio: subset.every((result) => result.diskRatio <= targets.diskRatio),
      peakRssMB: peak < targets.peakRssMB,
      correct: subset.every((result) => result.mismatches === 0),
    }
  }
  const meets = Object.fromEntries(poolSizes.map((poolSize) => [poolSize, meetsFor(poolSize)]))
  for (const [poolSize, met] of Object.entries(meets)) {
    console.log(
      `${poolSize} libuv threads, targets: ` +
        Object.entries(met)
          .map(([name, ok]) => `${name} ${ok ? 'met' : 'NOT met'}`)
          .join(', '),
    )
  }
  console.log(
    JSON.stringify({
      bench: 'storage',
      payloadBytes: payload,
      chunkSize: CHUNK,
      concurrency,
      rounds,
      readRepeats,
      node: process.version,
      uvThreadpoolSizes: poolSizes,
      results,
      storePeakRssMB,
      targets,
      meets,
    }),
  )
}
