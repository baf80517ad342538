// Runs the conformance kit against the built-in backends.

import { describeStorageConformance } from '../src/conformance.ts'
import { MemoryStorage } from '../src/index.ts'

describeStorageConformance('MemoryStorage', async () => new MemoryStorage())
describeStorageConformance(
  'MemoryStorage with 40,007-byte chunks',
  async () => new MemoryStorage({ chunkSize: 40_007 }),
  { seed: 7 },
)
