// The example runs as its README line says: a real download into the custom backend, checked.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('custom-storage downloads into FlatFileStorage, the data file equals the source, a restart resumes', () => {
  const script = fileURLToPath(new URL('../index.ts', import.meta.url))
  const result = spawnSync(process.execPath, [script, '--size', '4'], { encoding: 'utf8', timeout: 60_000 })
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  expect(result.stdout).toContain('ok   the data file is recording.wav, byte for byte')
  expect(result.stdout).toMatch(/complete at once from the verified map: (\d+)\/\1 pieces, 0 bytes received/)
  expect(result.stdout).toContain('verified: the custom backend stored, served and resumed the torrent')
})
