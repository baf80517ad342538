// The conformance kit (`@chunktorrent/storage/conformance`): the behaviour every Storage backend
// owes the engine, as vitest suites any backend registers with one call. The built-in backends run
// it in CI; a custom backend runs it in its own tests. Randomness is seeded, so failures replay.

import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StorageError } from './errors.ts'
import { pieceData, randomGeometry, randomInfoHash, seededRandom, simpleGeometry } from './seeded-data.ts'
import { hasCapability, type Storage, type TorrentStorage } from './storage.ts'

export { pieceData, randomGeometry, randomInfoHash, seededRandom, simpleGeometry }

/** Creates a storage in `directory` (an empty temporary directory, or one used before for a reopen). */
export type StorageFactory = (directory: string) => Promise<Storage>

export interface ConformanceOptions {
  /** The backend keeps torrents across close and reopen on the same directory: runs the reopen tests. */
  durable?: boolean
  /** Seed of every random choice; default 0x5eed. */
  seed?: number
  /** How many random geometries the round-trip test writes; default 8. */
  geometries?: number
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  return undefined
}

/** Asserts that `promise` rejects with a StorageError of `code` (and, if given, a matching message). */
export async function expectStorageError(
  promise: Promise<unknown>,
  code: string,
  message?: string | RegExp,
): Promise<void> {
  const error = await caught(promise)
  expect(error, `expected a rejection with ${code}`).toBeDefined()
  expect(StorageError.isInstance(error), `expected a StorageError with ${code}, got ${String(error)}`).toBe(
    true,
  )
  expect((error as StorageError).code).toBe(code)
  if (typeof message === 'string') expect((error as StorageError).message).toBe(message)
  else if (message !== undefined) expect((error as StorageError).message).toMatch(message)
}

async function expectArgumentError(promise: Promise<unknown>, kind: typeof TypeError | typeof RangeError) {
  const error = await caught(promise)
  expect(error, `expected a ${kind.name}`).toBeInstanceOf(kind)
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

async function expectPieces(torrent: TorrentStorage, pieces: number[], salt = 0): Promise<void> {
  for (const index of pieces) {
    const expected = pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index), salt)
    const actual = await torrent.readPiece(index)
    expect(actual.equals(expected), `piece ${index} of ${torrent.infoHash} reads back its bytes`).toBe(true)
  }
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index)
}

function shuffled<T>(items: T[], integer: (below: number) => number): T[] {
  const copy = [...items]
  for (let position = copy.length - 1; position > 0; position--) {
    const other = integer(position + 1)
    ;[copy[position], copy[other]] = [copy[other]!, copy[position]!]
  }
  return copy
}

/**
 * Registers the conformance suites for a backend: `describeStorageConformance('my backend',
 * (directory) => MyStorage.open(directory), { durable: true })` inside a vitest test file.
 */
export function describeStorageConformance(
  name: string,
  factory: StorageFactory,
  options: ConformanceOptions = {},
): void {
  const seed = options.seed ?? 0x5eed
  const geometryCount = options.geometries ?? 8

  describe(`${name}: storage conformance`, () => {
    let directory = ''
    let storage: Storage
    let integer: (below: number) => number

    const reopen = async (): Promise<Storage> => {
      await storage.close()
      storage = await factory(directory)
      return storage
    }

    beforeEach(async (context) => {
      directory = await mkdtemp(join(tmpdir(), 'chunktorrent-conformance-'))
      storage = await factory(directory)
      let hash = seed
      for (const character of context.task.name) hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193)
      integer = seededRandom(hash).integer
    })

    afterEach(async () => {
      await storage.close()
      await rm(directory, { recursive: true, force: true })
    })

    it('has a kind and a stats snapshot', async () => {
      expect(typeof storage.kind).toBe('string')
      expect(storage.kind.length).toBeGreaterThan(0)
      const stats = storage.stats()
      for (const field of [
        'chunksWritten',
        'bytesOnDisk',
        'chunkCount',
        'cacheHits',
        'cacheMisses',
        'pinnedBytes',
        'cacheLimitBytes',
      ] as const) {
        expect(typeof stats[field], field).toBe('number')
      }
      expect(typeof stats.overLimit).toBe('boolean')
      expect(await storage.listTorrents()).toEqual([])
    })

    it('round-trips torrents of random geometry', async () => {
      for (let round = 0; round < geometryCount; round++) {
        const torrent = await storage.openTorrent(randomGeometry(integer, `round-${round}`))
        const { pieceCount } = torrent.geometry
        const order = shuffled(range(pieceCount), integer)
        for (let start = 0; start < order.length; start += 8)
          await writeAndVerify(torrent, order.slice(start, start + 8))
        expect(await torrent.verifiedPieces()).toEqual(range(pieceCount))
        await expectPieces(torrent, range(pieceCount))
        const listed = (await storage.listTorrents()).find((entry) => entry.infoHash === torrent.infoHash)
        expect(listed).toMatchObject({
          pieceCount,
          verifiedCount: pieceCount,
          totalSize: torrent.geometry.totalSize,
          pieceLength: torrent.geometry.pieceLength,
        })
        expect(listed?.files.length).toBe(torrent.geometry.files.length)
      }
    })

    it('reads partial ranges by the parity rules', async () => {
      const torrent = await storage.openTorrent(
        simpleGeometry(randomInfoHash(integer), 65_536, 65_536 * 3 + 1234),
      )
      await writeAndVerify(torrent, [0, 1, 2, 3])
      for (const index of [0, 3]) {
        const size = torrent.geometry.pieceSize(index)
        const whole = pieceData(torrent.infoHash, index, size)
        for (let attempt = 0; attempt < 20; attempt++) {
          const offset = integer(size + 1)
          const length = integer(size + 10) - 5
          const expected = whole.subarray(offset, length <= 0 ? size : Math.min(size, offset + length))
          expect(
            (await torrent.readPiece(index, offset, length)).equals(expected),
            `${offset}+${length}`,
          ).toBe(true)
        }
        expect((await torrent.readPiece(index, 0)).equals(whole)).toBe(true)
        expect((await torrent.readPiece(index, 10, 0)).equals(whole.subarray(10))).toBe(true)
        expect((await torrent.readPiece(index, 10, -1)).equals(whole.subarray(10))).toBe(true)
        expect((await torrent.readPiece(index, size - 3, 100)).equals(whole.subarray(size - 3))).toBe(true)
        expect((await torrent.readPiece(index, size, 10)).length).toBe(0)
        await expectStorageError(
          torrent.readPiece(index, size + 1),
          'ERR_OFFSET_OUT_OF_RANGE',
          `Offset ${size + 1} exceeds piece size ${size}`,
        )
        await expectArgumentError(torrent.readPiece(index, -1), RangeError)
        await expectArgumentError(torrent.readPiece(index, 1.5), TypeError)
      }
    })

    it('reads into caller memory when it offers readPieceInto', async () => {
      for (let round = 0; round < 3; round++)
        await readIntoRound(await storage.openTorrent(randomGeometry(integer, 'into')))
    })

    async function readIntoRound(torrent: TorrentStorage): Promise<void> {
      if (!hasCapability(torrent, 'readPieceInto')) return
      const { pieceCount } = torrent.geometry
      const pieces = [0, pieceCount - 1, integer(pieceCount)]
      await writeAndVerify(torrent, [...new Set(pieces)])
      for (const index of pieces) {
        const size = torrent.geometry.pieceSize(index)
        const whole = pieceData(torrent.infoHash, index, size)
        for (let attempt = 0; attempt < 12; attempt++) {
          const offset = integer(size + 1)
          const target = Buffer.alloc(integer(size + 20), 0xee)
          const count = Math.min(target.length, size - offset)
          expect(await torrent.readPieceInto(index, target, offset), `${offset}+${target.length}`).toBe(count)
          expect(target.subarray(0, count).equals(whole.subarray(offset, offset + count))).toBe(true)
          expect(target.subarray(count).every((byte) => byte === 0xee)).toBe(true)
        }
        // A view into a larger buffer is filled in place, not beside it.
        const backing = new Uint8Array(size + 8).fill(1)
        expect(await torrent.readPieceInto(index, backing.subarray(4, 4 + size))).toBe(size)
        expect(Buffer.from(backing.subarray(4, 4 + size)).equals(whole)).toBe(true)
        expect([...backing.subarray(0, 4), ...backing.subarray(4 + size)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1])
        expect(await torrent.readPieceInto(index, Buffer.alloc(4), size)).toBe(0)
        await expectStorageError(
          torrent.readPieceInto(index, Buffer.alloc(4), size + 1),
          'ERR_OFFSET_OUT_OF_RANGE',
          `Offset ${size + 1} exceeds piece size ${size}`,
        )
        await expectArgumentError(torrent.readPieceInto(index, Buffer.alloc(4), -1), RangeError)
        await expectArgumentError(torrent.readPieceInto(index, 'bytes' as unknown as Uint8Array), TypeError)
      }
      const unverified = [...Array(pieceCount).keys()].find((index) => !pieces.includes(index))
      if (unverified !== undefined) {
        await expectStorageError(torrent.readPieceInto(unverified, Buffer.alloc(1)), 'ERR_PIECE_NOT_FOUND')
      }
      await expectStorageError(
        torrent.readPieceInto(pieceCount, Buffer.alloc(1)),
        'ERR_PIECE_INDEX_OUT_OF_RANGE',
      )
    }

    it('keeps written pieces unreadable until verified', async () => {
      const torrent = await storage.openTorrent(simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 5))
      const data = pieceData(torrent.infoHash, 2, 16_384)
      await torrent.writePiece(2, data)
      await expectStorageError(
        torrent.readPiece(2),
        'ERR_PIECE_NOT_FOUND',
        'Piece mapping not found for piece 2',
      )
      await expectStorageError(
        torrent.readPiece(3),
        'ERR_PIECE_NOT_FOUND',
        'Piece mapping not found for piece 3',
      )
      expect(await torrent.verifiedPieces()).toEqual([])
      await expectStorageError(torrent.markVerified(3), 'ERR_PIECE_NOT_WRITTEN')
      if (hasCapability(torrent, 'readUnverifiedPiece')) {
        expect((await torrent.readUnverifiedPiece(2))?.equals(data)).toBe(true)
        expect(await torrent.readUnverifiedPiece(3)).toBeNull()
      }
      await torrent.markVerified(2)
      await torrent.markVerified(2)
      expect(await torrent.verifiedPieces()).toEqual([2])
      expect((await torrent.readPiece(2)).equals(data)).toBe(true)
    })

    it('clears pieces, verified or not, leaving their neighbours intact', async () => {
      const torrent = await storage.openTorrent(
        simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 8 + 5),
      )
      const all = range(torrent.geometry.pieceCount)
      await writeAndVerify(torrent, all)
      await torrent.writePiece(8, pieceData(torrent.infoHash, 8, torrent.geometry.pieceSize(8), 1))
      await torrent.clearPiece(3)
      await torrent.clearPiece(8)
      await torrent.clearPiece(3)
      expect(await torrent.verifiedPieces()).toEqual(all.filter((index) => index !== 3 && index !== 8))
      await expectStorageError(
        torrent.readPiece(3),
        'ERR_PIECE_NOT_FOUND',
        'Piece mapping not found for piece 3',
      )
      await expectStorageError(torrent.markVerified(3), 'ERR_PIECE_NOT_WRITTEN')
      if (hasCapability(torrent, 'readUnverifiedPiece')) {
        expect(await torrent.readUnverifiedPiece(3)).toBeNull()
        expect(await torrent.readUnverifiedPiece(8)).toBeNull()
      }
      await expectPieces(torrent, [0, 1, 2, 4, 5, 6, 7])
      await writeAndVerify(torrent, [3], 2)
      await expectPieces(torrent, [3], 2)
      for (const index of all) await torrent.clearPiece(index)
      expect(await torrent.verifiedPieces()).toEqual([])
      expect((await storage.listTorrents())[0]?.verifiedCount).toBe(0)
    })

    it('un-verifies a verified piece that is written again', async () => {
      const torrent = await storage.openTorrent(simpleGeometry(randomInfoHash(integer), 32_768, 32_768 * 4))
      await writeAndVerify(torrent, [0, 1, 2, 3])
      const replacement = pieceData(torrent.infoHash, 1, 32_768, 7)
      await torrent.writePiece(1, replacement)
      expect(await torrent.verifiedPieces()).toEqual([0, 2, 3])
      await expectStorageError(torrent.readPiece(1), 'ERR_PIECE_NOT_FOUND')
      await torrent.markVerified(1)
      expect((await torrent.readPiece(1)).equals(replacement)).toBe(true)
      await expectPieces(torrent, [0, 2, 3])
    })

    it('writes and verifies pieces that share chunks concurrently', async () => {
      for (const pieceLength of [16_384, 5_000, 49_999]) {
        const torrent = await storage.openTorrent(
          simpleGeometry(randomInfoHash(integer), pieceLength, pieceLength * 41 + integer(pieceLength)),
        )
        const all = range(torrent.geometry.pieceCount)
        await Promise.all(
          shuffled(all, integer).map((index) =>
            torrent.writePiece(index, pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index))),
          ),
        )
        await Promise.all(shuffled(all, integer).map((index) => torrent.markVerified(index)))
        await expectPieces(torrent, all)
        const rewrites = shuffled(all, integer).slice(0, 10)
        await Promise.all([
          writeAndVerify(torrent, rewrites, 3),
          ...all.filter((index) => !rewrites.includes(index)).map((index) => torrent.readPiece(index)),
        ])
        await expectPieces(torrent, rewrites, 3)
        expect(await torrent.verifiedPieces()).toEqual(all)
      }
    })

    it('opens a torrent idempotently and refuses a different layout', async () => {
      const geometry = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 3)
      const first = await storage.openTorrent(geometry)
      await writeAndVerify(first, [1])
      const second = await storage.openTorrent({ ...geometry })
      expect(await second.verifiedPieces()).toEqual([1])
      await expectStorageError(
        storage.openTorrent({ ...geometry, pieceLength: 32_768 }),
        'ERR_GEOMETRY_MISMATCH',
      )
      await expectStorageError(
        storage.openTorrent({
          ...geometry,
          totalSize: geometry.totalSize + 1,
          files: [{ path: 'x', length: geometry.totalSize + 1, offset: 0 }],
        }),
        'ERR_GEOMETRY_MISMATCH',
      )
      await first.close()
      await second.close()
      const third = await storage.openTorrent(geometry)
      expect(await third.verifiedPieces()).toEqual([1])
      await expectPieces(third, [1])
      await expectStorageError(
        storage.openTorrent({ ...geometry, pieceLength: 8_192 }),
        'ERR_GEOMETRY_MISMATCH',
      )
      expect(third.geometry).toMatchObject({ pieceCount: 3, lastPieceLength: 16_384, totalSize: 16_384 * 3 })
      expect(third.geometry.releaseId).toBe(geometry.infoHash)
    })

    it('holds several torrents independently', async () => {
      const torrents = await Promise.all(
        [0, 1, 2].map(() =>
          storage.openTorrent(simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 6 + 77)),
        ),
      )
      await Promise.all(torrents.map((torrent) => writeAndVerify(torrent, range(7))))
      for (const torrent of torrents) await expectPieces(torrent, range(7))
      const listed = await storage.listTorrents()
      expect(listed.map((entry) => entry.infoHash)).toEqual(
        torrents.map((torrent) => torrent.infoHash).sort(),
      )
      await storage.deleteTorrent(torrents[1]!.infoHash)
      await expectPieces(torrents[0]!, range(7))
      await expectPieces(torrents[2]!, range(7))
      expect((await storage.listTorrents()).length).toBe(2)
    })

    it('deletes torrents whether open or not', async () => {
      const open = await storage.openTorrent(simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 4))
      const closedGeometry = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 4)
      const closed = await storage.openTorrent(closedGeometry)
      await writeAndVerify(open, range(4))
      await writeAndVerify(closed, range(4))
      await closed.close()
      await storage.deleteTorrent(open.infoHash)
      await storage.deleteTorrent(closedGeometry.infoHash)
      await storage.deleteTorrent(closedGeometry.infoHash)
      await storage.deleteTorrent('0'.repeat(40))
      expect(await storage.listTorrents()).toEqual([])
      await expectStorageError(open.readPiece(0), 'ERR_TORRENT_CLOSED')
      await expectStorageError(open.writePiece(0, Buffer.alloc(16_384)), 'ERR_TORRENT_CLOSED')
      const again = await storage.openTorrent(closedGeometry)
      expect(await again.verifiedPieces()).toEqual([])
      await expectStorageError(again.readPiece(0), 'ERR_PIECE_NOT_FOUND')
      if (hasCapability(again, 'readUnverifiedPiece')) expect(await again.readUnverifiedPiece(0)).toBeNull()
    })

    it('rejects invalid arguments and geometries', async () => {
      const geometry = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 2 + 100)
      const torrent = await storage.openTorrent(geometry)
      expect(torrent.geometry.pieceCount).toBe(3)
      for (const call of [
        () => torrent.writePiece(3, Buffer.alloc(100)),
        () => torrent.markVerified(3),
        () => torrent.readPiece(3),
        () => torrent.readPiece(-1),
        () => torrent.clearPiece(99),
      ]) {
        await expectStorageError(call(), 'ERR_PIECE_INDEX_OUT_OF_RANGE')
      }
      if (hasCapability(torrent, 'readUnverifiedPiece')) {
        await expectStorageError(torrent.readUnverifiedPiece(3), 'ERR_PIECE_INDEX_OUT_OF_RANGE')
      }
      await expectArgumentError(torrent.writePiece(0.5, Buffer.alloc(16_384)), TypeError)
      await expectArgumentError(torrent.readPiece(Number.NaN), TypeError)
      await expectArgumentError(torrent.writePiece(0, Buffer.alloc(16_383)), RangeError)
      await expectArgumentError(torrent.writePiece(2, Buffer.alloc(16_384)), RangeError)
      await expectArgumentError(torrent.writePiece(0, 'text' as unknown as Uint8Array), TypeError)
      expect(await torrent.verifiedPieces()).toEqual([])
      const files = [{ path: 'a', length: 10, offset: 0 }]
      const base = {
        infoHash: randomInfoHash(integer),
        name: 'bad',
        pieceLength: 16_384,
        totalSize: 10,
        files,
      }
      for (const bad of [
        { ...base, totalSize: 0, files: [{ path: 'a', length: 0, offset: 0 }] },
        { ...base, infoHash: base.infoHash.toUpperCase().replace(/^./, 'A') },
        { ...base, infoHash: 'abc' },
        { ...base, pieceLength: 0 },
        { ...base, totalSize: 20 },
        { ...base, files: [] },
        {
          ...base,
          files: [
            { path: 'a', length: 6, offset: 0 },
            { path: 'b', length: 6, offset: 4 },
          ],
        },
      ]) {
        await expectStorageError(storage.openTorrent(bad), 'ERR_INVALID_GEOMETRY')
      }
    })

    it('closes handles and the storage idempotently', async () => {
      const geometry = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 2)
      const torrent = await storage.openTorrent(geometry)
      await writeAndVerify(torrent, [0])
      await torrent.close()
      await torrent.close()
      await expectStorageError(torrent.readPiece(0), 'ERR_TORRENT_CLOSED')
      await expectStorageError(torrent.verifiedPieces(), 'ERR_TORRENT_CLOSED')
      const reopened = await storage.openTorrent(geometry)
      await storage.close()
      await storage.close()
      await expectStorageError(storage.openTorrent(geometry), 'ERR_STORAGE_CLOSED')
      await expectStorageError(storage.listTorrents(), 'ERR_STORAGE_CLOSED')
      await expectStorageError(storage.deleteTorrent(geometry.infoHash), 'ERR_STORAGE_CLOSED')
      await expectStorageError(reopened.readPiece(0), 'ERR_STORAGE_CLOSED')
      expect(() => storage.stats()).toThrow(expect.objectContaining({ code: 'ERR_STORAGE_CLOSED' }))
    })

    it('hashes the stored bytes when it offers hashPiece', async () => {
      const torrent = await storage.openTorrent(simpleGeometry(randomInfoHash(integer), 16_384, 16_384 + 3))
      if (!hasCapability(torrent, 'hashPiece')) return
      const data = pieceData(torrent.infoHash, 1, 3)
      await torrent.writePiece(1, data)
      expect((await torrent.hashPiece(1, 'sha1'))?.equals(createHash('sha1').update(data).digest())).toBe(
        true,
      )
      expect((await torrent.hashPiece(1, 'sha256'))?.equals(createHash('sha256').update(data).digest())).toBe(
        true,
      )
      expect(await torrent.hashPiece(0, 'sha1')).toBeNull()
    })

    if (options.durable === true) {
      it('keeps verified pieces, and only those, across a reopen', async () => {
        const geometry = randomGeometry(integer, 'durable')
        let torrent = await storage.openTorrent(geometry)
        const all = range(torrent.geometry.pieceCount)
        const verified = all.filter(() => integer(3) > 0)
        const writtenOnly = all.filter((index) => !verified.includes(index) && integer(2) === 0)
        await writeAndVerify(torrent, verified)
        for (const index of writtenOnly) {
          await torrent.writePiece(
            index,
            pieceData(torrent.infoHash, index, torrent.geometry.pieceSize(index)),
          )
        }
        await reopen()
        const listed = await storage.listTorrents()
        expect(listed.map((entry) => [entry.infoHash, entry.verifiedCount, entry.open])).toEqual([
          [geometry.infoHash, verified.length, false],
        ])
        torrent = await storage.openTorrent(geometry)
        expect(await torrent.verifiedPieces()).toEqual(verified)
        await expectPieces(torrent, verified)
        for (const index of writtenOnly)
          await expectStorageError(torrent.readPiece(index), 'ERR_PIECE_NOT_FOUND')
      })

      it('forgets cleared pieces and deleted torrents across a reopen', async () => {
        const kept = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 5)
        const deleted = simpleGeometry(randomInfoHash(integer), 16_384, 16_384 * 5)
        const torrent = await storage.openTorrent(kept)
        await writeAndVerify(torrent, range(5))
        await writeAndVerify(await storage.openTorrent(deleted), range(5))
        await torrent.clearPiece(2)
        await storage.deleteTorrent(deleted.infoHash)
        await reopen()
        expect((await storage.listTorrents()).map((entry) => entry.infoHash)).toEqual([kept.infoHash])
        const again = await storage.openTorrent(kept)
        expect(await again.verifiedPieces()).toEqual([0, 1, 3, 4])
        await expectPieces(again, [0, 1, 3, 4])
        expect(await (await storage.openTorrent(deleted)).verifiedPieces()).toEqual([])
      })
    }
  })
}
