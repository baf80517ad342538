import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  assertRealDirectoryInside,
  planOutputPaths,
  resolveInside,
  safeRelativePath,
  sanitizeComponent,
  UnsafePathError,
} from './safe-path.ts'

const joined = (...parts: string[]) => parts.join(sep)

describe('safeRelativePath refuses paths that leave the output directory', () => {
  it.each([
    ['..', 'climbs out'],
    ['../evil', 'climbs out'],
    ['album/../../evil', 'climbs out'],
    ['album/..', 'climbs out'],
    ['album\\..\\..\\evil', 'climbs out'],
    ['album/.. /x', 'climbs out'],
    ['/etc/passwd', 'absolute'],
    ['\\\\server\\share\\x', 'absolute'],
    ['\\windows\\x', 'absolute'],
    ['C:\\Windows\\x', 'names a drive'],
    ['c:evil', 'names a drive'],
    ['', 'empty'],
    ['a\u0000b', 'NUL'],
    ['./.', 'names no file'],
  ])('%j (%s)', (path, reason) => {
    expect(() => safeRelativePath(path)).toThrow(UnsafePathError)
    expect(() => safeRelativePath(path)).toThrow(new RegExp(reason))
  })

  it('has the code ERR_UNSAFE_PATH and exits 1', () => {
    try {
      safeRelativePath('../x')
    } catch (error) {
      expect((error as UnsafePathError).code).toBe('ERR_UNSAFE_PATH')
      expect((error as UnsafePathError).exitCode).toBe(1)
      expect((error as UnsafePathError).path).toBe('../x')
    }
  })
})

describe('safeRelativePath keeps ordinary names and makes odd ones safe', () => {
  it.each([
    ['album/01 - Intro.flac', joined('album', '01 - Intro.flac')],
    ['single.bin', 'single.bin'],
    ['a/./b', joined('a', 'b')],
    ['a//b', joined('a', 'b')],
    ['a/b/', joined('a', 'b')],
    ['album/CON', joined('album', '_CON')],
    ['album/nul.txt', joined('album', '_nul.txt')],
    ['album/com1.log', joined('album', '_com1.log')],
    ['album/LPT9', joined('album', '_LPT9')],
    ['album/console', joined('album', 'console')],
    ['album/a:b', joined('album', 'a_b')],
    ['album/what?.txt', joined('album', 'what_.txt')],
    ['album/x\u0001y', joined('album', 'x_y')],
    ['album/trailing.', joined('album', 'trailing')],
    ['album/trailing ', joined('album', 'trailing')],
    ['album/...', joined('album', '_')],
    ['album/.hidden', joined('album', '.hidden')],
    ['e\u0301t\u00e9.txt', 'ét\u00e9.txt'], // NFC
  ])('%j -> %j', (path, safe) => {
    expect(safeRelativePath(path)).toBe(safe)
  })

  it('shortens names longer than 255 bytes, keeping the extension', () => {
    const long = `${'é'.repeat(200)}.flac`
    const safe = safeRelativePath(`album/${long}`)
    const name = safe.split(sep)[1] as string
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255)
    expect(name.endsWith('.flac')).toBe(true)
    expect(sanitizeComponent('a'.repeat(300))).toHaveLength(255)
  })
})

describe('planOutputPaths', () => {
  it('maps every path, or refuses the whole list', () => {
    expect(planOutputPaths(['a/x', 'a/y'])).toEqual([joined('a', 'x'), joined('a', 'y')])
    expect(() => planOutputPaths(['a/x', 'a/../../y'])).toThrow(UnsafePathError)
  })

  it('refuses two files that land on the same name', () => {
    expect(() => planOutputPaths(['a/CON', 'a/_CON'])).toThrow(/lands on the same file as "a\/CON"/)
    expect(() => planOutputPaths(['a/Readme', 'a/README'])).toThrow(/lands on the same file/)
  })
})

describe('resolveInside and assertRealDirectoryInside', () => {
  it('joins inside the root only', () => {
    expect(resolveInside('/out', joined('a', 'b'))).toBe('/out/a/b')
    expect(() => resolveInside('/out', '../x')).toThrow(/outside the output directory/)
    expect(() => resolveInside('/out', '/etc/passwd')).toThrow(/outside the output directory/)
    expect(() => resolveInside('/out', '.')).toThrow(/outside the output directory/)
  })

  it('sees through symbolic links', async () => {
    const base = await mkdtemp(join(tmpdir(), 'chunktorrent-safe-path-'))
    try {
      await mkdir(join(base, 'out', 'real'), { recursive: true })
      await mkdir(join(base, 'elsewhere'))
      await symlink(join(base, 'elsewhere'), join(base, 'out', 'link'))
      await symlink(join(base, 'out', 'real'), join(base, 'out', 'inner-link'))
      await expect(
        assertRealDirectoryInside(join(base, 'out'), join(base, 'out', 'real')),
      ).resolves.toBeUndefined()
      await expect(
        assertRealDirectoryInside(join(base, 'out'), join(base, 'out', 'inner-link')),
      ).resolves.toBeUndefined()
      await expect(assertRealDirectoryInside(join(base, 'out'), join(base, 'out', 'link'))).rejects.toThrow(
        /leads outside the output directory/,
      )
    } finally {
      await rm(base, { recursive: true, force: true })
    }
  })
})
