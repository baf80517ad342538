// The chunk store's index: one SQLite database (better-sqlite3, WAL) holding the parity spec's
// `torrents` and `torrent_piece_mappings` tables exactly, plus this package's own tables for the
// torrents' layouts, chunk records, pins, upload state, written (unverified) pieces and the remote
// objects of deleted torrents still to delete.

import Database from 'better-sqlite3'
import { StorageError, toStorageError } from './errors.ts'

/** Bumped when the package's own tables change shape. */
export const SCHEMA_VERSION = 2

const parityTables = `
CREATE TABLE IF NOT EXISTS torrents (
  id TEXT PRIMARY KEY,
  release_id TEXT NOT NULL,
  info_hash TEXT NOT NULL UNIQUE,
  magnet_link TEXT,
  torrent_name TEXT NOT NULL,
  total_size_bytes INTEGER NOT NULL,
  piece_length INTEGER NOT NULL,
  num_pieces INTEGER NOT NULL,
  is_seeding BOOLEAN NOT NULL DEFAULT FALSE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS torrent_piece_mappings (
  id TEXT PRIMARY KEY,
  torrent_id TEXT NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  piece_index INTEGER NOT NULL,
  chunk_ids TEXT NOT NULL,
  start_byte_in_first_chunk INTEGER NOT NULL,
  end_byte_in_last_chunk INTEGER NOT NULL,
  UNIQUE (torrent_id, piece_index)
);
CREATE INDEX IF NOT EXISTS idx_torrents_info_hash ON torrents(info_hash);
CREATE INDEX IF NOT EXISTS idx_torrent_piece_mappings_torrent_id ON torrent_piece_mappings(torrent_id);
`

const ownTables = `
CREATE TABLE IF NOT EXISTS store_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- What the parity tables do not say about a torrent: its files and the chunk size it was cut with.
CREATE TABLE IF NOT EXISTS torrent_layouts (
  torrent_id TEXT PRIMARY KEY REFERENCES torrents(id) ON DELETE CASCADE,
  chunk_size INTEGER NOT NULL,
  files_json TEXT NOT NULL
);
-- One row per (torrent, chunk index): the chunk's stable id. is_local: a local file holds it.
CREATE TABLE IF NOT EXISTS chunks (
  id TEXT PRIMARY KEY,
  torrent_id TEXT NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  chunk_index INTEGER NOT NULL,
  length INTEGER NOT NULL,
  is_local INTEGER NOT NULL DEFAULT 1,
  last_access_ms INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (torrent_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS idx_chunks_local_access ON chunks(is_local, last_access_ms);
-- A pin per (chunk, torrent holding it): a chunk is pinned while any row names it.
CREATE TABLE IF NOT EXISTS chunk_pins (
  chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
  torrent_id TEXT NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  pinned_at TEXT NOT NULL,
  PRIMARY KEY (chunk_id, torrent_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_chunk_pins_torrent_id ON chunk_pins(torrent_id);
-- A copy of the chunk's current bytes exists elsewhere (the remote tier): only then is it evictable.
CREATE TABLE IF NOT EXISTS chunk_uploads (
  chunk_id TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
  location TEXT NOT NULL,
  uploaded_at TEXT NOT NULL
);
-- Pieces whose bytes were written, verified or not (for markVerified and a full recheck).
CREATE TABLE IF NOT EXISTS written_pieces (
  torrent_id TEXT NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,
  piece_index INTEGER NOT NULL,
  PRIMARY KEY (torrent_id, piece_index)
) WITHOUT ROWID;
-- Remote objects of deleted torrents (s3://bucket/key, as uploaded), recorded in the transaction
-- that deletes the torrent's rows, removed once the bucket confirmed the delete. No foreign key:
-- the chunk row is gone by then. Additive: a store written by an older version gains it at open.
-- The object of a chunk's earlier bytes after the chunk was written again: its next upload
-- overwrites it in place (same key), or the deletion of its torrent deletes it with the others.
-- Additive, like remote_deletions.
CREATE TABLE IF NOT EXISTS stale_uploads (
  chunk_id TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
  location TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS remote_deletions (
  location TEXT PRIMARY KEY,
  chunk_id TEXT,
  requested_at TEXT NOT NULL
);
`

export interface TorrentRow {
  id: string
  release_id: string
  info_hash: string
  magnet_link: string | null
  torrent_name: string
  total_size_bytes: number
  piece_length: number
  num_pieces: number
  is_seeding: number
  created_at: string
  chunk_size: number
  files_json: string
}

export interface ChunkRow {
  id: string
  chunk_index: number
  length: number
  is_local: number
  last_access_ms: number
  uploaded: number
}

/** A remote object to delete: its location (`s3://bucket/key`) and the chunk it held. */
export interface RemoteDeletion {
  location: string
  chunk_id: string | null
}

export interface MappingRow {
  piece_index: number
  chunk_ids: string
  start_byte_in_first_chunk: number
  end_byte_in_last_chunk: number
}

export interface MappingInput {
  torrentId: string
  pieceIndex: number
  chunkIds: string[]
  startByteInFirstChunk: number
  endByteInLastChunk: number
}

type Statement = Database.Statement<unknown[], unknown>

function isConstraintError(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown }; code?: unknown }).code
  const causeCode = (error as { cause?: { code?: unknown } }).cause?.code
  return [code, causeCode].some((value) => typeof value === 'string' && value.startsWith('SQLITE_CONSTRAINT'))
}

/**
 * How long small deferred writes wait to be committed together. Each transaction re-writes the
 * b-tree pages it touches into the WAL, and a download marks pieces written thousands of times a
 * second: one transaction per turn of the event loop spent a third of the JavaScript thread there.
 */
const DEFERRED_FLUSH_MS = 50

/**
 * Wraps the database: prepared statements, transactions, and a queue of small deferred writes
 * (written marks, pins, new chunk rows) committed together in one transaction DEFERRED_FLUSH_MS
 * later, or before any query or transaction that must see them, whichever comes first.
 */
export class ChunkIndex {
  readonly #database: Database.Database
  readonly #statements = new Map<string, Statement>()
  #deferred: Array<() => void> = []
  #flushScheduled = false
  #closed = false

  private constructor(database: Database.Database) {
    this.#database = database
  }

  /**
   * Opens (creating) the index at `path` and takes the store's lock: SQLite's exclusive locking
   * mode holds an OS lock on the database file for as long as this connection lives, so a second
   * opener, in this process or another, gets `ERR_STORE_LOCKED`. The OS drops the lock when a
   * process dies, so a crash never leaves a stale lock.
   */
  static open(path: string): ChunkIndex {
    let database: Database.Database
    try {
      database = new Database(path, { timeout: 0 })
    } catch (error) {
      throw toStorageError(error, `Opening the index ${path}`)
    }
    try {
      database.pragma('locking_mode = EXCLUSIVE')
      database.pragma('journal_mode = WAL')
      database.pragma('synchronous = NORMAL')
      database.pragma('foreign_keys = ON')
      database.exec('BEGIN IMMEDIATE')
      database.exec(parityTables)
      database.exec(ownTables)
      // Version 2: the remote tier records each object's size and the key id that sealed it.
      const uploadColumns = new Set(
        (database.prepare('PRAGMA table_info(chunk_uploads)').all() as Array<{ name: string }>).map(
          (column) => column.name,
        ),
      )
      if (!uploadColumns.has('size_bytes')) {
        database.exec('ALTER TABLE chunk_uploads ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0')
      }
      if (!uploadColumns.has('key_id')) database.exec('ALTER TABLE chunk_uploads ADD COLUMN key_id TEXT')
      const row = database.prepare("SELECT value FROM store_meta WHERE key = 'schema_version'").get() as
        | { value: string }
        | undefined
      if (row === undefined) {
        database
          .prepare("INSERT INTO store_meta (key, value) VALUES ('schema_version', ?)")
          .run(String(SCHEMA_VERSION))
      } else if (Number(row.value) < SCHEMA_VERSION) {
        database
          .prepare("UPDATE store_meta SET value = ? WHERE key = 'schema_version'")
          .run(String(SCHEMA_VERSION))
      } else if (Number(row.value) > SCHEMA_VERSION) {
        throw new StorageError(
          'ERR_STORE_INCOMPATIBLE',
          `The store's index has schema version ${row.value}; this version of @chunktorrent/storage reads up to ${SCHEMA_VERSION}`,
        )
      }
      database.exec('COMMIT')
    } catch (error) {
      database.close()
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new StorageError(
          'ERR_STORE_LOCKED',
          `The store at ${path} is open elsewhere (another ChunkStorage in this or another process)`,
          { cause: error },
        )
      }
      throw toStorageError(error, `Opening the index ${path}`)
    }
    return new ChunkIndex(database)
  }

  get closed(): boolean {
    return this.#closed
  }

  #statement(sql: string): Statement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#database.prepare(sql)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  /** Runs a statement, turning SQLite failures into `ERR_STORAGE_IO`. */
  run(sql: string, ...parameters: unknown[]): Database.RunResult {
    try {
      return this.#statement(sql).run(...parameters)
    } catch (error) {
      throw toStorageError(error, 'Writing the index')
    }
  }

  all<T>(sql: string, ...parameters: unknown[]): T[] {
    this.flush()
    try {
      return this.#statement(sql).all(...parameters) as T[]
    } catch (error) {
      throw toStorageError(error, 'Reading the index')
    }
  }

  get<T>(sql: string, ...parameters: unknown[]): T | undefined {
    this.flush()
    try {
      return this.#statement(sql).get(...parameters) as T | undefined
    } catch (error) {
      throw toStorageError(error, 'Reading the index')
    }
  }

  /** Queues a small write for the next grouped commit. Not durable, only ordered. */
  defer(write: () => void): void {
    this.#deferred.push(write)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setTimeout(() => {
        this.#flushScheduled = false
        if (this.#closed) return
        try {
          this.flush()
        } catch {
          // The same writes are retried by the next flush, whose caller sees the error.
        }
      }, DEFERRED_FLUSH_MS).unref()
    }
  }

  /** Commits the queued writes now (one transaction). */
  flush(): void {
    if (this.#deferred.length === 0) return
    const writes = this.#deferred
    this.#deferred = []
    try {
      this.#database.transaction(() => {
        for (const write of writes) write()
      })()
    } catch (error) {
      if (!isConstraintError(error)) {
        this.#deferred = writes.concat(this.#deferred)
        throw toStorageError(error, 'Writing the index')
      }
      // One write refers to a row deleted meanwhile: apply the others one by one, drop that one.
      for (const write of writes) {
        try {
          this.#database.transaction(write)()
        } catch (single) {
          if (!isConstraintError(single)) throw toStorageError(single, 'Writing the index')
        }
      }
    }
  }

  /** Runs `work` in one transaction, after the queued writes. */
  transaction<T>(work: () => T): T {
    this.flush()
    try {
      return this.#database.transaction(work)()
    } catch (error) {
      throw toStorageError(error, 'Writing the index')
    }
  }

  /**
   * Like {@link transaction}, but the commit is on disk when this returns (synchronous = FULL for
   * this commit: the WAL is fsynced). Used before bytes that a mapping vouched for are changed.
   */
  durably<T>(work: () => T): T {
    this.flush()
    this.#database.pragma('synchronous = FULL')
    try {
      return this.transaction(work)
    } finally {
      this.#database.pragma('synchronous = NORMAL')
    }
  }

  // Torrents

  torrentByInfoHash(infoHash: string): TorrentRow | undefined {
    return this.get<TorrentRow>(
      `SELECT t.*, l.chunk_size, l.files_json FROM torrents t JOIN torrent_layouts l ON l.torrent_id = t.id
       WHERE t.info_hash = ?`,
      infoHash,
    )
  }

  allTorrents(): Array<TorrentRow & { verified_count: number }> {
    return this.all(
      `SELECT t.*, l.chunk_size, l.files_json,
         (SELECT COUNT(*) FROM torrent_piece_mappings m WHERE m.torrent_id = t.id) AS verified_count
       FROM torrents t JOIN torrent_layouts l ON l.torrent_id = t.id ORDER BY t.info_hash`,
    )
  }

  insertTorrent(row: Omit<TorrentRow, 'is_seeding'>): void {
    this.transaction(() => {
      this.run(
        `INSERT INTO torrents (id, release_id, info_hash, magnet_link, torrent_name, total_size_bytes,
           piece_length, num_pieces, is_seeding, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?)`,
        row.id,
        row.release_id,
        row.info_hash,
        row.magnet_link,
        row.torrent_name,
        row.total_size_bytes,
        row.piece_length,
        row.num_pieces,
        row.created_at,
      )
      this.run(
        'INSERT INTO torrent_layouts (torrent_id, chunk_size, files_json) VALUES (?, ?, ?)',
        row.id,
        row.chunk_size,
        row.files_json,
      )
    })
  }

  updateTorrentLabels(torrentId: string, releaseId: string, magnetLink: string | null, name: string): void {
    this.transaction(() =>
      this.run(
        'UPDATE torrents SET release_id = ?, magnet_link = ?, torrent_name = ? WHERE id = ?',
        releaseId,
        magnetLink,
        name,
        torrentId,
      ),
    )
  }

  setSeeding(torrentId: string, seeding: boolean): void {
    this.run('UPDATE torrents SET is_seeding = ? WHERE id = ?', seeding ? 1 : 0, torrentId)
  }

  /**
   * Deletes a torrent and (by cascade) all its rows; durable when it returns. In the same
   * transaction, the remote objects of its uploaded chunks (and `extra` ones: uploads in flight)
   * are recorded in `remote_deletions`, so that no crash leaks an object. Returns what was recorded.
   */
  deleteTorrent(torrentId: string, extra: readonly RemoteDeletion[] = []): RemoteDeletion[] {
    return this.durably(() => {
      const recorded = this.all<RemoteDeletion>(
        `SELECT u.location, u.chunk_id FROM chunk_uploads u JOIN chunks c ON c.id = u.chunk_id
         WHERE c.torrent_id = ?
         UNION SELECT s.location, s.chunk_id FROM stale_uploads s JOIN chunks c ON c.id = s.chunk_id
         WHERE c.torrent_id = ?`,
        torrentId,
        torrentId,
      )
      const locations = new Set(recorded.map((deletion) => deletion.location))
      for (const deletion of extra) {
        if (!locations.has(deletion.location)) recorded.push(deletion)
        locations.add(deletion.location)
      }
      const now = new Date().toISOString()
      for (const { location, chunk_id } of recorded) {
        this.run(
          'INSERT OR IGNORE INTO remote_deletions (location, chunk_id, requested_at) VALUES (?, ?, ?)',
          location,
          chunk_id,
          now,
        )
      }
      this.run('DELETE FROM torrents WHERE id = ?', torrentId)
      return recorded
    })
  }

  // Remote deletions

  /** Every remote object still to delete, oldest request first. */
  pendingDeletions(): RemoteDeletion[] {
    return this.all('SELECT location, chunk_id FROM remote_deletions ORDER BY requested_at, location')
  }

  /** The bucket confirmed these deletions. */
  forgetDeletions(locations: readonly string[]): void {
    this.transaction(() => {
      for (const location of locations) this.run('DELETE FROM remote_deletions WHERE location = ?', location)
    })
  }

  // Chunks

  chunksOf(torrentId: string): ChunkRow[] {
    return this.all(
      `SELECT c.id, c.chunk_index, c.length, c.is_local, c.last_access_ms,
         EXISTS (SELECT 1 FROM chunk_uploads u WHERE u.chunk_id = c.id) AS uploaded
       FROM chunks c WHERE c.torrent_id = ? ORDER BY c.chunk_index`,
      torrentId,
    )
  }

  chunkIdsOf(torrentId: string): string[] {
    return this.all<{ id: string }>('SELECT id FROM chunks WHERE torrent_id = ?', torrentId).map(
      (row) => row.id,
    )
  }

  /** Local chunks; `uploaded` is 1 when the remote tier holds a copy. */
  localChunks(): Array<{
    id: string
    torrent_id: string
    chunk_index: number
    length: number
    uploaded: number
  }> {
    return this.all(
      `SELECT c.id, c.torrent_id, c.chunk_index, c.length,
         EXISTS (SELECT 1 FROM chunk_uploads u WHERE u.chunk_id = c.id) AS uploaded
       FROM chunks c WHERE c.is_local = 1`,
    )
  }

  /** A new chunk record, not yet local (its file is created by its first write). */
  insertChunk(torrentId: string, id: string, chunkIndex: number, length: number, now: number): void {
    this.run(
      `INSERT INTO chunks (id, torrent_id, chunk_index, length, is_local, last_access_ms, created_at)
       VALUES (?, ?, ?, ?, 0, ?, ?)`,
      id,
      torrentId,
      chunkIndex,
      length,
      now,
      new Date(now).toISOString(),
    )
  }

  setChunkLocal(id: string, local: boolean): void {
    this.run('UPDATE chunks SET is_local = ? WHERE id = ?', local ? 1 : 0, id)
  }

  /** Stores last-access times (kept in memory between flushes). */
  touchChunks(times: Iterable<[string, number]>): void {
    this.transaction(() => {
      for (const [id, time] of times) this.run('UPDATE chunks SET last_access_ms = ? WHERE id = ?', time, id)
    })
  }

  totals(): { chunkCount: number; bytes: number } {
    const row = this.get<{ chunk_count: number; bytes: number | null }>(
      'SELECT COUNT(*) AS chunk_count, SUM(length) AS bytes FROM chunks WHERE is_local = 1',
    )
    return { chunkCount: row?.chunk_count ?? 0, bytes: row?.bytes ?? 0 }
  }

  // Pins

  /** Pins every chunk of a torrent (and, through {@link pinChunk}, those it creates later). */
  pinTorrent(torrentId: string, now: string): void {
    this.transaction(() =>
      this.run(
        `INSERT OR IGNORE INTO chunk_pins (chunk_id, torrent_id, pinned_at)
         SELECT id, torrent_id, ? FROM chunks WHERE torrent_id = ?`,
        now,
        torrentId,
      ),
    )
  }

  pinChunk(chunkId: string, torrentId: string, now: string): void {
    this.run(
      'INSERT OR IGNORE INTO chunk_pins (chunk_id, torrent_id, pinned_at) VALUES (?, ?, ?)',
      chunkId,
      torrentId,
      now,
    )
  }

  /** Removes every pin a torrent holds. */
  unpinTorrent(torrentId: string): void {
    this.transaction(() => this.run('DELETE FROM chunk_pins WHERE torrent_id = ?', torrentId))
  }

  pinCount(chunkId: string): number {
    return this.get<{ count: number }>(
      'SELECT COUNT(*) AS count FROM chunk_pins WHERE chunk_id = ?',
      chunkId,
    )!.count
  }

  pinnedBytes(): number {
    const row = this.get<{ bytes: number | null }>(
      `SELECT SUM(length) AS bytes FROM chunks c
       WHERE c.is_local = 1 AND EXISTS (SELECT 1 FROM chunk_pins p WHERE p.chunk_id = c.id)`,
    )
    return row?.bytes ?? 0
  }

  // Uploads and eviction

  /**
   * Records that a copy of the chunk's current bytes lives at `location` (the remote tier):
   * `size` bytes of object, sealed with the key named `keyId` (the key itself is never stored).
   */
  markUploaded(chunkId: string, location: string, size = 0, keyId: string | null = null): void {
    this.transaction(() => {
      // The upload overwrote the earlier object in place (a different place keeps it recorded).
      this.run('DELETE FROM stale_uploads WHERE chunk_id = ? AND location = ?', chunkId, location)
      this.run(
        `INSERT INTO chunk_uploads (chunk_id, location, uploaded_at, size_bytes, key_id) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (chunk_id) DO UPDATE SET location = excluded.location, uploaded_at = excluded.uploaded_at,
           size_bytes = excluded.size_bytes, key_id = excluded.key_id`,
        chunkId,
        location,
        new Date().toISOString(),
        size,
        keyId,
      )
    })
  }

  /** Objects in the remote tier and their bytes. */
  remoteTotals(): { objects: number; bytes: number } {
    const row = this.get<{ objects: number; bytes: number | null }>(
      'SELECT COUNT(*) AS objects, SUM(size_bytes) AS bytes FROM chunk_uploads',
    )
    return { objects: row?.objects ?? 0, bytes: row?.bytes ?? 0 }
  }

  /** Every local chunk without a remote copy, with its torrent (to find the complete ones). */
  localChunksNotUploaded(): Array<{ id: string; torrent_id: string; chunk_index: number; length: number }> {
    return this.all(
      `SELECT c.id, c.torrent_id, c.chunk_index, c.length FROM chunks c
       WHERE c.is_local = 1 AND NOT EXISTS (SELECT 1 FROM chunk_uploads u WHERE u.chunk_id = c.id)
       ORDER BY c.torrent_id, c.chunk_index`,
    )
  }

  /**
   * The remote copy no longer matches (the chunk was written again): the chunk is not evictable
   * until it is uploaded again, and its object is remembered as stale until then.
   */
  forgetUpload(chunkId: string): void {
    // Deferred: inside the flush's transaction. (Should the two come apart in a crash, both rows
    // name the same object, which the next upload and a torrent deletion both handle.)
    this.run(
      `INSERT INTO stale_uploads (chunk_id, location) SELECT chunk_id, location FROM chunk_uploads
       WHERE chunk_id = ? ON CONFLICT (chunk_id) DO UPDATE SET location = excluded.location`,
      chunkId,
    )
    this.run('DELETE FROM chunk_uploads WHERE chunk_id = ?', chunkId)
  }

  /**
   * Local chunks that may be evicted, least recently used first: not pinned by any torrent and
   * with a copy elsewhere. Without a remote tier this is always empty, so nothing is ever the only
   * copy that gets deleted.
   */
  evictionCandidates(
    limit: number,
  ): Array<{ id: string; torrent_id: string; chunk_index: number; length: number }> {
    return this.all(
      `SELECT c.id, c.torrent_id, c.chunk_index, c.length FROM chunks c
       WHERE c.is_local = 1
         AND EXISTS (SELECT 1 FROM chunk_uploads u WHERE u.chunk_id = c.id)
         AND NOT EXISTS (SELECT 1 FROM chunk_pins p WHERE p.chunk_id = c.id)
       ORDER BY c.last_access_ms, c.id LIMIT ?`,
      limit,
    )
  }

  // Written pieces and mappings

  writtenPiecesOf(torrentId: string): number[] {
    return this.all<{ piece_index: number }>(
      'SELECT piece_index FROM written_pieces WHERE torrent_id = ?',
      torrentId,
    ).map((row) => row.piece_index)
  }

  markWritten(torrentId: string, pieceIndex: number): void {
    this.run(
      'INSERT OR IGNORE INTO written_pieces (torrent_id, piece_index) VALUES (?, ?)',
      torrentId,
      pieceIndex,
    )
  }

  unmarkWritten(torrentId: string, pieceIndex: number): void {
    this.run('DELETE FROM written_pieces WHERE torrent_id = ? AND piece_index = ?', torrentId, pieceIndex)
  }

  mappingsOf(torrentId: string): MappingRow[] {
    return this.all(
      `SELECT piece_index, chunk_ids, start_byte_in_first_chunk, end_byte_in_last_chunk
       FROM torrent_piece_mappings WHERE torrent_id = ? ORDER BY piece_index`,
      torrentId,
    )
  }

  /** Inserts or replaces the mapping of a piece (UNIQUE (torrent_id, piece_index) upsert). */
  upsertMapping(mapping: MappingInput, id: string): void {
    this.run(
      `INSERT INTO torrent_piece_mappings
         (id, torrent_id, piece_index, chunk_ids, start_byte_in_first_chunk, end_byte_in_last_chunk)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (torrent_id, piece_index) DO UPDATE SET
         chunk_ids = excluded.chunk_ids,
         start_byte_in_first_chunk = excluded.start_byte_in_first_chunk,
         end_byte_in_last_chunk = excluded.end_byte_in_last_chunk`,
      id,
      mapping.torrentId,
      mapping.pieceIndex,
      JSON.stringify(mapping.chunkIds),
      mapping.startByteInFirstChunk,
      mapping.endByteInLastChunk,
    )
  }

  deleteMapping(torrentId: string, pieceIndex: number): void {
    this.run(
      'DELETE FROM torrent_piece_mappings WHERE torrent_id = ? AND piece_index = ?',
      torrentId,
      pieceIndex,
    )
  }

  /** Closes the connection (which releases the store's lock). */
  close(): void {
    if (this.#closed) return
    try {
      this.flush()
    } finally {
      this.#closed = true
      this.#database.close()
    }
  }
}
