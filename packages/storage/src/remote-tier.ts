// The remote tier of ChunkStorage: an S3-compatible bucket holding an encrypted copy (the parity
// spec's AES-256-GCM envelope) of every complete chunk, under the parity spec's object keys. Only
// a chunk with a confirmed remote copy may leave the local cache; a read of an evicted chunk
// fetches it back (read-through). This file knows S3 and the key; the queue and the bookkeeping
// live in ChunkStorage.

import { readFileSync } from 'node:fs'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { DEFAULT_KEY_ID, decodeEnvelope, ENVELOPE_KEY_LENGTH, encodeEnvelope } from './envelope.ts'
import { invalidArgumentType, StorageError } from './errors.ts'
import { objectKeyFor, objectLocation } from './object-key.ts'

/** The environment variable read for the encryption key when no option gives one (64 hex chars). */
export const ENCRYPTION_KEY_ENV = 'CHUNKTORRENT_ENCRYPTION_KEY'

export interface RemoteTierOptions {
  /** The S3 endpoint, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`. */
  endpoint?: string
  bucket: string
  /** Default `us-east-1`. */
  region?: string
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  /** Prepended to the parity keys (`<prefix>/chunks/ab/cd/<id>.enc`); no leading or trailing slash needed. */
  prefix?: string
  /**
   * The 32-byte AES-256-GCM key (bytes, or 64 hex characters). Else the key file, else the
   * `CHUNKTORRENT_ENCRYPTION_KEY` environment variable. Never logged, never written to the index.
   */
  encryptionKey?: Uint8Array | string
  /** A file holding the key as 64 hex characters (surrounding whitespace ignored). */
  encryptionKeyFile?: string
  /** The key id written into each envelope; default `'master'`. */
  keyId?: string
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`); default true when `endpoint` is set. */
  forcePathStyle?: boolean
  /** Uploads running at once; default 4. */
  uploadConcurrency?: number
  /** First retry delay of a failed upload, doubled per attempt up to `retryMaxDelayMs`; default 500. */
  retryBaseDelayMs?: number
  /** Default 30,000. */
  retryMaxDelayMs?: number
  /** A request that takes longer fails (and an upload is retried); default 60,000. */
  requestTimeoutMs?: number
}

function parseHexKey(text: string, source: string): Buffer {
  const trimmed = text.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(trimmed)) {
    // The value itself is never put in the message.
    throw new StorageError(
      'ERR_REMOTE_KEY',
      `The encryption key from ${source} must be ${ENVELOPE_KEY_LENGTH * 2} hexadecimal characters`,
    )
  }
  return Buffer.from(trimmed, 'hex')
}

/** Finds the key: the option, else the key file, else the environment. */
export function resolveEncryptionKey(options: RemoteTierOptions): Buffer {
  const { encryptionKey } = options
  if (encryptionKey !== undefined) {
    if (typeof encryptionKey === 'string') return parseHexKey(encryptionKey, 'remote.encryptionKey')
    if (!(encryptionKey instanceof Uint8Array)) {
      throw invalidArgumentType('remote.encryptionKey must be a Uint8Array or a hex string')
    }
    if (encryptionKey.length !== ENVELOPE_KEY_LENGTH) {
      throw new StorageError(
        'ERR_REMOTE_KEY',
        `remote.encryptionKey must be ${ENVELOPE_KEY_LENGTH} bytes, got ${encryptionKey.length}`,
      )
    }
    return Buffer.from(encryptionKey)
  }
  if (options.encryptionKeyFile !== undefined) {
    let text: string
    try {
      text = readFileSync(options.encryptionKeyFile, 'utf8')
    } catch (error) {
      throw new StorageError('ERR_REMOTE_KEY', `Cannot read the key file ${options.encryptionKeyFile}`, {
        cause: error,
      })
    }
    return parseHexKey(text, `the key file ${options.encryptionKeyFile}`)
  }
  const fromEnvironment = process.env[ENCRYPTION_KEY_ENV]
  if (fromEnvironment !== undefined && fromEnvironment !== '') {
    return parseHexKey(fromEnvironment, `$${ENCRYPTION_KEY_ENV}`)
  }
  throw new StorageError(
    'ERR_REMOTE_KEY',
    `The remote tier needs an encryption key: remote.encryptionKey, remote.encryptionKeyFile or $${ENCRYPTION_KEY_ENV}`,
  )
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalidArgumentType(`remote.${name} must be a positive integer`)
  }
  return value
}

function remoteError(error: unknown, what: string): StorageError {
  if (StorageError.isInstance(error)) return error
  const name = (error as { name?: unknown })?.name
  if (name === 'AbortError') {
    return new StorageError('ERR_REMOTE_ABORTED', `${what}: aborted`, { cause: error })
  }
  const message = error instanceof Error ? error.message : String(error)
  return new StorageError('ERR_REMOTE_IO', `${what}: ${message}`, { cause: error })
}

/** A bucket holding chunk envelopes. */
export class RemoteTier {
  readonly bucket: string
  readonly prefix: string
  readonly keyId: string
  readonly uploadConcurrency: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
  readonly #client: S3Client
  readonly #key: Buffer

  constructor(options: RemoteTierOptions) {
    if (typeof options !== 'object' || options === null) throw invalidArgumentType('remote must be an object')
    if (typeof options.bucket !== 'string' || options.bucket.length === 0) {
      throw invalidArgumentType('remote.bucket must be a non-empty string')
    }
    this.#key = resolveEncryptionKey(options)
    this.bucket = options.bucket
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '')
    this.keyId = options.keyId ?? DEFAULT_KEY_ID
    this.uploadConcurrency = positive(options.uploadConcurrency, 'uploadConcurrency', 4)
    this.retryBaseDelayMs = positive(options.retryBaseDelayMs, 'retryBaseDelayMs', 500)
    this.retryMaxDelayMs = positive(options.retryMaxDelayMs, 'retryMaxDelayMs', 30_000)
    const requestTimeout = positive(options.requestTimeoutMs, 'requestTimeoutMs', 60_000)
    this.#client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      credentials: options.credentials,
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      // The store retries uploads itself, with its own backoff; a read fails fast.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: Math.min(requestTimeout, 10_000), requestTimeout },
    })
  }

  /** The object key of a chunk: the parity layout, under the prefix. */
  keyFor(chunkId: string): string {
    const key = objectKeyFor(chunkId)
    return this.prefix === '' ? key : `${this.prefix}/${key}`
  }

  locationFor(chunkId: string): string {
    return objectLocation(this.bucket, this.keyFor(chunkId))
  }

  /** Encrypts (a fresh nonce) and uploads a chunk; resolves with the object's location and size. */
  async put(
    chunkId: string,
    plaintext: Uint8Array,
    signal?: AbortSignal,
  ): Promise<{ location: string; size: number }> {
    const body = encodeEnvelope(plaintext, this.#key, { keyId: this.keyId })
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.keyFor(chunkId),
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
        }),
        { abortSignal: signal },
      )
    } catch (error) {
      throw remoteError(error, `Uploading chunk ${chunkId} to ${this.locationFor(chunkId)}`)
    }
    return { location: this.locationFor(chunkId), size: body.length }
  }

  /**
   * Downloads, authenticates and decrypts a chunk. `expectedLength` is the chunk's length: any
   * other plaintext length is `ERR_REMOTE_CORRUPT`. A wrong key or altered bytes is
   * `ERR_ENVELOPE_AUTH`, a cut object `ERR_ENVELOPE_TRUNCATED`: never data.
   */
  async get(chunkId: string, expectedLength: number, signal?: AbortSignal): Promise<Buffer> {
    const location = this.locationFor(chunkId)
    let body: Uint8Array
    try {
      const response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.keyFor(chunkId) }),
        { abortSignal: signal },
      )
      if (response.Body === undefined) throw new Error('the response has no body')
      body = await response.Body.transformToByteArray()
    } catch (error) {
      throw remoteError(error, `Fetching chunk ${chunkId} from ${location}`)
    }
    let plaintext: Buffer
    try {
      plaintext = decodeEnvelope(body, (keyId) => {
        if (keyId !== this.keyId) {
          throw new StorageError(
            'ERR_ENVELOPE_AUTH',
            `The object ${location} was encrypted with key id ${JSON.stringify(keyId)}, this store has ${JSON.stringify(this.keyId)}`,
          )
        }
        return this.#key
      }).plaintext
    } catch (error) {
      if (StorageError.isInstance(error) && error.code === 'ERR_ENVELOPE_AUTH') {
        throw new StorageError(
          'ERR_ENVELOPE_AUTH',
          `The object ${location} failed authentication: the encryption key is wrong, or the object was altered`,
          { cause: error },
        )
      }
      if (StorageError.isInstance(error)) {
        throw new StorageError(error.code, `The object ${location}: ${error.message}`, { cause: error })
      }
      throw error
    }
    if (plaintext.length !== expectedLength) {
      throw new StorageError(
        'ERR_REMOTE_CORRUPT',
        `The object ${location} holds ${plaintext.length} bytes, the chunk has ${expectedLength}`,
      )
    }
    return plaintext
  }

  destroy(): void {
    this.#client.destroy()
  }
}
