// Lifecycle: close() is idempotent and final; process.exit() mid-transfer, a session dropped and
// garbage collected, and a worker thread terminated mid-transfer all shut libtorrent down
// cleanly (no hang, no crash).
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryDiskIo, Session, SessionParams, TorrentError } from '../src/index.ts'
import { jsSession, loopbackSettings, makeTorrent, tempDir } from './helpers.ts'

const child = fileURLToPath(new URL('./fixtures/lifecycle-child.ts', import.meta.url))
let dir: Awaited<ReturnType<typeof tempDir>>
let torrentPath: string
let seederPort: number

beforeAll(async () => {
  dir = await tempDir('lifecycle')
  // Slow enough (rate limited) that every child is mid-transfer when it ends.
  const torrent = await makeTorrent(dir.path, 'lifecycle', [{ path: 'lifecycle', length: 8_000_000 }], {
    pieceLength: 16384,
    version: 'v1',
  })
  torrentPath = join(dir.path, 'lifecycle.torrent')
  await writeFile(torrentPath, torrent.bytes)
  const seeder = await startLibtorrentPeer({
    torrent: torrent.bytes,
    savePath: dir.path,
    role: 'seed',
    uploadRateLimit: 1_000_000,
  })
  seederPort = seeder.port
})

afterAll(async () => {
  killAllChildren()
  await dir?.remove()
})

function runChild(
  mode: string,
  nodeArgs: string[] = [],
): Promise<{ code: number | null; signal: string | null; output: string; ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, child, mode, torrentPath, String(seederPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    proc.stdout.on('data', (chunk) => (output += chunk))
    proc.stderr.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`child (${mode}) hung; output:\n${output}`))
    }, 30_000)
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output, ms: Date.now() - started })
    })
  })
}

describe('lifecycle', () => {
  it('process.exit() mid-transfer exits cleanly', async () => {
    const result = await runChild('exit')
    expect(result.output).toContain('EXITING')
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
  })

  it('a dropped session is garbage collected and lets the process end', async () => {
    const result = await runChild('gc', ['--expose-gc'])
    expect(result.output).toContain('DROPPED')
    expect(result.output).toContain('COLLECTED')
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
  })

  it('a worker thread terminated mid-transfer shuts its session down', async () => {
    const result = await runChild('worker')
    expect(result.output).toContain('TERMINATED')
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
  })

  it('close() is idempotent and every call after it throws ERR_SESSION_CLOSED', async () => {
    const session = jsSession(new MemoryDiskIo())
    const closing = session.close()
    expect(session.close()).toBe(closing)
    await closing
    await session.close()
    const calls: Array<() => unknown> = [
      () => session.listenPort(),
      () => session.addTorrent({ infoHash: 'a'.repeat(40) }),
      () => session.status('a'.repeat(40)),
      () => session.torrents(),
      () => session.applySettings({ enable_dht: false }),
      () => session.pause('a'.repeat(40)),
    ]
    for (const call of calls) {
      let error: unknown
      try {
        call()
      } catch (caught) {
        error = caught
      }
      expect(TorrentError.isInstance(error)).toBe(true)
      expect((error as TorrentError).code).toBe('ERR_SESSION_CLOSED')
    }
    await expect(session.removeTorrent('a'.repeat(40))).rejects.toMatchObject({ code: 'ERR_SESSION_CLOSED' })
  })

  it('a default-storage session closes the same way', async () => {
    const session = Session.withDefaultStorage(new SessionParams({ settings: loopbackSettings }))
    expect(session.usesJsDisk).toBe(false)
    expect(session.listenPort()).toBeGreaterThan(0)
    await session.close()
    expect(() => session.listenPort()).toThrow(expect.objectContaining({ code: 'ERR_SESSION_CLOSED' }))
  })
})
