// The example runs as its README line says, against a rate-limited seeder: the tail of the file
// and its first bytes arrive while the torrent is still downloading, and the whole file streams
// intact.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('stream-a-file reads a file from the store while its torrent downloads', () => {
  const script = fileURLToPath(new URL('../index.ts', import.meta.url))
  const result = spawnSync(process.execPath, [script, '--size', '6', '--rate', '2'], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  const tail = /ok {3}the tail arrived after [\d.]+ s, with the download at (\d+)%/.exec(result.stdout)
  const first = /first bytes after [\d.]+ s, with the download at (\d+)%/.exec(result.stdout)
  expect(Number(tail?.[1])).toBeLessThan(100)
  expect(Number(first?.[1])).toBeLessThan(100)
  expect(result.stdout).toContain('ok   movie.mkv streamed whole (6291456 bytes)')
  expect(result.stdout).toContain(
    'verified: the file streamed from the store while its torrent was downloading',
  )
})
