// The synchronous surface: parsing torrents and magnets, creating torrents, settings, and the
// errors bad input gets (typed, never a crash).
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  createTorrent,
  libtorrentVersion,
  MemoryDiskIo,
  nativeBinaryPath,
  parseMagnet,
  parseTorrent,
  SessionParams,
  TorrentError,
} from '../src/index.ts'
import { jsSession, makeTorrent, tempDir } from './helpers.ts'

function caught(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a throw')
}

describe('torrents and magnets', () => {
  it('loads the addon and reports libtorrent 2.0', () => {
    expect(libtorrentVersion).toMatch(/^2\.0\./)
    expect(nativeBinaryPath).toMatch(/\.node$/)
  })

  it('parses a multi-file hybrid torrent like parse-torrent names it', async () => {
    const dir = await tempDir('api-parse')
    try {
      const torrent = await makeTorrent(
        dir.path,
        'set',
        [
          { path: 'x.bin', length: 100_000 },
          { path: 'y/z.bin', length: 5 },
        ],
        { pieceLength: 16384, version: 'hybrid' },
      )
      const info = torrent.info
      expect(info.version).toBe('hybrid')
      expect(info.infoHash).toBe(info.infoHashV1)
      expect(info.infoHashV2).toMatch(/^[0-9a-f]{64}$/)
      expect(info.name).toBe('set')
      const real = info.files.filter((file) => !file.pad)
      expect(real.map((file) => file.path)).toEqual(['set/x.bin', 'set/y/z.bin'])
      expect(real.map((file) => file.length)).toEqual([100_000, 5])
      expect(info.pieceCount).toBe(Math.ceil(info.length / info.pieceLength))
      expect(info.magnetURI).toContain(info.infoHash)
      expect(info.info.length).toBeGreaterThan(0)
    } finally {
      await dir.remove()
    }
  })

  it('rejects malformed torrents with ERR_INVALID_TORRENT', () => {
    for (const bytes of [
      Buffer.from('garbage'),
      Buffer.from('d4:infod4:name1:xee'),
      Buffer.alloc(0),
      Buffer.from('d4:info'),
    ]) {
      const error = caught(() => parseTorrent(bytes))
      expect(TorrentError.isInstance(error)).toBe(true)
      expect(error.code).toBe('ERR_INVALID_TORRENT')
    }
    expect(caught(() => parseTorrent('not bytes' as unknown as Uint8Array))).toBeInstanceOf(TypeError)
  })

  it('parses magnets and rejects malformed ones with ERR_INVALID_MAGNET', () => {
    const hash = '0123456789abcdef0123456789abcdef01234567'
    const magnet = parseMagnet(
      `magnet:?xt=urn:btih:${hash}&dn=hello&tr=http%3A%2F%2F127.0.0.1%2Fannounce&x.pe=127.0.0.1:6881`,
    )
    expect(magnet).toMatchObject({
      infoHash: hash,
      name: 'hello',
      announce: ['http://127.0.0.1/announce'],
      peers: ['127.0.0.1:6881'],
    })
    for (const bad of ['magnet:?xt=urn:btih:nothex', 'magnet:?dn=nohash', 'http://example.invalid/']) {
      const error = caught(() => parseMagnet(bad))
      expect(error.code).toBe('ERR_INVALID_MAGNET')
    }
  })

  it('creates v1, v2 and hybrid torrents that libtorrent parses back', async () => {
    const dir = await tempDir('api-create')
    try {
      await makeTorrent(dir.path, 'made', [{ path: 'f.bin', length: 50_000 }], {
        pieceLength: 16384,
        version: 'v1',
      })
      for (const version of ['v1', 'v2', 'hybrid'] as const) {
        const bytes = await createTorrent(join(dir.path, 'made'), {
          pieceLength: 16384,
          version,
          trackers: ['http://127.0.0.1:1/announce'],
          comment: 'made by a test',
        })
        const info = parseTorrent(bytes)
        expect(info.version).toBe(version)
        expect(info.comment).toBe('made by a test')
        expect(info.announce).toEqual(['http://127.0.0.1:1/announce'])
        expect(info.files.filter((file) => !file.pad).map((file) => file.length)).toEqual([50_000])
      }
      await expect(createTorrent(join(dir.path, 'missing'))).rejects.toMatchObject({
        code: 'ERR_PATH_NOT_FOUND',
      })
      await expect(createTorrent(dir.path, { pieceLength: 1000 })).rejects.toBeInstanceOf(RangeError)
    } finally {
      await dir.remove()
    }
  })
})

describe('settings and arguments', () => {
  it('unknown setting names and wrong types are precise errors', () => {
    expect(caught(() => new SessionParams({ settings: { no_such_setting: 1 } }))).toMatchObject({
      code: 'ERR_UNKNOWN_SETTING',
    })
    expect(caught(() => new SessionParams({ settings: { enable_dht: 'yes' } }))).toBeInstanceOf(TypeError)
    expect(caught(() => new SessionParams({ settings: { connections_limit: 1.5 } }))).toBeInstanceOf(
      RangeError,
    )
    const params = new SessionParams({ settings: { connections_limit: 77 } })
    expect(params.getSetting('connections_limit')).toBe(77)
    expect(caught(() => params.setDiskIoConstructor({} as never))).toBeInstanceOf(TypeError)
  })

  it('bad arguments are TypeError/RangeError before native code; unknown torrents are typed', async () => {
    const session = jsSession(new MemoryDiskIo())
    try {
      expect(caught(() => session.addTorrent({} as never))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
      expect(caught(() => session.addTorrent({ infoHash: 'xyz' }))).toMatchObject({
        code: 'ERR_INVALID_INFO_HASH',
      })
      expect(caught(() => session.addTorrent({ magnet: 'magnet:?xt=urn:btih:zz' }))).toMatchObject({
        code: 'ERR_INVALID_MAGNET',
      })
      expect(caught(() => session.addTorrent({ torrent: Buffer.from('nope') }))).toMatchObject({
        code: 'ERR_INVALID_TORRENT',
      })
      expect(
        caught(() => session.addTorrent({ infoHash: 'a'.repeat(40), peers: ['nowhere'] })),
      ).toMatchObject({
        code: 'ERR_INVALID_PEER',
      })
      expect(caught(() => session.status('b'.repeat(40)))).toMatchObject({ code: 'ERR_TORRENT_NOT_FOUND' })
      const added = session.addTorrent({ infoHash: 'c'.repeat(40), paused: true })
      expect(added.infoHash).toBe('c'.repeat(40))
      expect(caught(() => session.addTorrent({ infoHash: 'C'.repeat(40) }))).toMatchObject({
        code: 'ERR_DUPLICATE_TORRENT',
      })
      expect(session.status(added.infoHash)).toMatchObject({ paused: true, hasMetadata: false })
      expect(caught(() => session.setPieceDeadline(added.infoHash, -1, 0))).toBeInstanceOf(RangeError)
      expect(caught(() => session.applySettings({ unknown_thing: true }))).toMatchObject({
        code: 'ERR_UNKNOWN_SETTING',
      })
      await session.removeTorrent(added.infoHash)
      expect(session.torrents()).toEqual([])
    } finally {
      await session.close()
    }
  })
})
