// `chunktorrent download` against a real, independent seeder (python3-libtorrent) on loopback:
// plain output, --json events, a file selection, and an interrupted download (SIGINT while a
// rate-limited seeder feeds it) that a second run finishes without fetching everything again.
import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, describe, expect, it } from 'vitest'
import { CliProcess, cliPath, findEvent, jsonEvents, makeTorrent, runCli, tempDir } from './helpers.ts'

afterAll(() => killAllChildren())

describe('download', () => {
  it('downloads into the store with plain progress lines, then ls, export and a second run agree', async () => {
    const dir = await tempDir('download')
    const seeder = { stop: async () => {} }
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'album',
        [
          { path: 'one.bin', length: 700_000 },
          { path: 'two.bin', length: 1_300_000 },
        ],
        { pieceLength: 32_768, seed: 7 },
      )
      const torrentPath = join(dir.path, 'album.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const peer = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: torrent.root,
        role: 'seed',
      })
      seeder.stop = async () => {
        await peer.stop()
      }
      const store = join(dir.path, 'store')
      const result = await runCli([
        'download',
        torrentPath,
        '--store',
        store,
        '--listen',
        '127.0.0.1:0',
        '--no-utp', // the seeder speaks TCP only: no uTP attempts first
        '--peer',
        `127.0.0.1:${peer.port}`,
      ])
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`Downloading "album" (${torrent.info.infoHash})`)
      expect(result.stdout).toMatch(/Done: "album" 1\.91 MiB in [\d.]+ s/)
      expect(result.stdout).not.toContain('\u001b[') // no terminal escapes when not a TTY

      const listing = await runCli(['ls', '--store', store])
      expect(listing.code).toBe(0)
      expect(listing.stdout).toMatch(new RegExp(`${torrent.info.infoHash}\\s+100%\\s+1\\.91 MiB\\s+album\\n`))

      // A second run finds everything in the store and downloads nothing.
      const again = await runCli([
        'download',
        torrent.info.infoHash,
        '--store',
        store,
        '--listen',
        '127.0.0.1:0',
        '--json',
      ])
      expect(again.code).toBe(0)
      const done = jsonEvents(again.stdout).find((event) => event.event === 'done')
      expect(done).toMatchObject({ infoHash: torrent.info.infoHash, received: 0, downloaded: 2_000_000 })
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })

  it('--json: one parseable event per line, --files picks files by glob', async () => {
    const dir = await tempDir('download-json')
    const seeder = { stop: async () => {} }
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'mixed',
        [
          { path: 'a.flac', length: 300_000 },
          { path: 'b.jpg', length: 500_000 },
          { path: 'c.flac', length: 400_000 },
        ],
        { pieceLength: 16_384, seed: 8 },
      )
      const torrentPath = join(dir.path, 'mixed.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const peer = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: torrent.root, role: 'seed' })
      seeder.stop = async () => {
        await peer.stop()
      }
      const store = join(dir.path, 'store')
      const result = await runCli([
        'download',
        torrentPath,
        '--store',
        store,
        '--listen',
        '127.0.0.1:0',
        '--no-utp', // the seeder speaks TCP only: no uTP attempts first
        '--peer',
        `127.0.0.1:${peer.port}`,
        '--files',
        '*.flac',
        '--json',
      ])
      expect(result.code).toBe(0)
      const events = jsonEvents(result.stdout) // throws if any line is not JSON
      for (const event of events) expect(typeof event.time).toBe('string')
      const names = events.map((event) => event.event)
      expect(names[0]).toBe('listening')
      expect(names).toContain('added')
      expect(names.at(-2)).toBe('done')
      expect(names.at(-1)).toBe('closed')
      const added = events.find((event) => event.event === 'added')
      expect(added).toMatchObject({
        infoHash: torrent.info.infoHash,
        name: 'mixed',
        pieceCount: torrent.info.pieceCount,
      })
      const done = findEvent<Record<string, number>>(events, 'done')
      // The two .flac files, and the pieces they share with b.jpg.
      expect(done.downloaded).toBeGreaterThanOrEqual(700_000)
      expect(done.downloaded).toBeLessThan(700_000 + 4 * 16_384)
      expect(done.received).toBeGreaterThanOrEqual(700_000)
      expect(done.received).toBeLessThan(1_200_000)
      const listening = findEvent<{ port: number; address: string }>(events, 'listening')
      expect(listening.address).toBe('127.0.0.1')
      expect(listening.port).toBeGreaterThan(0)
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })

  it('SIGINT mid-download closes cleanly (exit 130); the next run resumes and receives less than the whole', async () => {
    const dir = await tempDir('resume')
    const seeder = { stop: async () => {} }
    try {
      const length = 4_000_000
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'slow.bin',
        [{ path: 'slow.bin', length }],
        {
          pieceLength: 32_768,
          seed: 9,
        },
      )
      const torrentPath = join(dir.path, 'slow.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const peer = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: torrent.root,
        role: 'seed',
        uploadRateLimit: 1_000_000,
      })
      seeder.stop = async () => {
        await peer.stop()
      }
      const store = join(dir.path, 'store')
      const args = [
        'download',
        torrentPath,
        '--store',
        store,
        '--listen',
        '127.0.0.1:0',
        '--no-utp',
        '--peer',
        `127.0.0.1:${peer.port}`,
        '--json',
      ]

      const first = new CliProcess(args)
      try {
        await first.waitFor(
          () =>
            first.events.some(
              (event) => event.event === 'progress' && (event.piecesVerified as number) >= 30,
            ),
          'a third of the pieces',
        )
        first.kill('SIGINT')
        const result = await first.exited
        expect(result.stderr).toBe('')
        expect(result.code).toBe(130)
      } finally {
        await first.stop()
      }
      const closed = findEvent<{ piecesVerified: number }>(first.events, 'closed')
      expect(first.events.some((event) => event.event === 'interrupted')).toBe(true)
      expect(first.events.some((event) => event.event === 'done')).toBe(false)
      expect(closed.piecesVerified).toBeGreaterThanOrEqual(30)
      expect(closed.piecesVerified).toBeLessThan(torrent.info.pieceCount)

      const second = await runCli(args)
      expect(second.code).toBe(0)
      const events = jsonEvents(second.stdout)
      const added = findEvent<{ piecesVerified: number }>(events, 'added')
      expect(added.piecesVerified).toBeGreaterThanOrEqual(closed.piecesVerified)
      const done = findEvent<{ received: number; downloaded: number }>(events, 'done')
      expect(done.downloaded).toBe(length)
      expect(done.received).toBeGreaterThan(0)
      expect(done.received).toBeLessThanOrEqual(length - closed.piecesVerified * 32_768 + 4 * 32_768)
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })

  it('SIGTERM while waiting for peers: closes and exits 143', async () => {
    const dir = await tempDir('sigterm')
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'lonely.bin',
        [{ path: 'lonely.bin', length: 100_000 }],
        {
          pieceLength: 16_384,
        },
      )
      const torrentPath = join(dir.path, 'lonely.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const cli = new CliProcess([
        'download',
        torrentPath,
        '--store',
        join(dir.path, 'store'),
        '--listen',
        '127.0.0.1:0',
        '--json',
      ])
      try {
        await cli.waitForEvent('added')
        cli.kill('SIGTERM')
        const result = await cli.exited
        expect(result.code).toBe(143)
        expect(result.stderr).toBe('')
        expect(cli.events.map((event) => event.event).slice(-2)).toEqual(['interrupted', 'closed'])
      } finally {
        await cli.stop()
      }
    } finally {
      await dir.remove()
    }
  })

  it('a magnet link: metadata from the peer, --files applied once it is here, a copy kept for later commands', async () => {
    const dir = await tempDir('magnet')
    const seeder = { stop: async () => {} }
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'hybrid',
        [
          { path: 'a.flac', length: 200_000 },
          { path: 'b.jpg', length: 300_000 },
        ],
        { pieceLength: 16_384, seed: 11, version: 'hybrid' },
      )
      const peer = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: torrent.root, role: 'seed' })
      seeder.stop = async () => {
        await peer.stop()
      }
      const store = join(dir.path, 'store')
      const result = await runCli([
        'download',
        torrent.info.magnetURI,
        '--store',
        store,
        '--listen',
        '127.0.0.1:0',
        '--no-utp',
        '--peer',
        `127.0.0.1:${peer.port}`,
        '--files',
        '*.flac',
        '--json',
      ])
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      const events = jsonEvents(result.stdout)
      expect(events.map((event) => event.event)).toContain('metadata-wait')
      const added = findEvent<{ infoHash: string; files: unknown[] }>(events, 'added')
      expect(added.infoHash).toBe(torrent.info.infoHash)
      expect(added.files).toHaveLength(2)
      const done = findEvent<{ downloaded: number }>(events, 'done')
      expect(done.downloaded).toBeGreaterThanOrEqual(200_000)
      expect(done.downloaded).toBeLessThan(300_000)
      // The metadata copy lets later commands name the torrent by its info hash alone.
      const info = await runCli(['info', torrent.info.infoHash, '--store', store, '--json'])
      expect(info.code).toBe(0)
      expect(jsonEvents(info.stdout)[0]).toMatchObject({ infoHash: torrent.info.infoHash, version: 'hybrid' })
      const exported = await runCli([
        'export',
        torrent.info.infoHash,
        join(dir.path, 'out'),
        '--store',
        store,
        '--files',
        '0',
      ])
      expect(exported.stderr).toBe('')
      expect(exported.code).toBe(0)
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })

  // util-linux's `script` gives the CLI a pseudo-terminal, as a person's shell would.
  const hasScript = spawnSync('script', ['--version']).status === 0
  it.skipIf(!hasScript)('on a terminal: a live progress line redrawn in place', async () => {
    const dir = await tempDir('tty')
    const seeder = { stop: async () => {} }
    try {
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'tty.bin',
        [{ path: 'tty.bin', length: 3_000_000 }],
        {
          pieceLength: 32_768,
          seed: 10,
        },
      )
      const torrentPath = join(dir.path, 'tty.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const peer = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: torrent.root,
        role: 'seed',
        uploadRateLimit: 1_000_000,
      })
      seeder.stop = async () => {
        await peer.stop()
      }
      const command = [process.execPath, cliPath, 'download', torrentPath, '--store', join(dir.path, 'store')]
        .concat(['--listen', '127.0.0.1:0', '--no-utp', '--peer', `127.0.0.1:${peer.port}`])
        .map((word) => `'${word}'`)
        .join(' ')
      const result = spawnSync('script', ['-qefc', command, '/dev/null'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, COLUMNS: '100' },
      })
      expect(result.status).toBe(0)
      const screen = result.stdout.replaceAll('\u001b', '<ESC>')
      const redraws = screen.match(
        /\r<ESC>\[2K {0,2}\d+\.\d% \[[= >]+\] [\d.]+ \w?i?B\/2\.86 MiB {2}[\d.]+ \w?i?B\/s {2}1 peer {2}ETA /g,
      )
      expect(redraws?.length ?? 0).toBeGreaterThanOrEqual(2)
      expect(screen).toMatch(/\r<ESC>\[2KDone: "tty\.bin" 2\.86 MiB in [\d.]+ s/)
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })
})
