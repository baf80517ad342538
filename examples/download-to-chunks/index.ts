// The quick-start job: makes some data and a torrent for it, starts a real, independent seeder
// (python3-libtorrent) on loopback, downloads the torrent into a ChunkStorage with chunktorrent,
// then shows what was stored and checks every byte against the source.
//   node index.ts [--size MiB] [--store DIR]
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { TorrentClient } from '@chunktorrent/client'
import { createTorrent } from '@chunktorrent/ffi'
import { ChunkStorage } from '@chunktorrent/storage'
import { generateFiles, startLibtorrentPeer } from '@chunktorrent/test-peers'

const { values } = parseArgs({
  options: { size: { type: 'string', default: '64' }, store: { type: 'string' } },
})
const mebibytes = Number(values.size)
const work = await mkdtemp(join(tmpdir(), 'chunktorrent-quickstart-'))
const storeDirectory = values.store ?? join(work, 'store')
const sourceDirectory = join(work, 'seeder')
const mib = 1024 * 1024

const files = [
  { path: 'album/01-overture.flac', length: Math.round(mebibytes * 0.45 * mib) },
  { path: 'album/02-theme.flac', length: Math.round(mebibytes * 0.35 * mib) + 12345 },
  { path: 'album/03-coda.flac', length: Math.round(mebibytes * 0.2 * mib) - 12345 },
  { path: 'album/cover.jpg', length: 181_818 },
]
let seeder: Awaited<ReturnType<typeof startLibtorrentPeer>> | undefined
let client: TorrentClient | undefined
try {
  console.log(
    `1. Making ${files.length} files (${mebibytes} MiB) and a torrent for them in ${sourceDirectory}`,
  )
  await generateFiles(sourceDirectory, files, 'quickstart')
  const torrentBytes = await createTorrent(join(sourceDirectory, 'album'), {
    pieceLength: 256 * 1024,
    version: 'v1',
  })

  console.log('2. Starting a python3-libtorrent seeder on 127.0.0.1')
  seeder = await startLibtorrentPeer({ torrent: torrentBytes, savePath: sourceDirectory, role: 'seed' })

  console.log(`3. Downloading into a chunk store at ${storeDirectory}`)
  const storage = await ChunkStorage.open({ directory: storeDirectory })
  // Loopback only, TCP only (the seeder speaks no uTP), nothing announced anywhere.
  client = await TorrentClient.newWithStorage(storage, {
    listen: '127.0.0.1:0',
    utp: false,
    progressInterval: 500,
  })
  const started = Date.now()
  const torrent = await client.add(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`] })
  const onProgress = (p: import('@chunktorrent/client').TorrentProgress) => {
    console.log(
      `   ${(p.progress * 100).toFixed(1).padStart(5)}%  ${(p.downloadRate / mib).toFixed(1)} MiB/s  ` +
        `${p.piecesVerified}/${p.pieceCount} pieces verified  ${p.peers} peer(s)`,
    )
  }
  torrent.on('progress', onProgress)
  await torrent.done({ signal: AbortSignal.timeout(120_000) })
  torrent.off('progress', onProgress)
  const seconds = (Date.now() - started) / 1000
  const payload = files.reduce((sum, file) => sum + file.length, 0)
  console.log(
    `   done: ${(payload / mib).toFixed(1)} MiB in ${seconds.toFixed(1)} s (${(payload / mib / seconds).toFixed(1)} MiB/s)`,
  )

  console.log('4. What the store holds')
  const stats = client.stats().storage
  const chunkFiles = (await readdir(join(storeDirectory, 'chunks'), { recursive: true })).filter((name) =>
    String(name).endsWith('.enc'),
  )
  let diskBytes = 0
  for (const name of await readdir(storeDirectory, { recursive: true })) {
    const info = await stat(join(storeDirectory, String(name)))
    if (info.isFile()) diskBytes += info.blocks * 512
  }
  console.log(
    `   torrent ${torrent.infoHash} "${torrent.name}": ${torrent.files.length} files, ${torrent.pieceCount} pieces`,
  )
  console.log(
    `   ${chunkFiles.length} chunk files of 1 MiB, ${stats?.piecesVerified} pieces verified in the SQLite index`,
  )
  console.log(
    `   ${(diskBytes / mib).toFixed(1)} MiB on disk for ${(payload / mib).toFixed(1)} MiB of data (index included)`,
  )

  console.log('5. Reading every file back from the store and comparing it with the source')
  for (const [index, file] of torrent.files.entries()) {
    const stored = createHash('sha1')
    for await (const chunk of torrent.createReadStream(index)) stored.update(chunk as Buffer)
    const source = createHash('sha1')
      .update(await readFile(join(sourceDirectory, file.path)))
      .digest('hex')
    const ok = stored.digest('hex') === source
    console.log(`   ${ok ? 'ok  ' : 'BAD '} ${file.path} (${file.length} bytes)`)
    if (!ok) process.exitCode = 1
  }
  console.log(
    process.exitCode
      ? 'FAILED: stored bytes differ from the source'
      : 'verified: every byte came through the chunk store intact',
  )
} finally {
  await client?.close()
  await seeder?.stop()
  if (!values.store) await rm(work, { recursive: true, force: true })
}
