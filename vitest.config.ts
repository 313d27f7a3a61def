import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Three test files at once on a 2-core machine (vitest's default there is one): most suites spend their time
    // waiting on real processes, sockets and timers (the whole run uses about 1.3 cores), and it stays under five
    // minutes (about 220 s here; 340 s with two).
    maxWorkers: 3,
    minWorkers: 1,
  },
});
