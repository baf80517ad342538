// The remote tier from the command line (issue #5), against a real S3 API over HTTP (s3rver on
// 127.0.0.1, behind the storage tests' proxy) and the real binary: a download with a cache a
// quarter of the torrent uploads every chunk before it exits, `stats` reports the bucket, `export`
// reads evicted chunks back through the bucket, a dead endpoint makes `import` say what is still
// pending, `rm` deletes the torrent's objects (and says what is pending while the endpoint fails),
// `seed` serves a python3-libtorrent leecher a torrent whose chunks are mostly only in the bucket,
// and bad settings (no bucket, no credentials, a bad or wrong key, a bad size) are caught.
import { randomBytes } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compareTrees, killAllChildren, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startS3, type TestS3 } from '../../storage/test/fixtures/s3-server.ts'
import { type CliEvent, CliProcess, findEvent, jsonEvents, makeTorrent, runCli, tempDir } from './helpers.ts'

const MiB = 1_048_576
const key = randomBytes(32).toString('hex')

let s3: TestS3

beforeAll(async () => {
  s3 = await startS3()
})

afterAll(async () => {
  killAllChildren()
  await s3?.close()
})

function environment(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    CHUNKTORRENT_ENCRYPTION_KEY: key,
    CHUNKTORRENT_CONFIG: '',
    ...extra,
  }
}

describe('the remote tier', () => {
  it('download with a cache a quarter of the torrent: uploads confirmed, stats, export through the bucket', async () => {
    const dir = await tempDir('cli-remote')
    const seeder = { stop: async () => {} }
    try {
      await s3.createBucket('cli-download')
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'big',
        [
          { path: 'a.bin', length: 5 * MiB + 12_345 },
          { path: 'b.bin', length: 3 * MiB - 12_345 },
        ],
        { pieceLength: 262_144, seed: 41 },
      )
      const torrentPath = join(dir.path, 'big.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const peer = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: torrent.root,
        role: 'seed',
        uploadRateLimit: 4 * MiB,
      })
      seeder.stop = () => peer.stop().then(() => {})
      const store = join(dir.path, 'store')
      const cacheLimit = torrent.info.length / 4
      const result = await runCli(
        [
          'download',
          torrentPath,
          '--store',
          store,
          '--listen',
          '127.0.0.1:0',
          '--no-utp',
          '--peer',
          `127.0.0.1:${peer.port}`,
          '--sequential',
          '--json',
          '--remote-endpoint',
          s3.endpoint,
          '--remote-bucket',
          'cli-download',
          '--remote-prefix',
          'cli-test',
          '--cache-limit',
          `${cacheLimit}`,
          '--upload-timeout',
          '20s',
        ],
        { env: environment() },
      )
      await seeder.stop()
      expect(result.stderr.replace(/.*ERR_CACHE_OVER_LIMIT.*\n/g, '')).toBe('')
      expect(result.code).toBe(0)
      expect(result.stdout).not.toContain(key)
      const events = jsonEvents(result.stdout)
      const uploaded = findEvent<{ pendingUploads: number; objects: number; bytes: number }>(
        events,
        'uploaded',
      )
      expect(uploaded.pendingUploads).toBe(0)
      expect(uploaded.objects).toBe(8) // 8 MiB in 1 MiB chunks
      expect(uploaded.bytes).toBeGreaterThan(torrent.info.length)
      // The uploads are confirmed before the command says it is done with them, and it exits after.
      expect(events.findIndex((event) => event.event === 'uploaded')).toBeGreaterThan(
        events.findIndex((event) => event.event === 'done'),
      )
      const keys = await s3.listKeys('cli-download')
      expect(keys).toHaveLength(8)
      expect(keys.every((name) => name.startsWith('cli-test/chunks/') && name.endsWith('.enc'))).toBe(true)

      // The same settings from the config file; stats opens the store with them.
      await writeFile(
        join(store, 'config.json'),
        JSON.stringify({
          remote: { endpoint: s3.endpoint, bucket: 'cli-download', prefix: 'cli-test' },
          cacheLimit: `${cacheLimit / MiB}MiB`,
        }),
      )
      const stats = await runCli(['stats', '--store', store, '--json'], { env: environment() })
      expect(stats.stderr).toBe('')
      expect(stats.code).toBe(0)
      const figures = JSON.parse(stats.stdout) as {
        bytesOnDisk: number
        cacheLimitBytes: number
        remote: { objects: number; bytes: number; pendingUploads: number; location: string }
      }
      expect(figures.remote).toMatchObject({ objects: 8, pendingUploads: 0 })
      expect(figures.remote.bytes).toBe(uploaded.bytes)
      expect(figures.remote.location).toBe(`s3://cli-download/cli-test at ${s3.endpoint}`)
      expect(figures.cacheLimitBytes).toBe(cacheLimit)
      expect(figures.bytesOnDisk).toBeLessThanOrEqual(cacheLimit)
      const plain = await runCli(['stats', '--store', store], { env: environment() })
      expect(plain.stdout).toMatch(
        /remote: {7}8 objects, [\d.]+ MiB in s3:\/\/cli-download\/cli-test .*; 0 chunk\(s\) pending upload/,
      )
      expect(plain.stdout).toMatch(/cache: {8}\d+ hits, \d+ misses/)

      // A wrong key (well formed) cannot read the evicted chunks: an error, never data.
      const wrong = await runCli(
        ['export', torrent.info.infoHash, join(dir.path, 'wrong'), '--store', store],
        { env: environment({ CHUNKTORRENT_ENCRYPTION_KEY: randomBytes(32).toString('hex') }) },
      )
      expect(wrong.code).toBe(1)
      expect(wrong.stderr).toMatch(/ERR_ENVELOPE_AUTH|encryption key is wrong/)
      // verify stops at the first chunk it cannot read instead of waiting for a check that never ends.
      const wrongVerify = await runCli(['verify', torrent.info.infoHash, '--store', store, '-q'], {
        env: environment({ CHUNKTORRENT_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
        timeoutMs: 15_000,
      })
      expect(wrongVerify.code).toBe(1)
      expect(wrongVerify.stderr).toMatch(/encryption key is wrong/)

      // export reads the evicted chunks back through the bucket (the config file supplies the tier).
      const out = join(dir.path, 'out')
      const exported = await runCli(['export', torrent.info.infoHash, out, '--store', store], {
        env: environment(),
      })
      expect(exported.stderr).toBe('')
      expect(exported.code).toBe(0)
      expect(await compareTrees(join(torrent.root, 'big'), join(out, 'big'))).toEqual([])
      // The chunks export fetched back count as misses in the store's totals.
      const after = JSON.parse(
        (await runCli(['stats', '--store', store, '--json'], { env: environment() })).stdout,
      )
      expect(after.cacheMisses).toBeGreaterThan(0)
      expect(after.cacheHits).toBeGreaterThan(0)
    } finally {
      await seeder.stop()
      await dir.remove()
    }
  })

  it('import against a failing endpoint exits 1 saying how many chunks are pending; the next run uploads them', async () => {
    const dir = await tempDir('cli-remote-fail')
    try {
      await s3.createBucket('cli-import')
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'set',
        [{ path: 'x.bin', length: 3 * MiB }],
        {
          pieceLength: 262_144,
          seed: 43,
        },
      )
      const torrentPath = join(dir.path, 'set.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const store = join(dir.path, 'store')
      const flags = ['--store', store, '--remote-endpoint', s3.endpoint, '--remote-bucket', 'cli-import']
      s3.mode = 'fail'
      const failed = await runCli(
        ['import', torrentPath, torrent.root, ...flags, '--upload-timeout', '2s', '--json'],
        { env: environment() },
      )
      s3.mode = 'up'
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(
        /3 chunk\(s\) are still pending upload to s3:\/\/cli-import .*not confirmed within 2s.*upload on the next run/,
      )
      expect(failed.stderr).toContain('ERR_UPLOAD_PENDING')
      const pending = findEvent<{ pendingUploads: number }>(jsonEvents(failed.stdout), 'upload-pending')
      expect(pending.pendingUploads).toBe(3)

      // Opening the store again with the tier queues them again; stats waits for nothing, so
      // run the import again (everything is already stored): it waits for the uploads.
      const again = await runCli(['import', torrentPath, torrent.root, ...flags, '--json'], {
        env: environment(),
      })
      expect(again.code).toBe(0)
      const events: CliEvent[] = jsonEvents(again.stdout)
      expect(findEvent<{ objects: number }>(events, 'uploaded').objects).toBe(3)
      expect(await s3.listKeys('cli-import')).toHaveLength(3)
    } finally {
      s3.mode = 'up'
      await dir.remove()
    }
  })

  it('Ctrl-C while uploads hang: exit 130 with a warning saying how many chunks are pending', async () => {
    const dir = await tempDir('cli-remote-hang')
    try {
      await s3.createBucket('cli-hang')
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'set',
        [{ path: 'x.bin', length: 2 * MiB }],
        {
          pieceLength: 262_144,
          seed: 47,
        },
      )
      const torrentPath = join(dir.path, 'set.torrent')
      await writeFile(torrentPath, torrent.bytes)
      s3.mode = 'hang-puts'
      const running = new CliProcess(
        [
          'import',
          torrentPath,
          torrent.root,
          '--store',
          join(dir.path, 'store'),
          '--remote-endpoint',
          s3.endpoint,
          '--remote-bucket',
          'cli-hang',
          '--json',
        ],
        { env: environment() },
      )
      try {
        const uploading = await running.waitForEvent('uploading')
        expect(uploading.pendingUploads).toBe(2)
        running.kill('SIGINT')
        const result = await running.exited
        expect(result.code).toBe(130)
        expect(result.stderr).toContain('2 chunk(s) are still pending upload to s3://cli-hang')
      } finally {
        await running.stop()
      }
    } finally {
      s3.mode = 'up'
      await dir.remove()
    }
  })

  it('bad settings are usage errors (exit 2) that never print the key', async () => {
    const dir = await tempDir('cli-remote-bad')
    try {
      const store = join(dir.path, 'store')
      const base = ['stats', '--store', store]
      const noBucket = await runCli([...base, '--remote-endpoint', s3.endpoint], { env: environment() })
      expect(noBucket.code).toBe(2)
      expect(noBucket.stderr).toContain('--remote-bucket is missing')

      const noCredentials = await runCli([...base, '--remote-bucket', 'some-bucket'], {
        env: environment({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }),
      })
      expect(noCredentials.code).toBe(2)
      expect(noCredentials.stderr).toContain(
        'needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      )

      const badKey = 'not-a-key-0123456789'
      const bad = await runCli([...base, '--remote-bucket', 'some-bucket'], {
        env: environment({ CHUNKTORRENT_ENCRYPTION_KEY: badKey }),
      })
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain('CHUNKTORRENT_ENCRYPTION_KEY must be 64 hexadecimal characters')
      expect(bad.stderr + bad.stdout).not.toContain(badKey)

      const noKey = await runCli([...base, '--remote-bucket', 'some-bucket'], {
        env: environment({ CHUNKTORRENT_ENCRYPTION_KEY: '' }),
      })
      expect(noKey.code).toBe(2)
      expect(noKey.stderr).toContain('needs an encryption key')

      const size = await runCli([...base, '--cache-limit', '64 lots'], { env: environment() })
      expect(size.code).toBe(2)
      expect(size.stderr).toContain('--cache-limit: "64 lots" is not a size')

      const timeout = await runCli(['download', 'x.torrent', '--store', store, '--upload-timeout', 'soon'], {
        env: environment(),
      })
      expect(timeout.code).toBe(2)
      expect(timeout.stderr).toContain('--upload-timeout: "soon" is not a duration')

      const config = join(dir.path, 'config.json')
      await writeFile(config, JSON.stringify({ remote: { bucket: 'b-1', encryptionKey: key } }))
      const keyInConfig = await runCli(base, { env: environment({ CHUNKTORRENT_CONFIG: config }) })
      expect(keyInConfig.code).toBe(2)
      expect(keyInConfig.stderr).toContain('"remote.encryptionKey" is not read from the config file')
      expect(keyInConfig.stderr).not.toContain(key)

      const keyFile = join(dir.path, 'key.hex')
      await writeFile(keyFile, 'zz\n')
      await writeFile(config, JSON.stringify({ remote: { bucket: 'b-1', encryptionKeyFile: keyFile } }))
      const small = await makeTorrent(
        join(dir.path, 'source'),
        'small',
        [{ path: 'a.bin', length: 40_000 }],
        {
          pieceLength: 16_384,
        },
      )
      const smallPath = join(dir.path, 'small.torrent')
      await writeFile(smallPath, small.bytes)
      const badKeyFile = await runCli(['download', smallPath, '--store', store, '--listen', '127.0.0.1:0'], {
        env: environment({ CHUNKTORRENT_CONFIG: config, CHUNKTORRENT_ENCRYPTION_KEY: '' }),
      })
      expect(badKeyFile.code).toBe(2)
      expect(badKeyFile.stderr).toContain(
        `The encryption key from the key file ${keyFile} must be 64 hexadecimal characters`,
      )
    } finally {
      await dir.remove()
    }
  })

  it('rm deletes the objects of the torrent from the bucket; with the endpoint failing, exit 1 and the next rm finishes the job', async () => {
    const dir = await tempDir('cli-remote-rm')
    try {
      await s3.createBucket('cli-rm')
      const store = join(dir.path, 'store')
      const flags = ['--store', store, '--remote-endpoint', s3.endpoint, '--remote-bucket', 'cli-rm']
      const imported: Array<{ infoHash: string }> = []
      for (const [index, name] of ['one', 'two', 'three'].entries()) {
        const torrent = await makeTorrent(
          join(dir.path, 'source'),
          name,
          [{ path: 'x.bin', length: 2 * MiB + 1 + index }],
          { pieceLength: 262_144, seed: 50 + index },
        )
        const torrentPath = join(dir.path, `${name}.torrent`)
        await writeFile(torrentPath, torrent.bytes)
        const result = await runCli(['import', torrentPath, torrent.root, ...flags, '-q'], {
          env: environment(),
        })
        expect(result.code).toBe(0)
        imported.push({ infoHash: torrent.info.infoHash })
      }
      const keys = await s3.listKeys('cli-rm')
      expect(keys).toHaveLength(9) // 3 chunks each

      // rm waits for the deletion of the torrent's 3 objects before it exits.
      const removed = await runCli(['rm', imported[0]!.infoHash, ...flags, '--json'], { env: environment() })
      expect(removed.stderr).toBe('')
      expect(removed.code).toBe(0)
      const events = jsonEvents(removed.stdout)
      // (Announced unless the bucket was quicker than rm's own unlinks.)
      const deleting = events.find((event) => event.event === 'remote-deleting')
      if (deleting) expect(deleting.pendingDeletions).toBe(3)
      expect(findEvent<{ deletionsDone: number }>(events, 'remote-deleted').deletionsDone).toBe(3)
      expect(events.findIndex((event) => event.event === 'remote-deleted')).toBeGreaterThan(
        events.findIndex((event) => event.event === 'removed'),
      )
      expect(await s3.listKeys('cli-rm')).toHaveLength(6)

      // The endpoint fails: the torrent is removed from the store, its objects are still pending.
      s3.mode = 'fail'
      const failed = await runCli(
        ['rm', imported[1]!.infoHash, ...flags, '--delete-timeout', '2s', '--json'],
        {
          env: environment(),
        },
      )
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(
        /3 object\(s\) are still pending deletion from s3:\/\/cli-rm .*not confirmed within 2s.*deleted by the next run that opens it with the remote tier/,
      )
      expect(failed.stderr).toContain('ERR_DELETE_PENDING')
      const pending = findEvent<{ pendingDeletions: number }>(
        jsonEvents(failed.stdout),
        'remote-delete-pending',
      )
      expect(pending.pendingDeletions).toBe(3)
      expect(findEvent(jsonEvents(failed.stdout), 'removed')).toMatchObject({
        infoHash: imported[1]!.infoHash,
      })
      expect(await s3.listKeys('cli-rm')).toHaveLength(6)
      // (Still failing, so that stats, which resumes the deletions at open, cannot finish them.)
      const stats = JSON.parse((await runCli(['stats', ...flags, '--json'], { env: environment() })).stdout)
      expect(stats.torrents).toBe(1)
      expect(stats.remote).toMatchObject({ objects: 3, pendingDeletions: 3 })
      s3.mode = 'up'

      // The next rm waits for those too.
      const last = await runCli(['rm', imported[2]!.infoHash, ...flags, '--json'], { env: environment() })
      expect(last.code).toBe(0)
      expect(
        findEvent<{ deletionsDone: number }>(jsonEvents(last.stdout), 'remote-deleted').deletionsDone,
      ).toBe(6)
      expect(await s3.listKeys('cli-rm')).toEqual([])
    } finally {
      s3.mode = 'up'
      await dir.remove()
    }
  })

  it('seed with a cache smaller than the torrent serves a python3-libtorrent leecher through read-through', async () => {
    const dir = await tempDir('cli-remote-seed')
    const leechers: Array<{ stop(): Promise<unknown> }> = []
    let seeder: CliProcess | undefined
    try {
      await s3.createBucket('cli-seed')
      const torrent = await makeTorrent(
        join(dir.path, 'source'),
        'album',
        [
          { path: 'one.bin', length: 3 * MiB + 54_321 },
          { path: 'two.bin', length: 3 * MiB - 54_321 },
        ],
        { pieceLength: 262_144, seed: 61 },
      )
      const torrentPath = join(dir.path, 'album.torrent')
      await writeFile(torrentPath, torrent.bytes)
      const store = join(dir.path, 'store')
      const cacheLimit = 2 * MiB // a third of the torrent
      const flags = [
        '--store',
        store,
        '--remote-endpoint',
        s3.endpoint,
        '--remote-bucket',
        'cli-seed',
        '--cache-limit',
        `${cacheLimit}`,
      ]
      const imported = await runCli(['import', torrentPath, torrent.root, ...flags, '--json'], {
        env: environment(),
      })
      expect(imported.stderr.replace(/.*ERR_CACHE_OVER_LIMIT.*\n/g, '')).toBe('')
      expect(imported.code).toBe(0)
      expect(findEvent<{ objects: number }>(jsonEvents(imported.stdout), 'uploaded').objects).toBe(6)
      // The originals move away: the leecher's bytes can only come from the store and the bucket.
      const originals = join(dir.path, 'originals')
      await rename(torrent.root, originals)
      // An eviction still running when import closed the store is finished by the next open (here
      // the first stats, which waits for it before it exits): from then on the cache holds.
      const stats = async () =>
        JSON.parse((await runCli(['stats', ...flags, '--json'], { env: environment() })).stdout)
      expect((await stats()).bytesOnDisk).toBeLessThan(torrent.info.length)
      const before = await stats()
      expect(before.bytesOnDisk).toBeLessThanOrEqual(cacheLimit)
      expect(before.remote).toMatchObject({ objects: 6, pendingUploads: 0 })

      s3.requests.length = 0
      seeder = new CliProcess(
        ['seed', torrent.info.infoHash, ...flags, '--listen', '127.0.0.1:0', '--no-utp', '--json'],
        { env: environment(), timeoutMs: 60_000 },
      )
      const seeding = (await seeder.waitForEvent('seeding')) as { port?: number; piecesVerified?: number }
      expect(seeding.piecesVerified).toBe(torrent.info.pieceCount)
      const leecher = await startLibtorrentPeer({
        torrent: torrent.bytes,
        savePath: join(dir.path, 'leecher'),
        role: 'leech',
        connect: [`127.0.0.1:${seeding.port}`],
      })
      leechers.push(leecher)
      await leecher.done(40_000)
      await leecher.stop()
      expect(await compareTrees(join(originals, 'album'), join(dir.path, 'leecher', 'album'))).toEqual([])
      // At least the four chunks that were not in the cache came from the bucket.
      const fetched = s3.requests.filter((line) => line.startsWith('GET /cli-seed/') && line.endsWith('.enc'))
      expect(fetched.length).toBeGreaterThanOrEqual(4)

      seeder.kill('SIGINT')
      const result = await seeder.exited
      expect(result.code).toBe(0)
      expect(result.stderr.replace(/.*ERR_CACHE_OVER_LIMIT.*\n/g, '')).toBe('')
      const stopped = findEvent<{ uploaded: number }>(seeder.events, 'stopped')
      expect(stopped.uploaded).toBeGreaterThanOrEqual(torrent.info.length)
      // The seed's reads of evicted chunks count as misses in the store's totals.
      const after = await stats()
      expect(after.cacheMisses).toBeGreaterThanOrEqual(4)
      expect(after.remote).toMatchObject({ objects: 6, pendingUploads: 0 })
    } finally {
      await seeder?.stop()
      for (const leecher of leechers) await leecher.stop()
      await dir.remove()
    }
  })
})
