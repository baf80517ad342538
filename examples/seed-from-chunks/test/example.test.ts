// The example runs as its README line says: import, delete the originals, seed from the store
// to a second client, check every byte.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('seed-from-chunks seeds an imported torrent from the store alone to a second client', () => {
  const script = fileURLToPath(new URL('../index.ts', import.meta.url))
  const result = spawnSync(process.execPath, [script, '--size', '6'], { encoding: 'utf8', timeout: 60_000 })
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  expect(result.stdout).toMatch(/(\d+)\/\1 pieces verified and stored as chunks/)
  expect(result.stdout).toContain("the store's client uploaded 6.0 MiB, read from its chunks")
  expect(result.stdout.match(/^ {3}ok {3}/gm)?.length).toBe(3)
  expect(result.stdout).toContain('verified: the chunk store seeded every byte')
})
