/**
 * The example page (examples/webgpu) in headless Chromium, driven by playwright-core with no
 * web server (examples/webgpu/harness.ts): the emitted typed module and runtime run as plain ES
 * modules in a real browser's WebGPU (SwiftShader here) and the output is checked against the
 * float64 reference. The page shows the pattern's picture, the time and its own max error; the
 * default DiT model's attention is run, screenshotted (saved under the system's temp folder) and
 * what it shows is read back. A missing browser or adapter is a failure.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/check.js';
import { runInBrowser } from '../examples/webgpu/harness.js';
import { DEFAULT_CONFIG, DEFAULT_PATTERN } from '../runtime/onnx/default/model.js';

const ROOT = join(import.meta.dirname, '..');

describe('the WebGPU example page in headless Chromium', () => {
  it('shows the default DiT model\'s attention (dit_grat_b, 64x64 + 64 text, 2 heads of 32 padded to 64): picture, time, max error; screenshot', async () => {
    const { ir } = checkSource(DEFAULT_PATTERN, { grid: [...DEFAULT_CONFIG.grid], text: DEFAULT_CONFIG.text, defaultName: 'dit_grat_b' });
    const r = await runInBrowser(ir!, { heads: DEFAULT_CONFIG.heads, layout: 'bnhd', seed: 7, reps: 2, screenshot: true });
    const dir = mkdtempSync(join(tmpdir(), 'gratc-webgpu-page-'));
    writeFileSync(join(dir, 'page.png'), r.screenshot!);
    const where = `${r.log}\nscreenshot: ${join(dir, 'page.png')}`;
    expect(r.page.error, where).toBeUndefined();
    expect(r.shown.status, where).toBe('done');
    expect(r.kernelHeadDim).toBe(64);
    expect(r.shown.pattern).toBe('dit_grat_b: 4160 tokens (64 text), 2 head(s) × head_dim 32 (padded to 64), bnhd, valid text 64');
    expect(r.shown.variant).toBe(`${r.page.variant} — ${r.page.reason}`);
    // the error shown is the page's own comparison with the served reference: the harness's agrees
    expect(r.maxAbsError, where).toBeLessThanOrEqual(2e-4);
    expect(r.page.maxAbsError).toBe(r.maxAbsError);
    expect(r.shown.maxerr).toBe(r.maxAbsError.toExponential(2));
    const time = /^(\d+\.\d\d) ms per run \(median of 2\); first run (\d+\.\d) ms with the pipeline$/.exec(r.shown.time);
    expect(time, r.shown.time).not.toBeNull();
    expect(Number(time![1])).toBeGreaterThan(0);
    expect(Number(time![1])).toBeCloseTo(r.page.ms!, 1);
    // the picture loaded and is drawn (the page draws it to a canvas and counts non-white pixels) ...
    const pic = /^(\d+)×(\d+) px, ([\d.]+)% drawn$/.exec(r.shown['picture-info']);
    expect(pic, r.shown['picture-info']).not.toBeNull();
    expect(Number(pic![1])).toBeGreaterThan(400);
    expect(Number(pic![3])).toBeGreaterThan(10);
    // ... and shows in the screenshot: cells in the image-key blue (#2563eb) and the text-key amber (#f59e0b)
    const png = PNG.sync.read(r.screenshot!);
    let blue = 0, amber = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      const [R, G, B] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      if (R === 0x25 && G === 0x63 && B === 0xeb) blue++;
      if (R === 0xf5 && G === 0x9e && B === 0x0b) amber++;
    }
    expect(blue, where).toBeGreaterThan(10_000);
    expect(amber, where).toBeGreaterThan(1_000);
  }, 180_000);

  it('runs flux GRAT-B (text before, valid 77, two heads, bnhd) and matches the reference', async () => {
    const { ir } = checkSource(readFileSync(join(ROOT, 'examples', 'flux_grat_b.grat'), 'utf8'), { grid: [16, 20], defaultName: 'flux_grat_b' });
    const r = await runInBrowser(ir!, { heads: 2, layout: 'bnhd', valid: 77, seed: 3, reps: 0 });
    expect(r.page.error, r.log).toBeUndefined();
    expect(r.page).toMatchObject({ ok: true, precision: 'f32', valid: 77, heads: 2, layout: 'bnhd' });
    expect(r.page.kernel).toMatch(/^grat_flux_grat_b_/);
    expect(r.maxAbsError, r.log).toBeLessThanOrEqual(2e-4);
  }, 180_000);

  it('runs a 1-D grouped sliding window in bhnd layout on a device asked for 16 KiB of workgroup storage (a -q16k variant)', async () => {
    const { ir } = checkSource(readFileSync(join(ROOT, 'examples', 'sliding_window_1d.grat'), 'utf8'), { grid: [333], defaultName: 'w' });
    const r = await runInBrowser(ir!, { layout: 'bhnd', seed: 5, reps: 0, workgroupStorage: 16384 });
    expect(r.page.ok, r.log).toBe(true);
    expect(r.page.variant).toMatch(/-q16k$/);
    expect(r.shown.variant).toMatch(/of 16384 B; not f32-sg16/);
    expect(r.maxAbsError, r.log).toBeLessThanOrEqual(2e-4);
  }, 180_000);
});
