// Sizes and rates on the command line ("64MiB", "10M", "500k", "2MB/s") parsed strictly, and the
// human forms the output uses. Single letters and IEC names are binary (like curl and aria2c:
// 1k = 1024); "kB", "MB", "GB", "TB" are decimal (SI).
import { usageError } from './errors.ts'

const multipliers: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
}

const sizePattern = /^(\d+(?:\.\d+)?)([a-z]*)$/i

export interface SizeOptions {
  /** What the value is, for the error message (e.g. "--max-download"). */
  name: string
  /** Largest value accepted (default Number.MAX_SAFE_INTEGER). */
  max?: number
  /** Smallest value accepted (default 0). */
  min?: number
}

/**
 * A byte count: digits with an optional fraction and unit ("64MiB", "1.5G", "500k", "4096").
 * Anything else (signs, exponents, spaces, unknown units, a fraction of a byte) is a usage error.
 */
export function parseSize(text: string, options: SizeOptions): number {
  const match = sizePattern.exec(text)
  const multiplier = match ? multipliers[(match[2] ?? '').toLowerCase()] : undefined
  if (!match || multiplier === undefined) {
    throw usageError(
      `${options.name}: "${text}" is not a size (examples: 4096, 500k, 10M, 64MiB, 1.5GB)`,
      'ERR_INVALID_SIZE',
    )
  }
  const number = Number(match[1])
  const bytes = Math.round(number * multiplier)
  if (match[2] === '' && !Number.isInteger(number)) {
    throw usageError(`${options.name}: "${text}" is not a whole number of bytes`, 'ERR_INVALID_SIZE')
  }
  const max = options.max ?? Number.MAX_SAFE_INTEGER
  const min = options.min ?? 0
  if (!Number.isSafeInteger(bytes) || bytes > max || bytes < min) {
    throw usageError(
      `${options.name}: ${text} is out of range (${formatBytes(min)} to ${formatBytes(max)})`,
      'ERR_INVALID_SIZE',
    )
  }
  return bytes
}

/** Bytes per second: a size with an optional "/s" ("10M", "500k/s", "2MB/s"). 0 means unlimited. */
export function parseRate(text: string, options: SizeOptions): number {
  const size = text.endsWith('/s') ? text.slice(0, -2) : text
  // libtorrent's rate limits are 32-bit signed integers.
  return parseSize(size, { max: 2_147_483_647, ...options })
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** "0 B", "999 B", "1.5 KiB", "12.3 MiB", "1.02 GiB": three significant digits above 1 KiB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes) || 0)} B`
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${value.toFixed(digits)} ${units[unit]}`
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`
}

/** "45s", "3m05s", "1h02m", "2d03h"; "--" when unknown (no rate yet). */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--'
  const whole = Math.ceil(seconds)
  const pad = (value: number) => String(value).padStart(2, '0')
  if (whole < 60) return `${whole}s`
  if (whole < 3600) return `${Math.floor(whole / 60)}m${pad(whole % 60)}s`
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h${pad(Math.floor((whole % 3600) / 60))}m`
  return `${Math.floor(whole / 86_400)}d${pad(Math.floor((whole % 86_400) / 3600))}h`
}

const durationUnits: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600 }

/** Seconds: "600", "30s", "10m", "1.5h". Anything else (signs, spaces, other units, 0) is a usage error. */
export function parseDuration(text: string, options: { name: string }): number {
  const match = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(text)
  const seconds = match ? Number(match[1]) * (durationUnits[match[2] ?? ''] ?? 1) : Number.NaN
  if (!match || !(seconds > 0) || seconds > 7 * 86_400) {
    throw usageError(
      `${options.name}: "${text}" is not a duration from 1s to 7 days (examples: 90, 30s, 10m, 2h)`,
      'ERR_INVALID_DURATION',
    )
  }
  return seconds
}
