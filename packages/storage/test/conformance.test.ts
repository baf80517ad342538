// Runs the conformance kit against both built-in backends: the chunk store with the default 1 MiB
// chunks and with an odd small chunk size (so pieces straddle chunks everywhere), and memory.

import { describeStorageConformance } from '../src/conformance.ts'
import { ChunkStorage, MemoryStorage } from '../src/index.ts'

describeStorageConformance('ChunkStorage', (directory) => ChunkStorage.open({ directory }), { durable: true })
describeStorageConformance(
  'ChunkStorage with 40,007-byte chunks',
  (directory) => ChunkStorage.open({ directory, chunkSize: 40_007, openFileLimit: 4 }),
  { durable: true, seed: 7 },
)
describeStorageConformance('MemoryStorage', async () => new MemoryStorage())
describeStorageConformance(
  'MemoryStorage with 40,007-byte chunks',
  async () => new MemoryStorage({ chunkSize: 40_007 }),
  {
    seed: 7,
  },
)
