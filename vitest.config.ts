import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import HeavyFirstSequencer from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds dist/ once: the CLI tests run the built `gratc` as a subprocess
    globalSetup: ['test/support/build.ts'],
    // vitest's default, cores - 1, runs one file at a time on a 2-core machine; the main process
    // mostly waits, so two files share the cores (heaviest first: test/support/sequencer.ts)
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: HeavyFirstSequencer },
    // tests that run GPU or compiler work set their own timeouts from that work (test/support/gpu_budget.ts)
    testTimeout: 60_000,
  },
});
