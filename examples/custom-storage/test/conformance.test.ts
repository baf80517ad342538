// The backend passes the same conformance kit as the built-in storages (durable: it keeps
// verified pieces across a close and reopen).
import { describeStorageConformance } from '@chunktorrent/storage/conformance'
import { FlatFileStorage } from '../flat-file-storage.ts'

describeStorageConformance(
  'FlatFileStorage (examples/custom-storage)',
  (directory) => FlatFileStorage.open(directory),
  {
    durable: true,
  },
)
