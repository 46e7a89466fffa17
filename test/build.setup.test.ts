/**
 * vitest's globalSetup (test/support/build.ts) skips `tsc` when dist/ is newer than every input of
 * the build, and only then: a newer source file or tsconfig.json, or a missing dist, rebuilds.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distIsCurrent } from './support/build.js';

const root = mkdtempSync(join(tmpdir(), 'gratc-build-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const at = (path: string, seconds: number, text = ''): void => {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  utimesSync(path, seconds, seconds);
};

describe('globalSetup: is dist/ current?', () => {
  it('current only when dist/cli/main.js is newer than every included .ts file and tsconfig.json', () => {
    at(join(root, 'tsconfig.json'), 1000, JSON.stringify({ include: ['dsl/**/*.ts', 'cli/**/*.ts', 'absent/**/*.ts'] }));
    at(join(root, 'dsl', 'a.ts'), 1000);
    at(join(root, 'cli', 'deep', 'b.ts'), 1000);
    expect(distIsCurrent(root), 'no dist').toBe(false);
    at(join(root, 'dist', 'cli', 'main.js'), 2000);
    expect(distIsCurrent(root)).toBe(true);
    at(join(root, 'other', 'c.ts'), 3000); // not an input of the build
    at(join(root, 'dsl', 'notes.md'), 3000);
    expect(distIsCurrent(root)).toBe(true);
    at(join(root, 'cli', 'deep', 'b.ts'), 3000);
    expect(distIsCurrent(root), 'a nested source changed').toBe(false);
    at(join(root, 'dist', 'cli', 'main.js'), 4000);
    expect(distIsCurrent(root)).toBe(true);
    at(join(root, 'tsconfig.json'), 5000, JSON.stringify({ include: ['dsl/**/*.ts', 'cli/**/*.ts'] }));
    expect(distIsCurrent(root), 'tsconfig.json changed').toBe(false);
  });
});
