// bench:ffi (issue #2): is the JavaScript disk bridge ever what limits a download? One torrent
// (default 1 GiB, v1, 256 KiB pieces) is downloaded over loopback from a python3-libtorrent
// seeder into (a) a session of @chunktorrent/ffi whose disk is the JavaScript MemoryDiskIo and
// (b) a python3-libtorrent leecher saving to tmpfs, interleaved, and the two are compared.
// Target: median throughput a/b >= 0.9. An extra variant (a0) downloads into a DiskIo that keeps
// nothing, to show the bridge's own cost without the payload in memory. An opt-in variant (a1,
// js-keep) keeps each write's `job.data` Buffer instead of copying it: the documented DiskIo
// contract says to copy, but today's native code keeps the piece alive for as long as that
// Buffer lives, so this shows what a zero-copy store would gain.
//
// Settings: both leechers start from libtorrent's defaults with loopback-only networking (no
// DHT/LSD/UPnP/NAT-PMP, TCP only; the ffi tests' settings for a, test-peers' for b); (a) also has
// @chunktorrent/ffi's defaultSettings (max_queued_disk_bytes 32 MiB, a large alert queue). The
// seeder uses high_performance_seed(). Data and b's download live on tmpfs (/dev/shm).
//
//   pnpm bench:ffi                         full run (1 GiB x 3 runs of each variant)
//   BENCH_BYTES=64M BENCH_RUNS=1 pnpm bench:ffi
//   BENCH_VARIANTS=js-memory,libtorrent    which variants, in this order (default
//                                          js-memory,libtorrent,js-null; js-keep on request)
//   BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   flags for the (a) child's node
//   BENCH_LT_SETTINGS='{"aio_threads":4}'  extra libtorrent settings for (a)'s session
//   BENCH_VERBOSE=1                        echo the children's output
//
// `node bench/ffi.ts --leech SPEC` is the (a) child: one download, result printed as JSON.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import type { BridgeStats, DiskIo, ReadPieceJob, WritePieceJob } from '@chunktorrent/ffi'
import {
  compactSummaries,
  compactSummary,
  describeThreads,
  echoPeerOutput,
  envBytes,
  envFlag,
  envInt,
  envJson,
  envList,
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
  MiB,
  mainThreadCpuSeconds,
  measureLeecher,
  medianBy,
  onInterrupt,
  type ProcSnapshot,
  pairRatios,
  printJsonLine,
  printResult,
  ratio,
  readProc,
  runNodeChild,
  scratchDir,
  summarize,
  type ThreadCpu,
  threadCpu,
  threadCpuDelta,
} from './lib/index.ts'

const CHILD_FLAG = '--leech'
const PIECE_LENGTH = 256 * 1024
const TARGET_RATIO = 0.9
const loadAtStart = loadavg()

/** The ffi tests' loopback settings (packages/ffi/test/helpers.ts): no DHT/LSD/UPnP/NAT-PMP, TCP only. */
const loopbackSettings = {
  listen_interfaces: '127.0.0.1:0',
  enable_dht: false,
  enable_lsd: false,
  enable_upnp: false,
  enable_natpmp: false,
  enable_incoming_utp: false,
  enable_outgoing_utp: false,
  allow_multiple_connections_per_ip: true,
  min_reconnect_time: 1,
  max_failcount: 1000,
  user_agent: 'chunktorrent-bench',
}

const VARIANTS = ['js-memory', 'libtorrent', 'js-null', 'js-keep'] as const
type Variant = (typeof VARIANTS)[number]
const DEFAULT_VARIANTS: readonly Variant[] = ['js-memory', 'libtorrent', 'js-null']
type Backend = 'memory' | 'null' | 'keep'
const BACKENDS: Record<Exclude<Variant, 'libtorrent'>, Backend> = {
  'js-memory': 'memory',
  'js-null': 'null',
  'js-keep': 'keep',
}

const LABELS: Record<Variant, string> = {
  'js-memory': 'a: ffi session, JS MemoryDiskIo',
  libtorrent: 'b: python3-libtorrent, tmpfs',
  'js-null': 'a0: ffi session, JS null DiskIo',
  'js-keep': 'a1: ffi session, JS keeps job.data',
}

// ---- the (a) child -----------------------------------------------------------------------------

interface LeechSpec {
  torrentPath: string
  peer: string
  backend: Backend
  settings: Record<string, string | number | boolean>
  timeoutMs: number
}

interface LeechResult {
  /** addTorrent until torrent_finished (every piece stored and hash-checked). */
  seconds: number
  /** addTorrent until the first piece_finished alert. */
  firstPieceSeconds: number
  payloadBytes: number
  /** CPU of the whole process (all threads) over `seconds`. */
  cpuSeconds: number
  userSeconds: number
  systemSeconds: number
  /** Minor page faults of the process over `seconds`. */
  minorFaults: number
  /** Per-thread CPU over `seconds`, busiest first. */
  threads: ThreadCpu[]
  /** /proc/self/status when the download finished. */
  atFinish: ProcSnapshot
  /** Bytes of payload the backend holds at the end (MemoryDiskIo: all of it; null: none). */
  heldBytes: number
  bridge: BridgeStats
  memoryUsage: NodeJS.MemoryUsage
  /** The session's effective max_queued_disk_bytes and any BENCH_LT_SETTINGS, as libtorrent reports them. */
  settings: Record<string, string | number | boolean>
}

/** A DiskIo that keeps nothing: counts what it is given and answers every read with "not stored". */
class NullDiskIo implements DiskIo {
  writtenBytes = 0
  writePiece(job: WritePieceJob): void {
    this.writtenBytes += job.data.byteLength
  }
  readPiece(_job: ReadPieceJob): null {
    return null
  }
}

/** Keeps each piece's `job.data` as given (no copy). Outside the documented contract; see the top. */
class KeepDiskIo implements DiskIo {
  readonly pieces = new Map<number, Buffer>()
  writePiece(job: WritePieceJob): void {
    this.pieces.set(job.piece, job.data)
  }
  readPiece(job: ReadPieceJob): Buffer | null {
    return this.pieces.get(job.piece)?.subarray(job.offset, job.offset + job.length) ?? null
  }
}

async function leechChild(argv: string[]): Promise<void> {
  exitWithParent()
  const spec = JSON.parse(argv[0] ?? '') as LeechSpec
  const ffi = await import('@chunktorrent/ffi')
  const memory = spec.backend === 'memory' ? new ffi.MemoryDiskIo() : undefined
  const keep = spec.backend === 'keep' ? new KeepDiskIo() : undefined
  const disk: DiskIo = memory ?? keep ?? new NullDiskIo()
  const params = new ffi.SessionParams({ settings: { ...loopbackSettings, ...spec.settings } })
  params.setDiskIoConstructor(disk)
  const session = new ffi.Session(params)
  const torrent = readFileSync(spec.torrentPath)
  const info = ffi.parseTorrent(torrent)

  let firstPiece = Number.NaN
  const onAlert = (alert: { type: string }) => {
    if (alert.type === 'piece_finished') {
      firstPiece = performance.now()
      session.off('alert', onAlert)
    }
  }
  session.on('alert', onAlert)

  const threadsBefore = threadCpu('self')
  const before = readProc('self')
  const started = performance.now()
  const added = session.addTorrent({
    torrent,
    savePath: '/nonexistent/chunktorrent-bench',
    peers: [spec.peer],
  })
  await session.waitForAlert(
    (alert) => alert.type === 'torrent_finished' && alert.infoHash === added.infoHash,
    {
      timeout: spec.timeoutMs,
    },
  )
  const finished = performance.now()
  const atFinish = readProc('self')
  const threads = threadCpuDelta(threadsBefore, threadCpu('self'))

  await session.diskIdle()
  const bridge = session.bridgeStats()
  const status = session.status(added.infoHash)
  if (!status.seeding || bridge.piecesWritten !== info.pieceCount) {
    throw new Error(
      `incomplete: seeding=${status.seeding}, piecesWritten=${bridge.piecesWritten}/${info.pieceCount}`,
    )
  }
  let heldBytes = 0
  for (const pieces of memory?.torrents.values() ?? [])
    for (const piece of pieces.values()) heldBytes += piece.byteLength
  for (const piece of keep?.pieces.values() ?? []) heldBytes += piece.byteLength
  if ((memory || keep) && heldBytes !== info.length)
    throw new Error(`MemoryDiskIo holds ${heldBytes} of ${info.length} bytes`)
  if (disk instanceof NullDiskIo && disk.writtenBytes !== info.length) {
    throw new Error(`null DiskIo was given ${disk.writtenBytes} of ${info.length} bytes`)
  }
  const memoryUsage = process.memoryUsage()
  const settings = Object.fromEntries(
    ['max_queued_disk_bytes', ...Object.keys(spec.settings)].map((name) => [name, session.getSetting(name)]),
  )
  await session.close()
  printResult({
    seconds: (finished - started) / 1000,
    firstPieceSeconds: (firstPiece - started) / 1000,
    payloadBytes: info.length,
    cpuSeconds: atFinish.cpuSeconds - before.cpuSeconds,
    userSeconds: atFinish.userSeconds - before.userSeconds,
    systemSeconds: atFinish.systemSeconds - before.systemSeconds,
    minorFaults: atFinish.minorFaults - before.minorFaults,
    threads: threads.slice(0, 8),
    atFinish,
    heldBytes,
    bridge,
    memoryUsage,
    settings,
  } satisfies LeechResult)
  process.exit(0)
}

// ---- the parent ------------------------------------------------------------------------------

/** One run of one variant, in the same terms for every variant. */
interface RunFigures {
  seconds: number
  mbps: number
  /** Leecher CPU (all threads) from adding the torrent to completion. */
  cpuSeconds: number
  /** The leecher's first thread (Node: the JavaScript thread; python: the alert loop). */
  mainThreadCpuSeconds: number
  /** Minor page faults of the leecher over the same span (first touches of new memory). */
  minorFaults: number
  /** The seeder's CPU over the run: both share the machine's cores. */
  seederCpuSeconds: number
  /** max(VmHWM, sampled VmRSS) of the leecher. */
  peakRssBytes: number
  /** Sampled peak RssAnon of the leecher (heap, no page cache). */
  peakRssAnonBytes: number
  /** Sampled peak RssShmem (python's mapped tmpfs file). */
  peakRssShmemBytes: number
  /** Payload the leecher keeps in its own anonymous memory at the end (MemoryDiskIo: all of it). */
  heldBytes: number
  /** peakRssAnonBytes - heldBytes: what the leecher needs beyond the payload it keeps. */
  rssAnonBeyondPayloadBytes: number
  threads: ThreadCpu[]
  bridge?: BridgeStats
  settings?: LeechResult['settings']
}

async function main(): Promise<void> {
  const startedAt = performance.now()
  const bytes = envBytes('BENCH_BYTES', 1024 ** 3, { min: PIECE_LENGTH })
  const runs = envInt('BENCH_RUNS', 3, { min: 1, max: 100 })
  const variants = envList('BENCH_VARIANTS', VARIANTS, DEFAULT_VARIANTS)
  const nodeFlags = envWords('BENCH_NODE_FLAGS')
  const extraSettings = envJson('BENCH_LT_SETTINGS') as LeechSpec['settings']
  const verbose = envFlag('BENCH_VERBOSE')
  // Generous bounds: 60 s plus 5 MB/s.
  const timeoutMs = 60_000 + Math.ceil(bytes / (5 * MB)) * 1000

  const { peers, libtorrentVersion } = await libtorrentPeers()

  // Room for the seeder's data and one (b) download at a time.
  const scratch = scratchDir('chunktorrent-bench-ffi', 2 * bytes + 64 * MiB)
  const cleanup = () => {
    peers.killAllChildren()
    killTrackedChildren()
    scratch.remove()
  }
  const removeInterruptHandler = onInterrupt(cleanup)
  let seeder: Awaited<ReturnType<typeof peers.startLibtorrentPeer>> | undefined
  try {
    log(
      `bench:ffi: ${formatBytes(bytes)}, v1, ${PIECE_LENGTH / 1024} KiB pieces, ${runs} run(s) of ${variants.join(', ')}; ` +
        `python3-libtorrent ${libtorrentVersion}; scratch ${scratch.path}${scratch.tmpfs ? ' (tmpfs)' : ' (NOT tmpfs)'}`,
    )
    const seedDir = join(scratch.path, 'seed')
    const name = 'ffi-bench.bin'
    let stepStarted = performance.now()
    await peers.generateFiles(seedDir, [{ path: name, length: bytes }], 'bench-ffi')
    const torrent = await peers.createTorrent({
      path: join(seedDir, name),
      pieceLength: PIECE_LENGTH,
      version: 'v1',
      timeoutMs,
    })
    const torrentPath = join(scratch.path, 'ffi-bench.torrent')
    writeFileSync(torrentPath, torrent)
    log(
      'leechers: libtorrent defaults + loopback-only settings; a also ffi defaultSettings ' +
        `(max_queued_disk_bytes etc.)${Object.keys(extraSettings).length ? ` + ${JSON.stringify(extraSettings)}` : ''}; ` +
        'seeder: high_performance_seed()',
    )
    log(`data and torrent made in ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`)

    stepStarted = performance.now()
    seeder = await peers.startLibtorrentPeer({
      torrent: torrentPath,
      savePath: seedDir,
      role: 'seed',
      progressIntervalMs: 0,
      timeoutMs,
      label: 'bench seeder',
    })
    const seed = seeder
    log(
      `seeder (high_performance_seed) ready on port ${seed.port} after ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`,
    )
    const echo = (prefix: string) =>
      verbose ? (line: string) => process.stderr.write(`${prefix} ${line}\n`) : undefined
    if (verbose) echoPeerOutput(seed, 'seeder')

    const seederCpu = () => readProc(seed.pid).cpuSeconds

    const runJs = async (backend: Backend): Promise<RunFigures> => {
      const spec: LeechSpec = {
        torrentPath,
        peer: `127.0.0.1:${seed.port}`,
        backend,
        settings: extraSettings,
        timeoutMs,
      }
      const seederBefore = seederCpu()
      const { result, peaks } = await runNodeChild<LeechResult>({
        script: import.meta.filename,
        args: [CHILD_FLAG, JSON.stringify(spec)],
        nodeFlags,
        timeoutMs: timeoutMs + 30_000,
        onOutput: echo(`[${backend}]`),
        ...(verbose && { onSpawn: (pid: number) => process.stderr.write(`[${backend}] child pid ${pid}\n`) }),
      })
      const peakRssAnonBytes = Math.max(peaks.peakRssAnonBytes, result.atFinish.rssAnonBytes)
      return {
        seconds: result.seconds,
        mbps: result.payloadBytes / MB / result.seconds,
        cpuSeconds: result.cpuSeconds,
        minorFaults: result.minorFaults,
        mainThreadCpuSeconds: mainThreadCpuSeconds(result.threads),
        seederCpuSeconds: seederCpu() - seederBefore,
        peakRssBytes: Math.max(peaks.peakRssBytes, result.atFinish.peakRssBytes),
        peakRssAnonBytes,
        peakRssShmemBytes: peaks.peakRssShmemBytes,
        heldBytes: result.heldBytes,
        rssAnonBeyondPayloadBytes: peakRssAnonBytes - result.heldBytes,
        threads: result.threads,
        bridge: result.bridge,
        settings: result.settings,
      }
    }

    const runLibtorrent = async (step: number): Promise<RunFigures> => {
      const savePath = join(scratch.path, `leech-${step}`)
      mkdirSync(savePath)
      const seederBefore = seederCpu()
      const leech = await peers.startLibtorrentPeer({
        torrent: torrentPath,
        savePath,
        role: 'leech',
        connect: [seed.port],
        progressIntervalMs: 0,
        timeoutMs,
        label: 'bench leecher',
      })
      if (verbose) echoPeerOutput(leech, 'libtorrent')
      try {
        const { result: done, before, after, threads, peaks } = await measureLeecher(leech, bytes, timeoutMs)
        const peakRssAnonBytes = Math.max(peaks.peakRssAnonBytes, after.rssAnonBytes)
        return {
          seconds: done.seconds,
          mbps: bytes / MB / done.seconds,
          cpuSeconds: after.cpuSeconds - before.cpuSeconds,
          minorFaults: after.minorFaults - before.minorFaults,
          mainThreadCpuSeconds: mainThreadCpuSeconds(threads),
          seederCpuSeconds: seederCpu() - seederBefore,
          peakRssBytes: Math.max(peaks.peakRssBytes, after.peakRssBytes),
          peakRssAnonBytes,
          peakRssShmemBytes: Math.max(peaks.peakRssShmemBytes, after.rssShmemBytes),
          heldBytes: 0,
          rssAnonBeyondPayloadBytes: peakRssAnonBytes,
          threads: threads.slice(0, 8),
        }
      } finally {
        await leech.stop()
        rmSync(savePath, { recursive: true, force: true })
      }
    }

    const results = await interleave(
      variants,
      runs,
      ({ variant, step }) => (variant === 'libtorrent' ? runLibtorrent(step) : runJs(BACKENDS[variant])),
      {
        log,
        describe: (run) =>
          `${run.mbps.toFixed(1)} MB/s, ${run.seconds.toFixed(2)} s, CPU ${run.cpuSeconds.toFixed(2)} s ` +
          `(${describeThreads(run.threads, 0.1)}), seeder CPU ${run.seederCpuSeconds.toFixed(2)} s, ` +
          `peak RSS ${formatBytes(run.peakRssBytes)}, RssAnon ${formatBytes(run.peakRssAnonBytes)}` +
          (run.bridge
            ? `, ${run.bridge.batches} batches / ${run.bridge.jobsToJs} jobs, queue full ${run.bridge.queueFull}`
            : ''),
      },
    )
    await seed.stop()
    report(bytes, runs, variants, results, scratch.tmpfs, startedAt)
  } finally {
    await seeder?.stop().catch(() => {})
    cleanup()
    removeInterruptHandler()
  }
}

function summaries(runs: readonly RunFigures[]) {
  const field = (pick: (run: RunFigures) => number) => summarize(runs.map(pick))
  const bridge = (pick: (stats: BridgeStats) => number | undefined) =>
    summarize(runs.map((run) => (run.bridge ? (pick(run.bridge) ?? Number.NaN) : Number.NaN)))
  return {
    mbps: field((run) => run.mbps),
    seconds: field((run) => run.seconds),
    cpuSeconds: field((run) => run.cpuSeconds),
    mainThreadCpuSeconds: field((run) => run.mainThreadCpuSeconds),
    minorFaults: field((run) => run.minorFaults),
    seederCpuSeconds: field((run) => run.seederCpuSeconds),
    peakRssBytes: field((run) => run.peakRssBytes),
    peakRssAnonBytes: field((run) => run.peakRssAnonBytes),
    peakRssShmemBytes: field((run) => run.peakRssShmemBytes),
    heldBytes: field((run) => run.heldBytes),
    rssAnonBeyondPayloadBytes: field((run) => run.rssAnonBeyondPayloadBytes),
    ...(runs[0]?.bridge && {
      bridge: {
        batches: bridge((stats) => stats.batches),
        jobsToJs: bridge((stats) => stats.jobsToJs),
        queueFull: bridge((stats) => stats.queueFull),
        piecesWritten: bridge((stats) => stats.piecesWritten),
        hashes: bridge((stats) => stats.hashes),
        readsFromCache: bridge((stats) => stats.readsFromCache),
        pieceFetches: bridge((stats) => stats.pieceFetches),
      },
    }),
  }
}

function report(
  bytes: number,
  runs: number,
  variants: readonly Variant[],
  results: Record<Variant, RunFigures[]>,
  tmpfs: boolean,
  startedAt: number,
): void {
  const summary = Object.fromEntries(
    variants.map((variant) => [variant, summaries(results[variant])]),
  ) as Record<Variant, ReturnType<typeof summaries>>
  const mb = (value: number) => (value / MB).toFixed(0)
  const seconds = (value: number) => value.toFixed(2)
  const rows = variants.map((variant) => {
    const s = summary[variant]
    return [
      LABELS[variant],
      formatSummary(s.mbps),
      formatSummary(s.seconds, seconds),
      formatSummary(s.cpuSeconds, seconds),
      formatSummary(s.mainThreadCpuSeconds, seconds),
      formatSummary(s.minorFaults, (value) => (value / 1000).toFixed(0)),
      formatSummary(s.seederCpuSeconds, seconds),
      formatSummary(s.peakRssBytes, mb),
      formatSummary(s.peakRssAnonBytes, mb),
      formatSummary(s.rssAnonBeyondPayloadBytes, mb),
    ]
  })
  log('')
  log(
    `Medians (min–max) over ${runs} run(s) of ${formatBytes(bytes)}; MB = 10^6 bytes; CPU = user + system, all threads.`,
  )
  log(
    formatTable(
      [
        'leecher',
        'MB/s',
        'seconds',
        'CPU s',
        'main-thread CPU s',
        'minor faults k',
        'seeder CPU s',
        'peak RSS MB',
        'peak RssAnon MB',
        'RssAnon beyond payload MB',
      ],
      rows,
    ),
  )
  log('')
  log(
    'seconds: from adding the torrent to "every piece stored and verified" (a: torrent_finished; b: is_seeding).',
  )
  log('peak RSS: VmHWM. b maps its tmpfs file, so its RSS counts ~the payload as RssShmem; compare RssAnon.')
  log(
    'RssAnon beyond payload: a keeps the whole payload in JS Buffers, so peak RssAnon minus the bytes it holds.',
  )

  for (const variant of variants) {
    const bridge = summary[variant].bridge
    if (!bridge) continue
    const jobsPerBatch = ratio(bridge.jobsToJs.median, bridge.batches.median)
    log(
      `${LABELS[variant]} bridge: ${formatSummary(bridge.batches, (v) => v.toFixed(0))} batches, ` +
        `${formatSummary(bridge.jobsToJs, (v) => v.toFixed(0))} jobs (${jobsPerBatch.toFixed(1)}/batch), ` +
        `queue full ${formatSummary(bridge.queueFull, (v) => v.toFixed(0))}, hashes ${bridge.hashes.median}, ` +
        `reads from cache ${bridge.readsFromCache.median}, piece fetches ${bridge.pieceFetches.median}`,
    )
  }
  for (const variant of variants) {
    const middle = medianBy(results[variant], (run) => run.mbps)
    if (middle) log(`${LABELS[variant]} CPU by thread (median run): ${describeThreads(middle.threads, 0.05)}`)
  }

  const a = summary['js-memory']
  const b = summary.libtorrent
  const a0 = summary['js-null']
  const a1 = summary['js-keep']
  const ratios = {
    throughput: a && b ? ratio(a.mbps.median, b.mbps.median) : Number.NaN,
    throughputPairs: pairRatios(results['js-memory'], results.libtorrent, (run) => run.mbps),
    throughputNull: a0 && b ? ratio(a0.mbps.median, b.mbps.median) : Number.NaN,
    cpu: a && b ? ratio(a.cpuSeconds.median, b.cpuSeconds.median) : Number.NaN,
    cpuNull: a0 && b ? ratio(a0.cpuSeconds.median, b.cpuSeconds.median) : Number.NaN,
    peakRss: a && b ? ratio(a.peakRssBytes.median, b.peakRssBytes.median) : Number.NaN,
    rssAnonBeyondPayload:
      a && b ? ratio(a.rssAnonBeyondPayloadBytes.median, b.peakRssAnonBytes.median) : Number.NaN,
    rssAnonNull: a0 && b ? ratio(a0.peakRssAnonBytes.median, b.peakRssAnonBytes.median) : Number.NaN,
    throughputKeep: a1 && b ? ratio(a1.mbps.median, b.mbps.median) : Number.NaN,
    cpuKeep: a1 && b ? ratio(a1.cpuSeconds.median, b.cpuSeconds.median) : Number.NaN,
  }
  const met = ratios.throughput >= TARGET_RATIO
  const totalSeconds = (performance.now() - startedAt) / 1000
  log('')
  if (a && b) {
    log(
      `ratio a/b: throughput ${ratios.throughput.toFixed(3)}` +
        (ratios.throughputPairs
          ? ` (per pair ${formatSummary(ratios.throughputPairs, (v) => v.toFixed(3))})`
          : '') +
        `, CPU ${ratios.cpu.toFixed(2)}, peak RSS ${ratios.peakRss.toFixed(2)}, RssAnon beyond payload / b's RssAnon ${ratios.rssAnonBeyondPayload.toFixed(2)}`,
    )
    log(`target throughput a/b >= ${TARGET_RATIO}: ${met ? 'met' : 'NOT met'}`)
  }
  if (a0 && b) {
    log(
      `ratio a0/b: throughput ${ratios.throughputNull.toFixed(3)}, CPU ${ratios.cpuNull.toFixed(2)}, RssAnon ${ratios.rssAnonNull.toFixed(2)}`,
    )
  }
  if (a1 && b)
    log(`ratio a1/b: throughput ${ratios.throughputKeep.toFixed(3)}, CPU ${ratios.cpuKeep.toFixed(2)}`)
  const load = loadavg()
  log(
    `load average at start ${loadAtStart.map((value) => value.toFixed(2)).join(' ')}, at end ${load.map((value) => value.toFixed(2)).join(' ')} ` +
      `(${availableParallelism()} CPUs; other work on the machine skews every figure)`,
  )
  log(`total ${totalSeconds.toFixed(1)} s`)
  printJsonLine({
    benchmark: 'ffi',
    bytes,
    pieceLength: PIECE_LENGTH,
    version: 'v1',
    runs,
    scratchTmpfs: tmpfs,
    variants: Object.fromEntries(
      variants.map((variant) => {
        const { bridge, ...figures } = summary[variant]
        return [
          variant,
          {
            label: LABELS[variant],
            ...compactSummaries(figures),
            ...(bridge && {
              bridge: Object.fromEntries(Object.entries(bridge).map(([key, value]) => [key, value.median])),
            }),
            ...(results[variant][0]?.settings && { settings: results[variant][0].settings }),
          },
        ]
      }),
    ),
    ratios: {
      throughputAOverB: ratios.throughput,
      throughputAOverBPairs: compactSummary(ratios.throughputPairs),
      throughputA0OverB: ratios.throughputNull,
      cpuAOverB: ratios.cpu,
      cpuA0OverB: ratios.cpuNull,
      peakRssAOverB: ratios.peakRss,
      rssAnonBeyondPayloadAOverB: ratios.rssAnonBeyondPayload,
      rssAnonA0OverB: ratios.rssAnonNull,
      ...(a1 && { throughputA1OverB: ratios.throughputKeep, cpuA1OverB: ratios.cpuKeep }),
    },
    target: { throughputAOverB: TARGET_RATIO, met: a && b ? met : null },
    cpus: availableParallelism(),
    loadAverage: { start: loadAtStart, end: load },
    totalSeconds,
  })
}

if (process.argv[2] === CHILD_FLAG) await leechChild(process.argv.slice(3))
else await main()
