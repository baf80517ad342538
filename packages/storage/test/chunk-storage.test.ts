// What the chunk store promises beyond the conformance kit: the file layout and index rows of the
// parity spec, no orphan files, the startup sweep, the store lock, OS errors carried to the engine,
// cache limits that never lose data, and pins that survive restarts.

import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { setTestHooks } from '../src/chunk-storage.ts'
import { expectStorageError } from '../src/conformance.ts'
import {
  ChunkStorage,
  type ChunkStorageOptions,
  StorageError,
  type StorageWarning,
  type TorrentStorage,
} from '../src/index.ts'
import { pieceData, simpleGeometry } from '../src/seeded-data.ts'

const run = promisify(execFile)
const uuidFile = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.enc$/
const KiB = 1_024
const MiB = 1_048_576

let directory: string
const stores: ChunkStorage[] = []

async function openStore(options: Partial<ChunkStorageOptions> = {}): Promise<ChunkStorage> {
  const storage = await ChunkStorage.open({ directory, ...options })
  stores.push(storage)
  return storage
}

async function writeAndVerify(torrent: TorrentStorage, pieces: number[], salt = 0): Promise<void> {
  await Promise.all(
    pieces.map(async (index) => {
      await torrent.writePiece(
        index,
        pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index), salt),
      )
      await torrent.markVerified(index)
    }),
  )
}

async function readsBack(torrent: TorrentStorage, pieces: number[], salt = 0): Promise<boolean> {
  for (const index of pieces) {
    const expected = pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index), salt)
    if (!(await torrent.readPiece(index)).equals(expected)) return false
  }
  return true
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index)
}

async function chunkFiles(): Promise<string[]> {
  return (await readdir(join(directory, 'chunks'))).sort()
}

function query<T>(sql: string, ...parameters: unknown[]): T[] {
  const database = new Database(join(directory, 'index.db'), { readonly: true })
  try {
    return database.prepare(sql).all(...parameters) as T[]
  } finally {
    database.close()
  }
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'chunktorrent-chunk-storage-'))
})

afterEach(async () => {
  for (const storage of stores.splice(0)) await storage.close()
  await rm(directory, { recursive: true, force: true })
})

describe('ChunkStorage files and index', () => {
  it('keeps one <uuid>.enc file per chunk, written in place under a stable id', async () => {
    const storage = await openStore()
    const torrent = await storage.openTorrent(simpleGeometry('1'.repeat(40), 256 * KiB, 2 * MiB + 512 * KiB))
    await writeAndVerify(torrent, range(10))
    const files = await chunkFiles()
    expect(files.length).toBe(3)
    for (const file of files) expect(file).toMatch(uuidFile)
    const sizes = await Promise.all(
      files.map(async (file) => (await stat(join(directory, 'chunks', file))).size),
    )
    expect(sizes.sort((a, b) => a - b)).toEqual([512 * KiB, MiB, MiB])
    const inodes = await Promise.all(
      files.map(async (file) => (await stat(join(directory, 'chunks', file))).ino),
    )
    await writeAndVerify(torrent, [5, 9], 1)
    expect(await chunkFiles()).toEqual(files)
    expect(
      await Promise.all(files.map(async (file) => (await stat(join(directory, 'chunks', file))).ino)),
    ).toEqual(inodes)
    expect(await readsBack(torrent, [5, 9], 1)).toBe(true)
    expect(await readsBack(torrent, [0, 1, 2, 3, 4, 6, 7, 8])).toBe(true)
    await storage.close()
    const rows = query<{ id: string; chunk_index: number; length: number }>(
      'SELECT id, chunk_index, length FROM chunks ORDER BY chunk_index',
    )
    expect(rows.map((row) => `${row.id}.enc`).sort()).toEqual(files)
    expect(rows.map((row) => [row.chunk_index, row.length])).toEqual([
      [0, MiB],
      [1, MiB],
      [2, 512 * KiB],
    ])
  })

  it('makes a mapping row only for a verified piece, and upserts it', async () => {
    const storage = await openStore({ chunkSize: 100_000 })
    const infoHash = '2'.repeat(40)
    const torrent = await storage.openTorrent({
      ...simpleGeometry(infoHash, 250_000, 600_000),
      releaseId: 'album-7',
    })
    await torrent.writePiece(1, pieceData(infoHash, 1, 250_000))
    await storage.close()
    expect(query('SELECT * FROM torrent_piece_mappings')).toEqual([])
    const reopened = await openStore({ chunkSize: 100_000 })
    const again = await reopened.openTorrent(simpleGeometry(infoHash, 250_000, 600_000))
    await again.markVerified(1)
    await writeAndVerify(again, [1], 1)
    await writeAndVerify(again, [1], 2)
    await reopened.close()
    const [torrentRow] = query<Record<string, unknown>>('SELECT * FROM torrents')
    expect(torrentRow).toMatchObject({
      info_hash: infoHash,
      release_id: 'album-7',
      torrent_name: 'simple',
      total_size_bytes: 600_000,
      piece_length: 250_000,
      num_pieces: 3,
      is_seeding: 0,
    })
    expect(String(torrentRow!.id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/)
    expect(new Date(String(torrentRow!.created_at)).toISOString()).toBe(torrentRow!.created_at)
    const mappings = query<Record<string, unknown>>('SELECT * FROM torrent_piece_mappings')
    expect(mappings.length).toBe(1)
    const chunkIds = query<{ id: string }>(
      'SELECT id FROM chunks WHERE chunk_index IN (2, 3, 4) ORDER BY chunk_index',
    )
    expect(mappings[0]).toMatchObject({
      torrent_id: torrentRow!.id,
      piece_index: 1,
      chunk_ids: JSON.stringify(chunkIds.map((row) => row.id)),
      start_byte_in_first_chunk: 50_000,
      end_byte_in_last_chunk: 100_000,
    })
  })

  it('verifies a piece a read holds once the read is done, and a re-write waits for a verification', async () => {
    const storage = await openStore()
    const infoHash = '4'.repeat(40)
    const torrent = await storage.openTorrent(simpleGeometry(infoHash, 16 * KiB, 40 * KiB))
    const first = pieceData(infoHash, 0, 16 * KiB)
    await torrent.writePiece(0, first)
    // A read of the unverified bytes holds the piece: the verification queues behind it.
    const reading = torrent.readUnverifiedPiece!(0)
    const verifying = torrent.markVerified(0)
    expect((await reading)?.equals(first)).toBe(true)
    await verifying
    expect(await torrent.verifiedPieces()).toEqual([0])
    // A verification holds the piece until its commit: a re-write queued behind it un-verifies
    // the piece only after the mapping row exists, never leaving a mapping over other bytes.
    await torrent.writePiece(1, pieceData(infoHash, 1, 16 * KiB))
    const verifyingOne = torrent.markVerified(1)
    const rewriting = torrent.writePiece(1, pieceData(infoHash, 1, 16 * KiB, 9))
    await verifyingOne
    await rewriting
    expect(await torrent.verifiedPieces()).toEqual([0])
    await expect(torrent.markVerified(2)).rejects.toMatchObject({ code: 'ERR_PIECE_NOT_WRITTEN' })
    await torrent.markVerified(0) // already verified: at once
    await storage.close()
    expect(query('SELECT piece_index FROM torrent_piece_mappings')).toEqual([{ piece_index: 0 }])
  })

  it('marks a torrent seeding once every piece is verified', async () => {
    const storage = await openStore()
    const torrent = await storage.openTorrent(simpleGeometry('3'.repeat(40), 16 * KiB, 40 * KiB))
    await writeAndVerify(torrent, [0, 1, 2])
    expect((await storage.listTorrents())[0]).toMatchObject({ complete: true, verifiedCount: 3, open: true })
    await torrent.clearPiece(1)
    await storage.close()
    expect(query('SELECT is_seeding FROM torrents')).toEqual([{ is_seeding: 0 }])
  })

  it('leaves no chunk file behind after clears and deletes, and keeps chunk ids stable', async () => {
    const storage = await openStore({ chunkSize: 64 * KiB })
    const torrent = await storage.openTorrent(simpleGeometry('4'.repeat(40), 16 * KiB, 128 * KiB))
    await writeAndVerify(torrent, range(8))
    const before = await chunkFiles()
    expect(before.length).toBe(2)
    await torrent.clearPiece(0)
    await torrent.clearPiece(1)
    await torrent.writePiece(2, pieceData(torrent.infoHash, 2, 16 * KiB))
    await torrent.clearPiece(2)
    expect((await chunkFiles()).length).toBe(2)
    await torrent.clearPiece(3)
    expect((await chunkFiles()).length).toBe(1)
    expect(storage.stats()).toMatchObject({ chunkCount: 1, bytesOnDisk: 64 * KiB })
    await writeAndVerify(torrent, [1])
    expect(await chunkFiles()).toEqual(before)
    // Two deletes at once: one deletion, counted once.
    await Promise.all([storage.deleteTorrent(torrent.infoHash), storage.deleteTorrent(torrent.infoHash)])
    expect(await chunkFiles()).toEqual([])
    expect(storage.stats()).toMatchObject({ chunkCount: 0, bytesOnDisk: 0, torrentCount: 0 })
    await storage.close()
    for (const table of [
      'torrents',
      'torrent_piece_mappings',
      'torrent_layouts',
      'chunks',
      'chunk_pins',
      'written_pieces',
    ]) {
      expect(query(`SELECT * FROM ${table}`), table).toEqual([])
    }
  })

  it('keeps the chunk size a torrent was stored with when the store default changes', async () => {
    const storage = await openStore({ chunkSize: 100_000 })
    const geometry = simpleGeometry('5'.repeat(40), 30_000, 250_000)
    await writeAndVerify(await storage.openTorrent(geometry), range(9))
    await storage.close()
    const reopened = await openStore({ chunkSize: MiB })
    const torrent = await reopened.openTorrent(geometry)
    expect(torrent.geometry.chunkSize).toBe(100_000)
    expect(await readsBack(torrent, range(9))).toBe(true)
    expect((await reopened.listTorrents())[0]?.chunkSize).toBe(100_000)
  })
})

async function openFilesUnder(path: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  )
  return targets.filter((target) => target.startsWith(path))
}

describe('ChunkStorage lifecycle', () => {
  it('releases every file when closed, even with background syncs of full chunks pending', async () => {
    for (const openFileLimit of [2, 64]) {
      const storage = await openStore({ chunkSize: 16 * KiB, openFileLimit })
      const torrent = await storage.openTorrent(simpleGeometry('f'.repeat(40), 16 * KiB, 16 * KiB * 64))
      await Promise.all(
        range(64).map((index) => torrent.writePiece(index, pieceData(torrent.infoHash, index, 16 * KiB))),
      )
      expect((await openFilesUnder(join(directory, 'chunks'))).length).toBeGreaterThan(0)
      await storage.close()
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(await openFilesUnder(directory)).toEqual([])
      await rm(directory, { recursive: true, force: true })
      directory = await mkdtemp(join(tmpdir(), 'chunktorrent-chunk-storage-'))
    }
  })

  it('bounds its open descriptors while the writes outrun the syncs, losing no byte', async () => {
    // A write that would dirty one more chunk file waits while 16 descriptors are open. The first
    // piece of each of 192 chunks (a quarter: no chunk is full, none is synced for being full) and
    // no verification yet, so only the file cache's sync-then-close, two at a time (openFileLimit),
    // makes files clean, while 16 writes at a time dirty new ones.
    const storage = await openStore({ chunkSize: 64 * KiB, openFileLimit: 2, descriptorBudget: 16 })
    const torrent = await storage.openTorrent(simpleGeometry('e'.repeat(40), 16 * KiB, 64 * KiB * 192))
    const writeAll = async (pieces: number[], writers: number) => {
      let next = 0
      await Promise.all(
        range(writers).map(async () => {
          while (next < pieces.length) {
            const index = pieces[next++]!
            await torrent.writePiece(index, pieceData(torrent.infoHash, index, 16 * KiB))
            peakSeen = Math.max(peakSeen, (await openFilesUnder(join(directory, 'chunks'))).length)
          }
        }),
      )
    }
    let peakSeen = 0
    const firsts = range(192).map((chunk) => chunk * 4)
    await writeAll(firsts, 16)
    const files = storage.stats().files!
    expect(files.writesThrottled).toBeGreaterThan(0)
    // The syncs go on, so every wait ends with a close that makes room, never at the 2 s timeout
    // (a trim that closes clean files at once, before the write registers its wait, must not
    // leave it waiting for a wake that came already).
    expect(files.throttleTimeouts).toBe(0)
    // Without the budget: 145 at once. /proc may also show the chunks directory, open for its fsync.
    expect(files.peakOpenFiles).toBeLessThanOrEqual(16)
    expect(peakSeen).toBeLessThanOrEqual(16 + 1)
    await writeAll(
      range(768).filter((index) => index % 4 !== 0),
      16,
    )
    await Promise.all(range(768).map((index) => torrent.markVerified(index)))
    expect(await readsBack(torrent, range(768))).toBe(true)
    // Syncs never wait at the budget (they are what closes files): a commit's sync of a file no
    // longer cached opens it, one per sync slot (libuv's threads but one) at most.
    const syncSlots = Math.max(1, (Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1)
    expect(storage.stats().files!.peakOpenFiles).toBeLessThanOrEqual(16 + syncSlots)
  })

  it('lets a write at the descriptor budget through at once when a trim can close a file a commit made clean', async () => {
    // Two dirty files fill the budget of 2. A commit syncs one of them, which leaves it clean but
    // cached (the sync's release, and its trim, come before the file counts as synced). A write to
    // a third chunk finds the budget full and trims, which closes that clean file on the spot: the
    // write must see the room at once, not wait 2 s for a wake that came before it waited.
    const storage = await openStore({ chunkSize: 64 * KiB, openFileLimit: 1, descriptorBudget: 2 })
    const torrent = await storage.openTorrent(simpleGeometry('f'.repeat(40), 16 * KiB, 64 * KiB * 3))
    await Promise.all(
      [0, 4].map((index) => torrent.writePiece(index, pieceData(torrent.infoHash, index, 16 * KiB))),
    )
    await torrent.markVerified(0)
    expect(storage.stats().files).toMatchObject({ openFiles: 2, writesThrottled: 0 })
    await torrent.writePiece(8, pieceData(torrent.infoHash, 8, 16 * KiB))
    const files = storage.stats().files!
    expect(files.writesThrottled).toBe(1)
    // It found the room after its own trim: no wait at all (a missed wake waits out the 2 s).
    expect(files.throttledMs).toBeLessThan(1_000)
    await Promise.all([4, 8].map((index) => torrent.markVerified(index)))
    expect(await readsBack(torrent, [0, 4, 8])).toBe(true)
  })

  it('goes on writing past the descriptor budget when no sync completes for 2 s, then syncs all', async () => {
    // Every datasync stalls: nothing can close a dirty file, so the writes past the budget of 2
    // would wait forever; each gives up after 2 s instead, and nothing is lost once syncs run.
    const storage = await openStore({ chunkSize: 64 * KiB, openFileLimit: 1, descriptorBudget: 2 })
    let openGate = () => {}
    const gate = new Promise<void>((resolve) => {
      openGate = resolve
    })
    setTestHooks(storage, { 'before-datasync': () => gate })
    const torrent = await storage.openTorrent(simpleGeometry('d'.repeat(40), 16 * KiB, 64 * KiB * 6))
    const firsts = range(6).map((chunk) => chunk * 4)
    await Promise.all(
      firsts.map((index) => torrent.writePiece(index, pieceData(torrent.infoHash, index, 16 * KiB))),
    )
    const files = storage.stats().files!
    expect(files.writesThrottled).toBe(4)
    expect(files.throttleTimeouts).toBe(4)
    expect(files.throttledMs).toBeGreaterThanOrEqual(4 * 1_900)
    const verifying = Promise.all(firsts.map((index) => torrent.markVerified(index)))
    openGate()
    await verifying
    expect(await readsBack(torrent, firsts)).toBe(true)
  })

  it('takes a quarter of the process open-file limit as its descriptor budget, and checks the option', async () => {
    const limits = await readFile('/proc/self/limits', 'utf8')
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)![1])
    const storage = await openStore({ openFileLimit: 8 })
    expect(storage.stats().files).toMatchObject({ descriptorBudget: Math.max(32, Math.floor(soft / 4)) })
    await storage.close()
    for (const descriptorBudget of [0, 1.5, 15, '64']) {
      const error = await ChunkStorage.open({ directory, openFileLimit: 8, descriptorBudget } as never).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
    }
    const explicit = await openStore({ openFileLimit: 8, descriptorBudget: 16 })
    expect(explicit.stats().files).toMatchObject({ descriptorBudget: 16, openFiles: 0, writesThrottled: 0 })
  })

  it("releases a torrent's files when its handle closes", async () => {
    const storage = await openStore({ chunkSize: 16 * KiB })
    const torrent = await storage.openTorrent(simpleGeometry('f'.repeat(40), 16 * KiB, 16 * KiB * 8))
    await writeAndVerify(torrent, range(8))
    await torrent.close()
    expect(await openFilesUnder(join(directory, 'chunks'))).toEqual([])
  })
})

describe('ChunkStorage recovery', () => {
  it('sweeps orphan files and forgets the pieces of chunk files that vanished', async () => {
    const storage = await openStore({ chunkSize: 64 * KiB })
    const geometry = simpleGeometry('6'.repeat(40), 16 * KiB, 192 * KiB)
    const torrent = await storage.openTorrent(geometry)
    await writeAndVerify(torrent, range(12))
    await torrent.writePiece(11, pieceData(geometry.infoHash, 11, 16 * KiB, 5))
    await storage.close()
    const [middle] = query<{ id: string }>('SELECT id FROM chunks WHERE chunk_index = 1')
    await unlink(join(directory, 'chunks', `${middle!.id}.enc`))
    const orphan = '0f0f0f0f-0000-4000-8000-000000000000.enc'
    await writeFile(join(directory, 'chunks', orphan), 'left by a crash')
    await writeFile(join(directory, 'chunks', 'notes.txt'), 'not ours')
    const reopened = await openStore({ chunkSize: 64 * KiB })
    expect(reopened.recovery).toEqual({ orphanFilesRemoved: 1, missingChunks: 1, piecesForgotten: 4 })
    const files = await chunkFiles()
    expect(files).not.toContain(orphan)
    expect(files).toContain('notes.txt')
    const again = await reopened.openTorrent(geometry)
    expect(await again.verifiedPieces()).toEqual([0, 1, 2, 3, 8, 9, 10])
    expect(await again.readUnverifiedPiece!(11)).toEqual(pieceData(geometry.infoHash, 11, 16 * KiB, 5))
    expect(await readsBack(again, [0, 1, 2, 3, 8, 9, 10])).toBe(true)
    await writeAndVerify(again, [4, 5, 6, 7])
    expect(await readsBack(again, [4, 5, 6, 7])).toBe(true)
    await reopened.close()
    const third = await openStore({ chunkSize: 64 * KiB })
    expect(third.recovery).toEqual({ orphanFilesRemoved: 0, missingChunks: 0, piecesForgotten: 0 })
  })

  it('reports a chunk file that vanished while open as a miss and forgets its pieces', async () => {
    const storage = await openStore({ chunkSize: 32 * KiB, openFileLimit: 1 })
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    const torrent = await storage.openTorrent(simpleGeometry('7'.repeat(40), 16 * KiB, 96 * KiB))
    await writeAndVerify(torrent, range(6))
    await storage.close()
    const [first] = query<{ id: string }>('SELECT id FROM chunks WHERE chunk_index = 0')
    const reopened = await openStore({ chunkSize: 32 * KiB, openFileLimit: 1 })
    reopened.on('warning', (warning) => warnings.push(warning))
    const again = await reopened.openTorrent(simpleGeometry('7'.repeat(40), 16 * KiB, 96 * KiB))
    await unlink(join(directory, 'chunks', `${first!.id}.enc`))
    const misses = reopened.stats().cacheMisses
    await expectStorageError(again.readPiece(1), 'ERR_CHUNK_MISSING', `Chunk ${first!.id} not in cache`)
    expect(reopened.stats().cacheMisses).toBe(misses + 1)
    expect(warnings).toMatchObject([{ code: 'ERR_CHUNK_LOST', chunkId: first!.id, pieces: [0, 1] }])
    expect(await again.verifiedPieces()).toEqual([2, 3, 4, 5])
    await expectStorageError(again.readPiece(0), 'ERR_PIECE_NOT_FOUND')
    expect(reopened.stats().chunkCount).toBe(2)
    await writeAndVerify(again, [0, 1], 3)
    expect(await readsBack(again, [0, 1], 3)).toBe(true)
    expect(await readsBack(again, [2, 3, 4, 5])).toBe(true)
  })
})

describe('ChunkStorage lock', () => {
  it('refuses a second opener in this process with ERR_STORE_LOCKED, then lets it in', async () => {
    const storage = await openStore()
    const error = await ChunkStorage.open({ directory }).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(StorageError.isInstance(error)).toBe(true)
    expect(error).toMatchObject({ code: 'ERR_STORE_LOCKED' })
    await storage.close()
    await (await openStore()).close()
  })

  it('refuses another process with ERR_STORE_LOCKED while the store is open', async () => {
    const fixture = join(import.meta.dirname, 'fixtures', 'open-store.ts')
    const storage = await openStore()
    const locked = await run(process.execPath, [fixture, directory])
    expect(JSON.parse(locked.stdout)).toEqual({ opened: false, code: 'ERR_STORE_LOCKED' })
    await storage.close()
    const free = await run(process.execPath, [fixture, directory])
    expect(JSON.parse(free.stdout)).toEqual({ opened: true })
  })
})

describe('ChunkStorage errors from the operating system', () => {
  it('rejects a failed write as ERR_STORAGE_IO with the errno, and leaves no mapping', async () => {
    const geometry = simpleGeometry('8'.repeat(40), 16 * KiB, 64 * KiB)
    const storage = await openStore({ chunkSize: 32 * KiB })
    await writeAndVerify(await storage.openTorrent(geometry), range(4))
    await storage.close()
    const [first] = query<{ id: string }>('SELECT id FROM chunks WHERE chunk_index = 0')
    const path = join(directory, 'chunks', `${first!.id}.enc`)
    await unlink(path)
    await symlink('/dev/full', path)
    const reopened = await openStore({ chunkSize: 32 * KiB })
    const torrent = await reopened.openTorrent(geometry)
    const error = await torrent.writePiece(0, pieceData(geometry.infoHash, 0, 16 * KiB, 1)).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(StorageError.isInstance(error)).toBe(true)
    expect(error).toMatchObject({ code: 'ERR_STORAGE_IO', syscallCode: 'ENOSPC', cause: { code: 'ENOSPC' } })
    expect(await torrent.verifiedPieces()).toEqual([1, 2, 3])
    await expectStorageError(torrent.markVerified(0), 'ERR_PIECE_NOT_WRITTEN')
    await expectStorageError(torrent.readPiece(0), 'ERR_PIECE_NOT_FOUND')
    await reopened.close()
    expect(query('SELECT piece_index FROM torrent_piece_mappings ORDER BY piece_index')).toEqual([
      { piece_index: 1 },
      { piece_index: 2 },
      { piece_index: 3 },
    ])
  })

  it('rejects a bad directory as an argument error and a file in its place as ERR_STORAGE_IO', async () => {
    await expect(ChunkStorage.open({ directory: '' })).rejects.toThrow(TypeError)
    await expect(ChunkStorage.open({ directory, chunkSize: 0 })).rejects.toThrow(RangeError)
    await writeFile(join(directory, 'blocked'), 'a file, not a directory')
    const error = await ChunkStorage.open({ directory: join(directory, 'blocked') }).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    expect(error).toMatchObject({ code: 'ERR_STORAGE_IO' })
    expect(['EEXIST', 'ENOTDIR']).toContain((error as StorageError).syscallCode)
  })
})

describe('ChunkStorage cache accounting', () => {
  it('warns once over the limit, never evicts the only copy, never loops', async () => {
    const storage = await openStore({ chunkSize: 16 * KiB, cacheLimitChunks: 3, cacheLimitBytes: 10 * MiB })
    const warnings: StorageWarning[] = []
    storage.on('warning', (warning) => warnings.push(warning))
    const geometry = simpleGeometry('9'.repeat(40), 16 * KiB, 16 * KiB * 8)
    const torrent = await storage.openTorrent(geometry)
    await writeAndVerify(torrent, range(2))
    expect(storage.stats().overLimit).toBe(false)
    await writeAndVerify(torrent, range(8))
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).toMatchObject([{ code: 'ERR_CACHE_OVER_LIMIT', cacheLimitChunks: 3 }])
    expect(storage.stats()).toMatchObject({ overLimit: true, chunkCount: 8, pinnedBytes: 8 * 16 * KiB })
    await torrent.close()
    await new Promise((resolve) => setImmediate(resolve))
    expect(storage.stats()).toMatchObject({ overLimit: true, chunkCount: 8, pinnedBytes: 0 })
    expect(warnings.length).toBe(1)
    const again = await storage.openTorrent(geometry)
    expect(await readsBack(again, range(8))).toBe(true)
    for (const index of range(6)) await again.clearPiece(index)
    expect(storage.stats()).toMatchObject({ overLimit: false, chunkCount: 2 })
  })

  it('persists pins per torrent across restarts until the torrent releases them', async () => {
    const storage = await openStore({ chunkSize: 32 * KiB })
    const pinned = simpleGeometry('c'.repeat(40), 16 * KiB, 64 * KiB)
    const released = simpleGeometry('d'.repeat(40), 16 * KiB, 64 * KiB)
    await writeAndVerify(await storage.openTorrent(pinned), range(4))
    const other = await storage.openTorrent(released)
    await writeAndVerify(other, range(4))
    await other.close()
    expect(storage.stats()).toMatchObject({ pinnedBytes: 64 * KiB, bytesOnDisk: 128 * KiB })
    await storage.close()
    expect(query('SELECT COUNT(*) AS pins FROM chunk_pins')).toEqual([{ pins: 2 }])
    const reopened = await openStore({ chunkSize: 32 * KiB })
    expect(reopened.stats()).toMatchObject({ pinnedBytes: 64 * KiB, openTorrentCount: 0 })
    const torrent = await reopened.openTorrent(pinned)
    await torrent.close()
    expect(reopened.stats().pinnedBytes).toBe(0)
  })

  it('counts hits, bytes and writes', async () => {
    const storage = await openStore({ chunkSize: 32 * KiB })
    const torrent = await storage.openTorrent(simpleGeometry('e'.repeat(40), 48 * KiB, 96 * KiB))
    await writeAndVerify(torrent, [0, 1])
    await torrent.readPiece(0)
    await torrent.readPiece(1, 10, 10)
    expect(storage.stats()).toMatchObject({
      chunksWritten: 4,
      piecesWritten: 2,
      piecesVerified: 2,
      bytesWritten: 96 * KiB,
      bytesRead: 48 * KiB + 10,
      cacheHits: 3,
      cacheMisses: 0,
      chunkCount: 3,
      torrentCount: 1,
      openTorrentCount: 1,
    })
  })
})
