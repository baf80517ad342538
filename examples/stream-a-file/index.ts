// Streaming a file while its torrent is still downloading: a rate-limited seeder
// (python3-libtorrent on loopback) feeds a client that stores into a ChunkStorage, and
// torrent.createReadStream() reads the file from the store as the pieces arrive. A read at the
// end of the file (a player seeking to an index) is served first: the stream asks for the pieces
// it needs ahead of the others (piece deadlines) and waits for them.
//   node index.ts [--size MiB] [--rate MiB/s] [--store DIR]
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type Torrent, TorrentClient } from '@chunktorrent/client'
import { createTorrent } from '@chunktorrent/ffi'
import { ChunkStorage } from '@chunktorrent/storage'
import { generateFiles, startLibtorrentPeer } from '@chunktorrent/test-peers'

// `pnpm start -- --size 4` passes the `--` along: skip it.
const args = process.argv.slice(2).filter((arg, index) => index > 0 || arg !== '--')
const { values } = parseArgs({
  args,
  options: {
    size: { type: 'string', default: '12' },
    rate: { type: 'string', default: '3' },
    store: { type: 'string' },
  },
})
const mib = 1024 * 1024
const length = Math.round(Number(values.size) * mib)
const rate = Math.round(Number(values.rate) * mib)
const work = await mkdtemp(join(tmpdir(), 'chunktorrent-stream-'))
const storeDirectory = values.store ?? join(work, 'store')
const sourceDirectory = join(work, 'seeder')
const tailLength = 64 * 1024

let seeder: Awaited<ReturnType<typeof startLibtorrentPeer>> | undefined
let client: TorrentClient | undefined
try {
  console.log(`1. Making movie/movie.mkv (${(length / mib).toFixed(1)} MiB) and a torrent for it`)
  await generateFiles(
    sourceDirectory,
    [
      { path: 'movie/movie.mkv', length },
      { path: 'movie/movie.srt', length: 54_321 },
    ],
    'stream-a-file',
  )
  const torrentBytes = await createTorrent(join(sourceDirectory, 'movie'), { pieceLength: 128 * 1024 })
  const source = await readFile(join(sourceDirectory, 'movie', 'movie.mkv'))

  seeder = await startLibtorrentPeer({
    torrent: torrentBytes,
    savePath: sourceDirectory,
    role: 'seed',
    uploadRateLimit: rate,
  })
  console.log(
    `2. A python3-libtorrent seeder on 127.0.0.1:${seeder.port}, uploading at most ${values.rate} MiB/s`,
  )

  console.log(`3. Adding the torrent to a client that stores into ${storeDirectory}`)
  const storage = await ChunkStorage.open({ directory: storeDirectory })
  // Loopback only, TCP only (the seeder speaks no uTP), nothing announced anywhere.
  client = await TorrentClient.newWithStorage(storage, { listen: '127.0.0.1:0', utp: false })
  const started = Date.now()
  const torrent = await client.add(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`], sequential: true })
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(2)
  const percent = (t: Torrent) => `${((t.verified.size / (t.pieceCount ?? 1)) * 100).toFixed(0)}%`
  const movie = torrent.files.findIndex((file) => file.name === 'movie.mkv')

  console.log(`4. Seeking to the last ${tailLength / 1024} KiB of movie.mkv (as a player reads its index)`)
  const tail: Buffer[] = []
  for await (const chunk of torrent.createReadStream(movie, { start: length - tailLength }))
    tail.push(chunk as Buffer)
  const tailOk = Buffer.concat(tail).equals(source.subarray(length - tailLength))
  const tailAt = percent(torrent)
  console.log(
    `   ${tailOk ? 'ok  ' : 'BAD '} the tail arrived after ${elapsed()} s, with the download at ${tailAt}`,
  )
  if (!tailOk || torrent.isDone) process.exitCode = 1

  console.log('5. Streaming movie.mkv from the start while the rest downloads')
  const hash = createHash('sha1')
  let streamed = 0
  let firstAt: string | undefined
  let lastReport = 0
  for await (const chunk of torrent.createReadStream(movie)) {
    hash.update(chunk as Buffer)
    streamed += (chunk as Buffer).length
    if (firstAt === undefined) {
      firstAt = percent(torrent)
      console.log(`   first bytes after ${elapsed()} s, with the download at ${firstAt}`)
    }
    if (Date.now() - lastReport >= 1000) {
      lastReport = Date.now()
      console.log(
        `   ${elapsed()} s: streamed ${(streamed / mib).toFixed(1)} MiB, download at ${percent(torrent)}`,
      )
    }
  }
  const ok = hash.digest('hex') === createHash('sha1').update(source).digest('hex')
  console.log(`   ${ok ? 'ok  ' : 'BAD '} movie.mkv streamed whole (${streamed} bytes) in ${elapsed()} s`)
  if (!ok) process.exitCode = 1
  await torrent.done({ signal: AbortSignal.timeout(60_000) })
  console.log(`   the download finished after ${elapsed()} s`)
  console.log(
    process.exitCode
      ? 'FAILED'
      : 'verified: the file streamed from the store while its torrent was downloading',
  )
} finally {
  await client?.close()
  await seeder?.stop()
  if (!values.store) await rm(work, { recursive: true, force: true })
}
