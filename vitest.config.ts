import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds dist/ once: the CLI tests run the built `gratc` as a subprocess
    globalSetup: ['test/support/build.ts'],
    testTimeout: 60_000,
  },
});
