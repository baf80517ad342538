// A custom storage backend at work: FlatFileStorage (flat-file-storage.ts, written against the
// public storage interface and checked by the conformance kit) keeps each torrent as one sparse
// file. This downloads a real torrent into it from an independent seeder (python3-libtorrent on
// loopback), shows that the data file is the original file byte for byte, and restarts the
// client on the same directory to show it resumes from the backend's verified map.
//   node index.ts [--size MiB] [--store DIR]
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type ClientOptions, TorrentClient } from '@chunktorrent/client'
import { createTorrent } from '@chunktorrent/ffi'
import { generateFiles, sha1OfFile, startLibtorrentPeer } from '@chunktorrent/test-peers'
import { FlatFileStorage } from './flat-file-storage.ts'

// `pnpm start -- --size 4` passes the `--` along: skip it.
const args = process.argv.slice(2).filter((arg, index) => index > 0 || arg !== '--')
const { values } = parseArgs({
  args,
  options: { size: { type: 'string', default: '16' }, store: { type: 'string' } },
})
const mib = 1024 * 1024
const length = Math.round(Number(values.size) * mib) + 4321 // not a whole number of pieces
const work = await mkdtemp(join(tmpdir(), 'chunktorrent-custom-storage-'))
const storeDirectory = values.store ?? join(work, 'store')
const sourceDirectory = join(work, 'seeder')
// Loopback only, TCP only (the seeder speaks no uTP), nothing announced anywhere.
const loopback: ClientOptions = { listen: '127.0.0.1:0', utp: false, progressInterval: 500 }

let seeder: Awaited<ReturnType<typeof startLibtorrentPeer>> | undefined
let client: TorrentClient | undefined
try {
  console.log(`1. Making recording.wav (${(length / mib).toFixed(1)} MiB) and a torrent for it`)
  await generateFiles(sourceDirectory, [{ path: 'recording.wav', length }], 'custom-storage')
  const torrentBytes = await createTorrent(join(sourceDirectory, 'recording.wav'), {
    pieceLength: 256 * 1024,
  })
  seeder = await startLibtorrentPeer({ torrent: torrentBytes, savePath: sourceDirectory, role: 'seed' })
  console.log(`2. A python3-libtorrent seeder listens on 127.0.0.1:${seeder.port}`)

  console.log(`3. Downloading into a FlatFileStorage at ${storeDirectory}`)
  const storage = await FlatFileStorage.open(storeDirectory)
  client = await TorrentClient.newWithStorage(storage, loopback)
  const torrent = await client.add(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`] })
  torrent.on('progress', (p) =>
    console.log(
      `   ${(p.progress * 100).toFixed(1).padStart(5)}%  ${p.piecesVerified}/${p.pieceCount} pieces verified`,
    ),
  )
  await torrent.done({ signal: AbortSignal.timeout(60_000) })
  console.log(`   done: ${torrent.pieceCount} pieces, ${torrent.status().totalDownload} bytes received`)
  await client.close()
  client = undefined

  console.log('4. What the backend wrote')
  const torrentDirectory = join(storeDirectory, torrent.infoHash)
  for (const name of (await readdir(torrentDirectory)).sort()) {
    const info = await stat(join(torrentDirectory, name))
    console.log(`   ${torrent.infoHash}/${name}  ${info.size} bytes`)
  }
  const same =
    (await sha1OfFile(join(torrentDirectory, 'data'))) ===
    (await sha1OfFile(join(sourceDirectory, 'recording.wav')))
  console.log(`   ${same ? 'ok  ' : 'BAD '} the data file is recording.wav, byte for byte`)
  if (!same) process.exitCode = 1

  console.log('5. Restarting the client on the same directory, with no peer')
  client = await TorrentClient.newWithStorage(await FlatFileStorage.open(storeDirectory), loopback)
  const again = await client.add(torrentBytes)
  await again.done({ signal: AbortSignal.timeout(10_000) })
  const received = again.status().totalDownload
  console.log(
    `   complete at once from the verified map: ${again.verified.size}/${again.pieceCount} pieces, ${received} bytes received`,
  )
  if (received !== 0 || again.verified.size !== again.pieceCount) process.exitCode = 1

  console.log(
    process.exitCode ? 'FAILED' : 'verified: the custom backend stored, served and resumed the torrent',
  )
} finally {
  await client?.close()
  await seeder?.stop()
  if (!values.store) await rm(work, { recursive: true, force: true })
}
