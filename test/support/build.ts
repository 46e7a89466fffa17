/**
 * vitest globalSetup: builds dist/ once (`tsc -p tsconfig.json`) so the CLI tests can run
 * `node dist/cli/main.js` as a subprocess. Type errors elsewhere in the tree do not stop the
 * run (tsc still emits); they are printed, and a missing dist/cli/main.js fails loudly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`[test/support/build.ts] tsc reported problems (the build still emitted):\n${r.stdout}${r.stderr}\n`);
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('the build did not produce dist/cli/main.js');
}
