// Crash safety: a child process runs a seeded workload and dies by SIGKILL at a named point inside
// an operation (between unmapping and overwriting, between the chunk spans of one piece's write,
// after a piece write, between fsync and commit,
// between deleting rows and unlinking files, between un-localising a chunk and unlinking it) or
// mid-flight. After each crash the store must reopen with every verified piece readable and equal
// to bytes that were written for it, every other piece absent, and no orphan or missing files.

import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { ChunkStorage } from '../src/index.ts'
import { pieceData } from '../src/seeded-data.ts'
import { crashChunkSize, crashGeometry, type PlanKind, plannedSalts } from './fixtures/crash-plan.ts'

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts')

function runChild(
  directory: string,
  point: string,
  count: number,
  seed: number,
  kind: PlanKind,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [child, directory, point, String(count), String(seed), kind],
      (error, _stdout, stderr) => {
        if (error === null) resolve('completed')
        else if (error.signal === 'SIGKILL') resolve('killed')
        else reject(new Error(`child failed: ${stderr}`))
      },
    )
  })
}

async function checkSurvivors(
  directory: string,
  seed: number,
  kind: PlanKind,
): Promise<{ verified: number }> {
  const salts = plannedSalts(seed, kind)
  const storage = await ChunkStorage.open({ directory, chunkSize: crashChunkSize })
  const torrent = await storage.openTorrent(crashGeometry)
  const verified = await torrent.verifiedPieces()
  for (const piece of verified) {
    const bytes = await torrent.readPiece(piece)
    const candidates = [...(salts.get(piece) ?? [])]
    const matches = candidates.some((salt) =>
      bytes.equals(pieceData(torrent.infoHash, piece, torrent.geometry.pieceSize(piece), salt)),
    )
    expect(matches, `verified piece ${piece} holds bytes written for it`).toBe(true)
  }
  for (let piece = 0; piece < torrent.geometry.pieceCount; piece++) {
    if (verified.includes(piece)) continue
    await expect(torrent.readPiece(piece)).rejects.toMatchObject({ code: 'ERR_PIECE_NOT_FOUND' })
  }
  await storage.close()
  const database = new Database(join(directory, 'index.db'), { readonly: true })
  const local = (database.prepare('SELECT id FROM chunks WHERE is_local = 1').all() as Array<{ id: string }>)
    .map((row) => `${row.id}.enc`)
    .sort()
  const mapped = database.prepare('SELECT chunk_ids FROM torrent_piece_mappings').all() as Array<{
    chunk_ids: string
  }>
  database.close()
  expect((await readdir(join(directory, 'chunks'))).sort()).toEqual(local)
  for (const { chunk_ids } of mapped) {
    for (const id of JSON.parse(chunk_ids) as string[]) expect(local).toContain(`${id}.enc`)
  }
  const again = await ChunkStorage.open({ directory, chunkSize: crashChunkSize })
  expect(again.recovery).toEqual({ orphanFilesRemoved: 0, missingChunks: 0, piecesForgotten: 0 })
  const usable = await again.openTorrent(crashGeometry)
  const data = pieceData(usable.infoHash, 0, usable.geometry.pieceSize(0), 999)
  await usable.writePiece(0, data)
  await usable.markVerified(0)
  expect((await usable.readPiece(0)).equals(data)).toBe(true)
  await again.close()
  return { verified: verified.length }
}

// [plan, crash point, arrivals at the point to crash on]. In the rewrite plan the first 48 pieces
// take about 78 span writes; later crashes land inside re-writes of verified pieces.
const scenarios: Array<[PlanKind, string, number[]]> = [
  ['mixed', 'after-unmap-before-overwrite', [1, 3, 8]],
  ['mixed', 'after-span-write', [5, 60, 200, 333]],
  ['rewrite', 'after-span-write', [81, 84, 90, 97, 110, 125]],
  ['rewrite', 'after-unmap-before-overwrite', [2, 7]],
  ['mixed', 'after-chunk-write', [1, 40, 150]],
  ['mixed', 'after-sync-before-commit', [1, 9, 30]],
  ['rewrite', 'after-sync-before-commit', [8, 12]],
  ['mixed', 'after-delete-before-unlink', [1, 2]],
  ['mixed', 'after-unlocal-before-unlink', [1, 4]],
  ['mixed', 'signal', [2, 12, 25, 36]],
  ['rewrite', 'signal', [8, 14, 20]],
]

describe('ChunkStorage after a crash', () => {
  for (const [kind, point, counts] of scenarios) {
    describe(`SIGKILL at ${point} (${kind} plan)`, () => {
      const outcomes: string[] = []
      for (const [position, count] of counts.entries()) {
        it(`reopens consistent after the crash at arrival ${count}`, async () => {
          const directory = await mkdtemp(join(tmpdir(), 'chunktorrent-crash-'))
          try {
            const seed = 1_000 + position
            outcomes.push(await runChild(directory, point, count, seed, kind))
            await checkSurvivors(directory, seed, kind)
          } finally {
            await rm(directory, { recursive: true, force: true })
          }
        })
      }
      it('had the child die at the crash point at least once', () => {
        expect(outcomes).toContain('killed')
      })
    })
  }
})
