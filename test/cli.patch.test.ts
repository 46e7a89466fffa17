/**
 * `gratc patch` and the pattern's own numbers: the model's head_dim, dtype and scale win, and a
 * pattern stating others gets W0801 on the stated value; an unbound grid is reported like
 * `inspect` reports it (file:line:col, caret, hint), not as a bare line.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDefaultModel, DEFAULT_CONFIG } from '../runtime/onnx/default/model.js';
import { gratcIn, tempDir } from './support/cli.js';

/** The embedded model at 8x8 + 8 text tokens: head_dim 32 (64 channels, 2 heads), fp32. */
const dir = tempDir();
const DIT = `pattern dit
grid   h=? w=?
group  h=4 w=4
text   ? before
image attends neighbors(1) + text
text  attends all
`;

beforeAll(() => {
  const model = buildDefaultModel({ ...DEFAULT_CONFIG, grid: [8, 8], text: 8 });
  writeFileSync(join(dir, 'm.onnx'), toBinary(ModelProtoSchema, model));
  writeFileSync(join(dir, 'same.grat'), `${DIT}head_dim 32\ndtype fp32\n`);
  writeFileSync(join(dir, 'other.grat'), `${DIT}head_dim 128\ndtype    bf16\nscale    0.125\n`);
});

describe('gratc patch: the model\'s numbers win, and it says so', () => {
  it('warns W0801 at each stated value that differs, and still patches', async () => {
    const r = await gratcIn(['patch', 'm.onnx', '--pattern', 'other.grat', '--grid', '8x8', '--out', 'o.onnx'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^patched 2 of 2 attentions/m);
    const heads = r.stderr.match(/^\S+: warning\[W0801\]: .*$/gm);
    expect(heads).toEqual([
      "other.grat:7:10: warning[W0801]: head_dim 128 is not used: the model's attention has head_dim 32",
      "other.grat:8:10: warning[W0801]: dtype bf16 is not used: the model's attention computes in fp32",
      `other.grat:9:10: warning[W0801]: scale 0.125 is not used: the model's attention scales by ${Number((1 / Math.sqrt(32)).toPrecision(6))}`,
    ]);
    expect(r.stderr).toContain('    7 | head_dim 128\n      |          ^^^\n');
    expect(r.stderr.match(/hint: gratc patch keeps the model's head_dim, dtype and scale/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/0 errors, 3 warnings\n$/);
  });

  it('says nothing when the stated values are the model\'s; JSON carries the warnings', async () => {
    const same = await gratcIn(['patch', 'm.onnx', '--pattern', 'same.grat', '--grid', '8x8', '--out', 's.onnx'], dir);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toBe('');
    const j = await gratcIn(['patch', 'm.onnx', '--pattern', 'other.grat', '--grid', '8x8', '--out', 'j.onnx', '--json'], dir);
    expect(j.code, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout) as { diagnostics: { code: string; line: number; col: number }[]; attentions: { dtype: string; headDim: number }[] };
    expect(out.diagnostics.map((d) => [d.code, d.line, d.col])).toEqual([['W0801', 7, 10], ['W0801', 8, 10], ['W0801', 9, 10]]);
    expect(out.attentions.map((a) => [a.dtype, a.headDim])).toEqual([['fp32', 32], ['fp32', 32]]);
    expect(j.stderr).toBe('');
  });

  it('an unbound grid gets the positioned diagnostic inspect prints, and nothing is written', async () => {
    const p = await gratcIn(['patch', 'm.onnx', '--pattern', 'same.grat', '--out', 'u.onnx'], dir);
    const i = await gratcIn(['inspect', 'same.grat'], dir);
    expect(p.code).toBe(1);
    const block = (s: string): string => s.slice(s.indexOf('same.grat:2:'), s.indexOf('\n\n', s.indexOf('same.grat:2:')));
    expect(block(p.stderr)).toMatch(/^same\.grat:2:10: error\[E0301\]: grid sizes h, w are left as \?.*\n {4}2 \| grid {3}h=\? w=\?\n {6}\| {10}\^\n {2}hint: pass --grid /);
    expect(block(p.stderr)).toBe(block(i.stderr));
    expect(p.stderr).toMatch(/1 error, 0 warnings\n$/);
    expect(p.stdout).toBe('');
  });

  it('--help says the model\'s head_dim, dtype and scale are kept', async () => {
    const h = await gratcIn(['patch', '--help'], dir);
    expect(h.stdout).toMatch(/head_dim, dtype and scale are kept/);
    expect(h.stdout).toContain('W0801');
  });
});
