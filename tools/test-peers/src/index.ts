// The one entry point of @chunktorrent/test-peers: real, independent BitTorrent peers on
// loopback (python3-libtorrent, aria2c) and the deterministic data, torrents and measurements
// that other packages' integration tests and benchmarks use with them.

export {
  type Aria2EventMap,
  type Aria2Peer,
  type Aria2PeerOptions,
  startAria2Leecher,
  startAria2Seeder,
} from './aria2-peer.ts'
export {
  type ExitStatus,
  killAllChildren,
  LineSplitter,
  runningChildCount,
} from './child-processes.ts'
export {
  expectedBytes,
  type FileSpec,
  type GeneratedFileMismatch,
  generateFiles,
  type Seed,
  verifyGeneratedFiles,
} from './deterministic-data.ts'
export { TestPeerError, type TestPeerErrorCode } from './errors.ts'
export { compareTrees, filesEqual, firstDifference, hashFile, sha1OfFile } from './file-compare.ts'
export {
  makeTorrentContent,
  type TempDirectory,
  type TorrentContentOptions,
  tempDirectory,
} from './fixtures.ts'
export {
  type LibtorrentEvent,
  type LibtorrentEventMap,
  type LibtorrentPeer,
  type LibtorrentPeerOptions,
  startLibtorrentPeer,
  type TorrentStatusFields,
} from './libtorrent-peer.ts'
export { freePort, isListening, waitForListening } from './network.ts'
export { type PeerEvent, PeerProcess, type WaitOptions } from './peer-process.ts'
export {
  type MemorySample,
  type MemorySampler,
  type ProcessStats,
  processStats,
  sampleMemory,
} from './process-metrics.ts'
export { aria2Executable, availablePeers, type PeerAvailability, pythonExecutable } from './python.ts'
export {
  type CorruptCopyOptions,
  type CorruptedByte,
  type CreateTorrentOptions,
  corruptCopy,
  createTorrent,
  type TorrentFileEntry,
  type TorrentInfo,
  type TorrentVersion,
  torrentInfo,
} from './torrent-files.ts'
