// What the CLI's integration tests share: the built binary run as a child process (with a bounded
// time and its output collected), temporary stores, deterministic torrents on disk, and a small
// bencoder for crafting torrents no honest tool would make.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTorrent, type TorrentInfo } from '@chunktorrent/ffi'
import { type FileSpec, LineSplitter, makeTorrentContent, tempDirectory } from '@chunktorrent/test-peers'

export const cliPath = fileURLToPath(new URL('../dist/index.js', import.meta.url))

export const tempDir = tempDirectory

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** An environment where the default store is never the real ~/.chunktorrent. */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CHUNKTORRENT_STORE: join(tmpdir(), 'chunktorrent-cli-never-used'),
    ...extra,
  }
}

/** A running `chunktorrent …`: its output as it comes, JSON events parsed, and a bounded wait for its exit. */
export class CliProcess {
  readonly process: ChildProcessWithoutNullStreams
  stdout = ''
  stderr = ''
  readonly events: CliEvent[] = []
  readonly exited: Promise<CliResult>
  readonly #listeners = new Set<() => void>()

  constructor(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
    this.process = spawn(process.execPath, [cliPath, ...args], {
      env: environment(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const lines = new LineSplitter()
    this.process.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      this.stdout += text
      for (const line of lines.push(text)) {
        if (line.startsWith('{')) {
          try {
            this.events.push(JSON.parse(line))
          } catch {
            // not JSON after all
          }
        }
      }
      for (const listener of this.#listeners) listener()
    })
    this.process.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8')
      for (const listener of this.#listeners) listener()
    })
    const timeoutMs = options.timeoutMs ?? 30_000
    this.exited = new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.stderr += `\n[test] killed after ${timeoutMs} ms\n`
        this.process.kill('SIGKILL')
      }, timeoutMs)
      this.process.on('close', (code, signal) => {
        clearTimeout(timer)
        for (const listener of this.#listeners) listener()
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })
      })
    })
  }

  /** Waits until `predicate` holds (checked at every output), failing after `timeoutMs` or at exit. */
  waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate()) {
          finish()
          resolve()
        } else if (this.process.exitCode !== null || this.process.signalCode !== null) {
          finish()
          reject(new Error(`the CLI exited before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`))
        }
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`))
      }, timeoutMs)
      const finish = () => {
        clearTimeout(timer)
        this.#listeners.delete(check)
      }
      this.#listeners.add(check)
      check()
    })
  }

  async waitForEvent(name: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    await this.waitFor(
      () => this.events.some((event) => event.event === name),
      `the "${name}" event`,
      timeoutMs,
    )
    return this.events.find((event) => event.event === name) as Record<string, unknown>
  }

  kill(signal: NodeJS.Signals = 'SIGINT'): void {
    this.process.kill(signal)
  }

  /** SIGKILL if still running (for finally blocks). */
  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL')
    await this.exited
  }
}

/** Runs `chunktorrent …` to its end (bounded). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new CliProcess(args, options).exited
}

export type CliEvent = { event: string } & Record<string, unknown>

/** The JSON events a finished `--json` run printed (throws if a line is not JSON). */
export function jsonEvents(stdout: string): CliEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line))
}

/** The first event of that name, typed as the test expects it; fails clearly when there is none. */
export function findEvent<T>(events: readonly CliEvent[], name: string): T {
  const event = events.find((entry) => entry.event === name)
  if (!event) throw new Error(`no "${name}" event among: ${events.map((entry) => entry.event).join(', ')}`)
  return event as unknown as T
}

export interface TestTorrent {
  /** The directory holding the content (the torrent's name inside it). */
  root: string
  bytes: Buffer
  info: TorrentInfo
}

/** Files under `root/<name>/` (or the single file `root/<name>`) and a torrent made by libtorrent. */
export async function makeTorrent(
  root: string,
  name: string,
  files: FileSpec[],
  options: { pieceLength: number; version?: 'v1' | 'v2' | 'hybrid'; seed?: number },
): Promise<TestTorrent> {
  const bytes = await makeTorrentContent(root, name, files, options)
  return { root, bytes, info: parseTorrent(bytes) }
}

// ---- bencoding, to craft torrents by hand ----------------------------------------------------

export type Bencodable = number | string | Buffer | Bencodable[] | { [key: string]: Bencodable }

export function bencode(value: Bencodable): Buffer {
  if (typeof value === 'number') return Buffer.from(`i${Math.trunc(value)}e`)
  if (typeof value === 'string') return bencode(Buffer.from(value, 'utf8'))
  if (Buffer.isBuffer(value)) return Buffer.concat([Buffer.from(`${value.length}:`), value])
  if (Array.isArray(value)) return Buffer.concat([Buffer.from('l'), ...value.map(bencode), Buffer.from('e')])
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  return Buffer.concat([
    Buffer.from('d'),
    ...keys.flatMap((key) => [bencode(key), bencode(value[key] as Bencodable)]),
    Buffer.from('e'),
  ])
}

/**
 * A v1 multi-file torrent over `files` (contents given), with whatever path components the test
 * wants, "..", "/" and all. Piece hashes are real, so the data can be imported and checked.
 */
export function craftTorrent(
  name: string,
  files: Array<{ path: string[]; data: Buffer }>,
  pieceLength = 16_384,
): Buffer {
  const all = Buffer.concat(files.map((file) => file.data))
  const hashes: Buffer[] = []
  for (let offset = 0; offset < all.length; offset += pieceLength) {
    hashes.push(
      createHash('sha1')
        .update(all.subarray(offset, offset + pieceLength))
        .digest(),
    )
  }
  return bencode({
    info: {
      name,
      'piece length': pieceLength,
      pieces: Buffer.concat(hashes),
      files: files.map((file) => ({ length: file.data.length, path: file.path })),
    },
  })
}
