// bench:client (issue #4): how does @chunktorrent/client with ChunkStorage compare with libtorrent
// on its own files? One torrent (default 1 GiB, v1, 256 KiB pieces) is downloaded over loopback
// from a python3-libtorrent seeder, in the same run, by
//   (a) our client with ChunkStorage                 (child Node process: its own CPU and RSS)
//   (b) our client with libtorrent's default storage (child Node process)
//   (c) a python3-libtorrent leecher, default storage
// all three writing to the same real-disk directory (BENCH_DIR, default the system temp
// directory; never tmpfs); the seeder's data lives on tmpfs. Then seeding: a fresh
// python3-libtorrent leecher (saving to tmpfs) downloads from
//   (a→) a NEW client process opened on (a)'s ChunkStorage (nothing in memory: every byte sent is
//        read from the chunk files), and from
//   (c→) a python3-libtorrent seeder of (c)'s default-storage copy.
// Each repetition runs a, b, c, a→, c→ in that order (interleaved, so machine noise hits every
// variant alike); figures are medians (min–max). Finally (a) runs once on a smaller torrent
// (default 256 MiB) to show whether its memory depends on the torrent's size.
//
// Every step starts after a `sync` and after an untimed scratch file of 1.125 x the payload was
// written to tmpfs and deleted, so that its gigabyte lands in memory just in use (on these VMs,
// memory the host had reclaimed cost 3-10 s per GiB written instead of 0.4-0.8 s).
//
// Besides the table: each client child's CPU by thread, peaks sampled inside it (JS heap, external
// Buffers, the ffi bridge's write-back and piece cache) and its garbage collections.
//
// Targets (issue #4): throughput a/c >= 0.9; peak RSS of (a) under 300 MB (10^6 bytes) and
// independent of the torrent's size (peak RSS at BENCH_BYTES / at the small size <= 1.25); disk
// bytes used by (a) (du: st_blocks * 512 over the whole store, index included) <= 1.01 x payload.
//
//   pnpm bench:client                            full run (1 GiB x 3 runs, 256 MiB x 1)
//   BENCH_BYTES=64M BENCH_RUNS=1 pnpm bench:client
//   BENCH_SMALL_BYTES=256M                       size of the memory-independence run (0: skip)
//   BENCH_VARIANTS=chunk,libtorrent              a subset of chunk,default,libtorrent,
//                                                seed-chunk,seed-libtorrent (in this order)
//   BENCH_DIR=/var/tmp                           where downloads go (a real disk)
//   BENCH_NODE_FLAGS="--perf-basic-prof"         flags for the client children's node
//   BENCH_PERF=/tmp/perf                         perf record -g every (a) and (b) child into
//                                                that directory (adds --perf-basic-prof; node
//                                                leaves /tmp/perf-PID.map for perf report)
//   BENCH_VERBOSE=1                              echo the children's output
//   BENCH_CLIENT_OPTIONS='{"readCacheBytes":67108864}'
//                                                extra TorrentClient options of the client children
//                                                (JSON; `settings` merged into the loopback ones)
//
// `node bench/client.ts --leech SPEC` is an (a)/(b) child: one download, result printed as JSON.
// `node bench/client.ts --seed SPEC` is the (a→) child: seeds until SIGUSR2, then prints its result.

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks'
import type { BridgeStats } from '@chunktorrent/ffi'
import type { StorageStats } from '@chunktorrent/storage'
import {
  benchClientOptions,
  buildStamps,
  changedStamps,
  compactSummaries,
  compactSummary,
  cpuSecondsOf,
  describeBuilds,
  describeThreads,
  diskScratchDir,
  diskUsage,
  echoPeerOutput,
  envBytes,
  envFlag,
  envInt,
  envList,
  envString,
  envWords,
  exitWithParent,
  formatBytes,
  formatSummary,
  formatTable,
  fsyncTree,
  interleave,
  killTrackedChildren,
  libtorrentPeers,
  log,
  MB,
  type MemoryPeaks,
  MiB,
  mainThreadCpuSeconds,
  measureLeecher,
  medianBy,
  memoryPeaks,
  onInterrupt,
  type ProcSnapshot,
  pairRatios,
  printJsonLine,
  printResult,
  ratio,
  readProc,
  recordMemoryPeaks,
  runNodeChild,
  type Summaries,
  type Summary,
  sampleProc,
  scratchDir,
  summarize,
  summarizeFields,
  syncAll,
  type ThreadCpu,
  threadCpu,
  threadCpuDelta,
  warmMemory,
} from './lib/index.ts'

const LEECH_FLAG = '--leech'
const SEED_FLAG = '--seed'
const SEED_READY = 'BENCH_SEED_READY '
const PIECE_LENGTH = 256 * 1024
const TARGETS = {
  throughputAOverC: 0.9,
  peakRssBytesA: 300 * MB,
  /** peak RSS of (a) at BENCH_BYTES over peak RSS at BENCH_SMALL_BYTES. */
  peakRssLargeOverSmall: 1.25,
  diskBytesOverPayload: 1.01,
}
const loadAtStart = loadavg()

const VARIANTS = ['chunk', 'default', 'libtorrent', 'seed-chunk', 'seed-libtorrent'] as const
type Variant = (typeof VARIANTS)[number]
type LeechVariant = 'chunk' | 'default' | 'libtorrent'
type SeedVariant = 'seed-chunk' | 'seed-libtorrent'
const isSeed = (variant: Variant): variant is SeedVariant => variant.startsWith('seed-')

const LABELS: Record<Variant, string> = {
  chunk: 'a: client, ChunkStorage',
  default: 'b: client, default storage',
  libtorrent: 'c: python3-libtorrent',
  'seed-chunk': 'a→: client seeding from ChunkStorage',
  'seed-libtorrent': "c→: python3-libtorrent seeding c's copy",
}

// ---- the (a)/(b) child -------------------------------------------------------------------------

interface LeechSpec {
  torrentPath: string
  peer: string
  storage: 'chunk' | 'default'
  directory: string
  timeoutMs: number
}

interface LeechResult {
  /** add() until torrent.done() (every piece stored, hash-checked and, for (a), marked verified). */
  seconds: number
  firstPieceSeconds: number
  payloadBytes: number
  pieceCount: number
  cpuSeconds: number
  userSeconds: number
  systemSeconds: number
  minorFaults: number
  majorFaults: number
  /** The JavaScript thread's CPU over `seconds`. */
  mainThreadCpuSeconds: number
  threads: ThreadCpu[]
  atFinish: ProcSnapshot
  /** Peaks sampled in the process every 50 ms while downloading (see InsidePeaks). */
  inside: InsidePeaks
  /** Garbage collections on the JavaScript thread while downloading (perf_hooks 'gc' entries). */
  gc: GcCounts
  /** (b): fsync of every downloaded file after done() (ChunkStorage is durable at done()). */
  fsyncSeconds: number
  closeSeconds: number
  storage: StorageStats | undefined
  bridge: BridgeStats
  warnings: string[]
  memoryUsage: NodeJS.MemoryUsage
}

/** Peaks of what the process holds, sampled from inside (process.memoryUsage, the bridge's stats). */
interface InsidePeaks extends MemoryPeaks {
  pendingJobs: number
  samples: number
}

interface GcCounts {
  /** Mark-compact (full) collections and their pauses on the JavaScript thread. */
  major: number
  majorMs: number
  /** Scavenges. */
  minor: number
  minorMs: number
  /** Incremental marking steps and weak callbacks. */
  otherMs: number
}

function countGc(): () => GcCounts {
  const counts: GcCounts = { major: 0, majorMs: 0, minor: 0, minorMs: 0, otherMs: 0 }
  const add = (entries: readonly PerformanceEntry[]) => {
    for (const entry of entries) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        counts.major++
        counts.majorMs += entry.duration
      } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        counts.minor++
        counts.minorMs += entry.duration
      } else {
        counts.otherMs += entry.duration
      }
    }
  }
  const observer = new PerformanceObserver((list) => add(list.getEntries()))
  observer.observe({ entryTypes: ['gc'] })
  return () => {
    add(observer.takeRecords())
    observer.disconnect()
    return { ...counts }
  }
}

function sampleInside(bridgeStats: () => BridgeStats, intervalMs = 50): () => InsidePeaks {
  const peaks: InsidePeaks = { ...memoryPeaks(), pendingJobs: 0, samples: 0 }
  const sample = () => {
    const bridge = recordMemoryPeaks(peaks, bridgeStats)
    if (bridge) peaks.pendingJobs = Math.max(peaks.pendingJobs, bridge.pendingJobs ?? 0)
    peaks.samples++
  }
  const timer = setInterval(sample, intervalMs)
  return () => {
    clearInterval(timer)
    sample()
    return { ...peaks }
  }
}

async function leechChild(argv: string[]): Promise<void> {
  exitWithParent()
  const spec = JSON.parse(argv[0] ?? '') as LeechSpec
  const { TorrentClient } = await import('@chunktorrent/client')
  const { ChunkStorage } = await import('@chunktorrent/storage')
  const torrentBytes = readFileSync(spec.torrentPath)
  const client =
    spec.storage === 'chunk'
      ? await TorrentClient.newWithStorage(
          await ChunkStorage.open({ directory: spec.directory }),
          benchClientOptions(),
        )
      : await TorrentClient.newWithDefaultStorage(spec.directory, benchClientOptions())
  const warnings: string[] = []
  client.on('warning', (warning) => warnings.push(String((warning as { code?: unknown }).code ?? warning)))

  const threadsBefore = threadCpu('self')
  const before = readProc('self')
  const stopSampling = sampleInside(() => client.session.bridgeStats())
  const stopCountingGc = countGc()
  const started = performance.now()
  const torrent = await client.add(torrentBytes, { peers: [spec.peer] })
  let firstPiece = Number.NaN
  torrent.once('piece', () => {
    firstPiece = performance.now()
  })
  await torrent.done({ signal: AbortSignal.timeout(spec.timeoutMs) })
  const finished = performance.now()
  const atFinish = readProc('self')
  const threads = threadCpuDelta(threadsBefore, threadCpu('self'))
  const inside = stopSampling()
  const gc = stopCountingGc()

  const status = torrent.status()
  const stats = client.stats()
  const pieceCount = torrent.pieceCount ?? 0
  if (!status.seeding) throw new Error(`done() but not seeding: ${status.state}`)
  if (stats.storage && stats.storage.piecesVerified !== pieceCount) {
    throw new Error(`ChunkStorage has ${stats.storage.piecesVerified} of ${pieceCount} pieces verified`)
  }
  const fsyncSeconds = spec.storage === 'default' ? fsyncTree(spec.directory) : 0
  const memoryUsage = process.memoryUsage()
  const closeStarted = performance.now()
  await client.close()
  printResult({
    seconds: (finished - started) / 1000,
    firstPieceSeconds: (firstPiece - started) / 1000,
    payloadBytes: torrent.length ?? 0,
    pieceCount,
    cpuSeconds: atFinish.cpuSeconds - before.cpuSeconds,
    userSeconds: atFinish.userSeconds - before.userSeconds,
    systemSeconds: atFinish.systemSeconds - before.systemSeconds,
    minorFaults: atFinish.minorFaults - before.minorFaults,
    majorFaults: atFinish.majorFaults - before.majorFaults,
    mainThreadCpuSeconds: mainThreadCpuSeconds(threads),
    threads: topThreads(threads),
    atFinish,
    inside,
    gc,
    fsyncSeconds,
    closeSeconds: (performance.now() - closeStarted) / 1000,
    storage: stats.storage,
    bridge: stats.bridge,
    warnings,
    memoryUsage,
  } satisfies LeechResult)
  process.exit(0)
}

// ---- the (a→) child --------------------------------------------------------------------------

interface SeedSpec {
  torrentPath: string
  directory: string
  timeoutMs: number
}

interface SeedResult {
  /** add() until done(): resumed as a seed from the store's verified set. */
  resumeSeconds: number
  totalDownload: number
  /** Storage figures from "ready" to SIGUSR2 (the leecher's download). */
  bytesRead: number
  cacheHits: number
  cacheMisses: number
  bridge: BridgeStats
  storage: StorageStats | undefined
  uploaded: number
  warnings: string[]
}

async function seedChild(argv: string[]): Promise<void> {
  exitWithParent()
  const spec = JSON.parse(argv[0] ?? '') as SeedSpec
  const stop = new Promise<void>((resolve) => process.once('SIGUSR2', () => resolve()))
  const { TorrentClient } = await import('@chunktorrent/client')
  const { ChunkStorage } = await import('@chunktorrent/storage')
  const client = await TorrentClient.newWithStorage(
    await ChunkStorage.open({ directory: spec.directory }),
    benchClientOptions(),
  )
  const warnings: string[] = []
  client.on('warning', (warning) => warnings.push(String((warning as { code?: unknown }).code ?? warning)))
  const started = performance.now()
  const torrent = await client.add(readFileSync(spec.torrentPath))
  await torrent.done({ signal: AbortSignal.timeout(spec.timeoutMs) })
  const resumeSeconds = (performance.now() - started) / 1000
  const status = torrent.status()
  if (!status.seeding || status.totalDownload !== 0)
    throw new Error(`not resumed as a seed: seeding=${status.seeding}, downloaded ${status.totalDownload}`)
  const before = client.stats().storage
  process.stdout.write(`${SEED_READY}${client.port}\n`)
  await stop
  const stats = client.stats()
  const uploaded = torrent.status().totalUpload
  await client.close()
  printResult({
    resumeSeconds,
    totalDownload: status.totalDownload,
    bytesRead: (stats.storage?.bytesRead ?? 0) - (before?.bytesRead ?? 0),
    cacheHits: (stats.storage?.cacheHits ?? 0) - (before?.cacheHits ?? 0),
    cacheMisses: (stats.storage?.cacheMisses ?? 0) - (before?.cacheMisses ?? 0),
    bridge: stats.bridge,
    storage: stats.storage,
    uploaded,
    warnings,
  } satisfies SeedResult)
  process.exit(0)
}

// ---- the parent ------------------------------------------------------------------------------

/** One download (a, b or c), in the same terms for every variant. */
interface LeechFigures {
  seconds: number
  mbps: number
  /** Leecher CPU (user + system, all threads) over `seconds`. */
  cpuSeconds: number
  userSeconds: number
  systemSeconds: number
  /** The leecher's first thread (Node: the JavaScript thread; python: its alert loop). */
  mainThreadCpuSeconds: number
  minorFaults: number
  /** The seeder's CPU over the run. */
  seederCpuSeconds: number
  /** max(VmHWM, sampled VmRSS) over the leecher's life. */
  peakRssBytes: number
  /** Sampled peak RssAnon (heap, no page cache; python's mapped files are RssFile). */
  peakRssAnonBytes: number
  peakRssFileBytes: number
  /** du of the download directory (st_blocks * 512; ChunkStorage: chunks + index.db, -wal, -shm). */
  diskBytes: number
  diskApparentBytes: number
  diskFiles: number
  diskRatio: number
  /** fsync of the downloaded files after done (b, c); 0 for (a), durable at done(). */
  fsyncSeconds: number
  /** payload / (seconds + fsyncSeconds). */
  durableMbps: number
  threads: ThreadCpu[]
  storage?: StorageStats | undefined
  bridge?: BridgeStats
  warnings?: string[]
  closeSeconds?: number
  /** (a), (b): peaks sampled inside the process. */
  inside?: InsidePeaks
  /** (a), (b): full GCs on the JavaScript thread while downloading, their pauses, scavenges, all
   *  pauses (NaN for c). */
  gcMajor: number
  gcMajorMs: number
  gcMinor: number
  gcPauseMs: number
  payloadBytes: number
}

/** One seeding run (a→ or c→): the same python3-libtorrent leecher downloads from the seeder. */
interface SeedFigures {
  seconds: number
  mbps: number
  /** The seeder's CPU (all threads) over the leecher's download. */
  seederCpuSeconds: number
  seederMainThreadCpuSeconds: number
  leecherCpuSeconds: number
  /** The seeder process's peak over its life (start-up included). */
  seederPeakRssBytes: number
  seederPeakRssAnonBytes: number
  /** Seconds from starting the seeder to it being ready (a→: resume; c→: libtorrent's full check). */
  startSeconds: number
  /** a→: storage bytes read over the download / payload (1.0: every byte came from the chunk files). */
  storageReadRatio: number
  threads: ThreadCpu[]
}

/** The 10 busiest threads, plus the main thread when it is not among them. */
function topThreads(threads: readonly ThreadCpu[], count = 10): ThreadCpu[] {
  const top = threads.slice(0, count)
  const main = threads.find((thread) => thread.main)
  return main && !top.includes(main) ? [...top, main] : top
}

function describeLeech(run: LeechFigures): string {
  return (
    `${run.mbps.toFixed(1)} MB/s, ${run.seconds.toFixed(2)} s, CPU ${run.cpuSeconds.toFixed(2)} s ` +
    `(${describeThreads(run.threads, 0.1)}), seeder CPU ${run.seederCpuSeconds.toFixed(2)} s, ` +
    `peak RSS ${formatBytes(run.peakRssBytes)}, RssAnon ${formatBytes(run.peakRssAnonBytes)}, ` +
    `disk ${formatBytes(run.diskBytes)} (${run.diskRatio.toFixed(4)}x)` +
    (run.fsyncSeconds > 0 ? `, fsync ${run.fsyncSeconds.toFixed(2)} s` : '') +
    (run.warnings?.length ? `, warnings ${[...new Set(run.warnings)].join(',')}` : '')
  )
}

function describeSeed(run: SeedFigures): string {
  return (
    `${run.mbps.toFixed(1)} MB/s, ${run.seconds.toFixed(2)} s, seeder CPU ${run.seederCpuSeconds.toFixed(2)} s ` +
    `(${describeThreads(run.threads, 0.1)}), leecher CPU ${run.leecherCpuSeconds.toFixed(2)} s, ` +
    `seeder peak RSS ${formatBytes(run.seederPeakRssBytes)}, RssAnon ${formatBytes(run.seederPeakRssAnonBytes)}, ` +
    `ready after ${run.startSeconds.toFixed(2)} s` +
    (Number.isFinite(run.storageReadRatio) ? `, store reads ${run.storageReadRatio.toFixed(3)}x payload` : '')
  )
}

/** `perf record` attached to a pid until it exits; stopped with SIGINT. */
function attachPerf(pid: number, output: string): ChildProcess {
  const perf = spawn('perf', ['record', '-F', '499', '-g', '-p', String(pid), '-o', output], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  perf.stderr?.resume()
  perf.on('error', (error) => process.stderr.write(`perf: ${error.message}\n`))
  return perf
}

async function main(): Promise<void> {
  const startedAt = performance.now()
  const buildsAtStart = buildStamps()
  const bytes = envBytes('BENCH_BYTES', 1024 ** 3, { min: PIECE_LENGTH })
  const runs = envInt('BENCH_RUNS', 3, { min: 1, max: 100 })
  const smallDefault = Math.max(PIECE_LENGTH, Math.min(256 * MiB, Math.floor(bytes / 4)))
  const smallBytes = envBytes('BENCH_SMALL_BYTES', smallDefault, { min: 0 })
  const variants = envList('BENCH_VARIANTS', VARIANTS, VARIANTS)
  const diskBase = envString('BENCH_DIR', tmpdir())
  const perfDir = envString('BENCH_PERF')
  const nodeFlags = [...envWords('BENCH_NODE_FLAGS'), ...(perfDir ? ['--perf-basic-prof'] : [])]
  const verbose = envFlag('BENCH_VERBOSE')
  if (variants.includes('seed-chunk') && !variants.includes('chunk'))
    throw new RangeError('BENCH_VARIANTS: seed-chunk needs chunk')
  if (variants.includes('seed-libtorrent') && !variants.includes('libtorrent'))
    throw new RangeError('BENCH_VARIANTS: seed-libtorrent needs libtorrent')
  if (perfDir) mkdirSync(perfDir, { recursive: true })
  // Generous bounds: 60 s plus 5 MB/s.
  const timeoutMs = 60_000 + Math.ceil(bytes / (5 * MB)) * 1000

  const { peers, libtorrentVersion } = await libtorrentPeers()

  // tmpfs: the seeders' data and the seeding leecher's download. Disk: (a)'s store and (c)'s copy
  // kept for seeding, plus one (b) at a time.
  const scratch = scratchDir('chunktorrent-bench-client', 2 * bytes + smallBytes + 64 * MiB)
  const disk = diskScratchDir('chunktorrent-bench-client', 3 * bytes + smallBytes + 256 * MiB, diskBase)
  const perfProcesses = new Set<ChildProcess>()
  const cleanup = () => {
    for (const perf of perfProcesses) perf.kill('SIGINT')
    peers.killAllChildren()
    killTrackedChildren()
    scratch.remove()
    disk.remove()
  }
  const removeInterruptHandler = onInterrupt(cleanup)
  const seeders: Array<{ stop(): Promise<unknown> }> = []
  try {
    log(
      `bench:client: ${formatBytes(bytes)}, v1, ${PIECE_LENGTH / 1024} KiB pieces, ${runs} run(s) of ${variants.join(', ')}` +
        `${smallBytes && variants.includes('chunk') ? `; chunk once at ${formatBytes(smallBytes)}` : ''}; ` +
        `python3-libtorrent ${libtorrentVersion}`,
    )
    log(
      `downloads (a, b, c) on ${disk.path} (${disk.fsType}); seeder data and the seeding leecher on ` +
        `${scratch.path}${scratch.tmpfs ? ' (tmpfs)' : ' (NOT tmpfs)'}`,
    )
    log(
      `load average ${loadAtStart.map((value) => value.toFixed(2)).join(' ')} (${availableParallelism()} CPUs)`,
    )

    const makeTorrent = async (size: number, tag: string) => {
      const dir = join(scratch.path, `seed-${tag}`)
      const name = `client-bench-${tag}.bin`
      await peers.generateFiles(dir, [{ path: name, length: size }], `bench-client-${tag}`)
      const torrent = await peers.createTorrent({
        path: join(dir, name),
        pieceLength: PIECE_LENGTH,
        version: 'v1',
        timeoutMs,
      })
      const torrentPath = join(scratch.path, `${tag}.torrent`)
      writeFileSync(torrentPath, torrent)
      return { dir, torrentPath, size }
    }
    const startSeeder = async (savePath: string, torrentPath: string, label: string) => {
      const seeder = await peers.startLibtorrentPeer({
        torrent: torrentPath,
        savePath,
        role: 'seed',
        progressIntervalMs: 0,
        timeoutMs,
        label,
      })
      seeders.push(seeder)
      if (verbose) echoPeerOutput(seeder, label)
      return seeder
    }

    let stepStarted = performance.now()
    const big = await makeTorrent(bytes, 'main')
    log(`data and torrent made in ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`)
    stepStarted = performance.now()
    const seeder = await startSeeder(big.dir, big.torrentPath, 'bench seeder')
    log(
      `seeder (python3-libtorrent, high_performance_seed) ready on port ${seeder.port} after ` +
        `${((performance.now() - stepStarted) / 1000).toFixed(1)} s`,
    )
    log(
      "leechers: a, b: the client with the client tests' loopback options (TCP only); c: libtorrent " +
        'default_settings() + loopback-only settings',
    )
    const echo = (prefix: string) =>
      verbose ? (line: string) => process.stderr.write(`${prefix} ${line}\n`) : undefined

    /** (a) or (b) in a child Node process. */
    const runClient = async (
      storage: 'chunk' | 'default',
      torrent: { torrentPath: string; size: number },
      seederPid: number,
      seederPort: number,
      directory: string,
      tag: string,
    ): Promise<LeechFigures> => {
      const spec: LeechSpec = {
        torrentPath: torrent.torrentPath,
        peer: `127.0.0.1:${seederPort}`,
        storage,
        directory,
        timeoutMs,
      }
      const seederBefore = cpuSecondsOf(seederPid)
      let perf: ChildProcess | undefined
      const { result, peaks } = await runNodeChild<LeechResult>({
        script: import.meta.filename,
        args: [LEECH_FLAG, JSON.stringify(spec)],
        nodeFlags,
        timeoutMs: timeoutMs + 60_000,
        onOutput: echo(`[${storage}]`),
        onSpawn: (pid) => {
          if (verbose) process.stderr.write(`[${storage}] child pid ${pid}\n`)
          if (perfDir) {
            perf = attachPerf(pid, join(perfDir, `perf-${tag}-${pid}.data`))
            perfProcesses.add(perf)
          }
        },
      }).finally(async () => {
        if (perf) {
          const exited = new Promise((resolve) => perf?.once('exit', resolve))
          perf.kill('SIGINT')
          await exited
          perfProcesses.delete(perf)
        }
      })
      const seederCpuSeconds = cpuSecondsOf(seederPid) - seederBefore
      const usage = diskUsage(directory)
      const durableSeconds = result.seconds + result.fsyncSeconds
      return {
        seconds: result.seconds,
        mbps: result.payloadBytes / MB / result.seconds,
        cpuSeconds: result.cpuSeconds,
        userSeconds: result.userSeconds,
        systemSeconds: result.systemSeconds,
        mainThreadCpuSeconds: result.mainThreadCpuSeconds,
        minorFaults: result.minorFaults,
        seederCpuSeconds,
        peakRssBytes: Math.max(peaks.peakRssBytes, result.atFinish.peakRssBytes),
        peakRssAnonBytes: Math.max(peaks.peakRssAnonBytes, result.atFinish.rssAnonBytes),
        peakRssFileBytes: Math.max(peaks.peakRssFileBytes, result.atFinish.rssFileBytes),
        diskBytes: usage.bytes,
        diskApparentBytes: usage.apparentBytes,
        diskFiles: usage.files,
        diskRatio: usage.bytes / result.payloadBytes,
        fsyncSeconds: result.fsyncSeconds,
        durableMbps: result.payloadBytes / MB / durableSeconds,
        threads: result.threads,
        storage: result.storage,
        bridge: result.bridge,
        warnings: result.warnings,
        closeSeconds: result.closeSeconds,
        inside: result.inside,
        gcMajor: result.gc.major,
        gcMajorMs: result.gc.majorMs,
        gcMinor: result.gc.minor,
        gcPauseMs: result.gc.majorMs + result.gc.minorMs + result.gc.otherMs,
        payloadBytes: result.payloadBytes,
      }
    }

    /** (c): a python3-libtorrent leecher saving to `directory`. */
    const runLibtorrent = async (directory: string): Promise<LeechFigures> => {
      mkdirSync(directory, { recursive: true })
      const seederBefore = cpuSecondsOf(seeder.pid)
      const leech = await peers.startLibtorrentPeer({
        torrent: big.torrentPath,
        savePath: directory,
        role: 'leech',
        connect: [seeder.port],
        progressIntervalMs: 0,
        timeoutMs,
        label: 'bench leecher c',
      })
      if (verbose) echoPeerOutput(leech, 'libtorrent')
      try {
        const { result: done, before, after, threads, peaks } = await measureLeecher(leech, bytes, timeoutMs)
        const seederCpuSeconds = cpuSecondsOf(seeder.pid) - seederBefore
        const fsyncSeconds = fsyncTree(directory)
        await leech.stop()
        const usage = diskUsage(directory)
        return {
          seconds: done.seconds,
          mbps: bytes / MB / done.seconds,
          cpuSeconds: after.cpuSeconds - before.cpuSeconds,
          userSeconds: after.userSeconds - before.userSeconds,
          systemSeconds: after.systemSeconds - before.systemSeconds,
          mainThreadCpuSeconds: mainThreadCpuSeconds(threads),
          minorFaults: after.minorFaults - before.minorFaults,
          seederCpuSeconds,
          peakRssBytes: Math.max(peaks.peakRssBytes, after.peakRssBytes),
          peakRssAnonBytes: Math.max(peaks.peakRssAnonBytes, after.rssAnonBytes),
          peakRssFileBytes: Math.max(peaks.peakRssFileBytes, after.rssFileBytes),
          diskBytes: usage.bytes,
          diskApparentBytes: usage.apparentBytes,
          diskFiles: usage.files,
          diskRatio: usage.bytes / bytes,
          fsyncSeconds,
          durableMbps: bytes / MB / (done.seconds + fsyncSeconds),
          threads: topThreads(threads),
          gcMajor: Number.NaN,
          gcMajorMs: Number.NaN,
          gcMinor: Number.NaN,
          gcPauseMs: Number.NaN,
          payloadBytes: bytes,
        }
      } finally {
        await leech.stop()
      }
    }

    /** Before every step: memory just in use for its gigabyte (see `warmMemory`). */
    const warmBeforeStep = () => warmMemory(scratch.path, bytes)

    /** The seeding leecher: python3-libtorrent saving to tmpfs, dialling `port`. */
    const leechFrom = async (port: number, seederPid: number, step: number) => {
      const savePath = join(scratch.path, `seeding-leecher-${step}`)
      mkdirSync(savePath)
      const seederBefore = cpuSecondsOf(seederPid)
      const seederThreadsBefore = threadCpu(seederPid)
      const leech = await peers.startLibtorrentPeer({
        torrent: big.torrentPath,
        savePath,
        role: 'leech',
        connect: [port],
        progressIntervalMs: 0,
        timeoutMs,
        label: 'bench seeding leecher',
      })
      if (verbose) echoPeerOutput(leech, 'seeding leecher')
      try {
        const leecherBefore = readProc(leech.pid).cpuSeconds
        const done = await leech.done(timeoutMs)
        const leecherCpuSeconds = readProc(leech.pid).cpuSeconds - leecherBefore
        const threads = threadCpuDelta(seederThreadsBefore, threadCpu(seederPid))
        if (done.downloaded !== bytes)
          throw new Error(`the seeding leecher finished with ${done.downloaded} of ${bytes} bytes`)
        return {
          seconds: done.seconds,
          mbps: bytes / MB / done.seconds,
          seederCpuSeconds: cpuSecondsOf(seederPid) - seederBefore,
          seederMainThreadCpuSeconds: mainThreadCpuSeconds(threads),
          leecherCpuSeconds,
          threads: topThreads(threads),
        }
      } finally {
        await leech.stop()
        rmSync(savePath, { recursive: true, force: true })
      }
    }

    /** (a→): a new client process on (a)'s store seeds to the leecher. */
    const runSeedChunk = async (store: string, step: number): Promise<SeedFigures> => {
      const spec: SeedSpec = { torrentPath: big.torrentPath, directory: store, timeoutMs }
      const spawned = performance.now()
      let pid = 0
      let signalReady: (port: number) => void = () => {}
      const ready = new Promise<number>((resolve) => {
        signalReady = resolve
      })
      const child = runNodeChild<SeedResult>({
        script: import.meta.filename,
        args: [SEED_FLAG, JSON.stringify(spec)],
        nodeFlags: envWords('BENCH_NODE_FLAGS'),
        timeoutMs: 2 * timeoutMs,
        onOutput: (line, stream) => {
          if (stream === 'stdout' && line.startsWith(SEED_READY))
            signalReady(Number(line.slice(SEED_READY.length)))
          else echo('[seed-chunk]')?.(line)
        },
        onSpawn: (childPid) => {
          pid = childPid
        },
      })
      const port = await Promise.race([ready, child.then(() => Number.NaN)])
      if (!Number.isFinite(port)) throw new Error('the seeding client exited before it was ready')
      const startSeconds = (performance.now() - spawned) / 1000
      const sampler = sampleProc(pid)
      const leeched = await leechFrom(port, pid, step).catch(async (error: unknown) => {
        process.kill(pid, 'SIGUSR2')
        await child.catch(() => {})
        throw error
      })
      const seederNow = sampler.stop()
      process.kill(pid, 'SIGUSR2')
      const { result, peaks } = await child
      return {
        ...leeched,
        seederPeakRssBytes: Math.max(peaks.peakRssBytes, seederNow.peakRssBytes),
        seederPeakRssAnonBytes: Math.max(peaks.peakRssAnonBytes, seederNow.peakRssAnonBytes),
        startSeconds,
        storageReadRatio: result.bytesRead / bytes,
      }
    }

    /** (c→): a python3-libtorrent seeder of (c)'s copy seeds to the leecher. */
    const runSeedLibtorrent = async (directory: string, step: number): Promise<SeedFigures> => {
      const started = performance.now()
      const seed = await peers.startLibtorrentPeer({
        torrent: big.torrentPath,
        savePath: directory,
        role: 'seed',
        progressIntervalMs: 0,
        timeoutMs,
        label: 'bench seeder c→',
      })
      try {
        const startSeconds = (performance.now() - started) / 1000
        const sampler = sampleProc(seed.pid)
        const leeched = await leechFrom(seed.port, seed.pid, step)
        const peaks = sampler.stop()
        return {
          ...leeched,
          seederPeakRssBytes: Math.max(peaks.peakRssBytes, peaks.last?.peakRssBytes ?? 0),
          seederPeakRssAnonBytes: peaks.peakRssAnonBytes,
          startSeconds,
          storageReadRatio: Number.NaN,
        }
      } finally {
        await seed.stop()
      }
    }

    // Directories kept from a download for the seeding runs of the same repetition.
    const kept = new Map<string, string>()
    const keep = (variant: SeedVariant, repetition: number, directory: string) => {
      if (variants.includes(variant)) kept.set(`${variant}/${repetition}`, directory)
      else rmSync(directory, { recursive: true, force: true })
    }
    const take = (variant: SeedVariant, repetition: number) => {
      const directory = kept.get(`${variant}/${repetition}`)
      if (!directory) throw new Error(`nothing kept for ${variant} #${repetition}`)
      kept.delete(`${variant}/${repetition}`)
      return directory
    }
    const syncSeconds: number[] = []

    const results = await interleave<Variant, LeechFigures | SeedFigures>(
      variants,
      runs,
      async ({ variant, repetition, step }) => {
        // Flush every earlier step's dirty pages first, so their writeback is not measured here.
        syncSeconds.push(syncAll())
        await warmBeforeStep()
        switch (variant) {
          case 'chunk': {
            const directory = join(disk.path, `a-${repetition}`)
            const figures = await runClient(
              'chunk',
              big,
              seeder.pid,
              seeder.port,
              directory,
              `a${repetition}`,
            )
            keep('seed-chunk', repetition, directory)
            return figures
          }
          case 'default': {
            const directory = join(disk.path, `b-${repetition}`)
            mkdirSync(directory)
            try {
              return await runClient('default', big, seeder.pid, seeder.port, directory, `b${repetition}`)
            } finally {
              rmSync(directory, { recursive: true, force: true })
            }
          }
          case 'libtorrent': {
            const directory = join(disk.path, `c-${repetition}`)
            const figures = await runLibtorrent(directory)
            keep('seed-libtorrent', repetition, directory)
            return figures
          }
          case 'seed-chunk': {
            const directory = take('seed-chunk', repetition)
            try {
              return await runSeedChunk(directory, step)
            } finally {
              rmSync(directory, { recursive: true, force: true })
            }
          }
          case 'seed-libtorrent': {
            const directory = take('seed-libtorrent', repetition)
            try {
              return await runSeedLibtorrent(directory, step)
            } finally {
              rmSync(directory, { recursive: true, force: true })
            }
          }
        }
      },
      {
        log,
        describe: (run) =>
          'storageReadRatio' in run ? describeSeed(run as SeedFigures) : describeLeech(run as LeechFigures),
      },
    )
    await seeder.stop()

    // Memory independence: (a) once on a smaller torrent.
    let small: LeechFigures | undefined
    if (smallBytes > 0 && variants.includes('chunk')) {
      const smallTorrent = await makeTorrent(smallBytes, 'small')
      const smallSeeder = await startSeeder(smallTorrent.dir, smallTorrent.torrentPath, 'bench seeder small')
      const directory = join(disk.path, 'a-small')
      syncSeconds.push(syncAll())
      await warmBeforeStep()
      const started = performance.now()
      try {
        small = await runClient(
          'chunk',
          smallTorrent,
          smallSeeder.pid,
          smallSeeder.port,
          directory,
          'a-small',
        )
      } finally {
        rmSync(directory, { recursive: true, force: true })
        await smallSeeder.stop()
      }
      log(
        `[small] chunk at ${formatBytes(smallBytes)} (${((performance.now() - started) / 1000).toFixed(1)} s): ${describeLeech(small)}`,
      )
    }
    report({
      builds: { start: buildsAtStart, end: buildStamps() },
      bytes,
      smallBytes,
      runs,
      variants,
      results,
      small,
      diskPath: disk.path,
      diskFsType: disk.fsType,
      scratchTmpfs: scratch.tmpfs,
      syncSeconds,
      perfDir,
      startedAt,
    })
  } finally {
    for (const seeder of seeders) await seeder.stop().catch(() => {})
    cleanup()
    removeInterruptHandler()
  }
}

// ---- the report --------------------------------------------------------------------------------

function report(input: {
  builds: { start: Record<string, string>; end: Record<string, string> }
  bytes: number
  smallBytes: number
  runs: number
  variants: readonly Variant[]
  results: Record<Variant, Array<LeechFigures | SeedFigures>>
  small: LeechFigures | undefined
  diskPath: string
  diskFsType: string
  scratchTmpfs: boolean
  syncSeconds: number[]
  perfDir: string | undefined
  startedAt: number
}): void {
  const { bytes, runs, variants, results, small } = input
  const leechVariants = variants.filter((variant): variant is LeechVariant => !isSeed(variant))
  const seedVariants = variants.filter(isSeed)
  const leechRuns = (variant: LeechVariant) => results[variant] as LeechFigures[] | undefined
  const seedRuns = (variant: SeedVariant) => results[variant] as SeedFigures[] | undefined
  const leech = Object.fromEntries(
    leechVariants.map((variant) => [variant, summarizeFields(leechRuns(variant) ?? [])]),
  ) as Partial<Record<LeechVariant, Summaries<LeechFigures>>>
  const seed = Object.fromEntries(
    seedVariants.map((variant) => [variant, summarizeFields(seedRuns(variant) ?? [])]),
  ) as Partial<Record<SeedVariant, Summaries<SeedFigures>>>

  const mb = (value: number) => (value / MB).toFixed(0)
  const s2 = (value: number) => value.toFixed(2)
  log('')
  log(
    `Downloads: medians (min–max) over ${runs} run(s) of ${formatBytes(bytes)} from a python3-libtorrent seeder; ` +
      `MB = 10^6 bytes; CPU = user + system, all threads of the leecher.`,
  )
  log(
    formatTable(
      [
        'leecher',
        'MB/s',
        'seconds',
        'CPU s',
        'main-thread CPU s',
        'seeder CPU s',
        'peak RSS MB',
        'peak RssAnon MB',
        'disk used / payload',
        'MB/s to durable',
      ],
      leechVariants.map((variant) => {
        const s = leech[variant]!
        return [
          LABELS[variant],
          formatSummary(s.mbps),
          formatSummary(s.seconds, s2),
          formatSummary(s.cpuSeconds, s2),
          formatSummary(s.mainThreadCpuSeconds, s2),
          formatSummary(s.seederCpuSeconds, s2),
          formatSummary(s.peakRssBytes, mb),
          formatSummary(s.peakRssAnonBytes, mb),
          formatSummary(s.diskRatio, (value) => value.toFixed(4)),
          formatSummary(s.durableMbps),
        ]
      }),
    ),
  )
  if (small) {
    log(
      `a at ${formatBytes(input.smallBytes)} (1 run): ${small.mbps.toFixed(1)} MB/s, CPU ${small.cpuSeconds.toFixed(2)} s, ` +
        `peak RSS ${mb(small.peakRssBytes)} MB, peak RssAnon ${mb(small.peakRssAnonBytes)} MB, disk ${small.diskRatio.toFixed(4)}x`,
    )
  }
  log('')
  log(
    "seconds: a, b: client.add() until torrent.done() (a: every piece also fdatasync'd and marked verified in " +
      "the index); c: the python peer's start until is_seeding.",
  )
  log(
    'peak RSS: max(VmHWM, sampled VmRSS) over the process; c maps the files it writes (RssFile), so compare RssAnon too.',
  )
  log(
    'disk used: du of the download directory (st_blocks * 512, a: chunks/ + index.db + WAL). ' +
      'MB/s to durable: b and c do not sync; their time plus an fsync of every file afterwards.',
  )
  for (const variant of leechVariants) {
    const middle = medianBy(leechRuns(variant) ?? [], (run) => run.mbps)
    if (middle) log(`${LABELS[variant]} CPU by thread (median run): ${describeThreads(middle.threads, 0.05)}`)
  }
  const aRuns = leechRuns('chunk')
  const aMiddle = aRuns && medianBy(aRuns, (run) => run.mbps)
  for (const variant of ['chunk', 'default'] as const) {
    const inside = medianBy(leechRuns(variant) ?? [], (run) => run.mbps)?.inside
    if (inside) {
      log(
        `${LABELS[variant]} peaks inside the process (median run): heapUsed ${mb(inside.heapUsedBytes)} MB, ` +
          `external ${mb(inside.externalBytes)} MB, arrayBuffers ${mb(inside.arrayBuffersBytes)} MB, ` +
          `bridge storing ${mb(inside.storingBytes)} MB, bridge piece cache ${mb(inside.cacheBytes)} MB, ` +
          `pending jobs ${inside.pendingJobs}`,
      )
    }
    const gc = leech[variant]
    if (gc && Number.isFinite(gc.gcMajor.median)) {
      log(
        `${LABELS[variant]} garbage collection while downloading: ${formatSummary(gc.gcMajor, (v) => v.toFixed(0))} mark-compacts ` +
          `(${formatSummary(gc.gcMajorMs, (v) => v.toFixed(0))} ms of pauses), ${formatSummary(gc.gcMinor, (v) => v.toFixed(0))} scavenges; ` +
          `all GC pauses on the JavaScript thread ${formatSummary(gc.gcPauseMs, (v) => v.toFixed(0))} ms`,
      )
    }
  }
  if (aMiddle?.storage) {
    const storage = aMiddle.storage
    log(
      `a storage (median run): ${storage.chunksWritten} chunk writes, ${storage.piecesVerified} pieces verified, ` +
        `bytesOnDisk ${formatBytes(storage.bytesOnDisk)}, overLimit ${storage.overLimit}; files ${JSON.stringify(storage.files)}; ` +
        `bridge ${JSON.stringify(aMiddle.bridge)}; ` +
        `warnings ${[...new Set(aMiddle.warnings ?? [])].join(',') || 'none'}; close ${aMiddle.closeSeconds?.toFixed(2)} s`,
    )
  }

  if (seedVariants.length) {
    log('')
    log(
      `Seeding: a fresh python3-libtorrent leecher (saving to tmpfs) downloads ${formatBytes(bytes)}; ` +
        'seeder CPU over its download; seeder peak RSS over its whole life.',
    )
    log(
      formatTable(
        [
          'seeder',
          'MB/s',
          'seconds',
          'seeder CPU s',
          'leecher CPU s',
          'seeder peak RSS MB',
          'seeder RssAnon MB',
          'ready after s',
        ],
        seedVariants.map((variant) => {
          const s = seed[variant]!
          return [
            LABELS[variant],
            formatSummary(s.mbps),
            formatSummary(s.seconds, s2),
            formatSummary(s.seederCpuSeconds, s2),
            formatSummary(s.leecherCpuSeconds, s2),
            formatSummary(s.seederPeakRssBytes, mb),
            formatSummary(s.seederPeakRssAnonBytes, mb),
            formatSummary(s.startSeconds, s2),
          ]
        }),
      ),
    )
    log(
      "ready after: a→ resumes from the store's verified set (no hashing); c→ (high_performance_seed) hashes its copy first.",
    )
    const storeReads = seed['seed-chunk']?.storageReadRatio
    if (storeReads)
      log(`a→ read ${formatSummary(storeReads, (v) => v.toFixed(3))} x payload from ChunkStorage`)
    for (const variant of seedVariants) {
      const middle = medianBy(seedRuns(variant) ?? [], (run) => run.mbps)
      if (middle)
        log(`${LABELS[variant]} seeder CPU by thread (median run): ${describeThreads(middle.threads, 0.05)}`)
    }
  }

  const a = leech.chunk
  const b = leech.default
  const c = leech.libtorrent
  const median = (summary: Summary | undefined) => summary?.median ?? Number.NaN
  const ratios = {
    throughputAOverC: ratio(median(a?.mbps), median(c?.mbps)),
    throughputAOverCPairs: pairRatios(aRuns, leechRuns('libtorrent'), (run) => run.mbps),
    throughputAOverB: ratio(median(a?.mbps), median(b?.mbps)),
    throughputAOverBPairs: pairRatios(aRuns, leechRuns('default'), (run) => run.mbps),
    throughputBOverC: ratio(median(b?.mbps), median(c?.mbps)),
    durableThroughputAOverC: ratio(median(a?.durableMbps), median(c?.durableMbps)),
    durableThroughputAOverB: ratio(median(a?.durableMbps), median(b?.durableMbps)),
    cpuAOverC: ratio(median(a?.cpuSeconds), median(c?.cpuSeconds)),
    cpuAOverB: ratio(median(a?.cpuSeconds), median(b?.cpuSeconds)),
    peakRssAOverC: ratio(median(a?.peakRssBytes), median(c?.peakRssBytes)),
    peakRssAOverB: ratio(median(a?.peakRssBytes), median(b?.peakRssBytes)),
    rssAnonAOverC: ratio(median(a?.peakRssAnonBytes), median(c?.peakRssAnonBytes)),
    rssAnonAOverB: ratio(median(a?.peakRssAnonBytes), median(b?.peakRssAnonBytes)),
    diskAOverC: ratio(median(a?.diskBytes), median(c?.diskBytes)),
    peakRssLargeOverSmall: ratio(median(a?.peakRssBytes), small?.peakRssBytes ?? Number.NaN),
    rssAnonLargeOverSmall: ratio(median(a?.peakRssAnonBytes), small?.peakRssAnonBytes ?? Number.NaN),
    seedingThroughputAOverC: ratio(median(seed['seed-chunk']?.mbps), median(seed['seed-libtorrent']?.mbps)),
    seedingThroughputAOverCPairs: pairRatios(
      seedRuns('seed-chunk'),
      seedRuns('seed-libtorrent'),
      (run) => run.mbps,
    ),
    seedingCpuAOverC: ratio(
      median(seed['seed-chunk']?.seederCpuSeconds),
      median(seed['seed-libtorrent']?.seederCpuSeconds),
    ),
  }
  const check = (value: number, target: number, kind: 'min' | 'max') =>
    Number.isFinite(value) ? (kind === 'min' ? value >= target : value <= target) : null
  const targets = {
    throughputAOverC: {
      target: `>= ${TARGETS.throughputAOverC}`,
      value: ratios.throughputAOverC,
      met: check(ratios.throughputAOverC, TARGETS.throughputAOverC, 'min'),
    },
    peakRssA: {
      target: `< ${TARGETS.peakRssBytesA / MB} MB`,
      value: median(a?.peakRssBytes),
      /** The worst run must meet it too. */
      max: a?.peakRssBytes.max,
      met: check(a?.peakRssBytes.max ?? Number.NaN, TARGETS.peakRssBytesA - 1, 'max'),
    },
    peakRssIndependentOfSize: {
      target: `peak RSS at ${formatBytes(bytes)} / at ${formatBytes(input.smallBytes)} <= ${TARGETS.peakRssLargeOverSmall}`,
      value: ratios.peakRssLargeOverSmall,
      met: check(ratios.peakRssLargeOverSmall, TARGETS.peakRssLargeOverSmall, 'max'),
    },
    diskBytesA: {
      target: `<= ${TARGETS.diskBytesOverPayload} x payload`,
      value: median(a?.diskRatio),
      max: a?.diskRatio.max,
      met: check(a?.diskRatio.max ?? Number.NaN, TARGETS.diskBytesOverPayload, 'max'),
    },
  }
  const fmt = (value: number, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')
  const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : 'NOT met')
  const pairs = (summary: Summary | undefined) =>
    summary && summary.values.length > 1 ? ` (per pair ${formatSummary(summary, (v) => v.toFixed(3))})` : ''
  log('')
  log(
    `ratio a/c: throughput ${fmt(ratios.throughputAOverC)}${pairs(ratios.throughputAOverCPairs)}, to durable ${fmt(ratios.durableThroughputAOverC)}, ` +
      `CPU ${fmt(ratios.cpuAOverC, 2)}, peak RSS ${fmt(ratios.peakRssAOverC, 2)}, RssAnon ${fmt(ratios.rssAnonAOverC, 2)}, disk ${fmt(ratios.diskAOverC, 4)}`,
  )
  log(
    `ratio a/b: throughput ${fmt(ratios.throughputAOverB)}${pairs(ratios.throughputAOverBPairs)}, to durable ${fmt(ratios.durableThroughputAOverB)}, ` +
      `CPU ${fmt(ratios.cpuAOverB, 2)}, peak RSS ${fmt(ratios.peakRssAOverB, 2)}, RssAnon ${fmt(ratios.rssAnonAOverB, 2)}; b/c throughput ${fmt(ratios.throughputBOverC)}`,
  )
  log(
    `a's memory vs size: peak RSS ${formatBytes(bytes)} / ${formatBytes(input.smallBytes)} = ${fmt(ratios.peakRssLargeOverSmall)}, ` +
      `RssAnon ${fmt(ratios.rssAnonLargeOverSmall)}`,
  )
  log(
    `seeding a→/c→: throughput ${fmt(ratios.seedingThroughputAOverC)}${pairs(ratios.seedingThroughputAOverCPairs)}, ` +
      `seeder CPU ${fmt(ratios.seedingCpuAOverC, 2)}`,
  )
  log(`target throughput a/c ${targets.throughputAOverC.target}: ${verdict(targets.throughputAOverC.met)}`)
  log(
    `target peak RSS of a ${targets.peakRssA.target} (every run; worst ${mb(targets.peakRssA.max ?? Number.NaN)} MB): ${verdict(targets.peakRssA.met)}`,
  )
  log(`target ${targets.peakRssIndependentOfSize.target}: ${verdict(targets.peakRssIndependentOfSize.met)}`)
  log(
    `target disk used by a ${targets.diskBytesA.target} (worst ${fmt(targets.diskBytesA.max ?? Number.NaN, 4)}): ${verdict(targets.diskBytesA.met)}`,
  )
  const load = loadavg()
  const totalSeconds = (performance.now() - input.startedAt) / 1000
  log(
    `load average at start ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, at end ${load.map((value) => value.toFixed(2)).join(' ')} ` +
      `(${availableParallelism()} CPUs; other work on the machine skews every figure); sync(1) before each step took ` +
      `${formatSummary(summarize(input.syncSeconds), s2)} s`,
  )
  const rebuilt = changedStamps(input.builds.start, input.builds.end)
  log(describeBuilds(input.builds.start, input.builds.end))
  if (input.perfDir) log(`perf data in ${input.perfDir}`)
  log(`total ${totalSeconds.toFixed(1)} s`)
  const allMet = Object.values(targets).every((target) => target.met === true)
  printJsonLine({
    benchmark: 'client',
    bytes,
    smallBytes: input.smallBytes,
    pieceLength: PIECE_LENGTH,
    version: 'v1',
    runs,
    variants,
    diskDir: input.diskPath,
    diskFsType: input.diskFsType,
    scratchTmpfs: input.scratchTmpfs,
    downloads: Object.fromEntries(
      leechVariants.map((variant) => {
        const middle = medianBy(leechRuns(variant) ?? [], (run) => run.mbps)
        return [
          variant,
          {
            label: LABELS[variant],
            ...compactSummaries(leech[variant] as Record<string, Summary>),
            ...(middle?.storage && { storage: middle.storage }),
            ...(middle?.bridge && { bridge: middle.bridge }),
            ...(middle?.warnings && { warnings: [...new Set(middle.warnings)] }),
            ...(middle?.inside && { inside: middle.inside }),
          },
        ]
      }),
    ),
    small: small && {
      bytes: input.smallBytes,
      mbps: small.mbps,
      seconds: small.seconds,
      cpuSeconds: small.cpuSeconds,
      peakRssBytes: small.peakRssBytes,
      peakRssAnonBytes: small.peakRssAnonBytes,
      diskRatio: small.diskRatio,
    },
    seeding: Object.fromEntries(
      seedVariants.map((variant) => [
        variant,
        { label: LABELS[variant], ...compactSummaries(seed[variant] as Record<string, Summary>) },
      ]),
    ),
    ratios: {
      ...Object.fromEntries(
        Object.entries(ratios).map(([key, value]) => [
          key,
          typeof value === 'number' ? value : compactSummary(value as Summary | undefined),
        ]),
      ),
    },
    targets,
    allTargetsMet: allMet,
    cpus: availableParallelism(),
    loadAverage: { start: loadAtStart, end: load },
    syncSeconds: compactSummary(summarize(input.syncSeconds)),
    builds: { ...input.builds, changedDuringRun: rebuilt },
    totalSeconds,
  })
}

if (process.argv[2] === LEECH_FLAG) await leechChild(process.argv.slice(3))
else if (process.argv[2] === SEED_FLAG) await seedChild(process.argv.slice(3))
else await main()
