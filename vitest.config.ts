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
    // With three files and their child processes on two cores, a test's own process can see event-loop delays over
    // the 200 ms at which the supervisor API starts answering 503 under pressure: that check is off in tests (the
    // pressure test sets its own limits), so that a loaded CI machine does not fail unrelated API tests.
    env: { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' },
    minWorkers: 1,
  },
});
