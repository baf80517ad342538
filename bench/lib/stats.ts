// Summaries of repeated measurements. Benchmarks here run each variant a few times on a noisy
// machine, so they report the median with the range rather than a mean.

export interface Summary {
  median: number
  min: number
  max: number
  /** The measurements in run order. */
  values: number[]
}

/** The median (mean of the two middle values for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: median(values),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
    values: [...values],
  }
}

/** Summaries of every numeric field that all `records` share, by field name. */
export function summarizeFields<T extends object>(records: readonly T[]): Record<string, Summary> {
  const out: Record<string, Summary> = {}
  const first = records[0]
  if (!first) return out
  for (const [key, value] of Object.entries(first)) {
    if (typeof value !== 'number') continue
    const values = records.map((record) => (record as Record<string, unknown>)[key])
    if (values.every((item) => typeof item === 'number')) out[key] = summarize(values as number[])
  }
  return out
}

/** a / b, or NaN when b is zero or either is not finite. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN
}
