// The quick-start example runs as the README says and verifies what it downloaded.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('download-to-chunks downloads into a chunk store and verifies every file', () => {
  const script = fileURLToPath(new URL('../index.ts', import.meta.url))
  const result = spawnSync(process.execPath, [script, '--size', '8'], { encoding: 'utf8', timeout: 120_000 })
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  expect(result.stdout).toContain('verified: every byte came through the chunk store intact')
  expect(result.stdout.match(/^ {3}ok {3}/gm)?.length).toBe(4)
})
