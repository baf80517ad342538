// One vitest run for the whole monorepo: each package is a project, tests sit next to the code
// (`src/**/*.test.ts`) or in the package's `test/` folder. Packages that load the native addon
// run in forked processes so a crash or a process.exit() test cannot take the runner down.
import { defineConfig } from 'vitest/config'

const project = (name: string, root: string, extra: Record<string, unknown> = {}) => ({
  test: {
    name,
    root,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    ...extra,
  },
})

export default defineConfig({
  test: {
    projects: [
      project('ffi', 'packages/ffi', { pool: 'forks' }),
      project('storage', 'packages/storage'),
      project('client', 'packages/client', { pool: 'forks' }),
      project('cli', 'packages/cli', { pool: 'forks' }),
      project('test-peers', 'tools/test-peers', { pool: 'forks' }),
      project('release', 'tools/release', { pool: 'forks' }),
      project('examples', 'examples', { pool: 'forks', include: ['*/test/**/*.test.ts'] }),
    ],
  },
})
