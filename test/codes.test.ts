/**
 * The table of diagnostic codes (dsl/codes.ts): its prefixes say the severity, every code in it is
 * reported somewhere, and docs/language.md lists exactly the same rows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES } from '../dsl/codes.js';
import { ROOT } from './support/cli.js';

const SOURCE_DIRS = ['dsl', 'compiler', 'codegen', 'runtime', 'cli'];

function sourceText(): string {
  let all = '';
  for (const dir of SOURCE_DIRS) {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.ts') && !(dir === 'dsl' && e.name === 'codes.ts')) all += readFileSync(join(e.parentPath, e.name), 'utf8');
    }
  }
  return all;
}

describe('diagnostic codes', () => {
  it('E codes are errors and W codes warnings', () => {
    for (const [code, { severity }] of Object.entries(CODES)) {
      expect(code).toMatch(/^[EW]\d{4}$/);
      expect(severity, code).toBe(code.startsWith('E') ? 'error' : 'warning');
    }
  });

  it('every code in the table is reported somewhere', () => {
    const src = sourceText();
    expect(Object.keys(CODES).filter((c) => !src.includes(`'${c}'`))).toEqual([]);
  });

  it('docs/language.md lists the table', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'language.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| ([EW]\d{4}) \| (\w+) \| (.*) \|$/gm)].map((m) => [m[1], m[2], m[3]]);
    expect(rows).toEqual(Object.entries(CODES).map(([c, v]) => [c, v.severity, v.summary]));
  });
});
