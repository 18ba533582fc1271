import { defineConfig } from 'vitest/config'

// `npm run test:faults`: the long form of the fault-injection suite (REPJS_FAULTS=1), then its table.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/faults/table.ts'],
    testTimeout: 900_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
})
