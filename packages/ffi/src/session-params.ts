// SessionParams: the settings a session starts with (any libtorrent setting by name, checked
// in native code at once) and the disk backend to build it with.
import { addon, type NativeSessionParams } from './binding.ts'
import { argumentError } from './errors.ts'
import type { DiskIo } from './types.ts'

export type SettingValue = string | number | boolean
export type Settings = Record<string, SettingValue>

/** libtorrent's alert categories (alert_category_t bits). */
export const AlertCategory = Object.freeze({
  error: 1 << 0,
  peer: 1 << 1,
  portMapping: 1 << 2,
  storage: 1 << 3,
  tracker: 1 << 4,
  connect: 1 << 5,
  status: 1 << 6,
  ipBlock: 1 << 8,
  performanceWarning: 1 << 9,
  dht: 1 << 10,
  stats: 1 << 11,
  fileProgress: 1 << 21,
  pieceProgress: 1 << 22,
  upload: 1 << 23,
  blockProgress: 1 << 24,
})

/**
 * What a session needs that libtorrent's defaults leave out: the alerts the API is built on, a
 * large alert queue, a disk queue deep enough that the JavaScript backend is never what limits a
 * download (at libtorrent's 1 MiB default most writes hit "queue full"), and a bounded socket
 * receive buffer: a peer paused by that queue keeps sending into the kernel's buffer (auto-tuned
 * up to net.ipv4.tcp_rmem's maximum, 32 MiB on some systems), and on resume libtorrent reads it
 * all at once; at 2 MiB per peer the peak RSS of a 1 GiB download into a store holding its cache
 * limit fell from 307-360 to 260-267 MB, the speed unchanged (bench:remote). 2 MiB per round
 * trip is 20 MB/s per peer at 100 ms: a path that long and fast needs more peers, or a larger
 * value (0: the operating system's auto-tuning).
 */
export const defaultSettings: Readonly<Settings> = Object.freeze({
  alert_mask:
    AlertCategory.error |
    AlertCategory.storage |
    AlertCategory.tracker |
    AlertCategory.status |
    AlertCategory.performanceWarning |
    AlertCategory.fileProgress |
    AlertCategory.pieceProgress,
  alert_queue_size: 100_000,
  max_queued_disk_bytes: 32 * 1024 * 1024,
  recv_socket_buffer_size: 2 * 1024 * 1024,
  stop_tracker_timeout: 1,
})

export interface SessionParamsOptions {
  /** libtorrent settings by name, e.g. `{ listen_interfaces: '127.0.0.1:0', enable_dht: false }`. */
  settings?: Settings
}

export class SessionParams {
  /** @internal */
  readonly native: NativeSessionParams
  #diskIo: DiskIo | undefined

  constructor(options: SessionParamsOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'SessionParams options must be an object')
    }
    if (
      options.settings !== undefined &&
      (typeof options.settings !== 'object' || options.settings === null)
    ) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'settings must be an object of libtorrent settings')
    }
    this.native = new addon.NativeSessionParams({ ...defaultSettings, ...options.settings })
  }

  /** Applies more settings; unknown names and wrongly typed values throw and change nothing. */
  applySettings(settings: Settings): void {
    this.native.applySettings(settings)
  }

  getSetting(name: string): SettingValue {
    return this.native.getSetting(name)
  }

  /** Every storage job of sessions built from these params goes to `diskIo` (see DiskIo). */
  setDiskIoConstructor(diskIo: DiskIo): void {
    if (typeof diskIo !== 'object' || diskIo === null) {
      throw argumentError('type', 'ERR_INVALID_ARG_TYPE', 'diskIo must be an object implementing DiskIo')
    }
    for (const method of ['writePiece', 'readPiece'] as const) {
      if (typeof diskIo[method] !== 'function') {
        throw argumentError('type', 'ERR_INVALID_ARG_TYPE', `diskIo.${method} must be a function`)
      }
    }
    this.#diskIo = diskIo
  }

  get diskIo(): DiskIo | undefined {
    return this.#diskIo
  }
}
