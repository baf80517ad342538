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

  it('takes a shared hold at once only when no writer holds or waits for the piece', async () => {
    const locks = new PieceLocks()
    const events: string[] = []
    const release = locks.tryShared(2)
    expect(release).toBeDefined()
    locks.tryShared(3)!() // other pieces never wait
    const writer = locks.exclusive(2, async () => {
      events.push('write')
    })
    await Promise.resolve()
    expect(events).toEqual([]) // the writer waits for the hold
    expect(locks.tryShared(2)).toBeUndefined() // and a new reader queues behind the writer
    release!()
    await writer
    expect(events).toEqual(['write'])
    const again = locks.tryShared(2)
    expect(again).toBeDefined()
    again!()
    // Exclusive holders exclude tryShared while they run.
    const gate = deferred()
    const holding = locks.exclusive(4, () => gate.promise)
    await Promise.resolve()
    expect(locks.tryShared(4)).toBeUndefined()
    gate.resolve()
    await holding
    locks.tryShared(4)!()
  })

  it('takes an exclusive hold at once only when nobody holds or waits for the piece', async () => {
    const locks = new PieceLocks()
    const events: string[] = []
    const release = locks.tryExclusive(5)
    expect(release).toBeDefined()
    expect(locks.tryExclusive(5)).toBeUndefined() // held: a second holder must queue
    expect(locks.tryShared(5)).toBeUndefined() // and so must a reader
    locks.tryExclusive(6)!() // other pieces never wait
    const reader = locks.shared(5, async () => {
      events.push('read')
    })
    await Promise.resolve()
    expect(events).toEqual([])
    release!()
    await reader
    expect(events).toEqual(['read'])
    // Readers in flight, or a writer queued behind them, exclude it too.
    const shared = locks.tryShared(5)!
    expect(locks.tryExclusive(5)).toBeUndefined()
    const writer = locks.exclusive(5, async () => {
      events.push('write')
    })
    shared()
    await writer
    expect(events).toEqual(['read', 'write'])
    locks.tryExclusive(5)!()
  })
})
