/** Everything docs/language.md shows as valid must parse without diagnostics. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from '../dsl/index.js';

const doc = readFileSync(new URL('../docs/language.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```grat\n([\s\S]*?)```/g)].map((m) => m[1]);
// Region terms shown inline: `neighbors(1)`, `where(|dh| <= 1 && |dw| <= 2)`, `crisscross(lines)`, ...
const regionTerms = [...doc.matchAll(/`((?:neighbors|crisscross|where)[^`]*)`/g)].map((m) => m[1]);

describe('docs/language.md', () => {
  it('has a grat code block', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((b, i) => [i, b]))('code block %i parses cleanly', (_, block) => {
    const r = parse(block as string);
    expect(r.diagnostics).toEqual([]);
    // One statement per line that is not blank or only a comment.
    const lines = (block as string).split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    expect(r.file.statements).toHaveLength(lines.length);
  });

  it('finds the inline region examples', () => {
    expect(regionTerms.length).toBeGreaterThanOrEqual(6);
  });

  it.each(regionTerms)('region term `%s` parses', (term) => {
    expect(parse(`image attends ${term}`).diagnostics).toEqual([]);
  });

  it.each(['all', 'grid', 'text', 'grid + text'])('text region `%s` parses', (region) => {
    expect(parse(`text attends ${region}`).diagnostics).toEqual([]);
  });
});
