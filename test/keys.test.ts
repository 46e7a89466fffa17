import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { groupCount } from '../compiler/ir.js';
import { countKeys, groupCoords, groupSize, KeyGroupEnumerator } from '../compiler/keys.js';

const boxTerm = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((r) => `neighbors(${r})`),
  fc.constantFrom('crisscross', 'crisscross(lines)', 'grid'),
  fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 4 })).map(([a, b]) => `neighbors(h=${a}, w=${b})`),
);

describe('countKeys: closed-form counting of box unions', () => {
  it('equals enumeration on random box unions, ragged grids, both borders', () => {
    fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }),
        fc.array(boxTerm, { minLength: 1, maxLength: 4 }), fc.constantFrom('clip', 'shift')),
      ([H, W, gh, gw, terms, border]) => {
        const { ir } = checkSource(`grid h=${H} w=${W}\ngroup h=${gh} w=${gw}\nborder ${border}\nimage attends ${terms.join(' + ')}\nhead_dim 8\n`);
        expect(ir).not.toBeNull();
        const e = new KeyGroupEnumerator(ir!);
        for (let g = 0; g < groupCount(ir!); g++) {
          const kg = [...e.keyGroups(g)];
          const tokens = kg.reduce((n, k) => n + groupSize(ir!, groupCoords(ir!, k)), 0);
          expect(countKeys(ir!, g, new KeyGroupEnumerator(ir!))).toEqual({ groups: kg.length, tokens });
        }
      }), { numRuns: 300 });
  });

  it('3-D planes: inclusion–exclusion over three overlapping boxes', () => {
    const { ir } = checkSource('grid t=9 h=10 w=11\ngroup t=2 h=3 w=4\nimage attends crisscross + neighbors(1)\nhead_dim 8\n');
    const e = new KeyGroupEnumerator(ir!);
    for (let g = 0; g < groupCount(ir!); g++) {
      const kg = [...e.keyGroups(g)];
      expect(countKeys(ir!, g, e).groups).toBe(kg.length);
    }
  });
});
