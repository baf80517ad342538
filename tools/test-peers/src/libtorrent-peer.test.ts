import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateFiles } from './deterministic-data.ts'
import { compareTrees } from './file-compare.ts'
import { startLibtorrentPeer } from './libtorrent-peer.ts'
import { availablePeers } from './python.ts'
import { sampleFiles, useScratch } from './test-support.ts'
import { corruptCopy, createTorrent, type TorrentVersion } from './torrent-files.ts'

const { libtorrent } = await availablePeers()

describe.skipIf(!libtorrent)('libtorrent peers on loopback', () => {
  const scratch = useScratch()

  async function fixture(version: TorrentVersion, pieceLength = 32768) {
    const root = await scratch.directory()
    const source = path.join(root, 'source')
    await generateFiles(path.join(source, 'content'), sampleFiles, `libtorrent ${version}`)
    const torrent = await createTorrent({ path: path.join(source, 'content'), pieceLength, version })
    return { root, source, torrent, output: (name: string) => path.join(root, name) }
  }

  for (const version of ['v1', 'v2', 'hybrid'] as const) {
    it(`${version}: a seeder serves a leecher that dials it; the files end up identical`, async () => {
      const { source, torrent, output } = await fixture(version)
      const seed = scratch.track(await startLibtorrentPeer({ torrent, savePath: source, role: 'seed' }))
      expect(seed.port).toBeGreaterThan(0)
      const leech = scratch.track(
        await startLibtorrentPeer({
          torrent,
          savePath: output('leech'),
          role: 'leech',
          connect: [seed.port],
        }),
      )
      const done = await leech.done(20_000)
      expect(done.progress).toBe(1)
      expect(leech.hashFailures()).toEqual([])
      expect(await compareTrees(path.join(source, 'content'), path.join(output('leech'), 'content'))).toEqual(
        [],
      )
    })
  }

  it('a running leecher dials a port it learns later (stdin command), torrent given as a file', async () => {
    const { source, torrent, output, root } = await fixture('hybrid')
    const torrentPath = path.join(root, 'sample.torrent')
    await (await import('node:fs/promises')).writeFile(torrentPath, torrent)
    const leech = scratch.track(
      await startLibtorrentPeer({ torrent: torrentPath, savePath: output('leech'), role: 'leech' }),
    )
    const seed = scratch.track(await startLibtorrentPeer({ torrent, savePath: source, role: 'seed' }))
    expect((await leech.status()).peers).toBe(0)
    leech.connect(`127.0.0.1:${seed.port}`)
    await leech.waitFor('peer_connected', { predicate: (event) => event.peer === `127.0.0.1:${seed.port}` })
    await leech.done(20_000)
    expect(await compareTrees(path.join(source, 'content'), path.join(output('leech'), 'content'))).toEqual(
      [],
    )
  })

  it('a corrupt seeder causes hash failures; a good seeder completes the download', async () => {
    const { source, torrent, output } = await fixture('v1')
    const corruptPieces = [1, 20, 40]
    await corruptCopy({ torrent, from: source, to: output('corrupt'), pieces: corruptPieces })
    const good = scratch.track(await startLibtorrentPeer({ torrent, savePath: source, role: 'seed' }))
    const corrupt = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('corrupt'), role: 'seed', skipHashCheck: true }),
    )
    const states = corrupt.peerProcess.eventsNamed('state').map((event) => event.state)
    expect(states).not.toContain('checking_files') // no start-up check
    // Only the corrupt seeder first, so the bad pieces certainly come from it...
    const leech = scratch.track(
      await startLibtorrentPeer({
        torrent,
        savePath: output('leech'),
        role: 'leech',
        connect: [corrupt.port],
      }),
    )
    const failure = await leech.waitFor('hash_failed', 15_000)
    expect(corruptPieces).toContain(failure.piece)
    // ...then the good one (libtorrent bans the corrupt peer, so it alone could never finish).
    leech.connect(good.port)
    await leech.done(20_000)
    expect(leech.hashFailures().length).toBeGreaterThan(0)
    for (const piece of leech.hashFailures()) expect(corruptPieces).toContain(piece)
    expect(leech.peerProcess.eventsNamed('peer_banned').length).toBeGreaterThan(0)
    expect(await compareTrees(path.join(source, 'content'), path.join(output('leech'), 'content'))).toEqual(
      [],
    )
  })

  it('seedMode skips the start-up check but libtorrent still never uploads a corrupt piece', async () => {
    const { source, torrent, output } = await fixture('v1')
    await corruptCopy({ torrent, from: source, to: output('corrupt'), pieces: [3] })
    const seed = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('corrupt'), role: 'seed', seedMode: true }),
    )
    expect(seed.peerProcess.eventsNamed('state').map((event) => event.state)).not.toContain('checking_files')
    const leech = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('leech'), role: 'leech', connect: [seed.port] }),
    )
    // The seeder hashes piece 3 when asked for it, finds it bad, leaves seed mode and rechecks.
    await seed.waitFor('state', { timeoutMs: 15_000, predicate: (event) => event.state === 'checking_files' })
    await seed.waitFor('checked', { timeoutMs: 15_000, includePast: false })
    expect((await seed.status()).seeding).toBe(false)
    expect(leech.hashFailures()).toEqual([])
  })

  it('rate limits apply between loopback peers', async () => {
    const { source, torrent, output } = await fixture('v1')
    const total = sampleFiles.reduce((sum, file) => sum + file.length, 0)
    const rate = 1_000_000
    const seed = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: source, role: 'seed', uploadRateLimit: rate }),
    )
    const leech = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('leech'), role: 'leech', connect: [seed.port] }),
    )
    const done = await leech.done(20_000)
    expect(done.seconds).toBeGreaterThan((total / rate) * 0.6)
  })

  it('a seeder whose data is missing fails fast with its reason', async () => {
    const { torrent, output } = await fixture('v1')
    await expect(
      startLibtorrentPeer({ torrent, savePath: output('nothing'), role: 'seed' }),
    ).rejects.toMatchObject({
      code: 'ERR_PEER_ERROR',
      message: expect.stringContaining('seed data failed its check'),
    })
  })

  it('waits are bounded', async () => {
    const { torrent, output } = await fixture('v1')
    const leech = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('leech'), role: 'leech' }),
    )
    await expect(leech.done(300)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    await leech.stop()
    await expect(leech.waitFor('done')).rejects.toMatchObject({ code: 'ERR_PEER_EXITED' })
    expect(await leech.stop()).toEqual({ code: 0, signal: null })
  })
})
