#!/usr/bin/env node
// Builds dist/ (tsc) and makes the `gratc` bin executable: tsc writes dist/cli/main.js without the
// execute bit, and npm links no bin for the project itself, so `npx gratc` in a fresh clone would
// answer "Permission denied". Used by `npm run build`/`prepare` and by the tests' globalSetup.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
const main = join(root, 'dist', 'cli', 'main.js');
if (existsSync(main)) chmodSync(main, 0o755);
process.exit(r.status ?? 1);
