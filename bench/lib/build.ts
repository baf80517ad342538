// What code a benchmark measured: the build outputs' modification times and the commit, read at
// the start and at the end of a run, since other work in the same tree may rebuild meanwhile.

import { execFileSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'

/** The build outputs benchmarks load, relative to the repository root. */
export const BUILD_OUTPUTS: Readonly<Record<string, string>> = {
  ffiNative: 'packages/ffi/build/Release/chunktorrent.node',
  ffiDist: 'packages/ffi/dist/index.js',
  clientDist: 'packages/client/dist/index.js',
  storageDist: 'packages/storage/dist/index.js',
}

/** Each build output's mtime (ISO, or 'missing') and `head`, the short commit (or 'unknown'). */
export function buildStamps(root = join(import.meta.dirname, '..', '..')): Record<string, string> {
  const stamps: Record<string, string> = {}
  for (const [name, path] of Object.entries(BUILD_OUTPUTS)) {
    try {
      stamps[name] = statSync(join(root, path)).mtime.toISOString()
    } catch {
      stamps[name] = 'missing'
    }
  }
  try {
    stamps.head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim()
  } catch {
    stamps.head = 'unknown'
  }
  return stamps
}

/** The stamps that differ between two `buildStamps` readings. */
export function changedStamps(start: Record<string, string>, end: Record<string, string>): string[] {
  return Object.keys(start).filter((key) => start[key] !== end[key])
}

/** "builds: ffiNative …, head abc1234; unchanged during the run" (or what changed, to what). */
export function describeBuilds(start: Record<string, string>, end: Record<string, string>): string {
  const rebuilt = changedStamps(start, end)
  return (
    `builds: ${Object.entries(start)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ')}` +
    (rebuilt.length
      ? `; CHANGED DURING THE RUN: ${rebuilt.map((key) => `${key} -> ${end[key]}`).join(', ')}`
      : '; unchanged during the run')
  )
}
