import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at once on a 2-core machine (vitest's default there is one): many suites spend their time waiting
    // on real processes, sockets and timers, and the whole run stays under five minutes.
    maxWorkers: 3,
    minWorkers: 1,
  },
});
