import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites run the real node-llama-cpp; on 2 cores more than two files at once only thrash.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
