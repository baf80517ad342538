// The store's settings beyond its directory: the remote tier (an S3-compatible bucket holding an
// encrypted copy of every chunk) and the cache limit, from the command line (--remote-endpoint,
// --remote-bucket, --remote-region, --remote-prefix, --cache-limit, --upload-timeout,
// --delete-timeout) over a config
// file (`$CHUNKTORRENT_CONFIG`, else `<store>/config.json`). Credentials come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), the encryption key from
// CHUNKTORRENT_ENCRYPTION_KEY or the config's `encryptionKeyFile`. The key is never printed.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ChunkStorage, RemoteTierOptions } from '@chunktorrent/storage'
import { CliError, usageError } from './errors.ts'
import type { Output } from './output.ts'
import { formatBytes, formatDuration, parseDuration, parseSize } from './units.ts'

export interface RemoteFlags {
  remoteEndpoint?: string
  remoteBucket?: string
  remoteRegion?: string
  remotePrefix?: string
  cacheLimit?: string
  uploadTimeout?: string
  deleteTimeout?: string
}

/** What ChunkStorage.open gets besides the directory. */
export interface StoreSettings {
  cacheLimitBytes?: number
  remote?: RemoteTierOptions
  pinOpenTorrents?: boolean
  /** How long download and import wait for their uploads, in milliseconds. */
  uploadTimeoutMs: number
  /** How long rm waits for the deletion of the torrent's objects (default DEFAULT_DELETE_TIMEOUT_MS). */
  deleteTimeoutMs?: number
  /** "s3://bucket/prefix" (or with the endpoint), for messages. */
  remoteName?: string
}

export const DEFAULT_UPLOAD_TIMEOUT_MS = 10 * 60_000
export const DEFAULT_DELETE_TIMEOUT_MS = 10 * 60_000

interface ConfigFile {
  remote?: {
    endpoint?: string
    bucket?: string
    region?: string
    prefix?: string
    encryptionKeyFile?: string
  }
  cacheLimit?: string | number
  uploadTimeout?: string | number
  deleteTimeout?: string | number
}

const configKeys = new Set(['remote', 'cacheLimit', 'uploadTimeout', 'deleteTimeout'])
const remoteKeys = new Set(['endpoint', 'bucket', 'region', 'prefix', 'encryptionKeyFile'])

/** The config file's path: $CHUNKTORRENT_CONFIG, else `<store>/config.json`. */
export function configPath(store: string, environment = process.env): { path: string; explicit: boolean } {
  const chosen = environment.CHUNKTORRENT_CONFIG
  return chosen
    ? { path: resolve(chosen), explicit: true }
    : { path: join(store, 'config.json'), explicit: false }
}

/** Reads and checks the config file; a missing default file is an empty config. */
export function loadConfig(store: string, environment = process.env): ConfigFile & { path?: string } {
  const { path, explicit } = configPath(store, environment)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {}
    throw usageError(`Cannot read the config file ${path}: ${(error as Error).message}`, 'ERR_CONFIG')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw usageError(`The config file ${path} is not valid JSON: ${(error as Error).message}`, 'ERR_CONFIG')
  }
  const bad = (what: string) => usageError(`The config file ${path}: ${what}`, 'ERR_CONFIG')
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not a JSON object')
  const config = parsed as Record<string, unknown>
  for (const key of Object.keys(config)) {
    if (!configKeys.has(key)) throw bad(`unknown setting "${key}" (known: ${[...configKeys].join(', ')})`)
  }
  for (const key of ['cacheLimit', 'uploadTimeout', 'deleteTimeout']) {
    const value = config[key]
    if (value !== undefined && typeof value !== 'string' && typeof value !== 'number') {
      throw bad(`"${key}" must be a string like "64MiB" / "10m" or a number`)
    }
  }
  const remote = config.remote
  if (remote !== undefined) {
    if (typeof remote !== 'object' || remote === null || Array.isArray(remote))
      throw bad('"remote" must be an object')
    for (const [key, value] of Object.entries(remote)) {
      if (!remoteKeys.has(key)) {
        throw bad(
          key === 'encryptionKey'
            ? '"remote.encryptionKey" is not read from the config file: use $CHUNKTORRENT_ENCRYPTION_KEY or "remote.encryptionKeyFile"'
            : `unknown setting "remote.${key}" (known: ${[...remoteKeys].join(', ')})`,
        )
      }
      if (typeof value !== 'string' || value.length === 0)
        throw bad(`"remote.${key}" must be a non-empty string`)
    }
  }
  return { ...(config as ConfigFile), path }
}

function checkEndpoint(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usageError(
      `--remote-endpoint: "${text}" is not a URL (example: http://127.0.0.1:9000)`,
      'ERR_INVALID_REMOTE',
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`--remote-endpoint: "${text}" must be an http:// or https:// URL`, 'ERR_INVALID_REMOTE')
  }
  return text
}

/**
 * The flags over the config file, checked: bad values are usage errors (exit 2) before anything
 * opens. A remote tier needs a bucket, credentials and a key (its form is checked here; the key
 * file's content when the store opens).
 */
export function storeSettings(store: string, flags: RemoteFlags, environment = process.env): StoreSettings {
  const config = loadConfig(store, environment)
  const fromFile = config.remote ?? {}
  const sizeText =
    flags.cacheLimit ?? (config.cacheLimit === undefined ? undefined : String(config.cacheLimit))
  const timeoutText =
    flags.uploadTimeout ?? (config.uploadTimeout === undefined ? undefined : String(config.uploadTimeout))
  const settings: StoreSettings = {
    uploadTimeoutMs:
      timeoutText === undefined
        ? DEFAULT_UPLOAD_TIMEOUT_MS
        : parseDuration(timeoutText, { name: '--upload-timeout' }) * 1000,
  }
  if (sizeText !== undefined)
    settings.cacheLimitBytes = parseSize(sizeText, { name: '--cache-limit', min: 1 })
  const deleteTimeoutText =
    flags.deleteTimeout ?? (config.deleteTimeout === undefined ? undefined : String(config.deleteTimeout))
  if (deleteTimeoutText !== undefined) {
    settings.deleteTimeoutMs = parseDuration(deleteTimeoutText, { name: '--delete-timeout' }) * 1000
  }

  const endpoint = flags.remoteEndpoint ?? fromFile.endpoint
  const bucket = flags.remoteBucket ?? fromFile.bucket
  const region = flags.remoteRegion ?? fromFile.region
  const prefix = flags.remotePrefix ?? fromFile.prefix
  if (bucket === undefined) {
    if (endpoint !== undefined || flags.remoteRegion !== undefined || flags.remotePrefix !== undefined) {
      throw usageError(
        '--remote-bucket is missing: the remote tier needs a bucket (--remote-bucket NAME, or "remote.bucket" in the config file)',
        'ERR_INVALID_REMOTE',
      )
    }
    return settings
  }
  if (bucket.length === 0 || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw usageError(
      `--remote-bucket: "${bucket}" is not a bucket name (3-63 of a-z, 0-9, ".", "-")`,
      'ERR_INVALID_REMOTE',
    )
  }
  if (endpoint !== undefined) checkEndpoint(endpoint)
  if (region !== undefined && !/^[a-z0-9-]+$/.test(region)) {
    throw usageError(
      `--remote-region: "${region}" is not a region name (example: us-east-1)`,
      'ERR_INVALID_REMOTE',
    )
  }
  const accessKeyId = environment.AWS_ACCESS_KEY_ID
  const secretAccessKey = environment.AWS_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) {
    throw usageError(
      `The remote tier needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${!accessKeyId ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is not set)`,
      'ERR_REMOTE_CREDENTIALS',
    )
  }
  const key = environment.CHUNKTORRENT_ENCRYPTION_KEY
  const keyFile = fromFile.encryptionKeyFile
  if (key) {
    if (!/^[0-9a-fA-F]{64}$/.test(key.trim())) {
      throw usageError(
        '$CHUNKTORRENT_ENCRYPTION_KEY must be 64 hexadecimal characters (a 32-byte key; e.g. openssl rand -hex 32)',
        'ERR_REMOTE_KEY',
      )
    }
  } else if (keyFile === undefined) {
    throw usageError(
      'The remote tier needs an encryption key: set CHUNKTORRENT_ENCRYPTION_KEY (64 hex characters, e.g. openssl rand -hex 32) or "remote.encryptionKeyFile" in the config file',
      'ERR_REMOTE_KEY',
    )
  }
  settings.remote = {
    ...(endpoint !== undefined && { endpoint }),
    bucket,
    region: region ?? environment.AWS_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId,
      secretAccessKey,
      ...(environment.AWS_SESSION_TOKEN && { sessionToken: environment.AWS_SESSION_TOKEN }),
    },
    ...(prefix !== undefined && { prefix }),
    ...(key ? { encryptionKey: key.trim() } : { encryptionKeyFile: resolve(keyFile as string) }),
  }
  settings.pinOpenTorrents = false
  settings.remoteName = `s3://${bucket}${prefix ? `/${prefix.replace(/^\/+|\/+$/g, '')}` : ''}${endpoint ? ` at ${endpoint}` : ''}`
  return settings
}

/** The remote figures of the store, or undefined without a remote tier. */
export function remoteFigures(storage: ChunkStorage) {
  const { remote, cacheHits, cacheMisses } = storage.stats()
  return remote === undefined ? undefined : { ...remote, cacheHits, cacheMisses }
}

type RemoteFigures = NonNullable<ReturnType<typeof remoteFigures>>

/** The moments of a wait, each with its event. */
type WaitPhase = 'start' | 'progress' | 'pending' | 'done'

/** What a bounded wait for one of the remote tier's background queues says and does. */
interface QueueWait {
  /** The queue's size in the figures, and its field name in the events. */
  field: 'pendingUploads' | 'pendingDeletions'
  flush(storage: ChunkStorage, signal: AbortSignal): Promise<void>
  timeoutMs: number
  events: Record<WaitPhase, string>
  /** The figures an event carries besides the queue's size (and `seconds` at the end). */
  fields(figures: RemoteFigures | undefined, phase: WaitPhase): Record<string, number>
  failedAttempts(figures: RemoteFigures | undefined): number
  /** The error code when the time runs out (exit 1), or the run is interrupted, with work pending. */
  code: string
  starting(pending: number, waitText: string): string
  done(figures: RemoteFigures | undefined): string
  /** "N chunk(s) are still pending upload to s3://…" */
  stillPending(pending: number): string
  /** What becomes of what is left, as a clause: "they are … ". */
  later: string
}

/**
 * Waits (bounded) for one of the remote tier's background queues, reporting as it goes. Resolves
 * at once without a remote tier. Fails (exit 1) saying how much is still pending when the time
 * runs out; an interruption rejects with the signal's reason, after a warning.
 */
async function waitForQueue(
  output: Output,
  storage: ChunkStorage,
  interrupted: AbortSignal,
  wait: QueueWait,
): Promise<void> {
  const first = remoteFigures(storage)
  if (first === undefined) return
  const started = Date.now()
  const pendingOf = (figures: RemoteFigures | undefined) => figures?.[wait.field] ?? 0
  if (pendingOf(first) > 0) {
    output.event(
      wait.events.start,
      { [wait.field]: pendingOf(first), ...wait.fields(first, 'start') },
      wait.starting(pendingOf(first), `waiting up to ${formatDuration(wait.timeoutMs / 1000)}`),
    )
  }
  const timer = setInterval(() => {
    const now = remoteFigures(storage)
    if (pendingOf(now) > 0) {
      output.event(wait.events.progress, { [wait.field]: pendingOf(now), ...wait.fields(now, 'progress') })
    }
  }, 1000)
  const timeout = AbortSignal.timeout(wait.timeoutMs)
  try {
    await wait.flush(storage, AbortSignal.any([timeout, interrupted]))
  } catch (error) {
    const now = remoteFigures(storage)
    const pending = pendingOf(now)
    if (interrupted.aborted) {
      if (pending > 0) output.warning(`${wait.stillPending(pending)}; ${wait.later}`, wait.code)
      throw error
    }
    output.event(wait.events.pending, {
      [wait.field]: pending,
      ...wait.fields(now, 'pending'),
      seconds: (Date.now() - started) / 1000,
    })
    const failed = wait.failedAttempts(now)
    const reason = timeout.aborted
      ? `not confirmed within ${formatDuration(wait.timeoutMs / 1000)}${failed > 0 ? ` (${failed} failed attempts: is the endpoint reachable?)` : ''}`
      : (error as Error).message
    const later = `${wait.later[0]!.toUpperCase()}${wait.later.slice(1)}`
    throw new CliError(`${wait.stillPending(pending)}: ${reason}. ${later}`, {
      code: wait.code,
      cause: error,
    })
  } finally {
    clearInterval(timer)
  }
  const done = remoteFigures(storage)
  output.event(
    wait.events.done,
    { [wait.field]: 0, ...wait.fields(done, 'done'), seconds: (Date.now() - started) / 1000 },
    wait.done(done),
  )
}

/**
 * Waits (bounded) until every complete chunk has a confirmed remote copy (download, import).
 * Resolves at once without a remote tier. Fails (exit 1, `ERR_UPLOAD_PENDING`) saying how many
 * chunks are still pending when `--upload-timeout` runs out; an interruption rejects with the
 * signal's reason.
 */
export function waitForUploads(
  output: Output,
  storage: ChunkStorage,
  settings: StoreSettings,
  interrupted: AbortSignal,
): Promise<void> {
  return waitForQueue(output, storage, interrupted, {
    field: 'pendingUploads',
    flush: (store, signal) => store.flushUploads({ signal }),
    timeoutMs: settings.uploadTimeoutMs,
    events: { start: 'uploading', progress: 'upload-progress', pending: 'upload-pending', done: 'uploaded' },
    fields: (figures, phase) => ({
      objects: figures?.objects ?? 0,
      bytes: figures?.bytes ?? 0,
      ...(phase === 'done' && { uploadsDone: figures?.uploadsDone ?? 0 }),
      ...(phase !== 'start' && { uploadsFailed: figures?.uploadsFailed ?? 0 }),
    }),
    failedAttempts: (figures) => figures?.uploadsFailed ?? 0,
    code: 'ERR_UPLOAD_PENDING',
    starting: (pending, waitText) =>
      `Uploading ${pending} chunk(s) to ${settings.remoteName} (${waitText})...`,
    done: (figures) =>
      `Uploaded: every chunk has a copy in ${settings.remoteName} (${figures?.objects ?? 0} objects, ${formatBytes(figures?.bytes ?? 0)})`,
    stillPending: (pending) => `${pending} chunk(s) are still pending upload to ${settings.remoteName}`,
    later: 'they are safe in the local store and upload on the next run that opens it with the remote tier',
  })
}

/**
 * Waits (bounded) until the bucket confirmed the deletion of every object of the deleted torrents
 * (rm). Resolves at once without a remote tier. Fails (exit 1, `ERR_DELETE_PENDING`) saying how
 * many objects are still pending when `--delete-timeout` runs out; they stay recorded in the store
 * and are deleted by the next run that opens it with the remote tier.
 */
export function waitForDeletions(
  output: Output,
  storage: ChunkStorage,
  settings: StoreSettings,
  interrupted: AbortSignal,
): Promise<void> {
  return waitForQueue(output, storage, interrupted, {
    field: 'pendingDeletions',
    flush: (store, signal) => store.flushDeletions({ signal }),
    timeoutMs: settings.deleteTimeoutMs ?? DEFAULT_DELETE_TIMEOUT_MS,
    events: {
      start: 'remote-deleting',
      progress: 'remote-delete-progress',
      pending: 'remote-delete-pending',
      done: 'remote-deleted',
    },
    fields: (figures) => ({
      deletionsDone: figures?.deletionsDone ?? 0,
      deletionsFailed: figures?.deletionsFailed ?? 0,
    }),
    failedAttempts: (figures) => figures?.deletionsFailed ?? 0,
    code: 'ERR_DELETE_PENDING',
    starting: (pending, waitText) =>
      `Deleting ${pending} object(s) from ${settings.remoteName} (${waitText})...`,
    done: (figures) =>
      `Deleted ${figures?.deletionsDone ?? 0} object(s) from ${settings.remoteName}: nothing of the removed torrents is left there`,
    stillPending: (pending) => `${pending} object(s) are still pending deletion from ${settings.remoteName}`,
    later:
      'they stay recorded in the store and are deleted by the next run that opens it with the remote tier',
  })
}
