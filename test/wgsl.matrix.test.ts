/**
 * The subgroup-matrix variant (codegen/wgsl/spec.ts matrixVariantOf; tensor cores through Dawn's
 * chromium-experimental-subgroup-matrix): its plan and workgroup memory, and the runtime's choice
 * (chooseVariantWithReason) on described adapters — it runs first where the device offers the
 * feature, lists a matching config (f16 operands, f32 results, 16x16x16) and has subgroups of
 * exactly 32 invocations, and the reason says why it did or did not. Tint's acceptance of its
 * WGSL is in wgsl.codegen.test.ts. No CPU adapter here runs subgroup matrices (lavapipe and
 * SwiftShader lack VK_KHR_cooperative_matrix; bench/webgpu/NOTES.md), so its numbers are checked
 * on a GPU only (bench/webgpu/probe.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import type { PatternIR } from '../compiler/ir.js';
import { compileWgsl } from '../codegen/wgsl/index.js';
import { MIN_WORKGROUP_STORAGE, SUBGROUP_MATRIX_FEATURE } from '../codegen/wgsl/spec.js';
import { chooseVariantWithReason, type GratKernelSource, type GratMatrixConfig } from '../runtime/webgpu/index.js';
import { nodeGpu } from '../runtime/webgpu/node.js';

const ROOT = join(import.meta.dirname, '..');

function example(name: string, grid: number[]): PatternIR {
  const { ir, diagnostics } = checkSource(readFileSync(join(ROOT, 'examples', `${name}.grat`), 'utf8'), { grid, defaultName: name });
  if (!ir) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return ir;
}
const compiled = (ir: PatternIR): GratKernelSource => compileWgsl(ir).source!;

const F16_F32: GratMatrixConfig = { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 };
const F16_F16: GratMatrixConfig = { componentType: 'f16', resultComponentType: 'f16', M: 16, N: 16, K: 16 };

interface Described { features?: string[]; storage?: number; sg?: [number, number]; configs?: GratMatrixConfig[] }
/** A device as chooseVariant sees it: features, limits and its adapter's info (subgroup sizes, matrix configs). */
const device = (d: Described = {}): GPUDevice => ({
  features: new Set(d.features ?? ['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE]),
  limits: { maxComputeWorkgroupStorageSize: d.storage ?? 32768, maxComputeInvocationsPerWorkgroup: 256 },
  adapterInfo: { subgroupMinSize: (d.sg ?? [32, 32])[0], subgroupMaxSize: (d.sg ?? [32, 32])[1], subgroupMatrixConfigs: d.configs ?? [F16_F16, F16_F32] },
}) as unknown as GPUDevice;

// Flux GRAT-B asks for bf16 (runs as f16: the default precision where shader-f16 is there), head_dim 128; the 1-D window has head_dim 64
const flux = compiled(example('flux_grat_b', [20, 36]));
const window64 = compiled(example('sliding_window_1d', [300]));

describe('the subgroup-matrix variant', () => {
  it('is one f16 variant of 128 invocations in 4 subgroups of 32; 24 KiB of workgroup memory at head_dim 128, 16 KiB at 64', () => {
    const m = flux.variants.filter((v) => v.matrix);
    expect(m.map((v) => [v.id, v.precision, v.threads, v.workgroupStorage])).toEqual([['f16-sgmat16x16x16', 'f16', 128, 24576]]);
    expect(m[0].matrix).toEqual({ ...F16_F32, subgroupSize: 32 });
    expect(m[0].features).toEqual(['shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE]);
    expect(window64.headDim).toBe(64);
    expect(window64.variants.find((v) => v.matrix)!.workgroupStorage).toBe(MIN_WORKGROUP_STORAGE);
    // the declared workgroup arrays add up to the declared storage (f16: 2 B, f32: 4 B)
    for (const s of [flux, window64]) {
      const v = s.variants.find((x) => x.matrix)!;
      const bytes = [...v.code.matchAll(/var<workgroup> \w+: array<(f16|f32), (\d+)>/g)].reduce((n, [, t, len]) => n + (t === 'f16' ? 2 : 4) * Number(len), 0);
      expect(bytes, s.kernel).toBe(v.workgroupStorage);
      expect(v.code).toContain('enable chromium_experimental_subgroup_matrix;');
      expect(v.code).toContain(`@workgroup_size(${v.threads})`);
    }
  });
});

describe('chooseVariantWithReason and subgroup matrices', () => {
  it('runs it first where the feature, a matching config and subgroups of exactly 32 are there', () => {
    const c = chooseVariantWithReason(flux, device());
    expect(c.variant.id).toBe('f16-sgmat16x16x16');
    expect(c.reason).toMatch(/^f16-sgmat16x16x16: f16, workgroup storage 24576 of 32768 B$/);
  });

  it('refuses it, and says why, without a matching config', () => {
    const c = chooseVariantWithReason(flux, device({ configs: [F16_F16, { ...F16_F32, N: 8 }] }));
    expect(c.variant.id).toBe('f16-sg16');
    expect(c.reason).toContain('not f16-sgmat16x16x16 (no subgroup-matrix config f16->f32 16x16x16 (the adapter lists f16->f16 16x16x16, f16->f32 16x8x16))');
    expect(chooseVariantWithReason(flux, device({ configs: [] })).reason).toContain('(the adapter lists none)');
  });

  it('refuses it with subgroups of other or varying sizes (its tiles are split among exactly 4 subgroups)', () => {
    for (const sg of [[32, 64], [16, 16], [64, 64], [0, 0]] as [number, number][]) {
      const c = chooseVariantWithReason(flux, device({ sg }));
      expect(c.variant.id, String(sg)).not.toMatch(/sgmat/);
      expect(c.reason).toMatch(/not f16-sgmat16x16x16 \(subgroups of .* invocations, needs exactly 32\)/);
    }
  });

  it('refuses it without the feature, and where its 24 KiB do not fit', () => {
    const plain = chooseVariantWithReason(flux, device({ features: ['shader-f16', 'subgroups'] }));
    expect(plain.variant.id).toBe('f16-sg16');
    expect(plain.reason).toContain(`not f16-sgmat16x16x16 (no ${SUBGROUP_MATRIX_FEATURE})`);
    const small = chooseVariantWithReason(flux, device({ storage: 16384 }));
    expect(small.variant.id).toBe('f16-sg16-q16k');
    expect(small.reason).toContain('not f16-sgmat16x16x16 (needs 24576 B of workgroup storage > 16384 B)');
    // at head_dim 64 it fits 16 KiB
    expect(chooseVariantWithReason(window64, device({ storage: 16384 }), { precision: 'f16' }).variant.id).toBe('f16-sgmat16x16x16');
  });

  it('takes f16: an f32 run does not use it and says so where the device offers it; elsewhere f32 choices read as before', () => {
    const f32 = chooseVariantWithReason(flux, device(), { precision: 'f32' });
    expect(f32.variant.id).toBe('f32-sg16');
    expect(f32.reason).toContain('not f16-sgmat16x16x16 (precision f32; it takes f16)');
    const before = chooseVariantWithReason(flux, device({ features: ['subgroups'] }));
    expect(before.variant.id).toBe('f32-sg16');
    expect(before.reason).toBe('f32-sg16: f32 (no shader-f16), workgroup storage 32768 of 32768 B');
  });

  it('matrix: false never runs it; matrix: true runs only it (f16), or says why it cannot', () => {
    const off = chooseVariantWithReason(flux, device(), { matrix: false });
    expect(off.variant.id).toBe('f16-sg16');
    expect(off.reason).not.toMatch(/sgmat/);
    const on = chooseVariantWithReason(window64, device(), { matrix: true });
    expect(on.variant.id).toBe('f16-sgmat16x16x16');
    expect(on.reason).toContain('forced matrix');
    expect(() => chooseVariantWithReason(flux, device({ configs: [] }), { matrix: true })).toThrow(/no f16 variant .* fits this device.*not f16-sgmat16x16x16 \(no subgroup-matrix config/);
    expect(() => chooseVariantWithReason(flux, device(), { matrix: true, precision: 'f32' })).toThrow(/no f32 subgroup-matrix variant/);
    // a forced reduction or staging asks for a SIMT variant
    expect(chooseVariantWithReason(flux, device(), { reduction: 'shared' }).variant.id).toBe('f16-shared');
  });

  it('reads the facts of a real Dawn adapter (the null backend offers the feature under allow_unsafe_apis, with subgroups of 4..128 and no configs)', async () => {
    const g = await nodeGpu('null', {}, ['allow_unsafe_apis']);
    expect(g.device.features.has(SUBGROUP_MATRIX_FEATURE)).toBe(true);
    const c = chooseVariantWithReason(flux, g.device);
    expect(c.variant.id).not.toMatch(/sgmat/);
    expect(c.reason).toContain('not f16-sgmat16x16x16 (subgroups of 4..128 invocations, needs exactly 32)');
    // told the sizes, it still finds no config
    expect(chooseVariantWithReason(flux, g.device, { subgroupMinSize: 32, subgroupMaxSize: 32 }).reason).toContain('(the adapter lists none)');
    // and given one too, it runs it where it fits the null device's 16 KiB (head_dim 64)
    expect(chooseVariantWithReason(window64, g.device, { precision: 'f16', subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [F16_F32] }).variant.id).toBe('f16-sgmat16x16x16');
  }, 60_000);
});
