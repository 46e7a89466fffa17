#!/usr/bin/env node
/**
 * The `gratc` executable (package.json "bin"). All logic lives in run.ts; this file only binds
 * it to the process. run.ts is imported dynamically so that even a module that fails to load
 * ends as one `gratc: error:` line, not a stack trace. Exit codes: see exit.ts.
 */
import { processIo } from './io.js';

const fail = (e: unknown): void => {
  process.stderr.write(`gratc: error: internal error: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(2);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// `gratc ... | head` closes stdout early: not an error worth reporting
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  else fail(e);
});

import('./run.js')
  .then(({ runCli }) => runCli(process.argv.slice(2), processIo()))
  .then((code) => { process.exitCode = code; }, fail);
