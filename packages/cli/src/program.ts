// The command line: commands, options and help (commander), and the one place that turns what a
// command returned or threw into an exit code. Each command lives in commands/<name>.ts.
import { libtorrentVersion } from '@chunktorrent/ffi'
import { Command, CommanderError, Option } from 'commander'
import packageJson from '../package.json' with { type: 'json' }
import { collect } from './arguments.ts'
import { create } from './commands/create.ts'
import { download } from './commands/download.ts'
import { exportFiles } from './commands/export.ts'
import { importData } from './commands/import.ts'
import { info } from './commands/info.ts'
import { ls, stats } from './commands/ls.ts'
import { seed } from './commands/seed.ts'
import { rm, verify } from './commands/verify.ts'
import { ExitCode, exitCodeOf, Interrupted } from './errors.ts'
import { Output, type OutputOptions } from './output.ts'

const exitCodesHelp = `
Exit codes: 0 done, 1 failed, 2 bad command line, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
seed, and download/import with --seed, run until stopped and exit 0 when stopped after their work.

The store is --store DIR, else $CHUNKTORRENT_STORE, else ~/.chunktorrent. Settings of the remote
tier and the cache limit may also sit in $CHUNKTORRENT_CONFIG, else <store>/config.json (flags win).
Sizes and rates:
4096, 500k, 10M, 64MiB (binary: k = 1024), 1.5GB (decimal); rates may end in /s; 0 = unlimited.`

interface CommonOptions extends OutputOptions {
  store?: string
}

function storeOption(command: Command): Command {
  return command.option('--store <dir>', 'the chunk store (default $CHUNKTORRENT_STORE or ~/.chunktorrent)')
}

function outputOptions(command: Command): Command {
  return command
    .option('--json', 'one JSON object per line on stdout (see the README for the events)')
    .option('-q, --quiet', 'no progress output, only results, warnings and errors')
    .option('-v, --verbose', 'more detail, and the stack of an error')
}

function networkOptions(command: Command, defaultListen = '0.0.0.0:6881'): Command {
  return command
    .option('--listen <host:port>', 'where to accept peers (port 0: any free port)', defaultListen)
    .option('--peer <host:port>', 'a peer to connect to (repeatable)', collect)
    .option('--max-download <rate>', 'download limit, e.g. 10M or 500k/s (0 = unlimited)')
    .option('--max-upload <rate>', 'upload limit, e.g. 1M (0 = unlimited)')
    .option('--no-utp', 'TCP only (no uTP)')
}

function remoteOptions(command: Command, uploads = false): Command {
  command
    .option('--remote-endpoint <url>', 'S3-compatible endpoint of the remote tier (omit for AWS itself)')
    .option(
      '--remote-bucket <name>',
      'bucket of the remote tier (turns it on; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, key from CHUNKTORRENT_ENCRYPTION_KEY)',
    )
    .option('--remote-region <region>', 'region of the bucket (default $AWS_REGION or us-east-1)')
    .option('--remote-prefix <prefix>', 'objects go under <prefix>/chunks/…')
    .option(
      '--cache-limit <size>',
      'local cache limit, e.g. 64MiB (chunks with a remote copy are evicted beyond it)',
    )
  if (uploads) {
    command.option(
      '--upload-timeout <duration>',
      'how long to wait for uploads at the end, e.g. 90s, 10m (default 10m)',
    )
  }
  return command
}

function examples(command: Command, lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}`)
}

export function versionText(): string {
  return `chunktorrent ${packageJson.version} (libtorrent ${libtorrentVersion}, Node.js ${process.version})`
}

/** Builds the program; `run` receives each command's work and records its exit code. */
export function createProgram(
  run: (work: (output: Output) => Promise<number>, options: OutputOptions) => Promise<void>,
) {
  const program = new Command('chunktorrent')
    .description('BitTorrent into a chunk store: download, seed, import and export torrents.')
    .version(versionText(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .addHelpText('after', exitCodesHelp)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`chunktorrent: ${text}`),
    })

  examples(
    outputOptions(
      storeOption(
        networkOptions(
          program
            .command('download')
            .description('download a torrent into the store (then exit, or keep seeding with --seed)')
            .argument('<torrent>', '.torrent file, magnet link, or info hash of a torrent the store knows')
            .option(
              '--files <selection>',
              'only these files: indexes "0,2,5-7" or a glob "*.flac", "cd1/**" (repeatable)',
              collect,
            )
            .option('--seed', 'keep seeding when done, until Ctrl-C')
            .option('--sequential', 'download pieces in order'),
        ),
      ),
    ),
    [
      'chunktorrent download album.torrent',
      'chunktorrent download album.torrent --peer 192.0.2.7:51413 --files "*.flac" --max-download 5M',
      "chunktorrent download 'magnet:?xt=urn:btih:…' --peer 192.0.2.7:51413 --seed",
      'chunktorrent download album.torrent --json | jq -c "select(.event == \\"done\\")"',
    ],
  ).action((source: string, options, command: Command) =>
    run((output) => download(output, source, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        networkOptions(
          program
            .command('seed')
            .description('seed a torrent from the store until interrupted')
            .argument('<torrent>', '.torrent file, or info hash of a torrent the store holds'),
        ),
      ),
    ),
    [
      'chunktorrent seed album.torrent',
      'chunktorrent seed c12fe1c06bba254a9dc9f519b335aa7c1367a88a --listen 0.0.0.0:51413',
    ],
  ).action((source: string, options, command: Command) =>
    run((output) => seed(output, source, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        networkOptions(
          program
            .command('import')
            .description('hash-check existing files against a torrent and store them as chunks')
            .argument('<torrent-file>', 'the .torrent')
            .argument('<data-path>', "the directory holding the torrent's content (or the content itself)")
            .option('--seed', 'keep seeding when done, until Ctrl-C (listens only then)'),
        ),
      ),
    ),
    ['chunktorrent import album.torrent ~/Music', 'chunktorrent import album.torrent ~/Music/album --seed'],
  ).action((torrent: string, dataPath: string, options, command: Command) =>
    run((output) => importData(output, torrent, dataPath, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        program
          .command('export')
          .description('write stored files out as plain files under <out-dir>')
          .argument('<torrent>', 'info hash of a stored torrent (or its .torrent file)')
          .argument('<out-dir>', 'where to write; names from the torrent never leave it')
          .option('--files <selection>', 'only these files: indexes or a glob (repeatable)', collect),
      ),
    ),
    [
      'chunktorrent export c12fe1c06bba254a9dc9f519b335aa7c1367a88a ./out',
      'chunktorrent export album.torrent ./out --files 0,2',
    ],
  ).action((torrent: string, outDirectory: string, options, command: Command) =>
    run((output) => exportFiles(output, torrent, outDirectory, options), command.opts()),
  )

  examples(
    outputOptions(
      program
        .command('create')
        .description('create a .torrent for a file or a directory')
        .argument('<path>', 'the file or directory')
        .requiredOption('-o, --output <file>', 'the .torrent to write ("-" for stdout)')
        .option('--piece-length <size>', 'a power of two from 16k (default: chosen from the size)')
        .addOption(new Option('--v1', 'BitTorrent v1 (default)'))
        .addOption(new Option('--v2', 'BitTorrent v2 only'))
        .addOption(new Option('--hybrid', 'v1 and v2 in one torrent'))
        .option('--tracker <url>', 'an announce URL (repeatable)', collect)
        .option('--web-seed <url>', 'a web seed URL (repeatable)', collect)
        .option('--comment <text>', 'a comment')
        .option('--private', 'mark the torrent private'),
    ),
    [
      'chunktorrent create ./album -o album.torrent',
      'chunktorrent create ./album -o album.torrent --hybrid --piece-length 1MiB --tracker udp://tracker.example:6969',
    ],
  ).action((path: string, options, command: Command) =>
    run((output) => create(output, path, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        program
          .command('info')
          .description('show what a torrent or magnet link holds')
          .argument('<torrent>', '.torrent file, magnet link, or info hash of a torrent the store knows'),
      ),
    ),
    ['chunktorrent info album.torrent', 'chunktorrent info album.torrent --json'],
  ).action((source: string, options, command: Command) =>
    run((output) => info(output, source, options), command.opts()),
  )

  examples(outputOptions(storeOption(program.command('ls').description('list the torrents in the store'))), [
    'chunktorrent ls',
    'chunktorrent ls --json',
  ]).action((options, command: Command) => run((output) => ls(output, options), command.opts()))

  examples(
    outputOptions(
      storeOption(
        program
          .command('verify')
          .description("re-hash a stored torrent's pieces and repair its verified set")
          .argument('<torrent>', 'info hash of a stored torrent (or its .torrent file)'),
      ),
    ),
    ['chunktorrent verify c12fe1c06bba254a9dc9f519b335aa7c1367a88a'],
  ).action((source: string, options, command: Command) =>
    run((output) => verify(output, source, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        program
          .command('rm')
          .description(
            'delete a torrent and its data from the store (and, with a remote tier, from the bucket)',
          )
          .argument('<torrent>', 'info hash (or the .torrent file)')
          .option('--keep-data', 'only forget the torrent: its pieces stay in the store (unpinned)'),
      ),
    ),
    ['chunktorrent rm c12fe1c06bba254a9dc9f519b335aa7c1367a88a'],
  ).action((source: string, options, command: Command) =>
    run((output) => rm(output, source, options), command.opts()),
  )

  examples(
    outputOptions(
      storeOption(
        program.command('stats').description("the store's figures: chunks, bytes on disk, pins, cache"),
      ),
    ),
    ['chunktorrent stats --json'],
  ).action((options: CommonOptions, command: Command) =>
    run((output) => stats(output, options), command.opts()),
  )

  // The remote tier and the cache limit (also settable in the config file; see remote.ts).
  for (const command of program.commands) {
    const name = command.name()
    if (name === 'download' || name === 'import') remoteOptions(command, true)
    else if (['seed', 'export', 'verify', 'stats', 'rm'].includes(name)) remoteOptions(command)
    if (name === 'rm') {
      command.option(
        '--delete-timeout <duration>',
        "how long to wait for the torrent's objects to be deleted from the bucket, e.g. 90s, 10m (default 10m)",
      )
    }
  }

  return program
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = ExitCode.ok
  const program = createProgram(async (work, options) => {
    const output = new Output(options)
    try {
      exitCode = await work(output)
    } catch (error) {
      output.endProgress()
      if (!(error instanceof Interrupted)) output.error(error)
      exitCode = exitCodeOf(error)
    }
  })
  if (argv.length <= 2) {
    program.outputHelp({ error: true })
    return ExitCode.usage
  }
  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) {
      return ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code)
        ? error.exitCode === 0
          ? ExitCode.ok
          : ExitCode.usage
        : ExitCode.usage
    }
    // A failure outside any command's own handling (should not happen): still one clear line.
    new Output({ verbose: argv.includes('--verbose') || argv.includes('-v') }).error(error)
    return exitCodeOf(error)
  }
  return exitCode
}
