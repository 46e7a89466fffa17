/**
 * Runs the example page (index.html + main.js) in headless Chromium without a web server:
 * playwright-core intercepts every request to https://gratc.example/ (a secure context, which
 * WebGPU requires) and answers from memory: the page's two files, and the pattern's module and
 * runtime as emitted by the WGSL backend, transpiled to JavaScript. The page's output is then
 * compared with the float64 reference.
 *
 *   npx tsx examples/webgpu/harness.ts examples/flux_grat_b.grat --grid 16x20 [--valid 77]
 *
 * Chromium: $GRATC_CHROMIUM or /usr/bin/chromium (Debian's `chromium` package); its WebGPU runs
 * on SwiftShader here (f32 only, subgroups of 4: the kernel's workgroup-memory reduction).
 */
import { readFileSync } from 'node:fs';
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
import { randomValues } from '../../runtime/webgpu/verify.js';

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
  precision?: string;
  layout?: 'bhnd' | 'bnhd';
  heads?: number;
  valid?: number;
  seed?: number;
  ms?: number;
  adapter?: string;
  output?: number[];
}

export interface BrowserRun {
  readonly page: PageResult;
  readonly maxAbsError: number;
  readonly log: string;
}

export interface BrowserRunOptions {
  readonly heads?: number;
  readonly layout?: 'bhnd' | 'bnhd';
  readonly valid?: number;
  readonly seed?: number;
  readonly executablePath?: string;
  readonly timeoutMs?: number;
}

const js = (tsText: string): string =>
  ts.transpileModule(tsText, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;

/** The files the page needs, by path under the origin. */
export function siteFiles(ir: PatternIR): Map<string, { body: string; type: string }> {
  const emitted = emitWgsl(ir);
  if (!emitted.files.length) throw new Error(`the WGSL backend cannot compile ${ir.name}: ${emitted.diagnostics.map((d) => d.message).join('; ')}`);
  const text = (p: string): string => {
    const f = emitted.files.find((x) => x.path === p);
    if (!f) throw new Error(`the WGSL backend emitted no ${p}`);
    return typeof f.contents === 'string' ? f.contents : new TextDecoder().decode(f.contents);
  };
  const files = new Map<string, { body: string; type: string }>();
  files.set('/index.html', { body: readFileSync(join(HERE, 'index.html'), 'utf8'), type: 'text/html' });
  files.set('/main.js', { body: readFileSync(join(HERE, 'main.js'), 'utf8'), type: 'text/javascript' });
  files.set('/gen/pattern.js', { body: js(text(`${emitted.info.module as string}`)), type: 'text/javascript' });
  files.set(`/gen/${RUNTIME_FILE}.js`, { body: js(text(`${RUNTIME_FILE}.ts`)), type: 'text/javascript' });
  return files;
}

/** Opens the page in headless Chromium, waits for its result and checks it against the reference. */
export async function runInBrowser(ir: PatternIR, opts: BrowserRunOptions = {}): Promise<BrowserRun> {
  const files = siteFiles(ir);
  const heads = opts.heads ?? 1, layout = opts.layout ?? 'bnhd', seed = opts.seed ?? 1, valid = resolveValid(ir, opts.valid);
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
    await page.goto(`${ORIGIN}/index.html?heads=${heads}&layout=${layout}&valid=${valid}&seed=${seed}`);
    await page.waitForFunction(() => (window as unknown as { __gratc?: unknown }).__gratc !== undefined, undefined, { timeout: opts.timeoutMs ?? 120_000 });
    const result = (await page.evaluate(() => (window as unknown as { __gratc: unknown }).__gratc)) as PageResult;
    lines.push(await page.locator('#log').innerText());
    if (!result.ok || !result.output) return { page: result, maxAbsError: Infinity, log: lines.join('\n') };
    const n = heads * totalTokens(ir) * ir.headDim;
    const f32 = (s: number): Float64Array => Float64Array.from(Float32Array.from(randomValues(n, s)));
    const want = referenceAttention(ir, f32(seed), f32(seed + 1), f32(seed + 2), { batch: 1, heads, layout, valid });
    let max = result.output.length === n ? 0 : Infinity;
    for (let i = 0; i < n && max < Infinity; i++) {
      const e = Math.abs(result.output[i] - want[i]);
      if (!(e <= max)) max = Number.isNaN(e) ? Infinity : e;
    }
    return { page: result, maxAbsError: max, log: lines.join('\n') };
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
  const file = args.find((a) => a.endsWith('.grat')) ?? join(HERE, '..', 'flux_grat_b.grat');
  const grid = flag('--grid')?.split('x').map(Number);
  const { ir, diagnostics } = checkSource(readFileSync(file, 'utf8'), { grid, defaultName: 'pattern' });
  if (!ir) {
    console.error(diagnostics.map((d) => d.message).join('\n'));
    process.exit(1);
  }
  const r = await runInBrowser(ir, { valid: flag('--valid') === undefined ? undefined : Number(flag('--valid')), heads: Number(flag('--heads') ?? 1) });
  console.log(r.log);
  console.log(r.page.ok ? `max |error| vs float64 reference: ${r.maxAbsError.toExponential(2)}` : `page failed: ${r.page.error}`);
  process.exit(r.page.ok && r.maxAbsError <= 2e-4 ? 0 : 1);
}
