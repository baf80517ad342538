import { describe, expect, it } from 'vitest'
import { parseAddress, parseFileSelection, parseInfoHash, selectFiles } from './arguments.ts'
import { CliError } from './errors.ts'
import { storeDirectory } from './store.ts'

describe('parseAddress', () => {
  it('takes IPv4 and bracketed IPv6 addresses with a port', () => {
    expect(parseAddress('127.0.0.1:6881', { name: '--peer' }).text).toBe('127.0.0.1:6881')
    expect(parseAddress('[::1]:51413', { name: '--peer' })).toEqual({
      host: '::1',
      port: 51413,
      text: '[::1]:51413',
    })
    expect(parseAddress('0.0.0.0:0', { name: '--listen', allowPortZero: true }).port).toBe(0)
  })

  it.each([
    'localhost:6881',
    '127.0.0.1',
    '::1:6881',
    '[127.0.0.1]:80',
    '256.0.0.1:80',
    '127.0.0.1:65536',
    '127.0.0.1:-1',
    '1.2.3.4:0',
    ' 1.2.3.4:80',
  ])('%j is refused', (text) => {
    expect(() => parseAddress(text, { name: '--peer' })).toThrow(CliError)
  })
})

describe('parseInfoHash', () => {
  it('takes 40 or 64 hex digits, lowercased', () => {
    expect(parseInfoHash('C12FE1C06BBA254A9DC9F519B335AA7C1367A88A')).toBe(
      'c12fe1c06bba254a9dc9f519b335aa7c1367a88a',
    )
    expect(parseInfoHash('a'.repeat(64))).toHaveLength(64)
    expect(() => parseInfoHash('abc')).toThrow(/not an info hash/)
  })
})

describe('file selections', () => {
  const files = [
    { path: 'album/cd1/01.flac' },
    { path: 'album/cd1/cover.jpg' },
    { path: 'album/cd2/01.flac' },
    { path: 'album/notes.txt' },
  ]

  it('indexes and ranges', () => {
    expect(selectFiles(parseFileSelection(['0,2'])!, files)).toEqual([0, 2])
    expect(selectFiles(parseFileSelection(['1-3'])!, files)).toEqual([1, 2, 3])
    expect(selectFiles(parseFileSelection(['3', '0-1'])!, files)).toEqual([0, 1, 3])
    expect(parseFileSelection([])).toBeUndefined()
  })

  it('globs match names, or paths when they hold a slash', () => {
    expect(selectFiles(parseFileSelection(['*.flac'])!, files)).toEqual([0, 2])
    expect(selectFiles(parseFileSelection(['cd1/*'])!, files)).toEqual([0, 1])
    expect(selectFiles(parseFileSelection(['album/cd2/**'])!, files)).toEqual([2])
    expect(selectFiles(parseFileSelection(['*.{jpg,txt}'])!, files)).toEqual([1, 3])
    expect(selectFiles(parseFileSelection(['*.txt', '0'])!, files)).toEqual([0, 3])
  })

  it('a single-file torrent matches its name', () => {
    expect(selectFiles(parseFileSelection(['*.bin'])!, [{ path: 'one.bin' }])).toEqual([0])
  })

  it('mistakes are usage errors', () => {
    expect(() => selectFiles(parseFileSelection(['4'])!, files)).toThrow(
      /there is no file 4 \(the torrent has 4: 0-3\)/,
    )
    expect(() => selectFiles(parseFileSelection(['*.mp3'])!, files)).toThrow(/no file matches "\*\.mp3"/)
    expect(() => parseFileSelection(['2-1'])).toThrow(/backwards/)
    expect(() => parseFileSelection([''])).toThrow(/empty/)
  })
})

describe('storeDirectory', () => {
  it('--store, then CHUNKTORRENT_STORE, then ~/.chunktorrent', () => {
    expect(storeDirectory('/tmp/a', { CHUNKTORRENT_STORE: '/tmp/b' })).toBe('/tmp/a')
    expect(storeDirectory(undefined, { CHUNKTORRENT_STORE: '/tmp/b' })).toBe('/tmp/b')
    expect(storeDirectory(undefined, { CHUNKTORRENT_STORE: '' })).toMatch(/\/\.chunktorrent$/)
    expect(storeDirectory(undefined, {})).toMatch(/\/\.chunktorrent$/)
    expect(() => storeDirectory('', {})).toThrow(/empty path/)
  })
})
