// Import existing files into a store, delete them, seed from the store alone to an independent
// leecher (python3-libtorrent), export the files back out and compare; verify finds and repairs
// a damaged chunk; rm deletes. All through the built binary.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compareTrees, generateFiles, killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, expect, it } from 'vitest'
import { CliProcess, findEvent, jsonEvents, makeTorrent, runCli, tempDir } from './helpers.ts'

afterAll(() => killAllChildren())

const files = [
  { path: 'one.bin', length: 900_000 },
  { path: 'sub/two.bin', length: 1_100_000 },
  { path: 'empty.txt', length: 0 },
]

async function expected(directory: string, seed: number) {
  await generateFiles(
    directory,
    files.map((file) => ({ ...file, path: `set/${file.path}` })),
    seed,
  )
  return join(directory, 'set')
}

it('import, then seed from the store alone to a python3-libtorrent leecher; SIGINT ends seeding with 0', async () => {
  const dir = await tempDir('seed')
  const leechers: Array<{ stop(): Promise<unknown> }> = []
  let seeder: CliProcess | undefined
  try {
    const torrent = await makeTorrent(join(dir.path, 'originals'), 'set', files, {
      pieceLength: 32_768,
      seed: 21,
    })
    const torrentPath = join(dir.path, 'set.torrent')
    await writeFile(torrentPath, torrent.bytes)
    const store = join(dir.path, 'store')

    // The content itself may be given as the data path, too.
    const imported = await runCli([
      'import',
      torrentPath,
      join(dir.path, 'originals', 'set'),
      '--store',
      store,
    ])
    expect(imported.stderr).toBe('')
    expect(imported.code).toBe(0)
    expect(imported.stdout).toContain(
      `Imported: all ${torrent.info.pieceCount} pieces passed and are in the store`,
    )
    await rm(join(dir.path, 'originals'), { recursive: true })

    seeder = new CliProcess([
      'seed',
      torrent.info.infoHash, // the store kept the .torrent at import
      '--store',
      store,
      '--listen',
      '127.0.0.1:0',
      '--json',
    ])
    const seeding = (await seeder.waitForEvent('seeding')) as { port?: number; piecesVerified?: number }
    expect(seeding.piecesVerified).toBe(torrent.info.pieceCount)
    const leecher = await startLibtorrentPeer({
      torrent: torrent.bytes,
      savePath: join(dir.path, 'leecher'),
      role: 'leech',
      connect: [`127.0.0.1:${seeding.port}`],
    })
    leechers.push(leecher)
    await leecher.done(20_000)
    await leecher.stop()
    expect(
      await compareTrees(await expected(join(dir.path, 'expected'), 21), join(dir.path, 'leecher', 'set')),
    ).toEqual([])

    seeder.kill('SIGINT')
    const result = await seeder.exited
    expect(result.code).toBe(0)
    const stopped = findEvent<{ uploaded: number }>(seeder.events, 'stopped')
    expect(stopped.uploaded).toBeGreaterThanOrEqual(2_000_000)
  } finally {
    await seeder?.stop()
    for (const leecher of leechers) await leecher.stop()
    await dir.remove()
  }
})

it('import + export round trip: the exported tree equals the original; --files exports a part', async () => {
  const dir = await tempDir('roundtrip')
  try {
    const torrent = await makeTorrent(join(dir.path, 'originals'), 'set', files, {
      pieceLength: 16_384,
      seed: 22,
    })
    const torrentPath = join(dir.path, 'set.torrent')
    await writeFile(torrentPath, torrent.bytes)
    const store = join(dir.path, 'store')
    const imported = await runCli([
      'import',
      torrentPath,
      join(dir.path, 'originals'),
      '--store',
      store,
      '--json',
    ])
    expect(imported.code).toBe(0)
    const event = jsonEvents(imported.stdout).find((entry) => entry.event === 'imported')
    expect(event).toMatchObject({ piecesVerified: torrent.info.pieceCount, missing: 0 })

    const out = join(dir.path, 'out')
    const exported = await runCli(['export', torrent.info.infoHash, out, '--store', store])
    expect(exported.stderr).toBe('')
    expect(exported.code).toBe(0)
    expect(exported.stdout).toContain(`Exported 3 file(s), 1.91 MiB, to ${out}`)
    expect(await compareTrees(join(dir.path, 'originals', 'set'), join(out, 'set'))).toEqual([])
    expect((await readdir(join(out, 'set'), { recursive: true })).sort()).toEqual(
      ['empty.txt', 'one.bin', 'sub', 'sub/two.bin'].sort(),
    )

    const part = join(dir.path, 'part')
    const some = await runCli(['export', torrentPath, part, '--store', store, '--files', 'sub/*', '--json'])
    expect(some.code).toBe(0)
    const written = jsonEvents(some.stdout).filter((entry) => entry.event === 'file')
    expect(written.map((entry) => entry.path)).toEqual(['set/sub/two.bin'])
    expect(await readdir(join(part, 'set'), { recursive: true })).toEqual(['sub', 'sub/two.bin'])
  } finally {
    await dir.remove()
  }
})

it('verify finds a damaged chunk and repairs the verified set (exit 1), then passes (exit 0); rm deletes', async () => {
  const dir = await tempDir('verify')
  try {
    const torrent = await makeTorrent(join(dir.path, 'originals'), 'set', files, {
      pieceLength: 16_384,
      seed: 23,
    })
    const torrentPath = join(dir.path, 'set.torrent')
    await writeFile(torrentPath, torrent.bytes)
    const store = join(dir.path, 'store')
    expect((await runCli(['import', torrentPath, join(dir.path, 'originals'), '--store', store])).code).toBe(
      0,
    )

    const clean = await runCli(['verify', torrent.info.infoHash, '--store', store])
    expect(clean.code).toBe(0)
    expect(clean.stdout).toContain(
      `OK: ${torrent.info.pieceCount}/${torrent.info.pieceCount} pieces verified`,
    )

    // Flip a byte in the middle of one chunk file.
    const chunks = (await readdir(join(store, 'chunks'))).filter((name) => name.endsWith('.enc')).sort()
    const victim = join(store, 'chunks', chunks[0] as string)
    const bytes = await readFile(victim)
    bytes[100_000] = (bytes[100_000] as number) ^ 0xff
    await writeFile(victim, bytes)

    const damaged = await runCli(['verify', torrent.info.infoHash, '--store', store, '--json'])
    expect(damaged.code).toBe(1)
    const verified = findEvent<Record<string, number>>(jsonEvents(damaged.stdout), 'verified')
    expect(verified.dropped).toBe(1)
    expect(verified.piecesVerified).toBe(torrent.info.pieceCount - 1)
    expect(damaged.stderr).toContain('were damaged or missing in the store (ERR_DAMAGED)')

    const again = await runCli(['verify', torrent.info.infoHash, '--store', store])
    expect(again.code).toBe(0)
    const listing = await runCli(['ls', '--store', store, '--json'])
    expect(jsonEvents(listing.stdout)).toMatchObject([
      { infoHash: torrent.info.infoHash, piecesVerified: torrent.info.pieceCount - 1, complete: false },
    ])
    // Exporting needs every piece of the chosen files.
    const refused = await runCli(['export', torrent.info.infoHash, join(dir.path, 'out'), '--store', store])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/not complete in the store .*\(ERR_INCOMPLETE\)/)

    const removed = await runCli(['rm', torrent.info.infoHash, '--store', store])
    expect(removed.code).toBe(0)
    expect(removed.stdout).toMatch(/Removed "set" \([0-9a-f]{40}\) from the store; [\d.]+ MiB freed/)
    expect((await runCli(['ls', '--store', store])).stdout).toBe(`No torrents in ${store}\n`)
    const gone = await runCli(['verify', torrent.info.infoHash, '--store', store])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toContain('(ERR_NO_METADATA)')
  } finally {
    await dir.remove()
  }
})

it('import of incomplete data keeps the pieces that pass and exits 1; a download from a seeder then fetches only the rest', async () => {
  const dir = await tempDir('partial')
  const seeder = { stop: async () => {} }
  try {
    const torrent = await makeTorrent(join(dir.path, 'originals'), 'set', files, {
      pieceLength: 16_384,
      seed: 24,
    })
    const torrentPath = join(dir.path, 'set.torrent')
    await writeFile(torrentPath, torrent.bytes)
    const peer = await startLibtorrentPeer({ torrent: torrent.bytes, savePath: torrent.root, role: 'seed' })
    seeder.stop = async () => {
      await peer.stop()
    }
    // A copy without sub/two.bin (generated content depends on the path: keep "set/…").
    const partial = join(dir.path, 'partial')
    await generateFiles(
      partial,
      files
        .filter((file) => file.path !== 'sub/two.bin')
        .map((file) => ({ ...file, path: `set/${file.path}` })),
      24,
    )
    const store = join(dir.path, 'store')
    const imported = await runCli(['import', torrentPath, partial, '--store', store, '--json'])
    expect(imported.code).toBe(1)
    expect(imported.stderr).toMatch(/pieces failed the check \(ERR_INCOMPLETE\)/)
    const event = findEvent<{ piecesVerified: number; missing: number }>(
      jsonEvents(imported.stdout),
      'imported',
    )
    expect(event.piecesVerified).toBeGreaterThanOrEqual(Math.floor(900_000 / 16_384))
    expect(event.missing).toBeGreaterThanOrEqual(Math.floor(1_100_000 / 16_384))

    const downloaded = await runCli([
      'download',
      torrent.info.infoHash,
      '--store',
      store,
      '--listen',
      '127.0.0.1:0',
      '--no-utp',
      '--peer',
      `127.0.0.1:${peer.port}`,
      '--json',
    ])
    expect(downloaded.code).toBe(0)
    const done = findEvent<{ received: number }>(jsonEvents(downloaded.stdout), 'done')
    expect(done.received).toBeGreaterThanOrEqual(1_100_000)
    expect(done.received).toBeLessThan(1_100_000 + 4 * 16_384)
  } finally {
    await seeder.stop()
    await dir.remove()
  }
})
