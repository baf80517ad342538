// @chunktorrent/storage: the storage interface a torrent engine codes against, the SQLite-indexed
// chunk store, an in-memory store, the piece/chunk geometry, the encrypted chunk envelope and the
// object-store keys. This file is the package's only door; the conformance kit has its own entry.

export { ChunkStorage, type ChunkStorageOptions, type RecoveryReport } from './chunk-storage.ts'
export {
  DEFAULT_KEY_ID,
  decodeEnvelope,
  ENVELOPE_KEY_LENGTH,
  ENVELOPE_NONCE_LENGTH,
  ENVELOPE_TAG_LENGTH,
  type EncodeEnvelopeOptions,
  type EnvelopeParts,
  encodeEnvelope,
  parseEnvelope,
} from './envelope.ts'
export {
  isChunktorrentError,
  StorageError,
  type StorageErrorCode,
  type StorageErrorOptions,
} from './errors.ts'
export {
  BLOCK_SIZE,
  type ChunkSpan,
  DEFAULT_CHUNK_SIZE,
  type PieceRange,
  type PieceSpan,
  type RangeSpan,
  type TorrentFile,
  type TorrentFileInput,
  TorrentGeometry,
  type TorrentGeometryInput,
} from './geometry.ts'
export { MemoryStorage, type MemoryStorageOptions } from './memory-storage.ts'
export { objectKeyFor, objectLocation } from './object-key.ts'
export { ENCRYPTION_KEY_ENV, type RemoteTierOptions } from './remote-tier.ts'
export {
  DEFAULT_CACHE_LIMIT_BYTES,
  DEFAULT_CACHE_LIMIT_CHUNKS,
  type FileStats,
  type HashAlgorithm,
  hasCapability,
  type RemoteStats,
  type Storage,
  type StorageEvents,
  type StorageStats,
  type StorageWarning,
  type StorageWarningCode,
  type StoredTorrent,
  type TorrentStorage,
  type TorrentStorageCapability,
} from './storage.ts'
