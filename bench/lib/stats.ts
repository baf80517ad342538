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

/** A summary of each numeric field of T, by field name. */
export type Summaries<T> = { [K in keyof T as T[K] extends number ? K : never]: Summary }

/**
 * Summaries of the fields that hold a number in the first of `records`, in its order (a record
 * that lacks one counts NaN there); `{}` for no records.
 */
export function summarizeFields<T extends object>(records: readonly T[]): Summaries<T> {
  const out: Record<string, Summary> = {}
  const first = records[0]
  if (!first) return out as Summaries<T>
  for (const [key, value] of Object.entries(first)) {
    if (typeof value === 'number')
      out[key] = summarize(records.map((record) => (record as Record<string, number>)[key] ?? Number.NaN))
  }
  return out as Summaries<T>
}

/** A summary without its values, as the JSON lines give it; undefined stays undefined. */
export function compactSummary(
  summary: Summary | undefined,
): { median: number; min: number; max: number } | undefined {
  return summary && { median: summary.median, min: summary.min, max: summary.max }
}

/** compactSummary of each summary, by the same names. */
export function compactSummaries(
  summaries: Readonly<Record<string, Summary>>,
): Record<string, ReturnType<typeof compactSummary>> {
  return Object.fromEntries(Object.entries(summaries).map(([key, value]) => [key, compactSummary(value)]))
}

/** Per-pair ratios x_i / y_i of the i-th runs of two variants, summarized; undefined if either has none. */
export function pairRatios<T>(
  x: readonly T[] | undefined,
  y: readonly T[] | undefined,
  pick: (run: T) => number,
): Summary | undefined {
  if (!x?.length || !y?.length) return undefined
  const count = Math.min(x.length, y.length)
  return summarize(Array.from({ length: count }, (_, index) => ratio(pick(x[index]!), pick(y[index]!))))
}

/**
 * The item in the middle of `items` ordered by `key` (the upper of the two middle ones for an even
 * count; undefined for none): the run to show as the typical one.
 */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T | undefined {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)]
}

/** a / b, or NaN when b is zero or either is not finite. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN
}
