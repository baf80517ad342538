// Real-disk helpers, for benchmarks whose subject writes to disk: a scratch directory that is
// NOT on tmpfs, du-style disk usage of a tree (allocated blocks, not apparent sizes), and fsync
// of every file in a tree (to time "until durable" for writers that do not sync by themselves), and
// a scratch write that gives the next measured step memory just in use.

import { execFileSync } from 'node:child_process'
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statfsSync,
} from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ScratchDir } from './scratch.ts'

/** statfs magic numbers of common Linux file systems. */
const FS_TYPES = new Map<number, string>([
  [0x01021994, 'tmpfs'],
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x2fc12fc1, 'zfs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
])

/** The file system's kind at `path` ('ext2/3/4', 'tmpfs', …, or the magic number in hex). */
export function fileSystemType(path: string): string {
  const type = Number(statfsSync(path).type)
  return FS_TYPES.get(type) ?? `0x${type.toString(16)}`
}

export interface DiskScratchDir extends ScratchDir {
  /** The file system's kind (see fileSystemType). */
  fsType: string
}

/**
 * Creates `<base>/<prefix>-XXXXXX` on a real disk (base defaults to the system temp directory)
 * with `needBytes` free. Throws if `base` is a tmpfs (use scratchDir for that) or too full.
 */
export function diskScratchDir(prefix: string, needBytes = 0, base = tmpdir()): DiskScratchDir {
  const fsType = fileSystemType(base)
  if (fsType === 'tmpfs') throw new Error(`${base} is a tmpfs; a real-disk scratch directory is needed`)
  const stats = statfsSync(base)
  const free = Number(stats.bavail) * Number(stats.bsize)
  if (free < needBytes) throw new Error(`${base} has ${free} bytes free; ${needBytes} needed`)
  const path = mkdtempSync(join(base, `${prefix}-`))
  let removed = false
  return {
    path,
    tmpfs: false,
    fsType,
    remove: () => {
      if (removed) return
      removed = true
      rmSync(path, { recursive: true, force: true })
    },
  }
}

export interface DiskUsage {
  /** Allocated bytes, st_blocks * 512 summed over every file and directory (like `du -s -B1`). */
  bytes: number
  /** Sum of the regular files' lengths (like `du -s -b --apparent-size`). */
  apparentBytes: number
  files: number
  directories: number
}

/** du-style usage of a file or directory tree; symbolic links are counted, not followed. */
export function diskUsage(path: string): DiskUsage {
  const usage: DiskUsage = { bytes: 0, apparentBytes: 0, files: 0, directories: 0 }
  const visit = (entry: string) => {
    let stats: ReturnType<typeof lstatSync>
    try {
      stats = lstatSync(entry, { bigint: false })
    } catch {
      return // removed meanwhile
    }
    if (!stats) return
    usage.bytes += stats.blocks * 512
    if (stats.isDirectory()) {
      usage.directories++
      let names: string[] = []
      try {
        names = readdirSync(entry)
      } catch {
        // removed meanwhile
      }
      for (const name of names) visit(join(entry, name))
    } else if (stats.isFile()) {
      usage.files++
      usage.apparentBytes += stats.size
    }
  }
  visit(path)
  return usage
}

/** fsyncs every regular file below `path` (and the directories); returns the seconds it took. */
export function fsyncTree(path: string): number {
  const started = performance.now()
  const visit = (entry: string) => {
    const stats = lstatSync(entry)
    if (stats.isDirectory()) {
      for (const name of readdirSync(entry)) visit(join(entry, name))
    } else if (!stats.isFile()) {
      return
    }
    const fd = openSync(entry, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }
  visit(path)
  return (performance.now() - started) / 1000
}

/** Runs sync(1): flushes every file system's dirty pages, so one step's writeback does not
 *  spill into the next step's measurement. Returns the seconds it took. */
export function syncAll(): number {
  const started = performance.now()
  try {
    execFileSync('sync', [], { timeout: 120_000 })
  } catch {
    // best effort
  }
  return (performance.now() - started) / 1000
}

/**
 * Writes and deletes a scratch file of 1.125 x `bytes` in `directory` (untimed), so that the next
 * measured gigabyte (page cache, tmpfs) lands in memory that was just in use. On these VMs a
 * gigabyte written into guest memory the host had reclaimed (free page reporting) took 3-10 s
 * instead of 0.4-0.8 s, and a step started right after another's gigabyte was freed reused its
 * pages while one started after a pause did not: whichever side came first paid.
 */
export async function warmMemory(directory: string, bytes: number): Promise<void> {
  const path = join(directory, 'warm-memory.tmp')
  const block = Buffer.alloc(4 * 1_048_576, 1)
  const file = await open(path, 'w')
  try {
    for (let position = 0; position < bytes + bytes / 8; position += block.length) {
      await file.write(block, 0, block.length, position)
    }
  } finally {
    await file.close()
    await rm(path, { force: true })
  }
}
