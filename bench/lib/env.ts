// Benchmark knobs read from environment variables (BENCH_BYTES=64M, BENCH_RUNS=1, …), checked
// at start so a typo fails at once instead of after minutes of work.

const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** Parses a byte count: a plain integer or a number with a binary suffix (`64M`, `1G`, `1.5GiB`). */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text)
  if (!match) throw new RangeError(`not a byte count: '${text}' (e.g. 1073741824, 256M, 1G)`)
  const bytes = Math.round(Number(match[1]) * units[match[2]!.toLowerCase()]!)
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`byte count too large: '${text}'`)
  return bytes
}

function raw(name: string): string | undefined {
  const value = process.env[name]
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

export function envBytes(name: string, fallback: number, options: { min?: number } = {}): number {
  const text = raw(name)
  const value = text === undefined ? fallback : parseBytes(text)
  if (value < (options.min ?? 1)) throw new RangeError(`${name} must be at least ${options.min ?? 1} bytes`)
  return value
}

export function envInt(name: string, fallback: number, options: { min?: number; max?: number } = {}): number {
  const text = raw(name)
  const value = text === undefined ? fallback : Number(text)
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got '${text}'`)
  }
  return value
}

/** A comma-separated list restricted to `allowed` (in the order given), or `fallback`. */
export function envList<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const text = raw(name)
  if (text === undefined) return [...fallback]
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new RangeError(`${name}: unknown '${item}' (allowed: ${allowed.join(', ')})`)
  }
  if (items.length === 0) throw new RangeError(`${name} lists nothing`)
  return items as T[]
}

/** A whitespace-separated list of words (e.g. extra command-line flags); empty when unset. */
export function envWords(name: string): string[] {
  return raw(name)?.split(/\s+/) ?? []
}

/** A JSON object, or `{}` when unset. */
export function envJson(name: string): Record<string, unknown> {
  const text = raw(name)
  if (text === undefined) return {}
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be a JSON object`)
  }
  return value as Record<string, unknown>
}

/** True when the variable is set to anything but '', '0' or 'false'. */
export function envFlag(name: string): boolean {
  const text = raw(name)
  return text !== undefined && text !== '0' && text.toLowerCase() !== 'false'
}

/** A string (trimmed), or `fallback` when unset or empty. */
export function envString(name: string): string | undefined
export function envString(name: string, fallback: string): string
export function envString(name: string, fallback?: string): string | undefined {
  return raw(name) ?? fallback
}
