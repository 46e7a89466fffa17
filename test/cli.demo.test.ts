/**
 * `gratc demo --pattern P`: the embedded model is built to fit the sizes P fixes (examples/
 * flux_grat_x.grat's `text 512 before` failed against the model's 64 text tokens, with the
 * reason printed once per layer and no word of --text); a flag that contradicts a fixed size is
 * refused with the flag to pass. (The example itself runs in test/cli.examples.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { demoSizes } from '../cli/commands/demo.js';
import { CliError } from '../cli/exit.js';
import { DEFAULT_CONFIG } from '../runtime/onnx/default/model.js';
import { runDemo } from '../runtime/onnx/demo.js';
import { gratcIn, ROOT } from './support/cli.js';

const P = (grid: string, text: string | null): string =>
  `grid ${grid}\ngroup h=8 w=8\n${text === null ? '' : `text ${text} before\n`}image attends neighbors(1)${text === null ? '' : ' + text'}\nhead_dim 32\n`;

describe('demo sizes', () => {
  it('flags, else the pattern\'s fixed sizes, else the default model\'s', () => {
    const D = { grid: [...DEFAULT_CONFIG.grid], text: DEFAULT_CONFIG.text };
    expect(demoSizes(undefined, undefined, {})).toEqual(D);
    expect(demoSizes(P('h=? w=?', '?'), 'p', {})).toEqual(D);
    expect(demoSizes(P('h=? w=?', '512'), 'p', {})).toEqual({ grid: D.grid, text: 512 });
    expect(demoSizes(P('h=24 w=40', '?'), 'p', {})).toEqual({ grid: [24, 40], text: D.text });
    expect(demoSizes(P('h=24 w=40', null), 'p', {})).toEqual({ grid: [24, 40], text: 0 });
    expect(demoSizes(P('h=? w=?', '?'), 'p', { grid: [16, 16], text: 3 })).toEqual({ grid: [16, 16], text: 3 });
    expect(demoSizes(P('h=24 w=40', '77'), 'p', { grid: [24, 40], text: 77 })).toEqual({ grid: [24, 40], text: 77 });
  });

  it('a flag against a fixed size names the flag to pass; a 3-D grid is refused', () => {
    const msg = (f: () => unknown): string => { try { f(); } catch (e) { expect(e).toBeInstanceOf(CliError); return (e as Error).message; } return 'no error'; };
    expect(msg(() => demoSizes(P('h=? w=?', '512'), 'x.grat', { text: 64 }))).toBe('x.grat fixes 512 text tokens: pass --text 512 (or leave --text out)');
    expect(msg(() => demoSizes(P('h=24 w=40', '?'), 'x.grat', { grid: [64, 64] }))).toBe('x.grat fixes the grid at 24x40: pass --grid 24x40 (or leave --grid out)');
    expect(msg(() => demoSizes('grid t=? h=? w=?\ngroup t=1 h=8 w=8\nimage attends neighbors(1)\nhead_dim 32\n', 'v.grat', {}))).toMatch(/2-D image grid.*v\.grat has a 3-D grid/);
  });

  it('the CLI says so in one line, exit 1, before building anything', async () => {
    const r = await gratcIn(['demo', '--pattern', 'examples/flux_grat_x.grat', '--text', '64'], ROOT);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('gratc: error: examples/flux_grat_x.grat fixes 512 text tokens: pass --text 512 (or leave --text out)\n');
  });

  it('a pattern that fits no layer gives its reason once, not once per layer', async () => {
    // 100 text tokens in the pattern, 8 in the model (runDemo directly: the CLI would fit the model)
    const e = await runDemo({ pattern: P('h=? w=?', '100'), model: { ...DEFAULT_CONFIG, grid: [8, 8], text: 8 }, repeat: 1, noReference: true }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    const m = (e as Error).message;
    expect(m).toMatch(/^the pattern patched no attention of the default model: sequence length 72 ≠ /);
    expect(m.match(/sequence length/g)).toHaveLength(1);
  });
});
