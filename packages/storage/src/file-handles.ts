// A small cache of open chunk files, so hot chunks are read and written with positional I/O on a
// descriptor that stays open instead of an open/close per piece. Least recently used files are
// closed past the limit; files with unsynced writes are kept (they are synced soon, and a sync
// must use the descriptor that wrote, to see write-back errors) unless the cache holds twice its
// limit, and then `beforeClose` syncs them first, at most `limit` of them at a time (the others
// stay cached: their descriptors are open either way until a sync).
//
// An existing chunk file is opened, and a clean one closed, on the JavaScript thread: on a local
// file system that is a few microseconds, against a round trip through the libuv thread pool that
// the reads themselves need (measured: 1,024 chunk files read once in a fresh process, 8 reads in
// flight, 106-153 ms with synchronous open/close, 149-206 ms through the pool; one file 77-123 ms).
// The index, SQLite, is synchronous on this thread already. Creating a file (a journal handle on
// ext4, which may wait for a commit) and closing one with unsynced writes (a flush on NFS) go
// through the pool.

import { close, closeSync, constants, fdatasync, open, openSync, read, write } from 'node:fs'

/** An open chunk file: a descriptor with the positional calls the store makes on it. */
export class ChunkFile {
  readonly fd: number
  #closed = false

  constructor(fd: number) {
    this.fd = fd
  }

  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }> {
    return new Promise((resolve, reject) => {
      write(this.fd, buffer, offset, length, position, (error, bytesWritten) => {
        if (error !== null) reject(error)
        else resolve({ bytesWritten })
      })
    })
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fdatasync(this.fd, (error) => {
        if (error !== null) reject(error)
        else resolve()
      })
    })
  }

  /** Closes the descriptor: on this thread when `clean` (nothing to flush), else in the pool. */
  close(clean: boolean): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    if (clean) {
      try {
        closeSync(this.fd)
        return Promise.resolve()
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return new Promise((resolve, reject) => {
      close(this.fd, (error) => {
        if (error !== null) reject(error)
        else resolve()
      })
    })
  }
}

interface Entry {
  readonly key: string
  opening: Promise<ChunkFile>
  handle: ChunkFile | undefined
  references: number
  doomed: boolean
}

export interface FileLease {
  readonly handle: ChunkFile
  release(): void
}

const readWrite = constants.O_RDWR
const readWriteCreate = constants.O_RDWR | constants.O_CREAT

/** A chunk file opened with O_CREAT, in the pool (an ext4 journal handle may wait for a commit). */
function createChunkFile(path: string): Promise<ChunkFile> {
  return new Promise((resolve, reject) => {
    open(path, readWriteCreate, 0o644, (error, fd) => {
      if (error !== null) reject(error)
      else resolve(new ChunkFile(fd))
    })
  })
}

export class FileHandleCache {
  readonly #entries = new Map<string, Entry>()
  readonly #limit: number
  readonly #isDirty: (key: string) => boolean
  readonly #beforeClose: (key: string, handle: ChunkFile) => Promise<void>
  readonly #afterClose: () => void
  readonly #closing = new Set<Promise<void>>()
  /** Dirty handles taken out of the cache whose sync-then-close has not finished. */
  #dirtyClosing = 0
  /** Descriptors open now (cached, leased or closing), and the most at once. */
  #descriptors = 0
  #peakDescriptors = 0
  #closed = false

  constructor(
    limit: number,
    isDirty: (key: string) => boolean,
    beforeClose: (key: string, handle: ChunkFile) => Promise<void>,
    afterClose: () => void = () => {},
  ) {
    this.#limit = limit
    this.#isDirty = isDirty
    this.#beforeClose = beforeClose
    this.#afterClose = afterClose
  }

  get size(): number {
    return this.#entries.size
  }

  /** Descriptors open now: cached, leased, or taken out of the cache and not yet closed. */
  get descriptors(): number {
    return this.#descriptors
  }

  /** The most descriptors open at once since the cache was made. */
  get peakDescriptors(): number {
    return this.#peakDescriptors
  }

  /** Whether `key` has a handle here (open or opening) that an acquire would share. */
  holds(key: string): boolean {
    const entry = this.#entries.get(key)
    return entry !== undefined && !entry.doomed
  }

  /**
   * A handle on `path`, opened read-write. With `create`, a missing file is created; without it a
   * missing file rejects with the fs error (code ENOENT). Release the lease when done.
   */
  async acquire(key: string, path: string, create: boolean): Promise<FileLease> {
    if (this.#closed) throw new Error('The chunk file cache is closed')
    let entry = this.#entries.get(key)
    if (entry !== undefined && !entry.doomed) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
      entry.references++
    } else {
      entry = this.#open(key, path, create)
    }
    let handle: ChunkFile
    try {
      handle = await entry.opening
    } catch (error) {
      entry.references--
      if (this.#entries.get(key) === entry) this.#entries.delete(key)
      if (create && (error as NodeJS.ErrnoException).code === 'ENOENT') return this.acquire(key, path, true)
      throw error
    }
    return this.#lease(entry, handle)
  }

  /**
   * A lease on the handle of `key`, synchronously: its open handle when there is one; else, given
   * `path`, the existing file opened now on this thread (throwing the fs error, code ENOENT for a
   * missing file). Undefined when neither (a handle still opening, or no `path`): use
   * {@link acquire}. The hot path of reads, which need no task of their own to find a handle.
   */
  tryAcquire(key: string, path?: string): FileLease | undefined {
    if (this.#closed) return undefined
    const entry = this.#entries.get(key)
    if (entry === undefined) {
      if (path === undefined) return undefined
      const opened = this.#open(key, path, false)
      return this.#lease(opened, opened.handle!)
    }
    if (entry.doomed || entry.handle === undefined) return undefined
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    entry.references++
    return this.#lease(entry, entry.handle)
  }

  /** One more descriptor open. */
  #counted(): void {
    this.#descriptors++
    if (this.#descriptors > this.#peakDescriptors) this.#peakDescriptors = this.#descriptors
  }

  /** One descriptor fewer: closed (or its close failed, which frees it too). */
  #uncounted(): void {
    this.#descriptors--
    this.#afterClose()
  }

  #lease(owner: Entry, handle: ChunkFile): FileLease {
    let released = false
    return {
      handle,
      release: () => {
        if (released) return
        released = true
        owner.references--
        if (owner.doomed && owner.references === 0) this.#track(this.#closeEntry(owner, false))
        else this.trim()
      },
    }
  }

  /**
   * A new entry holding one reference: an existing file opened now, on this thread (throwing its
   * fs error, code ENOENT when missing), or with `create` a file created in the pool.
   */
  #open(key: string, path: string, create: boolean): Entry {
    let entry: Entry
    if (create) {
      const created: Entry = {
        key,
        opening: createChunkFile(path),
        handle: undefined,
        references: 1,
        doomed: false,
      }
      created.opening.then(
        (handle) => {
          created.handle = handle
          this.#counted()
        },
        () => {},
      )
      entry = created
    } else {
      const handle = new ChunkFile(openSync(path, readWrite))
      entry = { key, opening: Promise.resolve(handle), handle, references: 1, doomed: false }
      this.#counted()
    }
    this.#entries.set(key, entry)
    this.trim()
    return entry
  }

  /**
   * Closes what the limit asks for now: clean unused handles past it, and dirty ones (through
   * `beforeClose`) past twice it. Runs by itself at every open and release.
   */
  trim(): void {
    if (this.#entries.size <= this.#limit) return
    for (const closeDirty of [false, true]) {
      if (closeDirty && this.#entries.size <= 2 * this.#limit) return
      for (const entry of this.#entries.values()) {
        if (this.#entries.size <= this.#limit) return
        if (entry.references > 0 || entry.handle === undefined) continue
        const dirty = this.#isDirty(entry.key)
        if (!closeDirty && dirty) continue
        // At most `limit` dirty handles wait for their sync-then-close at once: past that, a dirty
        // handle stays in the cache (its descriptor is open either way until a sync), so that a
        // burst of dirty chunks does not queue a sync each behind the commits' syncs, nor get
        // opened a second time while the first descriptor waits.
        if (dirty && this.#dirtyClosing >= this.#limit) return
        this.#entries.delete(entry.key)
        entry.doomed = true
        if (!dirty) {
          // Nothing to sync and nobody holds it: closed now, on this thread (no task, no flush).
          void entry.handle.close(true).catch(() => {})
          this.#uncounted()
          continue
        }
        this.#dirtyClosing++
        this.#track(
          this.#closeEntry(entry, true).finally(() => {
            this.#dirtyClosing--
          }),
        )
      }
    }
  }

  async #closeEntry(entry: Entry, sync: boolean): Promise<void> {
    let handle: ChunkFile
    try {
      handle = await entry.opening
    } catch {
      return
    }
    try {
      if (sync) await this.#beforeClose(entry.key, handle)
    } finally {
      await handle.close(!this.#isDirty(entry.key)).catch(() => {})
      this.#uncounted()
    }
  }

  #track(closing: Promise<void>): void {
    const tracked = closing.catch(() => {}).finally(() => this.#closing.delete(tracked))
    this.#closing.add(tracked)
  }

  /** Closes the handle of `key` without syncing (its bytes are being discarded), once unused. */
  async drop(key: string): Promise<void> {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    entry.doomed = true
    if (entry.references === 0) await this.#closeEntry(entry, false)
  }

  /** Closes every handle (syncing those `beforeClose` wants synced), waits for pending closes, and refuses new ones. */
  async closeAll(sync: boolean): Promise<void> {
    this.#closed = true
    const entries = [...this.#entries.values()]
    this.#entries.clear()
    for (const entry of entries) {
      entry.doomed = true
      if (entry.references === 0) this.#track(this.#closeEntry(entry, sync))
    }
    while (this.#closing.size > 0) await Promise.all([...this.#closing])
  }
}

/**
 * Reads `length` bytes at `position` of an open file into `output` from `outputOffset`, looping
 * over short reads; resolves to the bytes read (fewer only at the end of the file). The callback
 * API on the descriptor: one promise per call (the read hot path).
 * The caller keeps the handle open (holds its lease) until this settles.
 */
export function readFully(
  handle: ChunkFile,
  output: Uint8Array,
  outputOffset: number,
  length: number,
  position: number,
): Promise<number> {
  const { fd } = handle
  return new Promise((resolve, reject) => {
    let done = 0
    const next = () =>
      read(fd, output, outputOffset + done, length - done, position + done, (error, bytesRead) => {
        if (error !== null) return reject(error)
        done += bytesRead
        if (bytesRead === 0 || done >= length) resolve(done)
        else next()
      })
    next()
  })
}
