/**
 * vitest globalSetup: builds dist/ once (scripts/build.mjs: tsc + the bin's execute bit) so the CLI tests can run
 * `node dist/cli/main.js` as a subprocess. Type errors elsewhere in the tree do not stop the
 * run (tsc still emits); they are printed, and a missing dist/cli/main.js fails loudly.
 *
 * The build is skipped when dist/ is newer than every input (the .ts files tsconfig.json
 * includes, and tsconfig.json itself): `npm ci` has just built it (`prepare`), and on a 2-core
 * machine a second build is ~10 CPU s during which no test runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The newest modification time (ms) of the .ts files under `dir`, 0 when there are none. */
function newestTs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs); // .path: Node < 20.12
  }
  return newest;
}

/** True when dist/cli/main.js was written after every input of the build changed. */
export function distIsCurrent(root: string): boolean {
  const main = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) return false;
  const config = join(root, 'tsconfig.json');
  const include = (JSON.parse(readFileSync(config, 'utf8')) as { include: string[] }).include;
  // "dsl/**/*.ts" → dsl/
  const dirs = [...new Set(include.map((p) => p.split('/')[0]))].map((d) => join(root, d)).filter((d) => existsSync(d));
  const inputs = Math.max(statSync(config).mtimeMs, ...dirs.map(newestTs));
  return statSync(main).mtimeMs > inputs;
}

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  if (distIsCurrent(root)) return;
  // scripts/build.mjs: tsc, then the bin's execute bit (npx gratc)
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`[test/support/build.ts] tsc reported problems (the build still emitted):\n${r.stdout}${r.stderr}\n`);
  }
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('the build did not produce dist/cli/main.js');
}
