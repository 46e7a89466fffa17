/**
 * Runs the example page (index.html + main.js) in headless Chromium without a web server:
 * playwright-core intercepts every request to https://gratc.example/ (a secure context, which
 * WebGPU requires) and answers from memory: the page's two files, the pattern's module and
 * runtime as emitted by the WGSL backend (transpiled to JavaScript), the pattern's picture
 * (gratc's SVG renderer) and the float64 reference output (compiler/reference.ts) of the page's
 * inputs. The page shows the time, the picture and its max error; the harness reads what it shows
 * and checks the output against the reference itself too. A head_dim the kernels lack (the
 * default model's 32) runs padded with zeros to the next one, at the model's scale.
 *
 *   npx tsx examples/webgpu/harness.ts                 (the default DiT model's attention: dit_grat_b, 64x64 + 64 text, 2 heads)
 *   npx tsx examples/webgpu/harness.ts examples/flux_grat_b.grat --grid 16x20 [--valid 77] [--screenshot page.png]
 *
 * Chromium: $GRATC_CHROMIUM or /usr/bin/chromium (Debian's `chromium` package); its WebGPU runs
 * on SwiftShader here (f32 only, subgroups of 4: the kernel's workgroup-memory reduction).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import ts from 'typescript';
import { checkSource } from '../../compiler/check.js';
import type { PatternIR } from '../../compiler/ir.js';
import { totalTokens } from '../../compiler/ir.js';
import { referenceAttention, resolveValid } from '../../compiler/reference.js';
import { emitWgsl } from '../../codegen/wgsl/index.js';
import { RUNTIME_FILE } from '../../codegen/wgsl/module.js';
import { KERNEL_HEAD_DIMS } from '../../codegen/kernel.js';
import { randomValues } from '../../runtime/webgpu/verify.js';
import { DEFAULT_CONFIG, DEFAULT_PATTERN } from '../../runtime/onnx/default/model.js';
import { buildPicture } from '../../cli/picture.js';
import { renderSvg } from '../../cli/picture_svg.js';
import { chooseQuery } from '../../cli/commands/inspect.js';

const HERE = import.meta.dirname;
const ORIGIN = 'https://gratc.example';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader',
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic',
];

export interface PageResult {
  ok: boolean;
  error?: string;
  kernel?: string;
  variant?: string;
  reason?: string;
  precision?: string;
  layout?: 'bhnd' | 'bnhd';
  heads?: number;
  valid?: number;
  seed?: number;
  ms?: number;
  msFirst?: number;
  headDim?: number;
  /** What the page computed against the served reference (null: none served). */
  maxAbsError?: number | null;
  picture?: { width: number; height: number; inked: number };
  adapter?: string;
  output?: number[];
}

/** The page's shown values (text of its <dd> elements), by element id. */
export type Shown = Record<'status' | 'pattern' | 'adapter' | 'variant' | 'time' | 'maxerr' | 'picture-info', string>;
const SHOWN_IDS: readonly (keyof Shown)[] = ['status', 'pattern', 'adapter', 'variant', 'time', 'maxerr', 'picture-info'];

export interface BrowserRun {
  readonly page: PageResult;
  /** max |page output - reference|, computed here. */
  readonly maxAbsError: number;
  readonly shown: Shown;
  /** The kernel's head_dim (the pattern's, or padded up to one the kernels have). */
  readonly kernelHeadDim: number;
  /** A full-page PNG screenshot, when asked for. */
  readonly screenshot: Buffer | null;
  readonly log: string;
}

export interface BrowserRunOptions {
  readonly heads?: number;
  readonly layout?: 'bhnd' | 'bnhd';
  readonly valid?: number;
  readonly seed?: number;
  /** Timed runs after the first (default 3). */
  readonly reps?: number;
  /** Ask for a device with at most this much workgroup storage (16384: WebGPU's default). */
  readonly workgroupStorage?: number;
  /** Take a full-page screenshot once the page is done. */
  readonly screenshot?: boolean;
  readonly executablePath?: string;
  readonly timeoutMs?: number;
}

const js = (tsText: string): string =>
  ts.transpileModule(tsText, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;

type Site = Map<string, { body: string | Buffer; type: string }>;

/** The kernel's head_dim for a pattern's: its own, or the smallest larger one the kernels have (padded with zeros). */
export function kernelHeadDim(headDim: number): number {
  const d = KERNEL_HEAD_DIMS.find((x) => x >= headDim);
  if (d === undefined) throw new Error(`head_dim ${headDim} is larger than the kernels' (${KERNEL_HEAD_DIMS.join(', ')})`);
  return d;
}

/** The files the page needs, by path under the origin: a kernel of `ir` (padded to a head_dim the kernels have) and its picture. */
export function siteFiles(ir: PatternIR): Site {
  // the scale stays the pattern's (1/sqrt of the model's head_dim): zero columns change no dot product
  const emitted = emitWgsl({ ...ir, headDim: kernelHeadDim(ir.headDim) });
  if (!emitted.files.length) throw new Error(`the WGSL backend cannot compile ${ir.name}: ${emitted.diagnostics.map((d) => d.message).join('; ')}`);
  const text = (p: string): string => {
    const f = emitted.files.find((x) => x.path === p);
    if (!f) throw new Error(`the WGSL backend emitted no ${p}`);
    return typeof f.contents === 'string' ? f.contents : new TextDecoder().decode(f.contents);
  };
  const files: Site = new Map();
  files.set('/index.html', { body: readFileSync(join(HERE, 'index.html'), 'utf8'), type: 'text/html' });
  files.set('/main.js', { body: readFileSync(join(HERE, 'main.js'), 'utf8'), type: 'text/javascript' });
  files.set('/gen/pattern.js', { body: js(text(`${emitted.info.module as string}`)), type: 'text/javascript' });
  files.set(`/gen/${RUNTIME_FILE}.js`, { body: js(text(`${RUNTIME_FILE}.ts`)), type: 'text/javascript' });
  files.set('/gen/picture.svg', { body: renderSvg(buildPicture(ir, { query: chooseQuery(ir, {}) })), type: 'image/svg+xml' });
  return files;
}

/** The float64 reference of the page's inputs (seeded, rounded to f32 as the page uploads them). */
function referenceOf(ir: PatternIR, heads: number, layout: 'bhnd' | 'bnhd', seed: number, valid: number): Float64Array {
  const n = heads * totalTokens(ir) * ir.headDim;
  const f32 = (s: number): Float64Array => Float64Array.from(Float32Array.from(randomValues(n, s)));
  return referenceAttention(ir, f32(seed), f32(seed + 1), f32(seed + 2), { batch: 1, heads, layout, valid });
}

/** Opens the page in headless Chromium, waits for its result and checks it against the reference. */
export async function runInBrowser(ir: PatternIR, opts: BrowserRunOptions = {}): Promise<BrowserRun> {
  const files = siteFiles(ir);
  const heads = opts.heads ?? 1, layout = opts.layout ?? 'bnhd', seed = opts.seed ?? 1, valid = resolveValid(ir, opts.valid), reps = opts.reps ?? 3;
  const want = referenceOf(ir, heads, layout, seed, valid);
  files.set('/gen/reference.bin', { body: Buffer.from(want.buffer, want.byteOffset, want.byteLength), type: 'application/octet-stream' });
  const browser = await chromium.launch({
    executablePath: opts.executablePath ?? process.env.GRATC_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const lines: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => lines.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
    await page.route(`${ORIGIN}/**`, async (route) => {
      const path = new URL(route.request().url()).pathname;
      const f = files.get(path);
      await (f ? route.fulfill({ status: 200, body: f.body, contentType: f.type }) : route.fulfill({ status: 404, body: 'not found' }));
    });
    await page.route((url) => !url.href.startsWith(ORIGIN), (route) => route.abort()); // nothing leaves the machine
    await page.goto(`${ORIGIN}/index.html?heads=${heads}&layout=${layout}&valid=${valid}&seed=${seed}&hd=${ir.headDim}&reps=${reps}${opts.workgroupStorage ? `&wgs=${opts.workgroupStorage}` : ''}`);
    await page.waitForFunction(() => (window as unknown as { __gratc?: unknown }).__gratc !== undefined, undefined, { timeout: opts.timeoutMs ?? 120_000 });
    const result = (await page.evaluate(() => (window as unknown as { __gratc: unknown }).__gratc)) as PageResult;
    lines.push(await page.locator('#log').innerText());
    const shown = Object.fromEntries(await Promise.all(SHOWN_IDS.map(async (id) => [id, await page.locator(`#${id}`).innerText()]))) as Shown;
    const screenshot = opts.screenshot ? await page.screenshot({ fullPage: true }) : null;
    const base = { page: result, shown, kernelHeadDim: kernelHeadDim(ir.headDim), screenshot };
    if (!result.ok || !result.output) return { ...base, maxAbsError: Infinity, log: lines.join('\n') };
    const n = want.length;
    let max = result.output.length === n ? 0 : Infinity;
    for (let i = 0; i < n && max < Infinity; i++) {
      const e = Math.abs(result.output[i] - want[i]);
      if (!(e <= max)) max = Number.isNaN(e) ? Infinity : e;
    }
    return { ...base, maxAbsError: max, log: lines.join('\n') };
  } finally {
    await browser.close();
  }
}

// ---- command line ----
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const file = args.find((a) => a.endsWith('.grat'));
  const grid = flag('--grid')?.split('x').map(Number) ?? (file ? undefined : [...DEFAULT_CONFIG.grid]);
  const text = flag('--text') === undefined ? (file ? undefined : DEFAULT_CONFIG.text) : Number(flag('--text'));
  const { ir, diagnostics } = checkSource(file ? readFileSync(file, 'utf8') : DEFAULT_PATTERN, { grid, text, defaultName: 'pattern' });
  if (!ir) {
    console.error(diagnostics.map((d) => d.message).join('\n'));
    process.exit(1);
  }
  const shot = flag('--screenshot');
  const r = await runInBrowser(ir, { valid: flag('--valid') === undefined ? undefined : Number(flag('--valid')), heads: Number(flag('--heads') ?? (file ? 1 : DEFAULT_CONFIG.heads)), screenshot: shot !== undefined });
  if (shot && r.screenshot) writeFileSync(shot, r.screenshot);
  for (const [k, v] of Object.entries(r.shown)) console.log(`${k}: ${v}`);
  console.log(r.log);
  console.log(r.page.ok ? `max |error| vs float64 reference: ${r.maxAbsError.toExponential(2)}` : `page failed: ${r.page.error}`);
  process.exit(r.page.ok && r.maxAbsError <= 2e-4 ? 0 : 1);
}
