// The release path (scripts/release-dry-run.sh): every public package is packed, its tarball
// passes publint and attw, the four tarballs install together into an empty project without
// compiling anything, and `npx chunktorrent --help` and a real download work there. Also: the
// root scripts are wired and `pnpm release` refuses to publish without --yes.
//
// The dry run rebuilds dist/ only when it is stale (--build-if-stale): `pnpm test` builds first,
// and rebuilding dist/ under the other projects' tests would break the ones importing it.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '')
const script = 'scripts/release-dry-run.sh'
const DRY_RUN_TIMEOUT = 20 * 60_000
const publicPackages = [
  '@chunktorrent/ffi',
  '@chunktorrent/storage',
  '@chunktorrent/client',
  '@chunktorrent/cli',
]

interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  seconds: number
}

/** Runs a command without blocking the worker; resolves with its exit status and output. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a timeout takes npm/node children with it
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM')
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, seconds: (Date.now() - started) / 1000 })
    })
  })
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
/** A summary line: "<status> <check> <detail…>". */
const line = (status: 'ok' | 'FAIL', check: string, detail = '') =>
  new RegExp(`^${status} +${escapeRegExp(check)} +${escapeRegExp(detail)}`, 'm')

describe('release wiring', () => {
  it('has release and release:dry-run scripts, and changesets leave private packages alone', () => {
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as {
      scripts: Record<string, string>
    }
    expect(pkg.scripts['release:dry-run']).toBe(`bash ${script}`)
    expect(pkg.scripts.release).toBe(`bash ${script} --publish`)
    const config = JSON.parse(readFileSync(`${root}/.changeset/config.json`, 'utf8'))
    expect(config).toMatchObject({
      access: 'public',
      updateInternalDependencies: 'patch',
      privatePackages: { version: false, tag: false },
    })
  })

  it('refuses to publish without --yes, before building anything', async () => {
    const result = await run('bash', [script, '--publish'], 60_000)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toMatch(/refusing to publish without --yes/)
    expect(result.stdout).not.toMatch(/summary/)
    expect(result.seconds).toBeLessThan(30)
  })

  it('rejects unknown arguments', async () => {
    const result = await run('bash', [script, '--publsh'], 60_000)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/unknown argument: --publsh/)
  })
})

describe('release dry run', () => {
  let result: RunResult

  beforeAll(async () => {
    result = await run('bash', [script, '--build-if-stale'], DRY_RUN_TIMEOUT)
    console.log(`[release.test] dry run took ${result.seconds.toFixed(0)} s\n${result.stdout}`)
  }, DRY_RUN_TIMEOUT + 60_000)

  it('exits 0 and passes', () => {
    const failed = result.stdout.split('\n').filter((l) => l.startsWith('FAIL'))
    expect(failed, `${result.stdout}\n--- stderr (end) ---\n${result.stderr.slice(-8000)}`).toEqual([])
    expect(result.signal).toBeNull()
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^== release dry run summary ==$/m)
    expect(result.stdout).toMatch(
      /^PASS +release dry run: 4 public packages packed, linted, installed and used in \d+ s$/m,
    )
  })

  it('finds exactly the four public packages, builds them and makes the ffi prebuild', () => {
    const packages = result.stdout.match(/^ok +packages +4 public: (.*)$/m)?.[1]?.split(' ') ?? []
    expect(packages.map((p) => p.replace(/@[^@]*$/, '')).sort()).toEqual([...publicPackages].sort())
    expect(result.stdout).toMatch(line('ok', 'build'))
    expect(result.stdout).toMatch(/^ok +prebuild +prebuilds\/linux-x64\/[^ ]+\.node \(self-contained/m)
  })

  it('has a sane changeset plan: public packages only', () => {
    expect(result.stdout).toMatch(line('ok', 'changesets'))
    const plan = result.stdout.match(/^ok +changesets +(.*)$/m)?.[1] ?? ''
    expect(plan).not.toMatch(/example|test-peers|@chunktorrent\/release/)
  })

  it.each(publicPackages)('packs %s with real versions, and publint and attw pass on the tarball', (name) => {
    expect(result.stdout).toMatch(line('ok', 'pack', `${name} -> ${name.slice(1).replace('/', '-')}-`))
    expect(result.stdout).toMatch(line('ok', 'publint', `${name}: no errors or warnings (strict)`))
    expect(result.stdout).toMatch(line('ok', 'attw', `${name}: no problems (profile esm-only`))
  })

  it('installs the four tarballs into an empty project without compiling', () => {
    expect(result.stdout).toMatch(
      /^ok +install +npm install of 4 tarballs: \d+ packages, no install script or compile, npm ls clean/m,
    )
  })

  it('runs npx chunktorrent --help there', () => {
    expect(result.stdout).toMatch(line('ok', 'cli', 'npx chunktorrent --help: "'))
  })

  it('downloads between two clients with the installed packages, bytes identical, addon from prebuilds/', () => {
    const example = result.stdout.match(/^ok +example +(.*)$/m)?.[1] ?? ''
    expect(example).toMatch(/seeded by a second client from its ChunkStorage over 127\.0\.0\.1:\d+/)
    expect(example).toMatch(/bytes identical/)
    expect(example).toMatch(/@chunktorrent\/ffi\/prebuilds\/linux-x64\/[^ ,]+\.node/)
  })
})
