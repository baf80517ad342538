// Seeding from a chunk store: existing files are imported into a ChunkStorage (hashed against the
// torrent, stored as chunks), the originals are deleted, and a fresh client started on the store
// seeds the torrent to a second client, which downloads it and checks every byte.
//   node index.ts [--size MiB] [--store DIR]
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type ClientOptions, TorrentClient } from '@chunktorrent/client'
import { createTorrent } from '@chunktorrent/ffi'
import { ChunkStorage, MemoryStorage } from '@chunktorrent/storage'
import { generateFiles } from '@chunktorrent/test-peers'

// `pnpm start -- --size 4` passes the `--` along: skip it.
const args = process.argv.slice(2).filter((arg, index) => index > 0 || arg !== '--')
const { values } = parseArgs({
  args,
  options: { size: { type: 'string', default: '24' }, store: { type: 'string' } },
})
const mib = 1024 * 1024
const mebibytes = Number(values.size)
const work = await mkdtemp(join(tmpdir(), 'chunktorrent-seed-from-chunks-'))
const storeDirectory = values.store ?? join(work, 'store')
const originals = join(work, 'originals')
// Both clients on loopback, TCP only (uTP between two sessions on loopback is several times
// slower here), nothing announced anywhere.
const loopback: ClientOptions = { listen: '127.0.0.1:0', utp: false, progressInterval: 500 }

const files = [
  { path: 'photos/2024-summer.tar', length: Math.round(mebibytes * 0.7 * mib) },
  { path: 'photos/2024-winter.tar', length: Math.round(mebibytes * 0.3 * mib) + 777 },
  { path: 'photos/index.html', length: 4_321 },
]
const sha1 = (bytes: Uint8Array) => createHash('sha1').update(bytes).digest('hex')

let seeder: TorrentClient | undefined
let leecher: TorrentClient | undefined
try {
  console.log(`1. Making ${files.length} files (${mebibytes} MiB) and a torrent for them`)
  await generateFiles(originals, files, 'seed-from-chunks')
  const torrentBytes = await createTorrent(join(originals, 'photos'), { pieceLength: 256 * 1024 })
  const expected = new Map<string, string>()
  for (const file of files) expected.set(file.path, sha1(await readFile(join(originals, file.path))))

  console.log(`2. Importing them into a chunk store at ${storeDirectory} (every piece hashed)`)
  const importer = await TorrentClient.newWithStorage(
    await ChunkStorage.open({ directory: storeDirectory }),
    loopback,
  )
  const imported = await importer.seedFrom(torrentBytes, originals)
  await imported.done({ signal: AbortSignal.timeout(30_000) })
  console.log(`   ${imported.verified.size}/${imported.pieceCount} pieces verified and stored as chunks`)
  await importer.close()

  console.log('3. Deleting the originals: from now on the store holds the only copy')
  await rm(originals, { recursive: true })

  console.log('4. Starting a fresh client on the store; it seeds the stored torrent')
  seeder = await TorrentClient.newWithStorage(
    await ChunkStorage.open({ directory: storeDirectory }),
    loopback,
  )
  const seeding = await seeder.add(torrentBytes)
  await seeding.done({ signal: AbortSignal.timeout(10_000) })
  console.log(`   seeding "${seeding.name}" (${seeding.infoHash}) on 127.0.0.1:${seeder.port}`)

  console.log('5. A second client (in memory) downloads it from the first')
  leecher = await TorrentClient.newWithStorage(new MemoryStorage(), loopback)
  const started = Date.now()
  const downloading = await leecher.add(torrentBytes, { peers: [`127.0.0.1:${seeder.port}`] })
  downloading.on('progress', (p) =>
    console.log(
      `   ${(p.progress * 100).toFixed(1).padStart(5)}%  ${(p.downloadRate / mib).toFixed(1)} MiB/s`,
    ),
  )
  await downloading.done({ signal: AbortSignal.timeout(60_000) })
  const seconds = (Date.now() - started) / 1000
  const uploaded = seeding.status().totalUpload
  console.log(
    `   done in ${seconds.toFixed(1)} s; the store's client uploaded ${(uploaded / mib).toFixed(1)} MiB, read from its chunks`,
  )

  console.log('6. Checking every file the second client received')
  for (const [index, file] of downloading.files.entries()) {
    const chunks: Buffer[] = []
    for await (const chunk of downloading.createReadStream(index)) chunks.push(chunk as Buffer)
    const ok = sha1(Buffer.concat(chunks)) === expected.get(file.path)
    console.log(`   ${ok ? 'ok  ' : 'BAD '} ${file.path} (${file.length} bytes)`)
    if (!ok) process.exitCode = 1
  }
  console.log(
    process.exitCode ? 'FAILED: received bytes differ' : 'verified: the chunk store seeded every byte',
  )
} finally {
  await leecher?.close()
  await seeder?.close()
  if (!values.store) await rm(work, { recursive: true, force: true })
}
