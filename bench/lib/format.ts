// Printing benchmark results: units, a plain-text table (Markdown-compatible, so it can be pasted
// into a README), and the final JSON line that tools read (always the last line of stdout).

import type { Summary } from './stats.ts'

/** Decimal megabytes (10^6 bytes), the unit of the MB/s figures. */
export const MB = 1e6
export const MiB = 1024 ** 2

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${bytes < 0 ? '-' : ''}${value.toFixed(unit === 0 ? 0 : value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`
}

/** "123.4 (110.2–130.9)": median with the range, each formatted by `format`. */
export function formatSummary(
  summary: Summary,
  format: (value: number) => string = (value) => value.toFixed(1),
): string {
  if (summary.values.length <= 1) return format(summary.median)
  return `${format(summary.median)} (${format(summary.min)}–${format(summary.max)})`
}

/** A table with a header row; columns whose cells all look numeric are right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const numeric = headers.map(
    (_, column) => rows.length > 0 && rows.every((row) => /^[-\d.]/.test(row[column] ?? '')),
  )
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`
  const rule = `|${widths.map((width, column) => (numeric[column] ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`
  return [line(headers), rule, ...rows.map(line)].join('\n')
}

/** Prints a line of the report to stdout. */
export function log(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** Replaces NaN/Infinity by null and rounds floats, for a compact, valid JSON line. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null
    return Number.isInteger(value) ? value : Number(value.toPrecision(6))
  }
  return value
}

/** Prints the benchmark's figures as one JSON object: by convention the last line of stdout. */
export function printJsonLine(figures: unknown): void {
  process.stdout.write(`${JSON.stringify(figures, jsonReplacer)}\n`)
}
