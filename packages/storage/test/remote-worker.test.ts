// RemoteTier runs its bucket client in a worker thread: plaintext crosses by transfer, an abort
// cuts requests in flight at once, a worker that dies fails its calls in flight and is replaced,
// and destroy ends it. Against s3rver on 127.0.0.1 with the real AWS SDK.

import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { StorageError } from '../src/index.ts'
import { RemoteTier, terminateWorkerForTests } from '../src/remote-tier.ts'
import { startS3, type TestS3 } from './fixtures/s3-server.ts'

let s3: TestS3
let bucket: string
let count = 0
const tiers: RemoteTier[] = []

beforeAll(async () => {
  s3 = await startS3()
})
afterAll(async () => {
  await s3?.close()
})
beforeEach(async () => {
  s3.mode = 'up'
  bucket = `chunktorrent-worker-${++count}`
  await s3.createBucket(bucket)
})
afterEach(() => {
  for (const tier of tiers.splice(0)) tier.destroy()
})

async function tier(): Promise<RemoteTier> {
  const created = await RemoteTier.create({
    endpoint: s3.endpoint,
    bucket,
    credentials: s3.credentials,
    encryptionKey: randomBytes(32),
    requestTimeoutMs: 20_000,
  })
  tiers.push(created)
  return created
}

const codeOf = (error: unknown) => (StorageError.isInstance(error) ? error.code : String(error))

it('puts and gets a chunk: a whole buffer is handed over (detached), a view is copied', async () => {
  const remote = await tier()
  const data = randomBytes(200_000)
  const whole = Buffer.from(data)
  const { location, size } = await remote.put('chunk-a', whole)
  expect(location).toBe(`s3://${bucket}/${remote.keyFor('chunk-a')}`)
  expect(size).toBeGreaterThan(data.length)
  expect(whole.byteLength).toBe(0) // transferred to the worker
  const backing = Buffer.alloc(300_000)
  data.copy(backing, 50_000)
  const view = backing.subarray(50_000, 250_000)
  await remote.put('chunk-b', view)
  expect(view.byteLength).toBe(200_000) // part of a larger buffer: copied, still usable
  expect((await remote.get('chunk-a', data.length)).equals(data)).toBe(true)
  expect((await remote.get('chunk-b', data.length)).equals(data)).toBe(true)
  await expect(remote.get('chunk-a', data.length + 1)).rejects.toMatchObject({ code: 'ERR_REMOTE_CORRUPT' })
  await expect(remote.get('no-such-chunk', 10)).rejects.toMatchObject({ code: 'ERR_REMOTE_IO' })
})

it('an abort cuts a hung request at once; the next request, with another signal, goes through', async () => {
  const remote = await tier()
  s3.mode = 'hang-puts'
  const controller = new AbortController()
  const hung = remote.put('chunk-a', randomBytes(100_000), controller.signal).catch(codeOf)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const started = performance.now()
  controller.abort()
  expect(await hung).toBe('ERR_REMOTE_ABORTED')
  expect(performance.now() - started).toBeLessThan(1_000)
  await expect(remote.put('chunk-b', randomBytes(10), controller.signal)).rejects.toMatchObject({
    code: 'ERR_REMOTE_ABORTED',
  })
  s3.mode = 'up'
  const data = randomBytes(100_000)
  await remote.put('chunk-c', Buffer.from(data), new AbortController().signal)
  expect((await remote.get('chunk-c', data.length)).equals(data)).toBe(true)
})

it('a worker that dies fails its calls in flight with ERR_REMOTE_IO; the next call starts another', async () => {
  const remote = await tier()
  s3.mode = 'hang-puts'
  const hung = remote.put('chunk-a', randomBytes(100_000)).catch(codeOf)
  await new Promise((resolve) => setTimeout(resolve, 300))
  await remote[terminateWorkerForTests]()
  expect(await hung).toBe('ERR_REMOTE_IO')
  s3.mode = 'up'
  const data = randomBytes(100_000)
  await remote.put('chunk-b', Buffer.from(data))
  expect((await remote.get('chunk-b', data.length)).equals(data)).toBe(true)
})

it('destroy fails the calls in flight with ERR_REMOTE_ABORTED, and every later call', async () => {
  const remote = await tier()
  s3.mode = 'hang-puts'
  const hung = remote.put('chunk-a', randomBytes(100_000)).catch(codeOf)
  await new Promise((resolve) => setTimeout(resolve, 300))
  remote.destroy()
  expect(await hung).toBe('ERR_REMOTE_ABORTED')
  await expect(remote.get('chunk-a', 10)).rejects.toMatchObject({ code: 'ERR_REMOTE_ABORTED' })
})

it('a bad object location is refused before anything is sent', async () => {
  const remote = await tier()
  await expect(remote.deleteObjects(['not-a-location'])).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG_TYPE',
  })
  expect(await remote.deleteObjects([remote.locationFor('never-uploaded')])).toEqual(new Map())
})
