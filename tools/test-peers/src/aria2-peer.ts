// aria2c as a second independent BitTorrent implementation (v1 torrents only), leecher or
// seeder, kept on 127.0.0.1 and quiet. aria2c has no tracker here and dials nobody on its own:
// the other side must dial its port. Completion is its exit code; readiness comes from a hook.

import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { type ExitStatus, stopChild } from './child-processes.ts'
import { TestPeerError } from './errors.ts'
import { freePort, waitForListening } from './network.ts'
import { PeerProcess } from './peer-process.ts'
import { aria2Executable, scripts } from './python.ts'

export interface Aria2EventMap {
  /** The hook ran: the download is complete (leecher), or the -V check passed (seeder). */
  complete: { event: 'complete'; gid: string; files: number }
  failed: { event: 'failed'; message: string }
}

export interface Aria2PeerOptions {
  /** The .torrent bytes (written to a temporary file), or a path to a v1 .torrent file. */
  torrent: Buffer | string
  /** Directory that holds (seed) or receives (leech) the content, as aria2c's `--dir`. */
  savePath: string
  /** Listen port; a free one is chosen when unset. */
  port?: number
  /** Bound on start-up (listening, and for a seeder its -V check) and default for `done()` (30 s). */
  timeoutMs?: number
  /** More aria2c options, e.g. `--max-overall-upload-limit=1M`. */
  extraArgs?: string[]
  label?: string
}

export interface Aria2Peer {
  readonly role: 'seed' | 'leech'
  readonly port: number
  readonly pid: number
  readonly peerProcess: PeerProcess<Aria2EventMap>
  readonly process: PeerProcess<Aria2EventMap>['process']
  /**
   * Leechers: resolves when aria2c exits with code 0 (download complete, `--seed-time=0`).
   * `seconds` runs from start to exit; `completeSeconds` to the moment the last piece was
   * written (aria2c takes about two more seconds to exit, so use it for throughput).
   */
  done(timeoutMs?: number): Promise<{ seconds: number; completeSeconds: number | undefined }>
  /** Stops aria2c (SIGTERM, then SIGKILL); idempotent. */
  stop(): Promise<ExitStatus>
}

/** The options that keep aria2c on 127.0.0.1, off DHT/LPD/PEX/trackers, quiet, and tied to us. */
function commonArgs(torrentPath: string, savePath: string, port: number): string[] {
  return [
    `--torrent-file=${torrentPath}`,
    `--dir=${savePath}`,
    `--listen-port=${port}`,
    '--interface=127.0.0.1',
    '--no-conf=true',
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--disable-ipv6=true',
    '--bt-exclude-tracker=*',
    '--async-dns=false',
    '--summary-interval=0',
    '--show-console-readout=false',
    '--download-result=hide',
    '--enable-color=false',
    '--console-log-level=warn',
    '--file-allocation=falloc',
    '--auto-file-renaming=false',
    '--bt-save-metadata=false',
    `--stop-with-process=${process.pid}`,
    `--on-bt-download-complete=${scripts.aria2Hook}`,
  ]
}

async function ensureHookIsExecutable(): Promise<void> {
  try {
    await access(scripts.aria2Hook, constants.X_OK)
  } catch {
    await chmod(scripts.aria2Hook, 0o755) // a checkout or package that lost the executable bit
  }
}

async function startAria2(role: 'seed' | 'leech', options: Aria2PeerOptions): Promise<Aria2Peer> {
  const timeoutMs = options.timeoutMs ?? 30_000
  await ensureHookIsExecutable()
  let temporaryDirectory: string | undefined
  let torrentPath: string
  if (Buffer.isBuffer(options.torrent)) {
    temporaryDirectory = await mkdtemp(path.join(os.tmpdir(), 'chunktorrent-aria2-'))
    torrentPath = path.join(temporaryDirectory, 'torrent.torrent')
    await writeFile(torrentPath, options.torrent)
  } else {
    torrentPath = path.resolve(options.torrent)
  }
  const port = options.port ?? (await freePort())
  const args = commonArgs(torrentPath, options.savePath, port)
  if (role === 'leech') args.push('--seed-time=0')
  else args.push('--check-integrity=true', '--seed-ratio=0.0')
  args.push(...(options.extraArgs ?? []))

  const startedAt = performance.now()
  const child = spawn(aria2Executable, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const spawnFailure = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new TestPeerError('ERR_NOT_INSTALLED', `cannot run ${aria2Executable}`, { cause: error })),
    )
  })
  spawnFailure.catch(() => {})
  if (child.pid === undefined) {
    if (temporaryDirectory) await rm(temporaryDirectory, { recursive: true, force: true })
    await spawnFailure
  }
  const label = options.label ?? `aria2c ${role}`
  const peerProcess = new PeerProcess<Aria2EventMap>(child, label, timeoutMs)
  const exitedAt = peerProcess.exited.then(() => performance.now())
  let completedAt: number | undefined
  peerProcess.events.once('complete', () => {
    completedAt = performance.now()
  })

  // aria2c reads the torrent file once, before it listens; the copy can go as soon as it does.
  const removeTemporaryFile = async () => {
    if (temporaryDirectory) await rm(temporaryDirectory, { recursive: true, force: true })
  }
  let stopping: Promise<ExitStatus> | undefined
  const stop = () => {
    stopping ??= stopChild(child, () => child.kill('SIGTERM')).then(async (status) => {
      await removeTemporaryFile()
      return status
    })
    return stopping
  }

  try {
    const deadline = Date.now() + timeoutMs
    await Promise.race([waitForListening(port, timeoutMs, () => !peerProcess.hasExited), spawnFailure])
    await removeTemporaryFile()
    if (role === 'seed') {
      await peerProcess.waitFor('complete', Math.max(1, deadline - Date.now())).catch((error: unknown) => {
        throw TestPeerError.isInstance(error) && error.code === 'ERR_TIMEOUT'
          ? new TestPeerError(
              'ERR_TIMEOUT',
              `${label}: its -V check did not pass within ${timeoutMs} ms; is the data under ${options.savePath} complete?\n${error.message}`,
              { cause: error },
            )
          : error
      })
    }
  } catch (error) {
    await stop()
    throw error
  }

  return {
    role,
    port,
    pid: peerProcess.pid,
    peerProcess,
    process: child,
    done: async (doneTimeoutMs) => {
      if (role !== 'leech') throw new TypeError('done() is for leechers')
      const bound = doneTimeoutMs ?? timeoutMs
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TestPeerError(
                'ERR_TIMEOUT',
                `${label} (pid ${peerProcess.pid}) did not finish within ${bound} ms\n${peerProcess.outputTail()}`,
              ),
            ),
          bound,
        )
      })
      try {
        const status = await Promise.race([peerProcess.exited, timeout])
        if (status.code !== 0) {
          throw new TestPeerError(
            'ERR_PEER_EXITED',
            `${label} (pid ${peerProcess.pid}) exited with ${status.code ?? status.signal}\n${peerProcess.outputTail()}`,
          )
        }
        return {
          seconds: ((await exitedAt) - startedAt) / 1000,
          completeSeconds: completedAt === undefined ? undefined : (completedAt - startedAt) / 1000,
        }
      } finally {
        clearTimeout(timer)
      }
    },
    stop,
  }
}

/**
 * Starts aria2c as a leecher listening on `port` (free one chosen if unset) and resolves once it
 * listens. It dials nobody: tell a seeder to `connect()` to its port. It exits when complete.
 */
export function startAria2Leecher(options: Aria2PeerOptions): Promise<Aria2Peer> {
  return startAria2('leech', options)
}

/**
 * Starts aria2c as a seeder of the data under `savePath` and resolves once its -V check has
 * passed (it listens before that; a leecher dialling early is re-dialled). Seeds until stopped.
 */
export function startAria2Seeder(options: Aria2PeerOptions): Promise<Aria2Peer> {
  return startAria2('seed', options)
}
