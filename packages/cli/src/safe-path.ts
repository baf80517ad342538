// File names from a torrent are untrusted input. `export` writes files only through these
// functions: a path that climbs out (`..`), is absolute or names a drive is refused; names a file
// system would misread (control characters, Windows device names, trailing dots) are made safe.
import { realpath } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { CliError } from './errors.ts'

export class UnsafePathError extends CliError {
  readonly path: string

  constructor(path: string, reason: string) {
    super(`Refusing the torrent's file path ${JSON.stringify(path)}: ${reason}`, { code: 'ERR_UNSAFE_PATH' })
    this.name = 'UnsafePathError'
    this.path = path
  }
}

/** Windows device names: reserved with any extension ("CON", "nul.txt", "COM1.log"). */
const reservedName = /^(?:con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(?:\..*)?$/i
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it replaces
const unsafeCharacters = /[\u0000-\u001f\u007f<>:"|?*]/g
/** Bytes a name may take on common file systems. */
const maxNameBytes = 255

function truncateName(name: string): string {
  if (Buffer.byteLength(name) <= maxNameBytes) return name
  const dot = name.lastIndexOf('.')
  const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : ''
  let stem = name.slice(0, name.length - extension.length)
  while (Buffer.byteLength(stem + extension) > maxNameBytes) stem = [...stem].slice(0, -1).join('')
  return stem + extension
}

/** One path component made safe; `undefined` for components that are dropped (empty or "."). */
export function sanitizeComponent(component: string): string | undefined {
  if (component === '' || component === '.') return undefined
  let name = component.normalize('NFC').replace(unsafeCharacters, '_')
  // Windows drops trailing dots and spaces ("a." is "a"); "..." would vanish altogether.
  name = name.replace(/[. ]+$/, '')
  if (name === '') name = '_'
  if (reservedName.test(name)) name = `_${name}`
  return truncateName(name)
}

/**
 * A torrent file's path ("album/cd1/01.flac") as a relative path that stays below any directory
 * it is joined to. Throws UnsafePathError for absolute paths, drive letters, UNC paths and any
 * `..` component (whether `/` or `\` separates them).
 */
export function safeRelativePath(torrentPath: string): string {
  if (typeof torrentPath !== 'string' || torrentPath.length === 0) {
    throw new UnsafePathError(String(torrentPath), 'it is empty')
  }
  if (torrentPath.includes('\u0000')) throw new UnsafePathError(torrentPath, 'it contains a NUL byte')
  if (/^[/\\]/.test(torrentPath) || isAbsolute(torrentPath)) {
    throw new UnsafePathError(torrentPath, 'it is absolute')
  }
  if (/^[a-zA-Z]:/.test(torrentPath)) throw new UnsafePathError(torrentPath, 'it names a drive')
  const components = torrentPath.split(/[/\\]/)
  if (components.some((component) => component.trim() === '..')) {
    throw new UnsafePathError(torrentPath, 'it climbs out of the output directory ("..")')
  }
  const safe = components.map(sanitizeComponent).filter((component) => component !== undefined)
  if (safe.length === 0) throw new UnsafePathError(torrentPath, 'it names no file')
  return safe.join(sep)
}

/**
 * Maps every path to its safe relative form and checks that no two files land on the same name
 * (case-insensitively, for case-insensitive file systems). Throws before anything is written.
 */
export function planOutputPaths(torrentPaths: readonly string[]): string[] {
  const seen = new Map<string, string>()
  return torrentPaths.map((torrentPath) => {
    const safe = safeRelativePath(torrentPath)
    const key = safe.toLowerCase()
    const other = seen.get(key)
    if (other !== undefined) {
      throw new UnsafePathError(torrentPath, `it lands on the same file as ${JSON.stringify(other)}`)
    }
    seen.set(key, torrentPath)
    return safe
  })
}

/** `root/relativePath`, checked to be inside `root` (lexically). */
export function resolveInside(root: string, relativePath: string): string {
  const base = resolve(root)
  const target = resolve(base, relativePath)
  const rest = relative(base, target)
  if (rest === '' || rest.startsWith(`..${sep}`) || rest === '..' || isAbsolute(rest)) {
    throw new UnsafePathError(relativePath, 'it resolves outside the output directory')
  }
  return target
}

/**
 * Checks, after the directories were created, that `directory` really is inside `root`: a symbolic
 * link already in the output directory must not carry a file elsewhere.
 */
export async function assertRealDirectoryInside(root: string, directory: string): Promise<void> {
  const [realRoot, realDirectory] = await Promise.all([realpath(root), realpath(directory)])
  if (realDirectory !== realRoot && !realDirectory.startsWith(realRoot + sep)) {
    throw new CliError(
      `Refusing to write into ${directory}: it leads outside the output directory (${realDirectory})`,
      { code: 'ERR_UNSAFE_PATH' },
    )
  }
}
