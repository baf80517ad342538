// Shared by this package's tests (not exported): a scratch directory per test and a list of
// peers to stop afterwards, so a failing assertion never leaves a process or a directory behind.

import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'

interface Stoppable {
  stop(): Promise<unknown>
}

export function useScratch() {
  const directories: string[] = []
  const peers: Stoppable[] = []
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((peer) => peer.stop()))
    await Promise.all(
      directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })),
    )
  })
  return {
    /** A new empty directory, removed after the test. */
    async directory(): Promise<string> {
      const directory = await mkdtemp(path.join(os.tmpdir(), 'chunktorrent-test-peers-'))
      directories.push(directory)
      return directory
    },
    /** Registers a peer to stop after the test, and returns it. */
    track<Peer extends Stoppable>(peer: Peer): Peer {
      peers.push(peer)
      return peer
    },
  }
}

/** A few MiB over several files, one of them empty, one in a subdirectory. */
export const sampleFiles = [
  { path: 'alpha.bin', length: 1_500_000 },
  { path: 'empty.txt', length: 0 },
  { path: 'nested/beta.bin', length: 700_001 },
  { path: 'nested/gamma.bin', length: 65_536 },
]

/** True while a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
