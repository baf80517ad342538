// The README's custom backend passes the same conformance kit as the built-in ones.

import { describeStorageConformance } from '../src/conformance.ts'
import { PieceFileStorage } from './fixtures/piece-file-storage.ts'

describeStorageConformance(
  'PieceFileStorage (README example)',
  (directory) => PieceFileStorage.open(directory),
  {
    durable: true,
  },
)
