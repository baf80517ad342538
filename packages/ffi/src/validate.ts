// Argument checks shared by the session and the torrent tools, so bad input becomes a
// TypeError/RangeError with a code before native code sees it.
import { argumentError } from './errors.ts'

const infoHashPattern = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/

export function checkInfoHash(value: unknown, name = 'infoHash'): string {
  if (typeof value !== 'string' || !infoHashPattern.test(value)) {
    throw argumentError('type', 'ERR_INVALID_INFO_HASH', `${name} must be 40 or 64 hex digits`)
  }
  return value.toLowerCase()
}

export function parsePeer(value: unknown): { host: string; port: number } {
  if (typeof value === 'object' && value !== null) {
    const { host, port } = value as { host?: unknown; port?: unknown }
    if (
      typeof host === 'string' &&
      Number.isInteger(port) &&
      (port as number) > 0 &&
      (port as number) < 65536
    ) {
      return { host, port: port as number }
    }
  }
  if (typeof value === 'string') {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
    const port = match ? Number(match[3]) : 0
    if (match && port > 0 && port < 65536) return { host: (match[1] ?? match[2]) as string, port }
  }
  throw argumentError(
    'type',
    'ERR_INVALID_PEER',
    `Invalid peer ${JSON.stringify(value)}: expected "host:port"`,
  )
}

export function checkInteger(
  value: unknown,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw argumentError('type', 'ERR_INVALID_ARG_TYPE', `${name} must be an integer`)
  }
  if (value < min || value > max) {
    throw argumentError(
      'range',
      'ERR_OUT_OF_RANGE',
      `${name} must be between ${min} and ${max}, got ${value}`,
    )
  }
  return value
}

export function checkOptionalInteger(
  value: unknown,
  name: string,
  min: number,
  max?: number,
): number | undefined {
  return value === undefined ? undefined : checkInteger(value, name, min, max)
}
