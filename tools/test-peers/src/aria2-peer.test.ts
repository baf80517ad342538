import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { startAria2Leecher, startAria2Seeder } from './aria2-peer.ts'
import { generateFiles } from './deterministic-data.ts'
import { compareTrees } from './file-compare.ts'
import { startLibtorrentPeer } from './libtorrent-peer.ts'
import { isListening } from './network.ts'
import { availablePeers } from './python.ts'
import { isAlive, sampleFiles, useScratch } from './test-support.ts'
import { createTorrent } from './torrent-files.ts'

const { libtorrent, aria2 } = await availablePeers()

describe.skipIf(!libtorrent || !aria2)('aria2c with libtorrent on loopback (v1)', () => {
  const scratch = useScratch()

  async function fixture() {
    const root = await scratch.directory()
    const source = path.join(root, 'source')
    await generateFiles(path.join(source, 'content'), sampleFiles, 'aria2')
    const torrent = await createTorrent({
      path: path.join(source, 'content'),
      pieceLength: 32768,
      version: 'v1',
    })
    return { root, source, torrent, output: (name: string) => path.join(root, name) }
  }

  it('a libtorrent seeder dials an aria2c leecher, which exits 0 when complete', async () => {
    const { source, torrent, output } = await fixture()
    const seed = scratch.track(await startLibtorrentPeer({ torrent, savePath: source, role: 'seed' }))
    const leech = scratch.track(await startAria2Leecher({ torrent, savePath: output('aria2') }))
    expect(await isListening(leech.port)).toBe(true)
    seed.connect(leech.port)
    const done = await leech.done(20_000)
    expect(done.completeSeconds).toBeLessThanOrEqual(done.seconds)
    expect(await compareTrees(path.join(source, 'content'), path.join(output('aria2'), 'content'))).toEqual(
      [],
    )
  })

  it('an aria2c seeder (after its -V check) serves a libtorrent leecher', async () => {
    const { source, torrent, output } = await fixture()
    const seed = scratch.track(await startAria2Seeder({ torrent, savePath: source }))
    const leech = scratch.track(
      await startLibtorrentPeer({ torrent, savePath: output('leech'), role: 'leech', connect: [seed.port] }),
    )
    await leech.done(20_000)
    expect(await compareTrees(path.join(source, 'content'), path.join(output('leech'), 'content'))).toEqual(
      [],
    )
    await seed.stop()
    expect(isAlive(seed.pid)).toBe(false)
  })

  it('an aria2c seeder without its data reports that instead of hanging', async () => {
    const { torrent, output } = await fixture()
    await expect(
      startAria2Seeder({ torrent, savePath: output('empty'), timeoutMs: 2000 }),
    ).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      message: expect.stringContaining('-V check did not pass'),
    })
  })
})
