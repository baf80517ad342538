// The SQLite index on its own: the parity tables exactly as specified, counted pins (two torrents
// sharing a chunk both pin it), and which chunks eviction may take (unpinned, copied elsewhere).

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ChunkIndex } from './chunk-index.ts'

let directory: string
let index: ChunkIndex

function addTorrent(id: string, infoHash: string): void {
  index.insertTorrent({
    id,
    release_id: 'release',
    info_hash: infoHash,
    magnet_link: null,
    torrent_name: id,
    total_size_bytes: 300,
    piece_length: 100,
    num_pieces: 3,
    created_at: new Date(0).toISOString(),
    chunk_size: 100,
    files_json: '[]',
  })
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'chunktorrent-index-'))
  index = ChunkIndex.open(join(directory, 'index.db'))
})

afterEach(async () => {
  index.close()
  await rm(directory, { recursive: true, force: true })
})

describe('ChunkIndex', () => {
  it('creates the parity tables column for column', () => {
    index.close()
    const database = new Database(join(directory, 'index.db'), { readonly: true })
    const columns = (table: string) =>
      database
        .prepare(`PRAGMA table_info(${table})`)
        .all()
        .map((column) => {
          const { name, type, notnull, dflt_value, pk } = column as Record<string, unknown>
          return [name, type, notnull, dflt_value, pk]
        })
    expect(columns('torrents')).toEqual([
      ['id', 'TEXT', 0, null, 1],
      ['release_id', 'TEXT', 1, null, 0],
      ['info_hash', 'TEXT', 1, null, 0],
      ['magnet_link', 'TEXT', 0, null, 0],
      ['torrent_name', 'TEXT', 1, null, 0],
      ['total_size_bytes', 'INTEGER', 1, null, 0],
      ['piece_length', 'INTEGER', 1, null, 0],
      ['num_pieces', 'INTEGER', 1, null, 0],
      ['is_seeding', 'BOOLEAN', 1, 'FALSE', 0],
      ['created_at', 'TEXT', 1, null, 0],
    ])
    expect(columns('torrent_piece_mappings')).toEqual([
      ['id', 'TEXT', 0, null, 1],
      ['torrent_id', 'TEXT', 1, null, 0],
      ['piece_index', 'INTEGER', 1, null, 0],
      ['chunk_ids', 'TEXT', 1, null, 0],
      ['start_byte_in_first_chunk', 'INTEGER', 1, null, 0],
      ['end_byte_in_last_chunk', 'INTEGER', 1, null, 0],
    ])
    const foreignKeys = database.prepare('PRAGMA foreign_key_list(torrent_piece_mappings)').all()
    expect(foreignKeys).toMatchObject([
      { table: 'torrents', from: 'torrent_id', to: 'id', on_delete: 'CASCADE' },
    ])
    const indexes = database
      .prepare(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_torrent%' ORDER BY name",
      )
      .all()
    expect(indexes).toEqual([
      { name: 'idx_torrent_piece_mappings_torrent_id', tbl_name: 'torrent_piece_mappings' },
      { name: 'idx_torrents_info_hash', tbl_name: 'torrents' },
    ])
    const unique = (table: string) =>
      (
        database.prepare(`PRAGMA index_list(${table})`).all() as Array<{
          name: string
          unique: number
          origin: string
        }>
      )
        .filter((entry) => entry.unique === 1 && entry.origin === 'u')
        .map((entry) =>
          (database.prepare(`PRAGMA index_info(${entry.name})`).all() as Array<{ name: string }>).map(
            (c) => c.name,
          ),
        )
    expect(unique('torrents')).toEqual([['info_hash']])
    expect(unique('torrent_piece_mappings')).toEqual([['torrent_id', 'piece_index']])
    expect(database.pragma('journal_mode', { simple: true })).toBe('wal')
    database.close()
    index = ChunkIndex.open(join(directory, 'index.db'))
  })

  it('counts pins per torrent: a chunk two torrents pin stays pinned until both release it', () => {
    addTorrent('t1', 'a'.repeat(40))
    addTorrent('t2', 'b'.repeat(40))
    index.insertChunk('t1', 'chunk-1', 0, 100, 1)
    index.insertChunk('t1', 'chunk-2', 1, 100, 1)
    index.setChunkLocal('chunk-1', true)
    index.setChunkLocal('chunk-2', true)
    index.pinTorrent('t1', 'now')
    index.pinChunk('chunk-1', 't2', 'now')
    expect(index.pinCount('chunk-1')).toBe(2)
    expect(index.pinnedBytes()).toBe(200)
    index.unpinTorrent('t1')
    expect(index.pinCount('chunk-1')).toBe(1)
    expect(index.pinnedBytes()).toBe(100)
    index.unpinTorrent('t2')
    expect(index.pinCount('chunk-1')).toBe(0)
    expect(index.pinnedBytes()).toBe(0)
  })

  it('offers for eviction only unpinned chunks with a copy elsewhere, least recently used first', () => {
    addTorrent('t1', 'a'.repeat(40))
    for (const [id, access] of [
      ['old', 10],
      ['new', 30],
      ['middle', 20],
      ['pinned', 0],
      ['only-copy', 5],
    ] as const) {
      index.insertChunk('t1', id, access, 100, access)
      index.setChunkLocal(id, true)
    }
    for (const id of ['old', 'new', 'middle', 'pinned'])
      index.markUploaded(id, `s3://bucket/chunks/${id}.enc`)
    index.pinChunk('pinned', 't1', 'now')
    expect(index.evictionCandidates(10).map((chunk) => chunk.id)).toEqual(['old', 'middle', 'new'])
    index.touchChunks([['old', 99]])
    expect(index.evictionCandidates(10).map((chunk) => chunk.id)).toEqual(['middle', 'new', 'old'])
    index.forgetUpload('middle')
    expect(index.evictionCandidates(1).map((chunk) => chunk.id)).toEqual(['new'])
  })

  it('drops a deferred write whose torrent was deleted meanwhile, keeping the others', () => {
    addTorrent('t1', 'a'.repeat(40))
    index.defer(() => index.markWritten('gone', 1))
    index.defer(() => index.markWritten('t1', 2))
    index.flush()
    expect(index.writtenPiecesOf('t1')).toEqual([2])
  })
})
