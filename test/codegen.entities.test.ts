/**
 * No HTML entity in generated code. Handlebars escapes `{{value}}` for HTML unless told not to;
 * with escaping on, the WGSL comments read `subgroups of &gt;&#x3D; 16` and `rows&#x27; scores`.
 * Every file of every target (CUDA, WGSL + TypeScript, ONNX) for every example is scanned (a
 * target that refuses an example, like CUDA with head_dim 32, emits nothing to scan).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../codegen/all.js';
import { backendFor, knownBackends } from '../codegen/registry.js';
import { checkSource } from '../compiler/index.js';
import { defaultNameFor } from '../cli/load.js';
import { ROOT } from './support/cli.js';

const ENTITY = /&(?:gt|lt|amp|quot|apos|#x?[0-9a-f]+);/i;

/** Small sizes for the `?` of each example (the rest of each file is as shipped). */
const BIND: Record<string, { grid?: number[]; text?: number }> = {
  'dit_grat_b.grat': { grid: [24, 24], text: 16 },
  'flux_grat_b.grat': { grid: [24, 40] },
  'flux_grat_x.grat': { grid: [24, 40] },
  'hunyuan_grat_b.grat': { grid: [8, 16, 24] },
  'hunyuan_grat_x.grat': { grid: [8, 16, 24] },
  'sliding_window_1d.grat': { grid: [700] },
};

const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.grat')).sort();

describe('generated files carry no HTML entities', () => {
  it('knows every target and every example', () => {
    expect(knownBackends().map((b) => b.target).sort()).toEqual(['cuda', 'onnx', 'wgsl']);
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  for (const file of examples) {
    it(file, () => {
      const text = readFileSync(join(ROOT, 'examples', file), 'utf8');
      const { ir, diagnostics } = checkSource(text, { ...BIND[file], defaultName: defaultNameFor(file) });
      expect(ir, diagnostics.map((d) => d.message).join('; ')).not.toBeNull();
      let scanned = 0;
      for (const b of knownBackends()) {
        const out = backendFor(b.target)!.emit(ir!);
        // a target may refuse a pattern outright (CUDA: head_dim 64 and 128 only), never half-way
        if (out.diagnostics.some((d) => d.severity === 'error')) { expect(out.files).toEqual([]); continue; }
        for (const f of out.files) {
          // binary files (ONNX protobuf) are read byte for byte: their strings are ASCII/UTF-8
          const body = typeof f.contents === 'string' ? f.contents : Buffer.from(f.contents).toString('latin1');
          const hit = ENTITY.exec(body);
          expect(hit ? `${b.target} ${f.path}: …${body.slice(Math.max(0, hit.index - 40), hit.index + 20)}…` : null).toBeNull();
          scanned++;
        }
      }
      expect(scanned).toBeGreaterThan(0);
    });
  }
});
