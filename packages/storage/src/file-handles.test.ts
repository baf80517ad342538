// The chunk-file descriptor cache: how many dirty handles wait for their sync-then-close at once,
// and the synchronous path of reads (an existing file opened, and a clean one closed, on this thread).

import { fstatSync, readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileHandleCache } from './file-handles.ts'

const directories: string[] = []

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true })
})

describe('FileHandleCache', () => {
  it('sends at most `limit` dirty handles to their sync-then-close at once and keeps the others open, not reopened', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'chunktorrent-handles-'))
    directories.push(directory)
    const limit = 2
    // Every handle is dirty, and no sync finishes until the test lets them.
    const syncing: string[] = []
    let finishSyncs = () => {}
    const syncsMayFinish = new Promise<void>((resolve) => {
      finishSyncs = resolve
    })
    const cache = new FileHandleCache(
      limit,
      () => true,
      async (key) => {
        syncing.push(key)
        await syncsMayFinish
      },
    )
    const descriptors = new Map<string, number>()
    for (let index = 0; index < 10; index++) {
      const key = `chunk-${index}`
      const lease = await cache.acquire(key, join(directory, `${key}.enc`), true)
      descriptors.set(key, lease.handle.fd)
      lease.release()
    }
    // Past twice the limit, dirty handles go to a sync first, but only `limit` of them at a time.
    expect(syncing).toHaveLength(limit)
    expect(cache.size).toBe(10 - limit)
    // A handle still in the cache is reused: the same descriptor, no second open of the file.
    const kept = 'chunk-9'
    const again = await cache.acquire(kept, join(directory, `${kept}.enc`), false)
    expect(again.handle.fd).toBe(descriptors.get(kept))
    again.release()
    finishSyncs()
    await cache.closeAll(false)
  })

  it('opens an existing file synchronously for a read, shares it, and closes clean handles past the limit at once', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'chunktorrent-handles-'))
    directories.push(directory)
    for (let index = 0; index < 4; index++)
      await writeFile(join(directory, `chunk-${index}.enc`), `bytes ${index}`)
    const beforeClose: string[] = []
    const cache = new FileHandleCache(
      2,
      () => false,
      async (key) => {
        beforeClose.push(key)
      },
    )
    const openNow = () => readdirSync('/proc/self/fd').length
    const baseline = openNow()
    // Without a path, nothing is opened.
    expect(cache.tryAcquire('chunk-0')).toBeUndefined()
    const first = cache.tryAcquire('chunk-0', join(directory, 'chunk-0.enc'))!
    expect(first).toBeDefined()
    expect(fstatSync(first.handle.fd).size).toBe('bytes 0'.length)
    expect(cache.descriptors).toBe(1)
    // A second reader shares the descriptor; an acquire does too.
    const second = cache.tryAcquire('chunk-0', join(directory, 'chunk-0.enc'))!
    expect(second.handle.fd).toBe(first.handle.fd)
    const third = await cache.acquire('chunk-0', join(directory, 'chunk-0.enc'), false)
    expect(third.handle.fd).toBe(first.handle.fd)
    for (const lease of [first, second, third]) lease.release()
    // A missing file throws its fs error synchronously and leaves nothing behind.
    expect(() => cache.tryAcquire('gone', join(directory, 'gone.enc'))).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    )
    expect(cache.holds('gone')).toBe(false)
    // Past the limit, the least recently used clean handle is closed before tryAcquire returns
    // (no sync asked for: the handle is clean), and its descriptor is really gone.
    for (let index = 1; index < 4; index++) {
      cache.tryAcquire(`chunk-${index}`, join(directory, `chunk-${index}.enc`))!.release()
      expect(cache.descriptors).toBe(Math.min(index + 1, 2))
      expect(openNow() - baseline).toBe(Math.min(index + 1, 2))
    }
    expect(cache.holds('chunk-0')).toBe(false)
    expect(cache.holds('chunk-1')).toBe(false)
    expect(cache.holds('chunk-3')).toBe(true)
    expect(beforeClose).toEqual([])
    // A leased handle is never closed under its reader, however far past the limit.
    const held = cache.tryAcquire('chunk-0', join(directory, 'chunk-0.enc'))!
    for (let index = 1; index < 4; index++) {
      cache.tryAcquire(`chunk-${index}`, join(directory, `chunk-${index}.enc`))!.release()
    }
    expect(fstatSync(held.handle.fd).size).toBe('bytes 0'.length)
    expect(cache.holds('chunk-0')).toBe(true)
    held.release()
    expect(cache.descriptors).toBe(2)
    await cache.closeAll(false)
    expect(cache.descriptors).toBe(0)
    expect(openNow()).toBe(baseline)
  })
})
