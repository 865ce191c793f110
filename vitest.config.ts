import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    setupFiles: ['./test/setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{schemas,gas,net,oracle,plugin-kit,plugin-runtime,prover-agent,sdk,cli}/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/chaos/**'],
          testTimeout: 240_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        // The chaos suite (docs/chaos.md): real processes killed, paused, starved of disk. Its own
        // command, `npm run test:chaos`; one scenario at a time, each bounded by its own waits.
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          testTimeout: 420_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
