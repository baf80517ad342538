// The per-piece readers-writer locks: readers share, writers exclude, order is first come first served.

import { describe, expect, it } from 'vitest'
import { PieceLocks } from './piece-locks.ts'

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((settle) => {
    resolve = settle
  })
  return { promise, resolve }
}

describe('PieceLocks', () => {
  it('lets readers share a piece and makes a writer wait for them, then readers for the writer', async () => {
    const locks = new PieceLocks()
    const events: string[] = []
    const gate = deferred()
    const readerA = locks.shared(1, async () => {
      events.push('a start')
      await gate.promise
      events.push('a end')
    })
    const readerB = locks.shared(1, async () => {
      events.push('b start')
      await gate.promise
      events.push('b end')
    })
    const writer = locks.exclusive(1, async () => {
      events.push('write')
    })
    const readerC = locks.shared(1, async () => {
      events.push('c')
    })
    const other = locks.exclusive(2, async () => {
      events.push('other piece')
    })
    await other
    await new Promise((resolve) => setImmediate(resolve))
    expect(events).toEqual(['a start', 'b start', 'other piece'])
    gate.resolve()
    await Promise.all([readerA, readerB, writer, readerC])
    expect(events.slice(3)).toEqual(['a end', 'b end', 'write', 'c'])
  })

  it('releases the lock when the task throws', async () => {
    const locks = new PieceLocks()
    await expect(locks.exclusive(0, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await locks.exclusive(0, async () => 'free')).toBe('free')
  })
})
