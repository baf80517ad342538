// Where the helper scripts live and how to run them: python3-libtorrent imports only with the
// system interpreter (/usr/bin/python3), never the `python3` first on PATH, and every run is
// bounded by a timeout.

import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { trackChild } from './child-processes.ts'
import { TestPeerError } from './errors.ts'

/** The interpreter that can import python3-libtorrent. Override with CHUNKTORRENT_PYTHON. */
export const pythonExecutable = process.env.CHUNKTORRENT_PYTHON || '/usr/bin/python3'

/** The aria2c executable. Override with CHUNKTORRENT_ARIA2C. */
export const aria2Executable = process.env.CHUNKTORRENT_ARIA2C || 'aria2c'

// Resolved relative to this module: `src/` in tests, `dist/` once built; both sit next to `python/`.
export const scripts = {
  peer: fileURLToPath(new URL('../python/lt_peer.py', import.meta.url)),
  torrent: fileURLToPath(new URL('../python/lt_torrent.py', import.meta.url)),
  aria2Hook: fileURLToPath(new URL('../python/aria2_hook.sh', import.meta.url)),
}

export interface RunResult {
  stdout: Buffer
  stderr: string
}

/** Runs a helper script to completion, feeding `input` on stdin. Rejects on a non-zero exit. */
export function runPython(
  args: string[],
  options: { input?: Buffer; timeoutMs?: number } = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    const child = spawn(pythonExecutable, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    trackChild(child)
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new TestPeerError('ERR_TIMEOUT', `python ${args.join(' ')} did not finish in ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(new TestPeerError('ERR_NOT_INSTALLED', `cannot run ${pythonExecutable}`, { cause: error }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const errorText = Buffer.concat(stderr).toString('utf8')
      if (code === 0) {
        resolve({ stdout: Buffer.concat(stdout), stderr: errorText })
        return
      }
      const lastLine = errorText.trim().split('\n').pop() ?? ''
      reject(
        new TestPeerError(
          'ERR_PYTHON_FAILED',
          `python ${args.join(' ')} exited with ${code ?? signal}: ${lastLine}\n${errorText}`,
        ),
      )
    })
    child.stdin.on('error', () => {}) // the script may exit before reading all of its input
    child.stdin.end(options.input)
  })
}

export interface PeerAvailability {
  /** `/usr/bin/python3` can import libtorrent; the version string when it can. */
  libtorrent: string | undefined
  /** `aria2c --version` works; the version string when it does. */
  aria2: string | undefined
}

let availability: Promise<PeerAvailability> | undefined

function firstLineOf(file: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (error, stdout) => {
      resolve(error ? undefined : stdout.trim().split('\n')[0])
    })
  })
}

/**
 * Which independent peers can run on this machine, so a test can `describe.skipIf` cleanly
 * instead of failing on a missing package. Cached after the first call.
 */
export function availablePeers(): Promise<PeerAvailability> {
  availability ??= Promise.all([
    firstLineOf(pythonExecutable, ['-c', 'import libtorrent; print(libtorrent.__version__)']),
    firstLineOf(aria2Executable, ['--version']),
  ]).then(([libtorrent, aria2]) => ({
    libtorrent,
    aria2: aria2?.replace(/^aria2 version /, ''),
  }))
  return availability
}
