/**
 * The example page (examples/webgpu) in headless Chromium, driven by playwright-core with no
 * web server (examples/webgpu/harness.ts): the emitted typed module and runtime run as plain ES
 * modules in a real browser's WebGPU (SwiftShader here) and the output is checked against the
 * float64 reference. A missing browser or adapter is a failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { runInBrowser } from '../examples/webgpu/harness.js';

const ROOT = join(import.meta.dirname, '..');

describe('the WebGPU example page in headless Chromium', () => {
  it('runs flux GRAT-B (text before, valid 77, two heads, bnhd) and matches the reference', async () => {
    const { ir } = checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { grid: [16, 20], defaultName: 'flux_grat_b' });
    const r = await runInBrowser(ir!, { heads: 2, layout: 'bnhd', valid: 77, seed: 3 });
    expect(r.page.error, r.log).toBeUndefined();
    expect(r.page).toMatchObject({ ok: true, precision: 'f32', valid: 77, heads: 2, layout: 'bnhd' });
    expect(r.page.kernel).toMatch(/^grat_flux_grat_b_/);
    expect(r.maxAbsError, r.log).toBeLessThanOrEqual(2e-4);
  }, 180_000);

  it('runs a 1-D grouped sliding window in bhnd layout', async () => {
    const { ir } = checkSource(readFileSync(join(ROOT, 'examples', 'sliding_window_1d.grat'), 'utf8'), { grid: [333], defaultName: 'w' });
    const r = await runInBrowser(ir!, { layout: 'bhnd', seed: 5 });
    expect(r.page.ok, r.log).toBe(true);
    expect(r.maxAbsError, r.log).toBeLessThanOrEqual(2e-4);
  }, 180_000);
});
