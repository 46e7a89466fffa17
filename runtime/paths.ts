/** Where the package's own files (examples, templates) are, from the source tree or from dist/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding gratc's package.json (the repository or the installed package). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  // dist/ mirrors the source tree and has no package.json of its own
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('gratc: cannot find the package root');
    dir = up;
  }
  return (root = dir);
}

export const examplePath = (name: string): string => join(packageRoot(), 'examples', name);
