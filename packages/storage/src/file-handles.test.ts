// The chunk-file descriptor cache: how many dirty handles wait for their sync-then-close at once.

import { mkdtemp, rm } from 'node:fs/promises'
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
})
