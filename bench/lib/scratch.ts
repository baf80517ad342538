// A scratch directory for generated data, on tmpfs when possible (so the disk is not part of
// what is measured), removed at the end.

import { mkdtempSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const TMPFS_MAGIC = 0x01021994

export interface ScratchDir {
  path: string
  /** True when the directory lives on tmpfs (memory). */
  tmpfs: boolean
  /** Removes the directory and everything in it; idempotent, synchronous. */
  remove(): void
}

function freeBytes(path: string): number {
  const stats = statfsSync(path)
  return Number(stats.bavail) * Number(stats.bsize)
}

function isTmpfs(path: string): boolean {
  try {
    return Number(statfsSync(path).type) === TMPFS_MAGIC
  } catch {
    return false
  }
}

/**
 * Creates `<base>/<prefix>-XXXXXX`: base is /dev/shm when it is a tmpfs with `needBytes` free,
 * else the system temp directory (which must have the room; otherwise this throws).
 */
export function scratchDir(prefix: string, needBytes = 0): ScratchDir {
  const candidates = ['/dev/shm', tmpdir()]
  for (const base of candidates) {
    try {
      if (base === '/dev/shm' && !isTmpfs(base)) continue
      if (freeBytes(base) < needBytes) continue
    } catch {
      continue
    }
    const path = mkdtempSync(join(base, `${prefix}-`))
    let removed = false
    return {
      path,
      tmpfs: isTmpfs(path),
      remove: () => {
        if (removed) return
        removed = true
        rmSync(path, { recursive: true, force: true })
      },
    }
  }
  throw new Error(`no scratch space with ${needBytes} bytes free in ${candidates.join(' or ')}`)
}
