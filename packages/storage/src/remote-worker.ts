// The remote tier's worker thread: one RemoteBucket (the S3 client and the key), serving the
// requests of the RemoteTier that started it (remote-tier.ts). Plaintext arrives and leaves by
// transfer; every error goes back as its code and message.

import { parentPort, workerData } from 'node:worker_threads'
import { releaseBuffer } from './release-buffer.ts'
import {
  RemoteBucket,
  serializeError,
  type WorkerData,
  type WorkerReply,
  type WorkerRequest,
} from './remote-tier.ts'

const port = parentPort!
const { options } = workerData as WorkerData
// Aborted (and replaced) when the store closes: every request in flight is cut.
let abort = new AbortController()
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer)

async function serve(bucket: RemoteBucket, request: Exclude<WorkerRequest, { op: 'abort' }>): Promise<void> {
  const { signal } = abort
  try {
    if (request.op === 'put') {
      // The plaintext is this thread's own (transferred): freed now, not at some later collection
      // (left to the collector, a megabyte per upload piles up and drives full collections).
      const value = await bucket
        .put(request.chunkId, request.plaintext, signal)
        .finally(() => releaseBuffer(request.plaintext))
      post({ type: 'reply', id: request.id, value })
    } else if (request.op === 'get') {
      const bytes = await bucket.get(request.chunkId, request.expectedLength, signal)
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      const sent = whole ? bytes : Uint8Array.prototype.slice.call(bytes)
      post({ type: 'reply', id: request.id, value: sent }, [sent.buffer as ArrayBuffer])
    } else {
      const failures = await bucket.deleteObjects(request.locations, signal)
      const value = [...failures].map(([location, error]) => [location, serializeError(error)])
      post({ type: 'reply', id: request.id, value })
    }
  } catch (error) {
    post({ type: 'reply', id: request.id, error: serializeError(error) })
  }
}

try {
  const bucket = await RemoteBucket.create(options)
  port.on('message', (request: WorkerRequest) => {
    if (request.op === 'abort') {
      abort.abort()
      abort = new AbortController()
      return
    }
    void serve(bucket, request)
  })
  post({ type: 'ready' })
} catch (error) {
  post({ type: 'failed', error: serializeError(error) })
}
