// The commands that need no peer — create, info, ls, stats, rm --keep-data — and how the CLI
// fails: bad arguments exit 2, bad torrents and missing things exit 1, each with one clear line.
// Also export against crafted torrents whose names try to leave the output directory.
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseTorrent } from '@chunktorrent/ffi'
import { generateFiles } from '@chunktorrent/test-peers'
import { describe, expect, it } from 'vitest'
import { cliPath, craftTorrent, jsonEvents, runCli, tempDir } from './helpers.ts'

describe('create and info', () => {
  it('creates v1, v2 and hybrid torrents that info describes', async () => {
    const dir = await tempDir('create')
    try {
      await generateFiles(
        join(dir.path, 'album'),
        [
          { path: 'a.bin', length: 100_000 },
          { path: 'b.bin', length: 50_000 },
        ],
        31,
      )
      for (const version of ['v1', 'v2', 'hybrid'] as const) {
        const output = join(dir.path, `${version}.torrent`)
        const created = await runCli([
          'create',
          join(dir.path, 'album'),
          '-o',
          output,
          `--${version}`,
          '--piece-length',
          '32KiB',
          '--tracker',
          'udp://tracker.invalid:6969/announce',
          '--comment',
          'made in a test',
        ])
        expect(created.stderr).toBe('')
        expect(created.code).toBe(0)
        const info = parseTorrent(await import('node:fs/promises').then((fs) => fs.readFile(output)))
        expect(info.version).toBe(version)
        expect(info.pieceLength).toBe(32_768)
        expect(info.announce).toEqual(['udp://tracker.invalid:6969/announce'])
        expect(created.stdout).toContain(
          `Created ${output}: "album" ${info.infoHash} (${version}), 2 file(s)`,
        )

        const described = await runCli(['info', output, '--json'])
        expect(described.code).toBe(0)
        const [document] = jsonEvents(described.stdout)
        expect(document).toMatchObject({
          kind: 'torrent',
          infoHash: info.infoHash,
          version,
          name: 'album',
          length: 150_000,
          pieceLength: 32_768,
          comment: 'made in a test',
          files: [
            { index: 0, path: 'album/a.bin', length: 100_000 },
            { index: 1, path: 'album/b.bin', length: 50_000 },
          ],
        })
      }
      const text = await runCli(['info', join(dir.path, 'v1.torrent')])
      expect(text.stdout).toMatch(/^name: +album$/m)
      expect(text.stdout).toMatch(/^size: +146 KiB \(150000 bytes\) in 2 file\(s\)$/m)
      expect(text.stdout).toMatch(/^ {2}1 +48.8 KiB {2}album\/b\.bin$/m)

      const magnet = await runCli([
        'info',
        'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=x',
      ])
      expect(magnet.code).toBe(0)
      expect(magnet.stdout).toContain('info hash:  c12fe1c06bba254a9dc9f519b335aa7c1367a88a')
    } finally {
      await dir.remove()
    }
  })
})

describe('usage errors exit 2 with one line', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['no command', [], /^Usage: chunktorrent/],
    ['an unknown command', ['fly'], /unknown command 'fly'/],
    ['an unknown option', ['ls', '--colour'], /unknown option '--colour'/],
    ['a missing argument', ['download'], /missing required argument 'torrent'/],
    [
      'a bad rate',
      ['download', 'x.torrent', '--max-download', '10Q'],
      /--max-download: "10Q" is not a size.*\(ERR_INVALID_SIZE\)/,
    ],
    [
      'a negative rate',
      ['download', 'x.torrent', '--max-download', '-5M'],
      /--max-download: "-5M" is not a size/,
    ],
    ['a fraction of a byte', ['download', 'x.torrent', '--max-upload', '1.5'], /not a whole number of bytes/],
    [
      'a bad peer',
      ['download', 'x.torrent', '--peer', 'example.org:80'],
      /--peer: "example.org:80" is not an IP address and port/,
    ],
    ['peer port 0', ['download', 'x.torrent', '--peer', '127.0.0.1:0'], /--peer: port 0 is out of range/],
    [
      'a bad listen address',
      ['seed', 'x.torrent', '--listen', '127.0.0.1'],
      /--listen: "127.0.0.1" is not an IP address/,
    ],
    [
      'a bad file selection',
      ['download', 'x.torrent', '--files', '3-1'],
      /--files: the range 3-1 is backwards/,
    ],
    [
      'two versions',
      ['create', '.', '-o', 'x.torrent', '--v1', '--hybrid'],
      /--v1, --hybrid exclude each other/,
    ],
    [
      'a piece length that is no power of two',
      ['create', '.', '-o', 'x.torrent', '--piece-length', '100k'],
      /not a power of two/,
    ],
    [
      'a tiny piece length',
      ['create', '.', '-o', 'x.torrent', '--piece-length', '1k'],
      /--piece-length: 1k is out of range/,
    ],
    [
      'a bad tracker',
      ['create', '.', '-o', 'x.torrent', '--tracker', 'ftp://x'],
      /--tracker: "ftp:\/\/x" must use http/,
    ],
    ['a missing -o', ['create', '.'], /required option '-o, --output <file>' not specified/],
    ['a bad magnet', ['info', 'magnet:?xt=nothing'], /\(ERR_INVALID_MAGNET\)/],
  ]
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const result = await runCli(args)
      expect(result.code).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(message)
      expect(result.stderr).not.toMatch(/\n\s+at /) // no stack without --verbose
    })
  }

  it('--help for every command and --version exit 0', async () => {
    for (const command of [
      'download',
      'seed',
      'import',
      'export',
      'create',
      'info',
      'ls',
      'verify',
      'rm',
      'stats',
    ]) {
      const result = await runCli([command, '--help'])
      expect(result.code, command).toBe(0)
      expect(result.stdout).toContain(`Usage: chunktorrent ${command}`)
      expect(result.stdout).toContain('Examples:')
    }
    const version = await runCli(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout).toMatch(/^chunktorrent \d+\.\d+\.\d+ \(libtorrent 2\.\d+/)
  })
})

describe('failures exit 1 with the message and code', () => {
  it('bad torrents, missing files, missing stores and unknown torrents', async () => {
    const dir = await tempDir('failures')
    try {
      const garbage = join(dir.path, 'garbage.torrent')
      await writeFile(garbage, 'd4:infod4:name1:xee') // bencoded, but no torrent
      const store = join(dir.path, 'store')
      const cases: Array<[string[], RegExp]> = [
        [['info', garbage], /garbage\.torrent is not a valid torrent: .*\(ERR_INVALID_TORRENT\)/],
        [['download', garbage, '--store', store], /is not a valid torrent.*\(ERR_INVALID_TORRENT\)/],
        [
          ['info', join(dir.path, 'missing.torrent')],
          /Cannot read the torrent file .*missing\.torrent: no such file .*\(ERR_TORRENT_FILE_NOT_FOUND\)/,
        ],
        [
          ['download', 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a', '--store', store],
          /No metadata for c12fe1c0.*--peer.*\(ERR_NO_METADATA\)/,
        ],
        [['stats', '--store', store], /No store at .*\(ERR_NO_STORE\)/],
        [
          ['rm', 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a', '--store', store],
          /No store at .*\(ERR_NO_STORE\)/,
        ],
        [
          ['create', join(dir.path, 'nothing-here'), '-o', join(dir.path, 'x.torrent')],
          /\(ERR_PATH_NOT_FOUND\)/,
        ],
        [['import', garbage, dir.path], /\(ERR_INVALID_TORRENT\)/],
      ]
      for (const [args, message] of cases) {
        const result = await runCli(args)
        expect(result.code, args.join(' ')).toBe(1)
        expect(result.stderr, args.join(' ')).toMatch(message)
        expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      }
      const verbose = await runCli(['info', garbage, '--verbose'])
      expect(verbose.code).toBe(1)
      expect(verbose.stderr).toMatch(/\n\s+at /) // the stack, with --verbose

      const empty = await runCli(['ls', '--store', store])
      expect(empty.code).toBe(0)
      expect(empty.stdout).toBe(`No torrents: there is no store at ${store} yet\n`)
    } finally {
      await dir.remove()
    }
  })
})

describe('export and names from the torrent', () => {
  const data = (text: string) => Buffer.from(text.repeat(2000))

  it('writes crafted paths only inside the output directory; reserved names are renamed', async () => {
    const dir = await tempDir('traversal')
    try {
      const crafted = craftTorrent('set', [
        { path: ['..', '..', 'escaped.txt'], data: data('a') },
        { path: ['/', 'etc', 'absolute.txt'], data: data('b') },
        { path: ['CON'], data: data('c') },
        { path: ['nul.txt'], data: data('d') },
        { path: ['a:b'], data: data('e') },
        { path: ['trailing.'], data: data('f') },
      ])
      const torrentPath = join(dir.path, 'crafted.torrent')
      await writeFile(torrentPath, crafted)
      // Lay the data out where the parsed torrent says the files are, and import it.
      const info = parseTorrent(crafted)
      const contents = ['a', 'b', 'c', 'd', 'e', 'f']
      await mkdir(join(dir.path, 'data'), { recursive: true })
      for (const [index, file] of info.files.entries()) {
        const target = join(dir.path, 'data', ...file.path.split('/'))
        expect(target.startsWith(join(dir.path, 'data'))).toBe(true)
        await mkdir(join(target, '..'), { recursive: true })
        await writeFile(target, data(contents[index] as string))
      }
      const store = join(dir.path, 'store')
      const imported = await runCli(['import', torrentPath, join(dir.path, 'data'), '--store', store])
      expect(imported.stderr).toBe('')
      expect(imported.code).toBe(0)

      const out = join(dir.path, 'nest', 'out')
      const exported = await runCli(['export', info.infoHash, out, '--store', store, '--json'])
      expect(exported.code).toBe(0)
      const written = jsonEvents(exported.stdout)
        .filter((event) => event.event === 'file')
        .map((event) => event.output as string)
      expect(written).toHaveLength(6)
      for (const path of written) expect(path.startsWith(`${out}/`)).toBe(true)
      // Nothing appeared beside the output directory.
      expect((await readdir(join(dir.path, 'nest'))).sort()).toEqual(['out'])
      expect((await readdir(join(out, 'set'))).sort()).toEqual(
        ['_CON', '_nul.txt', 'a_b', 'etc', 'escaped.txt', 'trailing'].sort(),
      )
      const warnings = jsonEvents(exported.stdout).filter((event) => event.event === 'warning')
      expect(warnings.map((event) => event.code)).toEqual([
        'ERR_RENAMED_PATH',
        'ERR_RENAMED_PATH',
        'ERR_RENAMED_PATH',
        'ERR_RENAMED_PATH',
      ])
      expect(exported.stderr).toContain('"set/CON" is written as "set/_CON"')

      // A symbolic link planted in the output directory does not carry files elsewhere.
      const trap = join(dir.path, 'trap')
      const elsewhere = join(dir.path, 'elsewhere')
      await mkdir(trap)
      await mkdir(elsewhere)
      await symlink(elsewhere, join(trap, 'set'))
      const refused = await runCli(['export', info.infoHash, trap, '--store', store])
      expect(refused.code).toBe(1)
      expect(refused.stderr).toMatch(/leads outside the output directory .*\(ERR_UNSAFE_PATH\)/)
      expect(await readdir(elsewhere)).toEqual([])
    } finally {
      await dir.remove()
    }
  })
})

describe('the store', () => {
  it('ls, stats and rm --keep-data; a second process on a store in use gets a clear error', async () => {
    const dir = await tempDir('store')
    try {
      await generateFiles(join(dir.path, 'data', 'kept'), [{ path: 'k.bin', length: 300_000 }], 41)
      const torrentPath = join(dir.path, 'kept.torrent')
      expect((await runCli(['create', join(dir.path, 'data', 'kept'), '-o', torrentPath])).code).toBe(0)
      const store = join(dir.path, 'store')
      // The store from the environment when --store is not given.
      const env = { CHUNKTORRENT_STORE: store }
      expect((await runCli(['import', torrentPath, join(dir.path, 'data')], { env })).code).toBe(0)
      const info = parseTorrent(await import('node:fs/promises').then((fs) => fs.readFile(torrentPath)))

      const statistics = await runCli(['stats', '--json'], { env })
      expect(statistics.code).toBe(0)
      expect(jsonEvents(statistics.stdout)[0]).toMatchObject({
        store,
        torrents: 1,
        complete: 1,
        chunkCount: 1,
      })
      const text = await runCli(['stats'], { env })
      expect(text.stdout).toMatch(/^torrents: {5}1 \(1 complete, \d+ pieces verified\)$/m)

      // A store in use by another process: a clear error, not a hang.
      const { spawn } = await import('node:child_process')
      const holder = spawn(
        process.execPath,
        [cliPath, 'seed', info.infoHash, '--listen', '127.0.0.1:0', '--json'],
        {
          env: { ...process.env, ...env, UV_THREADPOOL_SIZE: undefined },
        },
      )
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('"seeding"')) resolve()
          })
          holder.on('exit', () => reject(new Error('the seeder exited')))
        })
        // The command sizes libuv's thread pool itself when the environment does not (16 threads).
        const { readdir, readFile } = await import('node:fs/promises')
        const tasks = await readdir(`/proc/${holder.pid}/task`)
        const names = await Promise.all(
          tasks.map((task) => readFile(`/proc/${holder.pid}/task/${task}/comm`, 'utf8').catch(() => '')),
        )
        expect(names.filter((name) => name.trim() === 'libuv-worker')).toHaveLength(16)
        const locked = await runCli(['ls'], { env })
        expect(locked.code).toBe(1)
        expect(locked.stderr).toMatch(/is in use by another process .*\(ERR_STORE_LOCKED\)/)
      } finally {
        holder.kill('SIGTERM')
        await new Promise((resolve) => holder.once('exit', resolve))
      }
      expect(holder.exitCode).toBe(0)

      const kept = await runCli(['rm', info.infoHash, '--keep-data'], { env })
      expect(kept.code).toBe(0)
      expect(kept.stdout).toContain('verified pieces stay in the store, unpinned')
      const listing = await runCli(['ls'], { env })
      expect(listing.stdout).toMatch(/100%\s+293 KiB\s+kept {2}\(no \.torrent kept\)/)
      const [after] = jsonEvents((await runCli(['stats', '--json'], { env })).stdout)
      expect(after?.pinnedBytes).toBe(0)
    } finally {
      await dir.remove()
    }
  })
})
