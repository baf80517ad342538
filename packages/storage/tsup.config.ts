import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts', 'src/conformance.ts', 'src/remote-worker.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'node22',
  dts: { entry: ['src/index.ts', 'src/conformance.ts'] },
  sourcemap: true,
  clean: true,
})
