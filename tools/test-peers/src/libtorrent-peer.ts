// A real libtorrent seeder or leecher in its own process (python/lt_peer.py), on 127.0.0.1 with
// DHT, LSD, UPnP, NAT-PMP, uTP and trackers off, so a test can exchange data with an independent
// implementation and watch what it does: readiness, progress, hash failures, bans, completion.

import { spawn } from 'node:child_process'
import { type ExitStatus, stopChild } from './child-processes.ts'
import { TestPeerError } from './errors.ts'
import { PeerProcess, type WaitOptions } from './peer-process.ts'
import { pythonExecutable, scripts } from './python.ts'

export interface TorrentStatusFields {
  /** 0..1 of the wanted bytes. */
  progress: number
  /** Wanted bytes that passed their hash check (`total_wanted_done`). */
  downloaded: number
  wanted: number
  payloadDownloaded: number
  payloadUploaded: number
  /** All bytes uploaded, protocol overhead included. */
  uploaded: number
  downloadRate: number
  uploadRate: number
  peers: number
  seeds: number
  /** libtorrent's state name: checking_files, downloading, finished, seeding, … */
  state: string
  seeding: boolean
  paused: boolean
}

export interface LibtorrentEventMap {
  /** The listen socket is up (a leecher is ready from here). */
  listening: { event: 'listening'; port: number; address: string }
  /** Listening, and for a seeder also seeding (its check is over). */
  ready: { event: 'ready'; port: number; pid: number; checkSeconds?: number }
  /** The start-up check of the data ended. */
  checked: { event: 'checked'; progress: number }
  state: { event: 'state'; state: string; previous: string }
  /** Every `progressIntervalMs`, and in answer to `status()`. */
  progress: { event: 'progress' } & TorrentStatusFields
  /** A leecher has every wanted piece, verified. */
  done: { event: 'done'; seconds: number } & TorrentStatusFields
  hash_failed: { event: 'hash_failed'; piece: number }
  peer_connected: { event: 'peer_connected'; peer: string }
  peer_disconnected: { event: 'peer_disconnected'; peer: string; message: string }
  peer_banned: { event: 'peer_banned'; peer: string }
  peer_error: { event: 'peer_error'; peer: string; message: string }
  /** Fatal: listen failure, torrent or file error, seed data that failed its check. */
  failed: { event: 'failed'; kind: string; message: string }
  /** Any other libtorrent error alert. */
  warning: { event: 'warning'; kind: string; message: string }
  command: { event: 'command'; command: string }
  command_error: { event: 'command_error'; command: string; message: string }
  stopped: { event: 'stopped'; reason: string }
}

export type LibtorrentEvent = LibtorrentEventMap[keyof LibtorrentEventMap]

export interface LibtorrentPeerOptions {
  /** The .torrent bytes, or a path to a .torrent file. */
  torrent: Buffer | string
  /** Directory that holds (seed) or receives (leech) the torrent's content, named after the torrent. */
  savePath: string
  role: 'seed' | 'leech'
  /**
   * libtorrent's `seed_mode`: start seeding without the start-up hash check. libtorrent still
   * hashes each piece the first time a peer asks for it; on a mismatch it leaves seed mode and
   * rechecks, so it never uploads bad data. Use it for a fast start on good data.
   */
  seedMode?: boolean
  /**
   * Add the torrent as complete through resume data (every piece marked as had): no start-up
   * check and no check before uploading, so whatever is on disk is sent. With `corruptCopy()`
   * this gives a seeder that uploads pieces failing their hash. Seeders only.
   */
  skipHashCheck?: boolean
  /** `host:port` (or a port on 127.0.0.1) to dial, re-dialled every second until connected. */
  connect?: Array<string | number>
  /** Bytes per second for this torrent; 0 or unset means unlimited. Applies to loopback peers. */
  uploadRateLimit?: number
  downloadRateLimit?: number
  /** Listen port; 0 (the default) lets the system choose one, reported as `port`. */
  listenPort?: number
  /** How often a `progress` event is printed; 0 turns them off (default 500). */
  progressIntervalMs?: number
  /** Bound on reaching `ready`, and the default bound of every later wait (default 30 s). */
  timeoutMs?: number
  /** Name used in error messages and debug output. */
  label?: string
}

export interface LibtorrentPeer {
  readonly role: 'seed' | 'leech'
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number
  readonly pid: number
  /** Its events, parsed; also emits `'exit'` and `'output'` (see PeerProcess). */
  readonly peerProcess: PeerProcess<LibtorrentEventMap>
  readonly process: PeerProcess<LibtorrentEventMap>['process']
  readonly events: PeerProcess<LibtorrentEventMap>['events']
  waitFor<Name extends keyof LibtorrentEventMap>(
    name: Name,
    options?: WaitOptions<LibtorrentEventMap[Name]> | number,
  ): Promise<LibtorrentEventMap[Name]>
  /** Every `hash_failed` event so far. */
  hashFailures(): number[]
  /** Dials `host:port` (or a port on 127.0.0.1) now, and again every second until connected. */
  connect(target: string | number): void
  /** A fresh status line. */
  status(timeoutMs?: number): Promise<LibtorrentEventMap['progress']>
  /** Leechers: resolves once every piece is downloaded and verified. */
  done(timeoutMs?: number): Promise<LibtorrentEventMap['done']>
  /** Stops the process (quit command, then SIGTERM, then SIGKILL); idempotent. */
  stop(): Promise<ExitStatus>
}

function hostPort(target: string | number): string {
  if (typeof target === 'number') {
    if (!Number.isInteger(target) || target <= 0 || target > 65535) throw new RangeError(`bad port ${target}`)
    return `127.0.0.1:${target}`
  }
  if (!/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(target)) {
    throw new TypeError(`expected 'host:port', got '${target}'`)
  }
  return target
}

function checkRate(value: number | undefined, name: string): number {
  if (value === undefined) return 0
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative integer`)
  return value
}

/**
 * Starts a libtorrent peer and resolves once it is ready: listening, and for a seeder, seeding
 * (its data checked, unless `seedMode` or `skipHashCheck`). Rejects if it fails or exits first,
 * or after `timeoutMs`; the process is stopped in that case.
 */
export function startLibtorrentPeer(options: LibtorrentPeerOptions): Promise<LibtorrentPeer> {
  return startPeer(options, true)
}

/** Signals python3-libtorrent has (rarely) died of while starting, before it said it was ready. */
const startupCrashes = new Set<string>(['SIGSEGV', 'SIGBUS', 'SIGABRT'])

async function startPeer(options: LibtorrentPeerOptions, retryCrash: boolean): Promise<LibtorrentPeer> {
  const { role } = options
  if (role !== 'seed' && role !== 'leech') throw new TypeError(`role must be 'seed' or 'leech'`)
  if (role !== 'seed' && (options.seedMode || options.skipHashCheck)) {
    throw new TypeError('seedMode and skipHashCheck apply to seeders only')
  }
  const timeoutMs = options.timeoutMs ?? 30_000
  const args = [
    '-u',
    scripts.peer,
    '--role',
    role,
    '--save-path',
    options.savePath,
    '--listen-port',
    String(options.listenPort ?? 0),
    '--progress-interval-ms',
    String(options.progressIntervalMs ?? 500),
    '--upload-rate-limit',
    String(checkRate(options.uploadRateLimit, 'uploadRateLimit')),
    '--download-rate-limit',
    String(checkRate(options.downloadRateLimit, 'downloadRateLimit')),
    '--parent-pid',
    String(process.pid),
  ]
  if (options.seedMode) args.push('--seed-mode')
  if (options.skipHashCheck) args.push('--skip-hash-check')
  for (const target of options.connect ?? []) args.push('--connect', hostPort(target))
  const torrentIsBuffer = Buffer.isBuffer(options.torrent)
  if (torrentIsBuffer) args.push('--torrent-stdin')
  else args.push('--torrent', options.torrent as string)

  const child = spawn(pythonExecutable, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const label = options.label ?? `libtorrent ${role}`
  const spawnFailure = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new TestPeerError('ERR_NOT_INSTALLED', `cannot run ${pythonExecutable}`, { cause: error })),
    )
  })
  spawnFailure.catch(() => {})
  if (child.pid === undefined) await spawnFailure
  const peerProcess = new PeerProcess<LibtorrentEventMap>(child, label, timeoutMs)
  child.stdin?.on('error', () => {}) // writes after the process has gone
  if (torrentIsBuffer) child.stdin?.write(`${(options.torrent as Buffer).toString('base64')}\n`)

  let stopping: Promise<ExitStatus> | undefined
  const send = (line: string) => {
    if (!peerProcess.hasExited && child.stdin?.writable) child.stdin.write(`${line}\n`)
  }
  const stop = () => {
    stopping ??= stopChild(child, () => {
      send('quit')
      child.stdin?.end()
    })
    return stopping
  }

  let ready: LibtorrentEventMap['ready']
  try {
    ready = await Promise.race([peerProcess.waitFor('ready', timeoutMs), spawnFailure])
  } catch (error) {
    await stop()
    // A crash of the peer itself before it listens (seen once in a few hundred starts under load)
    // is not what a test is about: one more start. Later crashes are reported as they are.
    if (retryCrash && child.signalCode !== null && startupCrashes.has(child.signalCode)) {
      return startPeer(options, false)
    }
    throw error
  }

  return {
    role,
    port: ready.port,
    pid: peerProcess.pid,
    peerProcess,
    process: child,
    events: peerProcess.events,
    waitFor: (name, waitOptions) => peerProcess.waitFor(name, waitOptions),
    hashFailures: () => peerProcess.eventsNamed('hash_failed').map((event) => event.piece),
    connect: (target) => send(`connect ${hostPort(target)}`),
    status: (statusTimeoutMs) => {
      const answer = peerProcess.waitFor('progress', { timeoutMs: statusTimeoutMs, includePast: false })
      send('status')
      return answer
    },
    done: (doneTimeoutMs) => {
      if (role !== 'leech') return Promise.reject(new TypeError('done() is for leechers'))
      return peerProcess.waitFor('done', doneTimeoutMs ?? timeoutMs)
    },
    stop,
  }
}
