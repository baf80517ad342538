// bench:remote (issue #5): what the remote tier costs a real download. One torrent (default 1 GiB,
// v1, 256 KiB pieces, three files whose boundaries fall inside chunks) is downloaded over loopback
// (127.0.0.1, TCP; DHT, LSD, UPnP, NAT-PMP off) from a python3-libtorrent seeder into
// TorrentClient.newWithStorage(ChunkStorage), in the same run, by
//   off         - ChunkStorage without a remote tier (the baseline)
//   on          - ChunkStorage with `remote:` pointing at s3rver, started by the bench on 127.0.0.1
//                 (a fresh server and bucket per run), a cache limit of BENCH_CACHE_LIMIT and
//                 `pinOpenTorrents: false` (as the CLI sets it with a remote tier), so uploaded
//                 chunks of the open torrent may be evicted while it downloads; `holdCacheLimit`
//                 left at its default (true): a write needing a new chunk in a full cache evicts for
//                 it, then waits for uploads, so the download runs at the pace of the uploads
//   on-eventual - as (on) with `holdCacheLimit: false`: writes never wait, the download runs at full
//                 speed, the cache grows past its limit while uploads lag and shrinks back to it as
//                 they are confirmed
// Each download runs in its own child Node process (its own CPU and peak RSS), the store on a real
// disk (BENCH_DIR, never tmpfs); the seeder's data lives on tmpfs, s3rver's objects in the system
// temp directory. Repetitions interleave off, on, on-eventual, off, … (the machine is shared and
// noisy); figures are medians (min–max), ratios to (off) also per interleaved pair.
//
// Measured in the child: download MB/s (add() until done()); for the remote variants also the upload
// completion time (done() until storage.flushUploads() resolves), the total (add() until uploads
// confirmed), then the wait for eviction to settle; peak RSS (VmHWM) at that point; local disk use
// at the end (stats().bytesOnDisk, du of chunks/ and du of the whole store: chunks/ + index.db +
// WAL); the remote objects and bytes, and remote.writesDelayed (waits for room), from stats(); the
// warnings; and, sampled every 100 ms during the run, stats().bytesOnDisk, whose maximum and samples
// over cache limit + one chunk are reported, and the longest gaps without a piece verified and
// without an upload confirmed (a stall, as opposed to a steady pace).
// Checked, untimed: every file read back through the client (torrent.createReadStream, so the
// remote variants read evicted chunks through from the bucket) equals the seeder's bytes; the bucket
// holds one object per chunk, and one object spot-checked is an envelope that decrypts to a chunk of
// the torrent and does not contain that chunk's plaintext.
//
// Targets (issue #5), for each remote variant: its download MB/s / off's >= 0.7; peak RSS under
// 300 MB (10^6 bytes, every run); the cache held during the run (max bytesOnDisk <= cache limit +
// one chunk, every run); chunk bytes on disk at the end (du of chunks/) <= cache limit + one chunk
// (index.db and its WAL are reported separately); every check correct.
//
//   pnpm bench:remote                        full run (1 GiB x 3 runs of each variant)
//   BENCH_BYTES=64M BENCH_RUNS=1 pnpm bench:remote
//   BENCH_BYTES=1G                           torrent size (at least 8 MiB; default 1 GiB)
//   BENCH_RUNS=3                             repetitions of each variant
//   BENCH_CACHE_LIMIT=256M                   the remote variants' cacheLimitBytes (default a quarter
//                                            of BENCH_BYTES)
//   BENCH_DIR=/var/tmp                       where the stores go (a real disk; default the system
//                                            temp directory)
//   BENCH_SEQUENTIAL=1                       download pieces in order (every variant; default rarest
//                                            first for every variant, set explicitly: by itself the
//                                            client goes in order when the cache is smaller)
//   BENCH_VERBOSE=1                          echo the children's and the seeder's output
//   BENCH_NODE_FLAGS="--trace-gc"            flags for the download children's node
//   BENCH_CLIENT_OPTIONS='{"readCacheBytes":8388608}'
//                                            extra TorrentClient options for every download (JSON;
//                                            `settings` merged into the loopback ones), for experiments
//   BENCH_WRITE_PATH=1                       also the storage write-path phases (no client, in this
//                                            process): plain / remote / remote-hung / read-through,
//                                            BENCH_WRITE_PATH_BYTES each (default 128 MiB)
// Each remote run's line ends with its timeline (every second: bytesOnDisk, pending and done
// uploads, pieces verified). The last line of stdout is one JSON object with the figures, ratios,
// targets and meets (per remote variant).
//
// `node bench/remote.ts --leech SPEC` is a download child: one run, its result printed as JSON.

import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Torrent } from '@chunktorrent/client'
import type { StorageStats } from '@chunktorrent/storage'
import {
  benchClientOptions,
  buildStamps,
  changedStamps,
  compactSummaries,
  compactSummary,
  cpuSecondsOf,
  type DiskUsage,
  describeBuilds,
  describeThreads,
  diskScratchDir,
  diskUsage,
  echoPeerOutput,
  envBytes,
  envFlag,
  envInt,
  envString,
  envWords,
  exitWithParent,
  formatBytes,
  formatSummary,
  formatTable,
  interleave,
  killTrackedChildren,
  libtorrentPeers,
  log,
  MB,
  type MemoryPeaks,
  MiB,
  mainThreadCpuSeconds,
  medianBy,
  memoryPeaks,
  onInterrupt,
  type ProcSnapshot,
  printJsonLine,
  printResult,
  ratio,
  readProc,
  recordMemoryPeaks,
  runNodeChild,
  type Summaries,
  scratchDir,
  summarize,
  summarizeFields,
  syncAll,
  type ThreadCpu,
  threadCpu,
  threadCpuDelta,
} from './lib/index.ts'

const LEECH_FLAG = '--leech'
const PIECE_LENGTH = 256 * 1024
const NAME = 'remote-bench'
const DATA_SEED = 'bench-remote'
const TARGETS = { throughputRatio: 0.7, peakRssMB: 300 }
const VARIANTS = ['off', 'on', 'on-eventual'] as const
type Variant = (typeof VARIANTS)[number]
const REMOTE_VARIANTS = ['on', 'on-eventual'] as const
type RemoteVariant = (typeof REMOTE_VARIANTS)[number]
const LABELS: Record<Variant, string> = {
  off: 'off: ChunkStorage, no remote tier',
  on: 'on: + remote tier (s3rver), limit held',
  'on-eventual': 'on-eventual: + remote tier, holdCacheLimit false',
}
const loadAtStart = loadavg()

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

// ---- the download child ------------------------------------------------------------------------

interface LeechSpec {
  torrentPath: string
  peer: string
  directory: string
  /** The seeder's save path: torrent file paths (name first) are below it. */
  sourceRoot: string
  cacheLimitBytes: number
  /** (on): the bucket; the key comes from CHUNKTORRENT_ENCRYPTION_KEY. */
  remote?: { endpoint: string; bucket: string; credentials: { accessKeyId: string; secretAccessKey: string } }
  /** With the remote tier: ChunkStorage's holdCacheLimit, or undefined for its default (on). */
  holdCacheLimit?: boolean
  sequential: boolean
  timeoutMs: number
  uploadTimeoutMs: number
}

/** Peaks sampled inside the child every 100 ms, add() until eviction settled. */
interface InsidePeaks extends MemoryPeaks {
  /** stats().bytesOnDisk: its maximum, and when (seconds after add()). */
  maxBytesOnDisk: number
  maxBytesOnDiskSeconds: number
  maxChunkCount: number
  maxPendingUploads: number
  samples: number
  /** Samples with bytesOnDisk > cache limit + one chunk, and the first such (seconds after add()). */
  samplesOverLimit: number
  firstOverLimitSeconds: number
  /** The longest gap between samples at which piecesVerified rose (from the first piece verified),
   *  and when it ended: a stall of the download, if well above the pace of the rest. */
  longestPieceGapSeconds: number
  longestPieceGapEndSeconds: number
  /** The same for uploadsDone (from the first upload confirmed). */
  longestUploadGapSeconds: number
  longestUploadGapEndSeconds: number
}

interface VerifyResult {
  files: number
  bytes: number
  mismatches: string[]
  seconds: number
  /** Chunks fetched back from the bucket while reading (on). */
  fetches: number
}

interface LeechResult {
  payloadBytes: number
  pieceCount: number
  fileCount: number
  chunkSize: number
  cacheLimitBytes: number
  /** storage.holdCacheLimit as the store reports it. */
  holdCacheLimit: boolean
  /** add() until torrent.done(). */
  downloadSeconds: number
  /** done() until storage.flushUploads() resolved (0 without a remote tier). */
  uploadSeconds: number
  /** add() until flushUploads() resolved. */
  totalSeconds: number
  /** flushUploads() resolved until bytesOnDisk was within the cache limit and steady. */
  settleSeconds: number
  /** CPU (all threads) add() until done(), and until flushUploads() resolved. */
  downloadCpuSeconds: number
  cpuSeconds: number
  mainThreadCpuSeconds: number
  threads: ThreadCpu[]
  atDone: ProcSnapshot
  /** After settling, before the read-back: its peakRssBytes (VmHWM) covers everything measured. */
  atEnd: ProcSnapshot
  inside: InsidePeaks
  /** Every second and at the end: [seconds after add(), bytesOnDisk MiB, pending uploads, uploads done,
   *  pieces verified]. */
  timeline: number[][]
  storageAtDone: StorageStats
  storageAtEnd: StorageStats
  /** du of the store directory, and of chunks/ alone, at the end (store open). */
  diskAtEnd: DiskUsage
  chunksDiskAtEnd: DiskUsage
  verify: VerifyResult
  warnings: string[]
  closeSeconds: number
}

function sampleInside(
  storage: { stats(): StorageStats },
  bridge: () => { storingBytes?: number; cacheBytes?: number },
  overLimitAt: number,
  started: number,
): { stop(): InsidePeaks; timeline: number[][] } {
  const peaks: InsidePeaks = {
    ...memoryPeaks(),
    maxBytesOnDisk: 0,
    maxBytesOnDiskSeconds: 0,
    maxChunkCount: 0,
    maxPendingUploads: 0,
    samples: 0,
    samplesOverLimit: 0,
    firstOverLimitSeconds: Number.NaN,
    longestPieceGapSeconds: 0,
    longestPieceGapEndSeconds: Number.NaN,
    longestUploadGapSeconds: 0,
    longestUploadGapEndSeconds: Number.NaN,
  }
  const timeline: number[][] = []
  let nextTimelineSecond = 0
  // The last value of piecesVerified / uploadsDone and when it was first seen to rise to it.
  const progress = {
    pieces: { value: 0, at: Number.NaN },
    uploads: { value: 0, at: Number.NaN },
  }
  const gap = (which: 'pieces' | 'uploads', value: number, seconds: number) => {
    const last = progress[which]
    if (value <= last.value) return
    if (!Number.isNaN(last.at)) {
      const length = seconds - last.at
      if (which === 'pieces' && length > peaks.longestPieceGapSeconds) {
        peaks.longestPieceGapSeconds = length
        peaks.longestPieceGapEndSeconds = seconds
      }
      if (which === 'uploads' && length > peaks.longestUploadGapSeconds) {
        peaks.longestUploadGapSeconds = length
        peaks.longestUploadGapEndSeconds = seconds
      }
    }
    last.value = value
    last.at = seconds
  }
  const sample = (last = false) => {
    const seconds = (performance.now() - started) / 1000
    recordMemoryPeaks(peaks, bridge)
    try {
      const stats = storage.stats()
      if (stats.bytesOnDisk > peaks.maxBytesOnDisk) {
        peaks.maxBytesOnDisk = stats.bytesOnDisk
        peaks.maxBytesOnDiskSeconds = seconds
      }
      peaks.maxChunkCount = Math.max(peaks.maxChunkCount, stats.chunkCount)
      peaks.maxPendingUploads = Math.max(peaks.maxPendingUploads, stats.remote?.pendingUploads ?? 0)
      if (stats.bytesOnDisk > overLimitAt) {
        peaks.samplesOverLimit++
        if (Number.isNaN(peaks.firstOverLimitSeconds)) peaks.firstOverLimitSeconds = seconds
      }
      gap('pieces', stats.piecesVerified, seconds)
      gap('uploads', stats.remote?.uploadsDone ?? 0, seconds)
      if (seconds >= nextTimelineSecond || last) {
        nextTimelineSecond = Math.floor(seconds) + 1
        timeline.push([
          Math.round(seconds * 10) / 10,
          Math.round((stats.bytesOnDisk / MiB) * 10) / 10,
          stats.remote?.pendingUploads ?? 0,
          stats.remote?.uploadsDone ?? 0,
          stats.piecesVerified,
        ])
      }
    } catch {
      // closed
    }
    peaks.samples++
  }
  const timer = setInterval(() => sample(), 100)
  return {
    timeline,
    stop: () => {
      clearInterval(timer)
      sample(true)
      return { ...peaks }
    },
  }
}

/** Reads every file back through the client and compares it with the seeder's copy. */
async function compareWithSource(
  torrent: Torrent,
  root: string,
  pieceLength: number,
  signal: AbortSignal,
): Promise<Omit<VerifyResult, 'seconds' | 'fetches'>> {
  const mismatches: string[] = []
  const expected = Buffer.allocUnsafe(pieceLength)
  let bytes = 0
  for (const [index, file] of torrent.files.entries()) {
    const handle = await open(join(root, file.path), 'r')
    try {
      let position = 0
      let differs = false
      for await (const part of torrent.createReadStream(index, { signal })) {
        const actual = part as Buffer
        const slice = expected.subarray(0, actual.length)
        const { bytesRead } = await handle.read(slice, 0, actual.length, position)
        if (bytesRead !== actual.length || !slice.equals(actual)) {
          mismatches.push(`${file.path}: differs in [${position}, ${position + actual.length})`)
          differs = true
          break
        }
        position += actual.length
      }
      if (!differs && position !== file.length)
        mismatches.push(`${file.path}: read ${position} of ${file.length} bytes`)
      bytes += position
    } finally {
      await handle.close()
    }
  }
  return { files: torrent.files.length, bytes, mismatches }
}

async function leechChild(argv: string[]): Promise<void> {
  exitWithParent()
  const spec = JSON.parse(argv[0] ?? '') as LeechSpec
  const { TorrentClient } = await import('@chunktorrent/client')
  const { ChunkStorage } = await import('@chunktorrent/storage')
  const storage = await ChunkStorage.open({
    directory: spec.directory,
    cacheLimitBytes: spec.cacheLimitBytes,
    ...(spec.remote && {
      remote: { ...spec.remote, region: 'us-east-1' },
      pinOpenTorrents: false,
      ...(spec.holdCacheLimit !== undefined && { holdCacheLimit: spec.holdCacheLimit }),
    }),
  })
  const client = await TorrentClient.newWithStorage(storage, benchClientOptions())
  const warnings: string[] = []
  client.on('warning', (warning) => warnings.push(String((warning as { code?: unknown }).code ?? warning)))
  const torrentBytes = readFileSync(spec.torrentPath)

  const threadsBefore = threadCpu('self')
  const before = readProc('self')
  const started = performance.now()
  const sampler = sampleInside(
    storage,
    () => client.session.bridgeStats(),
    spec.cacheLimitBytes + storage.chunkSize,
    started,
  )
  const torrent = await client.add(torrentBytes, {
    peers: [spec.peer],
    // Explicit either way: by itself the client would go in order for the remote variants only.
    sequential: spec.sequential,
  })
  await torrent.done({ signal: AbortSignal.timeout(spec.timeoutMs) })
  const doneAt = performance.now()
  const atDone = readProc('self')
  const storageAtDone = storage.stats()
  await storage.flushUploads({ signal: AbortSignal.timeout(spec.uploadTimeoutMs) })
  const flushedAt = performance.now()
  const atFlushed = readProc('self')
  const threads = threadCpuDelta(threadsBefore, threadCpu('self'))
  // Eviction runs in the background after the last uploads: wait until the store is within its
  // limit (or stops changing) and then steady for half a second, so du sees the files gone.
  if (spec.remote) {
    const deadline = performance.now() + 30_000
    let last = -1
    let steadySince = performance.now()
    while (performance.now() < deadline) {
      const now = storage.stats().bytesOnDisk
      if (now !== last) {
        last = now
        steadySince = performance.now()
      } else if (
        performance.now() - steadySince >= (now <= spec.cacheLimitBytes ? 500 : 3000) &&
        storage.stats().remote?.pendingUploads === 0
      ) {
        break
      }
      await sleep(50)
    }
  }
  const settledAt = performance.now()
  const inside = sampler.stop()
  const atEnd = readProc('self')
  const storageAtEnd = storage.stats()
  const diskAtEnd = diskUsage(spec.directory)
  const chunksDiskAtEnd = diskUsage(join(spec.directory, 'chunks'))

  const status = torrent.status()
  const pieceCount = torrent.pieceCount ?? 0
  if (!status.seeding) throw new Error(`done() but not seeding: ${status.state}`)
  if (storageAtEnd.piecesVerified !== pieceCount)
    throw new Error(`ChunkStorage has ${storageAtEnd.piecesVerified} of ${pieceCount} pieces verified`)

  // Untimed: every byte back through the client (read-through from the bucket for evicted chunks).
  const verifyStarted = performance.now()
  const fetchesBefore = storage.stats().remote?.fetches ?? 0
  const compared = await compareWithSource(
    torrent,
    spec.sourceRoot,
    torrent.pieceLength ?? PIECE_LENGTH,
    AbortSignal.timeout(spec.timeoutMs),
  )
  const verify: VerifyResult = {
    ...compared,
    seconds: (performance.now() - verifyStarted) / 1000,
    fetches: (storage.stats().remote?.fetches ?? 0) - fetchesBefore,
  }
  const closeStarted = performance.now()
  await client.close()
  printResult({
    payloadBytes: torrent.length ?? 0,
    pieceCount,
    fileCount: torrent.files.length,
    chunkSize: storage.chunkSize,
    cacheLimitBytes: storage.cacheLimitBytes,
    holdCacheLimit: storage.holdCacheLimit,
    downloadSeconds: (doneAt - started) / 1000,
    uploadSeconds: (flushedAt - doneAt) / 1000,
    totalSeconds: (flushedAt - started) / 1000,
    settleSeconds: (settledAt - flushedAt) / 1000,
    downloadCpuSeconds: atDone.cpuSeconds - before.cpuSeconds,
    cpuSeconds: atFlushed.cpuSeconds - before.cpuSeconds,
    mainThreadCpuSeconds: mainThreadCpuSeconds(threads),
    threads: threads.slice(0, 10),
    atDone,
    atEnd,
    inside,
    timeline: sampler.timeline,
    storageAtDone,
    storageAtEnd,
    diskAtEnd,
    chunksDiskAtEnd,
    verify,
    warnings,
    closeSeconds: (performance.now() - closeStarted) / 1000,
  } satisfies LeechResult)
  process.exit(0)
}

// ---- the parent --------------------------------------------------------------------------------

/** What a run reports of the peaks sampled inside the child, as the child gave them. */
type InsideFigures = Pick<
  InsidePeaks,
  | 'maxBytesOnDisk'
  | 'maxBytesOnDiskSeconds'
  | 'samples'
  | 'samplesOverLimit'
  | 'firstOverLimitSeconds'
  | 'longestPieceGapSeconds'
  | 'longestPieceGapEndSeconds'
  | 'longestUploadGapSeconds'
  | 'longestUploadGapEndSeconds'
  | 'maxPendingUploads'
  | 'heapUsedBytes'
  | 'externalBytes'
  | 'arrayBuffersBytes'
>

/** One download, in the same terms for every variant (upload figures 0 / NaN for off). */
interface RunFigures extends InsideFigures {
  mbps: number
  downloadSeconds: number
  uploadSeconds: number
  totalSeconds: number
  settleSeconds: number
  /** payload / totalSeconds: the rate at which chunks reached the bucket (on). */
  uploadMbps: number
  cpuSeconds: number
  downloadCpuSeconds: number
  mainThreadCpuSeconds: number
  seederCpuSeconds: number
  /** This process's CPU over the child's life: s3rver and its proxy (on), sampling. */
  parentCpuSeconds: number
  /** The child's VmHWM after the uploads and eviction, before the read-back. */
  peakRssBytes: number
  /** Sampled by the parent over the child's whole life, read-back included. */
  peakRssLifeBytes: number
  peakRssAnonBytes: number
  /** Local disk use at the end, store open: du of the store, of chunks/, and stats().bytesOnDisk. */
  diskBytesAtEnd: number
  chunksDiskBytesAtEnd: number
  bytesOnDiskAtEnd: number
  /** du of the store after the child closed it and exited. */
  diskBytesAfterClose: number
  pendingUploadsAtDone: number
  bytesOnDiskAtDone: number
  remoteObjects: number
  remoteBytes: number
  uploadsFailed: number
  /** Chunk creations that waited for uploads and eviction (the write backpressure; 0 without it). */
  writesDelayed: number
  bucketObjects: number
  verifySeconds: number
  verifyFetches: number
  /** The bridge's write-back and piece cache, peaks sampled inside the child (add() until settled). */
  bridgeStoringBytes: number
  bridgeCacheBytes: number
  payloadBytes: number
  chunkSize: number
  /** Not numbers: kept out of the summaries. */
  variant: Variant
  /** storage.holdCacheLimit in the child. */
  holdCacheLimit: boolean
  /** Every file read back equals the seeder's. */
  filesMatch: boolean
  /** filesMatch, and the bucket checks passed (on). */
  correct: boolean
  problems: string[]
  timeline: number[][]
  threads: ThreadCpu[]
  warnings: string[]
  spotCheck: SpotCheck | undefined
}

/** One bucket object, looked at from outside the store. */
interface SpotCheck {
  key: string
  objectBytes: number
  /** Decrypted with the run's key: the chunk at this offset of the torrent's byte stream. */
  chunkOffset: number
  /** The decrypted chunk equals the seeder's bytes there. */
  plaintextMatches: boolean
  /** The object contains the first 4 KiB (or less) of that plaintext: it should not. */
  containsPlaintext: boolean
}

/**
 * Every key in a bucket, listed with ListObjects (v1) and markers: s3rver answers a truncated
 * ListObjectsV2 (more than 1,000 keys, as the fixture's listKeys asks) with InternalError under
 * Node 24, since its continuation token needs DES, which OpenSSL 3 no longer offers.
 */
async function listAllKeys(
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  bucket: string,
): Promise<string[]> {
  // The AWS SDK is a dependency of the storage package, not of the workspace root.
  const require = createRequire(join(import.meta.dirname, '..', 'packages', 'storage', 'package.json'))
  const sdk = (await import(
    pathToFileURL(require.resolve('@aws-sdk/client-s3')).href
  )) as typeof import('@aws-sdk/client-s3')
  const client = new sdk.S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials })
  try {
    const keys: string[] = []
    let marker: string | undefined
    for (;;) {
      const page = await client.send(
        new sdk.ListObjectsCommand({ Bucket: bucket, ...(marker !== undefined && { Marker: marker }) }),
      )
      const got = (page.Contents ?? []).map((item) => item.Key ?? '')
      keys.push(...got)
      if (!page.IsTruncated || got.length === 0) break
      marker = got.at(-1)
    }
    return keys.sort()
  } finally {
    client.destroy()
  }
}

/** Reads [offset, offset + length) of the torrent's flat byte stream from the seeder's files. */
async function readFlat(
  root: string,
  files: ReadonlyArray<{ path: string; length: number; offset: number; pad: boolean }>,
  offset: number,
  length: number,
): Promise<Buffer> {
  const out = Buffer.alloc(length)
  for (const file of files) {
    if (file.pad || file.length === 0) continue
    const from = Math.max(offset, file.offset)
    const to = Math.min(offset + length, file.offset + file.length)
    if (to <= from) continue
    const handle = await open(join(root, file.path), 'r')
    try {
      await handle.read(out, from - offset, to - from, from - file.offset)
    } finally {
      await handle.close()
    }
  }
  return out
}

function describeRun(run: RunFigures, variant: Variant): string {
  const mb = (value: number) => (value / MB).toFixed(0)
  const common =
    `${run.mbps.toFixed(1)} MB/s, ${run.downloadSeconds.toFixed(2)} s, CPU ${run.downloadCpuSeconds.toFixed(2)} s to done, ` +
    `${run.cpuSeconds.toFixed(2)} s to uploads confirmed (${describeThreads(run.threads, 0.05) || 'no thread over 0.05 s'}), ` +
    `peak RSS ${mb(run.peakRssBytes)} MB`
  // When a gap ended: NaN in the child (no gap seen, e.g. every piece verified in one commit) arrives
  // here as null, through JSON.
  const endedAt = (seconds: number | null) => (seconds === null ? 'n/a' : seconds.toFixed(1))
  const tail = `${run.correct ? 'bytes verified' : `WRONG: ${run.problems.join('; ')}`}`
  const pieceGap = `longest gap without a piece verified ${run.longestPieceGapSeconds.toFixed(1)} s (ending at ${endedAt(run.longestPieceGapEndSeconds)} s)`
  if (variant === 'off') return `${common}, disk ${formatBytes(run.diskBytesAtEnd)}, ${pieceGap}, ${tail}`
  return (
    `${common}; holdCacheLimit ${run.holdCacheLimit}; uploads confirmed ${run.uploadSeconds.toFixed(2)} s after done (${run.pendingUploadsAtDone} pending at done), ` +
    `total ${run.totalSeconds.toFixed(2)} s (${run.uploadMbps.toFixed(1)} MB/s into the bucket); s3rver CPU ${run.parentCpuSeconds.toFixed(2)} s; ` +
    `bytesOnDisk max ${formatBytes(run.maxBytesOnDisk)} at ${run.maxBytesOnDiskSeconds.toFixed(1)} s (${run.samplesOverLimit} samples over limit + chunk), at end ` +
    `${formatBytes(run.bytesOnDiskAtEnd)} (du ${formatBytes(run.diskBytesAtEnd)}, chunks/ ${formatBytes(run.chunksDiskBytesAtEnd)}, settled in ${run.settleSeconds.toFixed(2)} s); ` +
    `${run.remoteObjects} objects ${formatBytes(run.remoteBytes)}, ${run.uploadsFailed} failed uploads, ` +
    `${run.writesDelayed} waits for room (writesDelayed); ${pieceGap}, without an upload confirmed ` +
    `${run.longestUploadGapSeconds.toFixed(1)} s (ending at ${endedAt(run.longestUploadGapEndSeconds)} s); ` +
    `read-back fetched ${run.verifyFetches} chunks in ${run.verifySeconds.toFixed(1)} s; ${tail}` +
    (run.warnings.length ? `; warnings ${[...new Set(run.warnings)].join(',')}` : '')
  )
}

async function main(): Promise<void> {
  const startedAt = performance.now()
  const buildsAtStart = buildStamps()
  const bytes = envBytes('BENCH_BYTES', 1024 ** 3, { min: 8 * MiB })
  const runs = envInt('BENCH_RUNS', 3, { min: 1, max: 100 })
  const cacheLimitBytes = envBytes('BENCH_CACHE_LIMIT', Math.floor(bytes / 4), { min: MiB })
  const diskBase = envString('BENCH_DIR', tmpdir())
  const sequential = envFlag('BENCH_SEQUENTIAL')
  const verbose = envFlag('BENCH_VERBOSE')
  const writePath = envFlag('BENCH_WRITE_PATH')
  const writePathBytes = envBytes('BENCH_WRITE_PATH_BYTES', 128 * MiB, { min: MiB })
  // Generous bounds: 60 s plus 5 MB/s for the download, plus 2 MB/s for the uploads.
  const timeoutMs = 60_000 + Math.ceil(bytes / (5 * MB)) * 1000
  const uploadTimeoutMs = 60_000 + Math.ceil(bytes / (2 * MB)) * 1000

  const { peers, libtorrentVersion } = await libtorrentPeers()
  const { startS3 } = await import('../packages/storage/test/fixtures/s3-server.ts')
  const { decodeEnvelope } = await import('@chunktorrent/storage')

  // tmpfs: the seeder's data. Disk: one store at a time (off: the payload; on: about the cache
  // limit; on-eventual: up to the payload while uploads lag) and, in the system temp directory,
  // s3rver's copy of the payload.
  const scratch = scratchDir('chunktorrent-bench-remote', bytes + 64 * MiB)
  const disk = diskScratchDir('chunktorrent-bench-remote', 2 * bytes + 256 * MiB, diskBase)
  const cleanup = () => {
    peers.killAllChildren()
    killTrackedChildren()
    scratch.remove()
    disk.remove()
  }
  const removeInterruptHandler = onInterrupt(cleanup)
  let seeder: Awaited<ReturnType<typeof peers.startLibtorrentPeer>> | undefined
  try {
    log(
      `bench:remote: ${formatBytes(bytes)}, v1, ${PIECE_LENGTH / 1024} KiB pieces, ${runs} run(s) of ${VARIANTS.join(', ')}; ` +
        `cache limit ${formatBytes(cacheLimitBytes)}, pinOpenTorrents false; ${sequential ? 'sequential' : 'rarest-first'} ` +
        `download; python3-libtorrent ${libtorrentVersion}`,
    )
    log(
      `stores on ${disk.path} (${disk.fsType}); seeder data on ${scratch.path}${scratch.tmpfs ? ' (tmpfs)' : ' (NOT tmpfs)'}; ` +
        `s3rver objects in ${tmpdir()}`,
    )
    log(
      `load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')} (${availableParallelism()} CPUs)`,
    )

    // Three files, so that file boundaries fall inside pieces and chunks.
    let stepStarted = performance.now()
    const small = [
      { path: 'b.bin', length: 3 * MiB + 12_345 },
      { path: 'c.bin', length: 777_777 },
    ]
    const files = [{ path: 'a.bin', length: bytes - small[0]!.length - small[1]!.length }, ...small]
    const sourceRoot = join(scratch.path, 'seed')
    await peers.generateFiles(join(sourceRoot, NAME), files, DATA_SEED)
    const torrentBytes = await peers.createTorrent({
      path: join(sourceRoot, NAME),
      pieceLength: PIECE_LENGTH,
      version: 'v1',
      timeoutMs,
    })
    const torrentPath = join(scratch.path, `${NAME}.torrent`)
    writeFileSync(torrentPath, torrentBytes)
    const info = await peers.torrentInfo(torrentBytes)
    log(`data and torrent made in ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`)
    stepStarted = performance.now()
    seeder = await peers.startLibtorrentPeer({
      torrent: torrentPath,
      savePath: sourceRoot,
      role: 'seed',
      progressIntervalMs: 0,
      timeoutMs,
      label: 'bench seeder',
    })
    const seed = seeder
    if (verbose) echoPeerOutput(seed, 'seeder')
    log(
      `seeder (python3-libtorrent) ready on port ${seed.port} after ${((performance.now() - stepStarted) / 1000).toFixed(1)} s; ` +
        "leecher: the client with the client tests' loopback options (TCP only)",
    )

    /** The bucket from outside: one object per chunk, and one envelope looked at closely. */
    const checkBucket = async (
      s3: Awaited<ReturnType<typeof startS3>>,
      bucket: string,
      key: Buffer,
      chunkSize: number,
    ): Promise<{ objects: number; spotCheck: SpotCheck; problems: string[] }> => {
      const problems: string[] = []
      const keys = await listAllKeys(s3.endpoint, s3.credentials, bucket)
      const chunks = Math.ceil(bytes / chunkSize)
      if (keys.length !== chunks)
        problems.push(`the bucket holds ${keys.length} objects for ${chunks} chunks`)
      const objectKey = keys[Math.floor(keys.length / 2)]
      if (objectKey === undefined) throw new Error('the bucket is empty')
      const object = await s3.getObject(bucket, objectKey)
      const { plaintext } = decodeEnvelope(object, key)
      // Which chunk is it? Compare the first bytes at each chunk-aligned offset, then the whole.
      const probe = plaintext.subarray(0, 64)
      let chunkOffset = -1
      for (let offset = 0; offset < bytes && chunkOffset < 0; offset += chunkSize) {
        const head = await readFlat(sourceRoot, info.files, offset, Math.min(64, bytes - offset))
        if (head.equals(probe.subarray(0, head.length))) chunkOffset = offset
      }
      const expected =
        chunkOffset < 0
          ? undefined
          : await readFlat(sourceRoot, info.files, chunkOffset, Math.min(chunkSize, bytes - chunkOffset))
      const plaintextMatches = expected?.equals(plaintext) === true
      const containsPlaintext = object.includes(plaintext.subarray(0, 4096))
      if (!plaintextMatches) problems.push(`object ${objectKey} does not decrypt to a chunk of the torrent`)
      if (containsPlaintext) problems.push(`object ${objectKey} contains its chunk's plaintext`)
      return {
        objects: keys.length,
        spotCheck: {
          key: objectKey,
          objectBytes: object.length,
          chunkOffset,
          plaintextMatches,
          containsPlaintext,
        },
        problems,
      }
    }

    const runOne = async (variant: Variant, repetition: number): Promise<RunFigures> => {
      const directory = join(disk.path, `${variant}-${repetition}`)
      const s3 = variant === 'off' ? undefined : await startS3()
      const bucket = `bench-remote-${repetition}`
      const key = randomBytes(32)
      try {
        if (s3) await s3.createBucket(bucket)
        const spec: LeechSpec = {
          torrentPath,
          peer: `127.0.0.1:${seed.port}`,
          directory,
          sourceRoot,
          // off: no eviction without a remote tier; a limit above the payload keeps it quiet.
          cacheLimitBytes: s3 ? cacheLimitBytes : Math.max(2 * bytes, cacheLimitBytes),
          ...(s3 && { remote: { endpoint: s3.endpoint, bucket, credentials: s3.credentials } }),
          // on: the default (the limit held); on-eventual: writes never wait for room.
          ...(variant === 'on-eventual' && { holdCacheLimit: false }),
          sequential,
          timeoutMs,
          uploadTimeoutMs,
        }
        const seederBefore = cpuSecondsOf(seed.pid)
        const parentBefore = cpuSecondsOf('self')
        const { result, peaks } = await runNodeChild<LeechResult>({
          script: import.meta.filename,
          args: [LEECH_FLAG, JSON.stringify(spec)],
          nodeFlags: envWords('BENCH_NODE_FLAGS'),
          env: { ...process.env, CHUNKTORRENT_ENCRYPTION_KEY: key.toString('hex') },
          timeoutMs: timeoutMs + uploadTimeoutMs + 120_000,
          ...(verbose && {
            onOutput: (line: string) => process.stderr.write(`[${variant}] ${line}\n`),
            onSpawn: (pid: number) => process.stderr.write(`[${variant}] child pid ${pid}\n`),
          }),
        })
        const parentCpuSeconds = cpuSecondsOf('self') - parentBefore
        const seederCpuSeconds = cpuSecondsOf(seed.pid) - seederBefore
        const problems = [...result.verify.mismatches]
        if (result.verify.bytes !== bytes) problems.push(`read back ${result.verify.bytes} of ${bytes} bytes`)
        let bucketObjects = Number.NaN
        let spotCheck: SpotCheck | undefined
        const remote = result.storageAtEnd.remote
        if (s3 && result.holdCacheLimit !== (variant === 'on'))
          problems.push(`holdCacheLimit is ${result.holdCacheLimit} in ${variant}`)
        if (s3) {
          const checked = await checkBucket(s3, bucket, key, result.chunkSize)
          bucketObjects = checked.objects
          spotCheck = checked.spotCheck
          problems.push(...checked.problems)
          if (remote?.objects !== bucketObjects)
            problems.push(`stats().remote.objects ${remote?.objects} but ${bucketObjects} in the bucket`)
          if (remote?.pendingUploads !== 0)
            problems.push(`${remote?.pendingUploads} uploads pending after flushUploads`)
        }
        const diskAfterClose = diskUsage(directory)
        return {
          mbps: result.payloadBytes / MB / result.downloadSeconds,
          downloadSeconds: result.downloadSeconds,
          uploadSeconds: result.uploadSeconds,
          totalSeconds: result.totalSeconds,
          settleSeconds: result.settleSeconds,
          uploadMbps: s3 ? result.payloadBytes / MB / result.totalSeconds : Number.NaN,
          cpuSeconds: result.cpuSeconds,
          downloadCpuSeconds: result.downloadCpuSeconds,
          mainThreadCpuSeconds: result.mainThreadCpuSeconds,
          seederCpuSeconds,
          parentCpuSeconds,
          peakRssBytes: result.atEnd.peakRssBytes,
          peakRssLifeBytes: Math.max(peaks.peakRssBytes, result.atEnd.peakRssBytes),
          peakRssAnonBytes: peaks.peakRssAnonBytes,
          diskBytesAtEnd: result.diskAtEnd.bytes,
          chunksDiskBytesAtEnd: result.chunksDiskAtEnd.bytes,
          bytesOnDiskAtEnd: result.storageAtEnd.bytesOnDisk,
          diskBytesAfterClose: diskAfterClose.bytes,
          maxBytesOnDisk: result.inside.maxBytesOnDisk,
          maxBytesOnDiskSeconds: result.inside.maxBytesOnDiskSeconds,
          samples: result.inside.samples,
          samplesOverLimit: result.inside.samplesOverLimit,
          firstOverLimitSeconds: result.inside.firstOverLimitSeconds,
          longestPieceGapSeconds: result.inside.longestPieceGapSeconds,
          longestPieceGapEndSeconds: result.inside.longestPieceGapEndSeconds,
          longestUploadGapSeconds: result.inside.longestUploadGapSeconds,
          longestUploadGapEndSeconds: result.inside.longestUploadGapEndSeconds,
          pendingUploadsAtDone: result.storageAtDone.remote?.pendingUploads ?? 0,
          bytesOnDiskAtDone: result.storageAtDone.bytesOnDisk,
          maxPendingUploads: result.inside.maxPendingUploads,
          remoteObjects: remote?.objects ?? 0,
          remoteBytes: remote?.bytes ?? 0,
          uploadsFailed: remote?.uploadsFailed ?? 0,
          writesDelayed: (remote as { writesDelayed?: number } | undefined)?.writesDelayed ?? 0,
          bucketObjects,
          verifySeconds: result.verify.seconds,
          verifyFetches: result.verify.fetches,
          heapUsedBytes: result.inside.heapUsedBytes,
          externalBytes: result.inside.externalBytes,
          arrayBuffersBytes: result.inside.arrayBuffersBytes,
          bridgeStoringBytes: result.inside.storingBytes,
          bridgeCacheBytes: result.inside.cacheBytes,
          payloadBytes: result.payloadBytes,
          chunkSize: result.chunkSize,
          variant,
          holdCacheLimit: result.holdCacheLimit,
          filesMatch: result.verify.mismatches.length === 0 && result.verify.bytes === bytes,
          correct: problems.length === 0,
          problems,
          timeline: result.timeline,
          threads: result.threads,
          warnings: result.warnings,
          spotCheck,
        }
      } finally {
        await s3?.close()
        rmSync(directory, { recursive: true, force: true })
      }
    }

    const syncSeconds: number[] = []
    const results = await interleave<Variant, RunFigures>(
      VARIANTS,
      runs,
      async ({ variant, repetition }) => {
        // Flush the previous step's dirty pages first, so their writeback is not measured here.
        syncSeconds.push(syncAll())
        return runOne(variant, repetition)
      },
      {
        log,
        describe: (run) =>
          describeRun(run, run.variant) +
          (run.variant !== 'off'
            ? '\n  timeline [s, bytesOnDisk MiB, pending uploads, uploads done, pieces verified]: ' +
              run.timeline.map((row) => `[${row.join(', ')}]`).join(' ')
            : ''),
      },
    )
    await seed.stop()
    seeder = undefined

    const writePathResults = writePath ? await runWritePath(disk.path, writePathBytes, startS3) : undefined
    report({
      bytes,
      runs,
      cacheLimitBytes,
      sequential,
      results,
      writePath: writePathResults,
      diskPath: disk.path,
      diskFsType: disk.fsType,
      scratchTmpfs: scratch.tmpfs,
      syncSeconds,
      builds: { start: buildsAtStart, end: buildStamps() },
      startedAt,
    })
  } finally {
    await seeder?.stop().catch(() => {})
    cleanup()
    removeInterruptHandler()
  }
}

// ---- the report --------------------------------------------------------------------------------

function report(input: {
  bytes: number
  runs: number
  cacheLimitBytes: number
  sequential: boolean
  results: Record<Variant, RunFigures[]>
  writePath: Record<string, number> | undefined
  diskPath: string
  diskFsType: string
  scratchTmpfs: boolean
  syncSeconds: number[]
  builds: { start: Record<string, string>; end: Record<string, string> }
  startedAt: number
}): void {
  const { bytes, runs, cacheLimitBytes, results } = input
  const sums = Object.fromEntries(
    VARIANTS.map((variant) => [variant, summarizeFields(results[variant])]),
  ) as Record<Variant, Summaries<RunFigures>>
  const off = sums.off
  const chunkSize = results.on[0]?.chunkSize ?? MiB
  const limitPlusChunk = cacheLimitBytes + chunkSize
  const mb = (value: number) => (Number.isFinite(value) ? (value / MB).toFixed(0) : 'n/a')
  const mib = (value: number) => (Number.isFinite(value) ? (value / MiB).toFixed(1) : 'n/a')
  const s1 = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : 'n/a')
  const s2 = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a')
  const count = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a')
  const blank = (variant: Variant, text: string) => (variant === 'off' ? '–' : text)
  const allRuns = VARIANTS.flatMap((variant) => results[variant])

  log('')
  log(
    `Downloads: medians (min–max) over ${runs} run(s) of ${formatBytes(bytes)} from a python3-libtorrent seeder; ` +
      `MB = 10^6 bytes; cache limit (on, on-eventual) ${formatBytes(cacheLimitBytes)}, one chunk ${formatBytes(chunkSize)}.`,
  )
  log(
    formatTable(
      [
        'variant',
        'MB/s',
        'download s',
        'uploads confirmed s',
        'total s',
        'peak RSS MB',
        'chunks/ at end MiB (du)',
        'store at end MiB (du)',
        'max bytesOnDisk MiB',
        'CPU s',
      ],
      VARIANTS.map((variant) => {
        const s = sums[variant]
        return [
          LABELS[variant],
          formatSummary(s.mbps),
          formatSummary(s.downloadSeconds, s2),
          blank(variant, formatSummary(s.uploadSeconds, s2)),
          blank(variant, formatSummary(s.totalSeconds, s2)),
          formatSummary(s.peakRssBytes, mb),
          formatSummary(s.chunksDiskBytesAtEnd, mib),
          formatSummary(s.diskBytesAtEnd, mib),
          formatSummary(s.maxBytesOnDisk, mib),
          formatSummary(s.cpuSeconds, s2),
        ]
      }),
    ),
  )
  log('')
  log(
    'download s: add() until done(); uploads confirmed s: done() until flushUploads() resolved; total: add() until then. ' +
      "peak RSS: the child's VmHWM after uploads and eviction (before the read-back check).",
  )
  log(
    'at end: du (st_blocks * 512) of chunks/ and of the whole store (chunks/ + index.db + WAL) after flushUploads and eviction; ' +
      'max bytesOnDisk: stats().bytesOnDisk sampled every 100 ms from add() on.',
  )

  /** One remote variant against off: its ratios, worst cases and targets. */
  const remoteFigures = (variant: RemoteVariant) => {
    const s = sums[variant]
    const list = results[variant]
    const pairs = summarize(list.map((run, index) => ratio(run.mbps, results.off[index]?.mbps ?? Number.NaN)))
    const maxDuring = Math.max(...list.map((run) => run.maxBytesOnDisk))
    const index = summarize(list.map((run) => run.diskBytesAtEnd - run.chunksDiskBytesAtEnd))
    const throughputRatio = ratio(s.mbps.median, off.mbps.median)
    const correct = list.every((run) => run.correct)
    return {
      s,
      list,
      pairs,
      throughputRatio,
      maxDuring,
      exceededBy: Math.max(0, maxDuring - limitPlusChunk),
      index,
      correct,
      warnings: [...new Set(list.flatMap((run) => run.warnings))],
      meets: {
        throughputRatio: throughputRatio >= TARGETS.throughputRatio,
        peakRssMB: s.peakRssBytes.max < TARGETS.peakRssMB * MB,
        cacheHeldDuringRun: maxDuring <= limitPlusChunk,
        diskAtEnd: s.chunksDiskBytesAtEnd.max <= limitPlusChunk,
        correct,
      },
    }
  }
  const remote = {
    on: remoteFigures('on'),
    'on-eventual': remoteFigures('on-eventual'),
  } satisfies Record<RemoteVariant, ReturnType<typeof remoteFigures>>

  for (const variant of REMOTE_VARIANTS) {
    const { s, maxDuring, exceededBy, index, warnings } = remote[variant]
    log('')
    log(
      `${variant}: at end stats().bytesOnDisk ${formatSummary(s.bytesOnDiskAtEnd, mib)} MiB, du of chunks/ ${formatSummary(s.chunksDiskBytesAtEnd, mib)} MiB, ` +
        `index.db + WAL ${formatSummary(index, mib)} MiB, du after close ${formatSummary(s.diskBytesAfterClose, mib)} MiB; ` +
        `eviction settled ${formatSummary(s.settleSeconds, s2)} s after the flush`,
    )
    log(
      `${variant}: at done() ${formatSummary(s.pendingUploadsAtDone, count)} uploads pending and ` +
        `${formatSummary(s.bytesOnDiskAtDone, mib)} MiB local; at most ${formatSummary(s.maxPendingUploads, count)} pending; ` +
        `chunks reached the bucket at ${formatSummary(s.uploadMbps)} MB/s (payload / total); ` +
        `${formatSummary(s.remoteObjects, count)} objects, ${formatSummary(s.remoteBytes, mib)} MiB; ` +
        `${formatSummary(s.uploadsFailed, count)} failed upload attempts; ` +
        `${formatSummary(s.writesDelayed, count)} waits for room (remote.writesDelayed); s3rver (this process) CPU ${formatSummary(s.parentCpuSeconds, s2)} s; ` +
        `warnings: ${warnings.length ? warnings.join(', ') : 'none'}`,
    )
    log(
      `${variant}: cache limit + one chunk = ${mib(limitPlusChunk)} MiB; the largest bytesOnDisk sampled during a run was ${mib(maxDuring)} MiB ` +
        (exceededBy > 0
          ? `(${mib(exceededBy)} MiB over, ${(maxDuring / limitPlusChunk).toFixed(2)}x; over in ` +
            `${formatSummary(s.samplesOverLimit, count)} of ${formatSummary(s.samples, count)} samples per run, first at ${formatSummary(s.firstOverLimitSeconds, s2)} s)`
          : `(within; ${formatSummary(s.samplesOverLimit, count)} of ${formatSummary(s.samples, count)} samples over)`),
    )
    log(
      `${variant}: longest gap without a piece verified ${formatSummary(s.longestPieceGapSeconds, s1)} s ` +
        `(off: ${formatSummary(off.longestPieceGapSeconds, s1)} s), without an upload confirmed ${formatSummary(s.longestUploadGapSeconds, s1)} s`,
    )
  }
  log('')
  for (const variant of VARIANTS) {
    const s = sums[variant]
    log(
      `${variant}: peaks inside the child: heapUsed ${formatSummary(s.heapUsedBytes, mb)} MB, external ${formatSummary(s.externalBytes, mb)} MB, ` +
        `arrayBuffers ${formatSummary(s.arrayBuffersBytes, mb)} MB, bridge write-back ${formatSummary(s.bridgeStoringBytes, mb)} MB, ` +
        `bridge piece cache ${formatSummary(s.bridgeCacheBytes, mb)} MB; peak RssAnon over the child's life ` +
        `${formatSummary(s.peakRssAnonBytes, mb)} MB, peak RSS with the read-back ${formatSummary(s.peakRssLifeBytes, mb)} MB`,
    )
  }
  for (const variant of VARIANTS) {
    const run = medianBy(results[variant], (figures) => figures.mbps)
    if (run)
      log(
        `${LABELS[variant]} CPU by thread, add() until uploads confirmed (median run): ${describeThreads(run.threads, 0.05)}`,
      )
  }
  const spot = (variant: RemoteVariant) => results[variant].find((run) => run.spotCheck)?.spotCheck
  const allCorrect = allRuns.every((run) => run.correct)
  log(
    `correctness: every file read back through the client equals the seeder's in ` +
      `${allRuns.filter((run) => run.filesMatch).length} of ${allRuns.length} runs ` +
      `(chunks fetched back from the bucket: on ${formatSummary(sums.on.verifyFetches, count)}, ` +
      `on-eventual ${formatSummary(sums['on-eventual'].verifyFetches, count)}); ` +
      REMOTE_VARIANTS.map((variant) => {
        const check = spot(variant)
        return check
          ? `${variant} bucket spot check ${check.key} (${check.objectBytes} bytes): decrypts to the chunk at ${check.chunkOffset} ` +
              `${check.plaintextMatches ? '(matches)' : '(DOES NOT MATCH)'}, ${check.containsPlaintext ? 'CONTAINS' : 'does not contain'} its plaintext`
          : `${variant}: no bucket checked`
      }).join('; ') +
      (allCorrect ? '' : `; PROBLEMS: ${allRuns.flatMap((run) => run.problems).join('; ')}`),
  )

  const on = remote.on
  const eventual = remote['on-eventual']
  const ratios = {
    onOffThroughputRatio: on.throughputRatio,
    onOffThroughputRatioPairs: compactSummary(on.pairs),
    eventualOffThroughputRatio: eventual.throughputRatio,
    eventualOffThroughputRatioPairs: compactSummary(eventual.pairs),
    onOffCpuRatio: ratio(on.s.downloadCpuSeconds.median, off.downloadCpuSeconds.median),
    eventualOffCpuRatio: ratio(eventual.s.downloadCpuSeconds.median, off.downloadCpuSeconds.median),
    onOffPeakRssRatio: ratio(on.s.peakRssBytes.median, off.peakRssBytes.median),
    eventualOffPeakRssRatio: ratio(eventual.s.peakRssBytes.median, off.peakRssBytes.median),
    totalOverDownloadOn: ratio(on.s.totalSeconds.median, on.s.downloadSeconds.median),
    totalOverDownloadEventual: ratio(eventual.s.totalSeconds.median, eventual.s.downloadSeconds.median),
    /** (on)'s download MB/s over the bucket's pace in (on-eventual) (payload / its total time): near 1
     *  when holding the limit costs exactly the upload rate. */
    heldDownloadOverEventualUploadRate: ratio(on.s.mbps.median, eventual.s.uploadMbps.median),
    /** Total time (until uploads confirmed), on / on-eventual. */
    onEventualTotalRatio: ratio(on.s.totalSeconds.median, eventual.s.totalSeconds.median),
  }
  const targets = {
    throughputRatio: TARGETS.throughputRatio,
    peakRssMB: TARGETS.peakRssMB,
    cacheHeldDuringRun: limitPlusChunk,
    diskAtEnd: limitPlusChunk,
  }
  const meets = { on: on.meets, 'on-eventual': eventual.meets }
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met')
  log('')
  for (const variant of REMOTE_VARIANTS) {
    const figures = remote[variant]
    log(
      `ratio ${variant}/off: throughput ${figures.throughputRatio.toFixed(3)}` +
        (runs > 1 ? ` (per pair ${formatSummary(figures.pairs, (v) => v.toFixed(3))})` : '') +
        `, download CPU ${ratio(figures.s.downloadCpuSeconds.median, off.downloadCpuSeconds.median).toFixed(2)}, ` +
        `peak RSS ${ratio(figures.s.peakRssBytes.median, off.peakRssBytes.median).toFixed(2)}; ` +
        `total / download time ${ratio(figures.s.totalSeconds.median, figures.s.downloadSeconds.median).toFixed(2)}`,
    )
  }
  log(
    `on (held) downloads at ${s1(on.s.mbps.median)} MB/s; the bucket took the payload at ${s1(eventual.s.uploadMbps.median)} MB/s ` +
      `in on-eventual (payload / total): ${ratios.heldDownloadOverEventualUploadRate.toFixed(2)}x; ` +
      `on's total time is ${ratios.onEventualTotalRatio.toFixed(2)}x on-eventual's`,
  )
  for (const variant of REMOTE_VARIANTS) {
    const { s, maxDuring, index, meets: met } = remote[variant]
    log(
      `targets ${variant}: throughput/off >= ${targets.throughputRatio} ${verdict(met.throughputRatio)}; ` +
        `peak RSS < ${targets.peakRssMB} MB (worst ${mb(s.peakRssBytes.max)} MB) ${verdict(met.peakRssMB)}; ` +
        `max bytesOnDisk during the run <= ${mib(limitPlusChunk)} MiB (worst ${mib(maxDuring)} MiB) ${verdict(met.cacheHeldDuringRun)}; ` +
        `chunks/ at end <= ${mib(limitPlusChunk)} MiB (worst ${mib(s.chunksDiskBytesAtEnd.max)} MiB; index.db + WAL ` +
        `${mib(index.median)} MiB besides) ${verdict(met.diskAtEnd)}; correct ${verdict(met.correct)}`,
    )
  }
  log(`correctness: ${allCorrect ? 'every check passed' : 'FAILED'}`)
  if (input.writePath) {
    log('')
    log('write path (BENCH_WRITE_PATH=1, storage alone, this process):')
    for (const [name, value] of Object.entries(input.writePath)) log(`  ${name.padEnd(20)} ${value}`)
  }
  const load = loadavg()
  const rebuilt = changedStamps(input.builds.start, input.builds.end)
  log(
    `load average at start ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, at end ${load.map((value) => value.toFixed(2)).join(' ')} ` +
      `(${availableParallelism()} CPUs); sync(1) before each step took ${formatSummary(summarize(input.syncSeconds), s2)} s`,
  )
  log(describeBuilds(input.builds.start, input.builds.end))
  const totalSeconds = (performance.now() - input.startedAt) / 1000
  log(`total ${totalSeconds.toFixed(1)} s`)
  if (!allCorrect) process.exitCode = 1
  const remoteJson = (variant: RemoteVariant) => {
    const { s, maxDuring, exceededBy, index, warnings } = remote[variant]
    return {
      holdCacheLimit: variant === 'on',
      ...compactSummaries(s),
      warnings,
      spotCheck: spot(variant),
      diskAtEnd: {
        chunksDuBytes: compactSummary(s.chunksDiskBytesAtEnd),
        /** du of the store minus du of chunks/: index.db, its WAL and shared memory. */
        indexBytes: compactSummary(index),
        storeDuBytes: compactSummary(s.diskBytesAtEnd),
        bytesOnDisk: compactSummary(s.bytesOnDiskAtEnd),
        chunksWithinTarget: s.chunksDiskBytesAtEnd.max <= limitPlusChunk,
      },
      cacheDuringRun: {
        limitPlusChunk,
        maxBytesOnDisk: maxDuring,
        exceededByBytes: exceededBy,
        samplesOverLimit: compactSummary(s.samplesOverLimit),
        heldInEveryRun: exceededBy === 0,
      },
    }
  }
  printJsonLine({
    benchmark: 'remote',
    bytes,
    pieceLength: PIECE_LENGTH,
    chunkSize,
    cacheLimitBytes,
    pinOpenTorrents: false,
    sequential: input.sequential,
    runs,
    diskDir: input.diskPath,
    diskFsType: input.diskFsType,
    scratchTmpfs: input.scratchTmpfs,
    off: compactSummaries(off),
    on: remoteJson('on'),
    'on-eventual': remoteJson('on-eventual'),
    ratios,
    targets,
    meets,
    problems: allRuns.flatMap((run) => run.problems),
    ...(input.writePath && { writePath: input.writePath }),
    cpus: availableParallelism(),
    loadAverage: { start: loadAtStart, end: load },
    builds: { ...input.builds, changedDuringRun: rebuilt },
    totalSeconds,
  })
}

// ---- the write-path phases (BENCH_WRITE_PATH=1) ------------------------------------------------

/**
 * The storage alone, in this process, against s3rver: fresh stores, 256 KiB pieces written 8 at a
 * time and verified. plain (no remote tier) / remote (uploads running; then until flushUploads) /
 * remote-hung (every upload hangs) / read-through (the remote store evicted to one chunk, read back).
 */
async function runWritePath(
  base: string,
  payload: number,
  startS3: typeof import('../packages/storage/test/fixtures/s3-server.ts').startS3,
): Promise<Record<string, number>> {
  const { ChunkStorage } = await import('@chunktorrent/storage')
  type Store = Awaited<ReturnType<typeof ChunkStorage.open>>
  type TorrentStore = Awaited<ReturnType<Store['openTorrent']>>
  const concurrency = 8
  const root = join(base, 'write-path')
  const geometry = {
    infoHash: 'b12fe1c06bba254a9dc9f519b335aa7c1367a88a',
    name: 'bench',
    pieceLength: PIECE_LENGTH,
    totalSize: payload,
    files: [{ path: 'bench.bin', length: payload, offset: 0 }],
  }
  const pieceCount = Math.ceil(payload / PIECE_LENGTH)
  const piece = randomBytes(PIECE_LENGTH)
  const mbps = (milliseconds: number) => Math.round((payload / MB / (milliseconds / 1000)) * 10) / 10
  const each = async (work: (index: number) => Promise<void>) => {
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < pieceCount) await work(next++)
      }),
    )
    return performance.now() - started
  }
  const writeAll = (torrent: TorrentStore) =>
    each(async (index) => {
      const size = torrent.geometry.pieceSize(index)
      // A distinct first word per piece, so no two chunks are equal.
      const data = size === PIECE_LENGTH ? Buffer.from(piece) : piece.subarray(0, size)
      data.writeUInt32LE(index, 0)
      await torrent.writePiece(index, data)
      await torrent.markVerified(index)
    })
  const results: Record<string, number> = { payload }
  const s3 = await startS3()
  mkdirSync(root, { recursive: true })
  try {
    await s3.createBucket('chunktorrent-bench')
    const remote = {
      endpoint: s3.endpoint,
      bucket: 'chunktorrent-bench',
      credentials: s3.credentials,
      encryptionKey: randomBytes(32),
    }
    const openStore = (name: string, extra: Record<string, unknown> = {}) =>
      ChunkStorage.open({ directory: join(root, name), ...extra })

    const plain = await openStore('plain')
    results.plainWriteMBps = mbps(await writeAll(await plain.openTorrent(geometry)))
    await plain.close()

    const withRemote = await openStore('remote', { remote, pinOpenTorrents: false })
    const writeMs = await writeAll(await withRemote.openTorrent(geometry))
    results.remoteWriteMBps = mbps(writeMs)
    const flushStarted = performance.now()
    await withRemote.flushUploads()
    results.uploadMBps = mbps(writeMs + (performance.now() - flushStarted))
    results.uploadsFailed = withRemote.stats().remote?.uploadsFailed ?? 0
    await withRemote.close()

    s3.mode = 'hang-puts'
    const hung = await openStore('hung', { remote })
    results.hungWriteMBps = mbps(await writeAll(await hung.openTorrent(geometry)))
    results.hungPendingUploads = hung.stats().remote?.pendingUploads ?? 0
    await hung.close()
    s3.mode = 'up'

    const evicted = await openStore('remote', { remote, pinOpenTorrents: false, cacheLimitBytes: MiB })
    const reading = await evicted.openTorrent(geometry)
    while (evicted.stats().bytesOnDisk > MiB) await sleep(20)
    results.readThroughMBps = mbps(
      await each(async (index) => {
        await reading.readPiece(index)
      }),
    )
    results.fetches = evicted.stats().remote?.fetches ?? 0
    await evicted.close()
  } finally {
    await s3.close()
    rmSync(root, { recursive: true, force: true })
  }
  results.remoteWriteRatio = Math.round((results.remoteWriteMBps! / results.plainWriteMBps!) * 100) / 100
  results.hungWriteRatio = Math.round((results.hungWriteMBps! / results.plainWriteMBps!) * 100) / 100
  return results
}

if (process.argv[2] === LEECH_FLAG) await leechChild(process.argv.slice(3))
else await main()
