// Runs the disk jobs native code hands over (in batches) against a DiskIo object, keeps the
// ordering libtorrent relies on (open first; barrier jobs after everything issued before them),
// and reports each outcome back with one completeJob call, errors mapped onto errno values.
import { constants } from 'node:os'
import type { NativeSession } from './binding.ts'
import type { DiskIo, DiskJob, DiskStorage, DiskStorageInfo, FileSlice, RawJob } from './types.ts'

const errnoByName = constants.errno as Record<string, number>
const EIO = errnoByName.EIO ?? 5
const STATUS_NEED_FULL_CHECK = 2

/** The errno for an error thrown by a backend: its own `code` (or `syscallCode`), a cause's, or EIO. */
export function errnoOf(error: unknown): number {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const { code, errno, syscallCode } = current as { code?: unknown; errno?: unknown; syscallCode?: unknown }
    if (typeof code === 'string' && errnoByName[code] !== undefined) return errnoByName[code]
    if (typeof syscallCode === 'string' && errnoByName[syscallCode] !== undefined)
      return errnoByName[syscallCode]
    if (typeof errno === 'number' && errno !== 0 && Math.abs(errno) < 4096) return Math.abs(errno)
    current = (current as { cause?: unknown }).cause
  }
  return EIO
}

function fileIndexOf(error: unknown): number {
  const fileIndex = (error as { fileIndex?: unknown } | null)?.fileIndex
  return typeof fileIndex === 'number' && Number.isInteger(fileIndex) ? fileIndex : -1
}

export function makeDiskStorage(info: DiskStorageInfo): DiskStorage {
  const pieceSize = (piece: number): number => {
    if (!Number.isInteger(piece) || piece < 0 || piece >= info.pieceCount) return 0
    return Math.min(info.pieceLength, info.totalSize - piece * info.pieceLength)
  }
  const mapPiece = (piece: number, offset = 0, length = pieceSize(piece) - offset): FileSlice[] => {
    const start = piece * info.pieceLength + offset
    const end = start + length
    const slices: FileSlice[] = []
    for (const file of info.files) {
      if (file.pad || file.length === 0) continue
      const fileEnd = file.offset + file.length
      if (fileEnd <= start) continue
      if (file.offset >= end) break
      const from = Math.max(start, file.offset)
      const to = Math.min(end, fileEnd)
      slices.push({
        fileIndex: file.index,
        path: file.path,
        fileOffset: from - file.offset,
        pieceOffset: from - piece * info.pieceLength,
        length: to - from,
      })
    }
    return slices
  }
  return Object.freeze({
    ...info,
    files: info.files.map((file) => Object.freeze({ ...file })),
    pieceSize,
    mapPiece,
  })
}

interface StorageState {
  storage: DiskStorage
  ready: Promise<void>
  inflight: Set<Promise<unknown>>
}

const barrierTypes = new Set(['clear', 'release', 'stop', 'delete', 'move', 'rename', 'priority', 'close'])

export interface DispatcherEvents {
  onError(error: Error): void
}

export class DiskDispatcher {
  readonly #diskIo: DiskIo
  readonly #native: NativeSession
  readonly #events: DispatcherEvents
  readonly #storages = new Map<number, StorageState>()

  readonly #release: (buffer: Uint8Array) => unknown

  constructor(
    diskIo: DiskIo,
    native: NativeSession,
    events: DispatcherEvents,
    release: (buffer: Uint8Array) => unknown,
  ) {
    this.#diskIo = diskIo
    this.#native = native
    this.#events = events
    this.#release = release
  }

  /** Storages libtorrent currently has open, by storage index. */
  get storages(): ReadonlyMap<number, DiskStorage> {
    return new Map([...this.#storages].map(([index, state]) => [index, state.storage]))
  }

  /** Resolves when every job handed over so far has settled. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.#storages.values()].flatMap((state) => [...state.inflight])
      if (pending.length === 0) return
      await Promise.allSettled(pending)
    }
  }

  dispatch(jobs: RawJob[]): void {
    for (const raw of jobs) {
      if (raw.type === 'open') {
        this.#open(raw)
        continue
      }
      const state = this.#storages.get(raw.storage)
      if (!state) {
        // Cannot happen while native code keeps its order; answer rather than leave libtorrent waiting.
        this.#complete(raw.id, EIO, -1, undefined, 0)
        continue
      }
      if (raw.type === 'close') this.#storages.delete(raw.storage)
      const before = barrierTypes.has(raw.type) ? [state.ready, ...state.inflight] : [state.ready]
      const run = Promise.allSettled(before).then(() => this.#run(raw, state.storage))
      state.inflight.add(run)
      void run.finally(() => state.inflight.delete(run))
    }
  }

  #open(raw: RawJob): void {
    const storage = makeDiskStorage(raw.info as DiskStorageInfo)
    const ready = Promise.resolve()
      .then(() => this.#diskIo.open?.(storage))
      .then(
        () => undefined,
        (error: unknown) => this.#events.onError(asError(error)),
      )
    this.#storages.set(raw.storage, { storage, ready, inflight: new Set() })
  }

  async #run(raw: RawJob, storage: DiskStorage): Promise<void> {
    const job = toJob(raw, storage)
    let result: Uint8Array | string | null | undefined
    let status = 0
    try {
      switch (job?.type ?? raw.type) {
        case 'write':
          await this.#diskIo.writePiece(job as Extract<DiskJob, { type: 'write' }>)
          // Released only after a success: a failed write may still have I/O in flight on it
          // (that Buffer is left to the garbage collector).
          if (!this.#diskIo.retainsWriteData && raw.data) this.#release(raw.data)
          break
        case 'read': {
          const read = job as Extract<DiskJob, { type: 'read' }>
          const bytes = await this.#diskIo.readPiece(read)
          if (bytes !== null && (!(bytes instanceof Uint8Array) || bytes.byteLength !== read.length)) {
            throw Object.assign(
              new Error(
                `readPiece(${read.piece}) returned ${bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : typeof bytes}, expected ${read.length} bytes or null`,
              ),
              { code: 'EIO' },
            )
          }
          result = bytes
          break
        }
        case 'check': {
          const answer = (await this.#diskIo.checkFiles?.(job as Extract<DiskJob, { type: 'check' }>)) ?? 'ok'
          if (answer === 'need-full-check') status = STATUS_NEED_FULL_CHECK
          break
        }
        case 'clear':
          await this.#diskIo.clearPiece?.(job as Extract<DiskJob, { type: 'clear' }>)
          break
        case 'release':
          await this.#diskIo.releaseFiles?.(job as Extract<DiskJob, { type: 'release' }>)
          break
        case 'stop':
          await this.#diskIo.stopTorrent?.(job as Extract<DiskJob, { type: 'stop' }>)
          break
        case 'delete':
          await this.#diskIo.deleteFiles?.(job as Extract<DiskJob, { type: 'delete' }>)
          break
        case 'move':
          result = (await this.#diskIo.moveStorage?.(job as Extract<DiskJob, { type: 'move' }>)) ?? raw.path
          break
        case 'rename':
          await this.#diskIo.renameFile?.(job as Extract<DiskJob, { type: 'rename' }>)
          break
        case 'priority':
          await this.#diskIo.setFilePriorities?.(job as Extract<DiskJob, { type: 'priority' }>)
          break
        case 'close':
          await this.#diskIo.close?.(storage)
          return
      }
    } catch (error) {
      this.#complete(raw.id, errnoOf(error), fileIndexOf(error), undefined, 0)
      if (raw.type === 'close' || raw.type === 'priority') this.#events.onError(asError(error))
      return
    }
    this.#complete(raw.id, 0, -1, result, status)
  }

  #complete(
    id: number,
    errno: number,
    fileIndex: number,
    result: Uint8Array | string | null | undefined,
    status: number,
  ) {
    this.#native.completeJob(id, errno, fileIndex, result, status)
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

function toJob(raw: RawJob, storage: DiskStorage): DiskJob | undefined {
  const base = { id: raw.id, storage }
  switch (raw.type) {
    case 'write':
    case 'read': {
      const piece = raw.piece as number
      const offset = raw.offset ?? 0
      const length = raw.type === 'write' ? (raw.data as Buffer).byteLength : (raw.length as number)
      let slices: FileSlice[] | undefined
      const job = {
        ...base,
        type: raw.type,
        piece,
        offset,
        length,
        get slices() {
          slices ??= storage.mapPiece(piece, offset, length)
          return slices
        },
      }
      if (raw.type === 'write') return Object.assign(job, { data: raw.data as Buffer }) as DiskJob
      return job as DiskJob
    }
    case 'check':
      return { ...base, type: 'check', hasResumeData: raw.hasResumeData === true }
    case 'clear':
      return { ...base, type: 'clear', piece: raw.piece as number }
    case 'delete':
      return { ...base, type: 'delete', partfileOnly: raw.partfileOnly === true }
    case 'move':
      return { ...base, type: 'move', path: raw.path as string, flags: raw.flags ?? 0 }
    case 'rename':
      return { ...base, type: 'rename', fileIndex: raw.fileIndex as number, name: raw.name as string }
    case 'priority':
      return { ...base, type: 'priority', priorities: raw.priorities ?? [] }
    case 'release':
    case 'stop':
      return { ...base, type: raw.type }
    default:
      return undefined
  }
}
