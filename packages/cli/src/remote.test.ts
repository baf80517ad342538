import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CliError } from './errors.ts'
import { DEFAULT_UPLOAD_TIMEOUT_MS, storeSettings } from './remote.ts'
import { parseDuration } from './units.ts'

const key = 'ab'.repeat(32)
const credentials = { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' }
let store: string

beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'chunktorrent-settings-'))
})
afterAll(async () => {
  await rm(store, { recursive: true, force: true })
})

function usage(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).exitCode).toBe(2)
    return (error as CliError).message
  }
  throw new Error('no error')
}

describe('storeSettings', () => {
  it('no remote: only the cache limit and the default upload timeout', () => {
    expect(storeSettings(store, {}, {})).toEqual({ uploadTimeoutMs: DEFAULT_UPLOAD_TIMEOUT_MS })
    expect(storeSettings(store, { cacheLimit: '64MiB', uploadTimeout: '90s' }, {})).toEqual({
      cacheLimitBytes: 64 * 1_048_576,
      uploadTimeoutMs: 90_000,
    })
  })

  it('--delete-timeout (rm), over the config file; a bad one is a usage error', async () => {
    expect(storeSettings(store, { deleteTimeout: '2m' }, {}).deleteTimeoutMs).toBe(120_000)
    const config = join(store, 'delete.json')
    await writeFile(config, JSON.stringify({ deleteTimeout: '30s' }))
    expect(storeSettings(store, {}, { CHUNKTORRENT_CONFIG: config }).deleteTimeoutMs).toBe(30_000)
    expect(
      storeSettings(store, { deleteTimeout: '5' }, { CHUNKTORRENT_CONFIG: config }).deleteTimeoutMs,
    ).toBe(5_000)
    expect(usage(() => storeSettings(store, { deleteTimeout: 'later' }, {}))).toContain('--delete-timeout')
  })

  it('flags build the remote tier: credentials and key from the environment, pins off', () => {
    const settings = storeSettings(
      store,
      { remoteEndpoint: 'http://127.0.0.1:9000', remoteBucket: 'my-chunks', remotePrefix: 'a/b' },
      { ...credentials, CHUNKTORRENT_ENCRYPTION_KEY: key },
    )
    expect(settings.remote).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'my-chunks',
      region: 'us-east-1',
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
      prefix: 'a/b',
      encryptionKey: key,
    })
    expect(settings.pinOpenTorrents).toBe(false)
    expect(settings.remoteName).toBe('s3://my-chunks/a/b at http://127.0.0.1:9000')
  })

  it('the config file, flags over it; $CHUNKTORRENT_CONFIG names another file', async () => {
    await writeFile(
      join(store, 'config.json'),
      JSON.stringify({ remote: { bucket: 'from-file', region: 'eu-west-1' }, cacheLimit: '1GiB' }),
    )
    const environment = { ...credentials, CHUNKTORRENT_ENCRYPTION_KEY: key }
    const fromFile = storeSettings(store, {}, environment)
    expect(fromFile.remote).toMatchObject({ bucket: 'from-file', region: 'eu-west-1' })
    expect(fromFile.cacheLimitBytes).toBe(1_073_741_824)
    const flags = storeSettings(store, { remoteBucket: 'from-flag', cacheLimit: '2M' }, environment)
    expect(flags.remote).toMatchObject({ bucket: 'from-flag', region: 'eu-west-1' })
    expect(flags.cacheLimitBytes).toBe(2_097_152)
    const other = join(store, 'other.json')
    await writeFile(other, JSON.stringify({ remote: { bucket: 'other', encryptionKeyFile: 'key.hex' } }))
    const named = storeSettings(store, {}, { ...credentials, CHUNKTORRENT_CONFIG: other })
    expect(named.remote).toMatchObject({
      bucket: 'other',
      encryptionKeyFile: expect.stringMatching(/key\.hex$/),
    })
    expect(
      usage(() => storeSettings(store, {}, { CHUNKTORRENT_CONFIG: join(store, 'none.json') })),
    ).toContain('Cannot read the config file')
    await writeFile(other, '{"remote": {"bucket": 3}}')
    expect(usage(() => storeSettings(store, {}, { CHUNKTORRENT_CONFIG: other }))).toContain(
      '"remote.bucket" must be a non-empty string',
    )
    await writeFile(other, '{"cache": 1}')
    expect(usage(() => storeSettings(store, {}, { CHUNKTORRENT_CONFIG: other }))).toContain(
      'unknown setting "cache"',
    )
    await writeFile(other, 'not json')
    expect(usage(() => storeSettings(store, {}, { CHUNKTORRENT_CONFIG: other }))).toContain('not valid JSON')
    await rm(join(store, 'config.json'))
  })

  it('bad values are usage errors that never contain the key', () => {
    const environment = { ...credentials, CHUNKTORRENT_ENCRYPTION_KEY: key }
    expect(usage(() => storeSettings(store, { remoteEndpoint: 'http://x:1' }, environment))).toContain(
      '--remote-bucket is missing',
    )
    expect(
      usage(() => storeSettings(store, { remoteBucket: 'b', remoteEndpoint: 'x' }, environment)),
    ).toContain('is not a bucket name')
    expect(
      usage(() => storeSettings(store, { remoteBucket: 'bucket', remoteEndpoint: 'ftp://x' }, environment)),
    ).toContain('must be an http:// or https:// URL')
    expect(
      usage(() => storeSettings(store, { remoteBucket: 'bucket' }, { CHUNKTORRENT_ENCRYPTION_KEY: key })),
    ).toContain('AWS_ACCESS_KEY_ID is not set')
    const short = key.slice(2)
    const message = usage(() =>
      storeSettings(
        store,
        { remoteBucket: 'bucket' },
        { ...credentials, CHUNKTORRENT_ENCRYPTION_KEY: short },
      ),
    )
    expect(message).toContain('64 hexadecimal characters')
    expect(message).not.toContain(short)
    expect(usage(() => storeSettings(store, { remoteBucket: 'bucket' }, credentials))).toContain(
      'needs an encryption key',
    )
    expect(usage(() => storeSettings(store, { cacheLimit: '0' }, {}))).toContain('--cache-limit')
  })
})

describe('parseDuration', () => {
  it('seconds, minutes, hours', () => {
    expect(parseDuration('90', { name: 't' })).toBe(90)
    expect(parseDuration('30s', { name: 't' })).toBe(30)
    expect(parseDuration('10m', { name: 't' })).toBe(600)
    expect(parseDuration('1.5h', { name: 't' })).toBe(5400)
  })
  it('refuses the rest', () => {
    for (const text of ['', '0', '-5', '10 m', '1d', 'soon', '1e3', '8d']) {
      expect(() => parseDuration(text, { name: '--upload-timeout' })).toThrow(/--upload-timeout/)
    }
    expect(() => parseDuration('700000', { name: 't' })).toThrow(/7 days/)
  })
})
