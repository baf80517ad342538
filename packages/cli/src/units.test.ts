import { describe, expect, it } from 'vitest'
import { CliError, ExitCode } from './errors.ts'
import { formatBytes, formatDuration, parseRate, parseSize } from './units.ts'

describe('parseSize', () => {
  const name = '--size'
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['500k', 512_000],
    ['500K', 512_000],
    ['500KiB', 512_000],
    ['500kB', 500_000],
    ['10M', 10_485_760],
    ['10m', 10_485_760],
    ['10MB', 10_000_000],
    ['64MiB', 67_108_864],
    ['1.5G', 1_610_612_736],
    ['1.5GB', 1_500_000_000],
    ['2T', 2 * 1024 ** 4],
    ['7B', 7],
    ['0.5k', 512],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text, { name })).toBe(bytes)
  })

  it.each([
    '',
    ' 5',
    '5 ',
    '5 M',
    '-5',
    '+5',
    '1e3',
    '0x10',
    '5Q',
    '5MiBs',
    'M',
    '.5M',
    '5.',
    '1.5',
    'five',
    '5,5M',
    'Infinity',
    'NaN',
  ])('%j is a usage error', (text) => {
    let error: unknown
    try {
      parseSize(text, { name })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(CliError)
    expect((error as CliError).exitCode).toBe(ExitCode.usage)
    expect((error as CliError).message).toMatch(/^--size: /)
  })

  it('checks the range', () => {
    expect(() => parseSize('8k', { name, min: 16_384 })).toThrow(/--size: 8k is out of range \(16.0 KiB to/)
    expect(() => parseSize('2G', { name, max: 1024 ** 3 })).toThrow(/out of range/)
    expect(() => parseSize('99999999999T', { name })).toThrow(/out of range/)
  })
})

describe('parseRate', () => {
  it('takes an optional /s and stays within libtorrent 32-bit limits', () => {
    expect(parseRate('10M/s', { name: '--max-download' })).toBe(10_485_760)
    expect(parseRate('500k', { name: '--max-download' })).toBe(512_000)
    expect(parseRate('0', { name: '--max-download' })).toBe(0)
    expect(() => parseRate('3G', { name: '--max-download' })).toThrow(/out of range/)
    expect(() => parseRate('10M/h', { name: '--max-download' })).toThrow(/not a size/)
    expect(() => parseRate('/s', { name: '--max-download' })).toThrow(/not a size/)
  })
})

describe('formatting', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.00 KiB'],
    [1536, '1.50 KiB'],
    [2_000_000, '1.91 MiB'],
    [150_000_000, '143 MiB'],
    [1024 ** 3, '1.00 GiB'],
    [-5, '0 B'],
    [Number.NaN, '0 B'],
  ])('formatBytes(%d) is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text)
  })

  it.each([
    [undefined, '--'],
    [Number.POSITIVE_INFINITY, '--'],
    [0, '0s'],
    [4.2, '5s'],
    [185, '3m05s'],
    [3720, '1h02m'],
    [183_600, '2d03h'],
  ])('formatDuration(%s) is %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text)
  })
})
